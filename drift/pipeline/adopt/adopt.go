// Package adopt writes live values back into the source, so that Git
// matches the cluster (driftwatch adopt): for each drifted field it finds
// the place in the source the value comes from (a plain manifest, a
// kustomize base, the overlay patch that set it, a kustomization's
// images: or replicas:, a Helm values file) and edits the value there in
// the text, keeping comments and formatting.
//
// Every edit is verified before it is kept: the edited tree is rendered
// again, in a temporary copy, and must give the live value at that path
// and nothing else changed in any object. A place that fails is undone
// and the next is tried; a field no place verifies for is reported as not
// adoptable, with why. Adopt never writes the source itself: it returns
// the file changes for the caller to show, write or commit.
package adopt

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource"
)

// Source is the tree values are written back into: a local directory,
// rendered as gitsource.RenderWith renders it. Root is required; the rest
// may be zero (the whole directory, auto-detected).
type Source struct {
	// Root is the directory (a Git work tree, for a commit).
	Root string
	// Path inside Root that is rendered; empty means Root.
	Path string
	// Render says how; the zero value auto-detects, as check does.
	Render gitsource.RenderOptions
}

// ObjectID names a desired object as a report does. Namespace is the
// effective one (the default namespace for an object that names none);
// an object rendered without a namespace matches any.
type ObjectID struct {
	APIVersion, Kind, Namespace, Name string
}

func (id ObjectID) String() string {
	if id.Namespace == "" {
		return id.Kind + " " + id.Name
	}
	return id.Kind + " " + id.Namespace + "/" + id.Name
}

func (id ObjectID) group() string {
	gv, _ := schema.ParseGroupVersion(id.APIVersion)
	return gv.Group
}

// Op is what an edit does; there is no zero Op.
type Op string

const (
	// Set writes the live value at the field (a Changed or Added field).
	Set Op = "Set"
	// Unset removes the field (Removed: the live object lacks it).
	Unset Op = "Unset"
	// Remove removes the whole object from the source (a Missing object,
	// with --prune).
	Remove Op = "Remove"
	// Reorder would restore the live order of a list; adopt leaves it to
	// a person (Reordered).
	Reorder Op = "Reorder"
)

// Edit is one change to bring the source in line with the cluster. The
// zero value is not useful: Object and Op are required, and Path for
// every Op but Remove.
type Edit struct {
	Object ObjectID
	Op     Op
	// Path is the field, as the report's FieldDiff.ParsedPath gives it.
	Path drift.Path
	// Desired and Live are the values in Git and in the cluster; Live is
	// what Set writes.
	Desired, Live any
	// Sensitive marks a secret value (Secret data, SOPS-decrypted or
	// configured sensitive): it is never written in clear.
	Sensitive bool
}

// What names the edit in messages: "Deployment prod/web spec.replicas".
func (e Edit) What() string {
	if e.Op == Remove {
		return e.Object.String()
	}
	return e.Object.String() + " " + e.Path.String()
}

// Outcome is what happened to one edit; Adopted false with a Reason when
// it was not.
type Outcome struct {
	Edit Edit
	// Adopted is true when the source now holds the live value (or no
	// longer holds the object); File names the file edited.
	Adopted bool
	File    string
	// Reason says why it was not adopted.
	Reason string
	// Generated is true when the field has no place in the source that
	// holds it as a value: a configMapGenerator, a template expression, a
	// kustomize transformer made it.
	Generated bool
}

// String is the one line a person reads: "adopted ... into FILE" or
// "cannot adopt ...: why".
func (o Outcome) String() string {
	e := o.Edit
	switch {
	case !o.Adopted:
		return "cannot adopt " + e.What() + ": " + o.Reason
	case e.Op == Remove:
		return "adopted " + e.What() + " (missing in the cluster): removed from " + o.File
	case e.Op == Unset:
		return "adopted " + e.What() + " (absent in the cluster): removed from " + o.File
	case e.Desired == nil:
		return fmt.Sprintf("adopted %s (added: %s) into %s", e.What(), showValue(e.Live), o.File)
	}
	return fmt.Sprintf("adopted %s (%s → %s) into %s", e.What(), showValue(e.Desired), showValue(e.Live), o.File)
}

// showValue prints a value short, for a summary line.
func showValue(v any) string {
	s, _, ok := scalarText(v)
	if !ok {
		s = compactJSON(v)
	}
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// FileChange is a file's content before and after adopting. Old is never
// nil (adopt creates no file).
type FileChange struct {
	// Path is relative to Source.Root, with slashes.
	Path string
	// Old is the content before; New after, nil when the file is deleted.
	Old, New []byte
}

// Result is what Adopt decided: the file changes, sorted by path, and an
// outcome per edit, in the edits' order. No changes means nothing to write.
type Result struct {
	Changes  []FileChange
	Outcomes []Outcome
}

// AllAdopted reports whether every edit was adopted.
func (r *Result) AllAdopted() bool {
	for _, o := range r.Outcomes {
		if !o.Adopted {
			return false
		}
	}
	return true
}

// Adopt finds where each edit's value comes from in the source, edits it
// there and verifies the edit by rendering, edit after edit, each seeing
// the ones before. An error means the source could not be read or
// rendered as it is; a field that cannot be adopted is an Outcome.
func Adopt(ctx context.Context, src Source, edits []Edit) (*Result, error) {
	ws, err := newWorkspace(src)
	if err != nil {
		return nil, err
	}
	defer ws.close()
	rendered, err := ws.render(ctx)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", displayRoot(src), err)
	}
	a := &adopter{ws: ws, expected: indexObjects(rendered.Objects)}
	res := &Result{}
	for _, e := range edits {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("interrupted: %w", ctx.Err())
		}
		res.Outcomes = append(res.Outcomes, a.adopt(ctx, e))
	}
	res.Changes = ws.changes()
	return res, nil
}

func displayRoot(src Source) string {
	if src.Path == "" {
		return src.Root
	}
	return src.Root + " (path " + src.Path + ")"
}

// adopter holds the state between edits: the workspace with the edits
// kept so far, and the objects it must render.
type adopter struct {
	ws       *workspace
	expected *objectSet
}

// place is one place in the source that may hold the field; edit makes
// the change there (new contents by file, nil for a file deleted).
type place struct {
	file string
	edit func() (map[string][]byte, error)
}

// notAdopted is an outcome that failed for reason.
func notAdopted(e Edit, generated bool, format string, args ...any) Outcome {
	return Outcome{Edit: e, Reason: fmt.Sprintf(format, args...), Generated: generated}
}

func (a *adopter) adopt(ctx context.Context, e Edit) Outcome {
	key, obj := a.expected.find(e.Object)
	if obj == nil {
		return notAdopted(e, false, "not in the rendered source")
	}
	switch {
	case e.Op == Reorder:
		return notAdopted(e, false, "the list is in another order in the cluster; reorder it by hand")
	case e.Sensitive && obj.encrypted(e.Path):
		return notAdopted(e, false, "encrypted with SOPS in %s, re-encrypt by hand", originFile(obj.origin))
	case e.Sensitive:
		return notAdopted(e, false, "secret value: never written in clear")
	}
	want, err := obj.with(e)
	if err != nil {
		return notAdopted(e, false, "%v", err)
	}
	places, why, generated := a.places(ctx, obj, e)
	if len(places) == 0 {
		return notAdopted(e, generated, "%s", why)
	}
	// The reason told is the first place's whose edit was made and
	// rendered, else the first place's.
	var first, firstRendered string
	allGenerated := true
	for _, p := range places {
		reason, generated, rendered := a.try(ctx, p, key, want, e)
		if reason == "" {
			if want == nil {
				a.expected.remove(key)
			} else {
				a.expected.set(key, want)
			}
			return Outcome{Edit: e, Adopted: true, File: p.file}
		}
		if first == "" {
			first = reason
		}
		if firstRendered == "" && rendered {
			firstRendered = reason
		}
		allGenerated = allGenerated && generated
	}
	if firstRendered != "" {
		first = firstRendered
	}
	if len(places) > 1 {
		first += fmt.Sprintf(" (and %d other places tried)", len(places)-1)
	}
	return notAdopted(e, allGenerated, "%s", first)
}

// try makes one place's edit, renders, and keeps the edit when the
// rendering is exactly what is expected; else it undoes it and says why,
// whether the reason is that the renderer makes the value, and whether the
// edit got as far as being rendered.
func (a *adopter) try(ctx context.Context, p place, key string, want *unstructured.Unstructured, e Edit) (reason string, generated, rendered bool) {
	changes, err := p.edit()
	if err != nil {
		if isGenerated(err) {
			return err.Error(), true, false
		}
		return fmt.Sprintf("%s: %v", p.file, err), false, false
	}
	for f, data := range changes {
		if old, _ := a.ws.read(f); isSOPSFile(old) || isSOPSFile(data) {
			return fmt.Sprintf("%s is encrypted with SOPS, re-encrypt by hand", f), false, false
		}
	}
	undo, err := a.ws.apply(changes)
	if err != nil {
		return fmt.Sprintf("%s: %v", p.file, err), false, false
	}
	got, err := a.ws.render(ctx)
	if err != nil {
		undo()
		return fmt.Sprintf("the source edited in %s does not render: %s", p.file, oneLine(err.Error())), false, true
	}
	if why := a.expected.verify(got.Objects, key, want, e); why != "" {
		undo()
		return fmt.Sprintf("the source edited in %s %s", p.file, why), false, true
	}
	return "", false, true
}

// places lists where the field may be set, most likely first; when there
// is none, why says so and generated tells whether the value is made by
// the renderer rather than written anywhere.
func (a *adopter) places(ctx context.Context, obj *desiredObject, e Edit) (places []place, why string, generated bool) {
	switch a.ws.mode {
	case gitsource.RenderKustomize:
		return a.kustomizePlaces(obj, e)
	case gitsource.RenderHelm:
		return a.helmPlaces(ctx, obj, e)
	}
	return a.plainPlaces(obj, e)
}

// originFile strips the line from a plain origin (file:line).
func originFile(origin string) string {
	if i := strings.LastIndexByte(origin, ':'); i > 0 && strings.Trim(origin[i+1:], "0123456789") == "" {
		return origin[:i]
	}
	return origin
}

// oneLine folds a multi-line message onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// sortedChanges orders changes by path.
func sortedChanges(m map[string]FileChange) []FileChange {
	out := make([]FileChange, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
