package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/driftwatch/driftwatch/drift/fleet"
)

// columns are the events' (and current's) columns after seq, in the
// order of args and scanEvent.
var columns = []string{
	"time", "type", "cluster", "api_version", "kind", "namespace", "name",
	"status", "severity", "paths", "fields", "manager", "changed_at", "first_seen",
	"digest", "policy", "revision",
}

var (
	columnList   = strings.Join(columns, ", ")
	placeholders = strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", ")

	insertEvent = "INSERT INTO events (" + columnList + ") VALUES (" + placeholders + ") RETURNING seq"
	// upsertCurrent replaces a resource's open drift with a later event.
	upsertCurrent = "INSERT INTO current (key, seq, " + columnList + ") VALUES (?, ?, " + placeholders + ")" +
		" ON CONFLICT (key) DO UPDATE SET seq = excluded.seq, " + updateList() +
		" WHERE current.seq < excluded.seq"
	deleteCurrent = "DELETE FROM current WHERE key = ?"
)

func updateList() string {
	set := make([]string, len(columns))
	for i, c := range columns {
		set[i] = c + " = excluded." + c
	}
	return strings.Join(set, ", ")
}

// Append stores events, in order, in one transaction: all of them or, on
// error, none. It sets each event's Seq, increasing, once committed, and
// updates the open drifts in the same transaction: a Detected or Changed
// event becomes its resource's open drift, a Resolved one closes it.
func (l *Log) Append(ctx context.Context, events []fleet.Event) error {
	if len(events) == 0 {
		return nil
	}
	for i, e := range events {
		if err := valid(e); err != nil {
			return fmt.Errorf("audit: append: event %d (%s): %w", i, e.Key(), err)
		}
	}
	seqs := make([]int64, len(events))
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, l.d.rebind(insertEvent))
		if err != nil {
			return err
		}
		defer ins.Close()
		up, err := tx.PrepareContext(ctx, l.d.rebind(upsertCurrent))
		if err != nil {
			return err
		}
		defer up.Close()
		del, err := tx.PrepareContext(ctx, l.d.rebind(deleteCurrent))
		if err != nil {
			return err
		}
		defer del.Close()
		for i, e := range events {
			args, err := l.args(e)
			if err != nil {
				return fmt.Errorf("event %d (%s): %w", i, e.Key(), err)
			}
			if err := ins.QueryRowContext(ctx, args...).Scan(&seqs[i]); err != nil {
				return fmt.Errorf("event %d (%s): %w", i, e.Key(), err)
			}
			if e.Type == fleet.Resolved {
				_, err = del.ExecContext(ctx, e.Key())
			} else {
				_, err = up.ExecContext(ctx, append([]any{e.Key(), seqs[i]}, args...)...)
			}
			if err != nil {
				return fmt.Errorf("event %d (%s): open drifts: %w", i, e.Key(), err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit: append: %w", err)
	}
	for i := range events {
		events[i].Seq = seqs[i]
	}
	return nil
}

// valid checks what an event needs to mean anything in the log.
func valid(e fleet.Event) error {
	switch {
	case e.Type != fleet.Detected && e.Type != fleet.Changed && e.Type != fleet.Resolved:
		return fmt.Errorf("type %q is none of detected, changed, resolved", e.Type)
	case e.Time.IsZero():
		return fmt.Errorf("no time")
	case e.Cluster == "" || e.Kind == "" || e.Name == "":
		return fmt.Errorf("no cluster, kind or name")
	}
	return nil
}

// args are e's values for columns.
func (l *Log) args(e fleet.Event) ([]any, error) {
	paths := e.Paths
	if paths == nil {
		paths = []string{}
	}
	p, err := json.Marshal(paths)
	if err != nil {
		return nil, err
	}
	return []any{
		l.d.timeArg(e.Time), string(e.Type), e.Cluster, e.APIVersion, e.Kind, e.Namespace, e.Name,
		string(e.Status), string(e.Severity), string(p), e.Fields, e.Manager,
		l.d.nullTimeArg(e.ChangedAt), l.d.nullTimeArg(e.FirstSeen),
		e.Digest, e.Policy, e.Revision,
	}, nil
}
