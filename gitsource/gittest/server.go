// Package gittest provides a real Git server for tests and demos: the
// system's git http-backend behind net/http/cgi on 127.0.0.1, with optional
// basic auth, serving bare repositories built with the git command line.
package gittest

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// Server serves every bare repository under its root directory as
// <URL>/<name>.git over Git's smart HTTP protocol.
type Server struct {
	// URL is the base URL, http://127.0.0.1:<port>.
	URL string
	// Username and Password, when set, are required as basic auth.
	Username, Password string

	root    string
	srv     *http.Server
	ln      net.Listener
	paths   []string
	failing atomic.Int32 // an HTTP status every request gets, 0 when healthy
}

// Options configure a Server. The zero value serves without auth.
type Options struct {
	// Username and Password, when both set, are required on every request.
	Username, Password string
	// Addr to listen on; empty means 127.0.0.1:0 (a free loopback port).
	Addr string
}

// Start starts a server whose repositories live under dir.
func Start(dir string, opts Options) (*Server, error) {
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("git: %w (is git installed?)", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		return nil, fmt.Errorf("git http-backend: %w", err)
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("git server listen: %w", err)
	}
	s := &Server{
		URL:      "http://" + ln.Addr().String(),
		Username: opts.Username, Password: opts.Password,
		root: dir, ln: ln,
	}
	h := &cgi.Handler{
		Path: backend,
		Root: "/",
		// http-backend's complaints (such as a missing repository) reach the
		// client as HTTP status codes; keep test output quiet.
		Stderr: io.Discard,
		Env: []string{
			"GIT_PROJECT_ROOT=" + filepath.Join(dir, "srv"),
			"GIT_HTTP_EXPORT_ALL=1",
		},
	}
	s.srv = &http.Server{Handler: s.faults(s.auth(h))}
	go s.srv.Serve(ln) //nolint:errcheck // returns on Close
	return s, nil
}

// SetFailing makes every request fail with the given HTTP status (503, a
// proxy in front of a Git server that is down, say) until it is called
// with 0.
func (s *Server) SetFailing(status int) { s.failing.Store(int32(status)) }

func (s *Server) faults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code := int(s.failing.Load()); code != 0 {
			http.Error(w, http.StatusText(code), code)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) auth(next http.Handler) http.Handler {
	if s.Username == "" && s.Password == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(s.Username)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(s.Password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// RepoURL is the clone URL of the named repository.
func (s *Server) RepoURL(name string) string { return s.URL + "/" + name + ".git" }

// Repo is a work tree whose commits are pushed to a bare repository the
// server serves.
type Repo struct {
	Name string
	work string
	bare string
}

// ReplaceRepo deletes the named repository and makes a new, empty one in
// its place: the same URL with an unrelated history once committed to.
func (s *Server) ReplaceRepo(name string) (*Repo, error) {
	for _, d := range []string{filepath.Join(s.root, "work", name), filepath.Join(s.root, "srv", name+".git")} {
		if err := os.RemoveAll(d); err != nil {
			return nil, err
		}
	}
	return s.CreateRepo(name)
}

// CreateRepo makes an empty repository with default branch main.
func (s *Server) CreateRepo(name string) (*Repo, error) {
	r := &Repo{
		Name: name,
		work: filepath.Join(s.root, "work", name),
		bare: filepath.Join(s.root, "srv", name+".git"),
	}
	if err := os.MkdirAll(r.work, 0o755); err != nil {
		return nil, err
	}
	if _, err := run("", "init", "--bare", "--initial-branch=main", r.bare); err != nil {
		return nil, err
	}
	if _, err := run(r.bare, "config", "http.receivepack", "true"); err != nil {
		return nil, err
	}
	if _, err := run(r.work, "init", "--initial-branch=main"); err != nil {
		return nil, err
	}
	if _, err := run(r.work, "remote", "add", "origin", r.bare); err != nil {
		return nil, err
	}
	return r, nil
}

// Dir is the work tree, for writing files before Commit.
func (r *Repo) Dir() string { return r.work }

// BareDir is the served bare repository.
func (r *Repo) BareDir() string { return r.bare }

// WriteFile writes a file in the work tree, creating directories.
func (r *Repo) WriteFile(path, content string) error {
	p := filepath.Join(r.work, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(content), 0o644)
}

// CopyDir replaces the work tree's content (all but .git) with a copy of src.
func (r *Repo) CopyDir(src string) error {
	entries, err := os.ReadDir(r.work)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() != ".git" {
			if err := os.RemoveAll(filepath.Join(r.work, e.Name())); err != nil {
				return err
			}
		}
	}
	return os.CopyFS(r.work, os.DirFS(src))
}

// Commit commits everything in the work tree, pushes the branch (and tags),
// and returns the new commit's SHA.
func (r *Repo) Commit(message string) (string, error) {
	if _, err := run(r.work, "add", "-A"); err != nil {
		return "", err
	}
	if _, err := run(r.work, "commit", "--allow-empty", "-q", "-m", message); err != nil {
		return "", err
	}
	if err := r.Push(); err != nil {
		return "", err
	}
	return r.Head()
}

// CommitLocal commits everything without pushing (for building long
// histories quickly; Push sends them).
func (r *Repo) CommitLocal(message string) error {
	if _, err := run(r.work, "add", "-A"); err != nil {
		return err
	}
	_, err := run(r.work, "commit", "--allow-empty", "-q", "-m", message)
	return err
}

// Reset moves the current branch to commit (rewriting history; Commit
// then force-pushes it).
func (r *Repo) Reset(commit string) error {
	_, err := run(r.work, "reset", "-q", "--hard", commit)
	return err
}

// AddSubmodule adds the repository at url as a submodule at path.
func (r *Repo) AddSubmodule(url, path string) error {
	_, err := run(r.work, "-c", "protocol.file.allow=always", "submodule", "add", "-q", url, path)
	return err
}

// DeleteRemoteBranch deletes a branch from the served repository.
func (r *Repo) DeleteRemoteBranch(branch string) error {
	_, err := run(r.work, "push", "-q", "origin", "--delete", branch)
	return err
}

// Head returns the SHA of the work tree's HEAD.
func (r *Repo) Head() (string, error) {
	out, err := run(r.work, "rev-parse", "HEAD")
	return strings.TrimSpace(out), err
}

// Tag creates a tag at HEAD (annotated when message is not empty) and
// pushes it.
func (r *Repo) Tag(name, message string) error {
	args := []string{"tag", name}
	if message != "" {
		args = []string{"tag", "-a", "-m", message, name}
	}
	if _, err := run(r.work, args...); err != nil {
		return err
	}
	return r.Push()
}

// Checkout switches the work tree to branch, creating it from HEAD if new.
func (r *Repo) Checkout(branch string) error {
	if _, err := run(r.work, "checkout", "-q", branch); err == nil {
		return nil
	}
	_, err := run(r.work, "checkout", "-q", "-b", branch)
	return err
}

// Push pushes all branches and tags to the served repository.
func (r *Repo) Push() error {
	if _, err := run(r.work, "push", "-q", "--force", "--all", "origin"); err != nil {
		return err
	}
	_, err := run(r.work, "push", "-q", "--force", "--tags", "origin")
	return err
}

// run runs git with a fixed identity and no user or system configuration.
func run(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Driftwatch Test", "GIT_AUTHOR_EMAIL=test@driftwatch.invalid",
		"GIT_COMMITTER_NAME=Driftwatch Test", "GIT_COMMITTER_EMAIL=test@driftwatch.invalid",
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
