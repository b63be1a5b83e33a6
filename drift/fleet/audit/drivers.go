package audit

// The two database/sql drivers the audit log runs on: SQLite in pure Go
// (the static image stays static) and PostgreSQL through pgx.
import (
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)
