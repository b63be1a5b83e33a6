package adopt

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource"
)

// desiredObject is a rendered object, normalised through JSON so that a
// rendering and a live value compare by value.
type desiredObject struct {
	obj    *unstructured.Unstructured
	origin string
	// secret names the fields decrypted from SOPS or left encrypted.
	secret []drift.PathPattern
}

// encrypted reports whether path is (or is inside) a SOPS value.
func (o *desiredObject) encrypted(p drift.Path) bool {
	for _, s := range o.secret {
		if s.Matches(p) || s.MatchesBelow(p) {
			return true
		}
	}
	return false
}

// with returns the object as it should render after e; nil when e
// removes it.
func (o *desiredObject) with(e Edit) (*unstructured.Unstructured, error) {
	if e.Op == Remove {
		return nil, nil
	}
	c := o.obj.DeepCopy()
	var err error
	switch e.Op {
	case Set:
		err = setIn(c.Object, e.Path, normalize(e.Live))
	case Unset:
		err = unsetIn(c.Object, e.Path)
	default:
		err = fmt.Errorf("unknown edit %q", e.Op)
	}
	if err != nil {
		return nil, fmt.Errorf("the rendered object: %w", err)
	}
	return c, nil
}

// objectSet is the objects a rendering must give, by identity.
type objectSet struct {
	objs map[string]*desiredObject
}

// objectKey identifies a rendered object as gitsource does.
func objectKey(u *unstructured.Unstructured) string {
	gvk := u.GroupVersionKind()
	return fmt.Sprintf("%s/%s %s/%s", gvk.Group, gvk.Kind, u.GetNamespace(), u.GetName())
}

func indexObjects(objs []gitsource.Object) *objectSet {
	s := &objectSet{objs: map[string]*desiredObject{}}
	for _, o := range objs {
		d := &desiredObject{obj: &unstructured.Unstructured{Object: normalize(o.Object.Object).(map[string]any)}, origin: o.Origin}
		for _, p := range append(append([]string(nil), o.Sensitive...), o.NotCompared...) {
			if pp, err := drift.ParsePathPattern(p); err == nil {
				d.secret = append(d.secret, pp)
			}
		}
		s.objs[objectKey(o.Object)] = d
	}
	return s
}

// find returns the object id names: same group, kind and name, and the
// same namespace, or none on either side (an object whose namespace is
// the default one).
func (s *objectSet) find(id ObjectID) (string, *desiredObject) {
	var key string
	var found *desiredObject
	for k, o := range s.objs {
		u := o.obj
		if u.GroupVersionKind().Group != id.group() || u.GetKind() != id.Kind || u.GetName() != id.Name {
			continue
		}
		switch ns := u.GetNamespace(); {
		case ns == id.Namespace:
			return k, o
		case ns == "" || id.Namespace == "":
			key, found = k, o
		}
	}
	return key, found
}

func (s *objectSet) set(key string, u *unstructured.Unstructured) {
	o := *s.objs[key]
	o.obj = u
	s.objs[key] = &o
}

func (s *objectSet) remove(key string) { delete(s.objs, key) }

// verify compares a rendering with the expected objects, the one at key
// replaced by want (nil: gone), and says what differs ("" when nothing).
func (s *objectSet) verify(got []gitsource.Object, key string, want *unstructured.Unstructured, e Edit) string {
	gotBy := map[string]*unstructured.Unstructured{}
	for _, o := range got {
		gotBy[objectKey(o.Object)] = o.Object
	}
	keys := make([]string, 0, len(s.objs))
	for k := range s.objs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		exp := s.objs[k].obj
		if k == key {
			exp = want
		}
		g, ok := gotBy[k]
		delete(gotBy, k)
		switch {
		case exp == nil && ok:
			return "still renders " + describe(g)
		case exp == nil:
			continue
		case !ok:
			return "no longer renders " + describe(exp)
		}
		gn := normalize(g.Object)
		path, differs := firstDiff(exp.Object, gn, "")
		if !differs {
			continue
		}
		if k == key && e.Op == Set {
			if v, ok := lookupIn(gn, e.Path); ok && !reflect.DeepEqual(v, normalize(e.Live)) {
				return fmt.Sprintf("renders %s as %s, not %s", e.Path, showValue(v), showValue(e.Live))
			}
		}
		if path == "" {
			return "changes " + describe(exp)
		}
		return "also changes " + describe(exp) + " " + path
	}
	for _, k := range sortedKeys(gotBy) {
		return "renders a new object " + describe(gotBy[k])
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func describe(u *unstructured.Unstructured) string {
	if u.GetNamespace() == "" {
		return u.GetKind() + " " + u.GetName()
	}
	return u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
}

// normalize gives a value the types decoding JSON gives (int64, float64,
// map[string]any, []any), as live objects have.
func normalize(v any) any {
	js, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if err := utiljson.Unmarshal(js, &out); err != nil {
		return v
	}
	return out
}

func compactJSON(v any) string {
	js, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(js)
}

// firstDiff finds the first place two values differ, as a path.
func firstDiff(a, b any, at string) (string, bool) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for _, k := range sortedKeys(keys) {
			p := drift.Path{{Field: k}}.String()
			if at != "" && p[0] != '[' {
				p = "." + p
			}
			if d, ok := firstDiff(am[k], bm[k], at+p); ok {
				return d, true
			}
		}
		return "", false
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		for i := range al {
			if d, ok := firstDiff(al[i], bl[i], at+"["+strconv.Itoa(i)+"]"); ok {
				return d, true
			}
		}
		return "", false
	}
	return at, !reflect.DeepEqual(a, b)
}

// keyText is a list key's value as a path prints it: strings as they
// are, anything else as JSON.
func keyText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	js, _ := json.Marshal(v)
	return string(js)
}

// listItem finds the item a list step names in a decoded list, as
// seqItem does in YAML.
func listItem(l []any, s drift.Step) int {
	if len(s.Keys) == 0 {
		if s.Index >= 0 && s.Index < len(l) {
			return s.Index
		}
		return -1
	}
	return matchItem(len(l), s.Keys, func(i int, key string) (string, bool) {
		m, _ := l[i].(map[string]any)
		v, ok := m[key]
		if !ok {
			return "", false
		}
		return keyText(v), true
	})
}

// matchItem returns the one item of n whose key fields match keys best
// (a key the item lacks neither matches nor excludes it; one that differs
// excludes it), or -1 when none matches or two match equally well. key
// gives item i's value of a key field, as text. listItem (decoded lists)
// and seqItem (YAML nodes) share it.
func matchItem(n int, keys []drift.KeyValue, key func(i int, k string) (string, bool)) int {
	best, bestScore, ties := -1, 0, 0
	for i := range n {
		score := 0
		for _, kv := range keys {
			v, ok := key(i, kv.Key)
			if !ok {
				continue
			}
			if v != kv.Value {
				score = -1
				break
			}
			score++
		}
		switch {
		case score > bestScore:
			best, bestScore, ties = i, score, 0
		case score == bestScore && score > 0:
			ties++
		}
	}
	if ties > 0 {
		return -1
	}
	return best
}

// lookupIn returns the value at path.
func lookupIn(v any, path drift.Path) (any, bool) {
	for _, s := range path {
		switch x := v.(type) {
		case map[string]any:
			if len(s.Keys) > 0 {
				return nil, false
			}
			var ok bool
			if v, ok = x[s.Field]; !ok {
				return nil, false
			}
		case []any:
			i := listItem(x, s)
			if i < 0 || s.Field != "" {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// setIn sets the value at path, adding missing map keys and keyed list
// items on the way.
func setIn(obj map[string]any, path drift.Path, val any) error {
	if len(path) == 0 {
		return fmt.Errorf("empty path")
	}
	var cur any = obj
	var assign func(any)
	for i, s := range path {
		last := i == len(path)-1
		switch x := cur.(type) {
		case map[string]any:
			if len(s.Keys) > 0 {
				return fmt.Errorf("%s is a map, not a list", path[:i])
			}
			if last {
				x[s.Field] = val
				return nil
			}
			next, ok := x[s.Field]
			if !ok || next == nil {
				next = emptyFor(path[i+1])
				x[s.Field] = next
			}
			k := s.Field
			assign = func(v any) { x[k] = v }
			cur = next
		case []any:
			idx := listItem(x, s)
			if idx < 0 {
				if len(s.Keys) == 0 {
					return fmt.Errorf("%s has no item %d", path[:i], s.Index)
				}
				item := map[string]any{}
				for _, kv := range s.Keys {
					item[kv.Key] = normalize(keyValue(kv.Value))
				}
				x = append(x, item)
				assign(x)
				idx = len(x) - 1
			}
			if last {
				x[idx] = val
				return nil
			}
			l, j := x, idx
			assign = func(v any) { l[j] = v }
			cur = x[idx]
		default:
			return fmt.Errorf("%s is not a map or a list", path[:i])
		}
	}
	return nil
}

// emptyFor is an empty map or list for the step that follows.
func emptyFor(next drift.Step) any {
	if next.Field != "" {
		return map[string]any{}
	}
	return []any{}
}

// unsetIn removes the key or list item at path.
func unsetIn(obj map[string]any, path drift.Path) error {
	if len(path) == 0 {
		return fmt.Errorf("empty path")
	}
	parent, ok := lookupIn(obj, path[:len(path)-1])
	if !ok {
		return fmt.Errorf("no %s", path)
	}
	s := path[len(path)-1]
	switch x := parent.(type) {
	case map[string]any:
		if _, ok := x[s.Field]; !ok {
			return fmt.Errorf("no %s", path)
		}
		delete(x, s.Field)
		return nil
	case []any:
		i := listItem(x, s)
		if i < 0 {
			return fmt.Errorf("no %s", path)
		}
		grand := path[:len(path)-1]
		return setIn(obj, grand, append(append([]any{}, x[:i]...), x[i+1:]...))
	}
	return fmt.Errorf("no %s", path)
}
