package main

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/driftwatch/driftwatch/drift/fleet"
	"github.com/driftwatch/driftwatch/drift/fleet/audit"
)

//go:embed fleetdashboard
var fleetDashboardFS embed.FS

// fleetSource is what the hub's HTTP server reads (*fleet.Hub implements
// it).
type fleetSource interface {
	// View is the view narrowed by f (resources in sync only when f
	// asks for them), summary counted over what f keeps.
	View(f fleet.Filter) fleet.View
	// Ready reports whether every cluster was listed once (or failed).
	Ready() bool
}

// fleetHistory is the audit log as the hub's HTTP server reads it
// (*audit.Log implements it).
type fleetHistory interface {
	Query(ctx context.Context, q audit.Query) ([]fleet.Event, error)
}

var _ fleetHistory = (*audit.Log)(nil)

// fleetHistoryResponse is the body of the hub's /api/v1/history in JSON.
type fleetHistoryResponse struct {
	// Events are the audit log's events selected, in its order; never
	// null.
	Events []fleet.Event `json:"events"`
}

// newFleetHandler serves driftwatch fleet's HTTP API:
//
//	/healthz          always 200 while the process runs (no auth)
//	/readyz           200 once every cluster was listed (or failed), else 503 (no auth)
//	/metrics          Prometheus metrics of reg
//	/api/v1/fleet     the fleet.View as JSON, through fleet.Filter from
//	                  ?cluster=, ?namespace=, ?kind=, ?severity=, ?status=
//	                  (comma lists; severity "none" is a drift without one)
//	/api/v1/history   the audit log's events, filtered by ?cluster=,
//	                  ?namespace=, ?kind=, ?name=, ?type= (comma lists),
//	                  ?since=, ?until=, ?after= (a seq), ?limit= (as
//	                  audit.ParseQuery reads them); as
//	                  {"events": [...]} (?format=json, the default), or
//	                  downloads as JSON lines (jsonl) or CSV (csv). A bad
//	                  parameter is a 400 naming it; without an audit log
//	                  (hist nil), a 404 naming --audit-db.
//	/                 the fleet dashboard page and its assets
//
// With a token, every endpoint but the health checks and the dashboard's
// script and style sheet requires it, as "Authorization: Bearer <token>"
// or, for a browser, "?token=<token>" (the page passes it on to the API).
func newFleetHandler(src fleetSource, hist fleetHistory, reg *prometheus.Registry, token string) http.Handler {
	protected := http.NewServeMux()
	protected.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	protected.HandleFunc("GET /api/v1/fleet", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, src.View(fleetFilter(r.URL.Query())))
	})
	protected.HandleFunc("GET /api/v1/history", func(w http.ResponseWriter, r *http.Request) {
		serveFleetHistory(w, r, hist)
	})
	sub, _ := fs.Sub(fleetDashboardFS, "fleetdashboard")
	files := http.FileServerFS(sub)
	protected.Handle("GET /", files)
	return withAssets(files, withHealth(src.Ready, "not ready: not every cluster listed yet", token, protected))
}

// fleetFilter reads the view's filter from the query. A severity "none"
// selects drift without a severity, as the dashboards name it.
func fleetFilter(q url.Values) fleet.Filter {
	sev := splitList(q.Get("severity"))
	for i, s := range sev {
		if strings.EqualFold(s, "none") {
			sev[i] = " " // matches the empty severity once trimmed
		}
	}
	return fleet.Filter{
		Clusters: splitList(q.Get("cluster")), Namespaces: splitList(q.Get("namespace")),
		Kinds: splitList(q.Get("kind")), Severities: sev, Statuses: splitList(q.Get("status")),
	}
}

// historyFormats are /api/v1/history's formats: content type, and the
// file name of a download (empty: shown, not downloaded).
var historyFormats = map[string]struct{ contentType, file string }{
	"json":  {"application/json", ""},
	"jsonl": {"application/jsonl; charset=utf-8", "driftwatch-history.jsonl"},
	"csv":   {"text/csv; charset=utf-8", "driftwatch-history.csv"},
}

// historyParams are /api/v1/history's parameters: audit.ParseQuery's,
// the format and the token. Any other is a mistake (a misspelt filter
// would select everything), answered with a 400.
var historyParams = map[string]bool{
	"cluster": true, "namespace": true, "kind": true, "name": true, "type": true,
	"since": true, "until": true, "after": true, "limit": true, "format": true, "token": true,
}

func serveFleetHistory(w http.ResponseWriter, r *http.Request, hist fleetHistory) {
	if hist == nil {
		http.Error(w, "history: no audit log (start driftwatch fleet with --audit-db to keep one)", http.StatusNotFound)
		return
	}
	params := r.URL.Query()
	format := params.Get("format")
	if format == "" {
		format = "json"
	}
	f, ok := historyFormats[format]
	if !ok {
		http.Error(w, fmt.Sprintf("history: bad format %q: want json, jsonl or csv", format), http.StatusBadRequest)
		return
	}
	for name := range params {
		if !historyParams[name] {
			http.Error(w, fmt.Sprintf("history: unknown parameter %q", name), http.StatusBadRequest)
			return
		}
	}
	q, err := audit.ParseQuery(params)
	if err != nil {
		http.Error(w, "history: "+err.Error(), http.StatusBadRequest)
		return
	}
	events, err := hist.Query(r.Context(), q)
	if err != nil {
		http.Error(w, "history: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if events == nil {
		events = []fleet.Event{}
	}
	if f.file == "" {
		writeJSON(w, fleetHistoryResponse{Events: events})
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `attachment; filename="`+f.file+`"`)
	if format == "csv" {
		_ = audit.WriteCSV(w, events)
	} else {
		_ = audit.WriteJSONLines(w, events)
	}
}
