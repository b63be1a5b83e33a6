// Package audit is the fleet hub's drift audit log: every transition the
// hub sees (a fleet.Event: detected, changed, resolved) with its cluster,
// resource, severity, paths, field manager and times, never a value, kept
// in SQLite (one file, the default) or PostgreSQL (several hub replicas).
//
// The log is append-only but for retention (Prune). Each Append is one
// transaction: a batch is stored whole or not at all, and a committed
// batch survives the hub being killed (SQLite runs in WAL mode with
// synchronous=FULL; PostgreSQL commits durably by default). Events get a
// Seq, increasing in commit order, which readers page by (Query.AfterSeq).
// Beside the events, the log keeps the open drifts (Open): per resource,
// its last event while that is not Resolved, updated in the same
// transaction, so a restarted hub resumes where it stopped.
//
// Times are kept to the microsecond (PostgreSQL's precision) and read
// back in UTC.
package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Log is an open audit log. Its methods are safe for concurrent use; on
// PostgreSQL several processes may share one database (only the hub's
// leader appends, but Append serializes writers anyway, so that Seq
// order is commit order).
type Log struct {
	db *sql.DB
	d  dialect
}

// dialect is what differs between the two databases.
type dialect struct {
	// name is "sqlite" or "postgres", also the directory of its migrations.
	name   string
	driver string
}

var (
	sqlite   = dialect{name: "sqlite", driver: "sqlite"}
	postgres = dialect{name: "postgres", driver: "pgx"}
)

// lockKey is the PostgreSQL advisory lock that serializes the writers of
// one database (appends and migrations): without it, two transactions
// could commit their Seqs out of order and a reader paging by Seq would
// miss the lower one.
const lockKey = 0x647269667477 // "driftw"

// sqliteParams make a committed transaction survive a SIGKILL (and a power
// cut: synchronous=FULL syncs the WAL at each commit), wait for another
// writer instead of failing, and take the write lock at BEGIN, so that two
// writers never both hold a read snapshot and then fail to upgrade it.
const sqliteParams = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"

// Open opens the log at dsn, creating it and migrating its schema to this
// binary's version. A dsn starting with postgres:// or postgresql:// is a
// PostgreSQL connection URL; anything else is an SQLite file path,
// optionally prefixed with "sqlite:". Open refuses a database whose
// schema is newer than this binary knows.
func Open(ctx context.Context, dsn string) (*Log, error) {
	return open(ctx, dsn, -1)
}

// open is Open, migrating only up to version upTo (all when negative):
// the tests build old databases with it.
func open(ctx context.Context, dsn string, upTo int) (*Log, error) {
	d, source, shown, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(d.driver, source)
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", shown, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("audit: open %s: %w", shown, err)
	}
	l := &Log{db: db, d: d}
	if err := l.migrate(ctx, upTo); err != nil {
		db.Close()
		return nil, err
	}
	return l, nil
}

// parseDSN returns the dialect, the driver's data source name, and the
// dsn as errors may show it (without a password).
func parseDSN(dsn string) (d dialect, source, shown string, err error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// url's error quotes the URL, password included.
			return d, "", "", errors.New("audit: the PostgreSQL URL does not parse")
		}
		return postgres, dsn, u.Redacted(), nil
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	switch {
	case path == "":
		return d, "", "", errors.New("audit: empty database path")
	case strings.ContainsRune(path, '?'):
		// The driver reads what follows a '?' as its parameters.
		return d, "", "", fmt.Errorf("audit: SQLite path %q: a '?' is not allowed", path)
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		return d, "", "", fmt.Errorf("audit: SQLite path %q: want a file path", path)
	}
	return sqlite, path + "?" + sqliteParams, path, nil
}

// Close closes the database.
func (l *Log) Close() error { return l.db.Close() }

// Version returns the database's schema version: the last migration
// applied.
func (l *Log) Version(ctx context.Context) (int, error) {
	v, err := version(ctx, l.db)
	if err != nil {
		return 0, fmt.Errorf("audit: schema version: %w", err)
	}
	return v, nil
}

// Prune deletes the events older than before and returns how many. The
// open drifts are kept whatever their age: Open still returns them.
func (l *Log) Prune(ctx context.Context, before time.Time) (int64, error) {
	res, err := l.db.ExecContext(ctx, l.d.rebind("DELETE FROM events WHERE time < ?"), l.d.timeArg(before))
	if err != nil {
		return 0, fmt.Errorf("audit: prune: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("audit: prune: %w", err)
	}
	return n, nil
}

// inTx runs f in a transaction holding the writers' lock, and commits
// when f succeeds.
func (l *Log) inTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if l.d == postgres {
		// SQLite's writer lock is taken by BEGIN (_txlock=immediate).
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(lockKey)); err != nil {
			return err
		}
	}
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// rebind turns the ? placeholders of q into PostgreSQL's $1, $2...
func (d dialect) rebind(q string) string {
	if d != postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// timeArg is t as a time column's argument: Unix microseconds in SQLite,
// a timestamptz in PostgreSQL.
func (d dialect) timeArg(t time.Time) any {
	if d == sqlite {
		return t.UnixMicro()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// nullTimeArg is timeArg for a nullable column.
func (d dialect) nullTimeArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return d.timeArg(*t)
}

// timeOf reads back a time column scanned into an any (nil for NULL).
func timeOf(v any) (*time.Time, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case int64:
		t := time.UnixMicro(v).UTC()
		return &t, nil
	case time.Time:
		t := v.UTC()
		return &t, nil
	}
	return nil, fmt.Errorf("time column holds a %T", v)
}
