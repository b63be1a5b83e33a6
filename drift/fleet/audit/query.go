package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/fleet"
)

// Query selects events. Each list keeps the events matching any of its
// values, exactly but for Kinds, which match case-insensitively
// ("deployment" finds Deployment); an empty list keeps everything.
type Query struct {
	Clusters   []string
	Namespaces []string
	Kinds      []string
	Names      []string
	Types      []fleet.EventType
	// Since (inclusive) and Until (exclusive) bound the events' Time; the
	// zero time leaves that side unbounded.
	Since, Until time.Time
	// AfterSeq keeps the events after that Seq: a reader pages with the
	// last Seq it got (0: from the start).
	AfterSeq int64
	// Limit caps the number of events: 0 means DefaultLimit, more than
	// MaxLimit means MaxLimit.
	Limit int
}

// DefaultLimit and MaxLimit bound a Query's result.
const (
	DefaultLimit = 1000
	MaxLimit     = 10000
)

// Query returns the events q selects, by Seq ascending (never nil).
func (l *Log) Query(ctx context.Context, q Query) ([]fleet.Event, error) {
	var where []string
	var args []any
	in := func(col string, vals []string) {
		if len(vals) == 0 {
			return
		}
		where = append(where, col+" IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", ")+")")
		for _, v := range vals {
			args = append(args, v)
		}
	}
	in("cluster", q.Clusters)
	in("namespace", q.Namespaces)
	kinds := make([]string, len(q.Kinds))
	for i, k := range q.Kinds {
		kinds[i] = strings.ToLower(k)
	}
	in("lower(kind)", kinds)
	in("name", q.Names)
	types := make([]string, len(q.Types))
	for i, t := range q.Types {
		types[i] = string(t)
	}
	in("type", types)
	if !q.Since.IsZero() {
		where, args = append(where, "time >= ?"), append(args, l.d.timeArg(q.Since))
	}
	if !q.Until.IsZero() {
		where, args = append(where, "time < ?"), append(args, l.d.timeArg(q.Until))
	}
	if q.AfterSeq > 0 {
		where, args = append(where, "seq > ?"), append(args, q.AfterSeq)
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}
	stmt := "SELECT seq, " + columnList + " FROM events"
	if len(where) > 0 {
		stmt += " WHERE " + strings.Join(where, " AND ")
	}
	stmt += " ORDER BY seq LIMIT ?"
	args = append(args, limit)

	rows, err := l.db.QueryContext(ctx, l.d.rebind(stmt), args...)
	if err != nil {
		return nil, fmt.Errorf("audit: query: %w", err)
	}
	defer rows.Close()
	out := []fleet.Event{}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("audit: query: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: query: %w", err)
	}
	return out, nil
}

// Open returns the open drifts: per resource (fleet.Event.Key), its last
// event when that is not Resolved. A restarted hub resumes from them.
func (l *Log) Open(ctx context.Context) (map[string]fleet.Event, error) {
	rows, err := l.db.QueryContext(ctx, "SELECT seq, "+columnList+" FROM current")
	if err != nil {
		return nil, fmt.Errorf("audit: open drifts: %w", err)
	}
	defer rows.Close()
	out := map[string]fleet.Event{}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("audit: open drifts: %w", err)
		}
		out[e.Key()] = e
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: open drifts: %w", err)
	}
	return out, nil
}

type scanner interface{ Scan(dest ...any) error }

// scanEvent reads a row of seq and columns.
func scanEvent(s scanner) (fleet.Event, error) {
	var (
		e                            fleet.Event
		at, changedAt, firstSeen     any
		typ, status, severity, paths string
	)
	err := s.Scan(&e.Seq, &at, &typ, &e.Cluster, &e.APIVersion, &e.Kind, &e.Namespace, &e.Name,
		&status, &severity, &paths, &e.Fields, &e.Manager, &changedAt, &firstSeen,
		&e.Digest, &e.Policy, &e.Revision)
	if err != nil {
		return e, err
	}
	e.Type, e.Status, e.Severity = fleet.EventType(typ), drift.Status(status), drift.Severity(severity)
	t, err := timeOf(at)
	if err != nil || t == nil {
		return e, fmt.Errorf("seq %d: time: %v", e.Seq, err)
	}
	e.Time = *t
	if e.ChangedAt, err = timeOf(changedAt); err != nil {
		return e, fmt.Errorf("seq %d: changed_at: %w", e.Seq, err)
	}
	if e.FirstSeen, err = timeOf(firstSeen); err != nil {
		return e, fmt.Errorf("seq %d: first_seen: %w", e.Seq, err)
	}
	if err := json.Unmarshal([]byte(paths), &e.Paths); err != nil {
		return e, fmt.Errorf("seq %d: paths: %w", e.Seq, err)
	}
	if len(e.Paths) == 0 {
		e.Paths = nil
	}
	return e, nil
}
