package reports

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// A Report becomes a PolicyReport and a ClusterReport a
// ClusterPolicyReport: the same metadata, summary and results, without
// the top-level source v1alpha2 does not have.
func TestPolicyReports(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "driftwatch-0123456789", Namespace: "shop",
		Labels:      map[string]string{ManagedByLabel: "driftwatch", PolicyLabel: "0123456789"},
		Annotations: map[string]string{"driftwatch.dev/source": "https://git.example.com/platform.git//prod", "driftwatch.dev/part": "1/1"}}
	set := Set{
		Reports: []*orv1.Report{{
			TypeMeta:   metav1.TypeMeta{APIVersion: "openreports.io/v1alpha1", Kind: "Report"},
			ObjectMeta: meta,
			Source:     "driftwatch",
			Summary:    orv1.ReportSummary{Pass: 3, Fail: 1},
			Results: []orv1.ReportResult{{
				Source: "driftwatch", Policy: "https://git.example.com/platform.git//prod", Rule: "Drifted", Result: "fail", Severity: "critical",
				Subjects:    []corev1.ObjectReference{{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"}},
				Description: "1 field drifted from Git: spec.replicas",
				Properties:  map[string]string{"paths": "spec.replicas", "digest": "d1"},
				Timestamp:   metav1.Timestamp{Seconds: 1796480000},
			}},
		}},
		ClusterReports: []*orv1.ClusterReport{{
			TypeMeta:   metav1.TypeMeta{APIVersion: "openreports.io/v1alpha1", Kind: "ClusterReport"},
			ObjectMeta: metav1.ObjectMeta{Name: "driftwatch-0123456789"},
			Source:     "driftwatch",
			Summary:    orv1.ReportSummary{Error: 1},
			Results: []orv1.ReportResult{{
				Source: "driftwatch", Policy: "https://git.example.com/platform.git//prod", Rule: "Error", Result: "error",
				Subjects:    []corev1.ObjectReference{{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole", Name: "reader"}},
				Description: "could not be checked: forbidden",
				Timestamp:   metav1.Timestamp{Seconds: 1796480001},
			}},
		}},
	}
	ns, cl, err := PolicyReports(set)
	if err != nil {
		t.Fatal(err)
	}
	wantNS := []*unstructured.Unstructured{{Object: map[string]any{
		"apiVersion": "wgpolicyk8s.io/v1alpha2",
		"kind":       "PolicyReport",
		"metadata": map[string]any{
			"name": "driftwatch-0123456789", "namespace": "shop",
			"labels":      map[string]any{"app.kubernetes.io/managed-by": "driftwatch", "driftwatch.dev/policy": "0123456789"},
			"annotations": map[string]any{"driftwatch.dev/source": "https://git.example.com/platform.git//prod", "driftwatch.dev/part": "1/1"},
		},
		"summary": map[string]any{"pass": int64(3), "fail": int64(1), "warn": int64(0), "error": int64(0), "skip": int64(0)},
		"results": []any{map[string]any{
			"source": "driftwatch", "policy": "https://git.example.com/platform.git//prod", "rule": "Drifted", "result": "fail", "severity": "critical",
			"resources":  []any{map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"}},
			"message":    "1 field drifted from Git: spec.replicas",
			"properties": map[string]any{"paths": "spec.replicas", "digest": "d1"},
			"timestamp":  map[string]any{"seconds": int64(1796480000), "nanos": int64(0)},
		}},
	}}}
	wantCluster := []*unstructured.Unstructured{{Object: map[string]any{
		"apiVersion": "wgpolicyk8s.io/v1alpha2",
		"kind":       "ClusterPolicyReport",
		"metadata":   map[string]any{"name": "driftwatch-0123456789"},
		"summary":    map[string]any{"pass": int64(0), "fail": int64(0), "warn": int64(0), "error": int64(1), "skip": int64(0)},
		"results": []any{map[string]any{
			"source": "driftwatch", "policy": "https://git.example.com/platform.git//prod", "rule": "Error", "result": "error",
			"resources": []any{map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "name": "reader"}},
			"message":   "could not be checked: forbidden",
			"timestamp": map[string]any{"seconds": int64(1796480001), "nanos": int64(0)},
		}},
	}}}
	if d := cmp.Diff(wantNS, ns); d != "" {
		t.Errorf("PolicyReports() namespaced (-want +got):\n%s", d)
	}
	if d := cmp.Diff(wantCluster, cl); d != "" {
		t.Errorf("PolicyReports() cluster (-want +got):\n%s", d)
	}
	// Converting does not touch the Set.
	if set.Reports[0].Source != "driftwatch" || set.Reports[0].Kind != "Report" {
		t.Errorf("the Set changed: %+v", set.Reports[0].TypeMeta)
	}
}

func TestParseFormat(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    Format
		wantErr string
	}{
		{in: "openreports", want: OpenReports},
		{in: "policyreport", want: PolicyReport},
		{in: "policyreports", wantErr: `"policyreports" is not openreports or policyreport`},
		{in: "", wantErr: `"" is not openreports or policyreport`},
	} {
		got, err := ParseFormat(tt.in)
		var gotErr string
		if err != nil {
			gotErr = err.Error()
		}
		if got != tt.want || gotErr != tt.wantErr {
			t.Errorf("ParseFormat(%q) = %q, %q; want %q, %q", tt.in, got, gotErr, tt.want, tt.wantErr)
		}
	}
}
