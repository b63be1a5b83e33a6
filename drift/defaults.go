package drift

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Defaulter gives what the API server would store for a desired object:
// a new object with the defaults the server writes filled in, or nil when
// it knows none for the object's kind. It must not modify obj.
//
// The engine asks it only about objects where a difference was found, and
// keeps only the differences that remain once the defaults are in: a
// default can explain a difference away, never add one. This matters
// inside atomic structures (env[].valueFrom.fieldRef gets apiVersion v1,
// RBAC subjects get their apiGroup), which server-side apply replaces
// whole, so a live value holding the server's default differs from Git's
// as a whole. drift/kubedefaults implements it for built-in kinds.
type Defaulter func(obj *unstructured.Unstructured) *unstructured.Unstructured

// withDefaults returns desired's content with the defaults the server
// would write filled in where desired sets nothing: the Defaulter's (for
// built-in kinds) and the schema's declared defaults (CRD structural
// schemas, at any depth: in atomic maps and lists and in list items), as
// the API server's defaulting does. Nothing desired sets is changed. nil
// when neither adds anything.
func withDefaults(desired *unstructured.Unstructured, opts Options) map[string]any {
	var out map[string]any
	if opts.Defaults != nil {
		if d := opts.Defaults(desired); d != nil {
			out = copyJSON(desired.Object).(map[string]any)
			fillMissing(out, d.Object)
		}
	}
	if opts.Schema != nil {
		base := out
		if base == nil {
			base = copyJSON(desired.Object).(map[string]any)
		}
		if schemaDefaults(base, opts.Schema) {
			out = base
		}
	}
	return out
}

// fillMissing adds to dst what src has and dst lacks, recursing into maps
// present in both and into lists of the same length (a defaulted object
// keeps its lists' order and length). dst's own values always win.
func fillMissing(dst, src any) {
	switch d := dst.(type) {
	case map[string]any:
		s, ok := src.(map[string]any)
		if !ok {
			return
		}
		for k, sv := range s {
			if dv, has := d[k]; has {
				fillMissing(dv, sv)
			} else {
				d[k] = sv
			}
		}
	case []any:
		s, ok := src.([]any)
		if !ok || len(s) != len(d) {
			return
		}
		for i := range d {
			fillMissing(d[i], s[i])
		}
	}
}

// schemaDefaults sets, in v, each property its schema declares a default
// for and v lacks, in every object v holds, and reports whether it set
// any. A default that is itself an object gets its own defaults.
func schemaDefaults(v any, sc *Schema) bool {
	if sc == nil {
		return false
	}
	changed := false
	switch x := v.(type) {
	case map[string]any:
		for name, p := range sc.Properties {
			if p == nil {
				continue
			}
			if _, has := x[name]; !has && p.Default != nil {
				x[name] = copyJSON(p.Default)
				changed = true
			}
			if child, has := x[name]; has && schemaDefaults(child, p) {
				changed = true
			}
		}
		if sc.Additional != nil {
			for k, child := range x {
				if _, declared := sc.Properties[k]; !declared && schemaDefaults(child, sc.Additional) {
					changed = true
				}
			}
		}
	case []any:
		for _, it := range x {
			if schemaDefaults(it, sc.Items) {
				changed = true
			}
		}
	}
	return changed
}

// copyJSON deep-copies a JSON-like value (maps, lists, scalars).
func copyJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = copyJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = copyJSON(e)
		}
		return out
	}
	return v
}

// stillDiffer keeps the diffs whose path also differs once the defaults
// are in.
func stillDiffer(diffs, again []FieldDiff) []FieldDiff {
	remain := make(map[string]bool, len(again))
	for _, d := range again {
		remain[d.Path] = true
	}
	out := diffs[:0]
	for _, d := range diffs {
		if remain[d.Path] {
			out = append(out, d)
		}
	}
	return out
}
