package fleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline/reports"
	"github.com/driftwatch/driftwatch/informer"
)

// Member is one cluster the hub reads: where its reports are and how to
// reach them. A Member with Err set is shown with that error and never
// contacted.
type Member struct {
	Name   string
	Server string
	// Origin says where the member came from, for messages (a kubeconfig
	// context, an Argo CD cluster Secret).
	Origin string
	Config *rest.Config
	Err    error
}

// AuditLog is where the hub writes the transitions it sees (see
// drift/fleet/audit). Append stores a batch atomically; Open returns the
// drifts still open, by Event.Key, from which a restarted hub resumes.
type AuditLog interface {
	Append(ctx context.Context, events []Event) error
	Open(ctx context.Context) (map[string]Event, error)
}

// Options configure a Hub.
type Options struct {
	// Format is the report API the agents write; zero is OpenReports.
	Format reports.Format
	// StaleAfter is how old a source's heartbeat may be before its
	// cluster is Stale. Zero means 10 minutes.
	StaleAfter time.Duration
	// RetryAfter is how long a cluster that refused the hub for good
	// (forbidden, no CRD, a bad configuration aside) waits before the hub
	// tries again. Zero means one minute.
	RetryAfter time.Duration
	// SyncTimeout bounds the first list of a cluster; until then, or when
	// it fails, the cluster is Unreachable (or Forbidden, NoCRD) with the
	// error. Zero means 30 seconds.
	SyncTimeout time.Duration
	// Log, if set, receives every transition of a healthy cluster's
	// resources. Writes happen only while Writing returns true (the
	// leader of several replicas).
	Log     AuditLog
	Writing func() bool
	// OnAudit, if set, is told of each batch written (or the error).
	OnAudit func(events []Event, err error)
	// Now is the clock; time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
}

// Hub keeps a view of many clusters from the report objects their
// driftwatch agents write: per cluster, one informer on the namespaced
// and one on the cluster-scoped report kind, label-selected to
// driftwatch's own objects, reading nothing else. Each object is parsed
// as it arrives and its content released from the informer's cache, so a
// cluster costs its parsed results and the objects' metadata.
//
// Members come and go with SetMembers; Run starts the audit writer and
// the retries and must be running for the hub to make progress. View and
// Ready may be called at any time, from any goroutine.
type Hub struct {
	opts Options
	gvrs [2]informer.Scope // namespaced (all namespaces), cluster-scoped

	mu      sync.Mutex
	members map[string]*member
	ready   bool // every member seen once
	dirty   chan struct{}
	started time.Time
}

type member struct {
	Member
	hub *Hub

	mu      sync.Mutex
	mgr     informer.Manager
	stop    context.CancelFunc
	objects map[string]ReportObject // by "kind|namespace/name"
	synced  bool
	// state when not synced or not connected: the error and its class.
	failState State
	err       error
	since     time.Time
	retryAt   time.Time
	// audit: the drift last written, by key; loaded once.
	written map[string]Resource
	pending bool   // objects changed since the last audit pass
	gen     uint64 // counts the changes of objects, so that an audit pass
	// that raced with one leaves pending set
}

// NewHub returns a Hub with no members.
func NewHub(opts Options) *Hub {
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = 10 * time.Minute
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = time.Minute
	}
	if opts.SyncTimeout <= 0 {
		opts.SyncTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ns, cl := opts.Format.Resources()
	h := &Hub{opts: opts, members: map[string]*member{}, dirty: make(chan struct{}, 1)}
	h.gvrs = [2]informer.Scope{{GVR: ns}, {GVR: cl}}
	return h
}

func (h *Hub) now() time.Time {
	if h.opts.Now != nil {
		return h.opts.Now()
	}
	return time.Now()
}

// SetMembers makes ms the hub's clusters: new ones start, removed ones
// stop and leave the view, ones whose server or credentials changed
// restart. Names must be unique: the first wins, and each later one is
// logged as a warning with its error (clusters.Merge says which origins
// clash), so that the clash is seen, not lost.
func (h *Hub) SetMembers(ms []Member) {
	h.mu.Lock()
	defer h.mu.Unlock()
	keep := map[string]bool{}
	for _, m := range ms {
		if keep[m.Name] {
			err := m.Err
			if err == nil {
				err = fmt.Errorf("cluster %q is named twice", m.Name)
			}
			h.opts.Logger.Warn("cluster not read", "cluster", m.Name, "origin", m.Origin, "error", err.Error())
			continue
		}
		keep[m.Name] = true
		old := h.members[m.Name]
		if old != nil && sameMember(old.Member, m) {
			continue
		}
		if old != nil {
			old.close()
		}
		nm := &member{Member: m, hub: h, objects: map[string]ReportObject{}, failState: Pending, since: h.now()}
		if old != nil {
			old.mu.Lock()
			nm.written = old.written // what the audit log has: never written twice
			old.mu.Unlock()
		}
		h.members[m.Name] = nm
		nm.start()
	}
	for name, m := range h.members {
		if !keep[name] {
			m.close()
			delete(h.members, name)
		}
	}
	h.ready = false
}

func sameMember(a, b Member) bool {
	if a.Server != b.Server || a.Origin != b.Origin || (a.Err == nil) != (b.Err == nil) {
		return false
	}
	if a.Config == nil || b.Config == nil {
		return a.Config == b.Config
	}
	return a.Config.Host == b.Config.Host && a.Config.BearerToken == b.Config.BearerToken &&
		string(a.Config.CertData) == string(b.Config.CertData) && string(a.Config.KeyData) == string(b.Config.KeyData) &&
		string(a.Config.CAData) == string(b.Config.CAData) && a.Config.Username == b.Config.Username &&
		a.Config.Password == b.Config.Password && a.Config.BearerTokenFile == b.Config.BearerTokenFile
}

// start begins listing the member's reports; the first list is waited
// for in the background.
func (m *member) start() {
	if m.Err != nil {
		m.failState, m.err = Unreachable, m.Err
		return
	}
	cfg := rest.CopyConfig(m.Config)
	cfg.UserAgent = "driftwatch-fleet"
	mgr, err := informer.NewManagerForConfig(cfg, informer.Options{
		TweakListOptions: func(_ informer.Scope, o *metav1.ListOptions) {
			o.LabelSelector = reports.ManagedByLabel + "=" + reports.SourceName
		},
	})
	if err != nil {
		m.failState, m.err = Unreachable, fmt.Errorf("fleet: cluster %s: %w", m.Name, err)
		return
	}
	_, _ = mgr.AddEventHandler(informer.EventHandler{OnObject: m.object, OnConnection: m.connection})
	ctx, cancel := context.WithCancel(context.Background())
	m.mgr, m.stop = mgr, cancel
	mgr.Ensure(m.hub.gvrs[:]...)
	go m.waitSync(ctx, mgr)
}

func (m *member) waitSync(ctx context.Context, mgr informer.Manager) {
	wctx, cancel := context.WithTimeout(ctx, m.hub.opts.SyncTimeout)
	defer cancel()
	errs := mgr.WaitForSync(wctx, m.hub.gvrs[:]...)
	if ctx.Err() != nil {
		return
	}
	// A cluster still unreachable keeps trying (client-go retries the
	// list); one that refused for good is tried again after RetryAfter.
	var failed error
	for _, s := range m.hub.gvrs {
		if err := errs[s]; err != nil {
			failed = err
			break
		}
	}
	m.mu.Lock()
	if failed == nil {
		m.synced, m.err, m.failState, m.since = true, nil, "", m.hub.now()
		m.pending = true
	} else {
		m.failState, m.err = classify(failed), fmt.Errorf("list reports: %w", failed)
		if m.failState != Unreachable {
			m.retryAt = m.hub.now().Add(m.hub.opts.RetryAfter)
		}
	}
	m.mu.Unlock()
	m.hub.changed()
	if failed != nil && classify(failed) == Unreachable {
		// Keep waiting: the informer keeps retrying.
		errs := mgr.WaitForSync(ctx, m.hub.gvrs[:]...)
		if ctx.Err() != nil || len(errs) > 0 {
			if ctx.Err() == nil {
				m.mu.Lock()
				m.failState, m.retryAt = classify(firstErr(errs)), m.hub.now().Add(m.hub.opts.RetryAfter)
				m.err = fmt.Errorf("list reports: %w", firstErr(errs))
				m.mu.Unlock()
				m.hub.changed()
			}
			return
		}
		m.mu.Lock()
		m.synced, m.err, m.failState, m.since, m.pending = true, nil, "", m.hub.now(), true
		m.mu.Unlock()
		m.hub.changed()
	}
}

func firstErr(errs map[informer.Scope]error) error {
	for _, err := range errs {
		return err
	}
	return errors.New("informer stopped")
}

// classify names the state of a cluster whose reports cannot be listed.
func classify(err error) State {
	switch {
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		return Forbidden
	case apierrors.IsNotFound(err) || meta.IsNoMatchError(err) || apierrors.IsMethodNotSupported(err):
		return NoCRD
	}
	return Unreachable
}

func (m *member) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stop != nil {
		m.stop()
		m.mgr.Stop()
		m.stop, m.mgr = nil, nil
	}
}

// object keeps what a report object says and lets the cache drop it.
func (m *member) object(s informer.Scope, u *unstructured.Unstructured, t informer.EventType) {
	key := u.GetKind() + "|" + objectName(u)
	if t == informer.Deleted {
		m.mu.Lock()
		delete(m.objects, key)
		m.pending = true
		m.gen++
		m.mu.Unlock()
		m.hub.changed()
		return
	}
	ro, err := ParseReport(m.Name, u)
	if err != nil {
		m.hub.opts.Logger.Warn("report not read", "cluster", m.Name, "error", err.Error())
		return
	}
	m.mu.Lock()
	m.objects[key] = ro
	m.pending = true
	m.gen++
	mgr := m.mgr
	m.mu.Unlock()
	if r, ok := mgr.(informer.Releaser); ok {
		r.Release(s, objectName(u))
	}
	m.hub.changed()
}

func (m *member) connection(_ informer.Scope, err error) {
	m.mu.Lock()
	if (err == nil) != (m.err == nil) {
		m.since = m.hub.now()
	}
	switch {
	case err == nil && m.synced:
		m.failState, m.err = "", nil
	case err == nil:
		m.err = nil
	case m.synced:
		m.failState, m.err = classify(err), fmt.Errorf("watch reports: %w", err)
	default:
		// Not listed yet: the error is shown at once, the first list
		// goes on (waitSync classifies how it ends).
		m.err = fmt.Errorf("list reports: %w", err)
	}
	m.mu.Unlock()
	m.hub.changed()
}

// changed wakes the audit writer.
func (h *Hub) changed() {
	select {
	case h.dirty <- struct{}{}:
	default:
	}
}

// Run writes the audit log and retries refused clusters until ctx ends.
// It first reads the log's open drifts, so that a restarted hub writes
// only what changed while it was away.
func (h *Hub) Run(ctx context.Context) error {
	h.mu.Lock()
	h.started = h.now()
	h.mu.Unlock()
	var open map[string]Event
	if h.opts.Log != nil {
		var err error
		if open, err = h.opts.Log.Open(ctx); err != nil {
			return fmt.Errorf("fleet: audit log: %w", err)
		}
	}
	loaded := map[string]bool{}
	wasWriting := true
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	defer h.stopAll()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.dirty:
		case <-tick.C:
		}
		h.retry()
		writing := h.opts.Writing == nil || h.opts.Writing()
		if h.opts.Log == nil || !writing {
			wasWriting = writing
			continue
		}
		if !wasWriting {
			// This replica just took the Lease: the log holds what the
			// last leader wrote, which is where to go on from.
			o, err := h.opts.Log.Open(ctx)
			if err != nil {
				h.opts.Logger.Warn("audit log not read", "error", err.Error())
				continue
			}
			open, loaded, wasWriting = o, map[string]bool{}, true
		}
		var batch []Event
		var done []func()
		for _, m := range h.snapshot() {
			if !loaded[m.Name] {
				m.mu.Lock()
				m.written = map[string]Resource{}
				for k, e := range open {
					if e.Cluster == m.Name {
						m.written[k] = Resource{Cluster: e.Cluster, APIVersion: e.APIVersion, Kind: e.Kind, Namespace: e.Namespace, Name: e.Name,
							Status: e.Status, Severity: e.Severity, Digest: e.Digest, Paths: e.Paths, Fields: e.Fields}
					}
				}
				m.mu.Unlock()
				loaded[m.Name] = true
			}
			evs, commit := m.audit(h.now())
			if len(evs) > 0 {
				batch = append(batch, evs...)
				done = append(done, commit)
			}
		}
		if len(batch) == 0 {
			continue
		}
		err := h.opts.Log.Append(ctx, batch)
		if h.opts.OnAudit != nil {
			h.opts.OnAudit(batch, err)
		}
		if err != nil {
			h.opts.Logger.Warn("audit log not written", "events", len(batch), "error", err.Error())
			continue // the same transitions are tried again
		}
		for _, f := range done {
			f()
		}
	}
}

func (h *Hub) stopAll() {
	for _, m := range h.snapshot() {
		m.close()
	}
}

// retry restarts the clusters that refused the hub once RetryAfter has
// passed.
func (h *Hub) retry() {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	for name, m := range h.members {
		m.mu.Lock()
		due := !m.retryAt.IsZero() && now.After(m.retryAt) && m.Err == nil
		m.mu.Unlock()
		if !due {
			continue
		}
		m.close()
		nm := &member{Member: m.Member, hub: h, objects: map[string]ReportObject{}, failState: m.failState, err: m.err, since: m.since,
			written: m.written}
		h.members[name] = nm
		nm.start()
	}
}

// audit returns the transitions of the member's drift since the last
// audit pass, and the function that records them as written. A cluster
// that is not connected and synced is skipped: its drift is unknown.
func (m *member) audit(now time.Time) ([]Event, func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.pending || !m.synced || m.err != nil || len(m.objects) == 0 {
		return nil, nil
	}
	next := map[string]Resource{}
	inSync := map[string]bool{}
	for _, o := range m.objects {
		for _, r := range o.Resources {
			switch {
			case r.IsDrift():
				if p, ok := next[r.Key()]; !ok || auditFirst(r, p) {
					next[r.Key()] = r
				}
			case r.Status == drift.InSync:
				inSync[r.Key()] = true
			}
		}
	}
	gen := m.gen
	evs := Diff(m.written, next, func(k string) bool { return inSync[k] }, now)
	done := func() {
		m.written = next
		// An object that arrived during the write is the next pass's.
		m.pending = m.gen != gen
	}
	if len(evs) == 0 {
		done()
		return nil, nil
	}
	return evs, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		done()
	}
}

// auditFirst reports whether r goes in the audit log before than, the
// same resource drifted in another source's report: the more severe,
// then the first policy. Without one order, two sources that declare
// one resource would take turns at each pass, each turn a Changed event.
func auditFirst(r, than Resource) bool {
	return cmp.Or(than.Severity.Compare(r.Severity), cmp.Compare(r.Policy, than.Policy)) < 0
}

func (h *Hub) snapshot() []*member {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*member, 0, len(h.members))
	for _, m := range h.members {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *member) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func compareResources(a, b Resource) int {
	return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.Name, b.Name), cmp.Compare(a.APIVersion, b.APIVersion), cmp.Compare(a.Policy, b.Policy))
}

// Ready reports whether every member has been listed once, or has
// failed.
func (h *Hub) Ready() bool {
	h.mu.Lock()
	if h.ready {
		h.mu.Unlock()
		return true
	}
	h.mu.Unlock()
	for _, m := range h.snapshot() {
		m.mu.Lock()
		pending := !m.synced && m.failState == Pending && m.err == nil
		m.mu.Unlock()
		if pending {
			return false
		}
	}
	h.mu.Lock()
	h.ready = true
	h.mu.Unlock()
	return true
}

// View returns the fleet as the hub sees it now, narrowed by f (see
// Filter; resources in sync only when f asks for them). Clusters not in
// f are not even read.
func (h *Hub) View(f Filter) View {
	now := h.now()
	v := View{GeneratedAt: now, Clusters: []Cluster{}, Resources: []Resource{}}
	for _, m := range h.snapshot() {
		if !match(f.Clusters, m.Name) {
			continue
		}
		sub := f
		sub.Clusters = nil
		c, rs := m.view(now, h.opts.StaleAfter, sub)
		v.Clusters = append(v.Clusters, c)
		v.Resources = append(v.Resources, rs...)
	}
	slices.SortFunc(v.Resources, compareResources)
	v.Summary = Summarize(v.Clusters, v.Resources)
	return v
}

// view is the member's line and those of its resources f keeps, in no
// order.
func (m *member) view(now time.Time, staleAfter time.Duration, f Filter) (Cluster, []Resource) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := Cluster{Name: m.Name, Server: m.Server, Sources: []Source{}}
	if !m.since.IsZero() {
		since := m.since
		c.Since = &since
	}
	if !m.synced || m.err != nil {
		c.State = cmp.Or(m.failState, Unreachable)
		if c.State == Pending && m.err != nil {
			c.State = classify(m.err)
		}
		if c.State == Pending {
			c.Error = "reports not listed yet"
		}
		if m.err != nil {
			c.Error = m.err.Error()
		}
		if !m.synced {
			return c, nil
		}
	}
	bySource := map[string]*Source{}
	for _, o := range m.objects {
		if o.CheckedAt.IsZero() {
			continue
		}
		t := o.CheckedAt
		bySource[o.Policy] = &Source{Policy: o.Policy, CheckedAt: &t, Agent: o.Agent}
	}
	var kept []Resource
	for _, o := range m.objects {
		for _, r := range o.Resources {
			s := bySource[r.Policy]
			if s == nil {
				s = &Source{Policy: r.Policy}
				bySource[r.Policy] = s
			}
			if s.Revision == "" {
				s.Revision = r.Revision
			}
			switch {
			case r.IsDrift():
				c.Drifted++
				if r.Severity.Rank() > c.Severity.Rank() {
					c.Severity = r.Severity
				}
			case r.Status == drift.InSync:
				c.InSync++
			case r.Status == drift.Error:
				c.Errors++
			}
			if f.keeps(r) {
				kept = append(kept, r)
			}
		}
	}
	var stale []string
	for _, s := range bySource {
		c.Sources = append(c.Sources, *s)
		if s.CheckedAt == nil {
			stale = append(stale, fmt.Sprintf("%s: no heartbeat", s.Policy))
			continue
		}
		if c.CheckedAt == nil || s.CheckedAt.After(*c.CheckedAt) {
			c.CheckedAt = s.CheckedAt
		}
		if age := now.Sub(*s.CheckedAt); age > staleAfter {
			stale = append(stale, fmt.Sprintf("%s: last heartbeat %s ago, older than %s", s.Policy, age.Round(time.Second), staleAfter))
		}
	}
	slices.SortFunc(c.Sources, func(a, b Source) int { return cmp.Compare(a.Policy, b.Policy) })
	slices.Sort(stale)
	switch {
	case c.State != "":
		// unreachable since the last list: the cached view is shown.
	case len(m.objects) == 0:
		c.State, c.Error = NoReports, "no driftwatch report in the cluster: is an agent running with --reports?"
	case len(stale) > 0:
		c.State, c.Error = Stale, strings.Join(stale, "; ")
	case c.Drifted > 0:
		c.State = Drifted
	default:
		c.State = InSync
	}
	return c, kept
}
