package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"testing"
)

// TestServer starts a server, creates two databases and checks each is
// usable and separate, and, once the databases are dropped, stops it and checks its directory is gone.
func TestServer(t *testing.T) {
	s, err := Start()
	if errors.Is(err, ErrNoBinaries) && !Required() {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	dir := s.dir
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", dir, err)
		}
	})
	ctx := context.Background()
	a, b := s.Database(t), s.Database(t)
	if a == b {
		t.Fatalf("two databases, one DSN %s", a)
	}
	for i, dsn := range []string{a, b} {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, "CREATE TABLE t (n int)"); err != nil {
			t.Fatalf("database %d: %v", i, err)
		}
		var owner string
		if err := db.QueryRowContext(ctx, "SELECT current_user").Scan(&owner); err != nil || owner != "postgres" {
			t.Fatalf("current_user = %q, %v; want postgres", owner, err)
		}
		db.Close()
	}
}
