// Portions of this file are derived from github.com/getsops/sops/v3
// (its stores, tree, MAC and AES-GCM code), Copyright the sops authors,
// licensed under the Mozilla Public License, v. 2.0. This file is
// therefore available under the MPL-2.0: a copy of the licence is at
// https://mozilla.org/MPL/2.0/.

package sopsfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// SOPS files in JSON are read and written as sops' JSON store
// (stores/json/store.go) does: one top-level object read token by token,
// numbers as int when they fit and float64 otherwise, written back
// compactly and then indented by json.Indent with an empty indent.

// loadSOPSJSON reads a JSON object as the one document.
func loadSOPSJSON(data []byte) ([]sopsBranch, error) {
	b, err := jsonTopLevel(data)
	if err != nil {
		return nil, fmt.Errorf("Could not unmarshal input data: %s", err)
	}
	return []sopsBranch{b}, nil
}

// jsonTopLevel reads the top-level object; anything else is refused.
func jsonTopLevel(data []byte) (sopsBranch, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := t.(json.Delim); ok {
		if d != '{' {
			return nil, fmt.Errorf("SOPS only supports JSON files with a top-level object (starting with '{'), not arrays or other types. Got delimiter %s instead. To encrypt this file, wrap it in an object, e.g., {\"data\": [...]}", d)
		}
	} else {
		v, nerr := jsonNumber(t)
		if nerr != nil {
			v = t
		}
		return nil, fmt.Errorf("SOPS only supports JSON files with a top-level object (starting with '{'), not other JSON types. Got %#v of type %T instead", v, v)
	}
	return jsonObject(dec)
}

// jsonNumber turns a json.Number into an int when it fits and a float64
// otherwise; other tokens are returned as they are.
func jsonNumber(t json.Token) (any, error) {
	n, ok := t.(json.Number)
	if !ok {
		return t, nil
	}
	if i, err := n.Int64(); err == nil {
		return int(i), nil
	}
	f, err := n.Float64()
	if err != nil {
		return nil, err
	}
	return f, nil
}

var errEndOfObject = errors.New("End of object")

// jsonObject reads an object's entries after its "{".
func jsonObject(dec *json.Decoder) (sopsBranch, error) {
	var b sopsBranch
	for {
		item, err := jsonItem(dec)
		if err == io.EOF || err == errEndOfObject {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		b = append(b, item)
	}
}

// jsonItem reads one entry, or errEndOfObject at the "}".
func jsonItem(dec *json.Decoder) (sopsItem, error) {
	var item sopsItem
	key, err := dec.Token()
	if err != nil && err != io.EOF {
		return item, err
	}
	if k, ok := key.(string); ok {
		item.key = k
	} else if d, ok := key.(json.Delim); ok && d == '}' {
		return item, errEndOfObject
	} else {
		return item, fmt.Errorf("Expected JSON object key, got %s of type %T instead", key, key)
	}
	value, err := dec.Token()
	if err != nil {
		return item, err
	}
	if d, ok := value.(json.Delim); ok {
		switch d {
		case '[':
			item.value, err = jsonArray(dec)
		case '{':
			item.value, err = jsonObject(dec)
		}
		return item, err
	}
	item.value, err = jsonNumber(value)
	return item, err
}

// jsonArray reads an array's items after its "[".
func jsonArray(dec *json.Decoder) ([]any, error) {
	var list []any
	for {
		t, err := dec.Token()
		if err != nil {
			return list, err
		}
		d, ok := t.(json.Delim)
		switch {
		case ok && d == ']':
			return list, nil
		case ok && d == '{':
			b, err := jsonObject(dec)
			if err != nil {
				return list, err
			}
			list = append(list, b)
		case ok && d == '[':
			l, err := jsonArray(dec)
			if err != nil {
				return list, err
			}
			list = append(list, l)
		default:
			v, err := jsonNumber(t)
			if err != nil {
				return list, err
			}
			list = append(list, v)
		}
	}
}

// emitSOPSJSON writes the document as JSON, a value per line.
func emitSOPSJSON(docs []sopsBranch) ([]byte, error) {
	var compact bytes.Buffer
	if err := jsonWriteObject(&compact, docs[0]); err != nil {
		return nil, fmt.Errorf("Error marshaling to json: %s", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact.Bytes(), "", ""); err != nil {
		return nil, fmt.Errorf("Error marshaling to json: %s", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// jsonWriteValue writes a value compactly; comments are left out.
func jsonWriteValue(w *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case sopsBranch:
		return jsonWriteObject(w, x)
	case []any:
		w.WriteByte('[')
		empty := true
		for _, e := range x {
			if _, ok := e.(sopsComment); ok {
				continue
			}
			if !empty {
				w.WriteByte(',')
			}
			if err := jsonWriteValue(w, e); err != nil {
				return err
			}
			empty = false
		}
		w.WriteByte(']')
		return nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Write(data)
	return nil
}

// jsonWriteObject writes a mapping compactly, with ": " after keys.
func jsonWriteObject(w *bytes.Buffer, b sopsBranch) error {
	w.WriteByte('{')
	empty := true
	for _, item := range b {
		if _, ok := item.key.(sopsComment); ok {
			continue
		}
		if !empty {
			w.WriteByte(',')
		}
		k, err := json.Marshal(item.key.(string))
		if err != nil {
			return err
		}
		w.Write(k)
		w.WriteString(": ")
		if err := jsonWriteValue(w, item.value); err != nil {
			// sops' wording, its empty %s before the colon included.
			return fmt.Errorf("Error encoding value : %s", err)
		}
		empty = false
	}
	w.WriteByte('}')
	return nil
}
