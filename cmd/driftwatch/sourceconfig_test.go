package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/driftwatch/driftwatch/gitsource"
)

// TestSourceConfig: the source config file, flags over it, and the file
// deploy/overlays/helm ships.
func TestSourceConfig(t *testing.T) {
	deployed, err := loadSourceConfig(filepath.Join("..", "..", "deploy", "overlays", "helm", "source.yaml"))
	if err != nil {
		t.Fatalf("deploy/overlays/helm/source.yaml: %v", err)
	}
	want := sourceConfig{Render: "helm", Helm: gitsource.HelmOptions{
		ReleaseName: "shop", Namespace: "shop",
		ValuesFiles: []string{"charts/shop/values-production.yaml", "charts/shop/secrets.enc.yaml"},
	}}
	if d := cmp.Diff(want, deployed); d != "" {
		t.Errorf("deploy/overlays/helm/source.yaml (-want +got):\n%s", d)
	}

	sf := sourceFlags{
		SourceConfig: filepath.Join("..", "..", "deploy", "overlays", "helm", "source.yaml"),
		Render:       "auto", HelmRelease: "shop-eu", Values: []string{"eu.yaml"}, Set: []string{"replicas=3,image.tag=v2"},
	}
	ro, err := sf.renderOptions()
	if err != nil {
		t.Fatal(err)
	}
	got := gitsource.HelmOptions{ReleaseName: ro.Helm.ReleaseName, Namespace: ro.Helm.Namespace, ValuesFiles: ro.Helm.ValuesFiles, Values: ro.Helm.Values}
	wantHelm := gitsource.HelmOptions{
		ReleaseName: "shop-eu", Namespace: "shop",
		ValuesFiles: []string{"charts/shop/values-production.yaml", "charts/shop/secrets.enc.yaml", "eu.yaml"},
		Values:      map[string]any{"replicas": int64(3), "image": map[string]any{"tag": "v2"}},
	}
	if d := cmp.Diff(wantHelm, got); d != "" || ro.Mode != gitsource.RenderHelm {
		t.Errorf("mode %q; flags over the file (-want +got):\n%s", ro.Mode, d)
	}
	sf.Render = "plain"
	if ro, _ := sf.renderOptions(); ro.Mode != gitsource.RenderPlain {
		t.Errorf("--render plain over the file's helm: got %q", ro.Mode)
	}
	sf.Render, sf.SOPSAgeKeyFile = "", filepath.Join(t.TempDir(), "missing.agekey")
	if _, err := sf.renderOptions(); err == nil || !strings.Contains(err.Error(), "flag --sops-age-key-file") {
		t.Errorf("a missing key file: error %v, want one naming the flag", err)
	}
}
