package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline"
)

// A notification dropped because the queue is full is counted and
// logged: the first drop at once, the next ones counted into the line of
// the minute after, so a storm of drift gives one line, not thousands.
func TestNotifierLogsDrops(t *testing.T) {
	var logs bytes.Buffer
	m := newMetrics()
	// No delivery goroutine: the queue of one stays full after one event.
	n := &notifier{urls: []string{"http://127.0.0.1:1/"}, threshold: drift.SeverityInfo, notified: map[string]drift.Severity{},
		queue: make(chan cloudEvent, 1), m: m, log: slog.New(slog.NewTextHandler(&logs, nil))}
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		n.Send(pipeline.Change{Type: pipeline.DriftDetected, Time: time.Now(),
			Resource: drift.Resource{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: name, Status: drift.Drifted, Severity: drift.SeverityWarning}})
	}
	mfs, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var dropped float64 = -1
	for _, mf := range mfs {
		if mf.GetName() == "driftwatch_webhook_dropped_total" {
			dropped = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if dropped != 4 {
		t.Errorf("driftwatch_webhook_dropped_total %v, want 4", dropped)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `level=WARN msg="webhook queue full: notifications dropped" dropped=1 queue=1 type=detected subject="v1 ConfigMap ns/b"`) {
		t.Errorf("log:\n%s", logs.String())
	}
	// A minute later, the next drop's line counts the three since.
	n.dropLogged = n.dropLogged.Add(-time.Minute)
	n.Send(pipeline.Change{Type: pipeline.DriftDetected, Time: time.Now(),
		Resource: drift.Resource{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "f", Status: drift.Drifted, Severity: drift.SeverityWarning}})
	if !strings.Contains(logs.String(), `dropped=4 queue=1 type=detected subject="v1 ConfigMap ns/f"`) {
		t.Errorf("log after a minute:\n%s", logs.String())
	}
}
