package adopt

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"

	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/driftwatch/driftwatch/drift"
)

// A kustomization's places are found by walking its tree the way
// kustomize builds it, in reverse: within one kustomization, kustomize
// applies patchesStrategicMerge, patches, namespace, namePrefix and
// nameSuffix, labels, annotations, patchesJson6902, replicas, images and
// replacements, in that order (api/internal/target, configureBuiltin-
// Transformers), to what its resources and components built. So the last
// place that may set a field is images: or replicas:, then the JSON 6902
// patches, then the patches, then the strategic merge patches, each list
// last entry first, then the components and resources, last first, and
// within each kustomization below the same again. The places are tried in
// that order and the first whose edit renders the live value, changing
// nothing else, wins: an overlay patch that sets the field shadows the
// base, and editing the base would not render (so not verify).

// kustomization is one parsed kustomization file.
type kustomization struct {
	dir  string // slash path from the root, "." for the root itself
	ref  docRef
	top  *kyaml.Node
	file string
}

func (a *adopter) loadKustomization(dir string) (*kustomization, error) {
	name := kustomizationFile(a.ws.abs(dir))
	if name == "" {
		return nil, fmt.Errorf("%s: no kustomization", dir)
	}
	file := path.Join(dir, name)
	data, err := a.ws.read(file)
	if err != nil {
		return nil, err
	}
	ds := docs(fileText(file, data))
	if len(ds) != 1 || ds[0].doc.top().Kind != kyaml.MappingNode {
		return nil, fmt.Errorf("%s: not a single YAML mapping", file)
	}
	return &kustomization{dir: dir, ref: ds[0], top: ds[0].doc.top(), file: file}, nil
}

// list returns the items of a top-level list field.
func (k *kustomization) list(field string) []*kyaml.Node {
	n := resolve(mapValue(k.top, field))
	if n == nil || n.Kind != kyaml.SequenceNode {
		return nil
	}
	return n.Content
}

// kwalk collects the places of one edit in a kustomization tree.
type kwalk struct {
	a        *adopter
	e        Edit
	old      any // the rendered value at the path
	set, add []place
	// generated says why a value may have no place (a generator made it).
	generated []string
	// notes are other reasons the tree may not hold it.
	notes []string
	seen  map[string]bool
}

func (a *adopter) kustomizePlaces(obj *desiredObject, e Edit) ([]place, string, bool) {
	w := &kwalk{a: a, e: e, seen: map[string]bool{}}
	w.old, _ = lookupIn(obj.obj.Object, e.Path)
	if e.Op == Remove {
		w.old = nil
	}
	w.dir(cleanSlash(a.ws.src.Path), identityOf(obj))
	places := append(w.set, w.add...)
	switch {
	case len(places) > 0:
		return places, "", false
	case len(w.generated) > 0:
		return nil, strings.Join(w.generated, "; "), true
	case len(w.notes) > 0:
		return nil, strings.Join(w.notes, "; "), false
	case e.Op == Remove:
		return nil, "no file of the kustomization holds it as a document", false
	case e.Op == Set && e.Desired != nil:
		return nil, "no file of the kustomization sets it: a transformer or generator makes it (namespace, labels, name prefix, replacements)", true
	}
	return nil, "no file of the kustomization holds the object to add the field to", false
}

func cleanSlash(p string) string {
	p = path.Clean("/" + strings.ReplaceAll(p, "\\", "/"))[1:]
	if p == "" {
		return "."
	}
	return p
}

// dir walks one kustomization; id is the object as it leaves it.
func (w *kwalk) dir(dir string, id identity) {
	if w.seen[dir] || len(w.seen) > 200 {
		return
	}
	w.seen[dir] = true
	k, err := w.a.loadKustomization(dir)
	if err != nil {
		w.notes = append(w.notes, err.Error())
		return
	}
	w.generators(k, id)
	if len(k.list("helmCharts")) > 0 {
		w.notes = append(w.notes, "rendered from helmCharts: in "+k.file+", whose values adopt does not edit")
	}
	// Names as the kustomizations below spell them (namePrefix and
	// nameSuffix undone); patches here may use either.
	below := id
	below.names = append([]string(nil), id.names...)
	prefix, suffix := scalarOf(mapValue(k.top, "namePrefix")), scalarOf(mapValue(k.top, "nameSuffix"))
	for _, n := range id.names {
		m := strings.TrimSuffix(strings.TrimPrefix(n, prefix), suffix)
		if m != n {
			below.names = append(below.names, m)
		}
	}
	if scalarOf(mapValue(k.top, "namespace")) != "" {
		below.anyNamespace = true
	}
	if w.e.Op != Remove {
		w.images(k)
		w.replicas(k, below)
		for _, p := range reversed(k.list("patchesJson6902")) {
			if w.targets(mapValue(p, "target"), below) {
				w.patch(k, p, below, true)
			}
		}
		for _, p := range reversed(k.list("patches")) {
			if w.targets(mapValue(p, "target"), below) {
				w.patch(k, p, below, mapValue(p, "target") != nil)
			}
		}
		for _, p := range reversed(k.list("patchesStrategicMerge")) {
			w.strategicMerge(k, p, below)
		}
	}
	for _, c := range reversed(k.list("components")) {
		w.resource(k, c, below)
	}
	for _, field := range []string{"resources", "bases"} {
		for _, r := range reversed(k.list(field)) {
			w.resource(k, r, below)
		}
	}
}

func reversed(ns []*kyaml.Node) []*kyaml.Node {
	out := make([]*kyaml.Node, len(ns))
	for i, n := range ns {
		out[len(ns)-1-i] = n
	}
	return out
}

// hashed matches the content hash kustomize appends to generated names.
var hashed = regexp.MustCompile(`-[a-z0-9]{10}$`)

// generators notes a configMapGenerator or secretGenerator that makes the
// object: its values are generated, written nowhere as the object.
func (w *kwalk) generators(k *kustomization, id identity) {
	if id.group != "" || (id.kind != "ConfigMap" && id.kind != "Secret") {
		return
	}
	field := "configMapGenerator"
	if id.kind == "Secret" {
		field = "secretGenerator"
	}
	for _, g := range k.list(field) {
		name := scalarOf(mapValue(g, "name"))
		for _, n := range id.names {
			if n == name || hashed.ReplaceAllString(n, "") == name || strings.HasSuffix(hashed.ReplaceAllString(n, ""), name) {
				w.generated = append(w.generated, fmt.Sprintf("generated by %s %s in %s", field, name, k.file))
				return
			}
		}
	}
}

// targets reports whether a patch target selector may select the object.
// Label and annotation selectors are not evaluated: a patch they select
// wrongly fails verification.
func (w *kwalk) targets(t *kyaml.Node, id identity) bool {
	if t == nil {
		return true
	}
	match := func(field, value string) bool {
		pat := scalarOf(mapValue(t, field))
		if pat == "" {
			return true
		}
		re, err := regexp.Compile("^(?:" + pat + ")$")
		if err != nil {
			return pat == value
		}
		return re.MatchString(value)
	}
	if !match("kind", id.kind) || !match("group", id.group) {
		return false
	}
	if !id.anyNamespace && id.namespace != "" && !match("namespace", id.namespace) {
		return false
	}
	for _, n := range id.names {
		if match("name", n) {
			return true
		}
	}
	return false
}

// isImageField reports whether path is a container's image.
func isImageField(p drift.Path) bool {
	n := len(p)
	if n < 3 || p[n-1].Field != "image" || p[n-2].Field != "" {
		return false
	}
	switch p[n-3].Field {
	case "containers", "initContainers", "ephemeralContainers":
		return true
	}
	return false
}

// splitImage splits an image reference into name, tag and digest.
func splitImage(s string) (name, tag, digest string) {
	if i := strings.Index(s, "@"); i >= 0 {
		s, digest = s[:i], s[i+1:]
	}
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		s, tag = s[:i], s[i+1:]
	}
	return s, tag, digest
}

// images adds the images: entries that give the container its image: an
// entry whose newName (or, without one, name) is the rendered image's
// name. The change goes into newName, newTag and digest, as kustomize
// reads them (api/filters/imagetag): an entry's newTag or digest replaces
// both the image's tag and its digest (newTag alone drops the digest,
// digest alone drops the tag, both give name:tag@digest); with neither,
// the image keeps its own and tagSuffix extends its tag. So the entry
// gets exactly the live tag and digest: a digest pinned by hand
// (kubectl set image app=name@sha256:...) sets digest and removes
// newTag, or the image would render name:tag@digest.
func (w *kwalk) images(k *kustomization) {
	old, _ := w.old.(string)
	live, _ := w.e.Live.(string)
	if w.e.Op != Set || !isImageField(w.e.Path) || old == "" || live == "" {
		return
	}
	oname, otag, odigest := splitImage(old)
	lname, ltag, ldigest := splitImage(live)
	entries := k.list("images")
	for i := len(entries) - 1; i >= 0; i-- {
		name, newName := scalarOf(mapValue(entries[i], "name")), scalarOf(mapValue(entries[i], "newName"))
		if newName != oname && (newName != "" || name != oname) {
			continue
		}
		ops := imageEntryOps(entries[i], i, image{lname, ltag, ldigest}, image{oname, otag, odigest})
		if len(ops) == 0 {
			continue
		}
		w.set = append(w.set, w.kustomizationEdit(k, ops...))
	}
}

// image is an image reference split into its parts; tag and digest may
// be empty.
type image struct{ name, tag, digest string }

// imageEntryOps are the edits that make images: entry i (the node entry)
// render live where it rendered old: none when only the name is the same
// and nothing else differs.
func imageEntryOps(entry *kyaml.Node, i int, live, old image) []func(d *yamlDoc) ([]byte, error) {
	at := func(f string) drift.Path { return drift.Path{{Field: "images"}, {Index: i}, {Field: f}} }
	var ops []func(d *yamlDoc) ([]byte, error)
	set := func(f, v string) {
		if n := mapValue(entry, f); n == nil || scalarOf(n) != v {
			ops = append(ops, func(d *yamlDoc) ([]byte, error) { return d.setValue(d.top(), at(f), v, true) })
		}
	}
	drop := func(f string) {
		if mapValue(entry, f) != nil {
			ops = append(ops, func(d *yamlDoc) ([]byte, error) { return d.deletePath(d.top(), at(f)) })
		}
	}
	if live.name != old.name {
		set("newName", live.name)
	}
	if live.tag == old.tag && live.digest == old.digest {
		return ops
	}
	if live.tag != "" {
		set("newTag", live.tag)
	} else {
		drop("newTag")
	}
	if live.digest != "" {
		set("digest", live.digest)
	} else {
		drop("digest")
	}
	if live.tag == "" && live.digest == "" {
		// Neither: the image's own tag stays, which verification checks;
		// a suffix would still be added to it.
		drop("tagSuffix")
	}
	return ops
}

// kustomizationEdit is a place that edits the kustomization file itself,
// one operation after the other, each on the text the one before left.
func (w *kwalk) kustomizationEdit(k *kustomization, ops ...func(d *yamlDoc) ([]byte, error)) place {
	return place{file: k.file, edit: func() (map[string][]byte, error) {
		data, err := w.a.ws.read(k.file)
		if err != nil {
			return nil, err
		}
		for _, op := range ops {
			ds := docs(fileText(k.file, data))
			if len(ds) != 1 {
				return nil, fmt.Errorf("not a single YAML document")
			}
			out, err := op(ds[0].doc)
			if err != nil {
				return nil, err
			}
			data = ds[0].file(out)
		}
		return map[string][]byte{k.file: data}, nil
	}}
}

// replicas adds the replicas: entries naming the object.
func (w *kwalk) replicas(k *kustomization, id identity) {
	if w.e.Op != Set || w.e.Path.String() != "spec.replicas" {
		return
	}
	entries := k.list("replicas")
	for i := len(entries) - 1; i >= 0; i-- {
		name := scalarOf(mapValue(entries[i], "name"))
		for _, n := range id.names {
			if n == name {
				i := i
				count := drift.Path{{Field: "replicas"}, {Index: i}, {Field: "count"}}
				w.set = append(w.set, w.kustomizationEdit(k, func(d *yamlDoc) ([]byte, error) {
					return d.setValue(d.top(), count, w.e.Live, false)
				}))
				break
			}
		}
	}
}

// patchText returns a patch entry's text: its file (path:) or its inline
// patch: when that is a literal block scalar, which can be edited in
// place; nil for anything else.
func (w *kwalk) patchText(k *kustomization, entry *kyaml.Node) *yamlText {
	if entry.Kind == kyaml.ScalarNode {
		// patchesStrategicMerge: a file name or an inline patch.
		if !strings.Contains(entry.Value, "\n") {
			return w.fileIn(k, entry.Value)
		}
		return k.embedded(entry)
	}
	if p := scalarOf(mapValue(entry, "path")); p != "" {
		return w.fileIn(k, p)
	}
	if n := resolve(mapValue(entry, "patch")); n != nil {
		return k.embedded(n)
	}
	return nil
}

// fileIn reads a file a kustomization names, relative to it.
func (w *kwalk) fileIn(k *kustomization, name string) *yamlText {
	p := path.Join(k.dir, name)
	if !inside(p) || strings.Contains(name, "://") {
		return nil
	}
	data, err := w.a.ws.read(p)
	if err != nil {
		return nil
	}
	return fileText(p, data)
}

// embedded returns the text of a literal block scalar of the
// kustomization (an inline patch), or nil when it cannot be bounded
// exactly.
func (k *kustomization) embedded(n *kyaml.Node) *yamlText {
	if n.Kind != kyaml.ScalarNode || n.Style&kyaml.LiteralStyle == 0 {
		return nil
	}
	d := k.ref.doc
	at := d.offset(n.Line, n.Column)
	if at < 0 || d.src[at] != '|' {
		return nil
	}
	header := strings.TrimSpace(string(cutComment(d.src[at+1 : d.lineEnd(at)])))
	if strings.Trim(header, "-+") != "" || header == "+" {
		return nil // an indentation indicator, or keep chomping
	}
	if n.Line >= len(d.lines) {
		return nil
	}
	start := d.lines[n.Line]
	indent := -1
	end := start
	for off := start; off < len(d.src); {
		le := d.lineEnd(off)
		line := d.src[off:le]
		next := min(le+1, len(d.src))
		if len(bytes.TrimSpace(line)) == 0 {
			off = next
			continue
		}
		lead := len(line) - len(bytes.TrimLeft(line, " "))
		if indent < 0 {
			indent = lead
		}
		if lead < indent || indent == 0 {
			break
		}
		end = next
		off = next
	}
	if indent <= 0 {
		return nil
	}
	base := k.ref.span.start
	t := &yamlText{file: k.file, outer: k.ref.text.outer, start: base + start, end: base + end, indent: indent}
	inner := string(t.inner())
	if !strings.HasSuffix(inner, "\n") {
		inner += "\n"
	}
	if header == "-" {
		inner = strings.TrimSuffix(inner, "\n")
	}
	if inner != n.Value {
		return nil
	}
	return t
}

// patch adds the places of a patches: or patchesJson6902: entry: a JSON
// 6902 patch (a list of operations) or strategic merge patches.
func (w *kwalk) patch(k *kustomization, entry *kyaml.Node, id identity, targeted bool) {
	t := w.patchText(k, entry)
	if t == nil {
		return
	}
	for _, r := range reversedDocs(docs(t)) {
		top := r.doc.top()
		if top.Kind == kyaml.SequenceNode {
			if targeted {
				w.json6902(r)
			}
			continue
		}
		if targeted || id.matches(top) {
			w.smpDoc(r)
		}
	}
}

func reversedDocs(ds []docRef) []docRef {
	out := make([]docRef, len(ds))
	for i, d := range ds {
		out[len(ds)-1-i] = d
	}
	return out
}

// strategicMerge adds the places of a patchesStrategicMerge: entry.
func (w *kwalk) strategicMerge(k *kustomization, entry *kyaml.Node, id identity) {
	t := w.patchText(k, entry)
	if t == nil {
		return
	}
	for _, r := range reversedDocs(docs(t)) {
		if r.doc.top().Kind == kyaml.MappingNode && id.matches(r.doc.top()) {
			w.smpDoc(r)
		}
	}
}

// smpDoc adds a strategic merge patch document that sets (or could add)
// the field.
func (w *kwalk) smpDoc(r docRef) {
	top := r.doc.top()
	if scalarOf(mapValue(top, "$patch")) == "delete" {
		return
	}
	found := walkPath(top, w.e.Path).node != nil
	switch {
	case w.e.Op == Unset && found:
		w.set = append(w.set, docEdit(r, func(d *yamlDoc) ([]byte, error) { return d.deletePath(d.top(), w.e.Path) }))
	case w.e.Op == Set && found:
		w.set = append(w.set, docEdit(r, func(d *yamlDoc) ([]byte, error) { return d.setValue(d.top(), w.e.Path, w.e.Live, false) }))
	case w.e.Op == Set && w.e.Desired == nil:
		w.add = append(w.add, docEdit(r, func(d *yamlDoc) ([]byte, error) { return d.setValue(d.top(), w.e.Path, w.e.Live, true) }))
	}
}

// pointer spells a path as JSON pointer segments; list items by their
// position in the rendered list.
func pointer(p drift.Path) []string {
	out := make([]string, len(p))
	for i, s := range p {
		if s.Field != "" {
			out[i] = s.Field
		} else {
			out[i] = strconv.Itoa(s.Index)
		}
	}
	return out
}

// json6902 adds the operations of a JSON 6902 patch that set the field or
// a value holding it, last first.
func (w *kwalk) json6902(r docRef) {
	want := pointer(w.e.Path)
	ops := r.doc.top().Content
	for i := len(ops) - 1; i >= 0; i-- {
		op := scalarOf(mapValue(ops[i], "op"))
		if op != "add" && op != "replace" {
			continue
		}
		segs := strings.Split(strings.TrimPrefix(scalarOf(mapValue(ops[i], "path")), "/"), "/")
		if len(segs) > len(want) {
			continue
		}
		match := true
		for j, s := range segs {
			s = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
			match = match && s == want[j]
		}
		if !match {
			continue
		}
		at := append(drift.Path{{Index: i}, {Field: "value"}}, w.e.Path[len(segs):]...)
		switch w.e.Op {
		case Set:
			if walkPath(r.doc.top(), at).node != nil {
				w.set = append(w.set, docEdit(r, func(d *yamlDoc) ([]byte, error) { return d.setValue(d.top(), at, w.e.Live, false) }))
			}
		case Unset:
			if len(segs) == len(want) {
				at = drift.Path{{Index: i}}
			}
			w.set = append(w.set, docEdit(r, func(d *yamlDoc) ([]byte, error) { return d.deletePath(d.top(), at) }))
		}
		return
	}
}

// resource walks a resources:, bases: or components: entry: a
// kustomization below, or a file of manifests.
func (w *kwalk) resource(k *kustomization, entry *kyaml.Node, id identity) {
	name := scalarOf(entry)
	p := path.Join(k.dir, name)
	if name == "" || !inside(p) || strings.Contains(name, "://") {
		return
	}
	if st, err := os.Stat(w.a.ws.abs(p)); err == nil && st.IsDir() {
		w.dir(p, id)
		return
	}
	data, err := w.a.ws.read(p)
	if err != nil {
		return
	}
	t := fileText(p, data)
	set, add := w.a.docPlaces(t, id, w.e)
	if w.e.Op == Remove {
		set = w.prune(k, entry, t, id)
	}
	w.set = append(w.set, set...)
	w.add = append(w.add, add...)
}

// prune removes the object's document from a resource file, or, when it
// is the file's only object, the file and its resources: entry.
func (w *kwalk) prune(k *kustomization, entry *kyaml.Node, t *yamlText, id identity) []place {
	var out []place
	var listed drift.Path
	for _, field := range []string{"resources", "bases", "components"} {
		for i, r := range k.list(field) {
			if r == entry {
				listed = drift.Path{{Field: field}, {Index: i}}
			}
		}
	}
	for _, r := range docs(t) {
		if !id.matches(r.doc.top()) {
			continue
		}
		r := r
		out = append(out, place{file: t.file, edit: func() (map[string][]byte, error) {
			rest := r.without()
			if rest != nil {
				return map[string][]byte{t.file: rest}, nil
			}
			kdata, err := w.a.ws.read(k.file)
			if err != nil {
				return nil, err
			}
			ds := docs(fileText(k.file, kdata))
			if len(ds) != 1 {
				return nil, fmt.Errorf("%s: not a single YAML document", k.file)
			}
			kout, err := ds[0].doc.deletePath(ds[0].doc.top(), listed)
			if err != nil {
				return nil, err
			}
			return map[string][]byte{t.file: nil, k.file: ds[0].file(kout)}, nil
		}})
	}
	return out
}
