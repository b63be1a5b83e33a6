// Package drift compares desired objects with live ones, field by field,
// and reports the result.
//
// Why not structured-merge-diff's typed values: converting both objects to
// SMD typed values and comparing field sets gives server-side apply's list
// semantics, but it compares scalars structurally (1000m is not 1), cannot
// skip zero values the server omits, allocates a typed tree per object per
// comparison (the comparison runs on every informer event), and needs a
// type converter built from every group's schema up front. Instead the
// comparison walks the unstructured objects once and reads the few schema
// facts it needs (list types and keys, atomic maps, quantities, defaults,
// pruning) from the same OpenAPI v3 documents, fetched per group-version.
// Its verdicts are checked against the API server's own: every case of
// testdata/fidelity is compared with a server-side apply dry run.
package drift

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

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
	// Reordered: a keyed list or set holds the desired items, in another
	// order; Desired and Live list the item keys in their order. Applying
	// Git would restore its order (server-side apply does), and order can
	// matter (env variables referring to earlier ones).
	Reordered DiffType = "Reordered"
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
	// Sensitive marks a Secret value (or a field configured as sensitive):
	// the report says it differs, never what it is.
	Sensitive bool `json:"sensitive,omitempty"`
	// DesiredHash and LiveHash identify sensitive values by a short keyed
	// hash (HMAC-SHA256), so equal values are recognisable across runs
	// without being revealed; empty without a hash key.
	DesiredHash string `json:"desiredHash,omitempty"`
	LiveHash    string `json:"liveHash,omitempty"`
	// ChangedBy is the field manager owning the live value, from the live
	// object's managedFields; nil when nobody owns it (e.g. Removed).
	ChangedBy *ChangedBy `json:"changedBy,omitempty"`
	// Severity is how much the drift matters (Config.Classify); empty
	// until classified.
	Severity Severity `json:"severity,omitempty"`

	path Path
}

// ParsedPath returns the structured form of Path.
func (d FieldDiff) ParsedPath() Path { return d.path }

// Options tune a comparison. The zero value compares without a schema (list
// matching and quantities then follow built-in heuristics) and shows no
// hashes of sensitive values.
type Options struct {
	// Schema of the kind, from the cluster's OpenAPI v3 document; nil when
	// unknown.
	Schema *Schema
	// HashKey keys the hashes of sensitive values; nil shows none.
	HashKey []byte
	// Sensitive marks more fields (beyond Secret data) whose values must
	// never be shown.
	Sensitive func(Path) bool
	// Defaults, when set, gives the defaults the API server writes into
	// built-in kinds (see Defaulter); nil knows only the schema's.
	Defaults Defaulter
	// Added, when set, also reports fields Git does not set that a person
	// added by hand (see AddedPolicy); nil compares only the fields Git
	// sets, as server-side apply does.
	Added *AddedPolicy
}

// ignoredMetadata are metadata fields the server owns: a manifest exported
// with kubectl get -o yaml carries them, and they are never drift.
var ignoredMetadata = []string{
	"managedFields", "resourceVersion", "uid", "generation", "creationTimestamp",
	"selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences",
	"finalizers", "namespace", "name", "generateName",
}

// ignoredAnnotations are written by clients, installers and controllers,
// not by Git: kubectl's last-applied copy, the Deployment controller's
// revision, and the release annotations Helm adds to every object it
// installs (helm's setMetadataVisitor), which a chart never renders.
var ignoredAnnotations = []string{
	"kubectl.kubernetes.io/last-applied-configuration",
	"deployment.kubernetes.io/revision",
	HelmReleaseNameAnnotation,
	HelmReleaseNamespaceAnnotation,
}

// Helm's installer metadata: helm install and upgrade set these on every
// object of a release, overwriting whatever the chart rendered for them.
const (
	HelmReleaseNameAnnotation      = "meta.helm.sh/release-name"
	HelmReleaseNamespaceAnnotation = "meta.helm.sh/release-namespace"
	ManagedByLabel                 = "app.kubernetes.io/managed-by"
	ManagedByHelm                  = "Helm"
)

// installedByHelm reports whether live carries the metadata helm writes
// when it installs an object: its managed-by label is then helm's, not
// the chart's, and is not compared.
func installedByHelm(live map[string]any) bool {
	md, _ := live["metadata"].(map[string]any)
	labels, _ := md["labels"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	_, release := ann[HelmReleaseNameAnnotation]
	return release && labels[ManagedByLabel] == ManagedByHelm
}

// Compare returns how live differs from desired, looking only at the fields
// desired sets, as server-side apply does: whatever the server or another
// manager adds (defaults, status, metadata it owns, extra labels, extra
// items in keyed lists) is not drift.
//
// The cluster's schema decides how lists match: lists of type "map" by their
// key fields (a key field that desired omits takes its declared default, so
// ports match whatever protocol the server filled in), "set" lists as sets,
// atomic lists item by item when the lengths agree and whole otherwise;
// atomic maps must match whole. Inside an atomic list's items and an atomic
// map, a field live holds and desired does not set is drift too (applying
// Git would drop it), unless it is a zero value, a default, or an embedded
// object's apiVersion and kind. Without a schema, lists whose items all have
// a "name" are matched by name and other lists as atomic. Numbers compare
// by value whatever their JSON type, quantities by amount (1000m equals 1),
// and a zero value in desired (false, 0, "", {}, []) matches an absent live
// field, because the API server omits empty fields when it stores them.
// Fields the schema does not declare (and would prune) are skipped.
//
// Where something differs, the defaults the API server writes (the
// schema's declared defaults, and Options.Defaults for built-in kinds) are
// filled into desired and the comparison is repeated: only differences
// that remain are reported, so a default the server wrote inside an atomic
// structure is not drift.
//
// Secret data is compared after merging stringData (base64-encoded) into
// data, as the API server does, and its values never appear in the result.
// Every Changed field is attributed to the manager owning the live value.
// Neither object is modified.
func Compare(desired, live *unstructured.Unstructured, opts Options) []FieldDiff {
	diffs := compare(desired, live, opts)
	if len(diffs) == 0 {
		return nil
	}
	// Only now, with something found, ask what the server would have
	// stored for desired: the in-sync path never pays for defaulting.
	if d := withDefaults(desired, opts); d != nil {
		diffs = stillDiffer(diffs, compare(&unstructured.Unstructured{Object: d}, live, opts))
		if len(diffs) == 0 {
			return nil
		}
	}
	return diffs
}

// compare is one pass of Compare, without defaults.
func compare(desired, live *unstructured.Unstructured, opts Options) []FieldDiff {
	d := normalizeDesired(desired, live.Object)
	c := comparer{secret: isSecret(desired), opts: opts}
	c.walk(nil, opts.Schema, d, live.Object, true)
	c.findAdded(d, live)
	if len(c.diffs) == 0 {
		return nil
	}
	sort.SliceStable(c.diffs, func(i, j int) bool { return c.diffs[i].Path < c.diffs[j].Path })
	own := c.liveOwners(live)
	applier, known := "", false
	for i := range c.diffs {
		if c.diffs[i].Type != Changed {
			continue
		}
		cb := own.ownerOf(c.diffs[i].path)
		if cb != nil {
			if !known {
				applier, known = own.applier(d, c.diffs), true
			}
			cb.Applier = cb.entry() == applier
		}
		c.diffs[i].ChangedBy = cb
	}
	return c.diffs
}

func isSecret(u *unstructured.Unstructured) bool {
	gvk := u.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Secret"
}

// normalizeDesired returns a view of desired without the fields that are
// never compared: server-owned metadata, annotations clients and installers
// write, and the managed-by label of an object helm installed (helm
// overwrites it with its own). Only the maps it changes are copied (the top
// level, metadata, annotations, labels, a Secret's data): the comparison
// only reads, and a deep copy per comparison would cost more than the
// comparison itself.
func normalizeDesired(desired *unstructured.Unstructured, live map[string]any) map[string]any {
	d := shallow(desired.Object)
	delete(d, "status")
	delete(d, "apiVersion")
	delete(d, "kind")
	if md, ok := d["metadata"].(map[string]any); ok {
		md = shallow(md)
		d["metadata"] = md
		for _, f := range ignoredMetadata {
			delete(md, f)
		}
		if ann, ok := md["annotations"].(map[string]any); ok {
			ann = shallow(ann)
			md["annotations"] = ann
			for _, a := range ignoredAnnotations {
				delete(ann, a)
			}
			for k := range ann {
				if strings.HasPrefix(k, AnnotationPrefix) {
					delete(ann, k)
				}
			}
		}
		if labels, ok := md["labels"].(map[string]any); ok {
			if _, set := labels[ManagedByLabel]; set && installedByHelm(live) {
				labels = shallow(labels)
				delete(labels, ManagedByLabel)
				md["labels"] = labels
			}
		}
	}
	if isSecret(desired) {
		if data, ok := d["data"].(map[string]any); ok {
			d["data"] = shallow(data)
		}
		mergeStringData(d)
	}
	return d
}

func shallow(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
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
	opts   Options
	diffs  []FieldDiff
	// strict compares inside a structure server-side apply replaces whole
	// (an atomic list's items, an atomic map): there a field live holds and
	// desired lacks is drift too, at any depth, unless it is a zero value
	// or its declared default, since applying Git would remove it.
	strict bool
	// owners is live's managedFields, parsed once (liveOwners).
	owners       owners
	ownersParsed bool
}

// node is a path under construction: a step linked to its parent, so
// descending costs one small allocation and no copying; the Path slice is
// built only when a diff is recorded. A nil node is the root.
type node struct {
	parent *node
	step   Step
	depth  int
}

func (n *node) child(s Step) *node {
	d := 1
	if n != nil {
		d = n.depth + 1
	}
	return &node{parent: n, step: s, depth: d}
}

// nodeOf turns a Path back into a node chain.
func nodeOf(p Path) *node {
	var n *node
	for _, s := range p {
		n = n.child(s)
	}
	return n
}

// path materialises the steps from the root.
func (n *node) path() Path {
	if n == nil {
		return nil
	}
	p := make(Path, n.depth)
	for x := n; x != nil; x = x.parent {
		p[x.depth-1] = x.step
	}
	return p
}

func (c *comparer) sensitive(p Path) bool {
	if c.secret && (p.HasPrefix("data") || p.HasPrefix("stringData")) {
		return true
	}
	return c.opts.Sensitive != nil && c.opts.Sensitive(p)
}

func (c *comparer) add(n *node, t DiffType, desired, live any) {
	p := n.path()
	fd := FieldDiff{Path: p.String(), Type: t, Desired: desired, Live: live, path: p}
	if c.sensitive(p) || c.holdsSensitive(p, desired) || c.holdsSensitive(p, live) {
		fd.Desired, fd.Live, fd.Sensitive = nil, nil, true
		if c.opts.HashKey != nil {
			fd.DesiredHash = keyedHash(c.opts.HashKey, desired)
			if t == Changed {
				fd.LiveHash = keyedHash(c.opts.HashKey, live)
			}
		}
	}
	c.diffs = append(c.diffs, fd)
}

// holdsSensitive reports whether a value shown at p contains a field
// configured as sensitive (a removed list item, a whole atomic list): the
// value is then hidden as a whole. List items are offered to the rules by
// position and, when they have one, by name.
func (c *comparer) holdsSensitive(p Path, v any) bool {
	if c.opts.Sensitive == nil {
		return false
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			q := p.child(fieldStep(k))
			if c.opts.Sensitive(q) || c.holdsSensitive(q, e) {
				return true
			}
		}
	case []any:
		for i, e := range x {
			step := Step{Index: i, liveItem: e}
			if m, ok := e.(map[string]any); ok {
				if n, ok := m["name"].(string); ok {
					step.Keys = []KeyValue{{Key: "name", Value: n}}
				}
			}
			q := p.child(step)
			if c.opts.Sensitive(q) || c.holdsSensitive(q, e) {
				return true
			}
		}
	}
	return false
}

// keyedHash is a short HMAC-SHA256 of a value's text: enough to tell equal
// values apart across runs, useless for guessing them without the key.
func keyedHash(key []byte, v any) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprint(m, v)
	return "hmac:" + hex.EncodeToString(m.Sum(nil))[:12]
}

// walk compares desired with live at path p. liveSet says whether live has
// the field at all. A desired null (`annotations:` with nothing under it,
// as many chart templates render) sets nothing, as server-side apply reads
// it: whatever live holds there is not drift.
func (c *comparer) walk(p *node, sc *Schema, desired, live any, liveSet bool) {
	if desired == nil {
		return
	}
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
		if sc != nil && sc.Atomic {
			if !c.atomicEqual(p, sc, d, l) {
				c.add(p, Changed, desired, live)
			}
			return
		}
		keys := make([]string, 0, len(d))
		for k := range d {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if sc.Prunes(k) {
				// Not in the schema: the API server drops it on write
				// (a typo, or a field of a newer version), so live can
				// never have it.
				continue
			}
			lv, ok := l[k]
			c.walk(p.child(fieldStep(k)), sc.Field(k), d[k], lv, ok)
		}
		if c.strict && !onlyDefaultsBeyond(sc, d, l) {
			c.add(p, Changed, desired, live)
		}
	case []any:
		l, ok := live.([]any)
		if !ok {
			c.add(p, Changed, desired, live)
			return
		}
		c.walkList(p, sc, d, l)
	default:
		if !scalarEqual(p, sc, desired, live) {
			c.add(p, Changed, desired, live)
		}
	}
}

// atomicEqual compares an atomic map or object: desired's fields must match
// and live may hold nothing else but zero values and declared defaults.
func (c *comparer) atomicEqual(p *node, sc *Schema, d, l map[string]any) bool {
	sub := comparer{secret: c.secret, opts: c.opts, strict: true}
	for k, dv := range d {
		if sc.Prunes(k) {
			continue
		}
		lv, ok := l[k]
		sub.walk(p.child(fieldStep(k)), sc.Field(k), dv, lv, ok)
	}
	return len(sub.diffs) == 0 && onlyDefaultsBeyond(sc, d, l)
}

// onlyDefaultsBeyond reports whether every field of l that d lacks is a
// zero value (the server omits those), the schema's declared default, or
// type information the server writes.
func onlyDefaultsBeyond(sc *Schema, d, l map[string]any) bool {
	for k, lv := range l {
		if d[k] != nil || isZero(lv) || serverTypeMeta(k, d, l) {
			continue
		}
		if def := sc.Field(k); def == nil || def.Default == nil || !valueEqual(nil, def.Default, lv) {
			return false
		}
	}
	return true
}

// serverTypeMeta reports whether l's field k is the apiVersion or kind of
// an embedded object d gives neither of: type information the API server
// writes itself when it converts the object (a StatefulSet's
// volumeClaimTemplates get apiVersion v1 and kind PersistentVolumeClaim,
// kubernetes/kubernetes#87583), not content anyone set.
func serverTypeMeta(k string, d, l map[string]any) bool {
	if k != "apiVersion" && k != "kind" {
		return false
	}
	_, dVersion := d["apiVersion"]
	_, dKind := d["kind"]
	_, lKind := l["kind"]
	return !dVersion && !dKind && lKind
}

func (c *comparer) walkList(p *node, sc *Schema, d, l []any) {
	listType, keys := "", []string(nil)
	if sc != nil {
		listType, keys = sc.ListType, sc.ListKeys
	}
	// Only a list the schema declares atomic is compared strictly; one
	// guessed atomic for want of a schema may be keyed after all.
	declared := listType == "atomic"
	if listType == "" {
		// No schema: lists of named objects are keyed by name (containers,
		// env, volumes), the rest treated as atomic.
		listType = "atomic"
		if _, ok := byKeys(d, []string{"name"}, nil); ok {
			if _, _, ok := liveByKeys(l, []string{"name"}, nil); ok {
				listType, keys = "map", []string{"name"}
			}
		}
	}
	switch listType {
	case "map":
		if c.walkMapList(p, sc, keys, d, l) {
			return
		}
	case "set":
		var order []int
		for _, dv := range d {
			found := -1
			for i, lv := range l {
				if valueEqual(p, dv, lv) {
					found = i
					break
				}
			}
			if found < 0 {
				c.add(p, Changed, d, l)
				return
			}
			order = append(order, found)
		}
		if c.strict && len(l) != len(d) {
			c.add(p, Changed, d, l)
			return
		}
		if !increasing(order) {
			c.add(p, Reordered, d, l)
		}
		return
	}
	c.walkAtomicList(p, sc, d, l, declared)
}

// walkMapList matches items by their key fields. It returns false when the
// items do not carry usable keys, for the caller to fall back to atomic.
func (c *comparer) walkMapList(p *node, sc *Schema, keys []string, d, l []any) bool {
	defaults := map[string]any{}
	for _, k := range keys {
		if f := sc.Item().Field(k); f != nil && f.Default != nil {
			defaults[k] = f.Default
		}
	}
	live, dups, ok := liveByKeys(l, keys, defaults)
	if !ok {
		return false
	}
	desired, ok := byKeys(d, keys, defaults)
	if !ok {
		return false
	}
	for id := range dups {
		if _, declared := desired[id]; declared {
			// Server-side apply owns duplicated items as one unit: Git
			// declaring the key rewrites the list without the duplicate.
			c.add(p, Changed, d, l)
			return true
		}
	}
	pos := make(map[string]int, len(l))
	for i, it := range l {
		id, _ := itemKey(it.(map[string]any), keys, defaults)
		if _, seen := pos[id]; !seen {
			pos[id] = i
		}
	}
	var order []int
	for i, item := range d {
		m := item.(map[string]any)
		id, kvs := itemKey(m, keys, defaults)
		lv, found := live[id]
		step := Step{Keys: kvs, Index: i, liveItem: lv}
		c.walk(p.child(step), sc.Item(), item, lv, found)
		if found {
			order = append(order, pos[id])
		}
	}
	if c.strict && len(l) != len(d) {
		// Items another manager added: part of the whole.
		c.add(p, Changed, d, l)
	}
	if !increasing(order) {
		var desiredIDs []any
		for _, item := range d {
			_, kvs := itemKey(item.(map[string]any), keys, defaults)
			desiredIDs = append(desiredIDs, Path{{Keys: kvs}}.String())
		}
		var liveIDs []any
		for _, it := range l {
			_, kvs := itemKey(it.(map[string]any), keys, defaults)
			liveIDs = append(liveIDs, Path{{Keys: kvs}}.String())
		}
		c.add(p, Reordered, desiredIDs, liveIDs)
	}
	return true
}

func increasing(xs []int) bool {
	for i := 1; i < len(xs); i++ {
		if xs[i] < xs[i-1] {
			return false
		}
	}
	return true
}

// walkAtomicList compares a list replaced as a whole (server-side apply
// owns it as one field), so a difference is reported at the list. Items are
// compared one by one when the lengths agree. When the schema declares the
// list atomic, strictly: a field an item holds live and Git does not set is
// drift (applying Git would drop it) unless it is a zero value or a
// declared default; the defaults the server fills into items of built-in
// kinds are taken out by Compare's second pass. A list only guessed atomic
// (no schema) compares desired's fields only.
func (c *comparer) walkAtomicList(p *node, sc *Schema, d, l []any, declared bool) {
	if len(d) != len(l) {
		c.add(p, Changed, d, l)
		return
	}
	for i := range d {
		if dm, ok := d[i].(map[string]any); ok {
			if _, ok := l[i].(map[string]any); ok {
				sub := comparer{secret: c.secret, opts: c.opts, strict: c.strict || declared}
				sub.walk(p.child(Step{Index: i}), sc.Item(), dm, l[i], true)
				if len(sub.diffs) == 0 {
					continue
				}
			}
		} else if valueEqual(p, d[i], l[i]) {
			continue
		}
		c.add(p, Changed, d, l)
		return
	}
}

// byKeys indexes list items by their key fields; false when an item is no
// object, lacks a key without default, or two items share a key.
func byKeys(items []any, keys []string, defaults map[string]any) (map[string]any, bool) {
	out := make(map[string]any, len(items))
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, false
		}
		id, kvs := itemKey(m, keys, defaults)
		if len(kvs) < len(keys) {
			return nil, false
		}
		if _, dup := out[id]; dup {
			return nil, false
		}
		out[id] = it
	}
	return out, true
}

// liveByKeys is byKeys for the live list, which the API server lets hold
// duplicate keys (two env vars of one name, written by an update). It
// keeps the first item of each key and names the keys seen more than
// once; server-side apply leaves such items alone unless Git declares
// their key.
func liveByKeys(items []any, keys []string, defaults map[string]any) (map[string]any, map[string]bool, bool) {
	out := make(map[string]any, len(items))
	var dups map[string]bool
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, nil, false
		}
		id, kvs := itemKey(m, keys, defaults)
		if len(kvs) < len(keys) {
			return nil, nil, false
		}
		if _, dup := out[id]; dup {
			if dups == nil {
				dups = map[string]bool{}
			}
			dups[id] = true
			continue
		}
		out[id] = it
	}
	return out, dups, true
}

// itemKey builds an item's identity from its key fields, taking declared
// defaults for absent ones. Numbers are normalised so 80 and 80.0 agree.
func itemKey(m map[string]any, keys []string, defaults map[string]any) (string, []KeyValue) {
	var b strings.Builder
	kvs := make([]KeyValue, 0, len(keys))
	for _, k := range keys {
		v, ok := m[k]
		if !ok {
			if v, ok = defaults[k]; !ok {
				continue
			}
		}
		if f, isNum := number(v); isNum {
			v = f
		}
		t := keyText(v)
		kvs = append(kvs, KeyValue{Key: k, Value: t})
		b.WriteString(k + "\x00" + t + "\x00")
	}
	return b.String(), kvs
}

// valueEqual compares whole values, numbers by value.
func valueEqual(p *node, a, b any) bool {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for k, x := range av {
			y, ok := bv[k]
			if !ok || !valueEqual(p.child(fieldStep(k)), x, y) {
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
	return scalarEqual(p, nil, a, b)
}

// scalarEqual compares two scalars: numbers by value whatever their JSON
// type, quantities by amount.
func scalarEqual(p *node, sc *Schema, a, b any) bool {
	isQuantity := sc != nil && sc.Quantity
	if sc == nil {
		isQuantity = inQuantityField(p)
	}
	if isQuantity && quantityEqual(a, b) {
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

// quantityParents are the fields whose map values are resource.Quantity,
// used when the cluster publishes no schema: container resources,
// ResourceQuota hard/used, LimitRange bounds, PVC and node capacities.
var quantityParents = map[string]bool{
	"limits": true, "requests": true, "hard": true, "capacity": true, "allocatable": true,
	"max": true, "min": true, "default": true, "defaultRequest": true, "maxLimitRequestRatio": true,
}

func inQuantityField(p *node) bool {
	if p == nil || p.parent == nil {
		return false
	}
	return quantityParents[p.parent.step.Field]
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

// FirstDifference says where inside two values (an atomic map or list
// that differs as a whole) they first differ: the path below them
// (".key", "[2]", "[0].apiGroup"), and the value on each side there, with
// dok or lok false where that side has nothing. Keys are visited in sorted
// order and list items by position. ok is false when the values are equal
// or not both maps or both lists.
func FirstDifference(desired, live any) (where string, d any, dok bool, l any, lok bool, ok bool) {
	switch dv := desired.(type) {
	case map[string]any:
		lv, isMap := live.(map[string]any)
		if !isMap {
			return "", nil, false, nil, false, false
		}
		keys := make([]string, 0, len(dv)+len(lv))
		for k := range dv {
			keys = append(keys, k)
		}
		for k := range lv {
			if _, both := dv[k]; !both {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			a, aok := dv[k]
			b, bok := lv[k]
			step := Path{fieldStep(k)}.String() // k, or ["k"] when it needs quoting
			if !strings.HasPrefix(step, "[") {
				step = "." + step
			}
			switch {
			case aok != bok:
				return step, a, aok, b, bok, true
			case !valueEqual(nil, a, b):
				if w, x, xok, y, yok, deeper := FirstDifference(a, b); deeper {
					return step + w, x, xok, y, yok, true
				}
				return step, a, true, b, true, true
			}
		}
	case []any:
		lv, isList := live.([]any)
		if !isList {
			return "", nil, false, nil, false, false
		}
		for i := 0; i < max(len(dv), len(lv)); i++ {
			step := "[" + strconv.Itoa(i) + "]"
			switch {
			case i >= len(dv):
				return step, nil, false, lv[i], true, true
			case i >= len(lv):
				return step, dv[i], true, nil, false, true
			case !valueEqual(nil, dv[i], lv[i]):
				if w, x, xok, y, yok, deeper := FirstDifference(dv[i], lv[i]); deeper {
					return step + w, x, xok, y, yok, true
				}
				return step, dv[i], true, lv[i], true, true
			}
		}
	}
	return "", nil, false, nil, false, false
}
