package audit

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/drift/fleet"
)

// ParseQuery reads a Query from URL parameters:
//
//	cluster, namespace, kind, name, type  comma-separated lists (or the
//	                                      parameter repeated); empty: all
//	since, until                          an RFC3339 time, or a duration
//	                                      back from now: 90m, 24h, 7d
//	after                                 a Seq (page after it)
//	limit                                 1 to MaxLimit (default DefaultLimit)
//
// Other parameters are left to the caller (a format, say). The error
// names the parameter at fault.
func ParseQuery(v url.Values) (Query, error) {
	return parseQuery(v, time.Now())
}

func parseQuery(v url.Values, now time.Time) (Query, error) {
	q := Query{
		Clusters:   list(v, "cluster"),
		Namespaces: list(v, "namespace"),
		Kinds:      list(v, "kind"),
		Names:      list(v, "name"),
	}
	for _, t := range list(v, "type") {
		switch typ := fleet.EventType(strings.ToLower(t)); typ {
		case fleet.Detected, fleet.Changed, fleet.Resolved:
			q.Types = append(q.Types, typ)
		default:
			return Query{}, fmt.Errorf("audit: type=%q: want detected, changed or resolved", t)
		}
	}
	var err error
	if q.Since, err = timeParam(v, "since", now); err != nil {
		return Query{}, err
	}
	if q.Until, err = timeParam(v, "until", now); err != nil {
		return Query{}, err
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return Query{}, fmt.Errorf("audit: until=%q: not after since=%q", v.Get("until"), v.Get("since"))
	}
	if s := v.Get("after"); s != "" {
		if q.AfterSeq, err = strconv.ParseInt(s, 10, 64); err != nil || q.AfterSeq < 0 {
			return Query{}, fmt.Errorf("audit: after=%q: want a sequence number (0 or more)", s)
		}
	}
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil || q.Limit < 1 || q.Limit > MaxLimit {
			return Query{}, fmt.Errorf("audit: limit=%q: want 1 to %d", s, MaxLimit)
		}
	}
	return q, nil
}

// list returns the parameter's comma-separated values, over all its
// occurrences, without blanks.
func list(v url.Values, name string) []string {
	var out []string
	for _, s := range v[name] {
		for _, x := range strings.Split(s, ",") {
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, x)
			}
		}
	}
	return out
}

// timeParam reads an RFC3339 time, or a duration back from now (Go's
// syntax, plus whole days: 7d).
func timeParam(v url.Values, name string, now time.Time) (time.Time, error) {
	s := strings.TrimSpace(v.Get(name))
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if n, err = strconv.Atoi(days); err == nil {
			d = time.Duration(n) * 24 * time.Hour
		}
	}
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("audit: %s=%q: want an RFC3339 time or a positive duration like 24h or 7d", name, s)
	}
	return now.Add(-d), nil
}
