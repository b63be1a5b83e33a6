// Portions of this file are derived from github.com/getsops/sops/v3
// (its stores, tree, MAC and AES-GCM code), Copyright the sops authors,
// licensed under the Mozilla Public License, v. 2.0. This file is
// therefore available under the MPL-2.0: a copy of the licence is at
// https://mozilla.org/MPL/2.0/.

package sopsfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
)

// SOPS files in YAML are read and written as sops' YAML store
// (stores/yaml/store.go) does: comments become items of their own (head,
// line and foot comments, in that order around what they annotate),
// aliases are expanded, and the output is indented by 4.

// loadSOPSYAML reads a YAML stream, a branch per document.
func loadSOPSYAML(data []byte) ([]sopsBranch, error) {
	if len(data) > 0 {
		// sops decodes the first document into a map first: yaml.v3
		// refuses duplicate keys only there.
		if err := yamlv3.NewDecoder(bytes.NewReader(data)).Decode(make(map[string]any)); err != nil {
			return nil, err
		}
	}
	var docs []sopsBranch
	d := yamlv3.NewDecoder(bytes.NewReader(data))
	for {
		var doc yamlv3.Node
		err := d.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("Error unmarshaling input YAML: %s", err)
		}
		b, err := yamlBranch(&doc, make(sopsBranch, 0), false)
		if err != nil {
			return nil, fmt.Errorf("Error unmarshaling input YAML: %s", err)
		}
		docs = append(docs, b)
	}
	return docs, nil
}

// yamlComments splits a node's comment into items of b.
func yamlComments(b sopsBranch, comment string, inline bool) sopsBranch {
	if comment == "" {
		return b
	}
	for _, l := range strings.Split(comment, "\n") {
		if l != "" {
			b = append(b, sopsItem{key: sopsComment{Value: l[1:], Inline: inline}})
		}
	}
	return b
}

// yamlListComments splits a node's comment into items of a sequence.
func yamlListComments(list []any, comment string, inline bool) []any {
	if comment == "" {
		return list
	}
	for _, l := range strings.Split(comment, "\n") {
		if l != "" {
			list = append(list, sopsComment{Value: l[1:], Inline: inline})
		}
	}
	return list
}

// yamlValue converts a node; commentsDone says its own comments are
// already in the parent.
func yamlValue(n *yamlv3.Node, commentsDone bool) (any, error) {
	switch n.Kind {
	case yamlv3.DocumentNode:
		return nil, errors.New("documents should never be passed here")
	case yamlv3.SequenceNode:
		var list []any
		if !commentsDone {
			list = yamlListComments(list, n.HeadComment, false)
			list = yamlListComments(list, n.LineComment, false)
		}
		for _, item := range n.Content {
			list = yamlListComments(list, item.HeadComment, false)
			list = yamlListComments(list, item.LineComment, true)
			v, err := yamlValue(item, true)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
			list = yamlListComments(list, item.FootComment, false)
		}
		if !commentsDone {
			list = yamlListComments(list, n.FootComment, false)
		}
		return list, nil
	case yamlv3.MappingNode:
		return yamlBranch(n, make(sopsBranch, 0), commentsDone)
	case yamlv3.ScalarNode:
		var v any
		_ = n.Decode(&v) // as sops: an undecodable scalar is null
		return v, nil
	case yamlv3.AliasNode:
		return yamlValue(n.Alias, false)
	}
	return nil, nil
}

// yamlBranch appends a document or mapping node's entries to b.
func yamlBranch(n *yamlv3.Node, b sopsBranch, commentsDone bool) (sopsBranch, error) {
	var err error
	if !commentsDone {
		b = yamlComments(b, n.HeadComment, false)
		b = yamlComments(b, n.LineComment, false)
	}
	switch n.Kind {
	case yamlv3.DocumentNode:
		for _, item := range n.Content {
			if b, err = yamlBranch(item, b, false); err != nil {
				return nil, err
			}
		}
	case yamlv3.SequenceNode:
		return nil, errors.New("YAML documents that are sequences are not supported")
	case yamlv3.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, value := n.Content[i], n.Content[i+1]
			b = yamlComments(b, key.HeadComment, false)
			b = yamlComments(b, key.LineComment, false)
			scalar := value.Kind == yamlv3.ScalarNode || value.Kind == yamlv3.AliasNode
			if scalar {
				b = yamlComments(b, value.HeadComment, false)
				b = yamlComments(b, value.LineComment, true)
			}
			var k any
			_ = key.Decode(&k)
			v, err := yamlValue(value, scalar)
			if err != nil {
				return nil, err
			}
			b = append(b, sopsItem{key: k, value: v})
			if scalar {
				b = yamlComments(b, value.FootComment, false)
			}
			b = yamlComments(b, key.FootComment, false)
		}
	case yamlv3.ScalarNode:
		// An empty document with a start marker and no comment.
		if n.ShortTag() == "!!null" {
			return b, nil
		}
		return nil, errors.New("YAML documents that are values are not supported")
	case yamlv3.AliasNode:
		if b, err = yamlBranch(n.Alias, b, false); err != nil {
			return nil, err
		}
	}
	if !commentsDone {
		b = yamlComments(b, n.FootComment, false)
	}
	return b, nil
}

// emitSOPSYAML writes the documents as a YAML stream.
func emitSOPSYAML(docs []sopsBranch) ([]byte, error) {
	var out bytes.Buffer
	e := yamlv3.NewEncoder(&out)
	e.SetIndent(4)
	for _, b := range docs {
		mapping := &yamlv3.Node{Kind: yamlv3.MappingNode}
		yamlMapping(b, mapping)
		doc := &yamlv3.Node{Kind: yamlv3.DocumentNode, Content: []*yamlv3.Node{mapping}}
		if err := e.Encode(doc); err != nil {
			return nil, fmt.Errorf("Error marshaling to YAML: %s", err)
		}
	}
	e.Close()
	return out.Bytes(), nil
}

// yamlNode converts a value back into a node.
func yamlNode(v any) *yamlv3.Node {
	switch x := v.(type) {
	case sopsBranch:
		n := &yamlv3.Node{Kind: yamlv3.MappingNode}
		yamlMapping(x, n)
		return n
	case []any:
		n := &yamlv3.Node{Kind: yamlv3.SequenceNode}
		yamlSequence(x, n)
		return n
	}
	n := &yamlv3.Node{}
	_ = n.Encode(v)
	return n
}

// addComment joins comment lines onto a node's comment.
func addComment(dst *string, lines []string, before bool) {
	if len(lines) == 0 {
		return
	}
	c := "#" + strings.Join(lines, "\n#")
	switch {
	case *dst == "":
		*dst = c
	case before:
		*dst = c + "\n" + *dst
	default:
		*dst += "\n" + c
	}
}

// yamlMapping fills mapping with b: pending head comments go before the
// next key (or on the mapping before the first), inline ones after the
// next value, and those left at the end below the last key.
func yamlMapping(b sopsBranch, mapping *yamlv3.Node) {
	var head, inline []string
	beginning := true
	for _, item := range b {
		if c, ok := item.key.(sopsComment); ok {
			if c.Inline {
				inline = append(inline, c.Value)
			} else {
				head = append(head, c.Value)
			}
			continue
		}
		if beginning {
			addComment(&mapping.HeadComment, head, true)
			head = nil
			beginning = false
		}
		key := &yamlv3.Node{}
		_ = key.Encode(item.key)
		addComment(&key.HeadComment, head, true)
		head = nil
		value := yamlNode(item.value)
		addComment(&value.LineComment, inline, false)
		inline = nil
		mapping.Content = append(mapping.Content, key, value)
	}
	head = append(head, inline...)
	if len(head) > 0 {
		if beginning {
			addComment(&mapping.HeadComment, head, true)
		} else {
			addComment(&mapping.Content[len(mapping.Content)-2].FootComment, head, false)
		}
	}
}

// yamlSequence is yamlMapping for a sequence.
func yamlSequence(list []any, seq *yamlv3.Node) {
	var head, inline []string
	beginning := true
	for _, item := range list {
		if c, ok := item.(sopsComment); ok {
			if c.Inline {
				inline = append(inline, c.Value)
			} else {
				head = append(head, c.Value)
			}
			continue
		}
		if beginning {
			addComment(&seq.HeadComment, head, true)
			head = nil
			beginning = false
		}
		n := yamlNode(item)
		addComment(&n.HeadComment, head, true)
		head = nil
		addComment(&n.LineComment, inline, false)
		inline = nil
		seq.Content = append(seq.Content, n)
	}
	head = append(head, inline...)
	if len(head) > 0 {
		if beginning {
			addComment(&seq.HeadComment, head, true)
		} else {
			addComment(&seq.Content[len(seq.Content)-1].FootComment, head, false)
		}
	}
}
