package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/fleet"
	"github.com/driftwatch/driftwatch/drift/fleet/audit"
	"github.com/driftwatch/driftwatch/drift/fleet/clusters"
	"github.com/driftwatch/driftwatch/drift/pipeline"
	"github.com/driftwatch/driftwatch/drift/pipeline/reports"
)

// fleetOptions holds the flags of `driftwatch fleet`.
type fleetOptions struct {
	streams
	// Cluster is the hub's own cluster: where --cluster-secrets are read
	// and the Lease of --leader-elect is held.
	Cluster        clusterOptions
	Contexts       []string
	KubeconfigDir  string
	ClusterSecrets string

	Listen      string
	TokenFile   string
	TLSCertFile string
	TLSKeyFile  string

	AuditDB        string
	AuditRetention time.Duration
	StaleAfter     time.Duration
	RetryAfter     time.Duration
	Reports        string

	Once    bool
	Output  string
	FailOn  string
	Timeout time.Duration

	LeaderElect     bool
	LeaderNamespace string
	LogFormat       string
	LogLevel        string

	onListen func(addr string)
	// self is the hub's own cluster once connected (hubCluster).
	self *pipeline.Cluster
}

// hubCluster connects to the hub's own cluster once, for the Argo CD
// cluster Secrets and the Lease alike.
func (o *fleetOptions) hubCluster(ctx context.Context) (*pipeline.Cluster, error) {
	if o.self != nil {
		return o.self, nil
	}
	cl, err := connect(ctx, o.Cluster)
	if err != nil {
		return nil, err
	}
	o.self = cl
	return cl, nil
}

func newCmdFleet(s streams) *cobra.Command {
	o := &fleetOptions{streams: s, onListen: listenHook}
	cmd := &cobra.Command{
		Use:   "fleet [--contexts LIST | --kubeconfig-dir DIR | --cluster-secrets NAMESPACE]",
		Short: "Read the drift reports of many clusters and serve one view of the fleet",
		Long: `fleet is a hub: it reads only the report objects each cluster's agent writes (watch or check
with --reports) and serves the fleet's drift like watch, by cluster; it logs every transition.`,
		Example: `  driftwatch fleet --contexts 'prod-*,staging' --listen :8080 --audit-db /var/lib/driftwatch/audit.db
  driftwatch fleet --cluster-secrets argocd --audit-db postgres://hub@db/driftwatch --leader-elect
  driftwatch fleet --kubeconfig-dir ./clusters --once -o markdown --fail-on warning`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return hubRun(cmd.Context(), o) },
	}
	f := cmd.Flags()
	o.Cluster.register(f)
	f.StringSliceVar(&o.Contexts, "contexts", nil, "kubeconfig contexts to read: names or globs (default all)")
	f.StringVar(&o.KubeconfigDir, "kubeconfig-dir", "", "one cluster per kubeconfig file in DIR")
	f.StringVar(&o.ClusterSecrets, "cluster-secrets", "", "follow the Argo CD cluster Secrets of this namespace")
	f.StringVar(&o.Listen, "listen", "127.0.0.1:8080", "address of the API, metrics and dashboard")
	f.StringVar(&o.TokenFile, "auth-token-file", "", "file with the bearer token the API needs")
	f.StringVar(&o.TLSCertFile, "tls-cert-file", "", "serve HTTPS with this certificate")
	f.StringVar(&o.TLSKeyFile, "tls-key-file", "", "private key for --tls-cert-file")
	f.StringVar(&o.AuditDB, "audit-db", "driftwatch-audit.db", `audit log: SQLite file, postgres:// DSN or "none"`)
	f.DurationVar(&o.AuditRetention, "audit-retention", 90*24*time.Hour, "drop older audit events (0: keep all)")
	f.DurationVar(&o.StaleAfter, "stale-after", 10*time.Minute, "a cluster whose reports' heartbeat is older is stale")
	f.DurationVar(&o.RetryAfter, "retry-after", time.Minute, "wait before retrying a cluster that refused")
	f.StringVar(&o.Reports, "reports", "openreports", "the agents' report API: openreports or policyreport")
	f.BoolVar(&o.Once, "once", false, "print one report and exit: 0 in sync, 1 drift, 2 incomplete")
	f.StringVarP(&o.Output, "output", "o", "text", "with --once: text, json or markdown")
	f.StringVar(&o.FailOn, "fail-on", "info", "with --once: least severity that exits 1")
	f.DurationVar(&o.Timeout, "timeout", time.Minute, "with --once: time allowed to list every cluster")
	f.BoolVar(&o.LeaderElect, "leader-elect", false, "one replica (holding a Lease) writes the audit log")
	f.StringVar(&o.LeaderNamespace, "leader-elect-namespace", "", "the Lease's namespace (default $POD_NAMESPACE)")
	f.StringVar(&o.LogFormat, "log-format", "text", "log format on stderr: text or json (log/slog)")
	f.StringVar(&o.LogLevel, "log-level", "info", "least log level: debug, info, warn, error")
	return cmd
}

func (o *fleetOptions) validate() error {
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		return errors.New("flag: --tls-cert-file and --tls-key-file go together")
	}
	if o.LogFormat != "text" && o.LogFormat != "json" {
		return fmt.Errorf("flag --log-format: unknown value %q (want text or json)", o.LogFormat)
	}
	if _, err := parseLogLevel(o.LogLevel); err != nil {
		return err
	}
	if _, err := reports.ParseFormat(o.Reports); err != nil {
		return fmt.Errorf("flag --reports: %w", err)
	}
	if _, err := severityFlag("fail-on", o.FailOn); err != nil {
		return err
	}
	switch o.Output {
	case "text", "json", "markdown":
	default:
		return fmt.Errorf("flag --output: unknown format %q (want text, json or markdown)", o.Output)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"stale-after", o.StaleAfter}, {"retry-after", o.RetryAfter}, {"timeout", o.Timeout}} {
		if d.v <= 0 {
			return fmt.Errorf("flag --%s: must be positive", d.name)
		}
	}
	if o.AuditRetention < 0 {
		return errors.New("flag --audit-retention: must not be negative")
	}
	return nil
}

// fleetLogger makes the hub's log on stderr.
func fleetLogger(o *fleetOptions) *slog.Logger {
	level, _ := parseLogLevel(o.LogLevel)
	hopts := &slog.HandlerOptions{Level: level}
	if o.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(o.Err, hopts))
	}
	return slog.New(slog.NewTextHandler(o.Err, hopts))
}

// members lists the clusters the flags name, and follows the Argo CD
// cluster Secrets when asked (calling set again on each change).
func (o *fleetOptions) members(ctx context.Context, set func([]fleet.Member)) error {
	var static [][]clusters.Target
	if len(o.Contexts) > 0 || o.KubeconfigDir == "" && o.ClusterSecrets == "" {
		sel := o.Contexts
		if len(sel) == 1 && sel[0] == "*" {
			sel = nil
		}
		ts, err := clusters.FromKubeconfig(o.Cluster.Kubeconfig, sel)
		if err != nil {
			return fmt.Errorf("flag --contexts: %w", err)
		}
		static = append(static, ts)
	}
	if o.KubeconfigDir != "" {
		ts, err := clusters.FromDir(o.KubeconfigDir, nil)
		if err != nil {
			return fmt.Errorf("flag --kubeconfig-dir: %w", err)
		}
		static = append(static, ts)
	}
	if o.ClusterSecrets == "" {
		set(toMembers(clusters.Merge(static...)))
		return nil
	}
	self, err := o.hubCluster(ctx)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(self.Config)
	if err != nil {
		return fmt.Errorf("flag --cluster-secrets: %w", err)
	}
	var mu sync.Mutex
	err = clusters.ArgoCDSecrets(ctx, cs, o.ClusterSecrets, self.Config, func(ts []clusters.Target) {
		mu.Lock()
		defer mu.Unlock()
		set(toMembers(clusters.Merge(append(static, ts)...)))
	})
	if err != nil {
		return fmt.Errorf("flag --cluster-secrets: %w", err)
	}
	return nil
}

func toMembers(ts []clusters.Target) []fleet.Member {
	out := make([]fleet.Member, 0, len(ts))
	for _, t := range ts {
		out = append(out, fleet.Member{Name: t.Name, Server: t.Server, Origin: t.Origin, Config: t.Config, Err: t.Err})
	}
	return out
}

func hubRun(ctx context.Context, o *fleetOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	if o.Once {
		return fleetOnce(ctx, o)
	}
	log := fleetLogger(o)
	token, err := readToken(o.TokenFile)
	if err != nil {
		return err
	}
	format, _ := reports.ParseFormat(o.Reports)
	var alog *audit.Log
	if o.AuditDB != "none" && o.AuditDB != "" {
		var err error
		if alog, err = audit.Open(ctx, o.AuditDB); err != nil {
			return fmt.Errorf("flag --audit-db: %w", err)
		}
		defer alog.Close()
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("flag --listen: %w", err)
	}
	met := newFleetMetrics()
	var leader atomic.Bool
	leader.Store(!o.LeaderElect)
	hopts := fleet.Options{
		Format: format, StaleAfter: o.StaleAfter, RetryAfter: o.RetryAfter, Logger: log,
		Writing: leader.Load, OnAudit: met.audited,
	}
	if alog != nil {
		hopts.Log = alog
	}
	hub := fleet.NewHub(hopts)
	met.registry.MustRegister(fleetCollector{hub: hub})

	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	if err := o.members(ctx, hub.SetMembers); err != nil {
		ln.Close()
		return err
	}
	hubDone := make(chan error, 1)
	go func() { hubDone <- hub.Run(runCtx) }()
	if alog != nil && o.AuditRetention > 0 {
		go pruneAudit(runCtx, alog, o.AuditRetention, leader.Load, log)
	}
	if o.LeaderElect {
		self, err := o.hubCluster(ctx)
		if err == nil {
			err = startLeaderElection(runCtx, o.LeaderNamespace, "driftwatch-fleet", self, &leader, log, nil)
		}
		if err != nil {
			ln.Close()
			return err
		}
	}
	var hist fleetHistory
	if alog != nil {
		hist = alog
	}
	srv := &http.Server{Handler: newFleetHandler(hub, hist, met.registry, token), ReadHeaderTimeout: 10 * time.Second}
	srvErr := serve(srv, ln, o.TLSCertFile, o.TLSKeyFile)
	log.Info("serving the fleet", "listen", ln.Addr().String(), "audit", auditName(o.AuditDB))
	if o.onListen != nil {
		o.onListen(ln.Addr().String())
	}
	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-srvErr:
		runErr = fmt.Errorf("http server: %w", err)
	case err := <-hubDone:
		runErr = err
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	stopRun()
	return runErr
}

// auditName is the audit log for the log line, without a DSN's password.
func auditName(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if at := strings.LastIndex(dsn, "@"); at > i {
			return dsn[:i+3] + "…" + dsn[at:]
		}
	}
	return dsn
}

// pruneAudit applies --audit-retention once an hour, on the leader.
func pruneAudit(ctx context.Context, l *audit.Log, keep time.Duration, leading func() bool, log *slog.Logger) {
	for {
		if leading() {
			if n, err := l.Prune(ctx, time.Now().Add(-keep)); err != nil {
				log.Warn("audit log not pruned", "error", err.Error())
			} else if n > 0 {
				log.Info("audit log pruned", "events", n, "older than", keep.String())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Hour):
		}
	}
}

// fleetOnce lists every cluster once, prints the fleet and exits as check
// does: 1 for drift of at least --fail-on, else 2 when a cluster could not
// be read (or its reports are stale), else 0.
func fleetOnce(ctx context.Context, o *fleetOptions) error {
	format, _ := reports.ParseFormat(o.Reports)
	failOn, _ := severityFlag("fail-on", o.FailOn)
	hub := fleet.NewHub(fleet.Options{Format: format, StaleAfter: o.StaleAfter, SyncTimeout: o.Timeout, Logger: fleetLogger(o)})
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	if err := o.members(runCtx, hub.SetMembers); err != nil {
		return err
	}
	go func() { _ = hub.Run(runCtx) }()
	deadline := time.Now().Add(o.Timeout)
	for !hub.Ready() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	v := hub.View(fleet.Filter{})
	if err := fleet.Write(o.Out, o.Output, v); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	drifted, incomplete := v.Exit(failOn)
	switch {
	case drifted:
		return exitCodeError{exitDrift}
	case incomplete:
		return exitCodeError{exitError}
	}
	return nil
}

// fleetMetrics are the hub's own metrics; the per-cluster series come
// from fleetCollector at each scrape.
type fleetMetrics struct {
	registry    *prometheus.Registry
	auditEvents *prometheus.CounterVec
	auditErrors prometheus.Counter
	auditLastOK prometheus.Gauge
}

func newFleetMetrics() *fleetMetrics {
	m := &fleetMetrics{
		registry: prometheus.NewRegistry(),
		auditEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_fleet_audit_events_total", Help: "Drift transitions written to the audit log, by type (detected, changed, resolved).",
		}, []string{"type"}),
		auditErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_fleet_audit_write_errors_total", Help: "Audit log writes that failed (the batch is tried again).",
		}),
		auditLastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "driftwatch_fleet_audit_last_write_timestamp_seconds", Help: "When the audit log was last written.",
		}),
	}
	m.registry.MustRegister(m.auditEvents, m.auditErrors, m.auditLastOK,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *fleetMetrics) audited(evs []fleet.Event, err error) {
	if err != nil {
		m.auditErrors.Inc()
		return
	}
	for _, e := range evs {
		m.auditEvents.WithLabelValues(string(e.Type)).Inc()
	}
	m.auditLastOK.SetToCurrentTime()
}

// fleetCollector exports the view, per cluster. The hub is the one place
// where a cluster label belongs: it is the hub's own view of each
// cluster, not an agent's series.
type fleetCollector struct{ hub *fleet.Hub }

var (
	fleetClustersDesc = prometheus.NewDesc("driftwatch_fleet_clusters", "Clusters by state.", []string{"state"}, nil)
	fleetStateDesc    = prometheus.NewDesc("driftwatch_fleet_cluster_state",
		"1 for the cluster's state (in-sync, drifted, stale, no-reports, unreachable, forbidden, no-crd, pending).", []string{"cluster", "state"}, nil)
	fleetDriftedDesc = prometheus.NewDesc("driftwatch_fleet_cluster_drifted_resources",
		"Drifted, missing or extra resources the cluster's reports name, by severity.", []string{"cluster", "severity"}, nil)
	fleetHeartbeatDesc = prometheus.NewDesc("driftwatch_fleet_cluster_heartbeat_timestamp_seconds",
		"The newest agent heartbeat in the cluster's reports.", []string{"cluster"}, nil)
)

func (c fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- fleetClustersDesc
	ch <- fleetStateDesc
	ch <- fleetDriftedDesc
	ch <- fleetHeartbeatDesc
}

func (c fleetCollector) Collect(ch chan<- prometheus.Metric) {
	v := c.hub.View(fleet.Filter{Statuses: []string{string(drift.Drifted), string(drift.Missing), string(drift.Extra)}})
	for _, s := range fleet.States {
		if s == fleet.SourceError {
			continue // check --fleet's alone: the hub reads reports, never sources
		}
		ch <- prometheus.MustNewConstMetric(fleetClustersDesc, prometheus.GaugeValue, float64(v.Summary.ByState[s]), string(s))
	}
	bySev := map[string]map[drift.Severity]int{}
	for _, r := range v.Resources {
		if bySev[r.Cluster] == nil {
			bySev[r.Cluster] = map[drift.Severity]int{}
		}
		bySev[r.Cluster][r.Severity]++
	}
	for _, cl := range v.Clusters {
		ch <- prometheus.MustNewConstMetric(fleetStateDesc, prometheus.GaugeValue, 1, cl.Name, string(cl.State))
		for _, s := range append([]drift.Severity{""}, drift.Severities...) {
			if n, ok := bySev[cl.Name][s]; ok || s != "" {
				ch <- prometheus.MustNewConstMetric(fleetDriftedDesc, prometheus.GaugeValue, float64(n), cl.Name, string(s))
			}
		}
		if cl.CheckedAt != nil {
			ch <- prometheus.MustNewConstMetric(fleetHeartbeatDesc, prometheus.GaugeValue, float64(cl.CheckedAt.Unix()), cl.Name)
		}
	}
}
