package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource/sopstest"
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
	// A live change of the encrypted value is not drift either: Git's
	// value is unknown without the key (and nothing shows the new one).
	if err := kube.Edit(ctx, "kubectl-edit", gvkSecret, ns, "db", func(u *unstructured.Unstructured) error {
		u.SetLabels(map[string]string{"tier": "db"})
		return unstructured.SetNestedField(u.Object, "c3dvcmRmaXNo", "data", "password")
	}); err != nil {
		t.Fatal(err)
	}
	if r := check("-o", "json"); r.code != exitInSync || strings.Contains(r.stdout, "swordfish") || strings.Contains(r.stdout, "c3dvcmRmaXNo") {
		t.Errorf("after a live change of the encrypted value: exit %d, want 0 and no value shown\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestCheckSOPSDecrypted: a Secret and a ConfigMap held in Git encrypted
// with an age key are decrypted with that key (from the flag or from
// $SOPS_AGE_KEY) and compared: in sync, then drifted at the changed field,
// with neither the old nor the new value shown anywhere. Without a key
// their encrypted values are not compared, and the report says so.
func TestCheckSOPSDecrypted(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	ctx := context.Background()
	const (
		password = "pw-in-git-7f3a"
		token    = "token-in-git-91c2"
		newToken = "token-live-5d0e"
	)
	secret := `apiVersion: v1
kind: Secret
metadata:
  name: db
type: Opaque
stringData:
  username: app
  password: ` + password + "\n"
	configMap := `apiVersion: v1
kind: ConfigMap
metadata:
  name: flags
data:
  level: debug
  token: ` + token + "\n"
	for _, text := range []string{secret, configMap} {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(text), &u.Object); err != nil {
			t.Fatal(err)
		}
		if err := kube.Apply(ctx, "gitops", ns, &u); err != nil {
			t.Fatal(err)
		}
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dir, keys := t.TempDir(), t.TempDir()
	keyFile := filepath.Join(keys, "keys.txt")
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(keyFile, "# created: by the test\n"+id.String()+"\n")
	write(filepath.Join(dir, "secret.enc.yaml"), sopstest.EncryptYAML(t, secret, id.Recipient().String()))
	write(filepath.Join(dir, "cm.enc.yaml"), sopstest.EncryptYAML(t, configMap, id.Recipient().String()))
	// No key from the environment unless a step sets one.
	t.Setenv("SOPS_AGE_KEY", "")
	t.Setenv("SOPS_AGE_KEY_FILE", "")

	check := func(extra ...string) result {
		t.Helper()
		r := runCLI(t, append([]string{"check", "--dir", dir, "--kubeconfig", kubeconfig, "-n", ns}, extra...)...)
		for _, v := range []string{password, token, newToken} {
			if strings.Contains(r.stdout, v) || strings.Contains(r.stderr, v) {
				t.Errorf("%v: the output shows %q:\n%s%s", extra, v, r.stdout, r.stderr)
			}
		}
		return r
	}
	byKind := func(r result) map[string]drift.Resource {
		t.Helper()
		out := map[string]drift.Resource{}
		for _, res := range parseReport(t, r).Resources {
			out[res.Kind] = res
		}
		return out
	}

	r := check("--sops-age-key-file", keyFile, "-o", "json")
	if r.code != exitInSync {
		t.Fatalf("with the key: exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
	for kind, res := range byKind(r) {
		if res.Status != drift.InSync || res.NotCompared != nil {
			t.Errorf("with the key: %s is %s, not compared %v; want in sync, all compared", kind, res.Status, res.NotCompared)
		}
	}

	// Without a key the encrypted values are left out and named, and no
	// warning is given.
	r = check("-o", "json")
	if r.code != exitInSync || strings.Contains(r.stderr, "no age key") {
		t.Fatalf("without a key: exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
	res := byKind(r)
	if diff := cmp.Diff([]string{"data.level", "data.token"}, res["ConfigMap"].NotCompared); diff != "" {
		t.Errorf("without a key: ConfigMap not compared (-want +got):\n%s", diff)
	}
	if r := check(); !strings.Contains(r.stdout, "  ? data.token: encrypted in Git (SOPS), not compared\n") {
		t.Errorf("without a key, text report:\n%s", r.stdout)
	}

	// A key that opens neither file: as without a key, with a warning.
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	otherFile := filepath.Join(keys, "other.txt")
	write(otherFile, other.String()+"\n")
	r = check("--sops-age-key-file", otherFile, "-o", "json")
	if r.code != exitInSync || !strings.Contains(r.stderr, "sops: cm.enc.yaml: no age key opens it; its encrypted values are not compared") {
		t.Errorf("with another key: exit %d, want 0 and a warning\n%s", r.code, r.stderr)
	}

	if err := kube.Edit(ctx, "kubectl-edit", gvkConfigMap, ns, "flags", setData("token", newToken)); err != nil {
		t.Fatal(err)
	}
	type shown struct {
		Path          string
		Sensitive     bool
		Desired, Live any
	}
	for name, run := range map[string]func() result{
		"flag": func() result { return check("--sops-age-key-file", keyFile, "-o", "json") },
		"env": func() result {
			return runWithEnv(t, map[string]string{"SOPS_AGE_KEY": id.String()},
				"check", "--dir", dir, "--kubeconfig", kubeconfig, "-n", ns, "-o", "json")
		},
	} {
		r := run()
		if r.code != exitDrift {
			t.Fatalf("%s: after the live change: exit %d, want 1\n%s%s", name, r.code, r.stdout, r.stderr)
		}
		for _, v := range []string{token, newToken} {
			if strings.Contains(r.stdout+r.stderr, v) {
				t.Errorf("%s: the output shows %q", name, v)
			}
		}
		res := byKind(r)
		if res["Secret"].Status != drift.InSync {
			t.Errorf("%s: Secret is %s, want in sync", name, res["Secret"].Status)
		}
		var got []shown
		for _, d := range res["ConfigMap"].Diffs {
			got = append(got, shown{Path: d.Path, Sensitive: d.Sensitive, Desired: d.Desired, Live: d.Live})
		}
		if diff := cmp.Diff([]shown{{Path: "data.token", Sensitive: true}}, got); diff != "" {
			t.Errorf("%s: ConfigMap diffs (-want +got):\n%s", name, diff)
		}
	}
	// The text report names the field and hides both values.
	t.Setenv("SOPS_AGE_KEY", "")
	if r := check("--sops-age-key-file", keyFile); r.code != exitDrift || !strings.Contains(r.stdout, "data.token") {
		t.Errorf("text report: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Without a key the changed value is not compared either; whatever
	// the report makes of the live field, it never shows its value.
	check("-o", "json")
	check()
}
