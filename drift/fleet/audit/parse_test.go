package audit

import (
	"net/url"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/drift/fleet"
	"github.com/google/go-cmp/cmp"
)

var now = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func TestParseQuery(t *testing.T) {
	tests := []struct {
		query string
		want  Query
	}{
		{"", Query{}},
		{"cluster=a,b&cluster=c", Query{Clusters: []string{"a", "b", "c"}}},
		{"cluster=&namespace=%20,apps,,&kind=Deployment&name=web", Query{Namespaces: []string{"apps"}, Kinds: []string{"Deployment"}, Names: []string{"web"}}},
		{"type=Detected,resolved", Query{Types: []fleet.EventType{fleet.Detected, fleet.Resolved}}},
		{"since=24h", Query{Since: now.Add(-24 * time.Hour)}},
		{"since=90m&until=30m", Query{Since: now.Add(-90 * time.Minute), Until: now.Add(-30 * time.Minute)}},
		{"since=7d", Query{Since: now.Add(-7 * 24 * time.Hour)}},
		{"since=2026-12-01T00:00:00Z&until=2026-12-02T01:00:00.5%2B01:00", Query{
			Since: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
			Until: time.Date(2026, 12, 2, 0, 0, 0, 5e8, time.UTC),
		}},
		{"after=42&limit=10000", Query{AfterSeq: 42, Limit: MaxLimit}},
		{"after=0&limit=1&format=csv", Query{Limit: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			v, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseQuery(v, now)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseQueryErrors(t *testing.T) {
	tests := []struct {
		query, want string
	}{
		{"type=deleted", `audit: type="deleted": want detected, changed or resolved`},
		{"since=yesterday", `audit: since="yesterday": want an RFC3339 time or a positive duration like 24h or 7d`},
		{"since=-1h", `audit: since="-1h": want an RFC3339 time or a positive duration like 24h or 7d`},
		{"until=2026-12-01", `audit: until="2026-12-01": want an RFC3339 time or a positive duration like 24h or 7d`},
		{"since=1h&until=2h", `audit: until="2h": not after since="1h"`},
		{"after=-1", `audit: after="-1": want a sequence number (0 or more)`},
		{"after=x", `audit: after="x": want a sequence number (0 or more)`},
		{"limit=0", `audit: limit="0": want 1 to 10000`},
		{"limit=10001", `audit: limit="10001": want 1 to 10000`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			v, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			_, err = parseQuery(v, now)
			if err == nil || err.Error() != tt.want {
				t.Errorf("parseQuery(%s) = %v, want %q", tt.query, err, tt.want)
			}
		})
	}
}

// TestParseQueryNow checks ParseQuery counts durations back from the
// current time.
func TestParseQueryNow(t *testing.T) {
	before := time.Now()
	q, err := ParseQuery(url.Values{"since": {"1h"}})
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if q.Since.Before(before.Add(-time.Hour)) || q.Since.After(after.Add(-time.Hour)) {
		t.Errorf("since=1h gave %s, want an hour before %s", q.Since, before)
	}
}

// TestQueryLimit checks Query's bounds on Limit.
func TestQueryLimit(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		l := openLog(t, dsn)
		const n = DefaultLimit + 5
		batch := make([]fleet.Event, n)
		for i := range batch {
			batch[i] = ev(fleet.Detected, "web", time.Duration(i)*time.Millisecond)
		}
		mustAppend(t, l, batch...)
		for _, tt := range []struct{ limit, want int }{{0, DefaultLimit}, {-1, DefaultLimit}, {MaxLimit + 1, n}, {3, 3}} {
			got, err := l.Query(t.Context(), Query{Limit: tt.limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Errorf("Limit %d: %d events, want %d", tt.limit, len(got), tt.want)
			}
		}
	})
}
