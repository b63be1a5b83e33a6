package gitsource

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Hostile or broken input: each is a one-line error naming the cause, never
// a panic, and nothing outside the repository is read or run.
func TestRenderHostileInput(t *testing.T) {
	root := filepath.Join("..", "testdata", "hostile")
	tests := []struct{ path, want string }{
		{"aliases", "aliases/bomb.yaml:1: invalid YAML: "},
		{"nonutf8", "nonutf8/bad.yaml:1: invalid YAML: "},
		{"noname", "noname/x.yaml:1: ConfigMap has no metadata.name"},
		{"noapiversion", "noapiversion/x.yaml:1: object has no apiVersion"},
		{"absolute", `absolute path "/etc/passwd": path escapes the repository root`},
		{"helm", "chart nginx 1.0.0: chart repository https://127.0.0.1:1 is unreachable"},
		{"execfn", "kustomize build execfn: "},
		{"containerfn", "kustomize build containerfn: "},
	}
	os.Remove("/tmp/driftwatch-exec-ran")
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			_, err := Render(root, tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error = %v, want one line containing %q", err, tt.want)
			}
		})
	}
	if _, err := os.Stat("/tmp/driftwatch-exec-ran"); err == nil {
		t.Error("an exec KRM function ran")
	}
}

// A 50 MB manifest file is refused at once with a clear error, whether
// read as plain YAML or by kustomize: no hang, no memory blow-up.
func TestRenderLargeFile(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n")
	for i := 0; b.Len() < 50<<20; i++ {
		fmt.Fprintf(&b, "  k%07d: %s\n", i, strings.Repeat("x", 90))
	}
	if err := os.WriteFile(filepath.Join(dir, "big.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Render(dir, "")
	if err == nil || err.Error() != "manifest big.yaml: file is larger than 32 MiB" {
		t.Fatalf("plain YAML: error = %v, want the file named once", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("resources: [big.yaml]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Render(dir, "")
	if err == nil || !strings.Contains(err.Error(), "file is larger than 32 MiB") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("kustomize: error = %v", err)
	}
}

// A Git server that accepts connections and never answers: the fetch ends
// at its timeout with a clear error instead of hanging.
func TestLoadSlowServerTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for range 100 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	start := time.Now()
	_, err = Load(context.Background(), Options{URL: "http://" + ln.Addr().String() + "/slow.git", CacheDir: t.TempDir(), Timeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("error = %v, want a timeout", err)
	}
	if time.Since(start) > time.Minute {
		t.Errorf("took %s", time.Since(start))
	}
}

// Submodules are not followed, and the user is told.
func TestLoadSubmoduleIgnored(t *testing.T) {
	f := newFixture(t)
	sub, err := f.srv.CreateRepo("sub")
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.WriteFile("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-submodule}\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Commit("sub"); err != nil {
		t.Fatal(err)
	}
	if err := f.repo.AddSubmodule(sub.BareDir(), "vendor/sub"); err != nil {
		t.Fatal(err)
	}
	head, err := f.repo.Commit("add a submodule")
	if err != nil {
		t.Fatal(err)
	}
	opts := f.opts(t)
	d, err := Load(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if d.Revision.Commit != head || len(d.Warnings) != 1 || d.Warnings[0] != "submodule vendor/sub is ignored: its manifests are not rendered" {
		t.Errorf("commit %s warnings %q", d.Revision.Commit, d.Warnings)
	}
}

// History rewritten by a force push: the next fetch follows the branch to
// its new commit; a deleted branch is a clear "ref not found".
func TestLoadForcePushAndDeletedBranch(t *testing.T) {
	f := newFixture(t)
	opts := f.opts(t)
	opts.Ref = "next"
	if _, err := Load(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if err := f.repo.Checkout("next"); err != nil {
		t.Fatal(err)
	}
	if err := f.repo.Reset(f.first); err != nil {
		t.Fatal(err)
	}
	if err := f.repo.WriteFile("base/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  LOG_LEVEL: rewritten\n"); err != nil {
		t.Fatal(err)
	}
	rewritten, err := f.repo.Commit("rewritten history")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Load(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if d.Revision.Commit != rewritten || logLevel(t, d) != "rewritten" {
		t.Errorf("after force push: %s %s", d.Revision.Commit, logLevel(t, d))
	}
	if err := f.repo.DeleteRemoteBranch("next"); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(context.Background(), opts); err == nil || !strings.Contains(err.Error(), `ref not found: "next"`) {
		t.Errorf("deleted branch: %v", err)
	}
}

// A long history stays cheap: a branch is fetched at depth 1.
func TestLoadLongHistoryIsShallow(t *testing.T) {
	f := newFixture(t)
	for i := range 200 {
		if err := f.repo.WriteFile("history.txt", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
		if err := f.repo.CommitLocal(fmt.Sprint("commit ", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.repo.Push(); err != nil {
		t.Fatal(err)
	}
	opts := f.opts(t)
	if _, err := Load(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(opts.CacheDir)
	repo, err := git.PlainOpen(filepath.Join(opts.CacheDir, entries[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	commits := 0
	iter, _ := repo.CommitObjects()
	_ = iter.ForEach(func(*object.Commit) error { commits++; return nil })
	if commits != 1 {
		t.Errorf("cache holds %d commits, want 1 (shallow)", commits)
	}
}

// A repository deleted and created again at the same URL, with a history
// unrelated to the cached one, is followed; so are its SHA refs.
func TestLoadRepositoryReplaced(t *testing.T) {
	f := newFixture(t)
	opts := f.opts(t)
	if _, err := Load(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	repo, err := f.srv.ReplaceRepo("manifests")
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.CopyDir(filepath.Join("..", "testdata", "demo")); err != nil {
		t.Fatal(err)
	}
	if err := repo.WriteFile("base/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  LOG_LEVEL: replaced\n"); err != nil {
		t.Fatal(err)
	}
	replaced, err := repo.Commit("a new repository")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Load(context.Background(), opts)
	if err != nil {
		t.Fatalf("after the repository was replaced: %v", err)
	}
	if d.Revision.Commit != replaced || logLevel(t, d) != "replaced" {
		t.Errorf("after the repository was replaced: %s %s", d.Revision.Commit, logLevel(t, d))
	}
	// A commit of the old history is gone with it: said so, by name.
	opts.Ref = f.later
	if _, err := Load(context.Background(), opts); err == nil || !strings.Contains(err.Error(), f.later) {
		t.Errorf("old commit after replacement: %v", err)
	}
	opts.Ref = replaced
	if d, err := Load(context.Background(), opts); err != nil || d.Revision.Commit != replaced {
		t.Errorf("new commit by SHA: %v", err)
	}
}

// A Git server that fails and recovers over and over: every failure is a
// one-line error naming the server's answer (no hang, no cached state
// passed off as fresh), every recovery loads the current commit again.
func TestLoadFlappingServer(t *testing.T) {
	f := newFixture(t)
	opts := f.opts(t)
	for i := range 6 {
		failing := i%2 == 1
		status := 0
		if failing {
			status = http.StatusServiceUnavailable
		}
		f.srv.SetFailing(status)
		d, err := Load(context.Background(), opts)
		switch {
		case failing && (err == nil || !strings.Contains(err.Error(), "Git server answered 503 Service Unavailable")):
			t.Errorf("round %d, server failing: %v", i, err)
		case !failing && err != nil:
			t.Errorf("round %d, server back: %v", i, err)
		case !failing && d.Revision.Commit != f.later:
			t.Errorf("round %d: commit %s, want %s", i, d.Revision.Commit, f.later)
		}
	}
}
