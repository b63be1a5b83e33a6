package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/drift/pipeline/reports"
)

// check --reports=openreports: without the CRDs, one line before anything
// is checked; with them, a Report per namespace that a second run leaves
// alone, and the RBAC rbac --reports prints is enough to write them.
func TestCheckReports(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)

	r := checkRepo(t, ns, "--reports", "openreports")
	if r.code != exitError || r.stdout != "" || !strings.Contains(r.stderr, "flag --reports: the cluster does not serve openreports.io/v1alpha1 Report and ClusterReport: install their CRDs (kubectl apply -f deploy/crds/)") {
		t.Fatalf("without the CRDs: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n > 0 {
		t.Errorf("without the CRDs: %d lines on stderr, want one:\n%s", n+1, r.stderr)
	}

	for _, f := range []string{"openreports.io_reports.yaml", "openreports.io_clusterreports.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "crds", f))
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(b, &u.Object); err != nil {
			t.Fatal(err)
		}
		if err := kube.Apply(t.Context(), "setup", "", u); err != nil {
			t.Fatal(err)
		}
	}
	if err := kube.Edit(t.Context(), "kubectl-edit", gvkConfigMap, ns, "app-config", func(u *unstructured.Unstructured) error {
		return unstructured.SetNestedField(u.Object, "LIVE-VALUE-8c1f", "data", "greeting")
	}); err != nil {
		t.Fatal(err)
	}
	r = checkRepo(t, ns, "--reports", "openreports", "-o", "json")
	if r.code != exitDrift {
		t.Fatalf("with the CRDs: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "reports: 2 written, 0 unchanged, 0 deleted") {
		t.Errorf("stderr = %q, want the report objects written", r.stderr)
	}
	rep := parseReport(t, r)
	name := reports.BaseName(reports.Policy(rep.Source))
	got, err := kube.Dynamic.Resource(reports.ReportResource).Namespace(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fail, _, _ := unstructured.NestedInt64(got.Object, "summary", "fail")
	pass, _, _ := unstructured.NestedInt64(got.Object, "summary", "pass")
	if fail != 1 || pass < 1 {
		t.Errorf("summary fail %d pass %d, want 1 failing (the ConfigMap) and the rest passing", fail, pass)
	}
	if b, _ := yaml.Marshal(got.Object); strings.Contains(string(b), "LIVE-VALUE-8c1f") {
		t.Errorf("the report holds the live value:\n%s", b)
	}
	if _, err := kube.Dynamic.Resource(reports.ClusterReportResource).Get(t.Context(), name, metav1.GetOptions{}); err != nil {
		t.Errorf("no ClusterReport for the source's cluster-scoped objects: %v", err)
	}

	// A CronJob's next run with the same findings writes nothing.
	r = checkRepo(t, ns, "--reports", "openreports")
	if !strings.Contains(r.stderr, "reports: 0 written, 2 unchanged, 0 deleted") {
		t.Errorf("second run: stderr = %q, want nothing written", r.stderr)
	}

	// rbac --reports grants exactly what writing them takes.
	r = runCLI(t, "rbac", "--repo", gitServer.RepoURL("deploy"), "--path", "app", "--kubeconfig", kubeconfig,
		"-n", ns, "--cache-dir", t.TempDir(), "--reports", "openreports")
	if r.code != 0 {
		t.Fatalf("rbac: exit %d: %s", r.code, r.stderr)
	}
	want := "- apiGroups:\n  - openreports.io\n  resources:\n  - clusterreports\n  - reports\n  verbs:\n  - get\n  - list\n  - create\n  - patch\n  - delete\n"
	if !strings.Contains(r.stdout, want) {
		t.Errorf("rbac --reports lacks\n%s\nin\n%s", want, r.stdout)
	}
}
