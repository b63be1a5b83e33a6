package fleet

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/driftwatch/driftwatch/drift"
)

func TestFromReport(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	at := time.Date(2026, 12, 5, 17, 0, 0, 0, cet)
	atUTC := at.UTC()
	early := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	late := time.Date(2026, 12, 5, 11, 0, 0, 0, cet)
	lateUTC := late.UTC()
	manyDiffs := make([]drift.FieldDiff, 23)
	var manyPaths []string
	for i := range manyDiffs {
		manyDiffs[i] = drift.FieldDiff{Path: fmt.Sprintf("data.k%02d", i), Type: drift.Changed, Severity: drift.SeverityInfo,
			Desired: "secret-desired", Live: "secret-live"}
		if i < 20 {
			manyPaths = append(manyPaths, manyDiffs[i].Path)
		}
	}
	deploy := drift.Resource{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "web", Name: "front", Status: drift.Drifted,
		Severity: drift.SeverityCritical, Diffs: []drift.FieldDiff{
			{Path: "spec.replicas", Type: drift.Changed, Desired: 2, Live: 5, Severity: drift.SeverityInfo,
				ChangedBy: &drift.ChangedBy{Manager: "hpa", Time: &early}},
			{Path: "spec.template.spec.containers[name=app].image", Type: drift.Changed, Desired: "a", Live: "b",
				Severity: drift.SeverityCritical, ChangedBy: &drift.ChangedBy{Manager: "kubectl", Subresource: "scale", Time: &late}},
		}}
	tests := []struct {
		name          string
		report        drift.Report
		wantCluster   Cluster
		wantResources []Resource
	}{
		{
			name: "in sync, from a directory",
			report: drift.Report{GeneratedAt: at, Source: drift.Source{URL: "/src", Path: "overlays/a"},
				Cluster:   drift.Cluster{Server: "https://127.0.0.1:6443"},
				Resources: []drift.Resource{{Kind: "ConfigMap", Name: "a", Status: drift.InSync}}},
			wantCluster: Cluster{Name: "a", Server: "https://127.0.0.1:6443", State: InSync, CheckedAt: &atUTC,
				Sources: []Source{{Policy: "/src//overlays/a", CheckedAt: &atUTC}}, InSync: 1},
		},
		{
			name: "drifted, from Git, paths cut at 20, last change wins",
			report: drift.Report{GeneratedAt: at, Source: drift.Source{URL: "https://g/x.git", Commit: "c0ffee", Digest: "ignored"},
				Resources: []drift.Resource{
					{APIVersion: "v1", Kind: "ConfigMap", Namespace: "web", Name: "big", Status: drift.Drifted,
						Severity: drift.SeverityInfo, Diffs: manyDiffs},
					deploy,
					{APIVersion: "v1", Kind: "Secret", Namespace: "web", Name: "gone", Status: drift.Missing, Severity: drift.SeverityWarning,
						FirstSeen: &late},
					{APIVersion: "x/v1", Kind: "Widget", Namespace: "a", Name: "w", Status: drift.Error, Error: "not served"},
					{APIVersion: "v1", Kind: "ConfigMap", Namespace: "web", Name: "ok", Status: drift.InSync},
				}},
			wantCluster: Cluster{Name: "a", State: Drifted, CheckedAt: &atUTC,
				Sources: []Source{{Policy: "https://g/x.git", Revision: "c0ffee", CheckedAt: &atUTC}},
				InSync:  1, Drifted: 3, Errors: 1, Severity: drift.SeverityCritical},
			wantResources: []Resource{
				{Cluster: "a", APIVersion: "x/v1", Kind: "Widget", Namespace: "a", Name: "w", Status: drift.Error,
					Description: "not served", Policy: "https://g/x.git", Revision: "c0ffee"},
				{Cluster: "a", APIVersion: "v1", Kind: "ConfigMap", Namespace: "web", Name: "big", Status: drift.Drifted,
					Severity: drift.SeverityInfo, Paths: manyPaths, MorePaths: 3, Fields: 23,
					Digest: drift.Resource{Status: drift.Drifted, Diffs: manyDiffs}.DriftDigest(), Policy: "https://g/x.git", Revision: "c0ffee"},
				{Cluster: "a", APIVersion: "apps/v1", Kind: "Deployment", Namespace: "web", Name: "front", Status: drift.Drifted,
					Severity: drift.SeverityCritical, Paths: []string{"spec.replicas", "spec.template.spec.containers[name=app].image"},
					Fields: 2, ChangedBy: "kubectl/scale", ChangedAt: &lateUTC, Digest: deploy.DriftDigest(),
					Policy: "https://g/x.git", Revision: "c0ffee"},
				{Cluster: "a", APIVersion: "v1", Kind: "Secret", Namespace: "web", Name: "gone", Status: drift.Missing,
					Severity: drift.SeverityWarning, FirstSeen: &lateUTC, Digest: drift.Resource{Status: drift.Missing}.DriftDigest(),
					Policy: "https://g/x.git", Revision: "c0ffee"},
			},
		},
		{
			name: "OCI digest, unclassified diff, stale",
			report: drift.Report{GeneratedAt: at, Source: drift.Source{URL: "oci://r/a:1", Digest: "sha256:ab"},
				Stale: &drift.Stale{Reason: "git: timeout", Since: early},
				Resources: []drift.Resource{{APIVersion: "v1", Kind: "ConfigMap", Name: "u", Status: drift.Drifted,
					Severity: drift.SeverityWarning, Diffs: []drift.FieldDiff{
						{Path: "data.a", Severity: drift.SeverityWarning}, {Path: "data.b"}}}}},
			wantCluster: Cluster{Name: "a", State: Stale, Error: "git: timeout", CheckedAt: &atUTC,
				Sources: []Source{{Policy: "oci://r/a:1", Revision: "sha256:ab", CheckedAt: &atUTC}}, Drifted: 1},
			wantResources: []Resource{{Cluster: "a", APIVersion: "v1", Kind: "ConfigMap", Name: "u", Status: drift.Drifted,
				Paths: []string{"data.a", "data.b"}, Fields: 2, Policy: "oci://r/a:1", Revision: "sha256:ab",
				Digest: drift.Resource{Status: drift.Drifted, Diffs: []drift.FieldDiff{{Path: "data.a"}, {Path: "data.b"}}}.DriftDigest()}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rs := FromReport("a", tt.report)
			if diff := cmp.Diff(tt.wantCluster, c); diff != "" {
				t.Errorf("cluster (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantResources, rs); diff != "" {
				t.Errorf("resources (-want +got):\n%s", diff)
			}
		})
	}
}

// Exit agrees with check's --fail-on over the same report: drift at or
// above the threshold, or unclassified, fails; an unhealthy cluster or a
// resource not checked makes the view incomplete.
func TestExit(t *testing.T) {
	res := func(st drift.Status, sev drift.Severity) Resource {
		return Resource{Cluster: "a", Kind: "ConfigMap", Name: string(st) + string(sev), Status: st, Severity: sev}
	}
	healthy := []Cluster{{Name: "a", State: Drifted}}
	tests := []struct {
		name                string
		clusters            []Cluster
		resources           []Resource
		failOn              drift.Severity
		drifted, incomplete bool
	}{
		{"nothing", healthy, nil, "", false, false},
		{"in sync only", healthy, []Resource{res(drift.InSync, "")}, drift.SeverityInfo, false, false},
		{"info drift, fail on info", healthy, []Resource{res(drift.Drifted, drift.SeverityInfo)}, drift.SeverityInfo, true, false},
		{"info drift, fail on empty", healthy, []Resource{res(drift.Drifted, drift.SeverityInfo)}, "", true, false},
		{"info drift, fail on warning", healthy, []Resource{res(drift.Drifted, drift.SeverityInfo)}, drift.SeverityWarning, false, false},
		{"warning missing, fail on warning", healthy, []Resource{res(drift.Missing, drift.SeverityWarning)}, drift.SeverityWarning, true, false},
		{"warning extra, fail on critical", healthy, []Resource{res(drift.Extra, drift.SeverityWarning)}, drift.SeverityCritical, false, false},
		{"unclassified, fail on critical", healthy, []Resource{res(drift.Drifted, "")}, drift.SeverityCritical, true, false},
		{"resource error", healthy, []Resource{res(drift.Error, "")}, "", false, true},
		{"unreachable cluster", []Cluster{{Name: "a", State: InSync}, {Name: "b", State: Unreachable}}, nil, "", false, true},
		{"stale cluster with drift", []Cluster{{Name: "a", State: Stale}}, []Resource{res(drift.Drifted, drift.SeverityCritical)},
			drift.SeverityCritical, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Assemble(time.Time{}, tt.clusters, tt.resources)
			drifted, incomplete := v.Exit(tt.failOn)
			if drifted != tt.drifted || incomplete != tt.incomplete {
				t.Errorf("Exit(%q) = %v, %v; want %v, %v", tt.failOn, drifted, incomplete, tt.drifted, tt.incomplete)
			}
		})
	}
}

// Assemble sorts clusters by name and resources by cluster, namespace,
// kind and name, and counts the summary.
func TestAssemble(t *testing.T) {
	v := Assemble(time.Date(2026, 1, 1, 1, 0, 0, 0, time.FixedZone("X", 3600)),
		[]Cluster{{Name: "b", State: InSync}, {Name: "a", State: Drifted}},
		[]Resource{
			{Cluster: "b", Namespace: "x", Kind: "K", Name: "n", Status: drift.Error},
			{Cluster: "a", Namespace: "y", Kind: "K", Name: "n", Status: drift.Drifted, Severity: drift.SeverityInfo},
			{Cluster: "a", Namespace: "x", Kind: "L", Name: "a", Status: drift.Missing, Severity: drift.SeverityCritical},
			{Cluster: "a", Namespace: "x", Kind: "K", Name: "z", Status: drift.Extra},
		})
	var order []string
	for _, c := range v.Clusters {
		order = append(order, c.Name)
	}
	for _, r := range v.Resources {
		order = append(order, r.Cluster+"/"+r.Namespace+"/"+r.Kind+"/"+r.Name)
	}
	want := []string{"a", "b", "a/x/K/z", "a/x/L/a", "a/y/K/n", "b/x/K/n"}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	wantSummary := Summary{Clusters: 2, ByState: map[State]int{InSync: 1, Drifted: 1}, Drifted: 3,
		BySeverity: map[string]int{"info": 1, "critical": 1, "": 1}, Errors: 1}
	if diff := cmp.Diff(wantSummary, v.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if v.GeneratedAt != time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("generatedAt %v, want in UTC", v.GeneratedAt)
	}
}
