package gitsource

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
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
