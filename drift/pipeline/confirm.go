package pipeline

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
