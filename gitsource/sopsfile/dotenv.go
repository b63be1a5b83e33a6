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
	"strconv"
	"strings"
	"time"
)

// SOPS files in dotenv format are read and written as sops' dotenv store
// (stores/dotenv/store.go) does: KEY=value lines with "\n" escaped, "#"
// lines as comments, the metadata flattened into sops_ keys
// (stores/flatten.go).

// loadSOPSDotenv reads KEY=value and #comment lines as the one document.
func loadSOPSDotenv(data []byte) ([]sopsBranch, error) {
	var b sopsBranch
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if line[0] == '#' {
			b = append(b, sopsItem{key: sopsComment{Value: string(line[1:])}})
			continue
		}
		pos := bytes.IndexByte(line, '=')
		if pos == -1 {
			return nil, fmt.Errorf("invalid dotenv input line: %s", line)
		}
		b = append(b, sopsItem{key: string(line[:pos]), value: strings.ReplaceAll(string(line[pos+1:]), "\\n", "\n")})
	}
	return []sopsBranch{b}, nil
}

// emitSOPSDotenv writes the document as KEY=value and #comment lines.
func emitSOPSDotenv(docs []sopsBranch) ([]byte, error) {
	var out bytes.Buffer
	for _, item := range docs[0] {
		switch item.value.(type) {
		case sopsBranch, []any:
			return nil, fmt.Errorf("cannot use complex value in dotenv file; offending key %s", item.key)
		}
		if c, ok := item.key.(sopsComment); ok {
			out.WriteString("#" + c.Value + "\n")
			continue
		}
		v, ok := item.value.(string)
		if ok {
			v = strings.ReplaceAll(v, "\n", "\\n")
		} else {
			v = dotenvText(item.value)
		}
		fmt.Fprintf(&out, "%s=%s\n", item.key, v)
	}
	return out.Bytes(), nil
}

// dotenvText is sops' stores.ValToString.
func dotenvText(v any) string {
	switch x := v.(type) {
	case float64:
		s := strconv.FormatFloat(x, 'G', -1, 64)
		if !strings.ContainsAny(s, ".E") {
			s = strconv.FormatFloat(x, 'f', 1, 64)
		}
		return s
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.Format(time.RFC3339)
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprintf("%v", v)
}

// flatMetadata removes the sops_ entries of a dotenv file and rebuilds
// the nested metadata from their flattened keys (age__list_0__map_enc), as
// sops' MetadataFlattenFull does.
func flatMetadata(docs []sopsBranch) (map[string]any, error) {
	root := &flatNode{}
	found := false
	if len(docs) > 0 {
		kept := docs[0][:0]
		for _, item := range docs[0] {
			k, ok := item.key.(string)
			if !ok || !strings.HasPrefix(k, "sops_") {
				kept = append(kept, item)
				continue
			}
			found = true
			k = strings.TrimPrefix(k, "sops_")
			if err := root.place(item.value, flatTokens(k)); err != nil {
				return nil, fmt.Errorf("Error while unflattening %q: %w", k, err)
			}
		}
		docs[0] = kept
	}
	if !found {
		return nil, errNoSOPSMetadata
	}
	v, err := root.build()
	if err != nil {
		return nil, fmt.Errorf("Error while unflattening: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("Internal error: cannot find root")
	}
	return m, nil
}

const (
	flatMap  = "__map_"
	flatList = "__list_"
)

// flatToken is a map key (a string) or a list index (an int).
type flatToken any

// flatTokens splits a flattened key at its separators.
func flatTokens(path string) []flatToken {
	var tokens []flatToken
	state, last := "", 0
	finish := func(i int) {
		switch state {
		case flatList:
			pos, _ := strconv.Atoi(path[last+len(flatList) : i])
			tokens = append(tokens, pos)
		default:
			tokens = append(tokens, path[last+len(state):i])
		}
		last = i
	}
	for i := 0; i < len(path); {
		switch {
		case strings.HasPrefix(path[i:], flatMap):
			finish(i)
			state = flatMap
			i += len(flatMap)
		case strings.HasPrefix(path[i:], flatList):
			finish(i)
			state = flatList
			i += len(flatList)
		default:
			i++
		}
	}
	finish(len(path))
	return tokens
}

// flatNode is a node of the metadata being rebuilt from flattened keys:
// a value, keys or indexes, never two of these.
type flatNode struct {
	value    *any
	keys     map[string]*flatNode
	indices  map[int]*flatNode
	hasValue bool
}

// place puts v at path below n.
func (n *flatNode) place(v any, path []flatToken) error {
	for _, t := range path {
		var next *flatNode
		switch t := t.(type) {
		case string:
			if n.keys == nil {
				n.keys = map[string]*flatNode{}
			}
			if next = n.keys[t]; next == nil {
				next = &flatNode{}
				n.keys[t] = next
			}
		case int:
			if n.indices == nil {
				n.indices = map[int]*flatNode{}
			}
			if next = n.indices[t]; next == nil {
				next = &flatNode{}
				n.indices[t] = next
			}
		}
		n = next
	}
	if n.hasValue {
		return errors.New("Duplicate value")
	}
	n.value, n.hasValue = &v, true
	return nil
}

// build turns n into a value, a map or a list (complete from 0).
func (n *flatNode) build() (any, error) {
	kinds := 0
	for _, has := range []bool{n.hasValue, len(n.keys) > 0, len(n.indices) > 0} {
		if has {
			kinds++
		}
	}
	switch {
	case kinds > 1:
		return nil, errors.New("Type mismatch")
	case n.hasValue:
		return *n.value, nil
	case len(n.indices) > 0:
		lo, hi := len(n.indices), -1
		for k := range n.indices {
			lo, hi = min(lo, k), max(hi, k)
		}
		if lo != 0 || hi+1 != len(n.indices) {
			return nil, errors.New("Incomplete list")
		}
		out := make([]any, len(n.indices))
		for k, c := range n.indices {
			v, err := c.build()
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	}
	out := make(map[string]any, len(n.keys))
	for k, c := range n.keys {
		v, err := c.build()
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}
