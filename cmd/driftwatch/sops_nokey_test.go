package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/stores/dotenv"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/gitsource/sopstest"
)

// Objects that a SOPS file no key opens makes unknowable (issue 23): a
// kustomize generator's input, a file encrypted whole, a Helm values
// file. Each case is a plaintext fixture in testdata/sops-nokey, encrypted
// here with the sops library; the cluster holds the plaintext's rendering.

var sopsNoKeyDir = filepath.Join("..", "..", "testdata", "sops-nokey")

// generatedAt matches the one line of a JSON report that differs between
// runs of the same check.
var generatedAt = regexp.MustCompile(`(?m)^  "generatedAt": .*\n`)

// sopsCase writes testdata/sops-nokey/<name> into dir, each file of
// encrypt encrypted for recipient with its regex ("" encrypts every
// value, sops' default): a fresh data key and fresh IVs on every call.
func sopsCase(t *testing.T, dir, name, recipient string, encrypt map[string]string) {
	t.Helper()
	src := filepath.Join(sopsNoKeyDir, name)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if regex, ok := encrypt[filepath.ToSlash(rel)]; ok {
			var store sopstest.Store = sopsyaml.NewStore(&config.YAMLStoreConfig{})
			if filepath.Ext(rel) == ".env" {
				store = dotenv.NewStore(&config.DotenvStoreConfig{})
			}
			data = []byte(sopstest.Encrypt(t, store, regex, string(data), recipient))
		}
		out := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sopsNamespace creates an empty namespace and applies the plaintext
// rendering of testdata/sops-nokey/<name> (at path, with ro) as "gitops".
func sopsNamespace(t *testing.T, name, path string, ro func(ns string) gitsource.RenderOptions) string {
	t.Helper()
	ctx := context.Background()
	ns := fmt.Sprintf("sops-%d", nsCounter.Add(1))
	nsObj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns},
	}}
	if err := kube.Apply(ctx, "setup", "", nsObj); err != nil {
		t.Fatal(err)
	}
	var opts gitsource.RenderOptions
	if ro != nil {
		opts = ro(ns)
	}
	r, err := gitsource.RenderWith(ctx, filepath.Join(sopsNoKeyDir, name), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range r.Objects {
		if err := kube.Apply(ctx, "gitops", ns, o.Object); err != nil {
			t.Fatal(err)
		}
	}
	return ns
}

// sopsKeys writes an age key file and returns it and its recipient; no
// key comes from the environment unless a test sets one.
func sopsKeys(t *testing.T) (keyFile, recipient string) {
	t.Helper()
	identity, recipient := sopstest.NewAgeKey(t)
	keyFile = filepath.Join(t.TempDir(), "keys.txt")
	if err := os.WriteFile(keyFile, []byte(identity), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOPS_AGE_KEY", "")
	t.Setenv("SOPS_AGE_KEY_FILE", "")
	return keyFile, recipient
}

// noSecretShown fails when the output shows the fixtures' password or a
// ciphertext.
func noSecretShown(t *testing.T, what string, r result) {
	t.Helper()
	for _, v := range []string{"pw-in-git-41c7", "ENC["} {
		if strings.Contains(r.stdout+r.stderr, v) {
			t.Errorf("%s: the output shows %q:\n%s%s", what, v, r.stdout, r.stderr)
		}
	}
}

// allInSync fails unless every resource is in sync and nothing is left
// uncompared.
func allInSync(t *testing.T, what string, r result) {
	t.Helper()
	if r.code != exitInSync {
		t.Fatalf("%s: exit %d, want 0\n%s%s", what, r.code, r.stdout, r.stderr)
	}
	rep := parseReport(t, r)
	for _, res := range rep.Resources {
		if res.Status != drift.InSync || res.NotCompared != nil {
			t.Errorf("%s: %s is %s, not compared %v; want in sync, all compared", what, res.ID(), res.Status, res.NotCompared)
		}
	}
	if rep.NotCompared != nil {
		t.Errorf("%s: objects not compared: %+v", what, rep.NotCompared)
	}
}

// TestCheckSOPSGeneratorNoKey: a kustomization whose secretGenerator and
// configMapGenerator read encrypted files. Without a key the generated
// objects are not compared (not MISSING under a name hashed from the
// ciphertext) and are named with their files, and the Deployment's
// references to their hashed names are not drift; the rest of the
// Deployment is still compared. With the key, everything is in sync.
func TestCheckSOPSGeneratorNoKey(t *testing.T) {
	requireAPIServer(t)
	ctx := context.Background()
	ns := sopsNamespace(t, "generator", ".", nil)
	keyFile, recipient := sopsKeys(t)
	dir := t.TempDir()
	sopsCase(t, dir, "generator", recipient, map[string]string{"app.env": "", "settings.yaml": ""})
	check := func(extra ...string) result {
		t.Helper()
		r := runCLI(t, append([]string{"check", "--dir", dir, "--kubeconfig", kubeconfig, "-n", ns}, extra...)...)
		noSecretShown(t, strings.Join(extra, " "), r)
		return r
	}

	allInSync(t, "with the key", check("--sops-age-key-file", keyFile, "-o", "json"))

	refs := []string{"spec.template.spec.containers[0].envFrom[0].secretRef.name", "spec.template.spec.volumes[0].configMap.name"}
	wantNotCompared := []drift.NotComparedObject{{
		APIVersion: "v1", Kind: "ConfigMap", Namespace: ns, Name: "prod-app-config-*", File: "settings.yaml", Via: drift.ViaGenerator,
		Reason: "generated from settings.yaml, encrypted in Git (SOPS), no key opens it",
	}, {
		APIVersion: "v1", Kind: "Secret", Namespace: ns, Name: "prod-app-env-*", File: "app.env", Via: drift.ViaGenerator,
		Reason: "generated from app.env, encrypted in Git (SOPS), no key opens it",
	}}
	byLabel := cmpopts.SortSlices(func(a, b drift.NotComparedObject) bool { return a.Label() < b.Label() })
	for _, extra := range [][]string{nil, {"--detect-extra"}, {"--confirm", "server"}} {
		r := check(append([]string{"-o", "json"}, extra...)...)
		if r.code != exitInSync {
			t.Fatalf("%v without a key: exit %d, want 0\n%s%s", extra, r.code, r.stdout, r.stderr)
		}
		rep := parseReport(t, r)
		if diff := cmp.Diff(wantNotCompared, rep.NotCompared, byLabel); diff != "" {
			t.Errorf("%v: not compared (-want +got):\n%s", extra, diff)
		}
		if len(rep.Resources) != 1 || rep.Resources[0].Kind != "Deployment" || rep.Resources[0].Status != drift.InSync {
			t.Fatalf("%v: resources %+v, want the Deployment in sync alone", extra, rep.Resources)
		}
		if diff := cmp.Diff(refs, rep.Resources[0].NotCompared); diff != "" {
			t.Errorf("%v: the Deployment's fields not compared (-want +got):\n%s", extra, diff)
		}
		if rep.Summary.NotCompared != 2 {
			t.Errorf("%v: summary %+v, want 2 not compared", extra, rep.Summary)
		}
	}
	r := check()
	for _, line := range []string{
		"? Secret " + ns + "/prod-app-env-*: generated from app.env, encrypted in Git (SOPS), no key opens it: not compared\n",
		"? ConfigMap " + ns + "/prod-app-config-*: generated from settings.yaml, encrypted in Git (SOPS), no key opens it: not compared\n",
		"  ? spec.template.spec.containers[0].envFrom[0].secretRef.name: names Secret prod-app-env-*, generated from app.env, encrypted in Git (SOPS), no key opens it: not compared\n",
		"1 resource: 1 in sync, 0 drifted, 0 missing, 0 errors; 2 not compared (SOPS, no key)\n",
	} {
		if !strings.Contains(r.stdout, line) {
			t.Errorf("text report lacks %q:\n%s", line, r.stdout)
		}
	}

	// The Deployment's own fields are still compared.
	if err := kube.Edit(ctx, "kubectl-set", gvkDeployment, ns, "prod-app", setImage("ghcr.io/acme/app:2.4.3")); err != nil {
		t.Fatal(err)
	}
	r = check("-o", "json")
	if r.code != exitDrift {
		t.Fatalf("after an image change, without a key: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	var paths []string
	for _, d := range parseReport(t, r).Resources[0].Diffs {
		paths = append(paths, d.Path)
	}
	if diff := cmp.Diff([]string{"spec.template.spec.containers[name=app].image"}, paths); diff != "" {
		t.Errorf("after an image change: diffs (-want +got):\n%s", diff)
	}
}

// TestCheckSOPSWholeFileNoKey: a Secret encrypted whole (sops' default,
// its apiVersion, kind and name too), with no key. It is recognised as
// SOPS, listed as not compared with its file, in a plain tree and through
// a kustomization, never an ERROR without kind and name, and the output
// is the same for five fresh encryptions. A run with nothing else to
// compare exits 2 with one line naming the file and the missing key.
// With the key, the Secret is in sync.
func TestCheckSOPSWholeFileNoKey(t *testing.T) {
	requireAPIServer(t)
	ns := sopsNamespace(t, "whole", ".", nil)
	keyFile, recipient := sopsKeys(t)
	otherKey, _ := sopsKeys(t)
	dir := t.TempDir()
	kustomization := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: " + ns +
		"\nresources: [secret.yaml, configmap.yaml]\n"
	const line = "? secret.yaml: kind and name encrypted in Git (SOPS), no key opens it: not compared\n"
	wantNothing := "driftwatch: error: nothing could be compared: no age key opens secret.yaml (SOPS; encrypted for " + recipient +
		"): give one with --sops-age-key-file, $SOPS_AGE_KEY_FILE or $SOPS_AGE_KEY\n"

	outputs := map[string]string{}
	for i := range 5 {
		sopsCase(t, dir, "whole", recipient, map[string]string{"secret.yaml": ""})
		if !regexp.MustCompile(`(?m)^kind: ENC\[`).MatchString(mustRead(t, filepath.Join(dir, "secret.yaml"))) {
			t.Fatalf("secret.yaml is not encrypted whole:\n%s", mustRead(t, filepath.Join(dir, "secret.yaml")))
		}
		os.Remove(filepath.Join(dir, "kustomization.yaml"))
		for _, layout := range []string{"plain", "kustomize"} {
			if layout == "kustomize" {
				if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kustomization), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, extra := range [][]string{nil, {"-o", "json"}, {"--sops-age-key-file", otherKey}} {
				what := fmt.Sprintf("run %d, %s %v", i, layout, extra)
				r := runCLI(t, append([]string{"check", "--dir", dir, "--kubeconfig", kubeconfig, "-n", ns}, extra...)...)
				noSecretShown(t, what, r)
				if r.code != exitInSync {
					t.Fatalf("%s: exit %d, want 0 (the ConfigMap is in sync)\n%s%s", what, r.code, r.stdout, r.stderr)
				}
				key := fmt.Sprint(layout, extra)
				out := generatedAt.ReplaceAllString(r.stdout, "")
				if prev, ok := outputs[key]; ok && prev != out {
					t.Errorf("%s: the output changed with the ciphertext (-first +now):\n%s", what, cmp.Diff(prev, out))
				}
				outputs[key] = out
				switch {
				case len(extra) == 2 && extra[0] == "-o":
					rep := parseReport(t, r)
					want := []drift.NotComparedObject{{File: "secret.yaml", Via: drift.ViaFile,
						Reason: "kind and name encrypted in Git (SOPS), no key opens it"}}
					if diff := cmp.Diff(want, rep.NotCompared); diff != "" {
						t.Errorf("%s: not compared (-want +got):\n%s", what, diff)
					}
					if len(rep.Resources) != 1 || rep.Resources[0].Name != "flags" || rep.Resources[0].Status != drift.InSync {
						t.Errorf("%s: resources %+v, want the ConfigMap in sync alone", what, rep.Resources)
					}
				case strings.Contains(r.stdout, "ERROR") || !strings.Contains(r.stdout, line):
					t.Errorf("%s: want %q and no ERROR:\n%s", what, line, r.stdout)
				}
				if extra != nil && extra[0] == "--sops-age-key-file" && !strings.Contains(r.stderr, "sops: secret.yaml: no age key opens it") {
					t.Errorf("%s: no warning about the key given:\n%s", what, r.stderr)
				}
			}
		}

		// Nothing else to compare: exit 2, one line, the same every time.
		for _, path := range []string{"secret.yaml", "."} {
			if path == "." {
				if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(strings.Replace(kustomization, ", configmap.yaml", "", 1)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := runCLI(t, "check", "--dir", dir, "--path", path, "--kubeconfig", kubeconfig, "-n", ns)
			if r.code != exitError || r.stderr != wantNothing || r.stdout != "" {
				t.Errorf("run %d, --path %s alone: exit %d, want 2 and %q\nstdout: %s\nstderr: %s", i, path, r.code, wantNothing, r.stdout, r.stderr)
			}
		}
	}

	// With the key, the Secret is decrypted and compared.
	os.Remove(filepath.Join(dir, "kustomization.yaml"))
	r := runCLI(t, "check", "--dir", dir, "--kubeconfig", kubeconfig, "-n", ns, "--sops-age-key-file", keyFile, "-o", "json")
	noSecretShown(t, "with the key", r)
	allInSync(t, "with the key", r)
	if n := len(parseReport(t, r).Resources); n != 2 {
		t.Errorf("with the key: %d resources, want the Secret and the ConfigMap", n)
	}
}

// TestCheckSOPSHelmValuesNoKey: a chart rendered with a values file whose
// password is encrypted and no key: none of the chart's objects is
// compared (the ciphertext reaches the Secret, and its checksum the
// Deployment's pod annotations), and each is named with the values file.
// A chart alone then has nothing to compare: exit 2, naming the file and
// the key. Through a kustomization's helmCharts:, the kustomization's
// other objects are still compared. With the key, all is in sync.
func TestCheckSOPSHelmValuesNoKey(t *testing.T) {
	requireAPIServer(t)
	keyFile, recipient := sopsKeys(t)
	helm := func(values string) func(ns string) gitsource.RenderOptions {
		return func(ns string) gitsource.RenderOptions {
			return gitsource.RenderOptions{Helm: gitsource.HelmOptions{ReleaseName: "shop", Namespace: ns, ValuesFiles: []string{values}}}
		}
	}
	const regex = "^password$" // only the password, as a Flux user would
	reasons := func(ns string) []drift.NotComparedObject {
		var out []drift.NotComparedObject
		for _, o := range []struct{ apiVersion, kind, name string }{{"v1", "Secret", "shop-db"}, {"apps/v1", "Deployment", "shop"}} {
			out = append(out, drift.NotComparedObject{APIVersion: o.apiVersion, Kind: o.kind, Namespace: ns, Name: o.name,
				File: "values-prod.yaml", Via: drift.ViaValues,
				Reason: "rendered with values file values-prod.yaml, encrypted in Git (SOPS), no key opens it"})
		}
		return out
	}
	byLabel := cmpopts.SortSlices(func(a, b drift.NotComparedObject) bool { return a.Label() < b.Label() })

	t.Run("chart", func(t *testing.T) {
		ns := sopsNamespace(t, "chart", "web", helm("values-prod.yaml"))
		dir := t.TempDir()
		sopsCase(t, dir, "chart", recipient, map[string]string{"values-prod.yaml": regex})
		args := []string{"check", "--dir", dir, "--path", "web", "--helm-release", "shop", "--values", "values-prod.yaml", "--kubeconfig", kubeconfig, "-n", ns}
		r := runCLI(t, append(args, "--sops-age-key-file", keyFile, "-o", "json")...)
		noSecretShown(t, "with the key", r)
		allInSync(t, "with the key", r)
		r = runCLI(t, args...)
		noSecretShown(t, "without a key", r)
		want := "driftwatch: error: nothing could be compared: no age key opens values-prod.yaml (SOPS; encrypted for " + recipient +
			"): give one with --sops-age-key-file, $SOPS_AGE_KEY_FILE or $SOPS_AGE_KEY\n"
		if r.code != exitError || r.stderr != want {
			t.Errorf("without a key: exit %d, want 2 and %q\nstdout: %s\nstderr: %s", r.code, want, r.stdout, r.stderr)
		}
	})

	t.Run("helmCharts", func(t *testing.T) {
		ns := sopsNamespace(t, "helmcharts", ".", nil)
		dir := t.TempDir()
		sopsCase(t, dir, "helmcharts", recipient, map[string]string{"values-prod.yaml": regex})
		args := []string{"check", "--dir", dir, "--kubeconfig", kubeconfig, "-n", ns}
		r := runCLI(t, append(args, "--sops-age-key-file", keyFile, "-o", "json")...)
		noSecretShown(t, "with the key", r)
		allInSync(t, "with the key", r)
		if n := len(parseReport(t, r).Resources); n != 3 {
			t.Errorf("with the key: %d resources, want 3", n)
		}
		r = runCLI(t, append(args, "-o", "json")...)
		noSecretShown(t, "without a key", r)
		if r.code != exitInSync {
			t.Fatalf("without a key: exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
		}
		rep := parseReport(t, r)
		if diff := cmp.Diff(reasons(ns), rep.NotCompared, byLabel); diff != "" {
			t.Errorf("without a key: not compared (-want +got):\n%s", diff)
		}
		if len(rep.Resources) != 1 || rep.Resources[0].Name != "flags" || rep.Resources[0].Status != drift.InSync {
			t.Errorf("without a key: resources %+v, want the ConfigMap in sync alone", rep.Resources)
		}
		r = runCLI(t, args...)
		line := "? Deployment " + ns + "/shop: rendered with values file values-prod.yaml, encrypted in Git (SOPS), no key opens it: not compared\n"
		if !strings.Contains(r.stdout, line) {
			t.Errorf("text report lacks %q:\n%s", line, r.stdout)
		}
	})
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
