package pipeline

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/driftwatch/driftwatch/drift"
)

// History defaults and the bound on paths kept per event.
const (
	defaultHistoryEvents    = 50
	defaultHistoryResources = 1000
	// MaxEventPaths is how many drifted paths an Event names; Fields
	// still counts them all.
	MaxEventPaths = 20
)

// History keeps, per resource, the lifecycle of its drift as the Monitor
// decides it: detected, changed, resolved. It is bounded twice: each
// resource keeps its last MaxEvents events (older ones are dropped and
// counted), and at most MaxResources resources have a history (when a new
// one would exceed that, the resource whose last event is the oldest is
// dropped). An event names drifted fields by path and count only, never by
// value, so a sensitive value cannot reach it.
//
// The zero value is ready to use, with the default bounds; set the bounds
// before first use. Safe for concurrent use.
type History struct {
	// MaxEvents is how many events each resource keeps, the oldest dropped
	// first; zero means 50.
	MaxEvents int
	// MaxResources is how many resources have a history; zero means 1000.
	MaxResources int

	mu      sync.Mutex
	seq     uint64 // orders entries by their last event
	entries map[historyKey]*historyEntry
}

// historyKey names a resource independently of its version.
type historyKey struct{ group, kind, namespace, name string }

type historyEntry struct {
	apiVersion string
	events     []Event
	dropped    int
	seq        uint64
}

// Event is one step of a resource's drift lifecycle.
type Event struct {
	Type ChangeType `json:"type"`
	Time time.Time  `json:"time"`
	// Status is the resource's status after the event: Drifted, Missing or
	// Extra when the drift was detected or changed, InSync when it was
	// resolved by coming back in sync, empty when it was resolved by
	// leaving the report (removed from Git, no longer Extra).
	Status drift.Status `json:"status,omitempty"`
	// Severity is the resource's severity after the event; empty when it
	// has none (resolved, or not classified).
	Severity drift.Severity `json:"severity,omitempty"`
	// Fields counts the drifted fields; Paths names the first
	// MaxEventPaths of them, in the report's order.
	Fields int      `json:"fields,omitempty"`
	Paths  []string `json:"paths,omitempty"`
}

// ResourceHistory is the history of one resource, oldest event first.
type ResourceHistory struct {
	// APIVersion is the one of the resource's last event.
	APIVersion string  `json:"apiVersion"`
	Kind       string  `json:"kind"`
	Namespace  string  `json:"namespace,omitempty"`
	Name       string  `json:"name"`
	Events     []Event `json:"events"`
	// Dropped counts older events no longer kept (History.MaxEvents).
	Dropped int `json:"dropped,omitempty"`
}

// HistoryQuery selects resources: each list holds the values accepted,
// compared without regard to case; an empty list accepts any. The zero
// value selects every resource.
type HistoryQuery struct {
	Kinds, Namespaces, Names []string
}

func keyOf(r drift.Resource) historyKey {
	group, _, found := strings.Cut(r.APIVersion, "/")
	if !found {
		group = ""
	}
	return historyKey{group, r.Kind, r.Namespace, r.Name}
}

// Record adds the event a Monitor notification describes.
func (h *History) Record(c Change) {
	r := c.Resource
	e := Event{Type: c.Type, Time: c.Time, Status: r.Status, Severity: r.Severity, Fields: len(r.Diffs)}
	for _, d := range r.Diffs[:min(len(r.Diffs), MaxEventPaths)] {
		e.Paths = append(e.Paths, d.Path)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.add(keyOf(r), r.APIVersion, e)
}

// Gone records that r left the report at the given time (removed from Git,
// no longer Extra): a resolution if its history has a drift still open,
// nothing otherwise.
func (h *History) Gone(r drift.Resource, at time.Time) {
	k := keyOf(r)
	h.mu.Lock()
	defer h.mu.Unlock()
	en, ok := h.entries[k]
	if !ok || len(en.events) == 0 || en.events[len(en.events)-1].Type == DriftResolved {
		return
	}
	h.add(k, r.APIVersion, Event{Type: DriftResolved, Time: at})
}

// add appends e to k's history, making room as the bounds say. The caller
// holds h.mu.
func (h *History) add(k historyKey, apiVersion string, e Event) {
	maxEvents, maxResources := h.MaxEvents, h.MaxResources
	if maxEvents <= 0 {
		maxEvents = defaultHistoryEvents
	}
	if maxResources <= 0 {
		maxResources = defaultHistoryResources
	}
	if h.entries == nil {
		h.entries = map[historyKey]*historyEntry{}
	}
	en, ok := h.entries[k]
	if !ok {
		for len(h.entries) >= maxResources {
			h.dropOldest()
		}
		en = &historyEntry{}
		h.entries[k] = en
	}
	if len(en.events) >= maxEvents {
		n := len(en.events) - maxEvents + 1
		en.events = slices.Delete(en.events, 0, n)
		en.dropped += n
	}
	h.seq++
	en.apiVersion, en.seq = apiVersion, h.seq
	en.events = append(en.events, e)
}

// dropOldest removes the resource whose last event is the oldest. The
// caller holds h.mu.
func (h *History) dropOldest() {
	var oldest historyKey
	first := true
	for k, en := range h.entries {
		if first || en.seq < h.entries[oldest].seq {
			oldest, first = k, false
		}
	}
	delete(h.entries, oldest)
}

// Get returns the histories q selects, sorted by kind, namespace and name,
// as copies the caller may keep.
func (h *History) Get(q HistoryQuery) []ResourceHistory {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []ResourceHistory{}
	for k, en := range h.entries {
		if !matchAny(q.Kinds, k.kind) || !matchAny(q.Namespaces, k.namespace) || !matchAny(q.Names, k.name) {
			continue
		}
		events := make([]Event, len(en.events))
		for i, e := range en.events {
			e.Paths = slices.Clone(e.Paths)
			events[i] = e
		}
		out = append(out, ResourceHistory{APIVersion: en.apiVersion, Kind: k.kind, Namespace: k.namespace,
			Name: k.name, Events: events, Dropped: en.dropped})
	}
	slices.SortFunc(out, func(a, b ResourceHistory) int {
		return strings.Compare(a.Kind+"\x00"+a.Namespace+"\x00"+a.Name+"\x00"+a.APIVersion,
			b.Kind+"\x00"+b.Namespace+"\x00"+b.Name+"\x00"+b.APIVersion)
	})
	return out
}

func matchAny(list []string, v string) bool {
	if len(list) == 0 {
		return true
	}
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, v) })
}

// History returns the drift lifecycle of the resources q selects; see
// History for what is kept and for how long.
func (m *Monitor) History(q HistoryQuery) []ResourceHistory {
	return m.history.Get(q)
}
