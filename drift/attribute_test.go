package drift

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// scaleEntry is the managedFields entry kubectl v1.37's `kubectl scale`
// writes: its own user-agent name, Update, through the scale subresource,
// here without a time as some such entries are.
const scaleEntry = "  - {manager: kubectl, operation: Update, subresource: scale, apiVersion: apps/v1, fieldsType: FieldsV1, fieldsV1: {\"f:spec\": {\"f:replicas\": {}}}}\n"

// deployApplierReplicas is deployApplier owning replicas too.
const deployApplierReplicas = `{"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:name": {}, "f:image": {}, "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}}}}}}}}`

// TestAttributeSubresource: a change made through a subresource is
// attributed with it, an entry without a time has none, and kubectl scale
// is told from kubectl apply --server-side though both are "kubectl": it is
// neither Git's applier nor silent when Git does not set replicas.
func TestAttributeSubresource(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	liveDeploy := func(replicas string) string {
		return "apiVersion: apps/v1\nkind: Deployment\nspec: {replicas: " + replicas + ", selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: app, image: 'web:1', env: [{name: A, value: '1'}]}]}}}\nmetadata:\n  name: web\n  labels: {app: web}\n"
	}
	desiredWith3 := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, labels: {app: web}}\nspec: {replicas: 3, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: app, image: 'web:1', env: [{name: A, value: '1'}]}]}}}\n"
	tests := []struct {
		name          string
		desired, live string
		want          []FieldDiff
	}{
		{"kubectl scale after kubectl apply --server-side: not the applier", desiredWith3,
			withManagers(liveDeploy("5"), entry("kubectl", "Apply", deployApplier), scaleEntry),
			[]FieldDiff{{Path: "spec.replicas", Type: Changed, Desired: int64(3), Live: int64(5),
				ChangedBy: &ChangedBy{Manager: "kubectl", Operation: "Update", Subresource: "scale"}}}},
		{"the applier's own value, with its time", desiredWith3,
			withManagers(liveDeploy("5"), entry("kubectl", "Apply", deployApplierReplicas)),
			[]FieldDiff{{Path: "spec.replicas", Type: Changed, Desired: int64(3), Live: int64(5),
				ChangedBy: &ChangedBy{Manager: "kubectl", Operation: "Apply", Time: &at, Applier: true}}}},
		{"kubectl scale where Git sets no replicas: added by hand", deployDesired,
			withManagers(liveDeploy("5"), entry("kubectl", "Apply", deployApplier), scaleEntry),
			[]FieldDiff{{Path: "spec.replicas", Type: Added, Live: int64(5),
				ChangedBy: &ChangedBy{Manager: "kubectl", Operation: "Update", Subresource: "scale"}}}},
		{"a field kubectl apply --server-side added is not a hand edit", deployDesired,
			withManagers(liveDeploy("5"), entry("gitops", "Apply", deployApplier), entry("kubectl", "Apply", `{"f:spec": {"f:replicas": {}}}`)),
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compare(obj(t, tt.desired), obj(t, tt.live), Options{Added: &AddedPolicy{}})
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(FieldDiff{}), cmp.FilterPath(func(p cmp.Path) bool {
				return p.Last().String() == ".path" // the parsed path, beside Path
			}, cmp.Ignore())); diff != "" {
				t.Errorf("diffs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestChangedByJSON: the subresource is in the report when there is one,
// and a report written before it existed still reads.
func TestChangedByJSON(t *testing.T) {
	for _, tt := range []struct {
		name string
		by   ChangedBy
		json string
	}{
		{"the object itself", ChangedBy{Manager: "kubectl-edit", Operation: "Update"}, `{"manager":"kubectl-edit","operation":"Update"}`},
		{"through a subresource", ChangedBy{Manager: "kubectl", Operation: "Update", Subresource: "scale"}, `{"manager":"kubectl","operation":"Update","subresource":"scale"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.by)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.json, string(b)); diff != "" {
				t.Errorf("JSON (-want +got):\n%s", diff)
			}
			var back ChangedBy
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.by, back); diff != "" {
				t.Errorf("read back (-want +got):\n%s", diff)
			}
		})
	}
}
