package informer

import (
	"errors"
	"fmt"
	"strings"

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
// its JSON text instead, in a stub (packedObject) that holds only what the
// cache's keys, Metadata and List need; Get decodes the text again, fresh,
// for the one comparison that needs it (an event, a re-plan). Decoding
// costs tens of microseconds per object; the memory held per object falls
// to its JSON size, and to the stub alone once Release drops the text.

// ErrReleased is returned by Unpack for a stub whose body was released.
var ErrReleased = errors.New("object body released after comparison")

// PackTransform drops the last-applied-configuration annotation and the
// status (the comparison never reads a live object's status: drift is in
// what Git declares, and Git does not declare status), and packs the
// object as its JSON text; it is the transform of a Manager whose Options
// name none. An object whose metadata a stub cannot hold (labels that are
// not strings, a name, resourceVersion and uid longer than 64 KiB
// together: the API server accepts neither) is cached as it is.
func PackTransform(obj any) (any, error) {
	if p, ok := obj.(*packedObject); ok {
		// Already packed: client-go's watch-list hands the objects it
		// transformed into its temporary store to the queue's Replace,
		// which transforms them again.
		return p, nil
	}
	obj, _ = DropLastApplied(obj)
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	delete(u.Object, "status")
	raw, err := u.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("pack %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	// string(raw) copies exactly len(raw) bytes: the encoder's buffer has
	// spare capacity that the cache would otherwise hold.
	if p, ok := newPackedObject(u, string(raw)); ok {
		return p, nil
	}
	return u, nil
}

// metadataOf returns an object holding only what a packed stub keeps
// besides the body (apiVersion, kind, name, namespace, resourceVersion,
// uid, labels), new, or an unpacked object's own metadata, whose maps are
// shared with the cache: read only.
func metadataOf(obj any) *unstructured.Unstructured {
	switch o := obj.(type) {
	case *packedObject:
		return o.metadata()
	case *unstructured.Unstructured:
		md, _ := o.Object["metadata"].(map[string]any)
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": o.Object["apiVersion"], "kind": o.Object["kind"], "metadata": md,
		}}
	}
	return nil
}

// Unpack returns the object a cached object stands for: a packed stub's
// object decoded afresh (the caller owns it; ErrReleased when the stub's
// body was released), or obj itself when it is an unpacked
// *unstructured.Unstructured.
func Unpack(obj any) (*unstructured.Unstructured, error) {
	switch o := obj.(type) {
	case *unstructured.Unstructured:
		return o, nil
	case *packedObject:
		raw := o.body.Load()
		if raw == nil {
			return nil, fmt.Errorf("unpack %s %s: %w", o.scope.Value().kind, o.GetName(), ErrReleased)
		}
		out := &unstructured.Unstructured{}
		if err := out.UnmarshalJSON([]byte(*raw)); err != nil {
			return nil, fmt.Errorf("unpack %s %s: %w", o.scope.Value().kind, o.GetName(), err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unpack: %T is not an object the cache holds", obj)
}
