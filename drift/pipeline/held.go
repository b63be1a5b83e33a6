package pipeline

import (
	"bytes"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftwatch/driftwatch/gitsource"
)

// Desired objects as a Monitor holds them. A watch keeps every desired
// object for as long as it runs, and a rendered object decoded into maps
// costs about ten times its JSON text: the bench's heap profile of a
// watch at 10,000 objects (ConfigMaps with 10 keys, two-container
// Deployments) showed 8 KB of maps per desired object, against about 650
// bytes of JSON. A comparison needs the maps only while it runs, and a
// watch compares an object only when its live state or its desired state
// changes; so the Monitor keeps each desired object as its JSON text and
// decodes it afresh for the comparison (tens of microseconds, against the
// milliseconds an informer event takes to arrive).

// heldObject is a desired object kept as JSON text: obj is the object
// without its content (Object nil), raw its content.
type heldObject struct {
	obj gitsource.Object
	raw []byte
	gvk schema.GroupVersionKind
}

func holdObject(o gitsource.Object) (heldObject, error) {
	if o.Packed != nil {
		// Packed by the renderer: held as it is (raw nil).
		return heldObject{obj: o, gvk: o.GroupVersionKind()}, nil
	}
	raw, err := o.Object.MarshalJSON()
	if err != nil {
		return heldObject{}, fmt.Errorf("desired object %s: %w", describeObject(o.Object), err)
	}
	// The encoder's buffer grew by doubling: keep the bytes, not the
	// spare capacity (a third of the held heap, measured at 100,000).
	raw = bytes.Clone(raw)
	gvk := o.Object.GroupVersionKind()
	o.Object = nil
	return heldObject{obj: o, raw: raw, gvk: gvk}, nil
}

// object decodes the held object afresh: the caller owns it.
func (h heldObject) object() (gitsource.Object, error) {
	if h.raw == nil && h.obj.Packed != nil {
		return h.obj.Unpack()
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(h.raw); err != nil {
		return gitsource.Object{}, fmt.Errorf("desired object: %w", err)
	}
	o := h.obj
	o.Object, o.Packed = u, nil
	return o, nil
}

// holdObjects packs every object; the first that cannot be packed is an
// error (rendering produced it from JSON or YAML, so none should fail).
func holdObjects(objs []gitsource.Object) ([]heldObject, error) {
	out := make([]heldObject, 0, len(objs))
	for _, o := range objs {
		h, err := holdObject(o)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// unholdObjects returns the held objects for planning: those the renderer
// packed stay packed (planning reads only their identity), the others are
// decoded.
func unholdObjects(held []heldObject) ([]gitsource.Object, error) {
	out := make([]gitsource.Object, 0, len(held))
	for _, h := range held {
		if h.obj.Packed != nil {
			out = append(out, h.obj)
			continue
		}
		o, err := h.object()
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// heldTarget is a resolved target kept the same way: t without its
// object's content, raw the content, id the object's identity (objectID),
// which re-planning reads without decoding.
type heldTarget struct {
	t   Target
	raw []byte
	id  string
	gvk schema.GroupVersionKind
}

// holdTarget holds t; known, if it holds t's object already (the
// Monitor's copy of every desired object), gives its JSON text, which the
// target then shares.
func holdTarget(t Target, known map[*unstructured.Unstructured][]byte) (heldTarget, error) {
	id := objectID(t.Object)
	if t.Object.Packed != nil {
		return heldTarget{t: t, id: id, gvk: t.Object.GroupVersionKind()}, nil
	}
	if raw, ok := known[t.Object.Object]; ok {
		gvk := t.Object.Object.GroupVersionKind()
		t.Object.Object = nil
		return heldTarget{t: t, raw: raw, id: id, gvk: gvk}, nil
	}
	h, err := holdObject(t.Object)
	if err != nil {
		return heldTarget{}, err
	}
	t.Object = h.obj
	return heldTarget{t: t, raw: h.raw, id: id, gvk: h.gvk}, nil
}

// target decodes the held target afresh: the caller owns its object.
func (h heldTarget) target() (Target, error) {
	o, err := heldObject{obj: h.t.Object, raw: h.raw}.object()
	if err != nil {
		return Target{}, err
	}
	t := h.t
	t.Object = o
	return t, nil
}

// sameAs reports whether a new target is the same comparison as h: same
// desired content, same resolution, same rendering facts. A verdict on h
// then stands for the new one until the live object changes.
func (h heldTarget) sameAs(n heldTarget) bool {
	a, b := h.t, n.t
	return a.Err == nil && b.Err == nil && sameContent(h, n) &&
		a.Namespace == b.Namespace && a.Scope == b.Scope && a.Mapping == b.Mapping &&
		a.Object.Origin == b.Object.Origin && a.Object.DefaultNamespace == b.Object.DefaultNamespace &&
		slices.Equal(a.Object.NotCompared, b.Object.NotCompared) && slices.Equal(a.Object.Sensitive, b.Object.Sensitive)
}

// sameContent reports whether two held targets hold the same desired
// object.
func sameContent(a, b heldTarget) bool {
	pa, pb := a.t.Object.Packed, b.t.Object.Packed
	if pa != nil && pb != nil {
		return pa.Sum() == pb.Sum()
	}
	return pa == nil && pb == nil && bytes.Equal(a.raw, b.raw)
}

func describeObject(u *unstructured.Unstructured) string {
	if u == nil {
		return "(none)"
	}
	if ns := u.GetNamespace(); ns != "" {
		return u.GetKind() + " " + ns + "/" + u.GetName()
	}
	return u.GetKind() + " " + u.GetName()
}
