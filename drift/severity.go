package drift

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Severity says how much a drift matters. The zero value is no severity:
// InSync and Error resources have none, nor has a diff that
// Config.Classify did not see (a report built by hand).
type Severity string

const (
	// SeverityCritical: security or availability is at stake (images,
	// securityContext, host namespaces, RBAC, NetworkPolicy, webhooks).
	SeverityCritical Severity = "critical"
	// SeverityWarning: anything no rule calls critical or info.
	SeverityWarning Severity = "warning"
	// SeverityInfo: expected churn (replicas, labels, annotations).
	SeverityInfo Severity = "info"
)

// Severities lists the levels, most severe first.
var Severities = []Severity{SeverityCritical, SeverityWarning, SeverityInfo}

// ParseSeverity validates a level name.
func ParseSeverity(s string) (Severity, error) {
	if l := Severity(s); l.Rank() > 0 {
		return l, nil
	}
	return "", fmt.Errorf("unknown severity %q (want critical, warning or info)", s)
}

// Rank orders severities: critical 3, warning 2, info 1; no (or an
// unknown) severity 0.
func (s Severity) Rank() int {
	switch s {
	case SeverityCritical:
		return 3
	case SeverityWarning:
		return 2
	case SeverityInfo:
		return 1
	}
	return 0
}

// Compare orders s and t by rank, least severe first, as cmp.Compare
// does: sort with t.Compare(s) for the most severe first.
func (s Severity) Compare(t Severity) int { return cmp.Compare(s.Rank(), t.Rank()) }

// AtLeast reports whether s is as severe as t, or more.
func (s Severity) AtLeast(t Severity) bool { return s.Rank() >= t.Rank() }

// FieldGlob selects fields for a severity rule: a PathPattern anchored at
// the object's root, or, written with a leading "**.", found at any depth:
// "**.securityContext" is the securityContext of a Pod, of any pod
// template and of every container in them.
type FieldGlob struct {
	text     string
	pattern  PathPattern
	anyDepth bool
}

// ParseFieldGlob parses a path pattern, optionally led by "**.".
func ParseFieldGlob(s string) (FieldGlob, error) {
	s = strings.TrimSpace(s)
	rest, anyDepth := strings.CutPrefix(s, "**.")
	if strings.Contains(rest, "**") {
		return FieldGlob{}, fmt.Errorf("invalid path %q: ** only leads a path, as in **.image", s)
	}
	p, err := ParsePathPattern(rest)
	if err != nil {
		return FieldGlob{}, err
	}
	return FieldGlob{text: s, pattern: p, anyDepth: anyDepth}, nil
}

func (g FieldGlob) String() string { return g.text }

// Matches reports whether g selects p or one of its ancestors.
func (g FieldGlob) Matches(p Path) bool {
	if !g.anyDepth {
		return g.pattern.Matches(p)
	}
	for i := range p {
		if g.pattern.Matches(p[i:]) {
			return true
		}
	}
	return false
}

// maxHeldNodes bounds the walk through a diff's values looking for a
// field a critical rule selects.
const maxHeldNodes = 10000

// holds reports whether a value at p holds a field g selects: a container
// added by hand holds an image. List items are stepped into by position
// and, when they have a string name, by [name=...].
func (g FieldGlob) holds(p Path, v any, budget *int) bool {
	if *budget <= 0 {
		return false
	}
	*budget--
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			q := p.child(fieldStep(k))
			if g.Matches(q) || g.holds(q, child, budget) {
				return true
			}
		}
	case []any:
		for i, item := range v {
			s := Step{Index: i}
			if m, ok := item.(map[string]any); ok {
				if name, ok := m["name"].(string); ok {
					s.Keys = []KeyValue{{Key: "name", Value: name}}
				}
			}
			q := p.child(s)
			if g.Matches(q) || g.holds(q, item, budget) {
				return true
			}
		}
	}
	return false
}

// SeverityRule gives Level to the drift it selects: the diffs of the
// resources Match selects whose path one of Paths selects, whose live
// value one of Managers owns, written with one of Operations through one
// of Subresources, and whose type is one of Types; each of Paths,
// Managers, Operations, Subresources and Types that is set must match. A
// critical rule also selects a diff whose value holds a field its Paths
// select (a container added by hand holds an image). A rule without
// Paths, Managers, Operations and Subresources selects the resource as a
// whole too, when it is Missing or Extra and Statuses is empty or holds
// its status. A rule with Statuses but no Types selects no diffs.
type SeverityRule struct {
	Match    Match
	Paths    []FieldGlob
	Managers []string
	// Operations select by the operation of the managedFields entry
	// owning the live value, Apply or Update: "kubectl" with Update is
	// kubectl scale (or another kubectl command naming no manager), with
	// Apply kubectl apply --server-side.
	Operations []string
	// Subresources are globs selecting by the subresource the owning
	// entry wrote through ("scale", "status"); a value written to the
	// object itself matches none.
	Subresources []string
	Types        []DiffType
	// Statuses are the whole-resource types Missing and Extra.
	Statuses []Status
	Level    Severity
}

// selectsDiff reports whether r selects d, a diff at p of resource id.
func (r SeverityRule) selectsDiff(id resourceID, p Path, d FieldDiff) bool {
	if !r.Match.matchesID(id) {
		return false
	}
	if (len(r.Types) > 0 || len(r.Statuses) > 0) && !slices.Contains(r.Types, d.Type) {
		return false
	}
	if !r.selectsOwner(d.ChangedBy) {
		return false
	}
	if len(r.Paths) == 0 {
		return true
	}
	for _, g := range r.Paths {
		if g.Matches(p) {
			return true
		}
	}
	if r.Level != SeverityCritical || d.Sensitive {
		return false
	}
	budget := maxHeldNodes
	for _, g := range r.Paths {
		if g.holds(p, d.Desired, &budget) || g.holds(p, d.Live, &budget) {
			return true
		}
	}
	return false
}

// selectsOwner reports whether r's Managers, Operations and Subresources,
// those that are set, select the managedFields entry owning a live value.
func (r SeverityRule) selectsOwner(c *ChangedBy) bool {
	if !r.selectsByOwner() {
		return true
	}
	if c == nil {
		return false
	}
	if len(r.Managers) > 0 && !slices.ContainsFunc(r.Managers, func(g string) bool { return glob(g, c.Manager) }) {
		return false
	}
	if len(r.Operations) > 0 && !slices.Contains(r.Operations, c.Operation) {
		return false
	}
	if len(r.Subresources) > 0 && (c.Subresource == "" || !slices.ContainsFunc(r.Subresources, func(g string) bool { return glob(g, c.Subresource) })) {
		return false
	}
	return true
}

// selectsByOwner reports whether r selects diffs by who owns the live
// value, which a whole resource has not.
func (r SeverityRule) selectsByOwner() bool {
	return len(r.Managers)+len(r.Operations)+len(r.Subresources) > 0
}

// selectsWhole reports whether r selects resource id as a whole.
func (r SeverityRule) selectsWhole(id resourceID, st Status) bool {
	return len(r.Paths) == 0 && !r.selectsByOwner() && r.Match.matchesID(id) &&
		(len(r.Types)+len(r.Statuses) == 0 || slices.Contains(r.Statuses, st))
}

// resourceID is what a Match reads of a resource.
type resourceID struct{ group, kind, namespace, name string }

func idOf(res *Resource) resourceID {
	group, _, ok := strings.Cut(res.APIVersion, "/")
	if !ok {
		group = ""
	}
	return resourceID{group: group, kind: res.Kind, namespace: res.Namespace, name: res.Name}
}

// defaultSeverityConfig holds the built-in severity rules, in the config
// file's syntax; README.md's Severity section lists them. Labels and
// annotations come before the pod-level fields so that an annotation
// named "image" stays info; ClusterRole labels come first, since they
// aggregate the role into others (admin, edit, view).
const defaultSeverityConfig = `apiVersion: driftwatch.dev/v1alpha1
kind: Config
severity:
  - match: {group: rbac.authorization.k8s.io}
    paths: [rules, aggregationRule, subjects, roleRef]
    level: critical
  - match: {group: rbac.authorization.k8s.io, kind: ClusterRole}
    paths: [metadata.labels]
    level: critical
  - match: {group: networking.k8s.io, kind: NetworkPolicy}
    paths: [spec]
    level: critical
  - match: {group: admissionregistration.k8s.io, kind: "*WebhookConfiguration"}
    paths: [webhooks]
    level: critical
  - match: {group: rbac.authorization.k8s.io}
    types: [Missing, Extra]
    level: critical
  - match: {group: networking.k8s.io, kind: NetworkPolicy}
    types: [Missing, Extra]
    level: critical
  - match: {group: admissionregistration.k8s.io, kind: "*WebhookConfiguration"}
    types: [Missing, Extra]
    level: critical
  - paths: ["**.metadata.labels", "**.metadata.annotations", spec.replicas]
    level: info
  - paths: ["**.image", "**.securityContext", "**.privileged", "**.hostNetwork", "**.hostPID", "**.hostIPC", "**.hostUsers", "**.hostPath"]
    level: critical
`

// defaultSeverityRules are the built-in rules, parsed once; the text is a
// constant, so an error is a bug that every test of the package meets.
var defaultSeverityRules = func() []SeverityRule {
	c, err := ParseConfig("built-in severity rules", []byte(defaultSeverityConfig))
	if err != nil {
		panic(err)
	}
	return c.Severity
}()

// DefaultSeverityRules returns the built-in severity rules, which apply
// after the config's own unless it turns them off (severityDefaults:
// false). Drift no rule selects is a warning.
func DefaultSeverityRules() []SeverityRule { return slices.Clone(defaultSeverityRules) }

// severityRules are the rules in the order they are tried.
func (c *Config) severityRules() []SeverityRule {
	if c == nil {
		return defaultSeverityRules
	}
	if c.SeverityDefaultsOff {
		return c.Severity
	}
	return slices.Concat(c.Severity, defaultSeverityRules)
}

// Classify sets the severity of res's diffs and of res. A diff gets the
// level of the first severity rule that selects it (the config's rules,
// then DefaultSeverityRules unless turned off), else warning; a Drifted
// resource the highest of its diffs'; a Missing or Extra resource the
// level of the first rule that selects it as a whole, else warning.
// InSync and Error resources get none. A nil Config has the defaults
// alone.
func (c *Config) Classify(res *Resource) {
	res.Severity = ""
	for i := range res.Diffs {
		res.Diffs[i].Severity = ""
	}
	if res.Status != Drifted && res.Status != Missing && res.Status != Extra {
		return
	}
	rules, id := c.severityRules(), idOf(res)
	if res.Status != Drifted || len(res.Diffs) == 0 {
		res.Severity = SeverityWarning
		for _, r := range rules {
			if r.selectsWhole(id, res.Status) {
				res.Severity = r.Level
				break
			}
		}
		return
	}
	for i := range res.Diffs {
		d := &res.Diffs[i]
		p := d.path
		if p == nil {
			p = parseReportPath(d.Path)
		}
		d.Severity = SeverityWarning
		for _, r := range rules {
			if r.selectsDiff(id, p, *d) {
				d.Severity = r.Level
				break
			}
		}
		if d.Severity.Rank() > res.Severity.Rank() {
			res.Severity = d.Severity
		}
	}
}

// parseReportPath turns a report path back into a Path, for diffs that
// did not come from Compare (a report decoded from JSON, built by hand);
// nil when it does not parse.
func parseReportPath(s string) Path {
	pat, err := ParsePathPattern(s)
	if err != nil {
		return nil
	}
	p := make(Path, 0, len(pat.steps))
	for _, ps := range pat.steps {
		switch {
		case ps.isFields:
			p = append(p, fieldStep(ps.field))
		case len(ps.keys) > 0:
			p = append(p, Step{Keys: ps.keys})
		case ps.isIndex:
			p = append(p, Step{Index: ps.index})
		default:
			return nil
		}
	}
	return p
}

// matchesID reports whether m selects a resource by its identity.
func (m Match) matchesID(id resourceID) bool {
	groupOK := m.anyGroup || (m.Group == "" && id.group == "") || (m.Group != "" && glob(m.Group, id.group))
	return groupOK && glob(m.Kind, id.kind) && glob(m.Namespace, id.namespace) && glob(m.Name, id.name)
}
