package gitsource

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestPackedIdentity(t *testing.T) {
	type identity struct {
		GVK             schema.GroupVersionKind
		APIVersion      string
		Kind, Namespace string
		Name            string
		Labels          map[string]string
	}
	idOf := func(o Object) identity {
		return identity{o.GroupVersionKind(), o.GetAPIVersion(), o.GetKind(), o.GetNamespace(), o.GetName(), o.GetLabels()}
	}
	tests := []struct {
		name string
		obj  map[string]any
	}{
		{"namespaced with labels", map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "web", "namespace": "prod", "labels": map[string]any{"b": "2", "a": "1"}},
			"spec":     map[string]any{"replicas": int64(3)}}},
		{"cluster-scoped without labels", map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
			"metadata": map[string]any{"name": "reader"}}},
		{"core group", map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "c", "labels": map[string]any{}}, "data": map[string]any{"k": "v"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Object{Object: &unstructured.Unstructured{Object: tt.obj}, Origin: "f.yaml:1"}
			want := idOf(o)
			p, err := o.Pack()
			if err != nil {
				t.Fatal(err)
			}
			if p.Object != nil || p.Packed == nil {
				t.Fatalf("Pack left Object %v, Packed %v", p.Object, p.Packed)
			}
			if diff := cmp.Diff(want, idOf(p), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("identity (-maps +packed):\n%s", diff)
			}
			again, err := p.Pack()
			if err != nil || again.Packed != p.Packed {
				t.Errorf("packing a packed object: %v, %v", again.Packed, err)
			}
			u, err := p.Unpack()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(o, u); diff != "" {
				t.Errorf("unpacked (-before +after):\n%s", diff)
			}
		})
	}
}
