package adopt

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/driftwatch/driftwatch/gitsource"
)

// Repository is the Git work tree a source directory lies in; make it
// with OpenRepository. Commit
// writes the commit from HEAD's tree and the changes alone, with go-git:
// the work tree, the index and the checked-out branch are left as they
// were, so a person's uncommitted work is never touched; the new branch
// holds the adopted source.
type Repository struct {
	repo *git.Repository
	// prefix is the source directory's path in the repository, with
	// slashes; "" at its root.
	prefix string
}

// OpenRepository opens the work tree holding dir.
func OpenRepository(dir string) (*Repository, error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return nil, fmt.Errorf("directory %s is not in a Git work tree: %w", dir, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, fmt.Errorf("directory %s: %w", dir, err)
	}
	root, err := filepath.EvalSymlinks(wt.Filesystem.Root())
	if err != nil {
		return nil, fmt.Errorf("work tree %s: %w", wt.Filesystem.Root(), err)
	}
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return nil, fmt.Errorf("directory %s: %w", dir, err)
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil || !inside(filepath.ToSlash(rel)) {
		return nil, fmt.Errorf("directory %s is not inside the work tree %s", dir, root)
	}
	prefix := filepath.ToSlash(rel)
	if prefix == "." {
		prefix = ""
	}
	return &Repository{repo: repo, prefix: prefix}, nil
}

// CheckBranch returns an error when name is not a valid new branch: a
// bad name, or one that exists.
func (r *Repository) CheckBranch(name string) error {
	ref := plumbing.NewBranchReferenceName(name)
	if name == "" || strings.HasPrefix(name, "-") || ref.Validate() != nil {
		return fmt.Errorf("branch %q: not a valid branch name", name)
	}
	if _, err := r.repo.Reference(ref, false); err == nil {
		return fmt.Errorf("branch %s already exists", name)
	}
	return nil
}

// Signature is who authored or committed a commit; both fields are
// needed.
type Signature struct {
	Name, Email string
}

// Identity returns the author and committer, as git chooses them:
// GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL (GIT_COMMITTER_* for the
// committer) from env, else the repository's, then the global Git
// configuration's author (committer) and user. An error when no name or
// email is found.
func (r *Repository) Identity(env func(string) string) (author, committer Signature, err error) {
	cfg, err := r.repo.ConfigScoped(config.GlobalScope)
	if err != nil {
		return author, committer, fmt.Errorf("git config: %w", err)
	}
	first := func(vals ...string) string {
		for _, v := range vals {
			if v != "" {
				return v
			}
		}
		return ""
	}
	author = Signature{
		Name:  first(env("GIT_AUTHOR_NAME"), cfg.Author.Name, cfg.User.Name),
		Email: first(env("GIT_AUTHOR_EMAIL"), cfg.Author.Email, cfg.User.Email),
	}
	if author.Name == "" || author.Email == "" {
		return author, committer, errors.New("commit author: set user.name and user.email in the Git config, or GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL")
	}
	committer = Signature{
		Name:  first(env("GIT_COMMITTER_NAME"), cfg.Committer.Name, cfg.User.Name, author.Name),
		Email: first(env("GIT_COMMITTER_EMAIL"), cfg.Committer.Email, cfg.User.Email, author.Email),
	}
	return author, committer, nil
}

// CommitOptions describe the commit. Branch, Message and Author are
// required; Committer defaults to Author and When to now.
type CommitOptions struct {
	Branch            string
	Message           string
	Author, Committer Signature
	When              time.Time
}

// Commit commits changes (paths relative to the source directory) on a
// new branch at HEAD and returns the commit's SHA. Each changed file must
// be in HEAD as the changes found it: a file with uncommitted changes
// would carry them into the commit unseen, so it is an error.
func (r *Repository) Commit(changes []FileChange, o CommitOptions) (string, error) {
	if err := r.CheckBranch(o.Branch); err != nil {
		return "", err
	}
	if len(changes) == 0 {
		return "", errors.New("nothing to commit")
	}
	head, err := r.repo.Head()
	if err != nil {
		return "", fmt.Errorf("HEAD: %w", err)
	}
	parent, err := r.repo.CommitObject(head.Hash())
	if err != nil {
		return "", fmt.Errorf("HEAD %s: %w", head.Hash(), err)
	}
	tree := parent.TreeHash
	for _, c := range changes {
		p := path.Join(r.prefix, c.Path)
		f, err := parent.File(p)
		if err != nil {
			return "", fmt.Errorf("file %s is not committed at HEAD: commit it first", p)
		}
		content, err := f.Contents()
		if err != nil {
			return "", fmt.Errorf("file %s: %w", p, err)
		}
		if content != string(c.Old) {
			return "", fmt.Errorf("file %s has uncommitted changes: commit or stash them first (adopt commits on top of HEAD)", p)
		}
		var blob *plumbing.Hash
		if c.New != nil {
			h, err := r.store(plumbing.BlobObject, func(w func([]byte) error) error { return w(c.New) })
			if err != nil {
				return "", fmt.Errorf("file %s: %w", p, err)
			}
			blob = &h
		}
		if tree, _, err = r.updateTree(tree, strings.Split(p, "/"), blob); err != nil {
			return "", fmt.Errorf("file %s: %w", p, err)
		}
	}
	when := o.When
	if when.IsZero() {
		when = time.Now()
	}
	committer := o.Committer
	if committer.Name == "" {
		committer = o.Author
	}
	commit := &object.Commit{
		Author:       object.Signature{Name: o.Author.Name, Email: o.Author.Email, When: when},
		Committer:    object.Signature{Name: committer.Name, Email: committer.Email, When: when},
		Message:      o.Message,
		TreeHash:     tree,
		ParentHashes: []plumbing.Hash{parent.Hash},
	}
	obj := r.repo.Storer.NewEncodedObject()
	if err := commit.Encode(obj); err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	h, err := r.repo.Storer.SetEncodedObject(obj)
	if err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	ref := plumbing.NewHashReference(plumbing.NewBranchReferenceName(o.Branch), h)
	if err := r.repo.Storer.CheckAndSetReference(ref, nil); err != nil {
		return "", fmt.Errorf("branch %s: %w", o.Branch, err)
	}
	return h.String(), nil
}

// store writes one object.
func (r *Repository) store(t plumbing.ObjectType, write func(func([]byte) error) error) (plumbing.Hash, error) {
	obj := r.repo.Storer.NewEncodedObject()
	obj.SetType(t)
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if err := write(func(b []byte) error { _, err := w.Write(b); return err }); err != nil {
		w.Close()
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.repo.Storer.SetEncodedObject(obj)
}

// updateTree returns the tree with the file at parts set to blob (nil:
// removed), and whether the tree is left empty.
func (r *Repository) updateTree(h plumbing.Hash, parts []string, blob *plumbing.Hash) (plumbing.Hash, bool, error) {
	t, err := object.GetTree(r.repo.Storer, h)
	if err != nil {
		return h, false, err
	}
	entries := append([]object.TreeEntry(nil), t.Entries...)
	idx := -1
	for i, e := range entries {
		if e.Name == parts[0] {
			idx = i
		}
	}
	switch {
	case len(parts) > 1 && idx < 0:
		return h, false, fmt.Errorf("directory %s is not in HEAD", parts[0])
	case len(parts) > 1:
		sub, empty, err := r.updateTree(entries[idx].Hash, parts[1:], blob)
		if err != nil {
			return h, false, err
		}
		if empty {
			entries = append(entries[:idx], entries[idx+1:]...)
		} else {
			entries[idx].Hash = sub
		}
	case blob == nil && idx >= 0:
		entries = append(entries[:idx], entries[idx+1:]...)
	case blob == nil:
	case idx >= 0:
		entries[idx].Hash = *blob
	default:
		entries = append(entries, object.TreeEntry{Name: parts[0], Mode: filemode.Regular, Hash: *blob})
	}
	sort.Sort(object.TreeEntrySorter(entries))
	obj := r.repo.Storer.NewEncodedObject()
	if err := (&object.Tree{Entries: entries}).Encode(obj); err != nil {
		return h, false, err
	}
	nh, err := r.repo.Storer.SetEncodedObject(obj)
	return nh, len(entries) == 0, err
}

// Push pushes the branch to the remote origin, with auth's credentials.
func (r *Repository) Push(ctx context.Context, branch string, auth gitsource.Auth) error {
	remote, err := r.repo.Remote(git.DefaultRemoteName)
	if err != nil {
		return fmt.Errorf("remote origin: %w", err)
	}
	urls := remote.Config().URLs
	if len(urls) == 0 {
		return errors.New("remote origin has no URL")
	}
	method, err := auth.MethodFor(urls[0])
	if err != nil {
		return fmt.Errorf("remote origin: %w", err)
	}
	ref := plumbing.NewBranchReferenceName(branch)
	err = r.repo.PushContext(ctx, &git.PushOptions{
		RemoteName: git.DefaultRemoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(ref + ":" + ref)},
		Auth:       method,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("push %s to origin: %w", branch, err)
	}
	return nil
}
