// Package informertest provides in-memory fakes of the informer package's
// Manager and Resolver, for testing code that consumes live state without
// an API server.
//
// The fake Manager plays two parts: the API server, whose objects the test
// sets with Add, Update and Delete, and the informers, which a caller
// starts with Ensure and stops with Remove. A running informer for a scope
// holds exactly the API server's objects of that scope, synced from the
// moment it starts (unless SetSyncError says otherwise), and reports every
// later change to the registered handlers, as a real informer would once
// the watch delivered it.
package informertest

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftwatch/driftwatch/informer"
)

// Manager is an in-memory informer.Manager.
//
// Contract, in the terms of informer.Manager:
//
//   - Ensure starts an informer for each scope not running; it syncs at
//     once, holding the objects the test added for the scope (a LIST: no
//     events), unless SetSyncError set an error for the scope when it
//     started. Such an informer stays failed, as a real one stopped by a
//     permanent error, until it is Removed and Ensured again: WaitForSync,
//     Get and List return the error and it fires no events.
//   - WaitForSync never blocks; for a scope not running it returns "no
//     informer for <scope>", as the real Manager does.
//   - Get returns nil, nil for an object the synced scope does not hold.
//     Get and List return the stored objects, which must not be modified;
//     List sorts them by name.
//   - Add, Update and Delete change the API server's objects and, when the
//     scope's informer is running and synced, call OnEvent of every
//     registered handler after the store is updated, from the caller's
//     goroutine. SetHealth calls OnConnection on transitions of Err, under
//     the same condition.
//   - RemoveEventHandler waits for calls already in progress to the handler
//     it removes and no call reaches it afterwards; so a handler must not
//     remove itself.
//   - After Stop no informer runs, Ensure does nothing and AddEventHandler
//     returns informer.ErrStopped. The API server's objects stay.
//
// Safe for concurrent use; no lock is held while a handler runs.
type Manager struct {
	mu       sync.Mutex
	objects  map[informer.Scope]map[string]*unstructured.Unstructured
	running  map[informer.Scope]error // nil: synced; else the sync error
	syncErrs map[informer.Scope]error
	health   map[informer.Scope]informer.Health
	warnings map[informer.Scope][]string
	stopped  bool
	started  []informer.Scope
	removed  []informer.Scope
	// released names the objects whose content was released; a Get of
	// one stands for a read from the API server, counted in serverReads.
	released    map[informer.Scope]map[string]bool
	serverReads map[string]int

	// handlers is replaced, never modified, so that it can be ranged over
	// outside mu.
	handlers []*registration
}

var (
	_ informer.Manager  = (*Manager)(nil)
	_ informer.Releaser = (*Manager)(nil)
)

// New returns a Manager with no objects and no informer running.
func New() *Manager {
	return &Manager{
		objects:  map[informer.Scope]map[string]*unstructured.Unstructured{},
		running:  map[informer.Scope]error{},
		syncErrs: map[informer.Scope]error{},
		health:   map[informer.Scope]informer.Health{},
		warnings: map[informer.Scope][]string{},
	}
}

// registration is one added handler. Calls in progress are counted so that
// RemoveEventHandler can wait for them without holding a lock.
type registration struct {
	h informer.EventHandler

	mu       sync.Mutex
	idle     *sync.Cond
	inFlight int
	removed  bool
}

func (r *registration) Handler() informer.EventHandler { return r.h }

// call runs f unless the registration was removed.
func (r *registration) call(f func()) {
	r.mu.Lock()
	if r.removed {
		r.mu.Unlock()
		return
	}
	r.inFlight++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight--
		if r.inFlight == 0 {
			r.idle.Broadcast()
		}
		r.mu.Unlock()
	}()
	f()
}

// Ensure implements informer.Manager.
func (m *Manager) Ensure(scopes ...informer.Scope) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return
	}
	for _, s := range scopes {
		if _, ok := m.running[s]; ok {
			continue
		}
		m.running[s] = m.syncErrs[s]
		m.started = append(m.started, s)
	}
}

// Remove implements informer.Manager.
func (m *Manager) Remove(s informer.Scope) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.running[s]; ok {
		delete(m.running, s)
		m.removed = append(m.removed, s)
	}
}

// Stop implements informer.Manager.
func (m *Manager) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopped = true
	m.running = map[informer.Scope]error{}
}

// Scopes implements informer.Manager; the scopes are sorted by String.
func (m *Manager) Scopes() []informer.Scope {
	m.mu.Lock()
	out := make([]informer.Scope, 0, len(m.running))
	for s := range m.running {
		out = append(out, s)
	}
	m.mu.Unlock()
	sortScopes(out)
	return out
}

func sortScopes(ss []informer.Scope) {
	sort.Slice(ss, func(i, j int) bool { return ss[i].String() < ss[j].String() })
}

// WaitForSync implements informer.Manager without blocking.
func (m *Manager) WaitForSync(_ context.Context, scopes ...informer.Scope) map[informer.Scope]error {
	m.mu.Lock()
	defer m.mu.Unlock()
	errs := map[informer.Scope]error{}
	for _, s := range scopes {
		if err := m.stateLocked(s); err != nil {
			errs[s] = err
		}
	}
	return errs
}

// stateLocked returns why scope cannot be read: not running, or failed.
func (m *Manager) stateLocked(s informer.Scope) error {
	err, ok := m.running[s]
	if !ok {
		return fmt.Errorf("no informer for %s", s)
	}
	return err
}

// Get implements informer.Manager.
func (m *Manager) Get(s informer.Scope, name string) (*unstructured.Unstructured, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.stateLocked(s); err != nil {
		return nil, err
	}
	if m.released[s][name] {
		if m.serverReads == nil {
			m.serverReads = map[string]int{}
		}
		m.serverReads[name]++
	}
	return m.objects[s][name], nil
}

// Release implements informer.Releaser: the object stays, marked
// released until it is added or updated again; Gets of it meanwhile are
// counted as reads from the API server (ServerReads).
func (m *Manager) Release(s informer.Scope, name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.objects[s][name] == nil {
		return
	}
	if m.released == nil {
		m.released = map[informer.Scope]map[string]bool{}
	}
	if m.released[s] == nil {
		m.released[s] = map[string]bool{}
	}
	m.released[s][name] = true
}

// Metadata implements informer.Releaser.
func (m *Manager) Metadata(s informer.Scope, name string) (*unstructured.Unstructured, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.stateLocked(s); err != nil {
		return nil, err
	}
	u := m.objects[s][name]
	if u == nil {
		return nil, nil
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": u.GetAPIVersion(), "kind": u.GetKind(), "metadata": u.Object["metadata"],
	}}, nil
}

// Released reports whether name's content in s is released.
func (m *Manager) Released(s informer.Scope, name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.released[s][name]
}

// ServerReads returns, by name, the Gets of released objects since the
// last call (reads the real Manager sends to the API server), and resets
// the count.
func (m *Manager) ServerReads() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.serverReads
	m.serverReads = nil
	if out == nil {
		out = map[string]int{}
	}
	return out
}

// List implements informer.Manager; the objects are sorted by name.
func (m *Manager) List(s informer.Scope) ([]*unstructured.Unstructured, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.stateLocked(s); err != nil {
		return nil, err
	}
	out := make([]*unstructured.Unstructured, 0, len(m.objects[s]))
	for _, u := range m.objects[s] {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out, nil
}

// CacheSizes implements informer.Manager: a failed informer holds nothing.
func (m *Manager) CacheSizes() map[informer.Scope]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[informer.Scope]int, len(m.running))
	for s, err := range m.running {
		out[s] = 0
		if err == nil {
			out[s] = len(m.objects[s])
		}
	}
	return out
}

// Health implements informer.Manager: for each running informer, what
// SetHealth last set for its scope (the zero Health if nothing).
func (m *Manager) Health() map[informer.Scope]informer.Health {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[informer.Scope]informer.Health, len(m.running))
	for s := range m.running {
		out[s] = m.health[s]
	}
	return out
}

// Warnings implements informer.Manager: what SetWarnings set for scope,
// while its informer runs.
func (m *Manager) Warnings(s informer.Scope) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.running[s]; !ok {
		return nil
	}
	return append([]string(nil), m.warnings[s]...)
}

// AddEventHandler implements informer.Manager.
func (m *Manager) AddEventHandler(h informer.EventHandler) (informer.Registration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return nil, informer.ErrStopped
	}
	r := &registration{h: h}
	r.idle = sync.NewCond(&r.mu)
	m.handlers = append(append([]*registration(nil), m.handlers...), r)
	return r, nil
}

// RemoveEventHandler implements informer.Manager; it waits for the calls
// to the handler in progress to return.
func (m *Manager) RemoveEventHandler(reg informer.Registration) {
	m.mu.Lock()
	var found *registration
	out := make([]*registration, 0, len(m.handlers))
	for _, r := range m.handlers {
		if informer.Registration(r) == reg {
			found = r
			continue
		}
		out = append(out, r)
	}
	m.handlers = out
	m.mu.Unlock()
	if found == nil {
		return
	}
	found.mu.Lock()
	found.removed = true
	for found.inFlight > 0 {
		found.idle.Wait()
	}
	found.mu.Unlock()
}

// Handlers counts the registered event handlers.
func (m *Manager) Handlers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.handlers)
}

// Started lists the informers started, in order: one entry per Ensure of a
// scope that was not running.
func (m *Manager) Started() []informer.Scope {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]informer.Scope(nil), m.started...)
}

// Removed lists the informers stopped by Remove, in order (not those
// stopped by Stop).
func (m *Manager) Removed() []informer.Scope {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]informer.Scope(nil), m.removed...)
}

// SetSyncError makes the informers started for scope from now on fail to
// sync with err; nil lets them sync again. An informer already running is
// not affected: Remove and Ensure it.
func (m *Manager) SetSyncError(s informer.Scope, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		delete(m.syncErrs, s)
		return
	}
	m.syncErrs[s] = err
}

// Add stores a copy of obj in scope, creating or replacing the object of
// that name, and reports Added (or Updated when it replaced one). For a
// namespaced scope an object without a namespace gets the scope's.
func (m *Manager) Add(s informer.Scope, obj *unstructured.Unstructured) {
	m.put(s, obj)
}

// Update is Add: it replaces the object of obj's name in scope (creating
// it if absent) and reports Updated (Added if it was absent).
func (m *Manager) Update(s informer.Scope, obj *unstructured.Unstructured) {
	m.put(s, obj)
}

func (m *Manager) put(s informer.Scope, obj *unstructured.Unstructured) {
	u := obj.DeepCopy()
	if s.Namespace != "" && u.GetNamespace() == "" {
		u.SetNamespace(s.Namespace)
	}
	name := u.GetName()
	m.mu.Lock()
	delete(m.released[s], name) // the event brings the content
	if m.objects[s] == nil {
		m.objects[s] = map[string]*unstructured.Unstructured{}
	}
	t := informer.Added
	if _, ok := m.objects[s][name]; ok {
		t = informer.Updated
	}
	m.objects[s][name] = u
	hs := m.watchersLocked(s)
	m.mu.Unlock()
	dispatchEvent(hs, s, name, t)
}

// Delete removes the object called name from scope and reports Deleted;
// deleting an object that does not exist does nothing.
func (m *Manager) Delete(s informer.Scope, name string) {
	m.mu.Lock()
	if _, ok := m.objects[s][name]; !ok {
		m.mu.Unlock()
		return
	}
	delete(m.objects[s], name)
	hs := m.watchersLocked(s)
	m.mu.Unlock()
	dispatchEvent(hs, s, name, informer.Deleted)
}

// SetHealth sets what Health reports for scope; when its informer runs and
// synced, a change of Err between nil and non-nil calls OnConnection.
func (m *Manager) SetHealth(s informer.Scope, h informer.Health) {
	m.mu.Lock()
	was := m.health[s].Err
	m.health[s] = h
	var hs []*registration
	if (was == nil) != (h.Err == nil) {
		hs = m.watchersLocked(s)
	}
	m.mu.Unlock()
	for _, r := range hs {
		if f := r.h.OnConnection; f != nil {
			r.call(func() { f(s, h.Err) })
		}
	}
}

// SetWarnings sets what Warnings returns for scope.
func (m *Manager) SetWarnings(s informer.Scope, warnings []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.warnings[s] = append([]string(nil), warnings...)
}

// watchersLocked returns the handlers to notify of a change in scope: all
// of them if its informer runs and synced, none otherwise.
func (m *Manager) watchersLocked(s informer.Scope) []*registration {
	if err, ok := m.running[s]; !ok || err != nil {
		return nil
	}
	return m.handlers
}

func dispatchEvent(hs []*registration, s informer.Scope, name string, t informer.EventType) {
	for _, r := range hs {
		if f := r.h.OnEvent; f != nil {
			r.call(func() { f(s, name, t) })
		}
	}
}
