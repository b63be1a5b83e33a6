package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/informer"
)

// checkOptions holds the flags of `driftwatch check` and its injected I/O.
type checkOptions struct {
	streams
	Source  sourceFlags
	Cluster clusterOptions
	Compare compareFlags
	Target  targetFlags
	Output  string
	// DetectExtra reports live objects with TrackingLabel that Git lacks.
	DetectExtra   bool
	TrackingLabel string
	Now           func() time.Time
}

func newCmdCheck(s streams, runF func(context.Context, *checkOptions) error) *cobra.Command {
	o := &checkOptions{streams: s, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "check (--repo URL [--ref REF] | --dir DIR) [--path PATH]",
		Short: "Compare Git with the cluster once and report drift",
		Long: `check renders the desired state from Git (or a local directory), reads the
matching live objects through informers, and prints a drift report.

Git credentials come from the environment or from files, never from flag
values: DRIFTWATCH_GIT_USERNAME, DRIFTWATCH_GIT_PASSWORD, DRIFTWATCH_GIT_TOKEN,
DRIFTWATCH_SSH_KEY_PASSPHRASE, or --git-password-file / --git-token-file.

Exit codes: 0 in sync, 1 drift found (Drifted or Missing resources), 2 error.
Resources that could not be checked are reported as Error; when nothing
drifted but some resource errored, the exit code is 2.`,
		Example: `  driftwatch check --repo https://github.com/acme/deploy.git --ref main --path overlays/prod
  driftwatch check --dir . --path k8s --output json
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
	f.StringVarP(&o.Output, "output", "o", "text", "report format: text or json")
	f.BoolVar(&o.DetectExtra, "detect-extra", false, "report live objects that carry the tracking label but are not in Git")
	f.StringVar(&o.TrackingLabel, "tracking-label", drift.DefaultTrackingLabel, "label (KEY=VALUE or KEY) marking objects Git manages, for --detect-extra")
	return cmd
}

// validate checks flag combinations before anything slow happens.
func (o *checkOptions) validate() error {
	if err := o.Source.validate(); err != nil {
		return err
	}
	if err := o.Compare.validate(); err != nil {
		return err
	}
	if _, err := drift.ParseFormat(o.Output); err != nil {
		return fmt.Errorf("flag --output: %w", err)
	}
	if _, err := drift.ParseTrackingLabel(o.TrackingLabel); err != nil {
		return fmt.Errorf("flag --tracking-label: %w", err)
	}
	return nil
}

func (o *checkOptions) logf(format string, args ...any) {
	fmt.Fprintf(o.Err, format+"\n", args...)
}

func checkRun(ctx context.Context, o *checkOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	filter, err := o.Target.filter()
	if err != nil {
		return err
	}
	cfg, hashKey, err := o.Compare.load()
	if err != nil {
		return err
	}
	srcOpts, err := o.Source.options()
	if err != nil {
		return err
	}
	if srcOpts.Auth.InsecureIgnoreHostKey {
		o.logf("warning: SSH host key verification is off (--insecure-skip-host-key-check)")
	}
	desired, err := gitsource.Load(ctx, srcOpts)
	if err != nil {
		return err
	}
	o.logf("rendered %d objects from %s", len(desired.Objects), describeRevision(desired.Revision))

	cl, err := connect(ctx, o.Cluster)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cl.Config)
	if err != nil {
		return fmt.Errorf("cluster %s: %w", cl.Info.Server, err)
	}
	targets, _ := drift.Plan(ctx, informer.NewResolver(cl.Discovery), desired.Objects, cl.Namespace)
	targets, scopes, excluded := filter.Apply(targets)

	mgr, err := informer.NewManagerForConfig(cl.Config, o.Target.managerOptions(filter))
	if err != nil {
		return fmt.Errorf("cluster %s: %w", cl.Info.Server, err)
	}
	defer mgr.Stop()
	mgr.Ensure(scopes...)
	syncCtx, cancel := context.WithTimeout(ctx, o.Compare.SyncTimeout)
	scopeErrs := mgr.WaitForSync(syncCtx, scopes...)
	cancel()
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	o.logf("read live state through %d informers", len(scopes))

	ev := &drift.Evaluator{
		Live: mgr, Config: cfg, HashKey: hashKey, Warnings: mgr.Warnings,
		Schemas: informer.NewSchemas(cl.Discovery, cacheSubdir("openapi")),
	}
	if o.Compare.Confirm == "server" {
		ev.Confirm = drift.ServerConfirmer{Client: dyn}
	}
	resources := ev.Evaluate(ctx, targets, scopeErrs)
	if o.DetectExtra {
		sel, _ := drift.ParseTrackingLabel(o.TrackingLabel)
		resources = append(resources, drift.FindExtra(targets, scopes, mgr, sel, scopeErrs)...)
	}
	report := drift.NewReport(o.Now(), desired.Revision, cl.Info, resources)
	report.Summary.Excluded = excluded
	if err := drift.Write(o.Out, report, drift.Format(o.Output)); err != nil {
		return err
	}
	switch {
	case report.HasDrift():
		return exitCodeError{exitDrift}
	case report.HasErrors():
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
