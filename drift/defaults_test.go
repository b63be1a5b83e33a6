package drift

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// fieldRefDefaulter is what the API server's defaulting does to a
// downward-API variable: apiVersion v1 in the atomic fieldRef.
func fieldRefDefaulter(calls *int) Defaulter {
	return func(u *unstructured.Unstructured) *unstructured.Unstructured {
		*calls++
		out := u.DeepCopy()
		cs, _, _ := unstructured.NestedSlice(out.Object, "spec", "template", "spec", "containers")
		for _, c := range cs {
			for _, e := range c.(map[string]any)["env"].([]any) {
				if fr, ok, _ := unstructured.NestedMap(e.(map[string]any), "valueFrom", "fieldRef"); ok {
					fr["apiVersion"] = "v1"
					_ = unstructured.SetNestedMap(e.(map[string]any), fr, "valueFrom", "fieldRef")
				}
			}
		}
		_ = unstructured.SetNestedSlice(out.Object, cs, "spec", "template", "spec", "containers")
		// A default the live object does not hold (another server version,
		// say): it must not turn into drift.
		_ = unstructured.SetNestedField(out.Object, int64(600), "spec", "progressDeadlineSeconds")
		return out
	}
}

// atomicSchema declares fieldRef atomic, as the API server's schema does.
var atomicSchema = &Schema{Properties: map[string]*Schema{
	"spec": {Properties: map[string]*Schema{"template": {Properties: map[string]*Schema{"spec": {Properties: map[string]*Schema{
		"containers": {ListType: "map", ListKeys: []string{"name"}, Items: &Schema{Properties: map[string]*Schema{
			"env": {ListType: "map", ListKeys: []string{"name"}, Items: &Schema{Properties: map[string]*Schema{
				"valueFrom": {Properties: map[string]*Schema{"fieldRef": {Atomic: true, Additional: &Schema{}}}},
			}}},
		}}},
	}}}}}},
}}

// crdSchema is a custom resource's structural schema: an atomic list of
// schedules whose items default retain to 7, and an atomic map defaulting
// its mode.
var crdSchema = &Schema{Properties: map[string]*Schema{
	"spec": {Properties: map[string]*Schema{
		"schedules": {ListType: "atomic", Items: &Schema{Properties: map[string]*Schema{
			"cron": {}, "retain": {Default: int64(7)},
		}}},
		"target": {Atomic: true, Properties: map[string]*Schema{"name": {}, "mode": {Default: "copy"}}},
	}},
}}

func TestCompareDefaults(t *testing.T) {
	const deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {template: {spec: {containers: [{name: app, env: [{name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: %s}}}]}]}}}\n"
	const deployLive = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {template: {spec: {containers: [{name: app, env: [{name: POD_NAMESPACE, valueFrom: {fieldRef: {apiVersion: v1, fieldPath: %s}}}]}]}}}\n"
	tests := []struct {
		name          string
		schema        *Schema
		withDefaulter bool
		desired, live string
		want          []string // diff paths
		wantCalls     int      // Defaulter calls
	}{
		{"a server default in an atomic map is drift without the defaulter", atomicSchema, false,
			fmt.Sprintf(deploy, "metadata.namespace"), fmt.Sprintf(deployLive, "metadata.namespace"),
			[]string{"spec.template.spec.containers[name=app].env[name=POD_NAMESPACE].valueFrom.fieldRef"}, 0},
		{"and is not drift with it", atomicSchema, true,
			fmt.Sprintf(deploy, "metadata.namespace"), fmt.Sprintf(deployLive, "metadata.namespace"), nil, 1},
		{"a real change in the same atomic map stays drift", atomicSchema, true,
			fmt.Sprintf(deploy, "metadata.namespace"), fmt.Sprintf(deployLive, "metadata.name"),
			[]string{"spec.template.spec.containers[name=app].env[name=POD_NAMESPACE].valueFrom.fieldRef"}, 1},
		{"objects in sync never ask the defaulter", atomicSchema, true,
			fmt.Sprintf(deployLive, "metadata.namespace"), fmt.Sprintf(deployLive, "metadata.namespace"), nil, 0},
		{"a CRD default in an atomic list's items", crdSchema, false,
			"apiVersion: x/v1\nkind: Backup\nmetadata: {name: b}\nspec: {schedules: [{cron: '@daily'}, {cron: '@weekly', retain: 4}]}\n",
			"apiVersion: x/v1\nkind: Backup\nmetadata: {name: b}\nspec: {schedules: [{cron: '@daily', retain: 7}, {cron: '@weekly', retain: 4}]}\n",
			nil, 0},
		{"a changed value where the CRD has a default stays drift", crdSchema, false,
			"apiVersion: x/v1\nkind: Backup\nmetadata: {name: b}\nspec: {schedules: [{cron: '@daily', retain: 4}, {cron: '@weekly'}]}\n",
			"apiVersion: x/v1\nkind: Backup\nmetadata: {name: b}\nspec: {schedules: [{cron: '@daily', retain: 3}, {cron: '@weekly', retain: 7}]}\n",
			[]string{"spec.schedules"}, 0},
		{"a CRD default in an atomic map", crdSchema, false,
			"apiVersion: x/v1\nkind: Backup\nmetadata: {name: b}\nspec: {target: {name: db}}\n",
			"apiVersion: x/v1\nkind: Backup\nmetadata: {name: b}\nspec: {target: {name: db, mode: copy}}\n",
			nil, 0},
		{"a value set by hand where the CRD defaults another", crdSchema, false,
			"apiVersion: x/v1\nkind: Backup\nmetadata: {name: b}\nspec: {target: {name: db}}\n",
			"apiVersion: x/v1\nkind: Backup\nmetadata: {name: b}\nspec: {target: {name: db, mode: move}}\n",
			[]string{"spec.target"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			opts := Options{Schema: tt.schema}
			if tt.withDefaulter {
				opts.Defaults = fieldRefDefaulter(&calls)
			}
			desired, live := obj(t, tt.desired), obj(t, tt.live)
			before := desired.DeepCopy()
			var got []string
			for _, d := range Compare(desired, live, opts) {
				got = append(got, d.Path)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("diff paths (-want +got):\n%s", diff)
			}
			if calls != tt.wantCalls {
				t.Errorf("defaulter called %d times, want %d", calls, tt.wantCalls)
			}
			if diff := cmp.Diff(before.Object, desired.Object); diff != "" {
				t.Errorf("Compare modified desired (-before +after):\n%s", diff)
			}
		})
	}
}
