package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
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
	columnList = strings.Join(columns, ", ")
	// row is one row's placeholders in a VALUES list.
	row = "(" + strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", ") + ")"
	// currentRow is row with the key and the seq first.
	currentRow = "(?, ?, " + row[1:]
	// upsertCurrent makes a later event its resource's open drift.
	upsertCurrent = " ON CONFLICT (key) DO UPDATE SET seq = excluded.seq, " + updateList() +
		" WHERE current.seq < excluded.seq"
)

// chunk is the most rows one statement writes: a statement per event
// costs PostgreSQL a round trip each, one per batch would exceed the
// databases' limits on parameters (SQLite's 32766, PostgreSQL's 65535).
const chunk = 100

func updateList() string {
	set := make([]string, len(columns))
	for i, c := range columns {
		set[i] = c + " = excluded." + c
	}
	return strings.Join(set, ", ")
}

// Append stores events, in order, in one transaction: all of them or, on
// error, none. It sets each event's Seq, increasing, once committed, and
// updates the open drifts in the same transaction: a resource's last
// event of the batch becomes its open drift when Detected or Changed, and
// closes it when Resolved.
func (l *Log) Append(ctx context.Context, events []fleet.Event) error {
	if len(events) == 0 {
		return nil
	}
	args := make([][]any, len(events))
	for i, e := range events {
		if err := valid(e); err != nil {
			return fmt.Errorf("audit: append: event %d (%s): %w", i, e.Key(), err)
		}
		var err error
		if args[i], err = l.args(e); err != nil {
			return fmt.Errorf("audit: append: event %d (%s): %w", i, e.Key(), err)
		}
	}
	seqs := make([]int64, len(events))
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(events); start += chunk {
			if err := l.insert(ctx, tx, args[start:min(start+chunk, len(events))], seqs[start:]); err != nil {
				return err
			}
		}
		return l.updateOpen(ctx, tx, events, seqs, args)
	})
	if err != nil {
		return fmt.Errorf("audit: append: %w", err)
	}
	for i := range events {
		events[i].Seq = seqs[i]
	}
	return nil
}

// insert inserts rows into events and sets seqs to their Seqs.
func (l *Log) insert(ctx context.Context, tx *sql.Tx, rows [][]any, seqs []int64) error {
	q := "INSERT INTO events (" + columnList + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(row+", ", len(rows)), ", ") + " RETURNING seq"
	res, err := tx.QueryContext(ctx, l.d.rebind(q), slices.Concat(rows...)...)
	if err != nil {
		return err
	}
	defer res.Close()
	got := make([]int64, 0, len(rows))
	for res.Next() {
		var seq int64
		if err := res.Scan(&seq); err != nil {
			return err
		}
		got = append(got, seq)
	}
	if err := res.Err(); err != nil {
		return err
	}
	if len(got) != len(rows) {
		return fmt.Errorf("%d rows inserted, %d Seqs returned", len(rows), len(got))
	}
	// Both databases number the rows of a VALUES list in order, but
	// neither promises to return them in that order.
	slices.Sort(got)
	copy(seqs, got)
	return nil
}

// updateOpen makes each resource's last event of the batch its open
// drift, or closes it.
func (l *Log) updateOpen(ctx context.Context, tx *sql.Tx, events []fleet.Event, seqs []int64, args [][]any) error {
	last := map[string]int{}
	var keys []string
	for i, e := range events {
		k := e.Key()
		if _, ok := last[k]; !ok {
			keys = append(keys, k)
		}
		last[k] = i
	}
	var closed []any
	var open [][]any
	for _, k := range keys {
		i := last[k]
		if events[i].Type == fleet.Resolved {
			closed = append(closed, k)
			continue
		}
		open = append(open, append([]any{k, seqs[i]}, args[i]...))
	}
	for start := 0; start < len(closed); start += chunk {
		part := closed[start:min(start+chunk, len(closed))]
		q := "DELETE FROM current WHERE key IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(part)), ", ") + ")"
		if _, err := tx.ExecContext(ctx, l.d.rebind(q), part...); err != nil {
			return fmt.Errorf("open drifts: %w", err)
		}
	}
	for start := 0; start < len(open); start += chunk {
		part := open[start:min(start+chunk, len(open))]
		q := "INSERT INTO current (key, seq, " + columnList + ") VALUES " +
			strings.TrimSuffix(strings.Repeat(currentRow+", ", len(part)), ", ") + upsertCurrent
		if _, err := tx.ExecContext(ctx, l.d.rebind(q), slices.Concat(part...)...); err != nil {
			return fmt.Errorf("open drifts: %w", err)
		}
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
