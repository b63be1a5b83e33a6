package main

import (
	"bufio"
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

// Control-plane faults under a running watch. Each test has a control plane
// of its own, since it stops and restarts the API server, and a second API
// server on the same etcd (a peer, as in a highly available control plane)
// through which objects change while the first is down.

// faultCluster is a control plane the test may break.
type faultCluster struct {
	env        *apiservertest.Env
	kubeconfig string
	kube       *apiservertest.Client
	ns         string
}

// startFaultCluster starts a restartable control plane with the app
// fixture applied in namespace "faults" by the "gitops" field manager.
func startFaultCluster(t *testing.T, flags map[string]string) *faultCluster {
	t.Helper()
	env, err := apiservertest.StartWith(apiservertest.Options{Restartable: true, APIServerFlags: flags})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Stop() })
	fc := &faultCluster{env: env, ns: "faults"}
	if fc.kubeconfig, err = apiservertest.WriteKubeconfig(env.Config, t.TempDir(), "faults", fc.ns); err != nil {
		t.Fatal(err)
	}
	if fc.kube, err = apiservertest.NewClient(env.Config); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	nsObj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": fc.ns},
	}}
	if err := fc.kube.Apply(ctx, "setup", "", append(mustRender("crd"), nsObj)...); err != nil {
		t.Fatal(err)
	}
	if err := fc.kube.Apply(ctx, "gitops", fc.ns, mustRender("app")...); err != nil {
		t.Fatal(err)
	}
	return fc
}

// peer starts a second API server on the cluster's etcd and returns a
// client for it; it is stopped when the test ends.
func (fc *faultCluster) peer(t *testing.T) *apiservertest.Client {
	t.Helper()
	p, err := fc.env.StartPeer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	c, err := apiservertest.NewClient(p.Config)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// watchCluster runs watch against the fault cluster and waits until its
// first report is complete and in sync.
func (fc *faultCluster) watchCluster(t *testing.T, extra ...string) *daemon {
	t.Helper()
	d := startWatch(t, append([]string{"--repo", gitServer.RepoURL("deploy"), "--path", "app", "--interval", "1s",
		"--kubeconfig", fc.kubeconfig}, extra...)...)
	eventually(t, "ready", d, func() bool { c, _ := d.get(t, "/readyz"); return c == 200 })
	if r := d.report(t, ""); r.Summary.InSync != 6 || r.Summary.Total != 6 {
		t.Fatalf("initial report %+v", r.Summary)
	}
	return d
}

var configMapGVK = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}

// driftWhileDown changes two objects through the peer: the ConfigMap is
// edited by "kubectl-edit" (the value passed), the Service deleted.
func (fc *faultCluster) driftWhileDown(t *testing.T, peer *apiservertest.Client, level string) {
	t.Helper()
	ctx := context.Background()
	if err := peer.Edit(ctx, "kubectl-edit", configMapGVK, fc.ns, "app-config", setData("LOG_LEVEL", level)); err != nil {
		t.Fatal(err)
	}
	if err := peer.Delete(ctx, schema.GroupVersionKind{Version: "v1", Kind: "Service"}, fc.ns, "web"); err != nil {
		t.Fatal(err)
	}
}

// caughtUp says whether the report shows both changes driftWhileDown made,
// with the edit attributed, and no disconnection.
func caughtUp(r *drift.Report, level string) bool {
	cm, svc := resourceOf(r, "ConfigMap", "app-config"), resourceOf(r, "Service", "web")
	if r.Disconnected != nil || cm == nil || svc == nil || cm.Status != drift.Drifted || svc.Status != drift.Missing {
		return false
	}
	for _, d := range cm.Diffs {
		if d.Path == "data.LOG_LEVEL" && d.Live == level && d.ChangedBy != nil && d.ChangedBy.Manager == "kubectl-edit" {
			return true
		}
	}
	return false
}

// informerCounter sums a per-informer counter of /metrics for one resource.
func informerCounter(t *testing.T, d *daemon, name, resource string) int {
	t.Helper()
	_, body := d.get(t, "/metrics")
	total := 0
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, `resource="`+resource+`"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		total += int(v)
	}
	return total
}

// TestWatchSurvivesAPIServerRestart stops the API server under a running
// watch, changes objects through a peer API server meanwhile, and starts it
// again: the report says the API server is unreachable while it is down,
// shows both changes (attributed) once it is back, runs the same informers
// as before, and leaves no goroutine behind at shutdown.
func TestWatchSurvivesAPIServerRestart(t *testing.T) {
	requireAPIServer(t)
	fc := startFaultCluster(t, nil)
	peer := fc.peer(t)
	// Everything started from here on belongs to the daemon, and must be
	// gone once it stops (pooled keep-alive HTTP/1 and HTTP/2 connections
	// excepted: client-go shares transports between clients of one
	// config; and the API server process that the test restarts).
	hook := newReceiver(t)
	before := goleak.IgnoreCurrent()
	// As deployed: leader election on, notifications to a webhook.
	d := fc.watchCluster(t, "--leader-elect", "--leader-elect-namespace", fc.ns, "--webhook", hook.srv.URL)
	t.Logf("%s: watch ready", time.Now().Format("15:04:05.0"))
	informers := informersRunning(t, d)

	if err := fc.env.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: API server stopped", time.Now().Format("15:04:05.0"))
	eventuallyWithin(t, time.Minute, "the report to say the API server is unreachable", d, func() bool {
		r := d.report(t, "")
		return r.Disconnected != nil && strings.Contains(r.Disconnected.Reason, "connection refused")
	})
	if r := d.report(t, ""); r.Summary.InSync != 6 {
		t.Errorf("while disconnected the last live state should be kept: %+v", r.Resources)
	}
	if n := informerCounter(t, d, "driftwatch_informer_connected", "configmaps"); n != 0 {
		t.Errorf("driftwatch_informer_connected for configmaps = %d while the API server is down", n)
	}
	if dom := headless(t, d.url+"/", "--dump-dom"); !strings.Contains(dom, "API server not watched since") ||
		!strings.Contains(dom, "connection refused") {
		t.Errorf("the dashboard shows no disconnected banner:\n%s", dom)
	}
	t.Logf("%s: report says disconnected", time.Now().Format("15:04:05.0"))
	fc.driftWhileDown(t, peer, "debug")
	if err := fc.env.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: API server started", time.Now().Format("15:04:05.0"))
	eventuallyWithin(t, 90*time.Second, "the changes made while the API server was down", d, func() bool {
		return caughtUp(d.report(t, ""), "debug")
	})
	t.Logf("%s: changes seen", time.Now().Format("15:04:05.0"))
	// The leader (re-elected if its lease lapsed) notifies the changes.
	eventuallyWithin(t, time.Minute, "webhook notifications of the changes", d, func() bool {
		return slices.Contains(hook.types(fc.ns+"/app-config"), eventTypePrefix+"detected") &&
			slices.Contains(hook.types(fc.ns+"/web"), eventTypePrefix+"detected")
	})
	if n := informerCounter(t, d, "driftwatch_informer_connected", "configmaps"); n != 1 {
		t.Errorf("driftwatch_informer_connected for configmaps = %d after the restart", n)
	}
	if got := informersRunning(t, d); got != informers {
		t.Errorf("informers running after the restart = %s, before %s", got, informers)
	}
	logs := d.stderr.String()
	for _, want := range []string{"cannot watch the API server; keeping the last live state", "watching the API server again"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if err := goleak.Find(before,
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*conn).serve"),
		goleak.IgnoreAnyFunction("golang.org/x/net/http2.(*ClientConn).readLoop"),
		goleak.IgnoreAnyFunction("os/exec.(*Cmd).Wait"),
		goleak.IgnoreAnyFunction("sigs.k8s.io/controller-runtime/pkg/internal/testing/process.(*State).Start.func1")); err != nil {
		t.Errorf("goroutines left after the daemon stopped: %v", err)
	}
}

// TestWatchRelistsAfterEtcdCompaction runs the API server without its watch
// cache, so watches are served by etcd itself. A restart with etcd's history
// intact lets every informer resume its watch; a restart after etcd
// compacted its history past the informers' resource version makes their
// watches fail with 410 Gone, and they list again. Neither loses a change.
func TestWatchRelistsAfterEtcdCompaction(t *testing.T) {
	requireAPIServer(t)
	fc := startFaultCluster(t, map[string]string{"watch-cache": "false"})
	peer := fc.peer(t)
	d := fc.watchCluster(t)
	lists := informerCounter(t, d, "driftwatch_informer_lists_total", "configmaps")
	if lists < 1 {
		t.Fatalf("configmaps lists = %d before any fault", lists)
	}

	// History intact: the watch resumes, nothing is listed again.
	if err := fc.env.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	fc.driftWhileDown(t, peer, "debug")
	if err := fc.env.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 90*time.Second, "the changes made while the API server was down", d, func() bool {
		return caughtUp(d.report(t, ""), "debug")
	})
	if got := informerCounter(t, d, "driftwatch_informer_lists_total", "configmaps"); got != lists {
		t.Errorf("configmaps lists = %d after a restart with history intact, want %d (the watch should resume)", got, lists)
	}
	if got := informerCounter(t, d, "driftwatch_informer_watches_total", "configmaps"); got < 1 {
		t.Errorf("configmaps resumed watches = %d, want ≥ 1", got)
	}

	// History compacted while the informers were away: 410 Gone, relist.
	if err := fc.env.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	fc.driftWhileDown(t, peer, "trace")
	rev, err := fc.env.CompactEtcd(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("etcd compacted at revision %d", rev)
	if err := fc.env.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 90*time.Second, "the change made before the compaction", d, func() bool {
		return caughtUp(d.report(t, ""), "trace")
	})
	if got := informerCounter(t, d, "driftwatch_informer_lists_total", "configmaps"); got <= lists {
		t.Errorf("configmaps lists = %d after compaction, want more than %d (a relist after 410 Gone)", got, lists)
	}
}
