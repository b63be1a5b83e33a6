package pipeline

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/driftwatch/driftwatch/informer"
)

// Filter narrows the desired objects that are checked. The zero value keeps
// everything. Globs use path.Match syntax.
type Filter struct {
	// Selector keeps objects whose labels (in Git) match; nil keeps all.
	// Informers are scoped with the same selector, so a live object that
	// lost the labels is reported Missing.
	Selector labels.Selector
	// Names keeps objects whose name matches one of the globs.
	Names []string
	// Namespaces keeps objects whose effective namespace matches one of the
	// globs; cluster-scoped objects are kept only by a pattern matching "".
	Namespaces        []string
	ExcludeNamespaces []string
	// Kinds keeps objects matching one of the patterns: Kind, group/Kind,
	// group/* or * (the core group is "", so "/ConfigMap" or "ConfigMap").
	Kinds        []string
	ExcludeKinds []string
}

// Empty reports whether the filter keeps everything.
func (f Filter) Empty() bool {
	return (f.Selector == nil || f.Selector.Empty()) && len(f.Names) == 0 && len(f.Namespaces) == 0 &&
		len(f.ExcludeNamespaces) == 0 && len(f.Kinds) == 0 && len(f.ExcludeKinds) == 0
}

// Validate checks every glob.
func (f Filter) Validate() error {
	for _, set := range []struct {
		flag  string
		globs []string
	}{{"--names", f.Names}, {"--namespaces", f.Namespaces}, {"--exclude-namespaces", f.ExcludeNamespaces},
		{"--kinds", f.Kinds}, {"--exclude-kinds", f.ExcludeKinds}} {
		for _, g := range set.globs {
			if _, err := path.Match(g, ""); err != nil || strings.TrimSpace(g) == "" {
				return fmt.Errorf("flag %s: bad pattern %q", set.flag, g)
			}
		}
	}
	return nil
}

func anyGlob(globs []string, s string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, s); ok {
			return true
		}
	}
	return false
}

// kindMatches matches "Kind", "group/Kind", "group/*" and "*".
func kindMatches(patterns []string, group, kind string) bool {
	for _, p := range patterns {
		g, k, hasGroup := strings.Cut(p, "/")
		if !hasGroup {
			g, k = "*", p
		}
		gok, _ := path.Match(g, group)
		kok, _ := path.Match(k, kind)
		if (gok || (g == "" && group == "")) && kok {
			return true
		}
	}
	return false
}

// keeps reports whether a target passes the filter.
func (f Filter) keeps(t Target) bool {
	u := t.Object
	if f.Selector != nil && !f.Selector.Empty() && !f.Selector.Matches(labels.Set(u.GetLabels())) {
		return false
	}
	if len(f.Names) > 0 && !anyGlob(f.Names, u.GetName()) {
		return false
	}
	ns := t.Namespace
	if t.Err != nil {
		ns = u.GetNamespace()
	}
	if len(f.Namespaces) > 0 && !anyGlob(f.Namespaces, ns) {
		return false
	}
	if anyGlob(f.ExcludeNamespaces, ns) {
		return false
	}
	gvk := u.GroupVersionKind()
	if len(f.Kinds) > 0 && !kindMatches(f.Kinds, gvk.Group, gvk.Kind) {
		return false
	}
	return !kindMatches(f.ExcludeKinds, gvk.Group, gvk.Kind)
}

// Apply keeps the targets that pass, returns the scopes they need and how
// many targets were excluded.
func (f Filter) Apply(targets []Target) ([]Target, []informer.Scope, int) {
	kept := make([]Target, 0, len(targets))
	seen := map[informer.Scope]bool{}
	var scopes []informer.Scope
	for _, t := range targets {
		if !f.keeps(t) {
			continue
		}
		kept = append(kept, t)
		if t.Err == nil && !seen[t.Scope] {
			seen[t.Scope] = true
			scopes = append(scopes, t.Scope)
		}
	}
	sort.Slice(scopes, func(i, j int) bool { return scopes[i].String() < scopes[j].String() })
	return kept, scopes, len(targets) - len(kept)
}

// Unmatched returns an error naming the first targeting value that
// matches none of the desired objects (a typo such as --kinds Deploymnet),
// or, when every value matches something, the filter as a whole if it
// keeps none of them: either way the run would check nothing and pass.
// nil when the filter is empty or keeps something.
func (f Filter) Unmatched(targets []Target) error {
	if f.Empty() {
		return nil
	}
	namespaceOf := func(t Target) string {
		if t.Err != nil {
			return t.Object.GetNamespace()
		}
		return t.Namespace
	}
	some := func(match func(Target) bool) bool {
		for _, t := range targets {
			if match(t) {
				return true
			}
		}
		return false
	}
	if f.Selector != nil && !f.Selector.Empty() &&
		!some(func(t Target) bool { return f.Selector.Matches(labels.Set(t.Object.GetLabels())) }) {
		return fmt.Errorf("flag --selector: %q matches no object in Git", f.Selector.String())
	}
	for _, set := range []struct {
		flag   string
		values []string
		match  func(v string, t Target) bool
	}{
		{"--names", f.Names, func(v string, t Target) bool { return anyGlob([]string{v}, t.Object.GetName()) }},
		{"--namespaces", f.Namespaces, func(v string, t Target) bool { return anyGlob([]string{v}, namespaceOf(t)) }},
		{"--exclude-namespaces", f.ExcludeNamespaces, func(v string, t Target) bool { return anyGlob([]string{v}, namespaceOf(t)) }},
		{"--kinds", f.Kinds, func(v string, t Target) bool {
			gvk := t.Object.GroupVersionKind()
			return kindMatches([]string{v}, gvk.Group, gvk.Kind)
		}},
		{"--exclude-kinds", f.ExcludeKinds, func(v string, t Target) bool {
			gvk := t.Object.GroupVersionKind()
			return kindMatches([]string{v}, gvk.Group, gvk.Kind)
		}},
	} {
		for _, v := range set.values {
			if !some(func(t Target) bool { return set.match(v, t) }) {
				return fmt.Errorf("flag %s: %q matches no object in Git (%s there: %s)", set.flag, v,
					strings.TrimPrefix(strings.TrimPrefix(set.flag, "--"), "exclude-"), declared(set.flag, targets, namespaceOf))
			}
		}
	}
	if !some(f.keeps) {
		return fmt.Errorf("flags: the targeting flags together keep none of the %d objects in Git", len(targets))
	}
	return nil
}

// declared lists, for an error message, the values Git declares for the
// dimension a flag filters on (at most 8).
func declared(flag string, targets []Target, namespaceOf func(Target) string) string {
	seen := map[string]bool{}
	var out []string
	for _, t := range targets {
		var v string
		switch {
		case strings.Contains(flag, "kinds"):
			gvk := t.Object.GroupVersionKind()
			v = gvk.Kind
			if gvk.Group != "" {
				v = gvk.Group + "/" + gvk.Kind
			}
		case strings.Contains(flag, "namespaces"):
			if v = namespaceOf(t); v == "" {
				v = `"" (cluster-scoped)`
			}
		default:
			v = t.Object.GetName()
		}
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	if len(out) > 8 {
		out = append(out[:8], "…")
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}
