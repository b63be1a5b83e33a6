package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline"
	"github.com/driftwatch/driftwatch/gitsource"
)

// sourceFlags are the flags that choose the desired state.
type sourceFlags struct {
	Repo, Ref, Path, Dir, CacheDir string
	Username                       string
	PasswordFile, TokenFile        string
	SSHKeyFile                     string
	KnownHosts                     []string
	InsecureSkipHostKey            bool
	Timeout                        time.Duration

	// Render, SourceConfig and the Helm flags say how the tree is
	// rendered; flags override the source config file.
	Render, SourceConfig string
	HelmRelease, HelmNS  string
	Values, Set          []string
	HelmSkipCRDs         bool
	HelmRepositoryConfig string
	RegistryConfig       string
	SOPSAgeKeyFile       string
}

func (sf *sourceFlags) register(f *pflag.FlagSet) {
	f.StringVar(&sf.Repo, "repo", "", "Git repository URL (https://, ssh://, git@host:path or file://)")
	f.StringVar(&sf.Ref, "ref", "", "branch, tag or commit SHA (default: the repository's default branch)")
	f.StringVar(&sf.Path, "path", "", "directory (or file) inside the repository to render")
	f.StringVar(&sf.Dir, "dir", "", "local directory to read instead of --repo")
	f.StringVar(&sf.CacheDir, "cache-dir", "", "where fetched repositories (and OCI layers, under oci/) are kept between runs (default $XDG_CACHE_HOME/driftwatch/git)")
	f.StringVar(&sf.Username, "git-username", os.Getenv("DRIFTWATCH_GIT_USERNAME"), "HTTPS user name [$DRIFTWATCH_GIT_USERNAME]")
	f.StringVar(&sf.PasswordFile, "git-password-file", "", "file holding the HTTPS password (or use $DRIFTWATCH_GIT_PASSWORD)")
	f.StringVar(&sf.TokenFile, "git-token-file", "", "file holding an HTTPS access token (or use $DRIFTWATCH_GIT_TOKEN)")
	f.StringVar(&sf.SSHKeyFile, "ssh-key-file", "", "SSH private key for ssh:// and git@ URLs (default: ssh-agent)")
	f.StringSliceVar(&sf.KnownHosts, "ssh-known-hosts", nil, "known_hosts files to verify SSH host keys (default $SSH_KNOWN_HOSTS or ~/.ssh/known_hosts)")
	f.BoolVar(&sf.InsecureSkipHostKey, "insecure-skip-host-key-check", false, "do not verify the SSH host key (unsafe)")
	f.DurationVar(&sf.Timeout, "git-timeout", 2*time.Minute, "time allowed for fetching the repository or OCI artifact")
	f.StringVar(&sf.Render, "render", "auto", "how to render --path: auto (a kustomization means kustomize, a Chart.yaml Helm, else plain YAML), helm, kustomize or plain")
	f.StringVar(&sf.SourceConfig, "source-config", "", "YAML file saying how to render the source (render mode, Helm release, values); see docs/sources.md")
	f.StringVar(&sf.HelmRelease, "helm-release", "", "Helm release name (.Release.Name; default the chart's name)")
	f.StringVar(&sf.HelmNS, "helm-namespace", "", "Helm release namespace (.Release.Namespace; default --namespace or the kubeconfig's)")
	f.StringArrayVar(&sf.Values, "values", nil, "Helm values file inside the source, relative to its root (repeatable, merged in order)")
	f.StringArrayVar(&sf.Set, "set", nil, "Helm value key=value, as helm --set (repeatable; not for secrets, which show in ps)")
	f.BoolVar(&sf.HelmSkipCRDs, "helm-skip-crds", false, "leave out the chart's crds/ directory")
	f.StringVar(&sf.HelmRepositoryConfig, "helm-repository-config", "", "Helm repositories.yaml with chart repository credentials (default $HELM_REPOSITORY_CONFIG or ~/.config/helm/repositories.yaml)")
	f.StringVar(&sf.RegistryConfig, "registry-config", "", "Docker config.json with OCI registry credentials (default $DOCKER_CONFIG/config.json or ~/.docker/config.json; or $DRIFTWATCH_REGISTRY_USERNAME and _PASSWORD)")
	f.StringVar(&sf.SOPSAgeKeyFile, "sops-age-key-file", "", "file of age identities that decrypt SOPS files (or $SOPS_AGE_KEY_FILE, or the keys in $SOPS_AGE_KEY)")
	markFlagGroup(f, groupSource, "repo", "ref", "path", "dir", "render", "source-config", "values", "set",
		"helm-release", "helm-namespace", "helm-skip-crds", "sops-age-key-file", "cache-dir", "git-timeout")
	markFlagGroup(f, groupCredentials, "git-username", "git-password-file", "git-token-file", "ssh-key-file",
		"ssh-known-hosts", "insecure-skip-host-key-check", "registry-config", "helm-repository-config")
}

func (sf sourceFlags) validate() error {
	if (sf.Repo == "") == (sf.Dir == "") {
		return errors.New("flag: exactly one of --repo and --dir is required")
	}
	if sf.Dir != "" && sf.Ref != "" {
		return errors.New("flag: --ref needs --repo (a --dir is read as it is)")
	}
	if strings.HasPrefix(sf.Repo, "oci://") && sf.Ref != "" {
		return errors.New("flag: --ref is for Git; an oci:// --repo names its tag or digest itself (oci://host/repo:tag or @sha256:...)")
	}
	return nil
}

// options builds the gitsource options, reading credentials from the
// environment and the files named by flags.
func (sf sourceFlags) options() (gitsource.Options, error) {
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
	for _, ff := range []struct{ flag, file string }{{"--git-password-file", sf.PasswordFile}, {"--git-token-file", sf.TokenFile}} {
		if ff.file == "" {
			continue
		}
		b, err := os.ReadFile(ff.file)
		if err != nil {
			return gitsource.Options{}, fmt.Errorf("flag %s: %w", ff.flag, err)
		}
		a.Password = strings.TrimSpace(string(b))
	}
	ro, err := sf.renderOptions()
	if err != nil {
		return gitsource.Options{}, err
	}
	reg := gitsource.RegistryAuth{
		Username:     os.Getenv("DRIFTWATCH_REGISTRY_USERNAME"),
		Password:     os.Getenv("DRIFTWATCH_REGISTRY_PASSWORD"),
		DockerConfig: sf.RegistryConfig,
	}
	ro.Helm.Repositories.Registry = reg
	ro.Helm.Repositories.CacheDir = cacheSubdir("charts")
	return gitsource.Options{
		URL: sf.Repo, Ref: sf.Ref, Path: sf.Path, Dir: sf.Dir,
		CacheDir: sf.CacheDir, Auth: a, Timeout: sf.Timeout,
		Registry: reg, Render: ro,
	}, nil
}

func (o *clusterOptions) register(f *pflag.FlagSet) {
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default $KUBECONFIG or ~/.kube/config; in a Pod, its service account)")
	f.StringVar(&o.Context, "context", "", "kubeconfig context to use")
	f.StringVarP(&o.Namespace, "namespace", "n", "", "namespace for namespaced objects that name none (default: the context's)")
	markFlagGroup(f, groupCluster, "kubeconfig", "context", "namespace")
}

// compareFlags tune the comparison, in check and watch alike.
type compareFlags struct {
	// DetectExtra reports live objects with TrackingLabel that Git lacks.
	DetectExtra   bool
	TrackingLabel string
	// SyncTimeout bounds the wait for the informers' first LIST.
	SyncTimeout time.Duration
	// ConfigFile holds ignore, sensitive and severity rules; empty for
	// none.
	ConfigFile string
	// Confirm is "" or "server" (server-side apply dry run of suspects).
	Confirm string
	// HashKeyFile keys the hashes of sensitive values.
	HashKeyFile string
}

func (c *compareFlags) register(f *pflag.FlagSet) {
	f.DurationVar(&c.SyncTimeout, "sync-timeout", time.Minute, "time allowed for reading live objects")
	f.StringVar(&c.ConfigFile, "config", "", "configuration file with ignore, sensitive and severity rules (driftwatch.dev/v1alpha1 Config)")
	f.StringVar(&c.Confirm, "confirm", "", `"server": confirm suspected drift with a server-side apply dry run (needs the patch verb)`)
	f.BoolVar(&c.DetectExtra, "detect-extra", false, "report live objects that carry the tracking label but are not in Git")
	f.StringVar(&c.TrackingLabel, "tracking-label", pipeline.DefaultTrackingLabel, "label (KEY=VALUE or KEY) marking objects Git manages, for --detect-extra")
	f.StringVar(&c.HashKeyFile, "hash-key-file", "", "key for the hashes shown for secret values (default $DRIFTWATCH_HASH_KEY, else a key kept in the cache directory)")
	markFlagGroup(f, groupCluster, "sync-timeout")
	markFlagGroup(f, groupComparison, "config", "confirm", "detect-extra", "tracking-label", "hash-key-file")
}

func (c compareFlags) validate() error {
	if c.SyncTimeout <= 0 {
		return errors.New("flag --sync-timeout: must be positive")
	}
	if c.Confirm != "" && c.Confirm != "server" {
		return fmt.Errorf("flag --confirm: unknown value %q (want server)", c.Confirm)
	}
	if _, err := pipeline.ParseTrackingLabel(c.TrackingLabel); err != nil {
		return fmt.Errorf("flag --tracking-label: %w", err)
	}
	return nil
}

// load reads the configuration file and the hash key.
func (c compareFlags) load() (*drift.Config, []byte, error) {
	var cfg *drift.Config
	if c.ConfigFile != "" {
		var err error
		if cfg, err = drift.LoadConfig(c.ConfigFile); err != nil {
			return nil, nil, err
		}
	}
	key, err := loadHashKey(c.HashKeyFile)
	return cfg, key, err
}

// targetFlags narrow what is checked (check, watch).
type targetFlags struct {
	Selector          string
	Names             []string
	Namespaces        []string
	ExcludeNamespaces []string
	Kinds             []string
	ExcludeKinds      []string
	// AllowEmpty lets a run check nothing (pipeline.Options.AllowEmpty).
	AllowEmpty bool
}

func (tf *targetFlags) register(f *pflag.FlagSet) {
	f.StringVarP(&tf.Selector, "selector", "l", "", "check only objects whose labels in Git match this selector (kubectl syntax); informers list with it too")
	f.StringSliceVar(&tf.Names, "names", nil, "check only objects whose name matches one of these globs")
	f.StringSliceVar(&tf.Namespaces, "namespaces", nil, "check only objects in namespaces matching these globs (-n stays the default namespace)")
	f.StringSliceVar(&tf.ExcludeNamespaces, "exclude-namespaces", nil, "skip objects in namespaces matching these globs")
	f.StringSliceVar(&tf.Kinds, "kinds", nil, "check only these kinds: Kind, group/Kind or group/* (e.g. Deployment,apps/*)")
	f.StringSliceVar(&tf.ExcludeKinds, "exclude-kinds", nil, "skip these kinds (same syntax as --kinds)")
	f.BoolVar(&tf.AllowEmpty, "allow-empty", false, "let a source that renders no objects, or targeting that keeps none, pass (by default an error: exit 2)")
	markFlagGroup(f, groupTargeting, "selector", "names", "namespaces", "exclude-namespaces", "kinds", "exclude-kinds", "allow-empty")
}

// filter builds the pipeline.Filter, validating every pattern.
func (tf targetFlags) filter() (pipeline.Filter, error) {
	f := pipeline.Filter{Names: tf.Names, Namespaces: tf.Namespaces, ExcludeNamespaces: tf.ExcludeNamespaces,
		Kinds: tf.Kinds, ExcludeKinds: tf.ExcludeKinds}
	if tf.Selector != "" {
		sel, err := labels.Parse(tf.Selector)
		if err != nil {
			return f, fmt.Errorf("flag --selector: %w", err)
		}
		f.Selector = sel
	}
	return f, f.Validate()
}

// setup is what check and watch read from their flags before touching Git
// or the cluster.
type setup struct {
	pipeline pipeline.Options
	source   gitsource.Options
}

// prepare validates the source, comparison and targeting flags, loads the
// configuration file and the hash key, and reads the Git credentials.
func prepare(src sourceFlags, cmp compareFlags, tgt targetFlags) (*setup, error) {
	if err := src.validate(); err != nil {
		return nil, err
	}
	if err := cmp.validate(); err != nil {
		return nil, err
	}
	var s setup
	var err error
	po := &s.pipeline
	if po.Filter, err = tgt.filter(); err != nil {
		return nil, err
	}
	if po.Config, po.HashKey, err = cmp.load(); err != nil {
		return nil, err
	}
	if cmp.DetectExtra {
		po.Tracking, _ = pipeline.ParseTrackingLabel(cmp.TrackingLabel)
	}
	po.ConfirmServer = cmp.Confirm == "server"
	po.AllowEmpty = tgt.AllowEmpty
	po.SyncTimeout = cmp.SyncTimeout
	po.SchemaCacheDir = cacheSubdir("openapi")
	if s.source, err = src.options(); err != nil {
		return nil, err
	}
	return &s, nil
}

// severityFlag parses the value of a severity threshold flag (--fail-on,
// --notify-on); empty is info, which lets every drift through.
func severityFlag(flag, value string) (drift.Severity, error) {
	if value == "" {
		return drift.SeverityInfo, nil
	}
	s, err := drift.ParseSeverity(value)
	if err != nil {
		return "", fmt.Errorf("flag --%s: %w", flag, err)
	}
	return s, nil
}

// passes reports whether a drifted, missing or extra resource, or one of
// its diffs, of severity s reaches threshold. Drift nobody classified
// always does: it cannot be shown to be below.
func passes(s, threshold drift.Severity) bool {
	return s == "" || s.AtLeast(threshold)
}
