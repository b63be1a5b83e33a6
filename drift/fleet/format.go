package fleet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/output"
)

// Formats lists the names Write accepts.
var Formats = []string{"text", "json", "markdown"}

// Write prints v in format: "text" (a summary line and tables, for a
// terminal), "json" (the View itself, indented) or "markdown" (headings
// and GitHub tables, for a pull request comment). The output depends only
// on v: clusters and resources are printed in the View's order (see
// View), times in UTC as RFC 3339, and a resource by its paths, never a
// value (a View holds none).
func Write(w io.Writer, format string, v View) error {
	v = normalize(v)
	var b bytes.Buffer
	switch format {
	case "text":
		writeText(&b, v)
	case "json":
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("fleet view: %w", err)
		}
	case "markdown":
		writeMarkdown(&b, v)
	default:
		return fmt.Errorf("fleet format %q: unknown (want %s)", format, strings.Join(Formats, ", "))
	}
	_, err := w.Write(b.Bytes())
	return err
}

// normalize copies v with every time in UTC and no null list, so that
// two equal views print the same bytes wherever they were built.
func normalize(v View) View {
	out := View{GeneratedAt: v.GeneratedAt.UTC(), Summary: v.Summary,
		Clusters: make([]Cluster, len(v.Clusters)), Resources: make([]Resource, len(v.Resources))}
	if out.Summary.ByState == nil {
		out.Summary.ByState = map[State]int{}
	}
	if out.Summary.BySeverity == nil {
		out.Summary.BySeverity = map[string]int{}
	}
	for i, c := range v.Clusters {
		c.CheckedAt, c.Since = utc(c.CheckedAt), utc(c.Since)
		srcs := make([]Source, len(c.Sources))
		for j, s := range c.Sources {
			s.CheckedAt = utc(s.CheckedAt)
			srcs[j] = s
		}
		c.Sources = srcs
		out.Clusters[i] = c
	}
	for i, r := range v.Resources {
		r.ChangedAt, r.FirstSeen, r.LastChanged = utc(r.ChangedAt), utc(r.FirstSeen), utc(r.LastChanged)
		out.Resources[i] = r
	}
	return out
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// summaryLine says the view in one sentence: "3 clusters: 1 in sync, 1
// drifted (2 resources: 1 critical, 1 warning, 0 info), 1 unreachable",
// then the resources that could not be checked, if any. States other than
// in sync and drifted are named only when some cluster is in them.
func summaryLine(s Summary) string {
	var b strings.Builder
	b.WriteString(plural(s.Clusters, "cluster", "clusters") + ": ")
	fmt.Fprintf(&b, "%d in sync, %d drifted", s.ByState[InSync], s.ByState[Drifted])
	if s.Drifted > 0 {
		parts := make([]string, 0, len(drift.Severities)+1)
		for _, sev := range drift.Severities {
			parts = append(parts, fmt.Sprintf("%d %s", s.BySeverity[string(sev)], sev))
		}
		if n := s.BySeverity[""]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d unclassified", n))
		}
		fmt.Fprintf(&b, " (%s: %s)", plural(s.Drifted, "resource", "resources"), strings.Join(parts, ", "))
	}
	for _, st := range States {
		if st == InSync || st == Drifted || s.ByState[st] == 0 {
			continue
		}
		fmt.Fprintf(&b, ", %d %s", s.ByState[st], st)
	}
	if s.Errors > 0 {
		fmt.Fprintf(&b, "; %s could not be checked", plural(s.Errors, "resource", "resources"))
	}
	return b.String()
}

func writeText(b *bytes.Buffer, v View) {
	b.WriteString(summaryLine(v.Summary) + "\n")
	if len(v.Clusters) > 0 {
		b.WriteString("\n")
		tw := newTable(b)
		fmt.Fprintln(tw, "NAME\tSTATE\tDRIFTED\tSEVERITY\tSOURCE\tREVISION\tCHECKED\tERROR")
		for _, c := range v.Clusters {
			src, rev := "-", "-"
			if len(c.Sources) > 0 {
				src, rev = dash(c.Sources[0].Policy), dash(shortRevision(c.Sources[0].Revision))
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", output.OneLine(c.Name), c.State, c.Drifted,
				dash(string(c.Severity)), output.OneLine(src), output.OneLine(rev), timeCell(c.CheckedAt), dash(output.OneLine(c.Error)))
			// A cluster compared with several sources shows each on its
			// own line.
			for _, s := range c.Sources[min(1, len(c.Sources)):] {
				fmt.Fprintf(tw, "\t\t\t\t%s\t%s\t\n", output.OneLine(dash(s.Policy)), output.OneLine(dash(shortRevision(s.Revision))))
			}
		}
		tw.flush()
	}
	drifted, failed := split(v.Resources)
	if len(drifted) > 0 {
		fmt.Fprintf(b, "\n%s:\n", plural(len(drifted), "drifted resource", "drifted resources"))
		tw := newTable(b)
		fmt.Fprintln(tw, "CLUSTER\tNAMESPACE\tKIND\tNAME\tSTATUS\tSEVERITY\tPATHS\tCHANGED-BY")
		for _, r := range drifted {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", output.OneLine(r.Cluster), dash(output.OneLine(r.Namespace)),
				output.OneLine(r.Kind), output.OneLine(r.Name), r.Status, dash(string(r.Severity)),
				dash(output.OneLine(pathList(r))), dash(output.OneLine(r.ChangedBy)))
		}
		tw.flush()
	}
	if len(failed) > 0 {
		fmt.Fprintf(b, "\n%s could not be checked:\n", plural(len(failed), "resource", "resources"))
		tw := newTable(b)
		fmt.Fprintln(tw, "CLUSTER\tNAMESPACE\tKIND\tNAME\tERROR")
		for _, r := range failed {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", output.OneLine(r.Cluster), dash(output.OneLine(r.Namespace)),
				output.OneLine(r.Kind), output.OneLine(r.Name), dash(output.OneLine(r.Description)))
		}
		tw.flush()
	}
}

func writeMarkdown(b *bytes.Buffer, v View) {
	fmt.Fprintf(b, "## Drift across %s\n\n", plural(v.Summary.Clusters, "cluster", "clusters"))
	fmt.Fprintf(b, "%s.\n\n", output.MarkdownText(summaryLine(v.Summary)))
	fmt.Fprintf(b, "Generated at %s.\n", v.GeneratedAt.Format(time.RFC3339))
	if len(v.Clusters) > 0 {
		b.WriteString("\n### Clusters\n\n")
		b.WriteString("| Cluster | State | Drifted | Severity | Source | Revision | Checked | Error |\n")
		b.WriteString("|---|---|---:|---|---|---|---|---|\n")
		for _, c := range v.Clusters {
			var srcs, revs []string
			for _, s := range c.Sources {
				srcs = append(srcs, output.MarkdownCode(s.Policy, true))
				revs = append(revs, output.MarkdownCode(shortRevision(s.Revision), true))
			}
			checked := ""
			if c.CheckedAt != nil {
				checked = c.CheckedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(b, "| %s | %s | %d | %s | %s | %s | %s | %s |\n", output.MarkdownText(c.Name), c.State, c.Drifted,
				c.Severity, strings.Join(srcs, "<br>"), strings.Join(revs, "<br>"), checked, output.MarkdownText(c.Error))
		}
	}
	drifted, failed := split(v.Resources)
	if len(drifted) > 0 {
		fmt.Fprintf(b, "\n### Drifted resources (%d)\n\n", len(drifted))
		b.WriteString("| Cluster | Namespace | Kind | Name | Status | Severity | Paths | Changed by |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|\n")
		for _, r := range drifted {
			paths := make([]string, 0, len(r.Paths)+1)
			for _, p := range r.Paths {
				paths = append(paths, output.MarkdownCode(p, true))
			}
			if r.MorePaths > 0 {
				paths = append(paths, fmt.Sprintf("%d more", r.MorePaths))
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", output.MarkdownText(r.Cluster), output.MarkdownText(r.Namespace),
				output.MarkdownText(r.Kind), output.MarkdownText(r.Name), r.Status, r.Severity, strings.Join(paths, "<br>"), output.MarkdownText(r.ChangedBy))
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(b, "\n### Not checked (%d)\n\n", len(failed))
		b.WriteString("| Cluster | Namespace | Kind | Name | Error |\n")
		b.WriteString("|---|---|---|---|---|\n")
		for _, r := range failed {
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", output.MarkdownText(r.Cluster), output.MarkdownText(r.Namespace),
				output.MarkdownText(r.Kind), output.MarkdownText(r.Name), output.MarkdownText(r.Description))
		}
	}
}

// table is a tabwriter whose lines lose their trailing padding when it
// is flushed into the report.
type table struct {
	out *bytes.Buffer
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newTable(out *bytes.Buffer) *table {
	t := &table{out: out}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 8, 2, ' ', 0)
	return t
}

func (t *table) Write(p []byte) (int, error) { return t.tw.Write(p) }

func (t *table) flush() {
	t.tw.Flush()
	for _, line := range strings.SplitAfter(t.buf.String(), "\n") {
		if line != "" {
			t.out.WriteString(strings.TrimRight(line, " \n") + "\n")
		}
	}
}

// split returns the resources that drifted and those that could not be
// checked, in the view's order; resources in sync are in neither.
func split(rs []Resource) (drifted, failed []Resource) {
	for _, r := range rs {
		switch {
		case r.IsDrift():
			drifted = append(drifted, r)
		case r.Status == drift.Error:
			failed = append(failed, r)
		}
	}
	return drifted, failed
}

// pathList is a resource's paths on one line, and how many are left out.
func pathList(r Resource) string {
	s := strings.Join(r.Paths, ", ")
	if r.MorePaths > 0 {
		s += " (+" + strconv.Itoa(r.MorePaths) + " more)"
	}
	return s
}

// shortRevision cuts a commit SHA to 12 characters and a digest to its
// algorithm and 12 characters, as the text report shows a commit.
func shortRevision(rev string) string {
	if alg, hex, ok := strings.Cut(rev, ":"); ok {
		return alg + ":" + hex[:min(12, len(hex))]
	}
	if len(rev) == 40 || len(rev) == 64 {
		return rev[:12]
	}
	return rev
}

func timeCell(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
