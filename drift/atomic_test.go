package drift

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// crdVersionsSchema is the part of a CustomResourceDefinition's schema that
// matters here: spec.versions is an atomic list (+listType=atomic), so
// server-side apply owns it, and replaces it, as one field.
var crdVersionsSchema = &Schema{Properties: map[string]*Schema{
	"spec": {Properties: map[string]*Schema{
		"versions": {ListType: "atomic", Items: &Schema{Properties: map[string]*Schema{
			"name": {}, "served": {}, "storage": {},
			"additionalPrinterColumns": {ListType: "atomic", Items: &Schema{Properties: map[string]*Schema{
				"name": {}, "type": {}, "jsonPath": {}, "priority": {},
			}}},
			"schema": {Properties: map[string]*Schema{"openAPIV3Schema": {PreserveUnknown: true}}},
		}}},
	}},
}}

// webhookSchema: webhooks keyed by name, their rules an atomic list whose
// items the API server defaults (scope "*"), with a keyed list inside.
var webhookSchema = &Schema{Properties: map[string]*Schema{
	"webhooks": {ListType: "map", ListKeys: []string{"name"}, Items: &Schema{Properties: map[string]*Schema{
		"name": {},
		"rules": {ListType: "atomic", Items: &Schema{Properties: map[string]*Schema{
			"apiGroups": {ListType: "atomic", Items: &Schema{}},
			"resources": {ListType: "atomic", Items: &Schema{}},
			"scope":     {},
			"params":    {ListType: "map", ListKeys: []string{"name"}, Items: &Schema{Properties: map[string]*Schema{"name": {}, "value": {}}}},
		}}},
		"selector": {Atomic: true, Properties: map[string]*Schema{"matchLabels": {Additional: &Schema{}}}},
	}}},
}}

// stsSchema: a StatefulSet's volumeClaimTemplates, an atomic list of
// embedded PersistentVolumeClaims.
var stsSchema = &Schema{Properties: map[string]*Schema{
	"spec": {Properties: map[string]*Schema{
		"volumeClaimTemplates": {ListType: "atomic", Items: &Schema{Properties: map[string]*Schema{
			"apiVersion": {}, "kind": {}, "metadata": {Properties: map[string]*Schema{"name": {}}},
			"spec": {Properties: map[string]*Schema{
				"accessModes": {ListType: "atomic", Items: &Schema{}},
				"dataSource":  {Atomic: true, Properties: map[string]*Schema{"apiVersion": {}, "kind": {}, "name": {}}},
			}},
		}}},
	}},
}}

// scopeDefaulter is the API server's defaulting of webhook rules.
func scopeDefaulter(u *unstructured.Unstructured) *unstructured.Unstructured {
	out := u.DeepCopy()
	ws, _, _ := unstructured.NestedSlice(out.Object, "webhooks")
	for _, w := range ws {
		rules, _ := w.(map[string]any)["rules"].([]any)
		for _, r := range rules {
			if m := r.(map[string]any); m["scope"] == nil {
				m["scope"] = "*"
			}
		}
	}
	_ = unstructured.SetNestedSlice(out.Object, ws, "webhooks")
	return out
}

// Server-side apply replaces an atomic list whole: a field another manager
// added inside one of its items, which Git does not set, is gone once Git
// is applied again, so it is drift at the list (found on the CRDs of
// testdata/realworld: a printer column added to a version). A zero value,
// a declared default, or a default the server writes is not.
func TestCompareAtomicListItemsStrictly(t *testing.T) {
	const crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.x.dev}\nspec:\n  versions:\n"
	const hook = "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: h}\n"
	const sts = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n"
	tests := []struct {
		name          string
		schema        *Schema
		defaulter     Defaulter
		desired, live string
		want          []string
	}{
		{"a printer column added to an atomic list's item", crdVersionsSchema, nil,
			crd + "  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}\n",
			crd + "  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}},\n     additionalPrinterColumns: [{name: Edited, type: string, jsonPath: .metadata.name}]}\n",
			[]string{"spec.versions"}},
		{"a field added deeper inside the item", crdVersionsSchema, nil,
			crd + "  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}\n",
			crd + "  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, description: added}}}\n",
			[]string{"spec.versions"}},
		{"a field added to an item of an atomic list inside the item", crdVersionsSchema, nil,
			crd + "  - {name: v1, served: true, storage: true, additionalPrinterColumns: [{name: Age, type: date, jsonPath: .metadata.creationTimestamp}]}\n",
			crd + "  - {name: v1, served: true, storage: true, additionalPrinterColumns: [{name: Age, type: date, jsonPath: .metadata.creationTimestamp, priority: 1}]}\n",
			[]string{"spec.versions"}},
		{"zero values the item holds live are not drift", crdVersionsSchema, nil,
			crd + "  - {name: v1, served: true, storage: true}\n",
			crd + "  - {name: v1, served: true, storage: true, additionalPrinterColumns: [], schema: {}}\n",
			nil},
		{"the same items are in sync", crdVersionsSchema, nil,
			crd + "  - {name: v1, served: true, storage: true, additionalPrinterColumns: [{name: Age, type: date, jsonPath: .metadata.creationTimestamp}]}\n",
			crd + "  - {name: v1, served: true, storage: true, additionalPrinterColumns: [{name: Age, type: date, jsonPath: .metadata.creationTimestamp}]}\n",
			nil},
		{"a server default in an atomic list's item is drift without the defaulter", webhookSchema, nil,
			hook + "webhooks: [{name: a, rules: [{apiGroups: [x.dev], resources: [widgets]}]}]\n",
			hook + "webhooks: [{name: a, rules: [{apiGroups: [x.dev], resources: [widgets], scope: '*'}]}]\n",
			[]string{"webhooks[name=a].rules"}},
		{"and is not drift with it", webhookSchema, scopeDefaulter,
			hook + "webhooks: [{name: a, rules: [{apiGroups: [x.dev], resources: [widgets]}]}]\n",
			hook + "webhooks: [{name: a, rules: [{apiGroups: [x.dev], resources: [widgets], scope: '*'}]}]\n",
			nil},
		{"a scope set by hand that is not the default stays drift", webhookSchema, scopeDefaulter,
			hook + "webhooks: [{name: a, rules: [{apiGroups: [x.dev], resources: [widgets]}]}]\n",
			hook + "webhooks: [{name: a, rules: [{apiGroups: [x.dev], resources: [widgets], scope: Namespaced}]}]\n",
			[]string{"webhooks[name=a].rules"}},
		{"an item added to a keyed list inside an atomic list", webhookSchema, scopeDefaulter,
			hook + "webhooks: [{name: a, rules: [{scope: '*', params: [{name: p, value: '1'}]}]}]\n",
			hook + "webhooks: [{name: a, rules: [{scope: '*', params: [{name: p, value: '1'}, {name: q, value: '2'}]}]}]\n",
			[]string{"webhooks[name=a].rules"}},
		{"a label added inside an atomic map's map", webhookSchema, nil,
			hook + "webhooks: [{name: a, selector: {matchLabels: {app: web}}}]\n",
			hook + "webhooks: [{name: a, selector: {matchLabels: {app: web, extra: x}}}]\n",
			[]string{"webhooks[name=a].selector"}},
		{"the apiVersion and kind the server writes into embedded objects", stsSchema, nil,
			sts + "  volumeClaimTemplates: [{metadata: {name: data}, spec: {accessModes: [ReadWriteOnce]}}]\n",
			sts + "  volumeClaimTemplates: [{apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: data}, spec: {accessModes: [ReadWriteOnce]}}]\n",
			nil},
		{"but not an apiVersion alone (a reference's, set by hand)", stsSchema, nil,
			sts + "  volumeClaimTemplates: [{metadata: {name: data}, spec: {dataSource: {name: snap}}}]\n",
			sts + "  volumeClaimTemplates: [{metadata: {name: data}, spec: {dataSource: {name: snap, apiVersion: v2}}}]\n",
			[]string{"spec.volumeClaimTemplates"}},
		{"without a schema a list only guessed atomic compares Git's fields", nil, nil,
			"apiVersion: v1\nkind: Thing\nmetadata: {name: t}\nspec: {ports: [{port: 80}]}\n",
			"apiVersion: v1\nkind: Thing\nmetadata: {name: t}\nspec: {ports: [{port: 80, protocol: TCP}]}\n",
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, d := range Compare(obj(t, tt.desired), obj(t, tt.live), Options{Schema: tt.schema, Defaults: tt.defaulter}) {
				got = append(got, d.Path)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("diff paths (-want +got):\n%s", diff)
			}
		})
	}
}
