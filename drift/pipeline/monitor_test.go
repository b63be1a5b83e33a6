package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/informer"
	"github.com/driftwatch/driftwatch/informer/informertest"
)

// These tests run a Monitor against the in-memory informer Manager and
// Resolver of informertest: no API server. Git is a variable the test
// sets; polls happen when the test steps the fake clock (monEnv.poll), and
// live changes reach the Monitor as informer events (Add, Update, Delete
// on the fake).

var (
	monConfigMaps      = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	monServiceAccounts = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	monWidgets         = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	monWidgetKind      = schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}
)

func monCMs(ns string) informer.Scope { return informer.Scope{GVR: monConfigMaps, Namespace: ns} }

const (
	// monInterval is the Git poll interval; the test steps the fake clock
	// by it to make the Monitor poll.
	monInterval = 10 * time.Second
	// monWait bounds every wait for the Monitor.
	monWait = 5 * time.Second
	// monManaged is the tracking label of the Extra tests.
	monManaged = "app.kubernetes.io/managed-by"
)

var monStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// monCM is a ConfigMap with data k=value and, if set, the tracking label.
func monCM(t *testing.T, ns, name, value string, tracked bool) *unstructured.Unstructured {
	t.Helper()
	lbl := ""
	if tracked {
		lbl = fmt.Sprintf("\n  labels: {%s: driftwatch}", monManaged)
	}
	return obj(t, fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s%s\ndata: {k: %q}\n", name, ns, lbl, value))
}

// monEnv is a Monitor wired to the fakes, with Git in a variable.
type monEnv struct {
	t     *testing.T
	mgr   *informertest.Manager
	res   *informertest.Resolver
	clock *clocktesting.FakeClock
	mon   *Monitor

	changes  chan Change
	overflow atomic.Int64

	mu      sync.Mutex
	desired *gitsource.Desired
	loadErr error
	loads   int

	cancel context.CancelFunc
	done   chan error
}

// newMonEnv returns an environment serving ConfigMaps and ServiceAccounts
// (not Widgets); tweak, if set, adjusts the options before NewMonitor.
func newMonEnv(t *testing.T, tweak func(*MonitorOptions)) *monEnv {
	t.Helper()
	e := &monEnv{
		t:       t,
		mgr:     informertest.New(),
		res:     informertest.NewResolver(),
		clock:   clocktesting.NewFakeClock(monStart),
		changes: make(chan Change, 256),
	}
	e.res.SetMapping(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
		informer.Mapping{GVR: monConfigMaps, Namespaced: true})
	e.res.SetMapping(schema.GroupVersionKind{Version: "v1", Kind: "ServiceAccount"},
		informer.Mapping{GVR: monServiceAccounts, Namespaced: true})
	opts := MonitorOptions{
		Load:      e.load,
		Interval:  monInterval,
		RetryBase: time.Second,
		Resolver:  e.res,
		Manager:   e.mgr,
		Evaluator: &Evaluator{Live: e.mgr},
		Clock:     e.clock,
		Notify: func(c Change) {
			select {
			case e.changes <- c:
			default:
				e.overflow.Add(1)
			}
		},
	}
	if tweak != nil {
		tweak(&opts)
	}
	e.mon = NewMonitor(opts)
	return e
}

func (e *monEnv) load(context.Context) (*gitsource.Desired, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.loads++
	if e.loadErr != nil {
		return nil, e.loadErr
	}
	if e.desired == nil {
		return nil, errors.New("test: no desired state set")
	}
	return e.desired, nil
}

// setGit makes the next polls load commit with objs.
func (e *monEnv) setGit(commit string, objs ...*unstructured.Unstructured) {
	d := &gitsource.Desired{Revision: gitsource.Revision{URL: "https://git.example/apps.git", Commit: commit}}
	for i, u := range objs {
		o := gitsource.Object{Object: u.DeepCopy(), Origin: u.GetName() + ".yaml"}
		if i%2 == 1 {
			// Packed, as driftwatch watch renders them; the others are
			// packed by the Monitor.
			var err error
			if o, err = o.Pack(); err != nil {
				e.t.Fatal(err)
			}
		}
		d.Objects = append(d.Objects, o)
	}
	e.mu.Lock()
	e.desired, e.loadErr = d, nil
	e.mu.Unlock()
}

func (e *monEnv) setLoadErr(err error) {
	e.mu.Lock()
	e.loadErr = err
	e.mu.Unlock()
}

func (e *monEnv) loadCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.loads
}

// start runs the Monitor until the test ends, polls once and waits for
// the first report.
func (e *monEnv) start() {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- e.mon.Run(ctx, 1) }()
	e.t.Cleanup(func() {
		e.stop()
		if n := e.overflow.Load(); n > 0 {
			e.t.Errorf("%d notifications dropped: the test did not read them", n)
		}
	})
	e.poll()
	e.eventually("the first report", func() (bool, string) { return e.mon.Ready(), "not ready" })
}

// stop cancels Run and waits for it to return nil.
func (e *monEnv) stop() {
	e.t.Helper()
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("Run: %v, want nil on cancellation", err)
		}
	case <-time.After(monWait):
		e.t.Errorf("Run did not return within %v of cancellation", monWait)
	}
}

// poll makes the Monitor load Git once more: it steps the fake clock by
// the interval until Load is called (the poll timer may not be armed yet,
// or a retry may wait longer). It does not wait for the reconcile.
func (e *monEnv) poll() {
	e.t.Helper()
	n := e.loadCount()
	e.eventually("a Git poll", func() (bool, string) {
		if e.loadCount() > n {
			return true, ""
		}
		e.clock.Step(monInterval)
		return false, fmt.Sprintf("%d loads", e.loadCount())
	})
}

// eventually polls cond every 2ms until it holds, failing after monWait
// with cond's last diagnostic.
func (e *monEnv) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(monWait)
	for {
		ok, diag := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %v waiting for %s: %s", monWait, what, diag)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// monRow is what these tests compare of a reported resource.
type monRow struct {
	Kind, Namespace, Name string
	Status                drift.Status
	Error                 string
}

func monRows(r *drift.Report) []monRow {
	out := []monRow{}
	for _, res := range r.Resources {
		out = append(out, monRow{res.Kind, res.Namespace, res.Name, res.Status, res.Error})
	}
	return out
}

// waitRows waits until the report lists the resources of want, then
// checks their order, in several reports: Extra resources come from a map,
// so waiting for the order could pass by chance.
func (e *monEnv) waitRows(want ...monRow) *drift.Report {
	e.t.Helper()
	anyOrder := cmpopts.SortSlices(func(a, b monRow) bool { return fmt.Sprint(a) < fmt.Sprint(b) })
	e.eventually("the report", func() (bool, string) {
		diff := cmp.Diff(want, monRows(e.mon.Report()), anyOrder)
		return diff == "", "resources, in any order (-want +got):\n" + diff
	})
	var r *drift.Report
	for range 20 {
		r = e.mon.Report()
		if diff := cmp.Diff(want, monRows(r)); diff != "" {
			e.t.Fatalf("resources (-want +got):\n%s", diff)
		}
	}
	return r
}

// monChange is what these tests compare of a notification; times are
// zero when unset.
type monChange struct {
	Type                               ChangeType
	Kind, Name                         string
	Status                             drift.Status
	FirstSeen, LastChanged, ResolvedAt time.Time
}

func monChangeOf(c Change) monChange {
	tm := func(p *time.Time) time.Time {
		if p == nil {
			return time.Time{}
		}
		return *p
	}
	r := c.Resource
	return monChange{c.Type, r.Kind, r.Name, r.Status, tm(r.FirstSeen), tm(r.LastChanged), tm(r.ResolvedAt)}
}

// monIgnoreTimes compares monChanges without their times.
var monIgnoreTimes = cmpopts.IgnoreFields(monChange{}, "FirstSeen", "LastChanged", "ResolvedAt")

// nextChanges waits for n notifications.
func (e *monEnv) nextChanges(n int) []monChange {
	e.t.Helper()
	var got []monChange
	deadline := time.After(monWait)
	for len(got) < n {
		select {
		case c := <-e.changes:
			got = append(got, monChangeOf(c))
		case <-deadline:
			e.t.Fatalf("got %d notifications within %v, want %d: %+v", len(got), monWait, n, got)
		}
	}
	return got
}

// pending returns the notifications already sent and not read.
func (e *monEnv) pending() []monChange {
	var got []monChange
	for {
		select {
		case c := <-e.changes:
			got = append(got, monChangeOf(c))
		default:
			return got
		}
	}
}

// byName sorts notifications whose order the Monitor does not fix.
func monByName(cs []monChange) []monChange {
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	return cs
}

func monScopeNames(ss []informer.Scope) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.String())
	}
	sort.Strings(out)
	return out
}

func monCountScope(ss []informer.Scope, s informer.Scope) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}

// monSlowLister delays every Get, so that the comparisons of a report
// take long enough for a Monitor that said Ready too early to be caught.
type monSlowLister struct{ Lister }

func (l monSlowLister) Get(s informer.Scope, name string) (*unstructured.Unstructured, error) {
	time.Sleep(3 * time.Millisecond)
	return l.Lister.Get(s, name)
}

func TestMonitorFirstReport(t *testing.T) {
	e := newMonEnv(t, func(o *MonitorOptions) { o.Evaluator = &Evaluator{Live: monSlowLister{o.Manager}} })
	e.mgr.Add(monCMs("team-a"), monCM(t, "team-a", "same", "v", false))
	e.mgr.Add(monCMs("team-a"), monCM(t, "team-a", "drifted", "live", false))
	e.setGit("rev1", monCM(t, "team-a", "same", "v", false), monCM(t, "team-a", "drifted", "v", false))
	if e.mon.Ready() {
		t.Fatal("Ready before Run")
	}
	e.start()

	r := e.mon.Report()
	want := []monRow{
		{"ConfigMap", "team-a", "same", drift.InSync, ""},
		{"ConfigMap", "team-a", "drifted", drift.Drifted, ""},
	}
	if diff := cmp.Diff(want, monRows(r)); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	if r.Source.Commit != "rev1" || r.Stale != nil || r.Disconnected != nil {
		t.Errorf("report: source %+v, stale %+v, disconnected %+v", r.Source, r.Stale, r.Disconnected)
	}
	if d := r.Resources[1].Diffs; len(d) != 1 || d[0].Path != "data.k" {
		t.Errorf("diffs of the drifted ConfigMap: %+v, want data.k", d)
	}
	// Ready is set after every comparison of the first report, and each
	// notifies before the next: all its notifications are sent.
	got := e.pending()
	if diff := cmp.Diff([]monChange{{Type: DriftDetected, Kind: "ConfigMap", Name: "drifted", Status: drift.Drifted}},
		got, monIgnoreTimes); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
	}
	if len(got) == 1 && (got[0].FirstSeen.IsZero() || !got[0].FirstSeen.Equal(got[0].LastChanged)) {
		t.Errorf("detection times: %+v, want FirstSeen = LastChanged, set", got[0])
	}
	if diff := cmp.Diff(monScopeNames([]informer.Scope{CRDScope, monCMs("team-a")}), monScopeNames(e.mgr.Scopes())); diff != "" {
		t.Errorf("informers (-want +got):\n%s", diff)
	}
	if n := e.mgr.Handlers(); n != 1 {
		t.Errorf("%d event handlers registered, want 1 (the Monitor's)", n)
	}

	// The handler Run registered receives the informers' events.
	e.mgr.Update(monCMs("team-a"), monCM(t, "team-a", "same", "edited", false))
	if diff := cmp.Diff([]monChange{{Type: DriftDetected, Kind: "ConfigMap", Name: "same", Status: drift.Drifted}},
		e.nextChanges(1), monIgnoreTimes); diff != "" {
		t.Errorf("notification after a live update (-want +got):\n%s", diff)
	}
	e.waitRows(
		monRow{"ConfigMap", "team-a", "same", drift.Drifted, ""},
		monRow{"ConfigMap", "team-a", "drifted", drift.Drifted, ""},
	)
}

// monConfirmer is a server-side apply dry run that agrees with Git, or
// fails while err is set.
type monConfirmer struct {
	mu  sync.Mutex
	err error
}

func (c *monConfirmer) DryRun(_ context.Context, t Target) (*unstructured.Unstructured, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	return t.Object.Object, nil
}

func (c *monConfirmer) set(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

// TestMonitorLiveChanges follows one ConfigMap through live changes, with
// drift confirmed by a dry run. Each step moves the fake clock a minute
// first, so that the times say which step set them.
func TestMonitorLiveChanges(t *testing.T) {
	scope := monCMs("team-a")
	conf := &monConfirmer{}
	e := newMonEnv(t, func(o *MonitorOptions) { o.Evaluator.Confirm = conf })
	e.mgr.Add(scope, monCM(t, "team-a", "web", "one", false))
	e.setGit("rev1", monCM(t, "team-a", "web", "v", false))
	e.start()
	first := e.pending()
	if len(first) != 1 || first[0].Type != DriftDetected {
		t.Fatalf("first notifications: %+v, want one detection", first)
	}
	// at[i] is the time of step i; at[0] the first report's.
	at := []time.Time{first[0].FirstSeen}
	const none = -1
	touched := func(value, n string) *unstructured.Unstructured {
		u := monCM(t, "team-a", "web", value, false)
		u.SetAnnotations(map[string]string{"touched": n})
		return u
	}
	timeout := errors.New("dry run: context deadline exceeded")

	for _, step := range []struct {
		name   string
		act    func()
		status drift.Status
		err    string
		// notify is the notification expected, nil for none. The times,
		// of the notification and of the report, are indices into at,
		// none for unset.
		notify                             *ChangeType
		firstSeen, lastChanged, resolvedAt int
	}{{
		name:   "drift changes",
		act:    func() { e.mgr.Update(scope, monCM(t, "team-a", "web", "two", false)) },
		status: drift.Drifted, notify: monPtr(DriftChanged),
		firstSeen: 0, lastChanged: 1, resolvedAt: none,
	}, {
		name: "comparison fails: an error, not a resolution",
		act: func() {
			conf.set(timeout)
			e.mgr.Update(scope, touched("two", "1"))
		},
		status: drift.Error, err: timeout.Error(),
		firstSeen: 0, lastChanged: 1, resolvedAt: none,
	}, {
		name: "comparison works again: the same drift, no news",
		act: func() {
			conf.set(nil)
			e.mgr.Update(scope, touched("two", "2"))
		},
		status:    drift.Drifted,
		firstSeen: 0, lastChanged: 1, resolvedAt: none,
	}, {
		name:   "drift fixed",
		act:    func() { e.mgr.Update(scope, monCM(t, "team-a", "web", "v", false)) },
		status: drift.InSync, notify: monPtr(DriftResolved),
		firstSeen: 0, lastChanged: 1, resolvedAt: 4,
	}, {
		name:   "deleted: missing",
		act:    func() { e.mgr.Delete(scope, "web") },
		status: drift.Missing, notify: monPtr(DriftDetected),
		firstSeen: 5, lastChanged: 5, resolvedAt: none,
	}, {
		name:   "recreated as desired",
		act:    func() { e.mgr.Add(scope, monCM(t, "team-a", "web", "v", false)) },
		status: drift.InSync, notify: monPtr(DriftResolved),
		firstSeen: 5, lastChanged: 5, resolvedAt: 6,
	}} {
		e.clock.Step(time.Minute)
		at = append(at, e.clock.Now())
		step.act()
		tm := func(i int) time.Time {
			if i == none {
				return time.Time{}
			}
			return at[i]
		}
		want := monChange{"", "ConfigMap", "web", step.status, tm(step.firstSeen), tm(step.lastChanged), tm(step.resolvedAt)}
		// A notification that is not expected shows up ahead of the next
		// step's: one worker compares in event order.
		if step.notify != nil {
			want.Type = *step.notify
			if diff := cmp.Diff([]monChange{want}, e.nextChanges(1)); diff != "" {
				t.Fatalf("%s: notification (-want +got):\n%s", step.name, diff)
			}
		}
		r := e.waitRows(monRow{"ConfigMap", "team-a", "web", step.status, step.err})
		want.Type = ""
		if diff := cmp.Diff(want, monChangeOf(Change{Resource: r.Resources[0]})); diff != "" {
			t.Fatalf("%s: report (-want +got):\n%s", step.name, diff)
		}
	}
	if got := e.pending(); len(got) > 0 {
		t.Errorf("unexpected notifications: %+v", got)
	}
}

func monPtr[T any](v T) *T { return &v }

// TestMonitorGitChange: a new revision drops an object (and the only need
// for its scope) and adds one of another kind in another namespace.
func TestMonitorGitChange(t *testing.T) {
	saScope := informer.Scope{GVR: monServiceAccounts, Namespace: "team-b"}
	e := newMonEnv(t, nil)
	e.mgr.Add(monCMs("team-a"), monCM(t, "team-a", "keep", "v", false))
	e.mgr.Add(monCMs("team-old"), monCM(t, "team-old", "old", "live", false))
	e.mgr.Add(saScope, obj(t, "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: bot, namespace: team-b}\nautomountServiceAccountToken: false\n"))
	e.setGit("rev1", monCM(t, "team-a", "keep", "v", false), monCM(t, "team-old", "old", "v", false))
	e.start()
	e.waitRows(
		monRow{"ConfigMap", "team-a", "keep", drift.InSync, ""},
		monRow{"ConfigMap", "team-old", "old", drift.Drifted, ""},
	)
	if diff := cmp.Diff(monScopeNames([]informer.Scope{CRDScope, monCMs("team-a"), monCMs("team-old")}), monScopeNames(e.mgr.Scopes())); diff != "" {
		t.Errorf("informers at rev1 (-want +got):\n%s", diff)
	}
	e.pending() // the detection of "old"

	e.setGit("rev2", monCM(t, "team-a", "keep", "v", false),
		obj(t, "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: bot, namespace: team-b}\nautomountServiceAccountToken: false\n"))
	e.poll()
	r := e.waitRows(
		monRow{"ConfigMap", "team-a", "keep", drift.InSync, ""},
		monRow{"ServiceAccount", "team-b", "bot", drift.InSync, ""},
	)
	if r.Source.Commit != "rev2" {
		t.Errorf("report source commit %q, want rev2", r.Source.Commit)
	}
	if diff := cmp.Diff(monScopeNames([]informer.Scope{CRDScope, monCMs("team-a"), saScope}), monScopeNames(e.mgr.Scopes())); diff != "" {
		t.Errorf("informers at rev2 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]informer.Scope{monCMs("team-old")}, e.mgr.Removed()); diff != "" {
		t.Errorf("informers removed (-want +got):\n%s", diff)
	}
	started := e.mgr.Started()
	for s, want := range map[informer.Scope]int{CRDScope: 1, monCMs("team-a"): 1, monCMs("team-old"): 1, saScope: 1} {
		if n := monCountScope(started, s); n != want {
			t.Errorf("informer %s started %d times, want %d (all: %v)", s, n, want, monScopeNames(started))
		}
	}
	if _, rev := e.mon.GitStatus(); rev.Commit != "rev2" {
		t.Errorf("GitStatus revision %q, want rev2", rev.Commit)
	}
	if got := e.pending(); len(got) > 0 {
		t.Errorf("unexpected notifications: %+v", got)
	}
}

// TestMonitorPendingKind: a custom resource whose CRD is missing is
// reported as a pending kind until a CRD event makes the Monitor resolve
// its kinds again.
func TestMonitorPendingKind(t *testing.T) {
	e := newMonEnv(t, nil)
	e.mgr.Add(monCMs("team-a"), monCM(t, "team-a", "a", "v", false))
	widget := func() *unstructured.Unstructured {
		return obj(t, "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: team-a}\nspec: {size: 3}\n")
	}
	e.setGit("rev1", monCM(t, "team-a", "a", "v", false), widget())
	e.start()
	e.waitRows(
		monRow{"ConfigMap", "team-a", "a", drift.InSync, ""},
		monRow{"Widget", "team-a", "w", drift.Error, "pending kind: example.com/v1 Widget is not served by the cluster"},
	)
	widgetScope := informer.Scope{GVR: monWidgets, Namespace: "team-a"}
	if n := monCountScope(e.mgr.Scopes(), widgetScope); n != 0 {
		t.Errorf("an informer runs for the unresolved kind")
	}

	// The CRD is installed: discovery serves the kind, the live object
	// exists, and the CRD informer reports the CRD.
	invalidated := e.res.Invalidations()
	e.res.SetMapping(monWidgetKind, informer.Mapping{GVR: monWidgets, Namespaced: true})
	e.mgr.Add(widgetScope, widget())
	e.mgr.Add(CRDScope, obj(t, "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\n"))
	e.waitRows(
		monRow{"ConfigMap", "team-a", "a", drift.InSync, ""},
		monRow{"Widget", "team-a", "w", drift.InSync, ""},
	)
	if n := e.res.Invalidations(); n <= invalidated {
		t.Errorf("the resolver was not invalidated before resolving again (%d calls)", n)
	}
	if n := monCountScope(e.mgr.Scopes(), widgetScope); n != 1 {
		t.Errorf("no informer for the resolved kind: %v", monScopeNames(e.mgr.Scopes()))
	}
	if got := e.pending(); len(got) > 0 {
		t.Errorf("unexpected notifications: %+v", got)
	}
}

// TestMonitorDiscoveryError: while discovery fails (the API server
// restarts), kinds resolved before keep their informers and verdicts; a
// new object waits, and the next Git poll resolves it, unchanged commit
// or not.
func TestMonitorDiscoveryError(t *testing.T) {
	cmKind := schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	scope := monCMs("team-a")
	e := newMonEnv(t, nil)
	e.mgr.Add(scope, monCM(t, "team-a", "a", "v", false))
	e.mgr.Add(scope, monCM(t, "team-a", "b", "v", false))
	e.setGit("rev1", monCM(t, "team-a", "a", "v", false))
	e.start()

	unavailable := errors.New("the server is currently unable to handle the request")
	e.res.SetError(cmKind, unavailable)
	e.setGit("rev2", monCM(t, "team-a", "a", "v", false), monCM(t, "team-a", "b", "v", false))
	e.poll()
	e.waitRows(
		monRow{"ConfigMap", "team-a", "a", drift.InSync, ""},
		monRow{"ConfigMap", "team-a", "b", drift.Error, "pending kind: " + unavailable.Error()},
	)
	if removed := e.mgr.Removed(); len(removed) != 0 {
		t.Errorf("informers removed during the outage: %v", monScopeNames(removed))
	}

	invalidated := e.res.Invalidations()
	e.res.SetError(cmKind, nil)
	e.poll()
	e.waitRows(
		monRow{"ConfigMap", "team-a", "a", drift.InSync, ""},
		monRow{"ConfigMap", "team-a", "b", drift.InSync, ""},
	)
	if n := e.res.Invalidations(); n <= invalidated {
		t.Errorf("the resolver was not invalidated before resolving again (%d calls)", n)
	}
	if n := monCountScope(e.mgr.Started(), scope); n != 1 {
		t.Errorf("informer started %d times, want 1", n)
	}
	if got := e.pending(); len(got) > 0 {
		t.Errorf("unexpected notifications: %+v", got)
	}
}

// TestMonitorSyncError: the resources of a scope whose informer cannot
// sync are errors; the informer is started again at the next re-plan.
func TestMonitorSyncError(t *testing.T) {
	forbidden := errors.New(`configmaps is forbidden: User "driftwatch" cannot list resource "configmaps" in API group "" in the namespace "team-a"`)
	e := newMonEnv(t, nil)
	e.mgr.Add(monCMs("team-a"), monCM(t, "team-a", "a", "v", false))
	e.mgr.Add(monCMs("team-b"), monCM(t, "team-b", "b", "v", false))
	e.mgr.SetSyncError(monCMs("team-a"), forbidden)
	e.setGit("rev1", monCM(t, "team-a", "a", "v", false), monCM(t, "team-b", "b", "v", false))
	e.start()
	r := e.waitRows(
		monRow{"ConfigMap", "team-a", "a", drift.Error, forbidden.Error()},
		monRow{"ConfigMap", "team-b", "b", drift.InSync, ""},
	)
	if r.Disconnected != nil {
		t.Errorf("Disconnected %+v: a scope that never synced is an error, not a disconnection", r.Disconnected)
	}

	// Permission granted; a re-plan (here a CRD event) retries the informer.
	e.mgr.SetSyncError(monCMs("team-a"), nil)
	e.mgr.Update(CRDScope, obj(t, "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\n"))
	e.waitRows(
		monRow{"ConfigMap", "team-a", "a", drift.InSync, ""},
		monRow{"ConfigMap", "team-b", "b", drift.InSync, ""},
	)
	if n := monCountScope(e.mgr.Removed(), monCMs("team-a")); n != 1 {
		t.Errorf("failed informer removed %d times, want 1", n)
	}
	if n := monCountScope(e.mgr.Started(), monCMs("team-a")); n != 2 {
		t.Errorf("failed informer started %d times, want 2", n)
	}
	if n := monCountScope(e.mgr.Started(), monCMs("team-b")); n != 1 {
		t.Errorf("healthy informer started %d times, want 1", n)
	}
	if got := e.pending(); len(got) > 0 {
		t.Errorf("unexpected notifications: %+v", got)
	}
}

// TestMonitorGitError: while Git fails, the report is stale and keeps the
// last good desired state; live changes are still followed.
func TestMonitorGitError(t *testing.T) {
	scope := monCMs("team-a")
	e := newMonEnv(t, nil)
	e.mgr.Add(scope, monCM(t, "team-a", "a", "v", false))
	e.setGit("rev1", monCM(t, "team-a", "a", "v", false))
	e.start()
	okAt, _ := e.mon.GitStatus()

	e.setLoadErr(errors.New("fetch origin: connection refused"))
	e.poll()
	var r *drift.Report
	e.eventually("a stale report", func() (bool, string) {
		r = e.mon.Report()
		return r.Stale != nil, "not stale"
	})
	if r.Stale.Reason != "fetch origin: connection refused" || r.Stale.Since.Before(okAt) || r.Stale.Since.After(e.clock.Now()) {
		t.Errorf("Stale %+v, want the error since the failed poll (last good %v)", r.Stale, okAt)
	}
	if diff := cmp.Diff([]monRow{{"ConfigMap", "team-a", "a", drift.InSync, ""}}, monRows(r)); diff != "" {
		t.Errorf("stale report resources (-want +got):\n%s", diff)
	}
	if r.Source.Commit != "rev1" {
		t.Errorf("stale report source %q, want the last good rev1", r.Source.Commit)
	}
	if n := e.mon.GitErrors(); n < 1 {
		t.Errorf("GitErrors %d", n)
	}
	if at, _ := e.mon.GitStatus(); !at.Equal(okAt) {
		t.Errorf("GitStatus time moved to %v on failure", at)
	}

	e.mgr.Update(scope, monCM(t, "team-a", "a", "edited", false))
	if diff := cmp.Diff([]monChange{{Type: DriftDetected, Kind: "ConfigMap", Name: "a", Status: drift.Drifted}},
		e.nextChanges(1), monIgnoreTimes); diff != "" {
		t.Errorf("notification while stale (-want +got):\n%s", diff)
	}

	// A second failure keeps the first one's time.
	since := r.Stale.Since
	e.setLoadErr(errors.New("fetch origin: timeout"))
	e.poll()
	e.eventually("the second failure", func() (bool, string) {
		r = e.mon.Report()
		return r.Stale != nil && r.Stale.Reason == "fetch origin: timeout", fmt.Sprintf("stale %+v", r.Stale)
	})
	if !r.Stale.Since.Equal(since) {
		t.Errorf("Stale.Since moved from %v to %v", since, r.Stale.Since)
	}

	e.setLoadErr(nil)
	e.poll()
	e.eventually("a current report", func() (bool, string) {
		r = e.mon.Report()
		return r.Stale == nil, fmt.Sprintf("stale %+v", r.Stale)
	})
	if diff := cmp.Diff([]monRow{{"ConfigMap", "team-a", "a", drift.Drifted, ""}}, monRows(r)); diff != "" {
		t.Errorf("resources after recovery (-want +got):\n%s", diff)
	}
	if at, _ := e.mon.GitStatus(); !at.After(okAt) {
		t.Errorf("GitStatus time %v not after the last good %v", at, okAt)
	}
}

func TestMonitorExtra(t *testing.T) {
	tracking := labels.SelectorFromSet(labels.Set{monManaged: "driftwatch"})
	scope := monCMs("team-a")
	// setup gives both cases the same cluster: one desired ConfigMap, three
	// tracked ones not in Git, one untracked, and a tracked one in a
	// namespace Git does not use.
	setup := func(t *testing.T, sel labels.Selector) *monEnv {
		e := newMonEnv(t, func(o *MonitorOptions) { o.Tracking = sel })
		e.mgr.Add(scope, monCM(t, "team-a", "a", "v", true))
		for _, n := range []string{"orphan-3", "orphan-1", "orphan-2"} {
			e.mgr.Add(scope, monCM(t, "team-a", n, "x", true))
		}
		e.mgr.Add(scope, monCM(t, "team-a", "untracked", "x", false))
		e.mgr.Add(monCMs("elsewhere"), monCM(t, "elsewhere", "orphan", "x", true))
		e.setGit("rev1", monCM(t, "team-a", "a", "v", true))
		e.start()
		return e
	}
	a := monRow{"ConfigMap", "team-a", "a", drift.InSync, ""}
	extra := func(name string) monRow { return monRow{"ConfigMap", "team-a", name, drift.Extra, ""} }
	change := func(typ ChangeType, name string) monChange {
		return monChange{Type: typ, Kind: "ConfigMap", Name: name, Status: drift.Extra}
	}

	t.Run("tracking", func(t *testing.T) {
		e := setup(t, tracking)
		e.waitRows(a, extra("orphan-1"), extra("orphan-2"), extra("orphan-3"))
		want := []monChange{change(DriftDetected, "orphan-1"), change(DriftDetected, "orphan-2"), change(DriftDetected, "orphan-3")}
		if diff := cmp.Diff(want, monByName(e.pending()), monIgnoreTimes); diff != "" {
			t.Errorf("first notifications (-want +got):\n%s", diff)
		}

		for _, step := range []struct {
			name string
			act  func()
			want []monChange
			rows []monRow
		}{{
			name: "tracked object created",
			act:  func() { e.mgr.Add(scope, monCM(t, "team-a", "orphan-4", "x", true)) },
			want: []monChange{change(DriftDetected, "orphan-4")},
			rows: []monRow{a, extra("orphan-1"), extra("orphan-2"), extra("orphan-3"), extra("orphan-4")},
		}, {
			// The untracked object goes first: a notification for it
			// would come before orphan-1's.
			name: "untracked object created, tracking label removed",
			act: func() {
				e.mgr.Add(scope, monCM(t, "team-a", "untracked-2", "x", false))
				e.mgr.Update(scope, monCM(t, "team-a", "orphan-1", "x", false))
			},
			want: []monChange{change(DriftResolved, "orphan-1")},
			rows: []monRow{a, extra("orphan-2"), extra("orphan-3"), extra("orphan-4")},
		}, {
			name: "tracked object deleted",
			act:  func() { e.mgr.Delete(scope, "orphan-2") },
			want: []monChange{change(DriftResolved, "orphan-2")},
			rows: []monRow{a, extra("orphan-3"), extra("orphan-4")},
		}, {
			name: "tracked object added to Git",
			act: func() {
				e.setGit("rev2", monCM(t, "team-a", "a", "v", true), monCM(t, "team-a", "orphan-3", "x", true))
				e.poll()
			},
			want: []monChange{change(DriftResolved, "orphan-3")},
			rows: []monRow{a, {"ConfigMap", "team-a", "orphan-3", drift.InSync, ""}, extra("orphan-4")},
		}} {
			step.act()
			got := e.nextChanges(len(step.want))
			if diff := cmp.Diff(step.want, got, monIgnoreTimes); diff != "" {
				t.Fatalf("%s: notifications (-want +got):\n%s", step.name, diff)
			}
			if got[0].Type == DriftResolved && got[0].ResolvedAt.IsZero() {
				t.Errorf("%s: resolution without ResolvedAt: %+v", step.name, got[0])
			}
			e.waitRows(step.rows...)
		}
		if got := e.pending(); len(got) > 0 {
			t.Errorf("unexpected notifications: %+v", got)
		}
	})

	t.Run("no tracking", func(t *testing.T) {
		e := setup(t, nil)
		e.waitRows(a)
		if got := e.pending(); len(got) > 0 {
			t.Errorf("first notifications: %+v, want none", got)
		}
		// A tracked object appears, then "a" drifts: with one worker, the
		// first would be reported before the second.
		e.mgr.Add(scope, monCM(t, "team-a", "orphan-4", "x", true))
		e.mgr.Update(scope, monCM(t, "team-a", "a", "edited", true))
		if diff := cmp.Diff([]monChange{{Type: DriftDetected, Kind: "ConfigMap", Name: "a", Status: drift.Drifted}},
			e.nextChanges(1), monIgnoreTimes); diff != "" {
			t.Errorf("notifications (-want +got):\n%s", diff)
		}
		e.waitRows(monRow{"ConfigMap", "team-a", "a", drift.Drifted, ""})
	})
}

// monGatedManager is the fake Manager, except that one Get (or Metadata), once armed,
// returns only when the test lets it: the object it read may be out of
// date by then, as when a comparison runs late.
type monGatedManager struct {
	*informertest.Manager
	mu      sync.Mutex
	gate    queueKey
	entered chan struct{} // closed when the gated Get has read the object
	release chan struct{}
}

func (g *monGatedManager) arm(s informer.Scope, name string) (entered, release chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate, g.entered, g.release = queueKey{s, name}, make(chan struct{}), make(chan struct{})
	return g.entered, g.release
}

func (g *monGatedManager) Get(s informer.Scope, name string) (*unstructured.Unstructured, error) {
	return g.wait(s, name, g.Manager.Get)
}

// Metadata is gated as Get is: extra detection reads metadata only.
func (g *monGatedManager) Metadata(s informer.Scope, name string) (*unstructured.Unstructured, error) {
	return g.wait(s, name, g.Manager.Metadata)
}

func (g *monGatedManager) wait(s informer.Scope, name string, read func(informer.Scope, string) (*unstructured.Unstructured, error)) (*unstructured.Unstructured, error) {
	u, err := read(s, name)
	g.mu.Lock()
	entered, release := g.entered, g.release
	gated := release != nil && g.gate == (queueKey{s, name})
	if gated {
		g.entered, g.release = nil, nil // once
	}
	g.mu.Unlock()
	if gated {
		close(entered)
		select {
		case <-release:
		case <-time.After(monWait):
		}
	}
	return u, err
}

// TestMonitorExtraScopeDropped: an Extra whose comparison was under way
// when a new revision stopped watching its scope does not come back: it
// was read while the scope was watched, and recorded after the re-plan
// had resolved it.
func TestMonitorExtraScopeDropped(t *testing.T) {
	tracking := labels.SelectorFromSet(labels.Set{monManaged: "driftwatch"})
	var gated *monGatedManager
	e := newMonEnv(t, func(o *MonitorOptions) {
		o.Tracking = tracking
		gated = &monGatedManager{Manager: o.Manager.(*informertest.Manager)}
		o.Manager = gated
	})
	e.mgr.Add(monCMs("team-a"), monCM(t, "team-a", "a", "v", true))
	e.mgr.Add(monCMs("team-b"), monCM(t, "team-b", "b", "v", true))
	e.mgr.Add(monCMs("team-b"), monCM(t, "team-b", "orphan", "x", true))
	e.setGit("rev1", monCM(t, "team-a", "a", "v", true), monCM(t, "team-b", "b", "v", true))
	e.start()
	e.waitRows(
		monRow{"ConfigMap", "team-a", "a", drift.InSync, ""},
		monRow{"ConfigMap", "team-b", "b", drift.InSync, ""},
		monRow{"ConfigMap", "team-b", "orphan", drift.Extra, ""},
	)
	e.nextChanges(1) // orphan detected

	// The orphan changes; its comparison reads it, then waits.
	entered, release := gated.arm(monCMs("team-b"), "orphan")
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	touched := monCM(t, "team-b", "orphan", "x", true)
	touched.SetAnnotations(map[string]string{"touched": "yes"})
	e.mgr.Update(monCMs("team-b"), touched)
	select {
	case <-entered:
	case <-time.After(monWait):
		t.Fatal("the orphan was not compared again")
	}

	// Meanwhile Git drops team-b: its informer stops, the orphan resolves.
	e.setGit("rev2", monCM(t, "team-a", "a", "v", true))
	e.poll()
	if diff := cmp.Diff([]monChange{{Type: DriftResolved, Kind: "ConfigMap", Name: "orphan", Status: drift.Extra}},
		e.nextChanges(1), monIgnoreTimes); diff != "" {
		t.Fatalf("notification after the re-plan (-want +got):\n%s", diff)
	}
	e.waitRows(monRow{"ConfigMap", "team-a", "a", drift.InSync, ""})

	// The late comparison ends; then "a" drifts, which one worker reports
	// after whatever the late comparison notified.
	close(release)
	e.mgr.Update(monCMs("team-a"), monCM(t, "team-a", "a", "edited", true))
	if diff := cmp.Diff([]monChange{{Type: DriftDetected, Kind: "ConfigMap", Name: "a", Status: drift.Drifted}},
		e.nextChanges(1), monIgnoreTimes); diff != "" {
		t.Errorf("notifications after the late comparison (-want +got):\n%s", diff)
	}
	e.waitRows(monRow{"ConfigMap", "team-a", "a", drift.Drifted, ""})
}

// TestMonitorStop: Run returns nil on cancellation and unregisters its
// handler, so later events go nowhere.
func TestMonitorStop(t *testing.T) {
	scope := monCMs("team-a")
	e := newMonEnv(t, nil)
	e.mgr.Add(scope, monCM(t, "team-a", "a", "v", false))
	e.setGit("rev1", monCM(t, "team-a", "a", "v", false))
	e.start()
	if n := e.mgr.Handlers(); n != 1 {
		t.Fatalf("%d handlers while running, want 1", n)
	}
	e.stop()
	if n := e.mgr.Handlers(); n != 0 {
		t.Errorf("%d handlers after Run returned, want 0", n)
	}
	e.mgr.Update(scope, monCM(t, "team-a", "a", "edited", false))
	e.mgr.Delete(scope, "a")
	if n := e.mon.QueueLen(); n != 0 {
		t.Errorf("QueueLen %d after Run returned", n)
	}
	if got := e.pending(); len(got) > 0 {
		t.Errorf("notifications after Run returned: %+v", got)
	}
}

// TestMonitorDisconnected: an informer that synced and then loses the API
// server marks the report disconnected until it is back.
func TestMonitorDisconnected(t *testing.T) {
	scope := monCMs("team-a")
	e := newMonEnv(t, nil)
	e.mgr.Add(scope, monCM(t, "team-a", "a", "v", false))
	e.setGit("rev1", monCM(t, "team-a", "a", "v", false))
	e.start()
	since := monStart.Add(time.Hour)
	e.mgr.SetHealth(scope, informer.Health{Lists: 1, Err: errors.New("connection refused"), Since: since})
	want := &drift.Stale{Reason: "connection refused (1 informers: configmaps/v1 in namespace team-a)", Since: since}
	if diff := cmp.Diff(want, e.mon.Report().Disconnected); diff != "" {
		t.Errorf("Disconnected (-want +got):\n%s", diff)
	}
	e.mgr.SetHealth(scope, informer.Health{Lists: 1, Watches: 1})
	if d := e.mon.Report().Disconnected; d != nil {
		t.Errorf("Disconnected %+v after recovery", d)
	}
}

// monSchemas is a SchemaSource that knows no schema and counts
// invalidations.
type monSchemas struct{ invalidated atomic.Int32 }

func (s *monSchemas) For(context.Context, schema.GroupVersionKind) (*drift.Schema, error) {
	return nil, nil
}
func (s *monSchemas) Invalidate() { s.invalidated.Add(1) }

// TestMonitorCRDChangeInvalidatesSchemas: a CRD event makes the schemas be
// read again, so a kind that appears after start is compared with its
// OpenAPI schema rather than heuristics.
func TestMonitorCRDChangeInvalidatesSchemas(t *testing.T) {
	schemas := &monSchemas{}
	e := newMonEnv(t, func(o *MonitorOptions) { o.Evaluator.Schemas = schemas })
	e.mgr.Add(monCMs("team-a"), monCM(t, "team-a", "a", "v", false))
	e.setGit("rev1", monCM(t, "team-a", "a", "v", false))
	e.start()
	e.waitRows(monRow{"ConfigMap", "team-a", "a", drift.InSync, ""})
	if n := schemas.invalidated.Load(); n != 0 {
		t.Errorf("schemas invalidated %d times before any CRD changed", n)
	}
	e.mgr.Add(CRDScope, obj(t, "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\n"))
	deadline := time.Now().Add(5 * time.Second)
	for schemas.invalidated.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a CRD event did not invalidate the schemas")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// monCountingLister counts the live reads of each object.
type monCountingLister struct {
	Lister
	mu    sync.Mutex
	reads map[string]int
}

func (l *monCountingLister) Get(s informer.Scope, name string) (*unstructured.Unstructured, error) {
	l.mu.Lock()
	l.reads[name]++
	l.mu.Unlock()
	return l.Lister.Get(s, name)
}

func (l *monCountingLister) take() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.reads
	l.reads = map[string]int{}
	return out
}

// TestMonitorGitChangeComparesWhatChanged: a new revision compares again
// only the objects whose desired state changed; the others keep their
// verdict (their live state did not change, or an event would have said
// so), so that a commit touching one object of 100,000 costs one
// comparison. A live change still reaches an object Git did not touch.
func TestMonitorGitChangeComparesWhatChanged(t *testing.T) {
	var live *monCountingLister
	e := newMonEnv(t, func(o *MonitorOptions) {
		live = &monCountingLister{Lister: o.Manager, reads: map[string]int{}}
		o.Evaluator = &Evaluator{Live: live}
	})
	e.mgr.Add(monCMs("team-a"), monCM(t, "team-a", "same", "v", false))
	e.mgr.Add(monCMs("team-a"), monCM(t, "team-a", "edited", "v", false))
	e.mgr.Add(monCMs("team-a"), monCM(t, "team-a", "drifted", "live", false))
	e.setGit("rev1", monCM(t, "team-a", "same", "v", false), monCM(t, "team-a", "edited", "v", false),
		monCM(t, "team-a", "drifted", "v", false))
	e.start()
	e.waitRows(
		monRow{"ConfigMap", "team-a", "same", drift.InSync, ""},
		monRow{"ConfigMap", "team-a", "edited", drift.InSync, ""},
		monRow{"ConfigMap", "team-a", "drifted", drift.Drifted, ""},
	)
	e.pending()
	if diff := cmp.Diff(map[string]int{"same": 1, "edited": 1, "drifted": 1}, live.take()); diff != "" {
		t.Errorf("live reads at rev1 (-want +got):\n%s", diff)
	}

	e.setGit("rev2", monCM(t, "team-a", "same", "v", false), monCM(t, "team-a", "edited", "v2", false),
		monCM(t, "team-a", "drifted", "v", false))
	e.poll()
	e.waitRows(
		monRow{"ConfigMap", "team-a", "same", drift.InSync, ""},
		monRow{"ConfigMap", "team-a", "edited", drift.Drifted, ""},
		monRow{"ConfigMap", "team-a", "drifted", drift.Drifted, ""},
	)
	if diff := cmp.Diff(map[string]int{"edited": 1}, live.take()); diff != "" {
		t.Errorf("live reads at rev2 (-want +got):\n%s", diff)
	}
	if got := monByName(e.nextChanges(1)); got[0].Name != "edited" || got[0].Type != DriftDetected {
		t.Errorf("notification %+v, want edited detected", got)
	}

	// A live change of an object Git did not touch is still compared.
	e.mgr.Update(monCMs("team-a"), monCM(t, "team-a", "drifted", "v", false))
	e.waitRows(
		monRow{"ConfigMap", "team-a", "same", drift.InSync, ""},
		monRow{"ConfigMap", "team-a", "edited", drift.Drifted, ""},
		monRow{"ConfigMap", "team-a", "drifted", drift.InSync, ""},
	)
	e.pending()
}

// TestMonitorCRDChangeComparesItsGroup: when a CRD changes and every kind
// resolves as before, only the custom resources of that CRD's group are
// compared again (their schema may have changed), not every object.
func TestMonitorCRDChangeComparesItsGroup(t *testing.T) {
	var live *monCountingLister
	e := newMonEnv(t, func(o *MonitorOptions) {
		live = &monCountingLister{Lister: o.Manager, reads: map[string]int{}}
		o.Evaluator = &Evaluator{Live: live}
	})
	e.res.SetMapping(monWidgetKind, informer.Mapping{GVR: monWidgets, Namespaced: true})
	widget := func() *unstructured.Unstructured {
		return obj(t, "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: team-a}\nspec: {size: 3}\n")
	}
	e.mgr.Add(informer.Scope{GVR: monWidgets, Namespace: "team-a"}, widget())
	e.mgr.Add(monCMs("team-a"), monCM(t, "team-a", "cm", "v", false))
	e.setGit("rev1", widget(), monCM(t, "team-a", "cm", "v", false))
	e.start()
	e.waitRows(
		monRow{"Widget", "team-a", "w", drift.InSync, ""},
		monRow{"ConfigMap", "team-a", "cm", drift.InSync, ""},
	)
	live.take()
	e.mgr.Update(CRDScope, obj(t, "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\n"))
	e.eventually("the widget compared again", func() (bool, string) {
		live.mu.Lock()
		defer live.mu.Unlock()
		return live.reads["w"] > 0, fmt.Sprint(live.reads)
	})
	e.clock.Step(replanFollowUp) // the follow-up re-plan, a moment later
	time.Sleep(50 * time.Millisecond)
	if got := live.take(); got["cm"] != 0 {
		t.Errorf("live reads after a Widget CRD change = %v, want the ConfigMap left alone", got)
	}
}

// TestMonitorReleasesWhatItCompared: once compared, a live object's
// content is released from the cache (the verdict stays), as is every
// object of a watched scope that Git does not declare; the first plan
// reads nothing from the API server (the informers' first list brought
// every object); a new revision that changes one object reads that one
// again, and an event brings the next version without a read.
func TestMonitorReleasesWhatItCompared(t *testing.T) {
	s := monCMs("team-a")
	var e *monEnv
	e = newMonEnv(t, func(o *MonitorOptions) {
		o.Manager = &monListingManager{Manager: o.Manager.(*informertest.Manager), list: func() {
			e.mgr.Add(s, monCM(t, "team-a", "a", "v", false))
			e.mgr.Add(s, monCM(t, "team-a", "b", "v", false))
			e.mgr.Add(s, monCM(t, "team-a", "noise", "n", false))
			time.Sleep(20 * time.Millisecond) // let the workers take the events
		}}
	})
	e.setGit("rev1", monCM(t, "team-a", "a", "v", false), monCM(t, "team-a", "b", "v", false))
	e.start()
	e.waitRows(
		monRow{"ConfigMap", "team-a", "a", drift.InSync, ""},
		monRow{"ConfigMap", "team-a", "b", drift.InSync, ""},
	)
	if got := e.mgr.ServerReads(); len(got) != 0 {
		t.Errorf("reads from the API server for the first report: %v, want none", got)
	}
	for _, name := range []string{"a", "b", "noise"} {
		if !e.mgr.Released(s, name) {
			t.Errorf("%s not released once planned", name)
		}
	}

	e.setGit("rev2", monCM(t, "team-a", "a", "v", false), monCM(t, "team-a", "b", "v2", false))
	e.poll()
	e.waitRows(
		monRow{"ConfigMap", "team-a", "a", drift.InSync, ""},
		monRow{"ConfigMap", "team-a", "b", drift.Drifted, ""},
	)
	e.pending()
	if diff := cmp.Diff(map[string]int{"b": 1}, e.mgr.ServerReads()); diff != "" {
		t.Errorf("reads from the API server after rev2 (-want +got):\n%s", diff)
	}

	e.mgr.Update(s, monCM(t, "team-a", "a", "edited", false))
	e.waitRows(
		monRow{"ConfigMap", "team-a", "a", drift.Drifted, ""},
		monRow{"ConfigMap", "team-a", "b", drift.Drifted, ""},
	)
	e.pending()
	if got := e.mgr.ServerReads(); len(got) != 0 {
		t.Errorf("reads from the API server for an event: %v, want none", got)
	}
	e.eventually("a released again", func() (bool, string) { return e.mgr.Released(s, "a"), "not released" })
}

// monListingManager is the fake Manager whose first WaitForSync first
// adds objects, as an informer's first list does: their events come
// before the plan says which objects are targets.
type monListingManager struct {
	*informertest.Manager
	once sync.Once
	list func()
}

func (m *monListingManager) WaitForSync(ctx context.Context, scopes ...informer.Scope) map[informer.Scope]error {
	for _, s := range scopes {
		if s != CRDScope {
			m.once.Do(m.list)
		}
	}
	return m.Manager.WaitForSync(ctx, scopes...)
}

// TestMonitorSkipsComparedVersions: an event that brings the version of a
// live object the verdict was made from (the informer's first list right
// after the plan compared it, a resync, a relist) compares nothing again;
// a new version, or a deletion, does.
func TestMonitorSkipsComparedVersions(t *testing.T) {
	s := monCMs("team-a")
	live := &monCountingLister{reads: map[string]int{}}
	e := newMonEnv(t, func(o *MonitorOptions) { live.Lister = o.Manager; o.Evaluator = &Evaluator{Live: live} })
	at := func(rv, value string) *unstructured.Unstructured {
		u := monCM(t, "team-a", "a", value, false)
		u.SetResourceVersion(rv)
		return u
	}
	e.mgr.Add(s, at("7", "v"))
	e.setGit("rev1", monCM(t, "team-a", "a", "v", false))
	e.start()
	e.waitRows(monRow{"ConfigMap", "team-a", "a", drift.InSync, ""})
	qk, key := queueKey{s, "a"}, targetKey(s, "a")
	e.eventually("the verdict made from version 7", func() (bool, string) {
		return e.mon.compared(qk, key), "not compared"
	})
	idle := func() {
		e.eventually("an empty queue", func() (bool, string) { return e.mon.QueueLen() == 0, "queued" })
		time.Sleep(50 * time.Millisecond) // the worker that took it finishes
	}
	idle()
	live.take()
	e.mgr.Update(s, at("7", "v")) // the same version again
	idle()
	if got := live.take(); len(got) != 0 {
		t.Errorf("live reads for an event of the compared version: %v, want none", got)
	}

	e.mgr.Update(s, at("8", "edited"))
	e.waitRows(monRow{"ConfigMap", "team-a", "a", drift.Drifted, ""})
	if diff := cmp.Diff(map[string]int{"a": 1}, live.take()); diff != "" {
		t.Errorf("live reads for a new version (-want +got):\n%s", diff)
	}
	e.eventually("the verdict made from version 8", func() (bool, string) {
		return e.mon.compared(qk, key), "not compared"
	})

	e.mgr.Delete(s, "a")
	if e.mon.compared(qk, key) {
		t.Error("a deleted object reads as compared")
	}
	e.waitRows(monRow{"ConfigMap", "team-a", "a", drift.Missing, ""})
}
