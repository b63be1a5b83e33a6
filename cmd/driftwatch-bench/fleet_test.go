package main

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSpliceSection(t *testing.T) {
	section := func(body string) string { return fleetBegin + "\n" + body + fleetEnd + "\n" }
	tests := []struct {
		name, doc, want string
	}{
		{"empty file", "", section("new\n")},
		{"appended after the bench's own", "# driftwatch benchmark\n\ntable\n", "# driftwatch benchmark\n\ntable\n\n" + section("new\n")},
		{"replaces an earlier run", "# bench\n\n" + section("old\n") + "after\n", "# bench\n\n" + section("new\n") + "after\n"},
		{"an unclosed section is kept, the new one appended", "# bench\n" + fleetBegin + "\nold\n", "# bench\n" + fleetBegin + "\nold\n\n" + section("new\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, spliceSection(tt.doc, "new\n")); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestFleetFlags(t *testing.T) {
	tests := []struct {
		args    []string
		sizes   []int
		errPart string
	}{
		{nil, []int{10, 100, 1000}, ""},
		{[]string{"--clusters", "3, 5"}, []int{3, 5}, ""},
		{[]string{"--clusters", "3,x"}, nil, `--clusters: "x"`},
		{[]string{"--churn", "2"}, nil, "--churn"},
		{[]string{"--probe-timeout", "0s"}, nil, "--probe-timeout"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cfg, err := fleetFlags(tt.args)
			if tt.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errPart) {
					t.Fatalf("error %v, want one naming %s", err, tt.errPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.sizes, cfg.Clusters); d != "" {
				t.Errorf("sizes (-want +got):\n%s", d)
			}
		})
	}
}

func TestProcCPU(t *testing.T) {
	// Burn a little CPU so that the figure cannot be zero.
	x := 0
	for i := range 200_000_000 {
		x += i % 7
	}
	d, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d <= 0 {
		t.Errorf("procCPU = %s after a busy loop (%d)", d, x)
	}
}
