package audit

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/drift/fleet"
	"github.com/google/go-cmp/cmp"
)

// TestMigrationFiles checks both dialects have the same history: same
// versions, same names, numbered without gaps.
func TestMigrationFiles(t *testing.T) {
	names := func(dialect string) []string {
		ms, err := migrations(dialect)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.name)
		}
		return out
	}
	lite, pg := names("sqlite"), names("postgres")
	if diff := cmp.Diff(lite, pg); diff != "" {
		t.Errorf("migrations: sqlite and postgres differ (-sqlite +postgres):\n%s", diff)
	}
	if len(lite) < 2 {
		t.Errorf("%d migrations, want at least 2", len(lite))
	}
}

// v1Events are rows a driftwatch at schema version 1 wrote: no policy or
// revision yet.
var v1Events = []fleet.Event{
	ev(fleet.Detected, "web", 0, noSource),
	ev(fleet.Detected, "api", time.Minute, noSource, inNamespace("backend")),
	ev(fleet.Changed, "web", 2*time.Minute, noSource, func(e *fleet.Event) { e.Paths = nil; e.Fields = 0; e.ChangedAt = nil }),
	ev(fleet.Resolved, "api", 3*time.Minute, noSource, inNamespace("backend")),
}

func noSource(e *fleet.Event) { e.Policy, e.Revision = "", "" }

// writeV1 stores events as version 1's Append did: the events table, and
// current for the last event of a resource when not resolved.
func writeV1(t *testing.T, l *Log, events []fleet.Event) []fleet.Event {
	t.Helper()
	ctx := context.Background()
	v1 := columns[:len(columns)-2]
	if v1[len(v1)-1] != "digest" {
		t.Fatalf("version 1's columns end with %s, want digest", v1[len(v1)-1])
	}
	ph := "?" + strings.Repeat(", ?", len(v1)-1)
	cols := strings.Join(v1, ", ")
	out := append([]fleet.Event(nil), events...)
	for i, e := range out {
		args, err := l.args(e)
		if err != nil {
			t.Fatal(err)
		}
		args = args[:len(v1)]
		if err := l.db.QueryRowContext(ctx, l.d.rebind("INSERT INTO events ("+cols+") VALUES ("+ph+") RETURNING seq"), args...).Scan(&out[i].Seq); err != nil {
			t.Fatal(err)
		}
		if _, err := l.db.ExecContext(ctx, l.d.rebind("DELETE FROM current WHERE key = ?"), e.Key()); err != nil {
			t.Fatal(err)
		}
		if e.Type != fleet.Resolved {
			if _, err := l.db.ExecContext(ctx, l.d.rebind("INSERT INTO current (key, seq, "+cols+") VALUES (?, ?, "+ph+")"),
				append([]any{e.Key(), out[i].Seq}, args...)...); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// TestMigrateOldDatabase opens a database written at schema version 1
// with this binary: it migrates, and the old rows read back intact.
func TestMigrateOldDatabase(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		old, err := open(ctx, dsn, 1)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := old.Version(ctx); err != nil || v != 1 {
			t.Fatalf("old database at version %d, %v; want 1", v, err)
		}
		written := writeV1(t, old, v1Events)
		if err := old.Close(); err != nil {
			t.Fatal(err)
		}

		l := openLog(t, dsn)
		ms, _ := migrations(l.d.name)
		if v, err := l.Version(ctx); err != nil || v != len(ms) {
			t.Errorf("Version = %d, %v; want %d", v, err, len(ms))
		}
		if diff := cmp.Diff(written, all(t, l)); diff != "" {
			t.Errorf("old events after migrating (-want +got):\n%s", diff)
		}
		open, err := l.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]fleet.Event{written[2].Key(): written[2]}
		if diff := cmp.Diff(want, open); diff != "" {
			t.Errorf("old open drifts after migrating (-want +got):\n%s", diff)
		}

		// The new columns work, and the log goes on from the old rows.
		next := mustAppend(t, l, ev(fleet.Resolved, "web", time.Hour))
		if next[0].Seq <= written[len(written)-1].Seq {
			t.Errorf("Seq %d after the old %d", next[0].Seq, written[len(written)-1].Seq)
		}
		got, err := l.Query(ctx, Query{AfterSeq: written[len(written)-1].Seq})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(next, got); diff != "" {
			t.Errorf("new event (-want +got):\n%s", diff)
		}
		if open, err := l.Open(ctx); err != nil || len(open) != 0 {
			t.Errorf("Open = %v, %v; want none", open, err)
		}
	})
}

// TestMigrateTwice reopens a database: nothing is applied again.
func TestMigrateTwice(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		events := mustAppend(t, openLog(t, dsn), fixture()...)
		l := openLog(t, dsn)
		var n int
		if err := l.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		ms, _ := migrations(l.d.name)
		if n != len(ms) {
			t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
		}
		if diff := cmp.Diff(events, all(t, l)); diff != "" {
			t.Errorf("events after reopening (-want +got):\n%s", diff)
		}
	})
}

// TestNewerSchema refuses a database a newer driftwatch migrated.
func TestNewerSchema(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		l := openLog(t, dsn)
		ms, _ := migrations(l.d.name)
		if _, err := l.db.ExecContext(ctx, l.d.rebind("INSERT INTO schema_migrations (version, name) VALUES (?, ?)"), 7, "from_the_future"); err != nil {
			t.Fatal(err)
		}
		l.Close()
		newer, err := Open(ctx, dsn)
		if err == nil {
			newer.Close()
			t.Fatal("Open succeeded on a newer schema")
		}
		want := "audit: database schema version 7 is newer than this driftwatch (" + strconv.Itoa(len(ms)) + "): upgrade driftwatch"
		if err.Error() != want {
			t.Errorf("Open = %q, want %q", err, want)
		}
	})
}
