package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftwatch/driftwatch/drift"
)

// helmTestdata is the directory of the test charts.
var helmTestdata = filepath.Join("..", "..", "testdata", "helm")

// installWebapp installs driftwatch's own test chart as release "shop"
// with the Helm SDK, as `helm install` does (see helmSDKInstall).
func installWebapp(t *testing.T, ns string) {
	t.Helper()
	_, cfg := helmSDKInstall(t, helmRelease{Chart: filepath.Join(helmTestdata, "webapp"), Name: "shop", Namespace: ns,
		Values: []string{"values-prod.yaml", "values-extra.yaml"}})
	t.Cleanup(func() { helmSDKUninstall(t, cfg, "shop") })
}

func checkChart(t *testing.T, ns string, extra ...string) result {
	t.Helper()
	args := append([]string{"check", "--dir", filepath.Join("..", "..", "testdata", "helm"),
		"--kubeconfig", kubeconfig, "-n", ns, "-o", "json"}, extra...)
	return runCLI(t, args...)
}

// TestCheckHelmChart: driftwatch's own chart (a subchart, conditionals on
// .Capabilities, two values files, a hook and a test Pod) installed as
// helm would: in sync, hooks counted; then edits are found at their paths.
func TestCheckHelmChart(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	ctx := context.Background()
	installWebapp(t, ns)
	flags := []string{"--path", "webapp", "--helm-release", "shop", "--values", "webapp/values-prod.yaml", "--values", "webapp/values-extra.yaml"}
	config := filepath.Join(t.TempDir(), "source.yaml")
	if err := os.WriteFile(config, []byte("render: helm\nhelm:\n  releaseName: shop\n  valuesFiles: [webapp/values-prod.yaml, webapp/values-extra.yaml]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	byConfig := []string{"--path", "webapp", "--source-config", config}
	for _, args := range [][]string{flags, byConfig} {
		r := checkChart(t, ns, args...)
		if r.code != exitInSync {
			t.Fatalf("%v: exit %d, want 0 (in sync)\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
		rep := parseReport(t, r)
		want := map[string]drift.Status{
			"CustomResourceDefinition widgets.webapp.example.com": drift.InSync, "PodDisruptionBudget shop-webapp": drift.InSync,
			"ConfigMap shop-cache": drift.InSync, "Service shop-webapp": drift.InSync, "Deployment shop-webapp": drift.InSync,
		}
		if d := cmp.Diff(want, statuses(rep)); d != "" {
			t.Errorf("statuses (-want +got):\n%s", d)
		}
		if d := cmp.Diff(map[string]int{"helm test": 1, "helm hook pre-install,pre-upgrade": 1}, rep.Source.Skipped); d != "" {
			t.Errorf("skipped (-want +got):\n%s", d)
		}
	}

	// Drift: a replica count and the subchart's ConfigMap, by hand.
	if err := kube.Edit(ctx, "kubectl-edit", gvkDeployment, ns, "shop-webapp", func(u *unstructured.Unstructured) error {
		return unstructured.SetNestedField(u.Object, int64(7), "spec", "replicas")
	}); err != nil {
		t.Fatal(err)
	}
	if err := kube.Edit(ctx, "kubectl-edit", gvkConfigMap, ns, "shop-cache", func(u *unstructured.Unstructured) error {
		return unstructured.SetNestedField(u.Object, "1gb", "data", "maxmemory")
	}); err != nil {
		t.Fatal(err)
	}
	r := checkChart(t, ns, flags...)
	if r.code != exitDrift {
		t.Fatalf("exit %d, want 1\nstderr: %s", r.code, r.stderr)
	}
	got := map[string][]string{}
	for _, res := range parseReport(t, r).Resources {
		for _, d := range res.Diffs {
			by := ""
			if d.ChangedBy != nil {
				by = d.ChangedBy.Manager
			}
			got[res.Kind+" "+res.Name] = append(got[res.Kind+" "+res.Name], d.Path+" by "+by)
		}
	}
	want := map[string][]string{
		"Deployment shop-webapp": {"spec.replicas by kubectl-edit"},
		"ConfigMap shop-cache":   {"data.maxmemory by kubectl-edit"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("drift (-want +got):\n%s", d)
	}

	// rbac covers what the chart renders.
	r = runCLI(t, "rbac", "--dir", filepath.Join("..", "..", "testdata", "helm"), "--path", "webapp", "--kubeconfig", kubeconfig, "-n", ns)
	if r.code != 0 {
		t.Fatalf("rbac: exit %d\nstderr: %s", r.code, r.stderr)
	}
	for _, res := range []string{"poddisruptionbudgets", "deployments", "configmaps", "customresourcedefinitions"} {
		if !strings.Contains(r.stdout, res) {
			t.Errorf("rbac output lacks %s:\n%s", res, r.stdout)
		}
	}
}

// ingressNginxConfigurations are the configurations of ingress-nginx the
// test installs: its defaults and five of the chart's own ci/ values files,
// each beside ingress-values.yaml (the admission webhook's failures
// ignored: nothing serves it here). The chart renders several maps with
// nothing under them (the controller Service's annotations, the
// ConfigMap's data) where helm then writes its release annotations.
// ci/admission-webhooks-cert-manager-values.yaml is left out: it renders
// cert-manager's Certificate and Issuer, kinds this cluster does not serve.
var ingressNginxConfigurations = []string{
	"",
	"ci/controller-configmap-values.yaml",
	"ci/controller-daemonset-metrics-values.yaml",
	"ci/controller-deployment-podannotations-values.yaml",
	"ci/controller-hpa-values.yaml",
	"ci/controller-service-internal-values.yaml",
}

// TestCheckHelmIngressNginx: a real third-party chart (ingress-nginx,
// Apache-2.0, vendored unchanged) installed by the Helm SDK's install
// action as `helm install` does, in six configurations: every object in
// sync (helm's release metadata under the chart's null maps is no drift),
// then a hand edit is found.
func TestCheckHelmIngressNginx(t *testing.T) {
	requireAPIServer(t)
	for _, ci := range ingressNginxConfigurations {
		name := "default"
		if ci != "" {
			name = strings.TrimSuffix(filepath.Base(ci), "-values.yaml")
		}
		t.Run(name, func(t *testing.T) {
			ns := newNamespace(t)
			ctx := context.Background()
			values := []string{filepath.Join("..", "ingress-values.yaml")}
			args := []string{"--path", "ingress-nginx", "--helm-release", "edge", "--helm-namespace", ns, "--values", "ingress-values.yaml"}
			if ci != "" {
				values = append(values, ci)
				args = append(args, "--values", "ingress-nginx/"+ci)
			}
			_, cfg := helmSDKInstall(t, helmRelease{Chart: filepath.Join(helmTestdata, "ingress-nginx"), Name: "edge", Namespace: ns, Values: values})
			// Uninstalled before the next configuration: its cluster-scoped
			// objects (IngressClass nginx, the webhook) are named alike.
			t.Cleanup(func() { helmSDKUninstall(t, cfg, "edge") })
			r := checkChart(t, ns, args...)
			if r.code != exitInSync {
				t.Fatalf("exit %d, want 0 (in sync)\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			rep := parseReport(t, r)
			for _, res := range rep.Resources {
				if res.Status != drift.InSync {
					t.Errorf("%s: %s, want in sync", res.ID(), res.Status)
				}
			}
			if len(rep.Resources) < 10 || rep.Source.Skipped["helm hook pre-install,pre-upgrade"] == 0 {
				t.Errorf("got %d resources, skipped %v; want the chart's objects and its webhook hooks counted", len(rep.Resources), rep.Source.Skipped)
			}
			if ci != "" {
				return
			}
			if err := kube.Edit(ctx, "kubectl-edit", gvkConfigMap, ns, "edge-ingress-nginx-controller", func(u *unstructured.Unstructured) error {
				return unstructured.SetNestedField(u.Object, "true", "data", "use-forwarded-headers")
			}); err != nil {
				t.Fatal(err)
			}
			r = checkChart(t, ns, args...)
			if r.code != exitDrift {
				t.Fatalf("exit %d, want 1\nstderr: %s", r.code, r.stderr)
			}
			var got []string
			for _, res := range parseReport(t, r).Resources {
				for _, d := range res.Diffs {
					got = append(got, res.Kind+" "+res.Name+" "+d.Path+" "+string(d.Type))
				}
			}
			// The chart renders the ConfigMap's data as null (no opinion):
			// the key added by hand is found as Added, not the whole map.
			if d := cmp.Diff([]string{"ConfigMap edge-ingress-nginx-controller data.use-forwarded-headers Added"}, got); d != "" {
				t.Errorf("drift (-want +got):\n%s", d)
			}
		})
	}
}

// TestCheckHelmBadInput: bad Helm input is one line naming the cause, exit 2.
func TestCheckHelmBadInput(t *testing.T) {
	requireAPIServer(t)
	dir := filepath.Join("..", "..", "testdata", "helm")
	typo := filepath.Join(t.TempDir(), "source.yaml")
	if err := os.WriteFile(typo, []byte("helm:\n  releseName: shop\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"missing values file", []string{"--path", "webapp", "--values", "webapp/values-staging.yaml"}, "values file webapp/values-staging.yaml: not found in the source"},
		{"bad --render", []string{"--path", "webapp", "--render", "jsonnet"}, "flag --render: render mode \"jsonnet\""},
		{"bad --set", []string{"--path", "webapp", "--set", "replicas"}, `flag --set "replicas": key "replicas" has no value`},
		{"unknown field in the source config", []string{"--path", "webapp", "--source-config", typo}, `unknown field "releseName"`},
		{"a chart needing a newer Kubernetes than the cluster's", []string{"--path", "future"}, "chart future 0.1.0 requires kubeVersion >=1.99.0-0, which Kubernetes v1.37.2 does not satisfy"},
		{"a template error names the template and line", []string{"--path", "webapp", "--set", "image=flat"}, "webapp/templates/migrate-job.yaml:14:28"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, append([]string{"check", "--dir", dir, "--kubeconfig", kubeconfig, "-n", "default"}, tt.args...)...)
			msg := strings.TrimSpace(r.stderr)
			if r.code != exitError || !strings.Contains(msg, tt.wantErr) || strings.Count(msg, "\n") > 0 {
				t.Fatalf("exit %d, stderr %q; want exit 2 and one line containing %q", r.code, msg, tt.wantErr)
			}
		})
	}
}

// TestWatchHelmChart: watch renders a chart for the cluster too, counts its
// hooks, and reports a hand edit of a subchart's object.
func TestWatchHelmChart(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	installWebapp(t, ns)
	d := startWatch(t, "--dir", filepath.Join("..", "..", "testdata", "helm"), "--path", "webapp", "-n", ns,
		"--helm-release", "shop", "--values", "webapp/values-prod.yaml", "--values", "webapp/values-extra.yaml", "--interval", "200ms")
	eventually(t, "the chart in sync, hooks counted", d, func() bool {
		r := d.report(t, "")
		res := resourceOf(r, "Deployment", "shop-webapp")
		return res != nil && res.Status == drift.InSync && r.Summary.InSync == 5 && r.Source.Skipped["helm test"] == 1
	})
	if err := kube.Edit(context.Background(), "kubectl-edit", gvkConfigMap, ns, "shop-cache", func(u *unstructured.Unstructured) error {
		return unstructured.SetNestedField(u.Object, "2gb", "data", "maxmemory")
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the subchart's ConfigMap drifted", d, func() bool {
		res := resourceOf(d.report(t, ""), "ConfigMap", "shop-cache")
		return res != nil && res.Status == drift.Drifted && len(res.Diffs) == 1 && res.Diffs[0].Path == "data.maxmemory"
	})
	if code := d.stop(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
