package main

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/informer"
)

// TestLoadNoUpdateDropped watches 10,000 objects while 200 changes per
// second hit them for 60 seconds (some drifting, some reverting), then
// checks that the workqueue drains and the final report matches the final
// live state exactly. It reports the peak heap. Long: it runs when
// DRIFTWATCH_LONG_TESTS=1 (.ci/run sets it); otherwise a 1,000-object,
// 5-second version runs.
func TestLoadNoUpdateDropped(t *testing.T) {
	requireAPIServer(t)
	objects, rate, duration := 1000, 200, 5*time.Second
	if os.Getenv("DRIFTWATCH_LONG_TESTS") == "1" {
		objects, duration = 10000, 60*time.Second
	}
	ctx := context.Background()
	ns := fmt.Sprintf("load-%d-%d", objects, nsCounter.Add(1))
	if err := kube.Apply(ctx, "setup", "", &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}); err != nil {
		t.Fatal(err)
	}
	cms := kube.Dynamic.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace(ns)
	dir := t.TempDir()
	var manifest strings.Builder
	for i := range objects {
		fmt.Fprintf(&manifest, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\ndata:\n  key: desired\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "cms.yaml"), []byte(manifest.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	parallel(t, objects, 8, func(i int) error {
		cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": fmt.Sprintf("cm-%d", i)}, "data": map[string]any{"key": "desired"}}}
		_, err := cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: "gitops"})
		return err
	})

	dc, err := discovery.NewDiscoveryClientForConfig(apiConfig)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := informer.NewManagerForConfig(apiConfig, informer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Stop()
	mon := pipeline.NewMonitor(pipeline.MonitorOptions{
		Load: func(ctx context.Context) (*gitsource.Desired, error) {
			return gitsource.Load(ctx, gitsource.Options{Dir: dir})
		},
		Interval: time.Hour, Resolver: informer.NewResolver(dc), Manager: mgr,
		Evaluator: &pipeline.Evaluator{Live: mgr}, DefaultNamespace: ns,
	})
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = mon.Run(runCtx, 2) }()
	waitFor(t, 5*time.Minute, func() bool { return mon.Ready() })

	var peak uint64
	sampleDone := make(chan struct{})
	go func() {
		defer close(sampleDone)
		var ms runtime.MemStats
		for runCtx.Err() == nil {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak {
				peak = ms.HeapInuse
			}
			select {
			case <-time.After(250 * time.Millisecond):
			case <-runCtx.Done():
			}
		}
	}()

	// 200 changes a second, bounded in count and time, from 4 writers.
	final := make([]string, objects)
	for i := range final {
		final[i] = "desired"
	}
	var mu sync.Mutex
	total := rate * int(duration/time.Second)
	work := make(chan int, rate)
	var wg sync.WaitGroup
	var failures int
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				i := rand.Intn(objects)
				value := fmt.Sprintf("changed-%d", n)
				if n%3 == 0 {
					value = "desired"
				}
				mu.Lock()
				cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
					"metadata": map[string]any{"name": fmt.Sprintf("cm-%d", i)}, "data": map[string]any{"key": value}}}
				_, err := cms.Patch(ctx, cm.GetName(), "application/merge-patch+json",
					[]byte(fmt.Sprintf(`{"data":{"key":%q}}`, value)), metav1.PatchOptions{FieldManager: "kubectl-edit"})
				if err == nil {
					final[i] = value
				} else {
					failures++
				}
				mu.Unlock()
			}
		}()
	}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	start := time.Now()
	for n := 0; n < total && time.Since(start) < duration+30*time.Second; n++ {
		<-tick.C
		work <- n
	}
	tick.Stop()
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	if failures > 0 {
		t.Fatalf("%d writes failed", failures)
	}

	// The queue drains and the report equals the final state.
	var mismatched []string
	waitFor(t, 2*time.Minute, func() bool {
		if mon.QueueLen() > 0 {
			return false
		}
		mismatched = mismatched[:0]
		for _, r := range mon.Report().Resources {
			var i int
			fmt.Sscanf(r.Name, "cm-%d", &i)
			want := drift.InSync
			if final[i] != "desired" {
				want = drift.Drifted
			}
			if r.Status != want || (want == drift.Drifted && r.Diffs[0].Live != final[i]) {
				mismatched = append(mismatched, r.Name)
			}
		}
		return len(mismatched) == 0
	})
	stop()
	<-sampleDone
	t.Logf("%d objects, %d changes in %s (%.0f/s), queue drained, report exact; peak heap in use %d MiB",
		objects, total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), peak>>20)
}

// parallel runs f for 0..n-1 on k workers and fails the test on an error.
func parallel(t *testing.T, n, k int, f func(int) error) {
	t.Helper()
	work := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := f(i); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// waitFor polls cond every 100 ms until it holds or the limit passes.
func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
