package drift

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Schema is the part of a kind's OpenAPI v3 schema that comparison needs:
// how lists are matched, which maps are atomic, which strings are
// quantities, and declared defaults. A nil *Schema means "unknown" and
// every method is nil-safe, so callers can walk without checks.
type Schema struct {
	Properties map[string]*Schema
	// Additional is the schema of a map's values (additionalProperties).
	Additional *Schema
	// Items is the schema of a list's items.
	Items *Schema
	// ListType is x-kubernetes-list-type: "atomic", "set" or "map"; empty
	// when the schema does not say.
	ListType string
	// ListKeys are x-kubernetes-list-map-keys of a "map" list.
	ListKeys []string
	// Atomic marks an object or map replaced as a whole
	// (x-kubernetes-map-type: atomic).
	Atomic bool
	// Quantity marks a resource.Quantity string ("1000m" equals "1").
	Quantity bool
	// IntOrString marks an int-or-string field.
	IntOrString bool
	// Default is the declared default, nil if none.
	Default any
	// PreserveUnknown marks an object that keeps fields its schema does not
	// declare (x-kubernetes-preserve-unknown-fields); others lose them.
	PreserveUnknown bool
}

// Prunes reports whether the server drops field name from objects of this
// schema: it declares its properties, name is not one, and neither
// additionalProperties nor x-kubernetes-preserve-unknown-fields keep it.
func (s *Schema) Prunes(name string) bool {
	if s == nil || len(s.Properties) == 0 || s.Additional != nil || s.PreserveUnknown {
		return false
	}
	_, ok := s.Properties[name]
	return !ok
}

// Field returns the schema of property name (or of map values).
func (s *Schema) Field(name string) *Schema {
	if s == nil {
		return nil
	}
	if p, ok := s.Properties[name]; ok {
		return p
	}
	return s.Additional
}

// Item returns the schema of list items.
func (s *Schema) Item() *Schema {
	if s == nil {
		return nil
	}
	return s.Items
}

// OpenAPIDocument is one parsed OpenAPI v3 group-version document (as
// served at /openapi/v3/apis/<group>/<version>). Component schemas are
// converted lazily, once each, on the first Kind that needs them. Safe for
// concurrent use.
type OpenAPIDocument struct {
	raw   map[string]rawSchema
	kinds map[schema.GroupVersionKind]string
	built map[string]*Schema
	mu    sync.Mutex
}

type rawSchema struct {
	Type                 string               `json:"type"`
	Format               string               `json:"format"`
	Ref                  string               `json:"$ref"`
	AllOf                []rawSchema          `json:"allOf"`
	Properties           map[string]rawSchema `json:"properties"`
	AdditionalProperties json.RawMessage      `json:"additionalProperties"`
	Items                *rawSchema           `json:"items"`
	Default              any                  `json:"default"`
	ListType             string               `json:"x-kubernetes-list-type"`
	ListMapKeys          []string             `json:"x-kubernetes-list-map-keys"`
	MapType              string               `json:"x-kubernetes-map-type"`
	IntOrString          bool                 `json:"x-kubernetes-int-or-string"`
	PreserveUnknown      bool                 `json:"x-kubernetes-preserve-unknown-fields"`
	PatchMergeKey        string               `json:"x-kubernetes-patch-merge-key"`
	PatchStrategy        string               `json:"x-kubernetes-patch-strategy"`
	GVK                  []struct {
		Group, Version, Kind string
	} `json:"x-kubernetes-group-version-kind"`
}

// ParseOpenAPI parses an OpenAPI v3 group-version document.
func ParseOpenAPI(b []byte) (*OpenAPIDocument, error) {
	var d struct {
		Components struct {
			Schemas map[string]rawSchema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	doc := &OpenAPIDocument{raw: d.Components.Schemas, kinds: map[schema.GroupVersionKind]string{}, built: map[string]*Schema{}}
	for name, r := range doc.raw {
		for _, g := range r.GVK {
			doc.kinds[schema.GroupVersionKind{Group: g.Group, Version: g.Version, Kind: g.Kind}] = name
		}
	}
	return doc, nil
}

// Kind returns the schema of gvk, or nil when the document does not
// declare it.
func (d *OpenAPIDocument) Kind(gvk schema.GroupVersionKind) *Schema {
	name, ok := d.kinds[gvk]
	if !ok {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.named(name)
}

const (
	quantityRef    = "io.k8s.apimachinery.pkg.api.resource.Quantity"
	intOrStringRef = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
)

// named converts a component schema, memoised; the entry is stored before
// it is filled so recursive schemas (JSONSchemaProps) terminate.
func (d *OpenAPIDocument) named(name string) *Schema {
	if s, ok := d.built[name]; ok {
		return s
	}
	s := &Schema{}
	d.built[name] = s
	switch name {
	case quantityRef:
		s.Quantity = true
		return s
	case intOrStringRef:
		s.IntOrString = true
		return s
	}
	if r, ok := d.raw[name]; ok {
		d.fill(s, r)
	}
	return s
}

func refName(ref string) string { return strings.TrimPrefix(ref, "#/components/schemas/") }

func (d *OpenAPIDocument) convert(r rawSchema) *Schema {
	if r.Ref != "" && len(r.Properties) == 0 {
		return d.named(refName(r.Ref))
	}
	s := &Schema{}
	d.fill(s, r)
	return s
}

func (d *OpenAPIDocument) fill(s *Schema, r rawSchema) {
	// allOf: [{$ref}] is how v3 attaches a description or default to a
	// referenced type: take the referenced structure, keep local extensions.
	for _, a := range r.AllOf {
		if a.Ref != "" {
			*s = *d.named(refName(a.Ref))
		}
	}
	if r.Ref != "" {
		*s = *d.named(refName(r.Ref))
	}
	if r.Default != nil {
		s.Default = r.Default
	}
	if r.IntOrString || r.Format == "int-or-string" {
		s.IntOrString = true
	}
	if r.PreserveUnknown {
		s.PreserveUnknown = true
	}
	if r.MapType == "atomic" {
		s.Atomic = true
	}
	if len(r.Properties) > 0 {
		s.Properties = make(map[string]*Schema, len(r.Properties))
		for k, p := range r.Properties {
			s.Properties[k] = d.convert(p)
		}
	}
	if len(r.AdditionalProperties) > 0 && r.AdditionalProperties[0] == '{' {
		var ap rawSchema
		if json.Unmarshal(r.AdditionalProperties, &ap) == nil {
			s.Additional = d.convert(ap)
		}
	}
	if r.Items != nil {
		s.Items = d.convert(*r.Items)
	}
	// Lists without an SSA list type (servers older than the list-type
	// markers on core types) fall back to their strategic-merge strategy the
	// way server-side apply does (kube-openapi schemaconv): "merge" and
	// "merge,retainKeys" (PodSpec.volumes) with a merge key identify items
	// by that key, without one they are sets.
	mergeStrategy := r.PatchStrategy == "merge" || r.PatchStrategy == "merge,retainKeys"
	switch {
	case r.ListType != "":
		s.ListType, s.ListKeys = r.ListType, r.ListMapKeys
	case mergeStrategy && r.PatchMergeKey != "":
		s.ListType, s.ListKeys = "map", []string{r.PatchMergeKey}
	case mergeStrategy && r.Type == "array":
		s.ListType = "set"
	case r.Type == "array":
		// Server-side apply treats unannotated lists as atomic.
		s.ListType = "atomic"
	}
}
