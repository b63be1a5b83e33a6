package drift

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	yamlv2 "go.yaml.in/yaml/v2"
	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// AnnotationPrefix is the prefix of driftwatch's own annotations; they are
// instructions to driftwatch, never compared.
const AnnotationPrefix = "driftwatch.dev/"

// IgnoreAnnotation on a desired object lists paths to ignore for that
// object only, comma-separated: driftwatch.dev/ignore: "spec.replicas".
const IgnoreAnnotation = AnnotationPrefix + "ignore"

// ConfigAPIVersion and ConfigKind head a driftwatch configuration file.
const (
	ConfigAPIVersion = "driftwatch.dev/v1alpha1"
	ConfigKind       = "Config"
)

// Config is the --config file: rules that ignore fields, mark fields as
// sensitive and classify drift by severity. The zero value ignores
// nothing and classifies by DefaultSeverityRules.
//
//	apiVersion: driftwatch.dev/v1alpha1
//	kind: Config
//	ignore:
//	  - match: {group: apps, kind: Deployment, namespace: "prod-*"}
//	    paths: [spec.replicas]
//	    managers: [kube-controller-manager, "istio-*"]
//	sensitive:
//	  - match: {kind: ConfigMap, name: "*-credentials"}
//	    paths: [data]
//	added:
//	  managers: [k9s, "lens-*"]
//	  metadata:
//	    - match: {namespace: prod}
//	severity:
//	  - match: {kind: Deployment, namespace: prod}
//	    paths: [spec.replicas]
//	    level: critical
type Config struct {
	Ignore    []Rule
	Sensitive []Rule
	Added     AddedConfig
	// Severity rules are tried in order, before DefaultSeverityRules.
	Severity []SeverityRule
	// SeverityDefaultsOff leaves DefaultSeverityRules out
	// (severityDefaults: false): drift no rule selects is a warning.
	SeverityDefaultsOff bool
}

// AddedConfig configures Added fields: fields Git does not set that a
// person added by hand (see AddedPolicy). The zero value reports them,
// with kubectl's managers as the interactive ones and labels and
// annotations left out. An ignore rule with types: [Added] turns them off
// for some resources or paths.
type AddedConfig struct {
	// Disabled turns Added fields off everywhere (enabled: false).
	Disabled bool
	// Managers are more interactive managers (globs), besides
	// DefaultInteractiveManagers.
	Managers []string
	// Metadata selects the resources whose hand-added labels and
	// annotations count.
	Metadata []Match
}

// Rule applies to the resources Match selects. Its Paths select fields (and
// everything under them); its Managers select fields by the field manager
// owning the live value (ignore rules only).
type Rule struct {
	Match    Match
	Paths    []PathPattern
	Managers []string
	// Types, when set, restricts an ignore rule to these diff types
	// (types: [Added] turns off hand-made additions only).
	Types []DiffType
}

// Match selects resources by globs (path.Match syntax); an empty field
// matches everything. Group is "" for the core group; use "*" for any.
type Match struct {
	Group, Kind, Namespace, Name string
	anyGroup                     bool
}

// ConfigError is a problem in the configuration file at a line.
type ConfigError struct {
	File string
	Line int
	Err  error
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("config %s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("config %s: %v", e.File, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

type rawConfig struct {
	APIVersion       string            `yaml:"apiVersion"`
	Kind             string            `yaml:"kind"`
	Ignore           []rawRule         `yaml:"ignore"`
	Sensitive        []rawRule         `yaml:"sensitive"`
	Added            *rawAdded         `yaml:"added"`
	Severity         []rawSeverityRule `yaml:"severity"`
	SeverityDefaults *bool             `yaml:"severityDefaults"`
}

type rawAdded struct {
	Enabled  *bool       `yaml:"enabled"`
	Managers []yaml.Node `yaml:"managers"`
	Metadata []rawRule   `yaml:"metadata"`
}

type rawRule struct {
	Match    *rawMatch   `yaml:"match"`
	Paths    []yaml.Node `yaml:"paths"`
	Managers []yaml.Node `yaml:"managers"`
	Types    []yaml.Node `yaml:"types"`
	line     int
}

// UnmarshalYAML keeps the rule's line and rejects unknown fields (the
// decoder's KnownFields does not reach custom unmarshalers).
func (r *rawRule) UnmarshalYAML(n *yaml.Node) error {
	type plain rawRule
	r.line = n.Line
	if n.Kind == yaml.MappingNode {
		for i := 0; i < len(n.Content); i += 2 {
			switch k := n.Content[i]; k.Value {
			case "match", "paths", "managers", "types":
			default:
				return fmt.Errorf("line %d: unknown field %q in rule (want match, paths, managers, types)", k.Line, k.Value)
			}
		}
	}
	return n.Decode((*plain)(r))
}

// rawSeverityRule is a rule of the severity section: a rule's selectors
// and a level.
type rawSeverityRule struct {
	Match        *rawMatch   `yaml:"match"`
	Paths        []yaml.Node `yaml:"paths"`
	Managers     []yaml.Node `yaml:"managers"`
	Operations   []yaml.Node `yaml:"operations"`
	Subresources []yaml.Node `yaml:"subresources"`
	Types        []yaml.Node `yaml:"types"`
	Level        yaml.Node   `yaml:"level"`
	line         int
}

// UnmarshalYAML keeps the rule's line and rejects unknown fields, in the
// rule and in its match.
func (r *rawSeverityRule) UnmarshalYAML(n *yaml.Node) error {
	type plain rawSeverityRule
	r.line = n.Line
	if err := knownKeys(n, "severity rule", "match", "paths", "managers", "operations", "subresources", "types", "level"); err != nil {
		return err
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "match" {
				if err := knownKeys(n.Content[i+1], "match", "group", "kind", "namespace", "name"); err != nil {
					return err
				}
			}
		}
	}
	return n.Decode((*plain)(r))
}

// knownKeys fails on a key of mapping n that is not one of keys.
func knownKeys(n *yaml.Node, what string, keys ...string) error {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i < len(n.Content); i += 2 {
		if k := n.Content[i]; !slices.Contains(keys, k.Value) {
			return fmt.Errorf("line %d: unknown field %q in %s (want %s)", k.Line, k.Value, what, strings.Join(keys, ", "))
		}
	}
	return nil
}

type rawMatch struct {
	Group     *string `yaml:"group"`
	Kind      string  `yaml:"kind"`
	Namespace string  `yaml:"namespace"`
	Name      string  `yaml:"name"`
}

// LoadConfig reads and validates a configuration file.
func LoadConfig(file string) (*Config, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, &ConfigError{File: file, Err: err}
	}
	return ParseConfig(file, b)
}

// ParseConfig parses configuration data; file names it in errors.
func ParseConfig(file string, data []byte) (*Config, error) {
	// yaml.v3 numbers parser errors from 0 (its context mark); v2 does not,
	// so syntax is checked with v2 and structure decoded with v3.
	var syntax any
	if err := yamlv2.Unmarshal(data, &syntax); err != nil {
		return nil, yamlConfigError(file, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var raw rawConfig
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlConfigError(file, err)
	}
	if raw.APIVersion != ConfigAPIVersion || raw.Kind != ConfigKind {
		return nil, &ConfigError{File: file, Line: 1,
			Err: fmt.Errorf("want apiVersion %s and kind %s, got %q and %q", ConfigAPIVersion, ConfigKind, raw.APIVersion, raw.Kind)}
	}
	cfg := &Config{}
	if a := raw.Added; a != nil {
		cfg.Added.Disabled = a.Enabled != nil && !*a.Enabled
		for _, n := range a.Managers {
			if _, err := path.Match(n.Value, ""); err != nil || n.Kind != yaml.ScalarNode || n.Value == "" {
				return nil, &ConfigError{File: file, Line: n.Line, Err: fmt.Errorf("bad manager glob %q", n.Value)}
			}
			cfg.Added.Managers = append(cfg.Added.Managers, n.Value)
		}
		for _, rr := range a.Metadata {
			if len(rr.Paths)+len(rr.Managers)+len(rr.Types) > 0 {
				return nil, &ConfigError{File: file, Line: rr.line, Err: errors.New("added.metadata rules take a match only")}
			}
			rr.Paths = []yaml.Node{{Kind: yaml.ScalarNode, Value: "metadata"}}
			r, err := rr.build(file, "added.metadata")
			if err != nil {
				return nil, err
			}
			cfg.Added.Metadata = append(cfg.Added.Metadata, r.Match)
		}
	}
	for _, rr := range raw.Severity {
		r, err := rr.build(file)
		if err != nil {
			return nil, err
		}
		cfg.Severity = append(cfg.Severity, r)
	}
	cfg.SeverityDefaultsOff = raw.SeverityDefaults != nil && !*raw.SeverityDefaults
	for section, rules := range map[string][]rawRule{"ignore": raw.Ignore, "sensitive": raw.Sensitive} {
		for _, rr := range rules {
			r, err := rr.build(file, section)
			if err != nil {
				return nil, err
			}
			if section == "ignore" {
				cfg.Ignore = append(cfg.Ignore, r)
			} else {
				cfg.Sensitive = append(cfg.Sensitive, r)
			}
		}
	}
	return cfg, nil
}

// buildMatch validates a rule's match; no match selects every resource.
func buildMatch(file string, line int, m *rawMatch) (Match, error) {
	if m == nil {
		return Match{anyGroup: true}, nil
	}
	out := Match{Kind: m.Kind, Namespace: m.Namespace, Name: m.Name, anyGroup: m.Group == nil}
	if m.Group != nil {
		out.Group = *m.Group
	}
	for _, g := range []string{out.Group, m.Kind, m.Namespace, m.Name} {
		if _, err := path.Match(g, ""); err != nil {
			return out, &ConfigError{File: file, Line: line, Err: fmt.Errorf("bad glob %q: %w", g, err)}
		}
	}
	return out, nil
}

func (rr rawRule) build(file, section string) (Rule, error) {
	var r Rule
	var err error
	if r.Match, err = buildMatch(file, rr.line, rr.Match); err != nil {
		return r, err
	}
	if len(rr.Paths) == 0 && len(rr.Managers) == 0 && len(rr.Types) == 0 {
		return r, &ConfigError{File: file, Line: rr.line, Err: fmt.Errorf("%s rule needs paths, managers or types", section)}
	}
	if section == "sensitive" && len(rr.Managers) > 0 {
		return r, &ConfigError{File: file, Line: rr.Managers[0].Line, Err: errors.New("managers apply to ignore rules only")}
	}
	if section == "sensitive" && len(rr.Types) > 0 {
		return r, &ConfigError{File: file, Line: rr.Types[0].Line, Err: errors.New("types apply to ignore rules only")}
	}
	for _, n := range rr.Types {
		switch t := DiffType(n.Value); t {
		case Changed, Removed, Reordered, Added:
			r.Types = append(r.Types, t)
		default:
			return r, &ConfigError{File: file, Line: n.Line, Err: fmt.Errorf("unknown diff type %q (want Changed, Removed, Reordered or Added)", n.Value)}
		}
	}
	for _, n := range rr.Paths {
		p, err := ParsePathPattern(n.Value)
		if err != nil || n.Kind != yaml.ScalarNode {
			if err == nil {
				err = errors.New("path must be a string")
			}
			return r, &ConfigError{File: file, Line: n.Line, Err: err}
		}
		r.Paths = append(r.Paths, p)
	}
	for _, n := range rr.Managers {
		if _, err := path.Match(n.Value, ""); err != nil || n.Kind != yaml.ScalarNode || n.Value == "" {
			return r, &ConfigError{File: file, Line: n.Line, Err: fmt.Errorf("bad manager glob %q", n.Value)}
		}
		r.Managers = append(r.Managers, n.Value)
	}
	return r, nil
}

func (rr rawSeverityRule) build(file string) (SeverityRule, error) {
	var r SeverityRule
	var err error
	if r.Match, err = buildMatch(file, rr.line, rr.Match); err != nil {
		return r, err
	}
	if rr.Level.Kind == 0 {
		return r, &ConfigError{File: file, Line: rr.line, Err: errors.New("severity rule needs a level: critical, warning or info")}
	}
	if r.Level, err = ParseSeverity(rr.Level.Value); err != nil || rr.Level.Kind != yaml.ScalarNode {
		return r, &ConfigError{File: file, Line: rr.Level.Line, Err: fmt.Errorf("unknown severity level %q (want critical, warning or info)", rr.Level.Value)}
	}
	for _, n := range rr.Types {
		switch v := n.Value; v {
		case string(Changed), string(Removed), string(Reordered), string(Added):
			r.Types = append(r.Types, DiffType(v))
		case string(Missing), string(Extra):
			r.Statuses = append(r.Statuses, Status(v))
		default:
			return r, &ConfigError{File: file, Line: n.Line, Err: fmt.Errorf("unknown type %q (want Changed, Removed, Reordered, Added, Missing or Extra)", v)}
		}
	}
	for _, n := range rr.Paths {
		g, err := ParseFieldGlob(n.Value)
		if err != nil || n.Kind != yaml.ScalarNode {
			if err == nil {
				err = errors.New("path must be a string")
			}
			return r, &ConfigError{File: file, Line: n.Line, Err: err}
		}
		r.Paths = append(r.Paths, g)
	}
	for _, n := range rr.Managers {
		if _, err := path.Match(n.Value, ""); err != nil || n.Kind != yaml.ScalarNode || n.Value == "" {
			return r, &ConfigError{File: file, Line: n.Line, Err: fmt.Errorf("bad manager glob %q", n.Value)}
		}
		r.Managers = append(r.Managers, n.Value)
	}
	for _, n := range rr.Operations {
		if n.Kind != yaml.ScalarNode || (n.Value != "Apply" && n.Value != "Update") {
			return r, &ConfigError{File: file, Line: n.Line, Err: fmt.Errorf("unknown operation %q (want Apply or Update)", n.Value)}
		}
		r.Operations = append(r.Operations, n.Value)
	}
	for _, n := range rr.Subresources {
		if _, err := path.Match(n.Value, ""); err != nil || n.Kind != yaml.ScalarNode || n.Value == "" {
			return r, &ConfigError{File: file, Line: n.Line, Err: fmt.Errorf("bad subresource glob %q", n.Value)}
		}
		r.Subresources = append(r.Subresources, n.Value)
	}
	if len(r.Statuses) > 0 && (len(r.Paths) > 0 || r.selectsByOwner()) {
		return r, &ConfigError{File: file, Line: rr.line, Err: errors.New("types Missing and Extra select whole resources, which paths, managers, operations and subresources never match")}
	}
	return r, nil
}

// yamlConfigError turns a yaml.v3 error ("yaml: line 4: ...") into one with
// the line as a field.
func yamlConfigError(file string, err error) error {
	var te *yaml.TypeError
	msg := err.Error()
	var te2 *yamlv2.TypeError
	switch {
	case errors.As(err, &te) && len(te.Errors) > 0:
		msg = te.Errors[0]
	case errors.As(err, &te2) && len(te2.Errors) > 0:
		msg = te2.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := 0
	if strings.HasPrefix(msg, "line ") {
		if n, e := fmt.Sscanf(msg, "line %d:", &line); n == 1 && e == nil {
			msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
		}
	}
	return &ConfigError{File: file, Line: line, Err: errors.New(msg)}
}

// matches reports whether m selects the object.
func (m Match) matches(u *unstructured.Unstructured, namespace string) bool {
	gvk := u.GroupVersionKind()
	return m.matchesID(resourceID{group: gvk.Group, kind: gvk.Kind, namespace: namespace, name: u.GetName()})
}

func glob(pattern, s string) bool {
	if pattern == "" || pattern == "*" {
		return true
	}
	ok, _ := path.Match(pattern, s)
	return ok
}

// Rules are the ignore and sensitive rules that apply to one object (from
// Config.RulesFor).
type Rules struct {
	ignore    []Rule
	sensitive []PathPattern
	// Added is the object's policy for hand-made additions; nil when
	// they are turned off.
	Added *AddedPolicy
}

// RulesFor collects the rules for one object, including its own
// driftwatch.dev/ignore annotation.
func (c *Config) RulesFor(u *unstructured.Unstructured, namespace string) (Rules, error) {
	var r Rules
	r.Added = &AddedPolicy{}
	if c != nil {
		if c.Added.Disabled {
			r.Added = nil
		} else {
			if len(c.Added.Managers) > 0 {
				r.Added.Managers = append(append([]string(nil), DefaultInteractiveManagers...), c.Added.Managers...)
			}
			for _, m := range c.Added.Metadata {
				if m.matches(u, namespace) {
					r.Added.Metadata = true
				}
			}
		}
		for _, rule := range c.Ignore {
			if rule.Match.matches(u, namespace) {
				r.ignore = append(r.ignore, rule)
			}
		}
		for _, rule := range c.Sensitive {
			if rule.Match.matches(u, namespace) {
				r.sensitive = append(r.sensitive, rule.Paths...)
			}
		}
	}
	if v, ok := u.GetAnnotations()[IgnoreAnnotation]; ok {
		for _, s := range strings.Split(v, ",") {
			if strings.TrimSpace(s) == "" {
				continue
			}
			p, err := ParsePathPattern(s)
			if err != nil {
				return r, fmt.Errorf("annotation %s: %w", IgnoreAnnotation, err)
			}
			r.ignore = append(r.ignore, Rule{Paths: []PathPattern{p}})
		}
	}
	return r, nil
}

// Ignored reports whether a diff is ignored by these rules.
func (r Rules) Ignored(d FieldDiff) bool {
	for _, rule := range r.ignore {
		if len(rule.Types) > 0 && !slices.Contains(rule.Types, d.Type) {
			continue
		}
		if len(rule.Paths) == 0 && len(rule.Managers) == 0 {
			return true // types only: every field of those types
		}
		for _, p := range rule.Paths {
			if p.Matches(d.path) {
				return true
			}
		}
		if d.ChangedBy != nil {
			for _, m := range rule.Managers {
				if glob(m, d.ChangedBy.Manager) {
					return true
				}
			}
		}
	}
	return false
}

// IsSensitive reports whether the value at a path is or contains a field
// configured as sensitive: a removed list item or a whole atomic list would
// otherwise show it.
func (r Rules) IsSensitive(p Path) bool {
	for _, pat := range r.sensitive {
		if pat.Matches(p) || pat.MatchesBelow(p) {
			return true
		}
	}
	return false
}
