package gitsource

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestRenderAgreesWithHelmCLI: where driftwatch's in-process rendering and
// the helm CLI's could differ, the helm CLI is the judge. testdata/helm/golden
// holds what `helm template` (v4.3.1, built from source by .ci/helm.sh)
// printed for the test charts; its README has the commands, and
// `make helm-golden` runs them again. Every object helm renders, hooks and
// tests aside, must come out of driftwatch's renderer identical, and
// nothing else.
func TestRenderAgreesWithHelmCLI(t *testing.T) {
	// The capabilities `helm template --kube-version v1.37.2` assumes: the
	// built-in API versions, plus the --api-versions the commands add.
	builtin := []string{"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v1", "autoscaling/v2",
		"networking.k8s.io/v1", "rbac.authorization.k8s.io/v1", "admissionregistration.k8s.io/v1",
		"apiextensions.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1", "storage.k8s.io/v1",
		"scheduling.k8s.io/v1", "certificates.k8s.io/v1", "events.k8s.io/v1"}
	tests := []struct {
		golden string
		path   string
		apis   []string
		helm   HelmOptions
	}{
		{"webapp.yaml", "webapp", []string{"policy/v1/PodDisruptionBudget"},
			HelmOptions{ReleaseName: "shop", Namespace: "default", ValuesFiles: []string{"webapp/values-prod.yaml", "webapp/values-extra.yaml"}}},
		{"ingress-nginx.yaml", "ingress-nginx", nil,
			HelmOptions{ReleaseName: "edge", Namespace: "helm-ingress", ValuesFiles: []string{"ingress-values.yaml"}}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			root := filepath.Join("..", "testdata", "helm")
			data, err := os.ReadFile(filepath.Join(root, "golden", tt.golden))
			if err != nil {
				t.Fatal(err)
			}
			golden, err := ParseManifests(tt.golden, data)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]map[string]any{}
			for _, o := range golden {
				if _, hook := o.Object.GetAnnotations()["helm.sh/hook"]; hook {
					continue
				}
				want[o.Object.GetKind()+" "+o.Object.GetName()] = o.Object.Object
			}
			if len(want) < 5 {
				t.Fatalf("%s holds %d objects: not the helm CLI's rendering", tt.golden, len(want))
			}
			r, err := RenderWith(context.Background(), root, tt.path, RenderOptions{
				Capabilities: caps("v1.37.2", append(builtin, tt.apis...)...),
				Helm:         tt.helm,
			})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]map[string]any{}
			for _, o := range r.Objects {
				got[o.Object.GetKind()+" "+o.Object.GetName()] = o.Object.Object
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("driftwatch's rendering differs from the helm CLI's (-helm +driftwatch):\n%s", d)
			}
		})
	}
}

// TestRenderChartTrailingBlockScalar: a template that ends on a block
// scalar with no newline after it (velero's repository-maintenance
// ConfigMap, kyverno's CA certificates) keeps the final newline helm's
// install gives it: helm writes every manifest followed by a newline and
// installs what it parses from that text.
func TestRenderChartTrailingBlockScalar(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"c/Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\n",
		"c/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  global: |\n" +
			"    {{- dict \"keep\" 3 | toPrettyJson | nindent 4 }}",
	})
	r, err := RenderWith(context.Background(), dir, "c", RenderOptions{Capabilities: caps("v1.37.2", "v1")})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Objects) != 1 {
		t.Fatalf("rendered %d objects, want 1", len(r.Objects))
	}
	got, _, _ := unstructured.NestedString(r.Objects[0].Object.Object, "data", "global")
	if want := "{\n  \"keep\": 3\n}\n"; got != want {
		t.Errorf("data.global = %q, want %q (as helm installs it)", got, want)
	}
}
