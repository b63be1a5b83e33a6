package drift

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadConfigErrors(t *testing.T) {
	dir := filepath.Join("..", "testdata", "config")
	tests := []struct{ file, want string }{
		{"bad-path.yaml", `bad-path.yaml:7: invalid path "spec.template.spec.containers[name=app.image": unterminated '[' at offset 29`},
		{"bad-field.yaml", `bad-field.yaml:5: unknown field "pathz" in rule`},
		{"bad-yaml.yaml", "bad-yaml.yaml:4: did not find expected ',' or '}'"},
		{"bad-kind.yaml", "bad-kind.yaml:1: want apiVersion driftwatch.dev/v1alpha1 and kind Config"},
		{"absent.yaml", "absent.yaml: open"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := LoadConfig(filepath.Join(dir, tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error = %v, want one line containing %q", err, tt.want)
			}
		})
	}
	cfg, err := LoadConfig(filepath.Join(dir, "ignore-replicas.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Ignore) != 2 || len(cfg.Sensitive) != 1 {
		t.Errorf("config %+v", cfg)
	}
}

func TestPathPattern(t *testing.T) {
	path := Path{{Field: "spec"}, {Field: "template"}, {Field: "spec"}, {Field: "containers"},
		{Keys: []KeyValue{{"name", "app"}}, Index: 1}, {Field: "ports"}, {Keys: []KeyValue{{"containerPort", "80"}, {"protocol", "TCP"}}}}
	labels := Path{{Field: "metadata"}, {Field: "labels"}, {Field: "app.kubernetes.io/name"}}
	tests := []struct {
		pattern string
		path    Path
		want    bool
	}{
		{"spec.template", path, true},
		{"spec.template.spec.containers[name=app]", path, true},
		{"spec.template.spec.containers[name=web]", path, false},
		{"spec.template.spec.containers[*].ports[containerPort=80]", path, true},
		{"spec.template.spec.containers[1].ports", path, true},
		{"/spec/template/spec/containers/1/ports", path, true},
		{"/spec/template/spec/containers/0", path, false},
		{"spec.template.spec.containers[name=app].ports[containerPort=80].name", path, false},
		{`metadata.labels["app.kubernetes.io/name"]`, labels, true},
		{"/metadata/labels/app.kubernetes.io~1name", labels, true},
		{"metadata.annotations", labels, false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			p, err := ParsePathPattern(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Matches(tt.path); got != tt.want {
				t.Errorf("Matches(%s) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "spec..replicas", "spec[", "spec[]", "spec[x]", ".spec", "spec]", `a["b]`, "/a//b"} {
		if _, err := ParsePathPattern(bad); err == nil {
			t.Errorf("ParsePathPattern(%q) succeeded", bad)
		}
	}
	// A report path parses back into a pattern that matches it.
	p, err := ParsePathPattern(path.String())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(true, p.Matches(path)); diff != "" {
		t.Error(diff)
	}
}

func TestConfigAdded(t *testing.T) {
	cfg, err := ParseConfig("c.yaml", []byte(`apiVersion: driftwatch.dev/v1alpha1
kind: Config
ignore:
  - match: {kind: CronJob}
    paths: [spec.suspend]
    types: [Added]
added:
  managers: ["lens-*"]
  metadata:
    - match: {namespace: prod}
`))
	if err != nil {
		t.Fatal(err)
	}
	deploy := obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n")
	cron := obj(t, "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: nightly}\n")
	prod, _ := cfg.RulesFor(deploy, "prod")
	dev, _ := cfg.RulesFor(deploy, "dev")
	if prod.Added == nil || !prod.Added.Metadata || dev.Added.Metadata {
		t.Errorf("metadata: prod %+v, dev %+v", prod.Added, dev.Added)
	}
	if !prod.Added.interactive("lens-desktop", "Update") || !prod.Added.interactive("kubectl-edit", "Update") || prod.Added.interactive("kube-controller-manager", "Update") ||
		!prod.Added.interactive("kubectl", "Update") || prod.Added.interactive("kubectl", "Apply") {
		t.Errorf("managers %v", prod.Added.Managers)
	}
	suspend := FieldDiff{Path: "spec.suspend", Type: Added, path: Path{fieldStep("spec"), fieldStep("suspend")}}
	changed := suspend
	changed.Type = Changed
	cr, _ := cfg.RulesFor(cron, "prod")
	if !cr.Ignored(suspend) || cr.Ignored(changed) {
		t.Errorf("types: [Added] ignores Added %v, Changed %v; want true, false", cr.Ignored(suspend), cr.Ignored(changed))
	}

	off, err := ParseConfig("c.yaml", []byte("apiVersion: driftwatch.dev/v1alpha1\nkind: Config\nadded: {enabled: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := off.RulesFor(deploy, "prod"); r.Added != nil {
		t.Errorf("enabled: false still reports Added")
	}
	var none *Config
	if r, _ := none.RulesFor(deploy, "prod"); r.Added == nil || r.Added.Metadata {
		t.Errorf("no config: Added %+v, want kubectl's managers without metadata", r.Added)
	}

	for _, bad := range []struct{ text, want string }{
		{"ignore:\n  - types: [Edited]\n", `c.yaml:4: unknown diff type "Edited"`},
		{"sensitive:\n  - paths: [data]\n    types: [Added]\n", "c.yaml:5: types apply to ignore rules only"},
		{"added:\n  metadata:\n    - match: {kind: Pod}\n      paths: [spec]\n", "c.yaml:5: added.metadata rules take a match only"},
		{"added:\n  managers: [\"[\"]\n", `c.yaml:4: bad manager glob "["`},
	} {
		_, err := ParseConfig("c.yaml", []byte("apiVersion: driftwatch.dev/v1alpha1\nkind: Config\n"+bad.text))
		if err == nil || !strings.HasPrefix(err.Error(), "config "+bad.want) {
			t.Errorf("%q: error %v, want one starting with config %s", bad.text, err, bad.want)
		}
	}
}
