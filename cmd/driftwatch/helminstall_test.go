package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/loader"
	"helm.sh/helm/v4/pkg/cli"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/getter"
	helmkube "helm.sh/helm/v4/pkg/kube"
	release "helm.sh/helm/v4/pkg/release/v1"
)

// helmRelease is how a test installs a chart: what `helm install RELEASE
// CHART --namespace NAMESPACE --no-hooks --values ... --set ...` is told.
type helmRelease struct {
	// Chart is the chart's directory.
	Chart     string
	Name      string
	Namespace string
	// Values are values files, relative to Chart.
	Values []string
	// Set are --set assignments.
	Set []string
	// CreateNamespace creates Namespace (helm's --create-namespace).
	CreateNamespace bool
}

// helmSDKInstall installs r with the Helm SDK's install action, the code
// `helm install` runs: helm renders the chart for the test API server's
// version and APIs, adds its release annotations and managed-by label to
// every object, applies them with server-side apply as field manager
// "helm", records the release in a Secret, and skips hooks (--no-hooks:
// nothing here would run them). The cluster then holds what a user's
// `helm install` makes, independently of driftwatch's renderer. The
// configuration it returns serves further actions (uninstall).
func helmSDKInstall(t *testing.T, r helmRelease) (*release.Release, *action.Configuration) {
	t.Helper()
	settings := cli.New()
	settings.KubeConfig = kubeconfig
	settings.SetNamespace(r.Namespace)
	cfg := action.NewConfiguration()
	if err := cfg.Init(settings.RESTClientGetter(), r.Namespace, "secret"); err != nil {
		t.Fatalf("helm configuration: %v", err)
	}
	opts := values.Options{Values: r.Set}
	for _, v := range r.Values {
		opts.ValueFiles = append(opts.ValueFiles, filepath.Join(r.Chart, v))
	}
	vals, err := opts.MergeValues(getter.All(settings))
	if err != nil {
		t.Fatalf("helm values: %v", err)
	}
	charter, err := loader.Load(r.Chart)
	if err != nil {
		t.Fatalf("helm load chart %s: %v", r.Chart, err)
	}
	ac, err := chart.NewAccessor(charter)
	if err != nil {
		t.Fatal(err)
	}
	if req := ac.MetaDependencies(); len(req) > 0 {
		if err := action.CheckDependencies(charter, req); err != nil {
			t.Fatalf("helm chart dependencies: %v", err)
		}
	}
	install := action.NewInstall(cfg)
	install.ReleaseName = r.Name
	install.Namespace = r.Namespace
	install.CreateNamespace = r.CreateNamespace
	install.DisableHooks = true
	install.WaitStrategy = helmkube.HookOnlyStrategy
	install.Timeout = 2 * time.Minute
	out, err := install.RunWithContext(context.Background(), charter, vals)
	if err != nil {
		t.Fatalf("helm install %s: %v", r.Name, err)
	}
	rel, ok := out.(*release.Release)
	if !ok {
		t.Fatalf("helm install returned a %T", out)
	}
	return rel, cfg
}

// helmSDKUninstall uninstalls a release as `helm uninstall --no-hooks`.
func helmSDKUninstall(t *testing.T, cfg *action.Configuration, name string) {
	t.Helper()
	u := action.NewUninstall(cfg)
	u.DisableHooks = true
	u.WaitStrategy = helmkube.HookOnlyStrategy
	u.Timeout = 2 * time.Minute
	if _, err := u.Run(name); err != nil {
		t.Errorf("helm uninstall %s: %v", name, err)
	}
}
