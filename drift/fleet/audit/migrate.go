package audit

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// The schema's history, one directory per dialect: NNNN_name.sql files
// numbered from 0001 without gaps, each applied once, in order, in its
// own transaction, and recorded in schema_migrations. A released file is
// never edited: a change is a new file, in both directories.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns dialect's migrations in order.
func migrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := migrationFiles.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	var out []migration
	for i, e := range entries {
		base, ok := strings.CutSuffix(e.Name(), ".sql")
		num, name, ok2 := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || !ok2 || err != nil || len(num) != 4 || name == "" {
			return nil, fmt.Errorf("audit: %s/%s: want NNNN_name.sql", dir, e.Name())
		}
		if v != i+1 {
			return nil, fmt.Errorf("audit: %s/%s: want version %04d (no gaps, no duplicates)", dir, e.Name(), i+1)
		}
		b, err := migrationFiles.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("audit: %s: no migrations", dir)
	}
	return out, nil
}

var schemaMigrations = map[dialect]string{
	sqlite: `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
)`,
	postgres: `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`,
}

// migrate applies the migrations the database lacks, up to version upTo
// (all when negative), and refuses a database newer than this binary.
func (l *Log) migrate(ctx context.Context, upTo int) error {
	ms, err := migrations(l.d.name)
	if err != nil {
		return err
	}
	known := len(ms)
	if upTo < 0 || upTo > known {
		upTo = known
	}
	// check runs in each migration's transaction, under the writers' lock:
	// a newer replica may have migrated since the last one.
	check := func(tx *sql.Tx) (int, error) {
		if _, err := tx.ExecContext(ctx, schemaMigrations[l.d]); err != nil {
			return 0, err
		}
		v, err := version(ctx, tx)
		if err != nil {
			return 0, err
		}
		if v > known {
			return 0, &newerError{db: v, binary: known}
		}
		return v, nil
	}
	if err := l.inTx(ctx, func(tx *sql.Tx) error { _, err := check(tx); return err }); err != nil {
		return wrapMigrate(err, "schema version")
	}
	for _, m := range ms[:upTo] {
		err := l.inTx(ctx, func(tx *sql.Tx) error {
			v, err := check(tx)
			if err != nil || v >= m.version {
				return err
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, l.d.rebind("INSERT INTO schema_migrations (version, name) VALUES (?, ?)"), m.version, m.name)
			return err
		})
		if err != nil {
			return wrapMigrate(err, fmt.Sprintf("migration %04d_%s", m.version, m.name))
		}
	}
	return nil
}

func wrapMigrate(err error, what string) error {
	var newer *newerError
	if errors.As(err, &newer) {
		return err
	}
	return fmt.Errorf("audit: %s: %w", what, err)
}

// newerError is a database migrated by a newer driftwatch: its tables may
// hold what this binary would misread or drop.
type newerError struct{ db, binary int }

func (e *newerError) Error() string {
	return fmt.Sprintf("audit: database schema version %d is newer than this driftwatch (%d): upgrade driftwatch", e.db, e.binary)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func version(ctx context.Context, q querier) (int, error) {
	var v int
	err := q.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v)
	return v, err
}
