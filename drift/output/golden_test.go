package output

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/drift"
)

// Golden report tests, in the style of gofmt's and gitops-engine's: each
// directory of testdata/golden holds
//
//	desired.yaml       the object as Git renders it
//	live.yaml          the object as the API server returns it (defaults,
//	                   managedFields, status)
//	schema.json        optional: the kind's Schema, field names
//	                   in lowerCamelCase (properties, items, listType, ...)
//	report.golden      the text report
//	report.json.golden the JSON report
//
// Run `go test ./drift/output -run Golden -update` to rewrite the golden files,
// then read them: they are what users see.

var updateGolden = flag.Bool("update", false, "rewrite the golden files of testdata/golden")

const goldenDir = "../../testdata/golden"

var (
	goldenNow        = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	goldenAuthorTime = time.Date(2026, 11, 19, 17, 30, 0, 0, time.FixedZone("CET", 3600))
	goldenRevision   = drift.Source{
		URL:        "https://github.com/example/platform-gitops.git",
		Ref:        "main",
		Path:       "clusters/prod",
		Commit:     "3f9c2e71a4b85d06e1f2a3b4c5d6e7f8091a2b3c",
		Subject:    "web: nginx 1.27, 2 replicas",
		AuthorTime: &goldenAuthorTime,
	}
	goldenCluster = drift.Cluster{Server: "https://prod.k8s.example.com:6443", Context: "prod", Version: "v1.34.2"}
	goldenOptions = drift.Options{HashKey: []byte("golden-key")}
)

// goldenSecrets are values of the secret case that must never appear in a
// report, in plain text or base64.
var goldenSecrets = []string{
	"correct-horse-battery-staple", // desired password (stringData)
	"hunter2-rotated-by-hand",      // live password
	"tok_live_4f9a8e7d6c",          // desired api-token (data), removed live
}

// goldenExpect pins what each case is about, so that -update cannot
// silently bless a wrong report.
var goldenExpect = map[string]struct {
	status drift.Status
	text   []string // lines (or parts of lines) the text report must hold
	// schemaMatters: without schema.json the verdict would differ.
	schemaMatters bool
}{
	"deployment-kubectl-edit": {status: drift.Drifted, text: []string{
		`  ~ spec.replicas: desired 2, live 5  [kubectl-edit Update 2026-11-24 10:42:00 UTC]`,
		`  ~ spec.template.spec.containers[name=app].image: desired "nginx:1.27", live "nginx:1.28"  [kubectl-edit Update 2026-11-24 10:42:00 UTC]`,
		`  ~ spec.template.spec.containers[name=app].env: order differs`,
	}},
	"secret-value-changed": {status: drift.Drifted, text: []string{
		`  ~ data.password: secret value differs (not shown; desired hmac:`,
		`  ~ data.api-token: secret value removed (not shown; desired hmac:`,
		`[kubectl-edit Update 2026-11-24 09:15:30 UTC]`,
	}},
	"service-protocol-defaulted": {status: drift.InSync, schemaMatters: true},
	"configmap-key-removed": {status: drift.Drifted, text: []string{
		`  ~ data.FEATURE_FLAGS: desired "checkout-v2,search-v3", live absent`,
		`  ~ data.LOG_LEVEL: desired "info", live "debug"  [kubectl-edit Update 2026-11-24 11:05:42 UTC]`,
	}},
	"crd-atomic-list": {status: drift.Drifted, schemaMatters: true, text: []string{
		`  ~ spec.schedules: differs at [0].retention: desired "7d", live "30d"`,
		`[backup-ui Update 2026-11-23 16:20:00 UTC]`,
	}},
	"deployment-in-sync-defaults": {status: drift.InSync},
}

func TestGolden(t *testing.T) {
	dirs, err := os.ReadDir(goldenDir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		n++
		t.Run(d.Name(), func(t *testing.T) { runGolden(t, filepath.Join(goldenDir, d.Name())) })
	}
	if n < 6 {
		t.Errorf("found %d golden cases in %s, want at least 6", n, goldenDir)
	}
}

func runGolden(t *testing.T, dir string) {
	desired := goldenObject(t, filepath.Join(dir, "desired.yaml"))
	live := goldenObject(t, filepath.Join(dir, "live.yaml"))
	opts := goldenOptions
	opts.Schema = goldenSchema(t, filepath.Join(dir, "schema.json"))

	desiredBefore, liveBefore := desired.DeepCopy(), live.DeepCopy()
	diffs := drift.Compare(desired, live, opts)
	if d := cmp.Diff(desiredBefore.Object, desired.Object); d != "" {
		t.Errorf("Compare modified desired (-before +after):\n%s", d)
	}
	if d := cmp.Diff(liveBefore.Object, live.Object); d != "" {
		t.Errorf("Compare modified live (-before +after):\n%s", d)
	}

	res := drift.Resource{
		APIVersion: desired.GetAPIVersion(),
		Kind:       desired.GetKind(),
		Namespace:  desired.GetNamespace(),
		Name:       desired.GetName(),
		Origin:     "clusters/prod/" + filepath.Base(dir) + ".yaml",
		Status:     drift.InSync,
		Diffs:      diffs,
	}
	if len(diffs) > 0 {
		res.Status = drift.Drifted
	}
	report := drift.NewReport(goldenNow, goldenRevision, goldenCluster, []drift.Resource{res})

	exp, ok := goldenExpect[filepath.Base(dir)]
	if !ok {
		t.Fatalf("no goldenExpect entry for %s", filepath.Base(dir))
	}
	if res.Status != exp.status {
		var paths []string
		for _, d := range diffs {
			paths = append(paths, string(d.Type)+" "+d.Path)
		}
		t.Errorf("status %s, want %s; diffs: %q", res.Status, exp.status, paths)
	}
	if exp.schemaMatters {
		if opts.Schema == nil {
			t.Fatalf("schemaMatters, but no schema.json")
		}
		noSchema := opts
		noSchema.Schema = nil
		if d := cmp.Diff(diffs, drift.Compare(desired, live, noSchema), cmp.Comparer(func(a, b drift.FieldDiff) bool {
			return cmp.Equal(a.Path, b.Path) && a.Type == b.Type && cmp.Equal(a.Desired, b.Desired) && cmp.Equal(a.Live, b.Live)
		})); d == "" {
			t.Errorf("same diffs without schema.json; the case does not show what the schema changes")
		}
	}

	for _, g := range []struct {
		file   string
		format Format
	}{
		{"report.golden", FormatText},
		{"report.json.golden", FormatJSON},
	} {
		var buf bytes.Buffer
		if err := Write(&buf, report, g.format); err != nil {
			t.Fatalf("Write %s: %v", g.format, err)
		}
		got := buf.Bytes()
		if g.format == FormatJSON && !json.Valid(got) {
			t.Errorf("%s: JSON report is not valid JSON", g.file)
		}
		if desired.GetKind() == "Secret" && desired.GroupVersionKind().Group == "" {
			assertNoSecretValues(t, g.file, got)
		}
		if g.format == FormatText {
			for _, line := range exp.text {
				if !strings.Contains(string(got), line) {
					t.Errorf("text report lacks %q:\n%s", line, got)
				}
			}
		}
		path := filepath.Join(dir, g.file)
		if *updateGolden {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./drift/output -run Golden -update to create it)", err)
		}
		if d := cmp.Diff(string(want), string(got)); d != "" {
			t.Errorf("%s differs (-want +got); run with -update if the change is intended:\n%s", path, d)
		}
	}
}

// assertNoSecretValues fails when a report shows a value of the secret
// case, plain or base64-encoded.
func assertNoSecretValues(t *testing.T, name string, report []byte) {
	t.Helper()
	for _, s := range goldenSecrets {
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s))} {
			if bytes.Contains(report, []byte(form)) {
				t.Errorf("%s reveals the secret value %q", name, form)
			}
		}
	}
}

func goldenObject(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	y, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return u
}

// goldenSchema reads an optional schema.json into an Schema (its
// fields have no JSON tags; encoding/json matches names case-insensitively,
// so "listType" fills ListType). Unknown names are errors, to catch typos.
func goldenSchema(t *testing.T, path string) *drift.Schema {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var s drift.Schema
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &s
}
