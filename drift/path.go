package drift

import (
	"regexp"
	"strconv"
	"strings"
)

// Path locates a field inside an object, as a list of steps from the root.
// Its String form is what reports show:
//
//	spec.template.spec.containers[name=app].image
//	metadata.labels["app.kubernetes.io/name"]
//	spec.ports[0].port
type Path []Step

// Step is one step of a Path: a map key, a list item matched by a key
// field (Key=Value), or a list index.
type Step struct {
	// Field is a map key; set for map steps only.
	Field string
	// Key and Value select a list item by a key field, e.g. name=app.
	Key, Value string
	// Index selects a list item by position when Key is empty and Field is
	// empty.
	Index int
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
		case s.Key != "":
			b.WriteString("[" + s.Key + "=" + s.Value + "]")
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
