package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/output"
	"github.com/driftwatch/driftwatch/drift/pipeline"
	"github.com/driftwatch/driftwatch/drift/pipeline/reports"
	"github.com/driftwatch/driftwatch/gitsource"
)

// checkOptions holds the flags of `driftwatch check` and its injected I/O.
type checkOptions struct {
	streams
	Source  sourceFlags
	Cluster clusterOptions
	Compare compareFlags
	Target  targetFlags
	Outputs []string
	Color   string
	// ExitCodeOnDrift is the exit status when drift is found.
	ExitCodeOnDrift int
	// OnResourceError decides what resources that could not be checked do
	// to the exit status: auto, fail or report.
	OnResourceError string
	// FailOn is the least severity of drift that fails the check
	// (critical, warning or info); empty is info: any drift.
	FailOn string
	// Reports publishes the findings in the cluster: "openreports",
	// "policyreport", or empty for none.
	Reports string
	// Fleet checks the clusters of a fleet file (checkfleet.go).
	Fleet checkFleetFlags
	Now   func() time.Time
}

func newCmdCheck(s streams, runF func(context.Context, *checkOptions) error) *cobra.Command {
	o := &checkOptions{streams: s, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "check (--repo URL [--ref REF] | --dir DIR) [--path PATH]",
		Short: "Compare Git with the cluster once and report drift",
		Long: `check renders the desired state, reads the matching live objects and prints a drift
report (to stdout, or to files with -o FORMAT=PATH). Git credentials come from the environment or
from files, never from flag values.

Exit codes: 0 in sync, 1 drift found (of at least --fail-on), 2 error; --on-resource-error says
what objects that could not be checked do.`,
		Example: `  driftwatch check --repo https://github.com/acme/deploy.git --ref main --path overlays/prod
  driftwatch check --dir . --path k8s -o text -o sarif=drift.sarif --fail-on critical
  DRIFTWATCH_GIT_TOKEN=... driftwatch check --repo https://git.example.com/ops.git --ref v1.4.2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return checkRun(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	o.Source.register(f)
	o.Cluster.register(f)
	o.Compare.register(f)
	o.Target.register(f)
	o.Fleet.register(f)
	f.StringArrayVarP(&o.Outputs, "output", "o", []string{"text"}, "report format, to stdout (FORMAT) or a file (FORMAT=PATH), repeatable: "+formatNames())
	f.StringVar(&o.Color, "color", "auto", "colour the text report: auto (a terminal, unless NO_COLOR is set), always or never")
	f.IntVar(&o.ExitCodeOnDrift, "exit-code-on-drift", exitDrift, "exit status when drift is found (0 to report without failing)")
	f.StringVar(&o.OnResourceError, "on-resource-error", "auto", "exit status when some resource could not be checked: auto (2 unless drift was found), fail (always 2) or report (unchanged)")
	f.StringVar(&o.FailOn, "fail-on", "info", "least severity of drift that fails the check: critical, warning or info (any drift)")
	f.StringVar(&o.Reports, "reports", "", "publish the findings in the cluster: openreports or policyreport")
	return cmd
}

// validate checks flag combinations before anything slow happens.
func (o *checkOptions) validate() error {
	if _, err := parseOutputs(o.Outputs); err != nil {
		return err
	}
	if _, err := useColor(o.Color, o.Out); err != nil {
		return err
	}
	if o.ExitCodeOnDrift < 0 || o.ExitCodeOnDrift > 255 || o.ExitCodeOnDrift == exitError {
		return fmt.Errorf("flag --exit-code-on-drift: %d is not a usable exit status (0-255, not 2)", o.ExitCodeOnDrift)
	}
	switch o.OnResourceError {
	case "auto", "fail", "report":
	default:
		return fmt.Errorf("flag --on-resource-error: %q is not auto, fail or report", o.OnResourceError)
	}
	if _, err := severityFlag("fail-on", o.FailOn); err != nil {
		return err
	}
	if o.Reports != "" {
		if _, err := reports.ParseFormat(o.Reports); err != nil {
			return fmt.Errorf("flag --reports: %w", err)
		}
	}
	return nil
}

func (o *checkOptions) logf(format string, args ...any) {
	fmt.Fprintf(o.Err, format+"\n", args...)
}

func formatNames() string {
	var names []string
	for _, f := range output.Formats {
		names = append(names, string(f))
	}
	return strings.Join(names, ", ")
}

func checkRun(ctx context.Context, o *checkOptions) error {
	if o.Fleet.File != "" {
		return checkFleetRun(ctx, o)
	}
	if err := o.validate(); err != nil {
		return err
	}
	st, err := prepare(o.Source, o.Compare, o.Target)
	if err != nil {
		return err
	}
	if st.source.Auth.InsecureIgnoreHostKey {
		o.logf("warning: SSH host key verification is off (--insecure-skip-host-key-check)")
	}
	prog := newProgress(o.Err)
	defer prog.done()
	var publisher *reports.Publisher
	report, err := pipeline.Check(ctx, pipeline.CheckOptions{
		Options: st.pipeline,
		Source:  st.source,
		Connect: func(ctx context.Context) (*pipeline.Cluster, error) {
			cl, err := connect(ctx, o.Cluster)
			if err != nil || o.Reports == "" {
				return cl, err
			}
			// A cluster without the report CRDs is found before the check
			// runs, not after.
			if publisher, err = newPublisher(ctx, cl, o.Reports, 0); err != nil {
				return nil, err
			}
			return cl, nil
		},
		Now:      o.Now,
		Progress: prog.step,
		Warn:     func(msg string) { o.logf("warning: %s", msg) },
	})
	if err != nil {
		return err
	}
	prog.done()
	specs, _ := parseOutputs(o.Outputs)
	color, _ := useColor(o.Color, o.Out)
	if err := writeOutputs(specs, report, o.Out, color); err != nil {
		return err
	}
	if publisher != nil {
		publisher.Policy = reports.Policy(report.Source)
		st, err := publisher.Publish(ctx, reports.Build(*report, reports.Limits{}, o.Now()))
		if err != nil {
			return fmt.Errorf("flag --reports: %w", err)
		}
		o.logf("reports: %d written, %d unchanged, %d deleted", st.Written, st.Unchanged, st.Deleted)
	}
	threshold, _ := severityFlag("fail-on", o.FailOn)
	if t := thresholdOf(report, threshold); t.fieldsBelow+t.resourcesBelow > 0 && !t.failing {
		var parts []string
		if t.fieldsBelow > 0 {
			parts = append(parts, plural(t.fieldsBelow, "drifted field", "drifted fields"))
		}
		if t.resourcesBelow > 0 {
			parts = append(parts, plural(t.resourcesBelow, "missing or extra resource", "missing or extra resources"))
		}
		o.logf("note: %s below --fail-on=%s: not failing", strings.Join(parts, " and "), threshold)
	}
	return o.exitStatus(report)
}

// threshold is what --fail-on makes of a report's drift.
type threshold struct {
	// failing: some drift reaches the threshold.
	failing bool
	// fieldsBelow and resourcesBelow count the drifted fields, and the
	// Missing and Extra resources, under it.
	fieldsBelow, resourcesBelow int
}

func thresholdOf(r *drift.Report, least drift.Severity) threshold {
	var t threshold
	for _, res := range r.Resources {
		switch res.Status {
		case drift.Drifted:
			if len(res.Diffs) == 0 {
				t.failing = t.failing || passes(res.Severity, least)
			}
			for _, d := range res.Diffs {
				if passes(d.Severity, least) {
					t.failing = true
				} else {
					t.fieldsBelow++
				}
			}
		case drift.Missing, drift.Extra:
			if passes(res.Severity, least) {
				t.failing = true
			} else {
				t.resourcesBelow++
			}
		}
	}
	return t
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// exitStatus maps a report to the exit status, as the flags ask. Drift
// below --fail-on counts as none: with errors, auto exits 2.
func (o *checkOptions) exitStatus(r *drift.Report) error {
	least, _ := severityFlag("fail-on", o.FailOn)
	errs := r.HasErrors() && o.OnResourceError != "report"
	switch {
	case errs && o.OnResourceError == "fail":
		return exitCodeError{exitError}
	case thresholdOf(r, least).failing:
		if o.ExitCodeOnDrift == 0 {
			return nil
		}
		return exitCodeError{o.ExitCodeOnDrift}
	case errs:
		return exitCodeError{exitError}
	}
	return nil
}

func describeRevision(r gitsource.Revision) string {
	s := r.URL
	if r.Path != "" {
		s += " (path " + r.Path + ")"
	}
	if r.Commit != "" {
		s += " at " + r.Commit[:min(12, len(r.Commit))]
	}
	return s
}
