package adopt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/drift"
)

// errNotSet says the path is not in the document (the caller tries the
// next place).
var errNotSet = errors.New("not set here")

// resolve follows an alias and unwraps a document node.
func resolve(n *kyaml.Node) *kyaml.Node {
	for n != nil && (n.Kind == kyaml.AliasNode || n.Kind == kyaml.DocumentNode) {
		if n.Kind == kyaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) == 1 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	return n
}

// mapEntry returns the key and value nodes of key in a mapping.
func mapEntry(m *kyaml.Node, key string) (k, v *kyaml.Node) {
	m = resolve(m)
	if m == nil || m.Kind != kyaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Kind == kyaml.ScalarNode && m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// mapValue is mapEntry's value.
func mapValue(m *kyaml.Node, key string) *kyaml.Node {
	_, v := mapEntry(m, key)
	return v
}

// scalarOf returns a scalar node's value, "" for anything else.
func scalarOf(n *kyaml.Node) string {
	n = resolve(n)
	if n == nil || n.Kind != kyaml.ScalarNode {
		return ""
	}
	return n.Value
}

// seqItem finds the item of a sequence a list step names: by its key
// fields when it has them (an item lacking one of them, as a patch item
// that leaves protocol to its default, still matches on the others), else
// by position.
func seqItem(seq *kyaml.Node, s drift.Step) (int, *kyaml.Node) {
	seq = resolve(seq)
	if seq == nil || seq.Kind != kyaml.SequenceNode {
		return -1, nil
	}
	if len(s.Keys) == 0 {
		if s.Index >= 0 && s.Index < len(seq.Content) {
			return s.Index, seq.Content[s.Index]
		}
		return -1, nil
	}
	best := matchItem(len(seq.Content), s.Keys, func(i int, key string) (string, bool) {
		v := mapValue(seq.Content[i], key)
		if v == nil {
			return "", false
		}
		return scalarOf(v), true
	})
	if best < 0 {
		return -1, nil
	}
	return best, seq.Content[best]
}

// walked is where a path led in a document.
type walked struct {
	// node is the node at the path; nil when not all of it is there.
	node *kyaml.Node
	// key is node's key when the last step is a field.
	key *kyaml.Node
	// parent is the mapping or sequence holding node (or the deepest node
	// reached), and at the index of the first step not found.
	parent *kyaml.Node
	at     int
	// item is node's index in parent when parent is a sequence.
	item int
}

// walkPath follows path from n.
func walkPath(n *kyaml.Node, path drift.Path) walked {
	cur := n
	for i, s := range path {
		// Aliases are followed on the way, never at the end: the node set
		// is the one at the path, not the anchor others share.
		cur = resolve(cur)
		if cur == nil {
			return walked{at: i}
		}
		if s.Field != "" || (len(s.Keys) == 0 && cur.Kind == kyaml.MappingNode) {
			k, v := mapEntry(cur, s.Field)
			if v == nil {
				return walked{parent: cur, at: i}
			}
			if i == len(path)-1 {
				return walked{node: v, key: k, parent: cur, at: len(path)}
			}
			cur = v
			continue
		}
		idx, it := seqItem(cur, s)
		if it == nil {
			return walked{parent: cur, at: i}
		}
		if i == len(path)-1 {
			return walked{node: it, parent: cur, item: idx, at: len(path)}
		}
		cur = it
	}
	return walked{node: cur, at: len(path)}
}

// setValue sets the node at path below from (a node of d) to v, in the
// text where it can; with create, missing maps, keys and keyed list items
// are added. It returns the new document text.
func (d *yamlDoc) setValue(from *kyaml.Node, path drift.Path, v any, create bool) ([]byte, error) {
	w := walkPath(from, path)
	if w.node != nil {
		return d.setNode(w.key, w.node, v)
	}
	if !create || w.parent == nil {
		return nil, errNotSet
	}
	if out, ok := d.insertKeys(w.parent, path[w.at:], v); ok {
		return out, nil
	}
	if err := createPath(w.parent, path[w.at:], v); err != nil {
		return nil, err
	}
	return d.encode()
}

// setNode replaces one node's value (key is its key, if any).
func (d *yamlDoc) setNode(key, n *kyaml.Node, v any) ([]byte, error) {
	if start, end, flow, ok := d.scalarSpan(n); ok {
		if text, ok := formatScalar(v, n, flow); ok {
			return d.replace(start, end, text), nil
		}
	}
	nn, err := valueNode(v)
	if err != nil {
		return nil, err
	}
	nn.HeadComment, nn.LineComment, nn.FootComment = n.HeadComment, n.LineComment, n.FootComment
	if nn.Kind != kyaml.ScalarNode && key != nil && key.LineComment == "" {
		// A block map or list starts on the next line: its comment stays
		// on the key's.
		key.LineComment, nn.LineComment = nn.LineComment, ""
	}
	*n = *nn
	return d.encode()
}

// deletePath removes the key or list item at path below from, by lines
// where it can.
func (d *yamlDoc) deletePath(from *kyaml.Node, path drift.Path) ([]byte, error) {
	w := walkPath(from, path)
	if w.node == nil {
		return nil, errNotSet
	}
	if first, last, ok := d.lineSpan(w.key, w.node); ok && w.parent.Style&kyaml.FlowStyle == 0 {
		return d.cutLines(first, last), nil
	}
	p := w.parent
	if w.key != nil {
		for i := 0; i+1 < len(p.Content); i += 2 {
			if p.Content[i] == w.key {
				p.Content = append(p.Content[:i], p.Content[i+2:]...)
				break
			}
		}
	} else {
		p.Content = append(p.Content[:w.item], p.Content[w.item+1:]...)
	}
	return d.encode()
}

// insertKeys adds missing map keys ending in a scalar as new lines of a
// block mapping, after its last line, at its indentation.
func (d *yamlDoc) insertKeys(parent *kyaml.Node, rest drift.Path, v any) ([]byte, bool) {
	if parent.Kind != kyaml.MappingNode || parent.Style&kyaml.FlowStyle != 0 || len(parent.Content) == 0 {
		return nil, false
	}
	for _, s := range rest {
		if s.Field == "" || !plainKey(s.Field) {
			return nil, false
		}
	}
	text, ok := formatScalar(v, &kyaml.Node{Kind: kyaml.ScalarNode}, false)
	if !ok {
		return nil, false
	}
	// The mapping's last line is the one before the next node outside it.
	firstKey := parent.Content[0]
	_, last, ok := d.lineSpan(firstKey, parent)
	if !ok {
		return nil, false
	}
	indent := firstKey.Column - 1
	var b strings.Builder
	for i, s := range rest {
		b.WriteString(strings.Repeat(" ", indent+2*i))
		b.WriteString(s.Field + ":")
		if i == len(rest)-1 {
			b.WriteString(" " + text)
		}
		b.WriteString("\n")
	}
	at := len(d.src)
	if last < len(d.lines) {
		at = d.lines[last]
	}
	prefix := ""
	if at == len(d.src) && len(d.src) > 0 && d.src[len(d.src)-1] != '\n' {
		prefix = "\n"
	}
	return d.replace(at, at, prefix+b.String()), true
}

// plainKey reports whether a map key can be written unquoted.
func plainKey(k string) bool {
	s, ok := formatScalar(k, &kyaml.Node{Kind: kyaml.ScalarNode}, false)
	return ok && s == k
}

// createPath adds the rest of a path below parent in the node tree, for
// encode: map keys, and list items made of their key fields.
func createPath(parent *kyaml.Node, rest drift.Path, v any) error {
	cur := parent
	for i, s := range rest {
		last := i == len(rest)-1
		var next *kyaml.Node
		if last {
			nn, err := valueNode(v)
			if err != nil {
				return err
			}
			next = nn
		}
		switch {
		case s.Field != "":
			if cur.Kind != kyaml.MappingNode {
				return errNotSet
			}
			if next == nil {
				next = newContainer(rest[i+1])
			}
			cur.Content = append(cur.Content, &kyaml.Node{Kind: kyaml.ScalarNode, Value: s.Field, Tag: "!!str"}, next)
		case len(s.Keys) > 0:
			if cur.Kind != kyaml.SequenceNode {
				return errNotSet
			}
			if next == nil {
				next = &kyaml.Node{Kind: kyaml.MappingNode, Tag: "!!map"}
			}
			if next.Kind != kyaml.MappingNode {
				return errNotSet
			}
			for _, kv := range s.Keys {
				if mapValue(next, kv.Key) == nil {
					kn, _ := valueNode(keyValue(kv.Value))
					next.Content = append(next.Content, &kyaml.Node{Kind: kyaml.ScalarNode, Value: kv.Key, Tag: "!!str"}, kn)
				}
			}
			cur.Content = append(cur.Content, next)
		default:
			return errNotSet
		}
		cur = next
	}
	return nil
}

// newContainer is an empty map or list for the step that follows.
func newContainer(next drift.Step) *kyaml.Node {
	if next.Field != "" {
		return &kyaml.Node{Kind: kyaml.MappingNode, Tag: "!!map"}
	}
	return &kyaml.Node{Kind: kyaml.SequenceNode, Tag: "!!seq"}
}

// keyValue turns a list key's text back into its value: a path prints
// non-strings as JSON.
func keyValue(s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err == nil {
		switch x := v.(type) {
		case float64:
			if x == math.Trunc(x) {
				return int64(x)
			}
			return x
		case bool:
			return x
		}
	}
	return s
}

// valueNode encodes a value as a block-style node.
func valueNode(v any) (*kyaml.Node, error) {
	var n kyaml.Node
	if err := n.Encode(v); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	return &n, nil
}

// scalarText is a scalar value's text; ok is false for maps and lists.
func scalarText(v any) (text string, isString, ok bool) {
	switch x := v.(type) {
	case nil:
		return "null", false, true
	case string:
		return x, true, true
	case bool:
		return strconv.FormatBool(x), false, true
	case int:
		return strconv.Itoa(x), false, true
	case int32:
		return strconv.FormatInt(int64(x), 10), false, true
	case int64:
		return strconv.FormatInt(x, 10), false, true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), false, true
	case json.Number:
		return x.String(), false, true
	}
	return "", false, false
}

// formatScalar spells v to replace the scalar old: in old's quoting when
// it was quoted, plain when that reads back as the same string both for
// YAML 1.2 (kustomize's kyaml) and YAML 1.1 (sigs.k8s.io/yaml, which
// reads plain manifests: "on" is a boolean there), else double-quoted.
func formatScalar(v any, old *kyaml.Node, flow bool) (string, bool) {
	text, isString, ok := scalarText(v)
	if !ok {
		return "", false
	}
	if !isString {
		return text, true
	}
	switch {
	case old.Style&kyaml.DoubleQuotedStyle != 0:
		return doubleQuote(text), true
	case old.Style&kyaml.SingleQuotedStyle != 0 && strconv.IsPrint(firstBad(text)):
		return "'" + strings.ReplaceAll(text, "'", "''") + "'", true
	case plainSafe(text, flow):
		return text, true
	}
	return doubleQuote(text), true
}

// firstBad returns a rune of s that single quotes cannot hold (a
// newline or a control character), or 'a'.
func firstBad(s string) rune {
	for _, r := range s {
		if !strconv.IsPrint(r) {
			return r
		}
	}
	return 'a'
}

func doubleQuote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// plainSafe reports whether s reads back as itself, a string, unquoted.
func plainSafe(s string, flow bool) bool {
	if s == "" || strings.TrimSpace(s) != s || strings.ContainsAny(s, "\n\r\t#") || (flow && strings.ContainsAny(s, ",[]{}")) {
		return false
	}
	var v3 map[string]any
	if err := kyaml.Unmarshal([]byte("k: "+s), &v3); err != nil || v3["k"] != s {
		return false
	}
	var v1 map[string]any
	if err := sigsyaml.Unmarshal([]byte("k: "+s), &v1); err != nil || v1["k"] != s {
		return false
	}
	return true
}
