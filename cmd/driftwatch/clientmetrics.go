package main

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// The client's own metrics: every request driftwatch sends to the API
// server, by verb and resource, its result code, and the time spent waiting
// for the client-side rate limiter. They are recorded by instrumenting the
// rest.Config (transport and rate limiter) rather than through client-go's
// process-wide metrics hook, which accepts one registration per process and
// may already be taken by a library. The collectors are process-wide; every
// registry (one per watch) registers the same ones.
var (
	clientRequestLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "driftwatch_client_request_duration_seconds", Help: "Latency of requests to the API server, by verb and resource.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	}, []string{"verb", "resource"})
	clientRequestResults = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "driftwatch_client_requests_total", Help: "Requests to the API server, by verb, resource and status code.",
	}, []string{"verb", "resource", "code"})
	clientRateLimiterLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "driftwatch_client_rate_limiter_duration_seconds", Help: "Time requests waited for the client-side rate limiter.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
	})
)

func clientCollectors() []prometheus.Collector {
	return []prometheus.Collector{clientRequestLatency, clientRequestResults, clientRateLimiterLatency}
}

// instrument makes every client built from cfg record the client metrics.
func instrument(cfg *rest.Config) {
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return instrumentedTransport{rt} })
	cfg.RateLimiter = timedLimiter{flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst)}
}

type instrumentedTransport struct{ next http.RoundTripper }

func (t instrumentedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	verb, res := requestVerb(r), apiResource(r.URL.Path)
	code := "<error>"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	// A watch's latency is its whole life: record when its headers came.
	clientRequestLatency.WithLabelValues(verb, res).Observe(time.Since(start).Seconds())
	clientRequestResults.WithLabelValues(verb, res, code).Inc()
	return resp, err
}

// requestVerb is the Kubernetes verb of a request: LIST and WATCH are GETs
// on a collection.
func requestVerb(r *http.Request) string {
	switch {
	case r.Method == http.MethodGet && r.URL.Query().Get("watch") == "true":
		return "WATCH"
	case r.Method == http.MethodGet && isCollection(r.URL.Path):
		return "LIST"
	}
	return r.Method
}

func isCollection(path string) bool {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return false
	}
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) != 2 {
		parts = parts[2:]
	}
	return len(parts) == 1
}

// apiResource names the resource of an API path, keeping label cardinality
// bounded: /api/v1/namespaces/x/configmaps/y → configmaps,
// /apis/apps/v1/deployments → deployments.apps; discovery and OpenAPI paths
// by their first segment.
func apiResource(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var group string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		group = parts[1]
		parts = parts[3:]
	default:
		if len(parts) > 0 && parts[0] != "" {
			return parts[0]
		}
		return "root"
	}
	if len(parts) >= 2 && parts[0] == "namespaces" {
		if len(parts) == 2 {
			return "namespaces"
		}
		parts = parts[2:]
	}
	if len(parts) == 0 {
		return "discovery"
	}
	if group != "" {
		return parts[0] + "." + group
	}
	return parts[0]
}

// timedLimiter records how long callers wait for a token.
type timedLimiter struct{ flowcontrol.RateLimiter }

func (l timedLimiter) Accept() {
	start := time.Now()
	l.RateLimiter.Accept()
	clientRateLimiterLatency.Observe(time.Since(start).Seconds())
}

func (l timedLimiter) Wait(ctx context.Context) error {
	start := time.Now()
	err := l.RateLimiter.Wait(ctx)
	clientRateLimiterLatency.Observe(time.Since(start).Seconds())
	return err
}
