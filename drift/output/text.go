package output

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/driftwatch/driftwatch/drift"
)

// maxValue bounds a value shown in the text report.
const maxValue = 120

// ANSI SGR sequences of the coloured text report.
const (
	sgrReset   = "\x1b[0m"
	sgrBold    = "\x1b[1m"
	sgrDim     = "\x1b[2m"
	sgrRed     = "\x1b[31m"
	sgrGreen   = "\x1b[32m"
	sgrYellow  = "\x1b[33m"
	sgrMagenta = "\x1b[35m"
	sgrCyan    = "\x1b[36m"
)

// palette colours the parts of the text report, or leaves them alone when
// colour is off. The writer paints each part as it writes it, so nothing
// depends on what the values hold.
type palette struct{ color bool }

func (p palette) paint(s, sgr string) string {
	if !p.color || s == "" {
		return s
	}
	return sgr + s + sgrReset
}

// status paints a status word: bold, in the status's colour.
func (p palette) status(s drift.Status) string {
	c := sgrGreen
	switch s {
	case drift.Drifted:
		c = sgrYellow
	case drift.Missing:
		c = sgrRed
	case drift.Error:
		c = sgrMagenta
	case drift.Extra:
		c = sgrCyan
	}
	return p.paint(statusLabel(s), sgrBold+c)
}

// severity paints a severity tag, "  (critical)": critical in bold red,
// warning in yellow, info dim; nothing for no severity.
func (p palette) severity(s drift.Severity) string {
	if s == "" {
		return ""
	}
	c := sgrDim
	switch s {
	case drift.SeverityCritical:
		c = sgrBold + sgrRed
	case drift.SeverityWarning:
		c = sgrYellow
	}
	return "  " + p.paint("("+string(s)+")", c)
}

func (p palette) desired(s string) string { return p.paint(s, sgrGreen) }
func (p palette) live(s string) string    { return p.paint(s, sgrRed) }
func (p palette) owner(s string) string   { return p.paint(s, sgrDim) }

func writeText(b *bytes.Buffer, r *drift.Report, p palette) {
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
	if src.Digest != "" {
		fmt.Fprintf(b, "Digest:  %s", src.Digest)
		if src.Subject != "" && src.Commit == "" {
			fmt.Fprintf(b, " %q", src.Subject)
		}
		b.WriteByte('\n')
	}
	if s := skippedSummary(src.Skipped); s != "" {
		fmt.Fprintf(b, "Skipped: %s, not desired state\n", s)
	}
	fmt.Fprintf(b, "Cluster: %s", r.Cluster.Server)
	if r.Cluster.Context != "" {
		fmt.Fprintf(b, " (context %s)", r.Cluster.Context)
	}
	b.WriteString("\n\n")
	for _, n := range r.Notices() {
		b.WriteString("! " + n + "\n\n")
	}
	for _, res := range bySeverity(r.Resources) {
		if res.Status == drift.InSync && len(res.Warnings) == 0 && len(res.NotCompared) == 0 {
			continue
		}
		// The status word padded to 8 columns, the padding left uncoloured.
		label := statusLabel(res.Status)
		fmt.Fprintf(b, "%s%s %s %s\n", p.status(res.Status), strings.Repeat(" ", max(0, 8-len(label))), res.APIVersion, res.ID())
		for _, w := range res.Warnings {
			b.WriteString("  ! warning: " + w + "\n")
		}
		switch res.Status {
		case drift.Drifted:
			for _, d := range res.Diffs {
				mark := "  ~ "
				if d.Type == drift.Added {
					mark = "  + "
				}
				b.WriteString(mark + d.Path + ": " + p.describeDiff(d) + p.owner(describeOwner(d.ChangedBy)) + p.severity(d.Severity) + "\n")
			}
		case drift.Error:
			b.WriteString("  ! " + res.Error + "\n")
		case drift.Missing:
			b.WriteString("  - not found in the cluster" + p.severity(res.Severity) + "\n")
		case drift.Extra:
			b.WriteString("  + in the cluster with the tracking label, not in Git" + p.severity(res.Severity) + "\n")
		}
		if res.Status != drift.Error && res.Status != drift.Missing {
			for _, p := range res.NotCompared {
				if why := res.NotComparedWhy[p]; why != "" {
					b.WriteString("  ? " + p + ": " + why + ": not compared\n")
					continue
				}
				b.WriteString("  ? " + p + ": encrypted in Git (SOPS), not compared\n")
			}
		}
		if res.IgnoredFields > 0 {
			fmt.Fprintf(b, "  (%d drifted fields ignored by rules)\n", res.IgnoredFields)
		}
	}
	// Objects no key could open are listed apart: they have no status.
	for _, o := range r.NotCompared {
		reason := o.Reason
		if reason == "" {
			reason = o.Describe()
		}
		b.WriteString("? " + o.Label() + ": " + reason + ": not compared\n")
	}
	s := r.Summary
	if b.Len() > 0 && b.Bytes()[b.Len()-1] == '\n' && !bytes.HasSuffix(b.Bytes(), []byte("\n\n")) {
		b.WriteByte('\n')
	}
	if s.Critical+s.Warning+s.Info > 0 {
		fmt.Fprintf(b, "By severity: %d critical, %d warning, %d info\n", s.Critical, s.Warning, s.Info)
	}
	fmt.Fprintf(b, "%d %s: %d in sync, %d drifted, %d missing, %d errors", s.Total, pluralWord(s.Total, "resource", "resources"), s.InSync, s.Drifted, s.Missing, s.Errors)
	if s.Extra > 0 {
		fmt.Fprintf(b, ", %d extra", s.Extra)
	}
	if s.NotCompared > 0 {
		fmt.Fprintf(b, "; %d not compared (SOPS, no key)", s.NotCompared)
	}
	if s.Excluded > 0 {
		fmt.Fprintf(b, "; %d excluded by targeting", s.Excluded)
	}
	if s.IgnoredFields > 0 {
		fmt.Fprintf(b, " (%d drifted fields ignored)", s.IgnoredFields)
	}
	b.WriteByte('\n')
}

// bySeverity returns the resources most severe first, in their report
// order within a severity; those without one (in sync, errors) last.
func bySeverity(rs []drift.Resource) []drift.Resource {
	out := slices.Clone(rs)
	slices.SortStableFunc(out, func(a, b drift.Resource) int { return b.Severity.Compare(a.Severity) })
	return out
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

// describeDiff says how a field differs, without colour (the JUnit and
// SARIF reports use it too).
func describeDiff(d drift.FieldDiff) string { return palette{}.describeDiff(d) }

// describeDiff says how a field differs, the desired value in the desired
// colour and the live one in the live colour. A secret's values are never
// shown, nor coloured: only its hashes, plain.
func (p palette) describeDiff(d drift.FieldDiff) string {
	switch {
	case d.Sensitive && d.Type == drift.Added:
		s := "secret value added by hand, not in Git (not shown"
		if d.LiveHash != "" {
			s += "; live " + d.LiveHash
		}
		return s + ")"
	case d.Type == drift.Added:
		return "not in Git, added by hand: live " + p.live(show(d.Live))
	case d.Sensitive && d.Type == drift.Removed:
		return "secret value removed (not shown" + hashes(d) + ")"
	case d.Sensitive:
		return "secret value differs (not shown" + hashes(d) + ")"
	case d.Type == drift.Removed:
		return "desired " + p.desired(show(d.Desired)) + ", live " + p.live("absent")
	case d.Type == drift.Reordered:
		return "order differs: desired " + p.desired(showItems(d.Desired)) + ", live " + p.live(showItems(d.Live))
	}
	// An atomic map or list differs as a whole: say where inside it, so
	// the part that differs is never cut off (-o json has both wholes).
	if where, dv, dok, lv, lok, ok := drift.FirstDifference(d.Desired, d.Live); ok {
		desired, live := "absent", "absent"
		if dok {
			desired = show(dv)
		}
		if lok {
			live = show(lv)
		}
		return "differs at " + where + ": desired " + p.desired(desired) + ", live " + p.live(live)
	}
	return "desired " + p.desired(show(d.Desired)) + ", live " + p.live(show(d.Live))
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

// describeOwner says who set the live value, as describeChanger does:
// "  [kubectl-edit Update 2026-11-24 10:42:00 UTC]", "  [kubectl Update
// scale, no time recorded]".
func describeOwner(c *drift.ChangedBy) string {
	if c == nil {
		return ""
	}
	s := "  [" + describeChanger(c)
	if c.Applier {
		// Nobody changed it after Git was applied: the applier itself
		// stored this value (a default, a webhook's mutation).
		s += ", Git's own applier: not a later change"
	}
	return s + "]"
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// skippedSummary says how many rendered objects were left out, by reason:
// "3 (helm hook pre-install: 2, helm test: 1)".
func skippedSummary(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	reasons := make([]string, 0, len(m))
	total := 0
	for r, n := range m {
		reasons = append(reasons, fmt.Sprintf("%s: %d", r, n))
		total += n
	}
	sort.Strings(reasons)
	return fmt.Sprintf("%d (%s)", total, strings.Join(reasons, ", "))
}
