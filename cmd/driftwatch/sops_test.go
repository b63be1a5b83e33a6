package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftwatch/driftwatch/drift"
)

// TestCheckSOPSEncryptedNotCompared: a Secret encrypted in Git with SOPS
// (Flux's in-place format) is not compared as ciphertext: its encrypted
// values are left out and named in the report, its plain fields still
// compared. (Decryption with a key is not built yet.)
func TestCheckSOPSEncryptedNotCompared(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	ctx := context.Background()
	live := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "db", "labels": map[string]any{"tier": "db"}},
		"type": "Opaque", "stringData": map[string]any{"username": "app", "password": "hunter2"},
	}}
	if err := kube.Apply(ctx, "gitops", ns, live); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	encrypted := `apiVersion: v1
kind: Secret
metadata:
    name: db
    labels:
        tier: db
type: Opaque
stringData:
    username: app
    password: ENC[AES256_GCM,data:Tr7oMw==,iv:1QdfYl8=,tag:Ic1wQ==,type:str]
sops:
    age:
        - recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
          enc: |
            -----BEGIN AGE ENCRYPTED FILE-----
            YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBub3QtYS1yZWFsLWtleQ==
            -----END AGE ENCRYPTED FILE-----
    lastmodified: "2026-11-29T10:00:00Z"
    mac: ENC[AES256_GCM,data:bWFj,iv:aXY=,tag:dGFn,type:str]
    version: 3.13.3
`
	if err := os.WriteFile(filepath.Join(dir, "secret.enc.yaml"), []byte(encrypted), 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(extra ...string) result {
		return runCLI(t, append([]string{"check", "--dir", dir, "--kubeconfig", kubeconfig, "-n", ns}, extra...)...)
	}
	for _, mode := range [][]string{nil, {"--confirm", "server"}} {
		r := check(append([]string{"-o", "json"}, mode...)...)
		if r.code != exitInSync {
			t.Fatalf("%v: exit %d, want 0 (ciphertext is not drift)\n%s%s", mode, r.code, r.stdout, r.stderr)
		}
		res := parseReport(t, r).Resources[0]
		if diff := cmp.Diff([]string{"stringData.password"}, res.NotCompared); diff != "" || res.Status != drift.InSync {
			t.Errorf("%v: status %s, not compared (-want +got):\n%s", mode, res.Status, diff)
		}
	}
	if r := check(); !strings.Contains(r.stdout, "  ? stringData.password: encrypted in Git (SOPS), not compared\n") {
		t.Errorf("text report:\n%s", r.stdout)
	}
	// The plain fields are still compared.
	if err := kube.Edit(ctx, "kubectl-edit", gvkSecret, ns, "db", func(u *unstructured.Unstructured) error {
		u.SetLabels(map[string]string{"tier": "cache"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := check("-o", "json")
	if r.code != exitDrift {
		t.Fatalf("after a label change: exit %d, want 1\n%s", r.code, r.stderr)
	}
	var paths []string
	for _, d := range parseReport(t, r).Resources[0].Diffs {
		paths = append(paths, d.Path)
	}
	if diff := cmp.Diff([]string{"metadata.labels.tier"}, paths); diff != "" {
		t.Errorf("diffs (-want +got):\n%s", diff)
	}
	if strings.Contains(r.stdout, "hunter2") || strings.Contains(r.stdout, "aHVudGVyMg") {
		t.Error("the report shows the secret value")
	}
}
