package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/driftwatch/driftwatch/drift"
)

// The watch process measurement's bounds.
const (
	// watchBaselineN is how many objects the baseline watch declares (at
	// most half of N).
	watchBaselineN = 100
	// watchReadyTimeout bounds exec to first report.
	watchReadyTimeout = 10 * time.Minute
	// watchRSSWindow is how long VmRSS is sampled after the first report,
	// every watchRSSEvery; the least sample counts.
	watchRSSWindow = 3 * time.Second
	watchRSSEvery  = 250 * time.Millisecond
	// watchStopTimeout is how long SIGTERM has before SIGKILL.
	watchStopTimeout = 15 * time.Second
)

// WatchProcessResult is the real `driftwatch watch` process at one N and
// the same binary watching a small tree of the same shape (its baseline),
// medians over the repetitions.
type WatchProcessResult struct {
	N    int `json:"n"`
	Reps int `json:"reps"`
	// FirstReportMs is from exec to the first 200 from /readyz, which
	// watch answers once its first full comparison is done.
	FirstReportMs float64 `json:"firstReportMs"`
	// RSSBytes is the least VmRSS sampled over the 3 s after the first
	// report (the runtime cannot be made to collect from outside: the
	// least sample is the nearest to what stays); RSSAtReadyBytes is the
	// first of those samples and PeakRSSBytes the VmHWM at the last.
	RSSBytes        int64 `json:"rssBytes"`
	RSSAtReadyBytes int64 `json:"rssAtFirstReportBytes"`
	PeakRSSBytes    int64 `json:"peakRSSBytes"`
	// AnonBytes is RssAnon of the sample counted in RSSBytes: RSS without
	// the pages mapped from the binary's file.
	AnonBytes int64 `json:"rssAnonBytes"`
	// ReportMs is GET /api/v1/report once sampled (the report served).
	ReportMs float64 `json:"reportGetMs"`
	// Exact: both processes served every desired object, and exactly the
	// drifted ones as not in sync.
	Exact bool `json:"foundExactlyDrifted"`
	// The baseline: BaselineN objects (0: none, N too small) in namespaces
	// of their own.
	BaselineN             int     `json:"baselineN"`
	BaselineFirstReportMs float64 `json:"baselineFirstReportMs"`
	BaselineRSSBytes      int64   `json:"baselineRSSBytes"`
	BaselineAnonBytes     int64   `json:"baselineRSSAnonBytes"`
	BaselinePeakRSSBytes  int64   `json:"baselinePeakRSSBytes"`
	// BytesPerObject is (RSSBytes − BaselineRSSBytes) / (N − BaselineN).
	BytesPerObject float64 `json:"rssBytesPerWatchedObjectAboveBaseline"`
}

// watchProcess runs `driftwatch watch` over dir (n objects, all live) and
// over a baseline tree, each Reps times, alternating.
//
// The baseline's objects live in namespaces of their own rather than being
// the first objects of dir: an informer caches every object of its kind and
// namespace, declared or not, so a watch over 100 of dir's objects would
// hold the other objects of those namespaces too and inflate the baseline.
func (b *bench) watchProcess(ctx context.Context, n int, objs []obj, dir string) (*WatchProcessResult, error) {
	res := &WatchProcessResult{N: n, Reps: b.cfg.Reps, Exact: true, BaselineN: min(watchBaselineN, n/2)}
	var baseDir string
	var baseObjs []obj
	if res.BaselineN > 0 {
		var err error
		if baseDir, baseObjs, err = b.watchBaseline(ctx, res.BaselineN); err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
	}
	var first, baseFirst, get []float64
	var rss, atReady, peak, anon, baseRSS, baseAnon, basePeak []int64
	for rep := range b.cfg.Reps {
		if baseDir != "" {
			br, err := b.runWatch(ctx, baseDir)
			if err != nil {
				return nil, fmt.Errorf("baseline of %d objects: %w", res.BaselineN, err)
			}
			res.Exact = res.Exact && br.resources == len(baseObjs) && sameSet(br.drifted, driftedKeys(baseObjs))
			baseFirst, baseRSS, basePeak = append(baseFirst, ms(br.firstReport)), append(baseRSS, br.rss), append(basePeak, br.peak)
			baseAnon = append(baseAnon, br.anon)
			b.noteExit(res.BaselineN, br)
		}
		wr, err := b.runWatch(ctx, dir)
		if err != nil {
			return nil, err
		}
		res.Exact = res.Exact && wr.resources == n && sameSet(wr.drifted, driftedKeys(objs))
		first, get = append(first, ms(wr.firstReport)), append(get, ms(wr.reportGet))
		rss, atReady, peak, anon = append(rss, wr.rss), append(atReady, wr.rssAtReady), append(peak, wr.peak), append(anon, wr.anon)
		b.noteExit(n, wr)
		b.logf("N=%d rep %d: watch process first report %.0f ms after exec, RSS %.1f MiB (anon %.1f MiB; %.1f MiB at first report, peak %.1f MiB), report served in %.0f ms, %d resources, %d not in sync",
			n, rep+1, ms(wr.firstReport), mib(wr.rss), mib(wr.anon), mib(wr.rssAtReady), mib(wr.peak), ms(wr.reportGet), wr.resources, len(wr.drifted))
	}
	res.FirstReportMs, res.ReportMs = median(first), median(get)
	res.RSSBytes, res.RSSAtReadyBytes, res.PeakRSSBytes, res.AnonBytes = medianInt(rss), medianInt(atReady), medianInt(peak), medianInt(anon)
	res.BaselineFirstReportMs, res.BaselineRSSBytes, res.BaselinePeakRSSBytes = median(baseFirst), medianInt(baseRSS), medianInt(basePeak)
	res.BaselineAnonBytes = medianInt(baseAnon)
	res.BytesPerObject = perObjectAbove(res.RSSBytes, res.BaselineRSSBytes, n, res.BaselineN)
	b.logf("N=%d: watch process RSS %.1f MiB (anon %.1f MiB), baseline %.1f MiB (anon %.1f MiB) over %d objects: %.0f B per watched object above baseline",
		n, mib(res.RSSBytes), mib(res.AnonBytes), mib(res.BaselineRSSBytes), mib(res.BaselineAnonBytes), res.BaselineN, res.BytesPerObject)
	return res, nil
}

// noteExit records a watch that did not exit 0 on SIGTERM, as it promises.
func (b *bench) noteExit(n int, r *watchRun) {
	if r.exit != 0 {
		b.note("driftwatch watch over %d objects exited %d on SIGTERM (want 0): %s", n, r.exit, r.logTail)
	}
}

// watchBaseline writes and creates, once per size, the baseline tree: the
// first n generated objects (drifted as in any size) moved to namespaces
// of their own.
func (b *bench) watchBaseline(ctx context.Context, n int) (string, []obj, error) {
	dir := filepath.Join(b.tmp, fmt.Sprintf("watch-baseline-%d", n))
	if objs, ok := b.watchBaselines[n]; ok {
		return dir, objs, nil
	}
	objs := generate(n)
	seen := map[string]bool{}
	var nss []string
	for _, o := range objs {
		ns := "base-" + o.U.GetNamespace()
		o.U.SetNamespace(ns)
		if !seen[ns] {
			seen[ns] = true
			nss = append(nss, ns)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	if err := writeManifests(dir, objs); err != nil {
		return "", nil, err
	}
	if err := b.createNamespaces(ctx, nss); err != nil {
		return "", nil, err
	}
	if _, err := b.createObjects(ctx, objs, false); err != nil {
		return "", nil, err
	}
	if b.watchBaselines == nil {
		b.watchBaselines = map[int][]obj{}
	}
	b.watchBaselines[n] = objs
	return dir, objs, nil
}

// watchRun is one `driftwatch watch` process, from exec to SIGTERM.
type watchRun struct {
	firstReport     time.Duration
	rss, rssAtReady int64
	anon            int64 // RssAnon of the sample counted as rss
	peak            int64
	reportGet       time.Duration
	resources       int
	drifted         map[string]bool
	exit            int
	logTail         string
}

// runWatch starts `driftwatch watch --dir dir` serving on a free port of
// 127.0.0.1, waits for its first report, samples its memory, reads the
// report it serves, stops it with SIGTERM (SIGKILL after
// watchStopTimeout) and reaps it, whatever happens.
func (b *bench) runWatch(ctx context.Context, dir string) (*watchRun, error) {
	// --listen :0 and the address from the "watching" log line: no port is
	// picked and released before the process binds it. An hour between Git
	// polls keeps a re-render out of the samples.
	cmd := exec.CommandContext(ctx, b.binary, "watch", "--dir", dir, "--kubeconfig", b.kubeconfig,
		"--listen", "127.0.0.1:0", "--log-format", "json", "--interval", "1h", "--sync-timeout", "5m")
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+b.cacheDir, "DRIFTWATCH_HASH_KEY=bench-hash-key", "KUBECONFIG=")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = watchStopTimeout
	log := &watchLog{addr: make(chan string, 1)}
	cmd.Stderr = log
	if b.cfg.WatchLogDir != "" {
		cmd.Args = append(cmd.Args, "--log-level", "debug")
		f, err := os.CreateTemp(b.cfg.WatchLogDir, "watch-*.log")
		if err != nil {
			return nil, err
		}
		defer f.Close()
		cmd.Stderr = io.MultiWriter(log, f)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop := func() int {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			t := time.NewTimer(watchStopTimeout)
			defer t.Stop()
			select {
			case <-exited:
			case <-t.C:
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		return cmd.ProcessState.ExitCode()
	}
	defer stop()
	failed := func(format string, args ...any) error {
		return fmt.Errorf("driftwatch watch: "+format+"\n%s", append(args, log.tail())...)
	}

	deadline := time.NewTimer(watchReadyTimeout)
	defer deadline.Stop()
	var addr string
	select {
	case addr = <-log.addr:
	case <-exited:
		return nil, failed("exited before listening (%v)", waitErr)
	case <-deadline.C:
		return nil, failed("not listening after %s", watchReadyTimeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	client := &http.Client{Timeout: 2 * time.Minute}
	defer client.CloseIdleConnections()
	base := "http://" + addr
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		if code, _ := httpGet(ctx, client, base+"/readyz", nil); code == http.StatusOK {
			break
		}
		select {
		case <-poll.C:
		case <-exited:
			return nil, failed("exited before its first report (%v)", waitErr)
		case <-deadline.C:
			return nil, failed("no first report after %s", watchReadyTimeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	r := &watchRun{firstReport: time.Since(start)}

	pid := cmd.Process.Pid
	sample := time.NewTicker(watchRSSEvery)
	defer sample.Stop()
	for i := 0; ; i++ {
		m, err := readProcMem(pid)
		if err != nil {
			return nil, failed("%v", err)
		}
		if i == 0 {
			r.rssAtReady = m.RSS
		}
		if i == 0 || m.RSS < r.rss {
			r.rss, r.anon = m.RSS, m.Anon
		}
		r.peak = m.HWM
		if time.Duration(i)*watchRSSEvery >= watchRSSWindow {
			break
		}
		select {
		case <-sample.C:
		case <-exited:
			return nil, failed("exited while sampled (%v)", waitErr)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}

	t := time.Now()
	var rep drift.Report
	code, err := httpGet(ctx, client, base+"/api/v1/report", &rep)
	if err != nil || code != http.StatusOK {
		return nil, failed("GET /api/v1/report: status %d, %v", code, err)
	}
	r.reportGet = time.Since(t)
	r.resources = len(rep.Resources)
	r.drifted = map[string]bool{}
	for _, res := range rep.Resources {
		if res.Status != drift.InSync {
			r.drifted[res.Kind+"."+res.Namespace+"."+res.Name] = true
		}
	}
	r.exit = stop()
	r.logTail = log.tail()
	return r, nil
}

// httpGet returns the status of GET url, decoding a 200's JSON body into
// v when v is not nil.
func httpGet(ctx context.Context, c *http.Client, url string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && v != nil {
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// driftedKeys names the drifted objects as the reports are read:
// Kind.namespace.name.
func driftedKeys(objs []obj) map[string]bool {
	out := map[string]bool{}
	for _, o := range objs {
		if o.Drifted {
			out[o.key()] = true
		}
	}
	return out
}

// perObjectAbove is the memory per object above a baseline:
// (rss − baseRSS) / (n − baseN), 0 without a baseline of fewer objects.
func perObjectAbove(rss, baseRSS int64, n, baseN int) float64 {
	if baseN <= 0 || n <= baseN {
		return 0
	}
	return float64(rss-baseRSS) / float64(n-baseN)
}

// procMem is a process's resident memory, in bytes, from /proc/PID/status.
type procMem struct {
	RSS int64 // VmRSS: resident now
	HWM int64 // VmHWM: the peak of VmRSS since exec
	// Anon is RssAnon, the part of RSS that is not mapped from files (heap,
	// stacks): RSS also counts the pages of the binary's own text and data
	// that were touched, tens of MiB for driftwatch. 0 if not reported.
	Anon int64
}

func readProcMem(pid int) (procMem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, err
	}
	m, err := parseProcMem(string(b))
	if err != nil {
		return procMem{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return m, nil
}

// parseProcMem reads VmRSS, VmHWM ("VmRSS:	  123456 kB") and RssAnon
// from the text of /proc/PID/status; VmRSS and VmHWM must be there.
func parseProcMem(status string) (procMem, error) {
	var m procMem
	var rss, hwm bool
	for _, line := range strings.Split(status, "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM" && key != "RssAnon") {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return procMem{}, fmt.Errorf("%s: %q is not a size in kB", key, strings.TrimSpace(val))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 {
			return procMem{}, fmt.Errorf("%s: %q is not a size in kB", key, strings.TrimSpace(val))
		}
		switch key {
		case "VmRSS":
			m.RSS, rss = kb*1024, true
		case "VmHWM":
			m.HWM, hwm = kb*1024, true
		default:
			m.Anon = kb * 1024
		}
	}
	if !rss || !hwm {
		return procMem{}, errors.New("no VmRSS or no VmHWM (a kernel thread, or a process exiting)")
	}
	return m, nil
}

// watchLogLines is how many of watch's last log lines an error shows.
const watchLogLines = 20

// watchLog is the stderr of a watch process (JSON lines): it keeps the
// last lines for errors and sends the address of the "watching" line.
type watchLog struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	addr    chan string // buffered, 1: receives the listen address once
	sent    bool
}

func (l *watchLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		if len(line) > 1000 {
			line = line[:1000] + "..."
		}
		if len(l.lines) == watchLogLines {
			l.lines = l.lines[1:]
		}
		l.lines = append(l.lines, line)
		if a, ok := listenAddr(line); ok && !l.sent {
			l.sent = true
			l.addr <- a
		}
	}
	l.partial = append([]byte(nil), l.partial...)
	return len(p), nil
}

func (l *watchLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(append(l.lines, string(l.partial)), "\n")
}

// listenAddr returns the address in watch's "watching" log line (JSON).
func listenAddr(line string) (string, bool) {
	var l struct {
		Msg    string `json:"msg"`
		Listen string `json:"listen"`
	}
	if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "watching" || l.Listen == "" {
		return "", false
	}
	return l.Listen, true
}
