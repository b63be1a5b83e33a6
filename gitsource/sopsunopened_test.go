package gitsource

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/stores/dotenv"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/driftwatch/driftwatch/gitsource/sopstest"
)

// TestRenderSOPSUnopened: without a key that opens a SOPS file, an object
// that cannot be known without it (encrypted whole, generated from it,
// rendered with it as Helm values) is left out of the objects and listed
// as Unopened with its file and recipients; a reference to a generated
// object's hashed name is not compared; nothing depends on the ciphertext.
func TestRenderSOPSUnopened(t *testing.T) {
	_, recipient := sopstest.NewAgeKey(t)
	otherKey, _ := sopstest.NewAgeKey(t)
	yamlStore := sopsyaml.NewStore(&config.YAMLStoreConfig{})
	whole := func(text string) string { return sopstest.Encrypt(t, yamlStore, "", text, recipient) }
	const secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: pw-in-git\n"
	const configMap = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flags\ndata:\n  level: info\n"
	const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
        - name: app
          image: app:1
          envFrom: [{secretRef: {name: app-env}}]
      volumes: [{name: config, configMap: {name: app-config}}]
`
	chart := map[string]string{
		"web/Chart.yaml":                "apiVersion: v2\nname: web\nversion: 1.0.0\n",
		"web/values.yaml":               "password: ''\n",
		"web/templates/secret.yaml":     "apiVersion: v1\nkind: Secret\nmetadata: {name: '{{ .Release.Name }}-db'}\nstringData: {password: '{{ .Values.password }}'}\n",
		"web/templates/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: '{{ .Release.Name }}'}\nspec: {replicas: 1}\n",
	}
	values := sopstest.Encrypt(t, yamlStore, "^password$", "password: pw-in-git\n", recipient)
	recipients := []string{recipient}

	tests := []struct {
		name         string
		files        map[string]string
		path         string
		ro           RenderOptions
		wantObjects  []string // Kind name
		wantUnopened []Unopened
		// wantNotCompared are the fields not compared, by object name.
		wantNotCompared map[string][]string
	}{{
		name:         "file encrypted whole",
		files:        map[string]string{"secret.yaml": whole(secret), "cm.yaml": configMap},
		wantObjects:  []string{"ConfigMap flags"},
		wantUnopened: []Unopened{{File: "secret.yaml", Via: UnopenedFile, Recipients: recipients}},
	}, {
		name:         "file encrypted whole, at --path",
		files:        map[string]string{"secret.yaml": whole(secret)},
		path:         "secret.yaml",
		wantUnopened: []Unopened{{File: "secret.yaml", Via: UnopenedFile, Recipients: recipients}},
	}, {
		name: "file encrypted whole, through a kustomization with a namespace and a prefix",
		files: map[string]string{
			"kustomization.yaml": "namespace: prod\nnamePrefix: p-\nresources: [secret.yaml, cm.yaml]\n",
			"secret.yaml":        whole(secret), "cm.yaml": configMap,
		},
		wantObjects:  []string{"ConfigMap p-flags"},
		wantUnopened: []Unopened{{File: "secret.yaml", Via: UnopenedFile, Recipients: recipients}},
	}, {
		name: "two documents encrypted whole, and one with its identity in clear",
		files: map[string]string{
			"both.yaml":    whole(secret + "---\n" + configMap),
			"partial.yaml": sopstest.EncryptYAML(t, configMap, recipient),
		},
		wantObjects:     []string{"ConfigMap flags"},
		wantUnopened:    []Unopened{{File: "both.yaml", Via: UnopenedFile, Recipients: recipients}},
		wantNotCompared: map[string][]string{"flags": {"data.level"}},
	}, {
		name: "generators reading encrypted files, and the references to their hashed names",
		files: map[string]string{
			"kustomization.yaml": "namePrefix: prod-\nresources: [deployment.yaml]\n" +
				"secretGenerator: [{name: app-env, envs: [app.env]}]\nconfigMapGenerator: [{name: app-config, files: [settings.yaml]}]\n",
			"deployment.yaml": deployment,
			"app.env":         sopstest.Encrypt(t, dotenv.NewStore(&config.DotenvStoreConfig{}), "", "DB_PASSWORD=pw-in-git\n", recipient),
			"settings.yaml":   whole("password: pw-in-git\n"),
		},
		wantObjects: []string{"Deployment prod-app"},
		wantUnopened: []Unopened{
			{APIVersion: "v1", Kind: "ConfigMap", Name: "prod-app-config-*", File: "settings.yaml", Via: UnopenedGenerator, Recipients: recipients},
			{APIVersion: "v1", Kind: "Secret", Name: "prod-app-env-*", File: "app.env", Via: UnopenedGenerator, Recipients: recipients},
		},
		wantNotCompared: map[string][]string{"prod-app": {
			"spec.template.spec.containers[0].envFrom[0].secretRef.name", "spec.template.spec.volumes[0].configMap.name",
		}},
	}, {
		name: "a generator without the hash suffix",
		files: map[string]string{
			"kustomization.yaml": "secretGenerator: [{name: app-env, envs: [app.env], options: {disableNameSuffixHash: true}}]\n",
			"app.env":            sopstest.Encrypt(t, dotenv.NewStore(&config.DotenvStoreConfig{}), "", "DB_PASSWORD=pw-in-git\n", recipient),
		},
		wantUnopened: []Unopened{{APIVersion: "v1", Kind: "Secret", Name: "app-env", File: "app.env", Via: UnopenedGenerator, Recipients: recipients}},
	}, {
		name:  "a chart with an encrypted values file",
		files: merge(chart, map[string]string{"values-prod.yaml": values}),
		path:  "web",
		ro:    RenderOptions{Helm: HelmOptions{ReleaseName: "shop", Namespace: "prod", ValuesFiles: []string{"values-prod.yaml"}}},
		wantUnopened: []Unopened{
			{APIVersion: "v1", Kind: "Secret", Name: "shop-db", DefaultNamespace: "prod", File: "values-prod.yaml", Via: UnopenedValues, Recipients: recipients},
			{APIVersion: "apps/v1", Kind: "Deployment", Name: "shop", DefaultNamespace: "prod", File: "values-prod.yaml", Via: UnopenedValues, Recipients: recipients},
		},
	}, {
		name: "a kustomization's helmCharts with an encrypted values file",
		files: merge(prefixed("charts/", chart), map[string]string{
			"kustomization.yaml": "resources: [cm.yaml]\nhelmCharts: [{name: web, releaseName: shop, valuesFile: values-prod.yaml}]\n",
			"values-prod.yaml":   values, "cm.yaml": configMap,
		}),
		wantObjects: []string{"ConfigMap flags"},
		wantUnopened: []Unopened{
			{APIVersion: "v1", Kind: "Secret", Name: "shop-db", File: "values-prod.yaml", Via: UnopenedValues, Recipients: recipients},
			{APIVersion: "apps/v1", Kind: "Deployment", Name: "shop", File: "values-prod.yaml", Via: UnopenedValues, Recipients: recipients},
		},
	}}
	for _, tt := range tests {
		for _, keys := range []string{"", otherKey} {
			for _, pack := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s key=%v pack=%v", tt.name, keys != "", pack), func(t *testing.T) {
					dir := t.TempDir()
					for name, text := range tt.files {
						p := filepath.Join(dir, name)
						if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
							t.Fatal(err)
						}
						if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
							t.Fatal(err)
						}
					}
					ro := tt.ro
					ro.Decryption, ro.Pack = Decryption{AgeKeys: keys}, pack
					path := tt.path
					if path == "" {
						path = "."
					}
					r, err := RenderWith(context.Background(), dir, path, ro)
					if err != nil {
						t.Fatal(err)
					}
					var objects []string
					notCompared := map[string][]string{}
					for _, o := range r.Objects {
						objects = append(objects, o.GetKind()+" "+o.GetName())
						if o.NotCompared != nil {
							notCompared[o.GetName()] = o.NotCompared
						}
						for p, why := range o.NotComparedWhy {
							if !strings.HasPrefix(why, "names ") || !strings.Contains(why, "-*, generated from ") {
								t.Errorf("%s: %s not compared because %q", o.GetName(), p, why)
							}
						}
					}
					sort.Strings(objects)
					if diff := cmp.Diff(tt.wantObjects, objects); diff != "" {
						t.Errorf("objects (-want +got):\n%s", diff)
					}
					if diff := cmp.Diff(tt.wantUnopened, r.Unopened, cmpopts.EquateEmpty(),
						cmpopts.SortSlices(func(a, b Unopened) bool { return a.Kind+a.Name < b.Kind+b.Name })); diff != "" {
						t.Errorf("unopened (-want +got):\n%s", diff)
					}
					if diff := cmp.Diff(tt.wantNotCompared, notCompared, cmpopts.EquateEmpty()); diff != "" {
						t.Errorf("not compared (-want +got):\n%s", diff)
					}
				})
			}
		}
	}
}

// TestSOPSStandInKeepsLines: a document encrypted whole is read as a
// stand-in of as many lines, so that an error in a later document of the
// same file names that document's own line.
func TestSOPSStandInKeepsLines(t *testing.T) {
	_, recipient := sopstest.NewAgeKey(t)
	enc := sopstest.Encrypt(t, sopsyaml.NewStore(&config.YAMLStoreConfig{}), "",
		"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flags\n", recipient)
	// A bad document after the encrypted ones, as if appended by hand,
	// fails at the same line as after as many comment lines.
	const tail = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: [x}\n"
	render := func(text string) error {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "all.yaml"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := RenderWith(context.Background(), dir, ".", RenderOptions{})
		return err
	}
	want := render(strings.Repeat("#\n", strings.Count(enc, "\n")) + tail)
	got := render(enc + tail)
	if want == nil || got == nil || got.Error() != want.Error() {
		t.Errorf("error %v, want %v", got, want)
	}
}

// merge returns the union of maps, later ones winning.
func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// prefixed returns m with every key prefixed.
func prefixed(prefix string, m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[prefix+k] = v
	}
	return out
}
