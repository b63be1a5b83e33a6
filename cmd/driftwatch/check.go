package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
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
	Output  string
	// SyncTimeout bounds the wait for the informers' first LIST.
	SyncTimeout time.Duration
	// ConfigFile holds ignore and sensitive rules; empty for none.
	ConfigFile string
	// Confirm is "" or "server" (server-side apply dry run of suspects).
	Confirm string
	// DetectExtra reports live objects with TrackingLabel that Git lacks.
	DetectExtra   bool
	TrackingLabel string
	// HashKeyFile keys the hashes of sensitive values.
	HashKeyFile string
	Now         func() time.Time
}

// sourceFlags are the flags that choose the desired state.
type sourceFlags struct {
	Repo, Ref, Path, Dir, CacheDir string
	Username                       string
	PasswordFile, TokenFile        string
	SSHKeyFile                     string
	KnownHosts                     []string
	InsecureSkipHostKey            bool
	Timeout                        time.Duration
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
	f.StringVar(&o.Source.Repo, "repo", "", "Git repository URL (https://, ssh://, git@host:path or file://)")
	f.StringVar(&o.Source.Ref, "ref", "", "branch, tag or commit SHA (default: the repository's default branch)")
	f.StringVar(&o.Source.Path, "path", "", "directory (or file) inside the repository to render")
	f.StringVar(&o.Source.Dir, "dir", "", "local directory to read instead of --repo")
	f.StringVar(&o.Source.CacheDir, "cache-dir", "", "where fetched repositories are kept between runs (default $XDG_CACHE_HOME/driftwatch/git)")
	f.StringVar(&o.Source.Username, "git-username", os.Getenv("DRIFTWATCH_GIT_USERNAME"), "HTTPS user name [$DRIFTWATCH_GIT_USERNAME]")
	f.StringVar(&o.Source.PasswordFile, "git-password-file", "", "file holding the HTTPS password (or use $DRIFTWATCH_GIT_PASSWORD)")
	f.StringVar(&o.Source.TokenFile, "git-token-file", "", "file holding an HTTPS access token (or use $DRIFTWATCH_GIT_TOKEN)")
	f.StringVar(&o.Source.SSHKeyFile, "ssh-key-file", "", "SSH private key for ssh:// and git@ URLs (default: ssh-agent)")
	f.StringSliceVar(&o.Source.KnownHosts, "ssh-known-hosts", nil, "known_hosts files to verify SSH host keys (default $SSH_KNOWN_HOSTS or ~/.ssh/known_hosts)")
	f.BoolVar(&o.Source.InsecureSkipHostKey, "insecure-skip-host-key-check", false, "do not verify the SSH host key (unsafe)")
	f.DurationVar(&o.Source.Timeout, "git-timeout", 2*time.Minute, "time allowed for fetching the repository")
	f.StringVar(&o.Cluster.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default $KUBECONFIG or ~/.kube/config; in a Pod, its service account)")
	f.StringVar(&o.Cluster.Context, "context", "", "kubeconfig context to use")
	f.StringVarP(&o.Cluster.Namespace, "namespace", "n", "", "namespace for namespaced objects that name none (default: the context's)")
	f.StringVarP(&o.Output, "output", "o", "text", "report format: text or json")
	f.DurationVar(&o.SyncTimeout, "sync-timeout", time.Minute, "time allowed for reading live objects")
	f.StringVar(&o.ConfigFile, "config", "", "configuration file with ignore and sensitive rules (driftwatch.dev/v1alpha1 Config)")
	f.StringVar(&o.Confirm, "confirm", "", `"server": confirm suspected drift with a server-side apply dry run (needs the patch verb)`)
	f.BoolVar(&o.DetectExtra, "detect-extra", false, "report live objects that carry the tracking label but are not in Git")
	f.StringVar(&o.TrackingLabel, "tracking-label", drift.DefaultTrackingLabel, "label (KEY=VALUE or KEY) marking objects Git manages, for --detect-extra")
	f.StringVar(&o.HashKeyFile, "hash-key-file", "", "key for the hashes shown for secret values (default $DRIFTWATCH_HASH_KEY, else a key kept in the cache directory)")
	return cmd
}

// validate checks flag combinations before anything slow happens.
func (o *checkOptions) validate() error {
	if (o.Source.Repo == "") == (o.Source.Dir == "") {
		return errors.New("flag: exactly one of --repo and --dir is required")
	}
	if o.Source.Dir != "" && o.Source.Ref != "" {
		return errors.New("flag: --ref needs --repo (a --dir is read as it is)")
	}
	if _, err := drift.ParseFormat(o.Output); err != nil {
		return fmt.Errorf("flag --output: %w", err)
	}
	if o.SyncTimeout <= 0 {
		return errors.New("flag --sync-timeout: must be positive")
	}
	if o.Confirm != "" && o.Confirm != "server" {
		return fmt.Errorf("flag --confirm: unknown value %q (want server)", o.Confirm)
	}
	if _, err := drift.ParseTrackingLabel(o.TrackingLabel); err != nil {
		return fmt.Errorf("flag --tracking-label: %w", err)
	}
	return nil
}

// auth reads credentials from the environment and the files named by flags.
func (sf sourceFlags) auth() (gitsource.Auth, error) {
	a := gitsource.Auth{
		Username:              sf.Username,
		Password:              os.Getenv("DRIFTWATCH_GIT_PASSWORD"),
		SSHKeyFile:            sf.SSHKeyFile,
		SSHKeyPassphrase:      os.Getenv("DRIFTWATCH_SSH_KEY_PASSPHRASE"),
		KnownHostsFiles:       sf.KnownHosts,
		InsecureIgnoreHostKey: sf.InsecureSkipHostKey,
	}
	if tok := os.Getenv("DRIFTWATCH_GIT_TOKEN"); tok != "" {
		a.Password = tok
	}
	for flag, file := range map[string]string{"--git-password-file": sf.PasswordFile, "--git-token-file": sf.TokenFile} {
		if file == "" {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return a, fmt.Errorf("flag %s: %w", flag, err)
		}
		a.Password = strings.TrimSpace(string(b))
	}
	return a, nil
}

func (o *checkOptions) logf(format string, args ...any) {
	fmt.Fprintf(o.Err, format+"\n", args...)
}

func checkRun(ctx context.Context, o *checkOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	var cfg *drift.Config
	if o.ConfigFile != "" {
		var err error
		if cfg, err = drift.LoadConfig(o.ConfigFile); err != nil {
			return err
		}
	}
	hashKey, err := loadHashKey(o.HashKeyFile)
	if err != nil {
		return err
	}
	auth, err := o.Source.auth()
	if err != nil {
		return err
	}
	if auth.InsecureIgnoreHostKey {
		o.logf("warning: SSH host key verification is off (--insecure-skip-host-key-check)")
	}
	desired, err := gitsource.Load(ctx, gitsource.Options{
		URL: o.Source.Repo, Ref: o.Source.Ref, Path: o.Source.Path, Dir: o.Source.Dir,
		CacheDir: o.Source.CacheDir, Auth: auth, Timeout: o.Source.Timeout,
	})
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
	targets, scopes := drift.Plan(ctx, informer.NewResolver(cl.Discovery), desired.Objects, cl.Namespace)

	mgr := informer.NewManager(dyn, informer.Options{})
	defer mgr.Stop()
	mgr.Ensure(scopes...)
	syncCtx, cancel := context.WithTimeout(ctx, o.SyncTimeout)
	scopeErrs := mgr.WaitForSync(syncCtx, scopes...)
	cancel()
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	o.logf("read live state through %d informers", len(scopes))

	ev := &drift.Evaluator{
		Live: mgr, Config: cfg, HashKey: hashKey,
		Schemas: informer.NewSchemas(cl.Discovery, cacheSubdir("openapi")),
	}
	if o.Confirm == "server" {
		ev.Confirm = drift.ServerConfirmer{Client: dyn}
	}
	resources := ev.Evaluate(ctx, targets, scopeErrs)
	if o.DetectExtra {
		sel, _ := drift.ParseTrackingLabel(o.TrackingLabel)
		resources = append(resources, drift.FindExtra(targets, scopes, mgr, sel, scopeErrs)...)
	}
	report := drift.NewReport(o.Now(), desired.Revision, cl.Info, resources)
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
