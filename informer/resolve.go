// Package informer provides the live state: it maps desired kinds to the
// resources the cluster serves and keeps one dynamic informer per resource
// and namespace, so that memory follows what Git declares rather than the
// size of the cluster.
package informer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
)

// Mapping says which resource serves a kind and whether it is namespaced.
type Mapping struct {
	GVK        schema.GroupVersionKind
	GVR        schema.GroupVersionResource
	Namespaced bool
}

// ErrNotServed is returned by Resolve for a kind (or version) the cluster
// does not serve, such as a custom resource whose CRD is not installed.
var ErrNotServed = errors.New("not served by the cluster")

// Resolver maps kinds to resources through discovery and a deferred,
// cached RESTMapper. A miss refreshes discovery once, so a CRD created after
// the first lookup is found. Safe for concurrent use.
type Resolver struct {
	mu     sync.Mutex
	mapper *restmapper.DeferredDiscoveryRESTMapper
	reset  map[schema.GroupKind]bool
}

// NewResolver returns a Resolver using the discovery client. Discovery
// failures of single API groups (an APIService whose backend is down) are
// tolerated: the other groups still resolve.
func NewResolver(dc discovery.DiscoveryInterface) *Resolver {
	return &Resolver{
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
		reset:  map[schema.GroupKind]bool{},
	}
}

// Resolve returns the mapping for gvk in exactly the version asked for: the
// API server converts on read, so each object is compared in the version it
// was written in.
func (r *Resolver) Resolve(ctx context.Context, gvk schema.GroupVersionKind) (Mapping, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, err := r.mapper.RESTMappingWithContext(ctx, gvk.GroupKind(), gvk.Version)
	if err != nil && meta.IsNoMatchError(err) && !r.reset[gvk.GroupKind()] {
		// Maybe installed since discovery was cached: look once more.
		r.reset[gvk.GroupKind()] = true
		r.mapper.ResetWithContext(ctx)
		m, err = r.mapper.RESTMappingWithContext(ctx, gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		if meta.IsNoMatchError(err) {
			return Mapping{}, r.notServed(ctx, gvk)
		}
		return Mapping{}, fmt.Errorf("discovery of %s: %w", gvkString(gvk), err)
	}
	return Mapping{
		GVK:        gvk,
		GVR:        m.Resource,
		Namespaced: m.Scope.Name() == meta.RESTScopeNameNamespace,
	}, nil
}

// Warm fetches the cluster's discovery ahead of the first Resolve (which
// would otherwise wait for it), so it can overlap other work. Failures are
// left for Resolve to report.
func (r *Resolver) Warm(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = r.mapper.KindsForWithContext(ctx, schema.GroupVersionResource{Version: "v1", Resource: "namespaces"})
}

// Invalidate drops the cached discovery, so the next Resolve sees CRDs that
// were created, changed or deleted since.
func (r *Resolver) Invalidate() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mapper.Reset()
	r.reset = map[schema.GroupKind]bool{}
}

// notServed builds the error for an unserved kind, naming the versions the
// cluster does serve for it, if any.
func (r *Resolver) notServed(ctx context.Context, gvk schema.GroupVersionKind) error {
	ms, err := r.mapper.RESTMappingsWithContext(ctx, gvk.GroupKind())
	var served []string
	if err == nil {
		for _, m := range ms {
			served = append(served, m.GroupVersionKind.GroupVersion().String())
		}
	}
	sort.Strings(served)
	if len(served) == 0 {
		return fmt.Errorf("%s is %w (is its CustomResourceDefinition installed?)", gvkString(gvk), ErrNotServed)
	}
	return fmt.Errorf("%s is %w; this cluster serves %s", gvkString(gvk), ErrNotServed, strings.Join(served, ", "))
}

func gvkString(gvk schema.GroupVersionKind) string {
	return gvk.GroupVersion().String() + " " + gvk.Kind
}
