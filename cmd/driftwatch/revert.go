package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline"
)

// revertOptions holds the flags of `driftwatch revert` and its injected I/O.
type revertOptions struct {
	streams
	Source  sourceFlags
	Cluster clusterOptions
	Compare compareFlags
	Target  targetFlags
	// Output is text or json.
	Output       string
	FieldManager string
	RemoveAdded  bool
	Prune        bool
	DryRun       bool
	Now          func() time.Time
}

func newCmdRevert(s streams) *cobra.Command {
	o := &revertOptions{streams: s, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "revert (--repo URL [--ref REF] | --dir DIR) [--path PATH]",
		Short: "Put Git's desired state back on the objects that drifted",
		Long: `revert runs the same check as check, then acts on what it found, and only on that: Drifted
objects get Git's state back by server-side apply, as the field manager that applied Git; Missing
ones are created; fields added by hand are removed only with --remove-added, Extra objects
deleted only with --prune. Each object is compared again just before it is written; --dry-run
writes nothing. It needs write verbs: driftwatch rbac --for revert prints that role.

Exit codes: 0 everything reverted (or nothing to do), 2 any failure or bad input.`,
		Example: `  driftwatch revert --repo https://github.com/acme/deploy.git --path overlays/prod --dry-run
  driftwatch revert --dir . --path k8s --kinds Deployment --names web
  driftwatch revert --dir . --detect-extra --prune --remove-added -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return revertRun(cmd.Context(), o) },
	}
	f := cmd.Flags()
	o.Source.register(f)
	o.Cluster.register(f)
	o.Compare.register(f)
	o.Target.register(f)
	f.StringVarP(&o.Output, "output", "o", "text", "what revert did, to stdout: text or json")
	f.StringVar(&o.FieldManager, "field-manager", "", `apply Git as this field manager (default: the manager that applied Git, from managedFields, else "`+pipeline.DefaultRevertFieldManager+`")`)
	f.BoolVar(&o.RemoveAdded, "remove-added", false, "also remove fields added by hand that Git does not set (Added)")
	f.BoolVar(&o.Prune, "prune", false, "also delete Extra objects: tracked live objects Git no longer has (needs --detect-extra)")
	f.BoolVar(&o.DryRun, "dry-run", false, "server-side dry run: print what would change, write nothing")
	return cmd
}

// validate checks the revert flags before anything slow happens.
func (o *revertOptions) validate() error {
	if o.Output != "text" && o.Output != "json" {
		return fmt.Errorf("flag --output: unknown format %q (want text or json)", o.Output)
	}
	if o.Prune && !o.Compare.DetectExtra {
		return errors.New("flag --prune: needs --detect-extra (the tracking label says which objects are Git's)")
	}
	if o.FieldManager != "" {
		// The API server's own limits, checked before anything is read.
		if len(o.FieldManager) > 128 {
			return fmt.Errorf("flag --field-manager: %d characters, at most 128", len(o.FieldManager))
		}
		if strings.IndexFunc(o.FieldManager, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
			return fmt.Errorf("flag --field-manager: %q has characters that are not printable", o.FieldManager)
		}
	}
	return nil
}

func revertRun(ctx context.Context, o *revertOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	st, err := prepare(o.Source, o.Compare, o.Target)
	if err != nil {
		return err
	}
	logf := func(format string, args ...any) { fmt.Fprintf(o.Err, format+"\n", args...) }
	if st.source.Auth.InsecureIgnoreHostKey {
		logf("warning: SSH host key verification is off (--insecure-skip-host-key-check)")
	}
	prog := newProgress(o.Err)
	defer prog.done()
	_, res, err := pipeline.Revert(ctx, pipeline.RevertRunOptions{
		CheckOptions: pipeline.CheckOptions{
			Options:  st.pipeline,
			Source:   st.source,
			Connect:  func(ctx context.Context) (*pipeline.Cluster, error) { return connect(ctx, o.Cluster) },
			Now:      o.Now,
			Progress: prog.step,
			Warn:     func(msg string) { logf("warning: %s", msg) },
		},
		Revert: pipeline.RevertOptions{FieldManager: o.FieldManager, RemoveAdded: o.RemoveAdded, Prune: o.Prune, DryRun: o.DryRun},
	})
	if err != nil {
		return err
	}
	prog.done()
	if o.DryRun {
		logf("dry run: the API server checked each change and stored none")
	}
	var buf bytes.Buffer
	if o.Output == "json" {
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		writeRevertText(&buf, res)
	}
	if _, err := o.Out.Write(buf.Bytes()); err != nil {
		return err
	}
	if res.HasFailures() {
		return exitCodeError{exitError}
	}
	return nil
}

// writeRevertText prints one line per resource acted on, the fields that
// changed below it, and a summary. Values are those of the report: a
// Secret's never appear.
func writeRevertText(w io.Writer, r *pipeline.RevertResult) {
	verb := func(done, would string) string {
		if r.DryRun {
			return would
		}
		return done
	}
	for _, rr := range r.Resources {
		line := rr.ID() + ": "
		switch rr.Action {
		case pipeline.RevertApplied:
			line += verb("reverted", "would revert")
			if rr.FieldManager != "" {
				line += fmt.Sprintf(", applied as %q", rr.FieldManager)
			}
		case pipeline.RevertCreated:
			line += verb("created", "would create") + fmt.Sprintf(", applied as %q", rr.FieldManager)
			var why []string
			for _, w := range []string{rr.FieldManagerReason, rr.Reason} {
				if w != "" {
					why = append(why, w)
				}
			}
			if len(why) > 0 {
				line += " (" + strings.Join(why, "; ") + ")"
			}
		case pipeline.RevertDeleted:
			line += verb("deleted", "would delete") + " (not in Git)"
		case pipeline.RevertSkipped:
			line += "left: " + rr.Reason
		case pipeline.RevertFailed:
			line += "failed: " + rr.Error
		}
		if len(rr.Forced) > 0 {
			var taken []string
			for _, c := range rr.Forced {
				taken = append(taken, fmt.Sprintf("%s from %q", c.Path, c.Manager))
			}
			line += "; forced " + strings.Join(taken, ", ")
		}
		fmt.Fprintln(w, line)
		for _, d := range rr.Changed {
			fmt.Fprintln(w, "  "+describeChange(d))
		}
		if rr.Action == pipeline.RevertApplied && len(rr.Changed) == 0 {
			fmt.Fprintln(w, "  (no field "+verb("changed", "would change")+": the API server already stores Git's values)")
		}
		for _, p := range rr.LeftAdded {
			fmt.Fprintf(w, "  + %s: added by hand, left (pass --remove-added)\n", p)
		}
	}
	s := r.Summary
	prefix := "Revert"
	if r.DryRun {
		prefix = "Revert (dry run)"
	}
	fmt.Fprintf(w, "%s: %d reverted, %d created, %d deleted, %d left, %d failed; %d already in sync\n",
		prefix, s.Reverted, s.Created, s.Deleted, s.Skipped, s.Failed, s.InSync)
}

// describeChange is one changed field: live → Git, or removed.
func describeChange(d drift.FieldDiff) string {
	val := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			return "?"
		}
		s := string(b)
		if len(s) > 80 {
			s = s[:77] + "..."
		}
		return s
	}
	switch {
	case d.Sensitive && d.Type != drift.Added:
		return fmt.Sprintf("~ %s: set to Git's value (sensitive, not shown)", d.Path)
	case d.Type == drift.Added:
		by := ""
		if d.ChangedBy != nil {
			by = " by " + d.ChangedBy.Manager
		}
		return fmt.Sprintf("- %s: removed (added by hand%s)", d.Path, by)
	case d.Type == drift.Removed:
		return fmt.Sprintf("~ %s: (absent) → %s", d.Path, val(d.Desired))
	case d.Type == drift.Reordered:
		return fmt.Sprintf("~ %s: reordered as in Git", d.Path)
	}
	return fmt.Sprintf("~ %s: %s → %s", d.Path, val(d.Live), val(d.Desired))
}
