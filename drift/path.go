package drift

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
)

// Path locates a field inside an object, as a list of steps from the root.
// Its String form is what reports show:
//
//	spec.template.spec.containers[name=app].image
//	spec.template.spec.containers[name=app].ports[containerPort=8080,protocol=TCP]
//	metadata.labels["app.kubernetes.io/name"]
//	spec.rules[0].host
type Path []Step

// Step is one step of a Path: a map key (Field), a list item selected by
// its key fields (Keys), or a list item by position (Index).
type Step struct {
	// Field is a map key; set for map steps only.
	Field string
	// Keys select a list item by the values of its key fields, e.g.
	// name=app; set for items of lists matched by key.
	Keys []KeyValue
	// Index is the item's position in the desired list, for list steps.
	Index int

	// liveItem is the live list item, used to find its owner in
	// managedFields (k:{...} or v:... entries).
	liveItem any
	// emptyKey marks a map step whose key is "" (Field cannot say so).
	emptyKey bool
}

// fieldStep is the step for map key k.
func fieldStep(k string) Step { return Step{Field: k, emptyKey: k == ""} }

// isField reports whether s is a map step.
func (s Step) isField() bool { return s.Field != "" || s.emptyKey }

// KeyValue is one key field of a list item and its value as text.
type KeyValue struct {
	Key, Value string
}

// plainField matches map keys that print without quoting.
var plainField = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$-]*$`)

// plainKeyValue matches key values that print without quoting in [k=v].
var plainKeyValue = regexp.MustCompile(`^[A-Za-z0-9_.:/@+*$-]+$`)

// quoteIfNeeded quotes a key or value holding path syntax, spaces or
// control characters, so every path parses back to itself.
func quoteIfNeeded(s string) string {
	if plainKeyValue.MatchString(s) {
		return s
	}
	return strconv.Quote(s)
}

func (p Path) String() string {
	var b strings.Builder
	for _, s := range p {
		switch {
		case s.isField():
			if plainField.MatchString(s.Field) {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(s.Field)
			} else {
				b.WriteString("[" + strconv.Quote(s.Field) + "]")
			}
		case len(s.Keys) > 0:
			b.WriteByte('[')
			for i, kv := range s.Keys {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(quoteIfNeeded(kv.Key) + "=" + quoteIfNeeded(kv.Value))
			}
			b.WriteByte(']')
		default:
			b.WriteString("[" + strconv.Itoa(s.Index) + "]")
		}
	}
	return b.String()
}

// child returns p extended by a step, without sharing p's backing array.
func (p Path) child(s Step) Path {
	out := make(Path, len(p), len(p)+1)
	copy(out, p)
	return append(out, s)
}

// HasPrefix reports whether p starts with the map fields given.
func (p Path) HasPrefix(fields ...string) bool {
	if len(p) < len(fields) {
		return false
	}
	for i, f := range fields {
		if !p[i].isField() || p[i].Field != f {
			return false
		}
	}
	return true
}

// keyText renders a key field's value for a path: strings as they are,
// anything else as JSON.
func keyText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	js, _ := json.Marshal(v)
	return string(js)
}
