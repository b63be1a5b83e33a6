package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline"
	"github.com/driftwatch/driftwatch/drift/pipeline/reports"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/informer"
)

// watchOptions holds the flags of `driftwatch watch` and its injected I/O.
type watchOptions struct {
	streams
	Source  sourceFlags
	Cluster clusterOptions
	Compare compareFlags
	Target  targetFlags

	Interval    time.Duration
	Listen      string
	TokenFile   string
	TLSCertFile string
	TLSKeyFile  string
	Webhooks    []string
	NotifyOn    string
	// Reports publishes the report in the cluster ("openreports",
	// "policyreport" or empty), each object written at most once per
	// ReportsInterval.
	Reports         string
	ReportsInterval time.Duration
	LeaderElect     bool
	LeaderNamespace string
	LogFormat       string
	LogLevel        string
	Workers         int
	ShutdownTimeout time.Duration

	// onListen, when set (tests), receives the address the server listens on.
	onListen func(addr string)
	// retryBase overrides the first Git retry wait (tests).
	retryBase time.Duration
}

// Test hooks: where the server listens, and a faster Git retry.
var (
	listenHook    func(addr string)
	testRetryBase time.Duration
)

func newCmdWatch(s streams) *cobra.Command {
	o := &watchOptions{streams: s, onListen: listenHook, retryBase: testRetryBase}
	cmd := &cobra.Command{
		Use:   "watch (--repo URL [--ref REF] | --dir DIR) [--path PATH]",
		Short: "Watch the cluster continuously and serve the drift report over HTTP",
		Long: `watch keeps a drift report current: it polls Git, watches exactly the kinds and namespaces
Git declares and compares an object again as soon as it changes; it serves the report, metrics and
a dashboard over HTTP and posts drift to webhooks. It exits 0 on SIGTERM; faults are retried.`,
		Example: `  driftwatch watch --repo https://github.com/acme/deploy.git --path overlays/prod --listen :8080
  driftwatch watch --dir /config --interval 30s --webhook https://hooks.example.com/drift
  driftwatch watch --dir /config --auth-token-file /etc/driftwatch/token --leader-elect`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return watchRun(cmd.Context(), o) },
	}
	f := cmd.Flags()
	o.Source.register(f)
	o.Cluster.register(f)
	o.Compare.register(f)
	o.Target.register(f)
	f.DurationVar(&o.Interval, "interval", time.Minute, "how often Git is polled (failures back off)")
	f.StringVar(&o.Listen, "listen", "127.0.0.1:8080", "address of the HTTP API, metrics and dashboard")
	f.StringVar(&o.TokenFile, "auth-token-file", "", "file holding the bearer token every endpoint but /healthz, /readyz needs")
	f.StringVar(&o.TLSCertFile, "tls-cert-file", "", "serve HTTPS with this certificate (needs --tls-key-file)")
	f.StringVar(&o.TLSKeyFile, "tls-key-file", "", "private key for --tls-cert-file")
	f.StringArrayVar(&o.Webhooks, "webhook", nil, "URL to POST drift changes to as CloudEvents (repeatable)")
	f.StringVar(&o.NotifyOn, "notify-on", "info", "least severity posted to webhooks: critical, warning or info (any drift)")
	f.StringVar(&o.Reports, "reports", "", "publish the report in the cluster: openreports or policyreport")
	f.DurationVar(&o.ReportsInterval, "reports-interval", 30*time.Second, "least time between two writes of one report object")
	f.BoolVar(&o.LeaderElect, "leader-elect", false, "use a Lease so that only one replica sends notifications")
	f.StringVar(&o.LeaderNamespace, "leader-elect-namespace", "", "namespace of the Lease (default $POD_NAMESPACE, else default)")
	f.StringVar(&o.LogFormat, "log-format", "text", "log format on stderr: text or json (log/slog)")
	f.StringVar(&o.LogLevel, "log-level", "info", "least log level shown: debug (each comparison, client-go's retries), info, warn, error")
	f.IntVar(&o.Workers, "workers", 2, "objects compared in parallel")
	f.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "time allowed on SIGTERM to stop and flush webhooks")
	return cmd
}

func (o *watchOptions) validate() error {
	if o.Interval <= 0 {
		return errors.New("flag --interval: must be positive")
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		return errors.New("flag: --tls-cert-file and --tls-key-file go together")
	}
	if o.LogFormat != "text" && o.LogFormat != "json" {
		return fmt.Errorf("flag --log-format: unknown value %q (want text or json)", o.LogFormat)
	}
	if _, err := parseLogLevel(o.LogLevel); err != nil {
		return err
	}
	for _, u := range o.Webhooks {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return fmt.Errorf("flag --webhook: %q is not an http(s) URL", u)
		}
	}
	if o.Workers < 1 {
		return errors.New("flag --workers: must be at least 1")
	}
	if _, err := severityFlag("notify-on", o.NotifyOn); err != nil {
		return err
	}
	if o.Reports != "" {
		if _, err := reports.ParseFormat(o.Reports); err != nil {
			return fmt.Errorf("flag --reports: %w", err)
		}
	}
	if o.ReportsInterval <= 0 {
		return errors.New("flag --reports-interval: must be positive")
	}
	return nil
}

func watchRun(ctx context.Context, o *watchOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	level, _ := parseLogLevel(o.LogLevel)
	hopts := &slog.HandlerOptions{Level: level}
	var log *slog.Logger
	if o.LogFormat == "json" {
		log = slog.New(slog.NewJSONHandler(o.Err, hopts))
	} else {
		log = slog.New(slog.NewTextHandler(o.Err, hopts))
	}
	if level <= slog.LevelDebug {
		defer debugKlog(log.With("component", "client-go"))()
	}
	st, err := prepare(o.Source, o.Compare, o.Target)
	if err != nil {
		return err
	}
	srcOpts := st.source
	if srcOpts.Auth.InsecureIgnoreHostKey {
		log.Warn("SSH host key verification is off (--insecure-skip-host-key-check)")
	}
	token, err := readToken(o.TokenFile)
	if err != nil {
		return err
	}
	cl, err := connect(ctx, o.Cluster)
	if err != nil {
		return err
	}
	if srcOpts.Render.Capabilities == nil {
		srcOpts.Render.Capabilities = cl.Capabilities
	}
	// The Monitor holds every desired object as JSON: packed as rendered,
	// the objects are never all held as maps at once.
	srcOpts.Render.Pack = true
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("flag --listen: %w", err)
	}
	p, err := pipeline.New(st.pipeline, cl, nil)
	if err != nil {
		ln.Close()
		return err
	}
	mgr := p.Manager
	met := newMetrics()
	_, _ = mgr.AddEventHandler(informer.EventHandler{
		OnEvent: func(s informer.Scope, _ string, t informer.EventType) { met.event(s, t) },
		OnConnection: func(s informer.Scope, err error) {
			if err != nil {
				log.Warn("cannot watch the API server; keeping the last live state", "scope", s.String(), "error", err.Error())
				return
			}
			log.Info("watching the API server again", "scope", s.String())
		},
	})
	var leader atomic.Bool
	leader.Store(!o.LeaderElect)
	notifyOn, _ := severityFlag("notify-on", o.NotifyOn)
	notify := newNotifier(o.Webhooks, "driftwatch/"+cl.Info.Server, notifyOn, st.pipeline.Config, met, log, leader.Load)
	var publisher *reports.Publisher
	if o.Reports != "" {
		// Without the CRDs, say so once and watch without reports: a
		// crash loop would help nobody.
		if publisher, err = newPublisher(ctx, cl, o.Reports, o.ReportsInterval); err != nil {
			log.Error("not publishing reports", "error", err.Error())
			publisher = nil
		}
	}
	var previous func(context.Context, drift.Source) map[string]pipeline.Previous
	if publisher != nil {
		previous = func(ctx context.Context, src drift.Source) map[string]pipeline.Previous {
			publisher.SetPolicy(reports.Policy(src))
			prev, err := publisher.Previous(ctx)
			if err != nil {
				log.Warn("cannot read back the published reports; drift seen now is new", "error", err.Error())
			}
			return prev
		}
	}
	mon := p.Monitor(pipeline.MonitorOptions{
		Previous: previous,
		Load: func(ctx context.Context) (*gitsource.Desired, error) {
			d, err := gitsource.Load(ctx, srcOpts)
			var re *gitsource.RenderError
			switch {
			case errors.As(err, &re):
				met.renderErrors.Inc()
			case err != nil:
				met.gitErrors.Inc()
			}
			return d, err
		},
		Interval: o.Interval, RetryBase: o.retryBase,
		Notify: notify.Send, Logger: log,
		QueueMetrics: &queueMetrics{reg: met.registry},
	})
	met.registry.MustRegister(reportCollector{
		report:    mon.Report,
		gitStatus: func() time.Time { t, _ := mon.GitStatus(); return t },
		informers: func() int { return len(mgr.Scopes()) },
		caches:    mgr.CacheSizes,
		health:    mgr.Health,
		now:       time.Now,
	})

	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	monDone := make(chan struct{})
	go func() {
		defer close(monDone)
		_ = mon.Run(runCtx, o.Workers)
	}()
	go returnSyncGarbage(runCtx, mon)
	var onLeading func(context.Context)
	if publisher != nil {
		met.publishingReports()
		go publishReports(runCtx, publisher, mon, o.ReportsInterval, leader.Load, met, log)
		onLeading = func(ctx context.Context) {
			// A replica taking over keeps the firstSeen its predecessor
			// published, when the drift is the same.
			if prev, err := publisher.Previous(ctx); err == nil {
				mon.Restore(prev)
			}
		}
	}
	if o.LeaderElect {
		if err := startLeaderElection(runCtx, o.LeaderNamespace, "driftwatch", cl, &leader, log, onLeading); err != nil {
			stopRun()
			<-monDone
			mgr.Stop()
			return err
		}
	}

	srv := &http.Server{Handler: newHandler(mon, met.registry, token), ReadHeaderTimeout: 10 * time.Second}
	srvErr := serve(srv, ln, o.TLSCertFile, o.TLSKeyFile)
	log.Info("watching", "source", srcOpts.URL+srcOpts.Dir, "path", srcOpts.Path, "cluster", cl.Info.Server, "listen", ln.Addr().String())
	if o.onListen != nil {
		o.onListen(ln.Addr().String())
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-srvErr:
		runErr = fmt.Errorf("http server: %w", err)
	}
	deadline := time.Now().Add(o.ShutdownTimeout)
	shutCtx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	stopRun()
	<-monDone
	mgr.Stop()
	notify.Close(time.Until(deadline))
	return runErr
}

// startLeaderElection campaigns for a Lease; while this replica leads,
// leader is true and it sends notifications. Every replica watches and
// serves the report.
func startLeaderElection(ctx context.Context, ns, name string, cl *pipeline.Cluster, leader *atomic.Bool, log *slog.Logger, onLeading func(context.Context)) error {
	cs, err := kubernetes.NewForConfig(cl.Config)
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	if ns == "" {
		ns = os.Getenv("POD_NAMESPACE")
	}
	if ns == "" {
		ns = "default"
	}
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	id := host + "-" + hex.EncodeToString(b)
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, ns, name, nil, cs.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: id})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, ReleaseOnCancel: true,
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				if onLeading != nil {
					onLeading(ctx)
				}
				leader.Store(true)
				log.Info("leading: this replica sends notifications", "identity", id)
			},
			OnStoppedLeading: func() {
				leader.Store(false)
				log.Info("no longer leading", "identity", id)
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	go func() {
		// Run returns when leadership is lost; campaign again until the end.
		for ctx.Err() == nil {
			le.Run(ctx)
		}
	}()
	return nil
}

// returnSyncGarbage gives the memory of the first sync back to the system
// once the first report is ready. Listing and comparing every watched
// object the first time leaves garbage several times what the watch then
// holds (decoded pages, the objects before they were packed, comparison
// scratch); the runtime would return it only gradually, and meanwhile the
// daemon's RSS would be that of the sync, not of what it keeps.
func returnSyncGarbage(ctx context.Context, mon interface{ Ready() bool }) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for !mon.Ready() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	debug.FreeOSMemory()
}

// publishReports writes the report to the cluster once the first full
// comparison is done, then every interval, while this replica leads; the
// Publisher writes only the objects whose content changed.
func publishReports(ctx context.Context, p *reports.Publisher, mon *pipeline.Monitor, interval time.Duration, leading func() bool, met *metrics, log *slog.Logger) {
	t := time.NewTicker(min(interval, time.Second))
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !mon.Ready() || !leading() || time.Since(last) < interval && !last.IsZero() {
			continue
		}
		last = time.Now()
		r := mon.Report()
		p.SetPolicy(reports.Policy(r.Source))
		st, err := p.Publish(ctx, reports.Build(*r, reports.Limits{}, last))
		met.reportsPublished(st, err)
		if err != nil {
			log.Warn("reports not written", "error", err.Error())
		}
	}
}
