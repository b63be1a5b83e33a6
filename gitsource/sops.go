package gitsource

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// SOPS-encrypted manifests (Flux's convention: values encrypted in place,
// a top-level "sops" block with the keys and the MAC) cannot be compared
// as they are: the ciphertext never equals the live value. driftwatch does
// not decrypt them yet, so each encrypted value is left out of the desired
// object and named in Object.NotCompared: never a false drift, never an
// error for the whole run.

// isSOPS reports whether a manifest carries SOPS metadata.
func isSOPS(obj map[string]any) bool {
	m, ok := obj["sops"].(map[string]any)
	if !ok {
		return false
	}
	_, mac := m["mac"]
	_, version := m["version"]
	return mac || version
}

// isEncrypted reports whether a value is a SOPS ciphertext: ENC[...].
func isEncrypted(v any) bool {
	s, ok := v.(string)
	return ok && strings.HasPrefix(s, "ENC[") && strings.HasSuffix(s, "]")
}

// stripSOPS removes the SOPS metadata and every encrypted value from a
// SOPS manifest (a list holding one goes whole) and returns the paths of
// what it removed, sorted (data.password, spec.items[0].token). A manifest
// without SOPS metadata is left alone.
func stripSOPS(obj map[string]any) []string {
	if !isSOPS(obj) {
		return nil
	}
	delete(obj, "sops")
	var paths []string
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if isEncrypted(e) || holdsEncryptedItem(e) {
					// A list with an encrypted item goes whole: dropping
					// one item would make the list differ.
					delete(x, k)
					paths = append(paths, p)
					continue
				}
				walk(e, p)
			}
		case []any:
			for i, e := range x {
				walk(e, path+"["+strconv.Itoa(i)+"]")
			}
		}
	}
	walk(obj, "")
	sort.Strings(paths)
	return paths
}

// holdsEncryptedItem reports whether v is a list with an encrypted item.
func holdsEncryptedItem(v any) bool {
	l, ok := v.([]any)
	if !ok {
		return false
	}
	for _, e := range l {
		if isEncrypted(e) {
			return true
		}
	}
	return false
}

// sopsState decrypts SOPS files as rendering reads them and remembers what
// it decrypted, so that rendered objects can name their sensitive fields.
// One is made per render; it is safe for concurrent use.
type sopsState struct{}

// newSOPSState parses the keys; an error names what is wrong with them.
func newSOPSState(d Decryption) (*sopsState, error) {
	if d.AgeKeys != "" {
		return nil, fmt.Errorf("sops: decryption is not implemented yet")
	}
	return &sopsState{}, nil
}

// file returns data decrypted when it is a SOPS file a key opens, or
// unchanged. rel names the file in errors.
func (s *sopsState) file(rel string, data []byte) ([]byte, error) {
	return data, nil
}

// finish marks decrypted values in objs as Sensitive, strips what stayed
// encrypted into NotCompared, and returns warnings (a file no key opens).
func (s *sopsState) finish(objs []Object) []string {
	for i := range objs {
		objs[i].NotCompared = stripSOPS(objs[i].Object.Object)
	}
	return nil
}
