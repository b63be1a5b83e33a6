package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

var nsCounter atomic.Int32

// diffOpts compares diffs parsed from JSON: the structured path is not
// serialised, and change times vary. Severity has its own tests
// (severity_test.go).
var diffOpts = cmp.Options{
	cmpopts.IgnoreUnexported(drift.FieldDiff{}),
	cmpopts.IgnoreFields(drift.ChangedBy{}, "Time"),
	cmpopts.IgnoreFields(drift.FieldDiff{}, "Severity"),
}

// newNamespace creates a fresh namespace with the app fixture applied by
// the "gitops" field manager, as a GitOps tool would.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := fmt.Sprintf("check-%d", nsCounter.Add(1))
	ctx := context.Background()
	nsObj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns},
	}}
	if err := kube.Apply(ctx, "setup", "", nsObj); err != nil {
		t.Fatal(err)
	}
	if err := kube.Apply(ctx, "gitops", ns, mustRender("app")...); err != nil {
		t.Fatal(err)
	}
	return ns
}

// checkRepo runs check against the Git server's repository for path app.
func checkRepo(t *testing.T, ns string, extra ...string) result {
	t.Helper()
	args := append([]string{"check", "--repo", gitServer.RepoURL("deploy"), "--path", "app",
		"--kubeconfig", kubeconfig, "-n", ns, "--cache-dir", t.TempDir()}, extra...)
	return runCLI(t, args...)
}

func parseReport(t *testing.T, r result) *drift.Report {
	t.Helper()
	var rep drift.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\nstdout: %s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return &rep
}

// statuses maps "Kind name" to status.
func statuses(rep *drift.Report) map[string]drift.Status {
	out := map[string]drift.Status{}
	for _, r := range rep.Resources {
		out[r.Kind+" "+r.Name] = r.Status
	}
	return out
}

var (
	gvkDeployment  = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	gvkConfigMap   = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	gvkSecret      = schema.GroupVersionKind{Version: "v1", Kind: "Secret"}
	gvkGadget      = schema.GroupVersionKind{Group: "test.driftwatch.dev", Version: "v1", Kind: "Gadget"}
	gvkWidgetV1    = schema.GroupVersionKind{Group: "skew.driftwatch.dev", Version: "v1", Kind: "Widget"}
	gvkClusterRole = schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}
	gvkCRD         = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}
)

func TestCheckInSync(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	r := checkRepo(t, ns)
	if r.code != exitInSync {
		t.Fatalf("exit code %d, want 0\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// Server defaults (Service clusterIP and protocol, Deployment strategy,
	// the CRD's default color, cpu 1000m stored as 1) are not drift.
	if !strings.Contains(r.stdout, "6 resources: 6 in sync, 0 drifted, 0 missing, 0 errors") {
		t.Errorf("summary missing:\n%s", r.stdout)
	}
	rep := parseReport(t, checkRepo(t, ns, "-o", "json"))
	if rep.SchemaVersion != drift.SchemaVersion || rep.Source.Commit == "" || rep.Source.Subject != "desired state" ||
		rep.Cluster.Server != apiConfig.Host || rep.Cluster.Context != "envtest" {
		t.Errorf("report header: %+v %+v %+v", rep.SchemaVersion, rep.Source, rep.Cluster)
	}
	// The live objects really carry the defaults we claim to ignore.
	u, err := kube.Dynamic.Resource(schema.GroupVersionResource{Group: "test.driftwatch.dev", Version: "v1", Resource: "gadgets"}).
		Namespace(ns).Get(context.Background(), "gizmo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c, _, _ := unstructured.NestedString(u.Object, "spec", "color"); c != "blue" {
		t.Errorf("CRD default not applied: color=%q", c)
	}
}

func TestCheckChangedField(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	ctx := context.Background()
	err := kube.Edit(ctx, "kubectl-edit", gvkDeployment, ns, "web", func(u *unstructured.Unstructured) error {
		if err := unstructured.SetNestedField(u.Object, int64(5), "spec", "replicas"); err != nil {
			return err
		}
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		// Swap the order too: matching by name must not be fooled.
		cs[0], cs[1] = cs[1], cs[0]
		cs[1].(map[string]any)["image"] = "nginx:1.28"
		return unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
	})
	if err != nil {
		t.Fatal(err)
	}
	r := checkRepo(t, ns, "-o", "json")
	if r.code != exitDrift {
		t.Fatalf("exit code %d, want 1\nstderr: %s", r.code, r.stderr)
	}
	rep := parseReport(t, r)
	var got []drift.FieldDiff
	for _, res := range rep.Resources {
		if res.Kind == "Deployment" {
			if res.Status != drift.Drifted {
				t.Errorf("Deployment status %s", res.Status)
			}
			got = res.Diffs
		} else if res.Status != drift.InSync {
			t.Errorf("%s: %s %v", res.ID(), res.Status, res.Diffs)
		}
	}
	// Who changed it: the edit's field manager, from managedFields.
	editor := &drift.ChangedBy{Manager: "kubectl-edit", Operation: "Update"}
	want := []drift.FieldDiff{
		{Path: "spec.replicas", Type: drift.Changed, Desired: float64(2), Live: float64(5), ChangedBy: editor},
		// Server-side apply would put Git's order back: that is drift too.
		{Path: "spec.template.spec.containers", Type: drift.Reordered,
			Desired: []any{"[name=app]", "[name=sidecar]"}, Live: []any{"[name=sidecar]", "[name=app]"}},
		{Path: "spec.template.spec.containers[name=app].image", Type: drift.Changed, Desired: "nginx:1.27", Live: "nginx:1.28", ChangedBy: editor},
	}
	for _, d := range got {
		if d.Type == drift.Reordered {
			continue
		}
		if d.ChangedBy == nil || d.ChangedBy.Time == nil || time.Since(*d.ChangedBy.Time) > time.Hour {
			t.Errorf("%s: change time missing or wrong: %+v", d.Path, d.ChangedBy)
		}
	}
	if diff := cmp.Diff(want, got, diffOpts); diff != "" {
		t.Errorf("diffs (-want +got):\n%s", diff)
	}
	// The text report says the same for a human.
	text := checkRepo(t, ns)
	for _, line := range []string{
		"DRIFTED  apps/v1 Deployment " + ns + "/web",
		"  ~ spec.replicas: desired 2, live 5  [kubectl-edit Update ",
		`  ~ spec.template.spec.containers[name=app].image: desired "nginx:1.27", live "nginx:1.28"  [kubectl-edit Update `,
		"6 resources: 5 in sync, 1 drifted, 0 missing, 0 errors\n",
	} {
		if !strings.Contains(text.stdout, line) {
			t.Errorf("text report lacks %q:\n%s", line, text.stdout)
		}
	}
}

func TestCheckDeletedObjectIsMissing(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	if err := kube.Delete(context.Background(), gvkConfigMap, ns, "app-config"); err != nil {
		t.Fatal(err)
	}
	r := checkRepo(t, ns, "-o", "json")
	if r.code != exitDrift {
		t.Fatalf("exit code %d, want 1\nstderr: %s", r.code, r.stderr)
	}
	got := statuses(parseReport(t, r))
	want := map[string]drift.Status{
		"ConfigMap app-config": drift.Missing, "Deployment web": drift.InSync, "Service web": drift.InSync,
		"Secret db": drift.InSync, "Gadget gizmo": drift.InSync, "ClusterRole driftwatch-test-reader": drift.InSync,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if text := checkRepo(t, ns); !strings.Contains(text.stdout, "MISSING  v1 ConfigMap "+ns+"/app-config\n") {
		t.Errorf("text report:\n%s", text.stdout)
	}
}

func TestCheckCustomResourceDrift(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	err := kube.Edit(context.Background(), "kubectl-edit", gvkGadget, ns, "gizmo", func(u *unstructured.Unstructured) error {
		if err := unstructured.SetNestedField(u.Object, int64(7), "spec", "size"); err != nil {
			return err
		}
		return unstructured.SetNestedStringSlice(u.Object, []string{"red"}, "spec", "tags")
	})
	if err != nil {
		t.Fatal(err)
	}
	r := checkRepo(t, ns, "-o", "json")
	if r.code != exitDrift {
		t.Fatalf("exit code %d, want 1\nstderr: %s", r.code, r.stderr)
	}
	for _, res := range parseReport(t, r).Resources {
		if res.Kind != "Gadget" {
			continue
		}
		editor := &drift.ChangedBy{Manager: "kubectl-edit", Operation: "Update"}
		want := []drift.FieldDiff{
			{Path: "spec.size", Type: drift.Changed, Desired: float64(3), Live: float64(7), ChangedBy: editor},
			{Path: "spec.tags", Type: drift.Changed, Desired: []any{"red", "round"}, Live: []any{"red"}, ChangedBy: editor},
		}
		if diff := cmp.Diff(want, res.Diffs, diffOpts); diff != "" {
			t.Errorf("Gadget diffs (-want +got):\n%s", diff)
		}
	}
}

func TestCheckSecretValueNeverShown(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	const newValue = "tr0ub4dor-and-3"
	err := kube.Edit(context.Background(), "kubectl-edit", gvkSecret, ns, "db", func(u *unstructured.Unstructured) error {
		return unstructured.SetNestedField(u.Object, base64.StdEncoding.EncodeToString([]byte(newValue)), "data", "password")
	})
	if err != nil {
		t.Fatal(err)
	}
	oldValue := "correct-horse-battery-staple"
	for _, format := range []string{"text", "json"} {
		r := checkRepo(t, ns, "-o", format)
		if r.code != exitDrift {
			t.Fatalf("%s: exit code %d, want 1\nstderr: %s", format, r.code, r.stderr)
		}
		for _, secret := range []string{newValue, oldValue,
			base64.StdEncoding.EncodeToString([]byte(newValue)), base64.StdEncoding.EncodeToString([]byte(oldValue))} {
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("%s output contains secret material %q", format, secret)
			}
		}
		if format == "text" && !strings.Contains(r.stdout, "  ~ data.password: secret value differs (not shown; desired hmac:") {
			t.Errorf("text report:\n%s", r.stdout)
		}
		if format == "json" {
			for _, res := range parseReport(t, r).Resources {
				if res.Kind == "Secret" {
					want := []drift.FieldDiff{{Path: "data.password", Type: drift.Changed, Sensitive: true,
						ChangedBy: &drift.ChangedBy{Manager: "kubectl-edit", Operation: "Update"}}}
					if diff := cmp.Diff(want, res.Diffs, diffOpts, cmpopts.IgnoreFields(drift.FieldDiff{}, "DesiredHash", "LiveHash")); diff != "" {
						t.Errorf("Secret diffs (-want +got):\n%s", diff)
					}
				}
			}
		}
	}
}

func TestCheckUnservedKindsReportedPerResource(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	r := runCLI(t, "check", "--dir", filepath.Join("..", "..", "testdata", "check"), "--path", "unserved",
		"--kubeconfig", kubeconfig, "-n", ns, "-o", "json")
	rep := parseReport(t, r)
	got := map[string]string{}
	for _, res := range rep.Resources {
		got[res.Kind+" "+res.Name] = string(res.Status) + ": " + res.Error
	}
	want := map[string]string{
		"ConfigMap plain": "Missing: ",
		"Phantom ghost":   "Error: nothere.driftwatch.dev/v1 Phantom is not served by the cluster (is its CustomResourceDefinition installed?)",
		"Deployment old":  "Error: apps/v1beta1 Deployment is not served by the cluster; this cluster serves apps/v1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	// Drift (the missing ConfigMap) wins over per-resource errors, unless
	// errors are asked to be fatal.
	if r.code != exitDrift {
		t.Errorf("exit code %d, want 1", r.code)
	}
	r = runCLI(t, "check", "--dir", filepath.Join("..", "..", "testdata", "check"), "--path", "unserved",
		"--kubeconfig", kubeconfig, "-n", ns, "-o", "json", "--on-resource-error", "fail")
	if r.code != exitError || parseReport(t, r).Summary.Errors != 2 {
		t.Errorf("--on-resource-error fail: exit code %d, want 2; stderr %s", r.code, r.stderr)
	}
}

func TestCheckBadInput(t *testing.T) {
	requireAPIServer(t)
	render := filepath.Join("..", "..", "testdata", "render")
	repo := gitServer.RepoURL("deploy")
	cache := t.TempDir()
	unreachable, err := apiservertest.WriteKubeconfig(
		&rest.Config{Host: "https://127.0.0.1:1"}, t.TempDir(), "nowhere", "default")
	if err != nil {
		t.Fatal(err)
	}
	kc := []string{"--kubeconfig", kubeconfig}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"unreachable repository", []string{"--repo", "http://127.0.0.1:1/deploy.git"}, nil,
			"driftwatch: error: git http://127.0.0.1:1/deploy.git: repository unreachable"},
		{"wrong credentials", []string{"--repo", repo}, map[string]string{"DRIFTWATCH_GIT_PASSWORD": "wrong"},
			"driftwatch: error: git " + repo + ": credentials were refused"},
		{"unknown ref", []string{"--repo", repo, "--ref", "release-9"}, nil,
			`ref not found: "release-9" is no branch, tag or commit of the repository`},
		{"path not in repo", []string{"--repo", repo, "--path", "overlays/nope"}, nil,
			`path "overlays/nope": path not found`},
		{"path is a file that is no manifest", []string{"--dir", render, "--path", "plain/README.md"}, nil,
			`path "plain/README.md": not a manifest file (.yaml, .yml or .json)`},
		{"invalid yaml", []string{"--dir", render, "--path", "invalid-yaml"}, nil,
			"invalid-yaml/zz-bad.yaml:11: invalid YAML: mapping values are not allowed in this context"},
		{"broken kustomization", []string{"--dir", render, "--path", "broken-kustomization"}, nil,
			"kustomize build broken-kustomization: "},
		{"kustomize escaping the root", []string{"--dir", filepath.Join(render, "escape")}, nil,
			`resource "../plain": path escapes the repository root`},
		{"duplicate objects", []string{"--dir", render, "--path", "dup"}, nil,
			"duplicate object Deployment prod/web (apps/v1): in dup/a.yaml:1 and dup/b.yaml:1"},
		{"unreachable cluster", []string{"--dir", filepath.Join(render, "plain"), "--kubeconfig", unreachable}, nil,
			"cluster https://127.0.0.1:1 is unreachable"},
		{"missing source", []string{}, nil, "flag: exactly one of --repo and --dir is required"},
		{"unknown output", []string{"--dir", render, "-o", "yaml"}, nil, `flag --output: unknown output format "yaml"`},
		{"unknown flag", []string{"--bogus"}, nil, "flag: unknown flag: --bogus"},
		{"missing password file", []string{"--repo", repo, "--git-password-file", "/nonexistent/pw"}, nil,
			"flag --git-password-file: open /nonexistent/pw"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"check", "--cache-dir", cache}, tt.args...)
			if !contains(tt.args, "--kubeconfig") {
				args = append(args, kc...)
			}
			r := runWithEnv(t, tt.env, args...)
			if r.code != exitError {
				t.Errorf("exit code %d, want 2", r.code)
			}
			if r.stdout != "" {
				t.Errorf("stdout not empty: %q", r.stdout)
			}
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "driftwatch: error: ") || !strings.Contains(last, tt.wantErr) {
				t.Errorf("stderr last line = %q, want it to contain %q", last, tt.wantErr)
			}
			if strings.Contains(r.stderr, gitPassword) {
				t.Error("stderr leaks the git password")
			}
		})
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestVersion(t *testing.T) {
	r := runCLI(t, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "driftwatch ") {
		t.Errorf("version: %d %q %q", r.code, r.stdout, r.stderr)
	}
}
