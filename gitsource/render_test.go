package gitsource

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func ids(objs []Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, objectKey(o))
	}
	return out
}

func TestRender(t *testing.T) {
	root := filepath.Join("..", "testdata", "render")
	tests := []struct {
		name    string
		root    string
		path    string
		want    []string
		wantErr string
	}{
		{name: "plain tree skips hidden dirs and non-manifests", root: root, path: "plain",
			want: []string{"/ConfigMap ns1/one", "/ConfigMap /two", "rbac.authorization.k8s.io/ClusterRole /reader"}},
		{name: "json list expanded", root: root, path: "json-list",
			want: []string{"/ConfigMap /a", "/Secret /b"}},
		{name: "kustomize overlay with base", root: filepath.Join("..", "testdata", "demo"), path: "overlays/prod",
			want: []string{
				"/Namespace /demo", "apiextensions.k8s.io/CustomResourceDefinition /widgets.example.driftwatch.dev",
				"/ConfigMap demo/web-config", "apps/Deployment demo/web", "/Service demo/web",
				"example.driftwatch.dev/Widget demo/gizmo", "/Secret demo/web-credentials",
			}},
		{name: "invalid yaml names file and line", root: root, path: "invalid-yaml",
			wantErr: "invalid-yaml/zz-bad.yaml:11: invalid YAML"},
		{name: "duplicate objects", root: root, path: "dup",
			wantErr: "duplicate object Deployment prod/web (apps/v1): in dup/a.yaml:1 and dup/b.yaml:1"},
		{name: "missing kind", root: root, path: "no-kind", wantErr: "no-kind/x.yaml:1: object has no kind"},
		{name: "path not in repo", root: root, path: "nope", wantErr: `path "nope": path not found`},
		{name: "path is a manifest file", root: root, path: "plain/nested/b.yml",
			want: []string{"rbac.authorization.k8s.io/ClusterRole /reader"}},
		{name: "path is a file that is no manifest", root: root, path: "plain/README.md",
			wantErr: `path "plain/README.md": not a manifest file (.yaml, .yml or .json)`},
		{name: "path under a file", root: root, path: "plain/a.yaml/x", wantErr: `path "plain/a.yaml/x": not a directory`},
		{name: "path escaping root", root: root, path: "../demo", wantErr: "escapes the repository root"},
		{name: "kustomize base escaping root", root: filepath.Join(root, "escape"), path: ".",
			wantErr: `resource "../plain": path escapes the repository root`},
		{name: "symlink escaping root", root: filepath.Join(root, "symlink-escape"), path: ".",
			wantErr: `resource "cm.yaml": path escapes the repository root`},
		{name: "broken kustomization", root: root, path: "broken-kustomization",
			wantErr: "kustomize build broken-kustomization: "},
		{name: "a Helm chart at the path is rendered", root: root, path: "chart-tree/web",
			want: []string{"apps/Deployment /web"}},
		{name: "a Helm chart inside a plain tree is refused by name", root: root, path: "chart-tree",
			wantErr: `directory "chart-tree/web" is a Helm chart (Chart.yaml) inside a plain YAML tree: point --path at the chart`},
		{name: "remote base refused", root: root, path: "remote",
			wantErr: `remote reference "https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v1.0.6" is not allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Render(tt.root, tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error spans several lines: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ids(objs)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
		})
		t.Run(tt.name+" packed", func(t *testing.T) {
			// Packing changes how objects are held, never what they are.
			plain, plainErr := Render(tt.root, tt.path)
			r, err := RenderWith(context.Background(), tt.root, tt.path, RenderOptions{Pack: true})
			if plainErr != nil || err != nil {
				if fmt.Sprint(plainErr) != fmt.Sprint(err) {
					t.Fatalf("error packed = %v, not packed = %v", err, plainErr)
				}
				return
			}
			if diff := cmp.Diff(ids(plain), ids(r.Objects)); diff != "" {
				t.Errorf("objects (-not packed +packed):\n%s", diff)
			}
			if diff := cmp.Diff(plain, unpackAll(t, r.Objects)); diff != "" {
				t.Errorf("unpacked objects (-not packed +packed):\n%s", diff)
			}
		})
	}
}

// unpackAll unpacks objs, failing on any that was not packed.
func unpackAll(t *testing.T, objs []Object) []Object {
	t.Helper()
	out := make([]Object, 0, len(objs))
	for _, o := range objs {
		if o.Object != nil || o.Packed == nil {
			t.Fatalf("%s is not packed", o.Origin)
		}
		u, err := o.Unpack()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}

func TestRenderOverlayContent(t *testing.T) {
	objs, err := Render(filepath.Join("..", "testdata", "demo"), "overlays/prod")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.Object.GetKind() != "Deployment" {
			continue
		}
		got := o.Object.Object["spec"].(map[string]any)["replicas"]
		if diff := cmp.Diff(any(int64(3)), got); diff != "" {
			t.Errorf("replicas (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string]string{"app": "web", "env": "prod"}, o.Object.GetLabels()); diff != "" {
			t.Errorf("labels (-want +got):\n%s", diff)
		}
	}
}

func TestParseManifestsLines(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"tab indentation", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n", "f.yaml:4: invalid YAML"},
		{"scalar document", "just a string\n", "f.yaml:1: document is a string, not a Kubernetes object"},
		{"list document", "- a\n- b\n", "f.yaml:1: document is a list, not a Kubernetes object (a mapping with apiVersion and kind)"},
		{"generateName", "apiVersion: v1\nkind: Pod\nmetadata:\n  generateName: x-\n", "uses generateName"},
		{"second document", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: [}\n", "f.yaml:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseManifests("f.yaml", []byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
