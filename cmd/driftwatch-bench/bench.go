package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/output"
	"github.com/driftwatch/driftwatch/drift/pipeline"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/informer"
	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

// Config is what one bench run does.
type Config struct {
	Sizes []int
	Reps  int
	Out   string
	// Kubectl runs kubectl diff at sizes up to KubectlMaxN.
	Kubectl     bool
	KubectlMaxN int
	KubectlReps int
	// NoiseFactor is the noise (undeclared ConfigMaps) per desired object
	// at the largest size; NoiseFactorSmall at the others.
	NoiseFactor, NoiseFactorSmall int
	// WatchChanges is how many live changes the watch measurement makes
	// at the largest size (0: skip).
	WatchChanges int
	// WatchProcess measures a real `driftwatch watch` process at every
	// size: time to first report and RSS per watched object above a
	// baseline watch (false: skip).
	WatchProcess bool
	// WatchLogDir, when set, keeps each watch process's whole log there
	// (watch-N.log).
	WatchLogDir string
	// CheckLogDir, when set, runs each check binary with the garbage
	// collector's trace on (GODEBUG=gctrace=1) and keeps its standard
	// error there (check-*.log): the live heap at each collection, to
	// tell which phase holds the peak.
	CheckLogDir string
	// Writers bounds the parallel writers that create objects.
	Writers int
	// ListVariant also times the binary with client-go's streaming
	// watch-list turned off (KUBE_FEATURE_WatchListClient=false), so the
	// informers sync with a plain LIST like the floor does.
	ListVariant bool
	// CPUProfile, when set, is where a CPU profile of the in-process
	// checks at the largest size is written.
	CPUProfile string
	// Log receives progress.
	Log io.Writer
}

// Results is everything measured, as written to results.json.
type Results struct {
	Started  time.Time     `json:"started"`
	Duration string        `json:"duration"`
	Machine  Machine       `json:"machine"`
	Config   ConfigSummary `json:"config"`
	Sizes    []SizeResult  `json:"sizes"`
	Watch    *WatchResult  `json:"watch,omitempty"`
	Targets  []Target      `json:"targets"`
	Notes    []string      `json:"notes"`
}

type ConfigSummary struct {
	Sizes            []int `json:"sizes"`
	Reps             int   `json:"reps"`
	Kubectl          bool  `json:"kubectl"`
	KubectlMaxN      int   `json:"kubectlMaxN"`
	KubectlReps      int   `json:"kubectlReps"`
	NoiseFactor      int   `json:"noiseFactor"`
	NoiseFactorSmall int   `json:"noiseFactorSmall"`
	WatchChanges     int   `json:"watchChanges"`
	WatchProcess     bool  `json:"watchProcess"`
}

// SizeResult holds the medians at one N (milliseconds, bytes).
type SizeResult struct {
	// CPUShare is where the in-process check's CPU went (largest size,
	// first repetition): render, decode, compare, GC, network, other.
	CPUShare   map[string]float64 `json:"cpuShare,omitempty"`
	N          int                `json:"n"`
	Scopes     int                `json:"scopes"`
	Drifted    int                `json:"drifted"`
	Noise      int                `json:"noise"`
	FloorSeqMs float64            `json:"floorSequentialMs"`
	FloorParMs float64            `json:"floorParallelMs"`
	// FloorMs is the faster of the two floors.
	FloorMs float64 `json:"floorMs"`
	// In-process phases of a check.
	RenderMs  float64 `json:"renderMs"`
	PlanMs    float64 `json:"planMs"` // connect, discovery, resolve
	SyncMs    float64 `json:"syncMs"` // informers listed and synced
	CompareMs float64 `json:"compareMs"`
	ReportMs  float64 `json:"reportMs"`
	// SyncCompareReportMs is plan+sync+compare+report: everything after
	// rendering that talks to or depends on the cluster.
	SyncCompareReportMs float64 `json:"syncCompareReportMs"`
	InProcessTotalMs    float64 `json:"inProcessTotalMs"`
	HeapPerObject       float64 `json:"heapBytesPerWatchedObject"`
	// The real binary, end to end.
	BinaryMs    float64 `json:"binaryMs"`
	BinaryCPUMs float64 `json:"binaryCPUMs"` // user+system time of the process
	// BinaryListMs is the binary with KUBE_FEATURE_WatchListClient=false.
	BinaryListMs float64 `json:"binaryWithPlainListMs,omitempty"`
	// LoadAvg is /proc/loadavg's 1-minute figure when the size's
	// measurements started and ended (the machine may be shared).
	LoadAvg        []string `json:"loadAvg"`
	BinaryRSSBytes int64    `json:"binaryPeakRSSBytes"`
	// BinaryAnonBytes is the largest anonymous RSS (RssAnon) sampled: the
	// peak without the binary's own file pages.
	BinaryAnonBytes  int64   `json:"binaryPeakAnonBytes"`
	NoiseBinaryMs    float64 `json:"binaryWithNoiseMs"`
	NoiseRSSBytes    int64   `json:"binaryPeakRSSWithNoiseBytes"`
	NoiseRSSIncrease float64 `json:"noiseRSSIncreasePct"`
	// Correctness: driftwatch reported exactly the drifted set.
	InProcessExact bool            `json:"inProcessFoundExactlyDrifted"`
	BinaryExact    bool            `json:"binaryFoundExactlyDrifted"`
	BinaryExit     int             `json:"binaryExitCode"`
	Kubectl        []KubectlResult `json:"kubectl,omitempty"`
	KubectlSkipped string          `json:"kubectlSkipped,omitempty"`
	// WatchProcess is the real `driftwatch watch` process (nil: not run).
	WatchProcess *WatchProcessResult `json:"watchProcess,omitempty"`
}

type KubectlResult struct {
	Mode     string  `json:"mode"`
	Ms       float64 `json:"ms"`
	CPUMs    float64 `json:"cpuMs"`
	ExitCode int     `json:"exitCode"`
	// Found counts drifted objects named in kubectl's output; Extra counts
	// objects it named that were not drifted.
	Found    int     `json:"foundDrifted"`
	Expected int     `json:"expected"`
	Extra    int     `json:"extra"`
	OK       bool    `json:"sameDriftedSet"`
	Ratio    float64 `json:"ratioToDriftwatch"`
}

type WatchResult struct {
	N          int     `json:"n"`
	Changes    int     `json:"changes"`
	P50WriteMs float64 `json:"p50WriteToReportMs"`
	P99WriteMs float64 `json:"p99WriteToReportMs"`
	P50EventMs float64 `json:"p50EventToReportMs"`
	P99EventMs float64 `json:"p99EventToReportMs"`
	MaxWriteMs float64 `json:"maxWriteToReportMs"`
	// Heap held per watched object by the informers once synced, with
	// objects kept as maps (compacted managedFields) and packed as JSON
	// text (the default), measured one after the other in the same run.
	HeapPerObjectMaps   float64 `json:"heapPerObjectMaps"`
	HeapPerObjectPacked float64 `json:"heapPerObjectPacked"`
	// MonitorHeapPerObject is the heap the whole Monitor holds per watched
	// object once its first report is ready (desired objects, informer
	// caches, verdicts), after GC, above what was held before it started.
	MonitorHeapPerObject float64 `json:"monitorHeapPerObject"`
	// FirstReportMs is from the Monitor's start to its first report.
	FirstReportMs float64 `json:"firstReportMs"`
	// Under load: LoadRate changes a second (LoadChanges measured), from
	// each write's return to its verdict.
	LoadRate    int     `json:"loadRate"`
	LoadChanges int     `json:"loadChanges"`
	LoadP50Ms   float64 `json:"loadP50Ms"`
	LoadP99Ms   float64 `json:"loadP99Ms"`
}

type Target struct {
	Name   string `json:"name"`
	Want   string `json:"want"`
	Actual string `json:"actual"`
	Met    bool   `json:"met"`
}

// bench holds the shared state of one run.
type bench struct {
	cfg        Config
	rest       *rest.Config
	dyn        dynamic.Interface
	kubeconfig string
	tmp        string
	binary     string
	kubectl    string
	cacheDir   string
	res        *Results
	// watchBaselines are the baseline trees created, by size.
	watchBaselines map[int][]obj
}

func (b *bench) logf(format string, args ...any) {
	if b.cfg.Log != nil {
		fmt.Fprintf(b.cfg.Log, "%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
	}
}

func (b *bench) note(format string, args ...any) {
	b.res.Notes = append(b.res.Notes, fmt.Sprintf(format, args...))
}

// Run starts one API server, measures every size, and returns the results.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	if cfg.Reps < 1 {
		cfg.Reps = 1
	}
	if cfg.Writers < 1 {
		cfg.Writers = 16
	}
	sort.Ints(cfg.Sizes)
	res := &Results{Started: time.Now().UTC(), Machine: machine(), Config: ConfigSummary{
		Sizes: cfg.Sizes, Reps: cfg.Reps, Kubectl: cfg.Kubectl, KubectlMaxN: cfg.KubectlMaxN, KubectlReps: cfg.KubectlReps,
		NoiseFactor: cfg.NoiseFactor, NoiseFactorSmall: cfg.NoiseFactorSmall, WatchChanges: cfg.WatchChanges,
		WatchProcess: cfg.WatchProcess,
	}}
	if cfg.Out != "" {
		// Profiles are written there while measuring.
		if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
			return nil, err
		}
	}
	tmp, err := os.MkdirTemp("", "driftwatch-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	b := &bench{cfg: cfg, tmp: tmp, res: res, cacheDir: filepath.Join(tmp, "cache")}

	b.logf("building driftwatch")
	b.binary = filepath.Join(tmp, "driftwatch")
	build := exec.CommandContext(ctx, "go", "build", "-o", b.binary, "github.com/driftwatch/driftwatch/cmd/driftwatch")
	build.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build driftwatch: %v\n%s", err, out)
	}
	b.kubectl = filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	if cfg.Kubectl {
		if _, err := os.Stat(b.kubectl); err != nil {
			return nil, fmt.Errorf("kubectl: %w", err)
		}
	}

	b.logf("starting kube-apiserver and etcd")
	ctrllog.SetLogger(logr.Discard())
	env, err := apiservertest.Start()
	if err != nil {
		return nil, err
	}
	defer env.Stop()
	b.rest = rest.CopyConfig(env.Config)
	b.rest.QPS, b.rest.Burst = -1, 0 // the bench's own writers: no client-side limit
	if b.dyn, err = dynamic.NewForConfig(b.rest); err != nil {
		return nil, err
	}
	if b.kubeconfig, err = apiservertest.WriteKubeconfig(env.Config, tmp, "bench", "default"); err != nil {
		return nil, err
	}
	kube, err := apiservertest.NewClient(env.Config)
	if err != nil {
		return nil, err
	}
	if err := kube.Apply(ctx, "setup", "", benchCRD()); err != nil {
		return nil, err
	}

	for idx, n := range cfg.Sizes {
		largest := idx == len(cfg.Sizes)-1
		sr, objs, dir, err := b.size(ctx, n, largest)
		if err != nil {
			return nil, fmt.Errorf("N=%d: %w", n, err)
		}
		// Before the in-process watch, whose live changes drift objects.
		if cfg.WatchProcess {
			if sr.WatchProcess, err = b.watchProcess(ctx, n, objs, dir); err != nil {
				return nil, fmt.Errorf("watch process at N=%d: %w", n, err)
			}
		}
		res.Sizes = append(res.Sizes, *sr)
		if largest && cfg.WatchChanges > 0 {
			w, err := b.watch(ctx, n, objs, dir)
			if err != nil {
				return nil, fmt.Errorf("watch at N=%d: %w", n, err)
			}
			res.Watch = w
		}
		if !largest {
			b.logf("N=%d: deleting its objects and noise before the next size", n)
			if err := b.cleanup(ctx, n, objs); err != nil {
				return nil, err
			}
		}
	}
	res.Targets = targets(res)
	res.Duration = time.Since(res.Started).Round(time.Second).String()
	return res, nil
}

// size measures one N.
func (b *bench) size(ctx context.Context, n int, largest bool) (*SizeResult, []obj, string, error) {
	cfg := b.cfg
	objs := generate(n)
	dir := filepath.Join(b.tmp, fmt.Sprintf("git-%d", n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, "", err
	}
	if err := writeManifests(dir, objs); err != nil {
		return nil, nil, "", err
	}
	scopes := scopesOf(objs)
	sr := &SizeResult{N: n, Scopes: len(scopes)}
	want := map[string]bool{}
	for _, o := range objs {
		if o.Drifted {
			want[o.key()] = true
		}
	}
	sr.Drifted = len(want)

	b.logf("N=%d: creating %d objects in %d namespaces as field manager gitops", n, n, namespacesPerSize)
	start := time.Now()
	var nss []string
	for i := range namespacesPerSize {
		nss = append(nss, desiredNamespace(n, i), noiseNamespace(n, i))
	}
	if err := b.createNamespaces(ctx, nss); err != nil {
		return nil, nil, "", err
	}
	runKubectl := cfg.Kubectl && n <= cfg.KubectlMaxN
	drifted, err := b.createObjects(ctx, objs, runKubectl)
	if err != nil {
		return nil, nil, "", err
	}
	b.logf("N=%d: created and drifted %d in %s", n, drifted, time.Since(start).Round(time.Millisecond))

	// Floor, in-process check and the binary, without noise.
	var floorSeq, floorPar, render, plan, syncD, compare, report, total, heap, bin []float64
	var rss, anon []int64
	var cpu, listMs []float64
	sr.LoadAvg = append(sr.LoadAvg, loadAvg())
	sr.InProcessExact, sr.BinaryExact = true, true
	for rep := range cfg.Reps {
		fs, err := b.floor(ctx, scopes, 1)
		if err != nil {
			return nil, nil, "", fmt.Errorf("floor: %w", err)
		}
		fp, err := b.floor(ctx, scopes, 8)
		if err != nil {
			return nil, nil, "", fmt.Errorf("floor: %w", err)
		}
		floorSeq, floorPar = append(floorSeq, ms(fs)), append(floorPar, ms(fp))
		cpuProfile := cfg.CPUProfile
		if cpuProfile == "" && cfg.Out != "" {
			cpuProfile = filepath.Join(cfg.Out, fmt.Sprintf("check-cpu-%d.pprof", n))
		}
		if largest && cpuProfile != "" && rep == 0 {
			f, err := os.Create(cpuProfile)
			if err != nil {
				return nil, nil, "", err
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				return nil, nil, "", err
			}
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
		ph, err := b.checkInProcess(ctx, dir, n)
		if largest && cpuProfile != "" && rep == 0 {
			pprof.StopCPUProfile()
			share, perr := cpuShare(cpuProfile)
			if perr != nil {
				return nil, nil, "", perr
			}
			sr.CPUShare = share
			b.logf("N=%d: in-process check CPU: %s", n, formatShare(share))
		}
		if err != nil {
			return nil, nil, "", fmt.Errorf("in-process check: %w", err)
		}
		render, plan, syncD = append(render, ms(ph.render)), append(plan, ms(ph.plan)), append(syncD, ms(ph.sync))
		compare, report = append(compare, ms(ph.compare)), append(report, ms(ph.report))
		total = append(total, ms(ph.render+ph.plan+ph.sync+ph.compare+ph.report))
		heap = append(heap, ph.heapPerObject)
		sr.InProcessExact = sr.InProcessExact && sameSet(ph.drifted, want)
		br, err := b.runBinary(ctx, dir)
		if err != nil {
			return nil, nil, "", fmt.Errorf("driftwatch binary: %w", err)
		}
		bin, rss, cpu = append(bin, ms(br.wall)), append(rss, br.maxRSS), append(cpu, ms(br.cpu))
		anon = append(anon, br.maxAnon)
		sr.BinaryExact = sr.BinaryExact && sameSet(br.drifted, want)
		sr.BinaryExit = br.exit
		if cfg.ListVariant {
			lr, err := b.runBinary(ctx, dir, "KUBE_FEATURE_WatchListClient=false")
			if err != nil {
				return nil, nil, "", fmt.Errorf("driftwatch binary, plain LIST: %w", err)
			}
			listMs = append(listMs, ms(lr.wall))
			b.logf("N=%d rep %d: binary with KUBE_FEATURE_WatchListClient=false %.0f ms", n, rep+1, ms(lr.wall))
		}
		b.logf("N=%d rep %d: floor %.0f/%.0f ms, in-process %.0f ms (render %.0f plan %.0f sync %.0f compare %.0f report %.0f), binary %.0f ms, RSS %d MB",
			n, rep+1, ms(fs), ms(fp), total[rep], render[rep], plan[rep], syncD[rep], compare[rep], report[rep], bin[rep], br.maxRSS>>20)
	}
	sr.FloorSeqMs, sr.FloorParMs = median(floorSeq), median(floorPar)
	sr.FloorMs = min(sr.FloorSeqMs, sr.FloorParMs)
	sr.RenderMs, sr.PlanMs, sr.SyncMs, sr.CompareMs, sr.ReportMs = median(render), median(plan), median(syncD), median(compare), median(report)
	sr.SyncCompareReportMs = sr.PlanMs + sr.SyncMs + sr.CompareMs + sr.ReportMs
	sr.InProcessTotalMs = median(total)
	sr.HeapPerObject = median(heap)
	sr.BinaryMs = median(bin)
	sr.BinaryCPUMs = median(cpu)
	sr.BinaryListMs = median(listMs)
	sr.BinaryRSSBytes, sr.BinaryAnonBytes = medianInt(rss), medianInt(anon)

	// kubectl diff on the same manifests.
	if runKubectl {
		modes := []struct {
			name string
			args []string
		}{
			{"kubectl diff", nil},
			{"kubectl diff --concurrency 8", []string{"--concurrency", "8"}},
			{"kubectl diff --server-side --force-conflicts", []string{"--server-side", "--force-conflicts", "--field-manager", "gitops"}},
		}
		for _, m := range modes {
			kr := KubectlResult{Mode: m.name, Expected: len(want), OK: true}
			var walls, cpus []float64
			for rep := range max(1, cfg.KubectlReps) {
				wall, kcpu, exit, names, err := b.kubectlDiff(ctx, dir, m.args)
				if err != nil {
					return nil, nil, "", err
				}
				walls, cpus = append(walls, ms(wall)), append(cpus, ms(kcpu))
				found, extra := 0, 0
				for k := range names {
					if want[k] {
						found++
					} else {
						extra++
					}
				}
				kr.ExitCode, kr.Found, kr.Extra = exit, found, extra
				kr.OK = kr.OK && exit == 1 && found == len(want) && extra == 0
				b.logf("N=%d %s rep %d: %.1f s, exit %d, %d/%d drifted named, %d others", n, m.name, rep+1, ms(wall)/1000, exit, found, len(want), extra)
			}
			kr.Ms, kr.CPUMs = median(walls), median(cpus)
			kr.Ratio = kr.Ms / sr.BinaryMs
			sr.Kubectl = append(sr.Kubectl, kr)
		}
	} else if cfg.Kubectl {
		sr.KubectlSkipped = fmt.Sprintf("kubectl diff skipped at N=%d (run only up to N=%d: about 51 s per 1,000 objects)", n, cfg.KubectlMaxN)
	} else {
		sr.KubectlSkipped = "kubectl diff not run (--kubectl=false)"
	}

	// Noise: ConfigMaps in namespaces Git does not declare.
	factor := cfg.NoiseFactorSmall
	if largest {
		factor = cfg.NoiseFactor
	}
	sr.Noise = factor * n
	if sr.Noise > 0 {
		b.logf("N=%d: creating %d noise ConfigMaps in %d undeclared namespaces", n, sr.Noise, namespacesPerSize)
		start := time.Now()
		if err := b.parallel(ctx, sr.Noise, func(i int) error {
			u := configMap(fmt.Sprintf("noise-%06d", i), noiseNamespace(n, i), i)
			_, err := b.dyn.Resource(gvrConfigMap).Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{FieldManager: "someone-else"})
			return err
		}); err != nil {
			return nil, nil, "", fmt.Errorf("noise: %w", err)
		}
		b.logf("N=%d: noise created in %s", n, time.Since(start).Round(time.Millisecond))
		var nbin []float64
		var nrss []int64
		for rep := range cfg.Reps {
			br, err := b.runBinary(ctx, dir)
			if err != nil {
				return nil, nil, "", fmt.Errorf("driftwatch binary with noise: %w", err)
			}
			sr.BinaryExact = sr.BinaryExact && sameSet(br.drifted, want)
			nbin, nrss = append(nbin, ms(br.wall)), append(nrss, br.maxRSS)
			b.logf("N=%d rep %d with noise: binary %.0f ms, RSS %d MB", n, rep+1, ms(br.wall), br.maxRSS>>20)
		}
		sr.NoiseBinaryMs, sr.NoiseRSSBytes = median(nbin), medianInt(nrss)
		sr.NoiseRSSIncrease = 100 * float64(sr.NoiseRSSBytes-sr.BinaryRSSBytes) / float64(sr.BinaryRSSBytes)
	}
	sr.LoadAvg = append(sr.LoadAvg, loadAvg())
	return sr, objs, dir, nil
}

// createObjects applies the objects as field manager gitops (with the
// last-applied annotation client-side kubectl diff needs when lastApplied),
// then drifts the drifted ones as someone with kubectl edit would. It
// returns how many it drifted.
func (b *bench) createObjects(ctx context.Context, objs []obj, lastApplied bool) (int, error) {
	if err := b.parallel(ctx, len(objs), func(i int) error {
		u := objs[i].U
		data, err := json.Marshal(u.Object)
		if err != nil {
			return err
		}
		force := true
		ri := b.dyn.Resource(objs[i].GVR).Namespace(u.GetNamespace())
		if _, err = ri.Patch(ctx, u.GetName(), types.ApplyPatchType, data,
			metav1.PatchOptions{FieldManager: "gitops", Force: &force}); err != nil || !lastApplied {
			return err
		}
		// For client-side kubectl diff: the last-applied annotation that
		// kubectl apply writes, owned by kubectl's own manager (so that
		// server-side diff as gitops does not see it as removed).
		la, err := withLastApplied(u)
		if err != nil {
			return err
		}
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{
			lastAppliedKey: la.GetAnnotations()[lastAppliedKey]}}})
		if err != nil {
			return err
		}
		_, err = ri.Patch(ctx, u.GetName(), types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-client-side-apply"})
		return err
	}); err != nil {
		return 0, fmt.Errorf("create: %w", err)
	}
	var drifted []int
	for i, o := range objs {
		if o.Drifted {
			drifted = append(drifted, i)
		}
	}
	if err := b.parallel(ctx, len(drifted), func(k int) error {
		o := objs[drifted[k]]
		ri := b.dyn.Resource(o.GVR).Namespace(o.U.GetNamespace())
		u, err := ri.Get(ctx, o.U.GetName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		driftObject(u)
		_, err = ri.Update(ctx, u, metav1.UpdateOptions{FieldManager: "kubectl-edit"})
		return err
	}); err != nil {
		return 0, fmt.Errorf("drift: %w", err)
	}
	return len(drifted), nil
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// parallel runs f(0..n-1) with the configured number of writers, retrying
// each call a few times on transient errors.
func (b *bench) parallel(ctx context.Context, n int, f func(int) error) error {
	work := make(chan int)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range b.cfg.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				var err error
				for attempt := range 5 {
					if err = f(i); err == nil || apierrors.IsAlreadyExists(err) {
						err = nil
						break
					}
					time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		select {
		case work <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

func (b *bench) createNamespaces(ctx context.Context, names []string) error {
	return b.parallel(ctx, len(names), func(i int) error {
		ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": names[i]}}}
		_, err := b.dyn.Resource(gvrNamespace).Create(ctx, ns, metav1.CreateOptions{})
		return err
	})
}

// cleanup deletes a size's objects and noise, so the next size's "without
// noise" run sees only its own objects.
func (b *bench) cleanup(ctx context.Context, n int, objs []obj) error {
	var jobs []informer.Scope
	jobs = append(jobs, scopesOf(objs)...)
	for i := range namespacesPerSize {
		jobs = append(jobs, informer.Scope{GVR: gvrConfigMap, Namespace: noiseNamespace(n, i)})
	}
	return b.parallel(ctx, len(jobs), func(i int) error {
		return b.dyn.Resource(jobs[i].GVR).Namespace(jobs[i].Namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	})
}

// floor is the minimal client-go program: a dynamic client and a paged
// LIST (limit 500) of each scope, with `workers` scopes at a time.
func (b *bench) floor(ctx context.Context, scopes []informer.Scope, workers int) (time.Duration, error) {
	start := time.Now()
	cfg, err := clientcmd.BuildConfigFromFlags("", b.kubeconfig)
	if err != nil {
		return 0, err
	}
	cfg.QPS, cfg.Burst = -1, 0
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return 0, err
	}
	var (
		mu    sync.Mutex
		first error
		count int
		wg    sync.WaitGroup
	)
	work := make(chan informer.Scope)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				cont := ""
				for page := 0; page < 100000; page++ {
					l, err := dyn.Resource(s.GVR).Namespace(s.Namespace).List(ctx, metav1.ListOptions{Limit: 500, Continue: cont})
					if err != nil {
						mu.Lock()
						first = err
						mu.Unlock()
						break
					}
					mu.Lock()
					count += len(l.Items)
					mu.Unlock()
					if cont = l.GetContinue(); cont == "" {
						break
					}
				}
			}
		}()
	}
	for _, s := range scopes {
		work <- s
	}
	close(work)
	wg.Wait()
	return time.Since(start), first
}

type phases struct {
	render, plan, sync, compare, report time.Duration
	heapPerObject                       float64
	drifted                             map[string]bool
}

// checkInProcess runs the pipeline `driftwatch check --dir` runs
// (pipeline.New and Pipeline.Compare, what pipeline.Check calls), with a
// timer around each phase: the pipeline's progress steps mark where one
// phase ends and the next begins.
func (b *bench) checkInProcess(ctx context.Context, dir string, n int) (*phases, error) {
	var ph phases
	t := time.Now()
	// Packed, as pipeline.Check renders.
	desired, err := gitsource.Load(ctx, gitsource.Options{Dir: dir, Render: gitsource.RenderOptions{Pack: true}})
	if err != nil {
		return nil, err
	}
	ph.render = time.Since(t)

	t = time.Now()
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: b.kubeconfig}, &clientcmd.ConfigOverrides{})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, err
	}
	ns, _, _ := cc.Namespace()
	cfg.QPS, cfg.Burst = 50, 100 // as check does
	dcfg := rest.CopyConfig(cfg)
	dcfg.Timeout = 30 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(dcfg)
	if err != nil {
		return nil, err
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return nil, err
	}
	cl := &pipeline.Cluster{Config: cfg, Discovery: dc, Namespace: ns, Info: drift.Cluster{Server: cfg.Host, Version: v.GitVersion}}
	p, err := pipeline.New(pipeline.Options{HashKey: []byte("bench-hash-key"), SyncTimeout: 5 * time.Minute,
		SchemaCacheDir: filepath.Join(b.cacheDir, "inprocess-openapi")}, cl, nil)
	if err != nil {
		return nil, err
	}
	defer p.Stop()

	var before, after runtime.MemStats
	var synced time.Time
	streamed := false
	step := func(format string, _ ...any) {
		switch {
		case strings.HasPrefix(format, "listing"):
			// The streaming check lists and compares in one phase
			// (reported as compare, sync 0).
			streamed = true
			ph.plan = time.Since(t)
			runtime.GC()
			runtime.ReadMemStats(&before)
			t = time.Now()
		case strings.HasPrefix(format, "syncing"):
			ph.plan = time.Since(t)
			runtime.GC()
			runtime.ReadMemStats(&before)
			t = time.Now()
		case strings.HasPrefix(format, "comparing"):
			synced = time.Now()
			ph.sync = synced.Sub(t)
			runtime.GC()
			runtime.ReadMemStats(&after)
			t = time.Now()
		}
	}
	rep, err := p.Compare(ctx, desired, time.Now(), step)
	if err != nil {
		return nil, err
	}
	ph.compare = time.Since(t)
	if streamed {
		// What the check still holds once compared: the report.
		runtime.GC()
		runtime.ReadMemStats(&after)
	}
	ph.heapPerObject = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
	if rep.Summary.Errors > 0 {
		return nil, fmt.Errorf("%d resources could not be checked", rep.Summary.Errors)
	}

	t = time.Now()
	f, err := os.Create(filepath.Join(b.tmp, "inprocess-report.json"))
	if err != nil {
		return nil, err
	}
	err = output.Write(f, rep, output.FormatJSON)
	f.Close()
	if err != nil {
		return nil, err
	}
	ph.report = time.Since(t)

	ph.drifted = map[string]bool{}
	for _, r := range rep.Resources {
		if r.Status != drift.InSync {
			ph.drifted[r.Kind+"."+r.Namespace+"."+r.Name] = true
		}
	}
	return &ph, nil
}

type binaryRun struct {
	wall    time.Duration
	cpu     time.Duration
	maxRSS  int64
	maxAnon int64
	exit    int
	drifted map[string]bool
}

// runBinary runs the real driftwatch check and reads its JSON report.
func (b *bench) runBinary(ctx context.Context, dir string, env ...string) (*binaryRun, error) {
	out := filepath.Join(b.tmp, "report.json")
	os.Remove(out)
	cmd := exec.CommandContext(ctx, b.binary, "check", "--dir", dir, "--kubeconfig", b.kubeconfig,
		"-o", "json="+out, "--color", "never", "--sync-timeout", "5m")
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+b.cacheDir, "DRIFTWATCH_HASH_KEY=bench-hash-key", "KUBECONFIG=")
	cmd.Env = append(cmd.Env, env...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if b.cfg.CheckLogDir != "" {
		cmd.Env = append(cmd.Env, "GODEBUG=gctrace=1")
		f, err := os.CreateTemp(b.cfg.CheckLogDir, "check-*.log")
		if err != nil {
			return nil, err
		}
		defer f.Close()
		cmd.Stderr = io.MultiWriter(&stderr, f)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	hwm := watchPeakRSS(cmd.Process.Pid)
	err := cmd.Wait()
	r := &binaryRun{wall: time.Since(start)}
	r.maxRSS, r.maxAnon = hwm()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.exit = ee.ExitCode()
	default:
		return nil, err
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && r.maxRSS == 0 {
		r.maxRSS = ru.Maxrss * 1024 // KiB on Linux
	}
	r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if r.exit != 1 {
		return nil, fmt.Errorf("exit code %d, want 1 (drift found): %s", r.exit, stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	var rep drift.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, err
	}
	r.drifted = map[string]bool{}
	for _, res := range rep.Resources {
		if res.Status != drift.InSync {
			r.drifted[res.Kind+"."+res.Namespace+"."+res.Name] = true
		}
	}
	return r, nil
}

// watchPeakRSS follows the peak RSS of a running process and returns the
// function that stops following and gives it (bytes; 0 if never read).
// It reads VmHWM from /proc, the peak of the process's own memory since
// its exec. The Maxrss that wait4 reports is no good here: Go starts a
// child sharing the parent's memory until exec (vfork), and Linux counts
// that memory's peak, the bench's own (GBs at 100,000 objects), as the
// child's.
func watchPeakRSS(pid int) func() (int64, int64) {
	var peak, anon atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	read := func() {
		m, err := readProcMem(pid)
		if err != nil {
			return
		}
		if m.HWM > peak.Load() {
			peak.Store(m.HWM)
		}
		if m.Anon > anon.Load() {
			anon.Store(m.Anon)
		}
	}
	go func() {
		defer close(done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			read()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() (int64, int64) {
		close(stop)
		<-done
		return peak.Load(), anon.Load()
	}
}

// kubectlDiff runs kubectl diff on the manifests and returns the objects it
// names (Kind.namespace.name, from the file names in its diff headers).
func (b *bench) kubectlDiff(ctx context.Context, dir string, extra []string) (time.Duration, time.Duration, int, map[string]bool, error) {
	args := append([]string{"--kubeconfig", b.kubeconfig, "diff", "-f", dir}, extra...)
	cmd := exec.CommandContext(ctx, b.kubectl, args...)
	cmd.Env = append(os.Environ(), "KUBECTL_EXTERNAL_DIFF=", "KUBECONFIG=", "HOME="+b.tmp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	exit := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		exit = ee.ExitCode()
	} else if err != nil {
		return 0, 0, 0, nil, err
	}
	if exit > 1 {
		return 0, 0, 0, nil, fmt.Errorf("kubectl diff %v: exit %d: %s", extra, exit, tail(stderr.String(), 2000))
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "diff ") {
			continue
		}
		f := strings.Fields(line)
		parts := strings.Split(filepath.Base(f[len(f)-1]), ".")
		if len(parts) >= 3 {
			names[strings.Join(parts[len(parts)-3:], ".")] = true
		}
	}
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), exit, names, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func sameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func medianInt(xs []int64) int64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]int64(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
