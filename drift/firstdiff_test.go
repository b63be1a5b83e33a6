package drift

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFirstDifference(t *testing.T) {
	subjects := func(extra map[string]any) []any {
		s := map[string]any{"kind": "User", "name": "alice"}
		for k, v := range extra {
			s[k] = v
		}
		return []any{map[string]any{"kind": "ServiceAccount", "name": "ci"}, s}
	}
	tests := []struct {
		name          string
		desired, live any
		want          string
	}{
		{"a key only live has", subjects(nil), subjects(map[string]any{"apiGroup": "rbac.authorization.k8s.io"}),
			`[1].apiGroup: desired <absent>, live "rbac.authorization.k8s.io"`},
		{"an item only live has", []any{"get", "list"}, []any{"get", "list", "delete"}, `[2]: desired <absent>, live "delete"`},
		{"an item only desired has", []any{"get", "list"}, []any{"get"}, `[1]: desired "list", live <absent>`},
		{"a scalar inside maps", map[string]any{"a": map[string]any{"b": int64(1)}}, map[string]any{"a": map[string]any{"b": int64(2)}}, `.a.b: desired 1, live 2`},
		{"numbers compare by value", map[string]any{"a": int64(1), "b": "x"}, map[string]any{"a": float64(1), "b": "y"}, `.b: desired "x", live "y"`},
		{"a key that needs quoting", map[string]any{"app.kubernetes.io/name": "a"}, map[string]any{"app.kubernetes.io/name": "b"}, `["app.kubernetes.io/name"]: desired "a", live "b"`},
		{"a map against a list", map[string]any{"a": 1}, []any{1}, "no difference located"},
		{"equal values", []any{"a"}, []any{"a"}, "no difference located"},
		{"scalars", "a", "b", "no difference located"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := "no difference located"
			if where, d, dok, l, lok, ok := FirstDifference(tt.desired, tt.live); ok {
				side := func(v any, has bool) string {
					if !has {
						return "<absent>"
					}
					return fmt.Sprintf("%#v", v)
				}
				got = where + ": desired " + side(d, dok) + ", live " + side(l, lok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestApplierOwnsDrift: a drifted value owned by the manager that applied
// Git is marked as such (nobody changed it later); one owned by another
// manager is not.
func TestApplierOwnsDrift(t *testing.T) {
	desired := obj(t, deployDesired)
	live := obj(t, withManagers("apiVersion: apps/v1\nkind: Deployment\nspec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: app, image: 'web:2', env: [{name: A, value: '2'}]}]}}}\nmetadata:\n  name: web\n  labels: {app: web}\n",
		entry("gitops", "Apply", `{"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:selector": {}, "f:template": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:name": {}, "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}}}}}}}}`),
		entry("kubectl-edit", "Update", `{"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {"f:image": {}}}}}}}`)))
	var got []string
	for _, d := range Compare(desired, live, Options{}) {
		got = append(got, fmt.Sprintf("%s %s applier=%v", d.Path, d.ChangedBy.Manager, d.ChangedBy.Applier))
	}
	want := []string{
		"spec.template.spec.containers[name=app].env[name=A].value gitops applier=true",
		"spec.template.spec.containers[name=app].image kubectl-edit applier=false",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
