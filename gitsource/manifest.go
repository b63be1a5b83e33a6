package gitsource

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/gitsource/internal/yamlstream"
	"github.com/driftwatch/driftwatch/gitsource/sopsfile"
)

// Object is one desired Kubernetes object together with where it came from.
type Object struct {
	// Object is the rendered manifest, exactly as Git (and kustomize) say;
	// nil when the object is packed.
	Object *unstructured.Unstructured
	// Packed is the object as its JSON text when rendering packed it
	// (RenderOptions.Pack); Object is then nil. Unpack decodes it; the
	// identity methods (GetName, GroupVersionKind, ...) read either form.
	Packed *Packed
	// Origin names the file (and line) or the kustomization the object was
	// rendered from, relative to the repository root.
	Origin string
	// NotCompared names the fields Git holds encrypted (SOPS) that could
	// not be decrypted: they are left out of Object, so not compared. It
	// also names the fields that hold the hashed name of an object a
	// kustomize generator made from such a file (see Unopened): Git's value
	// there is a hash of ciphertext.
	NotCompared []string
	// NotComparedWhy says why, for the paths of NotCompared that Git does
	// not hold encrypted itself (the references to a hashed name); nil when
	// every one is an encrypted value.
	NotComparedWhy map[string]string
	// Sensitive names the fields whose values were decrypted from SOPS:
	// they are compared, but their values are never shown (as Secret data
	// is not), in the same path syntax as drift.Path.String.
	Sensitive []string
	// DefaultNamespace is the namespace of a namespaced object that names
	// none (a Helm release's namespace, as helm install puts it there);
	// empty means the namespace the command runs against.
	DefaultNamespace string
}

// notCompare names paths in o.NotCompared, kept sorted, each with its
// reason why(path) in o.NotComparedWhy; nothing when paths is empty.
func (o *Object) notCompare(paths []string, why func(path string) string) {
	if len(paths) == 0 {
		return
	}
	o.NotCompared = append(o.NotCompared, paths...)
	sort.Strings(o.NotCompared)
	if o.NotComparedWhy == nil {
		o.NotComparedWhy = map[string]string{}
	}
	for _, p := range paths {
		o.NotComparedWhy[p] = why(p)
	}
}

// ManifestError is a problem in one manifest file. Line is 1-based; zero when
// the position is unknown.
type ManifestError struct {
	File string
	Line int
	Err  error
}

func (e *ManifestError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *ManifestError) Unwrap() error { return e.Err }

// yamlLine finds the line number a go-yaml error message carries.
var yamlLine = regexp.MustCompile(`line (\d+)`)

// ParseManifests decodes every object of a YAML or JSON stream. Lists
// (kind: List or any *List with items) are expanded. file is used in errors
// and as each object's origin.
func ParseManifests(file string, data []byte) ([]Object, error) {
	return parseManifests(file, data, false)
}

// parseManifests is ParseManifests; with pack, each object but SOPS
// documents (finishSOPS still has to strip those) is packed as soon as it
// is decoded, from the document's JSON text when the document is the
// object.
func parseManifests(file string, data []byte, pack bool) ([]Object, error) {
	var out []Object
	for _, doc := range yamlstream.Split(data) {
		if isBlank(doc.Data) {
			continue
		}
		js, err := yaml.YAMLToJSON(doc.Data)
		if err != nil {
			return nil, &ManifestError{File: file, Line: docLine(doc.Line, err), Err: cleanYAMLError(err)}
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue
		}
		var raw any
		if err := utiljson.Unmarshal(js, &raw); err != nil {
			return nil, &ManifestError{File: file, Line: doc.Line, Err: err}
		}
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, &ManifestError{File: file, Line: doc.Line, Err: fmt.Errorf("document is %s, not a Kubernetes object (a mapping with apiVersion and kind)", yamlKind(raw))}
		}
		objs, err := expand(m)
		if err != nil {
			return nil, &ManifestError{File: file, Line: doc.Line, Err: err}
		}
		origin := fmt.Sprintf("%s:%d", file, doc.Line)
		for _, o := range objs {
			obj := Object{Object: o, Origin: origin}
			switch {
			case !pack || sopsfile.IsSOPS(o.Object):
			case !isList(m):
				// The document is the object: its JSON text is the packed
				// form (json.Marshal's output, compact and exactly sized).
				obj.Object, obj.Packed = nil, packedFrom(o, js)
			default:
				if obj, err = obj.Pack(); err != nil {
					return nil, &ManifestError{File: file, Line: doc.Line, Err: err}
				}
			}
			out = append(out, obj)
		}
	}
	return out, nil
}

// expand validates one decoded document and flattens lists.
func expand(m map[string]any) ([]*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{Object: m}
	if isList(m) {
		items := m["items"].([]any)
		var out []*unstructured.Unstructured
		for i, it := range items {
			im, ok := it.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s item %d is not an object", u.GetKind(), i)
			}
			sub, err := expand(im)
			if err != nil {
				return nil, fmt.Errorf("%s item %d: %w", u.GetKind(), i, err)
			}
			out = append(out, sub...)
		}
		return out, nil
	}
	if err := validateObject(u); err != nil {
		return nil, err
	}
	return []*unstructured.Unstructured{u}, nil
}

// isList says whether a decoded document is a list to expand (kind: List,
// or any *List with items).
func isList(m map[string]any) bool {
	_, ok := m["items"].([]any)
	kind, _ := m["kind"].(string)
	return ok && strings.HasSuffix(kind, "List")
}

// validateObject checks what a drift check needs to identify an object.
func validateObject(u *unstructured.Unstructured) error {
	if v, ok := u.Object["apiVersion"].(string); !ok || v == "" {
		return fmt.Errorf("object has no apiVersion")
	}
	if v, ok := u.Object["kind"].(string); !ok || v == "" {
		return fmt.Errorf("object has no kind")
	}
	if _, err := schema.ParseGroupVersion(u.GetAPIVersion()); err != nil {
		return fmt.Errorf("%s has an invalid apiVersion %q", u.GetKind(), u.GetAPIVersion())
	}
	if _, ok := u.Object["metadata"].(map[string]any); !ok {
		return fmt.Errorf("%s has no metadata", u.GetKind())
	}
	if u.GetName() == "" {
		if u.GetGenerateName() != "" {
			return fmt.Errorf("%s uses generateName, which cannot be compared with a live object", u.GetKind())
		}
		return fmt.Errorf("%s has no metadata.name", u.GetKind())
	}
	return nil
}

func isBlank(doc []byte) bool {
	for _, l := range bytes.Split(doc, []byte("\n")) {
		t := bytes.TrimSpace(l)
		if len(t) > 0 && t[0] != '#' {
			return false
		}
	}
	return true
}

// docLine turns a document-relative line from a YAML error into a file line.
func docLine(start int, err error) int {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return start
	}
	n, _ := strconv.Atoi(m[1])
	return start + n - 1
}

// cleanYAMLError drops the converter's prefix and the relative line number
// (the file line replaces it).
func cleanYAMLError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	msg = yamlLine.ReplaceAllString(msg, "")
	msg = strings.Replace(msg, "yaml: : ", "yaml: ", 1)
	return fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// yamlKind names what a YAML document holds, in YAML's words, for errors.
func yamlKind(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64, float64:
		return "a number"
	case nil:
		return "empty"
	}
	return fmt.Sprintf("a %T", v)
}
