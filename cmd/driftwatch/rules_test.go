package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftwatch/driftwatch/drift"
)

func setData(key, value string) func(*unstructured.Unstructured) error {
	return func(u *unstructured.Unstructured) error {
		return unstructured.SetNestedField(u.Object, value, "data", key)
	}
}

func TestCheckIgnoreAndSensitiveRules(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	ctx := context.Background()
	const featureValue = "internal-flag-value-xyz"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(kube.Edit(ctx, "kubectl-edit", gvkDeployment, ns, "web", func(u *unstructured.Unstructured) error {
		return unstructured.SetNestedField(u.Object, int64(9), "spec", "replicas")
	}))
	must(kube.Edit(ctx, "istio-agent", gvkConfigMap, ns, "app-config", setData("LOG_LEVEL", "trace")))
	must(kube.Edit(ctx, "kubectl-edit", gvkConfigMap, ns, "app-config", setData("FEATURES", featureValue)))

	cfg := filepath.Join("..", "..", "testdata", "config", "ignore-replicas.yaml")
	r := checkRepo(t, ns, "--config", cfg, "-o", "json")
	if r.code != exitDrift {
		t.Fatalf("exit code %d, want 1\n%s", r.code, r.stderr)
	}
	rep := parseReport(t, r)
	got := map[string]string{}
	for _, res := range rep.Resources {
		var paths []string
		for _, d := range res.Diffs {
			p := d.Path
			if d.Sensitive {
				p += " (sensitive)"
			}
			paths = append(paths, p)
		}
		got[res.Kind] = fmt.Sprintf("%s %s ignored=%d", res.Status, strings.Join(paths, ","), res.IgnoredFields)
	}
	want := map[string]string{
		"Deployment":  "InSync  ignored=1",                           // spec.replicas by path
		"ConfigMap":   "Drifted data.FEATURES (sensitive) ignored=1", // LOG_LEVEL by manager istio-*
		"Service":     "InSync  ignored=0",
		"Secret":      "InSync  ignored=0",
		"Gadget":      "InSync  ignored=0",
		"ClusterRole": "InSync  ignored=0",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if rep.Summary.IgnoredFields != 2 {
		t.Errorf("summary ignoredFields = %d, want 2", rep.Summary.IgnoredFields)
	}
	text := checkRepo(t, ns, "--config", cfg)
	for _, out := range []string{r.stdout, r.stderr, text.stdout, text.stderr} {
		if strings.Contains(out, featureValue) {
			t.Errorf("a value configured as sensitive reached the output:\n%s", out)
		}
	}
	if !strings.Contains(text.stdout, "(2 drifted fields ignored)") {
		t.Errorf("text summary does not count ignored fields:\n%s", text.stdout)
	}
}

func TestCheckIgnoreAnnotation(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	dir := filepath.Join("..", "..", "testdata", "check")
	if err := kube.Apply(context.Background(), "gitops", ns, mustRender("annotated")...); err != nil {
		t.Fatal(err)
	}
	err := kube.Edit(context.Background(), "kubectl-edit", gvkDeployment, ns, "scaled", func(u *unstructured.Unstructured) error {
		if err := unstructured.SetNestedField(u.Object, int64(4), "spec", "replicas"); err != nil {
			return err
		}
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		cs[0].(map[string]any)["image"] = "nginx:1.29"
		return unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
	})
	if err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "check", "--dir", dir, "--path", "annotated", "--kubeconfig", kubeconfig, "-n", ns, "-o", "json")
	if r.code != exitInSync {
		t.Fatalf("exit code %d, want 0\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := parseReport(t, r).Resources[0].IgnoredFields; got != 2 {
		t.Errorf("ignoredFields = %d, want 2", got)
	}
}

func TestCheckConfigErrors(t *testing.T) {
	requireAPIServer(t)
	dir := filepath.Join("..", "..", "testdata", "config")
	tests := []struct{ file, want string }{
		{"bad-path.yaml", `bad-path.yaml:7: invalid path "spec.template.spec.containers[name=app.image": unterminated '['`},
		{"bad-field.yaml", `bad-field.yaml:5: unknown field "pathz" in rule`},
		{"bad-yaml.yaml", "bad-yaml.yaml:4: did not find expected ',' or '}'"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r := runCLI(t, "check", "--dir", filepath.Join("..", "..", "testdata", "check"), "--path", "app",
				"--kubeconfig", kubeconfig, "--config", filepath.Join(dir, tt.file))
			if r.code != exitError || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 ||
				!strings.HasPrefix(r.stderr, "driftwatch: error: config ") || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("code %d, stderr %q, want one line containing %q", r.code, r.stderr, tt.want)
			}
		})
	}
}

func TestCheckDetectExtra(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	ctx := context.Background()
	for name, labels := range map[string]map[string]any{
		"stray":     {"app.kubernetes.io/managed-by": "driftwatch"},
		"unrelated": {"app.kubernetes.io/managed-by": "helm"},
	} {
		cm := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": name, "labels": labels},
		}}
		if err := kube.Apply(ctx, "someone", ns, cm); err != nil {
			t.Fatal(err)
		}
	}
	r := checkRepo(t, ns, "-o", "json")
	if r.code != exitInSync {
		t.Fatalf("without --detect-extra: exit code %d, want 0", r.code)
	}
	r = checkRepo(t, ns, "--detect-extra", "-o", "json")
	if r.code != exitDrift {
		t.Fatalf("exit code %d, want 1\n%s", r.code, r.stderr)
	}
	rep := parseReport(t, r)
	var extra []string
	for _, res := range rep.Resources {
		if res.Status == drift.Extra {
			extra = append(extra, res.APIVersion+" "+res.ID())
		}
	}
	if diff := cmp.Diff([]string{"v1 ConfigMap " + ns + "/stray"}, extra); diff != "" {
		t.Errorf("extra (-want +got):\n%s", diff)
	}
	if rep.Summary.Extra != 1 {
		t.Errorf("summary %+v", rep.Summary)
	}
	// Another tracking label: helm's objects.
	r = checkRepo(t, ns, "--detect-extra", "--tracking-label", "app.kubernetes.io/managed-by=helm")
	if !strings.Contains(r.stdout, "EXTRA    v1 ConfigMap "+ns+"/unrelated\n") {
		t.Errorf("text report:\n%s", r.stdout)
	}
}
