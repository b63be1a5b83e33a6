package fleet

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/drift"
)

// EventType is a step of a resource's drift lifecycle, as the hub sees
// it: the same names as watch's history (pipeline.ChangeType).
type EventType string

const (
	// Detected: a resource that was in sync, or unknown, drifted.
	Detected EventType = "detected"
	// Changed: a drifted resource drifted differently (new digest,
	// status or severity).
	Changed EventType = "changed"
	// Resolved: a drifted resource is back in sync, or left its agent's
	// report (removed from Git, no longer extra).
	Resolved EventType = "resolved"
)

// Event is one transition the hub saw, as the audit log keeps it: who,
// what and when, by paths, never values.
type Event struct {
	// Seq is the audit log's order (assigned when stored; zero before).
	Seq int64 `json:"seq,omitempty"`
	// Time is when the hub saw the transition.
	Time       time.Time `json:"time"`
	Type       EventType `json:"type"`
	Cluster    string    `json:"cluster"`
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Namespace  string    `json:"namespace,omitempty"`
	Name       string    `json:"name"`
	// Status and Severity are the resource's after the event; Status is
	// InSync or empty for Resolved (empty: it left the report).
	Status   drift.Status   `json:"status,omitempty"`
	Severity drift.Severity `json:"severity,omitempty"`
	Paths    []string       `json:"paths,omitempty"`
	Fields   int            `json:"fields,omitempty"`
	// Manager is the field manager of the last change (the report's
	// changedBy), ChangedAt its time.
	Manager   string     `json:"manager,omitempty"`
	ChangedAt *time.Time `json:"changedAt,omitempty"`
	// FirstSeen is when the agent first saw this drift.
	FirstSeen *time.Time `json:"firstSeen,omitempty"`
	Digest    string     `json:"digest,omitempty"`
	Policy    string     `json:"policy,omitempty"`
	Revision  string     `json:"revision,omitempty"`
}

// Key identifies the event's resource as Resource.Key does.
func (e Event) Key() string {
	return e.Cluster + "|" + group(e.APIVersion) + "|" + e.Kind + "|" + e.Namespace + "|" + e.Name
}

// Diff returns the transitions from prev to next, two sets of one
// cluster's drifted resources keyed by Resource.Key, stamped at: a key
// only in next was Detected, one in both with another digest, status or
// severity Changed, one only in prev Resolved (with status InSync when
// inSync says the agent now reports it in sync). Events are sorted by
// key. Call it only with a healthy cluster's view: an unreachable
// cluster's drift is unknown, not resolved.
func Diff(prev, next map[string]Resource, inSync func(key string) bool, at time.Time) []Event {
	var out []Event
	for k, r := range next {
		p, ok := prev[k]
		switch {
		case !ok:
			out = append(out, eventOf(Detected, r, at))
		case p.Digest != r.Digest || p.Status != r.Status || p.Severity != r.Severity:
			out = append(out, eventOf(Changed, r, at))
		}
	}
	for k, p := range prev {
		if _, ok := next[k]; ok {
			continue
		}
		e := eventOf(Resolved, p, at)
		e.Status, e.Severity, e.Paths, e.Fields, e.Digest = "", "", nil, 0, ""
		if inSync != nil && inSync(k) {
			e.Status = drift.InSync
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Event) int {
		return cmp.Or(strings.Compare(a.Key(), b.Key()), strings.Compare(string(a.Type), string(b.Type)))
	})
	return out
}

func eventOf(t EventType, r Resource, at time.Time) Event {
	return Event{
		Time: at, Type: t, Cluster: r.Cluster,
		APIVersion: r.APIVersion, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name,
		Status: r.Status, Severity: r.Severity, Paths: r.Paths, Fields: r.Fields,
		Manager: r.ChangedBy, ChangedAt: r.ChangedAt, FirstSeen: r.FirstSeen,
		Digest: r.Digest, Policy: r.Policy, Revision: r.Revision,
	}
}
