package gitsource

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/driftwatch/driftwatch/gitsource/helmchart/chartrepotest"
)

// caps returns a Capabilities func for a cluster of that version serving
// those API versions.
func caps(version string, apis ...string) func(context.Context) (Capabilities, error) {
	return func(context.Context) (Capabilities, error) {
		return Capabilities{KubeVersion: version, APIVersions: apis, Namespace: "shop"}, nil
	}
}

// summary lists rendered objects as "origin apiVersion Kind name".
func summary(objs []Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, fmt.Sprintf("%s %s %s %s", o.Origin, o.Object.GetAPIVersion(), o.Object.GetKind(), o.Object.GetName()))
	}
	return out
}

func field(t *testing.T, objs []Object, kind, name string, path ...string) any {
	t.Helper()
	for _, o := range objs {
		if o.Object.GetKind() != kind || o.Object.GetName() != name {
			continue
		}
		var v any = o.Object.Object
		for _, p := range path {
			switch x := v.(type) {
			case map[string]any:
				v = x[p]
			case []any:
				var i int
				fmt.Sscan(p, &i)
				v = x[i]
			}
		}
		return v
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

func TestRenderChart(t *testing.T) {
	modern := caps("v1.37.2", "v1", "apps/v1", "policy/v1", "policy/v1/PodDisruptionBudget")
	tests := []struct {
		name    string
		ro      RenderOptions
		want    []string
		skipped []Skipped
		check   func(t *testing.T, objs []Object)
	}{{
		name: "values files in order, capabilities of a current cluster, subchart, CRDs, hooks and tests left out",
		ro: RenderOptions{Capabilities: modern, Helm: HelmOptions{
			ReleaseName: "shop", ValuesFiles: []string{"webapp/values-prod.yaml", "webapp/values-extra.yaml"},
		}},
		want: []string{
			"webapp/crds/widgets.yaml apiextensions.k8s.io/v1 CustomResourceDefinition widgets.webapp.example.com",
			"webapp/templates/pdb.yaml policy/v1 PodDisruptionBudget shop-webapp",
			"webapp/charts/cache/templates/configmap.yaml v1 ConfigMap shop-cache",
			"webapp/templates/service.yaml v1 Service shop-webapp",
			"webapp/templates/deployment.yaml apps/v1 Deployment shop-webapp",
		},
		skipped: []Skipped{
			{Kind: "Pod", Name: "shop-webapp-test", Origin: "webapp/templates/tests/test-connection.yaml", Reason: "helm test"},
			{Kind: "Job", Name: "shop-webapp-migrate", Origin: "webapp/templates/migrate-job.yaml", Reason: "helm hook pre-install,pre-upgrade"},
		},
		check: func(t *testing.T, objs []Object) {
			c := field(t, objs, "Deployment", "shop-webapp", "spec", "template", "spec", "containers", "0")
			got := map[string]any{
				"replicas": field(t, objs, "Deployment", "shop-webapp", "spec", "replicas"),
				"image":    c.(map[string]any)["image"],
				"env":      c.(map[string]any)["env"],
				"cache":    field(t, objs, "ConfigMap", "shop-cache", "data"),
			}
			want := map[string]any{
				"replicas": int64(3), "image": "registry.example/webapp:2.4.1-hotfix",
				"env": []any{
					map[string]any{"name": "GREETING", "value": "hello from values-extra"},
					map[string]any{"name": "KUBE_MINOR", "value": "37"},
				},
				"cache": map[string]any{"maxmemory": "128mb", "features": "sidecar-containers"},
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("rendered values (-want +got):\n%s", d)
			}
			for _, o := range objs {
				if o.DefaultNamespace != "shop" {
					t.Errorf("%s: DefaultNamespace %q, want the cluster's shop", o.Origin, o.DefaultNamespace)
				}
			}
		},
	}, {
		name: "an older cluster without policy/v1: the chart's other branch; --set turns the subchart off; CRDs skipped",
		ro: RenderOptions{Capabilities: caps("v1.28.4", "v1", "apps/v1", "policy/v1beta1"), Helm: HelmOptions{
			Values: map[string]any{"cache": map[string]any{"enabled": false}}, SkipCRDs: true, Namespace: "web",
		}},
		want: []string{
			"webapp/templates/pdb.yaml policy/v1beta1 PodDisruptionBudget webapp-webapp",
			"webapp/templates/service.yaml v1 Service webapp-webapp",
			"webapp/templates/deployment.yaml apps/v1 Deployment webapp-webapp",
		},
		skipped: []Skipped{
			{Kind: "Pod", Name: "webapp-webapp-test", Origin: "webapp/templates/tests/test-connection.yaml", Reason: "helm test"},
			{Kind: "Job", Name: "webapp-webapp-migrate", Origin: "webapp/templates/migrate-job.yaml", Reason: "helm hook pre-install,pre-upgrade"},
		},
		check: func(t *testing.T, objs []Object) {
			if got := objs[0].DefaultNamespace; got != "web" {
				t.Errorf("DefaultNamespace = %q, want the release namespace web", got)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := RenderWith(context.Background(), filepath.Join("..", "testdata", "helm"), "webapp", tt.ro)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, summary(r.Objects)); d != "" {
				t.Errorf("objects (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.skipped, r.Skipped); d != "" {
				t.Errorf("skipped (-want +got):\n%s", d)
			}
			if tt.check != nil {
				tt.check(t, r.Objects)
			}
		})
	}
}

// TestRenderChartIngressNginx renders a real third-party chart, vendored
// unchanged: its admission webhook Jobs are hooks, left out and counted.
func TestRenderChartIngressNginx(t *testing.T) {
	r, err := RenderWith(context.Background(), filepath.Join("..", "testdata", "helm"), "ingress-nginx", RenderOptions{
		Capabilities: caps("v1.37.2", "v1", "apps/v1", "networking.k8s.io/v1", "policy/v1", "admissionregistration.k8s.io/v1"),
		Helm:         HelmOptions{ReleaseName: "edge", Namespace: "ingress"},
	})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, o := range r.Objects {
		kinds[o.Object.GetKind()]++
	}
	want := map[string]int{
		"ClusterRole": 1, "ClusterRoleBinding": 1, "ConfigMap": 1, "Deployment": 1, "IngressClass": 1,
		"Role": 1, "RoleBinding": 1, "Service": 2, "ServiceAccount": 1, "ValidatingWebhookConfiguration": 1,
	}
	if d := cmp.Diff(want, kinds); d != "" {
		t.Errorf("kinds (-want +got):\n%s", d)
	}
	reasons := map[string]int{}
	for _, s := range r.Skipped {
		reasons[s.Reason]++
	}
	if reasons["helm hook pre-install,pre-upgrade"] == 0 || reasons["helm hook post-install,post-upgrade"] == 0 {
		t.Errorf("skipped = %v, want the admission webhook's pre- and post-install hooks", reasons)
	}
}

// writeTree writes files (name → content) under a new directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for n, c := range files {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var libChart = map[string]string{
	"Chart.yaml":               "apiVersion: v2\nname: lib\nversion: 1.0.0\n",
	"values.yaml":              "color: blue\n",
	"templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-lib\ndata:\n  color: {{ .Values.color }}\n",
}

// TestRenderChartRemote: dependencies and kustomize helmCharts: from a
// chart repository with basic auth and from an OCI registry, both real
// servers on 127.0.0.1.
func TestRenderChartRemote(t *testing.T) {
	repo := chartrepotest.NewRepo(t, chartrepotest.Options{Username: "helm", Password: "s3cret"})
	repo.Add(t, libChart)
	reg := chartrepotest.NewRegistry(t, chartrepotest.Options{})
	reg.Push(t, "charts", libChart)
	repoConfig := func(password string) string {
		p := filepath.Join(t.TempDir(), "repositories.yaml")
		body := fmt.Sprintf("apiVersion: \"\"\nrepositories:\n- name: team\n  url: %s\n  username: helm\n  password: %s\n", repo.URL, password)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	app := func(repository string) map[string]string {
		return map[string]string{
			"app/Chart.yaml":  "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n- name: lib\n  version: ^1.0.0\n  repository: '" + repository + "'\n",
			"app/values.yaml": "lib:\n  color: green\n",
		}
	}
	kust := func(repoURL string) map[string]string {
		return map[string]string{"k/kustomization.yaml": "namePrefix: team-\nhelmCharts:\n- name: lib\n  repo: " + repoURL + "\n  version: 1.0.0\n  releaseName: edge\n  valuesInline: {color: red}\n"}
	}
	tests := []struct {
		name, path, password string
		files                map[string]string
		want, wantErr        string
	}{
		{name: "dependency from a chart repository with basic auth", path: "app", files: app(repo.URL), password: "s3cret", want: "app-lib green"},
		{name: "dependency named by repository alias", path: "app", files: app("@team"), password: "s3cret", want: "app-lib green"},
		{name: "wrong password", path: "app", files: app(repo.URL), password: "nope", wantErr: "credentials were refused"},
		{name: "dependency from an OCI registry", path: "app", files: app("oci://" + reg.Host + "/charts"), want: "app-lib green"},
		{name: "kustomize helmCharts from a chart repository, then namePrefix", path: "k", files: kust(repo.URL), password: "s3cret", want: "team-edge-lib red"},
		{name: "kustomize helmCharts from an OCI registry", path: "k", files: kust("oci://" + reg.Host + "/charts"), want: "team-edge-lib red"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeTree(t, tt.files)
			ro := RenderOptions{Helm: HelmOptions{Repositories: Repositories{RepositoryConfig: repoConfig(tt.password), CacheDir: t.TempDir()}}}
			r, err := RenderWith(context.Background(), root, tt.path, ro)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error = %v, want one line containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range r.Objects {
				got = append(got, o.Object.GetName()+" "+fmt.Sprint(field(t, r.Objects, "ConfigMap", o.Object.GetName(), "data", "color")))
			}
			if d := cmp.Diff([]string{tt.want}, got); d != "" {
				t.Errorf("objects (-want +got):\n%s", d)
			}
		})
	}
}

// TestRenderChartErrors: bad input gets one line naming the cause.
func TestRenderChartErrors(t *testing.T) {
	chart := func(extra map[string]string) map[string]string {
		files := map[string]string{
			"c/Chart.yaml":          "apiVersion: v2\nname: c\nversion: 1.0.0\n",
			"c/templates/cm.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
			"outside/values.yaml":   "x: 1\n",
			"k/kustomization.yaml":  "helmCharts:\n- name: c\n",
			"k/charts/.placeholder": "",
		}
		for k, v := range extra {
			files[k] = v
		}
		return files
	}
	tests := []struct {
		name, path string
		files      map[string]string
		ro         RenderOptions
		symlink    [2]string
		wantErr    string
	}{
		{name: "missing values file", path: "c", files: chart(nil), ro: RenderOptions{Helm: HelmOptions{ValuesFiles: []string{"c/values-prod.yaml"}}},
			wantErr: "values file c/values-prod.yaml: not found in the source"},
		{name: "template error names the template and line", path: "c", files: chart(map[string]string{"c/templates/bad.yaml": "a: 1\nb: {{ .Values.missing.deeper }}\n"}),
			wantErr: "c/templates/bad.yaml:2:"},
		{name: "a chart needing a newer Kubernetes", path: "c", files: chart(map[string]string{"c/Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\nkubeVersion: '>=1.40.0-0'\n"}),
			ro: RenderOptions{Capabilities: caps("v1.37.2")}, wantErr: "chart c 1.0.0 requires kubeVersion >=1.40.0-0, which Kubernetes v1.37.2 does not satisfy"},
		{name: "a missing dependency", path: "c", files: chart(map[string]string{"c/Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\ndependencies:\n- name: sub\n  version: 1.0.0\n  repository: file://../sub\n"}),
			wantErr: "dependency sub: no Chart.yaml at sub"},
		{name: "a file:// dependency out of the root", path: "c", files: chart(map[string]string{"c/Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\ndependencies:\n- name: sub\n  version: 1.0.0\n  repository: file://../../sub\n"}),
			wantErr: "path escapes the repository root"},
		{name: "a symbolic link out of the root", path: "c", files: chart(nil), symlink: [2]string{"/etc/hostname", "c/templates/host.yaml"},
			wantErr: "path escapes the repository root"},
		{name: "values file outside the root", path: "c", files: chart(nil), ro: RenderOptions{Helm: HelmOptions{ValuesFiles: []string{"../x.yaml"}}},
			wantErr: "values file ../x.yaml: path escapes the repository root"},
		{name: "helmCharts without the chart nor a repo", path: "k", files: chart(nil), wantErr: "kustomization k/kustomization.yaml: helmCharts c: no chart at k/charts/c and no repo: to fetch it from"},
		{name: "--render helm where there is no chart", path: "outside", files: chart(nil), ro: RenderOptions{Mode: RenderHelm}, wantErr: "--render helm: no Chart.yaml there"},
		{name: "bad --set value type against the schema", path: "c", files: chart(map[string]string{"c/values.schema.json": `{"type":"object","properties":{"replicas":{"type":"integer"}}}`}),
			ro: RenderOptions{Helm: HelmOptions{Values: map[string]any{"replicas": "three"}}}, wantErr: "values don't meet the specifications of the schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeTree(t, tt.files)
			if tt.symlink[0] != "" {
				if err := os.Symlink(tt.symlink[0], filepath.Join(root, tt.symlink[1])); err != nil {
					t.Fatal(err)
				}
			}
			_, err := RenderWith(context.Background(), root, tt.path, tt.ro)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error = %v, want one line containing %q", err, tt.wantErr)
			}
		})
	}
}
