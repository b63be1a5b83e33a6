package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/drift/fleet"
	"github.com/driftwatch/driftwatch/drift/fleet/audit/pgtest"
)

// pg is the package's one PostgreSQL server; nil when it is not installed
// (noPG says why), and the PostgreSQL half of each test skips.
var (
	pg   *pgtest.Server
	noPG error
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		// The writer TestKilledWriter runs and kills: it needs no server
		// of its own.
		os.Exit(m.Run())
	}
	s, err := pgtest.Start()
	switch {
	case err == nil:
		pg = s
	case errors.Is(err, pgtest.ErrNoBinaries) && !pgtest.Required():
		noPG = err
	default:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if pg != nil {
		if err := pg.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// backend makes fresh, empty databases of one kind.
type backend struct {
	name string
	dsn  func(testing.TB) string
}

var backends = []backend{
	{"sqlite", func(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "audit.db") }},
	{"postgres", func(t testing.TB) string {
		if pg == nil {
			t.Skipf("%v (%s=1 makes this a failure)", noPG, pgtest.RequireEnv)
		}
		return pg.Database(t)
	}},
}

// eachBackend runs f as a subtest on each backend, with a fresh database.
func eachBackend(t *testing.T, f func(t *testing.T, dsn string)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b.dsn(t)) })
	}
}

// openLog opens the log at dsn, closed when t ends.
func openLog(t testing.TB, dsn string) *Log {
	t.Helper()
	l, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func mustAppend(t testing.TB, l *Log, events ...fleet.Event) []fleet.Event {
	t.Helper()
	if err := l.Append(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	return events
}

// all reads the whole log, page by page.
func all(t testing.TB, l *Log) []fleet.Event {
	t.Helper()
	out := []fleet.Event{}
	for after := int64(0); ; {
		page, err := l.Query(context.Background(), Query{AfterSeq: after, Limit: MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < MaxLimit {
			return out
		}
		after = page[len(page)-1].Seq
	}
}

// t0 is the fixtures' epoch.
var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func ptr[T any](v T) *T { return &v }

// ev is an event of a Deployment in namespace "apps" of cluster "prod",
// changed as the mutators say.
func ev(typ fleet.EventType, name string, when time.Duration, mutate ...func(*fleet.Event)) fleet.Event {
	e := fleet.Event{
		Time: at(when), Type: typ, Cluster: "prod",
		APIVersion: "apps/v1", Kind: "Deployment", Namespace: "apps", Name: name,
	}
	if typ != fleet.Resolved {
		e.Status, e.Severity = "Drifted", "high"
		e.Paths, e.Fields = []string{"spec.replicas", "spec.template.spec.containers[name=web].image"}, 2
		e.Manager, e.ChangedAt = "kubectl-edit", ptr(at(when-time.Minute))
		e.FirstSeen = ptr(at(-time.Hour))
		e.Digest = "sha256:" + name + string(typ)
	}
	e.Policy, e.Revision = "https://git.example.com/platform.git//clusters/prod", "4f2a9c1"
	for _, m := range mutate {
		m(&e)
	}
	return e
}

func inCluster(c string) func(*fleet.Event)   { return func(e *fleet.Event) { e.Cluster = c } }
func inNamespace(n string) func(*fleet.Event) { return func(e *fleet.Event) { e.Namespace = n } }
func ofKind(k string) func(*fleet.Event)      { return func(e *fleet.Event) { e.Kind = k } }
