package fleet

// The examples of this directory, checked: the Argo CD ApplicationSet and
// the Flux HelmReleases install deploy/chart/driftwatch with reports
// enabled (and the chart renders with what they give it), and the hub's
// manifests in hub/ are what the real binary accepts and prints, and what
// a real API server admits.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/deploy/internal/proctest"
	"github.com/driftwatch/driftwatch/gitsource/helmchart"
	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

const (
	// exChartPath is the chart every agent example installs, relative to
	// the repository's root.
	exChartPath = "deploy/chart/driftwatch"
	// exHubNamespace is where hub/ runs the hub.
	exHubNamespace = "driftwatch"
	// exArgoNamespace holds Argo CD's cluster Secrets.
	exArgoNamespace = "argocd"
)

// exRead parses a multi-document YAML file into objects, failing on any
// document that does not parse or has no kind.
func exRead(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return exDecode(t, path, data)
}

func exDecode(t *testing.T, name string, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(string(data))))
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", name, i, err)
		}
		m := map[string]any{}
		if err := yaml.UnmarshalStrict(doc, &m); err != nil {
			t.Fatalf("%s: document %d: %v", name, i, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" || u.GetName() == "" {
			t.Fatalf("%s: document %d has no apiVersion, kind or name", name, i)
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no objects", name)
	}
	return out
}

// exOfKind returns the objects of kind.
func exOfKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func exString(t *testing.T, o *unstructured.Unstructured, fields ...string) string {
	t.Helper()
	s, ok, err := unstructured.NestedString(o.Object, fields...)
	if err != nil || !ok {
		t.Errorf("%s %s: %s: not a string (%v)", o.GetKind(), o.GetName(), strings.Join(fields, "."), err)
	}
	return s
}

func exMap(t *testing.T, o *unstructured.Unstructured, fields ...string) map[string]any {
	t.Helper()
	m, ok, err := unstructured.NestedMap(o.Object, fields...)
	if err != nil || !ok {
		t.Errorf("%s %s: %s: not a map (%v)", o.GetKind(), o.GetName(), strings.Join(fields, "."), err)
	}
	return m
}

// exReportsEnabled says whether chart values turn reports on.
func exReportsEnabled(values map[string]any) bool {
	on, _, _ := unstructured.NestedBool(values, "reports", "enabled")
	return on
}

// exRenderChart renders deploy/chart/driftwatch as Argo CD and Flux
// install it (helm template driftwatch -n driftwatch -f clusterValues
// with values over them), with the chart's values.schema.json enforced,
// and returns the objects.
func exRenderChart(t *testing.T, clusterValues []byte, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	dir := filepath.Join("..", "chart", "driftwatch")
	var files []*archive.BufferedFile
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		files = append(files, &archive.BufferedFile{Name: filepath.ToSlash(rel), Data: data})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := helmchart.Render(context.Background(), files, helmchart.Options{
		ReleaseName: "driftwatch", Namespace: exHubNamespace, Values: values,
		ValuesFiles: []helmchart.ValuesFile{{Name: "cluster values", Data: clusterValues}},
	})
	if err != nil {
		t.Fatalf("render %s with the example's values: %v", exChartPath, err)
	}
	var out []*unstructured.Unstructured
	for _, m := range res.Manifests {
		out = append(out, exDecode(t, m.Template, []byte(m.Content))...)
	}
	return out
}

// exCheckAgent checks what the chart renders for one cluster: an agent
// publishing OpenReports objects, for the cluster's own source.
func exCheckAgent(t *testing.T, objs []*unstructured.Unstructured, wantRepo string) {
	t.Helper()
	var cm *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" && strings.HasSuffix(o.GetName(), "-config") {
			cm = o
		}
	}
	if cm == nil {
		t.Fatalf("the chart rendered no -config ConfigMap: %v", exKinds(objs))
	}
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	if data["DRIFTWATCH_REPORTS"] != "openreports" {
		t.Errorf("agent config DRIFTWATCH_REPORTS = %q, want openreports (the hub reads nothing else)", data["DRIFTWATCH_REPORTS"])
	}
	if data["DRIFTWATCH_REPO"] != wantRepo {
		t.Errorf("agent config DRIFTWATCH_REPO = %q, want the cluster values' %q", data["DRIFTWATCH_REPO"], wantRepo)
	}
	if len(exOfKind(objs, "Deployment")) != 1 {
		t.Errorf("want one Deployment (driftwatch watch), got %v", exKinds(objs))
	}
	if len(exOfKind(objs, "CustomResourceDefinition")) != 2 {
		t.Errorf("want the two OpenReports CRDs (reports.installCRDs), got %v", exKinds(objs))
	}
}

func exKinds(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return out
}

// TestFleetExamplesArgoCD: the ApplicationSet makes one Application per
// Argo CD cluster, installing this repository's chart with reports
// enabled and the cluster's values file, into that cluster; the chart
// renders an agent publishing reports with those values.
func TestFleetExamplesArgoCD(t *testing.T) {
	objs := exRead(t, "applicationset.yaml")
	sets := exOfKind(objs, "ApplicationSet")
	if len(objs) != 1 || len(sets) != 1 {
		t.Fatalf("applicationset.yaml: want one ApplicationSet, got %v", exKinds(objs))
	}
	as := sets[0]
	if as.GetAPIVersion() != "argoproj.io/v1alpha1" {
		t.Errorf("apiVersion %q, want argoproj.io/v1alpha1", as.GetAPIVersion())
	}
	gens, _, _ := unstructured.NestedSlice(as.Object, "spec", "generators")
	if len(gens) != 1 {
		t.Fatalf("want one generator, got %d", len(gens))
	}
	if g, _ := gens[0].(map[string]any); g["clusters"] == nil {
		t.Errorf("the generator is not a cluster generator: %v", gens[0])
	}
	if on, _, _ := unstructured.NestedBool(as.Object, "spec", "goTemplate"); !on {
		t.Error("spec.goTemplate is not true: the template's {{ .name }} would not be expanded")
	}
	if got := exString(t, as, "spec", "template", "spec", "destination", "server"); got != "{{ .server }}" {
		t.Errorf("destination.server %q, want the generated cluster's {{ .server }}", got)
	}
	sources, _, _ := unstructured.NestedSlice(as.Object, "spec", "template", "spec", "sources")
	var chart, values map[string]any
	for _, s := range sources {
		m, _ := s.(map[string]any)
		switch {
		case m["path"] == exChartPath:
			chart = m
		case m["ref"] == "values":
			values = m
		}
	}
	if chart == nil || values == nil {
		t.Fatalf("want a source with path %s and one with ref values, got %v", exChartPath, sources)
	}
	if got := chart["repoURL"]; got != "https://github.com/driftwatch/driftwatch.git" {
		t.Errorf("chart source repoURL %v, want this repository", got)
	}
	u := &unstructured.Unstructured{Object: chart}
	inline := exMap(t, u, "helm", "valuesObject")
	if !exReportsEnabled(inline) {
		t.Errorf("helm.valuesObject does not set reports.enabled: %v", inline)
	}
	files, _, _ := unstructured.NestedStringSlice(chart, "helm", "valueFiles")
	if len(files) != 1 || !strings.HasPrefix(files[0], "$values/") || !strings.Contains(files[0], "{{ .name }}") {
		t.Errorf("helm.valueFiles %q: want one per-cluster file, $values/...{{ .name }}...", files)
	}
	if _, err := os.Stat(filepath.Join("..", "..", exChartPath, "Chart.yaml")); err != nil {
		t.Errorf("the chart the ApplicationSet installs: %v", err)
	}

	// What Argo CD renders for a cluster: the chart with the cluster's
	// values file, then valuesObject over it.
	clusterValues, err := os.ReadFile("cluster-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cv map[string]any
	if err := yaml.UnmarshalStrict(clusterValues, &cv); err != nil {
		t.Fatalf("cluster-values.yaml: %v", err)
	}
	repo, _, _ := unstructured.NestedString(cv, "source", "repo")
	exCheckAgent(t, exRenderChart(t, clusterValues, inline), repo)
}

// TestFleetExamplesFlux: every cluster has a HelmRelease installing this
// repository's chart (from the file's GitRepository) into it through its
// kubeconfig Secret, with reports enabled and the values of its own
// ConfigMap; the chart renders an agent publishing reports with them.
func TestFleetExamplesFlux(t *testing.T) {
	objs := exRead(t, "flux-kustomization.yaml")
	repos := exOfKind(objs, "GitRepository")
	if len(repos) != 1 {
		t.Fatalf("want one GitRepository, got %v", exKinds(objs))
	}
	if got := exString(t, repos[0], "spec", "url"); got != "https://github.com/driftwatch/driftwatch.git" {
		t.Errorf("GitRepository url %q, want this repository", got)
	}
	configMaps := map[string]*unstructured.Unstructured{}
	for _, cm := range exOfKind(objs, "ConfigMap") {
		configMaps[cm.GetName()] = cm
	}
	releases := exOfKind(objs, "HelmRelease")
	if len(releases) < 2 {
		t.Fatalf("want a HelmRelease per cluster (at least two), got %v", exKinds(objs))
	}
	seen := map[string]bool{}
	for _, hr := range releases {
		t.Run(hr.GetName(), func(t *testing.T) {
			if hr.GetAPIVersion() != "helm.toolkit.fluxcd.io/v2" {
				t.Errorf("apiVersion %q, want helm.toolkit.fluxcd.io/v2", hr.GetAPIVersion())
			}
			if got := exString(t, hr, "spec", "chart", "spec", "chart"); got != "./"+exChartPath {
				t.Errorf("chart %q, want ./%s", got, exChartPath)
			}
			if got := exString(t, hr, "spec", "chart", "spec", "sourceRef", "name"); got != repos[0].GetName() {
				t.Errorf("chart sourceRef %q, want the GitRepository %q", got, repos[0].GetName())
			}
			secret := exString(t, hr, "spec", "kubeConfig", "secretRef", "name")
			if secret == "" || seen[secret] {
				t.Errorf("kubeConfig secret %q: want one of its own per cluster", secret)
			}
			seen[secret] = true
			inline := exMap(t, hr, "spec", "values")
			if !exReportsEnabled(inline) {
				t.Errorf("spec.values does not set reports.enabled: %v", inline)
			}
			from, _, _ := unstructured.NestedSlice(hr.Object, "spec", "valuesFrom")
			if len(from) != 1 {
				t.Fatalf("want one valuesFrom (the cluster's ConfigMap), got %v", from)
			}
			ref, _ := from[0].(map[string]any)
			cm := configMaps[fmt.Sprint(ref["name"])]
			if ref["kind"] != "ConfigMap" || cm == nil {
				t.Fatalf("valuesFrom %v names no ConfigMap of the file", ref)
			}
			data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
			clusterValues, ok := data[fmt.Sprint(ref["valuesKey"])]
			if !ok {
				t.Fatalf("ConfigMap %s has no key %v", cm.GetName(), ref["valuesKey"])
			}
			var cv map[string]any
			if err := yaml.UnmarshalStrict([]byte(clusterValues), &cv); err != nil {
				t.Fatalf("ConfigMap %s: %v", cm.GetName(), err)
			}
			repo, _, _ := unstructured.NestedString(cv, "source", "repo")
			exCheckAgent(t, exRenderChart(t, []byte(clusterValues), inline), repo)
		})
	}
}

// exBinary builds cmd/driftwatch for one test (the Go build cache makes
// the second build a link).
func exBinary(t *testing.T) string {
	t.Helper()
	return proctest.Build(t, t.TempDir(), "github.com/driftwatch/driftwatch/cmd/driftwatch")
}

// exRun runs the binary with args and env (and none of the test's
// DRIFTWATCH_ variables), returning its exit code, stdout and stderr.
func exRun(t *testing.T, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DRIFTWATCH_") && !strings.HasPrefix(kv, "KUBECONFIG=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	case err != nil:
		t.Fatalf("driftwatch %s: %v", strings.Join(args, " "), err)
	}
	return 0, stdout.String(), stderr.String()
}

// exHubObjects builds hub/ as `kubectl apply -k deploy/fleet/hub` does.
func exHubObjects(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "hub")
	if err != nil {
		t.Fatalf("kustomize build hub: %v", err)
	}
	var objs []*unstructured.Unstructured
	for _, r := range rm.Resources() {
		m, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	return objs
}

func exHubDeployment(t *testing.T, objs []*unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	ds := exOfKind(objs, "Deployment")
	if len(ds) != 1 {
		t.Fatalf("hub: want one Deployment, got %v", exKinds(objs))
	}
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(ds[0].Object, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("hub Deployment: want one container")
	}
	return &d
}

// exExpand expands $(VAR) in an argument as the kubelet does, from the
// container's env values and the Pod's namespace for a metadata.namespace
// field reference.
func exExpand(arg string, c corev1.Container, ns string) string {
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
			v = ns
		}
		arg = strings.ReplaceAll(arg, "$("+e.Name+")", v)
	}
	return arg
}

// exFlag returns the value of flag --name in args (flags and values as
// separate arguments), and whether it is there.
func exFlag(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == "--"+name {
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
				return args[i+1], true
			}
			return "", true
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// TestHubArgs: the hub Deployment's arguments are flags of the real
// `driftwatch fleet`, with values it accepts: the binary, run with them,
// gets past flag parsing and validation and stops only at the token file
// the Pod mounts and this machine lacks. The paths they name are the
// Pod's mounts, and the Argo CD namespace and the Lease's are the ones
// rbac.yaml grants.
func TestHubArgs(t *testing.T) {
	objs := exHubObjects(t)
	d := exHubDeployment(t, objs)
	c := d.Spec.Template.Spec.Containers[0]
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = exExpand(a, c, d.Namespace)
		if strings.Contains(args[i], "$(") {
			t.Errorf("argument %q: a variable the container does not set", a)
		}
	}
	if len(args) == 0 || args[0] != "fleet" {
		t.Fatalf("hub args %q: want the fleet command", args)
	}

	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	checks := []struct{ flag, want string }{
		{"cluster-secrets", exArgoNamespace},
		{"leader-elect-namespace", exHubNamespace},
		{"listen", ":8080"},
	}
	for _, ch := range checks {
		if got, _ := exFlag(args, ch.flag); got != ch.want {
			t.Errorf("--%s %q, want %q", ch.flag, got, ch.want)
		}
	}
	if db, _ := exFlag(args, "audit-db"); filepath.Dir(db) != mounts["audit"] {
		t.Errorf("--audit-db %q is not on the audit volume (%q)", db, mounts["audit"])
	}
	token, _ := exFlag(args, "auth-token-file")
	if filepath.Dir(token) != mounts["auth"] {
		t.Errorf("--auth-token-file %q is not on the auth volume (%q)", token, mounts["auth"])
	}
	if _, ok := exFlag(args, "leader-elect"); !ok {
		t.Error("no --leader-elect: rbac.yaml grants the Lease for it")
	}
	if listen, _ := exFlag(args, "listen"); len(c.Ports) != 1 || listen != fmt.Sprintf(":%d", c.Ports[0].ContainerPort) {
		t.Errorf("container ports %v: want the one --listen %s binds", c.Ports, listen)
	}

	bin := exBinary(t)
	if _, err := os.Stat(token); err == nil {
		t.Skipf("%s exists on this machine: the run below would start a hub", token)
	}
	code, _, stderr := exRun(t, bin, nil, args...)
	want := "flag --auth-token-file: open " + token
	if code != 2 || !strings.Contains(stderr, want) {
		t.Errorf("driftwatch %s: exit %d, stderr %q; want exit 2 at %q (every flag before it accepted)", strings.Join(args, " "), code, stderr, want)
	}
	// The same run with one misspelt flag fails on it: the check above
	// would see a flag error.
	code, _, stderr = exRun(t, bin, nil, append(slices.Clone(args), "--audit-dbb", "x")...)
	if code != 2 || !strings.Contains(stderr, "unknown flag: --audit-dbb") {
		t.Errorf("a misspelt flag: exit %d, stderr %q; want an unknown-flag error", code, stderr)
	}
}

// TestHubRBAC: hub/rbac.yaml is what `driftwatch rbac --for fleet` prints
// for the hub's ServiceAccount, the Argo CD namespace and the Lease.
func TestHubRBAC(t *testing.T) {
	bin := exBinary(t)
	code, out, stderr := exRun(t, bin, nil, "rbac", "--for", "fleet", "--cluster-secrets", exArgoNamespace, "--leader-elect",
		"--leader-elect-namespace", exHubNamespace, "--subject", "serviceaccount:"+exHubNamespace+"/driftwatch-fleet")
	if code != 0 {
		t.Fatalf("driftwatch rbac --for fleet: exit %d\n%s", code, stderr)
	}
	want := exDecode(t, "driftwatch rbac --for fleet", []byte(out))
	got := exRead(t, filepath.Join("hub", "rbac.yaml"))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hub/rbac.yaml differs from driftwatch rbac --for fleet's output (-printed +file):\n%s", diff)
	}
	// The subject is the Deployment's ServiceAccount.
	d := exHubDeployment(t, exHubObjects(t))
	for _, o := range got {
		if !strings.HasSuffix(o.GetKind(), "Binding") {
			continue
		}
		subjects, _, _ := unstructured.NestedSlice(o.Object, "subjects")
		var s rbacv1.Subject
		if len(subjects) == 1 {
			_ = runtime.DefaultUnstructuredConverter.FromUnstructured(subjects[0].(map[string]any), &s)
		}
		if s.Name != d.Spec.Template.Spec.ServiceAccountName || s.Namespace != d.Namespace {
			t.Errorf("%s %s binds %v, want the hub's ServiceAccount %s/%s", o.GetKind(), o.GetName(), subjects, d.Namespace, d.Spec.Template.Spec.ServiceAccountName)
		}
	}
}

// TestHubServerDryRun sends every object of hub/ to a real API server as
// a dry-run create with strict field validation and no warning allowed,
// in the namespaces it names (created first, as the hub's cluster has
// them), and the Deployment's Pod template as a Pod, which the
// restricted Pod Security Standard of its namespace must admit.
func TestHubServerDryRun(t *testing.T) {
	apiservertest.Require(t)
	env, err := apiservertest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	objs := exHubObjects(t)

	c, w, err := apiservertest.NewWarnedClient(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	var ns *unstructured.Unstructured
	for _, o := range exOfKind(objs, "Namespace") {
		ns = o
	}
	if ns == nil || ns.GetName() != exHubNamespace || ns.GetLabels()["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Fatalf("hub: want Namespace %s enforcing the restricted Pod Security Standard, got %v", exHubNamespace, ns)
	}
	argo := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": exArgoNamespace}}}
	for _, n := range []*unstructured.Unstructured{ns, argo} {
		ri, err := c.Resource(n.GroupVersionKind(), "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ri.Create(ctx, n, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create Namespace %s: %v", n.GetName(), err)
		}
	}
	w.Take()

	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"}
	for _, o := range objs {
		id := fmt.Sprintf("%s %s/%s", o.GroupVersionKind(), o.GetNamespace(), o.GetName())
		if o.GetKind() == "Namespace" {
			continue
		}
		switch o.GetNamespace() {
		case exHubNamespace, "":
		case exArgoNamespace:
			if o.GetKind() != "Role" && o.GetKind() != "RoleBinding" {
				t.Errorf("%s: only the Role on the cluster Secrets belongs in %s", id, exArgoNamespace)
			}
		default:
			t.Errorf("%s: namespace %q, want %s", id, o.GetNamespace(), exHubNamespace)
		}
		ri, err := c.Resource(o.GroupVersionKind(), o.GetNamespace())
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if _, err := ri.Create(ctx, o, dry); err != nil {
			t.Errorf("dry-run create %s: %v", id, err)
		}
		if ws := w.Take(); len(ws) > 0 {
			t.Errorf("dry-run create %s: API server warnings: %q", id, ws)
		}
	}

	u, err := apiservertest.PodFromTemplate("driftwatch-fleet-pod", exHubNamespace, exHubDeployment(t, objs).Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DryRunCreate(ctx, u); err != nil {
		t.Errorf("dry-run create of the hub's Pod template as a Pod in the restricted namespace: %v", err)
	}
	if ws := w.Take(); len(ws) > 0 {
		t.Errorf("the hub's Pod: API server warnings: %q", ws)
	}
	t.Logf("%d objects dry-run created: %v", len(objs), exKinds(objs))
}
