package main

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A fleet file's defaults apply to every cluster, an entry's fields
// override them, and file paths are read from the fleet file's
// directory (values files from the source's root, as --values).
func TestFleetFileGood(t *testing.T) {
	dir := filepath.Join("testdata", "fleet")
	ff, err := loadFleetFile(filepath.Join(dir, "good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const repo = "https://github.com/acme/platform.git"
	kc := filepath.Join(dir, "kubeconfigs", "prod")
	want := []fleetEntry{
		{Line: 9, Name: "prod-eu", Context: "prod-eu", Kubeconfig: kc, Source: repo, Ref: "main", Path: "overlays/prod-eu", Render: "kustomize"},
		{Line: 11, Name: "us", Context: "prod-us", Kubeconfig: kc, Namespace: "apps", Source: repo, Ref: "main",
			Path: "overlays/prod-us", Render: "helm", Values: []string{"values/prod-us.yaml"}},
		{Line: 17, Name: "local", Context: "local", Kubeconfig: "/etc/kind.yaml", Source: filepath.Join("testdata", "desired"),
			Path: "app", Render: "kustomize", SourceConfig: filepath.Join(dir, "render.yaml")},
	}
	if diff := cmp.Diff(want, ff.Clusters); diff != "" {
		t.Errorf("clusters (-want +got):\n%s", diff)
	}
	// Each entry stands for check's flags.
	sf, co := ff.Clusters[1].flags(sourceFlags{Username: "bot", CacheDir: "/c"})
	wantSF := sourceFlags{Username: "bot", CacheDir: "/c", Repo: repo, Ref: "main", Path: "overlays/prod-us",
		Render: "helm", Values: []string{"values/prod-us.yaml"}}
	if diff := cmp.Diff(wantSF, sf); diff != "" {
		t.Errorf("source flags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(clusterOptions{Kubeconfig: kc, Context: "prod-us", Namespace: "apps"}, co); diff != "" {
		t.Errorf("cluster options (-want +got):\n%s", diff)
	}
	sf, _ = ff.Clusters[2].flags(sourceFlags{})
	if sf.Dir != filepath.Join("testdata", "desired") || sf.Repo != "" || sf.SourceConfig != filepath.Join(dir, "render.yaml") {
		t.Errorf("directory source: %+v", sf)
	}
}

func TestFleetFileErrors(t *testing.T) {
	const head = "apiVersion: driftwatch.dev/v1alpha1\nkind: Fleet\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field in a cluster", head + "clusters:\n  - context: a\n    source: /src\n    pth: x\n",
			`f.yaml:6: clusters[0]: unknown field "pth" (want context, name, kubeconfig, namespace, source, ref, path, render, values, sourceConfig)`},
		{"unknown top-level field", head + "cluster:\n  - context: a\n",
			`f.yaml:3: unknown field "cluster" (want apiVersion, kind, defaults or clusters)`},
		{"unknown field in defaults", head + "defaults:\n  repo: x\nclusters:\n  - context: a\n",
			`f.yaml:4: defaults: unknown field "repo" (want context, name, kubeconfig, namespace, source, ref, path, render, values, sourceConfig)`},
		{"missing context", head + "clusters:\n  - context: a\n    source: /src\n  - name: b\n    source: /src\n",
			`f.yaml:6: clusters[1]: context is required`},
		{"duplicate context", head + "defaults:\n  source: /src\nclusters:\n  - context: a\n  - context: b\n  - context: a\n    name: other\n",
			`f.yaml:8: clusters[2]: context "a" is also the context of line 6`},
		{"duplicate name", head + "defaults:\n  source: /src\nclusters:\n  - context: a\n  - context: b\n    name: a\n",
			`f.yaml:7: clusters[1]: name "a" is also the name of line 6`},
		{"bad render", head + "defaults:\n  source: /src\nclusters:\n  - context: a\n    render: jsonnet\n",
			`f.yaml:7: clusters[0]: render "jsonnet": want auto, helm, kustomize or plain`},
		{"no source", head + "clusters:\n  - context: a\n",
			`f.yaml:4: clusters[0]: source is required (here or in defaults): a repository URL or a directory`},
		{"ref with a directory", head + "clusters:\n  - context: a\n    source: /src\n    ref: main\n",
			`f.yaml:4: clusters[0]: ref needs a repository source (directory /src is read as it is)`},
		{"ref with OCI", head + "clusters:\n  - context: a\n    source: oci://r.example/a:1\n    ref: main\n",
			`f.yaml:4: clusters[0]: ref is for Git; an oci:// source names its tag or digest itself`},
		{"context in defaults", head + "defaults:\n  context: a\nclusters:\n  - context: b\n",
			`f.yaml:4: defaults: context and name are each cluster's own`},
		{"values not a list", head + "clusters:\n  - context: a\n    source: /src\n    values: v.yaml\n",
			`f.yaml:6: cannot unmarshal !!str ` + "`v.yaml`" + ` into []string`},
		{"wrong apiVersion", "apiVersion: v1\nkind: Fleet\nclusters:\n  - context: a\n",
			`f.yaml:1: apiVersion "v1", want driftwatch.dev/v1alpha1`},
		{"wrong kind", "apiVersion: driftwatch.dev/v1alpha1\nkind: Config\nclusters:\n  - context: a\n",
			`f.yaml:1: kind "Config", want Fleet`},
		{"duplicate key", head + "clusters:\n  - context: a\n    context: b\n",
			`f.yaml:5: clusters[0]: field "context" given twice`},
		{"duplicate top-level key", head + "kind: Fleet\n", `f.yaml:3: field "kind" given twice`},
		{"no clusters", head + "clusters: []\n", `f.yaml:3: clusters: want a list of at least one cluster`},
		{"empty file", "", `fleet file f.yaml: empty (want apiVersion driftwatch.dev/v1alpha1, kind Fleet and clusters)`},
		{"not YAML", head + "clusters: [\n", `f.yaml:3: did not find expected node content`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFleetFile("f.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("no error, want %s", tt.want)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFleetFileSourceKinds(t *testing.T) {
	for src, repo := range map[string]bool{
		"https://github.com/acme/platform.git": true,
		"ssh://git@host/org/repo.git":          true,
		"git@github.com:acme/platform.git":     true,
		"oci://ghcr.io/acme/deploy:1.0":        true,
		"file:///srv/git/deploy":               true,
		"./deploy":                             false,
		"/srv/checkout":                        false,
		"deploy":                               false,
	} {
		if got := isFleetRepoURL(src); got != repo {
			t.Errorf("isFleetRepoURL(%q) = %v, want %v", src, got, repo)
		}
	}
	c := fleetEntry{Source: "https://bot:s3cret@git.example.com/ops.git", Path: "prod"}
	if got, want := c.policy(), "https://bot:xxxxx@git.example.com/ops.git//prod"; got != want {
		t.Errorf("policy %q, want %q", got, want)
	}
}
