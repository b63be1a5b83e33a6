package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

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

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline"
	"github.com/driftwatch/driftwatch/gitsource"
)

// realworldProject is one directory of testdata/realworld: the install
// manifests of an open-source project, byte for byte as its repository has
// them (testdata/realworld/SOURCES.md says where each comes from).
type realworldProject struct {
	name string
	// paths are rendered, applied and checked one by one, relative to the
	// project's directory; "" is the directory itself.
	paths []string
	// exclude names the objects that are not applied ("Kind.group name")
	// and why: they cannot live on an API server without controllers.
	exclude map[string]string
}

var realworldProjects = []realworldProject{
	{name: "argo-rollouts", paths: []string{"manifests/crds", "manifests/namespace-install.yaml"}},
	{name: "argo-workflows", paths: []string{"manifests/base/crds/minimal", "manifests/cluster-install-no-crds"}},
	{name: "calico", paths: []string{""}},
	{name: "cluster-api", paths: []string{"core/config/default"}},
	{name: "contour", paths: []string{""}},
	{name: "crossplane", paths: []string{""}},
	{name: "elastic-cloud-on-k8s", paths: []string{""}},
	{name: "jobset", paths: []string{"config/default"}},
	{name: "kueue", paths: []string{"config/default"}, exclude: map[string]string{
		// Both match Pods, Jobs, Deployments and StatefulSets in every
		// namespace but kube-system and kueue-system, with failurePolicy
		// Fail and a service without endpoints: every such write on the
		// shared API server (this test's other projects, the package's
		// other tests) would be refused.
		"MutatingWebhookConfiguration.admissionregistration.k8s.io kueue-mutating-webhook-configuration":     "failurePolicy Fail on Pods, Jobs, Deployments, StatefulSets of every namespace, no webhook backend",
		"ValidatingWebhookConfiguration.admissionregistration.k8s.io kueue-validating-webhook-configuration": "failurePolicy Fail on Pods, Jobs, Deployments, StatefulSets of every namespace, no webhook backend",
		// An APIService without its backend makes discovery fail for its
		// group: every client's discovery (driftwatch's too) reports it.
		"APIService.apiregistration.k8s.io v1beta1.visibility.kueue.x-k8s.io": "aggregated API without a backend (kueue's visibility server)",
		"APIService.apiregistration.k8s.io v1beta2.visibility.kueue.x-k8s.io": "aggregated API without a backend (kueue's visibility server)",
	}},
	{name: "minio-operator", paths: []string{""}},
	{name: "multus", paths: []string{""}},
	{name: "node-problem-detector", paths: []string{"deployment"}},
	{name: "opentelemetry-operator", paths: []string{""}},
	{name: "strimzi", paths: []string{""}},
	{name: "vertical-pod-autoscaler", paths: []string{"vertical-pod-autoscaler/deploy"}},
	{name: "volcano", paths: []string{""}},
}

func (p realworldProject) dir() string {
	return filepath.Join("..", "..", "testdata", "realworld", p.name)
}

// rwObject is one object of a project as Git has it.
type rwObject struct {
	obj *unstructured.Unstructured
	gvk schema.GroupVersionKind
	// ns is where the object lives: its own namespace, the project's
	// namespace for a namespaced object that names none, "" for a
	// cluster-scoped one.
	ns  string
	key string
	// leftOut says why the object is not applied ("" when it is), and
	// noCRD that it is a custom resource whose CRD is not in the corpus.
	leftOut string
	noCRD   bool
}

func rwKey(gk schema.GroupKind, ns, name string) string {
	if ns == "" {
		return gk.String() + " " + name
	}
	return gk.String() + " " + ns + "/" + name
}

// rwVerdict is one object's verdict: missing, or the drifted paths
// (sorted; none when in sync).
type rwVerdict struct {
	missing bool
	paths   []string
}

func (v rwVerdict) String() string {
	switch {
	case v.missing:
		return "Missing"
	case len(v.paths) == 0:
		return "InSync"
	}
	return fmt.Sprintf("Drifted %q", v.paths)
}

func (v rwVerdict) equal(w rwVerdict) bool {
	return v.missing == w.missing && slices.Equal(v.paths, w.paths)
}

// rwEdit is a change made after Git's state was applied, by another field
// manager, and the paths it drifts.
type rwEdit struct {
	class string // scalar, list-map item, atomic list, CRD field, deletion
	o     *rwObject
	what  string
	paths []string // nil for a deletion
	do    func(ctx context.Context) error
}

type rwTally struct {
	verdicts, agree, falsePos, falseNeg, pathMismatch int
}

// TestRealWorldCorpus applies the install manifests of real projects
// (testdata/realworld) the way their READMEs say (server-side apply),
// checks that driftwatch reports every object in sync, makes several edits
// per project as other field managers would, and checks that driftwatch
// reports exactly those objects and paths. Every verdict, before and after
// the edits, without and with --confirm=server, is compared with the API
// server's own: a server-side apply dry run of Git's object (force) diffed
// with the live object, as in TestFidelityAgainstServerSideApply. The tally
// is appended to $DRIFTWATCH_FIDELITY_TALLY.
func TestRealWorldCorpus(t *testing.T) {
	requireAPIServer(t)
	start := time.Now()
	dc, err := discovery.NewDiscoveryClientForConfig(apiConfig)
	if err != nil {
		t.Fatal(err)
	}
	modes := []string{"local", "confirm=server"}
	tallies := map[string]*rwTally{"local": {}, "confirm=server": {}}
	var failures, added []string
	projects, objects, leftOut, edits := 0, 0, 0, 0
	run := nsCounter.Add(1)
	for _, p := range realworldProjects {
		t.Run(p.name, func(t *testing.T) {
			began := time.Now()
			projects++
			ns := fmt.Sprintf("rw-%d-%s", run, p.name)
			fail := func(format string, args ...any) {
				t.Helper()
				msg := p.name + ": " + fmt.Sprintf(format, args...)
				failures = append(failures, msg)
				t.Error(msg)
			}
			timings := map[string]time.Duration{}
			timed := func(what string, f func()) {
				t0 := time.Now()
				f()
				timings[what] += time.Since(t0)
			}
			var objs []*rwObject
			timed("apply", func() { objs = realworldApply(t, dc, p, ns) })
			var applied []*rwObject
			for _, o := range objs {
				if o.leftOut == "" {
					applied = append(applied, o)
				} else {
					leftOut++
					t.Logf("left out %s: %s", o.key, o.leftOut)
				}
			}
			objects += len(applied)
			var schemas map[schema.GroupVersionKind]*drift.Schema
			timed("schemas", func() { schemas = realworldSchemas(t, dc, applied) })

			compare := func(phase string, want map[string]rwVerdict) {
				t.Helper()
				verdicts := make([]rwVerdict, len(applied))
				timed("oracle", func() {
					if err := inParallel(applied, func(i int, o *rwObject) (err error) {
						verdicts[i], err = realworldOracle(o, schemas[o.gvk])
						return err
					}); err != nil {
						t.Fatalf("oracle: %v", err)
					}
				})
				oracle := map[string]rwVerdict{}
				for i, o := range applied {
					v := verdicts[i]
					oracle[o.key] = v
					if w := want[o.key]; !w.equal(v) {
						fail("%s %s: the API server's verdict is %s, the edits made say %s", phase, o.key, v, w)
					}
				}
				for _, mode := range modes {
					var extra []string
					if mode == "confirm=server" {
						extra = []string{"--confirm", "server"}
					}
					var got map[string]drift.Resource
					timed("check", func() { got = realworldCheck(t, p, ns, extra...) })
					tl := tallies[mode]
					for _, o := range objs {
						res, ok := got[o.key]
						if !ok {
							fail("%s [%s] %s: not in the report", phase, mode, o.key)
							continue
						}
						delete(got, o.key)
						if o.leftOut != "" {
							// Not applied: a kind the cluster does not serve is an
							// error, a served one is missing.
							if want := map[bool]drift.Status{true: drift.Error, false: drift.Missing}[o.noCRD]; res.Status != want {
								fail("%s [%s] %s (left out): %s, want %s", phase, mode, o.key, res.Status, want)
							}
							continue
						}
						tl.verdicts++
						if res.Status == drift.Error {
							fail("%s [%s] %s: error: %s", phase, mode, o.key, res.Error)
							continue
						}
						dw := rwVerdict{missing: res.Status == drift.Missing}
						for _, d := range res.Diffs {
							if d.Type == drift.Added {
								// Beyond the oracle: server-side apply cannot
								// see a field Git does not set.
								if mode == "local" {
									added = append(added, fmt.Sprintf("%s: %s %s: %s (by %s)", p.name, phase, o.key, d.Path, d.ChangedBy.Manager))
								}
								continue
							}
							dw.paths = append(dw.paths, d.Path)
						}
						sort.Strings(dw.paths)
						sv := oracle[o.key]
						switch {
						case dw.equal(sv):
							tl.agree++
							continue
						case sv.missing != dw.missing:
							if dw.missing {
								tl.falsePos++
							} else {
								tl.falseNeg++
							}
						case len(sv.paths) == 0:
							tl.falsePos++
						case len(dw.paths) == 0:
							tl.falseNeg++
						default:
							tl.pathMismatch++
						}
						fail("%s [%s] %s: driftwatch %s, server %s%s", phase, mode, o.key, dw, sv, describeDiffs(res.Diffs))
					}
					for k, res := range got {
						fail("%s [%s] %s: in the report (%s) but not in Git", phase, mode, k, res.Status)
					}
				}
			}

			// Right after the apply: everything in sync.
			compare("after apply", map[string]rwVerdict{})

			// Edits by other field managers.
			ctx := context.Background()
			want := map[string]rwVerdict{}
			es := realworldEdits(p, applied)
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
			edits += len(es)
			for _, class := range []string{"scalar", "list-map item", "atomic list", "CRD field", "deletion"} {
				if !slices.ContainsFunc(es, func(e rwEdit) bool { return e.class == class }) {
					t.Logf("no %s edit: the project's manifests set no field of that kind", class)
				}
			}
			compare("after edits", want)
			var spent []string
			for _, what := range []string{"apply", "schemas", "oracle", "check", "edits"} {
				spent = append(spent, fmt.Sprintf("%s %s", what, timings[what].Round(time.Millisecond)))
			}
			t.Logf("%d objects (%d left out), %d edits, %s (%s)", len(applied), len(objs)-len(applied), len(es),
				time.Since(began).Round(time.Millisecond), strings.Join(spent, ", "))
		})
	}

	var b strings.Builder
	for _, mode := range modes {
		tl := tallies[mode]
		fmt.Fprintf(&b, "realworld (%s): %d projects, %d objects (%d left out), %d edits, %d verdicts: %d agree with server-side apply, %d false positives, %d false negatives, %d path mismatches\n",
			mode, projects, objects, leftOut, edits, tl.verdicts, tl.agree, tl.falsePos, tl.falseNeg, tl.pathMismatch)
	}
	fmt.Fprintf(&b, "realworld: %d fields added by hand that Git does not set (Added, beyond server-side apply's view)\n", len(added))
	for _, a := range added {
		b.WriteString("  + " + a + "\n")
	}
	for _, f := range failures {
		b.WriteString("  " + f + "\n")
	}
	t.Logf("\n%s(%s)", b.String(), time.Since(start).Round(time.Second))
	appendTally(t, b.String())
	if len(realworldProjects) < 15 {
		t.Errorf("only %d projects, want at least 15", len(realworldProjects))
	}
}

// describeDiffs renders driftwatch's diffs for a failure message.
func describeDiffs(ds []drift.FieldDiff) string {
	var b strings.Builder
	for _, d := range ds {
		js := func(v any) string {
			out, _ := json.Marshal(v)
			if len(out) > 400 {
				return string(out[:400]) + "…"
			}
			return string(out)
		}
		fmt.Fprintf(&b, "\n      %s %s: desired %s, live %s", d.Type, d.Path, js(d.Desired), js(d.Live))
	}
	return b.String()
}

// realworldApply renders a project and applies it as its README says:
// server-side apply as "kubectl", namespaces and CRDs first, into ns for
// the namespaced objects that name no namespace. It returns every object,
// the ones not applied marked.
func realworldApply(t *testing.T, dc discovery.DiscoveryInterface, p realworldProject, ns string) []*rwObject {
	t.Helper()
	ctx := context.Background()
	var objs []*rwObject
	crdKinds := map[schema.GroupKind]bool{}
	for _, path := range p.paths {
		rendered, err := gitsource.Render(p.dir(), path)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rendered {
			u := r.Object
			o := &rwObject{obj: u, gvk: u.GroupVersionKind()}
			if why, ok := p.exclude[o.gvk.GroupKind().String()+" "+u.GetName()]; ok {
				o.leftOut = why
			}
			if o.gvk.Kind == "CustomResourceDefinition" {
				g, _, _ := unstructured.NestedString(u.Object, "spec", "group")
				k, _, _ := unstructured.NestedString(u.Object, "spec", "names", "kind")
				crdKinds[schema.GroupKind{Group: g, Kind: k}] = true
			}
			objs = append(objs, o)
		}
	}
	if len(objs) == 0 {
		t.Fatal("no objects")
	}
	excluded := 0
	for _, o := range objs {
		if o.leftOut != "" {
			excluded++
		}
	}
	if excluded != len(p.exclude) {
		t.Fatalf("%d exclusions listed, %d objects match them", len(p.exclude), excluded)
	}
	apply := func(_ int, o *rwObject) error {
		if o.gvk.Kind == "CustomResourceDefinition" {
			// Deleted by a previous run (-count 2) and not gone yet?
			if ri, err := kube.Resource(o.gvk, ""); err == nil {
				if u, err := ri.Get(ctx, o.obj.GetName(), metav1.GetOptions{}); err == nil && u.GetDeletionTimestamp() != nil {
					if err := waitGone(ctx, o); err != nil {
						return fmt.Errorf("%s is terminating: %w", o.key, err)
					}
				}
			}
		}
		return kube.Apply(ctx, "kubectl", o.ns, o.obj)
	}
	// Namespaces and CRDs first (both cluster-scoped).
	for _, kind := range []string{"Namespace", "CustomResourceDefinition"} {
		var batch []*rwObject
		for _, o := range objs {
			if o.gvk.Kind == kind && o.leftOut == "" && (o.gvk.Group == "" || o.gvk.Group == "apiextensions.k8s.io") {
				o.key = rwKey(o.gvk.GroupKind(), "", o.obj.GetName())
				batch = append(batch, o)
			}
		}
		if err := inParallel(batch, apply); err != nil {
			t.Fatal(err)
		}
	}
	// The scope of every other kind, from discovery (after the CRDs).
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	mapping := func(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil && crdKinds[gvk.GroupKind()] {
			// A CRD established a moment ago: discovery catches up.
			_ = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
				mapper.Reset()
				m, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
				return err == nil, nil
			})
		}
		return m, err
	}
	namespaces := map[string]bool{ns: true}
	for _, o := range objs {
		if o.key != "" {
			continue
		}
		m, err := mapping(o.gvk)
		switch {
		case meta.IsNoMatchError(err) && !crdKinds[o.gvk.GroupKind()]:
			o.noCRD = true
			o.leftOut = fmt.Sprintf("custom resource of %s, whose CRD is not in the corpus", o.gvk.GroupKind())
			o.ns = o.obj.GetNamespace()
		case err != nil:
			t.Fatalf("%s %s: %v", o.gvk, o.obj.GetName(), err)
		case m.Scope.Name() == meta.RESTScopeNameNamespace:
			o.ns = o.obj.GetNamespace()
			if o.ns == "" {
				o.ns = ns
			}
			if o.leftOut == "" {
				namespaces[o.ns] = true
			}
		}
		o.key = rwKey(o.gvk.GroupKind(), o.ns, o.obj.GetName())
	}
	// Namespaces the objects name but Git does not create ("kubectl create
	// namespace" in the READMEs), and the project's own.
	for _, o := range objs {
		if o.gvk.GroupKind() == (schema.GroupKind{Kind: "Namespace"}) {
			delete(namespaces, o.obj.GetName())
		}
	}
	nsRI := kube.Dynamic.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"})
	for n := range namespaces {
		if _, err := nsRI.Get(ctx, n, metav1.GetOptions{}); err == nil {
			continue
		}
		if err := kube.Apply(ctx, "setup", "", &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": n}}}); err != nil {
			t.Fatal(err)
		}
	}
	var rest []*rwObject
	for _, o := range objs {
		if o.leftOut == "" && o.gvk.Kind != "Namespace" && o.gvk.Kind != "CustomResourceDefinition" {
			rest = append(rest, o)
		}
	}
	if err := inParallel(rest, apply); err != nil {
		t.Fatal(err)
	}
	// Leave the shared API server as small as it was: every check lists
	// all the CRDs of the cluster, and the package's other tests should
	// not meet these webhooks. Namespaces stay (without the namespace
	// controller they would never finish terminating); the CRDs' deletion
	// finishes in the background (a second run waits for it).
	t.Cleanup(func() {
		var live []*rwObject
		for _, o := range objs {
			if o.leftOut == "" && o.gvk.Kind != "Namespace" {
				live = append(live, o)
			}
		}
		if err := inParallel(live, func(_ int, o *rwObject) error {
			return kube.Delete(ctx, o.gvk, o.ns, o.obj.GetName())
		}); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	return objs
}

// inParallel calls f on every item, four at a time, and returns the first
// error.
func inParallel[T any](items []T, f func(int, T) error) error {
	errs := make([]error, len(items))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = f(i, it)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitGone waits until an object deleted a moment ago is gone.
func waitGone(ctx context.Context, o *rwObject) error {
	ri, err := kube.Resource(o.gvk, o.ns)
	if err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := ri.Get(ctx, o.obj.GetName(), metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// realworldSchemas waits until the cluster publishes the OpenAPI schema of
// every applied kind (a CRD's comes a moment after it is established) and
// returns them, for the oracle's list keys.
func realworldSchemas(t *testing.T, dc discovery.DiscoveryInterface, objs []*rwObject) map[schema.GroupVersionKind]*drift.Schema {
	t.Helper()
	out := map[schema.GroupVersionKind]*drift.Schema{}
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		s := pipeline.NewSchemas(dc, "")
		for _, o := range objs {
			if out[o.gvk] != nil {
				continue
			}
			sc, err := s.For(ctx, o.gvk)
			if err != nil || sc == nil {
				return false, nil
			}
			out[o.gvk] = sc
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("OpenAPI schemas: %v", err)
	}
	return out
}

// realworldOracle is the API server's verdict on one object: a server-side
// apply dry run of Git's object (force) diffed with the live object by
// serverDiff (fidelity_test.go).
func realworldOracle(o *rwObject, sc *drift.Schema) (rwVerdict, error) {
	ctx := context.Background()
	ri, err := kube.Resource(o.gvk, o.ns)
	if err != nil {
		return rwVerdict{}, err
	}
	live, err := ri.Get(ctx, o.obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return rwVerdict{missing: true}, nil
	}
	if err != nil {
		return rwVerdict{}, err
	}
	d := o.obj.DeepCopy()
	if o.ns != "" {
		d.SetNamespace(o.ns)
	}
	js, err := json.Marshal(d.Object)
	if err != nil {
		return rwVerdict{}, err
	}
	force := true
	applied, err := ri.Patch(ctx, d.GetName(), types.ApplyPatchType, js, metav1.PatchOptions{
		FieldManager: "oracle", Force: &force, DryRun: []string{metav1.DryRunAll},
	})
	if err != nil {
		return rwVerdict{}, fmt.Errorf("dry run: %w", err)
	}
	for _, u := range []*unstructured.Unstructured{applied, live} {
		for _, k := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"} {
			unstructured.RemoveNestedField(u.Object, "metadata", k)
		}
		unstructured.RemoveNestedField(u.Object, "metadata", "annotations", "deprecated.daemonset.template.generation")
		unstructured.RemoveNestedField(u.Object, "status")
	}
	var v rwVerdict
	serverDiff(nil, sc, applied.Object, live.Object, &v.paths)
	sort.Strings(v.paths)
	return v, nil
}

// realworldCheck runs driftwatch check on every path of a project and
// returns the verdicts by object key.
func realworldCheck(t *testing.T, p realworldProject, ns string, extra ...string) map[string]drift.Resource {
	t.Helper()
	out := map[string]drift.Resource{}
	for _, path := range p.paths {
		args := []string{"check", "--dir", p.dir(), "--kubeconfig", kubeconfig, "-n", ns, "-o", "json"}
		if path != "" {
			args = append(args, "--path", path)
		}
		r := runCLI(t, append(args, extra...)...)
		for _, res := range parseReport(t, r).Resources {
			gv, err := schema.ParseGroupVersion(res.APIVersion)
			if err != nil {
				t.Fatalf("%s: %v", res.ID(), err)
			}
			out[rwKey(schema.GroupKind{Group: gv.Group, Kind: res.Kind}, res.Namespace, res.Name)] = res
		}
	}
	return out
}

// Field paths, built the way drift prints them.
func rwPath(steps ...any) string {
	var p drift.Path
	for _, s := range steps {
		switch s := s.(type) {
		case string:
			p = append(p, drift.Step{Field: s})
		case []drift.KeyValue:
			p = append(p, drift.Step{Keys: s})
		}
	}
	return p.String()
}

func byName(name string) []drift.KeyValue { return []drift.KeyValue{{Key: "name", Value: name}} }

var podContainersPath = []string{"spec", "template", "spec", "containers"}

// editContainer changes one container of a workload with an update, as
// `kubectl edit` does.
func editContainer(o *rwObject, manager, container string, change func(c map[string]any)) func(context.Context) error {
	return func(ctx context.Context) error {
		return kube.Edit(ctx, manager, o.gvk, o.ns, o.obj.GetName(), func(u *unstructured.Unstructured) error {
			cs, _, err := unstructured.NestedSlice(u.Object, podContainersPath...)
			if err != nil {
				return err
			}
			for _, c := range cs {
				if m := c.(map[string]any); m["name"] == container {
					change(m)
					return unstructured.SetNestedSlice(u.Object, cs, podContainersPath...)
				}
			}
			return fmt.Errorf("no container %s", container)
		})
	}
}

// patch applies a patch as manager, as `kubectl patch` does.
func patch(o *rwObject, manager string, pt types.PatchType, body any) func(context.Context) error {
	return func(ctx context.Context) error {
		ri, err := kube.Resource(o.gvk, o.ns)
		if err != nil {
			return err
		}
		js, err := json.Marshal(body)
		if err != nil {
			return err
		}
		_, err = ri.Patch(ctx, o.obj.GetName(), pt, js, metav1.PatchOptions{FieldManager: manager})
		return err
	}
}

// realworldEdits chooses the edits for a project among the fields its
// manifests set: an image (a scalar; a CRD annotation when the project has
// no workload), an env value, a Service port's target or a volume's source
// (a list-map item), a role's rules (or a CRD's categories) and a
// container's args or command (atomic lists), a CRD's versions (a CRD
// field: the projects ship CRDs, not custom resources), and the deletion of
// one object.
func realworldEdits(p realworldProject, objs []*rwObject) []rwEdit {
	var es []rwEdit
	edited := map[*rwObject]bool{}
	add := func(e rwEdit) {
		edited[e.o] = true
		es = append(es, e)
	}
	var workloads, crds, roles, services []*rwObject
	for _, o := range objs {
		switch o.gvk.GroupKind().String() {
		case "Deployment.apps", "DaemonSet.apps", "StatefulSet.apps":
			workloads = append(workloads, o)
		case "CustomResourceDefinition.apiextensions.k8s.io":
			crds = append(crds, o)
		case "ClusterRole.rbac.authorization.k8s.io", "Role.rbac.authorization.k8s.io":
			if rules, _, _ := unstructured.NestedSlice(o.obj.Object, "rules"); len(rules) > 0 && o.obj.Object["aggregationRule"] == nil {
				roles = append(roles, o)
			}
		case "Service":
			services = append(services, o)
		}
	}
	containers := func(o *rwObject) []map[string]any {
		cs, _, _ := unstructured.NestedSlice(o.obj.Object, podContainersPath...)
		var out []map[string]any
		for _, c := range cs {
			out = append(out, c.(map[string]any))
		}
		return out
	}

	// Scalar: `kubectl set image`-like, or a CRD annotation.
	if len(workloads) > 0 {
		w := workloads[0]
		c := containers(w)[0]
		name, image := c["name"].(string), c["image"].(string)
		add(rwEdit{class: "scalar", o: w, what: "image of container " + name + " changed",
			paths: []string{rwPath("spec", "template", "spec", "containers", byName(name), "image")},
			do:    editContainer(w, "kubectl-edit", name, func(c map[string]any) { c["image"] = image + "-hotfix" })})
	} else {
		for _, o := range crds[min(1, len(crds)):] {
			const ann = "controller-gen.kubebuilder.io/version"
			if _, ok := o.obj.GetAnnotations()[ann]; ok {
				add(rwEdit{class: "scalar", o: o, what: "annotation " + ann + " changed",
					paths: []string{rwPath("metadata", "annotations", ann)},
					do: patch(o, "kubectl-annotate", types.MergePatchType, map[string]any{
						"metadata": map[string]any{"annotations": map[string]any{ann: "v0.0.0-edited"}}})})
				break
			}
		}
	}

	// List-map item: an env variable's value, else a Service port's target,
	// else a volume's source.
	func() {
		for _, w := range workloads {
			for _, c := range containers(w) {
				env, _ := c["env"].([]any)
				for _, e := range env {
					m := e.(map[string]any)
					v, ok := m["value"].(string)
					if !ok {
						continue
					}
					cname, ename := c["name"].(string), m["name"].(string)
					add(rwEdit{class: "list-map item", o: w, what: fmt.Sprintf("env %s of container %s set", ename, cname),
						paths: []string{rwPath("spec", "template", "spec", "containers", byName(cname), "env", byName(ename), "value")},
						do: patch(w, "kubectl-patch", types.StrategicMergePatchType, map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
							"containers": []any{map[string]any{"name": cname, "env": []any{map[string]any{"name": ename, "value": v + "-edited"}}}}}}}})})
					return
				}
			}
		}
		for _, s := range services {
			ports, _, _ := unstructured.NestedSlice(s.obj.Object, "spec", "ports")
			for i, pt := range ports {
				m := pt.(map[string]any)
				if _, ok := m["targetPort"]; !ok {
					continue
				}
				proto, _ := m["protocol"].(string)
				if proto == "" {
					proto = "TCP"
				}
				port := fmt.Sprint(m["port"])
				add(rwEdit{class: "list-map item", o: s, what: "targetPort of port " + port + " changed",
					paths: []string{rwPath("spec", "ports", []drift.KeyValue{{Key: "port", Value: port}, {Key: "protocol", Value: proto}}, "targetPort")},
					do: patch(s, "kubectl-patch", types.JSONPatchType, []any{map[string]any{
						"op": "replace", "path": fmt.Sprintf("/spec/ports/%d/targetPort", i), "value": 9999}})})
				return
			}
		}
		for _, w := range workloads {
			vols, _, _ := unstructured.NestedSlice(w.obj.Object, "spec", "template", "spec", "volumes")
			for _, v := range vols {
				m := v.(map[string]any)
				name, _ := m["name"].(string)
				for _, src := range []string{"hostPath", "configMap"} {
					field := map[string]string{"hostPath": "path", "configMap": "name"}[src]
					val, ok, _ := unstructured.NestedString(m, src, field)
					if !ok {
						continue
					}
					add(rwEdit{class: "list-map item", o: w, what: fmt.Sprintf("%s.%s of volume %s changed", src, field, name),
						paths: []string{rwPath("spec", "template", "spec", "volumes", byName(name), src, field)},
						do: patch(w, "kubectl-patch", types.StrategicMergePatchType, map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
							"volumes": []any{map[string]any{"name": name, src: map[string]any{field: val + "-edited"}}}}}}})})
					return
				}
			}
		}
	}()

	// Atomic lists: a role's rules (a CRD's categories when the project
	// has no role), a container's args (or command).
	if len(roles) == 0 {
		for _, c := range crds[min(2, len(crds)):] {
			if cats, _, _ := unstructured.NestedStringSlice(c.obj.Object, "spec", "names", "categories"); len(cats) > 0 {
				add(rwEdit{class: "atomic list", o: c, what: "a category added",
					paths: []string{"spec.names.categories"},
					do: patch(c, "kubectl-patch", types.MergePatchType, map[string]any{"spec": map[string]any{"names": map[string]any{
						"categories": append(cats, "edited")}}})})
				break
			}
		}
	}
	if len(roles) > 0 {
		r := roles[0]
		add(rwEdit{class: "atomic list", o: r, what: "a verb added to the first rule",
			paths: []string{"rules"},
			do: func(ctx context.Context) error {
				return kube.Edit(ctx, "kubectl-edit", r.gvk, r.ns, r.obj.GetName(), func(u *unstructured.Unstructured) error {
					rules, _, _ := unstructured.NestedSlice(u.Object, "rules")
					rule := rules[0].(map[string]any)
					verbs, _ := rule["verbs"].([]any)
					rule["verbs"] = append(verbs, "deletecollection")
					return unstructured.SetNestedSlice(u.Object, rules, "rules")
				})
			}})
	}
	func() {
		for i := len(workloads) - 1; i >= 0; i-- {
			w := workloads[i]
			for ci, c := range containers(w) {
				for _, field := range []string{"args", "command"} {
					if list, _ := c[field].([]any); len(list) > 0 {
						name := c["name"].(string)
						add(rwEdit{class: "atomic list", o: w, what: fmt.Sprintf("an argument added to the %s of container %s", field, name),
							paths: []string{rwPath("spec", "template", "spec", "containers", byName(name), field)},
							do: patch(w, "kubectl-patch", types.JSONPatchType, []any{map[string]any{
								"op": "add", "path": fmt.Sprintf("/spec/template/spec/containers/%d/%s/-", ci, field), "value": "--v=4"}})})
						return
					}
				}
			}
		}
	}()

	// CRD field: a printer column added to a CRD's first version.
	if len(crds) > 0 {
		c := crds[0]
		add(rwEdit{class: "CRD field", o: c, what: "a printer column added to the first version",
			paths: []string{"spec.versions"},
			do: func(ctx context.Context) error {
				return kube.Edit(ctx, "kubectl-edit", c.gvk, "", c.obj.GetName(), func(u *unstructured.Unstructured) error {
					vs, _, _ := unstructured.NestedSlice(u.Object, "spec", "versions")
					v := vs[0].(map[string]any)
					cols, _ := v["additionalPrinterColumns"].([]any)
					v["additionalPrinterColumns"] = append(cols, map[string]any{"name": "Edited", "type": "string", "jsonPath": ".metadata.name"})
					return unstructured.SetNestedSlice(u.Object, vs, "spec", "versions")
				})
			}})
	}

	// Deletion: a ConfigMap, else a ServiceAccount, a Service, a CRD.
	func() {
		for _, gk := range []string{"ConfigMap", "ServiceAccount", "Service", "CustomResourceDefinition.apiextensions.k8s.io"} {
			for i := len(objs) - 1; i >= 0; i-- {
				o := objs[i]
				if o.gvk.GroupKind().String() != gk || edited[o] {
					continue
				}
				add(rwEdit{class: "deletion", o: o, what: "deleted", do: func(ctx context.Context) error {
					if err := kube.Delete(ctx, o.gvk, o.ns, o.obj.GetName()); err != nil {
						return err
					}
					return waitGone(ctx, o)
				}})
				return
			}
		}
	}()
	return es
}
