package gitsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"helm.sh/helm/v4/pkg/chart/loader/archive"
	"helm.sh/helm/v4/pkg/ignore"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/gitsource/helmchart"
	"github.com/driftwatch/driftwatch/gitsource/sopsfile"
)

// maxChartSize bounds the files of one chart read from the source, as
// Helm bounds a chart archive.
var maxChartSize = archive.MaxDecompressedChartSize

// renderChart renders the Helm chart in dir (a Chart.yaml there) as helm
// install would apply it: hooks and test Pods are left out, into
// out.Skipped; the crds/ directory is kept unless the options skip it.
func renderChart(ctx context.Context, cfs *confinedFS, dir string, ro RenderOptions, out *Rendered) error {
	rel := displayPath(cfs.rel(dir))
	files, err := chartFiles(cfs, dir)
	if err != nil {
		return err
	}
	if files, err = localDependencies(cfs, dir, files); err != nil {
		return err
	}
	caps, err := capabilitiesOf(ctx, ro)
	if err != nil {
		return err
	}
	ho := helmchart.Options{
		ReleaseName: ro.Helm.ReleaseName,
		Namespace:   ro.Helm.Namespace,
		Values:      ro.Helm.Values,
		KubeVersion: caps.KubeVersion,
		APIVersions: caps.APIVersions,
		SkipCRDs:    ro.Helm.SkipCRDs,
		Fetcher:     ro.Helm.Repositories.fetcher(),
	}
	if ho.Namespace == "" {
		ho.Namespace = caps.Namespace
	}
	if ho.ValuesFiles, err = valuesFiles(cfs, cfs.root, ro.Helm.ValuesFiles); err != nil {
		return err
	}
	sealed := unopenedValues(cfs, ho.ValuesFiles)
	res, err := helmchart.Render(ctx, files, ho)
	if err != nil && sealed != nil {
		return fmt.Errorf("helm chart %s: values file %s is encrypted (SOPS) and no age key opens it: %w", rel, sealed.Name(), err)
	}
	if err != nil {
		return fmt.Errorf("helm chart %s: %w", rel, err)
	}
	objs, err := chartObjects(rel, res, res.Manifests)
	if err != nil {
		return err
	}
	if sealed == nil {
		// Rendered again to find what the chart generates on each render
		// (a random password, a self-signed certificate): not compared.
		again, err := helmchart.Render(ctx, files, ho)
		if err != nil {
			return fmt.Errorf("helm chart %s: %w", rel, err)
		}
		againObjs, err := chartObjects(rel, again, again.Manifests)
		if err != nil {
			return err
		}
		markGenerated(objs, againObjs)
	}
	for i := range objs {
		objs[i].DefaultNamespace = ho.Namespace
		if sealed != nil {
			// Rendered from ciphertext: any field may hold it, or a hash
			// of it (a checksum annotation). Not compared at all.
			o := sealed.Unopened(objs[i].Object, UnopenedValues)
			o.DefaultNamespace = ho.Namespace
			out.Unopened = append(out.Unopened, o)
		}
	}
	if sealed == nil {
		out.Objects = append(out.Objects, objs...)
	}
	for _, h := range res.Hooks {
		reason := "helm hook " + strings.Join(h.Events, ",")
		if slices.Contains(h.Events, "test") || slices.Contains(h.Events, "test-success") {
			reason = "helm test"
		}
		out.Skipped = append(out.Skipped, Skipped{
			Kind: h.Kind, Name: h.Name, Origin: filepath.Join(rel, helmchart.Origin(res.Chart, h.Template)), Reason: reason,
		})
	}
	return nil
}

// chartObjects parses rendered manifests; each object's origin is its
// template below the chart directory rel.
func chartObjects(rel string, res *helmchart.Result, ms []helmchart.Manifest) ([]Object, error) {
	var out []Object
	for _, m := range ms {
		origin := filepath.Join(rel, helmchart.Origin(res.Chart, m.Template))
		// Helm writes each manifest followed by a newline and parses what
		// it installs from that text (the release manifest): a block
		// scalar ending a template ("data: {x: |\n  ...}") then keeps its
		// final newline, and so must the desired value.
		objs, err := ParseManifests(origin, []byte(m.Content+"\n"))
		if err != nil {
			return nil, fmt.Errorf("helm chart %s: rendered %w", rel, err)
		}
		for i := range objs {
			objs[i].Origin = origin
		}
		out = append(out, objs...)
	}
	return out, nil
}

// localDependencies adds the dependencies Chart.yaml names with a
// file:// repository (a chart elsewhere in the source) as charts/<name>/,
// unless charts/ holds them already, as helm dependency build would copy
// them. The path must stay inside the source root.
func localDependencies(cfs *confinedFS, dir string, files []*archive.BufferedFile) ([]*archive.BufferedFile, error) {
	var meta struct {
		Dependencies []struct {
			Name, Alias, Repository string
		} `json:"dependencies"`
	}
	for _, f := range files {
		if f.Name == "Chart.yaml" {
			if err := yaml.Unmarshal(f.Data, &meta); err != nil {
				return nil, fmt.Errorf("helm chart %s: Chart.yaml: %w", displayPath(cfs.rel(dir)), err)
			}
		}
	}
	for _, d := range meta.Dependencies {
		local, ok := strings.CutPrefix(d.Repository, "file://")
		if !ok || vendored(files, d.Name) {
			continue
		}
		sub := filepath.Join(dir, filepath.FromSlash(local))
		if filepath.IsAbs(local) || cfs.check(sub) != nil {
			return nil, fmt.Errorf("helm chart %s: dependency %s at %s: %w", displayPath(cfs.rel(dir)), d.Name, d.Repository, ErrOutsideRoot)
		}
		if !isChart(sub) {
			return nil, fmt.Errorf("helm chart %s: dependency %s: no Chart.yaml at %s", displayPath(cfs.rel(dir)), d.Name, cfs.rel(sub))
		}
		subFiles, err := chartFiles(cfs, sub)
		if err != nil {
			return nil, err
		}
		for _, f := range subFiles {
			files = append(files, &archive.BufferedFile{Name: "charts/" + d.Name + "/" + f.Name, Data: f.Data})
		}
	}
	return files, nil
}

// vendored says whether charts/ holds a chart directory or archive for name.
func vendored(files []*archive.BufferedFile, name string) bool {
	for _, f := range files {
		if f.Name == "charts/"+name+"/Chart.yaml" || strings.HasPrefix(f.Name, "charts/"+name+"-") && strings.HasSuffix(f.Name, ".tgz") {
			return true
		}
	}
	return false
}

// onceCapabilities asks f once and gives every later caller its answer.
func onceCapabilities(f func(context.Context) (Capabilities, error)) func(context.Context) (Capabilities, error) {
	var once sync.Once
	var c Capabilities
	var err error
	return func(ctx context.Context) (Capabilities, error) {
		once.Do(func() { c, err = f(ctx) })
		return c, err
	}
}

// capabilitiesOf asks for the cluster's facts, if the caller can give them.
func capabilitiesOf(ctx context.Context, ro RenderOptions) (Capabilities, error) {
	if ro.Capabilities == nil {
		return Capabilities{}, nil
	}
	c, err := ro.Capabilities(ctx)
	if err != nil {
		return c, fmt.Errorf("helm capabilities: %w", err)
	}
	return c, nil
}

// fetcher returns the Fetcher for remote charts.
func (r Repositories) fetcher() *helmchart.Fetcher {
	dir := r.CacheDir
	if dir == "" {
		dir = filepath.Join(filepath.Dir(defaultCacheDir()), "charts")
	}
	return &helmchart.Fetcher{RepositoryConfig: r.RepositoryConfig, Keychain: r.Registry.keychain(), CacheDir: dir}
}

// valuesFiles reads values files named relative to base, inside the
// source (and decrypted when SOPS-encrypted).
func valuesFiles(cfs *confinedFS, base string, names []string) ([]helmchart.ValuesFile, error) {
	var out []helmchart.ValuesFile
	for _, n := range names {
		if filepath.IsAbs(n) {
			return nil, fmt.Errorf("values file %s: %w", n, ErrOutsideRoot)
		}
		p := filepath.Join(base, n)
		if err := cfs.check(p); err != nil {
			return nil, fmt.Errorf("values file %s: %w", n, ErrOutsideRoot)
		}
		data, err := cfs.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("values file %s: not found in the source", cfs.rel(p))
		}
		if err != nil {
			return nil, fmt.Errorf("values file %s: %w", cfs.rel(p), err)
		}
		out = append(out, helmchart.ValuesFile{Name: cfs.rel(p), Data: data})
	}
	return out, nil
}

// chartFiles reads a chart directory as Helm's loader would (.helmignore
// honoured, a size budget), through the confined file system: a symbolic
// link out of the root is an error, as it is for any manifest.
func chartFiles(cfs *confinedFS, dir string) ([]*archive.BufferedFile, error) {
	rules := ignore.Empty()
	if data, err := os.ReadFile(filepath.Join(dir, ignore.HelmIgnore)); err == nil {
		if rules, err = ignore.Parse(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("helm chart %s: %s: %w", cfs.rel(dir), ignore.HelmIgnore, err)
		}
	}
	rules.AddDefaults()
	var files []*archive.BufferedFile
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if err := cfs.check(p); err != nil {
			return err
		}
		n := filepath.ToSlash(strings.TrimPrefix(p, dir+string(filepath.Separator)))
		fi, err := os.Stat(p) // follows a link (inside the root, checked above)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			if rules.Ignore(n, fi) {
				return filepath.SkipDir
			}
			return nil
		}
		if rules.Ignore(n, fi) {
			return nil
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", cfs.rel(p))
		}
		if total += fi.Size(); total > maxChartSize {
			return fmt.Errorf("%s: the chart is larger than %d MiB", cfs.rel(dir), maxChartSize>>20)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, &archive.BufferedFile{Name: n, Data: bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("helm chart %s: %w", displayPath(cfs.rel(dir)), err)
	}
	return files, nil
}

// inflation is a kustomization that names helmCharts:.
type inflation struct {
	dir, file string
	k         types.Kustomization
}

// inflateCharts renders each kustomization's helmCharts: in-process, as
// kustomize's helm generator would with helm template, and gives krusty
// a kustomization where the charts are replaced by their rendering (in
// the file system's overlay), so the kustomization's transformers apply
// to it. Unlike a chart at --path, hooks are kept (kustomize's helm
// template output includes them) unless skipHooks: says otherwise.
func inflateCharts(ctx context.Context, cfs *confinedFS, found []inflation, ro RenderOptions, out *Rendered) error {
	var fetcher *helmchart.Fetcher
	if len(found) > 0 {
		fetcher = ro.Helm.Repositories.fetcher()
	}
	for _, inf := range found {
		var rendered bytes.Buffer
		for _, hc := range inf.k.HelmCharts {
			if err := inflateOne(ctx, cfs, inf, hc, ro, fetcher, &rendered); err != nil {
				return fmt.Errorf("kustomization %s: helmCharts %s: %w", cfs.rel(inf.file), hc.Name, err)
			}
		}
		gen := ".driftwatch-helmcharts.yaml"
		if err := overlayKustomization(cfs, inf, gen); err != nil {
			return err
		}
		cfs.overlay[filepath.Join(inf.dir, gen)] = rendered.Bytes()
	}
	return nil
}

// overlayKustomization writes (into the overlay) the kustomization with
// helmCharts: and helmGlobals: removed and gen added to its resources.
func overlayKustomization(cfs *confinedFS, inf inflation, gen string) error {
	data, err := cfs.ReadFile(inf.file)
	if err != nil {
		return fmt.Errorf("kustomization %s: %w", cfs.rel(inf.file), err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("kustomization %s: %w", cfs.rel(inf.file), err)
	}
	delete(m, "helmCharts")
	delete(m, "helmGlobals")
	res, _ := m["resources"].([]any)
	m["resources"] = append(res, gen)
	b, err := yaml.Marshal(m)
	if err != nil {
		return fmt.Errorf("kustomization %s: %w", cfs.rel(inf.file), err)
	}
	if cfs.overlay == nil {
		cfs.overlay = map[string][]byte{}
	}
	cfs.overlay[filepath.Clean(inf.file)] = b
	return nil
}

// inflateOne renders one helmCharts: entry into w.
func inflateOne(ctx context.Context, cfs *confinedFS, inf inflation, hc types.HelmChart, ro RenderOptions, fetcher *helmchart.Fetcher, w *bytes.Buffer) error {
	home := types.HelmDefaultHome
	if inf.k.HelmGlobals != nil && inf.k.HelmGlobals.ChartHome != "" {
		home = inf.k.HelmGlobals.ChartHome
	}
	if filepath.IsAbs(home) {
		return fmt.Errorf("chartHome %s: %w", home, ErrOutsideRoot)
	}
	home = filepath.Join(inf.dir, home)
	chartDir := filepath.Join(home, hc.Name)
	if hc.Version != "" && hc.Repo != "" {
		chartDir = filepath.Join(home, hc.Name+"-"+hc.Version, hc.Name)
	}
	if err := cfs.check(chartDir); err != nil {
		return err
	}
	var files []*archive.BufferedFile
	var err error
	switch {
	case isChart(chartDir):
		files, err = chartFiles(cfs, chartDir)
	case hc.Repo != "":
		var tgz []byte
		if tgz, err = fetcher.Chart(ctx, hc.Repo, hc.Name, hc.Version); err == nil {
			files, err = archive.LoadArchiveFiles(bytes.NewReader(tgz))
		}
	default:
		return fmt.Errorf("no chart at %s and no repo: to fetch it from", cfs.rel(chartDir))
	}
	if err != nil {
		return err
	}
	caps, err := capabilitiesOf(ctx, ro)
	if err != nil {
		return err
	}
	if len(hc.ApiVersions) > 0 {
		caps.APIVersions = append(slices.Clone(caps.APIVersions), hc.ApiVersions...)
	}
	if hc.KubeVersion != "" {
		caps.KubeVersion = hc.KubeVersion
	}
	ho := helmchart.Options{
		ReleaseName: hc.ReleaseName, Namespace: hc.Namespace,
		KubeVersion: caps.KubeVersion, APIVersions: caps.APIVersions,
		SkipCRDs: !hc.IncludeCRDs, Fetcher: fetcher,
	}
	if ho.Namespace == "" {
		ho.Namespace = caps.Namespace
	}
	var names []string
	if hc.ValuesFile != "" {
		names = append(names, hc.ValuesFile)
	}
	names = append(names, hc.AdditionalValuesFiles...)
	if ho.ValuesFiles, err = valuesFiles(cfs, inf.dir, names); err != nil {
		return err
	}
	switch hc.ValuesMerge {
	case "", "override":
		ho.Values = hc.ValuesInline
	case "merge":
		// The values file wins over the inline values.
		if len(ho.ValuesFiles) > 0 {
			first := ho.ValuesFiles[0]
			inline, err := yaml.Marshal(hc.ValuesInline)
			if err != nil {
				return err
			}
			ho.ValuesFiles = append([]helmchart.ValuesFile{{Name: "valuesInline", Data: inline}, first}, ho.ValuesFiles[1:]...)
		} else {
			ho.Values = hc.ValuesInline
		}
	case "replace":
		if hc.ValuesFile != "" {
			ho.ValuesFiles = ho.ValuesFiles[1:]
		}
		ho.Values = hc.ValuesInline
	default:
		return fmt.Errorf("valuesMerge %q: want override, merge or replace", hc.ValuesMerge)
	}
	sealed := unopenedValues(cfs, ho.ValuesFiles)
	res, err := helmchart.Render(ctx, files, ho)
	if err != nil && sealed != nil {
		return fmt.Errorf("values file %s is encrypted (SOPS) and no age key opens it: %w", sealed.Name(), err)
	}
	if err != nil {
		return err
	}
	manifests := slices.Clone(res.Manifests)
	if !hc.SkipHooks {
		for _, h := range res.Hooks {
			if !hc.SkipTests || !slices.Contains(h.Events, "test") {
				manifests = append(manifests, helmchart.Manifest{Template: h.Template, Content: h.Content})
			}
		}
	}
	for _, m := range manifests {
		content := m.Content
		if sealed != nil {
			if content, err = markUnopenedValues(m, sealed.Name()); err != nil {
				return err
			}
		}
		fmt.Fprintf(w, "---\n# Source: %s\n%s\n", m.Template, content)
	}
	return nil
}

// unopenedValues returns the first of files that is SOPS-encrypted with
// no key that opens it, or nil.
func unopenedValues(cfs *confinedFS, files []helmchart.ValuesFile) *sopsfile.Sealed {
	if cfs.sops == nil {
		return nil
	}
	for _, f := range files {
		if u := cfs.sops.Sealed(f.Name); u != nil {
			return u
		}
	}
	return nil
}

// markUnopenedValues writes a manifest rendered with the encrypted values
// file rel with each object marked (sopsfile.MarkValues), so that it is
// known after kustomize's transformers (finishSOPS takes it out).
func markUnopenedValues(m helmchart.Manifest, rel string) (string, error) {
	objs, err := ParseManifests(m.Template, []byte(m.Content))
	if err != nil {
		return "", fmt.Errorf("rendered %w", err)
	}
	var b strings.Builder
	for _, o := range objs {
		sopsfile.MarkValues(o.Object, rel)
		js, err := o.Object.MarshalJSON()
		if err != nil {
			return "", fmt.Errorf("rendered %s: %w", m.Template, err)
		}
		b.WriteString("---\n")
		b.Write(js)
		b.WriteString("\n")
	}
	return b.String(), nil
}
