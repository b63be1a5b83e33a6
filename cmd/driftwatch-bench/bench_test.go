package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

// TestRunSmall runs the whole bench at N=20, once, without kubectl but
// with the watch process, and checks that it measured something and found
// exactly the drifted set. It asserts nothing about timings.
func TestRunSmall(t *testing.T) {
	apiservertest.Require(t)
	out := t.TempDir()
	res, err := Run(context.Background(), Config{
		Sizes: []int{20}, Reps: 1, Out: out, Kubectl: false, NoiseFactor: 2, WatchChanges: 5, WatchProcess: true, Writers: 4, Log: testWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := writeResults(out, res); err != nil {
		t.Fatal(err)
	}
	if len(res.Sizes) != 1 {
		t.Fatalf("got %d sizes, want 1", len(res.Sizes))
	}
	s := res.Sizes[0]
	if s.Drifted != 1 || !s.InProcessExact || !s.BinaryExact || s.BinaryExit != 1 {
		t.Errorf("drifted %d, in-process exact %v, binary exact %v, exit %d; want 1, true, true, 1", s.Drifted, s.InProcessExact, s.BinaryExact, s.BinaryExit)
	}
	if s.BinaryRSSBytes <= 0 || s.NoiseRSSBytes <= 0 || s.Noise != 40 {
		t.Errorf("peak RSS %d / %d with %d noise objects, want both measured with 40", s.BinaryRSSBytes, s.NoiseRSSBytes, s.Noise)
	}
	if wp := s.WatchProcess; wp == nil || wp.FirstReportMs <= 0 || wp.RSSBytes <= 0 || wp.PeakRSSBytes < wp.RSSBytes ||
		wp.BaselineN != 10 || wp.BaselineRSSBytes <= 0 || !wp.Exact {
		t.Errorf("watch process = %+v, want first report, RSS, peak and a baseline of 10 measured, exactly the drifted set", wp)
	}
	if res.Watch == nil || res.Watch.Changes != 5 {
		t.Errorf("watch = %+v, want 5 changes measured", res.Watch)
	}
	for _, f := range []string{"results.md", "results.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	t.Log("\n" + Markdown(res))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
