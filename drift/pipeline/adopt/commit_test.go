package adopt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-cmp/cmp"
)

// newRepo makes a work tree with files committed, under a deploy/
// directory that is the source.
func newRepo(t *testing.T, files map[string]string) (root string, repo *git.Repository) {
	t.Helper()
	root = t.TempDir()
	repo, err := git.PlainInit(root, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			t.Fatal(err)
		}
	}
	sig := &object.Signature{Name: "Setup", Email: "setup@example.invalid", When: time.Unix(1e9, 0)}
	if _, err := wt.Commit("initial", &git.CommitOptions{Author: sig}); err != nil {
		t.Fatal(err)
	}
	return root, repo
}

// treeOf lists the files of a commit and their contents.
func treeOf(t *testing.T, repo *git.Repository, h plumbing.Hash) map[string]string {
	t.Helper()
	c, err := repo.CommitObject(h)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	iter, err := c.Files()
	if err != nil {
		t.Fatal(err)
	}
	_ = iter.ForEach(func(f *object.File) error {
		s, err := f.Contents()
		out[f.Name] = s
		return err
	})
	return out
}

func TestCommit(t *testing.T) {
	root, repo := newRepo(t, map[string]string{
		"README.md":             "docs\n",
		"deploy/app.yaml":       "replicas: 3 # load\n",
		"deploy/old/gone.yaml":  "kind: x\n",
		"deploy/other/keep.yml": "a: 1\n",
	})
	head, _ := repo.Head()
	// Uncommitted work elsewhere in the tree stays as it is.
	if err := os.WriteFile(filepath.Join(root, "README.md"), []byte("work in progress\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRepository(filepath.Join(root, "deploy"))
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	sha, err := r.Commit([]FileChange{
		{Path: "app.yaml", Old: []byte("replicas: 3 # load\n"), New: []byte("replicas: 5 # load\n")},
		{Path: "old/gone.yaml", Old: []byte("kind: x\n"), New: nil},
	}, CommitOptions{Branch: "adopt-1", Message: "adopt\n", Author: Signature{"Ada", "ada@example.invalid"}, When: when})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := repo.Reference(plumbing.NewBranchReferenceName("adopt-1"), true)
	if err != nil || ref.Hash().String() != sha {
		t.Fatalf("branch adopt-1: %v, %v (commit %s)", ref, err, sha)
	}
	want := map[string]string{"README.md": "docs\n", "deploy/app.yaml": "replicas: 5 # load\n", "deploy/other/keep.yml": "a: 1\n"}
	if d := cmp.Diff(want, treeOf(t, repo, ref.Hash())); d != "" {
		t.Errorf("branch tree (-want +got):\n%s", d)
	}
	c, _ := repo.CommitObject(ref.Hash())
	if c.Author.Name != "Ada" || c.Committer.Email != "ada@example.invalid" || !c.Author.When.Equal(when) ||
		len(c.ParentHashes) != 1 || c.ParentHashes[0] != head.Hash() || c.Message != "adopt\n" {
		t.Errorf("commit: %+v", c)
	}
	// HEAD, the work tree and the index are as they were.
	if h, _ := repo.Head(); h.Hash() != head.Hash() || h.Name() != head.Name() {
		t.Errorf("HEAD moved to %s", h)
	}
	for f, content := range map[string]string{"README.md": "work in progress\n", "deploy/app.yaml": "replicas: 3 # load\n", "deploy/old/gone.yaml": "kind: x\n"} {
		if b, _ := os.ReadFile(filepath.Join(root, f)); string(b) != content {
			t.Errorf("work tree %s: %q", f, b)
		}
	}
	wt, _ := repo.Worktree()
	st, _ := wt.Status()
	if got := st.File("README.md").Worktree; got != git.Modified || len(st) != 1 {
		t.Errorf("status: %v", st)
	}

	if err := r.CheckBranch("adopt-1"); err == nil || err.Error() != "branch adopt-1 already exists" {
		t.Errorf("CheckBranch of an existing branch: %v", err)
	}
	if err := r.CheckBranch("bad..name"); err == nil {
		t.Error("CheckBranch accepted bad..name")
	}
	// A change made from a file that differs from HEAD would commit work
	// nobody reviewed.
	_, err = r.Commit([]FileChange{{Path: "app.yaml", Old: []byte("replicas: 4\n"), New: []byte("replicas: 5\n")}},
		CommitOptions{Branch: "adopt-2", Message: "x", Author: Signature{"Ada", "ada@example.invalid"}})
	if err == nil || !strings.Contains(err.Error(), "deploy/app.yaml has uncommitted changes") {
		t.Errorf("commit from a changed file: %v", err)
	}
}

func TestIdentity(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", home)
	root, repo := newRepo(t, map[string]string{"a.yaml": "a: 1\n"})
	r, err := OpenRepository(root)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if _, _, err := r.Identity(getenv); err == nil {
		t.Error("no author anywhere, no error")
	}
	cfg, _ := repo.Config()
	cfg.User.Name, cfg.User.Email = "Repo User", "repo@example.invalid"
	if err := repo.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	a, c, err := r.Identity(getenv)
	if err != nil || a != (Signature{"Repo User", "repo@example.invalid"}) || c != a {
		t.Errorf("from the repository's config: %v %v %v", a, c, err)
	}
	env["GIT_AUTHOR_NAME"], env["GIT_AUTHOR_EMAIL"] = "Env Author", "env@example.invalid"
	a, c, err = r.Identity(getenv)
	if err != nil || a != (Signature{"Env Author", "env@example.invalid"}) || c != (Signature{"Repo User", "repo@example.invalid"}) {
		t.Errorf("from the environment: %v %v %v", a, c, err)
	}
}
