package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoSilentGreen: a run that would check nothing is an error (exit 2,
// one line naming the flag and value, or the source), never "0 resources,
// in sync": a CI job with a typo must not pass forever. --allow-empty
// lets it pass when that is intended.
func TestNoSilentGreen(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "README.md"), []byte("no manifests here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fixture := filepath.Join("..", "..", "testdata", "targeting")
	for _, tt := range []struct {
		name string
		args []string
		want string // the one line on stderr contains it
	}{
		{"kind typo", []string{"--dir", fixture, "--kinds", "Deploymnet"},
			`flag --kinds: "Deploymnet" matches no object in Git (kinds there: `},
		{"namespace typo", []string{"--dir", fixture, "--namespaces", "tgt-z"},
			`flag --namespaces: "tgt-z" matches no object in Git (namespaces there: `},
		{"exclusion typo", []string{"--dir", fixture, "--exclude-kinds", "apps/Deploymnet"},
			`flag --exclude-kinds: "apps/Deploymnet" matches no object in Git`},
		{"name typo", []string{"--dir", fixture, "--names", "wbe"},
			`flag --names: "wbe" matches no object in Git`},
		{"selector matching nothing", []string{"--dir", fixture, "--selector", "tier=nosuch"},
			`flag --selector: "tier=nosuch" matches no object in Git`},
		{"flags that together keep nothing", []string{"--dir", fixture, "--kinds", "Service", "--names", "db"},
			`flags: the targeting flags together keep none of the`},
		{"a source with no manifests", []string{"--dir", empty},
			`rendered no objects (pass --allow-empty if that is expected)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"check", "--kubeconfig", kubeconfig, "-n", ns}, tt.args...)
			r := runCLI(t, args...)
			if r.code != exitError || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and one line containing %q", r.code, r.stdout, r.stderr, tt.want)
			}
			// The same run, allowed to be empty, passes.
			r = runCLI(t, append(args, "--allow-empty", "-o", "json")...)
			if r.code == exitError {
				t.Errorf("--allow-empty: exit %d: %s", r.code, r.stderr)
			}
		})
	}
}
