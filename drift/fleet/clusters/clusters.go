// Package clusters says which clusters the fleet hub reads, and how to
// reach each: a list of Targets, one per cluster, each with its
// *rest.Config. It reads no report and starts no client for a target;
// the hub does (drift/fleet).
//
// Targets come from three origins:
//
//   - FromKubeconfig: the contexts of one kubeconfig (or of the default
//     loading rules, $KUBECONFIG included), chosen by name or glob;
//   - FromDir: a directory of kubeconfig files, one cluster per file (its
//     current-context), as a mounted Secret gives them;
//   - ArgoCDSecrets: Argo CD's cluster Secrets in one namespace, followed
//     by an informer, so that clusters added to or removed from Argo CD
//     come and go.
//
// Merge joins them. Every list is sorted by Name. An entry the hub cannot
// use (a context that names no cluster, a file that does not parse, an
// Argo CD Secret with an authentication driftwatch does not support) is
// still a Target, with Err set and Config nil, so that the hub shows the
// cluster with its error instead of forgetting it; the other targets are
// unaffected. A function returns an error only when the origin itself is
// unusable: a kubeconfig or directory that cannot be read, a selector
// that names no context, two files naming the same cluster, a namespace
// whose Secrets the hub may not list.
package clusters

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strings"

	"k8s.io/client-go/rest"
)

// Target is one cluster the hub reads.
type Target struct {
	// Name is unique in the fleet: the context's name, or the Argo CD
	// Secret's name field. Merge is the one exception: see there.
	Name string
	// Server is the API server URL (empty when the entry names none).
	Server string
	// Config reaches the cluster; nil when Err is set. Each Target has a
	// Config of its own: the hub may change it (user agent, rate limits).
	Config *rest.Config
	// Origin says where the target came from, for messages:
	// `context "prod" in /home/u/.kube/config`, `Secret argocd/cluster-prod`.
	Origin string
	// Err is set when the entry is unusable (a bad kubeconfig entry, an
	// unsupported Argo CD authentication, bad base64): the hub shows the
	// cluster with this error.
	Err error
}

// Merge joins lists from several origins, in the order given, and sorts
// the result by name. A name that an earlier target already has makes
// the later one an error-Target (Config nil) naming both origins: the
// hub reads the first origin's cluster, unaffected, and logs the clash
// (fleet.Hub.SetMembers). Such a name is the only one a merged list
// holds twice; the first origin's target comes first.
func Merge(lists ...[]Target) []Target {
	var out []Target
	first := map[string]string{} // name → origin of its first target
	for _, list := range lists {
		for _, t := range list {
			if o, ok := first[t.Name]; ok {
				t = Target{Name: t.Name, Server: t.Server, Origin: t.Origin,
					Err: fmt.Errorf("cluster %q is both %s and %s: rename one", t.Name, o, t.Origin)}
			} else {
				first[t.Name] = t.Origin
			}
			out = append(out, t)
		}
	}
	sortTargets(out)
	return out
}

// sortTargets sorts by name, keeping the order of equal names (Merge's
// first origin first).
func sortTargets(ts []Target) {
	slices.SortStableFunc(ts, func(a, b Target) int { return cmp.Compare(a.Name, b.Name) })
}

// selector picks targets by name: each pattern is a name or a path.Match
// glob. An empty selector picks every target.
type selector struct {
	patterns []string
	used     []bool
}

func newSelector(patterns []string) (*selector, error) {
	for _, p := range patterns {
		if p == "" {
			return nil, fmt.Errorf("cluster selector: empty name")
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("cluster selector %q: %w", p, err)
		}
	}
	return &selector{patterns: patterns, used: make([]bool, len(patterns))}, nil
}

// match reports whether name is picked, and records which patterns
// picked something.
func (s *selector) match(name string) bool {
	if len(s.patterns) == 0 {
		return true
	}
	picked := false
	for i, p := range s.patterns {
		if ok, _ := path.Match(p, name); ok {
			s.used[i], picked = true, true
		}
	}
	return picked
}

// unmatched returns the first explicit name (not a glob) that picked
// nothing. A glob that picks nothing is no error: "prod-*" may
// legitimately match no cluster yet.
func (s *selector) unmatched() (string, bool) {
	for i, p := range s.patterns {
		if !s.used[i] && !isGlob(p) {
			return p, true
		}
	}
	return "", false
}

func isGlob(p string) bool { return strings.ContainsAny(p, `*?[\`) }
