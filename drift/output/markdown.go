package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/drift"
)

// The markdown report is for pull request comments and GitHub's
// $GITHUB_STEP_SUMMARY: a title, a summary table, then one collapsed
// <details> block per resource that is not in sync. Every value that comes
// from Git or the cluster is escaped: in code spans (paths, values) only
// backticks and, in tables, pipes need care; in plain text, markdown
// punctuation and HTML are escaped too.

func writeMarkdown(b *bytes.Buffer, r *drift.Report) {
	src := r.Source
	b.WriteString("### Drift check of " + mdCode(src.URL, false))
	if src.Path != "" {
		b.WriteString(" path " + mdCode(src.Path, false))
	}
	if src.Ref != "" {
		b.WriteString(" @ " + mdCode(src.Ref, false))
	}
	if src.Commit != "" {
		b.WriteString(" (" + mdCode(shortCommit(src.Commit), false) + ")")
	}
	b.WriteString(" against " + mdCode(r.Cluster.Server, false))
	if r.Cluster.Context != "" {
		b.WriteString(" (context " + mdCode(r.Cluster.Context, false) + ")")
	}
	b.WriteString("\n\n")

	var about []string
	if src.Commit != "" {
		s := "Commit " + mdCode(shortCommit(src.Commit), false)
		if src.Subject != "" {
			s += ` "` + mdText(src.Subject) + `"`
		}
		if src.AuthorTime != nil {
			s += " (" + src.AuthorTime.Format("2006-01-02 15:04 MST") + ")"
		}
		about = append(about, s+".")
	}
	if src.Digest != "" {
		about = append(about, "Digest "+mdCode(src.Digest, false)+".")
	}
	if s := skippedSummary(src.Skipped); s != "" {
		about = append(about, "Skipped "+mdText(s)+", not desired state.")
	}
	if !r.GeneratedAt.IsZero() {
		about = append(about, "Checked "+fmtTime(r.GeneratedAt)+".")
	}
	if len(about) > 0 {
		b.WriteString(strings.Join(about, " ") + "\n\n")
	}

	for _, n := range r.Notices() {
		fmt.Fprintf(b, "> **Warning:** %s\n\n", mdText(n))
	}

	s := r.Summary
	b.WriteString("| Status | Count |\n| --- | ---: |\n")
	fmt.Fprintf(b, "| In sync | %d |\n| Drifted | %d |\n| Missing | %d |\n| Errors | %d |\n", s.InSync, s.Drifted, s.Missing, s.Errors)
	if s.Extra > 0 {
		fmt.Fprintf(b, "| Extra | %d |\n", s.Extra)
	}
	if s.Excluded > 0 {
		fmt.Fprintf(b, "| Excluded by targeting | %d |\n", s.Excluded)
	}
	if s.IgnoredFields > 0 {
		fmt.Fprintf(b, "| Drifted fields ignored by rules | %d |\n", s.IgnoredFields)
	}
	fmt.Fprintf(b, "| **Total** | **%d** |\n", s.Total)
	if s.Critical+s.Warning+s.Info > 0 {
		fmt.Fprintf(b, "\nDrifted, missing and extra resources by severity: %d critical, %d warning, %d info.\n", s.Critical, s.Warning, s.Info)
	}

	for _, res := range bySeverity(r.Resources) {
		if res.Status == drift.InSync && len(res.Warnings) == 0 {
			continue
		}
		b.WriteByte('\n')
		writeMarkdownResource(b, res)
	}

	b.WriteByte('\n')
	switch {
	case !r.HasDrift() && !r.HasErrors():
		fmt.Fprintf(b, "All %d resources are in sync.\n", s.Total)
	case !r.HasDrift():
		fmt.Fprintf(b, "No drift found, but %d of %d resources could not be checked.\n", s.Errors, s.Total)
	default:
		fmt.Fprintf(b, "%d of %d resources differ from Git.\n", s.Drifted+s.Missing+s.Extra, s.Total)
	}
}

func writeMarkdownResource(b *bytes.Buffer, res drift.Resource) {
	// HTML, not markdown, inside <summary>: a line that opens an HTML
	// block is not parsed as markdown.
	sev := ""
	if res.Severity != "" {
		sev = " (" + html.EscapeString(string(res.Severity)) + ")"
	}
	fmt.Fprintf(b, "<details>\n<summary><b>%s</b> <code>%s</code>%s</summary>\n\n",
		mdStatus(res.Status), html.EscapeString(oneLine(res.APIVersion+" "+res.ID())), sev)

	var about []string
	if res.Origin != "" {
		about = append(about, "From "+mdCode(res.Origin, false)+".")
	}
	switch res.Status {
	case drift.Missing:
		about = append(about, "Not found in the cluster.")
	case drift.Extra:
		about = append(about, "In the cluster with the tracking label, not in Git.")
	}
	if res.FirstSeen != nil && res.Status != drift.InSync {
		about = append(about, "First seen "+fmtTime(*res.FirstSeen)+".")
	}
	if res.Confirmed {
		about = append(about, "Confirmed by a server-side dry run.")
	}
	if len(about) > 0 {
		b.WriteString(strings.Join(about, " ") + "\n\n")
	}

	if res.Status == drift.Drifted && len(res.Diffs) > 0 {
		b.WriteString("| Path | Severity | Change | Desired | Live | Changed by |\n| --- | --- | --- | --- | --- | --- |\n")
		for _, d := range res.Diffs {
			desired, live := mdValues(d)
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n",
				mdCode(d.Path, true), mdSeverity(d.Severity), changeName(d.Type), desired, live, mdOwner(d.ChangedBy))
		}
		b.WriteByte('\n')
	}

	var bullets []string
	if res.Status == drift.Error {
		bullets = append(bullets, "**Error:** "+mdText(res.Error))
	}
	for _, w := range res.Warnings {
		bullets = append(bullets, "**Warning:** "+mdText(w))
	}
	if res.IgnoredFields > 0 {
		bullets = append(bullets, plural(res.IgnoredFields, "drifted field", "drifted fields")+" ignored by rules.")
	}
	for _, l := range bullets {
		b.WriteString("- " + l + "\n")
	}
	if len(bullets) > 0 {
		b.WriteByte('\n')
	}
	b.WriteString("</details>\n")
}

func mdStatus(s drift.Status) string {
	switch s {
	case drift.Drifted:
		return "Drifted"
	case drift.Missing:
		return "Missing"
	case drift.Error:
		return "Error"
	case drift.Extra:
		return "Extra"
	}
	return "In sync"
}

// mdSeverity renders a diff's severity, critical in bold.
func mdSeverity(s drift.Severity) string {
	if s == drift.SeverityCritical {
		return "**critical**"
	}
	return mdText(string(s))
}

func changeName(t drift.DiffType) string {
	switch t {
	case drift.Removed:
		return "removed"
	case drift.Reordered:
		return "order differs"
	case drift.Added:
		return "added by hand (not in Git)"
	}
	return "changed"
}

// mdValues renders the desired and live cells of a diff. A sensitive diff
// shows its hashes only, whatever Desired and Live hold.
func mdValues(d drift.FieldDiff) (desired, live string) {
	const secret = "(secret value, not shown)"
	if d.Sensitive {
		desired, live = secret, secret
		if d.DesiredHash != "" {
			desired += " " + mdCode(d.DesiredHash, true)
		}
		if d.LiveHash != "" {
			live += " " + mdCode(d.LiveHash, true)
		}
	} else {
		desired, live = mdCode(plainValue(d.Desired), true), mdCode(plainValue(d.Live), true)
	}
	switch d.Type {
	case drift.Removed:
		live = "*(absent)*"
	case drift.Added:
		desired = "*(not in Git)*"
	}
	return desired, live
}

// mdOwner renders ChangedBy as "manager (Operation subresource, time)":
// "kubectl (Update scale, no time recorded)".
func mdOwner(c *drift.ChangedBy) string {
	if c == nil {
		return ""
	}
	var detail []string
	if op := changerOperation(c); op != "" {
		detail = append(detail, mdText(op))
	}
	if c.Time != nil {
		detail = append(detail, fmtTime(*c.Time))
	} else {
		detail = append(detail, noTimeRecorded)
	}
	s := mdText(c.Manager)
	if len(detail) > 0 {
		s += " (" + strings.Join(detail, ", ") + ")"
	}
	return s
}

// mdCode renders s as a code span: a fence longer than any run of
// backticks in s, padded when s starts or ends with a backtick. In a table
// cell (inTable) pipes are escaped, which GFM honours inside code spans.
func mdCode(s string, inTable bool) string {
	s = oneLine(s)
	if s == "" {
		return ""
	}
	run, longest := 0, 0
	for _, c := range s {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") ||
		(strings.HasPrefix(s, " ") && strings.HasSuffix(s, " ")) {
		s = " " + s + " "
	}
	if inTable {
		s = strings.ReplaceAll(s, "|", `\|`)
	}
	fence := strings.Repeat("`", longest+1)
	return fence + s + fence
}

// mdText escapes s for markdown text (a paragraph, list item or table
// cell): HTML special characters become entities, markdown punctuation is
// backslash-escaped (@ and # too, so that no text mentions a user or links
// an issue), line breaks become spaces.
func mdText(s string) string {
	s = oneLine(s)
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\\', '`', '*', '_', '[', ']', '|', '~', '#', '!', '@':
			b.WriteByte('\\')
			b.WriteRune(c)
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// MarkdownText, MarkdownCode and OneLine escape text for a markdown
// report made elsewhere (the fleet's, drift/fleet) as this package's own
// reports escape theirs.
func MarkdownText(s string) string { return mdText(s) }

// MarkdownCode: see MarkdownText.
func MarkdownCode(s string, inTable bool) string { return mdCode(s, inTable) }

// OneLine: see MarkdownText.
func OneLine(s string) string { return oneLine(s) }

// oneLine replaces line breaks (Unicode's too) and other control
// characters with spaces and drops invalid UTF-8.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

// The helpers below are shared by the markdown, JUnit and SARIF reports.

// plainValue renders a value as compact JSON, without HTML escaping (each
// format escapes for itself), cut after maxValue bytes on a rune boundary.
func plainValue(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	var s string
	if err := enc.Encode(v); err != nil {
		s = fmt.Sprint(v)
	} else {
		s = strings.TrimSuffix(buf.String(), "\n")
	}
	return truncate(oneLine(s), maxValue)
}

// truncate cuts s after at most n bytes, on a rune boundary, marking the
// cut with an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// noTimeRecorded is what every format says of a managedFields entry that
// records no time (kubectl v1.37's scale entries can lack one), rather than
// leaving the reader to wonder whether the time was dropped.
const noTimeRecorded = "no time recorded"

// describeChanger names the owner of the live value, with the subresource
// the change went through: "kubectl-edit Update 2026-11-24 10:42:00 UTC",
// "kubectl Update scale, no time recorded"; "" when unknown.
func describeChanger(c *drift.ChangedBy) string {
	if c == nil {
		return ""
	}
	s := changerOperation(c)
	if c.Manager != "" {
		s = strings.TrimSpace(c.Manager + " " + s)
	}
	if c.Time != nil {
		s += " " + fmtTime(*c.Time)
	} else {
		s += ", " + noTimeRecorded
	}
	return oneLine(s)
}

// changerOperation is c's operation and subresource: "Update scale".
func changerOperation(c *drift.ChangedBy) string {
	return strings.TrimSpace(c.Operation + " " + c.Subresource)
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") }

func shortCommit(c string) string { return c[:min(12, len(c))] }

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
