package main

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// binaryName is the executable in every archive, and krew's bin.
const binaryName = "driftwatch"

// ldflags strips the symbol table and DWARF (the archives are a third of
// the size; panics still have their stack traces) and stamps the version.
func ldflags(version string) string { return "-s -w -X main.version=" + version }

// buildBinary builds o.Package for p into out, statically linked, with
// nothing of the checkout's path or Git state in it. go build's output
// goes to stderr.
func buildBinary(ctx context.Context, o options, p platform, out string, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, o.Go, "build", "-trimpath", "-buildvcs=false",
		"-ldflags", ldflags(o.Version), "-o", out, o.Package)
	cmd.Env = buildEnv(os.Environ(), p)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s for %s: %w (go's output is above)", o.Package, p, err)
	}
	return nil
}

// buildEnv is env for a build for p: cgo off, and none of the variables
// that would change the binary's bytes from one shell to the next
// (GOFLAGS, the microarchitecture levels), so the defaults apply.
func buildEnv(env []string, p platform) []string {
	drop := []string{"GOOS", "GOARCH", "CGO_ENABLED", "GOFLAGS", "GOAMD64", "GOARM64"}
	out := make([]string, 0, len(env)+3)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, d := range drop {
			if k == d {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return append(out, "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch)
}

// checkBinary reads the build information of the binary at path and
// refuses one that would ship the wrong thing: not a Go binary, built for
// another platform, or with cgo. (The version stamp cannot be read back:
// with -trimpath, go leaves -ldflags out of the build information.)
func checkBinary(path string, p platform) (*buildinfo.BuildInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("binary: %w", err)
	}
	defer f.Close()
	bi, err := buildinfo.Read(f)
	if err != nil {
		return nil, fmt.Errorf("binary %s: no Go build information in it: %w", path, err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if got := (platform{settings["GOOS"], settings["GOARCH"]}); got != p {
		return nil, fmt.Errorf("binary %s: built for %s, want %s", path, got, p)
	}
	if settings["CGO_ENABLED"] != "0" {
		return nil, fmt.Errorf("binary %s: built with cgo (CGO_ENABLED=%q), want a static binary", path, settings["CGO_ENABLED"])
	}
	return bi, nil
}
