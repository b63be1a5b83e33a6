package pipeline

import (
	"maps"
	"slices"

	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/informer"
)

// Desired objects as a Monitor holds them. A watch keeps every desired
// object for as long as it runs, and a rendered object decoded into maps
// costs about ten times its JSON text: the bench's heap profile of a
// watch at 10,000 objects (ConfigMaps with 10 keys, two-container
// Deployments) showed 8 KB of maps per desired object, against about 650
// bytes of JSON. A comparison needs the maps only while it runs, and a
// watch compares an object only when its live state or its desired state
// changes; so the Monitor keeps each desired object packed
// (gitsource.Packed: deflated JSON text, identity and labels read out)
// and decodes it afresh for the comparison (tens of microseconds, against
// the milliseconds an informer event takes to arrive). driftwatch watch
// renders packed; objects that come unpacked are packed here.
//
// A target is held as small as that: its packed object (shared with the
// Monitor's list of every desired object), a pointer to its placement
// (scope and mapping, shared by the targets of one kind in one
// namespace) and its resolution error. As a Target (object, namespace,
// scope, mapping: 296 bytes) in the Monitor's map it cost about 400 bytes
// per object before any of its strings.

// holdObjects packs every object (those packed already are kept as they
// are); the first that cannot be packed is an error (rendering produced
// it from JSON or YAML, so none should fail).
func holdObjects(objs []gitsource.Object) ([]gitsource.Object, error) {
	out := make([]gitsource.Object, 0, len(objs))
	for _, o := range objs {
		p, err := o.Pack()
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// placement is where a resolved target lives; shared (see placements).
type placement struct {
	Scope   informer.Scope
	Mapping informer.Mapping
}

// placements interns placements for one re-plan.
type placements map[placement]*placement

func (ps placements) of(t Target) *placement {
	if t.Err != nil {
		return nil
	}
	k := placement{Scope: t.Scope, Mapping: t.Mapping}
	if p, ok := ps[k]; ok {
		return p
	}
	p := &k
	ps[k] = p
	return p
}

// heldTarget is a resolved target as a Monitor holds it: obj packed, the
// placement (nil when err is set), and the resolution error.
type heldTarget struct {
	obj   gitsource.Object
	place *placement
	err   error
}

// holdTarget holds t, whose object is packed (holdObjects).
func holdTarget(t Target, ps placements) heldTarget {
	return heldTarget{obj: t.Object, place: ps.of(t), err: t.Err}
}

// base is the target without its object's content (Object nil).
func (h heldTarget) base() Target {
	t := Target{Object: h.obj, Err: h.err}
	if h.place != nil {
		// A resolved target's namespace is its scope's (see resolve).
		t.Namespace, t.Scope, t.Mapping = h.place.Scope.Namespace, h.place.Scope, h.place.Mapping
	}
	return t
}

// scope is the target's informer scope (zero when unresolved).
func (h heldTarget) scope() informer.Scope {
	if h.place == nil {
		return informer.Scope{}
	}
	return h.place.Scope
}

// mapping is the target's mapping (zero when unresolved).
func (h heldTarget) mapping() informer.Mapping {
	if h.place == nil {
		return informer.Mapping{}
	}
	return h.place.Mapping
}

// target decodes the held target afresh: the caller owns its object. On
// error, the target is returned without its content.
func (h heldTarget) target() (Target, error) {
	t := h.base()
	o, err := h.obj.Unpack()
	if err != nil {
		return t, err
	}
	t.Object = o
	return t, nil
}

// sameAs reports whether a new target is the same comparison as h: same
// desired content, same resolution, same rendering facts. A verdict on h
// then stands for the new one until the live object changes.
func (h heldTarget) sameAs(n heldTarget) bool {
	a, b := h.obj, n.obj
	return h.err == nil && n.err == nil && h.place != nil && n.place != nil && *h.place == *n.place &&
		a.Packed != nil && b.Packed != nil && a.Packed.Sum() == b.Packed.Sum() &&
		a.Origin == b.Origin && a.DefaultNamespace == b.DefaultNamespace &&
		slices.Equal(a.NotCompared, b.NotCompared) && maps.Equal(a.NotComparedWhy, b.NotComparedWhy) &&
		slices.Equal(a.Sensitive, b.Sensitive)
}
