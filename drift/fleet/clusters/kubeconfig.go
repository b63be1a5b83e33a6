package clusters

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// FromKubeconfig loads a kubeconfig and returns one Target per context
// that selectors pick, sorted by name. path "" means client-go's default
// loading rules ($KUBECONFIG, else ~/.kube/config). A selector is a
// context name or a path.Match glob ("prod-*"); no selectors picks every
// context. A selector naming a context the kubeconfig lacks is an error
// naming it and the file; a glob that picks nothing is not. A context
// whose cluster or user is missing or invalid is a Target with Err.
func FromKubeconfig(path string, selectors []string) ([]Target, error) {
	sel, err := newSelector(selectors)
	if err != nil {
		return nil, err
	}
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
	where := path
	if path == "" {
		rules = clientcmd.NewDefaultClientConfigLoadingRules()
		where = strings.Join(rules.GetLoadingPrecedence(), string(filepath.ListSeparator))
	}
	raw, err := rules.Load()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", where, loadError(err))
	}
	if len(raw.Contexts) == 0 {
		return nil, fmt.Errorf("kubeconfig %s: no contexts", where)
	}
	var out []Target
	for _, name := range slices.Sorted(maps.Keys(raw.Contexts)) {
		if !sel.match(name) {
			continue
		}
		file := raw.Contexts[name].LocationOfOrigin
		if file == "" {
			file = where
		}
		out = append(out, contextTarget(raw, name, name, fmt.Sprintf("context %q in %s", name, file)))
	}
	if name, ok := sel.unmatched(); ok {
		return nil, fmt.Errorf("kubeconfig %s: no context %q", where, name)
	}
	return out, nil
}

// FromDir returns one Target per kubeconfig file in dir, sorted by name:
// every regular file (or link to one) whose name does not start with "."
// (*.yaml, *.yml, *.conf, *.kubeconfig and extensionless files alike;
// a mounted Secret's ..data links are skipped). Each file gives its
// current-context, named after that context; a file without a
// current-context gives its only context, named after the file's base
// name without extension. A file that does not parse, or that has no
// usable context, is a Target with Err naming the file (and the line,
// when the YAML error has one): it never aborts the others. Two files
// giving the same name is an error naming both. selectors pick targets
// by name as FromKubeconfig's do.
func FromDir(dir string, selectors []string) ([]Target, error) {
	sel, err := newSelector(selectors)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig directory: %w", err)
	}
	var out []Target
	byName := map[string]string{} // target name → file
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		file := filepath.Join(dir, e.Name())
		// Stat follows links: a mounted Secret's files are links into
		// ..data.
		st, err := os.Stat(file)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig directory: %w", err)
		}
		if !st.Mode().IsRegular() {
			continue
		}
		t := fileTarget(file)
		if other, ok := byName[t.Name]; ok {
			return nil, fmt.Errorf("kubeconfig directory %s: cluster %q is in both %s and %s", dir, t.Name, filepath.Base(other), e.Name())
		}
		byName[t.Name] = file
		if sel.match(t.Name) {
			out = append(out, t)
		}
	}
	if name, ok := sel.unmatched(); ok {
		return nil, fmt.Errorf("kubeconfig directory %s: no cluster %q", dir, name)
	}
	sortTargets(out)
	return out, nil
}

// fileTarget reads one file of FromDir's directory.
func fileTarget(file string) Target {
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	raw, err := (&clientcmd.ClientConfigLoadingRules{ExplicitPath: file}).Load()
	if err != nil {
		return Target{Name: base, Origin: file, Err: fmt.Errorf("kubeconfig %s: %w", file, loadError(err))}
	}
	name, ctx := raw.CurrentContext, raw.CurrentContext
	if ctx == "" {
		if len(raw.Contexts) != 1 {
			return Target{Name: base, Origin: file, Err: fmt.Errorf("kubeconfig %s: no current-context, and %d contexts: set current-context", file, len(raw.Contexts))}
		}
		name = base
		for c := range raw.Contexts {
			ctx = c
		}
	}
	return contextTarget(raw, name, ctx, fmt.Sprintf("context %q in %s", ctx, file))
}

// contextTarget is the Target of one context of raw, named name.
func contextTarget(raw *clientcmdapi.Config, name, context, origin string) Target {
	t := Target{Name: name, Origin: origin}
	// client-go's own message for a missing cluster is "no configuration
	// has been provided, try setting KUBERNETES_MASTER": say which.
	c := raw.Contexts[context]
	switch {
	case c == nil:
		t.Err = fmt.Errorf("%s: no such context", origin)
	case raw.Clusters[c.Cluster] == nil:
		t.Err = fmt.Errorf("%s: cluster %q is not defined", origin, c.Cluster)
	case raw.Clusters[c.Cluster].Server == "":
		t.Err = fmt.Errorf("%s: cluster %q has no server", origin, c.Cluster)
	case c.AuthInfo != "" && raw.AuthInfos[c.AuthInfo] == nil:
		t.Err = fmt.Errorf("%s: user %q is not defined", origin, c.AuthInfo)
	}
	if t.Err != nil {
		return t
	}
	t.Server = raw.Clusters[c.Cluster].Server
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, context, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		t.Err = fmt.Errorf("%s: %w", origin, err)
		return t
	}
	t.Config, t.Server = cfg, cfg.Host
	return t
}

// yamlLine finds the line in a YAML parser's message ("yaml: line 3:
// mapping values are not allowed in this context").
var yamlLine = regexp.MustCompile(`yaml: line (\d+): (.*)$`)

// loadError shortens client-go's load error, which repeats the file name
// and buries the YAML line in a conversion message, to "line N: cause".
func loadError(err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("line %s: %s", m[1], m[2])
	}
	// client-go wraps a decode error as `error loading config file "f": ...`.
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
