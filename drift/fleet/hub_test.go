package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/fleet"
	"github.com/driftwatch/driftwatch/drift/pipeline/reports"
	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

var (
	env  *apiservertest.Env
	kube *apiservertest.Client
)

func TestMain(m *testing.M) {
	apiservertest.Main(m, func(e *apiservertest.Env) (err error) {
		env = e
		kube, err = apiservertest.NewClient(env.Config)
		return err
	})
}

var (
	firstSeen = time.Date(2026, 12, 5, 13, 0, 0, 0, time.UTC)
	editTime  = time.Date(2026, 12, 5, 12, 59, 0, 0, time.UTC)
)

// agentReport is what an agent compared: web drifted (replicas != 3) or
// in sync.
func agentReport(replicas int) drift.Report {
	r := drift.Report{Source: drift.Source{URL: "https://git.example.com/platform.git", Path: "apps", Commit: "abc123"}}
	r.Resources = []drift.Resource{
		{APIVersion: "v1", Kind: "ConfigMap", Namespace: "fleet-a", Name: "settings", Status: drift.InSync},
		{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole", Name: "reader", Status: drift.Error, Error: "forbidden"},
	}
	web := drift.Resource{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "fleet-b", Name: "web", Status: drift.InSync}
	if replicas != 3 {
		web.Status, web.Severity, web.FirstSeen = drift.Drifted, drift.SeverityWarning, &firstSeen
		web.Diffs = []drift.FieldDiff{
			{Path: "spec.replicas", Type: drift.Changed, Desired: 3, Live: replicas, ChangedBy: &drift.ChangedBy{Manager: "kubectl-edit", Time: &editTime}},
			{Path: "spec.template.spec.containers[name=web].image", Type: drift.Changed, Desired: "a", Live: "b"},
		}
	}
	r.Resources = append(r.Resources, web)
	return r
}

// The report objects Build makes read back as the resources they were
// made from: paths, severity, who changed it and when, never values.
func TestParseReport(t *testing.T) {
	now := time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC)
	set := reports.Build(agentReport(5), reports.Limits{}, now)
	var got []fleet.Resource
	var beat time.Time
	for _, obj := range append(toObjects(t, set.Reports), toObjects(t, set.ClusterReports)...) {
		ro, err := fleet.ParseReport("prod", obj)
		if err != nil {
			t.Fatal(err)
		}
		if !ro.CheckedAt.IsZero() {
			beat = ro.CheckedAt
		}
		got = append(got, ro.Resources...)
	}
	policy := "https://git.example.com/platform.git//apps"
	changed := editTime
	first := firstSeen
	want := []fleet.Resource{
		{Cluster: "prod", APIVersion: "v1", Kind: "ConfigMap", Namespace: "fleet-a", Name: "settings", Status: drift.InSync,
			Policy: policy, Revision: "abc123", Description: "in sync with Git"},
		{Cluster: "prod", APIVersion: "apps/v1", Kind: "Deployment", Namespace: "fleet-b", Name: "web", Status: drift.Drifted,
			Severity: drift.SeverityWarning, Paths: []string{"spec.replicas", "spec.template.spec.containers[name=web].image"}, Fields: 2,
			ChangedBy: "kubectl-edit", ChangedAt: &changed, FirstSeen: &first, Digest: agentReport(5).Resources[2].DriftDigest(),
			Policy: policy, Revision: "abc123",
			Description: "2 fields drifted from Git: spec.replicas, spec.template.spec.containers[name=web].image"},
		{Cluster: "prod", APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole", Name: "reader", Status: drift.Error,
			Policy: policy, Revision: "abc123", Description: "could not be checked: forbidden"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ParseReport (-want +got):\n%s", d)
	}
	if !beat.Equal(now) {
		t.Errorf("heartbeat = %v, want %v", beat, now)
	}
}

func toObjects[T runtime.Object](t *testing.T, objs []T) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, o := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

// memLog is an AuditLog in memory.
type memLog struct {
	mu     sync.Mutex
	events []fleet.Event
	open   map[string]fleet.Event
	// during, if set, runs inside the first Append, before it returns.
	during func()
}

func (l *memLog) Append(_ context.Context, evs []fleet.Event) error {
	l.mu.Lock()
	during := l.during
	l.during = nil
	l.mu.Unlock()
	if during != nil {
		during()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, evs...)
	return nil
}

func (l *memLog) Open(context.Context) (map[string]fleet.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open, nil
}

func (l *memLog) all() []fleet.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]fleet.Event(nil), l.events...)
}

func installCRDs(t *testing.T) {
	t.Helper()
	for _, f := range []string{"openreports.io_reports.yaml", "openreports.io_clusterreports.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "crds", f))
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(b, &u.Object); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := kube.Apply(t.Context(), "test", "", u); err != nil {
			t.Fatalf("apply %s: %v", f, err)
		}
	}
	for _, ns := range []string{"fleet-a", "fleet-b"} {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}
		if err := kube.Apply(t.Context(), "test", "", u); err != nil {
			t.Fatal(err)
		}
	}
}

// eventually polls cond, bounded.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 300 {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("not within 15 s: %s", what)
}

// One real API server seen as four clusters: one whose agent reports
// drift, one that refuses the hub, one that is down, one whose entry is
// unusable. The drift is shown and logged, the others are shown with
// their errors; the drift resolved is logged as resolved.
func TestHub(t *testing.T) {
	apiservertest.Require(t)
	installCRDs(t)
	ctx := t.Context()
	pub := &reports.Publisher{Client: kube.Dynamic, Policy: reports.Policy(agentReport(5).Source), Agent: "watch test"}
	removeReports(t, pub)
	if _, err := pub.Publish(ctx, reports.Build(agentReport(5), reports.Limits{}, time.Now())); err != nil {
		t.Fatal(err)
	}
	nobody, err := env.AddUser("nobody")
	if err != nil {
		t.Fatal(err)
	}
	log := &memLog{}
	hub := fleet.NewHub(fleet.Options{Log: log, SyncTimeout: 5 * time.Second})
	hub.SetMembers([]fleet.Member{
		{Name: "prod", Server: env.Config.Host, Config: env.Config},
		{Name: "locked", Server: env.Config.Host, Config: nobody},
		{Name: "down", Server: "https://127.0.0.1:1", Config: &rest.Config{Host: "https://127.0.0.1:1", TLSClientConfig: rest.TLSClientConfig{Insecure: true}}},
		{Name: "broken", Err: fmt.Errorf("Secret argocd/broken: execProviderConfig is not supported")},
	})
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = hub.Run(runCtx) }()
	eventually(t, "every cluster listed or failed", hub.Ready)

	v := hub.View(fleet.Filter{})
	states := map[string]fleet.State{}
	errs := map[string]string{}
	for _, c := range v.Clusters {
		states[c.Name], errs[c.Name] = c.State, c.Error
	}
	wantStates := map[string]fleet.State{"prod": fleet.Drifted, "locked": fleet.Forbidden, "down": fleet.Unreachable, "broken": fleet.Unreachable}
	if d := cmp.Diff(wantStates, states); d != "" {
		t.Errorf("cluster states (-want +got):\n%s\nerrors: %q", d, errs)
	}
	if errs["broken"] != "Secret argocd/broken: execProviderConfig is not supported" || errs["locked"] == "" || errs["down"] == "" {
		t.Errorf("errors = %q", errs)
	}
	if len(v.Resources) != 2 || v.Resources[1].Name != "web" || v.Resources[1].Severity != drift.SeverityWarning || v.Summary.Drifted != 1 || v.Summary.Errors != 1 {
		t.Errorf("resources = %+v, summary %+v; want reader (error) and web (warning)", v.Resources, v.Summary)
	}
	prod := v.Clusters[slicesIndex(v.Clusters, "prod")]
	if len(prod.Sources) != 1 || prod.Sources[0].Revision != "abc123" || prod.Sources[0].Agent != "watch test" || prod.CheckedAt == nil || prod.InSync != 1 {
		t.Errorf("prod = %+v", prod)
	}
	eventually(t, "the drift logged as detected", func() bool { return len(log.all()) == 1 })
	if e := log.all()[0]; e.Type != fleet.Detected || e.Cluster != "prod" || e.Name != "web" || e.Manager != "kubectl-edit" || len(e.Paths) != 2 {
		t.Errorf("event = %+v", e)
	}

	// The agent sees the drift reverted.
	if _, err := pub.Publish(ctx, reports.Build(agentReport(3), reports.Limits{}, time.Now())); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the drift logged as resolved", func() bool { return len(log.all()) == 2 })
	if e := log.all()[1]; e.Type != fleet.Resolved || e.Name != "web" || e.Status != drift.InSync {
		t.Errorf("event = %+v", e)
	}
	if v := hub.View(fleet.Filter{Clusters: []string{"prod"}}); v.Clusters[0].State != fleet.InSync || v.Summary.Drifted != 0 {
		t.Errorf("after the revert: %+v", v.Clusters)
	}

	// A hub whose clock is an hour ahead sees the heartbeat as stale.
	later := fleet.NewHub(fleet.Options{Now: func() time.Time { return time.Now().Add(time.Hour) }})
	later.SetMembers([]fleet.Member{{Name: "prod", Config: env.Config}})
	go func() { _ = later.Run(runCtx) }()
	eventually(t, "the second hub listed prod", later.Ready)
	if c := later.View(fleet.Filter{}).Clusters[0]; c.State != fleet.Stale || c.Error == "" {
		t.Errorf("an hour later: %+v, want stale with the heartbeat's age", c)
	}

	// A cluster without the format's CRDs.
	pr := fleet.NewHub(fleet.Options{Format: reports.PolicyReport})
	pr.SetMembers([]fleet.Member{{Name: "prod", Config: env.Config}})
	go func() { _ = pr.Run(runCtx) }()
	eventually(t, "the policyreport hub listed prod", pr.Ready)
	if c := pr.View(fleet.Filter{}).Clusters[0]; c.State != fleet.NoCRD {
		t.Errorf("without the PolicyReport CRDs: %+v, want no-crd", c)
	}
}

func slicesIndex(cs []fleet.Cluster, name string) int {
	for i, c := range cs {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// A replica that takes over the audit log (Writing turns true) goes on
// from what the log holds, not from what it saw itself: the drift the
// last leader logged is not logged again, and its resolution is.
func TestHubTakesOverTheLog(t *testing.T) {
	apiservertest.Require(t)
	installCRDs(t)
	ctx := t.Context()
	r := agentReport(5)
	r.Source.Path = "takeover"
	pub := &reports.Publisher{Client: kube.Dynamic, Policy: reports.Policy(r.Source)}
	removeReports(t, pub)
	if _, err := pub.Publish(ctx, reports.Build(r, reports.Limits{}, time.Now())); err != nil {
		t.Fatal(err)
	}
	log := &memLog{}
	var leading sync.Mutex
	writing := false
	hub := fleet.NewHub(fleet.Options{Log: log, Writing: func() bool { leading.Lock(); defer leading.Unlock(); return writing }})
	hub.SetMembers([]fleet.Member{{Name: "prod", Config: env.Config}})
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = hub.Run(runCtx) }()
	eventually(t, "prod listed", hub.Ready)
	// Meanwhile the leader logged the drift of web as detected; then this
	// replica takes over.
	web := fleet.Resource{Cluster: "prod", APIVersion: "apps/v1", Kind: "Deployment", Namespace: "fleet-b", Name: "web"}
	log.mu.Lock()
	log.open = map[string]fleet.Event{web.Key(): {Type: fleet.Detected, Cluster: "prod", APIVersion: "apps/v1",
		Kind: "Deployment", Namespace: "fleet-b", Name: "web", Status: drift.Drifted, Severity: drift.SeverityWarning,
		Digest: r.Resources[2].DriftDigest()}}
	log.mu.Unlock()
	leading.Lock()
	writing = true
	leading.Unlock()
	in := agentReport(3)
	in.Source.Path = "takeover"
	if _, err := pub.Publish(ctx, reports.Build(in, reports.Limits{}, time.Now())); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the resolution logged", func() bool { return len(log.all()) > 0 })
	time.Sleep(1500 * time.Millisecond) // a pass more of the writer: nothing else comes
	var got []string
	for _, e := range log.all() {
		got = append(got, string(e.Type)+" "+e.Name)
	}
	if d := cmp.Diff([]string{"resolved web"}, got); d != "" {
		t.Errorf("events logged by the new leader (-want +got):\n%s", d)
	}
}

// A change that arrives while the audit log is being written is logged by
// the next pass, not lost until some later change of the cluster.
func TestHubChangeDuringAppend(t *testing.T) {
	apiservertest.Require(t)
	installCRDs(t)
	ctx := t.Context()
	drifted, inSync := agentReport(5), agentReport(3)
	drifted.Source.Path, inSync.Source.Path = "race", "race"
	pub := &reports.Publisher{Client: kube.Dynamic, Policy: reports.Policy(drifted.Source)}
	removeReports(t, pub)
	if _, err := pub.Publish(ctx, reports.Build(drifted, reports.Limits{}, time.Now())); err != nil {
		t.Fatal(err)
	}
	log := &memLog{}
	hub := fleet.NewHub(fleet.Options{Log: log})
	log.during = func() {
		// The drift is reverted while its detection is being written.
		if _, err := pub.Publish(ctx, reports.Build(inSync, reports.Limits{}, time.Now())); err != nil {
			t.Error(err)
			return
		}
		eventually(t, "the revert seen", func() bool {
			v := hub.View(fleet.Filter{Kinds: []string{"Deployment"}, Statuses: []string{"InSync"}})
			return len(v.Resources) == 1
		})
	}
	hub.SetMembers([]fleet.Member{{Name: "race", Config: env.Config}})
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = hub.Run(runCtx) }()
	eventually(t, "the detection and the resolution logged", func() bool {
		var got []string
		for _, e := range log.all() {
			got = append(got, string(e.Type)+" "+e.Name)
		}
		return cmp.Equal([]string{"detected web", "resolved web"}, got)
	})
}

// removeReports deletes the publisher's report objects when the test
// ends: the tests share one API server, and a hub reads every source's.
func removeReports(t *testing.T, pub *reports.Publisher) {
	t.Cleanup(func() {
		if _, err := pub.Publish(context.Background(), reports.Set{}); err != nil {
			t.Errorf("removing the reports: %v", err)
		}
	})
}

// TestHubNameTwice: a cluster named twice is read once, the first
// origin's, and the clash is logged with its error, never dropped in
// silence.
func TestHubNameTwice(t *testing.T) {
	var log strings.Builder
	hub := fleet.NewHub(fleet.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	hub.SetMembers([]fleet.Member{
		{Name: "prod", Origin: "context prod", Err: errors.New("context prod: no server")},
		{Name: "prod", Origin: "Secret argocd/prod", Err: errors.New(`cluster "prod" is both context prod and Secret argocd/prod: rename one`)},
	})
	type row struct{ Name, State, Error string }
	var got []row
	for _, c := range hub.View(fleet.Filter{}).Clusters {
		got = append(got, row{c.Name, string(c.State), c.Error})
	}
	if diff := cmp.Diff([]row{{"prod", "unreachable", "context prod: no server"}}, got); diff != "" {
		t.Errorf("clusters (-want +got):\n%s", diff)
	}
	if !strings.Contains(log.String(), `level=WARN msg="cluster not read" cluster=prod origin="Secret argocd/prod" error="cluster \"prod\" is both context prod and Secret argocd/prod: rename one"`) {
		t.Errorf("log does not name the clash:\n%s", log.String())
	}
}
