package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/driftwatch/driftwatch/drift"
)

// histAt is the time of step i of a history test.
func histAt(i int) time.Time { return monStart.Add(time.Duration(i) * time.Minute) }

// histRes is a resource with the given status and drifted paths.
func histRes(apiVersion, kind, ns, name string, status drift.Status, paths ...string) drift.Resource {
	r := drift.Resource{APIVersion: apiVersion, Kind: kind, Namespace: ns, Name: name, Status: status}
	for _, p := range paths {
		r.Diffs = append(r.Diffs, drift.FieldDiff{Path: p, Type: drift.Changed, Desired: "d-" + p, Live: "l-" + p})
	}
	return r
}

func web(status drift.Status, paths ...string) drift.Resource {
	return histRes("apps/v1", "Deployment", "team-a", "web", status, paths...)
}

func TestHistoryTransitions(t *testing.T) {
	manyPaths := make([]string, MaxEventPaths+5)
	for i := range manyPaths {
		manyPaths[i] = fmt.Sprintf("data.k%02d", i)
	}
	for _, tc := range []struct {
		name string
		// steps act on the history at histAt(i), i their index.
		steps []func(h *History, at time.Time)
		query HistoryQuery
		want  []ResourceHistory
	}{{
		name: "detected, changed, resolved",
		steps: []func(*History, time.Time){
			func(h *History, at time.Time) {
				h.Record(Change{Type: DriftDetected, Resource: web(drift.Drifted, "spec.replicas"), Time: at})
			},
			func(h *History, at time.Time) {
				r := web(drift.Drifted, "spec.paused", "spec.replicas")
				r.Severity = drift.SeverityWarning
				h.Record(Change{Type: DriftChanged, Resource: r, Time: at})
			},
			func(h *History, at time.Time) {
				h.Record(Change{Type: DriftResolved, Resource: web(drift.InSync), Time: at})
			},
		},
		want: []ResourceHistory{{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "team-a", Name: "web", Events: []Event{
			{Type: DriftDetected, Time: histAt(0), Status: drift.Drifted, Fields: 1, Paths: []string{"spec.replicas"}},
			{Type: DriftChanged, Time: histAt(1), Status: drift.Drifted, Severity: drift.SeverityWarning, Fields: 2,
				Paths: []string{"spec.paused", "spec.replicas"}},
			{Type: DriftResolved, Time: histAt(2), Status: drift.InSync},
		}}},
	}, {
		name: "missing, then gone from Git: resolved without a status",
		steps: []func(*History, time.Time){
			func(h *History, at time.Time) {
				h.Record(Change{Type: DriftDetected, Resource: web(drift.Missing), Time: at})
			},
			func(h *History, at time.Time) { h.Gone(web(drift.Missing), at) },
			// Gone again: nothing is open, nothing to record.
			func(h *History, at time.Time) { h.Gone(web(drift.Missing), at) },
		},
		want: []ResourceHistory{{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "team-a", Name: "web", Events: []Event{
			{Type: DriftDetected, Time: histAt(0), Status: drift.Missing},
			{Type: DriftResolved, Time: histAt(1)},
		}}},
	}, {
		name: "gone without a history: nothing",
		steps: []func(*History, time.Time){
			func(h *History, at time.Time) { h.Gone(web(drift.InSync), at) },
		},
		want: []ResourceHistory{},
	}, {
		name: "many fields: all counted, the first paths named",
		steps: []func(*History, time.Time){
			func(h *History, at time.Time) {
				h.Record(Change{Type: DriftDetected, Resource: histRes("v1", "ConfigMap", "team-a", "cfg", drift.Drifted, manyPaths...), Time: at})
			},
		},
		want: []ResourceHistory{{APIVersion: "v1", Kind: "ConfigMap", Namespace: "team-a", Name: "cfg", Events: []Event{
			{Type: DriftDetected, Time: histAt(0), Status: drift.Drifted, Fields: MaxEventPaths + 5, Paths: manyPaths[:MaxEventPaths]},
		}}},
	}, {
		name: "one history per group, kind, namespace and name; a query selects",
		steps: []func(*History, time.Time){
			func(h *History, at time.Time) {
				h.Record(Change{Type: DriftDetected, Resource: histRes("example.com/v1", "Widget", "team-a", "w", drift.Extra), Time: at})
			},
			func(h *History, at time.Time) {
				h.Record(Change{Type: DriftDetected, Resource: histRes("other.io/v2", "Widget", "team-a", "w", drift.Missing), Time: at})
			},
			func(h *History, at time.Time) {
				h.Record(Change{Type: DriftDetected, Resource: histRes("example.com/v1", "Widget", "team-b", "w", drift.Missing), Time: at})
			},
			func(h *History, at time.Time) {
				h.Record(Change{Type: DriftDetected, Resource: web(drift.Missing), Time: at})
			},
		},
		query: HistoryQuery{Kinds: []string{"widget"}, Namespaces: []string{"team-a"}},
		want: []ResourceHistory{
			{APIVersion: "example.com/v1", Kind: "Widget", Namespace: "team-a", Name: "w", Events: []Event{
				{Type: DriftDetected, Time: histAt(0), Status: drift.Extra},
			}},
			{APIVersion: "other.io/v2", Kind: "Widget", Namespace: "team-a", Name: "w", Events: []Event{
				{Type: DriftDetected, Time: histAt(1), Status: drift.Missing},
			}},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var h History
			for i, step := range tc.steps {
				step(&h, histAt(i))
			}
			if diff := cmp.Diff(tc.want, h.Get(tc.query)); diff != "" {
				t.Errorf("history (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHistoryBounds(t *testing.T) {
	h := History{MaxEvents: 3, MaxResources: 2}
	cm := func(name string) drift.Resource {
		return histRes("v1", "ConfigMap", "ns", name, drift.Drifted, "data.k")
	}
	for i := range 5 {
		h.Record(Change{Type: DriftChanged, Resource: cm("a"), Time: histAt(i)})
	}
	h.Record(Change{Type: DriftDetected, Resource: cm("b"), Time: histAt(5)})
	// a's last event is now newer than b's: b is the one dropped for c.
	h.Record(Change{Type: DriftChanged, Resource: cm("a"), Time: histAt(6)})
	h.Record(Change{Type: DriftDetected, Resource: cm("c"), Time: histAt(7)})

	type row struct {
		Name    string
		Times   []time.Time
		Dropped int
	}
	var got []row
	for _, r := range h.Get(HistoryQuery{}) {
		x := row{Name: r.Name, Dropped: r.Dropped}
		for _, e := range r.Events {
			x.Times = append(x.Times, e.Time)
		}
		got = append(got, x)
	}
	want := []row{
		{Name: "a", Times: []time.Time{histAt(3), histAt(4), histAt(6)}, Dropped: 3},
		{Name: "c", Times: []time.Time{histAt(7)}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bounded history (-want +got):\n%s", diff)
	}

	// The defaults bound a zero History the same way.
	var z History
	for i := range defaultHistoryResources + 10 {
		r := cm(fmt.Sprintf("cm-%d", i))
		for j := range 2 {
			z.Record(Change{Type: DriftChanged, Resource: r, Time: histAt(i*2 + j)})
		}
	}
	for i := range defaultHistoryEvents + 7 {
		z.Record(Change{Type: DriftChanged, Resource: cm("busy"), Time: histAt(10_000 + i)})
	}
	all := z.Get(HistoryQuery{})
	if len(all) != defaultHistoryResources {
		t.Errorf("%d resources kept, want %d", len(all), defaultHistoryResources)
	}
	busy := z.Get(HistoryQuery{Names: []string{"busy"}})
	if len(busy) != 1 || len(busy[0].Events) != defaultHistoryEvents || busy[0].Dropped != 7 {
		t.Errorf("busy resource: %d histories, %+v", len(busy), busy)
	}
	if got := z.Get(HistoryQuery{Names: []string{"cm-0", "cm-10"}}); len(got) != 0 {
		t.Errorf("the resources with the oldest events are still kept: %+v", got)
	}
}

// A history names fields, never their values, sensitive or not; and what
// Get returns is the caller's to change.
func TestHistoryNoValues(t *testing.T) {
	var h History
	res := histRes("v1", "Secret", "ns", "db", drift.Drifted)
	res.Diffs = []drift.FieldDiff{
		{Path: "data.password", Type: drift.Changed, Sensitive: true, DesiredHash: "hash-desired-1234", LiveHash: "hash-live-5678"},
		{Path: "metadata.labels.tier", Type: drift.Changed, Desired: "plain-desired-value", Live: "plain-live-value",
			ChangedBy: &drift.ChangedBy{Manager: "kubectl-edit", Operation: "Update"}},
	}
	h.Record(Change{Type: DriftDetected, Resource: res, Time: histAt(0)})
	got := h.Get(HistoryQuery{})
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"hash-desired-1234", "hash-live-5678", "plain-desired-value", "plain-live-value", "kubectl-edit"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("history holds %q: %s", secret, b)
		}
	}
	if !strings.Contains(string(b), `"paths":["data.password","metadata.labels.tier"]`) {
		t.Errorf("history lacks the paths: %s", b)
	}
	got[0].Events[0].Paths[0] = "changed by the caller"
	got[0].Events[0].Type = DriftResolved
	if again := h.Get(HistoryQuery{}); again[0].Events[0].Paths[0] != "data.password" || again[0].Events[0].Type != DriftDetected {
		t.Errorf("Get shares its events with the caller: %+v", again[0].Events[0])
	}
}

// Records and reads from many goroutines keep the bounds (run with -race).
func TestHistoryConcurrent(t *testing.T) {
	h := History{MaxEvents: 5, MaxResources: 4}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				r := histRes("v1", "ConfigMap", "ns", fmt.Sprintf("cm-%d", (g+i)%7), drift.Drifted, "data.k")
				h.Record(Change{Type: DriftChanged, Resource: r, Time: histAt(i)})
				if i%10 == 0 {
					h.Gone(r, histAt(i))
					_ = h.Get(HistoryQuery{})
				}
			}
		}()
	}
	wg.Wait()
	all := h.Get(HistoryQuery{})
	if len(all) > 4 {
		t.Errorf("%d resources, want at most 4", len(all))
	}
	for _, r := range all {
		if len(r.Events) > 5 {
			t.Errorf("%s: %d events, want at most 5", r.Name, len(r.Events))
		}
	}
}

// The Monitor keeps the history as it decides the lifecycle: a live
// change detects, changes and resolves; a drift whose object leaves Git
// and an Extra that is deleted are resolved without a status; a
// comparison error neither resolves nor detects.
func TestMonitorHistory(t *testing.T) {
	scope := monCMs("team-a")
	conf := &monConfirmer{}
	e := newMonEnv(t, func(o *MonitorOptions) {
		o.Evaluator.Confirm = conf
		o.Tracking = labels.SelectorFromSet(labels.Set{monManaged: "driftwatch"})
	})
	e.mgr.Add(scope, monCM(t, "team-a", "web", "v", true))
	e.mgr.Add(scope, monCM(t, "team-a", "old", "live", true))
	e.setGit("rev1", monCM(t, "team-a", "web", "v", true), monCM(t, "team-a", "old", "v", true))
	e.start()
	e.nextChanges(1) // old detected

	steps := []struct {
		name   string
		act    func()
		notify int
	}{
		{"web drifts", func() { e.mgr.Update(scope, monCM(t, "team-a", "web", "one", true)) }, 1},
		{"web drifts differently", func() { e.mgr.Update(scope, monCM(t, "team-a", "web", "two", true)) }, 1},
		{"web cannot be compared", func() {
			conf.set(errors.New("dry run: context deadline exceeded"))
			e.mgr.Update(scope, monCM(t, "team-a", "web", "three", true))
		}, 0},
		{"web is fixed", func() {
			conf.set(nil)
			e.mgr.Update(scope, monCM(t, "team-a", "web", "v", true))
		}, 1},
		{"old leaves Git: it is now Extra", func() {
			e.setGit("rev2", monCM(t, "team-a", "web", "v", true))
			e.poll()
		}, 1},
		{"old is deleted", func() { e.mgr.Delete(scope, "old") }, 1},
	}
	var at []time.Time
	for _, step := range steps {
		e.clock.Step(time.Minute)
		at = append(at, e.clock.Now())
		step.act()
		e.nextChanges(step.notify)
		if step.notify == 0 {
			e.waitRows(monRow{"ConfigMap", "team-a", "web", drift.Error, "dry run: context deadline exceeded"},
				monRow{"ConfigMap", "team-a", "old", drift.Drifted, ""})
		}
	}
	cfg := func(name string, events ...Event) ResourceHistory {
		return ResourceHistory{APIVersion: "v1", Kind: "ConfigMap", Namespace: "team-a", Name: name, Events: events}
	}
	data := []string{"data.k"}
	// A ConfigMap's data is neither critical nor expected churn: warning.
	warn := drift.SeverityWarning
	want := []ResourceHistory{
		cfg("old",
			Event{Type: DriftDetected, Status: drift.Drifted, Severity: warn, Fields: 1, Paths: data},
			Event{Type: DriftResolved},
			Event{Type: DriftDetected, Status: drift.Extra, Severity: warn}, // an Extra ConfigMap: warning
			Event{Type: DriftResolved}),
		cfg("web",
			Event{Type: DriftDetected, Status: drift.Drifted, Severity: warn, Fields: 1, Paths: data},
			Event{Type: DriftChanged, Status: drift.Drifted, Severity: warn, Fields: 1, Paths: data},
			Event{Type: DriftResolved, Status: drift.InSync}),
	}
	got := e.mon.History(HistoryQuery{})
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Event{}, "Time")); diff != "" {
		t.Fatalf("history (-want +got):\n%s", diff)
	}
	// Times are the fake clock's at the steps that made them.
	for i, step := range []int{0, 1, 3} {
		if !got[1].Events[i].Time.Equal(at[step]) {
			t.Errorf("web event %d at %v, want %v (%s)", i, got[1].Events[i].Time, at[step], steps[step].name)
		}
	}
	if one := e.mon.History(HistoryQuery{Names: []string{"web"}}); len(one) != 1 || one[0].Name != "web" {
		t.Errorf("history of web: %+v", one)
	}
}
