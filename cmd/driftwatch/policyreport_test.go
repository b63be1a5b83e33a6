package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/drift/pipeline/reports"
)

// check --reports=policyreport: the same findings as OpenReports, as
// wgpolicyk8s.io/v1alpha2 PolicyReport and ClusterPolicyReport objects;
// without their CRDs, one line naming them; rbac --reports policyreport
// grants their verbs.
func TestCheckPolicyReport(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)

	r := checkRepo(t, ns, "--reports", "policyreports")
	if r.code != exitError || !strings.Contains(r.stderr, `flag --reports: "policyreports" is not openreports or policyreport`) {
		t.Errorf("a bad format: exit %d, stderr %q", r.code, r.stderr)
	}

	// Only this test installs the PolicyReport CRDs: unless an earlier
	// run in this process did, the check stops before it runs.
	_, err := kube.Dynamic.Resource(reports.PolicyReportResource).List(t.Context(), metav1.ListOptions{Limit: 1})
	if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
		r = checkRepo(t, ns, "--reports", "policyreport")
		want := "flag --reports: the cluster does not serve wgpolicyk8s.io/v1alpha2 PolicyReport and ClusterPolicyReport: install their CRDs " +
			"(kubectl apply -f deploy/crds/wgpolicyk8s.io_policyreports.yaml -f deploy/crds/wgpolicyk8s.io_clusterpolicyreports.yaml)\n"
		if r.code != exitError || r.stdout != "" || !strings.HasSuffix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
			t.Fatalf("without the CRDs: exit %d, stdout %q, stderr %q; want one line %q", r.code, r.stdout, r.stderr, want)
		}
	}

	installPolicyReportCRDs(t)
	if err := kube.Edit(t.Context(), "kubectl-edit", gvkConfigMap, ns, "app-config", func(u *unstructured.Unstructured) error {
		return unstructured.SetNestedField(u.Object, "LIVE-VALUE-5e2a", "data", "greeting")
	}); err != nil {
		t.Fatal(err)
	}
	r = checkRepo(t, ns, "--reports", "policyreport", "-o", "json")
	if r.code != exitDrift {
		t.Fatalf("with the CRDs: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "reports: 2 written, 0 unchanged, 0 deleted") {
		t.Errorf("stderr = %q, want the PolicyReport and the ClusterPolicyReport written", r.stderr)
	}
	rep := parseReport(t, r)
	name := reports.BaseName(reports.Policy(rep.Source))
	got, err := kube.Dynamic.Resource(reports.PolicyReportResource).Namespace(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetKind() != "PolicyReport" || got.GetLabels()[reports.ManagedByLabel] != "driftwatch" {
		t.Errorf("got a %s labelled %v, want a PolicyReport managed by driftwatch", got.GetKind(), got.GetLabels())
	}
	fail, _, _ := unstructured.NestedInt64(got.Object, "summary", "fail")
	pass, _, _ := unstructured.NestedInt64(got.Object, "summary", "pass")
	if fail != 1 || pass < 1 {
		t.Errorf("summary fail %d pass %d, want 1 failing (the ConfigMap) and the rest passing", fail, pass)
	}
	results, _, _ := unstructured.NestedSlice(got.Object, "results")
	var failing []map[string]any
	for _, x := range results {
		if m := x.(map[string]any); m["result"] == "fail" {
			failing = append(failing, m)
		}
	}
	if len(failing) != 1 {
		t.Fatalf("%d failing results, want 1: %v", len(failing), results)
	}
	f := failing[0]
	subj, _ := f["resources"].([]any)
	paths, _, _ := unstructured.NestedString(f, "properties", "paths")
	if len(subj) != 1 || subj[0].(map[string]any)["kind"] != "ConfigMap" || subj[0].(map[string]any)["name"] != "app-config" ||
		f["rule"] != "Drifted" || f["source"] != "driftwatch" || f["policy"] != reports.Policy(rep.Source) || paths != "data.greeting" {
		t.Errorf("failing result = %v, want ConfigMap app-config Drifted at data.greeting, from driftwatch", f)
	}
	if b, _ := yaml.Marshal(got.Object); strings.Contains(string(b), "LIVE-VALUE-5e2a") {
		t.Errorf("the report holds the live value:\n%s", b)
	}
	if _, err := kube.Dynamic.Resource(reports.ClusterPolicyReportResource).Get(t.Context(), name, metav1.GetOptions{}); err != nil {
		t.Errorf("no ClusterPolicyReport for the source's cluster-scoped objects: %v", err)
	}
	// The format's own resources only: no OpenReports object.
	if _, err := kube.Dynamic.Resource(reports.ReportResource).Namespace(ns).Get(t.Context(), name, metav1.GetOptions{}); err == nil {
		t.Error("check --reports policyreport wrote an OpenReports Report too")
	}

	// A CronJob's next run with the same findings writes nothing.
	r = checkRepo(t, ns, "--reports", "policyreport")
	if !strings.Contains(r.stderr, "reports: 0 written, 2 unchanged, 0 deleted") {
		t.Errorf("second run: stderr = %q, want nothing written", r.stderr)
	}

	r = runCLI(t, "rbac", "--repo", gitServer.RepoURL("deploy"), "--path", "app", "--kubeconfig", kubeconfig,
		"-n", ns, "--cache-dir", t.TempDir(), "--reports", "policyreport")
	if r.code != 0 {
		t.Fatalf("rbac: exit %d: %s", r.code, r.stderr)
	}
	want := "- apiGroups:\n  - wgpolicyk8s.io\n  resources:\n  - clusterpolicyreports\n  - policyreports\n  verbs:\n  - get\n  - list\n  - create\n  - patch\n  - delete\n"
	if !strings.Contains(r.stdout, want) || strings.Contains(r.stdout, "openreports.io") {
		t.Errorf("rbac --reports policyreport: want\n%s\nand no openreports.io in\n%s", want, r.stdout)
	}
}

// installPolicyReportCRDs applies deploy/crds' wgpolicyk8s.io CRDs.
func installPolicyReportCRDs(t *testing.T) {
	t.Helper()
	for _, f := range []string{"wgpolicyk8s.io_policyreports.yaml", "wgpolicyk8s.io_clusterpolicyreports.yaml"} {
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
}
