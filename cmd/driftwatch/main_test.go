package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/gitsource/gittest"
	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

// The package's tests share one real API server and one real Git server.
var (
	apiConfig  *rest.Config
	testEnv    *apiservertest.Env
	kubeconfig string
	kube       *apiservertest.Client
	gitServer  *gittest.Server
	gitRepo    *gittest.Repo
)

const (
	gitUser     = "ci-bot"
	gitPassword = "git-pa55word-never-printed"
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	start, err := apiservertest.ShouldStart()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if !start {
		// No API server: the unit tests run (flags, docs, exit status);
		// the integration tests skip themselves with requireAPIServer.
		return m.Run()
	}
	env, err := apiservertest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer env.Stop()
	testEnv, apiConfig = env, env.Config
	tmp, err := os.MkdirTemp("", "driftwatch-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if kubeconfig, err = apiservertest.WriteKubeconfig(apiConfig, tmp, "envtest", "default"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if kube, err = apiservertest.NewClient(apiConfig); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := kube.Apply(context.Background(), "setup", "", mustRender("crd")...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	gitServer, err = gittest.Start(filepath.Join(tmp, "git"), gittest.Options{Username: gitUser, Password: gitPassword})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer gitServer.Close()
	if gitRepo, err = gitServer.CreateRepo("deploy"); err == nil {
		if err = gitRepo.CopyDir(filepath.Join("..", "..", "testdata", "check")); err == nil {
			_, err = gitRepo.Commit("desired state")
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// requireAPIServer is the first call of every test and benchmark that
// needs the API server or the Git server TestMain starts: without
// KUBEBUILDER_ASSETS it skips them (make test sets
// DRIFTWATCH_REQUIRE_APISERVER, which makes that a failure).
func requireAPIServer(tb testing.TB) {
	tb.Helper()
	apiservertest.Require(tb)
}

// mustRender renders testdata/check/<path> into objects, or panics: only
// for fixtures known to be valid.
func mustRender(path string) []*unstructured.Unstructured {
	objs, err := gitsource.Render(filepath.Join("..", "..", "testdata", "check"), path)
	if err != nil {
		panic(err)
	}
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o.Object
	}
	return out
}

// result is what one run of the command printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs driftwatch in-process with the given arguments, the way main
// does, with git credentials in the environment.
func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	return runWithEnv(t, nil, args...)
}

// runWithEnv is runCLI with some variables overridden after the defaults.
func runWithEnv(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	t.Setenv("DRIFTWATCH_GIT_USERNAME", gitUser)
	t.Setenv("DRIFTWATCH_GIT_PASSWORD", gitPassword)
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), args, streams{Out: &out, Err: &errb})
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}
