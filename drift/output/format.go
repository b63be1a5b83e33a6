package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

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

// WriteOptions tunes how a report is rendered.
type WriteOptions struct {
	// Color has the text report coloured with ANSI SGR escape codes, for a
	// terminal: status words, desired and live values, attributions. The
	// other formats ignore it and never hold escape codes.
	Color bool
}

// Write renders the report in format f to w in a single write, so a failure
// while rendering never leaves half a report behind. It is WriteWith
// without options: no colour.
func Write(w io.Writer, r *drift.Report, f Format) error {
	return WriteWith(w, r, f, WriteOptions{})
}

// WriteWith is Write with options.
func WriteWith(w io.Writer, r *drift.Report, f Format, opts WriteOptions) error {
	var buf bytes.Buffer
	var err error
	switch f {
	case FormatJSON:
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	case FormatText, "":
		writeText(&buf, r, palette{color: opts.Color})
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
