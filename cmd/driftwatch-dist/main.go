// Command driftwatch-dist builds driftwatch's release files, for the people
// who install it without a clone (`go install pkg@version` cannot build it:
// see docs/install.md):
//
//   - driftwatch_<version>_<os>_<arch>.tar.gz for linux and darwin on amd64
//     and arm64: the static binary driftwatch, README.md and LICENSE (when
//     the repository has one);
//   - driftwatch_<version>_<os>_<arch>.spdx.json: an SPDX 2.3 SBOM of each
//     binary, read from the build information Go embeds in it (every
//     module, its version, its go.sum hash and its replacement);
//   - driftwatch.yaml: the krew plugin manifest (plugin drift, run as
//     `kubectl drift`), one platform per archive with its URL and sha256;
//   - checksums.txt: the sha256 of every file above, as sha256sum writes
//     them (sha256sum -c checksums.txt).
//
// make dist runs it as
//
//	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) go run ./cmd/driftwatch-dist --version v1.2.3 --out dist
//
// The files depend only on the source, the Go toolchain, the version and
// $SOURCE_DATE_EPOCH: the binaries are built with CGO_ENABLED=0, -trimpath
// and -buildvcs=false, and every time in the archives is $SOURCE_DATE_EPOCH
// (the Unix epoch when unset), so two runs give the same bytes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// mainPackage is the command the archives ship.
	mainPackage = "github.com/driftwatch/driftwatch/cmd/driftwatch"
	// defaultDownloadURL is where GitHub serves a release's files:
	// <url>/<version>/<file>.
	defaultDownloadURL = "https://github.com/driftwatch/driftwatch/releases/download"
	homepage           = "https://github.com/driftwatch/driftwatch"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses args, builds the release and returns the exit code: 2 for bad
// input, 1 when a build or a write fails.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "driftwatch-dist: error: %v\n", err)
		}
		return 2
	}
	if err := release(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "driftwatch-dist: error: %v\n", err)
		return 1
	}
	return 0
}

// errUsage is a flag error the flag package has already printed.
var errUsage = errors.New("usage")

// options are what a release is built from.
type options struct {
	// Version is stamped into the binaries (main.version) and names the
	// files and the release URL. Required.
	Version string
	// Platforms are the os/arch pairs to build; default allPlatforms.
	Platforms []platform
	// Out is the directory the files are written to; default "dist".
	Out string
	// README is put in every archive; default "README.md".
	README string
	// License is put in every archive when set; default none.
	License string
	// Package is the main package built; default mainPackage.
	Package string
	// Go is the go command; default "go".
	Go string
	// DownloadURL is the release download URL without the version;
	// default defaultDownloadURL.
	DownloadURL string
	// Created is every file time in the archives and the SBOMs' creation
	// time: $SOURCE_DATE_EPOCH, the Unix epoch when unset.
	Created time.Time
}

// parseOptions reads the command line and $SOURCE_DATE_EPOCH and checks
// everything that can be checked before building.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("driftwatch-dist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var platforms string
	fs.StringVar(&o.Version, "version", "", "version stamped into the binaries and naming the files, e.g. v1.2.3 (required)")
	fs.StringVar(&platforms, "platforms", platformList(allPlatforms), "comma-separated os/arch pairs to build")
	fs.StringVar(&o.Out, "out", "dist", "directory to write the release files to")
	fs.StringVar(&o.README, "readme", "README.md", "README put in every archive")
	fs.StringVar(&o.License, "license", "", `license file put in every archive ("" for none)`)
	fs.StringVar(&o.Package, "package", mainPackage, "main package to build")
	fs.StringVar(&o.Go, "go", "go", "go command")
	fs.StringVar(&o.DownloadURL, "download-url", defaultDownloadURL, "release download URL; files are at URL/VERSION/FILE")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: driftwatch-dist --version VERSION [--out DIR] [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, errUsage
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := checkVersion(o.Version); err != nil {
		return o, err
	}
	var err error
	if o.Platforms, err = parsePlatforms(platforms); err != nil {
		return o, err
	}
	for _, f := range []struct{ flag, path string }{{"--readme", o.README}, {"--license", o.License}} {
		if f.path == "" {
			if f.flag == "--readme" {
				return o, errors.New("--readme: required")
			}
			continue
		}
		st, err := os.Stat(f.path)
		if err != nil {
			return o, fmt.Errorf("%s: %w", f.flag, err)
		}
		if !st.Mode().IsRegular() {
			return o, fmt.Errorf("%s %s: not a regular file", f.flag, f.path)
		}
	}
	if o.Out == "" {
		return o, errors.New("--out: required")
	}
	o.DownloadURL = strings.TrimSuffix(o.DownloadURL, "/")
	if o.Created, err = sourceDateEpoch(); err != nil {
		return o, err
	}
	return o, nil
}

// checkVersion refuses a version that cannot name a file or a URL path
// segment.
func checkVersion(v string) error {
	if v == "" {
		return errors.New("--version: required (make dist passes git describe's)")
	}
	for i, r := range v {
		ok := r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && strings.ContainsRune("._+-", r)
		if !ok {
			return fmt.Errorf("--version %q: only letters, digits and . _ + - (not first) can name the files", v)
		}
	}
	return nil
}

// sourceDateEpoch is the time stamped on every file.
func sourceDateEpoch() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: not a Unix time", s)
	}
	return time.Unix(n, 0).UTC(), nil
}
