package reports

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftwatch/driftwatch/drift"
)

var (
	now       = time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC)
	firstSeen = time.Date(2026, 12, 5, 13, 0, 0, 0, time.UTC)
	editTime  = time.Date(2026, 12, 5, 12, 59, 0, 0, time.UTC)
)

func source() drift.Source {
	return drift.Source{URL: "https://git.example.com/platform.git", Path: "overlays/prod", Commit: "f7d64d16c2794d4c0d4ad0fbd63cbba3f0a1bb8e"}
}

func TestBuild(t *testing.T) {
	policy := "https://git.example.com/platform.git//overlays/prod"
	name := BaseName(policy)
	rev := "f7d64d16c2794d4c0d4ad0fbd63cbba3f0a1bb8e"
	ref := func(apiVersion, kind, ns, n string) []corev1.ObjectReference {
		return []corev1.ObjectReference{{APIVersion: apiVersion, Kind: kind, Namespace: ns, Name: n}}
	}
	labels := map[string]string{ManagedByLabel: "driftwatch", PolicyLabel: policyHash(policy)}
	annotations := map[string]string{"driftwatch.dev/source": policy, "driftwatch.dev/part": "1/1"}
	r := drift.Report{
		Source: source(),
		Resources: []drift.Resource{
			{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web", Origin: "overlays/prod/kustomization.yaml",
				Status: drift.Drifted, Severity: drift.SeverityCritical, FirstSeen: &firstSeen,
				Diffs: []drift.FieldDiff{
					{Path: "spec.replicas", Type: drift.Changed, Desired: 3, Live: 5, ChangedBy: &drift.ChangedBy{Manager: "kubectl", Operation: "Update", Subresource: "scale"}},
					{Path: "spec.template.spec.containers[name=app].image", Type: drift.Changed, Desired: "nginx:1.27", Live: "nginx:1.28",
						ChangedBy: &drift.ChangedBy{Manager: "kubectl-edit", Operation: "Update", Time: &editTime}},
				}},
			{APIVersion: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "settings", Status: drift.InSync, IgnoredFields: 2},
			{APIVersion: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "gone", Status: drift.Missing, Severity: drift.SeverityWarning},
			{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole", Name: "reader", Status: drift.Error, Error: "clusterroles is forbidden"},
		},
		NotCompared: []drift.NotComparedObject{{APIVersion: "v1", Kind: "Secret", Namespace: "shop", Name: "db", File: "secret.yaml", Via: drift.ViaFile, Reason: "encrypted in Git (SOPS), no key opens it"}},
	}
	got := Build(r, Limits{}, now)
	want := Set{
		Reports: []*orv1.Report{{
			TypeMeta:   metav1.TypeMeta{APIVersion: "openreports.io/v1alpha1", Kind: "Report"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: labels, Annotations: annotations},
			Source:     "driftwatch",
			Summary:    orv1.ReportSummary{Pass: 1, Fail: 2, Skip: 1},
			Results: []orv1.ReportResult{
				{Source: "driftwatch", Policy: policy, Rule: "Missing", Result: "fail", Severity: "medium", Subjects: ref("v1", "ConfigMap", "shop", "gone"),
					Description: "in Git, missing from the cluster", Properties: map[string]string{"revision": rev, "digest": r.Resources[2].DriftDigest()}, Timestamp: metav1.Timestamp{Seconds: now.Unix()}},
				{Source: "driftwatch", Policy: policy, Rule: "Drifted", Result: "fail", Severity: "critical", Subjects: ref("apps/v1", "Deployment", "shop", "web"),
					Description: "2 fields drifted from Git: spec.replicas, spec.template.spec.containers[name=app].image",
					Properties: map[string]string{
						"origin": "overlays/prod/kustomization.yaml", "revision": rev, "fields": "2",
						"paths":     "spec.replicas, spec.template.spec.containers[name=app].image",
						"changedBy": "kubectl-edit", "changedAt": "2026-12-05T12:59:00Z", "firstSeen": "2026-12-05T13:00:00Z",
						"digest": r.Resources[0].DriftDigest(),
					},
					Timestamp: metav1.Timestamp{Seconds: firstSeen.Unix()}},
				{Source: "driftwatch", Policy: policy, Rule: "NotCompared", Result: "skip", Subjects: ref("v1", "Secret", "shop", "db"),
					Description: "not compared: encrypted in Git (SOPS), no key opens it", Properties: map[string]string{"file": "secret.yaml", "revision": rev},
					Timestamp: metav1.Timestamp{Seconds: now.Unix()}},
				{Source: "driftwatch", Policy: policy, Rule: "InSync", Result: "pass", Subjects: ref("v1", "ConfigMap", "shop", "settings"),
					Description: "in sync with Git", Properties: map[string]string{"revision": rev, "ignoredFields": "2"}, Timestamp: metav1.Timestamp{Seconds: now.Unix()}},
			},
		}},
		ClusterReports: []*orv1.ClusterReport{{
			TypeMeta: metav1.TypeMeta{APIVersion: "openreports.io/v1alpha1", Kind: "ClusterReport"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: map[string]string{
				"driftwatch.dev/part": "1/1", "driftwatch.dev/source": policy, "driftwatch.dev/checked-at": "2026-12-05T14:00:00Z",
			}},
			Source:  "driftwatch",
			Summary: orv1.ReportSummary{Error: 1},
			Results: []orv1.ReportResult{
				{Source: "driftwatch", Policy: policy, Rule: "Error", Result: "error", Subjects: ref("rbac.authorization.k8s.io/v1", "ClusterRole", "", "reader"),
					Description: "could not be checked: clusterroles is forbidden", Properties: map[string]string{"revision": rev}, Timestamp: metav1.Timestamp{Seconds: now.Unix()}},
			},
		}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Build() mismatch (-want +got):\n%s", d)
	}
}

// A report never holds a value, a sensitive value's hash, or more than
// its limits allow; parts split at MaxResults and the summary is counted
// once.
func TestBuildLimitsAndNoValues(t *testing.T) {
	var res []drift.Resource
	for i := range 450 {
		r := drift.Resource{APIVersion: "v1", Kind: "ConfigMap", Namespace: "big", Name: fmt.Sprintf("cm-%03d", i), Status: drift.InSync}
		if i%3 == 0 {
			r.Status, r.Severity = drift.Drifted, drift.SeverityWarning
			for j := range 30 {
				r.Diffs = append(r.Diffs, drift.FieldDiff{Path: fmt.Sprintf("data.key%02d", j), Type: drift.Changed, Desired: "desired-VALUE", Live: "live-VALUE"})
			}
			r.Diffs = append(r.Diffs, drift.FieldDiff{Path: "data.password", Type: drift.Changed, Sensitive: true, DesiredHash: "hmac:DESIREDHASH", LiveHash: "hmac:LIVEHASH"})
		}
		res = append(res, r)
	}
	set := Build(drift.Report{Source: source(), Resources: res}, Limits{MaxResults: 100, MaxPass: 50, MaxPaths: 20}, now)
	if len(set.Reports) != 2 {
		t.Fatalf("got %d report parts, want 2 (150 fail + 50 of 300 pass = 200 results, 100 a part)", len(set.Reports))
	}
	var sum orv1.ReportSummary
	results := 0
	for i, r := range set.Reports {
		sum.Pass += r.Summary.Pass
		sum.Fail += r.Summary.Fail
		results += len(r.Results)
		if want := chunkName(BaseName(Policy(source())), i); r.Name != want {
			t.Errorf("part %d named %q, want %q", i, r.Name, want)
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		for _, leak := range []string{"VALUE", "DESIREDHASH", "LIVEHASH", "hmac:"} {
			if strings.Contains(string(b), leak) {
				t.Errorf("report %s holds %q", r.Name, leak)
			}
		}
		if len(b) > 512<<10 {
			t.Errorf("report %s is %d bytes", r.Name, len(b))
		}
	}
	if d := cmp.Diff(orv1.ReportSummary{Pass: 300, Fail: 150}, sum); d != "" {
		t.Errorf("summary over the parts (-want +got):\n%s", d)
	}
	if results != 200 {
		t.Errorf("%d results listed, want 200", results)
	}
	first := set.Reports[0].Results[0]
	if got, want := first.Properties["paths"], "(+11 more)"; !strings.HasSuffix(got, want) {
		t.Errorf("paths = %q, want 20 paths and %q", got, want)
	}
	if got := set.Reports[1].Results[len(set.Reports[1].Results)-1].Result; got != "pass" {
		t.Errorf("last result is %q: failures come first, passes last", got)
	}
}

func TestSeverityMapping(t *testing.T) {
	for in, want := range map[drift.Severity]orv1.ResultSeverity{
		drift.SeverityCritical: "critical", drift.SeverityWarning: "medium", drift.SeverityInfo: "info", "": "",
	} {
		if got := Severity(in); got != want {
			t.Errorf("Severity(%q) = %q, want %q", in, got, want)
		}
	}
}
