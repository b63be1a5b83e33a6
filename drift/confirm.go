package drift

import "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

// KeepConfirmed keeps the diffs at which applied (what the API server says
// applying the desired object would store: a server-side apply dry run)
// differs from live. A diff where the two agree is not real drift: the
// server would not change that field. Added diffs are kept: a dry run
// applies only what Git sets, so it cannot judge them.
func KeepConfirmed(diffs []FieldDiff, applied, live *unstructured.Unstructured) []FieldDiff {
	var out []FieldDiff
	for _, d := range diffs {
		if d.Type == Added {
			// The dry run applies only what Git sets: it keeps a field
			// added by hand, so it cannot judge one.
			out = append(out, d)
			continue
		}
		av, aok := lookupPath(applied.Object, d.path)
		lv, lok := lookupPath(live.Object, d.path)
		if aok != lok || (aok && !valueEqual(nodeOf(d.path), av, lv)) {
			out = append(out, d)
		}
	}
	return out
}

// lookupPath finds the value at p in obj.
func lookupPath(obj any, p Path) (any, bool) {
	cur := obj
	for _, s := range p {
		switch {
		case s.isField():
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[s.Field]; !ok {
				return nil, false
			}
		case len(s.Keys) > 0:
			l, ok := cur.([]any)
			if !ok {
				return nil, false
			}
			found := false
			for _, it := range l {
				m, ok := it.(map[string]any)
				if ok && keysMatch(m, s.Keys) {
					cur, found = it, true
					break
				}
			}
			if !found {
				return nil, false
			}
		default:
			l, ok := cur.([]any)
			if !ok || s.Index >= len(l) {
				return nil, false
			}
			cur = l[s.Index]
		}
	}
	return cur, true
}

// keysMatch reports whether an item has the key values of a path step. A
// key the item lacks matches (it was filled from a schema default).
func keysMatch(m map[string]any, kvs []KeyValue) bool {
	for _, kv := range kvs {
		v, ok := m[kv.Key]
		if !ok {
			continue
		}
		if f, isNum := number(v); isNum {
			v = f
		}
		if keyText(v) != kv.Value {
			return false
		}
	}
	return true
}
