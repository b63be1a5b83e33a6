package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/driftwatch/driftwatch/gitsource"
)

// The fleet file's apiVersion and kind.
const (
	fleetFileAPIVersion = "driftwatch.dev/v1alpha1"
	fleetFileKind       = "Fleet"
)

// fleetFileSpec is a --fleet file: the clusters one `check --fleet` compares,
// each with its kubeconfig context and its source. It reads strictly: an
// unknown field, a missing or repeated context, or a bad value is an
// error naming the file and line.
//
//	apiVersion: driftwatch.dev/v1alpha1
//	kind: Fleet
//	defaults:            # any field of a cluster but context and name
//	  source: https://github.com/acme/platform.git
//	  ref: main
//	clusters:
//	  - context: prod-eu
//	    path: overlays/prod-eu
type fleetFileSpec struct {
	// Path is the file, as given.
	Path     string
	Clusters []fleetEntry
}

// fleetEntry is one cluster of a fleet file, defaults applied and
// file paths resolved against the fleet file's directory. Its fields
// mean what check's flags of the same name do.
type fleetEntry struct {
	// Line is where the entry starts in the file.
	Line int
	// Name is the cluster's name in the report; default Context.
	Name string
	// Context is the kubeconfig context (--context); required, unique.
	Context string
	// Kubeconfig is the kubeconfig file (--kubeconfig); empty for
	// $KUBECONFIG or ~/.kube/config.
	Kubeconfig string
	// Namespace is the default namespace (-n); empty for the context's.
	Namespace string
	// Source is a repository URL (--repo, oci:// too) or a directory
	// (--dir); required.
	Source string
	// Ref (--ref), Path (--path), Render (--render: auto, helm,
	// kustomize or plain; empty is auto), Values (--values, inside the
	// source) and SourceConfig (--source-config).
	Ref, Path, Render string
	Values            []string
	SourceConfig      string
}

// fleetEntryFields are a cluster entry's fields, in the order errors list
// them.
var fleetEntryFields = []string{"context", "name", "kubeconfig", "namespace", "source", "ref", "path", "render", "values", "sourceConfig"}

// fleetSCPURL matches scp-style Git URLs (git@host:org/repo), which name a
// repository, not a directory.
var fleetSCPURL = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:`)

// isFleetRepoURL reports whether a fleet file's source names a repository or
// an OCI artifact rather than a local directory.
func isFleetRepoURL(s string) bool {
	return strings.Contains(s, "://") || fleetSCPURL.MatchString(s)
}

// loadFleetFile reads and validates a fleet file.
func loadFleetFile(path string) (*fleetFileSpec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fleet file: %w", err)
	}
	return parseFleetFile(path, data)
}

// parseFleetFile parses a fleet file's content; path names it in errors
// and anchors its relative paths.
func parseFleetFile(path string, data []byte) (*fleetFileSpec, error) {
	p := fleetFileParser{path: path}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if rest, ok := strings.CutPrefix(msg, "line "); ok {
			// "line 3: did not find..." as file:line like every other
			// error.
			return nil, fmt.Errorf("%s:%s", path, rest)
		}
		return nil, fmt.Errorf("fleet file %s: %s", path, msg)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, fmt.Errorf("fleet file %s: empty (want apiVersion %s, kind %s and clusters)", path, fleetFileAPIVersion, fleetFileKind)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, p.errorf(root, "want a mapping with apiVersion, kind and clusters")
	}
	var apiVersion, kind string
	var defaults fleetEntry
	var clusters *yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if seen[k.Value] {
			return nil, p.errorf(k, "field %q given twice", k.Value)
		}
		seen[k.Value] = true
		var err error
		switch k.Value {
		case "apiVersion":
			err = p.decode(v, &apiVersion)
		case "kind":
			err = p.decode(v, &kind)
		case "defaults":
			defaults, err = p.cluster(v, "defaults", fleetEntry{})
			if err == nil && (defaults.Context != "" || defaults.Name != "") {
				err = p.errorf(v, "defaults: context and name are each cluster's own")
			}
		case "clusters":
			clusters = v
		default:
			err = p.errorf(k, "unknown field %q (want apiVersion, kind, defaults or clusters)", k.Value)
		}
		if err != nil {
			return nil, err
		}
	}
	switch {
	case apiVersion != fleetFileAPIVersion:
		return nil, p.errorf(root, "apiVersion %q, want %s", apiVersion, fleetFileAPIVersion)
	case kind != fleetFileKind:
		return nil, p.errorf(root, "kind %q, want %s", kind, fleetFileKind)
	case clusters == nil || clusters.Kind != yaml.SequenceNode || len(clusters.Content) == 0:
		n := root
		if clusters != nil {
			n = clusters
		}
		return nil, p.errorf(n, "clusters: want a list of at least one cluster")
	}
	f := &fleetFileSpec{Path: path}
	contexts, names := map[string]int{}, map[string]int{}
	for i, n := range clusters.Content {
		c, err := p.cluster(n, fmt.Sprintf("clusters[%d]", i), defaults)
		if err != nil {
			return nil, err
		}
		where := fmt.Sprintf("clusters[%d]", i)
		switch {
		case c.Context == "":
			return nil, p.errorf(n, "%s: context is required", where)
		case contexts[c.Context] != 0:
			return nil, p.errorf(n, "%s: context %q is also the context of line %d", where, c.Context, contexts[c.Context])
		case names[c.Name] != 0:
			return nil, p.errorf(n, "%s: name %q is also the name of line %d", where, c.Name, names[c.Name])
		case c.Source == "":
			return nil, p.errorf(n, "%s: source is required (here or in defaults): a repository URL or a directory", where)
		case c.Ref != "" && !isFleetRepoURL(c.Source):
			return nil, p.errorf(n, "%s: ref needs a repository source (directory %s is read as it is)", where, c.Source)
		case c.Ref != "" && strings.HasPrefix(c.Source, "oci://"):
			return nil, p.errorf(n, "%s: ref is for Git; an oci:// source names its tag or digest itself", where)
		}
		contexts[c.Context], names[c.Name] = c.Line, c.Line
		f.Clusters = append(f.Clusters, c)
	}
	return f, nil
}

// fleetFileParser decodes a fleet file's nodes, naming the file and line of
// every error.
type fleetFileParser struct{ path string }

func (p fleetFileParser) errorf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.path, n.Line, fmt.Sprintf(format, args...))
}

func (p fleetFileParser) decode(n *yaml.Node, into any) error {
	if err := n.Decode(into); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			return fmt.Errorf("%s:%s", p.path, strings.TrimPrefix(te.Errors[0], "line "))
		}
		return p.errorf(n, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

// cluster decodes a cluster entry (or the defaults) over base, resolving
// the paths that name files against the fleet file's directory.
func (p fleetFileParser) cluster(n *yaml.Node, where string, base fleetEntry) (fleetEntry, error) {
	c := base
	c.Values = slices.Clone(base.Values)
	c.Line = n.Line
	if n.Kind != yaml.MappingNode {
		return c, p.errorf(n, "%s: want a mapping of %s", where, strings.Join(fleetEntryFields, ", "))
	}
	dir := filepath.Dir(p.path)
	rel := func(s string) string {
		if s == "" || filepath.IsAbs(s) {
			return s
		}
		return filepath.Join(dir, s)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return c, p.errorf(k, "%s: field %q given twice", where, k.Value)
		}
		seen[k.Value] = true
		var err error
		switch k.Value {
		case "context":
			err = p.decode(v, &c.Context)
		case "name":
			err = p.decode(v, &c.Name)
		case "kubeconfig":
			if err = p.decode(v, &c.Kubeconfig); err == nil {
				c.Kubeconfig = rel(c.Kubeconfig)
			}
		case "namespace":
			err = p.decode(v, &c.Namespace)
		case "source":
			if err = p.decode(v, &c.Source); err == nil && !isFleetRepoURL(c.Source) {
				c.Source = rel(c.Source)
			}
		case "ref":
			err = p.decode(v, &c.Ref)
		case "path":
			err = p.decode(v, &c.Path)
		case "render":
			if err = p.decode(v, &c.Render); err == nil {
				if _, perr := gitsource.ParseRenderMode(c.Render); perr != nil || c.Render == "" {
					err = p.errorf(v, "%s: render %q: want auto, helm, kustomize or plain", where, c.Render)
				}
			}
		case "values":
			// Values files are inside the source, as --values: not
			// resolved here.
			c.Values = nil
			err = p.decode(v, &c.Values)
		case "sourceConfig":
			if err = p.decode(v, &c.SourceConfig); err == nil {
				c.SourceConfig = rel(c.SourceConfig)
			}
		default:
			err = p.errorf(k, "%s: unknown field %q (want %s)", where, k.Value, strings.Join(fleetEntryFields, ", "))
		}
		if err != nil {
			return c, err
		}
	}
	if c.Name == "" {
		c.Name = c.Context
	}
	return c, nil
}

// policy names the cluster's source as its report would (URL, "//" and
// path), any password in the URL hidden: what the report shows of a
// cluster that could not be checked.
func (c fleetEntry) policy() string {
	s := c.Source
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			s = u.Redacted()
		}
	}
	if c.Path != "" {
		s += "//" + c.Path
	}
	return s
}

// flags are the check flags the cluster stands for, over base (the
// command line's credentials, cache and Helm flags).
func (c fleetEntry) flags(base sourceFlags) (sourceFlags, clusterOptions) {
	sf := base
	sf.Repo, sf.Dir = "", ""
	if isFleetRepoURL(c.Source) {
		sf.Repo = c.Source
	} else {
		sf.Dir = c.Source
	}
	sf.Ref, sf.Path, sf.SourceConfig = c.Ref, c.Path, c.SourceConfig
	sf.Render = c.Render
	if sf.Render == "" {
		sf.Render = "auto"
	}
	sf.Values = slices.Clone(c.Values)
	return sf, clusterOptions{Kubeconfig: c.Kubeconfig, Context: c.Context, Namespace: c.Namespace}
}
