package informertest

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftwatch/driftwatch/informer"
)

// Resolver is an in-memory stand-in for informer.Resolver (the shape of
// the pipeline's PlanResolver): it resolves the kinds the test declared
// with SetMapping, fails those given an error with SetError, and reports
// every other kind as not served (an error wrapping informer.ErrNotServed).
// Changes take effect at once, as if discovery were never cached;
// Invalidate only counts its calls. Safe for concurrent use.
type Resolver struct {
	mu            sync.Mutex
	mappings      map[schema.GroupVersionKind]informer.Mapping
	errs          map[schema.GroupVersionKind]error
	invalidations int
}

// The pipeline's PlanResolver, which this package cannot import.
var _ interface {
	Resolve(context.Context, schema.GroupVersionKind) (informer.Mapping, error)
	Invalidate()
} = (*Resolver)(nil)

// NewResolver returns a Resolver that serves no kind.
func NewResolver() *Resolver {
	return &Resolver{
		mappings: map[schema.GroupVersionKind]informer.Mapping{},
		errs:     map[schema.GroupVersionKind]error{},
	}
}

// Resolve returns the error set for gvk, else its mapping, else an error
// wrapping informer.ErrNotServed.
func (r *Resolver) Resolve(_ context.Context, gvk schema.GroupVersionKind) (informer.Mapping, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.errs[gvk]; err != nil {
		return informer.Mapping{}, err
	}
	if m, ok := r.mappings[gvk]; ok {
		return m, nil
	}
	return informer.Mapping{}, fmt.Errorf("%s %s is %w", gvk.GroupVersion(), gvk.Kind, informer.ErrNotServed)
}

// Invalidate counts a call; see Invalidations.
func (r *Resolver) Invalidate() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invalidations++
}

// Invalidations counts the calls to Invalidate.
func (r *Resolver) Invalidations() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.invalidations
}

// SetMapping makes gvk resolve to m (whose GVK, if zero, is set to gvk)
// and clears any error set for it.
func (r *Resolver) SetMapping(gvk schema.GroupVersionKind, m informer.Mapping) {
	if m.GVK.Empty() {
		m.GVK = gvk
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.errs, gvk)
	r.mappings[gvk] = m
}

// SetError makes Resolve fail for gvk with err (nil clears it).
func (r *Resolver) SetError(gvk schema.GroupVersionKind, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		delete(r.errs, gvk)
		return
	}
	r.errs[gvk] = err
}

// Forget makes gvk unserved again (its CRD was deleted).
func (r *Resolver) Forget(gvk schema.GroupVersionKind) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.mappings, gvk)
	delete(r.errs, gvk)
}
