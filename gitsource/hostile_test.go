package gitsource

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Hostile or broken input: each is a one-line error naming the cause, never
// a panic, and nothing outside the repository is read or run.
func TestRenderHostileInput(t *testing.T) {
	root := filepath.Join("..", "testdata", "hostile")
	tests := []struct{ path, want string }{
		{"aliases", "aliases/bomb.yaml:1: invalid YAML: "},
		{"nonutf8", "nonutf8/bad.yaml:1: invalid YAML: "},
		{"noname", "noname/x.yaml:1: ConfigMap has no metadata.name"},
		{"noapiversion", "noapiversion/x.yaml:1: object has no apiVersion"},
		{"absolute", `absolute path "/etc/passwd": path escapes the repository root`},
		{"helm", "helm chart inflation is not supported"},
		{"execfn", "kustomize build execfn: "},
		{"containerfn", "kustomize build containerfn: "},
	}
	os.Remove("/tmp/driftwatch-exec-ran")
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			_, err := Render(root, tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error = %v, want one line containing %q", err, tt.want)
			}
		})
	}
	if _, err := os.Stat("/tmp/driftwatch-exec-ran"); err == nil {
		t.Error("an exec KRM function ran")
	}
}

// A 50 MB manifest file is refused at once with a clear error, whether
// read as plain YAML or by kustomize: no hang, no memory blow-up.
func TestRenderLargeFile(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n")
	for i := 0; b.Len() < 50<<20; i++ {
		fmt.Fprintf(&b, "  k%07d: %s\n", i, strings.Repeat("x", 90))
	}
	if err := os.WriteFile(filepath.Join(dir, "big.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Render(dir, "")
	if err == nil || !strings.Contains(err.Error(), "big.yaml: file is larger than 32 MiB") {
		t.Fatalf("plain YAML: error = %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("resources: [big.yaml]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Render(dir, "")
	if err == nil || !strings.Contains(err.Error(), "file is larger than 32 MiB") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("kustomize: error = %v", err)
	}
}
