package audit

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/drift/fleet"
)

// WriteJSONLines writes events as JSON Lines: one fleet.Event object per
// line, as the hub's API encodes it.
func WriteJSONLines(w io.Writer, events []fleet.Event) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("audit: JSON lines: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("audit: JSON lines: %w", err)
	}
	return nil
}

// CSVHeader is the first row WriteCSV writes, naming its columns.
var CSVHeader = []string{
	"seq", "time", "type", "cluster", "apiVersion", "kind", "namespace", "name",
	"status", "severity", "paths", "fields", "manager", "changedAt", "firstSeen",
	"digest", "policy", "revision",
}

// WriteCSV writes events as CSV (RFC 4180) under CSVHeader: paths joined
// with ";", times in RFC3339 (nanoseconds when there are any) in UTC,
// absent times empty. A value that a spreadsheet would run as a formula
// (starting with =, +, - or @) is written after an apostrophe.
func WriteCSV(w io.Writer, events []fleet.Event) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return fmt.Errorf("audit: CSV: %w", err)
	}
	for _, e := range events {
		row := []string{
			strconv.FormatInt(e.Seq, 10), csvTime(&e.Time), string(e.Type), e.Cluster, e.APIVersion,
			e.Kind, e.Namespace, e.Name, string(e.Status), string(e.Severity),
			strings.Join(e.Paths, ";"), strconv.Itoa(e.Fields), e.Manager,
			csvTime(e.ChangedAt), csvTime(e.FirstSeen), e.Digest, e.Policy, e.Revision,
		}
		for i, v := range row {
			row[i] = spreadsheetSafe(v)
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("audit: CSV: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("audit: CSV: %w", err)
	}
	return nil
}

func csvTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// spreadsheetSafe keeps a cell from being read as a formula by the
// spreadsheet an auditor opens the export in (CSV injection): a field
// manager or a name an attacker chose may start with =, +, - or @. Such a
// cell gets a leading apostrophe, which spreadsheets show as text.
func spreadsheetSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
