package gitsource

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"

	"github.com/driftwatch/driftwatch/gitsource/gittest"
)

const (
	gitUser = "alice"
	gitPass = "pa55-w0rd-for-tests"
)

// fixture is a real Git server on loopback with one repository holding the
// demo manifests on main, a tag v1 (annotated) and a branch "next" whose
// config map differs.
type fixture struct {
	srv          *gittest.Server
	repo         *gittest.Repo
	first, later string // commit SHAs on main
	next         string // commit SHA on branch next
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv, err := gittest.Start(t.TempDir(), gittest.Options{Username: gitUser, Password: gitPass})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	repo, err := srv.CreateRepo("manifests")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{srv: srv, repo: repo}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(repo.CopyDir(filepath.Join("..", "testdata", "demo")))
	f.first, err = repo.Commit("first commit")
	must(err)
	must(repo.Tag("v1", "release v1"))
	must(repo.WriteFile("base/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  LOG_LEVEL: debug\n"))
	f.later, err = repo.Commit("debug logging\n\nlonger body")
	must(err)
	must(repo.Checkout("next"))
	must(repo.WriteFile("base/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  LOG_LEVEL: trace\n"))
	f.next, err = repo.Commit("trace on next")
	must(err)
	must(repo.Checkout("main"))
	return f
}

func (f *fixture) opts(t *testing.T) Options {
	return Options{
		URL: f.srv.RepoURL("manifests"), Path: "overlays/prod", CacheDir: t.TempDir(),
		Auth: Auth{Username: gitUser, Password: gitPass}, Timeout: 30 * time.Second,
	}
}

func logLevel(t *testing.T, d *Desired) string {
	t.Helper()
	for _, o := range d.Objects {
		if o.Object.GetKind() == "ConfigMap" {
			return o.Object.Object["data"].(map[string]any)["LOG_LEVEL"].(string)
		}
	}
	t.Fatal("no ConfigMap rendered")
	return ""
}

func TestLoadRefs(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, ref, wantCommit, wantLevel, wantSubject string
	}{
		{"default branch", "", f.later, "debug", "debug logging"},
		{"branch", "next", f.next, "trace", "trace on next"},
		{"annotated tag", "v1", f.first, "info", "first commit"},
		{"full sha", f.first, f.first, "info", "first commit"},
		{"short sha", f.first[:8], f.first, "info", "first commit"},
		{"full ref name", "refs/heads/next", f.next, "trace", "trace on next"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := f.opts(t)
			opts.Ref = tt.ref
			d, err := Load(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{d.Revision.Commit, logLevel(t, d), d.Revision.Subject}
			if diff := cmp.Diff([]string{tt.wantCommit, tt.wantLevel, tt.wantSubject}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if d.Revision.AuthorTime == nil || time.Since(*d.Revision.AuthorTime) > time.Hour {
				t.Errorf("author time = %v", d.Revision.AuthorTime)
			}
		})
	}
}

func TestLoadCacheReusedAndRepaired(t *testing.T) {
	f := newFixture(t)
	opts := f.opts(t)
	if _, err := Load(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(opts.CacheDir)
	if len(entries) != 1 {
		t.Fatalf("cache entries = %d, want 1", len(entries))
	}
	cached := filepath.Join(opts.CacheDir, entries[0].Name())
	// A shallow fetch: the cache holds one commit, not the history.
	if _, err := os.Stat(filepath.Join(cached, "shallow")); err != nil {
		t.Errorf("cache is not shallow: %v", err)
	}

	// A new commit is fetched into the same cache directory.
	if err := f.repo.WriteFile("base/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  LOG_LEVEL: warn\n"); err != nil {
		t.Fatal(err)
	}
	head, err := f.repo.Commit("warn")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Load(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if d.Revision.Commit != head || logLevel(t, d) != "warn" {
		t.Errorf("after new commit: commit %s level %s", d.Revision.Commit, logLevel(t, d))
	}
	if entries2, _ := os.ReadDir(opts.CacheDir); len(entries2) != 1 {
		t.Errorf("cache entries = %d, want 1 (fetch, not re-clone)", len(entries2))
	}

	// Corrupt the cache: objects gone, config garbage. Load re-clones.
	if err := os.RemoveAll(filepath.Join(cached, "objects")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cached, "config"), []byte("[[[ not a config"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err = Load(context.Background(), opts)
	if err != nil {
		t.Fatalf("corrupted cache not repaired: %v", err)
	}
	if d.Revision.Commit != head {
		t.Errorf("commit = %s, want %s", d.Revision.Commit, head)
	}
	// Credentials are never written into the cache.
	cfg, _ := os.ReadFile(filepath.Join(cached, "config"))
	if strings.Contains(string(cfg), gitPass) {
		t.Error("password written into the cache config")
	}
}

func TestLoadErrors(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name    string
		mutate  func(*Options)
		wantErr string
	}{
		{"unknown ref", func(o *Options) { o.Ref = "no-such-branch" }, `ref not found: "no-such-branch" is no branch, tag or commit`},
		{"unknown sha", func(o *Options) { o.Ref = "deadbeef" }, `"deadbeef" is no branch, tag or commit`},
		{"wrong password", func(o *Options) { o.Auth.Password = "wrong" }, "credentials were refused"},
		{"no credentials", func(o *Options) { o.Auth = Auth{} }, "authentication required"},
		{"unknown repository", func(o *Options) { o.URL = f.srv.RepoURL("absent") }, "repository not found (or not visible to these credentials)"},
		{"unreachable", func(o *Options) { o.URL = "http://127.0.0.1:1/x.git" }, "repository unreachable"},
		{"path not in repo", func(o *Options) { o.Path = "overlays/staging" }, `path "overlays/staging": path not found`},
		{"url and dir", func(o *Options) { o.Dir = "." }, "exactly one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := f.opts(t)
			tt.mutate(&opts)
			_, err := Load(context.Background(), opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			if msg := err.Error(); strings.Count(msg, "repository not found")+strings.Count(msg, "authentication required")+strings.Count(msg, "credentials were refused") > 1 {
				t.Errorf("error repeats its cause: %v", err)
			}
			if strings.Contains(err.Error(), gitPass) {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestLoadFileURLAndDir(t *testing.T) {
	f := newFixture(t)
	opts := Options{URL: "file://" + f.repo.BareDir(), Ref: "v1", Path: "overlays/prod", CacheDir: t.TempDir()}
	d, err := Load(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if d.Revision.Commit != f.first {
		t.Errorf("file:// commit = %s, want %s", d.Revision.Commit, f.first)
	}
	// A local checkout: rendered as is, commit read from its .git.
	d, err = Load(context.Background(), Options{Dir: f.repo.Dir(), Path: "overlays/prod"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Revision.Commit != f.later || logLevel(t, d) != "debug" {
		t.Errorf("dir: commit %s level %s", d.Revision.Commit, logLevel(t, d))
	}
}

func TestLoadSSH(t *testing.T) {
	f := newFixture(t)
	key, pub, err := gittest.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ssrv, err := f.srv.StartSSH(pub)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ssrv.Close() })
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "id_ed25519")
	otherKeyFile := filepath.Join(dir, "other")
	knownHosts := filepath.Join(dir, "known_hosts")
	wrongHosts := filepath.Join(dir, "wrong_hosts")
	other, _, _ := gittest.GenerateKey()
	_, impostor, _ := gittest.GenerateKey()
	for name, content := range map[string]string{
		keyFile: string(key), otherKeyFile: string(other), knownHosts: ssrv.KnownHostsLine() + "\n",
		// The right host with another key: what a man in the middle shows.
		wrongHosts: strings.Fields(ssrv.KnownHostsLine())[0] + " " + string(ssh.MarshalAuthorizedKey(impostor)),
	} {
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		auth    Auth
		wantErr string
	}{
		{name: "key and known host", auth: Auth{SSHKeyFile: keyFile, KnownHostsFiles: []string{knownHosts}}},
		{name: "host key mismatch refused", auth: Auth{SSHKeyFile: keyFile, KnownHostsFiles: []string{wrongHosts}},
			wantErr: "ssh host key verification failed"},
		{name: "unknown host refused", auth: Auth{SSHKeyFile: keyFile, KnownHostsFiles: []string{filepath.Join(dir, "empty")}},
			wantErr: "known_hosts file"},
		{name: "verification off", auth: Auth{SSHKeyFile: keyFile, InsecureIgnoreHostKey: true}},
		{name: "key not accepted", auth: Auth{SSHKeyFile: otherKeyFile, KnownHostsFiles: []string{knownHosts}},
			wantErr: "manifests.git: credentials were refused: the server accepted no SSH key offered (--ssh-key-file, or the ssh-agent's): ssh: handshake failed: ssh: unable to authenticate"},
		{name: "missing key file", auth: Auth{SSHKeyFile: filepath.Join(dir, "nope"), KnownHostsFiles: []string{knownHosts}},
			wantErr: "ssh key " + filepath.Join(dir, "nope")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Load(context.Background(), Options{
				URL: ssrv.URL("manifests"), Ref: "next", Path: "overlays/prod", CacheDir: t.TempDir(),
				Auth: tt.auth, Timeout: 30 * time.Second,
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Revision.Commit != f.next {
				t.Errorf("commit = %s, want %s", d.Revision.Commit, f.next)
			}
		})
	}
}
