package audit

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/drift/fleet"
	"github.com/google/go-cmp/cmp"
)

// fixture is a log's worth of events over two clusters, three namespaces,
// two kinds and two hours.
func fixture() []fleet.Event {
	return []fleet.Event{
		ev(fleet.Detected, "web", 0),
		ev(fleet.Detected, "api", 10*time.Minute, inNamespace("backend")),
		ev(fleet.Detected, "web", 20*time.Minute, inCluster("staging")),
		ev(fleet.Changed, "web", 30*time.Minute),
		ev(fleet.Detected, "settings", 40*time.Minute, ofKind("ConfigMap"), func(e *fleet.Event) { e.APIVersion = "v1" }),
		ev(fleet.Resolved, "api", time.Hour, inNamespace("backend")),
		ev(fleet.Resolved, "web", 90*time.Minute, inCluster("staging"), func(e *fleet.Event) { e.Status = "InSync" }),
		ev(fleet.Detected, "cache", 2*time.Hour, inNamespace("")),
	}
}

func TestAppendQuery(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		l := openLog(t, dsn)
		events := mustAppend(t, l, fixture()...)
		for i := 1; i < len(events); i++ {
			if events[i].Seq <= events[i-1].Seq {
				t.Fatalf("Seq %d after %d: not increasing", events[i].Seq, events[i-1].Seq)
			}
		}
		pick := func(idx ...int) []fleet.Event {
			out := []fleet.Event{}
			for _, i := range idx {
				out = append(out, events[i])
			}
			return out
		}
		tests := []struct {
			name string
			q    Query
			want []fleet.Event
		}{
			{"everything", Query{}, pick(0, 1, 2, 3, 4, 5, 6, 7)},
			{"cluster", Query{Clusters: []string{"staging"}}, pick(2, 6)},
			{"clusters", Query{Clusters: []string{"staging", "prod"}}, pick(0, 1, 2, 3, 4, 5, 6, 7)},
			{"cluster exactly", Query{Clusters: []string{"Prod"}}, pick()},
			{"namespace", Query{Namespaces: []string{"backend"}}, pick(1, 5)},
			{"kind case-insensitively", Query{Kinds: []string{"configmap"}}, pick(4)},
			{"name", Query{Names: []string{"web", "cache"}}, pick(0, 2, 3, 6, 7)},
			{"type", Query{Types: []fleet.EventType{fleet.Resolved}}, pick(5, 6)},
			{"types", Query{Types: []fleet.EventType{fleet.Changed, fleet.Resolved}}, pick(3, 5, 6)},
			{"since is inclusive", Query{Since: at(time.Hour)}, pick(5, 6, 7)},
			{"until is exclusive", Query{Until: at(30 * time.Minute)}, pick(0, 1, 2)},
			{"since and until", Query{Since: at(10 * time.Minute), Until: at(time.Hour)}, pick(1, 2, 3, 4)},
			{"one microsecond after", Query{Since: at(time.Hour + time.Microsecond)}, pick(6, 7)},
			{"after seq", Query{AfterSeq: events[5].Seq}, pick(6, 7)},
			{"limit", Query{Limit: 3}, pick(0, 1, 2)},
			{"limit after seq", Query{AfterSeq: events[2].Seq, Limit: 2}, pick(3, 4)},
			{"all together", Query{
				Clusters: []string{"prod"}, Namespaces: []string{"apps"}, Kinds: []string{"Deployment"},
				Names: []string{"web"}, Types: []fleet.EventType{fleet.Changed}, Since: at(0), Until: at(2 * time.Hour),
			}, pick(3)},
			{"nothing matches", Query{Clusters: []string{"dev"}}, pick()},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := l.Query(context.Background(), tt.q)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("Query(%+v) (-want +got):\n%s", tt.q, diff)
				}
			})
		}
	})
}

// TestAppendRoundTrip checks each field comes back as written, times in
// UTC to the microsecond.
func TestAppendRoundTrip(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	tests := []struct {
		name     string
		in, want fleet.Event
	}{
		{"full", ev(fleet.Detected, "web", 0), ev(fleet.Detected, "web", 0)},
		{
			"nanoseconds are cut to microseconds",
			ev(fleet.Changed, "web", 1234567891*time.Nanosecond, func(e *fleet.Event) { e.ChangedAt = ptr(at(999 * time.Nanosecond)) }),
			ev(fleet.Changed, "web", 1234567*time.Microsecond, func(e *fleet.Event) { e.ChangedAt = ptr(at(0)) }),
		},
		{
			"another zone reads back as UTC",
			ev(fleet.Detected, "web", 0, func(e *fleet.Event) { e.Time = e.Time.In(paris) }),
			ev(fleet.Detected, "web", 0),
		},
		{
			"resolved: no status, paths or times",
			ev(fleet.Resolved, "web", 0, func(e *fleet.Event) { e.Policy, e.Revision = "", "" }),
			ev(fleet.Resolved, "web", 0, func(e *fleet.Event) { e.Policy, e.Revision = "", "" }),
		},
		{
			"cluster-scoped, odd characters",
			ev(fleet.Detected, "admin", 0, inNamespace(""), ofKind("ClusterRole"), func(e *fleet.Event) {
				e.APIVersion = "rbac.authorization.k8s.io/v1"
				e.Paths = []string{`metadata.annotations["a,b;c\"d"]`, "rules[0].verbs", "ünïcödé"}
				e.Manager = "helm; 'quoted'"
			}),
			ev(fleet.Detected, "admin", 0, inNamespace(""), ofKind("ClusterRole"), func(e *fleet.Event) {
				e.APIVersion = "rbac.authorization.k8s.io/v1"
				e.Paths = []string{`metadata.annotations["a,b;c\"d"]`, "rules[0].verbs", "ünïcödé"}
				e.Manager = "helm; 'quoted'"
			}),
		},
	}
	eachBackend(t, func(t *testing.T, dsn string) {
		l := openLog(t, dsn)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				in := mustAppend(t, l, tt.in)
				got, err := l.Query(context.Background(), Query{AfterSeq: in[0].Seq - 1, Limit: 1})
				if err != nil {
					t.Fatal(err)
				}
				want := tt.want
				want.Seq = in[0].Seq
				if diff := cmp.Diff([]fleet.Event{want}, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
				for _, e := range got {
					if e.Time.Location() != time.UTC {
						t.Errorf("Time in %s, want UTC", e.Time.Location())
					}
				}
			})
		}
	})
}

// TestAppendAllOrNone makes the database refuse the third event of a
// batch: nothing of the batch is stored, the open drifts are unchanged and
// the slice keeps no Seq.
func TestAppendAllOrNone(t *testing.T) {
	triggers := map[string][]string{
		"sqlite": {`CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.name = 'refused'
			BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`},
		"postgres": {
			`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN IF NEW.name = 'refused' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$`,
			`CREATE TRIGGER refuse BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse()`,
		},
	}
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		l := openLog(t, dsn)
		before := mustAppend(t, l, ev(fleet.Detected, "web", 0), ev(fleet.Detected, "api", 0))
		for _, stmt := range triggers[l.d.name] {
			if _, err := l.db.ExecContext(ctx, stmt); err != nil {
				t.Fatal(err)
			}
		}
		openBefore, err := l.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		batch := []fleet.Event{
			ev(fleet.Changed, "web", time.Minute),
			ev(fleet.Resolved, "api", time.Minute),
			ev(fleet.Detected, "refused", time.Minute),
			ev(fleet.Detected, "cache", time.Minute),
		}
		err = l.Append(ctx, batch)
		if err == nil || !strings.Contains(err.Error(), "refused by the test") {
			t.Fatalf("Append = %v, want the trigger's refusal", err)
		}
		for i, e := range batch {
			if e.Seq != 0 {
				t.Errorf("event %d got Seq %d from a failed Append", i, e.Seq)
			}
		}
		if diff := cmp.Diff(before, all(t, l)); diff != "" {
			t.Errorf("events after a failed Append (-want +got):\n%s", diff)
		}
		openAfter, err := l.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(openBefore, openAfter); diff != "" {
			t.Errorf("open drifts after a failed Append (-want +got):\n%s", diff)
		}
	})
}

func TestAppendRefusesInvalid(t *testing.T) {
	tests := []struct {
		name string
		e    fleet.Event
		want string
	}{
		{"type", ev("deleted", "web", 0), `event 1 (prod|apps|Deployment|apps|web): type "deleted" is none of detected, changed, resolved`},
		{"time", ev(fleet.Detected, "web", 0, func(e *fleet.Event) { e.Time = time.Time{} }), "event 1 (prod|apps|Deployment|apps|web): no time"},
		{"name", ev(fleet.Detected, "", 0), "event 1 (prod|apps|Deployment|apps|): no cluster, kind or name"},
	}
	eachBackend(t, func(t *testing.T, dsn string) {
		l := openLog(t, dsn)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := l.Append(context.Background(), []fleet.Event{ev(fleet.Detected, "ok", 0), tt.e})
				if err == nil || err.Error() != "audit: append: "+tt.want {
					t.Errorf("Append = %v, want %q", err, "audit: append: "+tt.want)
				}
			})
		}
		if got := all(t, l); len(got) != 0 {
			t.Errorf("refused batches stored %d events", len(got))
		}
	})
}

func TestOpenDrifts(t *testing.T) {
	tests := []struct {
		name    string
		batches [][]fleet.Event
		// want are indices into the batches, flattened.
		want []int
	}{
		{"nothing", nil, nil},
		{"detected", [][]fleet.Event{{ev(fleet.Detected, "web", 0)}}, []int{0}},
		{"detected, changed", [][]fleet.Event{{ev(fleet.Detected, "web", 0)}, {ev(fleet.Changed, "web", time.Minute)}}, []int{1}},
		{"detected, changed, resolved", [][]fleet.Event{
			{ev(fleet.Detected, "web", 0)}, {ev(fleet.Changed, "web", time.Minute)}, {ev(fleet.Resolved, "web", 2*time.Minute)},
		}, nil},
		{"resolved, then detected again", [][]fleet.Event{
			{ev(fleet.Detected, "web", 0), ev(fleet.Resolved, "web", time.Minute)}, {ev(fleet.Detected, "web", 2*time.Minute)},
		}, []int{2}},
		{"in one batch", [][]fleet.Event{{
			ev(fleet.Detected, "web", 0), ev(fleet.Changed, "web", time.Minute), ev(fleet.Changed, "web", 2*time.Minute),
		}}, []int{2}},
		{"resolved unknown", [][]fleet.Event{{ev(fleet.Resolved, "web", 0)}}, nil},
		{"many resources", [][]fleet.Event{
			{ev(fleet.Detected, "web", 0), ev(fleet.Detected, "api", 0), ev(fleet.Detected, "web", 0, inCluster("staging"))},
			{ev(fleet.Resolved, "api", time.Minute), ev(fleet.Changed, "web", time.Minute, inCluster("staging"))},
		}, []int{0, 4}},
		{"one resource across API versions", [][]fleet.Event{
			{ev(fleet.Detected, "web", 0, func(e *fleet.Event) { e.APIVersion = "apps/v1beta2" })},
			{ev(fleet.Changed, "web", time.Minute)},
		}, []int{1}},
		{"same name, other namespace or kind", [][]fleet.Event{
			{ev(fleet.Detected, "web", 0), ev(fleet.Detected, "web", 0, inNamespace("other")), ev(fleet.Detected, "web", 0, ofKind("Service"))},
			{ev(fleet.Resolved, "web", time.Minute, inNamespace("other"))},
		}, []int{0, 2}},
	}
	eachBackend(t, func(t *testing.T, dsn string) {
		l := openLog(t, dsn)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				// The cases share the database: each names its own
				// clusters and looks at those only.
				cluster := "case-" + strings.ReplaceAll(tt.name, " ", "-")
				var flat []fleet.Event
				for _, b := range tt.batches {
					b = append([]fleet.Event(nil), b...)
					for i := range b {
						b[i].Cluster = cluster + "-" + b[i].Cluster
					}
					flat = append(flat, mustAppend(t, l, b...)...)
				}
				want := map[string]fleet.Event{}
				for _, i := range tt.want {
					want[flat[i].Key()] = flat[i]
				}
				got, err := l.Open(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				for k := range got {
					if !strings.HasPrefix(k, cluster+"-") {
						delete(got, k)
					}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Open (-want +got):\n%s", diff)
				}
			})
		}
	})
}

func TestPrune(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		l := openLog(t, dsn)
		events := mustAppend(t, l, fixture()...)
		openBefore, err := l.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n, err := l.Prune(ctx, at(30*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Errorf("Prune deleted %d events, want 3", n)
		}
		if diff := cmp.Diff(events[3:], all(t, l)); diff != "" {
			t.Errorf("events after Prune (-want +got):\n%s", diff)
		}
		// The drift detected first (web in prod, changed since) and the
		// one at 0:20 (resolved since) are gone from the log; prod's web
		// is still open, from its event at 0:30.
		openAfter, err := l.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(openBefore, openAfter); diff != "" {
			t.Errorf("open drifts after Prune (-want +got):\n%s", diff)
		}
		// An open drift whose only event is pruned stays open.
		if n, err = l.Prune(ctx, at(3*time.Hour)); err != nil || n != 5 {
			t.Errorf("Prune(everything) = %d, %v; want 5", n, err)
		}
		openAll, err := l.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(openBefore, openAll); diff != "" {
			t.Errorf("open drifts after pruning everything (-want +got):\n%s", diff)
		}
		if len(openAll) != 3 {
			t.Errorf("%d open drifts, want 3 (prod web, settings, cache)", len(openAll))
		}
	})
}

// TestReplicas appends from two Logs on one database at once, as two hub
// replicas would during a leader handover: every batch's Seqs are
// consecutive, so Seq order is commit order and a reader paging by Seq
// misses nothing.
func TestReplicas(t *testing.T) {
	const batches, size = 20, 5
	eachBackend(t, func(t *testing.T, dsn string) {
		logs := []*Log{openLog(t, dsn), openLog(t, dsn)}
		var wg sync.WaitGroup
		errs := make([]error, len(logs))
		for r, l := range logs {
			wg.Go(func() {
				for b := range batches {
					batch := make([]fleet.Event, size)
					for i := range batch {
						batch[i] = ev(fleet.Detected, "web", time.Duration(b)*time.Second, func(e *fleet.Event) {
							e.Cluster = string(rune('a'+r)) + "-" + string(rune('a'+i))
							e.Revision = string(rune('a'+r)) + string(rune('A'+b))
						})
					}
					if err := l.Append(context.Background(), batch); err != nil {
						errs[r] = err
						return
					}
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got := all(t, logs[0])
		if len(got) != len(logs)*batches*size {
			t.Fatalf("%d events, want %d", len(got), len(logs)*batches*size)
		}
		for i := 0; i < len(got); i += size {
			for j := i + 1; j < i+size; j++ {
				if got[j].Revision != got[i].Revision || got[j].Seq != got[j-1].Seq+1 {
					t.Fatalf("batch %s interleaved with %s at Seq %d", got[i].Revision, got[j].Revision, got[j].Seq)
				}
			}
		}
	})
}

func TestOpenDSN(t *testing.T) {
	tests := []struct {
		dsn, want string
	}{
		{"", "audit: empty database path"},
		{"sqlite:", "audit: empty database path"},
		{"/tmp/x.db?mode=ro", `audit: SQLite path "/tmp/x.db?mode=ro": a '?' is not allowed`},
		{":memory:", `audit: SQLite path ":memory:": want a file path`},
		{"sqlite:/nonexistent-dir/audit.db", "audit: open /nonexistent-dir/audit.db: "},
		// Port 1 refuses; the password must not show.
		{"postgres://driftwatch:s3cret@127.0.0.1:1/audit?connect_timeout=5", "audit: open postgres://driftwatch:xxxxx@127.0.0.1:1/audit?connect_timeout=5: "},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			l, err := Open(context.Background(), tt.dsn)
			if err == nil {
				l.Close()
				t.Fatalf("Open(%q) succeeded", tt.dsn)
			}
			if !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Open(%q) = %v, want %q...", tt.dsn, err, tt.want)
			}
		})
	}
}

// TestSQLiteDurability checks the pragmas that make a commit survive a
// kill are in force on every connection.
func TestSQLiteDurability(t *testing.T) {
	l := openLog(t, backends[0].dsn(t))
	ctx := context.Background()
	conns := make([]*sql.Conn, 3)
	for i := range conns {
		c, err := l.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	for i, c := range conns {
		var mode string
		var sync, busy int
		for q, dst := range map[string]any{"PRAGMA journal_mode": &mode, "PRAGMA synchronous": &sync, "PRAGMA busy_timeout": &busy} {
			if err := c.QueryRowContext(ctx, q).Scan(dst); err != nil {
				t.Fatal(err)
			}
		}
		if mode != "wal" || sync != 2 || busy == 0 {
			t.Errorf("connection %d: journal_mode %s, synchronous %d, busy_timeout %d; want wal, 2 (FULL), > 0", i, mode, sync, busy)
		}
	}
}

// TestAppendLargeBatch appends a batch of several statements' worth
// (chunk rows each), with resources coming back across chunks: every
// event in order with its Seq, and the open drifts of the batch's last
// event per resource.
func TestAppendLargeBatch(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		l := openLog(t, dsn)
		const resources = 60
		const n = 4 * resources // more than 2*chunk
		batch := make([]fleet.Event, n)
		for i := range batch {
			typ := []fleet.EventType{fleet.Detected, fleet.Changed, fleet.Resolved, fleet.Detected}[i/resources%4]
			batch[i] = ev(typ, fmt.Sprintf("obj-%02d", i%resources), time.Duration(i)*time.Second)
		}
		events := mustAppend(t, l, batch...)
		if diff := cmp.Diff(events, all(t, l)); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		want := map[string]fleet.Event{}
		for _, e := range events {
			if e.Type == fleet.Resolved {
				delete(want, e.Key())
			} else {
				want[e.Key()] = e
			}
		}
		got, err := l.Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("open drifts (-want +got):\n%s", diff)
		}
		if len(want) != resources {
			t.Errorf("%d open drifts, want %d: the fixture lost its point", len(want), resources)
		}
	})
}
