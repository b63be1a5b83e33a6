package fleettest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/driftwatch/driftwatch/drift/pipeline/reports"
	"github.com/driftwatch/driftwatch/informer"
)

var (
	reportsGVR        = schema.GroupVersionResource{Group: "openreports.io", Version: "v1alpha1", Resource: "reports"}
	clusterReportsGVR = schema.GroupVersionResource{Group: "openreports.io", Version: "v1alpha1", Resource: "clusterreports"}
)

const selector = reports.ManagedByLabel + "=" + reports.SourceName

// restConfig loads the server's kubeconfig, as the hub does, for the
// context of cluster.
func restConfig(t *testing.T, s *Server, cluster string) *rest.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := s.WriteKubeconfig(path); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: path}, &clientcmd.ConfigOverrides{CurrentContext: cluster}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func get(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// The objects are what reports.Build makes, with the metadata an API
// server adds, and decode as the typed OpenReports objects.
func TestListObjects(t *testing.T) {
	s := NewServer(3, 20, 50)
	defer s.Close()
	base := s.ClusterURL("cluster-0001") + "/apis/openreports.io/v1alpha1"

	code, body := get(t, base+"/reports?labelSelector="+url.QueryEscape(selector))
	if code != http.StatusOK {
		t.Fatalf("list reports: %d %s", code, body)
	}
	var list orv1.ReportList
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("list reports: %v", err)
	}
	if list.ResourceVersion == "" {
		t.Error("list has no resourceVersion")
	}
	var namespaces []string
	for _, r := range list.Items {
		namespaces = append(namespaces, r.Namespace)
		if len(r.Results) != 50 || r.Summary.Pass+r.Summary.Fail != 50 || r.Summary.Fail != 3 {
			t.Errorf("%s/%s: %d results, summary %+v; want 50 results, 3 failing", r.Namespace, r.Name, len(r.Results), r.Summary)
		}
		if r.Name != objectName || r.Labels[reports.ManagedByLabel] != reports.SourceName || r.Labels[reports.PolicyLabel] == "" || r.UID == "" {
			t.Errorf("%s/%s: metadata %+v", r.Namespace, r.Name, r.ObjectMeta)
		}
		if r.Kind != "Report" || r.APIVersion != apiVersion {
			t.Errorf("%s/%s: kind %s %s", r.Namespace, r.Name, r.APIVersion, r.Kind)
		}
	}
	var want []string
	for i := range 19 {
		want = append(want, namespaceOf(i+1))
	}
	if d := cmp.Diff(want, namespaces); d != "" {
		t.Errorf("namespaces (-want +got):\n%s", d)
	}
	// A failing result carries what the hub reads.
	fail := list.Items[0].Results[0]
	for _, p := range []string{"digest", "firstSeen", "revision"} {
		if fail.Properties[p] == "" {
			t.Errorf("failing result %+v: no %s", fail, p)
		}
	}
	if fail.Result != "fail" || fail.Severity == "" || len(fail.Subjects) != 1 {
		t.Errorf("failing result %+v", fail)
	}

	pass, failing, err := s.Counts("cluster-0001")
	if err != nil || pass != 20*47 || failing != 20*3 {
		t.Errorf("Counts: %d pass, %d fail, %v; want %d, %d", pass, failing, err, 20*47, 20*3)
	}

	code, body = get(t, base+"/clusterreports")
	var clist orv1.ClusterReportList
	if err := json.Unmarshal(body, &clist); err != nil || code != http.StatusOK {
		t.Fatalf("list clusterreports: %d %v", code, err)
	}
	if len(clist.Items) != 1 || clist.Items[0].Annotations[reports.CheckedAtAnnotation] == "" {
		t.Fatalf("clusterreports: want one with a heartbeat, got %+v", clist.Items)
	}
}

// Requests the server refuses or narrows, answered as the API server does.
func TestRequests(t *testing.T) {
	s := NewServer(2, 3, 5)
	defer s.Close()
	base := s.ClusterURL("cluster-0000")
	group := base + "/apis/openreports.io/v1alpha1"
	tests := []struct {
		name  string
		url   string
		code  int
		items int // -1: not a list
	}{
		{"all reports", group + "/reports", 200, 2},
		{"reports of a namespace", group + "/namespaces/ns-01/reports", 200, 1},
		{"selector matching", group + "/reports?labelSelector=" + url.QueryEscape(selector), 200, 2},
		{"selector excluding", group + "/reports?labelSelector=" + url.QueryEscape("app.kubernetes.io/managed-by=kyverno"), 200, 0},
		{"field selector", group + "/reports?fieldSelector=metadata.namespace%3Dns-00", 200, 1},
		{"limit is ignored", group + "/reports?limit=1", 200, 2},
		{"one report", group + "/namespaces/ns-00/reports/" + objectName, 200, -1},
		{"one missing report", group + "/namespaces/ns-00/reports/nope", 404, -1},
		{"one cluster report", group + "/clusterreports/" + objectName, 200, -1},
		{"another kind", group + "/policyreports", 404, -1},
		{"another cluster", s.ClusterURL("cluster-9999") + "/apis/openreports.io/v1alpha1/reports", 404, -1},
		{"bad selector", group + "/reports?labelSelector=%3D%3D%3D", 400, -1},
		{"watch-list without NotOlderThan", group + "/reports?watch=true&sendInitialEvents=true&allowWatchBookmarks=true", 422, -1},
		{"version", base + "/version", 200, -1},
		{"group discovery", group, 200, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, tt.url)
			if code != tt.code {
				t.Fatalf("%d %s, want %d", code, body, tt.code)
			}
			if tt.items < 0 {
				return
			}
			var l struct {
				Items []json.RawMessage `json:"items"`
			}
			if err := json.Unmarshal(body, &l); err != nil {
				t.Fatal(err)
			}
			if len(l.Items) != tt.items {
				t.Errorf("%d items, want %d", len(l.Items), tt.items)
			}
		})
	}
}

// watchEvents opens a watch and returns the first n events' types and
// resourceVersions (or the error Status's code).
func watchEvents(t *testing.T, u string, n int, during func()) []string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if during != nil {
		during()
	}
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	var out []string
	for range n {
		var e struct {
			Type   string `json:"type"`
			Object struct {
				Code     int               `json:"code"`
				Metadata metav1.ObjectMeta `json:"metadata"`
			} `json:"object"`
		}
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("after %v: %v", out, err)
		}
		s := e.Type + " " + e.Object.Metadata.ResourceVersion
		if e.Object.Code != 0 {
			s = e.Type + " " + strconv.Itoa(e.Object.Code)
		}
		if e.Object.Metadata.Annotations[metav1.InitialEventsAnnotationKey] == "true" {
			s += " initial-events-end"
		}
		out = append(out, s)
	}
	return out
}

// The watch protocol: initial events and their bookmark, resuming from a
// version, and 410 once that version is compacted.
func TestWatch(t *testing.T) {
	s := NewServer(1, 3, 5)
	defer s.Close()
	c := s.clusters[0]
	group := s.ClusterURL("cluster-0000") + "/apis/openreports.io/v1alpha1"
	rv := func() string { c.mu.Lock(); defer c.mu.Unlock(); return strconv.FormatUint(c.rv, 10) }
	start := rv()
	objRV := func(k int) string {
		c.mu.Lock()
		defer c.mu.Unlock()
		return strconv.FormatUint(c.objects[k].cur.rv, 10)
	}

	got := watchEvents(t, group+"/reports?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true", 3, nil)
	want := []string{"ADDED " + objRV(1), "ADDED " + objRV(2), "BOOKMARK " + start + " initial-events-end"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("watch-list (-want +got):\n%s", d)
	}

	var changed Change
	got = watchEvents(t, group+"/namespaces/ns-01/reports?watch=true&resourceVersion="+start, 1, func() {
		// Changes to other objects are not watched.
		for changed.ReportNamespace != "ns-01" {
			var err error
			if changed, err = s.ChangeDigest("cluster-0000"); err != nil {
				t.Fatal(err)
			}
		}
	})
	if d := cmp.Diff([]string{"MODIFIED " + strconv.FormatUint(changed.ResourceVersion, 10)}, got); d != "" {
		t.Errorf("watch from %s (-want +got):\n%s", start, d)
	}

	// Resuming from the start replays the history.
	got = watchEvents(t, group+"/namespaces/ns-01/reports?watch=true&resourceVersion="+start, 1, nil)
	if d := cmp.Diff([]string{"MODIFIED " + strconv.FormatUint(changed.ResourceVersion, 10)}, got); d != "" {
		t.Errorf("watch resumed from %s (-want +got):\n%s", start, d)
	}

	if err := s.Expire("cluster-0000"); err != nil {
		t.Fatal(err)
	}
	got = watchEvents(t, group+"/reports?watch=true&resourceVersion="+start, 1, nil)
	if d := cmp.Diff([]string{"ERROR 410"}, got); d != "" {
		t.Errorf("watch from a compacted version (-want +got):\n%s", d)
	}
	if st := s.Stats(); st.Expired != 1 || st.WatchLists != 1 {
		t.Errorf("stats %+v: want 1 expired, 1 watch-list", st)
	}
}

// digestOf returns the digest of the result about ch's subject in obj.
func digestOf(obj *unstructured.Unstructured, ch Change) string {
	results, _, _ := unstructured.NestedSlice(obj.Object, "results")
	for _, r := range results {
		m, _ := r.(map[string]any)
		subs, _ := m["resources"].([]any)
		if len(subs) == 0 {
			continue
		}
		sub, _ := subs[0].(map[string]any)
		if sub["kind"] == ch.Kind && sub["name"] == ch.Name {
			d, _, _ := unstructured.NestedString(m, "properties", "digest")
			return d
		}
	}
	return ""
}

// A real client-go dynamic informer, with the streaming watch-list (the
// default) and with plain LIST, lists every object, follows a change and
// lists again after 410 Expired.
func TestDynamicInformer(t *testing.T) {
	for _, watchList := range []bool{true, false} {
		t.Run("watchList="+strconv.FormatBool(watchList), func(t *testing.T) {
			clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, watchList)
			s := NewServer(3, 20, 50)
			defer s.Close()
			const cluster = "cluster-0002"
			dyn, err := dynamic.NewForConfig(restConfig(t, s, cluster))
			if err != nil {
				t.Fatal(err)
			}
			f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, "", func(o *metav1.ListOptions) { o.LabelSelector = selector })
			reps, creps := f.ForResource(reportsGVR).Informer(), f.ForResource(clusterReportsGVR).Informer()
			var mu sync.Mutex
			updates := map[string]*unstructured.Unstructured{}
			h := cache.ResourceEventHandlerFuncs{UpdateFunc: func(_, o any) {
				u := o.(*unstructured.Unstructured)
				mu.Lock()
				updates[u.GetKind()+"/"+u.GetNamespace()] = u
				mu.Unlock()
			}}
			reps.AddEventHandler(h)
			creps.AddEventHandler(h)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			f.Start(ctx.Done())
			defer func() { cancel(); f.Shutdown() }()
			for gvr, ok := range f.WaitForCacheSync(ctx.Done()) {
				if !ok {
					t.Fatalf("%s did not sync", gvr)
				}
			}
			if n, m := len(reps.GetStore().List()), len(creps.GetStore().List()); n != 19 || m != 1 {
				t.Fatalf("synced %d reports and %d cluster reports, want 19 and 1", n, m)
			}
			st := s.Stats()
			if watchList && (st.WatchLists != 2 || st.Lists != 0) {
				t.Errorf("stats %+v: want 2 watch-lists, no list", st)
			}
			if !watchList && st.Lists != 2 {
				t.Errorf("stats %+v: want 2 lists", st)
			}

			t.Logf("%s synced", time.Now().Format("15:04:05.000"))
			ch, err := s.ChangeDigest(cluster)
			if err != nil {
				t.Fatal(err)
			}
			key := ch.ReportKind + "/" + ch.ReportNamespace
			waitFor(ctx, t, "the changed digest", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return updates[key] != nil && digestOf(updates[key], ch) == ch.Digest
			})

			t.Logf("%s change seen", time.Now().Format("15:04:05.000"))
			before := s.Stats()
			if err := s.Expire(cluster); err != nil {
				t.Fatal(err)
			}
			c := s.byName[cluster]
			c.mu.Lock()
			wantRV := strconv.FormatUint(c.objects[0].cur.rv, 10)
			c.mu.Unlock()
			// The heartbeat Expire wrote is only in a new list.
			waitFor(ctx, t, "the relisted heartbeat", func() bool {
				for _, o := range creps.GetStore().List() {
					if o.(*unstructured.Unstructured).GetResourceVersion() == wantRV {
						return true
					}
				}
				return false
			})
			after := s.Stats()
			if after.Expired <= before.Expired || after.Lists+after.WatchLists <= before.Lists+before.WatchLists {
				t.Errorf("stats %+v after %+v: want a 410 and a new list", after, before)
			}
		})
	}
}

// driftwatch's own informer manager (what the hub reads with) follows the
// churn.
func TestManagerFollowsChurn(t *testing.T) {
	s := NewServer(2, 4, 10)
	defer s.Close()
	const cluster = "cluster-0001"
	m, err := informer.NewManagerForConfig(restConfig(t, s, cluster), informer.Options{
		TweakListOptions: func(_ informer.Scope, o *metav1.ListOptions) { o.LabelSelector = selector },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	scopes := []informer.Scope{{GVR: reportsGVR}, {GVR: clusterReportsGVR}}
	m.Ensure(scopes...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if errs := m.WaitForSync(ctx, scopes...); len(errs) > 0 {
		t.Fatalf("sync: %v", errs)
	}

	var mu sync.Mutex
	var changes []Change
	churnCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// 600 of 40 results a minute: about one change every 50 ms tick.
		s.Churn(churnCtx, 600, func(c Change) {
			if c.Cluster == cluster {
				mu.Lock()
				changes = append(changes, c)
				mu.Unlock()
			}
		})
	}()
	waitFor(ctx, t, "ten changes", func() bool { mu.Lock(); defer mu.Unlock(); return len(changes) >= 10 })
	stop()
	<-done

	// The last change of each result is what the manager's cache shows.
	last := map[string]Change{}
	for _, c := range changes {
		last[c.ReportNamespace+"/"+c.Kind+"/"+c.Name] = c
	}
	for _, c := range last {
		scope := informer.Scope{GVR: reportsGVR}
		if c.ReportKind == "ClusterReport" {
			scope = informer.Scope{GVR: clusterReportsGVR}
		}
		waitFor(ctx, t, "change "+c.Kind+" "+c.Name, func() bool {
			o, err := m.Get(scope, objectKey(c))
			return err == nil && o != nil && digestOf(o, c) == c.Digest
		})
	}
}

// objectKey is how the manager names a namespaced object.
func objectKey(c Change) string {
	if c.ReportNamespace == "" {
		return c.ReportName
	}
	return c.ReportNamespace + "/" + c.ReportName
}

// waitFor polls cond every 20 ms until it holds or ctx ends.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// Heartbeat rewrites the base ClusterReport's checked-at, as an agent
// does, and Churn's heartbeats keep every cluster's fresh.
func TestHeartbeat(t *testing.T) {
	s := NewServer(2, 2, 3)
	defer s.Close()
	checkedAt := func(cluster string) string {
		code, body := get(t, s.ClusterURL(cluster)+"/apis/openreports.io/v1alpha1/clusterreports/"+objectName)
		var cr orv1.ClusterReport
		if err := json.Unmarshal(body, &cr); err != nil || code != http.StatusOK {
			t.Fatalf("get: %d %v", code, err)
		}
		return cr.Annotations[reports.CheckedAtAnnotation]
	}
	at := time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)
	if err := s.Heartbeat("cluster-0001", at); err != nil {
		t.Fatal(err)
	}
	if got, want := checkedAt("cluster-0001"), "2030-01-02T03:04:05Z"; got != want {
		t.Errorf("checked-at %q, want %q", got, want)
	}
	if err := s.Heartbeat("cluster-0009", at); err == nil {
		t.Error("Heartbeat of a cluster not served: no error")
	}

	// Both clusters' heartbeats within one HeartbeatEvery of Churn.
	s.HeartbeatEvery = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	churnCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.Churn(churnCtx, 0, nil) }()
	waitFor(ctx, t, "fresh heartbeats", func() bool {
		for _, c := range s.Clusters() {
			got, err := time.Parse(time.RFC3339, checkedAt(c))
			if err != nil || got.Year() == 2030 || time.Since(got) > time.Minute {
				return false
			}
		}
		return true
	})
	stop()
	<-done
}
