package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const (
	testVersion = "v9.8.7-imagetest"
	testTag     = "ghcr.io/driftwatch/driftwatch:" + testVersion
	// A stand-in CA bundle: the test checks it lands in the image as is.
	testCerts = "-----BEGIN CERTIFICATE-----\nTUlJQnRlc3Q=\n-----END CERTIFICATE-----\n"
)

// binaryEnv names (by an absolute path) a static linux binary of
// cmd/driftwatch for this machine's architecture, built beforehand with
// the flags of `make image`: make test builds it once, before go test, so
// that the test need not recompile every dependency with CGO_ENABLED=0
// within its timeout. Both image builds of TestReproducible pack this one
// binary, as they did the one binary staticBinary builds.
const binaryEnv = "DRIFTWATCH_IMAGE_BINARY"

var (
	binOnce sync.Once
	binPath string
	binErr  error
	// binBuilt says staticBinary built binPath itself (with testVersion)
	// in a directory of its own, which TestMain removes.
	binBuilt bool
)

// staticBinary returns $DRIFTWATCH_IMAGE_BINARY when set; otherwise it
// builds cmd/driftwatch once, statically linked for linux on this
// machine's architecture (so that it can run here), as `make image` does.
func staticBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if p := os.Getenv(binaryEnv); p != "" {
			if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
				binErr = errors.New(binaryEnv + "=" + p + ": not a file (make test builds it: make bin/driftwatch-linux-" + runtime.GOARCH + ")")
				return
			}
			binPath = p
			return
		}
		dir, err := os.MkdirTemp("", "driftwatch-image-test-")
		if err != nil {
			binErr = err
			return
		}
		binPath, binBuilt = filepath.Join(dir, "driftwatch-linux-"+runtime.GOARCH), true
		// The first run compiles every dependency once more (CGO_ENABLED=0
		// changes them all); stop in time to say so rather than panic at the
		// test binary's timeout.
		ctx := context.Background()
		if d, ok := t.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, d.Add(-30*time.Second))
			defer cancel()
		}
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+testVersion,
			"-o", binPath, "github.com/driftwatch/driftwatch/cmd/driftwatch")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH, "GOTOOLCHAIN=local")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = errors.New("go build ./cmd/driftwatch: " + err.Error() + "\n" + string(out))
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binBuilt {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// buildImage runs the command line as `go run ./cmd/driftwatch-image` would
// and returns the tarball's path.
func buildImage(t *testing.T, bin string, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	certs := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(certs, []byte(testCerts), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "dist", "driftwatch-image.tar")
	args := append([]string{"--binary", bin, "--out", out, "--tag", testTag, "--arch", runtime.GOARCH,
		"--ca-certificates", certs}, extra...)
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("driftwatch-image %q: exit %d: %s", args, code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "wrote "+out+": "+testTag+" sha256:") {
		t.Errorf("stdout = %q", stdout.String())
	}
	return out
}

type entry struct {
	hdr  *tar.Header
	data []byte
}

// layerFiles reads the image's only layer.
func layerFiles(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(h.Name, "/")] = entry{h, data}
	}
	return files
}

// TestImage builds a static driftwatch, builds the image from it, reads the
// tarball back with go-containerregistry, checks the configuration and the
// layer, and runs the binary taken out of the image.
func TestImage(t *testing.T) {
	bin := staticBinary(t)
	out := buildImage(t, bin)

	tag, err := name.NewTag(testTag)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatalf("read %s back: %v", out, err)
	}

	// docker load reads manifest.json and names the image by its RepoTags.
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(out) })
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || !slices.Equal(m[0].RepoTags, []string{testTag}) {
		t.Errorf("manifest.json = %+v, want one image tagged %s", m, testTag)
	}

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" {
		t.Errorf("User = %q, want 65532:65532", c.User)
	}
	if !slices.Equal(c.Entrypoint, []string{"/driftwatch"}) {
		t.Errorf("Entrypoint = %q, want [/driftwatch]", c.Entrypoint)
	}
	if len(c.Cmd) != 0 {
		t.Errorf("Cmd = %q, want none", c.Cmd)
	}
	var path bool
	for _, e := range c.Env {
		if strings.HasPrefix(e, "PATH=/") {
			path = true
		}
	}
	if !path || !slices.Contains(c.Env, "XDG_CACHE_HOME=/tmp/.cache") {
		t.Errorf("Env = %q, want PATH and XDG_CACHE_HOME=/tmp/.cache", c.Env)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform = %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}
	for k, v := range map[string]string{
		"org.opencontainers.image.source":  "https://github.com/driftwatch/driftwatch",
		"org.opencontainers.image.version": testVersion,
	} {
		if got := c.Labels[k]; got != v {
			t.Errorf("label %s = %q, want %q", k, got, v)
		}
	}

	files := layerFiles(t, img)
	want := map[string]struct {
		typ  byte
		mode int64
		uid  int
	}{
		"driftwatch":                        {tar.TypeReg, 0o755, 0},
		"etc/passwd":                        {tar.TypeReg, 0o644, 0},
		"etc/group":                         {tar.TypeReg, 0o644, 0},
		"etc/ssl/certs/ca-certificates.crt": {tar.TypeReg, 0o644, 0},
		"tmp":                               {tar.TypeDir, 0o1777, 0},
		"home/nonroot":                      {tar.TypeDir, 0o700, 65532},
	}
	for p, w := range want {
		e, ok := files[p]
		if !ok {
			t.Errorf("/%s is not in the layer", p)
			continue
		}
		if e.hdr.Typeflag != w.typ || e.hdr.Mode != w.mode || e.hdr.Uid != w.uid {
			t.Errorf("/%s: type %c mode %o uid %d, want type %c mode %o uid %d", p,
				e.hdr.Typeflag, e.hdr.Mode, e.hdr.Uid, w.typ, w.mode, w.uid)
		}
	}
	if !strings.Contains(string(files["etc/passwd"].data), "\nnonroot:x:65532:65532:nonroot:/home/nonroot:") {
		t.Errorf("/etc/passwd = %q, want the user nonroot 65532", files["etc/passwd"].data)
	}
	if !strings.Contains(string(files["etc/group"].data), "\nnonroot:x:65532:") {
		t.Errorf("/etc/group = %q, want the group nonroot 65532", files["etc/group"].data)
	}
	if got := string(files["etc/ssl/certs/ca-certificates.crt"].data); got != testCerts {
		t.Errorf("CA bundle = %q, want the --ca-certificates file", got)
	}
	orig, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(files["driftwatch"].data) != sha256.Sum256(orig) {
		t.Error("/driftwatch in the image differs from --binary")
	}

	// Run the binary from the image: unpack the layer and execute the
	// entrypoint.
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for p, e := range files {
		dst := filepath.Join(root, p)
		switch e.hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, e.data, os.FileMode(e.hdr.Mode).Perm()); err != nil {
				t.Fatal(err)
			}
		}
	}
	for p, e := range files {
		if e.hdr.Typeflag == tar.TypeDir {
			// MkdirAll does not set the sticky bit.
			mode := os.FileMode(e.hdr.Mode).Perm()
			if e.hdr.Mode&0o1000 != 0 {
				mode |= os.ModeSticky
			}
			if err := os.Chmod(filepath.Join(root, p), mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	entry := filepath.Join(root, c.Entrypoint[0])
	cmd := exec.Command(entry, "version")
	cmd.Env = c.Env
	outb, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v: %s", entry, err, outb)
	}
	wantVersion := versionLine(t, bin)
	if !strings.HasPrefix(string(outb), wantVersion) || !strings.HasSuffix(string(outb), "linux/"+runtime.GOARCH+")\n") {
		t.Errorf("driftwatch version printed %q, want a line starting %q for linux/%s", outb, wantVersion, runtime.GOARCH)
	}
	t.Logf("from the image: %s", strings.TrimSpace(string(outb)))

	// As a container runtime would: the layer as the root file system,
	// the image's user, environment and working directory. Nothing but the
	// layer is in there, so this also proves the binary needs no libc.
	t.Run("chroot", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("chroot needs root; the binary was run from the unpacked layer above")
		}
		cmd := exec.Command(c.Entrypoint[0], "version")
		cmd.Path = c.Entrypoint[0]
		cmd.Dir = c.WorkingDir
		cmd.Env = c.Env
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
		outb, err := cmd.CombinedOutput()
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("chroot not permitted here: %v", err)
		}
		if err != nil {
			t.Fatalf("chroot %s %s version as 65532: %v: %s", root, c.Entrypoint[0], err, outb)
		}
		if !strings.HasPrefix(string(outb), wantVersion) {
			t.Errorf("driftwatch version printed %q, want a line starting %q", outb, wantVersion)
		}
		t.Logf("in a chroot of the layer as 65532:65532: %s", strings.TrimSpace(string(outb)))
	})
}

// versionLine is how the output of `bin version` starts: with the version
// staticBinary built it with, or, for a binary from binaryEnv (built with
// make's VERSION), with the version it prints when run directly.
func versionLine(t *testing.T, bin string) string {
	t.Helper()
	if binBuilt {
		return "driftwatch " + testVersion + " "
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", bin, err)
	}
	v, _, ok := strings.Cut(string(out), " (")
	if !ok || !strings.HasPrefix(v, "driftwatch ") {
		t.Fatalf("%s version printed %q", bin, out)
	}
	return v + " ("
}

// TestReproducible builds the image twice from the same binary: the
// digests are equal.
func TestReproducible(t *testing.T) {
	bin := staticBinary(t)
	var digests []v1.Hash
	for range 2 {
		img, err := tarball.ImageFromPath(buildImage(t, bin), nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	if digests[0] != digests[1] {
		t.Errorf("digests differ: %s, %s", digests[0], digests[1])
	}
}

// cgoBinary builds a program that links libc dynamically.
func cgoBinary(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc to build a cgo program with")
	}
	dir := t.TempDir()
	src := "package main\n\n// #include <stdlib.h>\nimport \"C\"\n\nfunc main() { C.abs(1) }\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module cgoprog\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "cgoprog")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOTOOLCHAIN=local", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build a cgo program: %v\n%s", err, out)
	}
	return bin
}

func TestRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "driftwatch")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho driftwatch\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	wrongArch := "arm64"
	if runtime.GOARCH == "arm64" {
		wrongArch = "amd64"
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no binary", []string{"--tag", testTag}, 1, "--binary and --tag are required"},
		{"no tag", []string{"--binary", script}, 1, "--binary and --tag are required"},
		{"bad tag", []string{"--binary", script, "--tag", "ghcr.io/Driftwatch/UPPER:x"}, 1, "--tag"},
		{"not ELF", []string{"--binary", script, "--tag", testTag}, 1, "not a Linux executable"},
		{"wrong arch", []string{"--binary", "BIN", "--tag", testTag, "--arch", wrongArch}, 1, "built for"},
		{"unknown arch", []string{"--binary", script, "--tag", testTag, "--arch", "mips"}, 1, "unsupported"},
		{"dynamically linked", []string{"--binary", "CGO", "--tag", testTag}, 1, "dynamically linked; build it with CGO_ENABLED=0"},
		{"extra argument", []string{"--binary", script, "--tag", testTag, "extra"}, 2, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := slices.Clone(tc.args)
			for i, a := range args {
				switch a {
				case "BIN":
					args[i] = staticBinary(t)
				case "CGO":
					args[i] = cgoBinary(t)
				}
			}
			out := filepath.Join(t.TempDir(), "img.tar")
			args = append(args, "--out", out)
			var stdout, stderr bytes.Buffer
			if code := run(args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr.String(), tc.code, tc.want)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s was written: %v", out, err)
			}
		})
	}
}
