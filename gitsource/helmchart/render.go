// Package helmchart renders Helm charts in-process, as `helm template`
// does, with no helm binary and no exec: the chart's templates, its
// subcharts (vendored, or fetched by a Fetcher from chart repositories and
// OCI registries), values files and inline values, and .Capabilities from
// the cluster the result is compared with. `lookup` returns nothing, as
// in `helm template`. Hooks (helm.sh/hook, test Pods among them) are not
// desired state: they are returned apart.
package helmchart

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"sigs.k8s.io/yaml"
)

// Options configure Render. The zero value renders with the chart's own
// values, release name and Helm's default capabilities.
type Options struct {
	// ReleaseName is .Release.Name; empty means the chart's name.
	ReleaseName string
	// Namespace is .Release.Namespace; empty means "default".
	Namespace string
	// ValuesFiles are merged in order over the chart's values.yaml.
	ValuesFiles []ValuesFile
	// Values are merged last (--set).
	Values map[string]any
	// KubeVersion is .Capabilities.KubeVersion (v1.37.2); empty means
	// Helm's default.
	KubeVersion string
	// APIVersions are .Capabilities.APIVersions (apps/v1,
	// apps/v1/Deployment); empty means Helm's default set.
	APIVersions []string
	// SkipCRDs leaves out the crds/ directories, which helm install
	// applies (so they are desired state) unless told --skip-crds.
	SkipCRDs bool
	// Fetcher brings dependencies that are not vendored under charts/;
	// nil means a missing dependency is an error.
	Fetcher *Fetcher
}

// ValuesFile is one values file: its name (for errors) and content.
type ValuesFile struct {
	Name string
	Data []byte
}

// Manifest is one rendered template (possibly several YAML documents).
type Manifest struct {
	// Template is the chart path of the template that produced it
	// (web/templates/deployment.yaml, web/charts/db/templates/sts.yaml,
	// web/crds/widgets.yaml).
	Template string
	Content  string
}

// Hook is a rendered object Helm runs at a release event, not desired
// state.
type Hook struct {
	Template, Kind, Name string
	// Events are the helm.sh/hook events (pre-install, test, ...).
	Events []string
	// Content is the rendered manifest.
	Content string
}

// Result is a rendered chart.
type Result struct {
	// Chart is the chart's name and Version its version.
	Chart, Version string
	// Manifests are the CRDs (unless skipped) then the templates, in
	// Helm's install order.
	Manifests []Manifest
	Hooks     []Hook
}

// Render renders the chart whose files are given (names relative to the
// chart's root: Chart.yaml, templates/x.yaml, charts/db-1.0.0.tgz).
func Render(ctx context.Context, files []*archive.BufferedFile, o Options) (*Result, error) {
	if o.Fetcher != nil {
		deps, err := o.Fetcher.Dependencies(ctx, files)
		if err != nil {
			return nil, err
		}
		files = append(files, deps...)
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	name := ch.Name()
	vals, err := mergeValues(o)
	if err != nil {
		return nil, err
	}
	if err := checkDependencies(ch); err != nil {
		return nil, fmt.Errorf("chart %s: %w", name, err)
	}
	if err := chartutil.ProcessDependencies(ch, vals); err != nil {
		return nil, fmt.Errorf("chart %s: dependencies: %w", name, err)
	}
	caps, err := capabilities(o)
	if err != nil {
		return nil, err
	}
	if c := ch.Metadata.KubeVersion; c != "" && !chartutil.IsCompatibleRange(c, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart %s %s requires kubeVersion %s, which Kubernetes %s does not satisfy", name, ch.Metadata.Version, c, caps.KubeVersion.Version)
	}
	rel := common.ReleaseOptions{Name: o.ReleaseName, Namespace: o.Namespace, Revision: 1, IsInstall: true}
	if rel.Name == "" {
		rel.Name = name
	}
	if rel.Namespace == "" {
		rel.Namespace = "default"
	}
	top, err := util.ToRenderValuesWithSchemaValidation(ch, vals, rel, caps, false)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %s", name, oneLine(err))
	}
	var e engine.Engine // no client: lookup returns nothing, as in helm template
	rendered, err := e.RenderWithContext(ctx, ch, top)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %s", name, oneLine(err))
	}
	for k := range rendered {
		if strings.HasSuffix(k, "NOTES.txt") {
			delete(rendered, k)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(rendered, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %s", name, oneLine(err))
	}
	res := &Result{Chart: name, Version: ch.Metadata.Version}
	if !o.SkipCRDs {
		for _, crd := range ch.CRDObjects() {
			res.Manifests = append(res.Manifests, Manifest{Template: crd.Filename, Content: string(crd.File.Data)})
		}
	}
	for _, m := range manifests {
		res.Manifests = append(res.Manifests, Manifest{Template: m.Name, Content: m.Content})
	}
	for _, h := range hooks {
		hk := Hook{Template: h.Path, Kind: h.Kind, Name: h.Name, Content: h.Manifest}
		for _, ev := range h.Events {
			hk.Events = append(hk.Events, ev.String())
		}
		res.Hooks = append(res.Hooks, hk)
	}
	return res, nil
}

// mergeValues merges the values files in order, then the inline values,
// as helm's -f and --set do.
func mergeValues(o Options) (map[string]any, error) {
	out := map[string]any{}
	for _, f := range o.ValuesFiles {
		var v map[string]any
		if err := yaml.Unmarshal(f.Data, &v); err != nil {
			return nil, fmt.Errorf("values file %s: %s", f.Name, strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "))
		}
		out = loader.MergeMaps(out, v)
	}
	return loader.MergeMaps(out, o.Values), nil
}

// capabilities builds .Capabilities from the cluster's facts.
func capabilities(o Options) (*common.Capabilities, error) {
	caps := common.DefaultCapabilities.Copy()
	if o.KubeVersion != "" {
		kv, err := common.ParseKubeVersion(o.KubeVersion)
		if err != nil {
			return nil, fmt.Errorf("kubernetes version %q: %w", o.KubeVersion, err)
		}
		caps.KubeVersion = *kv
	}
	if len(o.APIVersions) > 0 {
		vs := append(common.VersionSet{}, o.APIVersions...)
		sort.Strings(vs)
		caps.APIVersions = vs
	}
	return caps, nil
}

// checkDependencies reports dependencies Chart.yaml declares that are
// neither vendored nor fetched, as helm install does.
func checkDependencies(ch *chart.Chart) error {
	have := map[string]bool{}
	for _, d := range ch.Dependencies() {
		have[d.Name()] = true
	}
	var missing []string
	for _, d := range ch.Metadata.Dependencies {
		if !have[d.Name] {
			missing = append(missing, d.Name)
		}
	}
	if len(missing) > 0 {
		return errors.New("dependencies " + strings.Join(missing, ", ") + " are in Chart.yaml but not in charts/ (vendor them with helm dependency build, or give their repositories)")
	}
	return nil
}

// oneLine keeps a Helm error on one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

// Origin returns the template path below the chart's root directory
// (templates/x.yaml, charts/db/templates/y.yaml) for a Template.
func Origin(chartName, template string) string {
	return strings.TrimPrefix(path.Clean(template), chartName+"/")
}
