package gitsource

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkRender renders a directory of 200 plain manifests (ConfigMaps
// and Deployments, 50 files) and the kustomize overlay of the demo.
func BenchmarkRender(b *testing.B) {
	deployment, err := os.ReadFile(filepath.Join("..", "testdata", "bench", "deployment.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	benchDesired := string(deployment)
	dir := b.TempDir()
	for f := range 50 {
		var s strings.Builder
		for k := range 4 {
			i := f*4 + k
			if i%2 == 0 {
				fmt.Fprintf(&s, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%d, namespace: ns-%d, labels: {app: a%d}}\ndata:\n", i, i%10, i)
				for d := range 10 {
					fmt.Fprintf(&s, "  key%d: %q\n", d, strings.Repeat(fmt.Sprintf("v%d-", d), 40))
				}
			} else {
				fmt.Fprintf(&s, "---\n%s", strings.Replace(strings.Replace(benchDesired, "name: web\n", fmt.Sprintf("name: web-%d\n", i), 1), "namespace: prod", fmt.Sprintf("namespace: ns-%d", i%10), 1))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("m%02d.yaml", f)), []byte(s.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cases := []struct {
		name, root, path string
	}{
		{"plain-200", dir, ""},
		{"kustomize-demo-prod", filepath.Join("..", "testdata", "demo"), "overlays/prod"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			objs, err := Render(c.root, c.path)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if _, err := Render(c.root, c.path); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n*len(objs))/b.Elapsed().Seconds(), "objects/s")
			b.ReportMetric(float64(len(objs)), "objects")
		})
	}
}

// BenchmarkRenderChartVsKustomize renders a chart of 100 templates and a
// kustomization of the same 100 objects (the chart's own output), in
// turns within one run, and reports the time of each per render and
// their ratio (these machines are noisy: the ratio is what to read).
func BenchmarkRenderChartVsKustomize(b *testing.B) {
	root := b.TempDir()
	files := map[string]string{
		"chart/Chart.yaml":  "apiVersion: v2\nname: big\nversion: 1.0.0\n",
		"chart/values.yaml": "replicas: 2\nimage: registry.example/app:1.0\nenv: prod\n",
		"chart/templates/_helpers.tpl": `{{- define "big.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
env: {{ .Values.env }}
{{- end -}}
`,
	}
	for i := range 100 {
		if i%2 == 0 {
			files[fmt.Sprintf("chart/templates/cm-%03d.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm-%d\n  labels:\n    {{- include \"big.labels\" . | nindent 4 }}\ndata:\n{{- range $k := until 10 }}\n  key{{ $k }}: {{ printf \"value-%%d-%d\" $k | quote }}\n{{- end }}\n", i, i)
		} else {
			files[fmt.Sprintf("chart/templates/deploy-%03d.yaml", i)] = fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-web-%d\n  labels:\n    {{- include \"big.labels\" . | nindent 4 }}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels: {app: web-%d}\n  template:\n    metadata:\n      labels: {app: web-%d}\n    spec:\n      containers:\n        - name: app\n          image: {{ .Values.image | quote }}\n          ports: [{containerPort: 8080}]\n", i, i, i)
		}
	}
	for n, c := range files {
		p := filepath.Join(root, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	chart, err := Render(root, "chart")
	if err != nil {
		b.Fatal(err)
	}
	// The kustomization holds exactly what the chart renders.
	kdir := filepath.Join(root, "kustomize")
	if err := os.MkdirAll(kdir, 0o755); err != nil {
		b.Fatal(err)
	}
	kust := "resources:\n"
	for i, o := range chart {
		js, err := o.Object.MarshalJSON()
		if err != nil {
			b.Fatal(err)
		}
		name := fmt.Sprintf("o%03d.json", i)
		if err := os.WriteFile(filepath.Join(kdir, name), js, 0o644); err != nil {
			b.Fatal(err)
		}
		kust += "- " + name + "\n"
	}
	if err := os.WriteFile(filepath.Join(kdir, "kustomization.yaml"), []byte(kust), 0o644); err != nil {
		b.Fatal(err)
	}
	var chartTime, kustTime time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := Render(root, "chart"); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		objs, err := Render(root, "kustomize")
		if err != nil {
			b.Fatal(err)
		}
		kustTime += time.Since(mid)
		chartTime += mid.Sub(start)
		if len(objs) != len(chart) {
			b.Fatalf("kustomize rendered %d objects, the chart %d", len(objs), len(chart))
		}
	}
	b.ReportMetric(float64(chartTime.Microseconds())/float64(b.N), "chart-µs/op")
	b.ReportMetric(float64(kustTime.Microseconds())/float64(b.N), "kustomize-µs/op")
	b.ReportMetric(float64(chartTime)/float64(kustTime), "chart/kustomize")
	b.ReportMetric(float64(len(chart)), "objects")
}

// BenchmarkRenderPackedVsMaps renders a plain tree of 10,000 objects
// (ConfigMaps with 10 keys and two-container Deployments, 100 files) as
// maps and packed (RenderOptions.Pack), in turns within one run, and
// reports the heap each result holds per object and the ratio of the
// times.
func BenchmarkRenderPackedVsMaps(b *testing.B) {
	deployment, err := os.ReadFile(filepath.Join("..", "testdata", "bench", "deployment.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	const files, perFile = 100, 100
	dir := b.TempDir()
	for f := range files {
		var s strings.Builder
		for k := range perFile {
			i := f*perFile + k
			if i%2 == 0 {
				fmt.Fprintf(&s, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%d, namespace: ns-%d, labels: {app: a%d}}\ndata:\n", i, i%20, i)
				for d := range 10 {
					fmt.Fprintf(&s, "  key%d: value-%d-%d\n", d, d, i)
				}
			} else {
				fmt.Fprintf(&s, "---\n%s", strings.Replace(strings.Replace(string(deployment), "name: web\n", fmt.Sprintf("name: web-%d\n", i), 1), "namespace: prod", fmt.Sprintf("namespace: ns-%d", i%20), 1))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("m%03d.yaml", f)), []byte(s.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	held := func(pack bool) (time.Duration, float64) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		r, err := RenderWith(context.Background(), dir, "", RenderOptions{Pack: pack})
		took := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perObject := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(len(r.Objects))
		runtime.KeepAlive(r)
		return took, perObject
	}
	var mapsTime, packedTime time.Duration
	var mapsHeld, packedHeld float64
	for b.Loop() {
		t, h := held(false)
		mapsTime, mapsHeld = mapsTime+t, mapsHeld+h
		t, h = held(true)
		packedTime, packedHeld = packedTime+t, packedHeld+h
	}
	b.ReportMetric(mapsHeld/float64(b.N), "maps-B/object")
	b.ReportMetric(packedHeld/float64(b.N), "packed-B/object")
	b.ReportMetric(float64(packedTime)/float64(mapsTime), "packed/maps-time")
}
