package output

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/driftwatch/driftwatch/drift"
)

// Golden tests of the markdown, JUnit and SARIF reports. Each directory of
// testdata/formats holds the reports of one fixture built below:
//
//	report.md.golden     markdown
//	report.junit.golden  JUnit XML, valid against schemas/jenkins-junit.xsd
//	report.sarif.golden  SARIF, valid against schemas/sarif-schema-2.1.0.json
//
// Run `go test ./drift -run Formats -update-formats` to rewrite them, then
// read them: they are what users see. (The flag is not -update, which
// golden_test.go defines for testdata/golden.)

var updateFormats = flag.Bool("update-formats", false, "rewrite the golden files of testdata/formats")

const formatsDir = "../../testdata/formats"

var formatFiles = []struct {
	format Format
	file   string
}{
	{FormatMarkdown, "report.md.golden"},
	{FormatJUnit, "report.junit.golden"},
	{FormatSARIF, "report.sarif.golden"},
}

// formatSecrets are the values of the fixtures' sensitive diffs; no report
// may show them, plain or base64-encoded, even though the fixture (unlike
// Compare) leaves them in Desired and Live.
var formatSecrets = []string{"correct-horse-battery-staple", "hunter2-rotated-by-hand", "tok_live_4f9a8e7d6c"}

func fixedTime(h, m, s int) *time.Time {
	t := time.Date(2026, 11, 24, h, m, s, 0, time.UTC)
	return &t
}

// fixtureConfig classifies the fixtures as the pipeline would, with one
// rule of the user's before the defaults: a Secret changed by hand is
// critical (so that it sorts before the Missing ConfigMap listed first).
var fixtureConfig = func() *drift.Config {
	c, err := drift.ParseConfig("fixture.yaml", []byte("apiVersion: driftwatch.dev/v1alpha1\nkind: Config\n"+
		"severity:\n  - match: {group: \"\", kind: Secret}\n    level: critical\n"))
	if err != nil {
		panic(err)
	}
	return c
}()

// classified classifies rs by fixtureConfig.
func classified(rs []drift.Resource) []drift.Resource {
	for i := range rs {
		fixtureConfig.Classify(&rs[i])
	}
	return rs
}

// formatFixtures builds the reports, with fixed times.
func formatFixtures() map[string]*drift.Report {
	edit := &drift.ChangedBy{Manager: "kubectl-edit", Operation: "Update", Time: fixedTime(10, 42, 0)}
	longValue := strings.Repeat("0123456789", 14) + "-tail-never-shown"

	drifted := drift.NewReport(goldenNow, goldenRevision, goldenCluster, classified([]drift.Resource{
		{
			APIVersion: "apps/v1", Kind: "Deployment", Namespace: "prod", Name: "web",
			Origin: "clusters/prod/web.yaml:12", Status: drift.Drifted, FirstSeen: fixedTime(10, 42, 5),
			IgnoredFields: 2,
			Diffs: []drift.FieldDiff{
				{Path: "metadata.annotations.note", Type: drift.Changed,
					Desired: "a | b `c` <b>bold</b> & @team #12", Live: longValue,
					ChangedBy: &drift.ChangedBy{Manager: "helm_<x>", Operation: "Apply"}},
				{Path: "spec.replicas", Type: drift.Changed, Desired: int64(2), Live: int64(5),
					ChangedBy: &drift.ChangedBy{Manager: "kubectl", Operation: "Update", Subresource: "scale", Time: fixedTime(10, 42, 0)}},
				{Path: "spec.template.spec.containers[name=app].env", Type: drift.Reordered,
					Desired: []any{"[name=LOG_LEVEL]", "[name=LOG_FORMAT]"}, Live: []any{"[name=LOG_FORMAT]", "[name=LOG_LEVEL]"}},
				{Path: "spec.template.spec.containers[name=app].image", Type: drift.Changed,
					Desired: "nginx:1.27", Live: "nginx:1.28", ChangedBy: edit},
				{Path: "spec.template.spec.containers[name=app].resources.limits.memory", Type: drift.Removed,
					Desired: "512Mi"},
			},
		},
		{
			APIVersion: "v1", Kind: "ConfigMap", Namespace: "prod", Name: "app-config",
			Origin: "clusters/prod/overlays/prod/kustomization.yaml", Status: drift.Missing,
		},
		{
			APIVersion: "v1", Kind: "Secret", Namespace: "prod", Name: "db-credentials",
			Origin: "clusters/prod/secrets.yaml:1", Status: drift.Drifted,
			Diffs: []drift.FieldDiff{
				{Path: "data.api-token", Type: drift.Removed, Sensitive: true, Desired: "tok_live_4f9a8e7d6c",
					DesiredHash: "hmac:5c2b7a1e9d04"},
				{Path: "data.password", Type: drift.Changed, Sensitive: true,
					Desired: "correct-horse-battery-staple", Live: base64.StdEncoding.EncodeToString([]byte("hunter2-rotated-by-hand")),
					DesiredHash: "hmac:0b1d8f3c2a77", LiveHash: "hmac:e4a90c6b1f52",
					ChangedBy: &drift.ChangedBy{Manager: "kubectl-edit", Operation: "Update", Time: fixedTime(9, 15, 30)}},
			},
		},
		{
			APIVersion: "monitoring.coreos.com/v1", Kind: "ServiceMonitor", Namespace: "monitoring", Name: "web",
			Origin: "clusters/prod/monitoring.yaml:3", Status: drift.Error,
			Error:    "monitoring.coreos.com/v1 ServiceMonitor: forbidden: cannot list servicemonitors <in namespace \"monitoring\">",
			Warnings: []string{"monitoring.coreos.com/v1alpha1 ServiceMonitor is deprecated; use monitoring.coreos.com/v1"},
		},
		{
			APIVersion: "v1", Kind: "Service", Namespace: "prod", Name: "legacy-api", Status: drift.Extra,
		},
		{
			APIVersion: "v1", Kind: "Service", Namespace: "prod", Name: "web",
			Origin: "clusters/prod/web.yaml:40", Status: drift.InSync,
		},
	}))
	drifted.Summary.Excluded = 3

	inSync := drift.NewReport(goldenNow, goldenRevision, goldenCluster, []drift.Resource{
		{APIVersion: "v1", Kind: "Namespace", Name: "prod", Origin: "clusters/prod/namespace.yaml:1", Status: drift.InSync},
		{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "prod", Name: "web", Origin: "clusters/prod/web.yaml:12", Status: drift.InSync},
		{APIVersion: "v1", Kind: "Service", Namespace: "prod", Name: "web", Origin: "clusters/prod/web.yaml:40", Status: drift.InSync},
	})

	// A watch report while Git cannot be read, from a directory rather
	// than a repository: no ref, no commit.
	stale := drift.NewReport(goldenNow, drift.Source{URL: "/srv/gitops", Path: "clusters/staging"},
		drift.Cluster{Server: "https://staging.k8s.example.com:6443"}, classified([]drift.Resource{
			{
				APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole", Name: "reader",
				Origin: "clusters/staging/rbac.yaml:7", Status: drift.Drifted, FirstSeen: fixedTime(8, 0, 0),
				Diffs: []drift.FieldDiff{{Path: "rules[0].verbs", Type: drift.Changed,
					Desired: []any{"get", "list", "watch"}, Live: []any{"get", "list", "watch", "delete"},
					ChangedBy: &drift.ChangedBy{Manager: "kubectl-client-side-apply", Operation: "Update", Time: fixedTime(7, 59, 0)}}},
			},
			{
				APIVersion: "policy/v1", Kind: "PodDisruptionBudget", Namespace: "staging", Name: "web",
				Origin: "clusters/staging/pdb.yaml:1", Status: drift.InSync,
				Warnings: []string{"policy/v1beta1 PodDisruptionBudget is deprecated in v1.21+, unavailable in v1.25+"},
			},
		}))
	stale.Stale = &drift.Stale{Reason: "fetch https://git.example.com/gitops.git: connection refused", Since: *fixedTime(11, 30, 0)}
	stale.Disconnected = &drift.Stale{Reason: "dial tcp 10.0.0.1:6443: connect: connection refused (1 informers: configmaps/v1 in namespace staging)",
		Since: *fixedTime(11, 40, 0)}

	return map[string]*drift.Report{"drifted": drifted, "in-sync": inSync, "stale": stale}
}

func renderFormat(t *testing.T, r *drift.Report, f Format) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, r, f); err != nil {
		t.Fatalf("Write %s: %v", f, err)
	}
	if !utf8.Valid(buf.Bytes()) {
		t.Errorf("%s report is not valid UTF-8", f)
	}
	return buf.Bytes()
}

func TestFormatsGolden(t *testing.T) {
	fixtures := formatFixtures()
	dirs, err := os.ReadDir(formatsDir)
	if err != nil && !*updateFormats {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if d.IsDir() && d.Name() != "schemas" && fixtures[d.Name()] == nil {
			t.Errorf("%s/%s has no fixture", formatsDir, d.Name())
		}
	}
	for name, r := range fixtures {
		for _, g := range formatFiles {
			t.Run(name+"/"+string(g.format), func(t *testing.T) {
				got := renderFormat(t, r, g.format)
				assertNoFormatSecrets(t, got)
				path := filepath.Join(formatsDir, name, g.file)
				if *updateFormats {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./drift -run Formats -update-formats to create it)", err)
				}
				if d := cmp.Diff(string(want), string(got)); d != "" {
					t.Errorf("%s differs (-want +got); run with -update-formats if the change is intended:\n%s", path, d)
				}
			})
		}
	}
}

func assertNoFormatSecrets(t *testing.T, report []byte) {
	t.Helper()
	for _, s := range formatSecrets {
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s))} {
			if bytes.Contains(report, []byte(form)) {
				t.Errorf("report reveals the secret value %q", form)
			}
		}
	}
}

// TestFormatsMarkdown pins what the markdown report must say, so that
// -update-formats cannot bless a wrong report.
func TestFormatsMarkdown(t *testing.T) {
	fx := formatFixtures()
	md := string(renderFormat(t, fx["drifted"], FormatMarkdown))
	for _, want := range []string{
		"### Drift check of `https://github.com/example/platform-gitops.git` path `clusters/prod` @ `main` (`3f9c2e71a4b8`) against `https://prod.k8s.example.com:6443` (context `prod`)\n",
		"| Excluded by targeting | 3 |\n",
		"| Drifted fields ignored by rules | 2 |\n",
		"| Extra | 1 |\n",
		"\nDrifted, missing and extra resources by severity: 2 critical, 2 warning, 0 info.\n",
		"<summary><b>Drifted</b> <code>apps/v1 Deployment prod/web</code> (critical)</summary>\n\nFrom `clusters/prod/web.yaml:12`.",
		"| Path | Severity | Change | Desired | Live | Changed by |\n",
		"| `spec.replicas` | info | changed | `2` | `5` | kubectl (Update scale, 2026-11-24 10:42:00 UTC) |\n",
		"| `spec.template.spec.containers[name=app].image` | **critical** | changed | `\"nginx:1.27\"` | `\"nginx:1.28\"` |",
		"| `spec.template.spec.containers[name=app].resources.limits.memory` | warning | removed | `\"512Mi\"` | *(absent)* |  |\n",
		// Pipes escaped, backticks fenced, HTML inert in a code span.
		"| `metadata.annotations.note` | info | changed | ``\"a \\| b `c` <b>bold</b> & @team #12\"`` | `\"" + strings.Repeat("0123456789", 11) + "012345678…` | helm\\_&lt;x&gt; (Apply, no time recorded) |\n",
		"| `data.password` | **critical** | changed | (secret value, not shown) `hmac:0b1d8f3c2a77` | (secret value, not shown) `hmac:e4a90c6b1f52` |",
		"| `data.api-token` | **critical** | removed | (secret value, not shown) `hmac:5c2b7a1e9d04` | *(absent)* |",
		"<summary><b>Missing</b> <code>v1 ConfigMap prod/app-config</code> (warning)</summary>\n\nFrom `clusters/prod/overlays/prod/kustomization.yaml`. Not found in the cluster.\n",
		"- **Error:** monitoring.coreos.com/v1 ServiceMonitor: forbidden: cannot list servicemonitors &lt;in namespace \"monitoring\"&gt;\n",
		"- **Warning:** monitoring.coreos.com/v1alpha1 ServiceMonitor is deprecated; use monitoring.coreos.com/v1\n",
		"<summary><b>Extra</b> <code>v1 Service prod/legacy-api</code> (warning)</summary>\n\nIn the cluster with the tracking label, not in Git.\n",
		"\n4 of 6 resources differ from Git.\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown report lacks %q", want)
		}
	}
	if strings.Contains(md, "-tail-never-shown") {
		t.Errorf("markdown report shows a long value whole")
	}
	if strings.Contains(md, "v1 Service prod/web") {
		t.Errorf("markdown report details an in-sync resource without warnings")
	}
	// Most severe first, in report order within a severity; errors last.
	var order []string
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "<summary>") {
			order = append(order, line[strings.Index(line, "<code>")+6:strings.Index(line, "</code>")])
		}
	}
	if d := cmp.Diff([]string{"apps/v1 Deployment prod/web", "v1 Secret prod/db-credentials", "v1 ConfigMap prod/app-config",
		"v1 Service prod/legacy-api", "monitoring.coreos.com/v1 ServiceMonitor monitoring/web"}, order); d != "" {
		t.Errorf("markdown resource order (-want +got):\n%s", d)
	}

	if md := string(renderFormat(t, fx["in-sync"], FormatMarkdown)); !strings.HasSuffix(md, "\nAll 3 resources are in sync.\n") || strings.Contains(md, "<details>") {
		t.Errorf("in-sync markdown report:\n%s", md)
	}
	md = string(renderFormat(t, fx["stale"], FormatMarkdown))
	for _, want := range []string{
		"### Drift check of `/srv/gitops` path `clusters/staging` against `https://staging.k8s.example.com:6443`\n",
		"> **Warning:** Stale report: Git could not be read since 2026-11-24 11:30:00 UTC (fetch https://git.example.com/gitops.git: connection refused); it shows the last good desired state.",
		"> **Warning:** Live state may be out of date: the API server could not be watched since 2026-11-24 11:40:00 UTC (dial tcp 10.0.0.1:6443: connect: connection refused",
		"<summary><b>In sync</b> <code>policy/v1 PodDisruptionBudget staging/web</code></summary>",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("stale markdown report lacks %q:\n%s", want, md)
		}
	}
}

func TestMarkdownEscaping(t *testing.T) {
	for _, c := range []struct {
		in      string
		inTable bool
		want    string
	}{
		{"plain", true, "`plain`"},
		{"a|b", true, "`a\\|b`"},
		{"a|b", false, "`a|b`"},
		{"a`b", false, "``a`b``"},
		{"``x", false, "``` ``x ```"},
		{"x`", false, "`` x` ``"},
		{"  both  ", false, "`   both   `"},
		{"line\nbreak", false, "`line break`"},
		{"<script>", true, "`<script>`"},
		{"", true, ""},
	} {
		if got := mdCode(c.in, c.inTable); got != c.want {
			t.Errorf("mdCode(%q, %v) = %q, want %q", c.in, c.inTable, got, c.want)
		}
	}
	for in, want := range map[string]string{
		"<img src=x onerror=alert(1)>": "&lt;img src=x onerror=alert(1)&gt;",
		"a|b `c` *d* _e_ [f](g)":       "a\\|b \\`c\\` \\*d\\* \\_e\\_ \\[f\\](g)",
		"&amp; @user #1 ~x~ !":         "&amp;amp; \\@user \\#1 \\~x\\~ \\!",
		"C:\\path\r\nnext":             "C:\\\\path  next",
	} {
		if got := mdText(in); got != want {
			t.Errorf("mdText(%q) = %q, want %q", in, got, want)
		}
	}
	// Values are cut on a rune boundary.
	v := plainValue(strings.Repeat("é", 100))
	if !utf8.ValidString(v) || !strings.HasSuffix(v, "…") || len(v) > maxValue+len("…") {
		t.Errorf("plainValue cut %q", v)
	}
}

// junitDoc is what the tests read back from a JUnit report.
type junitDoc struct {
	Name     string `xml:"name,attr"`
	Tests    int    `xml:"tests,attr"`
	Failures int    `xml:"failures,attr"`
	Errors   int    `xml:"errors,attr"`
	Suites   []struct {
		Name      string `xml:"name,attr"`
		Tests     int    `xml:"tests,attr"`
		Failures  int    `xml:"failures,attr"`
		Errors    int    `xml:"errors,attr"`
		Skipped   string `xml:"skipped,attr"`
		Timestamp string `xml:"timestamp,attr"`
		Cases     []struct {
			Classname string `xml:"classname,attr"`
			Name      string `xml:"name,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
			} `xml:"error"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
		SystemOut string `xml:"system-out"`
	} `xml:"testsuite"`
}

func TestFormatsJUnit(t *testing.T) {
	fx := formatFixtures()
	out := renderFormat(t, fx["drifted"], FormatJUnit)
	if !bytes.HasPrefix(out, []byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n<testsuites ")) {
		t.Errorf("JUnit report does not start with the XML header and <testsuites>:\n%s", out)
	}
	var doc junitDoc
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("JUnit report does not parse: %v\n%s", err, out)
	}
	if doc.Name != "driftwatch" || doc.Tests != 6 || doc.Failures != 4 || doc.Errors != 1 || len(doc.Suites) != 1 {
		t.Fatalf("testsuites name=%q tests=%d failures=%d errors=%d, %d suites; want driftwatch 6 4 1, 1 suite",
			doc.Name, doc.Tests, doc.Failures, doc.Errors, len(doc.Suites))
	}
	s := doc.Suites[0]
	if s.Name != "https://github.com/example/platform-gitops.git (clusters/prod)" || s.Tests != 6 || s.Failures != 4 ||
		s.Errors != 1 || s.Skipped != "0" || s.Timestamp != "2026-11-24T12:00:00Z" {
		t.Errorf("testsuite %+v", s)
	}
	types := map[string]string{}
	for _, c := range s.Cases {
		id := c.Classname + " " + c.Name
		switch {
		case c.Failure != nil:
			types[id] = c.Failure.Type
		case c.Error != nil:
			types[id] = "error " + c.Error.Type
		default:
			types[id] = "pass"
		}
	}
	want := map[string]string{
		"apps/v1 Deployment prod/web":                            "Drifted",
		"v1 ConfigMap prod/app-config":                           "Missing",
		"v1 Secret prod/db-credentials":                          "Drifted",
		"monitoring.coreos.com/v1 ServiceMonitor monitoring/web": "error Error",
		"v1 Service prod/legacy-api":                             "Extra",
		"v1 Service prod/web":                                    "pass",
	}
	if d := cmp.Diff(want, types); d != "" {
		t.Errorf("test cases (-want +got):\n%s", d)
	}
	web := s.Cases[0]
	for _, line := range []string{
		"spec.template.spec.containers[name=app].resources.limits.memory: desired \"512Mi\", live absent (warning)\n",
		"(2 drifted fields ignored by rules)\n",
		"origin: clusters/prod/web.yaml:12\n",
	} {
		if web.Failure == nil || !strings.Contains(web.Failure.Text, line) {
			t.Errorf("Deployment failure text lacks %q", line)
		}
	}
	for _, line := range []string{
		"spec.replicas: desired 2, live 5 [kubectl Update scale 2026-11-24 10:42:00 UTC] (info)\n",
		"spec.template.spec.containers[name=app].image: desired \"nginx:1.27\", live \"nginx:1.28\" [kubectl-edit Update 2026-11-24 10:42:00 UTC] (critical)\n",
	} {
		if web.Failure == nil || !strings.Contains(web.Failure.Text, line) {
			t.Errorf("Deployment failure text lacks %q", line)
		}
	}
	if cm := s.Cases[1]; cm.Failure == nil || cm.Failure.Message != "warning: not found in the cluster" {
		t.Errorf("ConfigMap failure %+v", cm.Failure)
	}
	if web.Failure != nil && web.Failure.Message != "critical: 5 fields differ from Git" {
		t.Errorf("Deployment failure message %q", web.Failure.Message)
	}
	if sm := s.Cases[3]; !strings.Contains(sm.SystemOut, "warning: monitoring.coreos.com/v1alpha1 ServiceMonitor is deprecated") {
		t.Errorf("ServiceMonitor system-out %q lacks the warning", sm.SystemOut)
	}

	// Cluster-scoped: the name alone; a stale report says so.
	out = renderFormat(t, fx["stale"], FormatJUnit)
	doc = junitDoc{}
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if c := doc.Suites[0].Cases[0]; c.Classname != "rbac.authorization.k8s.io/v1 ClusterRole" || c.Name != "reader" {
		t.Errorf("cluster-scoped test case %q %q", c.Classname, c.Name)
	}
	if !strings.Contains(doc.Suites[0].SystemOut, "Stale report") || doc.Suites[0].Name != "/srv/gitops (clusters/staging)" {
		t.Errorf("stale suite %q: system-out %q", doc.Suites[0].Name, doc.Suites[0].SystemOut)
	}
}

// TestFormatsJUnitXSD validates every fixture's JUnit report against the
// Jenkins JUnit schema with xmllint.
func TestFormatsJUnitXSD(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatalf("xmllint is needed to validate the JUnit report against its XSD; install it (Debian: apt-get install libxml2-utils): %v", err)
	}
	xsd := filepath.Join(formatsDir, "schemas", "jenkins-junit.xsd")
	for name, r := range formatFixtures() {
		path := filepath.Join(t.TempDir(), name+".xml")
		if err := os.WriteFile(path, renderFormat(t, r, FormatJUnit), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", xsd, path).CombinedOutput()
		if err != nil {
			t.Errorf("%s: JUnit report is not valid against %s: %v\n%s", name, xsd, err, out)
		}
	}
	// The check can fail: a document the schema rejects.
	bad := filepath.Join(t.TempDir(), "bad.xml")
	if err := os.WriteFile(bad, []byte(`<testsuites><testsuite tests="1"><testcase/></testsuite></testsuites>`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(xmllint, "--noout", "--nonet", "--schema", xsd, bad).Run(); err == nil {
		t.Errorf("xmllint accepts a testsuite without a name; is %s the schema?", xsd)
	}
}

func compileSARIFSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	path := filepath.Join(formatsDir, "schemas", "sarif-schema-2.1.0.json")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const loc = "sarif-schema-2.1.0.json"
	if err := c.AddResource(loc, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(loc)
	if err != nil {
		t.Fatalf("compile %s: %v", path, err)
	}
	return sch
}

func validateSARIF(sch *jsonschema.Schema, out []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		return err
	}
	return sch.Validate(v)
}

// TestFormatsSARIFSchema validates every fixture's SARIF report against
// the OASIS SARIF 2.1.0 schema.
func TestFormatsSARIFSchema(t *testing.T) {
	sch := compileSARIFSchema(t)
	for name, r := range formatFixtures() {
		if err := validateSARIF(sch, renderFormat(t, r, FormatSARIF)); err != nil {
			t.Errorf("%s: SARIF report is not valid: %v", name, err)
		}
	}
	// The check can fail: a result without a message.
	bad := `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"ruleId":"DW001"}]}]}`
	if err := validateSARIF(sch, []byte(bad)); err == nil {
		t.Errorf("the SARIF schema accepts a result without a message")
	}
}

type sarifDoc struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []struct {
		Tool struct {
			Driver struct {
				Name           string `json:"name"`
				InformationURI string `json:"informationUri"`
				Rules          []struct {
					ID                   string `json:"id"`
					Name                 string `json:"name"`
					DefaultConfiguration struct {
						Level string `json:"level"`
					} `json:"defaultConfiguration"`
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		AutomationDetails struct {
			ID string `json:"id"`
		} `json:"automationDetails"`
		Properties map[string]any `json:"properties"`
		Results    []struct {
			RuleID    string `json:"ruleId"`
			RuleIndex int    `json:"ruleIndex"`
			Level     string `json:"level"`
			Message   struct {
				Text string `json:"text"`
			} `json:"message"`
			Locations []struct {
				PhysicalLocation *struct {
					ArtifactLocation struct {
						URI string `json:"uri"`
					} `json:"artifactLocation"`
					Region *struct {
						StartLine int `json:"startLine"`
					} `json:"region"`
				} `json:"physicalLocation"`
				LogicalLocations []struct {
					FullyQualifiedName string `json:"fullyQualifiedName"`
				} `json:"logicalLocations"`
			} `json:"locations"`
			PartialFingerprints map[string]string `json:"partialFingerprints"`
		} `json:"results"`
	} `json:"runs"`
}

func parseSARIF(t *testing.T, out []byte) sarifDoc {
	t.Helper()
	var doc sarifDoc
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("SARIF report does not parse: %v", err)
	}
	if len(doc.Runs) != 1 {
		t.Fatalf("%d runs, want 1", len(doc.Runs))
	}
	return doc
}

func TestFormatsSARIF(t *testing.T) {
	fx := formatFixtures()
	doc := parseSARIF(t, renderFormat(t, fx["drifted"], FormatSARIF))
	run := doc.Runs[0]
	if doc.Version != "2.1.0" || doc.Schema != "https://json.schemastore.org/sarif-2.1.0.json" ||
		run.Tool.Driver.Name != "driftwatch" || run.Tool.Driver.InformationURI != "https://github.com/driftwatch/driftwatch" {
		t.Errorf("SARIF header: version %q, $schema %q, driver %q %q", doc.Version, doc.Schema, run.Tool.Driver.Name, run.Tool.Driver.InformationURI)
	}
	var rules []string
	for _, r := range run.Tool.Driver.Rules {
		rules = append(rules, r.ID+" "+r.Name+" "+r.DefaultConfiguration.Level)
	}
	if d := cmp.Diff([]string{
		"DW001 field-drifted warning", "DW002 resource-missing error", "DW003 resource-extra warning", "DW004 resource-error error",
	}, rules); d != "" {
		t.Errorf("rules (-want +got):\n%s", d)
	}
	if got, want := run.AutomationDetails.ID, "driftwatch/https://github.com/example/platform-gitops.git/clusters/prod"; got != want {
		t.Errorf("automationDetails.id %q, want %q", got, want)
	}
	if run.Properties["commit"] != goldenRevision.Commit {
		t.Errorf("run.properties.commit = %v", run.Properties["commit"])
	}

	// One result per drifted field (5 + 2), one per Missing, Extra, Error.
	type where struct {
		uri  string
		line int
		fqn  string
	}
	var got []string
	locs := map[string]where{}
	fingerprints := map[string]bool{}
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for i, r := range run.Results {
		got = append(got, r.RuleID+" "+r.Level)
		if r.RuleIndex != map[string]int{"DW001": 0, "DW002": 1, "DW003": 2, "DW004": 3}[r.RuleID] {
			t.Errorf("result %d: ruleIndex %d for %s", i, r.RuleIndex, r.RuleID)
		}
		fp := r.PartialFingerprints["driftwatch/v1"]
		if !hex64.MatchString(fp) || fingerprints[fp] {
			t.Errorf("result %d: fingerprint %q is not a fresh sha256", i, fp)
		}
		fingerprints[fp] = true
		if len(r.Locations) != 1 {
			t.Fatalf("result %d: %d locations", i, len(r.Locations))
		}
		var w where
		if p := r.Locations[0].PhysicalLocation; p != nil {
			w.uri = p.ArtifactLocation.URI
			if p.Region != nil {
				w.line = p.Region.StartLine
			}
		}
		if l := r.Locations[0].LogicalLocations; len(l) == 1 {
			w.fqn = l[0].FullyQualifiedName
		}
		locs[strings.SplitN(r.Message.Text, ":", 2)[0]] = w
	}
	// Levels follow severity: critical error, warning warning, info note;
	// an Error resource has its rule's level.
	wantRules := []string{"DW001 note", "DW001 note", "DW001 warning", "DW001 error", "DW001 warning",
		"DW002 warning", "DW001 error", "DW001 error", "DW004 error", "DW003 warning"}
	if d := cmp.Diff(wantRules, got); d != "" {
		t.Errorf("results (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]where{
		"apps/v1 Deployment prod/web":                            {"clusters/prod/web.yaml", 12, "Deployment/prod/web"},
		"v1 ConfigMap prod/app-config":                           {"clusters/prod/overlays/prod/kustomization.yaml", 0, "ConfigMap/prod/app-config"},
		"v1 Secret prod/db-credentials":                          {"clusters/prod/secrets.yaml", 1, "Secret/prod/db-credentials"},
		"monitoring.coreos.com/v1 ServiceMonitor monitoring/web": {"clusters/prod/monitoring.yaml", 3, "ServiceMonitor/monitoring/web"},
		"v1 Service prod/legacy-api":                             {"", 0, "Service/prod/legacy-api"},
	}, locs, cmp.AllowUnexported(where{})); d != "" {
		t.Errorf("locations (-want +got):\n%s", d)
	}
	for _, text := range []string{
		"apps/v1 Deployment prod/web: spec.replicas: desired 2, live 5 (changed by kubectl Update scale 2026-11-24 10:42:00 UTC)",
		"v1 Secret prod/db-credentials: data.password: secret value differs (not shown; desired hmac:0b1d8f3c2a77, live hmac:e4a90c6b1f52) (changed by kubectl-edit Update 2026-11-24 09:15:30 UTC)",
		"v1 ConfigMap prod/app-config: not found in the cluster",
	} {
		found := false
		for _, r := range run.Results {
			found = found || r.Message.Text == text
		}
		if !found {
			t.Errorf("no result says %q", text)
		}
	}

	if doc := parseSARIF(t, renderFormat(t, fx["in-sync"], FormatSARIF)); len(doc.Runs[0].Results) != 0 {
		t.Errorf("in-sync report has %d SARIF results", len(doc.Runs[0].Results))
	}
}

// TestSARIFFingerprintsStable: fingerprints depend on what drifted, not on
// when, to what, or by whom.
func TestSARIFFingerprintsStable(t *testing.T) {
	fingerprints := func(r *drift.Report) []string {
		var fps []string
		for _, res := range parseSARIF(t, renderFormat(t, r, FormatSARIF)).Runs[0].Results {
			fps = append(fps, res.PartialFingerprints["driftwatch/v1"])
		}
		return fps
	}
	before := fingerprints(formatFixtures()["drifted"])

	later := formatFixtures()["drifted"]
	later.GeneratedAt = later.GeneratedAt.Add(36 * time.Hour)
	later.Source.Commit = "0000000000000000000000000000000000000000"
	web := &later.Resources[0]
	web.Diffs[1].Live = int64(7)
	web.Diffs[1].ChangedBy = &drift.ChangedBy{Manager: "hpa", Operation: "Update", Time: fixedTime(23, 0, 0)}
	web.Diffs[4].Type, web.Diffs[4].Live = drift.Changed, "1Gi"
	web.Origin = "clusters/prod/apps/web.yaml:3"
	if d := cmp.Diff(before, fingerprints(later)); d != "" {
		t.Errorf("fingerprints changed with times and values (-before +after):\n%s", d)
	}

	// Another object, field or rule is another fingerprint.
	other := formatFixtures()["drifted"]
	other.Resources[0].Namespace = "staging"
	if after := fingerprints(other); after[0] == before[0] {
		t.Errorf("same fingerprint for prod/web and staging/web")
	}
}

func TestParseFormatNew(t *testing.T) {
	for _, name := range []string{"markdown", "junit", "sarif"} {
		if f, err := ParseFormat(name); err != nil || string(f) != name {
			t.Errorf("ParseFormat(%q) = %q, %v", name, f, err)
		}
	}
	_, err := ParseFormat("html")
	if err == nil || !strings.Contains(err.Error(), "text, json, markdown, junit or sarif") {
		t.Errorf("ParseFormat(html) error %v does not list the formats", err)
	}
}

var summaryLine = regexp.MustCompile(`^<summary><b>[A-Za-z ]+</b> <code>[^<>]*</code>( \((critical|warning|info)\))?</summary>$`)

// TestFormatsHostileInput: whatever the strings hold (markup, CDATA ends,
// control characters, invalid UTF-8, line breaks), every report stays
// well-formed and valid, and markdown table rows stay one line each.
func TestFormatsHostileInput(t *testing.T) {
	r := hostileReport()

	md := string(renderFormat(t, r, FormatMarkdown))
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| ") && !strings.HasSuffix(line, " |") {
			t.Errorf("markdown table row broken: %q", line)
		}
		if strings.HasPrefix(line, "<summary>") && !summaryLine.MatchString(line) {
			t.Errorf("markdown summary line holds markup from a value: %q", line)
		}
		// Markup outside code spans is ours alone.
		if text := stripCodeSpans(line); strings.Contains(text, "<") &&
			!strings.HasPrefix(line, "<details>") && !strings.HasPrefix(line, "<summary>") && line != "</details>" {
			t.Errorf("markdown holds raw HTML from a value: %q", line)
		}
	}
	if strings.ContainsAny(md, "\x00\x1b\r\u2028") {
		t.Errorf("markdown report holds control characters")
	}

	out := renderFormat(t, r, FormatJUnit)
	var doc junitDoc
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("JUnit report does not parse: %v\n%s", err, out)
	}
	if len(doc.Suites) != 1 || len(doc.Suites[0].Cases) != 4 || doc.Failures != 3 || doc.Errors != 1 {
		t.Errorf("JUnit report lost test cases:\n%s", out)
	}
	if xmllint, err := exec.LookPath("xmllint"); err == nil {
		path := filepath.Join(t.TempDir(), "hostile.xml")
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		xsd := filepath.Join(formatsDir, "schemas", "jenkins-junit.xsd")
		if out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", xsd, path).CombinedOutput(); err != nil {
			t.Errorf("hostile JUnit report is not valid: %v\n%s", err, out)
		}
	}

	if err := validateSARIF(compileSARIFSchema(t), renderFormat(t, r, FormatSARIF)); err != nil {
		t.Errorf("hostile SARIF report is not valid: %v", err)
	}
}

// hostileReport holds markup, CDATA ends, control characters, invalid
// UTF-8 and line breaks in every string.
func hostileReport() *drift.Report {
	hostile := "x]]><a href=\"javascript:x\">|`\x00\x1b\x7f\xff\xfe\r\n#1 @all </details>\u2028é"
	r := drift.NewReport(goldenNow, drift.Source{URL: "git@github.com:o/" + hostile, Path: hostile, Ref: hostile, Commit: "abc", Subject: hostile},
		drift.Cluster{Server: hostile, Context: hostile}, []drift.Resource{
			{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: hostile, Origin: hostile + ":7", Status: drift.Drifted,
				Warnings: []string{hostile},
				Diffs: []drift.FieldDiff{
					{Path: hostile, Type: drift.Changed, Desired: hostile, Live: map[string]any{hostile: []any{hostile, 1.5, nil}},
						ChangedBy: &drift.ChangedBy{Manager: hostile, Operation: hostile}},
					{Path: "p", Type: drift.Changed, Sensitive: true, DesiredHash: hostile, LiveHash: hostile},
				}},
			{APIVersion: "v1", Kind: "Secret", Name: hostile, Origin: hostile, Status: drift.Error, Error: hostile},
			{APIVersion: hostile, Kind: hostile, Name: hostile, Status: drift.Extra},
			{APIVersion: "v1", Kind: "Service", Name: "s", Status: drift.Missing},
		})
	r.Stale = &drift.Stale{Reason: hostile, Since: goldenNow}
	r.Disconnected = &drift.Stale{Reason: hostile, Since: goldenNow}
	return r
}

// stripCodeSpans drops the code spans of a markdown line: a run of n
// backticks up to the next run of exactly n.
func stripCodeSpans(line string) string {
	var b strings.Builder
	for i := 0; i < len(line); {
		if line[i] != '`' {
			b.WriteByte(line[i])
			i++
			continue
		}
		n := 0
		for i+n < len(line) && line[i+n] == '`' {
			n++
		}
		end := -1
		for j := i + n; j < len(line); {
			if line[j] != '`' {
				j++
				continue
			}
			m := 0
			for j+m < len(line) && line[j+m] == '`' {
				m++
			}
			if m == n {
				end = j + m
				break
			}
			j += m
		}
		if end < 0 {
			b.WriteString(line[i : i+n])
			i += n
			continue
		}
		i = end
	}
	return b.String()
}
