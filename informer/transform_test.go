package informer

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func TestDefaultTransform(t *testing.T) {
	const obj = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"whole":"object"}'
    team: payments
  managedFields:
  - manager: gitops
    operation: Apply
    fieldsType: FieldsV1
    fieldsV1:
      f:spec:
        f:replicas: {}
        f:template:
          f:spec:
            f:containers:
              k:{"name":"app"}:
                .: {}
                f:image: {}
  - manager: kubectl-edit
    operation: Update
    fieldsType: FieldsV1
    fieldsV1: {"f:metadata": {"f:annotations": {"f:team": {}, "f:a\\b\"c\u0001": {}}}}
spec:
  replicas: 3
`
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(obj), &u.Object); err != nil {
		t.Fatal(err)
	}
	before := u.DeepCopy()
	out, err := DefaultTransform(u)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*unstructured.Unstructured)
	if diff := cmp.Diff(map[string]string{"team": "payments"}, got.GetAnnotations()); diff != "" {
		t.Errorf("annotations (-want +got):\n%s", diff)
	}
	wantMFs, _, _ := unstructured.NestedSlice(before.Object, "metadata", "managedFields")
	gotMFs, _, _ := unstructured.NestedSlice(got.Object, "metadata", "managedFields")
	if len(gotMFs) != len(wantMFs) {
		t.Fatalf("managedFields: %d entries, want %d", len(gotMFs), len(wantMFs))
	}
	for i := range wantMFs {
		w, g := wantMFs[i].(map[string]any), gotMFs[i].(map[string]any)
		text, ok := g["fieldsV1"].(string)
		if !ok {
			t.Errorf("entry %d: fieldsV1 is %T, want the compact text", i, g["fieldsV1"])
			continue
		}
		var tree map[string]any
		if err := json.Unmarshal([]byte(text), &tree); err != nil {
			t.Errorf("entry %d: compact text is no JSON: %v", i, err)
		}
		if diff := cmp.Diff(w["fieldsV1"], tree); diff != "" {
			t.Errorf("entry %d: fieldsV1 after a round trip (-want +got):\n%s", i, diff)
		}
		if g["manager"] != w["manager"] || g["operation"] != w["operation"] {
			t.Errorf("entry %d: %v, want %v", i, g, w)
		}
	}
	if diff := cmp.Diff(before.Object["spec"], got.Object["spec"]); diff != "" {
		t.Errorf("spec changed (-want +got):\n%s", diff)
	}
	// Already compacted objects (a resync) are left as they are.
	again, _ := DefaultTransform(got.DeepCopy())
	if diff := cmp.Diff(got.Object, again.(*unstructured.Unstructured).Object); diff != "" {
		t.Errorf("second transform changed the object (-first +second):\n%s", diff)
	}
}

// TestPackTransform: a packed object is a small stub in the cache and
// unpacks to exactly the object that came in (last-applied and status
// dropped).
func TestPackTransform(t *testing.T) {
	in := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{
			"name": "web", "namespace": "prod", "resourceVersion": "42", "uid": "u-1",
			"labels":      map[string]any{"app": "web", "tier": "", "app.kubernetes.io/name": "web"},
			"annotations": map[string]any{lastApplied: `{"whole":"object"}`, "team": "payments"},
			"managedFields": []any{map[string]any{"manager": "gitops", "operation": "Apply",
				"fieldsV1": map[string]any{"f:spec": map[string]any{"f:replicas": map[string]any{}}}}},
		},
		"spec":   map[string]any{"replicas": int64(3), "ratio": 0.5, "paused": false, "list": []any{"a", int64(1)}},
		"status": map[string]any{"readyReplicas": int64(3)},
	}}
	want := in.DeepCopy()
	unstructured.RemoveNestedField(want.Object, "metadata", "annotations", lastApplied)
	unstructured.RemoveNestedField(want.Object, "status")
	out, err := PackTransform(in)
	if err != nil {
		t.Fatal(err)
	}
	stub, ok := out.(*packedObject)
	if !ok {
		t.Fatalf("PackTransform made a %T, want a *packedObject", out)
	}
	wantMeta := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{
		"name": "web", "namespace": "prod", "resourceVersion": "42", "uid": "u-1",
		"labels": map[string]any{"app": "web", "tier": "", "app.kubernetes.io/name": "web"},
	}}
	if diff := cmp.Diff(wantMeta, stub.metadata().Object); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"app": "web", "tier": "", "app.kubernetes.io/name": "web"}, stub.GetLabels()); diff != "" {
		t.Errorf("GetLabels (-want +got):\n%s", diff)
	}
	again, _ := PackTransform(stub)
	if again != stub {
		t.Error("packing a packed object (a resync, a watch-list's Replace) made a new one")
	}
	got, err := Unpack(stub)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.Object, got.Object); diff != "" {
		t.Errorf("unpacked (-want +got):\n%s", diff)
	}
	if plain, _ := Unpack(want); plain != want {
		t.Error("Unpack of an unpacked object is not the object itself")
	}

	// A copy has its own body: releasing the stub leaves the copy whole.
	cp := stub.DeepCopyObject().(*packedObject)
	stub.release()
	if _, err := Unpack(stub); !errors.Is(err, ErrReleased) {
		t.Errorf("Unpack after release: %v, want ErrReleased", err)
	}
	if diff := cmp.Diff(wantMeta, stub.metadata().Object); diff != "" {
		t.Errorf("metadata after release (-want +got):\n%s", diff)
	}
	if got, err := Unpack(cp); err != nil || got.GetName() != "web" {
		t.Errorf("Unpack of the copy after the original's release: %v, %v", got, err)
	}
}

// TestPackTransformLeavesUnpackable: metadata a stub cannot hold (labels
// that are not strings or hold its separator; the API server accepts
// neither) leaves the object unpacked, still without last-applied.
func TestPackTransformLeavesUnpackable(t *testing.T) {
	for name, labels := range map[string]map[string]any{
		"number":    {"n": int64(1)},
		"separator": {"a\x00b": "c"},
	} {
		in := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "cm", "labels": labels,
				"annotations": map[string]any{lastApplied: "{}"}},
		}}
		out, err := PackTransform(in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		u, ok := out.(*unstructured.Unstructured)
		if !ok || u.GetName() != "cm" || len(u.GetAnnotations()) != 0 {
			t.Errorf("%s: %T %v, want the object as it came, without last-applied", name, out, out)
		}
	}
}
