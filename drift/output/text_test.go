package output

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/driftwatch/driftwatch/drift"
)

// Escape codes spelled out, so that a want line reads as what a terminal
// receives.
const (
	tReset   = "\x1b[0m"
	tDrifted = "\x1b[1m\x1b[33mDRIFTED" + tReset
	tMissing = "\x1b[1m\x1b[31mMISSING" + tReset
	tError   = "\x1b[1m\x1b[35mERROR" + tReset
	tExtra   = "\x1b[1m\x1b[36mEXTRA" + tReset
	tInSync  = "\x1b[1m\x1b[32mIN SYNC" + tReset
	tGreen   = "\x1b[32m"
	tRed     = "\x1b[31m"
	tDim     = "\x1b[2m"
	tYellow  = "\x1b[33m"
	tBoldRed = "\x1b[1m\x1b[31m"
)

// sgr matches an ANSI SGR escape sequence.
var sgr = regexp.MustCompile("\x1b\\[[0-9;]*m")

// renderText renders the text report of r, coloured or not.
func renderText(t *testing.T, r *drift.Report, color bool) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteWith(&buf, r, FormatText, WriteOptions{Color: color}); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// resourceLines returns the lines of the text report between the header
// and the summary: what it says about the resources.
func resourceLines(t *testing.T, out string) []string {
	t.Helper()
	lines := strings.Split(out, "\n")
	first := -1
	for i, l := range lines {
		if l == "" {
			first = i
			break
		}
	}
	// ..., "", [severity counts,] summary, "" (after the final newline).
	last := len(lines) - 3
	if last > 0 && strings.HasPrefix(lines[last], "By severity: ") {
		last--
	}
	if first < 0 || last <= first || lines[last] != "" {
		t.Fatalf("unexpected text report layout:\n%s", out)
	}
	return lines[first+1 : last]
}

// TestTextColor pins where the coloured text report puts its escape codes:
// around the status word, the desired value, the live value and the
// attribution, whole, wherever ": desired ", ", live " or "  [" appear in
// the values, paths or attributions.
func TestTextColor(t *testing.T) {
	edit := &drift.ChangedBy{Manager: "kubectl-edit", Operation: "Update", Time: fixedTime(10, 42, 0)}
	cm := func(diffs ...drift.FieldDiff) drift.Resource {
		return drift.Resource{APIVersion: "v1", Kind: "ConfigMap", Namespace: "prod", Name: "app-config", Status: drift.Drifted, Diffs: diffs}
	}
	const drifted = tDrifted + "  v1 ConfigMap prod/app-config"
	tests := []struct {
		name string
		res  drift.Resource
		want []string
	}{
		{
			name: "values holding the separators",
			res: cm(drift.FieldDiff{Path: "data.note", Type: drift.Changed,
				Desired: "a, live b", Live: "c: desired d, live e  [f]", ChangedBy: edit}),
			want: []string{
				drifted,
				`  ~ data.note: desired ` + tGreen + `"a, live b"` + tReset +
					`, live ` + tRed + `"c: desired d, live e  [f]"` + tReset +
					tDim + "  [kubectl-edit Update 2026-11-24 10:42:00 UTC]" + tReset,
			},
		},
		{
			name: "structured values holding the separators",
			res: cm(drift.FieldDiff{Path: "data", Type: drift.Changed,
				Desired: map[string]any{"k": "x: desired y"}, Live: []any{"a, live b", int64(1)}}),
			want: []string{
				drifted,
				`  ~ data: desired ` + tGreen + `{"k":"x: desired y"}` + tReset + `, live ` + tRed + `["a, live b",1]` + tReset,
			},
		},
		{
			name: "path holding the separators",
			res: cm(drift.FieldDiff{Path: "data.a: desired b, live c", Type: drift.Changed,
				Desired: int64(2), Live: int64(5)}),
			want: []string{
				drifted,
				"  ~ data.a: desired b, live c: desired " + tGreen + "2" + tReset + ", live " + tRed + "5" + tReset,
			},
		},
		{
			name: "attribution holding the separators",
			res: cm(drift.FieldDiff{Path: "data.k", Type: drift.Changed, Desired: "x", Live: "y",
				ChangedBy: &drift.ChangedBy{Manager: "helm: desired a, live b  [c]", Operation: "Apply"}}),
			want: []string{
				drifted,
				`  ~ data.k: desired ` + tGreen + `"x"` + tReset + `, live ` + tRed + `"y"` + tReset +
					tDim + "  [helm: desired a, live b  [c] Apply, no time recorded]" + tReset,
			},
		},
		{
			name: "a change through a subresource, with no time recorded",
			res: cm(drift.FieldDiff{Path: "data.k", Type: drift.Changed, Desired: "x", Live: "y",
				ChangedBy: &drift.ChangedBy{Manager: "kubectl", Operation: "Update", Subresource: "scale"}}),
			want: []string{
				drifted,
				`  ~ data.k: desired ` + tGreen + `"x"` + tReset + `, live ` + tRed + `"y"` + tReset +
					tDim + "  [kubectl Update scale, no time recorded]" + tReset,
			},
		},
		{
			name: "Git's applier, with no time recorded",
			res: cm(drift.FieldDiff{Path: "data.k", Type: drift.Changed, Desired: "x", Live: "y",
				ChangedBy: &drift.ChangedBy{Manager: "gitops", Operation: "Apply", Applier: true}}),
			want: []string{
				drifted,
				`  ~ data.k: desired ` + tGreen + `"x"` + tReset + `, live ` + tRed + `"y"` + tReset +
					tDim + "  [gitops Apply, no time recorded, Git's own applier: not a later change]" + tReset,
			},
		},
		{
			name: "removed",
			res:  cm(drift.FieldDiff{Path: "data.k", Type: drift.Removed, Desired: "a, live b"}),
			want: []string{
				drifted,
				`  ~ data.k: desired ` + tGreen + `"a, live b"` + tReset + `, live ` + tRed + `absent` + tReset,
			},
		},
		{
			name: "reordered",
			res: cm(drift.FieldDiff{Path: "spec.env", Type: drift.Reordered,
				Desired: []any{"[name=a, live b]", "[name=c]"}, Live: []any{"[name=c]", "[name=a, live b]"}}),
			want: []string{
				drifted,
				"  ~ spec.env: order differs: desired " + tGreen + "[name=a, live b] [name=c]" + tReset +
					", live " + tRed + "[name=c] [name=a, live b]" + tReset,
			},
		},
		{
			// A secret's values are never shown, so never coloured; its
			// hashes stay plain, its attribution is dimmed like any other.
			name: "secret",
			res: drift.Resource{APIVersion: "v1", Kind: "Secret", Namespace: "prod", Name: "db", Status: drift.Drifted,
				Diffs: []drift.FieldDiff{
					{Path: "data.password", Type: drift.Changed, Sensitive: true,
						Desired: "correct-horse-battery-staple", Live: "hunter2-rotated-by-hand",
						DesiredHash: "hmac:0b1d8f3c2a77", LiveHash: "hmac:e4a90c6b1f52", ChangedBy: edit},
					{Path: "data.api-token", Type: drift.Removed, Sensitive: true, Desired: "tok_live_4f9a8e7d6c",
						DesiredHash: "hmac:5c2b7a1e9d04"},
				}},
			want: []string{
				tDrifted + "  v1 Secret prod/db",
				"  ~ data.password: secret value differs (not shown; desired hmac:0b1d8f3c2a77, live hmac:e4a90c6b1f52)" +
					tDim + "  [kubectl-edit Update 2026-11-24 10:42:00 UTC]" + tReset,
				"  ~ data.api-token: secret value removed (not shown; desired hmac:5c2b7a1e9d04)",
			},
		},
		{
			name: "missing",
			res:  drift.Resource{APIVersion: "v1", Kind: "ConfigMap", Namespace: "prod", Name: "app-config", Status: drift.Missing},
			want: []string{tMissing + "  v1 ConfigMap prod/app-config", "  - not found in the cluster  " + tYellow + "(warning)" + tReset},
		},
		{
			name: "extra",
			res:  drift.Resource{APIVersion: "v1", Kind: "Service", Namespace: "prod", Name: "legacy", Status: drift.Extra},
			want: []string{tExtra + "    v1 Service prod/legacy", "  + in the cluster with the tracking label, not in Git  " + tYellow + "(warning)" + tReset},
		},
		{
			name: "severities",
			res: cm(drift.FieldDiff{Path: "data.a", Type: drift.Changed, Desired: "x", Live: "y", ChangedBy: edit, Severity: drift.SeverityCritical},
				drift.FieldDiff{Path: "data.b", Type: drift.Removed, Desired: "x", Severity: drift.SeverityWarning},
				drift.FieldDiff{Path: "metadata.labels.c", Type: drift.Changed, Desired: "x", Live: "(info)", Severity: drift.SeverityInfo}),
			want: []string{
				drifted,
				`  ~ data.a: desired ` + tGreen + `"x"` + tReset + `, live ` + tRed + `"y"` + tReset +
					tDim + "  [kubectl-edit Update 2026-11-24 10:42:00 UTC]" + tReset + "  " + tBoldRed + "(critical)" + tReset,
				`  ~ data.b: desired ` + tGreen + `"x"` + tReset + `, live ` + tRed + `absent` + tReset + "  " + tYellow + "(warning)" + tReset,
				`  ~ metadata.labels.c: desired ` + tGreen + `"x"` + tReset + `, live ` + tRed + `"(info)"` + tReset + "  " + tDim + "(info)" + tReset,
			},
		},
		{
			name: "error",
			res: drift.Resource{APIVersion: "v1", Kind: "Secret", Namespace: "prod", Name: "db", Status: drift.Error,
				Error: "DRIFTED: desired a, live b"},
			want: []string{tError + "    v1 Secret prod/db", "  ! DRIFTED: desired a, live b"},
		},
		{
			name: "in sync with a warning",
			res: drift.Resource{APIVersion: "policy/v1", Kind: "PodDisruptionBudget", Namespace: "prod", Name: "web", Status: drift.InSync,
				Warnings: []string{"MISSING  desired a, live b"}},
			want: []string{tInSync + "  policy/v1 PodDisruptionBudget prod/web", "  ! warning: MISSING  desired a, live b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := drift.NewReport(goldenNow, drift.Source{URL: "/srv/gitops"}, drift.Cluster{Server: "https://k8s.example.com"},
				[]drift.Resource{tt.res})
			got := renderText(t, r, true)
			if d := cmp.Diff(tt.want, resourceLines(t, got)); d != "" {
				t.Errorf("coloured resource lines (-want +got):\n%s", d)
			}
			// The header and the summary are never coloured.
			plain := renderText(t, r, false)
			if d := cmp.Diff(strings.SplitAfterN(plain, "\n\n", 2)[0], strings.SplitAfterN(got, "\n\n", 2)[0]); d != "" {
				t.Errorf("coloured header (-want +got):\n%s", d)
			}
			if d := cmp.Diff(plain[strings.LastIndex(plain, "\n\n"):], got[strings.LastIndex(got, "\n\n"):]); d != "" {
				t.Errorf("coloured summary (-want +got):\n%s", d)
			}
			assertNoFormatSecrets(t, []byte(got))
		})
	}
}

// textReports are the reports the colour tests render: the format
// fixtures, a hostile one, and one whose values hold the separators.
func textReports() map[string]*drift.Report {
	reports := formatFixtures()
	reports["hostile"] = hostileReport()
	reports["separators"] = drift.NewReport(goldenNow, goldenRevision, goldenCluster, []drift.Resource{{
		APIVersion: "v1", Kind: "ConfigMap", Namespace: "prod", Name: "app-config", Status: drift.Drifted,
		Diffs: []drift.FieldDiff{{Path: "data.note", Type: drift.Changed, Desired: "a, live b", Live: "c: desired d  [e]",
			ChangedBy: &drift.ChangedBy{Manager: "kubectl-edit", Operation: "Update", Time: fixedTime(10, 42, 0)}}},
	}})
	return reports
}

// TestTextBySeverity: the text report lists resources most severe first,
// in report order within a severity, those without one last; each diff
// and each Missing or Extra resource shows its severity, and a line
// counts resources by severity above the summary.
func TestTextBySeverity(t *testing.T) {
	out := renderText(t, formatFixtures()["drifted"], false)
	var order []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.ToUpper(f[0]) == f[0] && f[0] != "By" && len(f) >= 3 &&
			!strings.HasPrefix(line, " ") && strings.Contains(line, "/") {
			order = append(order, strings.Join(f[len(f)-2:], " "))
		}
	}
	if d := cmp.Diff([]string{"Deployment prod/web", "Secret prod/db-credentials", "ConfigMap prod/app-config",
		"Service prod/legacy-api", "ServiceMonitor monitoring/web"}, order); d != "" {
		t.Errorf("resource order (-want +got):\n%s", d)
	}
	for _, want := range []string{
		`  ~ spec.template.spec.containers[name=app].image: desired "nginx:1.27", live "nginx:1.28"  [kubectl-edit Update 2026-11-24 10:42:00 UTC]  (critical)` + "\n",
		"  ~ spec.replicas: desired 2, live 5  [kubectl Update scale 2026-11-24 10:42:00 UTC]  (info)\n",
		"  - not found in the cluster  (warning)\n",
		"  + in the cluster with the tracking label, not in Git  (warning)\n",
		"\nBy severity: 2 critical, 2 warning, 0 info\n6 resources: 1 in sync, 2 drifted, 1 missing, 1 errors, 1 extra;",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(renderText(t, formatFixtures()["in-sync"], false), "By severity") {
		t.Errorf("an in-sync report counts severities")
	}
}

// TestTextWithoutColor: without colour, WriteWith writes what Write writes
// (so the golden files hold for both); with colour, the text differs only
// by escape codes.
func TestTextWithoutColor(t *testing.T) {
	for name, r := range textReports() {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, r, FormatText); err != nil {
				t.Fatal(err)
			}
			want := buf.String()
			if d := cmp.Diff(want, renderText(t, r, false)); d != "" {
				t.Errorf("WriteWith without colour differs from Write (-want +got):\n%s", d)
			}
			colored := renderText(t, r, true)
			if shown := r.Summary.Total > r.Summary.InSync; shown && colored == want {
				t.Errorf("coloured text report holds no colour")
			}
			if d := cmp.Diff(want, sgr.ReplaceAllString(colored, "")); d != "" {
				t.Errorf("coloured text report without its escape codes (-want +got):\n%s", d)
			}
			assertNoFormatSecrets(t, []byte(colored))
		})
	}
}

// TestColorOnlyInText: the other formats ignore the colour option and
// never hold escape codes of their own.
func TestColorOnlyInText(t *testing.T) {
	for name, r := range textReports() {
		for _, f := range Formats {
			if f == FormatText {
				continue
			}
			t.Run(name+"/"+string(f), func(t *testing.T) {
				want := renderFormat(t, r, f)
				var got bytes.Buffer
				if err := WriteWith(&got, r, f, WriteOptions{Color: true}); err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(string(want), got.String()); d != "" {
					t.Errorf("colour changes the %s report (-want +got):\n%s", f, d)
				}
				if name != "hostile" && bytes.Contains(got.Bytes(), []byte("\x1b")) {
					t.Errorf("%s report holds an escape code:\n%q", f, got.String())
				}
			})
		}
	}
}
