package drift

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// ConfirmFieldManager is the field manager of confirmation dry runs.
const ConfirmFieldManager = "driftwatch"

// ServerConfirmer confirms suspected drift with a server-side apply dry
// run (force, field manager "driftwatch"): the API server applies the
// desired object with its own defaulting, conversion and admission webhooks
// and returns the result without storing it. Drift on a field where that
// result equals the live object is not real (the server would not change
// it). Needs the patch verb on the resources checked.
type ServerConfirmer struct {
	Client dynamic.Interface
}

var _ Confirmer = ServerConfirmer{}

// DryRun returns what applying t's desired object would produce.
func (s ServerConfirmer) DryRun(ctx context.Context, t Target) (*unstructured.Unstructured, error) {
	u := t.Object.Object.DeepCopy()
	u.SetNamespace(t.Namespace)
	// Fields that only describe a stored object would make the apply fail.
	u.SetResourceVersion("")
	u.SetUID("")
	u.SetManagedFields(nil)
	u.SetCreationTimestamp(metav1.Time{})
	unstructured.RemoveNestedField(u.Object, "status")
	data, err := json.Marshal(u.Object)
	if err != nil {
		return nil, err
	}
	var ri dynamic.ResourceInterface = s.Client.Resource(t.Scope.GVR)
	if t.Namespace != "" {
		ri = s.Client.Resource(t.Scope.GVR).Namespace(t.Namespace)
	}
	force := true
	out, err := ri.Patch(ctx, u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{
		FieldManager: ConfirmFieldManager, Force: &force, DryRun: []string{metav1.DryRunAll},
	})
	if err != nil {
		return nil, fmt.Errorf("server-side dry run: %w", err)
	}
	return out, nil
}

// confirmed keeps the diffs at which the dry-run result differs from live.
func confirmed(diffs []FieldDiff, applied, live *unstructured.Unstructured) []FieldDiff {
	var out []FieldDiff
	for _, d := range diffs {
		av, aok := lookupPath(applied.Object, d.path)
		lv, lok := lookupPath(live.Object, d.path)
		if aok != lok || (aok && !valueEqual(nodeOf(d.path), av, lv)) {
			out = append(out, d)
		}
	}
	return out
}

// lookupPath finds the value at p in obj.
func lookupPath(obj any, p Path) (any, bool) {
	cur := obj
	for _, s := range p {
		switch {
		case s.isField():
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[s.Field]; !ok {
				return nil, false
			}
		case len(s.Keys) > 0:
			l, ok := cur.([]any)
			if !ok {
				return nil, false
			}
			found := false
			for _, it := range l {
				m, ok := it.(map[string]any)
				if ok && keysMatch(m, s.Keys) {
					cur, found = it, true
					break
				}
			}
			if !found {
				return nil, false
			}
		default:
			l, ok := cur.([]any)
			if !ok || s.Index >= len(l) {
				return nil, false
			}
			cur = l[s.Index]
		}
	}
	return cur, true
}

// keysMatch reports whether an item has the key values of a path step. A
// key the item lacks matches (it was filled from a schema default).
func keysMatch(m map[string]any, kvs []KeyValue) bool {
	for _, kv := range kvs {
		v, ok := m[kv.Key]
		if !ok {
			continue
		}
		if f, isNum := number(v); isNum {
			v = f
		}
		if keyText(v) != kv.Value {
			return false
		}
	}
	return true
}
