package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/getsops/sops/v3/config"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/gitsource/sopstest"
)

// nullLive is what the cluster holds for testdata/null's objects once an
// installer and other managers have been at them: helm's release metadata
// where Git's templates rendered `annotations:` and `labels:` with nothing
// under them, a restart annotation, an env variable, args and limits.
const nullLive = `apiVersion: v1
kind: Service
metadata:
  name: web
  annotations: {meta.helm.sh/release-name: nulls, meta.helm.sh/release-namespace: NS, team: checkout}
  labels: {app.kubernetes.io/managed-by: Helm}
spec:
  ports: [{port: 80}]
  externalIPs: [192.0.2.10]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations: {meta.helm.sh/release-name: nulls, meta.helm.sh/release-namespace: NS}
  labels: {app.kubernetes.io/managed-by: Helm}
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations: {kubectl.kubernetes.io/restartedAt: "2026-12-05T10:00:00Z"}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        env: [{name: LOG_LEVEL, value: debug}]
        args: [--verbose]
        resources: {limits: {cpu: "2"}}
`

// TestNullMeansNotSet: a field desired state writes with nothing under it
// is no opinion of Git's, through every reader a null can come from (plain
// YAML, kustomize, a Helm chart, a SOPS-encrypted file): whatever live holds
// there is not drift, while a field Git does set is still compared.
func TestNullMeansNotSet(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	ctx := context.Background()
	live, err := gitsource.ParseManifests("live.yaml", []byte(nullLive))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range live {
		if err := kube.Apply(ctx, "helm", ns, o.Object); err != nil {
			t.Fatal(err)
		}
	}
	root, err := filepath.Abs(filepath.Join("..", "..", "testdata", "null"))
	if err != nil {
		t.Fatal(err)
	}

	identity, recipient := sopstest.NewAgeKey(t)
	sopsDir, keys := t.TempDir(), t.TempDir()
	keyFile := filepath.Join(keys, "keys.txt")
	plain, err := os.ReadFile(filepath.Join(root, "plain", "web.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Every value encrypted, sops' default: the nulls go through the
	// decryption too.
	enc := sopstest.Encrypt(t, sopsyaml.NewStore(&config.YAMLStoreConfig{}), "", string(plain), recipient)
	for path, text := range map[string]string{keyFile: identity, filepath.Join(sopsDir, "web.enc.yaml"): enc} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SOPS_AGE_KEY", "")
	t.Setenv("SOPS_AGE_KEY_FILE", "")

	sources := map[string][]string{
		"plain YAML": {"--dir", filepath.Join(root, "plain")},
		"kustomize":  {"--dir", filepath.Join(root, "kustomize")},
		"helm chart": {"--dir", root, "--path", "chart", "--helm-release", "nulls", "--helm-namespace", ns},
		"SOPS":       {"--dir", sopsDir, "--sops-age-key-file", keyFile},
	}
	want := map[string]drift.Status{"Service web": drift.InSync, "Deployment web": drift.InSync}
	for name, args := range sources {
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, append([]string{"check", "--kubeconfig", kubeconfig, "-n", ns, "-o", "json"}, args...)...)
			if r.code != exitInSync {
				t.Fatalf("exit %d, want 0 (in sync)\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			if d := cmp.Diff(want, statuses(parseReport(t, r))); d != "" {
				t.Errorf("statuses (-want +got):\n%s", d)
			}
		})
	}

	// What Git does set is still compared: the image changed by hand is
	// found beside the nulls.
	if err := kube.Edit(ctx, "kubectl-set", gvkDeployment, ns, "web", func(u *unstructured.Unstructured) error {
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		cs[0].(map[string]any)["image"] = "nginx:1.28"
		return unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
	}); err != nil {
		t.Fatal(err)
	}
	for name, args := range sources {
		r := runCLI(t, append([]string{"check", "--kubeconfig", kubeconfig, "-n", ns, "-o", "json"}, args...)...)
		if r.code != exitDrift {
			t.Fatalf("%s, after the edit: exit %d, want 1\nstdout: %s\nstderr: %s", name, r.code, r.stdout, r.stderr)
		}
		var paths []string
		for _, res := range parseReport(t, r).Resources {
			for _, d := range res.Diffs {
				paths = append(paths, res.Kind+" "+d.Path)
			}
		}
		if d := cmp.Diff([]string{"Deployment spec.template.spec.containers[name=app].image"}, paths); d != "" {
			t.Errorf("%s, after the edit: drifted paths (-want +got):\n%s", name, d)
		}
	}
}
