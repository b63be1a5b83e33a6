// Package gitsource provides the desired state: it fetches a Git repository
// (or reads a local directory) and renders its manifests into objects.
package gitsource

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	git "github.com/go-git/go-git/v5"
)

// Options says where the desired state lives. Exactly one of URL and Dir is
// set.
type Options struct {
	// URL of the repository: https://, http://, ssh://, scp-style
	// (git@host:org/repo) or file://; or of an OCI artifact:
	// oci://host/org/name:tag or oci://host/org/name@sha256:...
	URL string
	// Ref is a branch, tag, or full or short commit SHA; empty means the
	// remote's default branch (HEAD).
	Ref string
	// Path inside the repository (or Dir) to render; empty means its root.
	Path string
	// Dir is a local directory to read instead of cloning, for CI jobs that
	// already have a checkout.
	Dir string
	// CacheDir keeps fetched repositories between runs; empty means
	// $XDG_CACHE_HOME/driftwatch/git (or ~/.cache/driftwatch/git).
	CacheDir string
	// Auth holds credentials; the zero value is anonymous.
	Auth Auth
	// Timeout bounds the whole fetch; zero means 2 minutes.
	Timeout time.Duration
	// Registry holds credentials for an oci:// URL (and for Helm charts
	// in OCI registries).
	Registry RegistryAuth
	// Render says how the tree is turned into objects.
	Render RenderOptions
}

// RegistryAuth holds OCI registry credentials. As with Git, the command
// line takes secrets from the environment or files, never flag values.
type RegistryAuth struct {
	// Username and Password apply to every registry when set.
	Username, Password string
	// DockerConfig is a Docker config.json whose auths are used (its
	// credHelpers are not run: no exec); empty means
	// $DOCKER_CONFIG/config.json or ~/.docker/config.json when it exists.
	// Registries on localhost and 127.0.0.1 are spoken to over plain HTTP,
	// as Docker does.
	DockerConfig string
}

// Revision identifies what was rendered.
type Revision struct {
	// URL is the repository URL with any password removed, or the directory.
	URL string `json:"url"`
	// Ref is the ref asked for (empty: the default branch).
	Ref string `json:"ref,omitempty"`
	// Path is the rendered path inside the repository.
	Path string `json:"path,omitempty"`
	// Commit is the full SHA of the rendered commit; empty for a directory
	// that is not inside a Git work tree, and for an OCI artifact.
	Commit string `json:"commit,omitempty"`
	// Digest is the manifest digest (sha256:...) of an OCI artifact.
	Digest string `json:"digest,omitempty"`
	// AuthorTime and Subject describe the commit.
	AuthorTime *time.Time `json:"authorTime,omitempty"`
	Subject    string     `json:"subject,omitempty"`
}

// Desired is the rendered desired state of one revision.
type Desired struct {
	Revision Revision
	Objects  []Object
	// Warnings are things the user should know that are not errors (an
	// ignored submodule).
	Warnings []string
	// Skipped are rendered objects that are not desired state (Helm hooks
	// and test Pods), left out of Objects and counted in the report.
	Skipped []Skipped
	// Unopened are the objects a SOPS file no key opens makes unknowable,
	// left out of Objects and listed in the report as not compared.
	Unopened []Unopened
}

// RenderError marks a failure to render fetched manifests (as opposed to
// failing to fetch them).
type RenderError struct{ Err error }

func (e *RenderError) Error() string { return e.Err.Error() }
func (e *RenderError) Unwrap() error { return e.Err }

// Load fetches (or reads) the source and renders it.
func Load(ctx context.Context, opts Options) (*Desired, error) {
	if (opts.URL == "") == (opts.Dir == "") {
		return nil, fmt.Errorf("source: exactly one of a repository URL and a directory is needed")
	}
	if opts.Dir != "" {
		return loadDir(ctx, opts)
	}
	if isOCI(opts.URL) {
		return loadOCI(ctx, opts)
	}
	co, err := fetch(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(co.dir)
	r, err := RenderWith(ctx, co.dir, opts.Path, opts.Render)
	if err != nil {
		return nil, fmt.Errorf("%s@%s: %w", co.rev.URL, short(co.rev.Commit), &RenderError{Err: err})
	}
	co.rev.Path = opts.Path
	return &Desired{Revision: co.rev, Objects: r.Objects, Skipped: r.Skipped, Unopened: r.Unopened, Warnings: append(co.warnings, r.Warnings...)}, nil
}

func loadDir(ctx context.Context, opts Options) (*Desired, error) {
	st, err := os.Stat(opts.Dir)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("directory %s: not found or not a directory", opts.Dir)
	}
	rev := Revision{URL: opts.Dir, Path: opts.Path}
	// A CI checkout is usually a Git work tree: say which commit it is.
	if repo, err := git.PlainOpenWithOptions(opts.Dir, &git.PlainOpenOptions{DetectDotGit: true}); err == nil {
		if head, err := repo.Head(); err == nil {
			if c, err := repo.CommitObject(head.Hash()); err == nil {
				describeCommit(&rev, c)
			}
		}
	}
	r, err := RenderWith(ctx, opts.Dir, opts.Path, opts.Render)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", opts.Dir, &RenderError{Err: err})
	}
	return &Desired{Revision: rev, Objects: r.Objects, Skipped: r.Skipped, Unopened: r.Unopened, Warnings: r.Warnings}, nil
}

func defaultCacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "driftwatch", "git")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache", "driftwatch", "git")
	}
	return filepath.Join(os.TempDir(), "driftwatch-git")
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
