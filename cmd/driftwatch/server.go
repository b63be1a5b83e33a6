package main

import (
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline"
)

//go:embed dashboard
var dashboardFS embed.FS

// reportSource is what the HTTP server reads.
type reportSource interface {
	Report() *drift.Report
	Ready() bool
	History(pipeline.HistoryQuery) []pipeline.ResourceHistory
}

// historyResponse is the body of /api/v1/history.
type historyResponse struct {
	// Resources are the histories selected, sorted by kind, namespace and
	// name, each oldest event first; never null.
	Resources []pipeline.ResourceHistory `json:"resources"`
}

// newHandler serves watch's HTTP API:
//
//	/healthz          always 200 while the process runs (no auth)
//	/readyz           200 after the first full comparison, else 503 (no auth)
//	/metrics          Prometheus metrics
//	/api/v1/report    the report as JSON (schema driftwatch.dev/report/v1),
//	                  filtered by ?namespace=, ?kind=, ?status= (comma lists)
//	/api/v1/history   each resource's drift lifecycle (detected, changed,
//	                  resolved; paths, never values), filtered by
//	                  ?namespace=, ?kind=, ?name= (comma lists)
//	/                 the dashboard page and its assets
//
// With a token, every endpoint but the health checks requires it, as
// "Authorization: Bearer <token>" or, for a browser, "?token=<token>".
func newHandler(src reportSource, reg *prometheus.Registry, token string) http.Handler {
	protected := http.NewServeMux()
	protected.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	protected.HandleFunc("GET /api/v1/report", func(w http.ResponseWriter, r *http.Request) {
		rep := filterReport(src.Report(), r.URL.Query().Get("namespace"), r.URL.Query().Get("kind"), r.URL.Query().Get("status"))
		writeJSON(w, rep)
	})
	protected.HandleFunc("GET /api/v1/history", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		writeJSON(w, historyResponse{Resources: src.History(pipeline.HistoryQuery{
			Kinds: splitList(q.Get("kind")), Namespaces: splitList(q.Get("namespace")), Names: splitList(q.Get("name")),
		})})
	})
	sub, _ := fs.Sub(dashboardFS, "dashboard")
	files := http.FileServerFS(sub)
	protected.Handle("GET /", files)
	return withAssets(files, withHealth(src.Ready, "not ready: first comparison not finished", token, protected))
}

// withAssets serves the dashboard's script and style sheet without the
// token: they hold no data, and a browser fetches them without the
// ?token= that the page's own URL carries (the page then passes it on to
// the API). The page and the API stay behind the token.
func withAssets(files, next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /app.js", securityHeaders(files))
	mux.Handle("GET /style.css", securityHeaders(files))
	mux.Handle("/", next)
	return mux
}

// withHealth serves /healthz (always 200) and /readyz (200 once ready
// says so, else 503 with notReady) without auth, and every other path
// through protected behind the token, all with the security headers: the
// frame watch's and fleet's servers share.
func withHealth(ready func() bool, notReady, token string, protected http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, notReady, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/", requireToken(token, protected))
	return securityHeaders(mux)
}

// writeJSON sends v as indented JSON that no cache keeps.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// splitList splits a comma-separated query value into its trimmed,
// non-empty items; nil for an empty value.
func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// requireToken checks the bearer token in constant time.
func requireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.URL.Query().Get("token")
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
			got = strings.TrimPrefix(h, "Bearer ")
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="driftwatch"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'")
		next.ServeHTTP(w, r)
	})
}

// filterReport keeps the resources matching every non-empty filter (each a
// comma-separated list) and recomputes the summary for them.
func filterReport(r *drift.Report, namespaces, kinds, statuses string) *drift.Report {
	if namespaces == "" && kinds == "" && statuses == "" {
		return r
	}
	in := func(list, v string) bool {
		if list == "" {
			return true
		}
		for _, x := range strings.Split(list, ",") {
			if strings.EqualFold(strings.TrimSpace(x), v) {
				return true
			}
		}
		return false
	}
	var keep []drift.Resource
	for _, res := range r.Resources {
		if in(namespaces, res.Namespace) && in(kinds, res.Kind) && in(statuses, string(res.Status)) {
			keep = append(keep, res)
		}
	}
	out := drift.NewReport(r.GeneratedAt, r.Source, r.Cluster, keep)
	out.Stale, out.Disconnected = r.Stale, r.Disconnected
	return out
}

// readToken reads the bearer token of --auth-token-file; "" without one.
func readToken(file string) (string, error) {
	if file == "" {
		return "", nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("flag --auth-token-file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("flag --auth-token-file: %s is empty", file)
	}
	return token, nil
}

// serve runs srv on ln, over HTTPS when certFile is set, and returns the
// channel that receives its error if it stops by itself (not by
// Shutdown).
func serve(srv *http.Server, ln net.Listener, certFile, keyFile string) <-chan error {
	errc := make(chan error, 1)
	go func() {
		var err error
		if certFile != "" {
			err = srv.ServeTLS(ln, certFile, keyFile)
		} else {
			err = srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	return errc
}
