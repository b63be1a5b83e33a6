package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/gitsource/gittest"
)

// syncBuffer is a bytes.Buffer safe for the daemon's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// daemon is a running `driftwatch watch`.
type daemon struct {
	url    string
	token  string
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan int
}

// startWatch runs `driftwatch watch args...` in-process on a free loopback
// port and waits until it serves HTTP.
func startWatch(t *testing.T, args ...string) *daemon {
	t.Helper()
	addr := make(chan string, 1)
	listenHook = func(a string) { addr <- a }
	testRetryBase = 100 * time.Millisecond
	t.Cleanup(func() { listenHook, testRetryBase = nil, 0 })
	t.Setenv("DRIFTWATCH_GIT_USERNAME", gitUser)
	t.Setenv("DRIFTWATCH_GIT_PASSWORD", gitPassword)
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{stderr: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	full := append([]string{"watch", "--listen", "127.0.0.1:0", "--kubeconfig", kubeconfig, "--cache-dir", t.TempDir()}, args...)
	go func() {
		d.done <- run(ctx, full, streams{Out: io.Discard, Err: d.stderr})
	}()
	select {
	case a := <-addr:
		d.url = "http://" + a
	case code := <-d.done:
		t.Fatalf("watch exited with %d before listening: %s", code, d.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("watch did not listen: %s", d.stderr.String())
	}
	t.Cleanup(func() { d.stop(t) })
	return d
}

// stop sends the equivalent of SIGTERM and returns the exit code.
func (d *daemon) stop(t *testing.T) int {
	t.Helper()
	if d.cancel == nil {
		return 0
	}
	d.cancel()
	d.cancel = nil
	select {
	case code := <-d.done:
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("watch did not stop: %s", d.stderr.String())
	}
	return -1
}

func (d *daemon) get(t *testing.T, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, d.url+path, nil)
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (d *daemon) report(t *testing.T, query string) *drift.Report {
	t.Helper()
	code, body := d.get(t, "/api/v1/report"+query)
	if code != http.StatusOK {
		t.Fatalf("report: %d %s", code, body)
	}
	var r drift.Report
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("report: %v", err)
	}
	return &r
}

// eventually polls cond every 50ms for up to 30s (a bounded loop).
func eventually(t *testing.T, what string, d *daemon, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, 30*time.Second, what, d, cond)
}

// eventuallyWithin is eventually with another bound (after the API server
// comes back, client-go's reflectors retry on an exponential backoff of up
// to 30 s). On timeout it shows the report, the informer and client
// metrics, and the logs.
func eventuallyWithin(t *testing.T, limit time.Duration, what string, d *daemon, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			_, rep := d.get(t, "/api/v1/report")
			_, met := d.get(t, "/metrics")
			var informerLines []string
			for _, l := range strings.Split(met, "\n") {
				if strings.HasPrefix(l, "driftwatch_informer_") || strings.HasPrefix(l, "driftwatch_client_requests_total") {
					informerLines = append(informerLines, l)
				}
			}
			t.Fatalf("timed out after %s waiting for %s\nreport: %s\nmetrics:\n%s\nlogs:\n%s", limit, what, rep,
				strings.Join(informerLines, "\n"), d.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func resourceOf(r *drift.Report, kind, name string) *drift.Resource {
	for i := range r.Resources {
		if r.Resources[i].Kind == kind && r.Resources[i].Name == name {
			return &r.Resources[i]
		}
	}
	return nil
}

// receiver is a webhook endpoint on loopback collecting CloudEvents.
type receiver struct {
	mu     sync.Mutex
	events []cloudEvent
	ctypes []string
	srv    *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var ev cloudEvent
		if err := json.NewDecoder(req.Body).Decode(&ev); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.ctypes = append(r.ctypes, req.Header.Get("Content-Type"))
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) types(subject string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		if strings.HasSuffix(ev.Subject, subject) {
			out = append(out, ev.Type)
		}
	}
	return out
}

func setReplicas(n int64) func(*unstructured.Unstructured) error {
	return func(u *unstructured.Unstructured) error {
		return unstructured.SetNestedField(u.Object, n, "spec", "replicas")
	}
}

func TestWatchDetectsAndResolvesEdits(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	hook := newReceiver(t)
	d := startWatch(t, "--repo", gitServer.RepoURL("deploy"), "--path", "app", "-n", ns,
		"--interval", "1s", "--webhook", hook.srv.URL)
	eventually(t, "ready", d, func() bool { c, _ := d.get(t, "/readyz"); return c == 200 })
	if r := d.report(t, ""); r.Summary.InSync != 6 || r.Summary.Total != 6 {
		t.Fatalf("initial report %+v", r.Summary)
	}

	// kubectl edit: the daemon sees it through its informer.
	if err := kube.Edit(context.Background(), "kubectl-edit", gvkDeployment, ns, "web", setReplicas(7)); err != nil {
		t.Fatal(err)
	}
	var res *drift.Resource
	eventually(t, "drift in the report", d, func() bool {
		res = resourceOf(d.report(t, ""), "Deployment", "web")
		return res != nil && res.Status == drift.Drifted
	})
	if len(res.Diffs) != 1 || res.Diffs[0].Path != "spec.replicas" || res.Diffs[0].ChangedBy == nil ||
		res.Diffs[0].ChangedBy.Manager != "kubectl-edit" || res.FirstSeen == nil || res.LastChanged == nil {
		t.Errorf("drifted resource: %+v", res)
	}
	want := fmt.Sprintf(`driftwatch_resource_status{group="apps",kind="Deployment",name="web",namespace=%q,status="Drifted"} 1`, ns)
	eventually(t, "drift in /metrics", d, func() bool { _, m := d.get(t, "/metrics"); return strings.Contains(m, want) })
	_, m := d.get(t, "/metrics")
	for _, metric := range []string{"driftwatch_informers_running", "driftwatch_informer_events_total", "driftwatch_workqueue_depth",
		"driftwatch_git_last_success_timestamp_seconds", "driftwatch_git_commit_info", "driftwatch_resource_drift_age_seconds",
		"driftwatch_resource_drifted_fields", "driftwatch_render_errors_total", "driftwatch_workqueue_queue_duration_seconds"} {
		if !strings.Contains(m, metric) {
			t.Errorf("/metrics lacks %s", metric)
		}
	}
	// Filters.
	if r := d.report(t, "?status=Drifted"); len(r.Resources) != 1 || r.Summary.Drifted != 1 {
		t.Errorf("filtered report: %+v", r.Resources)
	}
	if r := d.report(t, "?kind=ConfigMap,Service&namespace="+ns); len(r.Resources) != 2 {
		t.Errorf("kind filter: %d resources", len(r.Resources))
	}

	// Reverting resolves it.
	if err := kube.Edit(context.Background(), "kubectl-edit", gvkDeployment, ns, "web", setReplicas(2)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "resolution", d, func() bool {
		res = resourceOf(d.report(t, ""), "Deployment", "web")
		return res.Status == drift.InSync && res.ResolvedAt != nil
	})
	eventually(t, "detected and resolved CloudEvents", d, func() bool {
		got := hook.types(ns + "/web")
		return len(got) == 2
	})
	if got := hook.types(ns + "/web"); got[0] != "dev.driftwatch.drift.detected" || got[1] != "dev.driftwatch.drift.resolved" {
		t.Errorf("events %v", got)
	}
	hook.mu.Lock()
	ev, ctype := hook.events[0], hook.ctypes[0]
	hook.mu.Unlock()
	if ev.SpecVersion != "1.0" || ev.ID == "" || ev.Source == "" || ctype != "application/cloudevents+json; charset=utf-8" ||
		ev.Data.Kind != "Deployment" || ev.Data.Status != drift.Drifted {
		t.Errorf("CloudEvent %+v (%s)", ev, ctype)
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit code after SIGTERM: %d", code)
	}
}

// commitDir replaces the repository's content with the given files.
func commitDir(t *testing.T, repo *gittest.Repo, files map[string]string, msg string) {
	t.Helper()
	entries, _ := os.ReadDir(repo.Dir())
	for _, e := range entries {
		if e.Name() != ".git" {
			os.RemoveAll(filepath.Join(repo.Dir(), e.Name()))
		}
	}
	for name, src := range files {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "watch", src))
		if err != nil {
			t.Fatal(err)
		}
		if err := repo.WriteFile(name, string(b)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := repo.Commit(msg); err != nil {
		t.Fatal(err)
	}
}

func informersRunning(t *testing.T, d *daemon) string {
	_, m := d.get(t, "/metrics")
	for _, line := range strings.Split(m, "\n") {
		if strings.HasPrefix(line, "driftwatch_informers_running ") {
			return strings.TrimPrefix(line, "driftwatch_informers_running ")
		}
	}
	return ""
}

func TestWatchFollowsGitAndStopsInformers(t *testing.T) {
	requireAPIServer(t)
	// Informers, reflectors, the workqueue and the notifier must all be gone
	// after shutdown; pooled keep-alive HTTP connections (the test's client,
	// go-git's transport to the shared Git server) are not leaks.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*conn).serve"))
	ns := newNamespace(t)
	repo, err := gitServer.CreateRepo("follow-" + ns)
	if err != nil {
		t.Fatal(err)
	}
	commitDir(t, repo, map[string]string{"configmap.yaml": "follow/configmap.yaml"}, "config map only")
	d := startWatch(t, "--repo", gitServer.RepoURL("follow-"+ns), "-n", ns, "--interval", "200ms")
	eventually(t, "ready", d, func() bool { c, _ := d.get(t, "/readyz"); return c == 200 })
	// ConfigMaps in the namespace, plus CRDs.
	if got := informersRunning(t, d); got != "2" {
		t.Errorf("informers running = %s, want 2", got)
	}

	commitDir(t, repo, map[string]string{"configmap.yaml": "follow/configmap.yaml", "service.yaml": "service.yaml"}, "add a service")
	eventually(t, "a Service informer", d, func() bool { return informersRunning(t, d) == "3" })
	eventually(t, "the Service in the report", d, func() bool {
		r := resourceOf(d.report(t, ""), "Service", "api")
		return r != nil && r.Status == drift.Missing
	})

	commitDir(t, repo, map[string]string{"configmap.yaml": "follow/configmap.yaml"}, "remove the service")
	eventually(t, "the Service informer stopped", d, func() bool { return informersRunning(t, d) == "2" })
	if r := d.report(t, ""); len(r.Resources) != 1 {
		t.Errorf("report after removal: %+v", r.Resources)
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

func TestWatchPicksUpCRDAppliedLater(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	d := startWatch(t, "--dir", filepath.Join("..", "..", "testdata", "watch"), "--path", "pending", "-n", ns, "--interval", "500ms")
	eventually(t, "a pending kind", d, func() bool {
		r := resourceOf(d.report(t, ""), "Sprocket", "sprocket-a")
		return r != nil && r.Status == drift.Error && strings.HasPrefix(r.Error, "pending kind: ")
	})
	crd, err := gitsource.Render(filepath.Join("..", "..", "testdata", "watch"), "sprocket-crd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := kube.Apply(context.Background(), "setup", "", crd[0].Object); err != nil {
		t.Fatal(err)
	}
	// The CRD is cluster-wide: remove it, so that a repeated run
	// (go test -count N) starts without it again.
	t.Cleanup(func() { deleteCRD(t, crd[0].Object.GetName()) })
	eventually(t, "the custom resource compared (Missing)", d, func() bool {
		return resourceOf(d.report(t, ""), "Sprocket", "sprocket-a").Status == drift.Missing
	})
	cr, _ := gitsource.Render(filepath.Join("..", "..", "testdata", "watch"), "pending")
	if err := kube.Apply(context.Background(), "gitops", ns, cr[0].Object); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the custom resource in sync", d, func() bool {
		return resourceOf(d.report(t, ""), "Sprocket", "sprocket-a").Status == drift.InSync
	})
}

// deleteCRD deletes a CustomResourceDefinition and waits until it is gone.
func deleteCRD(t *testing.T, name string) {
	t.Helper()
	gvk := schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}
	if err := kube.Delete(context.Background(), gvk, "", name); err != nil {
		t.Error(err)
		return
	}
	ri, err := kube.Resource(gvk, "")
	if err != nil {
		t.Error(err)
		return
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := ri.Get(context.Background(), name, metav1.GetOptions{}); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("CRD %s not gone after a minute", name)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ownGitServer starts a Git server of the test's own (to break it) with
// repository name holding testdata/check.
func ownGitServer(t *testing.T, dir, name string) (*gittest.Server, *gittest.Repo) {
	t.Helper()
	srv, err := gittest.Start(dir, gittest.Options{Username: gitUser, Password: gitPassword})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := srv.CreateRepo(name)
	if err == nil {
		err = repo.CopyDir(filepath.Join("..", "..", "testdata", "check"))
	}
	if err == nil {
		_, err = repo.Commit("desired")
	}
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	return srv, repo
}

func TestWatchKeepsLastReportWhenGitIsDown(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	dir := t.TempDir()
	srv, _ := ownGitServer(t, dir, "flaky")
	d := startWatch(t, "--repo", srv.RepoURL("flaky"), "--path", "app", "-n", ns, "--interval", "200ms", "--git-timeout", "5s")
	eventually(t, "ready", d, func() bool { c, _ := d.get(t, "/readyz"); return c == 200 })

	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	eventually(t, "a stale report", d, func() bool { return d.report(t, "").Stale != nil })
	r := d.report(t, "")
	if r.Summary.Total != 6 || r.Summary.InSync != 6 || !strings.Contains(r.Stale.Reason, "unreachable") {
		t.Errorf("stale report: %+v stale %+v", r.Summary, r.Stale)
	}
	_, m := d.get(t, "/metrics")
	if !strings.Contains(m, "driftwatch_report_stale 1") {
		t.Error("metrics do not say stale")
	}
	if dom := headless(t, d.url+"/", "--dump-dom"); !strings.Contains(dom, "Git unreachable since") ||
		!strings.Contains(dom, "showing the last good desired state") {
		t.Errorf("the dashboard shows no stale banner:\n%s", dom)
	}
	// Drift is still detected while Git is down.
	if err := kube.Edit(context.Background(), "kubectl-edit", gvkDeployment, ns, "web", setReplicas(4)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "drift while stale", d, func() bool {
		return resourceOf(d.report(t, ""), "Deployment", "web").Status == drift.Drifted
	})

	srv2, err := gittest.Start(dir, gittest.Options{Username: gitUser, Password: gitPassword, Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	eventually(t, "recovery", d, func() bool { return d.report(t, "").Stale == nil })
}

// A flapping Git server (503s on and off) turns the report stale and back
// each time, never loses the resources, and a commit pushed during an
// outage is picked up after it.
func TestWatchGitFlapping(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	srv, repo := ownGitServer(t, t.TempDir(), "flapping")
	defer srv.Close()
	d := startWatch(t, "--repo", srv.RepoURL("flapping"), "--path", "app", "-n", ns, "--interval", "200ms")
	eventually(t, "ready", d, func() bool { c, _ := d.get(t, "/readyz"); return c == 200 })
	var last string
	for round := range 3 {
		srv.SetFailing(http.StatusServiceUnavailable)
		eventually(t, "a stale report", d, func() bool {
			r := d.report(t, "")
			return r.Stale != nil && strings.Contains(r.Stale.Reason, "503 Service Unavailable")
		})
		if r := d.report(t, ""); r.Summary.Total != 6 {
			t.Fatalf("round %d: stale report lost resources: %+v", round, r.Summary)
		}
		if round == 1 {
			if err := repo.WriteFile("app/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n"+
				"  labels:\n    app.kubernetes.io/name: app\ndata:\n  LOG_LEVEL: warn\n  FEATURES: \"a,b\"\n"); err != nil {
				t.Fatal(err)
			}
			var err error
			if last, err = repo.Commit("warn level, pushed while the server flaps"); err != nil {
				t.Fatal(err)
			}
		}
		srv.SetFailing(0)
		eventually(t, "recovery", d, func() bool { return d.report(t, "").Stale == nil })
	}
	eventually(t, "the commit pushed during an outage", d, func() bool {
		r := d.report(t, "")
		cm := resourceOf(r, "ConfigMap", "app-config")
		return r.Source.Commit == last && cm != nil && cm.Status == drift.Drifted
	})
}

func TestWatchAuthToken(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startWatch(t, "--dir", filepath.Join("..", "..", "testdata", "check"), "--path", "app", "-n", ns, "--auth-token-file", tokenFile)
	for _, path := range []string{"/api/v1/report", "/metrics", "/"} {
		for _, tok := range []string{"", "wrong"} {
			d.token = tok
			if code, _ := d.get(t, path); code != http.StatusUnauthorized {
				t.Errorf("%s with token %q: %d, want 401", path, tok, code)
			}
		}
	}
	d.token = ""
	// The dashboard's script and style sheet too: a browser fetches them
	// without the page's ?token=.
	for _, path := range []string{"/healthz", "/readyz", "/app.js", "/style.css"} {
		eventually(t, path+" open", d, func() bool { c, _ := d.get(t, path); return c == http.StatusOK })
	}
	d.token = "s3cret-t0ken"
	for _, path := range []string{"/api/v1/report", "/metrics", "/"} {
		if code, body := d.get(t, path); code != http.StatusOK {
			t.Errorf("%s with the token: %d %s", path, code, body)
		}
	}
	d.token = ""
	if code, _ := d.get(t, "/api/v1/report?token=s3cret-t0ken"); code != http.StatusOK {
		t.Errorf("token as query parameter: %d", code)
	}
	// A browser opening the page with the token renders the report.
	eventually(t, "ready", d, func() bool { c, _ := d.get(t, "/readyz"); return c == http.StatusOK })
	if dom := headless(t, d.url+"/?token=s3cret-t0ken", "--dump-dom"); !strings.Contains(dom, "<b>6</b>total") {
		t.Errorf("the dashboard opened with ?token= shows no resource:\n%s", dom)
	}
}

// Two replicas with --leader-elect both watch and serve, but only the
// Lease holder notifies: one drift, one CloudEvent.
func TestWatchLeaderElectionNotifiesOnce(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	hook := newReceiver(t)
	args := []string{"--repo", gitServer.RepoURL("deploy"), "--path", "app", "-n", ns, "--interval", "1s",
		"--webhook", hook.srv.URL, "--leader-elect", "--leader-elect-namespace", ns}
	a := startWatch(t, args...)
	b := startWatch(t, args...)
	for _, d := range []*daemon{a, b} {
		eventually(t, "ready", d, func() bool { c, _ := d.get(t, "/readyz"); return c == 200 })
	}
	leases := kube.Dynamic.Resource(schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}).Namespace(ns)
	eventually(t, "a leader", a, func() bool {
		l, err := leases.Get(context.Background(), "driftwatch", metav1.GetOptions{})
		if err != nil {
			return false
		}
		h, _, _ := unstructured.NestedString(l.Object, "spec", "holderIdentity")
		return h != ""
	})
	if err := kube.Edit(context.Background(), "kubectl-edit", gvkDeployment, ns, "web", setReplicas(3)); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*daemon{a, b} {
		eventually(t, "drift seen by both replicas", d, func() bool {
			return resourceOf(d.report(t, ""), "Deployment", "web").Status == drift.Drifted
		})
	}
	eventually(t, "a CloudEvent", a, func() bool { return len(hook.types(ns+"/web")) > 0 })
	// Give a second notification every chance to arrive (bounded wait).
	time.Sleep(2 * time.Second)
	if got := hook.types(ns + "/web"); len(got) != 1 {
		t.Errorf("events %v, want exactly one detected event", got)
	}
}
