// Package pgtest runs a real, throwaway PostgreSQL server for tests: initdb
// into a temporary directory, postgres listening on 127.0.0.1 on a free
// port (and on a Unix socket in the same directory), a fresh database per
// test. One Server is meant to be shared by a test package (TestMain).
//
// PostgreSQL refuses to run as root: when the tests do, initdb and postgres
// run as the unprivileged user nobody, owning the temporary directory.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// ErrNoBinaries is returned by Start when initdb and postgres cannot be
// found.
var ErrNoBinaries = errors.New("PostgreSQL binaries (initdb, postgres) not found on PATH, by pg_config --bindir or in /usr/lib/postgresql/*/bin: run .ci/deps.sh")

// RequireEnv names the environment variable that turns a missing
// PostgreSQL from a skip into a failure (DRIFTWATCH_REQUIRE_POSTGRES=1).
const RequireEnv = "DRIFTWATCH_REQUIRE_POSTGRES"

// Required reports whether RequireEnv is set to 1.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Server is a running PostgreSQL with trust authentication for the
// superuser "postgres" on 127.0.0.1.
type Server struct {
	// Port is the TCP port postgres listens on, on 127.0.0.1.
	Port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	// admin is a connection to the "postgres" database, for creating and
	// dropping the tests' databases.
	admin *sql.DB
	n     atomic.Int64
}

// startTimeout bounds initdb and the wait for postgres to accept
// connections; stopTimeout the wait for a fast shutdown.
const (
	startTimeout = 2 * time.Minute
	stopTimeout  = 30 * time.Second
)

// BinDir returns the directory holding initdb and postgres: the one of
// initdb on PATH, else pg_config --bindir, else the newest
// /usr/lib/postgresql/*/bin.
func BinDir() (string, error) {
	var candidates []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			candidates = append(candidates, filepath.Dir(real))
		}
		candidates = append(candidates, filepath.Dir(p))
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	candidates = append(candidates, dirs...)
	for _, d := range candidates {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Start runs initdb and starts postgres. It returns ErrNoBinaries (wrapped)
// when PostgreSQL is not installed. Call Stop when done.
func Start() (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "driftwatch-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	cred, err := credential(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", data, "-U", "postgres", "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	// A port found free may be taken before postgres binds it: retry.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := start(ctx, bin, dir, data, cred)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

// credential returns the credential to run PostgreSQL with (nil: as we
// are) and gives it dir.
func credential(dir string) (*syscall.Credential, error) {
	if os.Getuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, and no user nobody to run PostgreSQL as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgtest: user nobody: %w", err)
	}
	if err := os.Chown(dir, int(uid), int(gid)); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: false}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start(ctx context.Context, bin, dir, data string, cred *syscall.Credential) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("pgtest: free port: %w", err)
	}
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port="+strconv.Itoa(port),
		"-c", "unix_socket_directories="+dir,
		"-c", "max_connections=200",
		"-c", "logging_collector=off")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Pdeathsig: a test binary killed by its timeout takes its server
	// along instead of leaving it running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pgtest: start postgres: %w", err)
	}
	s := &Server{Port: port, dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(s.done) }()

	s.admin, err = sql.Open("pgx", s.DSN("postgres"))
	if err != nil {
		s.kill()
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err = s.admin.PingContext(pctx)
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			s.admin.Close()
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("pgtest: postgres exited: %s\n%s", cmd.ProcessState, tail(log))
		case <-ctx.Done():
			s.admin.Close()
			s.kill()
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("pgtest: postgres not ready after %s: %w\n%s", startTimeout, err, tail(log))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func tail(b []byte) string {
	const n = 4000
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// DSN returns the connection URL of database db.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// CreateDatabase creates a new, empty database and returns its DSN.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), s.n.Add(1))
	if _, err := s.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return s.DSN(name), nil
}

// Database creates a new, empty database for t, dropped when t ends, and
// returns its DSN.
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	dsn, err := s.CreateDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	name := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	t.Cleanup(func() {
		// WITH (FORCE) ends the connections a failed test left open.
		if _, err := s.admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return dsn
}

// Stop shuts postgres down (fast shutdown, then SIGKILL after a while)
// and removes its directory.
func (s *Server) Stop() error {
	if s.admin != nil {
		s.admin.Close()
	}
	// SIGINT is PostgreSQL's fast shutdown: roll back, disconnect, exit.
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	var err error
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		s.kill()
		err = fmt.Errorf("pgtest: postgres did not stop within %s: killed", stopTimeout)
	}
	return errors.Join(err, os.RemoveAll(s.dir))
}

func (s *Server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}
