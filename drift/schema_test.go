package drift

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The fixtures are real OpenAPI v3 documents cut down from what the API
// server publishes; testdata/openapi/README.md says where each comes from.
const (
	appsV1Doc       = "apis__apps__v1.json"
	appsV1LegacyDoc = "apis__apps__v1_legacy.json"
	apiextV1Doc     = "apis__apiextensions.k8s.io__v1.json"
)

var (
	deploymentGVK    = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	deleteOptionsGVK = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DeleteOptions"}
	crdGVK           = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}
	widgetGVK        = schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}
)

func readOpenAPIFixture(t *testing.T, name string) *OpenAPIDocument {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "openapi", name))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ParseOpenAPI(b)
	if err != nil {
		t.Fatalf("ParseOpenAPI(%s): %v", name, err)
	}
	return doc
}

func parseOpenAPIString(t *testing.T, s string) *OpenAPIDocument {
	t.Helper()
	doc, err := ParseOpenAPI([]byte(s))
	if err != nil {
		t.Fatalf("ParseOpenAPI: %v", err)
	}
	return doc
}

// schemaAt walks a dotted path of property names through Field; a "[]"
// suffix steps into list items through Item. It relies on both being
// nil-safe.
func schemaAt(s *Schema, path string) *Schema {
	if path == "" {
		return s
	}
	for _, step := range strings.Split(path, ".") {
		name, item := strings.CutSuffix(step, "[]")
		if name != "" {
			s = s.Field(name)
		}
		if item {
			s = s.Item()
		}
	}
	return s
}

// schemaFacts is the flat, comparable view of one Schema node: its own
// facts, the names of its properties, and whether it has map-value and
// list-item schemas (not their content, which rows check by path).
type schemaFacts struct {
	Properties      []string
	Additional      bool
	Items           bool
	ListType        string
	ListKeys        []string
	Atomic          bool
	Quantity        bool
	IntOrString     bool
	PreserveUnknown bool
	Default         any
}

func factsOf(s *Schema) *schemaFacts {
	if s == nil {
		return nil
	}
	f := &schemaFacts{
		Additional:      s.Additional != nil,
		Items:           s.Items != nil,
		ListType:        s.ListType,
		ListKeys:        s.ListKeys,
		Atomic:          s.Atomic,
		Quantity:        s.Quantity,
		IntOrString:     s.IntOrString,
		PreserveUnknown: s.PreserveUnknown,
		Default:         s.Default,
	}
	for name := range s.Properties {
		f.Properties = append(f.Properties, name)
	}
	slices.Sort(f.Properties)
	return f
}

func TestOpenAPIKind(t *testing.T) {
	apps := readOpenAPIFixture(t, appsV1Doc)
	tests := []struct {
		name string
		gvk  schema.GroupVersionKind
		want bool
	}{
		{"declared kind", deploymentGVK, true},
		// DeleteOptions lists one x-kubernetes-group-version-kind per group.
		{"second of several GVKs", deleteOptionsGVK, true},
		{"first of several GVKs", schema.GroupVersionKind{Version: "v1", Kind: "DeleteOptions"}, true},
		{"unknown kind", schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}, false},
		{"other version", schema.GroupVersionKind{Group: "apps", Version: "v1beta1", Kind: "Deployment"}, false},
		{"other group", schema.GroupVersionKind{Group: "extensions", Version: "v1", Kind: "Deployment"}, false},
		{"component without GVK", schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DeploymentSpec"}, false},
		{"case matters", schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "deployment"}, false},
		{"zero GVK", schema.GroupVersionKind{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := apps.Kind(tt.gvk)
			if diff := cmp.Diff(tt.want, got != nil); diff != "" {
				t.Errorf("Kind(%v) != nil (-want +got):\n%s", tt.gvk, diff)
			}
		})
	}

	t.Run("memoised", func(t *testing.T) {
		if a, b := apps.Kind(deploymentGVK), apps.Kind(deploymentGVK); a != b {
			t.Errorf("two Kind(%v) calls built two schemas", deploymentGVK)
		}
		core := apps.Kind(schema.GroupVersionKind{Version: "v1", Kind: "DeleteOptions"})
		if core != apps.Kind(deleteOptionsGVK) {
			t.Error("GVKs of one component schema got different schemas")
		}
	})

	t.Run("empty documents", func(t *testing.T) {
		for _, doc := range []string{`{}`, `null`, `{"components": {}}`, `{"components": {"schemas": {}}}`} {
			if got := parseOpenAPIString(t, doc).Kind(deploymentGVK); got != nil {
				t.Errorf("Kind in %s = %+v, want nil", doc, got)
			}
		}
	})
}

func TestOpenAPIKindConcurrent(t *testing.T) {
	apps := readOpenAPIFixture(t, appsV1Doc)
	var wg sync.WaitGroup
	got := make([]*Schema, 16)
	for i := range got {
		wg.Go(func() {
			gvk := deploymentGVK
			if i%2 == 1 {
				gvk = deleteOptionsGVK
			}
			got[i] = apps.Kind(gvk)
		})
	}
	wg.Wait()
	for i := range got {
		if got[i] == nil || got[i] != got[i%2] {
			t.Fatalf("goroutine %d got schema %p, goroutine %d got %p", i, got[i], i%2, got[i%2])
		}
	}
}

func TestOpenAPISchemaFacts(t *testing.T) {
	docs := map[string]*OpenAPIDocument{}
	for _, name := range []string{appsV1Doc, appsV1LegacyDoc, apiextV1Doc} {
		docs[name] = readOpenAPIFixture(t, name)
	}
	const (
		pod     = "spec.template.spec."
		jsProps = "spec.versions[].schema.openAPIV3Schema."
	)
	jsonSchemaProps := []string{"allOf", "default", "items", "not", "properties", "required", "type",
		"x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-validations"}
	tests := []struct {
		name string
		doc  string
		gvk  schema.GroupVersionKind
		path string
		want *schemaFacts
	}{
		// Current apps/v1: lists carry x-kubernetes-list-type.
		{"kind root", appsV1Doc, deploymentGVK, "",
			&schemaFacts{Properties: []string{"apiVersion", "kind", "metadata", "spec"}}},
		{"scalar property", appsV1Doc, deploymentGVK, "spec.replicas", &schemaFacts{}},
		{"undeclared property", appsV1Doc, deploymentGVK, "spec.bogus", nil},
		{"below an undeclared property", appsV1Doc, deploymentGVK, "spec.bogus.deeper[].still", nil},
		{"allOf $ref with default", appsV1Doc, deploymentGVK, "metadata",
			&schemaFacts{Properties: []string{"annotations", "finalizers", "labels", "name", "namespace", "ownerReferences"}, Default: map[string]any{}}},
		{"additionalProperties string map", appsV1Doc, deploymentGVK, "metadata.labels", &schemaFacts{Additional: true}},
		{"additionalProperties value", appsV1Doc, deploymentGVK, "metadata.labels.app", &schemaFacts{}},
		{"list-type set", appsV1Doc, deploymentGVK, "metadata.finalizers", &schemaFacts{Items: true, ListType: "set"}},
		{"list-type map", appsV1Doc, deploymentGVK, "metadata.ownerReferences",
			&schemaFacts{Items: true, ListType: "map", ListKeys: []string{"uid"}}},
		{"$ref item of map-type atomic", appsV1Doc, deploymentGVK, "metadata.ownerReferences[]",
			&schemaFacts{Properties: []string{"apiVersion", "kind", "name", "uid"}, Atomic: true}},
		{"allOf $ref to map-type atomic", appsV1Doc, deploymentGVK, "spec.selector",
			&schemaFacts{Properties: []string{"matchExpressions", "matchLabels"}, Atomic: true}},
		{"list-type atomic", appsV1Doc, deploymentGVK, "spec.selector.matchExpressions", &schemaFacts{Items: true, ListType: "atomic"}},
		{"retainKeys object is no list", appsV1Doc, deploymentGVK, "spec.strategy",
			&schemaFacts{Properties: []string{"rollingUpdate", "type"}, Default: map[string]any{}}},
		{"allOf IntOrString", appsV1Doc, deploymentGVK, "spec.strategy.rollingUpdate.maxSurge", &schemaFacts{IntOrString: true}},
		{"map list with one key", appsV1Doc, deploymentGVK, pod + "containers",
			&schemaFacts{Items: true, ListType: "map", ListKeys: []string{"name"}}},
		{"map list with two keys", appsV1Doc, deploymentGVK, pod + "containers[].ports",
			&schemaFacts{Items: true, ListType: "map", ListKeys: []string{"containerPort", "protocol"}}},
		{"string default", appsV1Doc, deploymentGVK, pod + "containers[].ports[].protocol", &schemaFacts{Default: "TCP"}},
		{"number default", appsV1Doc, deploymentGVK, pod + "containers[].ports[].containerPort", &schemaFacts{Default: float64(0)}},
		{"empty string default", appsV1Doc, deploymentGVK, pod + "containers[].name", &schemaFacts{Default: ""}},
		{"annotated atomic list", appsV1Doc, deploymentGVK, pod + "containers[].args", &schemaFacts{Items: true, ListType: "atomic"}},
		{"Quantity map value", appsV1Doc, deploymentGVK, pod + "containers[].resources.limits.cpu", &schemaFacts{Quantity: true}},
		{"Quantity map", appsV1Doc, deploymentGVK, pod + "overhead", &schemaFacts{Additional: true}},
		{"allOf Quantity", appsV1Doc, deploymentGVK, pod + "volumes[].emptyDir.sizeLimit", &schemaFacts{Quantity: true}},
		{"merge,retainKeys list with list type", appsV1Doc, deploymentGVK, pod + "volumes",
			&schemaFacts{Items: true, ListType: "map", ListKeys: []string{"name"}}},
		{"map-type atomic map", appsV1Doc, deploymentGVK, pod + "nodeSelector", &schemaFacts{Additional: true, Atomic: true}},
		{"atomic list of objects", appsV1Doc, deploymentGVK, pod + "tolerations", &schemaFacts{Items: true, ListType: "atomic"}},

		// Older apps/v1: lists carry only strategic-merge annotations.
		{"patch-merge-key list", appsV1LegacyDoc, deploymentGVK, pod + "containers",
			&schemaFacts{Items: true, ListType: "map", ListKeys: []string{"name"}}},
		{"merge,retainKeys list", appsV1LegacyDoc, deploymentGVK, pod + "volumes",
			&schemaFacts{Items: true, ListType: "map", ListKeys: []string{"name"}}},
		{"list type wins over merge key", appsV1LegacyDoc, deploymentGVK, pod + "containers[].ports",
			&schemaFacts{Items: true, ListType: "map", ListKeys: []string{"containerPort", "protocol"}}},
		{"merge list without key is a set", appsV1LegacyDoc, deploymentGVK, "metadata.finalizers",
			&schemaFacts{Items: true, ListType: "set"}},
		{"patch-merge-key uid", appsV1LegacyDoc, deploymentGVK, "metadata.ownerReferences",
			&schemaFacts{Items: true, ListType: "map", ListKeys: []string{"uid"}}},
		{"unannotated list of objects", appsV1LegacyDoc, deploymentGVK, pod + "tolerations", &schemaFacts{Items: true, ListType: "atomic"}},
		{"unannotated list of strings", appsV1LegacyDoc, deploymentGVK, pod + "containers[].args", &schemaFacts{Items: true, ListType: "atomic"}},
		{"allOf item with default", appsV1LegacyDoc, deploymentGVK, pod + "containers[]",
			&schemaFacts{Properties: []string{"args", "env", "image", "name", "ports"}, Default: map[string]any{}}},
		{"string item default", appsV1LegacyDoc, deploymentGVK, pod + "containers[].args[]", &schemaFacts{Default: ""}},
		{"map value default", appsV1LegacyDoc, deploymentGVK, pod + "nodeSelector.disk", &schemaFacts{Default: ""}},

		// apiextensions.k8s.io/v1: the self-referencing JSONSchemaProps.
		{"atomic list of $ref", apiextV1Doc, crdGVK, "spec.versions", &schemaFacts{Items: true, ListType: "atomic"}},
		{"bool default", apiextV1Doc, crdGVK, "spec.versions[].served", &schemaFacts{Default: false}},
		{"JSONSchemaProps through allOf", apiextV1Doc, crdGVK, jsProps[:len(jsProps)-1], &schemaFacts{Properties: jsonSchemaProps}},
		{"recursion through additionalProperties", apiextV1Doc, crdGVK, jsProps + "properties.spec", &schemaFacts{Properties: jsonSchemaProps}},
		{"recursion through $ref", apiextV1Doc, crdGVK, jsProps + "not.not", &schemaFacts{Properties: jsonSchemaProps}},
		{"recursion through items", apiextV1Doc, crdGVK, jsProps + "allOf[].allOf[]", &schemaFacts{Properties: jsonSchemaProps}},
		{"deep recursion", apiextV1Doc, crdGVK, jsProps + "properties.spec.properties.replicas.not.required",
			&schemaFacts{Items: true, ListType: "atomic"}},
		{"list map in recursion", apiextV1Doc, crdGVK, jsProps + "properties.spec.x-kubernetes-validations",
			&schemaFacts{Items: true, ListType: "map", ListKeys: []string{"rule"}}},
		// Property names that look like extensions are still properties.
		{"property named like an extension", apiextV1Doc, crdGVK, jsProps + "x-kubernetes-int-or-string", &schemaFacts{}},
		{"opaque component", apiextV1Doc, crdGVK, jsProps + "items", &schemaFacts{}},
		{"below an opaque component", apiextV1Doc, crdGVK, jsProps + "items.type", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := docs[tt.doc].Kind(tt.gvk)
			if root == nil {
				t.Fatalf("%s: Kind(%v) = nil", tt.doc, tt.gvk)
			}
			got := factsOf(schemaAt(root, tt.path))
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s %s %q (-want +got):\n%s", tt.doc, tt.gvk.Kind, tt.path, diff)
			}
		})
	}
}

func TestOpenAPIRecursionShares(t *testing.T) {
	crd := readOpenAPIFixture(t, apiextV1Doc).Kind(crdGVK)
	// openAPIV3Schema is an allOf wrapper, so a copy; the schema of a nested
	// property is the JSONSchemaProps component itself, built once.
	props := schemaAt(crd, "spec.versions[].schema.openAPIV3Schema.properties.spec")
	if props == nil {
		t.Fatal("no schema for a nested JSONSchemaProps")
	}
	for _, path := range []string{"properties.x", "not", "allOf[]", "properties.x.not.allOf[].properties.y"} {
		if got := schemaAt(props, path); got != props {
			t.Errorf("JSONSchemaProps at %q is not the JSONSchemaProps schema", path)
		}
	}
}

// widgetDoc is hand-made: a CRD-style kind exercising each extension,
// and the reference forms, on its own.
const widgetDoc = `{
  "openapi": "3.0.0",
  "components": {"schemas": {
    "com.example.v1.Widget": {
      "type": "object",
      "x-kubernetes-group-version-kind": [{"group": "example.com", "version": "v1", "kind": "Widget"}],
      "properties": {
        "port":         {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
        "target":       {"type": "string", "format": "int-or-string"},
        "intOrString":  {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
        "size":         {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity"},
        "sizeDefault":  {"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity"}], "default": "1Gi"},
        "mode":         {"type": "string", "default": "fast"},
        "replicas":     {"type": "integer", "default": 1},
        "labels":       {"type": "object", "additionalProperties": {"type": "string", "default": "x"}},
        "anything":     {"type": "object", "additionalProperties": true},
        "closed":       {"type": "object", "additionalProperties": false, "properties": {"a": {"type": "string"}}},
        "config":       {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"a": {"type": "string"}}},
        "raw":          {"x-kubernetes-preserve-unknown-fields": true},
        "selector":     {"type": "object", "x-kubernetes-map-type": "atomic", "properties": {"app": {"type": "string"}}},
        "granular":     {"type": "object", "x-kubernetes-map-type": "granular", "additionalProperties": {"type": "string"}},
        "names":        {"type": "array", "items": {"type": "string"}},
        "tags":         {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "ports": {
          "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port", "protocol"],
          "items": {"type": "object", "required": ["port"], "properties": {
            "port": {"type": "integer"}, "protocol": {"type": "string", "default": "TCP"}}}
        },
        "members":      {"type": "array", "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name", "items": {"$ref": "#/components/schemas/com.example.v1.Member"}},
        "mounts":       {"type": "array", "x-kubernetes-patch-strategy": "merge,retainKeys", "x-kubernetes-patch-merge-key": "path", "items": {"$ref": "#/components/schemas/com.example.v1.Member"}},
        "finalizers":   {"type": "array", "x-kubernetes-patch-strategy": "merge", "items": {"type": "string"}},
        "replaced":     {"type": "array", "x-kubernetes-patch-strategy": "replace", "x-kubernetes-patch-merge-key": "name", "items": {"type": "string"}},
        "typedAtomic":  {"type": "array", "x-kubernetes-list-type": "atomic", "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name", "items": {"type": "string"}},
        "strategy":     {"type": "object", "x-kubernetes-patch-strategy": "retainKeys", "properties": {"type": {"type": "string"}}},
        "member":       {"allOf": [{"$ref": "#/components/schemas/com.example.v1.Member"}], "default": {"name": "a"}, "x-kubernetes-map-type": "atomic"},
        "memberRef":    {"$ref": "#/components/schemas/com.example.v1.Member"},
        "dangling":     {"$ref": "#/components/schemas/com.example.v1.Missing"},
        "inline":       {"type": "object", "properties": {"deep": {"type": "array", "items": {"type": "object", "properties": {"leaf": {"type": "string", "default": "l"}}}}}}
      }
    },
    "com.example.v1.Member": {
      "type": "object",
      "properties": {"name": {"type": "string", "default": ""}, "path": {"type": "string"}}
    }
  }}
}`

func TestOpenAPIExtensions(t *testing.T) {
	doc := parseOpenAPIString(t, widgetDoc)
	member := &schemaFacts{Properties: []string{"name", "path"}}
	tests := []struct {
		path string
		want *schemaFacts
	}{
		{"port", &schemaFacts{IntOrString: true}},
		{"target", &schemaFacts{IntOrString: true}},
		{"intOrString", &schemaFacts{IntOrString: true}},
		// Quantity and IntOrString are known by name: this document does
		// not even declare the components.
		{"size", &schemaFacts{Quantity: true}},
		{"sizeDefault", &schemaFacts{Quantity: true, Default: "1Gi"}},
		{"mode", &schemaFacts{Default: "fast"}},
		{"replicas", &schemaFacts{Default: float64(1)}},
		{"labels", &schemaFacts{Additional: true}},
		{"labels.anykey", &schemaFacts{Default: "x"}},
		// additionalProperties: true/false is no schema of values.
		{"anything", &schemaFacts{}},
		{"anything.key", nil},
		{"closed", &schemaFacts{Properties: []string{"a"}}},
		{"config", &schemaFacts{Properties: []string{"a"}, PreserveUnknown: true}},
		{"config.unknown", nil},
		{"raw", &schemaFacts{PreserveUnknown: true}},
		{"selector", &schemaFacts{Properties: []string{"app"}, Atomic: true}},
		{"granular", &schemaFacts{Additional: true}},
		{"names", &schemaFacts{Items: true, ListType: "atomic"}},
		{"tags", &schemaFacts{Items: true, ListType: "set"}},
		{"ports", &schemaFacts{Items: true, ListType: "map", ListKeys: []string{"port", "protocol"}}},
		{"ports[]", &schemaFacts{Properties: []string{"port", "protocol"}}},
		{"ports[].protocol", &schemaFacts{Default: "TCP"}},
		{"members", &schemaFacts{Items: true, ListType: "map", ListKeys: []string{"name"}}},
		{"members[]", member},
		{"members[].name", &schemaFacts{Default: ""}},
		{"mounts", &schemaFacts{Items: true, ListType: "map", ListKeys: []string{"path"}}},
		{"finalizers", &schemaFacts{Items: true, ListType: "set"}},
		{"replaced", &schemaFacts{Items: true, ListType: "atomic"}},
		{"typedAtomic", &schemaFacts{Items: true, ListType: "atomic"}},
		{"strategy", &schemaFacts{Properties: []string{"type"}}},
		// allOf keeps the referenced structure and adds local extensions.
		{"member", &schemaFacts{Properties: []string{"name", "path"}, Atomic: true, Default: map[string]any{"name": "a"}}},
		{"member.name", &schemaFacts{Default: ""}},
		{"memberRef", member},
		// A dangling $ref is an unknown (empty) schema, not a failure.
		{"dangling", &schemaFacts{}},
		{"inline.deep", &schemaFacts{Items: true, ListType: "atomic"}},
		{"inline.deep[].leaf", &schemaFacts{Default: "l"}},
	}
	root := doc.Kind(widgetGVK)
	if root == nil {
		t.Fatalf("Kind(%v) = nil", widgetGVK)
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got := factsOf(schemaAt(root, tt.path))
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%q (-want +got):\n%s", tt.path, diff)
			}
		})
	}

	t.Run("allOf copy leaves the component alone", func(t *testing.T) {
		ref, wrapped := root.Field("memberRef"), root.Field("member")
		if ref == wrapped {
			t.Fatal("allOf with local extensions shares the component schema")
		}
		if diff := cmp.Diff(member, factsOf(ref), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("component after allOf use (-want +got):\n%s", diff)
		}
		if root.Field("members").Item() != ref {
			t.Error("two $refs to one component got different schemas")
		}
	})
}

// recursiveDoc refers to its kind from itself in every way a document can:
// $ref in items, $ref in additionalProperties, a direct $ref and allOf
// wrappers (with and without a default), and through a second component.
const recursiveDoc = `{"components": {"schemas": {
  "com.example.v1.Tree": {
    "type": "object",
    "x-kubernetes-group-version-kind": [{"group": "example.com", "version": "v1", "kind": "Tree"}],
    "properties": {
      "name":     {"type": "string"},
      "children": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"], "items": {"$ref": "#/components/schemas/com.example.v1.Tree"}},
      "byName":   {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/com.example.v1.Tree"}},
      "self":     {"$ref": "#/components/schemas/com.example.v1.Tree"},
      "parent":   {"allOf": [{"$ref": "#/components/schemas/com.example.v1.Tree"}], "default": {}},
      "wrapped":  {"allOf": [{"$ref": "#/components/schemas/com.example.v1.Tree"}]},
      "forest":   {"$ref": "#/components/schemas/com.example.v1.Forest"}
    }
  },
  "com.example.v1.Forest": {
    "type": "object",
    "properties": {"trees": {"type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/com.example.v1.Tree"}]}}}
  }
}}}`

func TestOpenAPIRecursiveSchemaTerminates(t *testing.T) {
	tree := parseOpenAPIString(t, recursiveDoc).Kind(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Tree"})
	if tree == nil {
		t.Fatal("Kind(Tree) = nil")
	}
	treeProps := []string{"byName", "children", "forest", "name", "parent", "self", "wrapped"}
	t.Run("$ref is the schema itself", func(t *testing.T) {
		for _, path := range []string{"self", "children[]", "byName.a", "self.children[].byName.b.self"} {
			if schemaAt(tree, path) != tree {
				t.Errorf("%q is not the Tree schema", path)
			}
		}
	})
	tests := []struct {
		path string
		want *schemaFacts
	}{
		{"children", &schemaFacts{Items: true, ListType: "map", ListKeys: []string{"name"}}},
		{"children[].children[].children", &schemaFacts{Items: true, ListType: "map", ListKeys: []string{"name"}}},
		// allOf wrappers copy the Tree under construction; its properties
		// are there all the same, so the copy's subtree is the full Tree.
		{"parent", &schemaFacts{Properties: treeProps, Default: map[string]any{}}},
		{"parent.children", &schemaFacts{Items: true, ListType: "map", ListKeys: []string{"name"}}},
		{"parent.parent.wrapped.children[].name", &schemaFacts{}},
		{"wrapped", &schemaFacts{Properties: treeProps}},
		{"forest.trees", &schemaFacts{Items: true, ListType: "atomic"}},
		{"forest.trees[]", &schemaFacts{Properties: treeProps}},
		{"forest.trees[].forest.trees[].self.children", &schemaFacts{Items: true, ListType: "map", ListKeys: []string{"name"}}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got := factsOf(schemaAt(tree, tt.path))
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%q (-want +got):\n%s", tt.path, diff)
			}
		})
	}
}

func TestSchemaPrunes(t *testing.T) {
	apps := readOpenAPIFixture(t, appsV1Doc).Kind(deploymentGVK)
	widget := parseOpenAPIString(t, widgetDoc).Kind(widgetGVK)
	tests := []struct {
		name   string
		schema *Schema
		field  string
		want   bool
	}{
		{"nil schema", nil, "x", false},
		{"empty schema", &Schema{}, "x", false},
		{"declared property", &Schema{Properties: map[string]*Schema{"a": {}}}, "a", false},
		{"undeclared property", &Schema{Properties: map[string]*Schema{"a": {}}}, "b", true},
		{"additionalProperties keeps", &Schema{Properties: map[string]*Schema{"a": {}}, Additional: &Schema{}}, "b", false},
		{"preserve-unknown keeps", &Schema{Properties: map[string]*Schema{"a": {}}, PreserveUnknown: true}, "b", false},
		{"atomic still prunes", &Schema{Properties: map[string]*Schema{"a": {}}, Atomic: true}, "b", true},

		{"undeclared top-level field", apps, "bogus", true},
		{"Deployment spec", apps, "spec", false},
		{"container field", schemaAt(apps, "spec.template.spec.containers[]"), "image", false},
		{"unknown container field", schemaAt(apps, "spec.template.spec.containers[]"), "imag", true},
		{"labels map", schemaAt(apps, "metadata.labels"), "anything", false},
		{"opaque Quantity", schemaAt(apps, "spec.template.spec.containers[].resources.limits.cpu"), "x", false},
		{"preserve-unknown-fields", schemaAt(widget, "config"), "b", false},
		{"preserve-unknown-fields declared", schemaAt(widget, "config"), "a", false},
		{"additionalProperties false", schemaAt(widget, "closed"), "b", true},
		{"additionalProperties true without properties", schemaAt(widget, "anything"), "b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.schema.Prunes(tt.field)); diff != "" {
				t.Errorf("Prunes(%q) (-want +got):\n%s", tt.field, diff)
			}
		})
	}
}

func TestSchemaNilSafe(t *testing.T) {
	var s *Schema
	if got := s.Field("a"); got != nil {
		t.Errorf("nil.Field = %+v", got)
	}
	if got := s.Item(); got != nil {
		t.Errorf("nil.Item = %+v", got)
	}
	if s.Prunes("a") {
		t.Error("nil.Prunes = true")
	}
	if got := s.Field("a").Item().Field("b").Item(); got != nil {
		t.Errorf("chain from nil = %+v", got)
	}

	leaf := &Schema{}
	obj := &Schema{Properties: map[string]*Schema{"a": leaf}}
	m := &Schema{Additional: leaf}
	list := &Schema{Items: leaf}
	tests := []struct {
		name string
		got  *Schema
		want *Schema
	}{
		{"property", obj.Field("a"), leaf},
		{"undeclared property", obj.Field("b"), nil},
		{"map value", m.Field("anything"), leaf},
		{"item", list.Item(), leaf},
		{"item of no list", obj.Item(), nil},
		{"field of a list", list.Field("a"), nil},
		{"declared property before map values", (&Schema{Properties: map[string]*Schema{"a": obj}, Additional: leaf}).Field("a"), obj},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %p, want %p", tt.got, tt.want)
			}
		})
	}
}

func TestParseOpenAPIErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
	}{
		{"empty input", ``},
		{"truncated", `{"components": {"schemas": {`},
		{"not JSON", `<html>Service Unavailable</html>`},
		{"not an object", `[{"components": {}}]`},
		{"components not an object", `{"components": []}`},
		{"schemas not an object", `{"components": {"schemas": ["a"]}}`},
		{"schema not an object", `{"components": {"schemas": {"a": "b"}}}`},
		{"type not a string", `{"components": {"schemas": {"a": {"type": 5}}}}`},
		{"properties not an object", `{"components": {"schemas": {"a": {"properties": [1]}}}}`},
		{"list-map-keys not strings", `{"components": {"schemas": {"a": {"x-kubernetes-list-map-keys": [1]}}}}`},
		{"int-or-string not a bool", `{"components": {"schemas": {"a": {"x-kubernetes-int-or-string": "true"}}}}`},
		{"GVK not a list", `{"components": {"schemas": {"a": {"x-kubernetes-group-version-kind": {"kind": "A"}}}}}`},
		{"trailing garbage", `{"components": {}} x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := ParseOpenAPI([]byte(tt.doc))
			if err == nil {
				t.Fatalf("ParseOpenAPI(%q) = %v, nil; want an error", tt.doc, doc)
			}
			if doc != nil {
				t.Errorf("ParseOpenAPI(%q) returned a document with its error", tt.doc)
			}
			if !strings.HasPrefix(err.Error(), "openapi document") {
				t.Errorf("error %q does not start with %q", err, "openapi document")
			}
		})
	}
}
