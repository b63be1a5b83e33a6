package sopsfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/gitsource/internal/fieldpath"
	"github.com/driftwatch/driftwatch/gitsource/internal/yamlstream"
)

// A SOPS file that no key opens leaves some objects unknowable, not just
// some of their values: a file encrypted whole (sops' default encrypts
// apiVersion, kind and metadata.name too), an object a kustomize generator
// made from an encrypted .env or file (its data is ciphertext and its name
// hashed from the ciphertext, never from the plaintext the cluster holds),
// an object a Helm chart rendered with encrypted values (a value may go
// anywhere: a label, a checksum annotation, a replica count). Comparing
// any of them would be a guess, and a wrong one: they are left out of the
// desired objects and listed as Unopened, with the file that holds their
// truth. A reference elsewhere to a generated object's hashed name (a
// Deployment's envFrom) is not compared either (Finisher.References).

// UnopenedVia says how an Unopened object depends on its encrypted file.
type UnopenedVia string

const (
	// UnopenedFile: the object is in the file, its identity encrypted.
	UnopenedFile UnopenedVia = "file"
	// UnopenedGenerator: a kustomize secretGenerator or configMapGenerator
	// made the object from the file.
	UnopenedGenerator UnopenedVia = "generator"
	// UnopenedValues: a Helm chart rendered the object with the file as
	// values.
	UnopenedValues UnopenedVia = "values"
)

// Unopened is a desired object that a SOPS file no key opens makes
// unknowable: it is not among the rendered objects and is not compared.
type Unopened struct {
	// APIVersion, Kind, Namespace and Name are what Git shows of the
	// object in clear; empty where encrypted. A name kustomize hashed from
	// the ciphertext ends in "-*": the cluster's holds the plaintext's hash.
	APIVersion, Kind, Namespace, Name string
	// Labels are the object's labels in clear, for targeting.
	Labels map[string]string
	// DefaultNamespace is the release namespace of a Helm chart's object
	// that names none (as gitsource's Object.DefaultNamespace); the
	// renderer of the chart sets it.
	DefaultNamespace string
	// File is the encrypted file, relative to the repository root.
	File string
	// Via says how the object depends on File.
	Via UnopenedVia
	// Recipients are the age recipients File is encrypted for, sorted:
	// one of their keys would open it.
	Recipients []string
}

// Sealed is a SOPS file no key opened, as rendering read it (see
// Reader.Sealed). Every object rendered from it is unknowable.
type Sealed struct {
	rel        string
	text       string
	recipients []string
}

// ciphertext matches one encrypted SOPS value.
var ciphertext = regexp.MustCompile(`ENC\[AES256_GCM,[^\]]*\]`)

// remember records a SOPS file no key opens, and returns what rendering
// reads of it: the file, its documents encrypted whole replaced by
// stand-ins. That text and the file's ciphertexts identify what rendering
// makes of it. meta is nil when it was not read. The caller holds s.mu.
func (s *Reader) remember(rel string, data []byte, meta *sopsMetadata) []byte {
	read := data
	if !strings.EqualFold(filepath.Ext(rel), ".env") {
		read = standIn(rel, data)
	}
	f := &Sealed{rel: rel, text: string(read)}
	if meta != nil {
		for _, g := range meta.keyGroups {
			for _, k := range g {
				if !slices.Contains(f.recipients, k.recipient) {
					f.recipients = append(f.recipients, k.recipient)
				}
			}
		}
		sort.Strings(f.recipients)
	}
	s.unopened[rel] = f
	for _, c := range ciphertext.FindAllString(string(data), -1) {
		s.ciphers[c] = rel
	}
	return read
}

// Sealed returns the file rel (relative to the repository root) when it
// was read and no key opened it, or nil. A Helm chart rendered with it as
// values is rendered from ciphertext: its objects are all Unopened.
func (s *Reader) Sealed(rel string) *Sealed {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unopened[rel]
}

// identityEncrypted reports whether a SOPS document's identity is
// encrypted: it cannot be told which object it is.
func identityEncrypted(m map[string]any) bool {
	if isEncrypted(m["apiVersion"]) || isEncrypted(m["kind"]) {
		return true
	}
	md, ok := m["metadata"].(map[string]any)
	return ok && (isEncrypted(md["name"]) || isEncrypted(md["namespace"]) || isEncrypted(md["generateName"]))
}

// clearIdentity is what u shows of its identity in clear: encrypted parts
// empty, ciphertexts inside a name (a chart's template put an encrypted
// value there) replaced by "*" so that nothing depends on them.
func clearIdentity(u *unstructured.Unstructured) (apiVersion, kind, namespace, name string) {
	clear := func(v any) string {
		s, _ := v.(string)
		if isEncrypted(s) {
			return ""
		}
		return ciphertext.ReplaceAllString(s, "*")
	}
	md, _ := u.Object["metadata"].(map[string]any)
	return clear(u.Object["apiVersion"]), clear(u.Object["kind"]), clear(md["namespace"]), clear(md["name"])
}

// Name is the file's path relative to the repository root.
func (f *Sealed) Name() string { return f.rel }

// Unopened describes u, an object the file makes unknowable, as via says.
func (f *Sealed) Unopened(u *unstructured.Unstructured, via UnopenedVia) Unopened {
	o := Unopened{File: f.rel, Via: via, Recipients: f.recipients}
	o.APIVersion, o.Kind, o.Namespace, o.Name = clearIdentity(u)
	if md, ok := u.Object["metadata"].(map[string]any); ok {
		if l, ok := md["labels"].(map[string]any); ok {
			for k, v := range l {
				if s, ok := v.(string); ok && !isEncrypted(s) {
					if o.Labels == nil {
						o.Labels = map[string]string{}
					}
					o.Labels[k] = s
				}
			}
		}
	}
	return o
}

// A document encrypted whole cannot be read as an object: its apiVersion
// may not parse, and kustomize's transformers fail on ciphertexts in its
// identity (it keeps previous names in comma-separated annotations). As
// rendering reads a file no key opens, each such document is replaced by
// a stand-in that names the file, which every renderer carries through
// and Finish lists as unopened. The stand-in takes as many lines as the
// document, so that errors elsewhere in the file keep their line numbers.
const (
	standInAPIVersion = "driftwatch.dev/v1"
	standInKind       = "UnopenedSOPSDocument"
	// standInFile is the annotation naming the encrypted file.
	standInFile = "driftwatch.dev/unopened-sops-file"
	// standInIdentity is the annotation holding, as JSON, what the
	// document shows of its identity in clear.
	standInIdentity = "driftwatch.dev/unopened-sops-identity"
)

// standIn returns data with every document whose identity is encrypted
// replaced by a stand-in; data itself when there is none.
func standIn(rel string, data []byte) []byte {
	docs := yamlstream.Split(data)
	replaced := false
	parts := make([][]byte, len(docs))
	for i, doc := range docs {
		parts[i] = doc.Data
		var m map[string]any
		if err := yaml.Unmarshal(doc.Data, &m); err != nil || !IsSOPS(m) || !identityEncrypted(m) {
			continue
		}
		replaced = true
		u := &unstructured.Unstructured{Object: m}
		clear := map[string]string{}
		clear["apiVersion"], clear["kind"], clear["namespace"], clear["name"] = clearIdentity(u)
		identity, _ := json.Marshal(clear)
		sum := sha256.Sum256([]byte(rel))
		text, _ := json.Marshal(map[string]any{
			"apiVersion": standInAPIVersion, "kind": standInKind,
			"metadata": map[string]any{
				"name":        fmt.Sprintf("sops-%x-%d", sum[:6], i),
				"annotations": map[string]any{standInFile: rel, standInIdentity: string(identity)},
			},
		})
		lines := max(1, bytes.Count(doc.Data, []byte("\n")))
		parts[i] = append(text, bytes.Repeat([]byte("\n"), lines)...)
	}
	if !replaced {
		return data
	}
	return bytes.Join(parts, []byte("---\n"))
}

// isStandIn reports whether an object of apiVersion and kind may be a
// stand-in: its annotations tell (standInOf).
func isStandIn(apiVersion, kind string) bool {
	return kind == standInKind && apiVersion == standInAPIVersion
}

// standInOf returns what a stand-in says of the document it replaced,
// and false when u is no stand-in. The caller holds s.mu.
func (s *Reader) standInOf(u *unstructured.Unstructured) (Unopened, bool) {
	if !isStandIn(u.GetAPIVersion(), u.GetKind()) {
		return Unopened{}, false
	}
	a := u.GetAnnotations()
	f := s.unopened[a[standInFile]]
	if f == nil {
		return Unopened{}, false // not one of ours: a kind someone named so
	}
	var clear map[string]string
	_ = json.Unmarshal([]byte(a[standInIdentity]), &clear)
	return Unopened{
		APIVersion: clear["apiVersion"], Kind: clear["kind"], Namespace: clear["namespace"], Name: clear["name"],
		File: f.rel, Via: UnopenedFile, Recipients: f.recipients,
	}, true
}

// generatedFrom names the unopened file a kustomize generator made u
// from: a value of its data, binaryData or stringData (base64-decoded or
// not) is one of that file's ciphertexts, or its whole text (files:).
// The caller holds s.mu.
func (s *Reader) generatedFrom(u *unstructured.Unstructured) *Sealed {
	for _, field := range []string{"data", "binaryData", "stringData"} {
		m, _ := u.Object[field].(map[string]any)
		for _, v := range m {
			text, ok := v.(string)
			if !ok {
				continue
			}
			candidates := []string{text}
			if b, err := base64.StdEncoding.DecodeString(text); err == nil {
				candidates = append(candidates, string(b))
			}
			for _, c := range candidates {
				if rel, ok := s.ciphers[c]; ok {
					return s.unopened[rel]
				}
				for _, f := range s.unopened {
					if c == f.text {
						return f
					}
				}
			}
		}
	}
	return nil
}

// kustomizeHash matches the suffix kustomize appends to a generated name:
// "-" and ten characters of its hash alphabet.
var kustomizeHash = regexp.MustCompile(`-[2456789bcdfghkmt]{10}$`)

// hashedName returns the name of a generated object without the hash
// kustomize appended (a hash of the ciphertext), and whether it had one.
// The suffix is known by its shape: a name that merely looks hashed (with
// disableNameSuffixHash) only costs the comparison of its references.
func hashedName(u *unstructured.Unstructured) (string, bool) {
	name := u.GetName()
	loc := kustomizeHash.FindStringIndex(name)
	if loc == nil {
		return name, false
	}
	return name[:loc[0]], true
}

// references returns the paths of the string fields of obj that hold one
// of names (the hashed names of objects that are not compared, each with
// why a reference to it is not compared), and why for each: a
// Deployment's envFrom, a volume's secretName. Git's value there is a hash
// of ciphertext; the cluster's, of the plaintext.
func references(obj map[string]any, names map[string]string) ([]string, map[string]string) {
	var paths []string
	why := map[string]string{}
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(e, fieldpath.Join(path, k))
			}
		case []any:
			for j, e := range x {
				walk(e, path+"["+strconv.Itoa(j)+"]")
			}
		case string:
			if shown, ok := names[x]; ok && path != "metadata.name" {
				paths = append(paths, path)
				why[path] = shown
			}
		}
	}
	walk(obj, "")
	return paths, why
}

// referenceReason says why a reference to o's name is not compared.
func referenceReason(o Unopened) string {
	return fmt.Sprintf("names %s %s, generated from %s, encrypted in Git (SOPS), no key opens it", o.Kind, o.Name, o.File)
}

// dedupeUnopened drops repeats (the documents of one file encrypted whole
// show alike), keeping the first of each in order.
func dedupeUnopened(list []Unopened) []Unopened {
	var out []Unopened
	seen := map[string]bool{}
	for _, o := range list {
		k := strings.Join([]string{o.APIVersion, o.Kind, o.Namespace, o.Name, o.File, string(o.Via)}, "\x00")
		if !seen[k] {
			seen[k] = true
			out = append(out, o)
		}
	}
	return out
}

// unopenedValuesAnnotation marks, through kustomize's transformers, the
// objects of a kustomization's helmCharts: entry rendered with a values
// file no key opens; its value is the file.
const unopenedValuesAnnotation = "driftwatch.dev/unopened-sops-values"

// MarkValues annotates u, an object of a kustomization's helmCharts:
// entry rendered with rel as values, rel a file no key opens (Sealed), so
// that a Finisher still knows it after kustomize's transformers and lists
// it as Unopened.
func MarkValues(u *unstructured.Unstructured, rel string) {
	a := u.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[unopenedValuesAnnotation] = rel
	u.SetAnnotations(a)
}

// valuesMark returns u's unopenedValuesAnnotation, or "".
func valuesMark(u *unstructured.Unstructured) string {
	md, _ := u.Object["metadata"].(map[string]any)
	a, _ := md["annotations"].(map[string]any)
	s, _ := a[unopenedValuesAnnotation].(string)
	return s
}
