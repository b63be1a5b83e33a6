package gitsource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// ErrRefNotFound is returned when no branch, tag or commit matches the ref.
var ErrRefNotFound = errors.New("ref not found")

// errCache marks a problem with the local cache (as opposed to the remote):
// the cache is thrown away and the fetch tried once more from scratch.
var errCache = errors.New("cache unusable")

// checkout is a commit written out to a temporary directory.
type checkout struct {
	dir      string
	rev      Revision
	warnings []string
}

var hexRef = regexp.MustCompile(`^[0-9a-fA-F]{4,40}$`)

// fetch brings the ref into the cache and writes its tree to a temporary
// directory. Branches and tags are fetched shallow (depth 1); a commit SHA
// needs history, so it uses a separate full cache and costs no network at
// all once that commit is cached.
func fetch(ctx context.Context, opts Options) (*checkout, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	cacheRoot := opts.CacheDir
	if cacheRoot == "" {
		cacheRoot = defaultCacheDir()
	}
	display := redactURL(opts.URL)
	sum := sha256.Sum256([]byte(display))
	dir := filepath.Join(cacheRoot, hex.EncodeToString(sum[:8]))
	if hexRef.MatchString(opts.Ref) {
		dir += "-full"
	}
	co, err := fetchInto(ctx, dir, opts)
	if errors.Is(err, errCache) {
		// A corrupted or half-written cache: start again, once.
		if rerr := os.RemoveAll(dir); rerr != nil {
			return nil, fmt.Errorf("git cache %s: %w", dir, rerr)
		}
		co, err = fetchInto(ctx, dir, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("git %s: %w", display, err)
	}
	co.rev.URL = display
	co.rev.Ref = opts.Ref
	return co, nil
}

func fetchInto(ctx context.Context, dir string, opts Options) (*checkout, error) {
	ep, err := transport.NewEndpoint(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("invalid repository URL: %w", err)
	}
	auth, err := opts.Auth.method(ep)
	if err != nil {
		return nil, err
	}
	repo, err := openCache(dir, opts.URL)
	if err != nil {
		return nil, err
	}
	var hash plumbing.Hash
	if len(opts.Ref) == 40 && hexRef.MatchString(opts.Ref) {
		// A full SHA never moves: when cached, no network is needed.
		if c, err := repo.CommitObject(plumbing.NewHash(opts.Ref)); err == nil {
			return writeCommit(repo, c)
		}
	}
	remote, err := repo.Remote(git.DefaultRemoteName)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errCache, err)
	}
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		if auth != nil && errors.Is(err, transport.ErrAuthenticationRequired) {
			return nil, &causeError{"credentials were refused", err}
		}
		return nil, remoteError(err)
	}
	name, ok := matchRef(refs, opts.Ref)
	switch {
	case ok:
		spec := config.RefSpec(fmt.Sprintf("+%s:%s", name, name))
		depth := 1
		if strings.HasSuffix(dir, "-full") {
			depth = 0
		}
		err = repo.FetchContext(ctx, &git.FetchOptions{
			RefSpecs: []config.RefSpec{spec}, Depth: depth, Auth: auth, Tags: git.NoTags, Force: true,
		})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return nil, fetchError(err)
		}
		ref, err := repo.Reference(name, true)
		if err != nil {
			return nil, fmt.Errorf("%w: %s missing after fetch: %v", errCache, name, err)
		}
		hash = ref.Hash()
	case hexRef.MatchString(opts.Ref):
		err = repo.FetchContext(ctx, &git.FetchOptions{
			RefSpecs: []config.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"},
			Auth:     auth, Tags: git.NoTags, Force: true,
		})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return nil, fetchError(err)
		}
		h, err := repo.ResolveRevision(plumbing.Revision(opts.Ref))
		if err != nil {
			return nil, fmt.Errorf("%w: %q is no branch, tag or commit of the repository", ErrRefNotFound, opts.Ref)
		}
		hash = *h
	default:
		if opts.Ref == "" {
			return nil, fmt.Errorf("%w: the repository has no default branch (HEAD)", ErrRefNotFound)
		}
		return nil, fmt.Errorf("%w: %q is no branch, tag or commit of the repository", ErrRefNotFound, opts.Ref)
	}
	c, err := peelToCommit(repo, hash)
	if err != nil {
		return nil, err
	}
	return writeCommit(repo, c)
}

// openCache opens the bare repository in dir, or creates it.
func openCache(dir, url string) (*git.Repository, error) {
	if _, err := os.Stat(dir); err == nil {
		repo, err := git.PlainOpen(dir)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errCache, err)
		}
		// The URL is the cache key, but keep the remote exact (it may carry
		// a user name that the key ignores).
		if r, err := repo.Remote(git.DefaultRemoteName); err != nil || r.Config().URLs[0] != url {
			return nil, fmt.Errorf("%w: remote does not match", errCache)
		}
		return repo, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, fmt.Errorf("git cache: %w", err)
	}
	repo, err := git.PlainInit(dir, true)
	if err != nil {
		return nil, fmt.Errorf("git cache %s: %w", dir, err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: git.DefaultRemoteName, URLs: []string{url}}); err != nil {
		return nil, fmt.Errorf("git cache %s: %w", dir, err)
	}
	return repo, nil
}

// matchRef finds the remote ref a user's ref names: HEAD's target when
// empty, then a full ref name, then a branch, then a tag.
func matchRef(refs []*plumbing.Reference, ref string) (plumbing.ReferenceName, bool) {
	byName := make(map[plumbing.ReferenceName]*plumbing.Reference, len(refs))
	for _, r := range refs {
		byName[r.Name()] = r
	}
	if ref == "" {
		head, ok := byName[plumbing.HEAD]
		if !ok {
			return "", false
		}
		if head.Type() == plumbing.SymbolicReference {
			return head.Target(), true
		}
		// No symref advertised: pick the branch HEAD points at.
		for _, r := range refs {
			if r.Name().IsBranch() && r.Hash() == head.Hash() {
				return r.Name(), true
			}
		}
		return "", false
	}
	for _, n := range []plumbing.ReferenceName{
		plumbing.ReferenceName(ref), plumbing.NewBranchReferenceName(ref), plumbing.NewTagReferenceName(ref),
	} {
		if _, ok := byName[n]; ok && n != plumbing.HEAD {
			return n, true
		}
	}
	return "", false
}

// peelToCommit follows annotated tags to the commit they point at.
func peelToCommit(repo *git.Repository, h plumbing.Hash) (*object.Commit, error) {
	for range 10 {
		if t, err := repo.TagObject(h); err == nil {
			h = t.Target
			continue
		}
		c, err := repo.CommitObject(h)
		if err != nil {
			return nil, fmt.Errorf("%w: commit %s: %v", errCache, h, err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("tag chain at %s is too long", h)
}

// writeCommit writes the commit's tree to a new temporary directory.
// Symbolic links are written as they are, so that rendering (which refuses
// any path resolving outside the tree) can name them; submodules are skipped.
func writeCommit(repo *git.Repository, c *object.Commit) (*checkout, error) {
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("%w: tree of %s: %v", errCache, c.Hash, err)
	}
	dir, err := os.MkdirTemp("", "driftwatch-checkout-")
	if err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	err = tree.Files().ForEach(func(f *object.File) error {
		if strings.HasPrefix(f.Name, "../") || filepath.IsAbs(f.Name) {
			return fmt.Errorf("invalid path %q in tree", f.Name)
		}
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		r, err := f.Reader()
		if err != nil {
			return fmt.Errorf("%w: blob %s: %v", errCache, f.Name, err)
		}
		defer r.Close()
		if f.Mode == filemode.Symlink {
			target, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			return os.Symlink(string(target), p)
		}
		w, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, r); err != nil {
			w.Close()
			return err
		}
		return w.Close()
	})
	if err != nil {
		os.RemoveAll(dir)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			err = fmt.Errorf("%w: %v", errCache, err)
		}
		return nil, fmt.Errorf("checkout %s: %w", short(c.Hash.String()), err)
	}
	rev := Revision{}
	describeCommit(&rev, c)
	return &checkout{dir: dir, rev: rev, warnings: submoduleWarnings(tree)}, nil
}

// submoduleWarnings names the submodules of a tree: their content is not
// fetched (a drift check must not reach into other repositories), which
// the user should know.
func submoduleWarnings(tree *object.Tree) []string {
	var out []string
	w := object.NewTreeWalker(tree, true, nil)
	defer w.Close()
	for range 100000 {
		name, entry, err := w.Next()
		if err != nil {
			break
		}
		if entry.Mode == filemode.Submodule {
			out = append(out, fmt.Sprintf("submodule %s is ignored: its manifests are not rendered", name))
		}
	}
	return out
}

func describeCommit(rev *Revision, c *object.Commit) {
	rev.Commit = c.Hash.String()
	t := c.Author.When.UTC()
	rev.AuthorTime = &t
	rev.Subject = strings.SplitN(strings.TrimSpace(c.Message), "\n", 2)[0]
}

// statusError is a Git server's HTTP answer that is neither success nor
// an authentication challenge: a proxy or the server failing.
type statusError struct {
	status string
	err    error
}

func (e *statusError) Error() string { return "Git server answered " + e.status }
func (e *statusError) Unwrap() error { return e.err }

// httpStatus finds the HTTP answer in go-git's error, which wraps it in an
// UnexpectedError without Unwrap.
func httpStatus(err error) (string, bool) {
	var herr *githttp.Err
	var uerr *plumbing.UnexpectedError
	if !errors.As(err, &herr) && (!errors.As(err, &uerr) || !errors.As(uerr.Err, &herr)) {
		return "", false
	}
	if herr.Response == nil {
		return "", false
	}
	return herr.Response.Status, true
}

// causeError says what went wrong in words of its own where the error it
// wraps would only repeat them ("repository not found: repository not
// found"); errors.Is still sees the wrapped error.
type causeError struct {
	msg string
	err error
}

func (e *causeError) Error() string { return e.msg }
func (e *causeError) Unwrap() error { return e.err }

// remoteError turns go-git's transport errors into a short cause.
func remoteError(err error) error {
	var nerr net.Error
	var oerr *net.OpError
	if status, ok := httpStatus(err); ok && !errors.Is(err, transport.ErrAuthenticationRequired) &&
		!errors.Is(err, transport.ErrAuthorizationFailed) && !errors.Is(err, transport.ErrRepositoryNotFound) {
		return &statusError{status: status, err: err}
	}
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired):
		return &causeError{"authentication required: set DRIFTWATCH_GIT_TOKEN or DRIFTWATCH_GIT_PASSWORD (or --git-token-file), or use an SSH URL with a key", err}
	case errors.Is(err, transport.ErrAuthorizationFailed):
		return &causeError{"credentials were refused", err}
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return &causeError{"repository not found (or not visible to these credentials)", err}
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return fmt.Errorf("repository is empty: %w", err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("timed out reaching the repository: %w", err)
	case errors.As(err, &oerr), errors.As(err, &nerr):
		return fmt.Errorf("repository unreachable: %w", err)
	}
	if strings.Contains(err.Error(), "ssh: unable to authenticate") {
		return fmt.Errorf("credentials were refused: the server accepted no SSH key offered (--ssh-key-file, or the ssh-agent's): %w", err)
	}
	if strings.Contains(err.Error(), "knownhosts") || strings.Contains(err.Error(), "host key") {
		return fmt.Errorf("ssh host key verification failed: %w", err)
	}
	return err
}

// fetchError classifies a failed fetch after a successful listing: remote
// problems are reported, anything else is blamed on the cache.
func fetchError(err error) error {
	rerr := remoteError(err)
	if rerr != err {
		return rerr
	}
	if errors.Is(err, plumbing.ErrObjectNotFound) || strings.Contains(err.Error(), "object not found") {
		return fmt.Errorf("%w: %v", errCache, err)
	}
	return err
}
