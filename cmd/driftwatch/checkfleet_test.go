package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/fleet"
	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

// fleetFixture is a fleet of three clusters: eu and us are two contexts
// of the package's API server, each with its own namespace (the app
// fixture applied in both), and dead is a kubeconfig whose server is a
// closed port. The source is a local Git work tree with two overlays of
// one base, overlays/eu and overlays/us.
type fleetFixture struct {
	dir, file       string
	nsEU, nsUS      string
	commit, srcRoot string
}

func newFleetFixture(t *testing.T, withDead bool) fleetFixture {
	t.Helper()
	fx := fleetFixture{dir: t.TempDir(), nsEU: newNamespace(t), nsUS: newNamespace(t)}
	repo, err := gitServer.CreateRepo(fmt.Sprintf("fleet-%d", nsCounter.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	fx.srcRoot = repo.Dir()
	if err := os.CopyFS(filepath.Join(fx.srcRoot, "base"), os.DirFS(filepath.Join("..", "..", "testdata", "check", "app"))); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"base/kustomization.yaml":        "resources: [clusterrole.yaml, configmap.yaml, deployment.yaml, gadget.yaml, secret.yaml, service.yaml]\n",
		"overlays/eu/kustomization.yaml": "resources: [../../base]\n",
		"overlays/us/kustomization.yaml": "resources: [../../base]\n",
	}
	for path, content := range files {
		if err := repo.WriteFile(path, content); err != nil {
			t.Fatal(err)
		}
	}
	if fx.commit, err = repo.Commit("two overlays"); err != nil {
		t.Fatal(err)
	}
	writeKC := func(name string, cfg *rest.Config, ns string) {
		if err := os.MkdirAll(filepath.Join(fx.dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := apiservertest.WriteKubeconfig(cfg, filepath.Join(fx.dir, name), name, ns); err != nil {
			t.Fatal(err)
		}
	}
	writeKC("eu", apiConfig, fx.nsEU)
	writeKC("us", apiConfig, fx.nsUS)
	clusters := `  - context: eu
    kubeconfig: eu/kubeconfig
    path: overlays/eu
  - context: us
    name: us-east
    kubeconfig: us/kubeconfig
    path: overlays/us
`
	if withDead {
		// A port that was just free and is closed: connecting is refused.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := rest.CopyConfig(apiConfig)
		dead.Host = "https://" + l.Addr().String()
		l.Close()
		writeKC("dead", dead, "default")
		clusters += `  - context: dead
    kubeconfig: dead/kubeconfig
    path: overlays/eu
`
	}
	fx.file = filepath.Join(fx.dir, "fleet.yaml")
	content := fmt.Sprintf("apiVersion: driftwatch.dev/v1alpha1\nkind: Fleet\ndefaults:\n  source: %s\n  render: kustomize\nclusters:\n%s", fx.srcRoot, clusters)
	if err := os.WriteFile(fx.file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return fx
}

func (fx fleetFixture) check(t *testing.T, args ...string) result {
	t.Helper()
	return runCLI(t, append([]string{"check", "--fleet", fx.file, "--cache-dir", t.TempDir()}, args...)...)
}

// check --fleet checks every cluster of the file against the real API
// server through the same pipeline as check: the drift made in one
// cluster shows in that cluster only, an unreachable cluster is shown
// with its error without stopping the others, and the exit status is
// over all of them.
func TestCheckFleetDriftAndUnreachable(t *testing.T) {
	requireAPIServer(t)
	fx := newFleetFixture(t, true)
	err := kube.Edit(context.Background(), "kubectl-edit", gvkDeployment, fx.nsEU, "web", func(u *unstructured.Unstructured) error {
		return unstructured.SetNestedField(u.Object, int64(5), "spec", "replicas")
	})
	if err != nil {
		t.Fatal(err)
	}

	r := fx.check(t, "--parallel", "2")
	if r.code != exitDrift {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	lines := strings.Split(r.stdout, "\n")
	if !strings.HasPrefix(lines[0], "3 clusters: 1 in sync, 1 drifted (1 resource: ") || !strings.HasSuffix(lines[0], ", 1 unreachable") {
		t.Errorf("summary line: %s", lines[0])
	}
	short := fx.commit[:12]
	for _, want := range [][]string{
		{"dead", "unreachable", "0", "-", fx.srcRoot + "//overlays/eu", "-", "-", "cluster https://127.0.0.1:"},
		{"eu", "drifted", "1", fx.srcRoot + "//overlays/eu", short},
		{"us-east", "in-sync", "0", "-", fx.srcRoot + "//overlays/us", short},
		{"eu", fx.nsEU, "Deployment", "web", "Drifted", "spec.replicas", "kubectl-edit"},
	} {
		if !lineWithFields(lines, want) {
			t.Errorf("no line with %q in:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "connection refused") {
		t.Errorf("the unreachable cluster's error is not shown:\n%s", r.stdout)
	}

	// The JSON report is the fleet view, each cluster with its source and
	// revision.
	r = fx.check(t, "-o", "json")
	if r.code != exitDrift {
		t.Fatalf("exit %d, want 1\nstderr: %s", r.code, r.stderr)
	}
	var v fleet.View
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	type line struct {
		Name     string
		State    fleet.State
		Policy   string
		Revision string
		InSync   int
		Drifted  int
	}
	var got []line
	for _, c := range v.Clusters {
		l := line{Name: c.Name, State: c.State, InSync: c.InSync, Drifted: c.Drifted}
		if len(c.Sources) == 1 {
			l.Policy, l.Revision = c.Sources[0].Policy, c.Sources[0].Revision
		}
		got = append(got, l)
	}
	want := []line{
		{"dead", fleet.Unreachable, fx.srcRoot + "//overlays/eu", "", 0, 0},
		{"eu", fleet.Drifted, fx.srcRoot + "//overlays/eu", fx.commit, 5, 1},
		{"us-east", fleet.InSync, fx.srcRoot + "//overlays/us", fx.commit, 6, 0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("clusters (-want +got):\n%s", diff)
	}
	if len(v.Resources) != 1 || v.Resources[0].Cluster != "eu" || v.Resources[0].Namespace != fx.nsEU ||
		v.Resources[0].Status != drift.Drifted || !cmp.Equal(v.Resources[0].Paths, []string{"spec.replicas"}) {
		t.Errorf("resources: %+v", v.Resources)
	}
	if strings.Contains(r.stdout, `"desired"`) || strings.Contains(r.stdout, `"live"`) {
		t.Errorf("the fleet report shows values:\n%s", r.stdout)
	}

	// Drift below --fail-on does not fail; the unreachable cluster still
	// does.
	r = fx.check(t, "-o", "markdown", "--fail-on", "critical")
	if r.code != exitError {
		t.Errorf("--fail-on critical: exit %d, want 2\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "| eu | drifted | 1 |") {
		t.Errorf("markdown lacks the drifted cluster:\n%s", r.stdout)
	}
}

// Without an unreachable cluster, drift below --fail-on exits 0, and
// --exit-code-on-drift sets the status of drift at or above it.
func TestCheckFleetExitStatus(t *testing.T) {
	requireAPIServer(t)
	fx := newFleetFixture(t, false)
	err := kube.Edit(context.Background(), "kubectl-edit", gvkDeployment, fx.nsUS, "web", func(u *unstructured.Unstructured) error {
		return unstructured.SetNestedField(u.Object, int64(4), "spec", "replicas")
	})
	if err != nil {
		t.Fatal(err)
	}
	r := fx.check(t, "--fail-on", "critical", "--parallel", "1")
	if r.code != exitInSync {
		t.Errorf("--fail-on critical: exit %d, want 0\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "2 clusters: 1 in sync, 1 drifted") {
		t.Errorf("summary: %s", r.stdout)
	}
	if want := "note: 1 drifted, missing or extra resource below --fail-on=critical: not failing\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	r = fx.check(t, "--exit-code-on-drift", "3")
	if r.code != 3 {
		t.Errorf("--exit-code-on-drift 3: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// Bad input fails before any cluster is checked, with one line naming
// the flag, or the fleet file and line.
func TestCheckFleetBadInput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "fleet.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	for path, content := range map[string]string{
		good: "apiVersion: driftwatch.dev/v1alpha1\nkind: Fleet\nclusters:\n  - context: a\n    source: .\n",
		bad:  "apiVersion: driftwatch.dev/v1alpha1\nkind: Fleet\nclusters:\n  - context: a\n    source: .\n    repo: x\n",
	} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--fleet", good, "-o", "sarif"}, "flag -o: sarif is not available with --fleet (want text, json, markdown)"},
		{[]string{"--fleet", good, "-o", "text", "-o", "junit=" + filepath.Join(dir, "r.xml")}, "flag -o: junit is not available with --fleet"},
		{[]string{"--fleet", good, "--repo", "https://example.com/x.git"}, "flag --repo: not with --fleet"},
		{[]string{"--fleet", good, "--context", "a"}, "flag --context: not with --fleet"},
		{[]string{"--fleet", good, "--reports", "openreports"}, "flag --reports: not with --fleet"},
		{[]string{"--fleet", good, "--parallel", "0"}, "flag --parallel: 0, want at least 1"},
		{[]string{"--fleet", bad}, bad + `:6: clusters[0]: unknown field "repo"`},
		{[]string{"--fleet", filepath.Join(dir, "none.yaml")}, "fleet file: open " + filepath.Join(dir, "none.yaml")},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[2:], " "), func(t *testing.T) {
			r := runCLI(t, append([]string{"check"}, tt.args...)...)
			if r.code != exitError || r.stdout != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", r.code, r.stdout)
			}
			if !strings.Contains(r.stderr, tt.want) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr %q, want one line with %q", r.stderr, tt.want)
			}
		})
	}
}

// lineWithFields reports whether some line holds every field of want,
// in order.
func lineWithFields(lines []string, want []string) bool {
	for _, l := range lines {
		rest, ok := l, true
		for _, w := range want {
			i := strings.Index(rest, w)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(w):]
		}
		if ok {
			return true
		}
	}
	return false
}

// A cluster whose source cannot be rendered (its overlay does not exist)
// is shown as source-error with the source's error, not as unreachable:
// the cluster was fine, the repository was not. The others are checked
// as usual and the run exits 2.
func TestCheckFleetSourceError(t *testing.T) {
	requireAPIServer(t)
	fx := newFleetFixture(t, false)
	if err := os.MkdirAll(filepath.Join(fx.dir, "broken"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := apiservertest.WriteKubeconfig(apiConfig, filepath.Join(fx.dir, "broken"), "broken", fx.nsEU); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(fx.file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("  - context: broken\n    kubeconfig: broken/kubeconfig\n    path: overlays/missing\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	r := fx.check(t, "-o", "json")
	if r.code != exitError {
		t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	var v fleet.View
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	got := map[string]fleet.State{}
	for _, c := range v.Clusters {
		got[c.Name] = c.State
		if c.Name == "broken" && !strings.Contains(c.Error, "overlays/missing") {
			t.Errorf("broken: error %q does not name the overlay", c.Error)
		}
	}
	want := map[string]fleet.State{"broken": fleet.SourceError, "eu": fleet.InSync, "us-east": fleet.InSync}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}

	r = fx.check(t)
	if !strings.Contains(r.stdout, ", 1 source-error") {
		t.Errorf("the summary does not count the source error:\n%s", r.stdout)
	}
}
