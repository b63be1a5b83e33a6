package pipeline

import (
	"context"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/informer"
)

// Resolver maps a kind to the resource that serves it.
type Resolver interface {
	Resolve(ctx context.Context, gvk schema.GroupVersionKind) (informer.Mapping, error)
}

// Target is a desired object placed in the cluster: its mapping and the
// informer scope that holds its live counterpart.
type Target struct {
	Object gitsource.Object
	// Namespace is the object's effective namespace: its own, or the
	// default for namespaced objects without one; empty when cluster-scoped.
	Namespace string
	Scope     informer.Scope
	Mapping   informer.Mapping
	// Err is set when the object's kind could not be resolved.
	Err error
}

// Planned is the outcome of Plan: the targets that pass the filter, in
// Git's order, and the distinct informer scopes they need, sorted.
type Planned struct {
	Targets []Target
	Scopes  []informer.Scope
	// Excluded counts the desired objects the filter left out.
	Excluded int
	// Unmatched is set when a targeting value matches no desired object,
	// or the filter keeps none (Filter.Unmatched): such a run checks
	// nothing, and check refuses it rather than pass.
	Unmatched error
}

// Plan resolves every desired object and applies the filter. Namespaced
// objects without a namespace get defaultNamespace; cluster-scoped objects
// ignore any namespace they carry, as the API server does. Objects whose
// kind cannot be resolved are kept as targets with Err set.
func Plan(ctx context.Context, r Resolver, objs []gitsource.Object, defaultNamespace string, f Filter) Planned {
	all := resolve(ctx, r, objs, defaultNamespace)
	targets, scopes, excluded := f.Apply(all)
	return Planned{Targets: targets, Scopes: scopes, Excluded: excluded, Unmatched: f.Unmatched(all)}
}

// resolve maps each desired object to its resource and scope.
func resolve(ctx context.Context, r Resolver, objs []gitsource.Object, defaultNamespace string) []Target {
	targets := make([]Target, 0, len(objs))
	for _, o := range objs {
		t := Target{Object: o}
		m, err := r.Resolve(ctx, o.GroupVersionKind())
		if err != nil {
			t.Err = err
			targets = append(targets, t)
			continue
		}
		t.Mapping = m
		if m.Namespaced {
			t.Namespace = o.GetNamespace()
			if t.Namespace == "" {
				t.Namespace = o.DefaultNamespace
			}
			if t.Namespace == "" {
				t.Namespace = defaultNamespace
			}
		}
		t.Scope = informer.Scope{GVR: m.GVR, Namespace: t.Namespace}
		targets = append(targets, t)
	}
	return targets
}

// Lister is the part of informer.Manager that a check reads.
type Lister interface {
	Get(scope informer.Scope, name string) (*unstructured.Unstructured, error)
	List(scope informer.Scope) ([]*unstructured.Unstructured, error)
}

// SchemaSource gives the cluster's schema of a kind (nil when unknown).
type SchemaSource interface {
	For(ctx context.Context, gvk schema.GroupVersionKind) (*drift.Schema, error)
}

// PrefetchSchemas loads the schema of every kind among the resolved
// targets, so that a caller can overlap the loading with something slower
// (the informers' sync); errors are left for the comparison to meet.
func PrefetchSchemas(ctx context.Context, src SchemaSource, targets []Target) {
	seen := map[schema.GroupVersionKind]bool{}
	for _, t := range targets {
		gvk := t.Object.GroupVersionKind()
		if t.Err != nil || seen[gvk] || ctx.Err() != nil {
			continue
		}
		seen[gvk] = true
		_, _ = src.For(ctx, gvk)
	}
}

// Confirmer asks the API server what applying the desired object would
// produce (a server-side apply dry run).
type Confirmer interface {
	DryRun(ctx context.Context, t Target) (*unstructured.Unstructured, error)
}

// Evaluator turns targets and live state into per-resource verdicts:
//
//	skip (unresolved or unsynced) → look up live → compare (schema-aware)
//	→ drop ignored fields → confirm with the server (optional)
//	→ classify by severity
//
// Every field but Live is optional.
type Evaluator struct {
	Live Lister
	// Schemas makes comparison schema-aware; nil uses heuristics.
	Schemas SchemaSource
	// Config holds ignore, sensitive and severity rules; nil has none
	// but the built-in severity rules.
	Config *drift.Config
	// HashKey keys hashes of sensitive values; nil shows none.
	HashKey []byte
	// Confirm, when set, keeps only the drift a server-side dry run agrees
	// with, asking once per suspected object (never for objects in sync).
	Confirm Confirmer
	// Warnings, when set, gives the API server's warnings (deprecations)
	// for a scope; they are attached to its resources.
	Warnings func(informer.Scope) []string
	// Defaults, when set, gives the server's defaults for built-in kinds
	// (kubedefaults.Default); nil knows only the schemas' defaults.
	Defaults drift.Defaulter
}

// Evaluate compares each target with its live object. scopeErrs holds the
// scopes whose informers did not sync; their targets become Error.
func (e *Evaluator) Evaluate(ctx context.Context, targets []Target, scopeErrs map[informer.Scope]error) []drift.Resource {
	out := make([]drift.Resource, 0, len(targets))
	for _, t := range targets {
		out = append(out, e.EvaluateOne(ctx, t, scopeErrs[t.Scope]))
	}
	return out
}

// EvaluateOne compares one target with its live object. A packed desired
// object (gitsource.Object.Packed) is decoded for this comparison only.
func (e *Evaluator) EvaluateOne(ctx context.Context, t Target, scopeErr error) drift.Resource {
	// The verdict names the object with the packed identity's strings
	// (interned, or shared with the held object): a watch keeps a verdict
	// per object for as long as it runs.
	res := drift.Resource{
		APIVersion: t.Object.GetAPIVersion(), Kind: t.Object.GetKind(), Namespace: t.Namespace, Name: t.Object.GetName(),
		Origin: t.Object.Origin, NotCompared: t.Object.NotCompared, NotComparedWhy: t.Object.NotComparedWhy,
	}
	if t.Object.Object == nil {
		o, err := t.Object.Unpack()
		if err != nil && t.Err == nil {
			t.Err = err
		}
		t.Object = o
	}
	fail := func(err error) drift.Resource {
		if res.Namespace == "" {
			res.Namespace = t.Object.GetNamespace()
		}
		res.Status, res.Error, res.Diffs = drift.Error, err.Error(), nil
		return res
	}
	if t.Err == nil && scopeErr != nil {
		t.Err = scopeErr
	}
	if t.Err != nil {
		return fail(t.Err)
	}
	u := t.Object.Object
	if e.Warnings != nil {
		res.Warnings = e.Warnings(t.Scope)
	}
	rules, err := e.Config.RulesFor(u, t.Namespace)
	if err != nil {
		return fail(err)
	}
	l, err := e.Live.Get(t.Scope, u.GetName())
	switch {
	case err != nil:
		return fail(err)
	case l == nil:
		res.Status = drift.Missing
		e.Config.Classify(&res)
		return res
	}
	sensitive := rules.IsSensitive
	hidden := append(append([]string(nil), t.Object.Sensitive...), t.Object.NotCompared...)
	if len(hidden) > 0 {
		// Fields decrypted from SOPS, and those left encrypted (a live
		// change there would show the live value): hidden like configured
		// ones, at the field, below it and in any value holding it. A path
		// that does not parse hides the whole object rather than a secret.
		var paths []drift.PathPattern
		for _, s := range hidden {
			p, err := drift.ParsePathPattern(s)
			if err != nil {
				paths = nil
				sensitive = func(drift.Path) bool { return true }
				break
			}
			paths = append(paths, p)
		}
		if paths != nil {
			sensitive = func(p drift.Path) bool {
				for _, h := range paths {
					if h.Matches(p) || h.MatchesBelow(p) {
						return true
					}
				}
				return rules.IsSensitive(p)
			}
		}
	}
	opts := drift.Options{HashKey: e.HashKey, Sensitive: sensitive, Defaults: e.Defaults, Added: rules.Added}
	if e.Schemas != nil {
		// A missing schema only costs precision: fall back to heuristics.
		opts.Schema, _ = e.Schemas.For(ctx, u.GroupVersionKind())
	}
	// Fields Git holds encrypted (no key opened them) are not compared: a
	// live value there, changed or added by hand, is no drift.
	var notCompared []drift.PathPattern
	for _, s := range t.Object.NotCompared {
		names := []string{s}
		if rest, ok := strings.CutPrefix(s, "stringData"); ok && u.GetKind() == "Secret" && u.GroupVersionKind().Group == "" {
			names = append(names, "data"+rest) // the API server keeps stringData in data
		}
		for _, n := range names {
			if p, err := drift.ParsePathPattern(n); err == nil {
				notCompared = append(notCompared, p)
			}
		}
	}
	for _, d := range drift.Compare(u, l, opts) {
		if slices.ContainsFunc(notCompared, func(p drift.PathPattern) bool { return p.Matches(d.ParsedPath()) || p.MatchesBelow(d.ParsedPath()) }) {
			continue
		}
		if rules.Ignored(d) {
			res.IgnoredFields++
			continue
		}
		res.Diffs = append(res.Diffs, d)
	}
	if len(res.Diffs) > 0 && e.Confirm != nil {
		applied, err := e.Confirm.DryRun(ctx, t)
		if err != nil {
			return fail(err)
		}
		res.Diffs = drift.KeepConfirmed(res.Diffs, applied, l)
		res.Confirmed = true
	}
	res.Status = drift.InSync
	if len(res.Diffs) > 0 {
		res.Status = drift.Drifted
	}
	e.Config.Classify(&res)
	return res
}

// ClassifyExtra sets the severity of the Extra resources among rs, which
// are found beside EvaluateOne, by the Config's severity rules.
func (e *Evaluator) ClassifyExtra(rs []drift.Resource) {
	for i := range rs {
		if rs[i].Status == drift.Extra {
			e.Config.Classify(&rs[i])
		}
	}
}
