package informer

import (
	"slices"
	"strings"
	"sync/atomic"
	"unique"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// packedObject is what PackTransform leaves in the cache for one object:
// the few fields the cache's keys, Metadata and List need, and the object's
// JSON text until Release drops it.
//
// Why a struct and not an *unstructured.Unstructured stub: a watch holds one
// stub per watched object for as long as it runs, and after Release the stub
// is all it holds of the live object. As maps (an outer map, a metadata map
// and the labels map, a boxed body), a released stub cost 1,360 B on the
// heap: Go maps of up to eight entries cost about 300 B each whatever they
// hold. As this struct it costs 176 B: the struct (40 B, in a 48 B size
// class) and its text (115 to 127 B, in a 128 B size class), measured by
// BenchmarkStubHeap over 10,000 objects, half ConfigMaps with 10 keys,
// half two-container Deployments, with two app.kubernetes.io labels each
// (the labels are over half the text). Until released, the JSON body adds
// its length: 1,281 B per object held, against 2,465 B as maps. What makes
// it small:
//
//   - apiVersion, kind and namespace are the same for every object of a
//     scope: they are interned (unique.Handle), one pointer per stub;
//   - name, resourceVersion, uid and labels share one string, read back
//     by offset: one allocation instead of four (the allocator rounds each
//     up to its size class), one string header instead of four;
//   - labels, which only extra detection reads, are "k1\x00v1\x00k2\x00v2"
//     (keys sorted) and become a map only when Metadata or List asks.
//
// A stub is never modified after PackTransform made it (the informer's
// goroutines read it concurrently) except for its body, released
// atomically. It implements what client-go's cache reads of a stored
// object, and only that: runtime.Object, and metav1.Object for the store's
// key function (meta.Accessor: namespace and name) and resourceVersion
// (the thread-safe store's metrics, OnUpdate's resync test). It keeps no
// other metadata; the getters of what it does not keep return zero values,
// and its setters do nothing: client-go v0.37.2's tools/cache calls none on
// stored objects, and callers get objects of their own from Get, Metadata
// and List.
type packedObject struct {
	scope unique.Handle[packedScope]
	// text is name, resourceVersion, uid and the encoded labels, one after
	// the other; nameEnd, rvEnd and uidEnd end the first three. Names are
	// at most 253 bytes and resourceVersions and uids a few dozen, so
	// uint16 offsets suffice; PackTransform leaves an object that does
	// not fit unpacked.
	text                   string
	nameEnd, rvEnd, uidEnd uint16
	// body is the object's JSON text, nil once released.
	body atomic.Pointer[string]
}

// packedScope is the part of a stub shared by the objects of one kind in
// one namespace; interned, so that each stub holds a pointer to it.
type packedScope struct{ apiVersion, kind, namespace string }

var (
	_ runtime.Object    = (*packedObject)(nil)
	_ metav1.Object     = (*packedObject)(nil)
	_ schema.ObjectKind = (*packedObject)(nil)
)

// labelSep separates label keys and values in a stub's text. Label keys
// and values cannot hold it (the API server validates them), and
// newPackedObject refuses labels that do.
const labelSep = "\x00"

// newPackedObject makes the stub of u with body as its JSON text; ok is
// false if u's metadata cannot be packed (labels that are not strings or
// hold labelSep, fields too long for the offsets), and u is then cached as
// it is.
func newPackedObject(u *unstructured.Unstructured, body string) (p *packedObject, ok bool) {
	name, rv, uid := u.GetName(), u.GetResourceVersion(), string(u.GetUID())
	md, _ := u.Object["metadata"].(map[string]any)
	labels, _ := md["labels"].(map[string]any)
	keys := make([]string, 0, len(labels))
	size := len(name) + len(rv) + len(uid)
	for k, v := range labels {
		s, isString := v.(string)
		if !isString || strings.Contains(k, labelSep) || strings.Contains(s, labelSep) {
			return nil, false
		}
		keys = append(keys, k)
		size += len(k) + len(s) + 2*len(labelSep)
	}
	if len(name)+len(rv)+len(uid) > 0xffff {
		return nil, false
	}
	slices.Sort(keys)
	var b strings.Builder
	b.Grow(size)
	b.WriteString(name)
	b.WriteString(rv)
	b.WriteString(uid)
	for i, k := range keys {
		if i > 0 {
			b.WriteString(labelSep)
		}
		b.WriteString(k)
		b.WriteString(labelSep)
		b.WriteString(labels[k].(string))
	}
	p = &packedObject{
		scope:   unique.Make(packedScope{u.GetAPIVersion(), u.GetKind(), u.GetNamespace()}),
		text:    b.String(),
		nameEnd: uint16(len(name)),
		rvEnd:   uint16(len(name) + len(rv)),
		uidEnd:  uint16(len(name) + len(rv) + len(uid)),
	}
	p.body.Store(&body)
	return p, true
}

// release drops the stub's body.
func (p *packedObject) release() { p.body.Store(nil) }

// labelText is the encoded labels ("" when none).
func (p *packedObject) labelText() string { return p.text[p.uidEnd:] }

// eachLabel calls f with each label, in key order.
func (p *packedObject) eachLabel(f func(k, v string)) {
	t := p.labelText()
	for t != "" {
		k, rest, _ := strings.Cut(t, labelSep)
		v, rest, _ := strings.Cut(rest, labelSep)
		f(k, v)
		t = rest
	}
}

// metadata returns a new object holding what the stub keeps besides the
// body: apiVersion, kind and metadata (name, namespace, resourceVersion,
// uid, labels). The caller owns it.
func (p *packedObject) metadata() *unstructured.Unstructured {
	sc := p.scope.Value()
	md := map[string]any{"name": p.GetName()}
	if sc.namespace != "" {
		md["namespace"] = sc.namespace
	}
	if rv := p.GetResourceVersion(); rv != "" {
		md["resourceVersion"] = rv
	}
	if uid := p.GetUID(); uid != "" {
		md["uid"] = string(uid)
	}
	if p.labelText() != "" {
		l := map[string]any{}
		p.eachLabel(func(k, v string) { l[k] = v })
		md["labels"] = l
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": sc.apiVersion, "kind": sc.kind, "metadata": md,
	}}
}

// GetObjectKind implements runtime.Object.
func (p *packedObject) GetObjectKind() schema.ObjectKind { return p }

// DeepCopyObject implements runtime.Object. The strings are immutable and
// shared; the copy has its own body pointer.
func (p *packedObject) DeepCopyObject() runtime.Object {
	c := &packedObject{scope: p.scope, text: p.text, nameEnd: p.nameEnd, rvEnd: p.rvEnd, uidEnd: p.uidEnd}
	c.body.Store(p.body.Load())
	return c
}

// GroupVersionKind implements schema.ObjectKind.
func (p *packedObject) GroupVersionKind() schema.GroupVersionKind {
	sc := p.scope.Value()
	return schema.FromAPIVersionAndKind(sc.apiVersion, sc.kind)
}

// SetGroupVersionKind does nothing: a stub is immutable.
func (p *packedObject) SetGroupVersionKind(schema.GroupVersionKind) {}

// The getters of metav1.Object that the stub answers.

func (p *packedObject) GetNamespace() string       { return p.scope.Value().namespace }
func (p *packedObject) GetName() string            { return p.text[:p.nameEnd] }
func (p *packedObject) GetResourceVersion() string { return p.text[p.nameEnd:p.rvEnd] }
func (p *packedObject) GetUID() types.UID          { return types.UID(p.text[p.rvEnd:p.uidEnd]) }

// GetLabels returns a new map of the stub's labels (nil when none).
func (p *packedObject) GetLabels() map[string]string {
	if p.labelText() == "" {
		return nil
	}
	l := map[string]string{}
	p.eachLabel(func(k, v string) { l[k] = v })
	return l
}

// The rest of metav1.Object: metadata a stub does not keep (zero values)
// and setters, which do nothing because a stub is immutable.

func (p *packedObject) GetGenerateName() string                       { return "" }
func (p *packedObject) GetGeneration() int64                          { return 0 }
func (p *packedObject) GetSelfLink() string                           { return "" }
func (p *packedObject) GetCreationTimestamp() metav1.Time             { return metav1.Time{} }
func (p *packedObject) GetDeletionTimestamp() *metav1.Time            { return nil }
func (p *packedObject) GetDeletionGracePeriodSeconds() *int64         { return nil }
func (p *packedObject) GetAnnotations() map[string]string             { return nil }
func (p *packedObject) GetFinalizers() []string                       { return nil }
func (p *packedObject) GetOwnerReferences() []metav1.OwnerReference   { return nil }
func (p *packedObject) GetManagedFields() []metav1.ManagedFieldsEntry { return nil }
func (p *packedObject) SetNamespace(string)                           {}
func (p *packedObject) SetName(string)                                {}
func (p *packedObject) SetGenerateName(string)                        {}
func (p *packedObject) SetUID(types.UID)                              {}
func (p *packedObject) SetResourceVersion(string)                     {}
func (p *packedObject) SetGeneration(int64)                           {}
func (p *packedObject) SetSelfLink(string)                            {}
func (p *packedObject) SetCreationTimestamp(metav1.Time)              {}
func (p *packedObject) SetDeletionTimestamp(*metav1.Time)             {}
func (p *packedObject) SetDeletionGracePeriodSeconds(*int64)          {}
func (p *packedObject) SetLabels(map[string]string)                   {}
func (p *packedObject) SetAnnotations(map[string]string)              {}
func (p *packedObject) SetFinalizers([]string)                        {}
func (p *packedObject) SetOwnerReferences([]metav1.OwnerReference)    {}
func (p *packedObject) SetManagedFields([]metav1.ManagedFieldsEntry)  {}
