package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/driftwatch/driftwatch/drift/fleet"
	"github.com/driftwatch/driftwatch/drift/fleet/audit"
	"github.com/driftwatch/driftwatch/drift/fleet/fleettest"
)

// FleetConfig is the fleet bench's configuration: `driftwatch-bench
// fleet`'s flags.
type FleetConfig struct {
	// Clusters are the fleet sizes, smallest first.
	Clusters []int
	// Reports and Results are each cluster's report objects and each
	// object's results.
	Reports, Results int
	// ChurnPerMinute is the fraction of all results changed per minute.
	ChurnPerMinute float64
	// Probes is how many changes are followed to the hub's API at each
	// size, ProbeEvery the mean pause between two (uniform, 0 to twice
	// it), ProbeTimeout how long one may take before it counts as lost.
	Probes       int
	ProbeEvery   time.Duration
	ProbeTimeout time.Duration
	// ProbesFor bounds the probes' phase: no probe starts after it.
	ProbesFor time.Duration
	// ChurnFor is the least time the churn runs at each size (longer when
	// the probes need it): the audit log's write rate is over it.
	ChurnFor time.Duration
	// ReadyTimeout bounds start → complete view.
	ReadyTimeout time.Duration
	// RSSWindow is how long VmRSS is sampled once the view is complete.
	RSSWindow time.Duration
	Out       string
	// Driftwatch is a built binary to run; empty: build one.
	Driftwatch string
	// LogDir keeps each hub's standard error and audit database there,
	// if set.
	LogDir string
	Log    io.Writer `json:"-"`
}

// FleetResults are the fleet bench's results.
type FleetResults struct {
	Started  time.Time     `json:"started"`
	Duration string        `json:"duration"`
	Machine  Machine       `json:"machine"`
	Config   FleetConfig   `json:"config"`
	Sizes    []FleetResult `json:"sizes"`
	Targets  []Target      `json:"targets"`
	// Unavailable says why the hub could not be run (no measurement).
	Unavailable string   `json:"unavailable,omitempty"`
	Notes       []string `json:"notes,omitempty"`
}

// FleetResult is the hub over one fleet size.
type FleetResult struct {
	Clusters int `json:"clusters"`
	// Objects and Results count the report objects and results served.
	Objects int `json:"objects"`
	Results int `json:"results"`
	// ReadyMs is exec → the first 200 from /readyz; CompleteMs exec →
	// /api/v1/fleet showing every cluster drifted or in sync.
	ReadyMs    float64 `json:"readyMs"`
	CompleteMs float64 `json:"completeViewMs"`
	// CompleteCPUMs is the hub's CPU time (user + system) until then: on
	// a loaded machine, a steadier figure than the wall time.
	CompleteCPUMs float64 `json:"completeViewCPUMs"`
	// RSSBytes is the most VmRSS sampled over RSSWindow after the view
	// was complete (AnonBytes its RssAnon), PeakRSSBytes VmHWM at the end.
	RSSBytes      int64   `json:"rssBytes"`
	AnonBytes     int64   `json:"rssAnonBytes"`
	PeakRSSBytes  int64   `json:"peakRSSBytes"`
	RSSPerCluster float64 `json:"rssBytesPerCluster"`
	// MarginalPerCluster is (RSS − the smallest size's RSS) / (clusters −
	// its clusters); 0 at the smallest size.
	MarginalPerCluster float64 `json:"rssBytesPerClusterAboveSmallest"`
	// The probes: changes followed from the fake server's MODIFIED to
	// the hub's API showing the new digest.
	Probes int `json:"probes"`
	Lost   int `json:"lostProbes"`
	// Skipped counts the probes not made once ProbesFor was over.
	Skipped int `json:"skippedProbes"`
	// P50Ms and P99Ms count a lost probe as ProbeTimeout; Censored
	// says that P99Ms is such a probe (the real figure is higher).
	P50Ms    float64 `json:"p50Ms"`
	P99Ms    float64 `json:"p99Ms"`
	MaxMs    float64 `json:"maxMs"`
	Censored bool    `json:"p99Censored"`
	PollGets int     `json:"pollGets"`
	// PollMs is the median time of one GET /api/v1/fleet?cluster=... .
	PollMs float64 `json:"pollGetMedianMs"`
	// The churn: changes made (beside the probes) over ChurnSeconds.
	ChurnChanges int     `json:"churnChanges"`
	ChurnSeconds float64 `json:"churnSeconds"`
	// AuditEvents counts the audit log's events timed from the churn's
	// start (read from the database once the hub stopped: the churn's
	// last transitions are stamped when the hub writes them, after the
	// churn); AuditPerSec is over ChurnSeconds. Expected is churn changes + probes: each is one
	// transition. MetricEvents is the hub's
	// driftwatch_fleet_audit_events_total increase over the same window
	// (-1: not exported).
	AuditEvents   int             `json:"auditEvents"`
	AuditPerSec   float64         `json:"auditEventsPerSecond"`
	Expected      int             `json:"expectedEvents"`
	MetricEvents  float64         `json:"metricEvents"`
	InitialEvents int             `json:"auditEventsBeforeChurn"`
	Exit          int             `json:"exitOnSIGTERM"`
	LoadAvg       [2]string       `json:"loadAvg"`
	Server        fleettest.Stats `json:"server"`
}

func fleetFlags(args []string) (FleetConfig, error) {
	fs := flag.NewFlagSet("driftwatch-bench fleet", flag.ContinueOnError)
	sizes := fs.String("clusters", "10,100,1000", "fleet sizes (clusters), comma-separated")
	cfg := FleetConfig{Log: os.Stderr}
	fs.IntVar(&cfg.Reports, "reports", 20, "report objects per cluster (one ClusterReport, the rest Reports)")
	fs.IntVar(&cfg.Results, "results", 50, "results per report object")
	fs.Float64Var(&cfg.ChurnPerMinute, "churn", 0.01, "fraction of all results changed per minute")
	fs.IntVar(&cfg.Probes, "probes", 200, "changes followed to the hub's API per size")
	fs.DurationVar(&cfg.ProbeEvery, "probe-every", 250*time.Millisecond, "mean pause between two probes")
	fs.DurationVar(&cfg.ProbeTimeout, "probe-timeout", 10*time.Second, "a probe not visible after this is lost")
	fs.DurationVar(&cfg.ProbesFor, "probes-for", 3*time.Minute, "no probe starts after this much time of probing")
	fs.DurationVar(&cfg.ChurnFor, "churn-for", time.Minute, "least time the churn runs per size")
	fs.DurationVar(&cfg.ReadyTimeout, "ready-timeout", 10*time.Minute, "bound on start → complete view")
	fs.DurationVar(&cfg.RSSWindow, "rss-window", 10*time.Second, "VmRSS sampling window once the view is complete")
	fs.StringVar(&cfg.Out, "out", "bench", "directory of results.md (a fleet section) and results-fleet.json")
	fs.StringVar(&cfg.Driftwatch, "driftwatch", "", "driftwatch binary to run (default: go build ./cmd/driftwatch)")
	fs.StringVar(&cfg.LogDir, "log-dir", "", "keep each hub's standard error and audit database in this directory")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return cfg, fmt.Errorf("--clusters: %q is not a positive number", s)
		}
		cfg.Clusters = append(cfg.Clusters, n)
	}
	switch {
	case cfg.Reports < 1 || cfg.Results < 1:
		return cfg, errors.New("--reports and --results: must be positive")
	case cfg.ChurnPerMinute < 0 || cfg.ChurnPerMinute > 1:
		return cfg, fmt.Errorf("--churn: %g is not a fraction between 0 and 1", cfg.ChurnPerMinute)
	case cfg.Probes < 0:
		return cfg, errors.New("--probes: must not be negative")
	case cfg.ProbeTimeout <= 0 || cfg.ReadyTimeout <= 0 || cfg.ProbesFor <= 0:
		return cfg, errors.New("--probe-timeout, --probes-for and --ready-timeout: must be positive")
	}
	return cfg, nil
}

// runFleet is `driftwatch-bench fleet`.
func runFleet(ctx context.Context, args []string) error {
	cfg, err := fleetFlags(args)
	if err != nil {
		return err
	}
	res, err := RunFleet(ctx, cfg)
	if err != nil {
		return err
	}
	md := FleetMarkdown(res)
	fmt.Print(md)
	return writeFleetResults(cfg.Out, res, md)
}

// RunFleet builds driftwatch (unless given) and measures the hub over each
// fleet size. A hub that cannot be built or run is reported in
// Unavailable, not as an error.
func RunFleet(ctx context.Context, cfg FleetConfig) (*FleetResults, error) {
	res := &FleetResults{Started: time.Now().UTC(), Machine: machine(), Config: cfg}
	defer func() { res.Duration = time.Since(res.Started).Round(time.Second).String() }()
	tmp, err := os.MkdirTemp("", "driftwatch-bench-fleet-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := cfg.Driftwatch
	if bin == "" {
		bin = filepath.Join(tmp, "driftwatch")
		fleetLogf(cfg, "building driftwatch")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/driftwatch/driftwatch/cmd/driftwatch")
		build.Env = append(os.Environ(), "GOTOOLCHAIN=local")
		if out, err := build.CombinedOutput(); err != nil {
			res.Unavailable = fmt.Sprintf("hub not available: go build ./cmd/driftwatch: %v: %s", err, tail(string(out), 500))
			return res, nil
		}
	}
	if out, err := exec.CommandContext(ctx, bin, "fleet", "--help").CombinedOutput(); err != nil {
		res.Unavailable = fmt.Sprintf("hub not available: driftwatch fleet --help: %v: %s", err, tail(string(out), 300))
		return res, nil
	}
	for _, n := range cfg.Clusters {
		r, err := fleetSize(ctx, cfg, bin, tmp, n)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			res.Notes = append(res.Notes, fmt.Sprintf("%d clusters: %v", n, err))
			fleetLogf(cfg, "%d clusters: %v", n, err)
			continue
		}
		res.Sizes = append(res.Sizes, *r)
	}
	// Memory per cluster above the smallest fleet: what one more cluster
	// costs, without the binary and runtime the smallest fleet pays too.
	if len(res.Sizes) > 1 {
		base := res.Sizes[0]
		for i := range res.Sizes[1:] {
			s := &res.Sizes[i+1]
			if s.Clusters > base.Clusters {
				s.MarginalPerCluster = float64(s.RSSBytes-base.RSSBytes) / float64(s.Clusters-base.Clusters)
			}
		}
	}
	res.Targets = fleetTargets(res)
	return res, nil
}

func fleetLogf(cfg FleetConfig, format string, args ...any) {
	if cfg.Log != nil {
		fmt.Fprintf(cfg.Log, "%s fleet: "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
	}
}

// hubProcess is a running `driftwatch fleet`.
type hubProcess struct {
	cmd    *exec.Cmd
	base   string
	log    *watchLog
	exited chan struct{}
	err    error
}

// stop sends SIGTERM, then SIGKILL after watchStopTimeout; it returns the
// exit code.
func (h *hubProcess) stop() int {
	select {
	case <-h.exited:
	default:
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(watchStopTimeout)
		defer t.Stop()
		select {
		case <-h.exited:
		case <-t.C:
			_ = h.cmd.Process.Kill()
			<-h.exited
		}
	}
	return h.cmd.ProcessState.ExitCode()
}

func (h *hubProcess) failed(format string, args ...any) error {
	return fmt.Errorf("driftwatch fleet: "+format+"\n%s", append(args, h.log.tail())...)
}

// freePort returns a port of 127.0.0.1 free a moment ago (the hub may not
// print the address it binds for --listen 127.0.0.1:0).
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startHub(ctx context.Context, cfg FleetConfig, bin, dir, kubeconfig, db string) (*hubProcess, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "fleet", "--kubeconfig", kubeconfig, "--listen", addr,
		"--audit-db", db, "--stale-after", "10m", "--log-level", "warn")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KUBECONFIG=", "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = watchStopTimeout
	h := &hubProcess{cmd: cmd, base: "http://" + addr, log: &watchLog{addr: make(chan string, 1)}, exited: make(chan struct{})}
	cmd.Stderr = h.log
	if cfg.LogDir != "" {
		f, err := os.CreateTemp(cfg.LogDir, "fleet-*.log")
		if err != nil {
			return nil, err
		}
		cmd.Stderr = io.MultiWriter(h.log, f)
		go func() { <-h.exited; f.Close() }()
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		h.err = cmd.Wait()
		close(h.exited)
	}()
	return h, nil
}

// fleetSize measures the hub over n clusters.
func fleetSize(ctx context.Context, cfg FleetConfig, bin, tmp string, n int) (*FleetResult, error) {
	fleetLogf(cfg, "%d clusters: serving %d report objects of %d results", n, n*cfg.Reports, cfg.Results)
	srv := fleettest.NewServer(n, cfg.Reports, cfg.Results)
	defer srv.Close()
	dir := filepath.Join(tmp, fmt.Sprintf("fleet-%d", n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	kubeconfig, db := filepath.Join(dir, "kubeconfig"), filepath.Join(dir, "audit.db")
	if err := srv.WriteKubeconfig(kubeconfig); err != nil {
		return nil, err
	}
	r := &FleetResult{Clusters: n, Objects: n * cfg.Reports, Results: n * cfg.Reports * cfg.Results, MetricEvents: -1}
	r.LoadAvg[0] = loadAvg()

	start := time.Now()
	h, err := startHub(ctx, cfg, bin, dir, kubeconfig, db)
	if err != nil {
		return nil, err
	}
	defer h.stop()
	client := &http.Client{Timeout: time.Minute}
	defer client.CloseIdleConnections()

	// Start → ready → complete view, polled every 50 ms.
	deadline := time.NewTimer(cfg.ReadyTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	wait := func(what string) error {
		select {
		case <-poll.C:
			return nil
		case <-h.exited:
			return h.failed("exited before %s (%v)", what, h.err)
		case <-deadline.C:
			return h.failed("no %s after %s", what, cfg.ReadyTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		if code, _ := httpGet(ctx, client, h.base+"/readyz", nil); code == http.StatusOK {
			break
		}
		if err := wait("ready"); err != nil {
			return nil, err
		}
	}
	r.ReadyMs = ms(time.Since(start))
	// Complete: every cluster drifted or in sync, counting exactly the
	// resources its reports name. status=Error keeps every cluster's
	// line and no resource (the fake agents report no errors), so each
	// poll is small.
	want := map[string][2]int{}
	for _, name := range srv.Clusters() {
		pass, fail, err := srv.Counts(name)
		if err != nil {
			return nil, err
		}
		want[name] = [2]int{pass, fail}
	}
	var states map[fleet.State]int
	counted := 0
	for {
		var v fleet.View
		code, err := httpGet(ctx, client, h.base+"/api/v1/fleet?status=Error", &v)
		if code == http.StatusOK && err == nil {
			states = map[fleet.State]int{}
			counted = 0
			for _, c := range v.Clusters {
				states[c.State]++
				if c.State.Healthy() && want[c.Name] == [2]int{c.InSync, c.Drifted} {
					counted++
				}
			}
			if counted == n && len(v.Clusters) == n {
				break
			}
		}
		if err := wait(fmt.Sprintf("complete view (states %v, %d of %d clusters counted right)", states, counted, n)); err != nil {
			return nil, err
		}
	}
	r.CompleteMs = ms(time.Since(start))
	if cpu, err := procCPU(h.cmd.Process.Pid); err == nil {
		r.CompleteCPUMs = ms(cpu)
	}
	fleetLogf(cfg, "%d clusters: ready %.1f s, complete view %.1f s after exec", n, r.ReadyMs/1000, r.CompleteMs/1000)

	// RSS: the most of VmRSS over the window.
	pid := h.cmd.Process.Pid
	for i := 0; ; i++ {
		m, err := readProcMem(pid)
		if err != nil {
			return nil, h.failed("%v", err)
		}
		if m.RSS > r.RSSBytes {
			r.RSSBytes, r.AnonBytes = m.RSS, m.Anon
		}
		if time.Duration(i)*500*time.Millisecond >= cfg.RSSWindow {
			break
		}
		select {
		case <-time.After(500 * time.Millisecond):
		case <-h.exited:
			return nil, h.failed("exited while sampled (%v)", h.err)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	r.RSSPerCluster = float64(r.RSSBytes) / float64(n)
	fleetLogf(cfg, "%d clusters: RSS %.1f MiB (%.2f MiB per cluster)", n, mib(r.RSSBytes), r.RSSPerCluster/(1<<20))

	// Churn, with the probes.
	metricBefore, metricOK := auditMetric(ctx, client, h.base)
	churnCtx, stopChurn := context.WithCancel(ctx)
	var churned atomic.Int64
	churnDone := make(chan struct{})
	churnStart := time.Now()
	go func() {
		defer close(churnDone)
		srv.Churn(churnCtx, cfg.ChurnPerMinute, func(fleettest.Change) { churned.Add(1) })
	}()
	pr, err := probeFleet(ctx, cfg, srv, client, h)
	if err != nil {
		stopChurn()
		<-churnDone
		return nil, err
	}
	if rest := cfg.ChurnFor - time.Since(churnStart); rest > 0 {
		select {
		case <-time.After(rest):
		case <-h.exited:
		case <-ctx.Done():
		}
	}
	stopChurn()
	<-churnDone
	churnEnd := time.Now()
	// Let the last changes reach the log before counting.
	time.Sleep(2 * time.Second)
	if after, ok := auditMetric(ctx, client, h.base); ok && metricOK {
		r.MetricEvents = after - metricBefore
	}
	r.Probes, r.Lost, r.Skipped, r.PollGets = len(pr.latencies), pr.lost, cfg.Probes-len(pr.latencies), len(pr.gets)
	r.P50Ms, r.P99Ms = pct(pr.latencies, 0.50), pct(pr.latencies, 0.99)
	r.Censored = r.Lost > 0 && r.P99Ms >= ms(cfg.ProbeTimeout)
	r.PollMs = pct(pr.gets, 0.50)
	for _, d := range pr.latencies {
		r.MaxMs = max(r.MaxMs, ms(d))
	}
	r.ChurnChanges = int(churned.Load())
	r.ChurnSeconds = churnEnd.Sub(churnStart).Seconds()
	r.Expected = r.ChurnChanges + r.Probes
	r.Server = srv.Stats()
	r.LoadAvg[1] = loadAvg()
	m, _ := readProcMem(pid)
	r.PeakRSSBytes = m.HWM
	r.Exit = h.stop()

	if cfg.LogDir != "" {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if b, err := os.ReadFile(db + suffix); err == nil {
				_ = os.WriteFile(filepath.Join(cfg.LogDir, fmt.Sprintf("fleet-%d-audit.db%s", n, suffix)), b, 0o644)
			}
		}
	}
	// The audit log, read once the hub is gone.
	r.InitialEvents, r.AuditEvents, err = countAudit(ctx, db, churnStart)
	if err != nil {
		return nil, err
	}
	r.AuditPerSec = float64(r.AuditEvents) / r.ChurnSeconds
	fleetLogf(cfg, "%d clusters: change → API p50 %.0f ms, p99 %.0f ms (%d probes, %d lost); %d audit events in %.0f s (%d changes made)",
		n, r.P50Ms, r.P99Ms, r.Probes, r.Lost, r.AuditEvents, r.ChurnSeconds, r.Expected)
	return r, nil
}

// probes are probeFleet's measurements.
type probes struct {
	// latencies has one per probe made, ProbeTimeout for a lost one.
	latencies []time.Duration
	lost      int
	// gets are the times of the polls.
	gets []time.Duration
}

// probeFleet makes up to cfg.Probes changes, one at a time at random
// clusters, each a new digest of a failing result, and times each from
// the change to the hub's /api/v1/fleet showing it (polled every 20 ms,
// at most cfg.ProbeTimeout, a poll in flight included: then it is lost).
// No probe starts once cfg.ProbesFor has passed.
func probeFleet(ctx context.Context, cfg FleetConfig, srv *fleettest.Server, client *http.Client, h *hubProcess) (*probes, error) {
	names := srv.Clusters()
	res := &probes{}
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	end := time.Now().Add(cfg.ProbesFor)
	for range cfg.Probes {
		if cfg.ProbeEvery > 0 {
			pause := time.Duration(rand.Int64N(int64(2 * cfg.ProbeEvery)))
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if time.Now().After(end) {
			break
		}
		ch, err := srv.ChangeDigest(names[rand.IntN(len(names))])
		if err != nil {
			return nil, err
		}
		q := url.Values{"cluster": {ch.Cluster}, "status": {"Drifted,Missing,Extra"}, "kind": {ch.Kind}}
		if ch.Namespace != "" {
			q.Set("namespace", ch.Namespace)
		}
		u := h.base + "/api/v1/fleet?" + q.Encode()
		pctx, cancel := context.WithDeadline(ctx, ch.At.Add(cfg.ProbeTimeout))
		seen := false
		for !seen && pctx.Err() == nil {
			var v fleet.View
			t := time.Now()
			code, err := httpGet(pctx, client, u, &v)
			if pctx.Err() == nil {
				res.gets = append(res.gets, time.Since(t))
			}
			if code == http.StatusOK && err == nil {
				for _, r := range v.Resources {
					if r.Name == ch.Name && r.Kind == ch.Kind && r.Namespace == ch.Namespace && r.Digest == ch.Digest {
						seen = true
						res.latencies = append(res.latencies, time.Since(ch.At))
						break
					}
				}
			}
			if seen {
				break
			}
			select {
			case <-poll.C:
			case <-pctx.Done():
			case <-h.exited:
				cancel()
				return nil, h.failed("exited during the probes (%v)", h.err)
			}
		}
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !seen {
			res.lost++
			res.latencies = append(res.latencies, cfg.ProbeTimeout)
		}
	}
	return res, nil
}

// auditMetric reads the sum of driftwatch_fleet_audit_events_total from
// the hub's /metrics.
func auditMetric(ctx context.Context, client *http.Client, base string) (float64, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, false
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, false
	}
	sum, found := 0.0, false
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "driftwatch_fleet_audit_events_total") {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum, found = sum+v, true
		}
	}
	return sum, found
}

// countAudit counts the audit log's events timed before since, and from
// since on.
func countAudit(ctx context.Context, db string, since time.Time) (before, from int, err error) {
	l, err := audit.Open(ctx, db)
	if err != nil {
		return 0, 0, err
	}
	defer l.Close()
	var after int64
	for range 10000 { // at most 100 million events
		evs, err := l.Query(ctx, audit.Query{AfterSeq: after, Limit: audit.MaxLimit})
		if err != nil {
			return 0, 0, fmt.Errorf("audit: %w", err)
		}
		for _, e := range evs {
			if e.Time.Before(since) {
				before++
			} else {
				from++
			}
			after = e.Seq
		}
		if len(evs) < audit.MaxLimit {
			return before, from, nil
		}
	}
	return before, from, errors.New("audit: more than 100 million events")
}

// fleetTargets judges the largest size against the goals.
func fleetTargets(r *FleetResults) []Target {
	if len(r.Sizes) == 0 {
		return nil
	}
	s := r.Sizes[len(r.Sizes)-1]
	ts := []Target{
		{Name: fmt.Sprintf("hub RSS per cluster at %d clusters", s.Clusters), Want: "≤ 2 MiB",
			Actual: fmt.Sprintf("%.2f MiB (%.0f MiB in all%s)", s.RSSPerCluster/(1<<20), mib(s.RSSBytes), marginalText(s)),
			Met:    s.RSSPerCluster <= 2<<20},
		{Name: fmt.Sprintf("start → complete fleet view at %d clusters", s.Clusters), Want: "≤ 60 s",
			Actual: fmt.Sprintf("%.1f s", s.CompleteMs/1000), Met: s.CompleteMs <= 60000},
		{Name: fmt.Sprintf("report change → hub API p99 at %d clusters", s.Clusters), Want: "< 2 s",
			Actual: fmt.Sprintf("%s ms (p50 %.0f ms; %d of %d probes lost)", p99Text(s), s.P50Ms, s.Lost, s.Probes), Met: s.P99Ms < 2000 && !s.Censored},
	}
	complete := true
	for _, x := range r.Sizes {
		complete = complete && x.AuditEvents == x.Expected
	}
	ts = append(ts, Target{Name: "audit log: one event per change made, at every size", Want: "yes", Actual: yesNo(complete), Met: complete})
	return ts
}

// FleetMarkdown renders the fleet results as the section printed and kept
// in results.md.
func FleetMarkdown(r *FleetResults) string {
	var b strings.Builder
	m := r.Machine
	b.WriteString("## Fleet hub\n\n")
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), %s RAM, %s, Linux %s, %s. Run %s, took %s.\n",
		m.CPUs, m.Model, m.Memory, m.Go, m.Kernel, m.OS, r.Started.Format("2006-01-02 15:04 UTC"), r.Duration)
	if r.Unavailable != "" {
		fmt.Fprintf(&b, "\n**%s** — nothing measured.\n", r.Unavailable)
		return b.String()
	}
	c := r.Config
	fmt.Fprintf(&b, "`driftwatch fleet` over N clusters served by one fleettest process (list/watch of the report kinds, one path prefix per cluster), each with %d report objects of %d results; churn %.2g%% of results per minute plus %d probes.\n\n",
		c.Reports, c.Results, c.ChurnPerMinute*100, c.Probes)
	b.WriteString("| clusters | objects | ready (s) | complete view (s) | hub CPU to complete (s) | RSS (MiB) | RSS/cluster (MiB) | above smallest, per cluster (MiB) | anon (MiB) | peak (MiB) | change → API p50 (ms) | p99 (ms) | max (ms) | lost | churn changes | audit events (expected) | audit writes/s | exit |\n")
	b.WriteString("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range r.Sizes {
		marginal := "–"
		if s.MarginalPerCluster != 0 {
			marginal = fmt.Sprintf("%.2f", s.MarginalPerCluster/(1<<20))
		}
		fmt.Fprintf(&b, "| %d | %d | %.1f | %.1f | %.1f | %.0f | %.2f | %s | %.0f | %.0f | %.0f | %s | %.0f | %d/%d | %d | %d (%d) | %.1f | %d |\n",
			s.Clusters, s.Objects, s.ReadyMs/1000, s.CompleteMs/1000, s.CompleteCPUMs/1000, mib(s.RSSBytes), s.RSSPerCluster/(1<<20), marginal, mib(s.AnonBytes), mib(s.PeakRSSBytes),
			s.P50Ms, p99Text(s), s.MaxMs, s.Lost, s.Probes, s.ChurnChanges, s.AuditEvents, s.Expected, s.AuditPerSec, s.Exit)
	}
	b.WriteString("\n| target | want | actual | |\n|---|---|---|---|\n")
	for _, t := range r.Targets {
		met := "met"
		if !t.Met {
			met = "**missed**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.Name, t.Want, t.Actual, met)
	}
	b.WriteString("\n")
	for _, s := range r.Sizes {
		if s.Skipped > 0 {
			fmt.Fprintf(&b, "- %d clusters: %d probes not made, the probes' time (%s) being over.\n", s.Clusters, s.Skipped, r.Config.ProbesFor)
		}
		fmt.Fprintf(&b, "- %d clusters: one GET /api/v1/fleet?cluster=... took %.0f ms (median of %d polls). %d audit events before the churn (the first view's drift); hub metric driftwatch_fleet_audit_events_total rose %s over the churn; 1-minute load %s → %s; fake server: %d watch-lists, %d lists, %d watches, %d expired, %d slow watchers ended.\n",
			s.Clusters, s.PollMs, s.PollGets, s.InitialEvents, metricText(s.MetricEvents), s.LoadAvg[0], s.LoadAvg[1], s.Server.WatchLists, s.Server.Lists, s.Server.Watches, s.Server.Expired, s.Server.Kicked)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	b.WriteString(`
Definitions: *ready* is exec → the first 200 from /readyz; *complete view* is exec → /api/v1/fleet listing every
cluster drifted or in sync with as many resources drifted and in sync as its reports name (polled every 50 ms);
*hub CPU* is the hub's user + system time (/proc/PID/stat) at that moment. RSS is the most VmRSS sampled every 500 ms over the window after
that (anon: its RssAnon part; peak: VmHWM at the end), per cluster divided by N. A probe gives a failing result of a
random cluster a new digest (one MODIFIED of its report object) and polls /api/v1/fleet?cluster=&namespace=&kind=&status=
every 20 ms until the resource shows the new digest: change → API is from the change to that response (lost: not seen
within the probe timeout, a poll in flight included; counted as the timeout in p50/p99, "≥" when p99 is one). The churn changes results uniformly at random during the probes (a passing one fails, a
failing one resolves or drifts differently) and refreshes every cluster's heartbeat once a minute. Audit events are
the audit log's events (read with audit.Query once the hub stopped, 2 s after the churn) timed from the churn's start;
each change made is one transition, so expected = churn changes + probes. The fake server and the bench share the machine with the hub.
`)
	return b.String()
}

func metricText(v float64) string {
	if v < 0 {
		return "(not exported)"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// Markers around the fleet section of results.md: a new run replaces the
// section, the rest of the file (driftwatch-bench's own) is kept.
const (
	fleetBegin = "<!-- driftwatch-bench fleet -->"
	fleetEnd   = "<!-- /driftwatch-bench fleet -->"
)

// writeFleetResults puts md into dir/results.md between the markers
// (replacing an earlier fleet section, else appended) and the results
// into dir/results-fleet.json.
func writeFleetResults(dir string, r *FleetResults, md string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, "results.md")
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.WriteFile(path, []byte(spliceSection(string(old), md)), 0o644); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results-fleet.json"), append(data, '\n'), 0o644)
}

// spliceSection returns doc with its fleet section replaced by md (or md
// appended when there is none).
func spliceSection(doc, md string) string {
	section := fleetBegin + "\n" + md + fleetEnd + "\n"
	if i := strings.Index(doc, fleetBegin); i >= 0 {
		if j := strings.Index(doc[i:], fleetEnd); j >= 0 {
			rest := strings.TrimPrefix(doc[i+j+len(fleetEnd):], "\n")
			return doc[:i] + section + rest
		}
	}
	if doc != "" && !strings.HasSuffix(doc, "\n\n") {
		doc = strings.TrimRight(doc, "\n") + "\n\n"
	}
	return doc + section
}

// procCPU returns the user + system CPU time of process pid, from
// /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %q is not a number of ticks", pid, s)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// p99Text is the p99, "≥" the timeout when it is a lost probe.
func p99Text(s FleetResult) string {
	if s.Censored {
		return fmt.Sprintf("≥ %.0f", s.P99Ms)
	}
	return fmt.Sprintf("%.0f", s.P99Ms)
}

func marginalText(s FleetResult) string {
	if s.MarginalPerCluster == 0 {
		return ""
	}
	return fmt.Sprintf("; %.2f MiB per cluster above the smallest fleet", s.MarginalPerCluster/(1<<20))
}
