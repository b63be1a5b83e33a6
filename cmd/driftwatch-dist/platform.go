package main

import (
	"fmt"
	"slices"
	"strings"
)

// platform is a GOOS/GOARCH pair a binary is built for.
type platform struct {
	OS, Arch string
}

func (p platform) String() string { return p.OS + "/" + p.Arch }

// allPlatforms are the platforms of a release: what kubectl and krew run
// on besides Windows.
var allPlatforms = []platform{
	{"linux", "amd64"},
	{"linux", "arm64"},
	{"darwin", "amd64"},
	{"darwin", "arm64"},
}

func platformList(ps []platform) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// parsePlatforms reads a comma-separated list of os/arch pairs, each one of
// allPlatforms, in the order given, without repeats.
func parsePlatforms(s string) ([]platform, error) {
	var ps []platform
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		goos, goarch, ok := strings.Cut(f, "/")
		p := platform{goos, goarch}
		if !ok || !slices.Contains(allPlatforms, p) {
			return nil, fmt.Errorf("--platforms: unknown platform %q (want some of %s)", f, platformList(allPlatforms))
		}
		if !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("--platforms: none given (want some of %s)", platformList(allPlatforms))
	}
	return ps, nil
}
