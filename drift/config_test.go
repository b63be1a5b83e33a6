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
