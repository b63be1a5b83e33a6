package sopsfile

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftwatch/driftwatch/gitsource/internal/fieldpath"
)

// Finisher says, once rendering is over, what becomes of each rendered
// object given what a Reader read: which of its fields hold a decrypted
// value (Sensitive), which values of a SOPS document stayed encrypted
// (NotCompared), which objects a file no key opens makes unknowable
// (Unopened), and then which fields refer to those objects by their
// hashed names (References). Values are matched by content, not by file:
// kustomize and Helm move, rename and relabel what they read, and a value
// equal to a secret one is hidden wherever it appears, which is safe. A
// Finisher is used from one goroutine, each object once.
type Finisher struct {
	s *Reader
	// embedded are the decrypted values of at least minEmbedded bytes.
	embedded []string
	// hashed are the generated names hashed from ciphertext, each with
	// why a reference to it is not compared.
	hashed   map[string]string
	unopened []Unopened
}

// Finish returns the Finisher of what s read: call it once every file of
// the render has been read.
func (s *Reader) Finish() *Finisher {
	s.mu.Lock()
	defer s.mu.Unlock()
	var embedded []string
	for v := range s.plaintexts {
		if len(v) >= minEmbedded {
			embedded = append(embedded, v)
		}
	}
	return &Finisher{s: s, embedded: embedded, hashed: map[string]string{}}
}

// Verdict is what becomes of one rendered object.
type Verdict struct {
	// LeftOut: a file no key opens makes the object unknowable (encrypted
	// whole, generated from it by kustomize, rendered with it as Helm
	// values). It is no desired object; Done lists it as Unopened.
	LeftOut bool
	// Stripped: the object is a SOPS document. Its sops block and the
	// values that stayed encrypted were removed from it, and NotCompared
	// names those values, sorted (a list holding one goes whole): they
	// are the object's fields not compared.
	Stripped    bool
	NotCompared []string
	// Sensitive names, sorted, the fields whose value is a decrypted one
	// or, for a string, holds one of at least minEmbedded bytes; nil when
	// the render decrypted nothing. Identity fields are never named.
	Sensitive []string
}

// Object returns the verdict on a decoded object; a SOPS document is
// stripped in place.
func (f *Finisher) Object(u *unstructured.Unstructured) Verdict {
	s := f.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.standInOf(u); ok {
		// Encrypted whole: which object it is is a secret too.
		f.unopened = append(f.unopened, o)
		return Verdict{LeftOut: true}
	}
	var v Verdict
	switch {
	case valuesMark(u) != "":
		// A kustomization's chart rendered with encrypted values.
		sealed := s.unopened[valuesMark(u)]
		if sealed == nil {
			sealed = &Sealed{rel: valuesMark(u)}
		}
		f.unopened = append(f.unopened, sealed.Unopened(u, UnopenedValues))
		return Verdict{LeftOut: true}
	case IsSOPS(u.Object):
		v.Stripped, v.NotCompared = true, stripSOPS(u.Object)
	case len(s.unopened) > 0:
		if sealed := s.generatedFrom(u); sealed != nil {
			o := sealed.Unopened(u, UnopenedGenerator)
			if base, ok := hashedName(u); ok {
				o.Name = base + "-*"
				f.hashed[u.GetName()] = referenceReason(o)
			}
			f.unopened = append(f.unopened, o)
			return Verdict{LeftOut: true}
		}
	}
	if len(s.plaintexts) > 0 {
		v.Sensitive = s.sensitivePaths(u.Object, f.embedded)
	}
	return v
}

// Packed returns the verdict on an object held packed, never a SOPS
// document: apiVersion and kind are its identity, and decode returns it
// decoded. decode is called only when the object may be a stand-in for a
// document encrypted whole, or when the render decrypted values; an
// object that does not decode is kept as it is.
func (f *Finisher) Packed(apiVersion, kind string, decode func() (*unstructured.Unstructured, error)) Verdict {
	s := f.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if isStandIn(apiVersion, kind) {
		if u, err := decode(); err == nil {
			if o, ok := s.standInOf(u); ok {
				f.unopened = append(f.unopened, o)
				return Verdict{LeftOut: true}
			}
		}
	}
	if len(s.plaintexts) == 0 {
		return Verdict{}
	}
	u, err := decode()
	if err != nil {
		return Verdict{} // its Pack made this JSON; it decodes
	}
	return Verdict{Sensitive: s.sensitivePaths(u.Object, f.embedded)}
}

// References returns the paths of the string fields of obj, a kept
// object, that hold the hashed name of an object left out because
// kustomize generated it from a file no key opens (a Deployment's
// envFrom, a volume's secretName), each with why it is not compared: Git's
// value there is a hash of ciphertext, the cluster's of the plaintext.
// Call it once every object has its verdict.
func (f *Finisher) References(obj map[string]any) ([]string, map[string]string) {
	if len(f.hashed) == 0 {
		return nil, nil
	}
	return references(obj, f.hashed)
}

// Done returns the objects left out, in the order they were seen, repeats
// dropped (the documents of one file encrypted whole show alike), and
// warnings, sorted: a file no key opens, when keys were given.
func (f *Finisher) Done() ([]Unopened, []string) {
	s := f.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var warnings []string
	if len(s.identities) > 0 {
		for rel := range s.unopened {
			warnings = append(warnings, fmt.Sprintf("sops: %s: no age key opens it; its encrypted values are not compared", rel))
		}
		sort.Strings(warnings)
	}
	return dedupeUnopened(f.unopened), warnings
}

// minEmbedded is the shortest decrypted value looked for inside longer
// strings (a password a Helm template puts into a connection URL); shorter
// ones would mark unrelated fields.
const minEmbedded = 6

// identityFields are shown in every report anyway: never marked.
var identityFields = map[string]bool{"apiVersion": true, "kind": true, "metadata.name": true, "metadata.namespace": true}

// sensitivePaths returns the sorted paths of the scalars in obj whose text
// is a decrypted value or, for a string, holds one of embedded (the
// decrypted values of at least minEmbedded bytes). The caller holds s.mu.
func (s *Reader) sensitivePaths(obj map[string]any, embedded []string) []string {
	var paths []string
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(e, fieldpath.Join(path, k))
			}
		case []any:
			for i, e := range x {
				walk(e, path+"["+strconv.Itoa(i)+"]")
			}
		default:
			t, ok := scalarText(v)
			if !ok || identityFields[path] {
				return
			}
			if _, hit := s.plaintexts[t]; hit {
				paths = append(paths, path)
				return
			}
			if _, isString := v.(string); !isString {
				return
			}
			for _, e := range embedded {
				if strings.Contains(t, e) {
					paths = append(paths, path)
					return
				}
			}
		}
	}
	walk(obj, "")
	sort.Strings(paths)
	return paths
}
