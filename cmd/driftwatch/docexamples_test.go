package main

// Running the documentation's examples against the test API server: each
// block marked <!-- example: run setup=NAME ... --> runs in a fresh
// directory, against a cluster its setup prepares, and each driftwatch
// command must exit as the marker says (docexamples_parse_test.go reads
// the Markdown).

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"

	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

// docSetup prepares the cluster a run block runs against.
type docSetup struct {
	name string
	// namespaces are deleted and created afresh before the setup applies.
	namespaces []string
	// apply prepares the cluster, and the block's directory work if the
	// example needs files there.
	apply func(ctx context.Context, root, work string) error
}

// docSetups are the setups a marker can name.
var docSetups = []docSetup{
	{name: "none", apply: func(context.Context, string, string) error { return nil }},
	{name: "demo", namespaces: []string{"demo"}, apply: applyDemo},
	{name: "demo-drifted", namespaces: []string{"demo"}, apply: func(ctx context.Context, root, work string) error {
		if err := applyDemo(ctx, root, work); err != nil {
			return err
		}
		return driftDemo(ctx)
	}},
	{name: "adopt", namespaces: []string{"shop"}, apply: applyAdopt},
	{name: "revert", namespaces: []string{"prod"}, apply: applyRevert},
}

func docSetupNames() []string {
	var names []string
	for _, s := range docSetups {
		names = append(names, s.name)
	}
	return names
}

// applyDemo applies testdata/demo's overlays/prod (Namespace demo, a CRD
// and a Widget, a Deployment, a Service, a ConfigMap, a Secret) as
// cmd/driftwatch-demo does (server-side apply, field manager gitops): in
// sync.
func applyDemo(ctx context.Context, root, _ string) error {
	objs, err := gitsource.Render(filepath.Join(root, "testdata", "demo"), "overlays/prod")
	if err != nil {
		return err
	}
	var us []*unstructured.Unstructured
	for _, o := range objs {
		us = append(us, o.Object)
	}
	return kube.Apply(ctx, "gitops", "", us...)
}

// driftDemo drifts the demo as cmd/driftwatch-demo does: kubectl-edit sets
// Deployment demo/web to 5 replicas and image nginx:1.28-alpine, and
// ConfigMap demo/web-config is deleted.
func driftDemo(ctx context.Context) error {
	err := kube.Edit(ctx, "kubectl-edit", gvkDeployment, "demo", "web", func(u *unstructured.Unstructured) error {
		liveField(int64(5), "spec", "replicas")(u)
		liveContainer(func(c map[string]any) { c["image"] = "nginx:1.28-alpine" })(u)
		return nil
	})
	if err != nil {
		return err
	}
	return kube.Delete(ctx, gvkConfigMap, "demo", "web-config")
}

// applyAdopt applies testdata/adopt's kustomize/overlays/prod in namespace
// shop as the adopt tests do (field manager gitops): the README's adopt
// example changes it by hand with kubectl.
func applyAdopt(ctx context.Context, root, _ string) error {
	if err := kube.Apply(ctx, "kubectl", "", &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "shop"},
	}}); err != nil {
		return err
	}
	r, err := gitsource.RenderWith(ctx, filepath.Join(root, "testdata", "adopt"), "kustomize/overlays/prod", gitsource.RenderOptions{})
	if err != nil {
		return err
	}
	var us []*unstructured.Unstructured
	for _, o := range r.Objects {
		us = append(us, o.Object)
	}
	return kube.Apply(ctx, "gitops", "shop", us...)
}

// docRevertManifests is deploy/prod/app.yaml of revert's worked example.
const docRevertManifests = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod, labels: {app.kubernetes.io/managed-by: driftwatch}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: nginx:1.27
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: prod, labels: {app.kubernetes.io/managed-by: driftwatch}}
data: {LOG_LEVEL: info}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: prod, labels: {app.kubernetes.io/managed-by: driftwatch}}
stringData: {password: pa55-in-git}
`

// applyRevert sets up revert's worked example (docs/acting-on-drift.md):
// the reader's own tree deploy/prod (a Deployment, a ConfigMap and a
// Secret, each with the tracking label --detect-extra looks for) applied
// in namespace prod by the manager gitops, then kubectl-edit sets replicas
// 5, image nginx:1.28 and a privileged securityContext, and changes the
// Secret's value, the ConfigMap is deleted, and a ConfigMap Git no longer
// has is left. The repository's deploy/ is not that tree: it is replaced.
func applyRevert(ctx context.Context, _, work string) error {
	dir := filepath.Join(work, "deploy")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "prod"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "prod", "app.yaml"), []byte(docRevertManifests), 0o644); err != nil {
		return err
	}
	if err := kube.Apply(ctx, "kubectl", "", &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "prod"},
	}}); err != nil {
		return err
	}
	objs, err := gitsource.Render(dir, "prod")
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := kube.Apply(ctx, "gitops", "prod", o.Object); err != nil {
			return err
		}
	}
	err = kube.Edit(ctx, "kubectl-edit", gvkDeployment, "prod", "web", func(u *unstructured.Unstructured) error {
		liveField(int64(5), "spec", "replicas")(u)
		liveContainer(func(c map[string]any) {
			c["image"] = "nginx:1.28"
			c["securityContext"] = map[string]any{"privileged": true}
		})(u)
		return nil
	})
	if err == nil {
		err = kube.Edit(ctx, "kubectl-edit", gvkSecret, "prod", "creds", func(u *unstructured.Unstructured) error {
			return unstructured.SetNestedField(u.Object, base64.StdEncoding.EncodeToString([]byte("hand-set-pw")), "data", "password")
		})
	}
	if err == nil {
		err = kube.Delete(ctx, gvkConfigMap, "prod", "settings")
	}
	if err != nil {
		return err
	}
	return kube.Apply(ctx, "gitops", "prod", &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "leftover", "labels": map[string]any{"app.kubernetes.io/managed-by": "driftwatch"}},
		"data":     map[string]any{"old": "yes"},
	}})
}

// docCommandTimeout bounds each command of an example: a daemon (watch)
// would run until it.
const docCommandTimeout = 2 * time.Minute

// exampleRunner runs run blocks, one after the other.
type exampleRunner struct {
	root     string // the repository, absolute
	kubectl  string
	baseline map[string]bool // the namespaces there before the first block
}

// newExampleRunner needs the API server, and the kubectl .ci/envtest.sh
// builds beside it. Namespaces the blocks leave are deleted at the end.
func newExampleRunner(t *testing.T) *exampleRunner {
	t.Helper()
	requireAPIServer(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	r := &exampleRunner{root: root, kubectl: filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")}
	if st, err := os.Stat(r.kubectl); err != nil || st.Mode().Perm()&0o111 == 0 {
		t.Fatalf("no kubectl beside kube-apiserver (%v): .ci/envtest.sh builds it into KUBEBUILDER_ASSETS", err)
	}
	names, err := namespaceNames(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r.baseline = map[string]bool{}
	for _, n := range names {
		r.baseline[n] = true
	}
	t.Cleanup(func() {
		if err := r.deleteNamespaces(context.Background(), nil); err != nil {
			t.Errorf("after the examples: %v", err)
		}
	})
	return r
}

// run runs one block in t, a subtest of its own (run changes its working
// directory and environment), and returns what went wrong, each
// "file:line: what".
func (r *exampleRunner) run(t *testing.T, b docBlock) []string {
	if problems := checkRunBlock(b, docSetupNames()); len(problems) > 0 {
		return problems
	}
	ctx := context.Background()
	work, home := t.TempDir(), t.TempDir()
	if err := r.copyReferenced(b, work); err != nil {
		return []string{fmt.Sprintf("%s: %v", b.where(), err)}
	}
	if err := r.environment(t, home); err != nil {
		return []string{fmt.Sprintf("%s: %v", b.where(), err)}
	}
	t.Chdir(work)

	setup := docSetups[slices.IndexFunc(docSetups, func(s docSetup) bool { return s.name == b.Marker.Setup })]
	if err := r.deleteNamespaces(ctx, setup.namespaces); err != nil {
		return []string{fmt.Sprintf("%s: setup %s: %v", b.where(), setup.name, err)}
	}
	if err := setup.apply(ctx, r.root, work); err != nil {
		return []string{fmt.Sprintf("%s: setup %s: %v", b.where(), setup.name, err)}
	}

	console := slices.ContainsFunc(b.Lines, func(l string) bool { return strings.HasPrefix(l, "$ ") })
	last, nth := 0, 0
	lookup := func(name string) (string, bool) {
		if name == "?" {
			return fmt.Sprint(last), true
		}
		return os.LookupEnv(name)
	}
	for _, c := range splitBlock(b) {
		where := fmt.Sprintf("%s:%d", b.File, c.Line)
		sc, err := splitCommand(c.Text, lookup)
		if err != nil {
			return []string{fmt.Sprintf("%s: %v: mark the block illustrative", where, err)}
		}
		if len(sc.Args) == 0 {
			// Assignments alone set the shell's variables.
			for _, a := range sc.Env {
				k, v, _ := strings.Cut(a, "=")
				t.Setenv(k, v)
			}
			continue
		}
		var out lockedBuffer
		var stdout io.Writer = &out
		var file bytes.Buffer
		if sc.Stdout != "" {
			stdout = &file
		}
		code, problem := r.command(ctx, t, sc, stdout, &out, nth, b.Marker)
		if problem == "" && sc.Stdout != "" {
			problem = writeRedirect(sc, file.Bytes())
		}
		if prog, _ := classify(sc.Args); prog == progDriftwatch {
			nth++
		}
		last = code
		if problem != "" {
			return []string{fmt.Sprintf("%s: %s: %s%s", where, c.Text, problem, indentOutput(out.String()))}
		}
		got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		// A command shown without output is not compared.
		if b.Marker.CheckOutput && console && len(c.Output) > 0 && !matchOutput(c.Output, got) {
			return []string{fmt.Sprintf("%s: %s: output (-doc +got, normalised):\n%s", where, c.Text,
				cmp.Diff(normalizeLines(c.Output), normalizeLines(got)))}
		}
	}
	return nil
}

// command runs one command with its assignments in the environment and
// returns its exit code, or a problem.
func (r *exampleRunner) command(ctx context.Context, t *testing.T, sc shellCommand, stdout, stderr io.Writer, nth int, m *exampleMarker) (int, string) {
	restore := setEnv(sc.Env)
	defer restore()
	ctx, cancel := context.WithTimeout(ctx, docCommandTimeout)
	defer cancel()
	prog, args := classify(sc.Args)
	switch prog {
	case progExport:
		for _, a := range args {
			if k, v, ok := strings.Cut(a, "="); ok {
				t.Setenv(k, v)
			}
		}
	case progEcho:
		fmt.Fprintln(stdout, strings.Join(args, " "))
	case progCat:
		for _, f := range args {
			b, err := os.ReadFile(f)
			if err != nil {
				return 1, err.Error()
			}
			_, _ = stdout.Write(b)
		}
	case progKubectl:
		cmd := exec.CommandContext(ctx, r.kubectl, args...)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case ctx.Err() != nil:
			return -1, fmt.Sprintf("did not finish in %s", docCommandTimeout)
		case errors.As(err, &ee):
			return ee.ExitCode(), fmt.Sprintf("kubectl exited %d (kubectl commands must succeed)", ee.ExitCode())
		case err != nil:
			return -1, err.Error()
		}
	case progDriftwatch:
		code := run(ctx, args, streams{Out: stdout, Err: stderr})
		if ctx.Err() != nil {
			return code, fmt.Sprintf("did not finish in %s (a daemon? mark the block illustrative)", docCommandTimeout)
		}
		if want := m.expectedExit(nth); code != want {
			return code, fmt.Sprintf("exit %d, want %d (the marker's exit=)", code, want)
		}
		return code, ""
	default:
		return -1, fmt.Sprintf("examples cannot run %s: mark the block illustrative", sc.Args[0])
	}
	return 0, ""
}

// environment points HOME, the caches and KUBECONFIG into home, with a
// kubeconfig for the test API server (context prod, namespace default),
// and clears what would change driftwatch's or kubectl's behaviour.
func (r *exampleRunner) environment(t *testing.T, home string) error {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, envPrefix) && k != "DRIFTWATCH_REQUIRE_APISERVER" || strings.HasPrefix(k, "GIT_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	kubeDir := filepath.Join(home, ".kube")
	if err := os.MkdirAll(kubeDir, 0o700); err != nil {
		return err
	}
	kc, err := apiservertest.WriteKubeconfig(apiConfig, kubeDir, "prod", "default")
	if err != nil {
		return err
	}
	// adopt --commit takes its author from the global Git config.
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[user]\n\tname = Docs Example\n\temail = docs@example.com\n"), 0o600); err != nil {
		return err
	}
	for k, v := range map[string]string{
		"HOME":            home,
		"XDG_CACHE_HOME":  filepath.Join(home, ".cache"),
		"XDG_CONFIG_HOME": filepath.Join(home, ".config"),
		"KUBECONFIG":      kc,
		"KUBE_EDITOR":     "false", // kubectl edit fails instead of waiting
		"EDITOR":          "false",
	} {
		t.Setenv(k, v)
	}
	return nil
}

var (
	testdataRefRe = regexp.MustCompile(`\btestdata/([A-Za-z0-9_.-]+)`)
	deployRefRe   = regexp.MustCompile(`(?:^|[\s='"])(?:\./)?deploy(?:/|\s|$)`)
)

// copyReferenced copies into work the testdata/ directories the block
// names (testdata/demo for --dir testdata/demo) and deploy/ if named, so
// that --write and -o json=FILE never touch the repository.
func (r *exampleRunner) copyReferenced(b docBlock, work string) error {
	text := strings.Join(b.Lines, "\n")
	var dirs []string
	for _, m := range testdataRefRe.FindAllStringSubmatch(text, -1) {
		dirs = append(dirs, filepath.Join("testdata", m[1]))
	}
	if deployRefRe.MatchString(text) {
		dirs = append(dirs, "deploy")
	}
	slices.Sort(dirs)
	for _, d := range slices.Compact(dirs) {
		src := filepath.Join(r.root, d)
		if st, err := os.Stat(src); err != nil || !st.IsDir() {
			continue // not a directory of the repository: the block's own
		}
		if err := os.CopyFS(filepath.Join(work, d), os.DirFS(src)); err != nil {
			return fmt.Errorf("copy %s: %w", d, err)
		}
	}
	return nil
}

// writeRedirect writes a command's output to its > or >> file.
func writeRedirect(sc shellCommand, b []byte) string {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if sc.Append {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	f, err := os.OpenFile(sc.Stdout, flags, 0o644)
	if err == nil {
		_, err = f.Write(b)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// setEnv sets NAME=value assignments for one command and returns what
// puts the environment back.
func setEnv(assignments []string) (restore func()) {
	type old struct {
		k, v string
		ok   bool
	}
	var olds []old
	for _, a := range assignments {
		k, v, _ := strings.Cut(a, "=")
		prev, ok := os.LookupEnv(k)
		olds = append(olds, old{k, prev, ok})
		os.Setenv(k, v)
	}
	return func() {
		for i := len(olds) - 1; i >= 0; i-- {
			if o := olds[i]; o.ok {
				os.Setenv(o.k, o.v)
			} else {
				os.Unsetenv(o.k)
			}
		}
	}
}

func normalizeLines(ls []string) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = normalizeOutput(l)
	}
	return out
}

// indentOutput shows what a failed command printed, at most its last 40
// lines, under the problem.
func indentOutput(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return ""
	}
	if len(lines) > 40 {
		lines = append([]string{fmt.Sprintf("[%d lines before]", len(lines)-40)}, lines[len(lines)-40:]...)
	}
	return "\n\t" + strings.Join(lines, "\n\t")
}

// lockedBuffer is a terminal's view of a command: stdout and stderr in the
// order they were written, from any goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var gvrNamespace = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

func namespaceNames(ctx context.Context) ([]string, error) {
	l, err := kube.Dynamic.Resource(gvrNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, u := range l.Items {
		names = append(names, u.GetName())
	}
	return names, nil
}

// deleteNamespaces deletes the given namespaces and every namespace the
// blocks created, with everything in them. No namespace controller runs
// beside the test API server, so this does its work: delete each kind of
// object in the terminating namespace, drop the finalizers nothing would
// remove, finalize the namespace and delete it again, which removes it.
func (r *exampleRunner) deleteNamespaces(ctx context.Context, also []string) error {
	names, err := namespaceNames(ctx)
	if err != nil {
		return err
	}
	var doomed []string
	for _, n := range names {
		if !r.baseline[n] || slices.Contains(also, n) {
			doomed = append(doomed, n)
		}
	}
	if len(doomed) == 0 {
		return nil
	}
	dc, err := discovery.NewDiscoveryClientForConfig(apiConfig)
	if err != nil {
		return err
	}
	lists, err := dc.ServerPreferredNamespacedResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return err
	}
	var gvrs []schema.GroupVersionResource
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			return err
		}
		for _, res := range l.APIResources {
			if slices.Contains(res.Verbs, "list") && slices.Contains(res.Verbs, "deletecollection") {
				gvrs = append(gvrs, gv.WithResource(res.Name))
			}
		}
	}
	nsi := kube.Dynamic.Resource(gvrNamespace)
	for _, ns := range doomed {
		// Terminating first: nothing new can be created in it.
		if err := nsi.Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete namespace %s: %w", ns, err)
		}
		err := allInParallel(gvrs, func(_ int, gvr schema.GroupVersionResource) error {
			ri := kube.Dynamic.Resource(gvr).Namespace(ns)
			if err := ri.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete %s in %s: %w", gvr.Resource, ns, err)
			}
			left, err := ri.List(ctx, metav1.ListOptions{})
			if err != nil {
				return fmt.Errorf("list %s in %s: %w", gvr.Resource, ns, err)
			}
			for _, u := range left.Items {
				if _, err := ri.Patch(ctx, u.GetName(), types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
					return fmt.Errorf("unfinalize %s %s/%s: %w", gvr.Resource, ns, u.GetName(), err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		u, err := nsi.Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return err
		}
		unstructured.RemoveNestedField(u.Object, "spec", "finalizers")
		if _, err := nsi.Update(ctx, u, metav1.UpdateOptions{}, "finalize"); err != nil {
			return fmt.Errorf("finalize namespace %s: %w", ns, err)
		}
		// Deleted again, finalized: gone.
		if err := nsi.Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete namespace %s: %w", ns, err)
		}
		if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			_, err := nsi.Get(ctx, ns, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		}); err != nil {
			return fmt.Errorf("namespace %s still there: %w", ns, err)
		}
	}
	return nil
}

// runFixture runs every run block of a fixture file in a subtest of its
// own and returns each block's problems by its line.
func (r *exampleRunner) runFixture(t *testing.T, name string) map[string][]string {
	t.Helper()
	doc := scanMarkdown(name, readFixture(t, name))
	if len(doc.Problems) > 0 {
		t.Fatalf("%s: %s", name, strings.Join(doc.Problems, "\n"))
	}
	got := map[string][]string{}
	for _, b := range doc.Blocks {
		if b.Marker == nil || b.Marker.Illustrative != "" {
			continue
		}
		t.Run(b.where(), func(t *testing.T) {
			if p := r.run(t, b); p != nil {
				got[b.where()] = p
			}
		})
	}
	return got
}

// repoState is a fingerprint of the repository's files an example could
// write to.
func repoState(t *testing.T, root string) map[string]string {
	t.Helper()
	state := map[string]string{}
	for _, d := range []string{"testdata/demo", "testdata/adopt", "deploy"} {
		err := filepath.WalkDir(filepath.Join(root, d), func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			state[p] = string(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"drift.json", "rbac.yaml"} {
		for _, d := range []string{root, "."} {
			if _, err := os.Stat(filepath.Join(d, f)); err == nil {
				state[filepath.Join(d, f)] = "present"
			}
		}
	}
	return state
}

// TestDocExamplesRunner runs the fixtures' examples: those of run.md
// pass, each of run-fail.md fails as it should, and the repository is
// left as it was.
func TestDocExamplesRunner(t *testing.T) {
	r := newExampleRunner(t)
	before := repoState(t, r.root)
	if diff := cmp.Diff(map[string][]string{}, r.runFixture(t, "run.md")); diff != "" {
		t.Errorf("run.md: problems (-want +got):\n%s", diff)
	}
	got := r.runFixture(t, "run-fail.md")
	for where, problems := range got {
		// What a command printed differs run to run: compare the first
		// line of each problem.
		for i, p := range problems {
			problems[i], _, _ = strings.Cut(p, "\n")
		}
		got[where] = problems
	}
	if diff := cmp.Diff(runFailWant, got); diff != "" {
		t.Errorf("run-fail.md: problems (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, repoState(t, r.root)); diff != "" {
		t.Errorf("the examples changed the repository (-before +after):\n%s", diff)
	}
}

// runFailWant is how each block of run-fail.md fails, first lines only.
var runFailWant = map[string][]string{
	"run-fail.md:4":  {"run-fail.md:5: driftwatch check --dir testdata/demo --path overlays/prod: exit 1, want 0 (the marker's exit=)"},
	"run-fail.md:9":  {"run-fail.md:11: examples cannot run jq: mark the block illustrative"},
	"run-fail.md:15": {"run-fail.md:16: driftwatch check --dir testdata/demo --path overlays/prod: output (-doc +got, normalised):"},
	"run-fail.md:22": {"run-fail.md:23: kubectl -n demo get deployment nothing: kubectl exited 1 (kubectl commands must succeed)"},
	"run-fail.md:27": {"run-fail.md:28: cat drift.json: open drift.json: no such file or directory"},
	"run-fail.md:32": {"run-fail.md:33: variable NOPE is not set: mark the block illustrative"},
}

// readDocs reads README.md and docs/**/*.md, by their paths relative to
// the repository root.
func readDocs(t *testing.T, root string) (files []string, docs map[string]markdownDoc) {
	t.Helper()
	files = []string{"README.md"}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(p, ".md") {
			return err
		}
		rel, err := filepath.Rel(root, p)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	docs = map[string]markdownDoc{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		docs[f] = scanMarkdown(f, string(b))
	}
	return files, docs
}

// TestDocExamplesMarked: every block of README.md and docs/ that invokes
// driftwatch says whether it is run or only illustrative, and every run
// block can be run.
func TestDocExamplesMarked(t *testing.T) {
	files, docs := readDocs(t, filepath.Join("..", ".."))
	run, illustrative := 0, 0
	for _, f := range files {
		for _, p := range checkMarkers(docs[f], docSetupNames()) {
			t.Error(p)
		}
		for _, b := range docs[f].Blocks {
			switch {
			case b.Marker == nil:
			case b.Marker.Illustrative != "":
				illustrative++
			default:
				run++
			}
		}
	}
	t.Logf("%d blocks run, %d illustrative", run, illustrative)
}

// TestDocLinks: every relative link of README.md and docs/ names a file or
// directory of the repository, and every #fragment a heading of its
// Markdown file; web links parse (they are not fetched).
func TestDocLinks(t *testing.T) {
	root := filepath.Join("..", "..")
	files, docs := readDocs(t, root)
	lc := &linkChecker{root: root}
	total := 0
	for _, f := range files {
		n, problems := lc.check(f, docs[f])
		total += n
		for _, p := range problems {
			t.Error(p)
		}
	}
	t.Logf("%d links checked in %d files", total, len(files))
}

// TestDocExamples runs every run block of README.md and docs/ against the
// test API server.
func TestDocExamples(t *testing.T) {
	r := newExampleRunner(t)
	before := repoState(t, r.root)
	files, docs := readDocs(t, r.root)
	n := 0
	for _, f := range files {
		for _, b := range docs[f].Blocks {
			if b.Marker == nil || b.Marker.Illustrative != "" {
				continue
			}
			n++
			t.Run(b.where(), func(t *testing.T) {
				for _, p := range r.run(t, b) {
					t.Error(p)
				}
			})
		}
	}
	t.Logf("%d blocks run", n)
	if diff := cmp.Diff(before, repoState(t, r.root)); diff != "" {
		t.Errorf("the examples changed the repository (-before +after):\n%s", diff)
	}
}
