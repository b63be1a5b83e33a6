package fleet

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/driftwatch/driftwatch/drift"
)

var updateFormat = flag.Bool("update-format", false, "rewrite the golden files of testdata/format")

// sampleView is a fleet with every kind of line: a drifted cluster with
// two sources, one in sync, one unreachable, a path and an error holding
// pipes, more paths than shown, a resource not checked, and times in
// another zone than UTC.
func sampleView() View {
	cet := time.FixedZone("CET", 3600)
	at := time.Date(2026, 12, 5, 17, 30, 0, 0, cet)
	checked := time.Date(2026, 12, 5, 17, 29, 10, 0, cet)
	changed := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	commit := "0123456789abcdef0123456789abcdef01234567"
	clusters := []Cluster{
		{Name: "prod-us", Server: "https://10.0.0.2:6443", State: InSync, CheckedAt: &checked,
			Sources: []Source{{Policy: "https://github.com/acme/platform.git//overlays/prod-us", Revision: commit, CheckedAt: &checked}},
			InSync:  12},
		{Name: "prod-eu", Server: "https://10.0.0.1:6443", State: Drifted, CheckedAt: &checked,
			Sources: []Source{
				{Policy: "https://github.com/acme/platform.git//overlays/prod-eu", Revision: commit, CheckedAt: &checked},
				{Policy: "oci://ghcr.io/acme/addons:1.2", Revision: "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"},
			},
			InSync: 9, Drifted: 2, Errors: 1, Severity: drift.SeverityCritical},
		{Name: "edge", Server: "https://127.0.0.1:1", State: Unreachable,
			Error:   "cluster https://127.0.0.1:1 is unreachable: dial tcp 127.0.0.1:1: connect: connection refused | retry\nlater",
			Sources: []Source{{Policy: "https://github.com/acme/platform.git//overlays/edge"}}},
	}
	paths := make([]string, 0, 20)
	for i := range 20 {
		paths = append(paths, "data.key"+string(rune('a'+i)))
	}
	resources := []Resource{
		{Cluster: "prod-eu", APIVersion: "apps/v1", Kind: "Deployment", Namespace: "web", Name: "front",
			Status: drift.Drifted, Severity: drift.SeverityCritical,
			Paths:  []string{"spec.template.spec.containers[name=app].image", `metadata.annotations[a|b]`},
			Fields: 2, ChangedBy: "kubectl-edit", ChangedAt: &changed, Digest: "0011223344556677"},
		{Cluster: "prod-eu", APIVersion: "v1", Kind: "ConfigMap", Namespace: "web", Name: "settings",
			Status: drift.Drifted, Severity: drift.SeverityInfo, Paths: paths, MorePaths: 5, Fields: 25,
			ChangedBy: "helm/scale", Digest: "8899aabbccddeeff"},
		{Cluster: "prod-eu", APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole", Name: "reader",
			Status: drift.Missing, Severity: drift.SeverityWarning, Digest: "1122334455667788"},
		{Cluster: "prod-eu", APIVersion: "example.com/v1", Kind: "Widget", Namespace: "web", Name: "w",
			Status: drift.Error, Description: "kind example.com/v1 Widget is not served | try later"},
	}
	return Assemble(at, clusters, resources)
}

// Each format of the sample view matches its golden file,
// testdata/format/view.<format>.
func TestWriteGolden(t *testing.T) {
	for _, format := range Formats {
		t.Run(format, func(t *testing.T) {
			var b bytes.Buffer
			if err := Write(&b, format, sampleView()); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "format", "view."+format)
			if *updateFormat {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update-format)", err)
			}
			if diff := cmp.Diff(string(want), b.String()); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
			// Twice the same view, twice the same bytes: no map order
			// leaks into the output.
			var again bytes.Buffer
			if err := Write(&again, format, sampleView()); err != nil {
				t.Fatal(err)
			}
			if again.String() != b.String() {
				t.Error("two writes of one view differ")
			}
		})
	}
}

// The JSON form is the View: it reads back into an equal View, with every
// time in UTC and no null list.
func TestWriteJSONRoundTrip(t *testing.T) {
	v := sampleView()
	var b bytes.Buffer
	if err := Write(&b, "json", v); err != nil {
		t.Fatal(err)
	}
	var got View
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(normalize(v), got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if strings.Contains(b.String(), "+01:00") {
		t.Errorf("a time is not in UTC:\n%s", b.String())
	}
	b.Reset()
	if err := Write(&b, "json", View{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"clusters": []`, `"resources": []`, `"byState": {}`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("empty view lacks %s:\n%s", want, b.String())
		}
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	var b bytes.Buffer
	err := Write(&b, "sarif", sampleView())
	if err == nil || err.Error() != `fleet format "sarif": unknown (want text, json, markdown)` {
		t.Errorf("error %v", err)
	}
	if b.Len() != 0 {
		t.Errorf("wrote %q", b.String())
	}
}

// Every markdown table row has as many cells as its header, whatever
// pipes the names, paths and errors hold.
func TestWriteMarkdownPipesEscaped(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, "markdown", sampleView()); err != nil {
		t.Fatal(err)
	}
	cols := 0
	for _, line := range strings.Split(b.String(), "\n") {
		if !strings.HasPrefix(line, "|") {
			cols = 0
			continue
		}
		n := strings.Count(line, "|") - strings.Count(line, `\|`)
		if cols == 0 {
			cols = n
		}
		if n != cols {
			t.Errorf("row has %d cell borders, header %d: %s", n, cols, line)
		}
	}
}

func TestSummaryLine(t *testing.T) {
	tests := []struct {
		name string
		s    Summary
		want string
	}{
		{"empty", Summary{}, "0 clusters: 0 in sync, 0 drifted"},
		{"one in sync", Summary{Clusters: 1, ByState: map[State]int{InSync: 1}}, "1 cluster: 1 in sync, 0 drifted"},
		{"every state", Summary{Clusters: 9,
			ByState:    map[State]int{InSync: 1, Drifted: 2, Unreachable: 1, Forbidden: 1, NoCRD: 1, Stale: 1, NoReports: 1, Pending: 1},
			Drifted:    4,
			BySeverity: map[string]int{"critical": 1, "info": 2, "": 1},
			Errors:     1},
			"9 clusters: 1 in sync, 2 drifted (4 resources: 1 critical, 0 warning, 2 info, 1 unclassified), " +
				"1 unreachable, 1 forbidden, 1 no-crd, 1 stale, 1 no-reports, 1 pending; 1 resource could not be checked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, summaryLine(tt.s)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
