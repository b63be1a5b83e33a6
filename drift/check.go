package drift

import (
	"context"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

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
	// Err is set when the object's kind could not be resolved.
	Err error
}

// Plan resolves every desired object. Namespaced objects without a
// namespace get defaultNamespace; cluster-scoped objects ignore any
// namespace they carry, as the API server does. It returns the targets in
// input order and the distinct scopes to watch.
func Plan(ctx context.Context, r Resolver, objs []gitsource.Object, defaultNamespace string) ([]Target, []informer.Scope) {
	targets := make([]Target, 0, len(objs))
	seen := map[informer.Scope]bool{}
	var scopes []informer.Scope
	for _, o := range objs {
		t := Target{Object: o}
		m, err := r.Resolve(ctx, o.Object.GroupVersionKind())
		if err != nil {
			t.Err = err
			targets = append(targets, t)
			continue
		}
		if m.Namespaced {
			t.Namespace = o.Object.GetNamespace()
			if t.Namespace == "" {
				t.Namespace = defaultNamespace
			}
		}
		t.Scope = informer.Scope{GVR: m.GVR, Namespace: t.Namespace}
		if !seen[t.Scope] {
			seen[t.Scope] = true
			scopes = append(scopes, t.Scope)
		}
		targets = append(targets, t)
	}
	sort.Slice(scopes, func(i, j int) bool { return scopes[i].String() < scopes[j].String() })
	return targets, scopes
}

// Lister is the part of informer.Manager that a check reads.
type Lister interface {
	Get(scope informer.Scope, name string) (*unstructured.Unstructured, error)
}

// Evaluate compares each target with its live object. scopeErrs holds the
// scopes whose informers did not sync; their targets become Error.
func Evaluate(targets []Target, live Lister, scopeErrs map[informer.Scope]error) []Resource {
	out := make([]Resource, 0, len(targets))
	for _, t := range targets {
		out = append(out, EvaluateOne(t, live, scopeErrs[t.Scope]))
	}
	return out
}

// EvaluateOne compares one target with its live object.
func EvaluateOne(t Target, live Lister, scopeErr error) Resource {
	u := t.Object.Object
	res := Resource{
		APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: t.Namespace, Name: u.GetName(),
		Origin: t.Object.Origin,
	}
	if t.Err == nil && scopeErr != nil {
		t.Err = scopeErr
	}
	if t.Err != nil {
		if res.Namespace == "" {
			res.Namespace = u.GetNamespace()
		}
		res.Status, res.Error = Error, t.Err.Error()
		return res
	}
	l, err := live.Get(t.Scope, u.GetName())
	switch {
	case err != nil:
		res.Status, res.Error = Error, err.Error()
	case l == nil:
		res.Status = Missing
	default:
		res.Diffs = Compare(u, l)
		res.Status = InSync
		if len(res.Diffs) > 0 {
			res.Status = Drifted
		}
	}
	return res
}
