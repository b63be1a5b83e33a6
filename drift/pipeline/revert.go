package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/informer"
)

// Reverting puts Git's desired state back on the objects a check found
// drifted, and only on them:
//
//	check → for each Drifted or Missing target: read it again → compare
//	again (the verdict acted on is that of the object the write is pinned
//	to) → server-side apply of Git's whole object, dry run, no force →
//	force only when every conflict is on a drifted field → apply →
//	(RemoveAdded) JSON patch test+remove of the fields added by hand
//	→ (Prune) delete the Extra objects, pinned to the UID and
//	resourceVersion read
//
// Why the whole object: server-side apply removes the fields a manager
// owned before and the applied object omits. Applying only the drifted
// fields as Git's manager would delete everything else Git set; applying
// Git's whole object as that manager changes exactly what differs. Fields
// Git does not set and another manager owns are not in the applied object,
// so server-side apply leaves them alone.
//
// Why force only on drifted fields: a conflict means another manager owns
// a field Git sets, with another value. On a field the check reported,
// that is the drift being reverted. On any other field (a quantity spelled
// differently, a field an ignore rule hides, a value that changed after
// the check) forcing would take over something nobody asked to revert, so
// the resource is left and the conflict reported.

// DefaultRevertFieldManager is the field manager revert applies Git with
// when the live object names no manager that applied it with server-side
// apply (one created with kubectl create or applied client-side), or a
// Missing object's siblings name no single one (creatorOf), and the
// manager of the JSON patches that remove fields added by hand.
const DefaultRevertFieldManager = "driftwatch"

// RevertOptions say what a revert may do. The zero value reverts Drifted
// and Missing resources for real, as the manager that applied Git,
// removes no field added by hand and deletes nothing.
type RevertOptions struct {
	// FieldManager applies Git as this manager; empty finds, per object,
	// the manager that applied Git (the one owning most of the fields Git
	// sets with operation Apply in managedFields), else
	// DefaultRevertFieldManager; a Missing object is created as the
	// manager that applied the source's other objects when they all name
	// the same one (creatorOf), else DefaultRevertFieldManager.
	FieldManager string
	// RemoveAdded removes the fields added by hand (drift.Added) with a
	// JSON patch that tests each value first; false leaves them and lists
	// them.
	RemoveAdded bool
	// Prune deletes the Extra objects of the report; false lists them.
	Prune bool
	// DryRun sends every request as a server-side dry run: the API server
	// validates, defaults and admits each change and writes none.
	DryRun bool
}

// RevertAction is what a revert did (or, in a dry run, would do) to one
// resource.
type RevertAction string

const (
	// RevertApplied: Git's object was applied over a drifted one, and/or
	// fields added by hand were removed.
	RevertApplied RevertAction = "Reverted"
	// RevertCreated: a Missing object was created.
	RevertCreated RevertAction = "Created"
	// RevertDeleted: an Extra object was deleted (Prune).
	RevertDeleted RevertAction = "Deleted"
	// RevertSkipped: nothing was done, for the Reason given (an Extra
	// object without Prune, only fields added by hand without
	// RemoveAdded, back in sync when read again).
	RevertSkipped RevertAction = "Skipped"
	// RevertFailed: the resource could not be reverted; Error says why.
	RevertFailed RevertAction = "Failed"
)

// FieldConflict is a field another manager owns with another value than
// Git's: server-side apply's conflict, in the report's path syntax.
type FieldConflict struct {
	Path    string `json:"path"`
	Manager string `json:"manager"`
}

// RevertedResource is the outcome of a revert for one resource the check
// did not find in sync. The zero value is an unnamed Skipped resource.
type RevertedResource struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	// Status is the check's verdict the revert acted on.
	Status drift.Status `json:"status"`
	Action RevertAction `json:"action"`
	// FieldManager is the manager Git was applied as.
	FieldManager string `json:"fieldManager,omitempty"`
	// FieldManagerReason says why a Created object was created as
	// FieldManager: the manager that applied the source's other objects,
	// or why none was (see creatorOf).
	FieldManagerReason string `json:"fieldManagerReason,omitempty"`
	// Changed are the fields that changed (would change, in a dry run):
	// the drifted fields where the API server's answer differs from the
	// live object, and the fields added by hand that were removed (Type
	// Added). Values are masked as in the report.
	Changed []drift.FieldDiff `json:"changed,omitempty"`
	// Forced are the conflicts the apply forced: drifted fields another
	// manager owned.
	Forced []FieldConflict `json:"forced,omitempty"`
	// LeftAdded are the fields added by hand left in place (RemoveAdded
	// off).
	LeftAdded []string `json:"leftAdded,omitempty"`
	// Reason says why the resource was skipped.
	Reason string `json:"reason,omitempty"`
	// Error says why the resource could not be reverted.
	Error string `json:"error,omitempty"`
}

// ID names the resource as Kind namespace/name.
func (r RevertedResource) ID() string {
	return drift.Resource{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}.ID()
}

// RevertSummary counts resources by action; InSync counts those the check
// found in sync (not listed).
type RevertSummary struct {
	Reverted int `json:"reverted"`
	Created  int `json:"created"`
	Deleted  int `json:"deleted"`
	Skipped  int `json:"skipped"`
	Failed   int `json:"failed"`
	InSync   int `json:"inSync"`
}

// RevertResult is the outcome of a revert: one entry per resource that was
// not in sync, in the order acted on.
type RevertResult struct {
	DryRun    bool               `json:"dryRun"`
	Resources []RevertedResource `json:"resources"`
	Summary   RevertSummary      `json:"summary"`
}

// HasFailures reports whether some resource could not be reverted.
func (r *RevertResult) HasFailures() bool { return r.Summary.Failed > 0 }

func (r *RevertResult) add(rr RevertedResource) {
	r.Resources = append(r.Resources, rr)
	switch rr.Action {
	case RevertApplied:
		r.Summary.Reverted++
	case RevertCreated:
		r.Summary.Created++
	case RevertDeleted:
		r.Summary.Deleted++
	case RevertFailed:
		r.Summary.Failed++
	default:
		r.Summary.Skipped++
	}
}

// Reverter puts the resources of a check's report back to Git's desired
// state. Client and Evaluator are required; Resolver is needed for Extra
// objects (Prune).
type Reverter struct {
	Client dynamic.Interface
	// Evaluator compares each object read again with Git, with the
	// check's rules, schemas and defaults.
	Evaluator *Evaluator
	// Resolver maps an Extra object's kind to its resource.
	Resolver Resolver
	// Filter and Tracking are the check's targeting and tracking label: an
	// Extra object is deleted only if, read again, it still matches both.
	// The zero Filter keeps everything; nil Tracking deletes nothing.
	Filter   Filter
	Tracking labels.Selector
	Options  RevertOptions
}

// Revert acts on every resource of rep that is not in sync: plan holds the
// desired objects rep was computed from (its targets). Failures are per
// resource, in the result; Revert itself never fails.
func (rv *Reverter) Revert(ctx context.Context, plan Planned, rep *drift.Report) *RevertResult {
	out := &RevertResult{DryRun: rv.Options.DryRun, Resources: []RevertedResource{}}
	targets := map[string]Target{}
	for _, t := range plan.Targets {
		u := t.Object.Object
		k := resourceKey(u.GroupVersionKind().Group, u.GetKind(), t.Namespace, u.GetName())
		if _, dup := targets[k]; !dup {
			targets[k] = t
		}
	}
	// Namespaces and CRDs first: what else is created may live in them.
	order := make([]drift.Resource, 0, len(rep.Resources))
	for _, r := range rep.Resources {
		if r.Status == drift.InSync {
			out.Summary.InSync++
			continue
		}
		order = append(order, r)
	}
	first := func(r drift.Resource) bool {
		return r.Status != drift.Extra && (r.Kind == "Namespace" || r.Kind == "CustomResourceDefinition")
	}
	sort.SliceStable(order, func(i, j int) bool { return first(order[i]) && !first(order[j]) })
	// Missing objects are created as the manager that applied the
	// others, chosen once, from the cluster as the check found it.
	create := creator{manager: rv.Options.FieldManager, why: "given by --field-manager"}
	if create.manager == "" && slices.ContainsFunc(order, func(r drift.Resource) bool { return r.Status == drift.Missing }) {
		create = rv.creatorOf(ctx, plan, rep)
	}
	created := map[string]bool{} // namespaces a dry run would create
	for _, r := range order {
		switch r.Status {
		case drift.Error:
			rr := revertedOf(r)
			rr.Action, rr.Error = RevertFailed, "not checked: "+r.Error
			out.add(rr)
		case drift.Extra:
			out.add(rv.prune(ctx, r))
		case drift.Drifted, drift.Missing:
			gv, _ := schema.ParseGroupVersion(r.APIVersion)
			t, ok := targets[resourceKey(gv.Group, r.Kind, r.Namespace, r.Name)]
			if !ok {
				rr := revertedOf(r)
				rr.Action, rr.Error = RevertFailed, "not among the desired objects planned"
				out.add(rr)
				continue
			}
			rr := rv.revertOne(ctx, t, r, create, created)
			if rr.Action == RevertCreated && r.Kind == "Namespace" && gv.Group == "" {
				created[r.Name] = true
			}
			out.add(rr)
		}
	}
	return out
}

func resourceKey(group, kind, ns, name string) string {
	return group + "/" + kind + "/" + ns + "/" + name
}

func revertedOf(r drift.Resource) RevertedResource {
	return RevertedResource{APIVersion: r.APIVersion, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name, Status: r.Status}
}

func (rv *Reverter) resource(gvr schema.GroupVersionResource, ns string) dynamic.ResourceInterface {
	if ns != "" {
		return rv.Client.Resource(gvr).Namespace(ns)
	}
	return rv.Client.Resource(gvr)
}

func (rv *Reverter) dryRun() []string {
	if rv.Options.DryRun {
		return []string{metav1.DryRunAll}
	}
	return nil
}

// revertOne applies Git's object t over a Drifted or Missing resource and,
// with RemoveAdded, removes the fields added by hand. create is the
// manager an object not found is created as; createdNS names the
// namespaces a dry run would have created before.
func (rv *Reverter) revertOne(ctx context.Context, t Target, checked drift.Resource, create creator, createdNS map[string]bool) RevertedResource {
	out := revertedOf(checked)
	fail := func(err error) RevertedResource {
		out.Action, out.Error = RevertFailed, oneLine(err.Error())
		return out
	}
	if len(t.Object.NotCompared) > 0 {
		// Applying an object without them would remove them (they are
		// left out of the rendered object): refuse rather than lose data.
		return fail(fmt.Errorf("Git holds fields driftwatch could not decrypt (%s); applying without them would remove them",
			strings.Join(t.Object.NotCompared, ", ")))
	}
	u := t.Object.Object
	ri := rv.resource(t.Scope.GVR, t.Namespace)
	live, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return fail(fmt.Errorf("read: %w", err))
	}
	var drifted, added []drift.FieldDiff
	if live != nil {
		ev := *rv.Evaluator
		ev.Live = oneObject{live}
		fresh := ev.EvaluateOne(ctx, t, nil)
		switch fresh.Status {
		case drift.Error:
			return fail(fmt.Errorf("compare: %s", fresh.Error))
		case drift.InSync:
			out.Action, out.Reason = RevertSkipped, "in sync when read again"
			return out
		}
		for _, d := range fresh.Diffs {
			if d.Type == drift.Added {
				added = append(added, d)
			} else {
				drifted = append(drifted, d)
			}
		}
		if len(drifted) == 0 && !rv.Options.RemoveAdded {
			out.Action, out.Reason, out.LeftAdded = RevertSkipped, "only fields added by hand, left without --remove-added", paths(added)
			return out
		}
	}
	current := live
	if live == nil || len(drifted) > 0 {
		switch {
		case live == nil:
			out.FieldManager, out.FieldManagerReason = create.manager, create.why
		case rv.Options.FieldManager != "":
			out.FieldManager = rv.Options.FieldManager
		default:
			out.FieldManager = applierOf(live, u, drifted)
		}
		applied, forced, err := rv.apply(ctx, ri, t, live, drifted, out.FieldManager)
		if err != nil && live == nil && rv.Options.DryRun && apierrors.IsNotFound(err) && createdNS[t.Namespace] {
			// The dry run did not create the namespace this object goes in.
			out.Action, out.Reason = RevertCreated, "after namespace "+t.Namespace
			return out
		}
		if err != nil {
			return fail(err)
		}
		out.Forced = forced
		if live == nil {
			out.Action = RevertCreated
			return out
		}
		out.Changed = drift.KeepConfirmed(drifted, applied, live)
		if !rv.Options.DryRun {
			current = applied
		}
	}
	out.Action = RevertApplied
	if len(added) == 0 {
		return out
	}
	if !rv.Options.RemoveAdded {
		out.LeftAdded = paths(added)
		return out
	}
	removed, err := rv.removeAdded(ctx, ri, current, added)
	if err != nil {
		if len(out.Changed) > 0 && !rv.Options.DryRun {
			err = fmt.Errorf("drifted fields reverted, but %w", err)
		}
		return fail(err)
	}
	out.Changed = append(out.Changed, removed...)
	return out
}

func paths(diffs []drift.FieldDiff) []string {
	var out []string
	for _, d := range diffs {
		out = append(out, d.Path)
	}
	return out
}

// oneLine folds a message (the API server's conflict messages have
// several lines) onto one.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// applyBody is Git's whole object as the check compared it: in its
// effective namespace (none when cluster-scoped), without the fields that
// only describe a stored object, pinned to live's resourceVersion when
// live exists so that the write fails if the object changed since it was
// compared.
func applyBody(t Target, live *unstructured.Unstructured) ([]byte, error) {
	u := t.Object.Object.DeepCopy()
	u.SetNamespace(t.Namespace)
	u.SetResourceVersion("")
	u.SetUID("")
	u.SetManagedFields(nil)
	u.SetCreationTimestamp(metav1.Time{})
	unstructured.RemoveNestedField(u.Object, "status")
	if live != nil {
		u.SetResourceVersion(live.GetResourceVersion())
	}
	return json.Marshal(u.Object)
}

// apply applies t's object as manager: first a dry run without force; on
// conflicts, force only if every one is on a drifted field. It returns
// what the API server stored (would store, in a dry run) and the conflicts
// it forced.
func (rv *Reverter) apply(ctx context.Context, ri dynamic.ResourceInterface, t Target, live *unstructured.Unstructured, drifted []drift.FieldDiff, manager string) (*unstructured.Unstructured, []FieldConflict, error) {
	body, err := applyBody(t, live)
	if err != nil {
		return nil, nil, fmt.Errorf("encode: %w", err)
	}
	name := t.Object.Object.GetName()
	trial, err := ri.Patch(ctx, name, types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: manager, DryRun: []string{metav1.DryRunAll}})
	var forced []FieldConflict
	if err != nil {
		conflicts, ok := fieldConflicts(err)
		if !ok {
			if apierrors.IsConflict(err) {
				return nil, nil, fmt.Errorf("apply: changed since it was read, run revert again: %w", err)
			}
			return nil, nil, fmt.Errorf("apply: %w", err)
		}
		var others []string
		for i, c := range conflicts {
			p, ok := parseManagedPath(c.Path, t.Object.Object.Object)
			if ok {
				conflicts[i].Path = p.String()
			}
			if !ok || !coveredBy(p, drifted) {
				others = append(others, fmt.Sprintf("%s (%s)", conflicts[i].Path, c.Manager))
			}
		}
		if len(others) > 0 {
			return nil, nil, fmt.Errorf("apply: conflicts on fields that did not drift, not forced: %s", strings.Join(others, ", "))
		}
		sort.Slice(conflicts, func(i, j int) bool { return conflicts[i].Path < conflicts[j].Path })
		forced = conflicts
	} else if rv.Options.DryRun {
		return trial, nil, nil
	}
	force := len(forced) > 0
	out, err := ri.Patch(ctx, name, types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: manager, Force: &force, DryRun: rv.dryRun()})
	if err != nil {
		if apierrors.IsConflict(err) {
			return nil, nil, fmt.Errorf("apply: changed since it was read, run revert again: %w", err)
		}
		return nil, nil, fmt.Errorf("apply: %w", err)
	}
	return out, forced, nil
}

// fieldConflicts returns server-side apply's conflicts from an error, in
// the API server's path syntax (.spec.template.spec.containers[name="app"].image).
func fieldConflicts(err error) ([]FieldConflict, bool) {
	var st apierrors.APIStatus
	if !apierrors.IsConflict(err) || !errors.As(err, &st) || st.Status().Details == nil {
		return nil, false
	}
	var out []FieldConflict
	for _, c := range st.Status().Details.Causes {
		if c.Type != metav1.CauseTypeFieldManagerConflict {
			continue
		}
		// Message: conflict with "kubectl-edit" using apps/v1
		manager := strings.TrimPrefix(c.Message, "conflict with ")
		if q, err := strconv.QuotedPrefix(manager); err == nil {
			manager, _ = strconv.Unquote(q)
		}
		out = append(out, FieldConflict{Path: c.Field, Manager: manager})
	}
	return out, len(out) > 0
}

// coveredBy reports whether p is a drifted field or lies inside one (a
// conflict on a leaf of an atomic map the check reported whole).
func coveredBy(p drift.Path, drifted []drift.FieldDiff) bool {
	for _, d := range drifted {
		pat, err := drift.ParsePathPattern(d.Path)
		if err == nil && pat.Matches(p) {
			return true
		}
	}
	return false
}

// parseManagedPath parses a field path as the API server prints it
// (fieldpath.Path: .field, [key=json,...], [=json], [index]) into a
// drift.Path. A field name may itself hold dots (.metadata.labels.app.kubernetes.io/name),
// so names are read against obj, the object applied: the path is
// always of a field it sets.
func parseManagedPath(s string, obj any) (drift.Path, bool) {
	var p drift.Path
	cur := obj
	for s != "" {
		switch s[0] {
		case '.':
			s = s[1:]
			m, _ := cur.(map[string]any)
			name := ""
			for k := range m {
				if strings.HasPrefix(s, k) && len(k) > len(name) && (len(s) == len(k) || s[len(k)] == '.' || s[len(k)] == '[') {
					name = k
				}
			}
			if name == "" {
				end := strings.IndexAny(s, ".[")
				if end < 0 {
					end = len(s)
				}
				name = s[:end]
			}
			if name == "" {
				return nil, false
			}
			p = append(p, drift.Step{Field: name})
			s = s[len(name):]
			cur = m[name]
		case '[':
			step, item, rest, ok := parseManagedItem(s[1:], cur)
			if !ok {
				return nil, false
			}
			p = append(p, step)
			s, cur = rest, item
		default:
			return nil, false
		}
	}
	return p, len(p) > 0
}

// parseManagedItem parses one list step after its "[" and finds the item
// in list (nil when absent); it returns the rest after the "]".
func parseManagedItem(s string, list any) (drift.Step, any, string, bool) {
	items, _ := list.([]any)
	if strings.HasPrefix(s, "=") { // a set's value: [="a"]
		v, rest, ok := jsonPrefix(s[1:])
		if !ok || !strings.HasPrefix(rest, "]") {
			return drift.Step{}, nil, "", false
		}
		var item any
		for _, it := range items {
			if jsonEqual(it, v) {
				item = it
			}
		}
		return drift.Step{Keys: []drift.KeyValue{{Key: "value", Value: keyTextOf(v)}}}, item, rest[1:], true
	}
	if end := strings.IndexByte(s, ']'); end > 0 {
		if i, err := strconv.Atoi(s[:end]); err == nil {
			var item any
			if i >= 0 && i < len(items) {
				item = items[i]
			}
			return drift.Step{Index: i}, item, s[end+1:], true
		}
	}
	var kvs []drift.KeyValue
	want := map[string]any{}
	for {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return drift.Step{}, nil, "", false
		}
		key := s[:eq]
		v, rest, ok := jsonPrefix(s[eq+1:])
		if !ok || rest == "" {
			return drift.Step{}, nil, "", false
		}
		kvs = append(kvs, drift.KeyValue{Key: key, Value: keyTextOf(v)})
		want[key] = v
		s = rest[1:]
		if rest[0] == ']' {
			break
		}
		if rest[0] != ',' {
			return drift.Step{}, nil, "", false
		}
	}
	var item any
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		match := true
		for k, v := range want {
			if !jsonEqual(m[k], v) {
				match = false
				break
			}
		}
		if match {
			item = it
			break
		}
	}
	return drift.Step{Keys: kvs}, item, s, true
}

// jsonPrefix decodes the JSON value s starts with.
func jsonPrefix(s string) (any, string, bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, "", false
	}
	return v, s[dec.InputOffset():], true
}

// keyTextOf is how the report prints a key value: strings as they are,
// numbers as their shortest JSON text, anything else as JSON.
func keyTextOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		if f, err := x.Float64(); err == nil {
			b, _ := json.Marshal(f)
			return string(b)
		}
		return x.String()
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// jsonEqual compares two values as JSON (numbers by value).
func jsonEqual(a, b any) bool {
	norm := func(v any) any {
		js, _ := json.Marshal(v)
		var out any
		_ = json.Unmarshal(js, &out)
		return out
	}
	ja, _ := json.Marshal(norm(a))
	jb, _ := json.Marshal(norm(b))
	return bytes.Equal(ja, jb)
}

// applierOf names the manager that applied Git (appliedBy), else
// DefaultRevertFieldManager.
func applierOf(live, desired *unstructured.Unstructured, drifted []drift.FieldDiff) string {
	if m := appliedBy(live, desired, drifted); m != "" {
		return m
	}
	return DefaultRevertFieldManager
}

// appliedBy names the manager that applied Git: among live's managedFields
// entries of operation Apply (not for a subresource), the one owning most
// of the fields desired sets, leaving out the drifted ones (whoever
// changed them since may own them). Ties go to the name first in sort
// order, so the choice is stable. "" when live is nil or no Apply entry
// owns any of them (created with kubectl create, applied client-side).
func appliedBy(live, desired *unstructured.Unstructured, drifted []drift.FieldDiff) string {
	if live == nil {
		return ""
	}
	var leaves [][]string
	var walk func(v any, p []string)
	walk = func(v any, p []string) {
		if m, ok := v.(map[string]any); ok && len(m) > 0 {
			for k, e := range m {
				walk(e, append(slices.Clone(p), k))
			}
			return
		}
		// A scalar, an empty map or a list (owned whole or by items:
		// counted once).
		if len(p) < 2 || isDriftedPath(p, drifted) {
			return // apiVersion, kind: nobody owns them
		}
		leaves = append(leaves, p)
	}
	walk(desired.Object, nil)
	counts := map[string]int{}
	for _, e := range live.GetManagedFields() {
		if e.Operation != metav1.ManagedFieldsOperationApply || e.Subresource != "" || e.FieldsV1 == nil {
			continue
		}
		var tree map[string]any
		if json.Unmarshal(e.FieldsV1.Raw, &tree) != nil {
			continue
		}
		for _, p := range leaves {
			if ownsFields(tree, p) {
				counts[e.Manager]++
			}
		}
	}
	best, name := 0, ""
	managers := make([]string, 0, len(counts))
	for m := range counts {
		managers = append(managers, m)
	}
	sort.Strings(managers)
	for _, m := range managers {
		if counts[m] > best {
			best, name = counts[m], m
		}
	}
	return name
}

// creator is the field manager Missing objects are created as, and why.
type creator struct{ manager, why string }

// listPageSize bounds the objects of one LIST page creatorOf reads.
const listPageSize = 500

// creatorOf chooses the manager a Missing object is created as: the one
// that applied the source's other objects, when every one of them in the
// cluster was applied by the same (each object's applier as appliedBy
// finds it: the Apply manager owning most of Git's fields); else
// DefaultRevertFieldManager. Created as another manager, the object would
// be owned differently from its siblings: Git's next apply would share its
// fields with driftwatch, and a field Git later drops would stay, still
// driftwatch's. When the others disagree (two tools, or one object not
// applied server-side), no choice is safe, and driftwatch says so.
//
// The others are the plan's targets the check found InSync or Drifted; a
// LIST per scope reads their managedFields (the check's stream keeps none).
func (rv *Reverter) creatorOf(ctx context.Context, plan Planned, rep *drift.Report) creator {
	checked := map[string]drift.Resource{}
	for _, r := range rep.Resources {
		if r.Status == drift.InSync || r.Status == drift.Drifted {
			gv, _ := schema.ParseGroupVersion(r.APIVersion)
			checked[resourceKey(gv.Group, r.Kind, r.Namespace, r.Name)] = r
		}
	}
	type other struct {
		desired *unstructured.Unstructured
		diffs   []drift.FieldDiff
	}
	byScope := map[informer.Scope]map[string]other{}
	var scopes []informer.Scope
	for _, t := range plan.Targets {
		u := t.Object.Object
		if t.Err != nil || u == nil {
			continue
		}
		r, ok := checked[resourceKey(u.GroupVersionKind().Group, u.GetKind(), t.Namespace, u.GetName())]
		if !ok {
			continue
		}
		if byScope[t.Scope] == nil {
			byScope[t.Scope] = map[string]other{}
			scopes = append(scopes, t.Scope)
		}
		if _, dup := byScope[t.Scope][u.GetName()]; !dup {
			byScope[t.Scope][u.GetName()] = other{u, r.Diffs}
		}
	}
	counts := map[string]int{} // by manager; "" for not applied server-side
	total := 0
	for _, sc := range scopes {
		names := byScope[sc]
		ri := rv.resource(sc.GVR, sc.Namespace)
		for cont := ""; ; {
			list, err := ri.List(ctx, metav1.ListOptions{Limit: listPageSize, Continue: cont})
			if err != nil {
				return creator{DefaultRevertFieldManager, "the managers of the source's other objects could not be read: " + oneLine(err.Error())}
			}
			for i := range list.Items {
				live := &list.Items[i]
				o, ok := names[live.GetName()]
				if !ok {
					continue
				}
				delete(names, live.GetName())
				counts[appliedBy(live, o.desired, o.diffs)]++
				total++
			}
			if cont = list.GetContinue(); cont == "" {
				break
			}
		}
	}
	return chooseCreator(counts, total)
}

// chooseCreator is creatorOf's decision from the count of the source's
// other live objects by the manager that applied them ("": none did with
// server-side apply).
func chooseCreator(counts map[string]int, total int) creator {
	objects := func(n int) string {
		if n == 1 {
			return "1 object"
		}
		return strconv.Itoa(n) + " objects"
	}
	unapplied := counts[""]
	var managers []string
	for m := range counts {
		if m != "" {
			managers = append(managers, m)
		}
	}
	sort.Strings(managers)
	others, were := "the source's other "+objects(total), " were"
	if total == 1 {
		others, were = "the source's other object", " was"
	}
	switch {
	case total == 0:
		return creator{DefaultRevertFieldManager, "no other object of the source is in the cluster to name the manager that applies it"}
	case len(managers) == 1 && unapplied == 0:
		return creator{managers[0], "the manager that applied " + others}
	case len(managers) == 0:
		return creator{DefaultRevertFieldManager, others + were + " not applied with server-side apply"}
	}
	why := others + were + " applied by " + strconv.Itoa(len(managers)) + " managers: " + strings.Join(managers, ", ")
	if len(managers) == 1 {
		why = others + were + " not all applied by " + managers[0]
	}
	if unapplied > 0 {
		why += fmt.Sprintf(" (%s not with server-side apply)", objects(unapplied))
	}
	return creator{DefaultRevertFieldManager, why}
}

// ownsFields reports whether a FieldsV1 tree holds the map fields p.
func ownsFields(tree map[string]any, p []string) bool {
	node := tree
	for _, f := range p {
		child, ok := node["f:"+f].(map[string]any)
		if !ok {
			return false
		}
		node = child
	}
	return true
}

// isDriftedPath reports whether the map fields p are, or lie inside, a
// drifted field.
func isDriftedPath(p []string, drifted []drift.FieldDiff) bool {
	path := make(drift.Path, len(p))
	for i, f := range p {
		path[i] = drift.Step{Field: f}
	}
	return coveredBy(path, drifted)
}

// removeAdded removes the fields added by hand from the object, in one
// JSON patch that tests each value before removing it: if any changed
// since it was read, nothing is removed. It returns the diffs removed
// (those still present).
func (rv *Reverter) removeAdded(ctx context.Context, ri dynamic.ResourceInterface, obj *unstructured.Unstructured, added []drift.FieldDiff) ([]drift.FieldDiff, error) {
	type op struct {
		pointer []string
		value   any
		diff    drift.FieldDiff
	}
	var ops []op
	for _, d := range added {
		ptr, v, ok := pointerTo(obj.Object, d.ParsedPath())
		if !ok {
			continue // gone already
		}
		ops = append(ops, op{ptr, v, d})
	}
	if len(ops) == 0 {
		return nil, nil
	}
	// Later list items first: removing one shifts only those after it.
	sort.SliceStable(ops, func(i, j int) bool { return pointerAfter(ops[i].pointer, ops[j].pointer) })
	var patch []map[string]any
	var removed []drift.FieldDiff
	for _, o := range ops {
		ptr := "/" + strings.Join(o.pointer, "/")
		patch = append(patch, map[string]any{"op": "test", "path": ptr, "value": o.value}, map[string]any{"op": "remove", "path": ptr})
		removed = append(removed, o.diff)
	}
	body, err := json.Marshal(patch)
	if err != nil {
		return nil, fmt.Errorf("remove added fields: %w", err)
	}
	_, err = ri.Patch(ctx, obj.GetName(), types.JSONPatchType, body, metav1.PatchOptions{FieldManager: DefaultRevertFieldManager, DryRun: rv.dryRun()})
	if err != nil {
		// The API server's message for a failed test names the path only,
		// never the value (which may be a secret).
		return nil, fmt.Errorf("remove added fields %s: %w", strings.Join(paths(removed), ", "), err)
	}
	return removed, nil
}

// pointerTo resolves a report path in obj into JSON pointer segments
// (escaped) and the value there: list items by their keys (or set value),
// else by index.
func pointerTo(obj any, p drift.Path) ([]string, any, bool) {
	cur := obj
	var out []string
	for _, s := range p {
		if s.Field != "" {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, nil, false
			}
			if cur, ok = m[s.Field]; !ok {
				return nil, nil, false
			}
			out = append(out, strings.ReplaceAll(strings.ReplaceAll(s.Field, "~", "~0"), "/", "~1"))
			continue
		}
		l, ok := cur.([]any)
		if !ok {
			return nil, nil, false
		}
		idx := -1
		if len(s.Keys) == 0 {
			if s.Index >= 0 && s.Index < len(l) {
				idx = s.Index
			}
		} else {
			for i, it := range l {
				if itemHasKeys(it, s.Keys) {
					idx = i
					break
				}
			}
		}
		if idx < 0 {
			return nil, nil, false
		}
		cur = l[idx]
		out = append(out, strconv.Itoa(idx))
	}
	return out, cur, len(out) > 0
}

// itemHasKeys reports whether a list item has a step's key values; a set
// item (no map) matches the single key "value".
func itemHasKeys(it any, kvs []drift.KeyValue) bool {
	m, ok := it.(map[string]any)
	if !ok {
		return len(kvs) == 1 && kvs[0].Key == "value" && keyTextOf(jsonNumber(it)) == kvs[0].Value
	}
	for _, kv := range kvs {
		v, ok := m[kv.Key]
		if !ok || keyTextOf(jsonNumber(v)) != kv.Value {
			return false
		}
	}
	return true
}

// jsonNumber turns Go numbers into json.Number, so keyTextOf prints them
// as the report does.
func jsonNumber(v any) any {
	switch x := v.(type) {
	case int64:
		return json.Number(strconv.FormatInt(x, 10))
	case float64:
		return json.Number(strconv.FormatFloat(x, 'g', -1, 64))
	case int:
		return json.Number(strconv.Itoa(x))
	}
	return v
}

// pointerAfter orders pointers so that a list item comes before the items
// earlier in the same list (numeric segments compared as numbers).
func pointerAfter(a, b []string) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] == b[i] {
			continue
		}
		ai, aerr := strconv.Atoi(a[i])
		bi, berr := strconv.Atoi(b[i])
		if aerr == nil && berr == nil {
			return ai > bi
		}
		return a[i] > b[i]
	}
	return len(a) > len(b)
}

// prune deletes an Extra object, if Prune is set and, read again, it still
// carries the tracking label and passes the targeting flags; the delete is
// pinned to the UID and resourceVersion read.
func (rv *Reverter) prune(ctx context.Context, r drift.Resource) RevertedResource {
	out := revertedOf(r)
	if !rv.Options.Prune {
		out.Action, out.Reason = RevertSkipped, "not in Git; deleted only with --prune"
		return out
	}
	fail := func(err error) RevertedResource {
		out.Action, out.Error = RevertFailed, oneLine(err.Error())
		return out
	}
	if rv.Resolver == nil || rv.Tracking == nil {
		return fail(errors.New("delete: no tracking label to confirm the object is Git's"))
	}
	gv, err := schema.ParseGroupVersion(r.APIVersion)
	if err != nil {
		return fail(fmt.Errorf("apiVersion %q: %w", r.APIVersion, err))
	}
	m, err := rv.Resolver.Resolve(ctx, gv.WithKind(r.Kind))
	if err != nil {
		return fail(fmt.Errorf("resolve: %w", err))
	}
	ns := ""
	if m.Namespaced {
		ns = r.Namespace
	}
	ri := rv.resource(m.GVR, ns)
	live, err := ri.Get(ctx, r.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		out.Action, out.Reason = RevertSkipped, "already gone"
		return out
	case err != nil:
		return fail(fmt.Errorf("read: %w", err))
	}
	if !rv.Tracking.Matches(labels.Set(live.GetLabels())) {
		out.Action, out.Reason = RevertSkipped, "no longer carries the tracking label "+rv.Tracking.String()
		return out
	}
	if !rv.Filter.keeps(Target{Object: gitsource.Object{Object: live}, Namespace: ns}) {
		out.Action, out.Reason = RevertSkipped, "left out by the targeting flags"
		return out
	}
	uid, version := live.GetUID(), live.GetResourceVersion()
	err = ri.Delete(ctx, r.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &version}, DryRun: rv.dryRun(),
	})
	switch {
	case apierrors.IsNotFound(err):
		out.Action, out.Reason = RevertSkipped, "already gone"
		return out
	case apierrors.IsConflict(err):
		return fail(fmt.Errorf("delete: changed since it was read, run revert again: %w", err))
	case err != nil:
		return fail(fmt.Errorf("delete: %w", err))
	}
	out.Action = RevertDeleted
	return out
}

// RevertRunOptions configure Revert: the check, as for Check, and what to
// do about its findings.
type RevertRunOptions struct {
	CheckOptions
	Revert RevertOptions
}

// Revert runs a check as Check does (same source, targeting, rules and
// comparison), then puts back what it found: driftwatch revert calls it.
// It returns the check's report and what was done; an error only when the
// check itself could not run.
func Revert(ctx context.Context, o RevertRunOptions) (*drift.Report, *RevertResult, error) {
	say := func(format string, args ...any) {
		if o.Progress != nil {
			o.Progress(format, args...)
		}
	}
	// Git is read first and its error comes first, as in Check; a Helm
	// chart asks the cluster for its capabilities while it renders.
	connect := sync.OnceValues(func() (*Cluster, error) { return o.Connect(ctx) })
	if o.Source.Render.Capabilities == nil {
		o.Source.Render.Capabilities = func(ctx context.Context) (gitsource.Capabilities, error) {
			cl, err := connect()
			if err != nil {
				return gitsource.Capabilities{}, err
			}
			return cl.Capabilities(ctx)
		}
	}
	say("fetching and rendering %s", o.Source.URL+o.Source.Dir)
	desired, err := gitsource.Load(ctx, o.Source)
	if err != nil {
		return nil, nil, err
	}
	if o.Warn != nil {
		for _, w := range desired.Warnings {
			o.Warn(w)
		}
	}
	cl, err := connect()
	if err != nil {
		return nil, nil, err
	}
	p, err := New(o.Options, cl, nil)
	if err != nil {
		return nil, nil, err
	}
	defer p.Stop()
	report, err := p.Compare(ctx, desired, o.Now(), o.Progress)
	if err != nil {
		return nil, nil, err
	}
	dyn, err := dynamic.NewForConfig(cl.Config)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster %s: %w", cl.Info.Server, err)
	}
	plan := Plan(ctx, p.Resolver, desired.Objects, cl.Namespace, p.Filter)
	say("reverting %d resources", report.Summary.Total-report.Summary.InSync)
	rv := &Reverter{Client: dyn, Evaluator: p.Evaluator, Resolver: p.Resolver, Filter: p.Filter, Tracking: p.Tracking, Options: o.Revert}
	return report, rv.Revert(ctx, plan, report), nil
}
