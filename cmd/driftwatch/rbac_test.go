package main

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

// A user who may list only ConfigMaps gets per-resource errors for the
// rest, without waiting for the sync timeout, and the ConfigMap is still
// checked.
func TestCheckForbiddenResourcesArePerResourceErrors(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	role := `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: configmap-reader}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: configmap-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: configmap-reader}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: limited-readers}
`
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(role, "---") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, u)
	}
	if err := kube.Apply(context.Background(), "setup", ns, objs...); err != nil {
		t.Fatal(err)
	}
	_, kc := userKubeconfig(t, "limited-"+ns, "limited-readers", "limited", ns)
	r := runCLI(t, "check", "--repo", gitServer.RepoURL("deploy"), "--path", "app", "--cache-dir", t.TempDir(),
		"--kubeconfig", kc, "--sync-timeout", "5m", "-o", "json")
	if r.code != exitError {
		t.Errorf("exit code %d, want 2 (nothing drifted, some resources unchecked)\nstderr: %s", r.code, r.stderr)
	}
	rep := parseReport(t, r)
	got := map[string]string{}
	for _, res := range rep.Resources {
		v := string(res.Status)
		if res.Status == drift.Error {
			if !strings.Contains(res.Error, "forbidden") {
				t.Errorf("%s: error %q does not say forbidden", res.ID(), res.Error)
			}
			v += ": forbidden"
		}
		got[res.Kind] = v
	}
	want := map[string]string{
		"ConfigMap": "InSync", "Deployment": "Error: forbidden", "Service": "Error: forbidden",
		"Secret": "Error: forbidden", "Gadget": "Error: forbidden", "ClusterRole": "Error: forbidden",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if rep.Summary.Errors != 5 || rep.Summary.InSync != 1 {
		t.Errorf("summary %+v", rep.Summary)
	}

	// Asked to report rather than fail: exit 0, the errors still counted.
	r = runCLI(t, "check", "--repo", gitServer.RepoURL("deploy"), "--path", "app", "--cache-dir", t.TempDir(),
		"--kubeconfig", kc, "--sync-timeout", "5m", "-o", "json", "--on-resource-error", "report")
	if r.code != 0 {
		t.Errorf("--on-resource-error report: exit code %d, want 0\nstderr: %s", r.code, r.stderr)
	}
	if rep := parseReport(t, r); rep.Summary.Errors != 5 {
		t.Errorf("--on-resource-error report: summary %+v", rep.Summary)
	}
}

// The verbs each command's role grants on the plan's resources.
func TestRBACVerbs(t *testing.T) {
	for _, tc := range []struct {
		forCmd         string
		confirm, prune bool
		want           []string
		err            string
	}{
		{forCmd: "check", want: []string{"get", "list", "watch"}},
		{forCmd: "watch", confirm: true, want: []string{"get", "list", "watch", "patch"}},
		{forCmd: "revert", want: []string{"get", "list", "watch", "patch", "create"}},
		{forCmd: "revert", prune: true, want: []string{"get", "list", "watch", "patch", "create", "delete"}},
		{forCmd: "check", prune: true, err: "flag --prune: only with --for revert (check deletes nothing)"},
		{forCmd: "apply", err: `flag --for: unknown command "apply" (want check, watch, revert or fleet)`},
	} {
		got, err := rbacVerbs(tc.forCmd, tc.confirm, tc.prune)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%+v: error %v, want %q", tc, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("--for %s confirm=%v prune=%v (-want +got):\n%s", tc.forCmd, tc.confirm, tc.prune, diff)
		}
	}
}

// userKubeconfig adds a user in group to the test API server and writes a
// kubeconfig for it (context ctxName, namespace ns); it returns both.
func userKubeconfig(t *testing.T, user, group, ctxName, ns string) (*rest.Config, string) {
	t.Helper()
	cfg, err := testEnv.AddUser(user, group)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := apiservertest.WriteKubeconfig(cfg, t.TempDir(), ctxName, ns)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, kc
}
