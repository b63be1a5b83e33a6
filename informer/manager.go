package informer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Scope is what one informer watches: one resource, in one namespace, or
// cluster-wide when Namespace is empty.
type Scope struct {
	GVR       schema.GroupVersionResource
	Namespace string
}

func (s Scope) String() string {
	r := s.GVR.Resource
	if s.GVR.Group != "" {
		r += "." + s.GVR.Group
	}
	r += "/" + s.GVR.Version
	if s.Namespace != "" {
		return r + " in namespace " + s.Namespace
	}
	return r
}

// Manager keeps one dynamic informer per Scope.
//
// Informers are started by Ensure and run until Remove or Stop. An informer
// is "synced" once its first LIST has been stored; from then on Get answers
// from the cache, which may lag the API server by the watch latency. An
// informer whose LIST is refused for good (forbidden, unauthorized, the
// resource gone) is stopped and reports that error from WaitForSync and Get;
// transient errors are retried by client-go and reported only if the
// informer has not synced when WaitForSync's context ends. After Stop, the
// Manager must not be used again.
//
// Objects returned by Get are the caller's when the cache packs them (the
// default); with another Options.Transform they are shared with the cache
// and must not be modified: DeepCopy first.
type Manager interface {
	// Ensure starts an informer for each scope not already running. It does
	// not wait for them to sync.
	Ensure(scopes ...Scope)
	// Remove stops the informer of scope and drops its cache.
	Remove(scope Scope)
	// WaitForSync waits until every scope given has synced or failed, or
	// ctx ends, and returns the error of each scope that did not sync.
	WaitForSync(ctx context.Context, scopes ...Scope) map[Scope]error
	// Get returns the live object called name in scope, nil if it does not
	// exist, or the scope's error if it never synced.
	Get(scope Scope, name string) (*unstructured.Unstructured, error)
	// List returns every object the informer of scope holds. Objects the
	// cache packs (the default) are listed by their metadata only
	// (apiVersion, kind, name, namespace, resourceVersion, uid, labels),
	// made afresh for the caller; with another Options.Transform they are
	// the cache's own: read only. Get returns one whole.
	List(scope Scope) ([]*unstructured.Unstructured, error)
	// Scopes lists the running informers.
	Scopes() []Scope
	// CacheSizes counts the objects each informer holds.
	CacheSizes() map[Scope]int
	// Health reports each informer's connection to the API server.
	Health() map[Scope]Health
	// Warnings returns the API server's warnings about scope's requests
	// (recorded only by a Manager from NewManagerForConfig).
	Warnings(scope Scope) []string
	// AddEventHandler registers h with every informer, those running now
	// and those started later, until RemoveEventHandler. Like
	// SharedInformer's, a handler sees the events that happen after it is
	// added; unlike it, the objects already cached are not replayed (List
	// them instead). It fails only after Stop.
	AddEventHandler(h EventHandler) (Registration, error)
	// RemoveEventHandler unregisters a handler; no call reaches it once
	// this returns. Removing twice is a no-op.
	RemoveEventHandler(r Registration)
	// Stop stops every informer.
	Stop()
}

// EventHandler receives what the informers see. Either function may be
// nil. Both are called from the informers' goroutines, after the cache is
// updated, and must not block.
type EventHandler struct {
	// OnEvent is called for every add, update and delete.
	OnEvent func(scope Scope, name string, t EventType)
	// OnConnection is called when an informer's requests start failing
	// (err set) and when one succeeds again (err nil): the transitions of
	// Health.Err.
	OnConnection func(scope Scope, err error)
	// OnObject, if set, is called like OnEvent with the object itself,
	// decoded afresh for the handler when the cache packs objects (the
	// default; with another Options.Transform, the cache's own: read
	// only): the new state for
	// Added and Updated, the last state known for Deleted (its metadata
	// only if the content was released). A handler that reads every
	// object as it arrives (the fleet hub reading report objects) needs
	// no Get, and can Release the content once it has kept what it
	// needs: a namespaced object of a cluster-wide scope is released by
	// "namespace/name".
	OnObject func(scope Scope, obj *unstructured.Unstructured, t EventType)
}

// Releaser is implemented by a Manager whose cache packs objects (the
// default): a caller that has compared an object and keeps its verdict
// lets the cache drop the object's content, keeping only its metadata and
// labels; Get then reads it from the API server (one request) until an
// event brings the next version. A watch so holds, per object, its key,
// resourceVersion and labels instead of the whole object.
type Releaser interface {
	// Release drops the cached content of name in scope, if cached. An
	// event that arrived since the caller read the object may lose its
	// content too: the caller's next Get reads it from the API server, so
	// this costs a request, never a stale result.
	Release(scope Scope, name string)
	// Metadata returns the cached metadata and labels of name in scope
	// (nil if not cached), without a request: apiVersion, kind, name,
	// namespace, resourceVersion, uid and labels. Read only (a Manager
	// whose cache packs objects makes it afresh; a fake may share it).
	Metadata(scope Scope, name string) (*unstructured.Unstructured, error)
}

// Registration identifies an added EventHandler.
type Registration interface {
	// Handler returns the handler registered.
	Handler() EventHandler
}

// ErrStopped is returned by AddEventHandler after Stop.
var ErrStopped = errors.New("informer manager stopped")

// Options configure a Manager. The zero value caches objects through
// PackTransform (no last-applied-configuration annotation, each object kept
// as its JSON text and decoded afresh by Get and List) and lists
// everything in a scope. Events reach the handlers
// added with AddEventHandler.
type Options struct {
	// Transform, if set, replaces the default cache transform applied to
	// each object before it enters the cache.
	Transform cache.TransformFunc
	// TweakListOptions, if set, narrows what an informer lists and watches
	// (a label selector, say); it may inspect the scope.
	TweakListOptions func(Scope, *metav1.ListOptions)
}

// Health is the state of one informer's connection to the API server.
//
// An informer lists once, then follows a watch. When the watch breaks (the
// API server restarted, a proxy timed out) client-go resumes it from the
// last resource version it saw; when that version is gone from etcd's
// history (compaction: 410 Gone) it lists everything again. Lists and
// Watches count those requests, so relists after expiry are visible.
type Health struct {
	// Lists counts full lists: the first sync and every relist.
	Lists int
	// Watches counts watches started from a known resource version
	// (resumed after the previous one ended).
	Watches int
	// Err is the error of the last list or watch request, nil once one
	// succeeds again: while it is set, the cache holds the last state seen.
	Err error
	// Since is when the current run of failures began (zero when Err is
	// nil).
	Since time.Time
}

// EventType is the kind of change an informer saw.
type EventType string

const (
	Added   EventType = "Added"
	Updated EventType = "Updated"
	Deleted EventType = "Deleted"
)

type manager struct {
	client dynamic.Interface
	// clientFor, when set, makes a client for one scope whose warnings go
	// to that scope (NewManagerForConfig).
	clientFor func(s Scope, warn rest.WarningHandler) dynamic.Interface
	opts      Options

	mu      sync.RWMutex
	entries map[Scope]*entry
	stopped bool

	// handlers is replaced, never modified, so that informers' goroutines
	// can range over a snapshot without holding mu.
	handlersMu sync.RWMutex
	handlers   []*registration
}

type registration struct{ h EventHandler }

func (r *registration) Handler() EventHandler { return r.h }

func (m *manager) AddEventHandler(h EventHandler) (Registration, error) {
	m.mu.RLock()
	stopped := m.stopped
	m.mu.RUnlock()
	if stopped {
		return nil, ErrStopped
	}
	r := &registration{h: h}
	m.handlersMu.Lock()
	defer m.handlersMu.Unlock()
	m.handlers = append(append([]*registration(nil), m.handlers...), r)
	return r, nil
}

func (m *manager) RemoveEventHandler(r Registration) {
	m.handlersMu.Lock()
	defer m.handlersMu.Unlock()
	out := make([]*registration, 0, len(m.handlers))
	for _, x := range m.handlers {
		if Registration(x) != r {
			out = append(out, x)
		}
	}
	m.handlers = out
}

// snapshot returns the current handlers; the slice is never modified.
func (m *manager) snapshot() []*registration {
	m.handlersMu.RLock()
	defer m.handlersMu.RUnlock()
	return m.handlers
}

func (m *manager) event(s Scope, obj any, name string, t EventType) {
	for _, r := range m.snapshot() {
		if r.h.OnEvent != nil {
			r.h.OnEvent(s, name, t)
		}
		if r.h.OnObject != nil {
			if u := objectOf(obj); u != nil {
				r.h.OnObject(s, u, t)
			}
		}
	}
}

// objectOf decodes what the cache holds for a handler: the whole object,
// or its metadata once released.
func objectOf(obj any) *unstructured.Unstructured {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	u, err := Unpack(obj)
	if errors.Is(err, ErrReleased) {
		return metadataOf(obj)
	}
	if err != nil {
		return nil
	}
	return u
}

func (m *manager) connection(s Scope, err error) {
	for _, r := range m.snapshot() {
		if r.h.OnConnection != nil {
			r.h.OnConnection(s, err)
		}
	}
}

var (
	_ Manager  = (*manager)(nil)
	_ Releaser = (*manager)(nil)
)

// entry is one running informer with its own stop.
type entry struct {
	informer cache.SharedIndexInformer
	// client reads an object whose cached content was released.
	client dynamic.Interface
	cancel context.CancelFunc
	done   chan struct{} // closed when the informer's Run returns

	// warnings records the API server's warnings about this scope's
	// requests (deprecations); the entry is their rest.WarningHandler.
	warnings

	mu      sync.Mutex
	lastErr error
	fatal   bool
	health  Health
	// onConnection reports transitions of health.Err to the handlers.
	onConnection func(error)
}

// request records the outcome of one list or watch request.
func (e *entry) request(full bool, err error) {
	e.mu.Lock()
	was := e.health.Err
	defer func() {
		now := e.health.Err
		e.mu.Unlock()
		if e.onConnection != nil && (was == nil) != (now == nil) {
			e.onConnection(now)
		}
	}()
	switch {
	case err != nil:
		if e.health.Err == nil {
			e.health.Since = time.Now()
		}
		e.health.Err = err
	case full:
		e.health.Lists++
	default:
		e.health.Watches++
	}
	if err == nil {
		e.health.Err, e.health.Since = nil, time.Time{}
	}
}

// NewManager returns a Manager that lists and watches through client.
// Warnings the API server sends are not recorded; see NewManagerForConfig.
func NewManager(client dynamic.Interface, opts Options) Manager {
	if opts.Transform == nil {
		opts.Transform = PackTransform
	}
	return &manager{client: client, opts: opts, entries: map[Scope]*entry{}}
}

// NewManagerForConfig returns a Manager whose informers share one HTTP
// client but each record the warnings (such as deprecation notices) the API
// server sends about their requests; Warnings returns them.
func NewManagerForConfig(cfg *rest.Config, opts Options) (Manager, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	shared, err := dynamic.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, err
	}
	m := NewManager(shared, opts).(*manager)
	m.clientFor = func(_ Scope, warn rest.WarningHandler) dynamic.Interface {
		c := rest.CopyConfig(cfg)
		c.WarningHandler = warn
		dc, err := dynamic.NewForConfigAndClient(c, hc)
		if err != nil {
			return shared
		}
		return dc
	}
	return m, nil
}

// lastApplied repeats the whole object; comparison and attribution never
// read it, so it is dropped before it costs cache memory.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// DropLastApplied drops the last-applied-configuration annotation; part of
// DefaultTransform.
func DropLastApplied(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	if md, ok := u.Object["metadata"].(map[string]any); ok {
		if ann, ok := md["annotations"].(map[string]any); ok {
			if _, has := ann[lastApplied]; has {
				delete(ann, lastApplied)
				if len(ann) == 0 {
					delete(md, "annotations")
				}
			}
		}
	}
	return u, nil
}

func (m *manager) Ensure(scopes ...Scope) {
	for _, s := range scopes {
		m.mu.RLock()
		_, ok := m.entries[s]
		stopped := m.stopped
		m.mu.RUnlock()
		if ok || stopped {
			continue
		}
		m.mu.Lock()
		// Re-check under the write lock: another caller may have started it
		// between the two locks, and two informers for one scope would
		// double the cache and the API load.
		if _, ok := m.entries[s]; ok || m.stopped {
			m.mu.Unlock()
			continue
		}
		e := m.newEntry(s)
		m.entries[s] = e
		m.mu.Unlock()
	}
}

func (m *manager) newEntry(s Scope) *entry {
	e := &entry{done: make(chan struct{})}
	e.onConnection = func(err error) { m.connection(s, err) }
	client := m.client
	if m.clientFor != nil {
		client = m.clientFor(s, e)
	}
	e.client = client
	inf := cache.NewSharedIndexInformerWithOptions(m.listWatch(client, s, e), &unstructured.Unstructured{},
		cache.SharedIndexInformerOptions{ObjectDescription: s.GVR.String()})
	ctx, cancel := context.WithCancel(context.Background())
	e.informer, e.cancel = inf, cancel
	_ = inf.SetTransform(m.opts.Transform)
	name := func(obj any) string {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		// A packed stub or an *unstructured.Unstructured (another
		// Options.Transform).
		if o, ok := obj.(interface{ GetName() string }); ok {
			return o.GetName()
		}
		return ""
	}
	// One informer handler dispatches to the Manager's handlers, so that
	// handlers added later reach informers started earlier.
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { m.event(s, obj, name(obj), Added) },
		UpdateFunc: func(_, obj any) { m.event(s, obj, name(obj), Updated) },
		DeleteFunc: func(obj any) { m.event(s, obj, name(obj), Deleted) },
	})
	_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		permanent := apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsNotFound(err) ||
			apierrors.IsMethodNotSupported(err)
		e.mu.Lock()
		e.lastErr = err
		e.fatal = e.fatal || permanent
		e.mu.Unlock()
		if permanent && !inf.HasSynced() {
			// Retrying cannot help; stop, so WaitForSync returns at once.
			cancel()
			return
		}
		cache.DefaultWatchErrorHandler(ctx, r, err)
	})
	go func() {
		defer close(e.done)
		inf.RunWithContext(ctx)
	}()
	return e
}

// listWatch is what dynamicinformer.NewFilteredDynamicInformer builds,
// with the scope's list options applied and every request's outcome
// recorded in e's Health.
func (m *manager) listWatch(client dynamic.Interface, s Scope, e *entry) cache.ListerWatcher {
	ri := client.Resource(s.GVR).Namespace(s.Namespace)
	tweak := func(o *metav1.ListOptions) {
		if m.opts.TweakListOptions != nil {
			m.opts.TweakListOptions(s, o)
		}
	}
	list := func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		tweak(&o)
		l, err := ri.List(ctx, o)
		if ctx.Err() == nil { // a request cut by Remove or Stop says nothing of the server
			e.request(true, err)
		}
		return l, err
	}
	watchFn := func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		tweak(&o)
		// A watch that sends initial events is a list by streaming.
		full := o.SendInitialEvents != nil && *o.SendInitialEvents
		w, err := ri.Watch(ctx, o)
		if ctx.Err() == nil {
			e.request(full, err)
		}
		return w, err
	}
	return cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc:  list,
		WatchFuncWithContext: watchFn,
		ListFunc:             func(o metav1.ListOptions) (runtime.Object, error) { return list(context.Background(), o) },
		WatchFunc:            func(o metav1.ListOptions) (watch.Interface, error) { return watchFn(context.Background(), o) },
	}, client)
}

func (m *manager) Health() map[Scope]Health {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[Scope]Health, len(m.entries))
	for s, e := range m.entries {
		e.mu.Lock()
		out[s] = e.health
		e.mu.Unlock()
	}
	return out
}

func (m *manager) Remove(s Scope) {
	m.mu.Lock()
	e, ok := m.entries[s]
	delete(m.entries, s)
	m.mu.Unlock()
	if ok {
		e.cancel()
		<-e.done
	}
}

func (m *manager) Stop() {
	m.mu.Lock()
	m.stopped = true
	entries := m.entries
	m.entries = map[Scope]*entry{}
	m.mu.Unlock()
	for _, e := range entries {
		e.cancel()
	}
	for _, e := range entries {
		<-e.done
	}
}

func (m *manager) Scopes() []Scope {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Scope, 0, len(m.entries))
	for s := range m.entries {
		out = append(out, s)
	}
	return out
}

func (m *manager) CacheSizes() map[Scope]int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[Scope]int, len(m.entries))
	for s, e := range m.entries {
		out[s] = len(e.informer.GetStore().ListKeys())
	}
	return out
}

func (m *manager) Warnings(s Scope) []string {
	e, err := m.entry(s)
	if err != nil {
		return nil
	}
	return e.get()
}

func (m *manager) entry(s Scope) (*entry, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.entries[s]
	if !ok {
		return nil, fmt.Errorf("no informer for %s", s)
	}
	return e, nil
}

// WaitForSync copies the entries under the lock and waits outside it, so
// that Ensure and Remove are never blocked by a slow LIST.
func (m *manager) WaitForSync(ctx context.Context, scopes ...Scope) map[Scope]error {
	errs := map[Scope]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range scopes {
		e, err := m.entry(s)
		if err != nil {
			errs[s] = err
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.wait(ctx); err != nil {
				mu.Lock()
				errs[s] = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}

func (e *entry) wait(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if e.informer.HasSynced() {
			return nil
		}
		select {
		case <-e.done:
			if e.informer.HasSynced() {
				return nil
			}
			return e.err(errors.New("informer stopped before it synced"))
		case <-ctx.Done():
			return e.err(fmt.Errorf("not synced in time: %w", ctx.Err()))
		case <-tick.C:
		}
	}
}

// err describes why the informer has not synced, preferring the API's own
// reason over the generic one.
func (e *entry) err(fallback error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lastErr != nil {
		// The API's own message ("deployments.apps is forbidden: User ...")
		// says it all; client-go's wrapping only repeats the resource.
		var st apierrors.APIStatus
		if errors.As(e.lastErr, &st) {
			status := st.Status()
			return fmt.Errorf("list: %w", &apierrors.StatusError{ErrStatus: status})
		}
		return fmt.Errorf("list: %w", e.lastErr)
	}
	if e.health.Err != nil {
		// client-go retries refused connections without reporting them:
		// say what the last request met.
		return fmt.Errorf("%w (last request: %v)", fallback, e.health.Err)
	}
	return fallback
}

func (m *manager) Get(s Scope, name string) (*unstructured.Unstructured, error) {
	obj, err := m.cached(s, name)
	if obj == nil || err != nil {
		return nil, err
	}
	u, err := Unpack(obj)
	if !errors.Is(err, ErrReleased) {
		return u, err
	}
	e, err := m.entry(s)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), releasedGetTimeout)
	defer cancel()
	live, err := e.client.Resource(s.GVR).Namespace(s.Namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil // deleted; the informer's event follows
	case err != nil:
		return nil, fmt.Errorf("get %s %s: %w (%w)", s, name, err, ErrReleased)
	}
	delete(live.Object, "status")
	return live, nil
}

// releasedGetTimeout bounds the read of an object whose content was
// released.
const releasedGetTimeout = 30 * time.Second

// cached returns the cache's own object name in scope (nil if none): a
// *packedObject under PackTransform, else what Options.Transform made
// (an *unstructured.Unstructured).
func (m *manager) cached(s Scope, name string) (any, error) {
	e, err := m.entry(s)
	if err != nil {
		return nil, err
	}
	if !e.informer.HasSynced() {
		return nil, e.err(errors.New("informer has not synced"))
	}
	key := name
	if s.Namespace != "" {
		key = s.Namespace + "/" + name
	}
	obj, ok, err := e.informer.GetIndexer().GetByKey(key)
	if err != nil || !ok {
		return nil, err
	}
	return obj, nil
}

func (m *manager) Release(s Scope, name string) {
	obj, _ := m.cached(s, name)
	if p, ok := obj.(*packedObject); ok {
		p.release()
	}
}

func (m *manager) Metadata(s Scope, name string) (*unstructured.Unstructured, error) {
	obj, err := m.cached(s, name)
	if obj == nil || err != nil {
		return nil, err
	}
	return metadataOf(obj), nil
}

func (m *manager) List(s Scope) ([]*unstructured.Unstructured, error) {
	e, err := m.entry(s)
	if err != nil {
		return nil, err
	}
	if !e.informer.HasSynced() {
		return nil, e.err(errors.New("informer has not synced"))
	}
	items := e.informer.GetIndexer().List()
	out := make([]*unstructured.Unstructured, 0, len(items))
	// A packed stub is listed as a new object built from its metadata
	// (three small maps, made per call: the stub keeps none, see
	// packedObject); an unpacked object is the cache's own.
	for _, it := range items {
		switch o := it.(type) {
		case *packedObject:
			out = append(out, o.metadata())
		case *unstructured.Unstructured:
			out = append(out, o)
		}
	}
	return out, nil
}
