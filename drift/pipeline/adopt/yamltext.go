package adopt

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// Edits are made in the text, not by re-encoding it: kyaml (yaml.v3)
// parses each document to find the node and its line and column, and the
// new value replaces the old one's bytes, so comments, blank lines,
// quoting and indentation everywhere else stay byte for byte. Only what
// cannot be done that way (a value that becomes a map or a list, a key
// removed from a flow mapping, a new list item) re-encodes the one
// document with kyaml, which keeps comments but may respace it.

// yamlText is YAML to edit: a whole file, or the content of a literal
// block scalar inside one (a kustomization's inline patch).
type yamlText struct {
	// file is the file's path, relative to the source root.
	file string
	// outer is the whole file; start and end bound the text in it.
	outer      []byte
	start, end int
	// indent is how many columns every line of an embedded text is
	// indented by in the file; 0 for a whole file.
	indent int
}

func fileText(file string, data []byte) *yamlText {
	return &yamlText{file: file, outer: data, end: len(data)}
}

// inner returns the text as YAML, the embedding indentation removed.
func (t *yamlText) inner() []byte {
	text := t.outer[t.start:t.end]
	if t.indent == 0 {
		return text
	}
	var b bytes.Buffer
	for _, l := range splitLines(text) {
		n := 0
		for n < t.indent && n < len(l) && l[n] == ' ' {
			n++
		}
		b.Write(l[n:])
	}
	return b.Bytes()
}

// with returns the file with the text replaced by inner; lines of an
// embedded text that did not change keep their bytes.
func (t *yamlText) with(inner []byte) []byte {
	var b bytes.Buffer
	b.Write(t.outer[:t.start])
	if t.indent == 0 {
		b.Write(inner)
	} else {
		oldInner := splitLines(t.inner())
		oldOuter := splitLines(t.outer[t.start:t.end])
		newLines := splitLines(inner)
		pad := strings.Repeat(" ", t.indent)
		for i, l := range newLines {
			switch {
			case len(newLines) == len(oldInner) && bytes.Equal(l, oldInner[i]):
				b.Write(oldOuter[i])
			case len(bytes.TrimSpace(l)) == 0:
				b.Write(bytes.TrimLeft(l, " \t"))
			default:
				b.WriteString(pad)
				b.Write(l)
			}
		}
		if len(newLines) > 0 && !bytes.HasSuffix(inner, []byte("\n")) && t.end < len(t.outer) {
			b.WriteByte('\n')
		}
	}
	b.Write(t.outer[t.end:])
	return b.Bytes()
}

// splitLines splits text after each newline, keeping the newlines.
func splitLines(text []byte) [][]byte {
	lines := bytes.SplitAfter(text, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// span is a document's bytes in a text, separator lines excluded.
type span struct{ start, end int }

// splitDocs finds the documents of a YAML stream, splitting on "---"
// lines as gitsource does.
func splitDocs(text []byte) []span {
	var docs []span
	start, off := 0, 0
	for _, l := range splitLines(text) {
		trimmed := bytes.TrimRight(l, "\r\n")
		if bytes.Equal(trimmed, []byte("---")) || bytes.HasPrefix(trimmed, []byte("--- ")) {
			docs = append(docs, span{start, off})
			start = off + len(l)
		}
		off += len(l)
	}
	return append(docs, span{start, len(text)})
}

// yamlDoc is one parsed document and its text.
type yamlDoc struct {
	src []byte
	// root is the document node; nil for an empty document.
	root *kyaml.Node
	// lines are the offsets in src where each line starts.
	lines []int
	// flow is set for a document written in flow style throughout (JSON):
	// re-encoding would turn it into block YAML, so it is edited in place
	// only.
	flow bool
}

func parseDoc(src []byte) (*yamlDoc, error) {
	d := &yamlDoc{src: src, lines: []int{0}}
	for _, l := range splitLines(src) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			d.flow = t[0] == '{' || t[0] == '['
			break
		}
	}
	for i, c := range src {
		if c == '\n' {
			d.lines = append(d.lines, i+1)
		}
	}
	var n kyaml.Node
	if err := kyaml.Unmarshal(src, &n); err != nil {
		return nil, err
	}
	if n.Kind == kyaml.DocumentNode && len(n.Content) == 1 {
		d.root = &n
	}
	return d, nil
}

// top is the document's content node, nil when empty.
func (d *yamlDoc) top() *kyaml.Node {
	if d.root == nil {
		return nil
	}
	return d.root.Content[0]
}

// offset turns a node's line and column (1-based, in characters) into a
// byte offset of src, or -1.
func (d *yamlDoc) offset(line, col int) int {
	if line < 1 || line > len(d.lines) {
		return -1
	}
	off := d.lines[line-1]
	for c := 1; c < col; c++ {
		if off >= len(d.src) || d.src[off] == '\n' {
			return -1
		}
		_, size := utf8.DecodeRune(d.src[off:])
		off += size
	}
	return off
}

// lineEnd is the offset of the newline ending the line holding off (or
// the end of src).
func (d *yamlDoc) lineEnd(off int) int {
	if i := bytes.IndexByte(d.src[off:], '\n'); i >= 0 {
		return off + i
	}
	return len(d.src)
}

// scalarSpan returns the bytes of a single-line scalar's token (quotes
// included). ok is false for anything it cannot bound exactly (block
// scalars, multi-line or tagged scalars); the caller then re-encodes.
func (d *yamlDoc) scalarSpan(n *kyaml.Node) (start, end int, flow, ok bool) {
	if n.Kind != kyaml.ScalarNode || n.Style&(kyaml.LiteralStyle|kyaml.FoldedStyle) != 0 {
		return 0, 0, false, false
	}
	start = d.offset(n.Line, n.Column)
	if start < 0 || start >= len(d.src) {
		return 0, 0, false, false
	}
	stop := d.lineEnd(start)
	switch d.src[start] {
	case '"':
		for i := start + 1; i < stop; i++ {
			if d.src[i] == '\\' {
				i++
				continue
			}
			if d.src[i] == '"' {
				return start, i + 1, false, quotedIs(d.src[start:i+1], n.Value)
			}
		}
		return 0, 0, false, false
	case '\'':
		for i := start + 1; i < stop; i++ {
			if d.src[i] == '\'' {
				if i+1 < stop && d.src[i+1] == '\'' {
					i++
					continue
				}
				return start, i + 1, false, quotedIs(d.src[start:i+1], n.Value)
			}
		}
		return 0, 0, false, false
	case '!', '&', '*', '|', '>':
		return 0, 0, false, false
	}
	rest := d.src[start:stop]
	block := cutComment(rest)
	if string(bytes.TrimRight(block, " \t\r")) == n.Value {
		return start, start + len(bytes.TrimRight(block, " \t\r")), false, true
	}
	if i := bytes.IndexAny(block, ",]}"); i >= 0 {
		tok := bytes.TrimRight(block[:i], " \t")
		if string(tok) == n.Value {
			return start, start + len(tok), true, true
		}
	}
	return 0, 0, false, false
}

// cutComment drops a " #" comment from a line's rest.
func cutComment(rest []byte) []byte {
	for i := 1; i < len(rest); i++ {
		if rest[i] == '#' && (rest[i-1] == ' ' || rest[i-1] == '\t') {
			return rest[:i]
		}
	}
	return rest
}

// quotedIs reports whether a quoted token reads as value.
func quotedIs(tok []byte, value string) bool {
	var s string
	if err := kyaml.Unmarshal(tok, &s); err != nil {
		return false
	}
	return s == value
}

// replace returns src with [start,end) replaced by text.
func (d *yamlDoc) replace(start, end int, text string) []byte {
	out := make([]byte, 0, len(d.src)-(end-start)+len(text))
	out = append(out, d.src[:start]...)
	out = append(out, text...)
	return append(out, d.src[end:]...)
}

// encode re-encodes the (edited) document with kyaml, in the sequence
// indentation style the text used.
func (d *yamlDoc) encode() ([]byte, error) {
	if d.flow {
		return nil, errors.New("a document in flow style (JSON) is edited only where a scalar can be replaced in place")
	}
	style := kyaml.DeriveSeqIndentStyle(string(d.src))
	out, err := kyaml.MarshalWithOptions(d.root, &kyaml.EncoderOptions{SeqIndent: kyaml.SequenceIndentStyle(style)})
	if err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	return out, nil
}

// nodeOrder lists the document's nodes in text order (a mapping's key
// before its value).
func nodeOrder(n *kyaml.Node, out []*kyaml.Node) []*kyaml.Node {
	if n == nil {
		return out
	}
	if n.Kind != kyaml.DocumentNode {
		out = append(out, n)
	}
	for _, c := range n.Content {
		out = nodeOrder(c, out)
	}
	return out
}

// lineSpan returns the lines (1-based, inclusive) a block node takes,
// from first (its key's line when key is given) to the last line before
// the next node, trailing blank and comment lines left out. ok is false
// when the node shares its lines with anything else.
func (d *yamlDoc) lineSpan(key, n *kyaml.Node) (first, last int, ok bool) {
	head := n
	if key != nil {
		head = key
	}
	first = head.Line
	order := nodeOrder(d.root, nil)
	idx := -1
	for i, x := range order {
		if x == n {
			idx = i
			break
		}
	}
	if idx < 0 {
		return 0, 0, false
	}
	sub := nodeOrder(n, nil)
	next := len(d.lines) + 1
	if after := idx + len(sub); after < len(order) {
		next = order[after].Line
	}
	// Anything before the node on its first line but indentation (and a
	// sequence dash) means it shares the line.
	lineStart := d.lines[first-1]
	pre := d.src[lineStart:d.offset(head.Line, head.Column)]
	if len(bytes.Trim(pre, " -")) != 0 || next <= first {
		return 0, 0, false
	}
	last = next - 1
	for last > first {
		l := bytes.TrimSpace(d.src[d.lines[last-1]:d.lineEnd(d.lines[last-1])])
		if len(l) != 0 && l[0] != '#' {
			break
		}
		last--
	}
	// A flow collection or a node followed by more on its last line (the
	// next node on the same line) cannot be cut by lines.
	if n.Style&kyaml.FlowStyle != 0 && n.Line != last {
		return 0, 0, false
	}
	return first, last, true
}

// cutLines returns src without lines first..last (1-based, inclusive).
func (d *yamlDoc) cutLines(first, last int) []byte {
	start := d.lines[first-1]
	end := len(d.src)
	if last < len(d.lines) {
		end = d.lines[last]
	}
	return d.replace(start, end, "")
}
