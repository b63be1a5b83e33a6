package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/informer"
)

// CRDScope is the informer scope of CustomResourceDefinitions, which a
// Monitor always watches to pick up kinds that appear, change or go.
var CRDScope = informer.Scope{GVR: schema.GroupVersionResource{
	Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions",
}}

// ChangeType is the kind of drift notification.
type ChangeType string

const (
	// DriftDetected: a resource that was in sync (or new) drifted.
	DriftDetected ChangeType = "detected"
	// DriftChanged: a drifted resource drifted differently.
	DriftChanged ChangeType = "changed"
	// DriftResolved: a drifted resource is back in sync.
	DriftResolved ChangeType = "resolved"
)

// Change is a drift notification about one resource.
type Change struct {
	Type     ChangeType
	Resource drift.Resource
	Time     time.Time
}

// PlanResolver resolves kinds and can forget what it cached.
type PlanResolver interface {
	Resolver
	Invalidate()
}

// MonitorOptions configure a Monitor. Load, Resolver, Manager and
// Evaluator are required; every other field has a default.
type MonitorOptions struct {
	// Load fetches and renders the desired state.
	Load func(ctx context.Context) (*gitsource.Desired, error)
	// Interval between Git polls; zero means one minute.
	Interval time.Duration
	// RetryBase is the first wait after a failed poll, doubled on each
	// failure up to max(Interval, 5m); zero means 2 seconds.
	RetryBase time.Duration
	Resolver  PlanResolver
	// Manager runs the informers; Run registers the Monitor's event
	// handler with it and removes it on return.
	Manager informer.Manager
	// Evaluator compares; its Live must read from Manager.
	Evaluator *Evaluator
	// DefaultNamespace for namespaced objects without one.
	DefaultNamespace string
	// SyncTimeout bounds the wait for new informers; zero means a minute.
	SyncTimeout time.Duration
	// Cluster describes the cluster in reports.
	Cluster drift.Cluster
	// Notify receives drift changes; it must not block. Nil drops them.
	Notify func(Change)
	// Previous, if set, is asked once, after the first successful load
	// and before any comparison, what an earlier process knew of the
	// source's drift (Restore); nil or an empty answer restores nothing.
	Previous func(ctx context.Context, src drift.Source) map[string]Previous
	// Clock is injectable for tests; nil means the real clock.
	Clock clock.WithTicker
	// Logger; nil discards.
	Logger *slog.Logger
	// QueueMetrics receives the workqueue's metrics; nil records none.
	QueueMetrics workqueue.MetricsProvider
	// Filter narrows the desired objects checked; the zero value keeps all.
	Filter Filter
	// Tracking, when set, reports live objects of the watched scopes that
	// match it but are not in Git as Extra, kept current as they are
	// created, relabelled, deleted or added to Git (--detect-extra).
	Tracking labels.Selector
}

// Monitor keeps a drift report current. It polls Git, and on each new
// revision resolves the desired objects, starts the informers newly needed
// and stops the ones no longer needed (CRDs included: a custom resource
// whose CRD is missing is reported as a pending kind and picked up when
// the CRD appears). Informer events go through a rate-limited workqueue
// keyed by object, so only the object that changed is compared again and
// bursts are coalesced. When Git fails, the last good desired state is kept
// and the report is marked stale. Safe for concurrent use; Run must be
// called once.
type Monitor struct {
	opts  MonitorOptions
	queue workqueue.TypedRateLimitingInterface[queueKey]
	clock clock.WithTicker
	log   *slog.Logger

	replan chan struct{}

	mu          sync.RWMutex
	revision    gitsource.Revision
	skipped     []gitsource.Skipped  // rendered, not desired state (Helm hooks)
	unopened    []gitsource.Unopened // not compared: a SOPS file no key opens
	notCompared []drift.NotComparedObject
	objects     []gitsource.Object // all desired objects, packed, before the filter
	fingerprint string
	targets     map[string]heldTarget
	order       []string
	scopes      map[informer.Scope]bool
	scopeErrs   map[informer.Scope]error
	states      map[string]*resourceState
	stale       *drift.Stale
	excluded    int
	ready       bool
	lastGitOK   time.Time
	gitErrors   int
	// crdGroups are the API groups of the CRDs that changed since the
	// last re-plan: their custom resources are compared again (the
	// schema, so defaults and list keys, may have changed).
	crdGroups map[string]bool
	// crdNames are the CRDs whose events set crdGroups, and crdRVs the
	// resourceVersion of each CRD when the targets were last planned
	// (nil: unknown): an event for a CRD at the version planned (the CRD
	// informer's first list, a resync) changes nothing.
	crdNames map[string]bool
	crdRVs   map[string]string

	history History // drift lifecycle per resource (history.go)

	// previous is what an earlier process knew (Restore), by
	// PreviousKey; consulted when a resource gets its first verdict.
	previous    map[string]Previous
	restoreOnce sync.Once
}

// Previous is what an earlier driftwatch process knew of a resource's
// drift, read back from the reports it published in the cluster: a
// restarted watch (or a replica that takes over) keeps firstSeen, and
// sends no notification for drift that did not change while it was away.
type Previous struct {
	// Status was the resource's status; Digest its drift's digest
	// (drift.Resource.DriftDigest): status and paths, never values.
	Status drift.Status
	Digest string
	// FirstSeen and LastChanged are the drift's times.
	FirstSeen, LastChanged time.Time
}

// PreviousKey names a resource in Restore's map.
func PreviousKey(apiVersion, kind, namespace, name string) string {
	return apiVersion + " " + kind + " " + namespace + "/" + name
}

// Restore hands the Monitor what an earlier process knew (see Previous).
// A resource not compared yet takes it up at its first verdict: the same
// drift keeps its times and notifies nothing, other drift keeps firstSeen
// and is a change, drift gone is resolved. A resource already compared
// (a replica that just became leader) takes the published firstSeen when
// its drift is the same: the leader's record is the one others saw.
func (m *Monitor) Restore(prev map[string]Previous) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.previous = prev
	for _, st := range m.states {
		r := &st.res
		p, ok := prev[PreviousKey(r.APIVersion, r.Kind, r.Namespace, r.Name)]
		if !ok || !isDrift(r.Status) || r.FirstSeen == nil || p.Status != r.Status || p.Digest != r.DriftDigest() || p.FirstSeen.IsZero() {
			continue
		}
		first := p.FirstSeen
		r.FirstSeen = &first
	}
}

type resourceState struct {
	res         drift.Resource
	fingerprint string
	// extra names the live object of an Extra resource (nil for a
	// target: a pointer, as most states are targets').
	extra *queueKey
	// known is, for an Error, the last verdict before it, if any.
	known *resourceState
	// liveRV is the resourceVersion of the live object the verdict was
	// made from ("" when there was none): an event that brings the same
	// version (the informer's first list after the plan compared it, a
	// resync, a relist) changes nothing.
	liveRV string
	// desired is the Sum of the packed desired object the verdict was
	// made from.
	desired uint64
}

// NewMonitor returns a Monitor; see MonitorOptions.
func NewMonitor(opts MonitorOptions) *Monitor {
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = 2 * time.Second
	}
	if opts.SyncTimeout <= 0 {
		opts.SyncTimeout = time.Minute
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Monitor{
		opts:  opts,
		clock: opts.Clock,
		log:   opts.Logger,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[queueKey](),
			workqueue.TypedRateLimitingQueueConfig[queueKey]{Name: "driftwatch", Clock: opts.Clock, MetricsProvider: opts.QueueMetrics},
		),
		replan:    make(chan struct{}, 1),
		targets:   map[string]heldTarget{},
		scopes:    map[informer.Scope]bool{},
		scopeErrs: map[informer.Scope]error{},
		states:    map[string]*resourceState{},
	}
}

func targetKey(s informer.Scope, name string) string { return s.String() + "|" + name }

// queueKey names a live object an informer saw change.
type queueKey struct {
	scope informer.Scope
	name  string
}

// extraPrefix starts the state keys of Extra objects, which are not
// targets: they are reported after the targets, sorted.
const extraPrefix = "extra|"

// Enqueue is the informer event hook: it queues the object for comparison,
// and a change to a CRD for re-resolution of every kind.
func (m *Monitor) Enqueue(s informer.Scope, name string, _ informer.EventType) {
	if s == CRDScope {
		// A CRD is named <plural>.<group>.
		if _, group, ok := strings.Cut(name, "."); ok {
			m.mu.Lock()
			if m.crdGroups == nil {
				m.crdGroups = map[string]bool{}
			}
			m.crdGroups[group] = true
			if m.crdNames == nil {
				m.crdNames = map[string]bool{}
			}
			m.crdNames[name] = true
			m.mu.Unlock()
		}
		select {
		case m.replan <- struct{}{}:
		default:
		}
	}
	m.queue.Add(queueKey{s, name})
}

// Ready reports whether the first full comparison is done.
func (m *Monitor) Ready() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.ready
}

// QueueLen is the number of objects waiting to be compared.
func (m *Monitor) QueueLen() int { return m.queue.Len() }

// GitStatus returns the time of the last successful poll and the revision.
func (m *Monitor) GitStatus() (time.Time, gitsource.Revision) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.lastGitOK, m.revision
}

// Report returns a snapshot of the current report.
func (m *Monitor) Report() *drift.Report {
	m.mu.RLock()
	defer m.mu.RUnlock()
	res := make([]drift.Resource, 0, len(m.order))
	for _, k := range m.order {
		if st, ok := m.states[k]; ok {
			res = append(res, st.res)
		}
	}
	var extra []drift.Resource
	for k, st := range m.states {
		if strings.HasPrefix(k, extraPrefix) {
			extra = append(extra, st.res)
		}
	}
	sortExtra(extra)
	res = append(res, withoutUnopenedExtra(extra, m.notCompared)...)
	r := drift.NewReport(m.clock.Now(), SourceOf(m.revision, m.skipped), m.opts.Cluster, res)
	r.Summary.Excluded = m.excluded
	r.NotCompared, r.Summary.NotCompared = m.notCompared, len(m.notCompared)
	if m.stale != nil {
		s := *m.stale
		r.Stale = &s
	}
	r.Disconnected = m.disconnected()
	return r
}

// disconnected says which informers cannot reach the API server, and
// since when; nil when all can. The caller holds m.mu.
func (m *Monitor) disconnected() *drift.Stale {
	var out *drift.Stale
	var scopes []string
	for s, h := range m.opts.Manager.Health() {
		// Scopes that never synced already turn their resources into
		// errors; this is about caches that were current and are not.
		if h.Err == nil || m.scopeErrs[s] != nil || (s != CRDScope && !m.scopes[s]) {
			continue
		}
		if out == nil || h.Since.Before(out.Since) {
			out = &drift.Stale{Reason: h.Err.Error(), Since: h.Since.UTC()}
		}
		scopes = append(scopes, s.String())
	}
	if out != nil {
		slices.Sort(scopes)
		n := len(scopes)
		if n > 3 {
			scopes = append(scopes[:3], "…")
		}
		out.Reason = fmt.Sprintf("%s (%d informers: %s)", out.Reason, n, strings.Join(scopes, ", "))
	}
	return out
}

// Run polls Git and processes events until ctx ends. It returns nil on
// cancellation; transient faults are retried, never returned.
func (m *Monitor) Run(ctx context.Context, workers int) error {
	if workers < 1 {
		workers = 1
	}
	reg, err := m.opts.Manager.AddEventHandler(informer.EventHandler{OnEvent: m.Enqueue})
	if err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	defer m.opts.Manager.RemoveEventHandler(reg)
	m.opts.Manager.Ensure(CRDScope)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m.processNext(ctx) {
			}
		}()
	}
	defer func() {
		m.queue.ShutDown()
		wg.Wait()
	}()
	failures := 0
	var followUp <-chan time.Time
	timer := m.clock.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.replan:
			m.replanNow(ctx)
			// The API server updates discovery a moment after a CRD
			// changes: look again shortly, once, to catch the lag.
			if followUp == nil {
				followUp = m.clock.After(replanFollowUp)
			}
			continue
		case <-followUp:
			followUp = nil
			m.replanNow(ctx)
			continue
		case <-timer.C():
		}
		wait := m.opts.Interval
		if err := m.poll(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			wait = m.opts.RetryBase << min(failures-1, 16)
			if limit := max(m.opts.Interval, 5*time.Minute); wait > limit {
				wait = limit
			}
			m.log.Warn("git poll failed", "error", err.Error(), "retryIn", wait.String())
		} else {
			failures = 0
		}
		timer.Reset(wait)
	}
}

// replanFollowUp is how long after a CRD change kinds are resolved again.
const replanFollowUp = 2 * time.Second

// replanNow resolves every kind again (a CRD changed) and reconciles.
func (m *Monitor) replanNow(ctx context.Context) {
	m.opts.Resolver.Invalidate()
	// The OpenAPI index changes with the CRDs: a kind that appeared is
	// compared with its schema, not heuristics, from now on.
	if inv, ok := m.opts.Evaluator.Schemas.(interface{ Invalidate() }); ok {
		inv.Invalidate()
	}
	m.mu.Lock()
	fp, groups, names, planned := m.fingerprint, m.crdGroups, m.crdNames, m.crdRVs
	m.crdGroups, m.crdNames = nil, nil
	m.mu.Unlock()
	if planned != nil && len(names) > 0 && !m.crdsChanged(names, planned) {
		// The CRD informer's first list after the plan: the plan saw them.
		m.log.Debug("CRDs as planned", "events", len(names))
		return
	}
	if fp != "" {
		m.reconcile(ctx, nil, groups)
	}
}

// crdsChanged reports whether any CRD of names is at another version than
// planned (or gone, or new, or unreadable).
func (m *Monitor) crdsChanged(names map[string]bool, planned map[string]string) bool {
	for name := range names {
		rv, held, ok := m.liveVersion(queueKey{CRDScope, name})
		was, known := planned[name]
		if !ok || held != known || (held && (was == "" || rv != was)) {
			return true
		}
	}
	return false
}

// crdVersions returns the resourceVersion of every CRD the CRD informer
// holds (nil when it cannot say).
func (m *Monitor) crdVersions() map[string]string {
	items, err := m.opts.Manager.List(CRDScope)
	if err != nil {
		return nil
	}
	out := make(map[string]string, len(items))
	for _, u := range items {
		out[u.GetName()] = u.GetResourceVersion()
	}
	return out
}

// poll loads the desired state and reconciles when it changed.
func (m *Monitor) poll(ctx context.Context) error {
	d, err := m.opts.Load(ctx)
	now := m.clock.Now()
	m.mu.Lock()
	if err != nil {
		m.gitErrors++
		if m.stale == nil {
			m.stale = &drift.Stale{Reason: err.Error(), Since: now}
		} else {
			m.stale.Reason = err.Error()
		}
		m.mu.Unlock()
		return err
	}
	m.stale = nil
	m.lastGitOK = now
	fp := fingerprint(d)
	changed := fp != m.fingerprint
	m.mu.Unlock()
	if changed {
		m.log.Info("desired state changed", "commit", d.Revision.Commit, "objects", len(d.Objects))
		m.reconcile(ctx, d, nil)
		m.mu.Lock()
		m.fingerprint = fp
		m.mu.Unlock()
	} else if m.transientPending() {
		// Discovery failed last time (the API server was unreachable):
		// resolve again now that Git could be read.
		m.opts.Resolver.Invalidate()
		m.reconcile(ctx, nil, nil)
	}
	return nil
}

// GitErrors counts failed polls since start.
func (m *Monitor) GitErrors() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.gitErrors
}

func fingerprint(d *gitsource.Desired) string {
	h := sha256.New()
	h.Write([]byte(d.Revision.Commit))
	h.Write([]byte(d.Revision.Digest)) // a re-pushed OCI tag, same objects
	for _, o := range d.Objects {
		if o.Packed != nil {
			h.Write(binary.LittleEndian.AppendUint64(nil, o.Packed.Sum()))
		} else {
			b, _ := json.Marshal(o.Object.Object)
			h.Write(b)
		}
		// What rendering says about the object besides its content.
		b, _ := json.Marshal([]any{o.NotCompared, o.NotComparedWhy, o.Sensitive, o.DefaultNamespace})
		h.Write(b)
	}
	b, _ := json.Marshal([]any{d.Skipped, d.Unopened})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// reconcile re-plans the desired objects (d, or the current ones when d is
// nil), moves the informer set to the scopes they need, and compares again
// every object whose comparison may have a new outcome: its desired state
// or its resolution changed, its informer is new, it had no verdict or an
// error, or its kind's API group is among crdGroups (its CRD changed). The
// others keep their verdict: their live state has not changed, or an event
// would have queued them.
func (m *Monitor) reconcile(ctx context.Context, d *gitsource.Desired, crdGroups map[string]bool) {
	// Read before resolving: a CRD that changes after this reads as changed.
	crds := m.crdVersions()
	if d == nil && m.sameResolution(ctx) {
		m.compareGroups(ctx, crdGroups)
		m.mu.Lock()
		m.crdRVs = crds
		m.mu.Unlock()
		return
	}
	m.mu.RLock()
	rev, held, skipped, unopened := m.revision, m.objects, m.skipped, m.unopened
	m.mu.RUnlock()
	if d != nil {
		rev, skipped, unopened = d.Revision, d.Skipped, d.Unopened
		var err error
		if held, err = holdObjects(d.Objects); err != nil {
			m.log.Error("desired state not usable", "error", err.Error())
			return
		}
		m.restoreOnce.Do(func() {
			if m.opts.Previous != nil {
				m.Restore(m.opts.Previous(ctx, SourceOf(rev, skipped)))
			}
		})
	}
	// Targets share the held objects' packed content.
	targets := resolve(ctx, m.opts.Resolver, held, m.opts.DefaultNamespace)
	m.keepResolved(targets)
	nc := notCompared(ctx, m.opts.Resolver, unopened, m.opts.DefaultNamespace, m.opts.Filter)
	targets, scopes, excluded := m.opts.Filter.Apply(targets)

	want := map[informer.Scope]bool{CRDScope: true}
	for _, s := range scopes {
		want[s] = true
	}
	m.mu.RLock()
	var retry []informer.Scope
	for s := range m.scopeErrs {
		retry = append(retry, s)
	}
	m.mu.RUnlock()
	// Informers that failed are started again: the permission or the
	// resource may be there now.
	for _, s := range retry {
		m.opts.Manager.Remove(s)
	}
	var added []informer.Scope
	for _, s := range scopes {
		m.mu.RLock()
		had := m.scopes[s]
		m.mu.RUnlock()
		if !had || contains(retry, s) {
			added = append(added, s)
		}
	}
	m.opts.Manager.Ensure(added...)
	for _, s := range m.opts.Manager.Scopes() {
		if !want[s] {
			m.opts.Manager.Remove(s)
			m.log.Info("informer stopped", "scope", s.String())
		}
	}
	// The schemas the comparison needs load while new informers sync.
	schemasDone := make(chan struct{})
	kinds := oneOfEachKind(targets) // targets is emptied below
	go func() {
		defer close(schemasDone)
		if m.opts.Evaluator.Schemas != nil {
			PrefetchSchemas(ctx, m.opts.Evaluator.Schemas, kinds)
		}
	}()

	// At start, each scope's targets are compared as soon as its informer
	// has synced, while the others still list: nothing was reported yet.
	// Later, a re-plan waits for every new informer first, so that a
	// resource never leaves the report while its new informer syncs.
	m.mu.RLock()
	startup := !m.ready
	m.mu.RUnlock()
	syncCtx, cancel := context.WithTimeout(ctx, m.opts.SyncTimeout)
	defer cancel()
	var synced map[informer.Scope]error
	if !startup {
		synced = m.opts.Manager.WaitForSync(syncCtx, scopes...)
		<-schemasDone
	}

	keys := make([]string, 0, len(targets))
	byKey := make(map[string]heldTarget, len(targets))
	ps := placements{}
	for i, t := range targets {
		k := targetKey(t.Scope, t.Object.GetName())
		if t.Err != nil {
			gvk := t.Object.GroupVersionKind()
			k = "pending|" + gvk.String() + "|" + t.Object.GetNamespace() + "|" + t.Object.GetName()
			t.Err = pendingError{t.Err}
		}
		targets[i] = Target{}
		keys = append(keys, k)
		byKey[k] = holdTarget(t, ps)
	}
	targets = nil
	fresh := map[informer.Scope]bool{}
	for _, s := range added {
		fresh[s] = true
	}
	// now are the targets to compare once their scope has synced, kept
	// those whose verdict stands unless the informer failed. An unresolved
	// target (no scope) is compared at once.
	now, kept := map[informer.Scope][]string{}, map[informer.Scope][]string{}
	var unresolved []string
	m.mu.Lock()
	for _, k := range keys {
		ht := byKey[k]
		if ht.place == nil {
			unresolved = append(unresolved, k)
			continue
		}
		prev, had := m.targets[k]
		st := m.states[k]
		sc := ht.scope()
		if had && prev.sameAs(ht) && st != nil && st.res.Status != drift.Error &&
			!fresh[sc] && !crdGroups[ht.mapping().GVK.Group] {
			kept[sc] = append(kept[sc], k)
			continue
		}
		now[sc] = append(now[sc], k)
	}
	m.revision, m.objects, m.skipped, m.excluded = rev, held, skipped, excluded
	m.unopened, m.notCompared = unopened, nc
	m.targets, m.order = byKey, keys
	m.scopes = map[informer.Scope]bool{}
	for _, s := range scopes {
		m.scopes[s] = true
	}
	// At start, until a new informer has synced, its scope reads as not
	// synced: an event there is left for the comparison that follows the
	// sync (see evaluate), and extra detection waits for it too.
	m.scopeErrs = map[informer.Scope]error{}
	for s, err := range synced {
		if err != nil {
			m.scopeErrs[s] = err
		}
	}
	if startup {
		for _, s := range added {
			m.scopeErrs[s] = errSyncing
		}
	}
	for k, st := range m.states {
		if _, ok := byKey[k]; !ok && !strings.HasPrefix(k, extraPrefix) {
			m.history.Gone(st.res, m.clock.Now())
			delete(m.states, k)
		}
	}
	m.mu.Unlock()

	work := make(chan string, 1024)
	var workers sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for k := range work {
				// At start, an informer's first list queues an event per
				// object: one may have compared it already.
				qk := queueKey{byKey[k].scope(), byKey[k].obj.GetName()}
				if ctx.Err() != nil || (startup && m.compared(qk, k)) {
					continue
				}
				m.evaluate(ctx, k)
				if startup && byKey[k].place != nil && m.movedOn(qk, k) {
					// The informer holds another version than the one
					// compared (it changed meanwhile, and its event found
					// no verdict yet: firstComparePending): compare again.
					m.queue.Add(qk)
				}
			}
		}()
	}
	for _, k := range unresolved {
		work <- k
	}
	errs := map[informer.Scope]error{}
	var errsMu sync.Mutex
	var syncs sync.WaitGroup
	compared := len(unresolved)
	for _, s := range scopes {
		syncs.Add(1)
		go func() {
			defer syncs.Done()
			err := synced[s]
			if startup {
				err = m.opts.Manager.WaitForSync(syncCtx, s)[s]
				<-schemasDone
				m.mu.Lock()
				if err != nil {
					m.scopeErrs[s] = err
				} else {
					delete(m.scopeErrs, s)
				}
				m.mu.Unlock()
			}
			errsMu.Lock()
			if err != nil {
				errs[s] = err
			}
			compared += len(now[s])
			if err != nil {
				compared += len(kept[s])
			}
			errsMu.Unlock()
			if err == nil && fresh[s] {
				m.log.Info("informer started", "scope", s.String())
			}
			for _, k := range now[s] {
				work <- k
			}
			if err != nil {
				for _, k := range kept[s] {
					work <- k // its verdict becomes the informer's error
				}
			}
		}()
	}
	syncs.Wait()
	close(work)
	workers.Wait()
	m.log.Debug("re-planned", "targets", len(keys), "compared", compared)
	m.reconcileExtra(scopes, errs)
	m.releaseOthers(scopes, errs)
	m.mu.Lock()
	m.ready, m.crdRVs = true, crds
	m.mu.Unlock()
}

// sameResolution reports whether every kind of the desired objects
// resolves as it did at the last plan, and no informer failed: a re-plan
// (a CRD was created, changed or deleted) then changes neither the targets
// nor the informers, and only the custom resources of the changed CRDs
// need comparing again. Resolving each kind once is cheap; planning again
// decodes every desired object. At start, the CRD informer's first list
// announces every CRD, and this keeps that from re-planning everything.
func (m *Monitor) sameResolution(ctx context.Context) bool {
	m.mu.RLock()
	if len(m.scopeErrs) > 0 || len(m.targets) == 0 {
		m.mu.RUnlock()
		return false
	}
	type resolution struct {
		mapping informer.Mapping
		ok      bool
	}
	before := map[schema.GroupVersionKind]resolution{}
	for _, t := range m.targets {
		r := resolution{t.mapping(), t.err == nil}
		gvk := t.obj.GroupVersionKind()
		if prev, seen := before[gvk]; (seen && prev != r) || (t.err != nil && !errors.Is(t.err, informer.ErrNotServed)) {
			// A kind that failed to resolve for another reason than not
			// being served (discovery was down) is planned afresh.
			m.mu.RUnlock()
			return false
		}
		before[gvk] = r
	}
	kinds := make([]schema.GroupVersionKind, 0, len(before))
	for _, o := range m.objects {
		if _, ok := before[o.GroupVersionKind()]; !ok {
			m.mu.RUnlock()
			return false // filtered out before; let a full plan decide
		}
	}
	for k := range before {
		kinds = append(kinds, k)
	}
	m.mu.RUnlock()
	for _, k := range kinds {
		mp, err := m.opts.Resolver.Resolve(ctx, k)
		if (err == nil) != before[k].ok || (err == nil && mp != before[k].mapping) {
			return false
		}
		if err != nil && !errors.Is(err, informer.ErrNotServed) {
			return false
		}
	}
	return true
}

// compareGroups compares again the targets whose kinds belong to groups.
func (m *Monitor) compareGroups(ctx context.Context, groups map[string]bool) {
	var keys []string
	m.mu.RLock()
	for _, k := range m.order {
		if t, ok := m.targets[k]; ok && t.err == nil && groups[t.obj.GroupVersionKind().Group] {
			keys = append(keys, k)
		}
	}
	m.mu.RUnlock()
	m.log.Debug("kinds resolve as before", "compared", len(keys))
	m.evaluateAll(ctx, keys)
}

// objectID names a desired object independently of its resolution.
func objectID(o gitsource.Object) string {
	return o.GroupVersionKind().String() + "|" + o.GetNamespace() + "|" + o.GetName()
}

// keepResolved gives the previous resolution back to each target whose
// kind could not be resolved for a reason other than the cluster not
// serving it (discovery failed: the API server is down or restarting).
// Such a failure says nothing about the kind, and dropping the mapping
// would stop the informer and lose the live state it holds.
func (m *Monitor) keepResolved(targets []Target) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var prev map[string]Target
	for i, t := range targets {
		if t.Err == nil || errors.Is(t.Err, informer.ErrNotServed) {
			continue
		}
		if prev == nil {
			prev = make(map[string]Target, len(m.targets))
			for _, p := range m.targets {
				if p.err == nil {
					prev[objectID(p.obj)] = p.base()
				}
			}
		}
		if p, ok := prev[objectID(t.Object)]; ok {
			targets[i].Namespace, targets[i].Scope, targets[i].Mapping, targets[i].Err = p.Namespace, p.Scope, p.Mapping, nil
		}
	}
}

// transientPending says whether some kind could not be resolved for a
// reason other than the cluster not serving it, so that the next poll
// tries again.
func (m *Monitor) transientPending() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, t := range m.targets {
		if t.err != nil && !errors.Is(t.err, informer.ErrNotServed) {
			return true
		}
	}
	return false
}

func contains(ss []informer.Scope, s informer.Scope) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// pendingError marks a kind the cluster does not serve yet: watch waits for
// its CRD instead of failing.
type pendingError struct{ err error }

func (e pendingError) Error() string { return "pending kind: " + e.err.Error() }
func (e pendingError) Unwrap() error { return e.err }

func (m *Monitor) processNext(ctx context.Context) bool {
	qk, quit := m.queue.Get()
	if quit {
		return false
	}
	defer m.queue.Done(qk)
	key := targetKey(qk.scope, qk.name)
	m.mu.RLock()
	_, isTarget := m.targets[key]
	planned := m.scopes[qk.scope]
	m.mu.RUnlock()
	switch {
	case isTarget:
		if !m.compared(qk, key) && !m.firstComparePending(key) {
			m.evaluate(ctx, key)
		}
	case m.opts.Tracking != nil:
		m.evaluateExtra(qk.scope, qk.name)
	case planned:
		// Not desired: never compared. In a scope the plan does not
		// know yet (the first plan, a new scope), nothing is known to be
		// a target, and the first comparison of each needs its content:
		// releaseOthers releases the rest once planned.
		m.release(qk.scope, qk.name)
	}
	m.queue.Forget(qk)
	return true
}

// oneOfEachKind returns a resolved target of each kind among targets.
func oneOfEachKind(targets []Target) []Target {
	seen := map[schema.GroupVersionKind]bool{}
	var out []Target
	for _, t := range targets {
		if gvk := t.Object.GroupVersionKind(); t.Err == nil && !seen[gvk] {
			seen[gvk] = true
			out = append(out, t)
		}
	}
	return out
}

// errSyncing marks, in scopeErrs, a scope whose new informer has not
// synced yet.
var errSyncing = errors.New("informer syncing")

// evaluateAll compares the targets of keys, on as many goroutines as
// there are processors: after a sync or a new revision, comparing is the
// CPU-bound step (decoding both objects, comparing them), and the event
// workers evaluate concurrently as well.
func (m *Monitor) evaluateAll(ctx context.Context, keys []string) {
	workers := min(runtime.GOMAXPROCS(0), len(keys))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(keys) {
					return
				}
				m.evaluate(ctx, keys[i])
			}
		}()
	}
	wg.Wait()
}

// evaluate compares one target and records the result.
func (m *Monitor) evaluate(ctx context.Context, key string) {
	m.mu.RLock()
	ht, ok := m.targets[key]
	scopeErr := m.scopeErrs[ht.scope()]
	m.mu.RUnlock()
	if !ok || errors.Is(scopeErr, errSyncing) {
		return // compared once its informer has synced (reconcile)
	}
	t, err := ht.target()
	if err != nil {
		scopeErr = err
		if t.Object.Object == nil {
			t.Object.Object = &unstructured.Unstructured{}
		}
	}
	ev := *m.opts.Evaluator
	live := &readErrors{Lister: ev.Live}
	ev.Live = live
	res := ev.EvaluateOne(ctx, t, scopeErr)
	if errors.Is(live.err, informer.ErrReleased) {
		m.mu.RLock()
		st := m.states[key]
		m.mu.RUnlock()
		if st != nil {
			// The live object had to be read again (its cached content was
			// released) and the API server cannot be reached: the last
			// verdict stands, as it does for objects still cached while
			// disconnected; changes made meanwhile arrive as events once
			// the informer is reconnected.
			m.log.Debug("compare postponed", "key", key, "error", live.err.Error())
			return
		}
	}
	var sum uint64
	if ht.obj.Packed != nil {
		sum = ht.obj.Packed.Sum()
	}
	m.recordLive(key, res, live.rv, sum, func() bool { _, still := m.targets[key]; return still })
	if t.Err == nil && scopeErr == nil {
		m.release(t.Scope, t.Object.GetName())
	}
}

// readErrors remembers the error of a Get, for one comparison.
type readErrors struct {
	Lister
	err error
	// rv is the resourceVersion of the live object read ("" when none).
	rv string
}

func (r *readErrors) Get(s informer.Scope, name string) (*unstructured.Unstructured, error) {
	u, err := r.Lister.Get(s, name)
	if err != nil {
		r.err = err
	}
	if u != nil {
		r.rv = u.GetResourceVersion()
	}
	return u, err
}

// release lets the informer cache drop the content of a live object the
// Monitor has compared (or will never compare): the verdict is what the
// report needs, and the next event brings the next version whole. So a
// watch holds per object its desired JSON, the live object's metadata and
// labels, and the verdict (see informer.Releaser). A comparison that
// needs the live object without an event (a new revision changed the
// desired object) reads it from the API server.
func (m *Monitor) release(s informer.Scope, name string) {
	if r, ok := m.opts.Manager.(informer.Releaser); ok {
		r.Release(s, name)
	}
}

// releaseOthers releases every cached object of the scopes that is not a
// target and not Extra: the objects an informer cached before the plan
// said which ones matter.
func (m *Monitor) releaseOthers(scopes []informer.Scope, errs map[informer.Scope]error) {
	r, ok := m.opts.Manager.(informer.Releaser)
	if !ok {
		return
	}
	for _, s := range scopes {
		if errs[s] != nil {
			continue
		}
		items, err := m.opts.Manager.List(s)
		if err != nil {
			continue
		}
		for _, u := range items {
			m.mu.RLock()
			_, isTarget := m.targets[targetKey(s, u.GetName())]
			m.mu.RUnlock()
			if !isTarget {
				r.Release(s, u.GetName())
			}
		}
	}
}

// record stores a verdict under key (with extra, the live object of an
// Extra), carries the drift's times over from the previous verdict, and
// notifies a change. current, called under the lock, says whether the key
// still belongs in the report (a re-plan may have dropped it while the
// comparison ran).
func (m *Monitor) record(key string, res drift.Resource, extra queueKey, current func() bool) {
	m.recordState(key, res, extra, "", 0, current)
}

// recordLive records the verdict on a target made from the live object
// at resourceVersion rv and the desired object whose Sum is desired.
func (m *Monitor) recordLive(key string, res drift.Resource, rv string, desired uint64, current func() bool) {
	m.recordState(key, res, queueKey{}, rv, desired, current)
}

// movedOn reports whether the informer holds another version of the
// target key's live object than the one its verdict was made from (or
// none, where the verdict had one).
func (m *Monitor) movedOn(qk queueKey, key string) bool {
	rv, held, ok := m.liveVersion(qk)
	if !ok {
		return false
	}
	m.mu.RLock()
	st := m.states[key]
	m.mu.RUnlock()
	switch {
	case st == nil:
		return false
	case !held:
		return st.liveRV != ""
	}
	return rv != "" && rv != st.liveRV
}

// liveVersion reads the resourceVersion of the live object the informer
// holds for qk, from its metadata (never its content); held is false when
// it holds none, ok false when it cannot say.
func (m *Monitor) liveVersion(qk queueKey) (rv string, held, ok bool) {
	r, isReleaser := m.opts.Manager.(informer.Releaser)
	if !isReleaser {
		return "", false, false
	}
	md, err := r.Metadata(qk.scope, qk.name)
	if err != nil {
		return "", false, false
	}
	if md == nil {
		return "", false, true
	}
	return md.GetResourceVersion(), true, true
}

// firstComparePending reports whether the first plan has yet to compare
// the target key: its informer's first list queues an event per object,
// and the plan compares each once its scope has synced, so the event would
// compare it a second time (from the API server, once the first released
// it). A change the plan's comparison missed is queued again by it.
func (m *Monitor) firstComparePending(key string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return !m.ready && m.states[key] == nil
}

// compared reports whether the target key's verdict was made from the
// version of its live object that the informer holds now: the event that
// named it then brings nothing new. The informer's first list after a
// plan names every object the plan has just compared; without this each
// would be compared again, from the API server, as its content was
// released.
func (m *Monitor) compared(qk queueKey, key string) bool {
	rv, held, ok := m.liveVersion(qk)
	if !ok || !held {
		return false // deleted, or not readable: compare
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	st, ht := m.states[key], m.targets[key]
	return rv != "" && st != nil && st.liveRV == rv && st.res.Status != drift.Error &&
		ht.obj.Packed != nil && st.desired == ht.obj.Packed.Sum()
}

func (m *Monitor) recordState(key string, res drift.Resource, extra queueKey, rv string, desired uint64, current func() bool) {
	fp := resultFingerprint(res)
	now := m.clock.Now()
	m.mu.Lock()
	if !current() {
		m.mu.Unlock()
		return
	}
	prev, had := m.states[key]
	// An Error (a dry run that failed) says nothing of drift: times and
	// notifications follow the last verdict before it, so that it neither
	// resolves a drift nor, once over, detects it again.
	if had && prev.res.Status == drift.Error && prev.known != nil {
		prev = prev.known
	}
	st := &resourceState{res: res, fingerprint: fp, liveRV: rv, desired: desired}
	if extra != (queueKey{}) {
		st.extra = &extra
	}
	if res.Status == drift.Error && had && prev.res.Status != drift.Error {
		st.known = prev
	}
	var change ChangeType
	drifting := isDrift(res.Status)
	p, restored := m.previous[PreviousKey(res.APIVersion, res.Kind, res.Namespace, res.Name)]
	restored = restored && !had && isDrift(p.Status) && !p.FirstSeen.IsZero()
	switch {
	case restored:
		change = m.restored(st, p, now)
		delete(m.previous, PreviousKey(res.APIVersion, res.Kind, res.Namespace, res.Name))
	case had && prev.fingerprint == fp:
		st.res.FirstSeen, st.res.LastChanged, st.res.ResolvedAt = prev.res.FirstSeen, prev.res.LastChanged, prev.res.ResolvedAt
	case drifting && (!had || !isDrift(prev.res.Status)):
		st.res.FirstSeen, st.res.LastChanged = &now, &now
		change = DriftDetected
	case drifting:
		st.res.FirstSeen, st.res.LastChanged = prev.res.FirstSeen, &now
		change = DriftChanged
	case had && isDrift(prev.res.Status) && res.Status != drift.Error:
		st.res.FirstSeen, st.res.LastChanged, st.res.ResolvedAt = prev.res.FirstSeen, prev.res.LastChanged, &now
		change = DriftResolved
	case had:
		st.res.FirstSeen, st.res.LastChanged, st.res.ResolvedAt = prev.res.FirstSeen, prev.res.LastChanged, prev.res.ResolvedAt
	}
	m.states[key] = st
	if change != "" {
		m.history.Record(Change{Type: change, Resource: st.res, Time: now})
	}
	m.mu.Unlock()
	m.log.Debug("compared", "resource", res.APIVersion+" "+res.ID(), "status", string(res.Status), "fields", len(res.Diffs))
	if change == "" {
		return
	}
	// Paths only: values (Secret data among them) never reach the log.
	paths := make([]string, 0, len(res.Diffs))
	for _, d := range res.Diffs {
		paths = append(paths, d.Path)
	}
	m.log.Info("drift "+string(change), "resource", res.APIVersion+" "+res.ID(), "status", string(res.Status), "paths", paths)
	if m.opts.Notify != nil {
		m.opts.Notify(Change{Type: change, Resource: st.res, Time: now})
	}
}

// restored gives a resource's first verdict the times an earlier process
// published (Previous): the same drift keeps them and is no change.
func (m *Monitor) restored(st *resourceState, p Previous, now time.Time) ChangeType {
	first, last := p.FirstSeen, p.LastChanged
	if last.IsZero() {
		last = first
	}
	res := st.res
	switch {
	case isDrift(res.Status) && p.Status == res.Status && p.Digest == res.DriftDigest():
		st.res.FirstSeen, st.res.LastChanged = &first, &last
		return ""
	case isDrift(res.Status):
		st.res.FirstSeen, st.res.LastChanged = &first, &now
		return DriftChanged
	case res.Status != drift.Error:
		st.res.FirstSeen, st.res.LastChanged, st.res.ResolvedAt = &first, &last, &now
		return DriftResolved
	}
	return ""
}

func isDrift(s drift.Status) bool {
	return s == drift.Drifted || s == drift.Missing || s == drift.Extra
}

// resultFingerprint identifies a verdict: status, error and diffs, without
// the change times in managedFields (they move on every write).
func resultFingerprint(r drift.Resource) string {
	type diff struct {
		Path, Type     string
		Desired, Live  any
		Hashes         string
		Manager, OpKey string
	}
	ds := make([]diff, 0, len(r.Diffs))
	for _, d := range r.Diffs {
		x := diff{Path: d.Path, Type: string(d.Type), Desired: d.Desired, Live: d.Live, Hashes: d.DesiredHash + d.LiveHash}
		if d.ChangedBy != nil {
			x.Manager, x.OpKey = d.ChangedBy.Manager, d.ChangedBy.Operation
		}
		ds = append(ds, x)
	}
	b, _ := json.Marshal(struct {
		S  drift.Status
		E  string
		D  []diff
		IF int
	}{r.Status, r.Error, ds, r.IgnoredFields})
	return string(b)
}

// reconcileExtra brings the Extra objects up to date after a re-plan: it
// looks at every object of the watched scopes (new scopes, objects that
// left Git) and at every Extra already reported (scopes dropped, objects
// now in Git).
func (m *Monitor) reconcileExtra(scopes []informer.Scope, errs map[informer.Scope]error) {
	if m.opts.Tracking == nil {
		return
	}
	seen := map[queueKey]bool{}
	for _, s := range scopes {
		if errs[s] != nil {
			continue
		}
		items, err := m.opts.Manager.List(s)
		if err != nil {
			continue
		}
		for _, u := range items {
			seen[queueKey{s, u.GetName()}] = true
		}
	}
	m.mu.RLock()
	for k, st := range m.states {
		if strings.HasPrefix(k, extraPrefix) && st.extra != nil {
			seen[*st.extra] = true
		}
	}
	m.mu.RUnlock()
	for qk := range seen {
		m.evaluateExtra(qk.scope, qk.name)
	}
}

// evaluateExtra decides whether one live object that is not a target is
// Extra: in a watched scope that synced, carrying the tracking label. An
// Extra that no longer is one (deleted, relabelled, added to Git, its
// scope no longer watched) is resolved and leaves the report.
func (m *Monitor) evaluateExtra(s informer.Scope, name string) {
	key := extraPrefix + targetKey(s, name)
	m.mu.RLock()
	watched := m.scopes[s] && m.scopeErrs[s] == nil
	_, isTarget := m.targets[targetKey(s, name)]
	m.mu.RUnlock()
	var live *unstructured.Unstructured
	if watched && !isTarget {
		// Extra detection reads metadata only: the labels, never the
		// content of objects Git does not declare.
		if r, ok := m.opts.Manager.(informer.Releaser); ok {
			live, _ = r.Metadata(s, name)
			r.Release(s, name)
		} else {
			live, _ = m.opts.Manager.Get(s, name)
		}
	}
	if live != nil && m.opts.Tracking.Matches(labels.Set(live.GetLabels())) {
		res := []drift.Resource{{APIVersion: live.GetAPIVersion(), Kind: live.GetKind(), Namespace: live.GetNamespace(),
			Name: live.GetName(), Status: drift.Extra}}
		m.opts.Evaluator.ClassifyExtra(res) // the user's severity rules, as check does
		m.record(key, res[0], queueKey{s, name}, func() bool {
			// A re-plan may have stopped watching the scope meanwhile (and
			// resolved this Extra already).
			_, t := m.targets[targetKey(s, name)]
			return !t && m.scopes[s] && m.scopeErrs[s] == nil
		})
		return
	}
	now := m.clock.Now()
	m.mu.Lock()
	st, had := m.states[key]
	delete(m.states, key)
	m.mu.Unlock()
	if !had {
		return
	}
	res := st.res
	res.ResolvedAt = &now
	m.history.Gone(res, now)
	m.log.Info("drift "+string(DriftResolved), "resource", res.APIVersion+" "+res.ID(), "status", "no longer extra")
	if m.opts.Notify != nil {
		m.opts.Notify(Change{Type: DriftResolved, Resource: res, Time: now})
	}
}

// sortExtra orders Extra resources as FindExtra does: by kind, then
// namespace/name.
func sortExtra(out []drift.Resource) {
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name
	})
}
