// Portions of this file are derived from github.com/getsops/sops/v3
// (its stores, tree, MAC and AES-GCM code), Copyright the sops authors,
// licensed under the Mozilla Public License, v. 2.0. This file is
// therefore available under the MPL-2.0: a copy of the licence is at
// https://mozilla.org/MPL/2.0/.

package sopsfile

import (
	"errors"
	"fmt"
)

// A SOPS file is read here without the sops library, which links every
// cloud key service (AWS, Azure, GCP, Vault, gRPC) into the binary. The
// reader holds a file as sops' stores do (documents of ordered items, the
// comments among them) because the AES-GCM additional data and the MAC
// depend on that shape: the paths of the values, their order, which
// comments exist. Decrypted files are written back the way `sops decrypt`
// writes them, byte for byte, so that rendering reads the same text as
// with the library. The behaviour is that of sops v3.13.3's stores/yaml,
// stores/json, stores/dotenv, stores/metadata.go and stores/flatten.go
// (MPL-2.0), one file here per format (yaml.go, json.go, dotenv.go);
// reader_test.go holds the two side by side on files the library
// encrypts.

// sopsComment is a comment in a SOPS tree: a YAML or dotenv comment line,
// without its "#". Its fields are exported and in this order so that a
// comment in a value's place encodes as sops' Comment does.
type sopsComment struct {
	Value  string
	Inline bool
}

// sopsItem is a mapping entry: key is a string (any other scalar in YAML,
// which decryption refuses as sops does) or a sopsComment with a nil
// value.
type sopsItem struct {
	key   any
	value any
}

// sopsBranch is an ordered mapping. Values are sopsBranch, []any
// (sequences, which may hold sopsComments), nil or scalars as the YAML or
// JSON decoder made them.
type sopsBranch []sopsItem

// sopsFile is a SOPS file read: its documents (one but in YAML streams)
// without the metadata, and the metadata.
type sopsFile struct {
	format sopsFormat
	docs   []sopsBranch
	meta   sopsMetadata
}

// loadSOPSFile reads an encrypted file in format; the errors are worded
// as sops' stores word them.
func loadSOPSFile(format sopsFormat, data []byte) (*sopsFile, error) {
	var docs []sopsBranch
	var err error
	switch format {
	case sopsJSON:
		docs, err = loadSOPSJSON(data)
	case sopsDotenv:
		docs, err = loadSOPSDotenv(data)
	default:
		docs, err = loadSOPSYAML(data)
	}
	if err != nil {
		return nil, err
	}
	var md map[string]any
	if format == sopsDotenv {
		md, err = flatMetadata(docs)
	} else {
		md, err = nestedMetadata(docs)
	}
	if err != nil {
		return nil, err
	}
	meta, err := parseSOPSMetadata(md)
	if err != nil {
		return nil, err
	}
	return &sopsFile{format: format, docs: docs, meta: meta}, nil
}

// emit writes the decrypted documents as `sops decrypt` does.
func (f *sopsFile) emit() ([]byte, error) {
	switch f.format {
	case sopsJSON:
		return emitSOPSJSON(f.docs)
	case sopsDotenv:
		return emitSOPSDotenv(f.docs)
	}
	return emitSOPSYAML(f.docs)
}

// errNoSOPSMetadata is sops' MetadataNotFound.
var errNoSOPSMetadata = errors.New("sops metadata not found")

// nestedMetadata removes the "sops" entries from every document and
// returns the first document's as a map, as sops' YAML and JSON stores do.
func nestedMetadata(docs []sopsBranch) (map[string]any, error) {
	var found sopsBranch
	first := true
	for d, doc := range docs {
		kept := doc[:0]
		for _, item := range doc {
			if item.key != "sops" {
				kept = append(kept, item)
				continue
			}
			if d > 0 {
				continue
			}
			if !first {
				return nil, errors.New("Found duplicate sops entry")
			}
			first = false
			b, ok := item.value.(sopsBranch)
			if !ok {
				return nil, errors.New("Found sops entry that is not a mapping")
			}
			found = b
		}
		docs[d] = kept
	}
	if found == nil {
		return nil, errNoSOPSMetadata
	}
	return metadataMap(found)
}

// metadataMap turns a metadata branch into Go maps and slices, comments
// left out, as mapstructure reads it in sops.
func metadataMap(b sopsBranch) (map[string]any, error) {
	out := make(map[string]any, len(b))
	for _, item := range b {
		if _, ok := item.key.(sopsComment); ok {
			continue
		}
		k, ok := item.key.(string)
		if !ok {
			return nil, fmt.Errorf("Unexpected key type %T", item.key)
		}
		v, err := metadataValue(item.value)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// metadataValue is metadataMap for any value.
func metadataValue(v any) (any, error) {
	switch x := v.(type) {
	case sopsBranch:
		return metadataMap(x)
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			if _, ok := e.(sopsComment); ok {
				continue
			}
			ev, err := metadataValue(e)
			if err != nil {
				return nil, err
			}
			out = append(out, ev)
		}
		return out, nil
	}
	return v, nil
}
