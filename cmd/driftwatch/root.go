package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
)

// Exit codes, as kubectl diff uses them.
const (
	exitInSync = 0
	exitDrift  = 1
	exitError  = 2
)

// streams are the command's output: the report goes to Out, progress and
// errors to Err.
type streams struct {
	Out io.Writer
	Err io.Writer
}

// exitError carries an exit code out of a command without an error message
// (the report already said what there is to say).
type exitCodeError struct{ code int }

func (e exitCodeError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run executes the command line and returns the process exit code. Every
// error is printed as one line on Err.
func run(ctx context.Context, args []string, s streams) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(s.Err, "driftwatch: internal error: %v\n", r)
			code = exitError
		}
	}()
	quietKlog()
	root := newRootCmd(s)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var ec exitCodeError
	switch {
	case err == nil:
		return exitInSync
	case errors.As(err, &ec):
		return ec.code
	}
	fmt.Fprintf(s.Err, "driftwatch: error: %s\n", oneLine(err.Error()))
	return exitError
}

// oneLine folds a multi-line message (kustomize and HTTP bodies produce
// them) onto a single line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// quietKlog keeps client-go's own logging (retries, reflector errors) out
// of the output: failures reach the report as per-resource errors instead.
func quietKlog() {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
}

// debugKlog sends client-go's messages up to verbosity 4 (reflector
// restarts, watch expiry, retries; never request or response bodies,
// which start at 8) to log, and returns the function that silences it
// again.
func debugKlog(log *slog.Logger) (restore func()) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("v", "4")
	klog.SetSlogLogger(log)
	return func() {
		klog.ClearLogger()
		_ = fs.Set("v", "0")
		quietKlog()
	}
}

func parseLogLevel(s string) (slog.Level, error) {
	switch s {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("flag --log-level: unknown value %q (want debug, info, warn or error)", s)
}

func newRootCmd(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "driftwatch",
		Short: "Report how a Kubernetes cluster has drifted from Git",
		Long: `driftwatch compares the desired state in Git, a directory or an OCI artifact (plain YAML,
kustomize or Helm charts, SOPS-encrypted files decrypted) with the live objects in a cluster,
field by field, and reports what drifted and who changed it: once (check, in CI), or
continuously (watch, with metrics, a dashboard and webhooks). adopt writes the cluster's values
back into the source, revert puts Git's back on the cluster.

Exit codes: 0 in sync, 1 drift found, 2 error.`,
		Example: `  driftwatch check --repo https://github.com/acme/deploy.git --path overlays/prod
  driftwatch watch --dir /config --listen :8080 --webhook https://hooks.example.com/drift
  driftwatch rbac --dir . --subject serviceaccount:driftwatch/driftwatch | kubectl apply -f -`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.SetUsageFunc(usage)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return fmt.Errorf("flag: %w", err)
	})
	// Every flag can come from the environment, so a CronJob or Deployment
	// can be configured from a ConfigMap: --sync-timeout ← DRIFTWATCH_SYNC_TIMEOUT.
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return flagsFromEnv(cmd.Flags()) }
	if plugin := kubectlPluginName(); plugin != "" {
		// Installed as kubectl-drift: help reads "kubectl drift check ...".
		root.Use = strings.TrimPrefix(plugin, "kubectl ")
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: plugin}
	}
	root.AddCommand(newCmdCheck(s, nil), newCmdWatch(s), newCmdAdopt(s), newCmdRevert(s), newCmdRBAC(s), newCmdFleet(s), newCmdVersion(s), newCmdOptions(s), newCmdDocs(s))
	return root
}

// envPrefix prefixes the environment variable of every flag.
const envPrefix = "DRIFTWATCH_"

// flagEnvName is the environment variable for a flag: --git-timeout →
// DRIFTWATCH_GIT_TIMEOUT.
func flagEnvName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// flagsFromEnv sets every flag not given on the command line from its
// environment variable, if set. Flags given explicitly win.
func flagsFromEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		v, ok := os.LookupEnv(flagEnvName(f.Name))
		if !ok {
			return
		}
		values := []string{v}
		if f.Value.Type() == "stringArray" {
			values = strings.Split(v, ",")
		}
		for _, x := range values {
			if serr := fs.Set(f.Name, strings.TrimSpace(x)); serr != nil {
				err = fmt.Errorf("environment %s: %w", flagEnvName(f.Name), serr)
				return
			}
		}
	})
	return err
}

// kubectlPluginName is "kubectl drift" when the binary runs as a kubectl
// plugin (named kubectl-drift), else "".
func kubectlPluginName() string {
	base := filepath.Base(os.Args[0])
	if strings.HasPrefix(base, "kubectl-") {
		return "kubectl " + strings.ReplaceAll(strings.TrimPrefix(base, "kubectl-"), "_", "-")
	}
	return ""
}
