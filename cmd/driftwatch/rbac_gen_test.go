package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/drift"
)

// kindResource maps the app fixture's kinds to their resources.
var kindResource = map[string]string{
	"ConfigMap": "configmaps", "Deployment": "deployments", "Service": "services", "Secret": "secrets",
	"Gadget": "gadgets", "ClusterRole": "clusterroles",
}

// The generated role is exactly enough: check and watch run with it, and
// without any one of its resource rules, exactly the resources it covered
// fail with a per-resource error.
func TestRBACIsLeastPrivilege(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	name := "dw-" + ns
	group := "rbac-gen-" + ns
	r := runCLI(t, "rbac", "--repo", gitServer.RepoURL("deploy"), "--path", "app", "--kubeconfig", kubeconfig, "-n", ns,
		"--cache-dir", t.TempDir(), "--name", name, "--subject", "group:"+group)
	if r.code != 0 {
		t.Fatalf("rbac: %d %s", r.code, r.stderr)
	}
	var docs []*unstructured.Unstructured
	for _, doc := range strings.Split(r.stdout, "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil || len(u.Object) == 0 {
			continue
		}
		docs = append(docs, u)
	}
	if len(docs) != 2 || docs[0].GetKind() != "ClusterRole" || docs[1].GetKind() != "ClusterRoleBinding" {
		t.Fatalf("generated:\n%s", r.stdout)
	}
	role := docs[0]
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	var got []string
	for _, rule := range rules {
		m := rule.(map[string]any)
		if res, ok := m["resources"]; ok {
			got = append(got, strings.Join(toStrings(m["apiGroups"]), ",")+":"+strings.Join(toStrings(res), ",")+":"+strings.Join(toStrings(m["verbs"]), ","))
		}
	}
	want := []string{
		":configmaps,secrets,services:get,list,watch",
		"apps:deployments:get,list,watch",
		"rbac.authorization.k8s.io:clusterroles:get,list,watch",
		"test.driftwatch.dev:gadgets:get,list,watch",
		"apiextensions.k8s.io:customresourcedefinitions:get,list,watch",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	for _, d := range docs {
		if err := kube.Apply(context.Background(), "setup", "", d); err != nil {
			t.Fatal(err)
		}
	}
	_, kc := userKubeconfig(t, "user-"+ns, group, "limited", ns)
	check := func() map[string]drift.Resource {
		r := runCLI(t, "check", "--repo", gitServer.RepoURL("deploy"), "--path", "app", "--kubeconfig", kc, "--cache-dir", t.TempDir(), "-o", "json")
		out := map[string]drift.Resource{}
		for _, res := range parseReport(t, r).Resources {
			out[res.Kind] = res
		}
		return out
	}
	for kind, res := range check() {
		if res.Status != drift.InSync {
			t.Errorf("with the generated role: %s is %s %s", kind, res.Status, res.Error)
		}
	}
	d := startWatch(t, "--repo", gitServer.RepoURL("deploy"), "--path", "app", "--kubeconfig", kc)
	eventually(t, "watch ready with the generated role", d, func() bool {
		rep := d.report(t, "")
		return rep.Summary.Total == 6 && rep.Summary.InSync == 6
	})
	d.stop(t)

	// Without each resource rule in turn, exactly its resources fail.
	for i := range rules[:4] {
		var keep []any
		for j, rule := range rules {
			if j != i {
				keep = append(keep, rule)
			}
		}
		if err := kube.Edit(context.Background(), "setup", gvkClusterRole, "", name, func(u *unstructured.Unstructured) error {
			return unstructured.SetNestedSlice(u.Object, keep, "rules")
		}); err != nil {
			t.Fatal(err)
		}
		removed := map[string]bool{}
		for _, res := range toStrings(rules[i].(map[string]any)["resources"]) {
			removed[res] = true
		}
		var results map[string]drift.Resource
		eventually(t, "the reduced role to take effect", d, func() bool {
			results = check()
			for kind, res := range results {
				if removed[kindResource[kind]] != (res.Status == drift.Error) {
					return false
				}
			}
			return true
		})
		for kind, res := range results {
			if removed[kindResource[kind]] && !strings.Contains(res.Error, "forbidden") {
				t.Errorf("rule %d removed: %s error %q does not say forbidden", i, kind, res.Error)
			}
		}
		if err := kube.Edit(context.Background(), "setup", gvkClusterRole, "", name, func(u *unstructured.Unstructured) error {
			return unstructured.SetNestedSlice(u.Object, rules, "rules")
		}); err != nil {
			t.Fatal(err)
		}
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// A source holding CRDs gets the rule for them once, not once for the
// source and once more for watch following CRDs.
func TestRBACSourceWithCRDs(t *testing.T) {
	requireAPIServer(t)
	r := runCLI(t, "rbac", "--dir", filepath.Join("..", "..", "testdata", "check"), "--path", "crd", "--kubeconfig", kubeconfig)
	if r.code != 0 {
		t.Fatalf("rbac: exit %d: %s", r.code, r.stderr)
	}
	if n := strings.Count(r.stdout, "- customresourcedefinitions"); n != 1 {
		t.Errorf("customresourcedefinitions named %d times, want once:\n%s", n, r.stdout)
	}
}
