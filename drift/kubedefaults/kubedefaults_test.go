package kubedefaults_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/kubedefaults"
	"github.com/driftwatch/driftwatch/informer/informertest"
)

var obj = informertest.Object

// TestVersionMatchesGoMod keeps Version, which reports print, equal to
// the k8s.io/kubernetes version compiled in.
func TestVersionMatchesGoMod(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*k8s\.io/kubernetes (v\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod requires no k8s.io/kubernetes")
	}
	if string(m[1]) != kubedefaults.Version {
		t.Errorf("Version %s, go.mod requires k8s.io/kubernetes %s", kubedefaults.Version, m[1])
	}
}

func TestDefault(t *testing.T) {
	tests := []struct {
		name string
		in   string
		path []string // where to look in the defaulted object
		want any      // nil: Default returns nil
	}{
		{"fieldRef gets apiVersion v1",
			"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {template: {spec: {containers: [{name: c, image: i-1, env: [{name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}]}]}}}\n",
			[]string{"spec", "template", "spec", "containers"},
			[]any{map[string]any{"name": "c", "image": "i-1", "imagePullPolicy": "Always", "resources": map[string]any{},
				"terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
				"env": []any{map[string]any{"name": "NS", "valueFrom": map[string]any{"fieldRef": map[string]any{"apiVersion": "v1", "fieldPath": "metadata.namespace"}}}}}}},
		{"resourceFieldRef gets divisor",
			"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: c, image: i:1, env: [{name: CPU, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}]}]}\n",
			[]string{"spec", "containers"},
			[]any{map[string]any{"name": "c", "image": "i:1", "imagePullPolicy": "IfNotPresent", "resources": map[string]any{},
				"terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
				"env": []any{map[string]any{"name": "CPU", "valueFrom": map[string]any{"resourceFieldRef": map[string]any{"resource": "limits.cpu", "divisor": "0"}}}}}}},
		{"RBAC subjects get their apiGroup",
			"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: x}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: [{kind: Group, name: g}, {kind: ServiceAccount, name: s, namespace: ns1}]\n",
			[]string{"subjects"},
			[]any{map[string]any{"kind": "Group", "name": "g", "apiGroup": "rbac.authorization.k8s.io"}, map[string]any{"kind": "ServiceAccount", "name": "s", "namespace": "ns1"}}},
		{"a kind that is not built in", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n", nil, nil},
		{"an object that does not decode into its type",
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: [1, 2]}\n", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := obj(t, tt.in)
			before := in.DeepCopy()
			out := kubedefaults.Default(in)
			if diff := cmp.Diff(before.Object, in.Object); diff != "" {
				t.Errorf("Default modified its input (-before +after):\n%s", diff)
			}
			if tt.want == nil {
				if out != nil {
					t.Errorf("Default = %v, want nil", out.Object)
				}
				return
			}
			got, _, _ := unstructured.NestedFieldNoCopy(out.Object, tt.path...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%v (-want +got):\n%s", tt.path, diff)
			}
		})
	}
}

// BenchmarkCompareWithDefaults shows what defaulting costs the comparison,
// side by side in one run: objects in sync never pay it (the defaulter is
// asked only when something differs); a drifted one pays one defaulting
// and a second comparison.
func BenchmarkCompareWithDefaults(b *testing.B) {
	deploy, err := os.ReadFile(filepath.Join("..", "..", "testdata", "bench", "deployment.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	desired := obj(b, string(deploy))
	drifted := desired.DeepCopy()
	_ = unstructured.SetNestedField(drifted.Object, int64(5), "spec", "replicas")
	for _, c := range []struct {
		name     string
		live     *unstructured.Unstructured
		defaults drift.Defaulter
	}{
		{"in-sync/no-defaulter", desired, nil},
		{"in-sync/defaulter+added", desired, kubedefaults.Default},
		{"drifted/no-defaulter", drifted, nil},
		{"drifted/defaulter+added", drifted, kubedefaults.Default},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				// The options the pipeline uses: with the defaulter comes the
				// policy for hand-made additions.
				opts := drift.Options{Defaults: c.defaults}
				if c.defaults != nil {
					opts.Added = &drift.AddedPolicy{}
				}
				drift.Compare(desired, c.live, opts)
			}
		})
	}
}
