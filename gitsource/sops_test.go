package gitsource

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/stores/dotenv"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/driftwatch/driftwatch/gitsource/sopstest"
)

// TestRenderSOPS: a SOPS-encrypted manifest (Flux's in-place format) loses
// its sops block and its encrypted values, which are named as not
// compared; plain values stay, and other manifests are untouched.
func TestRenderSOPS(t *testing.T) {
	dir := t.TempDir()
	const sopsBlock = `sops:
    age:
        - recipient: age1qqqq
          enc: "-----BEGIN AGE ENCRYPTED FILE-----"
    lastmodified: "2026-11-29T10:00:00Z"
    mac: ENC[AES256_GCM,data:mac=,iv:m=,tag:t=,type:str]
    version: 3.13.3
`
	files := map[string]string{
		"secret.yaml": `apiVersion: v1
kind: Secret
metadata:
    name: db
    namespace: prod
type: Opaque
stringData:
    username: app
    password: ENC[AES256_GCM,data:Tr7o=,iv:1Qdf=,tag:Ic1w==,type:str]
data:
    token: ENC[AES256_GCM,data:Xy9=,iv:8Aa=,tag:Zz==,type:str]
` + sopsBlock,
		"cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
    name: flags
data:
    hosts: plain
    list: '[1]'
spec:
    peers:
        - ENC[AES256_GCM,data:AAA=,iv:B=,tag:C=,type:str]
        - ENC[AES256_GCM,data:DDD=,iv:E=,tag:F=,type:str]
` + sopsBlock,
		// No sops block: a value that merely looks encrypted stays.
		"plain.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\ndata: {a: 'ENC[not-sops]'}\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	objs, err := Render(dir, ".")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	notCompared := map[string][]string{}
	for _, o := range objs {
		got[o.Object.GetName()] = o.Object.Object
		notCompared[o.Object.GetName()] = o.NotCompared
	}
	want := map[string]any{
		"db": map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "db", "namespace": "prod"},
			"type": "Opaque", "stringData": map[string]any{"username": "app"}, "data": map[string]any{}},
		"flags": map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "flags"},
			"data": map[string]any{"hosts": "plain", "list": "[1]"}, "spec": map[string]any{}},
		"plain": map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "plain"},
			"data": map[string]any{"a": "ENC[not-sops]"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	wantNC := map[string][]string{"db": {"data.token", "stringData.password"}, "flags": {"spec.peers"}, "plain": nil}
	if diff := cmp.Diff(wantNC, notCompared); diff != "" {
		t.Errorf("not compared (-want +got):\n%s", diff)
	}
}

// objectsByName parses plaintext manifests the way a plain tree renders.
func objectsByName(t *testing.T, texts ...string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, text := range texts {
		objs, err := ParseManifests("plain.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			out[o.Object.GetName()] = o.Object.Object
		}
	}
	return out
}

// TestRenderSOPSDecrypt: with age keys, SOPS files are decrypted as they
// are read, the MAC verified as `sops decrypt` does, and the decrypted
// fields named Sensitive; a file no key opens is left out as without keys,
// with a warning; a tampered file or a bad key is an error naming it.
func TestRenderSOPSDecrypt(t *testing.T) {
	const secret = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: prod
type: Opaque
stringData:
  username: app
  password: hunter2-secret
`
	const configMap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: flags
  annotations:
    dsn: postgres://app:hunter2-secret@db:5432/app
data:
  level: debug
  retries: 3
  app.properties: mode=fast
  hosts:
    - alpha.example
    - beta.example
`
	keyA, recipientA := sopstest.NewAgeKey(t)
	keyB, recipientB := sopstest.NewAgeKey(t)
	_, recipientC := sopstest.NewAgeKey(t)
	plain := objectsByName(t, secret, configMap)
	sensitive := map[string][]string{
		"db": {"stringData.password", "stringData.username"},
		// The annotation holds the decrypted password: marked too.
		"flags": {"data.hosts[0]", "data.hosts[1]", "data.level", "data.retries", `data["app.properties"]`, "metadata.annotations.dsn"},
	}
	stripped := objectsByName(t, secret, configMap)
	stripped["db"]["stringData"] = map[string]any{}
	stripped["flags"]["data"] = map[string]any{}
	notCompared := map[string][]string{
		"db":    {"stringData.password", "stringData.username"},
		"flags": {"data.hosts", "data.level", "data.retries", `data["app.properties"]`},
	}
	encSecret := sopstest.EncryptYAML(t, secret, recipientA)
	encConfigMap := sopstest.EncryptYAML(t, configMap, recipientA, recipientC)

	// Tampering: an unencrypted value changed, or a ciphertext moved to
	// another field (its path is authenticated).
	renamed := strings.Replace(encSecret, "name: db", "name: dc", 1)
	if renamed == encSecret {
		t.Fatal("encrypted secret has no plain name")
	}
	ciphertexts := regexp.MustCompile(`(?m)^(\s+(?:username|password)): (ENC\[[^\]]+\])$`).FindAllStringSubmatch(encSecret, -1)
	if len(ciphertexts) != 2 {
		t.Fatalf("ciphertexts in\n%s", encSecret)
	}
	swapped := strings.NewReplacer(
		ciphertexts[0][0], ciphertexts[0][1]+": "+ciphertexts[1][2],
		ciphertexts[1][0], ciphertexts[1][1]+": "+ciphertexts[0][2],
	).Replace(encSecret)

	tests := []struct {
		name            string
		files           map[string]string
		keys            string
		want            map[string]map[string]any
		wantSensitive   map[string][]string
		wantNotCompared map[string][]string
		wantWarnings    []string
		wantErr         string
	}{{
		name:          "right key",
		files:         map[string]string{"secret.yaml": encSecret, "cm.yaml": encConfigMap},
		keys:          keyA,
		want:          plain,
		wantSensitive: sensitive,
	}, {
		name:          "one of several keys, one of several recipients",
		files:         map[string]string{"secret.yaml": encSecret, "cm.yaml": encConfigMap},
		keys:          keyB + "\n  " + strings.TrimSpace(keyA) + "\n",
		want:          plain,
		wantSensitive: sensitive,
	}, {
		name:          "multi-document file",
		files:         map[string]string{"both.yaml": sopstest.EncryptYAML(t, secret+"---\n"+configMap, recipientA)},
		keys:          keyA,
		want:          plain,
		wantSensitive: sensitive,
	}, {
		name:            "wrong key",
		files:           map[string]string{"secret.yaml": encSecret, "cm.yaml": encConfigMap},
		keys:            keyB,
		want:            stripped,
		wantNotCompared: notCompared,
		wantWarnings: []string{
			"sops: cm.yaml: no age key opens it; its encrypted values are not compared",
			"sops: secret.yaml: no age key opens it; its encrypted values are not compared",
		},
	}, {
		name:            "no key",
		files:           map[string]string{"secret.yaml": encSecret, "cm.yaml": encConfigMap},
		want:            stripped,
		wantNotCompared: notCompared,
	}, {
		name: "one file opens, the other not",
		files: map[string]string{
			"secret.yaml": encSecret,
			"cm.yaml":     sopstest.EncryptYAML(t, configMap, recipientB),
		},
		keys: keyA,
		want: map[string]map[string]any{"db": plain["db"], "flags": stripped["flags"]},
		// The ConfigMap's annotation holds the password the Secret's
		// decryption revealed.
		wantSensitive:   map[string][]string{"db": sensitive["db"], "flags": {"metadata.annotations.dsn"}},
		wantNotCompared: map[string][]string{"flags": notCompared["flags"]},
		wantWarnings:    []string{"sops: cm.yaml: no age key opens it; its encrypted values are not compared"},
	}, {
		name:    "plain value changed after encryption",
		files:   map[string]string{"secret.yaml": renamed, "cm.yaml": encConfigMap},
		keys:    keyA,
		wantErr: "sops: secret.yaml: MAC mismatch (the file was changed after it was encrypted)",
	}, {
		name:    "ciphertexts swapped after encryption",
		files:   map[string]string{"secret.yaml": swapped},
		keys:    keyA,
		wantErr: "sops: secret.yaml: a value does not decrypt (the file was changed after it was encrypted)",
	}, {
		name:    "bad key text",
		files:   map[string]string{"secret.yaml": encSecret},
		keys:    "AGE-SECRET-KEY-1NOTAREALKEYATALL\n",
		wantErr: "sops: age keys: error at line 1: malformed secret key",
	}, {
		name: "kustomize with namePrefix and commonLabels",
		files: map[string]string{
			"kustomization.yaml": "resources: [secret.enc.yaml]\nnamePrefix: app-\ncommonLabels: {team: payments}\n",
			"secret.enc.yaml":    encSecret,
		},
		keys: keyA,
		want: map[string]map[string]any{"app-db": func() map[string]any {
			o := objectsByName(t, secret)["db"]
			o["metadata"] = map[string]any{"name": "app-db", "namespace": "prod", "labels": map[string]any{"team": "payments"}}
			return o
		}()},
		wantSensitive: map[string][]string{"app-db": sensitive["db"]},
	}, {
		name: "dotenv file of a kustomize secretGenerator",
		files: map[string]string{
			"kustomization.yaml": "secretGenerator:\n- name: env\n  envs: [secret.env]\ngeneratorOptions: {disableNameSuffixHash: true}\n",
			"secret.env": sopstest.Encrypt(t, dotenv.NewStore(&config.DotenvStoreConfig{}), "",
				"DB_USER=app\nDB_PASSWORD=hunter2-secret\n", recipientA),
		},
		keys: keyA,
		want: map[string]map[string]any{"env": {
			"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "env"}, "type": "Opaque",
			"data": map[string]any{"DB_USER": "YXBw", "DB_PASSWORD": "aHVudGVyMi1zZWNyZXQ="},
		}},
	}, {
		name: "JSON file",
		files: map[string]string{
			"secret.json": sopstest.Encrypt(t, sopsjson.NewStore(&config.JSONStoreConfig{}), sopstest.FluxRegex,
				`{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "prod"}, "type": "Opaque",
				"stringData": {"username": "app", "password": "hunter2-secret"}}`, recipientA),
		},
		keys:          keyA,
		want:          objectsByName(t, secret),
		wantSensitive: map[string][]string{"db": sensitive["db"]},
	}}
	for _, tt := range tests {
		for _, pack := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s pack=%v", tt.name, pack), func(t *testing.T) {
				dir := t.TempDir()
				for name, text := range tt.files {
					if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				r, err := RenderWith(context.Background(), dir, ".", RenderOptions{Decryption: Decryption{AgeKeys: tt.keys}, Pack: pack})
				if tt.wantErr != "" {
					switch {
					case err == nil:
						t.Fatalf("no error, want %q", tt.wantErr)
					case !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n"):
						t.Errorf("error %q, want one line holding %q", err, tt.wantErr)
					case strings.Contains(err.Error(), "NOTAREALKEY") || strings.Contains(err.Error(), "hunter2"):
						t.Errorf("error %q shows a key or a secret", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]map[string]any{}
				gotSensitive := map[string][]string{}
				gotNotCompared := map[string][]string{}
				objs := r.Objects
				if pack {
					// Packing changes how objects are held, never what they
					// are nor what is hidden.
					objs = unpackAll(t, objs)
				}
				for _, o := range objs {
					name := o.Object.GetName()
					got[name] = o.Object.Object
					if o.Sensitive != nil {
						gotSensitive[name] = o.Sensitive
					}
					if o.NotCompared != nil {
						gotNotCompared[name] = o.NotCompared
					}
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("objects (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.wantSensitive, gotSensitive, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("sensitive (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.wantNotCompared, gotNotCompared, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("not compared (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.wantWarnings, r.Warnings, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("warnings (-want +got):\n%s", diff)
				}
			})
		}
	}
}
