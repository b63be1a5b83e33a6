// Command driftwatch-image builds the driftwatch container image without a
// container engine and without network access: one layer holding the
// statically linked binary at /driftwatch, /etc/passwd and /etc/group
// naming the user nonroot (65532), the CA certificates for HTTPS Git
// remotes, a writable /tmp and the home directory, appended to an empty
// image with go-containerregistry and written as a tarball that
// `docker load` (and `podman load`, `crane push`, kind's image loading)
// accepts.
//
//	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags '-s -w -X main.version=v1.2.3' \
//	    -o bin/driftwatch-linux-amd64 ./cmd/driftwatch
//	go run ./cmd/driftwatch-image --binary bin/driftwatch-linux-amd64 \
//	    --out dist/driftwatch-image.tar --tag ghcr.io/driftwatch/driftwatch:v1.2.3
//	docker load -i dist/driftwatch-image.tar
//
// The output depends only on its inputs: every file time and the image's
// creation time are $SOURCE_DATE_EPOCH (the Unix epoch when unset), so the
// same binary gives the same image digest.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const (
	// uid and gid of the user the image runs as (distroless's nonroot).
	nonrootID = 65532
	// defaultCACerts is Debian's (and most distributions') CA bundle.
	defaultCACerts = "/etc/ssl/certs/ca-certificates.crt"
	// entrypoint is where the binary lives in the image.
	entrypoint = "/driftwatch"
	defaultSrc = "https://github.com/driftwatch/driftwatch"
	imagePATH  = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	imageCache = "XDG_CACHE_HOME=/tmp/.cache"
)

// elfMachines maps GOARCH to the ELF machine its binaries carry.
var elfMachines = map[string]elf.Machine{
	"amd64":   elf.EM_X86_64,
	"arm64":   elf.EM_AARCH64,
	"arm":     elf.EM_ARM,
	"386":     elf.EM_386,
	"ppc64le": elf.EM_PPC64,
	"s390x":   elf.EM_S390,
	"riscv64": elf.EM_RISCV,
}

type options struct {
	Binary  string
	Out     string
	Tag     string
	Version string
	Source  string
	Arch    string
	CACerts string
	Created time.Time
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args, builds the image and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("driftwatch-image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.Binary, "binary", "", "statically linked linux driftwatch binary (CGO_ENABLED=0) to put at "+entrypoint)
	fs.StringVar(&o.Out, "out", "dist/driftwatch-image.tar", "image tarball to write (docker load -i)")
	fs.StringVar(&o.Tag, "tag", "", "image reference to name it, e.g. ghcr.io/driftwatch/driftwatch:v1.2.3")
	fs.StringVar(&o.Version, "version", "", "org.opencontainers.image.version label (default: the tag of --tag)")
	fs.StringVar(&o.Source, "source", defaultSrc, "org.opencontainers.image.source label")
	fs.StringVar(&o.Arch, "arch", "amd64", "image architecture (GOARCH); the binary must match it")
	fs.StringVar(&o.CACerts, "ca-certificates", defaultCACerts, `PEM bundle put at `+defaultCACerts+` for HTTPS Git remotes ("" for none)`)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: driftwatch-image --binary FILE --tag REF [--out FILE] [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "driftwatch-image: error: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	created, err := sourceDateEpoch()
	if err != nil {
		fmt.Fprintf(stderr, "driftwatch-image: error: %v\n", err)
		return 2
	}
	o.Created = created
	digest, err := build(o)
	if err != nil {
		fmt.Fprintf(stderr, "driftwatch-image: error: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s: %s %s (linux/%s)\n", o.Out, o.Tag, digest, o.Arch)
	return 0
}

// sourceDateEpoch is the time stamped on every file and on the image.
func sourceDateEpoch() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: not a Unix time", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

// build writes the image tarball and returns the image digest.
func build(o options) (v1.Hash, error) {
	if o.Binary == "" || o.Tag == "" {
		return v1.Hash{}, errors.New("--binary and --tag are required")
	}
	tag, err := name.NewTag(o.Tag, name.StrictValidation)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("--tag: %w", err)
	}
	if o.Version == "" {
		o.Version = tag.TagStr()
	}
	if err := checkBinary(o.Binary, o.Arch); err != nil {
		return v1.Hash{}, err
	}
	layerTar, err := rootfs(o)
	if err != nil {
		return v1.Hash{}, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithCompressionLevel(gzip.BestCompression), tarball.WithCompressedCaching)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("layer: %w", err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: o.Created},
			CreatedBy: "driftwatch-image: " + entrypoint + ", /etc/passwd, /etc/group, CA certificates, /tmp",
			Comment:   "built by cmd/driftwatch-image",
		},
	})
	if err != nil {
		return v1.Hash{}, fmt.Errorf("append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Hash{}, err
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = o.Arch
	if o.Arch == "arm" {
		cf.Variant = "v7"
	}
	cf.Created = v1.Time{Time: o.Created}
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", nonrootID, nonrootID),
		Entrypoint: []string{entrypoint},
		Env:        []string{imagePATH, imageCache},
		WorkingDir: "/",
		Labels: map[string]string{
			"org.opencontainers.image.source":      o.Source,
			"org.opencontainers.image.version":     o.Version,
			"org.opencontainers.image.title":       "driftwatch",
			"org.opencontainers.image.description": "Reports how a Kubernetes cluster has drifted from the manifests in Git",
		},
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return v1.Hash{}, fmt.Errorf("config: %w", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	if err := writeAtomic(o.Out, tag, img); err != nil {
		return v1.Hash{}, err
	}
	return digest, nil
}

// checkBinary refuses what would not run in an image without a libc: a
// file that is not a Linux ELF executable for arch, or one that is
// dynamically linked (built with cgo).
func checkBinary(path, arch string) error {
	want, ok := elfMachines[arch]
	if !ok {
		return fmt.Errorf("--arch %q: unsupported", arch)
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("--binary %s: not a Linux executable: %w", path, err)
	}
	defer f.Close()
	if f.Machine != want {
		return fmt.Errorf("--binary %s: built for %s, want %s (GOARCH=%s)", path, f.Machine, want, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("--binary %s: dynamically linked; build it with CGO_ENABLED=0", path)
		}
	}
	return nil
}

// rootfs returns the layer: the binary, the user database, the CA bundle
// and the directories the program writes to.
func rootfs(o options) ([]byte, error) {
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("--binary: %w", err)
	}
	var certs []byte
	if o.CACerts != "" {
		if certs, err = os.ReadFile(o.CACerts); err != nil {
			return nil, fmt.Errorf("--ca-certificates: %w (install Debian's ca-certificates, or pass --ca-certificates \"\" to leave them out)", err)
		}
		if !bytes.Contains(certs, []byte("-----BEGIN CERTIFICATE-----")) {
			return nil, fmt.Errorf("--ca-certificates %s: no PEM certificate in it", o.CACerts)
		}
	}
	passwd := "root:x:0:0:root:/root:/sbin/nologin\n" +
		fmt.Sprintf("nonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonrootID, nonrootID)
	group := "root:x:0:\n" + fmt.Sprintf("nonroot:x:%d:\n", nonrootID)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64, uid int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode,
			Uid: uid, Gid: uid, ModTime: o.Created, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode,
			Size: int64(len(data)), ModTime: o.Created, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	steps := []func() error{
		func() error { return file(strings.TrimPrefix(entrypoint, "/"), 0o755, bin) },
		func() error { return dir("etc", 0o755, 0) },
		func() error { return file("etc/passwd", 0o644, []byte(passwd)) },
		func() error { return file("etc/group", 0o644, []byte(group)) },
		func() error { return dir("home", 0o755, 0) },
		func() error { return dir("home/nonroot", 0o700, nonrootID) },
		// Sticky and world-writable, like any /tmp; the default
		// XDG_CACHE_HOME is below it.
		func() error { return dir("tmp", 0o1777, 0) },
	}
	if certs != nil {
		steps = append(steps,
			func() error { return dir("etc/ssl", 0o755, 0) },
			func() error { return dir("etc/ssl/certs", 0o755, 0) },
			func() error { return file("etc/ssl/certs/ca-certificates.crt", 0o644, certs) },
		)
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, fmt.Errorf("layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return buf.Bytes(), nil
}

// writeAtomic writes the tarball next to path and renames it into place,
// so that a failed run never leaves a truncated image behind.
func writeAtomic(path string, tag name.Tag, img v1.Image) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".driftwatch-image-*.tar")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if err := tarball.WriteToFile(tmp.Name(), tag, img); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}
