package gitsource

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRenderChartGenerated: what a chart generates on every render (a
// random password reused through lookup at install, as grafana's chart
// does, a self-signed certificate as metrics-server's, a checksum of
// them) is left out and named as not compared; the rest is kept.
func TestRenderChartGenerated(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"c/Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\n",
		"c/templates/secret.yaml": `apiVersion: v1
kind: Secret
metadata:
  name: admin
data:
  user: {{ "admin" | b64enc }}
  {{- $old := lookup "v1" "Secret" .Release.Namespace "admin" }}
  password: {{ (get ($old.data | default dict) "password") | default (randAlphaNum 40 | b64enc) }}
{{- $ca := genCA "c-ca" 365 }}
  tls.crt: {{ $ca.Cert | b64enc }}
`,
		"c/templates/deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    metadata:
      annotations:
        checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
    spec:
      containers:
      - name: app
        image: web:1
        args: [--token, {{ uuidv4 }}]
`,
	})
	r, err := RenderWith(context.Background(), dir, "c", RenderOptions{Capabilities: caps("v1.37.2", "v1", "apps/v1")})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	why := map[string]int{}
	for _, o := range r.Objects {
		got[o.Object.GetKind()] = o.NotCompared
		for _, w := range o.NotComparedWhy {
			if w == GeneratedWhy {
				why[o.Object.GetKind()]++
			}
		}
	}
	want := map[string][]string{
		"Secret":     {"data.password", `data["tls.crt"]`},
		"Deployment": {`spec.template.metadata.annotations["checksum/secret"]`, "spec.template.spec.containers"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("not compared (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]int{"Secret": 2, "Deployment": 2}, why); d != "" {
		t.Errorf("reasons (-want +got):\n%s", d)
	}
	for _, o := range r.Objects {
		if o.Object.GetKind() != "Secret" {
			continue
		}
		data := o.Object.Object["data"].(map[string]any)
		if _, ok := data["password"]; ok || data["user"] != "YWRtaW4=" {
			t.Errorf("Secret data = %v, want only user kept", data)
		}
	}
}
