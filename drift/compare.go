// Package drift compares desired objects with live ones, field by field,
// and reports the result.
package drift

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"sort"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// DiffType says how a field differs.
type DiffType string

const (
	// Changed: desired and live both set the field, to different values.
	Changed DiffType = "Changed"
	// Removed: desired sets the field, live does not have it.
	Removed DiffType = "Removed"
)

// FieldDiff is one drifted field.
type FieldDiff struct {
	// Path is the field's location, e.g. spec.template.spec.containers[name=app].image.
	Path string `json:"path"`
	// Type says whether the live value changed or is gone.
	Type DiffType `json:"type"`
	// Desired and Live are the values; both nil when Sensitive, Live nil
	// when Removed.
	Desired any `json:"desired,omitempty"`
	Live    any `json:"live,omitempty"`
	// Sensitive marks a Secret value: the report says it differs, never
	// what it is.
	Sensitive bool `json:"sensitive,omitempty"`
}

// ignoredMetadata are metadata fields the server owns: a manifest exported
// with kubectl get -o yaml carries them, and they are never drift.
var ignoredMetadata = []string{
	"managedFields", "resourceVersion", "uid", "generation", "creationTimestamp",
	"selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences",
	"finalizers", "namespace", "name", "generateName",
}

// ignoredAnnotations are written by clients and controllers, not by Git.
var ignoredAnnotations = []string{
	"kubectl.kubernetes.io/last-applied-configuration",
	"deployment.kubernetes.io/revision",
}

// Compare returns how live differs from desired, looking only at the fields
// desired sets: whatever the server adds (defaults, status, metadata it
// owns) is not drift. Lists whose items all carry a "name" are matched by
// name, so a reordered or extended list does not shift every item; other
// lists of objects are matched by position when the lengths agree and
// compared whole otherwise; lists of scalars are compared whole, in order.
// A zero value in desired (false, 0, "", {}, []) matches an absent live
// field, because the API server omits empty fields when it stores them.
// Quantities under resource fields compare by amount (1000m equals 1).
// Secret data is compared after merging stringData (base64-encoded) into
// data, as the API server does, and its values are never put in the result.
// Neither argument is modified.
func Compare(desired, live *unstructured.Unstructured) []FieldDiff {
	d := normalizeDesired(desired)
	c := comparer{secret: isSecret(desired)}
	c.walk(nil, d, live.Object, true)
	sort.SliceStable(c.diffs, func(i, j int) bool { return c.diffs[i].Path < c.diffs[j].Path })
	return c.diffs
}

func isSecret(u *unstructured.Unstructured) bool {
	gvk := u.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Secret"
}

// normalizeDesired returns a copy of desired without the fields that are
// never compared.
func normalizeDesired(desired *unstructured.Unstructured) map[string]any {
	d := desired.DeepCopy().Object
	delete(d, "status")
	delete(d, "apiVersion")
	delete(d, "kind")
	if md, ok := d["metadata"].(map[string]any); ok {
		for _, f := range ignoredMetadata {
			delete(md, f)
		}
		if ann, ok := md["annotations"].(map[string]any); ok {
			for _, a := range ignoredAnnotations {
				delete(ann, a)
			}
		}
	}
	if isSecret(desired) {
		mergeStringData(d)
	}
	return d
}

// mergeStringData folds stringData into data, base64-encoded, the way the
// API server stores a Secret (stringData wins over data for the same key).
func mergeStringData(d map[string]any) {
	sd, ok := d["stringData"].(map[string]any)
	if !ok {
		delete(d, "stringData")
		return
	}
	data, ok := d["data"].(map[string]any)
	if !ok {
		data = map[string]any{}
	}
	for k, v := range sd {
		if s, ok := v.(string); ok {
			data[k] = base64.StdEncoding.EncodeToString([]byte(s))
		}
	}
	d["data"] = data
	delete(d, "stringData")
}

type comparer struct {
	secret bool
	diffs  []FieldDiff
}

func (c *comparer) add(p Path, t DiffType, desired, live any) {
	fd := FieldDiff{Path: p.String(), Type: t, Desired: desired, Live: live}
	if c.secret && (p.HasPrefix("data") || p.HasPrefix("stringData")) {
		fd.Desired, fd.Live, fd.Sensitive = nil, nil, true
	}
	c.diffs = append(c.diffs, fd)
}

// walk compares desired with live at path p. liveSet says whether live has
// the field at all.
func (c *comparer) walk(p Path, desired, live any, liveSet bool) {
	if !liveSet || live == nil {
		if isZero(desired) {
			return
		}
		c.add(p, Removed, desired, nil)
		return
	}
	switch d := desired.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			c.add(p, Changed, desired, live)
			return
		}
		keys := make([]string, 0, len(d))
		for k := range d {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			lv, ok := l[k]
			c.walk(p.child(Step{Field: k}), d[k], lv, ok)
		}
	case []any:
		l, ok := live.([]any)
		if !ok {
			c.add(p, Changed, desired, live)
			return
		}
		c.walkList(p, d, l)
	default:
		if !scalarEqual(p, desired, live) {
			c.add(p, Changed, desired, live)
		}
	}
}

func (c *comparer) walkList(p Path, d, l []any) {
	if _, ok := byName(d); ok {
		if ln, ok := byName(l); ok {
			for _, item := range d {
				name := item.(map[string]any)["name"].(string)
				lv, found := ln[name]
				c.walk(p.child(Step{Key: "name", Value: name}), item, lv, found)
			}
			return
		}
	}
	if allMaps(d) && allMaps(l) && len(d) == len(l) {
		for i := range d {
			c.walk(p.child(Step{Index: i}), d[i], l[i], true)
		}
		return
	}
	if len(d) != len(l) {
		c.add(p, Changed, d, l)
		return
	}
	for i := range d {
		if !valueEqual(p, d[i], l[i]) {
			c.add(p, Changed, d, l)
			return
		}
	}
}

// byName indexes a list whose items are all objects with a distinct string
// "name", the merge key of most Kubernetes lists (containers, volumes, env,
// ports with names).
func byName(items []any) (map[string]any, bool) {
	out := make(map[string]any, len(items))
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, false
		}
		n, ok := m["name"].(string)
		if !ok {
			return nil, false
		}
		if _, dup := out[n]; dup {
			return nil, false
		}
		out[n] = it
	}
	return out, true
}

func allMaps(items []any) bool {
	for _, it := range items {
		if _, ok := it.(map[string]any); !ok {
			return false
		}
	}
	return true
}

// valueEqual compares whole values, numbers by value.
func valueEqual(p Path, a, b any) bool {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for k, x := range av {
			y, ok := bv[k]
			if !ok || !valueEqual(p.child(Step{Field: k}), x, y) {
				return false
			}
		}
		return true
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if !valueEqual(p, av[i], bv[i]) {
				return false
			}
		}
		return true
	}
	return scalarEqual(p, a, b)
}

// scalarEqual compares two scalars: numbers by value whatever their JSON
// type, quantities in resource fields by amount.
func scalarEqual(p Path, a, b any) bool {
	if inQuantityField(p) && quantityEqual(a, b) {
		return true
	}
	if af, ok := number(a); ok {
		bf, ok := number(b)
		return ok && af == bf
	}
	return reflect.DeepEqual(a, b)
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case float64:
		return n, true
	case float32:
		return float64(n), true
	}
	return 0, false
}

// quantityParents are the fields whose map values are resource.Quantity:
// container resources, ResourceQuota hard/used, LimitRange bounds, PVC and
// node capacities.
var quantityParents = map[string]bool{
	"limits": true, "requests": true, "hard": true, "capacity": true, "allocatable": true,
	"max": true, "min": true, "default": true, "defaultRequest": true, "maxLimitRequestRatio": true,
}

func inQuantityField(p Path) bool {
	if len(p) < 2 {
		return false
	}
	if p[len(p)-1].Field == "storage" && p[len(p)-2].Field == "requests" {
		return true
	}
	return quantityParents[p[len(p)-2].Field]
}

func quantityEqual(a, b any) bool {
	qa, ok := quantity(a)
	if !ok {
		return false
	}
	qb, ok := quantity(b)
	return ok && qa.Cmp(qb) == 0
}

func quantity(v any) (resource.Quantity, bool) {
	switch x := v.(type) {
	case string:
		q, err := resource.ParseQuantity(x)
		return q, err == nil
	default:
		if f, ok := number(v); ok {
			q, err := resource.ParseQuantity(fmt.Sprint(f))
			return q, err == nil
		}
	}
	return resource.Quantity{}, false
}

// isZero reports whether v is a zero value the API server would omit.
func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case string:
		return x == ""
	case map[string]any:
		for _, e := range x {
			if !isZero(e) {
				return false
			}
		}
		return true
	case []any:
		return len(x) == 0
	}
	if f, ok := number(v); ok {
		return f == 0
	}
	return false
}
