package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// procStatus is /proc/PID/status as Linux 6 writes it, trimmed.
const procStatus = `Name:	driftwatch
Umask:	0022
State:	S (sleeping)
Pid:	4242
VmPeak:	 2345678 kB
VmSize:	 2345000 kB
VmLck:	       0 kB
VmHWM:	  204800 kB
VmRSS:	  102400 kB
RssAnon:	   90000 kB
Threads:	12
`

func TestParseProcMem(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(string) string
		want    procMem
		wantErr string
	}{
		{name: "status", mutate: func(s string) string { return s }, want: procMem{RSS: 100 << 20, HWM: 200 << 20, Anon: 90000 << 10}},
		{name: "zero RSS", mutate: func(s string) string { return strings.Replace(s, "  102400 kB", "0 kB", 1) }, want: procMem{RSS: 0, HWM: 200 << 20, Anon: 90000 << 10}},
		{name: "no RssAnon (before Linux 4.5)", mutate: func(s string) string { return strings.Replace(s, "RssAnon:", "Other:", 1) }, want: procMem{RSS: 100 << 20, HWM: 200 << 20}},
		{name: "no VmHWM", mutate: func(s string) string { return strings.Replace(s, "VmHWM:", "VmXXX:", 1) }, wantErr: "no VmRSS or no VmHWM"},
		{name: "no VmRSS", mutate: func(s string) string { return strings.Replace(s, "VmRSS:", "VmXXX:", 1) }, wantErr: "no VmRSS or no VmHWM"},
		{name: "empty", mutate: func(string) string { return "" }, wantErr: "no VmRSS or no VmHWM"},
		{name: "other unit", mutate: func(s string) string { return strings.Replace(s, "102400 kB", "100 MB", 1) }, wantErr: `VmRSS: "100 MB" is not a size in kB`},
		{name: "not a number", mutate: func(s string) string { return strings.Replace(s, "204800 kB", "x kB", 1) }, wantErr: `VmHWM: "x kB" is not a size in kB`},
		{name: "negative", mutate: func(s string) string { return strings.Replace(s, "204800 kB", "-1 kB", 1) }, wantErr: `VmHWM: "-1 kB" is not a size in kB`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseProcMem(c.mutate(procStatus))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(c.want, got); d != "" {
				t.Errorf("parseProcMem (-want +got):\n%s", d)
			}
		})
	}
}

func TestPerObjectAbove(t *testing.T) {
	cases := []struct {
		name         string
		rss, baseRSS int64
		n, baseN     int
		want         float64
	}{
		{name: "1 KB each", rss: 60<<20 + 99_900*1024, baseRSS: 60 << 20, n: 100_000, baseN: 100, want: 1024},
		{name: "half a KB each", rss: 40<<20 + 1900*512, baseRSS: 40 << 20, n: 2000, baseN: 100, want: 512},
		{name: "below the baseline", rss: 30 << 20, baseRSS: 31 << 20, n: 1100, baseN: 100, want: -1048.576},
		{name: "no baseline", rss: 30 << 20, baseRSS: 0, n: 1, baseN: 0, want: 0},
		{name: "baseline as large", rss: 30 << 20, baseRSS: 29 << 20, n: 100, baseN: 100, want: 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if d := cmp.Diff(c.want, perObjectAbove(c.rss, c.baseRSS, c.n, c.baseN)); d != "" {
				t.Errorf("perObjectAbove (-want +got):\n%s", d)
			}
		})
	}
}

func TestListenAddr(t *testing.T) {
	cases := []struct {
		line   string
		want   string
		wantOK bool
	}{
		{line: `{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"watching","source":"/tmp/git-300","path":"","cluster":"https://127.0.0.1:40000","listen":"127.0.0.1:38123"}`,
			want: "127.0.0.1:38123", wantOK: true},
		{line: `{"level":"INFO","msg":"shutting down"}`},
		{line: `{"level":"INFO","msg":"watching"}`},
		{line: `time=2026-01-01T00:00:00Z level=INFO msg=watching listen=127.0.0.1:38123`},
		{line: ``},
	}
	for _, c := range cases {
		got, ok := listenAddr(c.line)
		if d := cmp.Diff(struct {
			Addr string
			OK   bool
		}{c.want, c.wantOK}, struct {
			Addr string
			OK   bool
		}{got, ok}); d != "" {
			t.Errorf("listenAddr(%s) (-want +got):\n%s", c.line, d)
		}
	}
}

// TestWatchLog feeds the log in pieces that split lines, as a pipe may.
func TestWatchLog(t *testing.T) {
	l := &watchLog{addr: make(chan string, 1)}
	var text strings.Builder
	text.WriteString(`{"level":"WARN","msg":"SSH host key verification is off"}` + "\n")
	text.WriteString(`{"level":"INFO","msg":"watching","listen":"127.0.0.1:1234"}` + "\n")
	text.WriteString(`{"level":"INFO","msg":"watching","listen":"127.0.0.1:9999"}` + "\n")
	for i := range watchLogLines {
		text.WriteString(`{"msg":"line ` + strings.Repeat("x", i) + `"}` + "\n")
	}
	text.WriteString(`{"msg":"partial`)
	s := text.String()
	for len(s) > 0 {
		k := min(7, len(s))
		if n, err := l.Write([]byte(s[:k])); err != nil || n != k {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, k)
		}
		s = s[k:]
	}
	select {
	case a := <-l.addr:
		if a != "127.0.0.1:1234" {
			t.Errorf("address %q, want the first watching line's 127.0.0.1:1234", a)
		}
	default:
		t.Fatal("no address sent")
	}
	lines := strings.Split(l.tail(), "\n")
	if len(lines) != watchLogLines+1 || lines[0] != `{"msg":"line "}` || lines[len(lines)-1] != `{"msg":"partial` {
		t.Errorf("tail has %d lines, first %q, last %q; want %d, the first filler line, the partial line",
			len(lines), lines[0], lines[len(lines)-1], watchLogLines+1)
	}
}

func TestTargetsWatchProcess(t *testing.T) {
	res := &Results{Sizes: []SizeResult{
		{N: 1000, FloorMs: 100, InProcessExact: true, BinaryExact: true, LoadAvg: []string{"0.5"},
			WatchProcess: &WatchProcessResult{N: 1000, FirstReportMs: 120, RSSBytes: 41 << 20, BaselineRSSBytes: 40 << 20, BaselineN: 100, BytesPerObject: 1165, Exact: true}},
		{N: 10000, FloorMs: 1000, InProcessExact: true, BinaryExact: true, LoadAvg: []string{"0.5"},
			WatchProcess: &WatchProcessResult{N: 10000, FirstReportMs: 1600, RSSBytes: 48 << 20, BaselineRSSBytes: 40 << 20, BaselineN: 100, BytesPerObject: 847, Exact: true}},
	}}
	var got []Target
	for _, tg := range targets(res) {
		if strings.HasPrefix(tg.Name, "watch") || strings.HasPrefix(tg.Name, "driftwatch (and kubectl)") {
			got = append(got, tg)
		}
	}
	want := []Target{
		{Name: "watch time to first report at N=10000 vs floor (driftwatch watch process, exec → /readyz)", Want: "≤ 1.5× floor",
			Actual: "1.60× (1600 ms vs 1000 ms)", Met: false},
		{Name: "watch RSS per watched object above baseline at N=10000 (driftwatch watch process)", Want: "≤ 1 KB",
			Actual: "847 B (48.0 MiB vs 40.0 MiB over 100 objects)", Met: true},
		{Name: "driftwatch (and kubectl) report exactly the drifted set", Want: "yes", Actual: "yes", Met: true},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("targets (-want +got):\n%s", d)
	}
	res.Sizes[0].WatchProcess.Exact = false
	if ts := targets(res); ts[len(ts)-1].Met {
		t.Errorf("exactly the drifted set met with a watch process that was not exact")
	}
	md := Markdown(res)
	for _, line := range []string{
		"- watch process at N=10000: first report 1600 ms after exec (1.60× floor), RSS 48.0 MiB",
		"baseline 40.0 MiB over 100 objects (anon 0.0 MiB, peak 0.0 MiB, first report 0 ms) → 847 B per watched object above baseline",
	} {
		if !strings.Contains(md, line) {
			t.Errorf("Markdown lacks %q:\n%s", line, md)
		}
	}
}
