package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Machine describes where the bench ran.
type Machine struct {
	CPUs   int    `json:"cpus"`
	Model  string `json:"cpuModel"`
	Memory string `json:"memory"`
	Go     string `json:"go"`
	Kernel string `json:"kernel"`
	OS     string `json:"os"`
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "MemTotal:") {
				var kb int64
				fmt.Sscan(strings.TrimSpace(strings.TrimPrefix(l, "MemTotal:")), &kb)
				m.Memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// targets judges the results against the goals.
func targets(r *Results) []Target {
	var ts []Target
	if len(r.Sizes) == 0 {
		return ts
	}
	largest := r.Sizes[len(r.Sizes)-1]
	for _, s := range r.Sizes {
		if s.N < 10000 && s.N != largest.N {
			continue
		}
		ratio := s.SyncCompareReportMs / s.FloorMs
		ts = append(ts, Target{
			Name: fmt.Sprintf("check sync+compare+report at N=%d vs floor", s.N), Want: "≤ 1.3× floor",
			Actual: fmt.Sprintf("%.2f× (%.0f ms vs %.0f ms)", ratio, s.SyncCompareReportMs, s.FloorMs), Met: ratio <= 1.3,
		})
	}
	ts = append(ts, Target{
		Name: fmt.Sprintf("check peak RSS at N=%d", largest.N), Want: "≤ 150 MiB",
		Actual: fmt.Sprintf("%.0f MiB (anonymous %.0f MiB; the rest is the binary's own pages)", mib(largest.BinaryRSSBytes), mib(largest.BinaryAnonBytes)),
		Met:    mib(largest.BinaryRSSBytes) <= 150,
	})
	for _, s := range r.Sizes {
		for _, k := range s.Kubectl {
			want := 50.0
			if strings.Contains(k.Mode, "server-side") {
				want = 10
			}
			ts = append(ts, Target{
				Name: fmt.Sprintf("%s / driftwatch at N=%d", k.Mode, s.N), Want: fmt.Sprintf("≥ %.0f×", want),
				Actual: fmt.Sprintf("%.1f× (%.1f s vs %.2f s)", k.Ratio, k.Ms/1000, s.BinaryMs/1000), Met: k.Ratio >= want,
			})
		}
	}
	for _, s := range r.Sizes {
		if s.Noise == 0 {
			continue
		}
		ts = append(ts, Target{
			Name: fmt.Sprintf("peak RSS increase from %d noise ConfigMaps at N=%d", s.Noise, s.N), Want: "< 10%",
			Actual: fmt.Sprintf("%+.1f%% (%.0f → %.0f MiB)", s.NoiseRSSIncrease, mib(s.BinaryRSSBytes), mib(s.NoiseRSSBytes)), Met: s.NoiseRSSIncrease < 10,
		})
	}
	if w := r.Watch; w != nil {
		ts = append(ts, Target{
			Name: fmt.Sprintf("watch p99 live change → report at N=%d", w.N), Want: "< 50 ms",
			Actual: fmt.Sprintf("%.1f ms (p50 %.1f ms)", w.P99WriteMs, w.P50WriteMs), Met: w.P99WriteMs < 50,
		})
		ts = append(ts, Target{
			Name: fmt.Sprintf("watch p99 live change → report at N=%d under %d changes/s", w.N, w.LoadRate), Want: "< 50 ms",
			Actual: fmt.Sprintf("%.1f ms (p50 %.1f ms)", w.LoadP99Ms, w.LoadP50Ms), Met: w.LoadP99Ms < 50,
		})
		if w.MonitorHeapPerObject != 0 {
			ts = append(ts, Target{
				Name: fmt.Sprintf("watch heap per watched object at N=%d (desired, cache, verdicts)", w.N), Want: "≤ 1 KB",
				Actual: fmt.Sprintf("%.0f B", w.MonitorHeapPerObject), Met: w.MonitorHeapPerObject <= 1024,
			})
		}
		for _, s := range r.Sizes {
			if s.N == w.N && s.FloorMs > 0 {
				ratio := w.FirstReportMs / s.FloorMs
				ts = append(ts, Target{
					Name: fmt.Sprintf("watch time to first report at N=%d vs floor (in-process Monitor, from its start)", w.N), Want: "≤ 1.5× floor",
					Actual: fmt.Sprintf("%.2f× (%.0f ms vs %.0f ms)", ratio, w.FirstReportMs, s.FloorMs), Met: ratio <= 1.5,
				})
			}
		}
	}
	if wp := largest.WatchProcess; wp != nil {
		if largest.FloorMs > 0 {
			ratio := wp.FirstReportMs / largest.FloorMs
			ts = append(ts, Target{
				Name: fmt.Sprintf("watch time to first report at N=%d vs floor (driftwatch watch process, exec → /readyz)", wp.N), Want: "≤ 1.5× floor",
				Actual: fmt.Sprintf("%.2f× (%.0f ms vs %.0f ms)", ratio, wp.FirstReportMs, largest.FloorMs), Met: ratio <= 1.5,
			})
		}
		if wp.BaselineN > 0 {
			ts = append(ts, Target{
				Name: fmt.Sprintf("watch RSS per watched object above baseline at N=%d (driftwatch watch process)", wp.N), Want: "≤ 1 KB",
				Actual: fmt.Sprintf("%.0f B (%.1f MiB vs %.1f MiB over %d objects)", wp.BytesPerObject, mib(wp.RSSBytes), mib(wp.BaselineRSSBytes), wp.BaselineN),
				Met:    wp.BytesPerObject <= 1024,
			})
		}
	}
	exact := true
	for _, s := range r.Sizes {
		exact = exact && s.InProcessExact && s.BinaryExact && (s.WatchProcess == nil || s.WatchProcess.Exact)
		for _, k := range s.Kubectl {
			exact = exact && k.OK
		}
	}
	ts = append(ts, Target{Name: "driftwatch (and kubectl) report exactly the drifted set", Want: "yes", Actual: yesNo(exact), Met: exact})
	return ts
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// Markdown renders the results as the table printed and written to
// results.md.
func Markdown(r *Results) string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "# driftwatch benchmark\n\n")
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), %s RAM, %s, Linux %s, %s. One local kube-apiserver + etcd v1.37.2 (envtest) on the same machine.\n",
		m.CPUs, m.Model, m.Memory, m.Go, m.Kernel, m.OS)
	fmt.Fprintf(&b, "Run %s, took %s; driftwatch and floor figures are medians of %d repetition(s), kubectl diff of %d.\n\n",
		r.Started.Format("2006-01-02 15:04 UTC"), r.Duration, r.Config.Reps, max(1, r.Config.KubectlReps))

	b.WriteString("| N | scopes | drifted | floor seq / 8-par (ms) | render | plan | sync | compare | report (ms) | sync+compare+report (ms) | ÷ floor | in-process total (ms) | binary end to end (ms) | binary CPU (ms) | peak RSS (MiB) | heap/object (B) | noise | RSS with noise (MiB) | Δ RSS |\n")
	b.WriteString("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range r.Sizes {
		fmt.Fprintf(&b, "| %d | %d | %d | %.0f / %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f× | %.0f | %.0f | %.0f | %.0f | %.0f | %d | %.0f | %+.1f%% |\n",
			s.N, s.Scopes, s.Drifted, s.FloorSeqMs, s.FloorParMs, s.RenderMs, s.PlanMs, s.SyncMs, s.CompareMs, s.ReportMs,
			s.SyncCompareReportMs, s.SyncCompareReportMs/s.FloorMs, s.InProcessTotalMs, s.BinaryMs, s.BinaryCPUMs, mib(s.BinaryRSSBytes), s.HeapPerObject,
			s.Noise, mib(s.NoiseRSSBytes), s.NoiseRSSIncrease)
	}
	b.WriteString("\n")
	var any bool
	for _, s := range r.Sizes {
		if len(s.Kubectl) > 0 {
			any = true
		}
	}
	if any {
		b.WriteString("| N | tool | wall (s) | CPU (s) | ÷ driftwatch binary | exit | drifted named | others named | same set |\n|--:|---|--:|--:|--:|--:|--:|--:|---|\n")
		for _, s := range r.Sizes {
			if len(s.Kubectl) == 0 {
				continue
			}
			fmt.Fprintf(&b, "| %d | driftwatch check (binary) | %.2f | %.2f | 1× | %d | %d | 0 | %s |\n", s.N, s.BinaryMs/1000, s.BinaryCPUMs/1000, s.BinaryExit, s.Drifted, yesNo(s.BinaryExact && s.InProcessExact))
			for _, k := range s.Kubectl {
				fmt.Fprintf(&b, "| %d | %s | %.2f | %.2f | %.1f× | %d | %d/%d | %d | %s |\n", s.N, k.Mode, k.Ms/1000, k.CPUMs/1000, k.Ratio, k.ExitCode, k.Found, k.Expected, k.Extra, yesNo(k.OK))
			}
		}
		b.WriteString("\n")
	}
	for _, s := range r.Sizes {
		if s.BinaryListMs > 0 {
			fmt.Fprintf(&b, "- N=%d: binary with KUBE_FEATURE_WatchListClient=false (informers sync by paged LIST instead of a streaming watch-list): %.0f ms (default %.0f ms).\n", s.N, s.BinaryListMs, s.BinaryMs)
		}
	}
	for _, s := range r.Sizes {
		if len(s.CPUShare) > 0 {
			fmt.Fprintf(&b, "- N=%d: the in-process check's CPU (pprof, check-cpu-%d.pprof): %s.\n", s.N, s.N, formatShare(s.CPUShare))
		}
	}
	for _, s := range r.Sizes {
		if wp := s.WatchProcess; wp != nil {
			fmt.Fprintf(&b, "- watch process at N=%d: first report %.0f ms after exec (%.2f× floor), RSS %.1f MiB (peak %.1f MiB; %.1f MiB at first report; anon %.1f MiB), ",
				wp.N, wp.FirstReportMs, wp.FirstReportMs/s.FloorMs, mib(wp.RSSBytes), mib(wp.PeakRSSBytes), mib(wp.RSSAtReadyBytes), mib(wp.AnonBytes))
			if wp.BaselineN > 0 {
				fmt.Fprintf(&b, "baseline %.1f MiB over %d objects (anon %.1f MiB, peak %.1f MiB, first report %.0f ms) → %.0f B per watched object above baseline",
					mib(wp.BaselineRSSBytes), wp.BaselineN, mib(wp.BaselineAnonBytes), mib(wp.BaselinePeakRSSBytes), wp.BaselineFirstReportMs, wp.BytesPerObject)
			} else {
				b.WriteString("no baseline (N too small)")
			}
			fmt.Fprintf(&b, "; report served in %.0f ms; exactly the drifted set: %s.\n", wp.ReportMs, yesNo(wp.Exact))
		}
	}
	for _, s := range r.Sizes {
		fmt.Fprintf(&b, "- N=%d: 1-minute load average %s at the start of its measurements, %s at the end.\n", s.N, s.LoadAvg[0], s.LoadAvg[len(s.LoadAvg)-1])
	}
	for _, s := range r.Sizes {
		if s.KubectlSkipped != "" {
			fmt.Fprintf(&b, "- %s\n", s.KubectlSkipped)
		}
	}
	if w := r.Watch; w != nil {
		fmt.Fprintf(&b, "\nWatch at N=%d, %d live changes: write → report p50 %.1f ms, p99 %.1f ms (max %.1f); informer event → report p50 %.2f ms, p99 %.2f ms.\n",
			w.N, w.Changes, w.P50WriteMs, w.P99WriteMs, w.MaxWriteMs, w.P50EventMs, w.P99EventMs)
		fmt.Fprintf(&b, "Watch at N=%d: first report %.0f ms after start; under %d live changes/s (%d measured): write → report p50 %.1f ms, p99 %.1f ms.\n",
			w.N, w.FirstReportMs, w.LoadRate, w.LoadChanges, w.LoadP50Ms, w.LoadP99Ms)
		if w.MonitorHeapPerObject != 0 {
			fmt.Fprintf(&b, "Watch at N=%d once its first report is ready: %.0f B of heap per watched object for the whole Monitor (desired objects held as JSON, informer caches keeping metadata once compared, verdicts); profile in watch-heap-%d.pprof.\n",
				w.N, w.MonitorHeapPerObject, w.N)
		}
		if w.HeapPerObjectPacked > 0 {
			fmt.Fprintf(&b, "Watch heap per watched object at N=%d once synced: %.0f B packed as JSON text (the default) vs %.0f B as maps (%.2f×), measured one after the other.\n",
				w.N, w.HeapPerObjectPacked, w.HeapPerObjectMaps, w.HeapPerObjectPacked/w.HeapPerObjectMaps)
		}
	}
	b.WriteString("\n| target | want | actual | |\n|---|---|---|---|\n")
	for _, t := range r.Targets {
		met := "met"
		if !t.Met {
			met = "**missed**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.Name, t.Want, t.Actual, met)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	b.WriteString(`
Definitions: *floor* is a minimal client-go program (dynamic client, paged LIST with limit 500) over exactly
the resources and namespaces Git declares, sequential and with 8 scopes at a time; the faster counts.
*plan* is connecting (kubeconfig, server version) and resolving kinds through discovery. The check
streams: *compare* is listing each scope page by page and comparing each object as it arrives (with
fetching the OpenAPI schemas, disk-cached after the first repetition), and *sync* is 0 (it was the
informers' initial listing before the check streamed); *report* is building and writing the JSON report.
*binary end to end* is the real ` + "`driftwatch check --dir DIR -o json=FILE`" + ` process from exec to exit. Peak RSS is the
process's VmHWM (/proc, sampled every 20 ms until it exits; wait4's Maxrss would count the bench's own memory, shared
until exec). Heap per object is HeapAlloc after GC once compared minus before listing, divided by N:
what the check still holds per object (the report), negative when the collector frees more of rendering's garbage.
*watch process* is the real ` + "`driftwatch watch --dir DIR`" + ` serving on 127.0.0.1: first report is from exec to the first 200 from
/readyz (its first full comparison done); RSS is the least VmRSS sampled every 250 ms over the 3 s after it (the
collector cannot be triggered from outside), peak is VmHWM, anon is the RssAnon part of RSS (RSS also counts the
pages of the binary's own file that were touched); the baseline is the same binary watching the first
objects of the same generator (at most 100, at most N/2) in namespaces of their own (an informer caches every object
of its kind and namespace, so a subset of DIR's objects would hold all of them); per watched object is
(RSS − baseline RSS) / (N − baseline N). Medians over the repetitions, each process started afresh.
`)
	return b.String()
}

func writeResults(dir string, r *Results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(Markdown(r)), 0o644); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644)
}
