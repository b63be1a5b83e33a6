package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/driftwatch/driftwatch/drift/pipeline"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/informer"
)

// watch measures, with every object of the size watched by an in-process
// pipeline.Monitor (as `driftwatch watch` runs it), the latency from a live
// change (the write request, and the informer event) to the updated verdict.
func (b *bench) watch(ctx context.Context, n int, objs []obj, dir string) (*WatchResult, error) {
	var cms []obj
	for _, o := range objs {
		if o.U.GetKind() == "ConfigMap" && !o.Drifted {
			cms = append(cms, o)
		}
	}
	if len(cms) == 0 {
		return nil, fmt.Errorf("no ConfigMap to change")
	}
	b.logf("watch: %d objects watched, %d live changes", n, b.cfg.WatchChanges)
	cfg := rest.CopyConfig(b.rest)
	cfg.QPS, cfg.Burst = 50, 100
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	heapMaps, err := b.informerHeap(ctx, dyn, dir, n, informer.DefaultTransform)
	if err != nil {
		return nil, err
	}
	heapPacked, err := b.informerHeap(ctx, dyn, dir, n, informer.PackTransform)
	if err != nil {
		return nil, err
	}
	b.logf("watch: heap per object once synced: %.0f B packed, %.0f B as maps", heapPacked, heapMaps)
	var eventAt sync.Map // name → time of its informer event
	verdicts := make(chan verdict, 1024)
	cl := &pipeline.Cluster{Config: cfg, Discovery: dc, Namespace: "default"}
	p, err := pipeline.NewWithManager(pipeline.Options{HashKey: []byte("bench-hash-key"), SyncTimeout: 5 * time.Minute},
		cl, nil, informer.NewManager(dyn, informer.Options{}))
	if err != nil {
		return nil, err
	}
	defer p.Stop()
	if _, err := p.Manager.AddEventHandler(informer.EventHandler{OnEvent: func(_ informer.Scope, name string, _ informer.EventType) {
		eventAt.Store(name, time.Now())
	}}); err != nil {
		return nil, err
	}
	mon := p.Monitor(pipeline.MonitorOptions{
		Load: func(ctx context.Context) (*gitsource.Desired, error) {
			// Packed, as driftwatch watch renders.
			return gitsource.Load(ctx, gitsource.Options{Dir: dir, Render: gitsource.RenderOptions{Pack: true}})
		},
		Interval: time.Hour,
		Notify: func(c pipeline.Change) {
			select {
			case verdicts <- verdict{c.Resource.Name, time.Now()}:
			default:
			}
		},
	})
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	// The whole Monitor's heap per watched object (desired objects,
	// informers, verdicts), from before it starts to once it is ready.
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	started := time.Now()
	go func() { _ = mon.Run(runCtx, 2) }()
	deadline := time.Now().Add(5 * time.Minute)
	for !mon.Ready() {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("monitor not ready after 5 minutes")
		}
		time.Sleep(10 * time.Millisecond)
	}
	firstReport := time.Since(started)
	b.logf("watch: first report after %.0f ms", ms(firstReport))
	runtime.GC()
	runtime.ReadMemStats(&after)
	monitorHeap := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
	b.logf("watch: monitor heap per watched object once ready: %.0f B", monitorHeap)
	if err := b.heapProfile(fmt.Sprintf("watch-heap-%d.pprof", n)); err != nil {
		return nil, err
	}
	// Let the initial verdicts drain.
	time.Sleep(time.Second)
	for len(verdicts) > 0 {
		<-verdicts
	}

	var fromEvent, fromWrite []time.Duration
	for i := range b.cfg.WatchChanges {
		o := cms[(i*7919)%len(cms)]
		ri := b.dyn.Resource(o.GVR).Namespace(o.U.GetNamespace())
		name := o.U.GetName()
		u, err := ri.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		_ = unstructured.SetNestedField(u.Object, fmt.Sprintf("watch-edit-%d-%d", i, time.Now().UnixNano()), "data", "key0")
		start := time.Now()
		if _, err := ri.Update(ctx, u, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
			return nil, err
		}
		timeout := time.After(30 * time.Second)
	wait:
		for {
			select {
			case v := <-verdicts:
				if v.name != name {
					continue
				}
				ev, _ := eventAt.Load(name)
				fromEvent = append(fromEvent, v.at.Sub(ev.(time.Time)))
				fromWrite = append(fromWrite, v.at.Sub(start))
				break wait
			case <-timeout:
				return nil, fmt.Errorf("no verdict for %s within 30 s", name)
			}
		}
	}
	loadP50, loadP99, loadN, err := b.watchUnderLoad(ctx, cms, verdicts, 200, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return &WatchResult{
		FirstReportMs: ms(firstReport), LoadRate: 200, LoadChanges: loadN, LoadP50Ms: loadP50, LoadP99Ms: loadP99,
		N: n, Changes: len(fromWrite),
		P50WriteMs: pct(fromWrite, 0.50), P99WriteMs: pct(fromWrite, 0.99),
		P50EventMs: pct(fromEvent, 0.50), P99EventMs: pct(fromEvent, 0.99),
		MaxWriteMs:        pct(fromWrite, 1),
		HeapPerObjectMaps: heapMaps, HeapPerObjectPacked: heapPacked, MonitorHeapPerObject: monitorHeap,
	}, nil
}

// informerHeap syncs informers for every scope of the desired objects in
// dir with the given cache transform and returns the heap they hold per
// object (after GC, minus before).
func (b *bench) informerHeap(ctx context.Context, dyn dynamic.Interface, dir string, n int, transform func(any) (any, error)) (float64, error) {
	desired, err := gitsource.Load(ctx, gitsource.Options{Dir: dir})
	if err != nil {
		return 0, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(b.rest)
	if err != nil {
		return 0, err
	}
	plan := pipeline.Plan(ctx, informer.NewResolver(dc), desired.Objects, "default", pipeline.Filter{})
	desired = nil
	var before, after runtime.MemStats
	// A Manager measured before may still be winding down: let its
	// goroutines end and its cache be collected first.
	runtime.GC()
	time.Sleep(time.Second)
	runtime.GC()
	runtime.ReadMemStats(&before)
	mgr := informer.NewManager(dyn, informer.Options{Transform: transform})
	defer mgr.Stop()
	mgr.Ensure(plan.Scopes...)
	for s, err := range mgr.WaitForSync(ctx, plan.Scopes...) {
		return 0, fmt.Errorf("sync %s: %w", s, err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(mgr)
	runtime.KeepAlive(plan)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n), nil
}

// heapProfile writes the heap profile (in use, after a GC) into the
// output directory, for `go tool pprof -sample_index=inuse_space`.
func (b *bench) heapProfile(name string) error {
	if b.cfg.Out == "" {
		return nil
	}
	f, err := os.Create(filepath.Join(b.cfg.Out, name))
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	return f.Close()
}

func pct(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return ms(s[int(float64(len(s)-1)*p)])
}

// verdict is a Notify the Monitor sent: for which object, when.
type verdict struct {
	name string
	at   time.Time
}

// watchUnderLoad writes rate live changes a second for d, each to another
// ConfigMap, from parallel writers, while the Monitor runs, and returns the
// p50 and p99 from each write's start to its object's verdict, and how
// many changes were measured. Loads are bounded: rate×d changes at most.
func (b *bench) watchUnderLoad(ctx context.Context, cms []obj, verdicts <-chan verdict, rate int, d time.Duration) (float64, float64, int, error) {
	total := int(float64(rate) * d.Seconds())
	total = min(total, len(cms))
	var mu sync.Mutex
	written := map[string]time.Time{}
	var lat []time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.After(d + 30*time.Second)
		for len(lat) < total {
			select {
			case v := <-verdicts:
				mu.Lock()
				if at, ok := written[v.name]; ok {
					lat = append(lat, v.at.Sub(at))
					delete(written, v.name)
				}
				mu.Unlock()
			case <-deadline:
				return
			}
		}
	}()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var firstErr error
	for i := range total {
		<-tick.C
		o := cms[i]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			ri := b.dyn.Resource(o.GVR).Namespace(o.U.GetNamespace())
			patch := []byte(fmt.Sprintf(`{"data":{"key1":"load-%d-%d"}}`, i, time.Now().UnixNano()))
			mu.Lock()
			written[o.U.GetName()] = time.Now() // the verdict may come before Patch returns
			mu.Unlock()
			_, err := ri.Patch(ctx, o.U.GetName(), types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-edit"})
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	<-done
	if firstErr != nil {
		return 0, 0, 0, firstErr
	}
	mu.Lock()
	defer mu.Unlock()
	return pct(lat, 0.50), pct(lat, 0.99), len(lat), nil
}
