package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"

	"github.com/driftwatch/driftwatch/drift/pipeline"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/informer"
)

// BenchmarkWatchEventToReport measures, with 5,000 watched ConfigMaps on the
// real API server, the latency from the informer event of a live change to
// the updated verdict in the monitor's report (and from the write request
// to it), one change per iteration. It reports p50 and p99 in ms.
func BenchmarkWatchEventToReport(b *testing.B) {
	requireAPIServer(b)
	objects := 5000
	if s := os.Getenv("DRIFTWATCH_BENCH_OBJECTS"); s != "" {
		fmt.Sscan(s, &objects)
	}
	ctx := context.Background()
	ns := "bench-watch"
	nsObj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}
	if err := kube.Apply(ctx, "setup", "", nsObj); err != nil {
		b.Fatal(err)
	}
	cms := kube.Dynamic.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace(ns)
	var manifest strings.Builder
	for i := range objects {
		fmt.Fprintf(&manifest, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\ndata:\n  key: value-%d\n  other: fixed\n", i, i)
	}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cms.yaml"), []byte(manifest.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	// Create the live objects with 8 parallel writers (bounded).
	work := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
					"metadata": map[string]any{"name": fmt.Sprintf("cm-%d", i)},
					"data":     map[string]any{"key": fmt.Sprintf("value-%d", i), "other": "fixed"}}}
				_, _ = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: "gitops"})
			}
		}()
	}
	for i := range objects {
		work <- i
	}
	close(work)
	wg.Wait()

	dyn, err := dynamic.NewForConfig(apiConfig)
	if err != nil {
		b.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(apiConfig)
	if err != nil {
		b.Fatal(err)
	}
	var eventAt sync.Map // name → time of its informer event
	type verdict struct {
		name string
		at   time.Time
	}
	verdicts := make(chan verdict, 16)
	mgr := informer.NewManager(dyn, informer.Options{})
	defer mgr.Stop()
	if _, err := mgr.AddEventHandler(informer.EventHandler{OnEvent: func(_ informer.Scope, name string, _ informer.EventType) {
		eventAt.Store(name, time.Now())
	}}); err != nil {
		b.Fatal(err)
	}
	mon := pipeline.NewMonitor(pipeline.MonitorOptions{
		Load: func(ctx context.Context) (*gitsource.Desired, error) {
			return gitsource.Load(ctx, gitsource.Options{Dir: dir})
		},
		Interval: time.Hour, Resolver: informer.NewResolver(dc), Manager: mgr,
		Evaluator:        &pipeline.Evaluator{Live: mgr, Schemas: pipeline.NewSchemas(dc, "")},
		DefaultNamespace: ns,
		Notify: func(c pipeline.Change) {
			select {
			case verdicts <- verdict{c.Resource.Name, time.Now()}:
			default:
			}
		},
	})
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = mon.Run(runCtx, 2) }()
	deadline := time.Now().Add(2 * time.Minute)
	for !mon.Ready() {
		if time.Now().After(deadline) {
			b.Fatal("monitor not ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for len(verdicts) > 0 {
		<-verdicts
	}

	var fromEvent, fromWrite []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("cm-%d", (i*7919)%objects)
		cm, err := cms.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		_ = unstructured.SetNestedField(cm.Object, fmt.Sprintf("edited-%d-%d", time.Now().UnixNano(), i), "data", "key")
		start := time.Now()
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
			b.Fatal(err)
		}
		for {
			select {
			case v := <-verdicts:
				if v.name != name {
					continue
				}
				ev, _ := eventAt.Load(name)
				fromEvent = append(fromEvent, v.at.Sub(ev.(time.Time)))
				fromWrite = append(fromWrite, v.at.Sub(start))
			case <-time.After(30 * time.Second):
				b.Fatalf("no verdict for %s", name)
			}
			break
		}
	}
	b.StopTimer()
	pct := func(ds []time.Duration, p float64) float64 {
		s := append([]time.Duration(nil), ds...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return float64(s[int(float64(len(s)-1)*p)].Microseconds()) / 1000
	}
	b.ReportMetric(pct(fromEvent, 0.50), "p50-event-to-report-ms")
	b.ReportMetric(pct(fromEvent, 0.99), "p99-event-to-report-ms")
	b.ReportMetric(pct(fromWrite, 0.50), "p50-write-to-report-ms")
	b.ReportMetric(pct(fromWrite, 0.99), "p99-write-to-report-ms")
	b.ReportMetric(float64(objects), "objects")
}
