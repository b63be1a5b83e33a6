package main

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/fleet"
	"github.com/driftwatch/driftwatch/drift/fleet/audit"
)

// fleetAt is the fixed time of the test fleet's view.
var fleetAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fleetTime(d time.Duration) *time.Time { t := fleetAt.Add(d); return &t }

// testFleetView is a fleet of three clusters: prod-eu drifted (a critical
// and a warning drift), staging in sync, edge-1 unreachable (with the
// drift its agent last reported, without a severity).
func testFleetView() fleet.View {
	src := func(rev string) []fleet.Source {
		return []fleet.Source{{Policy: "https://git.example.com/deploy.git//app", Revision: rev,
			CheckedAt: fleetTime(-30 * time.Second), Agent: "watch v0.9.0"}}
	}
	clusters := []fleet.Cluster{
		{Name: "edge-1", Server: "https://10.0.0.9:6443", State: fleet.Unreachable,
			Error:     "list reports: dial tcp 10.0.0.9:6443: connect: connection refused",
			CheckedAt: fleetTime(-2 * time.Hour), Since: fleetTime(-90 * time.Minute), Sources: src("0a1b2c3d4e5f60718293"), Drifted: 1},
		{Name: "prod-eu", Server: "https://prod-eu.example.com", State: fleet.Drifted, CheckedAt: fleetTime(-30 * time.Second),
			Since: fleetTime(-24 * time.Hour), Sources: src("9f8e7d6c5b4a39281706"), InSync: 1, Drifted: 2, Severity: drift.SeverityCritical},
		{Name: "staging", Server: "https://staging.example.com", State: fleet.InSync, CheckedAt: fleetTime(-10 * time.Second),
			Since: fleetTime(-24 * time.Hour), Sources: src("9f8e7d6c5b4a39281706"), InSync: 2},
	}
	res := func(cluster, apiVersion, kind, ns, name string, st drift.Status, sev drift.Severity, paths ...string) fleet.Resource {
		r := fleet.Resource{Cluster: cluster, APIVersion: apiVersion, Kind: kind, Namespace: ns, Name: name, Status: st, Severity: sev,
			Policy: "https://git.example.com/deploy.git//app", Revision: "9f8e7d6c5b4a39281706"}
		if st != drift.InSync {
			r.Paths, r.Fields, r.Digest = paths, len(paths), "sha256:"+name
			r.FirstSeen, r.LastChanged = fleetTime(-time.Hour), fleetTime(-10*time.Minute)
			r.ChangedBy, r.ChangedAt = "kubectl-edit", fleetTime(-10*time.Minute)
		}
		return r
	}
	resources := []fleet.Resource{
		res("edge-1", "v1", "ConfigMap", "kube-system", "edge-config", drift.Missing, ""),
		res("prod-eu", "v1", "ConfigMap", "shop", "app-config", drift.Drifted, drift.SeverityWarning, "data.LOG_LEVEL"),
		res("prod-eu", "apps/v1", "Deployment", "shop", "web", drift.Drifted, drift.SeverityCritical,
			"spec.replicas", "spec.template.spec.containers[0].image"),
		res("prod-eu", "v1", "Service", "shop", "web", drift.InSync, ""),
		res("staging", "apps/v1", "Deployment", "shop", "web", drift.InSync, ""),
		res("staging", "v1", "Service", "shop", "web", drift.InSync, ""),
	}
	return fleet.View{GeneratedAt: fleetAt, Summary: fleet.Summarize(clusters, resources), Clusters: clusters, Resources: resources}
}

// testFleetEvents are the audit log of the test fleet, in its order.
func testFleetEvents() []fleet.Event {
	ev := func(seq int64, ago time.Duration, t fleet.EventType, cluster, kind, ns, name string, st drift.Status, sev drift.Severity, paths ...string) fleet.Event {
		return fleet.Event{Seq: seq, Time: fleetAt.Add(-ago), Type: t, Cluster: cluster, APIVersion: "v1", Kind: kind,
			Namespace: ns, Name: name, Status: st, Severity: sev, Paths: paths, Fields: len(paths), Manager: "kubectl-edit"}
	}
	return []fleet.Event{
		ev(1, time.Hour, fleet.Detected, "prod-eu", "Deployment", "shop", "web", drift.Drifted, drift.SeverityWarning, "spec.replicas"),
		ev(2, 50*time.Minute, fleet.Detected, "staging", "Deployment", "shop", "web", drift.Drifted, drift.SeverityWarning, "spec.replicas"),
		ev(3, 40*time.Minute, fleet.Resolved, "staging", "Deployment", "shop", "web", drift.InSync, ""),
		ev(4, 10*time.Minute, fleet.Changed, "prod-eu", "Deployment", "shop", "web", drift.Drifted, drift.SeverityCritical,
			"spec.replicas", "spec.template.spec.containers[0].image"),
		ev(5, 10*time.Minute, fleet.Detected, "prod-eu", "ConfigMap", "shop", "app-config", drift.Drifted, drift.SeverityWarning, "data.LOG_LEVEL"),
	}
}

// fakeFleet serves a fixed view.
type fakeFleet struct {
	view  fleet.View
	ready bool
}

func (f fakeFleet) View(filter fleet.Filter) fleet.View { return filter.Apply(f.view) }
func (f fakeFleet) Ready() bool                         { return f.ready }

// fakeHistory is an audit log of fixed events: it keeps those of the
// query's clusters, kinds, namespaces and names (exact lists, the rest of
// the query is the real log's business) and remembers the queries.
type fakeHistory struct {
	events []fleet.Event
	mu     sync.Mutex
	asked  []audit.Query
}

func (h *fakeHistory) Query(_ context.Context, q audit.Query) ([]fleet.Event, error) {
	h.mu.Lock()
	h.asked = append(h.asked, q)
	h.mu.Unlock()
	in := func(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
	var out []fleet.Event
	for _, e := range h.events {
		if in(q.Clusters, e.Cluster) && in(q.Kinds, e.Kind) && in(q.Namespaces, e.Namespace) && in(q.Names, e.Name) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (h *fakeHistory) last() audit.Query {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.asked) == 0 {
		return audit.Query{}
	}
	return h.asked[len(h.asked)-1]
}

func newFleetTestServer(t *testing.T, hist fleetHistory, token string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(newFleetHandler(fakeFleet{view: testFleetView(), ready: true}, hist, prometheus.NewRegistry(), token))
	t.Cleanup(srv.Close)
	return srv
}

func resourceIDs(rs []fleet.Resource) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Cluster+"/"+r.Kind+"/"+r.Namespace+"/"+r.Name)
	}
	return out
}

func TestFleetServerView(t *testing.T) {
	srv := newFleetTestServer(t, nil, "")
	for _, tc := range []struct {
		query     string
		clusters  []string
		resources []string
		summary   fleet.Summary
	}{
		{"", []string{"edge-1", "prod-eu", "staging"},
			[]string{"edge-1/ConfigMap/kube-system/edge-config", "prod-eu/ConfigMap/shop/app-config", "prod-eu/Deployment/shop/web"},
			fleet.Summary{Clusters: 3, ByState: map[fleet.State]int{fleet.Unreachable: 1, fleet.Drifted: 1, fleet.InSync: 1},
				Drifted: 3, BySeverity: map[string]int{"critical": 1, "warning": 1, "": 1}}},
		{"?cluster=prod-eu&severity=critical", []string{"prod-eu"}, []string{"prod-eu/Deployment/shop/web"},
			fleet.Summary{Clusters: 1, ByState: map[fleet.State]int{fleet.Drifted: 1}, Drifted: 1, BySeverity: map[string]int{"critical": 1}}},
		{"?cluster=PROD-EU,+edge-1&severity=critical,none", []string{"edge-1", "prod-eu"},
			[]string{"edge-1/ConfigMap/kube-system/edge-config", "prod-eu/Deployment/shop/web"},
			fleet.Summary{Clusters: 2, ByState: map[fleet.State]int{fleet.Drifted: 1, fleet.Unreachable: 1}, Drifted: 2,
				BySeverity: map[string]int{"critical": 1, "": 1}}},
		{"?status=InSync&kind=Service", []string{"edge-1", "prod-eu", "staging"},
			[]string{"prod-eu/Service/shop/web", "staging/Service/shop/web"},
			fleet.Summary{Clusters: 3, ByState: map[fleet.State]int{fleet.Unreachable: 1, fleet.Drifted: 1, fleet.InSync: 1}, BySeverity: map[string]int{}}},
		{"?namespace=shop&kind=configmap", []string{"edge-1", "prod-eu", "staging"}, []string{"prod-eu/ConfigMap/shop/app-config"},
			fleet.Summary{Clusters: 3, ByState: map[fleet.State]int{fleet.Unreachable: 1, fleet.Drifted: 1, fleet.InSync: 1}, Drifted: 1,
				BySeverity: map[string]int{"warning": 1}}},
		{"?cluster=nowhere", []string{}, []string{},
			fleet.Summary{ByState: map[fleet.State]int{}, BySeverity: map[string]int{}}},
	} {
		code, body := serverGet(t, srv, "/api/v1/fleet"+tc.query, "")
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.query, code, body)
		}
		var v fleet.View
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		var clusters []string
		for _, c := range v.Clusters {
			clusters = append(clusters, c.Name)
		}
		if diff := cmp.Diff(tc.clusters, append([]string{}, clusters...)); diff != "" {
			t.Errorf("%s: clusters (-want +got):\n%s", tc.query, diff)
		}
		if diff := cmp.Diff(tc.resources, resourceIDs(v.Resources)); diff != "" {
			t.Errorf("%s: resources (-want +got):\n%s", tc.query, diff)
		}
		if diff := cmp.Diff(tc.summary, v.Summary); diff != "" {
			t.Errorf("%s: summary (-want +got):\n%s", tc.query, diff)
		}
		if !v.GeneratedAt.Equal(fleetAt) {
			t.Errorf("%s: generatedAt %v", tc.query, v.GeneratedAt)
		}
	}
	// The unreachable cluster says why.
	_, body := serverGet(t, srv, "/api/v1/fleet?cluster=edge-1", "")
	if !strings.Contains(body, `"error": "list reports: dial tcp 10.0.0.9:6443: connect: connection refused"`) {
		t.Errorf("edge-1 without its error:\n%s", body)
	}
}

func TestFleetServerToken(t *testing.T) {
	srv := newFleetTestServer(t, &fakeHistory{events: testFleetEvents()}, "s3cret")
	for _, path := range []string{"/api/v1/fleet", "/api/v1/history", "/metrics", "/", "/index.html"} {
		if code, body := serverGet(t, srv, path, ""); code != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d %s", path, code, body)
		}
		if code, body := serverGet(t, srv, path, "wrong"); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d %s", path, code, body)
		}
		if code, body := serverGet(t, srv, path, "s3cret"); code != http.StatusOK {
			t.Errorf("%s with the token: %d %s", path, code, body)
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		if code, body := serverGet(t, srv, path+sep+"token=s3cret", ""); code != http.StatusOK {
			t.Errorf("%s with ?token=: %d %s", path, code, body)
		}
	}
	// The health checks need no token (readiness is the source's), nor
	// the dashboard's script and style sheet: the browser fetches them
	// without the token of the page's URL, and they hold no data.
	for _, path := range []string{"/healthz", "/readyz", "/app.js", "/style.css"} {
		if code, body := serverGet(t, srv, path, ""); code != http.StatusOK {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
	notReady := httptest.NewServer(newFleetHandler(fakeFleet{view: testFleetView()}, nil, prometheus.NewRegistry(), "s3cret"))
	defer notReady.Close()
	if code, body := serverGet(t, notReady, "/readyz", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "not every cluster") {
		t.Errorf("/readyz before the first list: %d %s", code, body)
	}
	// Same security headers as watch's server, on the open assets too.
	for _, path := range []string{"/", "/app.js", "/api/v1/fleet"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: security headers missing: %v", path, resp.Header)
		}
	}
}

func TestFleetServerHistoryFormats(t *testing.T) {
	hist := &fakeHistory{events: testFleetEvents()}
	srv := newFleetTestServer(t, hist, "")
	get := func(query string) (*http.Response, string) {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + "/api/v1/history" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	web := "?cluster=prod-eu&kind=Deployment&namespace=shop&name=web"

	// JSON, the default: {"events": [...]}, the log's events as they are.
	for _, q := range []string{web, web + "&format=json"} {
		resp, body := get(q)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s: %d %s %s", q, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if cd := resp.Header.Get("Content-Disposition"); cd != "" {
			t.Errorf("%s: JSON is shown, not downloaded: Content-Disposition %q", q, cd)
		}
		var got fleetHistoryResponse
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%s: %v\n%s", q, err, body)
		}
		all := testFleetEvents()
		if diff := cmp.Diff([]fleet.Event{all[0], all[3]}, got.Events); diff != "" {
			t.Errorf("%s: events (-want +got):\n%s", q, diff)
		}
	}
	// No event: an empty list, not null.
	if _, body := get("?cluster=nowhere"); !strings.Contains(body, `"events": []`) {
		t.Errorf("no event: %s", body)
	}

	// JSON lines: one event a line, as a download.
	resp, body := get(web + "&format=jsonl")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Disposition") != `attachment; filename="driftwatch-history.jsonl"` {
		t.Fatalf("jsonl: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("jsonl: %d lines, want 2:\n%s", len(lines), body)
	}
	for i, want := range []int64{1, 4} {
		var e fleet.Event
		if err := json.Unmarshal([]byte(lines[i]), &e); err != nil || e.Seq != want || e.Cluster != "prod-eu" || e.Name != "web" {
			t.Errorf("jsonl line %d: %v %+v", i+1, err, e)
		}
	}

	// CSV: a header, then a row an event, as a download.
	resp, body = get("?type=detected&format=csv")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="driftwatch-history.csv"` {
		t.Fatalf("csv: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	rows := strings.Split(strings.TrimSpace(body), "\n")
	if len(rows) != 6 || !strings.Contains(rows[0], "cluster") || !strings.Contains(rows[0], "kind") {
		t.Fatalf("csv: want a header and 5 rows:\n%s", body)
	}
	for _, want := range []string{"prod-eu", "Deployment", "shop", "web", "detected", "spec.replicas", "2026-03-01T11:00:00Z"} {
		if !strings.Contains(rows[1], want) {
			t.Errorf("csv row 1 lacks %q: %s", want, rows[1])
		}
	}

	// The parameters reach the log as a query.
	since := "2026-02-28T00:00:00Z"
	until := "2026-03-01T11:30:00Z"
	resp, body = get("?" + url.Values{"cluster": {"prod-eu, staging"}, "namespace": {"shop"}, "kind": {"Deployment"},
		"name": {"web"}, "type": {"detected,resolved"}, "since": {since}, "until": {until}, "after": {"3"}, "limit": {"50"},
		"format": {"csv"}}.Encode())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("full query: %d %s", resp.StatusCode, body)
	}
	sinceT, _ := time.Parse(time.RFC3339, since)
	untilT, _ := time.Parse(time.RFC3339, until)
	want := audit.Query{Clusters: []string{"prod-eu", "staging"}, Namespaces: []string{"shop"}, Kinds: []string{"Deployment"},
		Names: []string{"web"}, Types: []fleet.EventType{fleet.Detected, fleet.Resolved}, Since: sinceT, Until: untilT,
		AfterSeq: 3, Limit: 50}
	if diff := cmp.Diff(want, hist.last()); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}
}

func TestFleetServerHistoryErrors(t *testing.T) {
	srv := newFleetTestServer(t, &fakeHistory{events: testFleetEvents()}, "")
	for _, tc := range []struct{ query, names string }{
		{"?since=yesterday", "since"},
		{"?until=soon", "until"},
		{"?after=x", "after"},
		{"?limit=-1", "limit"},
		{"?limit=many", "limit"},
		{"?type=exploded", "type"},
		{"?format=xml", "format"},
		{"?clutser=prod-eu", "clutser"},
		{"?since=2026-03-01T12:00:00Z&until=2026-03-01T11:00:00Z", "until"},
	} {
		code, body := serverGet(t, srv, "/api/v1/history"+tc.query, "")
		if code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400: %s", tc.query, code, body)
			continue
		}
		if msg := strings.TrimSpace(body); strings.Contains(msg, "\n") || !strings.Contains(msg, tc.names) {
			t.Errorf("%s: want one line naming %q, got %q", tc.query, tc.names, body)
		}
	}

	// Without an audit log the endpoint says how to get one.
	noLog := newFleetTestServer(t, nil, "")
	code, body := serverGet(t, noLog, "/api/v1/history?cluster=prod-eu", "")
	if code != http.StatusNotFound || !strings.Contains(body, "--audit-db") {
		t.Errorf("no audit log: %d %q", code, body)
	}
	// The view is served all the same.
	if code, _ := serverGet(t, noLog, "/api/v1/fleet", ""); code != http.StatusOK {
		t.Errorf("no audit log: /api/v1/fleet %d", code)
	}
}

// fleetDashboardDOM loads the fleet dashboard at url (its query carries
// the filters, open and token) in headless Chromium and returns the DOM
// its JavaScript rendered.
func fleetDashboardDOM(t *testing.T, url string) string {
	t.Helper()
	return headless(t, url, "--dump-dom")
}

var summaryCard = regexp.MustCompile(`data-summary="([a-z-]+)"><b>(\d+)</b>`)

// fleetSummaryCounts reads the fleet dashboard's summary bar: each card's
// data-summary key and count.
func fleetSummaryCounts(dom string) map[string]int {
	out := map[string]int{}
	for _, m := range summaryCard.FindAllStringSubmatch(dom, -1) {
		n, _ := strconv.Atoi(m[2])
		out[m[1]] = n
	}
	return out
}

// The fleet dashboard, in a real browser: the filters of its link (read
// back into the selects), the summary, the clusters with their states and
// the unreachable one's error, the drifted resources the filters keep,
// and a resource's drill-down with its audit history, through a token.
func TestFleetDashboardInHeadlessChromium(t *testing.T) {
	srv := newFleetTestServer(t, &fakeHistory{events: testFleetEvents()}, "s3cret")

	filtered := srv.URL + "/?" + url.Values{"token": {"s3cret"}, "cluster": {"prod-eu,edge-1"}, "severity": {"critical"}}.Encode()
	dom := fleetDashboardDOM(t, filtered)
	if !strings.Contains(dom, `data-summary="clusters"`) {
		t.Fatalf("fleet dashboard not rendered:\n%s", dom)
	}
	if diff := cmp.Diff(map[string]int{
		"clusters": 2, "unreachable": 1, "forbidden": 0, "no-crd": 0, "stale": 0, "no-reports": 0, "drifted": 1, "in-sync": 0,
		"resources-drifted": 1, "severity-critical": 1, "severity-warning": 0, "severity-info": 0, "severity-none": 0, "errors": 0,
	}, fleetSummaryCounts(dom)); diff != "" {
		t.Errorf("filtered summary (-want +got):\n%s", diff)
	}
	for _, want := range []string{
		`data-cluster="edge-1" data-state="unreachable"`, "connect: connection refused",
		`data-cluster="prod-eu" data-state="drifted"`, "2 drifted", "9f8e7d6c5b4a", "watch v0.9.0",
		`data-id="prod-eu/Deployment/shop/web" data-cluster="prod-eu" data-status="Drifted" data-severity="critical"`,
		`<option value="prod-eu,edge-1" selected="">`, `<option value="critical" selected="">`,
		"showing 1 of 3 resources (filtered)",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("filtered fleet dashboard lacks %q", want)
		}
	}
	for _, absent := range []string{`data-cluster="staging"`, `data-id="prod-eu/ConfigMap/shop/app-config"`,
		`data-id="edge-1/ConfigMap/kube-system/edge-config"`, `id="detail"`} {
		if strings.Contains(dom, absent) {
			t.Errorf("filtered fleet dashboard shows %q", absent)
		}
	}
	// Worst state first.
	if i, j := strings.Index(dom, `data-cluster="edge-1" data-state`), strings.Index(dom, `data-cluster="prod-eu" data-state`); i > j {
		t.Error("the unreachable cluster is not listed before the drifted one")
	}

	// Unfiltered, with a resource opened: the whole fleet and the drill-down.
	webID := "prod-eu/Deployment/shop/web"
	opened := srv.URL + "/?" + url.Values{"token": {"s3cret"}, "open": {webID}}.Encode()
	dom = fleetDashboardDOM(t, opened)
	if diff := cmp.Diff(map[string]int{
		"clusters": 3, "unreachable": 1, "forbidden": 0, "no-crd": 0, "stale": 0, "no-reports": 0, "drifted": 1, "in-sync": 1,
		"resources-drifted": 3, "severity-critical": 1, "severity-warning": 1, "severity-info": 0, "severity-none": 1, "errors": 0,
	}, fleetSummaryCounts(dom)); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	for _, want := range []string{
		`data-cluster="staging" data-state="in-sync"`, `data-id="prod-eu/ConfigMap/shop/app-config"`,
		`data-id="edge-1/ConfigMap/kube-system/edge-config" data-cluster="edge-1" data-status="Missing" data-cluster-state="unreachable"`,
		`<option value="" selected="">all</option>`,
		`<div id="detail" data-id="` + webID + `">`, "<code>spec.replicas</code>", "<code>spec.template.spec.containers[0].image</code>",
		"kubectl-edit at ", "first seen",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("opened fleet dashboard lacks %q", want)
		}
	}
	start := strings.Index(dom, `<ol class="timeline" data-resource="`+webID+`">`)
	end := strings.Index(dom[max(start, 0):], "</ol>")
	if start < 0 || end < 0 {
		t.Fatalf("no timeline for %s:\n%s", webID, dom)
	}
	tl := dom[start : start+end]
	pos := -1
	for _, step := range []string{`data-type="detected" data-seq="1"`, "drift detected", "1 field: spec.replicas",
		`data-type="changed" data-seq="4"`, "drift changed", "2 fields: spec.replicas, spec.template.spec.containers[0].image"} {
		i := strings.Index(tl[pos+1:], step)
		if i < 0 {
			t.Fatalf("timeline lacks %q after position %d:\n%s", step, pos, tl)
		}
		pos += 1 + i
	}
	if n := strings.Count(tl, "data-type="); n != 2 {
		t.Errorf("timeline has %d events, want 2 (prod-eu's web only):\n%s", n, tl)
	}

	// The drill-down's export link downloads that resource's history with
	// the page's token.
	m := regexp.MustCompile(`<div id="detail"[\s\S]*?<a href="([^"]+)" class="export" data-format="csv">`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no CSV export link in the drill-down:\n%s", dom)
	}
	code, body := serverGet(t, srv, "/"+html.UnescapeString(m[1]), "")
	if rows := strings.Split(strings.TrimSpace(body), "\n"); code != http.StatusOK || len(rows) != 3 {
		t.Errorf("the drill-down's CSV export (%s): %d, want a header and 2 rows:\n%s", m[1], code, body)
	}

	screenshot(t, opened, "fleet-dashboard.png")
}

// Without an audit log, the drill-down says so (the hub's message) and
// the rest of the page works.
func TestFleetDashboardWithoutAuditLog(t *testing.T) {
	srv := newFleetTestServer(t, nil, "")
	dom := fleetDashboardDOM(t, srv.URL+"/?open=prod-eu/ConfigMap/shop/app-config")
	for _, want := range []string{`<div id="detail" data-id="prod-eu/ConfigMap/shop/app-config">`, "history unavailable:", "--audit-db",
		"<code>data.LOG_LEVEL</code>"} {
		if !strings.Contains(dom, want) {
			t.Errorf("fleet dashboard without an audit log lacks %q:\n%s", want, dom)
		}
	}
}
