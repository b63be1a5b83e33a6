package adopt

import (
	"bytes"
	"fmt"
	"path/filepath"

	"k8s.io/apimachinery/pkg/runtime/schema"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// docRef is one document of a YAML text.
type docRef struct {
	text *yamlText
	span span
	doc  *yamlDoc
}

// docs parses every document of a text; a document that does not parse
// is left out (rendering would have failed on it).
func docs(t *yamlText) []docRef {
	inner := t.inner()
	var out []docRef
	for _, sp := range splitDocs(inner) {
		d, err := parseDoc(inner[sp.start:sp.end])
		if err != nil || d.top() == nil {
			continue
		}
		out = append(out, docRef{text: t, span: sp, doc: d})
	}
	return out
}

// file returns the whole file with the document's text replaced.
func (r docRef) file(doc []byte) []byte {
	inner := r.text.inner()
	out := make([]byte, 0, len(inner)+len(doc))
	out = append(out, inner[:r.span.start]...)
	out = append(out, doc...)
	out = append(out, inner[r.span.end:]...)
	return r.text.with(out)
}

// without returns the whole file without the document (and one of the
// separators around it), or nil when it was the file's only object.
func (r docRef) without() []byte {
	inner := r.text.inner()
	if len(docs(r.text)) == 1 && r.text.indent == 0 {
		return nil
	}
	start, end := r.span.start, r.span.end
	if end < len(inner) {
		// Up to and with the separator line that follows.
		if i := bytes.IndexByte(inner[end:], '\n'); i >= 0 {
			end += i + 1
		} else {
			end = len(inner)
		}
	} else if start > 0 {
		// The last document: drop the separator before it instead.
		prev := bytes.LastIndexByte(inner[:start-1], '\n')
		start = prev + 1
	}
	out := append(append([]byte{}, inner[:start]...), inner[end:]...)
	return r.text.with(out)
}

// identity is an object's identity as a document in the source may spell
// it; Namespace "" with anyNamespace matches any (a kustomization sets
// it later).
type identity struct {
	group, kind  string
	names        []string
	namespace    string
	anyNamespace bool
}

func (id identity) matches(top *kyaml.Node) bool {
	gv, err := schema.ParseGroupVersion(scalarOf(mapValue(top, "apiVersion")))
	if err != nil || gv.Group != id.group || scalarOf(mapValue(top, "kind")) != id.kind {
		return false
	}
	meta := mapValue(top, "metadata")
	name := scalarOf(mapValue(meta, "name"))
	found := false
	for _, n := range id.names {
		found = found || n == name
	}
	if !found {
		return false
	}
	ns := scalarOf(mapValue(meta, "namespace"))
	return id.anyNamespace || ns == "" || id.namespace == "" || ns == id.namespace
}

// identityOf is the rendered object's own identity.
func identityOf(o *desiredObject) identity {
	u := o.obj
	return identity{group: u.GroupVersionKind().Group, kind: u.GetKind(), names: []string{u.GetName()}, namespace: u.GetNamespace()}
}

// docPlaces are the places for an edit in the documents of a text that
// match id: where the field is set (or the object is, to remove it), and
// apart, where it could be added (only for a field Git does not set).
func (a *adopter) docPlaces(t *yamlText, id identity, e Edit) (set, add []place) {
	for _, r := range docs(t) {
		if !id.matches(r.doc.top()) {
			continue
		}
		r := r
		found := e.Op != Remove && walkPath(r.doc.top(), e.Path).node != nil
		switch {
		case e.Op == Remove:
			set = append(set, place{file: t.file, edit: func() (map[string][]byte, error) {
				return map[string][]byte{t.file: r.without()}, nil
			}})
		case e.Op == Unset && found:
			set = append(set, docEdit(r, func(d *yamlDoc) ([]byte, error) { return d.deletePath(d.top(), e.Path) }))
		case e.Op == Set && found:
			set = append(set, docEdit(r, func(d *yamlDoc) ([]byte, error) { return d.setValue(d.top(), e.Path, e.Live, false) }))
		case e.Op == Set && e.Desired == nil:
			add = append(add, docEdit(r, func(d *yamlDoc) ([]byte, error) { return d.setValue(d.top(), e.Path, e.Live, true) }))
		}
	}
	return set, add
}

// docEdit is a place that edits one document, freshly parsed each time
// it is tried.
func docEdit(r docRef, edit func(*yamlDoc) ([]byte, error)) place {
	return place{file: r.text.file, edit: func() (map[string][]byte, error) {
		d, err := parseDoc(r.doc.src)
		if err != nil {
			return nil, err
		}
		out, err := edit(d)
		if err != nil {
			return nil, err
		}
		return map[string][]byte{r.text.file: r.file(out)}, nil
	}}
}

// plainPlaces: a plain manifest is its own and only place.
func (a *adopter) plainPlaces(obj *desiredObject, e Edit) ([]place, string, bool) {
	file := filepath.ToSlash(originFile(obj.origin))
	data, err := a.ws.read(file)
	if err != nil {
		return nil, fmt.Sprintf("reading %s: %v", file, err), false
	}
	set, add := a.docPlaces(fileText(file, data), identityOf(obj), e)
	places := append(set, add...)
	if len(places) == 0 {
		return nil, fmt.Sprintf("%s does not hold it as a document of its own (a List item?)", file), false
	}
	return places, "", false
}
