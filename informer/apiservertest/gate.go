package apiservertest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// RequireVar names the environment variable that turns a missing API
// server into a failure of the integration tests instead of a skip.
// make test sets it, so that CI can never pass by skipping them.
const RequireVar = "DRIFTWATCH_REQUIRE_APISERVER"

// Available reports whether Start can find kube-apiserver and etcd:
// KUBEBUILDER_ASSETS names a directory that holds both. If not, reason
// says why.
func Available() (ok bool, reason string) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		return false, "KUBEBUILDER_ASSETS is not set"
	}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
			return false, fmt.Sprintf("KUBEBUILDER_ASSETS=%s holds no executable %s", dir, name)
		}
	}
	return true, ""
}

// Required reports whether RequireVar is set to a true value ("1",
// "true"; anything that is not a boolean counts as true).
func Required() bool {
	v := os.Getenv(RequireVar)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	return b || err != nil
}

// SkipLine is the one line a test binary prints when it skips its
// integration tests.
func SkipLine(reason string) string {
	return "skipping integration tests: " + reason + " (run make test, which builds kube-apiserver and etcd)"
}

// gate is the test binary's one decision, taken on first use, so that
// TestMain and every integration test agree.
var gate = sync.OnceValues(func() (start bool, err error) {
	ok, reason := Available()
	switch {
	case ok:
		return true, nil
	case Required():
		return false, fmt.Errorf("integration tests cannot run: %s, and %s=%s (make test sets it) forbids skipping them; make envtest builds kube-apiserver and etcd",
			reason, RequireVar, os.Getenv(RequireVar))
	case os.Getenv("KUBEBUILDER_ASSETS") != "":
		// Set but wrong: whoever set it meant the integration tests to run.
		return false, errors.New("integration tests cannot run: " + reason + " (make envtest builds kube-apiserver and etcd)")
	}
	return false, nil
})

var skipOnce sync.Once

func printSkipLine() {
	skipOnce.Do(func() {
		_, reason := Available()
		fmt.Println(SkipLine(reason))
	})
}

// ShouldStart is for a TestMain whose package's integration tests share
// one API server. It returns true when TestMain should start it (with
// Start or StartWith) as before. Otherwise, with a nil error, it has
// printed SkipLine once: TestMain runs the tests without a server, the
// unit tests run and each integration test skips itself with Require. A
// non-nil error means the tests must fail: the binaries are missing and
// RequireVar is set, or KUBEBUILDER_ASSETS is set to a directory that
// lacks them; TestMain prints it and exits 1.
func ShouldStart() (bool, error) {
	start, err := gate()
	if !start && err == nil {
		printSkipLine()
	}
	return start, err
}

// TB is the part of testing.TB that Require uses.
type TB interface {
	Helper()
	Fatal(args ...any)
	SkipNow()
}

// Require is called first by every test or benchmark that needs the API
// server. It returns when the binaries are available. Otherwise it skips
// tb, having printed SkipLine once for the test binary, or, when
// ShouldStart would return an error (RequireVar set), fails tb with it.
func Require(tb TB) {
	tb.Helper()
	start, err := gate()
	switch {
	case err != nil:
		tb.Fatal(err)
	case !start:
		printSkipLine()
		tb.SkipNow()
	}
}

// Main is a test package's TestMain around one API server: it starts the
// server when ShouldStart says so, calls setup with it (nil when the
// integration tests skip: the unit tests still run), runs the tests,
// stops the server and exits with the tests' status. A start or setup
// error is printed and fails the package.
func Main(m interface{ Run() int }, setup func(*Env) error) {
	os.Exit(runMain(m, setup))
}

func runMain(m interface{ Run() int }, setup func(*Env) error) int {
	start, err := ShouldStart()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if !start {
		return m.Run()
	}
	env, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	if setup != nil {
		if err := setup(env); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}
