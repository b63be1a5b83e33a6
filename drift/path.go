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
}

// KeyValue is one key field of a list item and its value as text.
type KeyValue struct {
	Key, Value string
}

// plainField matches map keys that print without quoting.
var plainField = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$-]*$`)

func (p Path) String() string {
	var b strings.Builder
	for _, s := range p {
		switch {
		case s.Field != "":
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
				b.WriteString(kv.Key + "=" + kv.Value)
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
		if p[i].Field != f {
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
