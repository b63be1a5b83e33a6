package drift

import (
	"encoding/json"
	"path"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Added: live sets a field that desired does not, and a person set it by
// hand (Options.Added decides who counts). Server-side apply, and so every
// tool built on it, compares only the fields Git sets and cannot see such
// a field: kubectl patch cronjob -p '{"spec":{"suspend":true}}' leaves a
// CronJob "in sync" for them.
const Added DiffType = "Added"

// DefaultInteractiveManagers are the field managers kubectl (v1.37) names
// when a person changes an object by hand: edit, patch, set, label,
// annotate, replace, create, rollout and client-side apply, as
// cmd/driftwatch's TestKubectlManagers records them. kubectl scale names
// none: see KubectlManager.
var DefaultInteractiveManagers = []string{
	"kubectl-edit", "kubectl-patch", "kubectl-set", "kubectl-label", "kubectl-annotate",
	"kubectl-replace", "kubectl-create", "kubectl-rollout", "kubectl-client-side-apply",
}

// KubectlManager is the field manager the API server derives from
// kubectl's user agent, for the commands that name none of their own:
// kubectl scale writes as "kubectl", operation Update, through the scale
// subresource. With operation Apply the same name is kubectl apply
// --server-side, how Git is often applied, so only its Update entries are
// interactive.
const KubectlManager = "kubectl"

// AddedPolicy decides which fields that Git does not set are drift. A
// field counts when it is present live and owned, in managedFields, by an
// interactive manager that is not the manager that applied Git (the one
// owning most of the fields Git sets), outside status and server-owned
// metadata. Fields owned by controllers (HPA, kube-controller-manager,
// operators) never count, nor do fields Git's own applier owns (the
// server's defaults, webhook mutations made when Git was applied).
type AddedPolicy struct {
	// Managers are globs (path.Match) naming interactive managers; empty
	// means DefaultInteractiveManagers. KubectlManager's Update entries
	// are interactive whatever they say.
	Managers []string
	// Metadata reports labels and annotations added by hand too; off by
	// default, since many tools label objects.
	Metadata bool
}

// interactive reports whether a managedFields entry, by its manager and
// operation, is a person's change.
func (p *AddedPolicy) interactive(manager, operation string) bool {
	if manager == KubectlManager && operation == "Update" {
		return true
	}
	managers := p.Managers
	if len(managers) == 0 {
		managers = DefaultInteractiveManagers
	}
	for _, g := range managers {
		if ok, _ := path.Match(g, manager); ok {
			return true
		}
	}
	return false
}

// interactiveEntries reports whether any of live's managedFields entries
// is interactive, reading only their names and operations: an object
// nobody touched by hand (almost all) costs no parsing.
func (p *AddedPolicy) interactiveEntries(live *unstructured.Unstructured) bool {
	md, _ := live.Object["metadata"].(map[string]any)
	mfs, _ := md["managedFields"].([]any)
	for _, e := range mfs {
		if m, ok := e.(map[string]any); ok {
			name, _ := m["manager"].(string)
			if op, _ := m["operation"].(string); p.interactive(name, op) {
				if sub, _ := m["subresource"].(string); sub == "" || sub == "scale" {
					return true
				}
			}
		}
	}
	return false
}

// findAdded records an Added diff for each field an interactive manager
// owns live that desired (normalised) does not set.
func (c *comparer) findAdded(desired map[string]any, live *unstructured.Unstructured) {
	pol := c.opts.Added
	if pol == nil || !pol.interactiveEntries(live) {
		return
	}
	own := c.liveOwners(live)
	applier := own.applier(desired, c.diffs)
	for i := range own {
		o := &own[i]
		if !pol.interactive(o.Manager, o.Operation) || o.entry() == applier {
			continue
		}
		cb := o.ChangedBy
		c.addedIn(o.fields, nil, c.opts.Schema, desired, live.Object, &cb)
	}
}

// addedIn walks one manager's FieldsV1 tree beside desired and live: a
// field live has and desired lacks is Added (reported once, at its top);
// a field both have is descended into, unless desired's value is a scalar
// or an atomic structure (compare already judged it whole).
func (c *comparer) addedIn(tree map[string]any, p *node, sc *Schema, desired, live any, by *ChangedBy) {
	keys := make([]string, 0, len(tree))
	for k := range tree {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sub, _ := tree[k].(map[string]any)
		step, childSchema, liveChild, ok := resolveOwned(k, sc, live)
		if !ok {
			continue // stale ownership: live no longer holds it
		}
		q := p.child(step)
		if c.addedExcluded(q.path()) {
			continue
		}
		desiredChild, has := desiredAt(desired, step)
		if has && desiredChild == nil {
			// A null sets nothing (see walk): what the manager owns
			// below it is judged as fields Git does not set.
			switch liveChild.(type) {
			case map[string]any:
				desiredChild = map[string]any{}
			case []any:
				desiredChild = []any{}
			default:
				has = false
			}
		}
		if !has {
			c.addAdded(q, liveChild, by)
			continue
		}
		switch desiredChild.(type) {
		case map[string]any:
			if childSchema != nil && childSchema.Atomic {
				continue
			}
		case []any:
			if childSchema != nil && childSchema.ListType == "atomic" {
				continue
			}
		default:
			continue
		}
		if len(sub) > 0 {
			c.addedIn(sub, q, childSchema, desiredChild, liveChild, by)
		}
	}
}

// resolveOwned finds the live value a FieldsV1 key names under live: f:
// a map field, k: the list item with those key values, v: the set item
// with that value, i: the item at that index.
func resolveOwned(k string, sc *Schema, live any) (Step, *Schema, any, bool) {
	switch {
	case k == ".":
		return Step{}, nil, nil, false
	case strings.HasPrefix(k, "f:"):
		name := k[2:]
		m, ok := live.(map[string]any)
		if !ok {
			return Step{}, nil, nil, false
		}
		v, ok := m[name]
		return fieldStep(name), sc.Field(name), v, ok
	case strings.HasPrefix(k, "k:"):
		var keys map[string]any
		l, ok := live.([]any)
		if !ok || json.Unmarshal([]byte(k[2:]), &keys) != nil {
			return Step{}, nil, nil, false
		}
		names := make([]string, 0, len(keys))
		for n := range keys {
			names = append(names, n)
		}
		sort.Strings(names)
		kvs := make([]KeyValue, 0, len(names))
		for _, n := range names {
			v := keys[n]
			if f, isNum := number(v); isNum {
				v = f
			}
			kvs = append(kvs, KeyValue{Key: n, Value: keyText(v)})
		}
		for i, it := range l {
			if m, ok := it.(map[string]any); ok && keysMatchAll(m, keys) {
				return Step{Keys: kvs, Index: i, liveItem: it}, sc.Item(), it, true
			}
		}
	case strings.HasPrefix(k, "v:"):
		var want any
		l, ok := live.([]any)
		if !ok || json.Unmarshal([]byte(k[2:]), &want) != nil {
			return Step{}, nil, nil, false
		}
		for i, it := range l {
			if valueEqual(nil, it, want) {
				return Step{Keys: []KeyValue{{Key: "value", Value: keyText(want)}}, Index: i, liveItem: it}, sc.Item(), it, true
			}
		}
	case strings.HasPrefix(k, "i:"):
		var i int
		l, ok := live.([]any)
		if !ok || json.Unmarshal([]byte(k[2:]), &i) != nil || i < 0 || i >= len(l) {
			return Step{}, nil, nil, false
		}
		return Step{Index: i, liveItem: l[i]}, sc.Item(), l[i], true
	}
	return Step{}, nil, nil, false
}

// keysMatchAll reports whether a list item has every key value of a k:
// entry.
func keysMatchAll(m map[string]any, keys map[string]any) bool {
	for k, v := range keys {
		if !valueEqual(nil, m[k], v) {
			return false
		}
	}
	return true
}

// desiredAt finds the desired value for a step resolved in live: the
// same map field, the desired list item with the same key values (a key
// desired omits matches, as when compare fills defaults), the same set
// value, or the same index.
func desiredAt(desired any, s Step) (any, bool) {
	if s.isField() {
		m, ok := desired.(map[string]any)
		if !ok {
			return nil, false
		}
		v, ok := m[s.Field]
		return v, ok
	}
	l, ok := desired.([]any)
	if !ok {
		return nil, false
	}
	switch {
	case len(s.Keys) == 1 && s.Keys[0].Key == "value" && !isMapItem(s.liveItem):
		for _, it := range l {
			if valueEqual(nil, it, s.liveItem) {
				return it, true
			}
		}
		return nil, false
	case len(s.Keys) > 0:
		for _, it := range l {
			if m, ok := it.(map[string]any); ok && keysMatch(m, s.Keys) {
				return it, true
			}
		}
		return nil, false
	}
	if s.Index < len(l) {
		return l[s.Index], true
	}
	return nil, false
}

func isMapItem(v any) bool { _, ok := v.(map[string]any); return ok }

// addedExcluded says which fields are never Added: status and the
// metadata the server or controllers own; labels and annotations unless
// the policy asks for them; driftwatch's own and ignored annotations.
func (c *comparer) addedExcluded(p Path) bool {
	if len(p) == 0 || !p[0].isField() {
		return true
	}
	switch p[0].Field {
	case "status", "apiVersion", "kind":
		return true
	case "metadata":
		if len(p) < 2 {
			return false
		}
		if !p[1].isField() || (p[1].Field != "labels" && p[1].Field != "annotations") {
			return true
		}
		if !c.opts.Added.Metadata {
			return true
		}
		if len(p) >= 3 && p[1].Field == "annotations" {
			a := p[2].Field
			return strings.HasPrefix(a, AnnotationPrefix) || slices.Contains(ignoredAnnotations, a)
		}
	}
	return false
}

// addAdded records one Added field with the live value (hidden, with a
// hash, where sensitive) and who set it.
func (c *comparer) addAdded(n *node, live any, by *ChangedBy) {
	p := n.path()
	fd := FieldDiff{Path: p.String(), Type: Added, Live: live, ChangedBy: by, path: p}
	if c.sensitive(p) || c.holdsSensitive(p, live) {
		fd.Live, fd.Sensitive = nil, true
		if c.opts.HashKey != nil {
			fd.LiveHash = keyedHash(c.opts.HashKey, live)
		}
	}
	c.diffs = append(c.diffs, fd)
}

// applier names the managedFields entry (ChangedBy.entry) that applied
// Git: the one owning the most of the fields desired sets (their leaves)
// that are in sync; drifted fields belong to whoever changed them since.
// An entry, not a manager name: kubectl apply --server-side and kubectl
// scale share the name "kubectl". "" when nobody owns any.
func (os owners) applier(desired map[string]any, drifted []FieldDiff) string {
	counts := make([]int, len(os))
	isDrifted := func(p Path) bool {
		ps := p.String()
		for _, d := range drifted {
			if ps == d.Path || (strings.HasPrefix(ps, d.Path) && (ps[len(d.Path)] == '.' || ps[len(d.Path)] == '[')) {
				return true
			}
		}
		return false
	}
	var walk func(v any, p Path)
	walk = func(v any, p Path) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(e, p.child(fieldStep(k)))
			}
			return
		case []any:
			// A list is owned as a whole or by items: count it once.
		}
		if isDrifted(p) {
			return
		}
		for i := range os {
			if owns(os[i].fields, p) {
				counts[i]++
			}
		}
	}
	walk(desired, nil)
	best, name := 0, ""
	for i, n := range counts {
		if n > best {
			best, name = n, os[i].entry()
		}
	}
	return name
}
