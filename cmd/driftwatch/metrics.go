package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/client-go/util/workqueue"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline/reports"
	"github.com/driftwatch/driftwatch/informer"
)

// metrics are watch's Prometheus metrics. Per-resource series are computed
// from the report at scrape time, so a resource gone from Git leaves no
// stale series behind.
type metrics struct {
	registry     *prometheus.Registry
	events       *prometheus.CounterVec
	renderErrors prometheus.Counter
	gitErrors    prometheus.Counter
	notifyErrors prometheus.Counter
	notifyDrops  prometheus.Counter
	notified     *prometheus.CounterVec

	// Report objects published (--reports); registered only then.
	reportWrites, reportErrors, reportBytes prometheus.Counter
	reportLastOK                            prometheus.Gauge
}

// publishingReports registers the metrics of --reports.
func (m *metrics) publishingReports() {
	m.reportWrites = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "driftwatch_reports_writes_total", Help: "Report objects written to the cluster (server-side apply) or deleted.",
	})
	m.reportErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "driftwatch_reports_write_errors_total", Help: "Publishes of the report objects that failed.",
	})
	m.reportBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "driftwatch_reports_written_bytes_total", Help: "Bytes of report objects written, as JSON.",
	})
	m.reportLastOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "driftwatch_reports_last_success_timestamp_seconds", Help: "Unix time the report objects were last published without error.",
	})
	m.registry.MustRegister(m.reportWrites, m.reportErrors, m.reportBytes, m.reportLastOK)
}

// reportsPublished counts one Publish.
func (m *metrics) reportsPublished(st reports.Stats, err error) {
	m.reportWrites.Add(float64(st.Written + st.Deleted))
	m.reportBytes.Add(float64(st.Bytes))
	if err != nil {
		m.reportErrors.Inc()
		return
	}
	m.reportLastOK.SetToCurrentTime()
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_informer_events_total", Help: "Informer events by resource and type (Added, Updated, Deleted).",
		}, []string{"group", "version", "resource", "type"}),
		renderErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_render_errors_total", Help: "Git polls whose manifests failed to render.",
		}),
		gitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_git_errors_total", Help: "Git polls that failed to fetch.",
		}),
		notifyErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_webhook_failures_total", Help: "Webhook deliveries that failed after every retry.",
		}),
		notifyDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftwatch_webhook_dropped_total", Help: "Notifications dropped because the webhook queue was full.",
		}),
		notified: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftwatch_webhook_deliveries_total", Help: "Webhook notifications delivered, by event type.",
		}, []string{"type"}),
	}
	m.registry.MustRegister(m.events, m.renderErrors, m.gitErrors, m.notifyErrors, m.notifyDrops, m.notified,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.registry.MustRegister(clientCollectors()...)
	return m
}

func (m *metrics) event(s informer.Scope, t informer.EventType) {
	m.events.WithLabelValues(s.GVR.Group, s.GVR.Version, s.GVR.Resource, string(t)).Inc()
}

// reportCollector exports the report and the monitor's state.
type reportCollector struct {
	report    func() *drift.Report
	gitStatus func() time.Time
	informers func() int
	caches    func() map[informer.Scope]int
	health    func() map[informer.Scope]informer.Health
	now       func() time.Time
}

var (
	descStatus = prometheus.NewDesc("driftwatch_resource_status",
		"1 for the resource's current status (InSync, Drifted, Missing, Extra, Error).",
		[]string{"group", "kind", "namespace", "name", "status"}, nil)
	descFields = prometheus.NewDesc("driftwatch_resource_drifted_fields",
		"Number of drifted fields of the resource, by severity (critical, warning, info; empty for a resource without any).",
		[]string{"group", "kind", "namespace", "name", "severity"}, nil)
	descAge = prometheus.NewDesc("driftwatch_resource_drift_age_seconds",
		"Seconds since the resource's current drift was first seen.", []string{"group", "kind", "namespace", "name"}, nil)
	descCount = prometheus.NewDesc("driftwatch_resources",
		"Desired resources by status.", []string{"status"}, nil)
	descInformers = prometheus.NewDesc("driftwatch_informers_running",
		"Informers running (one per resource and namespace, plus CRDs).", nil, nil)
	descGitSuccess = prometheus.NewDesc("driftwatch_git_last_success_timestamp_seconds",
		"Unix time of the last successful Git poll.", nil, nil)
	descCommit = prometheus.NewDesc("driftwatch_git_commit_info",
		"1 for the commit the report compares against.", []string{"commit"}, nil)
	descCached = prometheus.NewDesc("driftwatch_informer_cached_objects",
		"Objects held in each informer's cache.", []string{"group", "version", "resource", "namespace"}, nil)
	descStale = prometheus.NewDesc("driftwatch_report_stale",
		"1 while Git cannot be read and the report shows the last good desired state.", nil, nil)
	scopeLabels = []string{"group", "version", "resource", "namespace"}
	descLists   = prometheus.NewDesc("driftwatch_informer_lists_total",
		"Full lists by each informer: the first sync and every relist (after a watch expired with 410 Gone).", scopeLabels, nil)
	descWatches = prometheus.NewDesc("driftwatch_informer_watches_total",
		"Watches each informer resumed from a known resource version.", scopeLabels, nil)
	descConnected = prometheus.NewDesc("driftwatch_informer_connected",
		"1 while the informer's last list or watch request succeeded, 0 while the API server cannot be reached or refuses it.", scopeLabels, nil)
)

func (c reportCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStatus, descFields, descAge, descCount, descInformers, descGitSuccess, descCommit, descStale, descCached, descLists, descWatches, descConnected} {
		ch <- d
	}
}

func (c reportCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.report()
	now := c.now()
	counts := map[drift.Status]int{drift.InSync: 0, drift.Drifted: 0, drift.Missing: 0, drift.Extra: 0, drift.Error: 0}
	for _, res := range r.Resources {
		group := groupOf(res.APIVersion)
		counts[res.Status]++
		ch <- prometheus.MustNewConstMetric(descStatus, prometheus.GaugeValue, 1, group, res.Kind, res.Namespace, res.Name, string(res.Status))
		for sev, n := range fieldsBySeverity(res.Diffs) {
			ch <- prometheus.MustNewConstMetric(descFields, prometheus.GaugeValue, float64(n), group, res.Kind, res.Namespace, res.Name, string(sev))
		}
		if res.FirstSeen != nil && res.Status != drift.InSync && res.Status != drift.Error {
			ch <- prometheus.MustNewConstMetric(descAge, prometheus.GaugeValue, now.Sub(*res.FirstSeen).Seconds(), group, res.Kind, res.Namespace, res.Name)
		}
	}
	for s, n := range counts {
		ch <- prometheus.MustNewConstMetric(descCount, prometheus.GaugeValue, float64(n), string(s))
	}
	ch <- prometheus.MustNewConstMetric(descInformers, prometheus.GaugeValue, float64(c.informers()))
	for s, n := range c.caches() {
		ch <- prometheus.MustNewConstMetric(descCached, prometheus.GaugeValue, float64(n), s.GVR.Group, s.GVR.Version, s.GVR.Resource, s.Namespace)
	}
	for s, h := range c.health() {
		labels := []string{s.GVR.Group, s.GVR.Version, s.GVR.Resource, s.Namespace}
		ch <- prometheus.MustNewConstMetric(descLists, prometheus.CounterValue, float64(h.Lists), labels...)
		ch <- prometheus.MustNewConstMetric(descWatches, prometheus.CounterValue, float64(h.Watches), labels...)
		connected := 1.0
		if h.Err != nil {
			connected = 0
		}
		ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, connected, labels...)
	}
	if t := c.gitStatus(); !t.IsZero() {
		ch <- prometheus.MustNewConstMetric(descGitSuccess, prometheus.GaugeValue, float64(t.Unix()))
	}
	if r.Source.Commit != "" {
		ch <- prometheus.MustNewConstMetric(descCommit, prometheus.GaugeValue, 1, r.Source.Commit)
	}
	stale := 0.0
	if r.Stale != nil {
		stale = 1
	}
	ch <- prometheus.MustNewConstMetric(descStale, prometheus.GaugeValue, stale)
}

// fieldsBySeverity counts diffs by severity; a resource without any has
// one series, 0 with no severity, as before severities existed.
func fieldsBySeverity(diffs []drift.FieldDiff) map[drift.Severity]int {
	if len(diffs) == 0 {
		return map[drift.Severity]int{"": 0}
	}
	out := map[drift.Severity]int{}
	for _, d := range diffs {
		out[d.Severity]++
	}
	return out
}

func groupOf(apiVersion string) string {
	for i := range apiVersion {
		if apiVersion[i] == '/' {
			return apiVersion[:i]
		}
	}
	return ""
}

// queueMetrics is a workqueue.MetricsProvider backed by Prometheus.
type queueMetrics struct {
	reg prometheus.Registerer
}

var _ workqueue.MetricsProvider = (*queueMetrics)(nil)

func (q *queueMetrics) register(c prometheus.Collector) {
	_ = q.reg.Register(c)
}

func (q *queueMetrics) NewDepthMetric(string) workqueue.GaugeMetric {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "driftwatch_workqueue_depth", Help: "Objects waiting to be compared."})
	q.register(g)
	return g
}

func (q *queueMetrics) NewAddsMetric(string) workqueue.CounterMetric {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "driftwatch_workqueue_adds_total", Help: "Objects queued for comparison."})
	q.register(c)
	return c
}

func (q *queueMetrics) NewLatencyMetric(string) workqueue.HistogramMetric {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "driftwatch_workqueue_queue_duration_seconds",
		Help: "Time an object waits in the queue.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)})
	q.register(h)
	return h
}

func (q *queueMetrics) NewWorkDurationMetric(string) workqueue.HistogramMetric {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "driftwatch_workqueue_work_duration_seconds",
		Help: "Time one comparison takes.", Buckets: prometheus.ExponentialBuckets(0.00001, 4, 10)})
	q.register(h)
	return h
}

func (q *queueMetrics) NewUnfinishedWorkSecondsMetric(string) workqueue.SettableGaugeMetric {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "driftwatch_workqueue_unfinished_work_seconds", Help: "Seconds of comparison work in progress."})
	q.register(g)
	return g
}

func (q *queueMetrics) NewLongestRunningProcessorSecondsMetric(string) workqueue.SettableGaugeMetric {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "driftwatch_workqueue_longest_running_processor_seconds", Help: "Seconds the longest comparison has run."})
	q.register(g)
	return g
}

func (q *queueMetrics) NewRetriesMetric(string) workqueue.CounterMetric {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "driftwatch_workqueue_retries_total", Help: "Comparisons retried."})
	q.register(c)
	return c
}
