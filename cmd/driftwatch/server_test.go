package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline"
)

// historySource serves an empty report and a real pipeline.History.
type historySource struct{ h *pipeline.History }

func (historySource) Report() *drift.Report {
	return drift.NewReport(time.Unix(0, 0), drift.Source{}, drift.Cluster{}, nil)
}
func (historySource) Ready() bool { return true }
func (s historySource) History(q pipeline.HistoryQuery) []pipeline.ResourceHistory {
	return s.h.Get(q)
}

// serverGet requests path from srv with the token (if any) and returns the
// status and body.
func serverGet(t *testing.T, srv *httptest.Server, path, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHistoryEndpoint(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	h := &pipeline.History{}
	res := func(apiVersion, kind, ns, name string, st drift.Status, paths ...string) drift.Resource {
		r := drift.Resource{APIVersion: apiVersion, Kind: kind, Namespace: ns, Name: name, Status: st}
		for _, p := range paths {
			r.Diffs = append(r.Diffs, drift.FieldDiff{Path: p, Type: drift.Changed, Desired: "desired-value", Live: "live-value"})
		}
		return r
	}
	h.Record(pipeline.Change{Type: pipeline.DriftDetected, Resource: res("apps/v1", "Deployment", "team-a", "web", drift.Drifted, "spec.replicas"), Time: at})
	h.Record(pipeline.Change{Type: pipeline.DriftResolved, Resource: res("apps/v1", "Deployment", "team-a", "web", drift.InSync), Time: at.Add(time.Minute)})
	h.Record(pipeline.Change{Type: pipeline.DriftDetected, Resource: res("v1", "ConfigMap", "team-a", "cfg", drift.Missing), Time: at})
	h.Record(pipeline.Change{Type: pipeline.DriftDetected, Resource: res("apps/v1", "Deployment", "team-b", "web", drift.Missing), Time: at})
	srv := httptest.NewServer(newHandler(historySource{h}, prometheus.NewRegistry(), "t0ken"))
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		query string
		want  []string // Kind namespace/name of each history, in order
	}{
		{"", []string{"ConfigMap team-a/cfg", "Deployment team-a/web", "Deployment team-b/web"}},
		{"?kind=deployment", []string{"Deployment team-a/web", "Deployment team-b/web"}},
		{"?kind=Deployment&namespace=team-b", []string{"Deployment team-b/web"}},
		{"?namespace=team-a,team-c&name=cfg,+web", []string{"ConfigMap team-a/cfg", "Deployment team-a/web"}},
		{"?name=nothing", []string{}},
	} {
		code, body := serverGet(t, srv, "/api/v1/history"+tc.query, "t0ken")
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.query, code, body)
		}
		var got historyResponse
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%s: %v: %s", tc.query, err, body)
		}
		ids := []string{}
		for _, r := range got.Resources {
			ids = append(ids, r.Kind+" "+r.Namespace+"/"+r.Name)
		}
		if diff := cmp.Diff(tc.want, ids); diff != "" {
			t.Errorf("%s: histories (-want +got):\n%s", tc.query, diff)
		}
		if strings.Contains(body, "desired-value") || strings.Contains(body, "live-value") {
			t.Errorf("%s: values in the history: %s", tc.query, body)
		}
	}

	// The whole body of one resource: the JSON contract the dashboard reads.
	_, body := serverGet(t, srv, "/api/v1/history?namespace=team-a&name=web", "t0ken")
	want := `{
  "resources": [
    {
      "apiVersion": "apps/v1",
      "kind": "Deployment",
      "namespace": "team-a",
      "name": "web",
      "events": [
        {
          "type": "detected",
          "time": "2026-03-01T12:00:00Z",
          "status": "Drifted",
          "fields": 1,
          "paths": [
            "spec.replicas"
          ]
        },
        {
          "type": "resolved",
          "time": "2026-03-01T12:01:00Z",
          "status": "InSync"
        }
      ]
    }
  ]
}
`
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if code, body := serverGet(t, srv, "/api/v1/history?name=nothing", "t0ken"); code != http.StatusOK || !strings.Contains(body, `"resources": []`) {
		t.Errorf("no history: %d %s, want an empty list", code, body)
	}

	for _, tok := range []string{"", "wrong"} {
		if code, _ := serverGet(t, srv, "/api/v1/history", tok); code != http.StatusUnauthorized {
			t.Errorf("history with token %q: %d, want 401", tok, code)
		}
	}
}

// readyAfter is a Monitor that becomes ready on its nth question.
type readyAfter struct{ n, asked atomic.Int32 }

func (r *readyAfter) Ready() bool { return r.asked.Add(1) >= r.n.Load() }

func TestReturnSyncGarbage(t *testing.T) {
	tests := []struct {
		name      string
		readyAt   int32
		cancel    bool
		wantAsked int32
	}{
		{name: "ready at once", readyAt: 1, wantAsked: 1},
		{name: "ready on the third poll", readyAt: 3, wantAsked: 3},
		{name: "stopped before ready", readyAt: 1 << 30, cancel: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			mon := &readyAfter{}
			mon.n.Store(tt.readyAt)
			done := make(chan struct{})
			go func() {
				defer close(done)
				returnSyncGarbage(ctx, mon)
			}()
			if tt.cancel {
				cancel()
			}
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("returnSyncGarbage did not return")
			}
			if !tt.cancel {
				if diff := cmp.Diff(tt.wantAsked, mon.asked.Load()); diff != "" {
					t.Errorf("Ready asked (-want +got):\n%s", diff)
				}
			}
		})
	}
}
