package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"
)

// onTerminal runs the real binary with stdout and stderr on pseudo-
// terminals, as a user at a shell sees it, and returns what each showed.
func onTerminal(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	outMaster, outTTY, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer outMaster.Close()
	errMaster, errTTY, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer errMaster.Close()
	cmd := exec.Command(driftwatchBinary(t), args...)
	cmd.Stdout, cmd.Stderr = outTTY, errTTY
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NO_COLOR=") && !strings.HasPrefix(kv, "DRIFTWATCH_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	outTTY.Close()
	errTTY.Close()
	// A master reads until the child closes its side (EIO on Linux).
	read := func(f *os.File, into *string, done chan<- struct{}) {
		b, _ := io.ReadAll(f)
		*into = string(b)
		close(done)
	}
	outDone, errDone := make(chan struct{}), make(chan struct{})
	go read(outMaster, &stdout, outDone)
	go read(errMaster, &stderr, errDone)
	err = cmd.Wait()
	<-outDone
	<-errDone
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout, stderr, code
}

// On a terminal, check shows its progress on stderr, one line rewritten in
// place and cleared at the end, and colours the report unless NO_COLOR is
// set; the report itself is the same.
func TestCheckOnATerminal(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	if err := kube.Edit(context.Background(), "kubectl-edit", gvkDeployment, ns, "web", setReplicas(4)); err != nil {
		t.Fatal(err)
	}
	args := []string{"check", "--dir", filepath.Join("..", "..", "testdata", "check"), "--path", "app",
		"--kubeconfig", kubeconfig, "-n", ns}

	stdout, stderr, code := onTerminal(t, nil, args...)
	if code != exitDrift {
		t.Fatalf("exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	for _, want := range []string{"\r\x1b[Kfetching and rendering", "\r\x1b[Klisting and comparing"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("progress lacks %q: %q", want, stderr)
		}
	}
	if !strings.HasSuffix(stderr, "\r\x1b[K") {
		t.Errorf("progress line not cleared at the end: %q", stderr)
	}
	if !strings.Contains(stdout, "\x1b[") || !strings.Contains(stdout, "spec.replicas") {
		t.Errorf("report on a terminal is not coloured: %q", stdout)
	}

	plain, stderr, code := onTerminal(t, []string{"NO_COLOR=1"}, args...)
	if code != exitDrift || strings.Contains(plain, "\x1b[") {
		t.Errorf("NO_COLOR: exit %d, report %q", code, plain)
	}
	if !strings.Contains(stderr, "\r\x1b[Klisting and comparing") {
		t.Errorf("NO_COLOR hides the progress too: %q", stderr)
	}
}
