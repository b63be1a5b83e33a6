package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/driftwatch/driftwatch/drift"
)

// Format is a report output format.
type Format string

const (
	FormatText Format = "text"
	FormatJSON Format = "json"
	// FormatMarkdown is for pull request comments and $GITHUB_STEP_SUMMARY.
	FormatMarkdown Format = "markdown"
	// FormatJUnit is a JUnit XML test report (GitLab, Jenkins).
	FormatJUnit Format = "junit"
	// FormatSARIF is SARIF 2.1.0, for code-scanning UIs.
	FormatSARIF Format = "sarif"
)

// Formats lists the supported formats.
var Formats = []Format{FormatText, FormatJSON, FormatMarkdown, FormatJUnit, FormatSARIF}

// ParseFormat validates a format name.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown output format %q (want text, json, markdown, junit or sarif)", s)
}

// Write renders the report in format f to w in a single write, so a failure
// while rendering never leaves half a report behind.
func Write(w io.Writer, r *drift.Report, f Format) error {
	var buf bytes.Buffer
	var err error
	switch f {
	case FormatJSON:
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	case FormatText, "":
		writeText(&buf, r)
	case FormatMarkdown:
		writeMarkdown(&buf, r)
	case FormatJUnit:
		err = writeJUnit(&buf, r)
	case FormatSARIF:
		err = writeSARIF(&buf, r)
	default:
		err = fmt.Errorf("unknown output format %q", f)
	}
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// maxValue bounds a value shown in the text report.
const maxValue = 120

func writeText(b *bytes.Buffer, r *drift.Report) {
	src := r.Source
	fmt.Fprintf(b, "Source:  %s", src.URL)
	if src.Path != "" {
		fmt.Fprintf(b, " (path %s)", src.Path)
	}
	if src.Ref != "" {
		fmt.Fprintf(b, " @ %s", src.Ref)
	}
	b.WriteByte('\n')
	if src.Commit != "" {
		fmt.Fprintf(b, "Commit:  %s %q", src.Commit[:min(12, len(src.Commit))], src.Subject)
		if src.AuthorTime != nil {
			fmt.Fprintf(b, " (%s)", src.AuthorTime.Format("2006-01-02 15:04 MST"))
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(b, "Cluster: %s", r.Cluster.Server)
	if r.Cluster.Context != "" {
		fmt.Fprintf(b, " (context %s)", r.Cluster.Context)
	}
	b.WriteString("\n\n")
	for _, n := range r.Notices() {
		b.WriteString("! " + n + "\n\n")
	}
	for _, res := range r.Resources {
		if res.Status == drift.InSync && len(res.Warnings) == 0 {
			continue
		}
		fmt.Fprintf(b, "%-8s %s %s\n", statusLabel(res.Status), res.APIVersion, res.ID())
		for _, w := range res.Warnings {
			b.WriteString("  ! warning: " + w + "\n")
		}
		switch res.Status {
		case drift.Drifted:
			for _, d := range res.Diffs {
				b.WriteString("  ~ " + d.Path + ": " + describeDiff(d) + describeOwner(d.ChangedBy) + "\n")
			}
		case drift.Error:
			b.WriteString("  ! " + res.Error + "\n")
		case drift.Missing:
			b.WriteString("  - not found in the cluster\n")
		case drift.Extra:
			b.WriteString("  + in the cluster with the tracking label, not in Git\n")
		}
		if res.IgnoredFields > 0 {
			fmt.Fprintf(b, "  (%d drifted fields ignored by rules)\n", res.IgnoredFields)
		}
	}
	s := r.Summary
	if b.Len() > 0 && b.Bytes()[b.Len()-1] == '\n' && !bytes.HasSuffix(b.Bytes(), []byte("\n\n")) {
		b.WriteByte('\n')
	}
	fmt.Fprintf(b, "%d %s: %d in sync, %d drifted, %d missing, %d errors", s.Total, pluralWord(s.Total, "resource", "resources"), s.InSync, s.Drifted, s.Missing, s.Errors)
	if s.Extra > 0 {
		fmt.Fprintf(b, ", %d extra", s.Extra)
	}
	if s.Excluded > 0 {
		fmt.Fprintf(b, "; %d excluded by targeting", s.Excluded)
	}
	if s.IgnoredFields > 0 {
		fmt.Fprintf(b, " (%d drifted fields ignored)", s.IgnoredFields)
	}
	b.WriteByte('\n')
}

func statusLabel(s drift.Status) string {
	switch s {
	case drift.Drifted:
		return "DRIFTED"
	case drift.Missing:
		return "MISSING"
	case drift.Error:
		return "ERROR"
	case drift.Extra:
		return "EXTRA"
	}
	return "IN SYNC"
}

func describeDiff(d drift.FieldDiff) string {
	switch {
	case d.Sensitive && d.Type == drift.Removed:
		return "secret value removed (not shown" + hashes(d) + ")"
	case d.Sensitive:
		return "secret value differs (not shown" + hashes(d) + ")"
	case d.Type == drift.Removed:
		return "desired " + show(d.Desired) + ", live absent"
	case d.Type == drift.Reordered:
		return "order differs: desired " + showItems(d.Desired) + ", live " + showItems(d.Live)
	}
	return "desired " + show(d.Desired) + ", live " + show(d.Live)
}

// showItems lists the item keys of a reorder, space-separated.
func showItems(v any) string {
	items, ok := v.([]any)
	if !ok {
		return show(v)
	}
	parts := make([]string, 0, len(items))
	for _, it := range items {
		if s, ok := it.(string); ok {
			parts = append(parts, s)
		} else {
			parts = append(parts, show(it))
		}
	}
	return strings.Join(parts, " ")
}

// show renders a value for the text report: compact JSON, HTML left
// alone, on one line, cut at maxValue without splitting a character.
func show(v any) string { return plainValue(v) }

func hashes(d drift.FieldDiff) string {
	if d.DesiredHash == "" {
		return ""
	}
	s := "; desired " + d.DesiredHash
	if d.LiveHash != "" {
		s += ", live " + d.LiveHash
	}
	return s
}

// describeOwner says who set the live value: "  [kubectl-edit Update 2026-11-24 10:42:00 UTC]".
func describeOwner(c *drift.ChangedBy) string {
	if c == nil {
		return ""
	}
	s := "  [" + c.Manager + " " + c.Operation
	if c.Time != nil {
		s += " " + c.Time.UTC().Format("2006-01-02 15:04:05 MST")
	}
	return s + "]"
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
