package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/loader"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/cli"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/getter"
	helmkube "helm.sh/helm/v4/pkg/kube"
	release "helm.sh/helm/v4/pkg/release/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource"
)

// corpusMinCharts is how many charts the corpus must hold (issue 23).
const corpusMinCharts = 15

// corpusChart is testdata/charts/<name>/corpus.yaml: how a vendored chart
// is installed (testdata/charts/SOURCES.md says where each comes from).
type corpusChart struct {
	// Release is the release name every configuration installs as.
	Release string `json:"release"`
	// Configurations are installed one after the other, each into a
	// namespace of its own.
	Configurations []corpusConfiguration `json:"configurations"`
	// Skipped says why a values file of the chart's ci/ folder is not
	// installed, by its path relative to chart/.
	Skipped map[string]string `json:"skipped,omitempty"`
}

type corpusConfiguration struct {
	Name string `json:"name"`
	// Values are values files relative to chart/, merged in order as
	// helm install --values does.
	Values []string `json:"values"`
	// Set are key=value pairs as helm install --set takes them, for
	// charts whose README installs them so (a cluster name, say) and that
	// ship no ci/ values file saying it.
	Set []string `json:"set,omitempty"`
}

// readCorpusChart reads and checks a chart's corpus.yaml: every ci/ values
// file the chart ships is either installed or skipped with a reason.
func readCorpusChart(dir string) (*corpusChart, error) {
	file := filepath.Join(dir, "corpus.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var c corpusChart
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if c.Release == "" || len(c.Configurations) == 0 {
		return nil, fmt.Errorf("%s: a release name and a configuration are required", file)
	}
	used := map[string]bool{}
	names := map[string]bool{}
	for _, cfg := range c.Configurations {
		if cfg.Name == "" || names[cfg.Name] {
			return nil, fmt.Errorf("%s: configuration name %q empty or repeated", file, cfg.Name)
		}
		names[cfg.Name] = true
		for _, v := range cfg.Values {
			if _, err := os.Stat(filepath.Join(dir, "chart", v)); err != nil {
				return nil, fmt.Errorf("%s: configuration %s: %w", file, cfg.Name, err)
			}
			used[v] = true
		}
	}
	ci, _ := filepath.Glob(filepath.Join(dir, "chart", "ci", "*.yaml"))
	for _, f := range ci {
		rel := filepath.ToSlash(filepath.Join("ci", filepath.Base(f)))
		if !used[rel] && c.Skipped[rel] == "" {
			return nil, fmt.Errorf("%s: %s is neither installed by a configuration nor skipped with a reason", file, rel)
		}
	}
	if len(ci) > 0 && len(c.Configurations) < 2 {
		return nil, fmt.Errorf("%s: the chart ships a ci/ folder: want 2 configurations or more", file)
	}
	return &c, nil
}

// corpusTally counts the corpus's verdicts; a verdict is one object's, in
// one configuration, after the install or after the edits.
type corpusTally struct {
	charts, configurations, objects, edits                           int
	inSync, falsePos, falseNeg, pathMismatch, renderMismatch, errors int
	failures                                                         []string
}

// TestChartCorpus installs every chart of testdata/charts the way users do
// (the Helm SDK's install action, as helm install --no-hooks: server-side
// apply, helm's release annotations and labels, a release Secret), with
// each of its values configurations, and checks that driftwatch renders
// the objects helm rendered and finds every one in sync; then edits
// objects as other field managers would (an image, replicas through the
// scale subresource, a ConfigMap value, a list-map item, atomic lists, a
// CRD, a deletion) and checks that driftwatch reports exactly those
// objects and paths. The release is uninstalled with the SDK's uninstall
// action before the next configuration, so no chart's webhooks or
// APIServices meet the next. The tally is appended to
// $DRIFTWATCH_FIDELITY_TALLY.
func TestChartCorpus(t *testing.T) {
	requireAPIServer(t)
	start := time.Now()
	// Helm's client caches discovery on disk, as kubectl does: keep it
	// out of $HOME.
	t.Setenv("KUBECACHEDIR", t.TempDir())
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "charts", "*", "corpus.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(apiConfig)
	if err != nil {
		t.Fatal(err)
	}
	tl := &corpusTally{}
	run := nsCounter.Add(1)
	for _, f := range files {
		dir := filepath.Dir(f)
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			c, err := readCorpusChart(dir)
			if err != nil {
				tl.failures = append(tl.failures, err.Error())
				t.Fatal(err)
			}
			tl.charts++
			for i, cfg := range c.Configurations {
				t.Run(cfg.Name, func(t *testing.T) {
					ns := fmt.Sprintf("chart-%d-%d-%s", run, i, name)
					if len(ns) > 63 {
						ns = strings.TrimRight(ns[:63], "-")
					}
					corpusConfigurationRun(t, dc, tl, corpusCase{dir: dir, name: name, chart: c, cfg: cfg, ns: ns})
				})
			}
		})
	}

	var b strings.Builder
	fmt.Fprintf(&b, "charts: %d charts, %d configurations, %d objects, %d edits: %d in sync after install, %d false positives, %d false negatives, %d path mismatches, %d rendered differently from helm, %d errors\n",
		tl.charts, tl.configurations, tl.objects, tl.edits, tl.inSync, tl.falsePos, tl.falseNeg, tl.pathMismatch, tl.renderMismatch, tl.errors)
	for _, f := range tl.failures {
		b.WriteString("  " + f + "\n")
	}
	t.Logf("\n%s(%s)", b.String(), time.Since(start).Round(time.Second))
	appendTally(t, b.String())
	if tl.charts < corpusMinCharts {
		t.Errorf("only %d charts in testdata/charts, want at least %d", tl.charts, corpusMinCharts)
	}
}

// corpusCase is one configuration of one chart.
type corpusCase struct {
	dir, name string
	chart     *corpusChart
	cfg       corpusConfiguration
	ns        string
}

func (c corpusCase) chartDir() string { return filepath.Join(c.dir, "chart") }

// corpusConfigurationRun installs, checks, edits, checks again and
// uninstalls one configuration.
func corpusConfigurationRun(t *testing.T, dc discovery.DiscoveryInterface, tl *corpusTally, c corpusCase) {
	began := time.Now()
	fail := func(counter *int, format string, args ...any) {
		t.Helper()
		if counter != nil {
			*counter++
		}
		msg := c.name + "/" + c.cfg.Name + ": " + fmt.Sprintf(format, args...)
		tl.failures = append(tl.failures, msg)
		t.Error(msg)
	}
	timings := map[string]time.Duration{}
	timed := func(what string, f func()) {
		t0 := time.Now()
		f()
		timings[what] += time.Since(t0)
	}

	var inst *corpusInstalled
	timed("install", func() { inst = corpusInstall(t, dc, c) })
	tl.configurations++
	objs := corpusObjects(t, dc, inst, c.ns)
	tl.objects += len(objs)

	check := func(phase string, want map[string]rwVerdict) {
		t.Helper()
		var got map[string]drift.Resource
		timed("check", func() { got = corpusCheck(t, c) })
		for _, o := range objs {
			res, ok := got[o.key]
			if !ok {
				fail(&tl.renderMismatch, "%s %s: helm installs it, driftwatch does not render it", phase, o.key)
				continue
			}
			delete(got, o.key)
			if res.Status == drift.Error {
				fail(&tl.errors, "%s %s: error: %s", phase, o.key, res.Error)
				continue
			}
			dw := rwVerdict{missing: res.Status == drift.Missing}
			for _, d := range res.Diffs {
				dw.paths = append(dw.paths, d.Path)
			}
			sort.Strings(dw.paths)
			w := want[o.key]
			switch {
			case dw.equal(w):
				if phase == "after install" {
					tl.inSync++
				}
				continue
			case w.missing != dw.missing:
				if dw.missing {
					tl.falsePos++
				} else {
					tl.falseNeg++
				}
			case len(w.paths) == 0:
				tl.falsePos++
			case len(dw.paths) == 0:
				tl.falseNeg++
			default:
				tl.pathMismatch++
			}
			fail(nil, "%s %s: driftwatch %s, want %s%s", phase, o.key, dw, w, describeDiffs(res.Diffs))
		}
		for k, res := range got {
			fail(&tl.renderMismatch, "%s %s: driftwatch renders it (%s), helm does not install it", phase, k, res.Status)
		}
	}

	check("after install", nil)

	ctx := context.Background()
	want := map[string]rwVerdict{}
	es := corpusEdits(objs)
	for _, e := range es {
		var err error
		timed("edits", func() { err = e.do(ctx) })
		if err != nil {
			t.Fatalf("%s %s (%s): %v", e.class, e.o.key, e.what, err)
		}
		t.Logf("edit (%s) %s: %s", e.class, e.o.key, e.what)
		v := want[e.o.key]
		if e.paths == nil {
			v = rwVerdict{missing: true}
		} else {
			v.paths = append(v.paths, e.paths...)
			sort.Strings(v.paths)
		}
		want[e.o.key] = v
	}
	tl.edits += len(es)
	check("after edits", want)

	var spent []string
	for _, what := range []string{"install", "check", "edits"} {
		spent = append(spent, fmt.Sprintf("%s %s", what, timings[what].Round(time.Millisecond)))
	}
	t.Logf("%d objects, %d edits, %s (%s)", len(objs), len(es), time.Since(began).Round(time.Millisecond), strings.Join(spent, ", "))
}

// corpusInstalled is a release installed by the SDK and what it rendered.
type corpusInstalled struct {
	release *release.Release
	// crds are the chart's crds/ files (its subcharts' too), which helm
	// installs before the release and never deletes.
	crds []*unstructured.Unstructured
}

// corpusInstall installs a configuration as `helm install R chart
// --namespace NS --create-namespace --no-hooks --values ...` does, through
// the same SDK calls, and uninstalls it when the test ends.
func corpusInstall(t *testing.T, dc discovery.DiscoveryInterface, c corpusCase) *corpusInstalled {
	t.Helper()
	settings := cli.New()
	settings.KubeConfig = kubeconfig
	settings.SetNamespace(c.ns)
	cfg := action.NewConfiguration()
	if err := cfg.Init(settings.RESTClientGetter(), c.ns, "secret"); err != nil {
		t.Fatalf("helm configuration: %v", err)
	}

	opts := values.Options{Values: c.cfg.Set}
	for _, v := range c.cfg.Values {
		opts.ValueFiles = append(opts.ValueFiles, filepath.Join(c.chartDir(), v))
	}
	vals, err := opts.MergeValues(getter.All(settings))
	if err != nil {
		t.Fatalf("values: %v", err)
	}
	charter, err := loader.Load(c.chartDir())
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	ac, err := chart.NewAccessor(charter)
	if err != nil {
		t.Fatal(err)
	}
	if req := ac.MetaDependencies(); len(req) > 0 {
		if err := action.CheckDependencies(charter, req); err != nil {
			t.Fatalf("chart dependencies: %v", err)
		}
	}
	inst := &corpusInstalled{}
	if ch, ok := charter.(*chartv2.Chart); ok {
		for _, crd := range ch.CRDObjects() {
			objs, err := gitsource.ParseManifests(crd.Filename, crd.File.Data)
			if err != nil {
				t.Fatalf("CRD %s: %v", crd.Filename, err)
			}
			for _, o := range objs {
				inst.crds = append(inst.crds, o.Object)
			}
		}
	}

	install := action.NewInstall(cfg)
	install.ReleaseName = c.chart.Release
	install.Namespace = c.ns
	install.CreateNamespace = true
	install.DisableHooks = true
	install.WaitStrategy = helmkube.HookOnlyStrategy
	install.Timeout = 2 * time.Minute
	t.Cleanup(func() { corpusUninstall(t, dc, cfg, c, inst) })
	r, err := install.RunWithContext(context.Background(), charter, vals)
	// A failed install is recorded and uninstalled too (its objects may be
	// half made).
	inst.release, _ = r.(*release.Release)
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	if inst.release == nil {
		t.Fatalf("helm install returned a %T", r)
	}
	return inst
}

// corpusUninstall uninstalls the release as `helm uninstall --no-hooks`
// does, then deletes what helm leaves behind on purpose (its crds/ files,
// objects annotated helm.sh/resource-policy: keep), so that the next
// configuration installs into a cluster without them. Namespaces stay:
// without the namespace controller they would never finish terminating.
func corpusUninstall(t *testing.T, dc discovery.DiscoveryInterface, cfg *action.Configuration, c corpusCase, inst *corpusInstalled) {
	ctx := context.Background()
	began := time.Now()
	defer func() { t.Logf("uninstalled in %s", time.Since(began).Round(time.Millisecond)) }()
	var kept []*unstructured.Unstructured
	if inst.release != nil {
		if err := allInParallel(slices.Concat(inst.crds, inst.manifestCRDs()), warmCRDStorage); err != nil {
			t.Errorf("before helm uninstall: %v", err)
		}
		u := action.NewUninstall(cfg)
		u.DisableHooks = true
		u.WaitStrategy = helmkube.HookOnlyStrategy
		u.Timeout = 2 * time.Minute
		if _, err := u.Run(c.chart.Release); err != nil {
			t.Errorf("helm uninstall: %v", err)
		}
		objs, err := gitsource.ParseManifests("manifest", []byte(inst.release.Manifest))
		if err != nil {
			t.Errorf("release manifest: %v", err)
		}
		for _, o := range objs {
			kept = append(kept, o.Object)
		}
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	remove := func(_ int, u *unstructured.Unstructured) error {
		gvk := u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			return nil // its CRD is gone, and the object with it
		}
		if err != nil {
			return err
		}
		ri := kube.Dynamic.Resource(m.Resource).Namespace("")
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ns := u.GetNamespace()
			if ns == "" {
				ns = c.ns
			}
			ri = kube.Dynamic.Resource(m.Resource).Namespace(ns)
		}
		if err := ri.Delete(ctx, u.GetName(), metav1.DeleteOptions{}); apierrors.IsNotFound(err) {
			return nil
		} else if err != nil {
			return fmt.Errorf("delete %s %s: %w", gvk.Kind, u.GetName(), err)
		}
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			// Left in a namespace nothing uses again (a PVC keeps its
			// protection finalizer without the controller that removes it).
			return nil
		}
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		}); err != nil {
			return fmt.Errorf("%s %s still there: %w", gvk.Kind, u.GetName(), err)
		}
		return nil
	}
	// The release's objects first, then the CRDs their kinds may need.
	if err := allInParallel(kept, remove); err != nil {
		t.Errorf("after helm uninstall: %v", err)
	}
	if err := allInParallel(inst.crds, warmCRDStorage); err != nil {
		t.Errorf("after helm uninstall: %v", err)
	}
	if err := allInParallel(inst.crds, remove); err != nil {
		t.Errorf("after helm uninstall: %v", err)
	}
}

// allInParallel calls f on every item at once (most of the time is spent
// waiting for the API server) and returns the errors.
func allInParallel[T any](items []T, f func(int, T) error) error {
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Go(func() { errs[i] = f(i, it) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// manifestCRDs are the CRDs the release's templates render.
func (inst *corpusInstalled) manifestCRDs() []*unstructured.Unstructured {
	objs, _ := gitsource.ParseManifests("manifest", []byte(inst.release.Manifest))
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.Object.GroupVersionKind() == gvkCRD {
			out = append(out, o.Object)
		}
	}
	return out
}

// warmCRDStorage lists a CRD's custom resources from the API server's
// watch cache until it answers. The API server builds a CRD's storage on
// first use (and again after a spec change): a CRD deleted before that
// has its finalizer meet "storage is (re)initializing", and the finalizer's
// retries back off for minutes before the CRD goes away.
func warmCRDStorage(_ int, crd *unstructured.Unstructured) error {
	ctx := context.Background()
	ri, err := kube.Resource(gvkCRD, "")
	if err != nil {
		return err
	}
	live, err := ri.Get(ctx, crd.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	group, _, _ := unstructured.NestedString(live.Object, "spec", "group")
	plural, _, _ := unstructured.NestedString(live.Object, "spec", "names", "plural")
	versions, _, _ := unstructured.NestedSlice(live.Object, "spec", "versions")
	var version string
	for _, v := range versions {
		if m, _ := v.(map[string]any); m["served"] == true {
			version, _ = m["name"].(string)
			break
		}
	}
	if version == "" {
		return nil
	}
	crs := kube.Dynamic.Resource(schema.GroupVersionResource{Group: group, Version: version, Resource: plural})
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := crs.List(ctx, metav1.ListOptions{ResourceVersion: "0", Limit: 1})
		return err == nil, nil
	}); err != nil {
		return fmt.Errorf("custom resources of %s not served: %w", crd.GetName(), err)
	}
	return nil
}

// corpusObjects are the objects helm installed (its manifest, hooks left
// out, and its crds/ files) with their scope from discovery.
func corpusObjects(t *testing.T, dc discovery.DiscoveryInterface, inst *corpusInstalled, ns string) []*rwObject {
	t.Helper()
	parsed, err := gitsource.ParseManifests("manifest", []byte(inst.release.Manifest))
	if err != nil {
		t.Fatalf("release manifest: %v", err)
	}
	us := slices.Clone(inst.crds)
	for _, o := range parsed {
		us = append(us, o.Object)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	var objs []*rwObject
	for _, u := range us {
		o := &rwObject{obj: u, gvk: u.GroupVersionKind()}
		m, err := mapper.RESTMapping(o.gvk.GroupKind(), o.gvk.Version)
		if err != nil {
			t.Fatalf("%s %s: %v", o.gvk, u.GetName(), err)
		}
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			o.ns = u.GetNamespace()
			if o.ns == "" {
				o.ns = ns
			}
		}
		o.key = rwKey(o.gvk.GroupKind(), o.ns, u.GetName())
		objs = append(objs, o)
	}
	return objs
}

// corpusCheck runs driftwatch check on the chart's directory with the
// configuration's release, namespace and values files, and returns the
// verdicts by object key.
func corpusCheck(t *testing.T, c corpusCase) map[string]drift.Resource {
	t.Helper()
	args := []string{"check", "--dir", c.chartDir(), "--kubeconfig", kubeconfig, "-n", c.ns,
		"--helm-release", c.chart.Release, "--helm-namespace", c.ns, "-o", "json"}
	for _, v := range c.cfg.Values {
		args = append(args, "--values", v)
	}
	for _, kv := range c.cfg.Set {
		args = append(args, "--set", kv)
	}
	r := runCLI(t, args...)
	if r.code == exitError {
		t.Logf("check: exit %d\nstderr: %s", r.code, r.stderr)
	}
	out := map[string]drift.Resource{}
	for _, res := range parseReport(t, r).Resources {
		gv, err := schema.ParseGroupVersion(res.APIVersion)
		if err != nil {
			t.Fatalf("%s: %v", res.ID(), err)
		}
		out[rwKey(schema.GroupKind{Group: gv.Group, Kind: res.Kind}, res.Namespace, res.Name)] = res
	}
	return out
}

// corpusEdits are the real-world corpus's edits (realworldEdits: an
// image, a list-map item, atomic lists, a CRD, a deletion) and two more
// that charts make common: a workload's replicas changed through the scale
// subresource, as `kubectl scale` does, and a ConfigMap value edited.
func corpusEdits(objs []*rwObject) []rwEdit {
	es := realworldEdits(realworldProject{}, objs)
	deleted := map[*rwObject]bool{}
	for _, e := range es {
		if e.paths == nil {
			deleted[e.o] = true
		}
	}
	for _, o := range objs {
		switch o.gvk.GroupKind().String() {
		case "Deployment.apps", "StatefulSet.apps":
		default:
			continue
		}
		n, ok, _ := unstructured.NestedInt64(o.obj.Object, "spec", "replicas")
		if !ok {
			continue
		}
		es = append(es, rwEdit{class: "scale", o: o, what: fmt.Sprintf("scaled from %d to %d", n, n+2),
			paths: []string{"spec.replicas"},
			do: func(ctx context.Context) error {
				ri, err := kube.Resource(o.gvk, o.ns)
				if err != nil {
					return err
				}
				body := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n+2)
				_, err = ri.Patch(ctx, o.obj.GetName(), types.MergePatchType, body, metav1.PatchOptions{FieldManager: "kubectl"}, "scale")
				return err
			}})
		break
	}
	for _, o := range objs {
		if o.gvk.GroupKind().String() != "ConfigMap" || deleted[o] {
			continue
		}
		data, _, _ := unstructured.NestedStringMap(o.obj.Object, "data")
		keys := slices.Sorted(maps.Keys(data))
		if len(keys) == 0 {
			continue
		}
		key := keys[0]
		es = append(es, rwEdit{class: "ConfigMap value", o: o, what: "data " + key + " changed",
			paths: []string{rwPath("data", key)},
			do: func(ctx context.Context) error {
				return kube.Edit(ctx, "kubectl-edit", o.gvk, o.ns, o.obj.GetName(), func(u *unstructured.Unstructured) error {
					return unstructured.SetNestedField(u.Object, data[key]+"\n# edited", "data", key)
				})
			}})
		break
	}
	return es
}

// TestReadCorpusChart: a corpus.yaml accounts for every ci/ values file
// of its chart, and a mistake in it is one error naming the file.
func TestReadCorpusChart(t *testing.T) {
	tests := []struct {
		name    string
		corpus  string
		ci      []string
		wantErr string
	}{
		{name: "every ci file installed or skipped", ci: []string{"a-values.yaml", "b-values.yaml"},
			corpus: "release: r\nconfigurations:\n- {name: default, values: []}\n- {name: a, values: [ci/a-values.yaml]}\nskipped: {ci/b-values.yaml: needs a cloud}\n"},
		{name: "no ci folder, one configuration with --set",
			corpus: "release: r\nconfigurations:\n- {name: default, values: [], set: [kind=Deployment]}\n"},
		{name: "a ci file neither installed nor skipped", ci: []string{"a-values.yaml", "b-values.yaml"},
			corpus:  "release: r\nconfigurations:\n- {name: default, values: []}\n- {name: a, values: [ci/a-values.yaml]}\n",
			wantErr: "ci/b-values.yaml is neither installed by a configuration nor skipped with a reason"},
		{name: "a ci folder wants two configurations", ci: []string{"a-values.yaml"},
			corpus:  "release: r\nconfigurations:\n- {name: a, values: [ci/a-values.yaml]}\n",
			wantErr: "the chart ships a ci/ folder: want 2 configurations or more"},
		{name: "a values file that is not there",
			corpus:  "release: r\nconfigurations:\n- {name: default, values: [ci/gone.yaml]}\n",
			wantErr: "configuration default: stat"},
		{name: "a misspelt field",
			corpus:  "release: r\nconfigurations:\n- {name: default, valuse: []}\n",
			wantErr: `unknown field "valuse"`},
		{name: "a repeated configuration name",
			corpus:  "release: r\nconfigurations:\n- {name: a}\n- {name: a}\n",
			wantErr: `configuration name "a" empty or repeated`},
		{name: "no release",
			corpus:  "configurations:\n- {name: a}\n",
			wantErr: "a release name and a configuration are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "chart", "ci"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range tt.ci {
				if err := os.WriteFile(filepath.Join(dir, "chart", "ci", f), []byte("{}\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, "corpus.yaml"), []byte(tt.corpus), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := readCorpusChart(dir)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			case err != nil && !strings.Contains(err.Error(), filepath.Join(dir, "corpus.yaml")):
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}
