package informer

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The cache transform. Objects enter an informer's cache as the API server
// sent them, decoded into maps; two parts are costly and barely read:
//
//   - the last-applied-configuration annotation repeats the whole object,
//     and neither the comparison nor attribution reads it: it is dropped;
//   - managedFields hold one FieldsV1 tree per field manager, often as many
//     map nodes as the object itself, and only attribution reads them, for
//     the few objects that drifted. Each tree is kept as its JSON text
//     instead (CompactFields), one string that the garbage collector never
//     scans; drift.FieldsV1 reads either form back on demand.

// DefaultTransform drops the last-applied-configuration annotation and
// compacts managedFields; it is the transform of a Manager whose Options
// name none.
func DefaultTransform(obj any) (any, error) {
	obj, _ = DropLastApplied(obj)
	if u, ok := obj.(*unstructured.Unstructured); ok {
		CompactManagedFields(u)
	}
	return obj, nil
}

// CompactManagedFields replaces the FieldsV1 tree of each managedFields
// entry of u with its JSON text (drift.FieldsV1 reads either form).
func CompactManagedFields(u *unstructured.Unstructured) {
	md, _ := u.Object["metadata"].(map[string]any)
	mfs, _ := md["managedFields"].([]any)
	for _, e := range mfs {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		if tree, ok := m["fieldsV1"].(map[string]any); ok {
			m["fieldsV1"] = CompactFields(tree)
		}
	}
}

// CompactFields writes a FieldsV1 tree ("f:spec" → {"f:replicas": {}}) as
// JSON text. A FieldsV1 tree holds only maps with string keys (any other
// value is written as null), so this is much cheaper than encoding/json,
// and it does not sort keys.
func CompactFields(tree map[string]any) string {
	var b strings.Builder
	writeFields(&b, tree)
	return b.String()
}

func writeFields(b *strings.Builder, tree map[string]any) {
	b.WriteByte('{')
	first := true
	for k, v := range tree {
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeJSONString(b, k)
		b.WriteByte(':')
		if sub, ok := v.(map[string]any); ok {
			writeFields(b, sub)
		} else {
			b.WriteString("null")
		}
	}
	b.WriteByte('}')
}

// writeJSONString quotes s as JSON. Keys come from JSON the API server
// sent, so they are valid UTF-8, which JSON carries as it is.
func writeJSONString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b.WriteString(s[last:i])
		switch c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		}
		last = i + 1
	}
	b.WriteString(s[last:])
	b.WriteByte('"')
}

// Packed objects. Even compacted, an object decoded into maps costs several
// times its JSON size (a map header and a boxed value per field, each
// scanned by the garbage collector), and a Manager holds every object of
// its scopes for as long as it runs. PackTransform keeps each object as
// its JSON text instead, in a stub that holds only what the cache's keys
// need; Get and List decode it again, fresh, for the one comparison that
// needs it (an event, a re-plan). Decoding costs tens of microseconds per
// object; the memory held per object falls to its JSON size.

// packedKey holds a packed object's body (*packedBody) in its stub.
const packedKey = "driftwatch.dev/packed"

// packedBody is a packed object's JSON text. It can be released (Release):
// a watch that compared the object keeps its verdict, not its content,
// and the stub then holds only the keys' metadata and the labels. The
// stub's map is never written after the transform made it (the informer's
// goroutines read it concurrently); only this pointer changes, atomically.
type packedBody struct{ raw atomic.Pointer[string] }

// ErrReleased is returned by Unpack for a stub whose body was released.
var ErrReleased = errors.New("object body released after comparison")

// PackTransform drops the last-applied-configuration annotation and the
// status (the comparison never reads a live object's status: drift is in
// what Git declares, and Git does not declare status), and packs the
// object as its JSON text; it is the transform of a Manager whose Options
// name none.
func PackTransform(obj any) (any, error) {
	obj, _ = DropLastApplied(obj)
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	if _, packed := u.Object[packedKey]; packed {
		return u, nil // a resync: already packed
	}
	delete(u.Object, "status")
	raw, err := u.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("pack %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	md := map[string]any{"name": u.GetName()}
	if ns := u.GetNamespace(); ns != "" {
		md["namespace"] = ns
	}
	if rv := u.GetResourceVersion(); rv != "" {
		md["resourceVersion"] = rv
	}
	if uid := string(u.GetUID()); uid != "" {
		md["uid"] = uid
	}
	// Labels stay readable without the body: extra detection matches them.
	if l, ok := u.Object["metadata"].(map[string]any)["labels"].(map[string]any); ok && len(l) > 0 {
		md["labels"] = l
	}
	body := &packedBody{}
	text := string(raw)
	body.raw.Store(&text)
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": u.GetAPIVersion(), "kind": u.GetKind(), "metadata": md, packedKey: body,
	}}, nil
}

// release drops a packed stub's body; it reports whether u is one.
func release(u *unstructured.Unstructured) bool {
	b, ok := u.Object[packedKey].(*packedBody)
	if ok {
		b.raw.Store(nil)
	}
	return ok
}

// metadataOf returns a new object holding only what a packed stub keeps
// besides the body (apiVersion, kind, name, namespace, resourceVersion,
// uid, labels), or u's own metadata for an unpacked object. The maps are
// shared with the cache: read only.
func metadataOf(u *unstructured.Unstructured) *unstructured.Unstructured {
	md, _ := u.Object["metadata"].(map[string]any)
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": u.Object["apiVersion"], "kind": u.Object["kind"], "metadata": md,
	}}
}

// Unpack returns the object a packed stub holds, decoded afresh (the
// caller owns it), or u itself when it is not packed; ErrReleased when the
// stub's body was released.
func Unpack(u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	b, ok := u.Object[packedKey].(*packedBody)
	if !ok {
		return u, nil
	}
	raw := b.raw.Load()
	if raw == nil {
		return nil, fmt.Errorf("unpack %s %s: %w", u.GetKind(), u.GetName(), ErrReleased)
	}
	out := &unstructured.Unstructured{}
	if err := out.UnmarshalJSON([]byte(*raw)); err != nil {
		return nil, fmt.Errorf("unpack %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return out, nil
}
