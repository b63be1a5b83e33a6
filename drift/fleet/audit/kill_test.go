package audit

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/drift/fleet"
	"github.com/google/go-cmp/cmp"
)

// helperEnv holds the DSN TestHelperWriter writes to, in the child
// TestKilledWriter runs.
const helperEnv = "DRIFTWATCH_AUDIT_WRITER_DSN"

const (
	// killBatch is the size of the writer's batches; killAfter how many
	// it reports in a round before it is killed; killBound the most it
	// writes if nobody kills it.
	killBatch = 40
	killAfter = 4
	killBound = 5000
)

// killDelays are the waits between the writer's killAfter-th report and
// its SIGKILL, one round each: a batch takes milliseconds to write, so the
// rounds kill it at different points of an Append.
var killDelays = []time.Duration{0, time.Millisecond, 3 * time.Millisecond, 7 * time.Millisecond, 15 * time.Millisecond, 30 * time.Millisecond}

// killed is batch b of the writer: killBatch events of resources
// obj-000... of cluster "killed", detected, changed, resolved in turn,
// each batch's id in Revision.
func killed(b int) []fleet.Event {
	typ := []fleet.EventType{fleet.Detected, fleet.Changed, fleet.Resolved}[b%3]
	out := make([]fleet.Event, killBatch)
	for i := range out {
		e := ev(typ, fmt.Sprintf("obj-%03d", i), time.Duration(b)*time.Second+time.Duration(i)*time.Microsecond, inCluster("killed"))
		if typ != fleet.Resolved {
			e.Paths = append(e.Paths, fmt.Sprintf("metadata.labels.batch-%d", b))
		}
		e.Revision = fmt.Sprintf("batch-%05d", b)
		out[i] = e
	}
	return out
}

// TestHelperWriter is the writer TestKilledWriter kills: it appends
// batches, from the one after the last in the log, and, once each is
// committed, prints "committed <batch> <last Seq>".
func TestHelperWriter(t *testing.T) {
	dsn := os.Getenv(helperEnv)
	if dsn == "" {
		t.Skip("the writer TestKilledWriter runs")
	}
	ctx := context.Background()
	l, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	if events := all(t, l); len(events) > 0 {
		if _, err := fmt.Sscanf(events[len(events)-1].Revision, "batch-%d", &next); err != nil {
			t.Fatal(err)
		}
		next++
	}
	for b := next; b < next+killBound; b++ {
		events := killed(b)
		if err := l.Append(ctx, events); err != nil {
			t.Fatal(err)
		}
		// os.Stdout is unbuffered: the line is out when Fprintf returns.
		fmt.Fprintf(os.Stdout, "committed %d %d\n", b, events[len(events)-1].Seq)
	}
}

// runWriter starts TestHelperWriter on dsn, SIGKILLs it delay after its
// killAfter-th report, and returns what it reported: batch, last Seq.
func runWriter(t *testing.T, dsn string, delay time.Duration, reported map[int]int64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+dsn)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var b int
		var seq int64
		if _, err := fmt.Sscanf(sc.Text(), "committed %d %d", &b, &seq); err != nil {
			continue
		}
		reported[b] = seq
		if n++; n == killAfter {
			time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL) })
		}
		// Lines the writer printed before it died are commits too: read
		// on to the end.
	}
	err = cmd.Wait()
	if n < killAfter {
		t.Fatalf("the writer reported %d batches and ended: %v\n%s", n, err, stderr.Bytes())
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Logf("the writer was not killed mid-run (%v): it wrote all its %d batches", err, killBound)
	}
}

// TestKilledWriter SIGKILLs a hub mid-write, again and again, each time
// resuming where it stopped: no committed event is lost,
// no batch is stored in part, no row is half written, and the open drifts
// match the last batch stored.
func TestKilledWriter(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		reported := map[int]int64{}
		for _, d := range killDelays {
			runWriter(t, dsn, d, reported)
		}

		l := openLog(t, dsn)
		stored := map[string][]fleet.Event{}
		var order []string
		for _, e := range all(t, l) {
			if _, ok := stored[e.Revision]; !ok {
				order = append(order, e.Revision)
			}
			stored[e.Revision] = append(stored[e.Revision], e)
		}
		// Batches 0..last are stored, whole, in order.
		for b, id := range order {
			if want := fmt.Sprintf("batch-%05d", b); id != want {
				t.Fatalf("stored batch %d is %s, want %s: a batch is missing", b, id, want)
			}
			got, want := stored[id], killed(b)
			for i := range want {
				if i < len(got) {
					want[i].Seq = got[i].Seq
				}
				if i > 0 && i < len(got) && got[i].Seq != got[i-1].Seq+1 {
					t.Errorf("%s: Seq %d after %d", id, got[i].Seq, got[i-1].Seq)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%s (-want +got):\n%s", id, diff)
			}
			if seq, ok := reported[b]; ok && seq != got[len(got)-1].Seq {
				t.Errorf("%s: the writer reported last Seq %d, the log has %d", id, seq, got[len(got)-1].Seq)
			}
		}
		for b := range reported {
			if b >= len(order) {
				t.Errorf("batch-%05d was reported committed and is not in the log", b)
			}
		}
		// A writer killed between a commit and its report leaves one
		// batch unreported, once a round.
		if len(order) > len(reported)+len(killDelays) {
			t.Errorf("the log has %d batches, the writer reported %d in %d rounds", len(order), len(reported), len(killDelays))
		}

		last := len(order) - 1
		want := map[string]fleet.Event{}
		if last >= 0 && last%3 != 2 {
			for _, e := range stored[order[last]] {
				want[e.Key()] = e
			}
		}
		got, err := l.Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("open drifts after the kill (-want +got):\n%s", diff)
		}
		t.Logf("killed %d times; %d batches reported, %d stored", len(killDelays), len(reported), len(order))
	})
}
