package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"

	"github.com/driftwatch/driftwatch/gitsource/sopsfile"
)

// ErrPathNotFound is returned when the requested path is not in the tree.
var ErrPathNotFound = errors.New("path not found")

// ErrNotManifest is returned when the requested path is a file that is not
// YAML or JSON by its name.
var ErrNotManifest = errors.New("not a manifest file (.yaml, .yml or .json)")

// ErrHelmChart is returned for a Helm chart (a directory with a
// Chart.yaml) found inside a plain YAML tree: its templates are not YAML,
// and which values to render it with is not known.
var ErrHelmChart = errors.New("is a Helm chart (Chart.yaml) inside a plain YAML tree: point --path at the chart, or name it in a kustomization's helmCharts:")

// isManifestFile says whether a file is read as manifests, by its name.
func isManifestFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// Rendered is what rendering a tree produced.
type Rendered struct {
	Objects []Object
	// Skipped are rendered objects that are not desired state (Helm hooks).
	Skipped []Skipped
	// Warnings are worth telling the user but not errors.
	Warnings []string
	// Unopened are the objects a SOPS file no key opens makes unknowable,
	// left out of Objects (see Unopened).
	Unopened []Unopened
}

// Render turns the tree under root/path into desired objects, detecting how
// to render it, with no SOPS keys. See RenderWith.
func Render(root, path string) ([]Object, error) {
	r, err := RenderWith(context.Background(), root, path, RenderOptions{})
	if err != nil {
		return nil, err
	}
	return r.Objects, nil
}

// RenderWith turns the tree under root/path into desired objects.
//
// A directory holding a Chart.yaml is a Helm chart, rendered in-process
// as `helm template` would (hooks and test Pods left out, counted in
// Skipped). A directory holding a kustomization (kustomization.yaml,
// kustomization.yml or Kustomization) is built with krusty: loads are
// confined to root, plugins (exec and KRM functions) are off, helmCharts:
// are rendered in-process by the same code as a chart, and remote bases
// are refused before kustomize could fetch them. Any other directory
// contributes every .yaml, .yml and .json file below it (hidden
// directories skipped), each possibly holding several documents; a file
// path contributes that file. ro.Mode overrides the detection. The same
// object (group, kind, namespace, name) twice is an error.
//
// SOPS-encrypted files are decrypted as they are read, with
// ro.Decryption's keys; decrypted values are named in Object.Sensitive.
// Without a key that opens a file, its encrypted values are left out and
// named in Object.NotCompared; an object that cannot be known without it
// (encrypted whole, generated from it, rendered with it as Helm values) is
// left out and listed in Rendered.Unopened.
func RenderWith(ctx context.Context, root, path string, ro RenderOptions) (*Rendered, error) {
	cfs, err := newConfinedFS(root)
	if err != nil {
		return nil, fmt.Errorf("repository root: %w", err)
	}
	sops, err := sopsfile.NewReader(ro.Decryption.AgeKeys)
	if err != nil {
		return nil, err
	}
	cfs.sops = sops
	if ro.Capabilities != nil {
		// Asked once per render, however many charts it has: each ask is a
		// discovery of the whole cluster.
		ro.Capabilities = onceCapabilities(ro.Capabilities)
	}
	clean := filepath.Clean("/" + filepath.ToSlash(path))[1:]
	if filepath.IsAbs(path) || strings.HasPrefix(filepath.Clean(path), "..") {
		return nil, fmt.Errorf("path %q: %w", path, ErrOutsideRoot)
	}
	target := filepath.Join(cfs.root, clean)
	if err := cfs.check(target); err != nil {
		return nil, fmt.Errorf("path %q: %w", path, err)
	}
	info, err := os.Stat(target)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", displayPath(clean), ErrPathNotFound)
	}
	out := &Rendered{}
	mode := ro.Mode
	if mode == RenderAuto {
		mode = detect(target, info)
	}
	switch {
	case !info.IsDir() && mode != RenderPlain:
		return nil, fmt.Errorf("path %q: --render %s needs a directory", displayPath(clean), mode)
	case !info.IsDir() && !isManifestFile(target):
		return nil, fmt.Errorf("path %q: %w", displayPath(clean), ErrNotManifest)
	case !info.IsDir():
		out.Objects, err = readFiles(cfs, []string{target}, ro.Pack)
	case mode == RenderKustomize:
		if kustomizationFile(target) == "" {
			return nil, fmt.Errorf("path %q: --render kustomize: no kustomization.yaml there", displayPath(clean))
		}
		err = build(ctx, cfs, target, ro, out)
	case mode == RenderHelm:
		if !isChart(target) {
			return nil, fmt.Errorf("path %q: --render helm: no Chart.yaml there", displayPath(clean))
		}
		err = renderChart(ctx, cfs, target, ro, out)
	default:
		var files []string
		files, err = manifestFiles(cfs, target)
		if err == nil {
			out.Objects, err = readFiles(cfs, files, ro.Pack)
		}
	}
	if err != nil {
		return nil, err
	}
	objs, unopened, warnings := finishSOPS(sops, out.Objects)
	out.Objects, out.Warnings = objs, append(out.Warnings, warnings...)
	out.Unopened = append(out.Unopened, unopened...)
	if ro.Pack {
		// What is left as maps: a kustomization's or a chart's output (built
		// whole by kustomize and Helm) and SOPS documents.
		if err := packAll(out.Objects); err != nil {
			return nil, err
		}
	}
	return out, checkDuplicates(out.Objects)
}

// detect chooses how to render a directory: a kustomization means
// kustomize (it may inflate the chart beside it), a Chart.yaml a chart,
// anything else (or a file) plain YAML.
func detect(target string, info os.FileInfo) RenderMode {
	switch {
	case !info.IsDir():
		return RenderPlain
	case kustomizationFile(target) != "":
		return RenderKustomize
	case isChart(target):
		return RenderHelm
	}
	return RenderPlain
}

func displayPath(p string) string {
	if p == "" {
		return "."
	}
	return p
}

// kustomizationFile returns the kustomization file name in dir, or "".
func kustomizationFile(dir string) string {
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return n
		}
	}
	return ""
}

// isChart says whether dir is a Helm chart's root.
func isChart(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "Chart.yaml"))
	return err == nil && !st.IsDir()
}

// manifestFiles lists the manifest files below dir in lexical order.
func manifestFiles(cfs *confinedFS, dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if p != dir && isChart(p) {
				return fmt.Errorf("directory %q %w", cfs.rel(p), ErrHelmChart)
			}
			return nil
		}
		if isManifestFile(p) {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

func readFiles(cfs *confinedFS, files []string, pack bool) ([]Object, error) {
	// Files are parsed in parallel (YAML decoding is most of rendering a
	// large tree); results and the error reported keep the files' order.
	// With pack, each file's objects are packed as soon as it is parsed,
	// except SOPS documents: finishSOPS still has to strip them.
	type result struct {
		objs []Object
		err  error
	}
	results := make([]result, len(files))
	workers := min(runtime.GOMAXPROCS(0), len(files))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(files) {
					return
				}
				results[i].objs, results[i].err = readFile(cfs, files[i], pack)
			}
		}()
	}
	wg.Wait()
	var out []Object
	for _, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		out = append(out, r.objs...)
	}
	return out, nil
}

// readFile parses one manifest file inside the repository.
func readFile(cfs *confinedFS, f string, pack bool) ([]Object, error) {
	rel := cfs.rel(f)
	data, err := cfs.ReadFile(f)
	if errors.Is(err, ErrTooLarge) {
		return nil, fmt.Errorf("manifest %w", err) // the error names the file
	}
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", rel, err)
	}
	return parseManifests(rel, data, pack)
}

// kustomizeMu serialises krusty runs: kustomize keeps global state
// (resource ordering and plugin registries) that is not safe for concurrent
// builds, as Flux's kustomize wrapper also notes.
var kustomizeMu sync.Mutex

// build runs krusty on dir with every guard on.
func build(ctx context.Context, cfs *confinedFS, dir string, ro RenderOptions, out *Rendered) (err error) {
	rel := cfs.rel(dir)
	charts, err := scanKustomization(cfs, dir, map[string]bool{})
	if err != nil {
		return err
	}
	if err := inflateCharts(ctx, cfs, charts, ro, out); err != nil {
		return err
	}
	kustomizeMu.Lock()
	defer kustomizeMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("kustomize build %s: internal error: %v", displayPath(rel), r)
		}
	}()
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	opts.PluginConfig = types.DisabledPluginConfig()
	k := krusty.MakeKustomizer(opts)
	rm, err := k.Run(cfs, dir)
	if err != nil {
		return fmt.Errorf("kustomize build %s: %s", displayPath(rel), strings.ReplaceAll(err.Error(), cfs.root+string(filepath.Separator), ""))
	}
	for _, r := range rm.Resources() {
		// Through JSON, so numbers are int64/float64 as in live objects.
		js, err := r.MarshalJSON()
		if err != nil {
			return fmt.Errorf("kustomize build %s: %w", displayPath(rel), err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return fmt.Errorf("kustomize build %s: %w", displayPath(rel), err)
		}
		if err := validateObject(u); err != nil {
			return fmt.Errorf("kustomize build %s: %w", displayPath(rel), err)
		}
		out.Objects = append(out.Objects, Object{Object: u, Origin: filepath.Join(displayPath(rel), kustomizationFile(dir))})
	}
	return nil
}

// remoteRef matches what kustomize would treat as a remote base or file:
// URLs with a scheme, scp-style git addresses, host/path forms and ?ref=.
var remoteRef = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]*://|[^/\s]+@[^/\s]+:|(github|gitlab|bitbucket)\.(com|org)/)|\?ref=|\.git(//|$)`)

// scanKustomization walks the kustomization in dir and the local bases and
// components it names, refusing remote references and Helm charts before
// krusty runs, because krusty would clone or download them itself.
func scanKustomization(cfs *confinedFS, dir string, seen map[string]bool) ([]inflation, error) {
	if seen[dir] {
		return nil, nil
	}
	seen[dir] = true
	name := kustomizationFile(dir)
	if name == "" {
		return nil, nil
	}
	file := filepath.Join(dir, name)
	data, err := cfs.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("kustomization %s: %w", cfs.rel(file), err)
	}
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("kustomization %s: %w", cfs.rel(file), err)
	}
	var found []inflation
	if len(k.HelmChartInflationGenerator) > 0 {
		return nil, fmt.Errorf("kustomization %s: helmChartInflationGenerator is not supported: use helmCharts:", cfs.rel(file))
	}
	if len(k.HelmCharts) > 0 {
		found = append(found, inflation{dir: dir, file: file, k: k})
	}
	refs := append(append(append(append([]string{}, k.Resources...), k.Components...), k.Bases...), k.Crds...)
	for _, r := range refs {
		if remoteRef.MatchString(r) {
			return nil, fmt.Errorf("kustomization %s: remote reference %q is not allowed (vendor it into the repository)", cfs.rel(file), r)
		}
		if filepath.IsAbs(r) {
			return nil, fmt.Errorf("kustomization %s: absolute path %q: %w", cfs.rel(file), r, ErrOutsideRoot)
		}
		p := filepath.Join(dir, r)
		if err := cfs.check(p); err != nil {
			return nil, fmt.Errorf("kustomization %s: resource %q: %w", cfs.rel(file), r, ErrOutsideRoot)
		}
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			sub, err := scanKustomization(cfs, p, seen)
			if err != nil {
				return nil, err
			}
			found = append(found, sub...)
		}
	}
	return found, nil
}

// objectKey identifies an object the way the API server does, ignoring the
// version so that the same object written in two versions is caught.
func objectKey(o Object) string {
	gvk := o.GroupVersionKind()
	return gvk.Group + "/" + gvk.Kind + " " + o.GetNamespace() + "/" + o.GetName()
}

func checkDuplicates(objs []Object) error {
	seen := make(map[string]string, len(objs))
	for _, o := range objs {
		k := objectKey(o)
		if prev, ok := seen[k]; ok {
			return fmt.Errorf("duplicate object %s: in %s and %s", describeObject(o), prev, o.Origin)
		}
		seen[k] = o.Origin
	}
	return nil
}

// describe names an object as Kind/namespace/name (apiVersion), for errors.
func describe(u *unstructured.Unstructured) string {
	return describeObject(Object{Object: u})
}

func describeObject(o Object) string {
	ns := o.GetNamespace()
	if ns != "" {
		ns += "/"
	}
	return fmt.Sprintf("%s %s%s (%s)", o.GetKind(), ns, o.GetName(), o.GetAPIVersion())
}
