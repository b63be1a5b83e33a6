package gitsource

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
