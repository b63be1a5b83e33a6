package deploy

// The Helm chart in chart/driftwatch, rendered in-process with the same
// renderer driftwatch uses for Helm sources (gitsource/helmchart: the Helm
// SDK's engine, values.schema.json enforced as helm install does) for each
// values file under chart/driftwatch/ci: its objects must be the
// kustomize overlays' (same Pods, same security settings, same RBAC), pass
// a strict server-side dry run in a namespace enforcing the restricted Pod
// Security Standard, and the daemon must run as the chart configures it.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource/gittest"
	"github.com/driftwatch/driftwatch/gitsource/helmchart"
	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

const (
	chartDir = "chart/driftwatch"
	// chartRelease is the release name and namespace of the renderings:
	// `helm install driftwatch deploy/chart/driftwatch -n driftwatch`
	// names the objects as deploy/ does.
	chartRelease = "driftwatch"
	// chartRulesFile is where the chart reads its alert rules from.
	chartRulesFile = "files/prometheus-rules.yaml"
)

// chartCIValues are the values files the chart is rendered with.
var chartCIValues = []string{"default-values.yaml", "cronjob-values.yaml", "daemon-single-values.yaml", "daemon-monitoring-values.yaml", "daemon-reports-values.yaml"}

// chartCRDs are the OpenReports CRDs the chart renders with
// reports.installCRDs, from files/crds (TestChartCRDsAreDeploys keeps them
// deploy/crds').
var chartCRDs = []string{"openreports.io_reports.yaml", "openreports.io_clusterreports.yaml"}

// reportRule is the rule reports.enabled adds to the ClusterRole: what
// `driftwatch rbac --reports openreports` grants.
var reportRule = rbacv1.PolicyRule{APIGroups: []string{"openreports.io"}, Resources: []string{"clusterreports", "reports"},
	Verbs: []string{"get", "list", "create", "patch", "delete"}}

// chartFiles reads the chart's files; with rules, they must hold the
// alert rules (TestChartRulesAreTheMixins keeps them the mixin's).
func chartFiles(t *testing.T, rules bool) []*archive.BufferedFile {
	t.Helper()
	var files []*archive.BufferedFile
	haveRules := false
	err := filepath.WalkDir(chartDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(chartDir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		haveRules = haveRules || rel == chartRulesFile
		files = append(files, &archive.BufferedFile{Name: rel, Data: data})
		return nil
	})
	if err != nil {
		t.Fatalf("read chart: %v", err)
	}
	if rules && !haveRules {
		t.Fatalf("the chart has no %s", chartRulesFile)
	}
	return files
}

// chartHasRules says whether the chart carries alert rules of its own.
func chartHasRules() bool {
	_, err := os.Stat(filepath.Join(chartDir, filepath.FromSlash(chartRulesFile)))
	return err == nil
}

// renderChart renders the chart as `helm template driftwatch
// deploy/chart/driftwatch -n driftwatch -f ci/<valuesFile> --set values`
// (valuesFile may be empty) and returns its objects.
func renderChart(t *testing.T, files []*archive.BufferedFile, valuesFile string, values map[string]any) ([]*unstructured.Unstructured, error) {
	t.Helper()
	o := helmchart.Options{ReleaseName: chartRelease, Namespace: namespace, Values: values}
	if valuesFile != "" {
		data, err := os.ReadFile(filepath.Join(chartDir, "ci", valuesFile))
		if err != nil {
			t.Fatal(err)
		}
		o.ValuesFiles = []helmchart.ValuesFile{{Name: valuesFile, Data: data}}
	}
	res, err := helmchart.Render(context.Background(), files, o)
	if err != nil {
		return nil, err
	}
	if len(res.Hooks) > 0 {
		t.Errorf("the chart has hooks: %+v", res.Hooks)
	}
	var objs []*unstructured.Unstructured
	for _, m := range res.Manifests {
		r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(m.Content)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", m.Template, err)
			}
			o := map[string]any{}
			if err := yaml.Unmarshal(doc, &o); err != nil {
				t.Fatalf("%s: %v\n%s", m.Template, err, doc)
			}
			if len(o) == 0 {
				continue
			}
			objs = append(objs, &unstructured.Unstructured{Object: o})
		}
	}
	return objs, nil
}

// mustRenderChart renders and fails the test on an error.
func mustRenderChart(t *testing.T, valuesFile string, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	objs, err := renderChart(t, chartFiles(t, true), valuesFile, values)
	if err != nil {
		t.Fatalf("render the chart with %s: %v", valuesFile, err)
	}
	return objs
}

// kinds lists the objects as Kind/name.
func kinds(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	slices.Sort(out)
	return out
}

// chartPod returns the Pod template of the rendering's workload.
func chartPod(t *testing.T, objs []*unstructured.Unstructured) corev1.PodTemplateSpec {
	t.Helper()
	for _, o := range objs {
		switch o.GetKind() {
		case "CronJob":
			var cj batchv1.CronJob
			find(t, objs, "CronJob", o.GetName(), &cj)
			return cj.Spec.JobTemplate.Spec.Template
		case "Deployment":
			var d appsv1.Deployment
			find(t, objs, "Deployment", o.GetName(), &d)
			return d.Spec.Template
		}
	}
	t.Fatalf("no CronJob or Deployment among %v", kinds(objs))
	return corev1.PodTemplateSpec{}
}

func envOf(c corev1.Container) map[string]corev1.EnvVar {
	m := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		m[e.Name] = e
	}
	return m
}

// checkChartObjects asserts what holds for every rendering: the objects in
// the release's namespace, the settings ConfigMap holding only DRIFTWATCH_
// variables, a rules file driftwatch accepts, and the Pod's security
// settings (those of deploy/overlays).
func checkChartObjects(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	cluster := map[string]bool{"ClusterRole": true, "ClusterRoleBinding": true, "CustomResourceDefinition": true}
	for _, o := range objs {
		if !cluster[o.GetKind()] && o.GetNamespace() != namespace {
			t.Errorf("%s %s: namespace %q, want %q", o.GetKind(), o.GetName(), o.GetNamespace(), namespace)
		}
		if o.GetKind() == "Namespace" || o.GetKind() == "Secret" {
			t.Errorf("the chart renders a %s (%s): namespaces are helm's, Secrets the user's", o.GetKind(), o.GetName())
		}
	}
	settings := findConfigMap(t, objs, "driftwatch-config")
	if settings.Data["DRIFTWATCH_REPO"] == "" {
		t.Error("driftwatch-config has no DRIFTWATCH_REPO")
	}
	for k := range settings.Data {
		if !strings.HasPrefix(k, "DRIFTWATCH_") {
			t.Errorf("driftwatch-config: key %q is not a DRIFTWATCH_ variable", k)
		}
	}
	rules := findConfigMap(t, objs, "driftwatch-rules")
	if _, err := drift.ParseConfig("driftwatch.yaml", []byte(rules.Data["driftwatch.yaml"])); err != nil {
		t.Errorf("driftwatch-rules driftwatch.yaml: %v", err)
	}

	pod := chartPod(t, objs)
	spec := pod.Spec
	if spec.ServiceAccountName != "driftwatch" {
		t.Errorf("serviceAccountName = %q, want driftwatch", spec.ServiceAccountName)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	psc, sc := spec.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatal("no Pod or container securityContext")
	}
	wantPSC := &corev1.PodSecurityContext{RunAsNonRoot: ptr(true), RunAsUser: ptr[int64](65532), RunAsGroup: ptr[int64](65532),
		FSGroup: ptr[int64](65532), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	if d := cmp.Diff(wantPSC, psc); d != "" {
		t.Errorf("Pod securityContext (-want +got):\n%s", d)
	}
	wantSC := &corev1.SecurityContext{RunAsNonRoot: ptr(true), RunAsUser: ptr[int64](65532), RunAsGroup: ptr[int64](65532),
		ReadOnlyRootFilesystem: ptr(true), AllowPrivilegeEscalation: ptr(false),
		Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	if d := cmp.Diff(wantSC, sc); d != "" {
		t.Errorf("container securityContext (-want +got):\n%s", d)
	}
	env := envOf(c)
	if got := env["XDG_CACHE_HOME"].Value; got != "/cache" {
		t.Errorf("XDG_CACHE_HOME = %q, want /cache", got)
	}
	for _, e := range c.Env {
		secret := strings.HasSuffix(e.Name, "_PASSWORD") || strings.HasSuffix(e.Name, "_TOKEN") || e.Name == "DRIFTWATCH_HASH_KEY"
		if secret && e.ValueFrom == nil {
			t.Errorf("%s has a literal value, not a Secret reference", e.Name)
		}
	}
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
	}
	for _, p := range []string{"/cache", "/tmp"} {
		if m, ok := mounts[p]; !ok || vols[m.Name].EmptyDir == nil {
			t.Errorf("%s is not an emptyDir", p)
		}
	}
	if m, ok := mounts["/etc/driftwatch"]; !ok || !m.ReadOnly || vols[m.Name].ConfigMap == nil || vols[m.Name].ConfigMap.Name != rules.Name {
		t.Errorf("/etc/driftwatch does not hold ConfigMap %s read-only", rules.Name)
	}
	if i := slices.Index(c.Args, "--config"); i < 0 || i+1 == len(c.Args) || c.Args[i+1] != "/etc/driftwatch/driftwatch.yaml" {
		t.Errorf("args %q lack --config /etc/driftwatch/driftwatch.yaml", c.Args)
	}
	if pod.Annotations["checksum/config"] == "" {
		t.Error("the Pod template has no checksum/config annotation (a settings change would not roll the Pods)")
	}
}

func ptr[T any](v T) *T { return &v }

// TestChartRender renders each values file under ci/ and checks what it
// configures.
func TestChartRender(t *testing.T) {
	for _, vf := range chartCIValues {
		t.Run(vf, func(t *testing.T) {
			objs := mustRenderChart(t, vf, nil)
			checkChartObjects(t, objs)
			pod := chartPod(t, objs)
			c := pod.Spec.Containers[0]
			args := strings.Join(c.Args, " ") + " "
			env := envOf(c)
			has := func(kind string) bool {
				return slices.ContainsFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() == kind })
			}
			t.Logf("%s: %v", vf, kinds(objs))
			switch vf {
			case "default-values.yaml", "daemon-monitoring-values.yaml":
				var d appsv1.Deployment
				find(t, objs, "Deployment", "driftwatch", &d)
				if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
					t.Errorf("replicas = %v, want 2", d.Spec.Replicas)
				}
				if !strings.Contains(args, "--leader-elect --leader-elect-namespace $(POD_NAMESPACE) ") {
					t.Errorf("args %q: two replicas without --leader-elect in the Pod's namespace", args)
				}
				var role rbacv1.Role
				find(t, objs, "Role", "driftwatch-leader-election", &role)
				want := []rbacv1.PolicyRule{{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}}}
				if d := cmp.Diff(want, role.Rules); d != "" {
					t.Errorf("leader election Role (-want +got):\n%s", d)
				}
				if !has("PodDisruptionBudget") {
					t.Error("two replicas and no PodDisruptionBudget")
				}
			}
			if vf != "daemon-reports-values.yaml" {
				settings := findConfigMap(t, objs, "driftwatch-config").Data
				if _, ok := settings["DRIFTWATCH_REPORTS"]; ok || has("CustomResourceDefinition") {
					t.Errorf("reports or CRDs without reports.enabled: %v, %v", settings, kinds(objs))
				}
				var cr rbacv1.ClusterRole
				find(t, objs, "ClusterRole", "driftwatch", &cr)
				if slices.ContainsFunc(cr.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.APIGroups, "openreports.io") }) {
					t.Errorf("report verbs without reports.enabled: %+v", cr.Rules)
				}
			}
			switch vf {
			case "default-values.yaml":
				if has("ServiceMonitor") || has("PrometheusRule") {
					t.Errorf("monitoring objects rendered by default: %v", kinds(objs))
				}
				if strings.Contains(args, "--auth-token-file") {
					t.Errorf("args %q: an auth token by default", args)
				}
			case "cronjob-values.yaml":
				var cj batchv1.CronJob
				find(t, objs, "CronJob", "driftwatch", &cj)
				js := cj.Spec.JobTemplate.Spec
				if cj.Spec.Schedule != "*/30 * * * *" || cj.Spec.TimeZone == nil || *cj.Spec.TimeZone != "Etc/UTC" ||
					js.BackoffLimit == nil || *js.BackoffLimit != 0 || js.ActiveDeadlineSeconds == nil || *js.ActiveDeadlineSeconds != 900 ||
					js.TTLSecondsAfterFinished == nil || *js.TTLSecondsAfterFinished != 86400 {
					t.Errorf("CronJob spec = %+v", cj.Spec)
				}
				if want := []string{"check", "--config", "/etc/driftwatch/driftwatch.yaml", "-o", "json"}; !slices.Equal(c.Args, want) {
					t.Errorf("args = %q, want %q", c.Args, want)
				}
				if has("Deployment") || has("Service") || has("Role") || has("PodDisruptionBudget") {
					t.Errorf("daemon objects in cronjob mode: %v", kinds(objs))
				}
				settings := findConfigMap(t, objs, "driftwatch-config").Data
				want := map[string]string{
					"DRIFTWATCH_REPO": "oci://registry.example.com/platform/shop-deploy:production", "DRIFTWATCH_PATH": "charts/shop",
					"DRIFTWATCH_RENDER": "helm", "DRIFTWATCH_SOURCE_CONFIG": "/etc/driftwatch-source/source.yaml",
					"DRIFTWATCH_SYNC_TIMEOUT": "2m", "DRIFTWATCH_GIT_TIMEOUT": "5m",
				}
				if d := cmp.Diff(want, settings); d != "" {
					t.Errorf("driftwatch-config (-want +got):\n%s", d)
				}
				source := findConfigMap(t, objs, "driftwatch-source").Data["source.yaml"]
				if !strings.Contains(source, "releaseName: shop") {
					t.Errorf("driftwatch-source source.yaml = %q", source)
				}
				for name, key := range map[string]string{"DRIFTWATCH_REGISTRY_USERNAME": "username", "DRIFTWATCH_REGISTRY_PASSWORD": "password"} {
					if r := env[name].ValueFrom; r == nil || r.SecretKeyRef == nil || r.SecretKeyRef.Name != "driftwatch-registry" || r.SecretKeyRef.Key != key {
						t.Errorf("%s does not come from Secret driftwatch-registry key %s", name, key)
					}
				}
				if env["SOPS_AGE_KEY_FILE"].Value != "/etc/driftwatch-sops/keys.txt" {
					t.Errorf("SOPS_AGE_KEY_FILE = %q", env["SOPS_AGE_KEY_FILE"].Value)
				}
				var sops, src bool
				for _, v := range pod.Spec.Volumes {
					sops = sops || v.Secret != nil && v.Secret.SecretName == "driftwatch-sops-age"
					src = src || v.ConfigMap != nil && v.ConfigMap.Name == "driftwatch-source"
				}
				if !sops || !src {
					t.Errorf("volumes %+v lack Secret driftwatch-sops-age or ConfigMap driftwatch-source", pod.Spec.Volumes)
				}
				if _, ok := pod.Annotations["prometheus.io/scrape"]; ok {
					t.Error("scrape annotations on the CronJob's Pods, which serve nothing")
				}
			case "daemon-single-values.yaml":
				var d appsv1.Deployment
				find(t, objs, "Deployment", "driftwatch", &d)
				if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
					t.Errorf("replicas = %v, want 1", d.Spec.Replicas)
				}
				if strings.Contains(args, "--leader-elect") || has("Role") || has("RoleBinding") || has("PodDisruptionBudget") {
					t.Errorf("one replica with leader election or a PodDisruptionBudget: args %q, objects %v", args, kinds(objs))
				}
				for _, want := range []string{"watch --listen :8080 ", "--log-format text ", "--webhook https://hooks.example.com/drift ", "--notify-on warning ", "--workers 4 "} {
					if !strings.Contains(args, want) {
						t.Errorf("args %q lack %q", args, want)
					}
				}
				var svc corev1.Service
				find(t, objs, "Service", "driftwatch", &svc)
				if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 80 || svc.Spec.Ports[0].TargetPort.StrVal != "http" {
					t.Errorf("Service ports = %+v, want 80 -> http", svc.Spec.Ports)
				}
				if pod.Annotations["team"] != "platform" || pod.Annotations["prometheus.io/scrape"] != "true" {
					t.Errorf("Pod annotations = %v", pod.Annotations)
				}
				if pod.Spec.NodeSelector["kubernetes.io/os"] != "linux" || len(pod.Spec.Tolerations) != 1 {
					t.Errorf("nodeSelector %v, tolerations %v", pod.Spec.NodeSelector, pod.Spec.Tolerations)
				}
			case "daemon-monitoring-values.yaml":
				if !strings.Contains(args, "--auth-token-file /etc/driftwatch-auth/token ") {
					t.Errorf("args %q lack --auth-token-file", args)
				}
				var tokenVol bool
				for _, v := range pod.Spec.Volumes {
					tokenVol = tokenVol || v.Secret != nil && v.Secret.SecretName == "driftwatch-auth" &&
						slices.Equal(v.Secret.Items, []corev1.KeyToPath{{Key: "token", Path: "token"}})
				}
				if !tokenVol {
					t.Errorf("no volume of Secret driftwatch-auth key token: %+v", pod.Spec.Volumes)
				}
				if _, ok := pod.Annotations["prometheus.io/scrape"]; ok {
					t.Error("scrape annotations with metrics.scrapeAnnotations false")
				}
				var cr rbacv1.ClusterRole
				find(t, objs, "ClusterRole", "driftwatch", &cr)
				if len(cr.Rules) != 3 || !slices.Equal(cr.Rules[0].Resources, []string{"configmaps"}) {
					t.Errorf("ClusterRole rules = %+v, want rbac.rules", cr.Rules)
				}
				sm := findObject(t, objs, "ServiceMonitor")
				ep, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
				want := []any{map[string]any{"port": "http", "path": "/metrics", "interval": "1m", "honorLabels": true,
					"authorization": map[string]any{"type": "Bearer", "credentials": map[string]any{"name": "driftwatch-auth", "key": "token"}}}}
				if d := cmp.Diff(want, ep); d != "" {
					t.Errorf("ServiceMonitor endpoints (-want +got):\n%s", d)
				}
				if sm.GetLabels()["release"] != "prometheus" {
					t.Errorf("ServiceMonitor labels = %v", sm.GetLabels())
				}
				var svc corev1.Service
				find(t, objs, "Service", "driftwatch", &svc)
				sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
				for k, v := range sel {
					if svc.Labels[k] != v {
						t.Errorf("ServiceMonitor selector %s=%s does not match the Service's labels %v", k, v, svc.Labels)
					}
				}
				pr := findObject(t, objs, "PrometheusRule")
				if groups, _, _ := unstructured.NestedSlice(pr.Object, "spec", "groups"); len(groups) == 0 {
					t.Error("PrometheusRule has no groups")
				}
				if !chartHasRules() {
					// Without the chart's own rules file, none is rendered.
					plain, err := renderChart(t, chartFiles(t, false), vf, nil)
					if err != nil {
						t.Fatal(err)
					}
					if slices.ContainsFunc(plain, func(o *unstructured.Unstructured) bool { return o.GetKind() == "PrometheusRule" }) {
						t.Errorf("a PrometheusRule without %s", chartRulesFile)
					}
				}
			}
			if vf == "daemon-reports-values.yaml" {
				checkChartReports(t, objs, map[string]string{"DRIFTWATCH_REPORTS": "openreports", "DRIFTWATCH_REPORTS_INTERVAL": "2s"}, 4)
				var crds []string
				for _, o := range objs {
					if o.GetKind() != "CustomResourceDefinition" {
						continue
					}
					crds = append(crds, o.GetName())
					if o.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
						t.Errorf("CRD %s: annotations %v lack helm.sh/resource-policy: keep", o.GetName(), o.GetAnnotations())
					}
					want := deployCRD(t, o.GetName())
					if d := cmp.Diff(want.Object["spec"], o.Object["spec"]); d != "" {
						t.Errorf("CRD %s spec (-deploy/crds +chart):\n%s", o.GetName(), d)
					}
				}
				slices.Sort(crds)
				if want := []string{"clusterreports.openreports.io", "reports.openreports.io"}; !slices.Equal(crds, want) {
					t.Errorf("CRDs %q, want %q", crds, want)
				}
			}
			if pod.Spec.Containers[0].Image != "ghcr.io/driftwatch/driftwatch:dev" {
				t.Errorf("image = %q, want the appVersion tag", pod.Spec.Containers[0].Image)
			}
		})
	}
}

// checkChartReports checks what reports.enabled configures: the
// DRIFTWATCH_REPORTS* settings (and no other), and the report rule last of
// the ClusterRole's rules.
func checkChartReports(t *testing.T, objs []*unstructured.Unstructured, want map[string]string, rules int) {
	t.Helper()
	got := map[string]string{}
	for k, v := range findConfigMap(t, objs, "driftwatch-config").Data {
		if strings.HasPrefix(k, "DRIFTWATCH_REPORTS") {
			got[k] = v
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("DRIFTWATCH_REPORTS settings (-want +got):\n%s", d)
	}
	var cr rbacv1.ClusterRole
	find(t, objs, "ClusterRole", "driftwatch", &cr)
	if len(cr.Rules) != rules || cmp.Diff(reportRule, cr.Rules[len(cr.Rules)-1]) != "" {
		t.Errorf("ClusterRole rules = %+v, want %d rules ending with %+v", cr.Rules, rules, reportRule)
	}
}

// deployCRD reads the CRD named name from deploy/crds.
func deployCRD(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	for _, f := range chartCRDs {
		data, err := os.ReadFile(filepath.Join("crds", f))
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(data, &u.Object); err != nil {
			t.Fatalf("crds/%s: %v", f, err)
		}
		if u.GetName() == name {
			return u
		}
	}
	t.Fatalf("no CRD %s in deploy/crds", name)
	return nil
}

// TestChartReportsValues: reports.enabled adds the report rule to the
// default read-only rules too, and the cronjob gets DRIFTWATCH_REPORTS but
// no interval (check writes once per run); installCRDs alone renders the
// CRDs.
func TestChartReportsValues(t *testing.T) {
	repo := map[string]any{"repo": "https://git.example.com/x.git"}
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   map[string]string
		rules  int
	}{
		{"daemon, default rules", map[string]any{"source": repo, "reports": map[string]any{"enabled": true, "interval": "1m"}},
			map[string]string{"DRIFTWATCH_REPORTS": "openreports", "DRIFTWATCH_REPORTS_INTERVAL": "1m"}, 4},
		{"daemon, default interval", map[string]any{"source": repo, "reports": map[string]any{"enabled": true}},
			map[string]string{"DRIFTWATCH_REPORTS": "openreports"}, 4},
		{"cronjob", map[string]any{"source": repo, "mode": "cronjob", "reports": map[string]any{"enabled": true, "interval": "1m"}},
			map[string]string{"DRIFTWATCH_REPORTS": "openreports"}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := mustRenderChart(t, "", tc.values)
			checkChartObjects(t, objs)
			checkChartReports(t, objs, tc.want, tc.rules)
			if slices.ContainsFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() == "CustomResourceDefinition" }) {
				t.Errorf("CRDs without reports.installCRDs: %v", kinds(objs))
			}
		})
	}
	objs := mustRenderChart(t, "", map[string]any{"source": repo, "reports": map[string]any{"installCRDs": true}})
	if n := len(slices.DeleteFunc(kinds(objs), func(k string) bool { return !strings.HasPrefix(k, "CustomResourceDefinition/") })); n != 2 {
		t.Errorf("reports.installCRDs: %d CRDs among %v, want 2", n, kinds(objs))
	}
}

// TestChartCRDsAreDeploys: the chart's OpenReports CRDs are deploy/crds',
// byte for byte: copy them again when those change.
func TestChartCRDsAreDeploys(t *testing.T) {
	for _, f := range chartCRDs {
		want, err := os.ReadFile(filepath.Join("crds", f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(chartDir, "files", "crds", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s/files/crds/%s differs from crds/%s: cp deploy/crds/openreports.io_*.yaml deploy/%s/files/crds/", chartDir, f, f, chartDir)
		}
	}
}

// findObject returns the one object of kind.
func findObject(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind {
			return o
		}
	}
	t.Fatalf("no %s among %v", kind, kinds(objs))
	return nil
}

var generatedSuffix = regexp.MustCompile(`^(driftwatch-(?:config|rules|source))-[a-z0-9]{10}$`)

// normalizePod removes what legitimately differs between a kustomize Pod
// template and the chart's: kustomize's hash suffixes on ConfigMap names
// (the chart rolls the Pods with a checksum annotation instead), the
// chart's instance label in selectors and its annotations, and the
// explicit imagePullPolicy.
func normalizePod(p *corev1.PodTemplateSpec) {
	p.Labels = nil
	delete(p.Annotations, "checksum/config")
	if len(p.Annotations) == 0 {
		p.Annotations = nil
	}
	trim := func(s string) string { return generatedSuffix.ReplaceAllString(s, "$1") }
	for i := range p.Spec.Volumes {
		if cm := p.Spec.Volumes[i].ConfigMap; cm != nil {
			cm.Name = trim(cm.Name)
		}
	}
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		c.ImagePullPolicy = ""
		for j := range c.EnvFrom {
			if r := c.EnvFrom[j].ConfigMapRef; r != nil {
				r.Name = trim(r.Name)
			}
		}
	}
	for i := range p.Spec.TopologySpreadConstraints {
		p.Spec.TopologySpreadConstraints[i].LabelSelector = nil
	}
}

// TestChartMatchesOverlays: with the same settings, the chart renders the
// objects of deploy/overlays/daemon and deploy/overlays/cronjob: the same
// Pods (arguments, environment, probes, volumes, security settings,
// resources), the same workload settings, RBAC, Service and ConfigMaps.
func TestChartMatchesOverlays(t *testing.T) {
	for _, tc := range []struct {
		overlay string
		values  string
	}{
		{"overlays/daemon", `image: {tag: latest}`},
		{"overlays/cronjob", `
image: {tag: latest}
mode: cronjob
resources:
  requests: {cpu: 50m, memory: 128Mi}
  limits: {cpu: "1", memory: 512Mi}
`},
	} {
		t.Run(tc.overlay, func(t *testing.T) {
			kobjs := build(t, tc.overlay)
			settings := findConfigMap(t, kobjs, "driftwatch-config-").Data
			var values map[string]any
			if err := yaml.Unmarshal([]byte(tc.values), &values); err != nil {
				t.Fatal(err)
			}
			values["source"] = map[string]any{"repo": settings["DRIFTWATCH_REPO"], "ref": settings["DRIFTWATCH_REF"], "path": settings["DRIFTWATCH_PATH"]}
			hobjs := mustRenderChart(t, "", values)

			if d := cmp.Diff(settings, findConfigMap(t, hobjs, "driftwatch-config").Data); d != "" {
				t.Errorf("driftwatch-config (-overlay +chart):\n%s", d)
			}
			parse := func(s string) any {
				var v any
				if err := yaml.Unmarshal([]byte(s), &v); err != nil {
					t.Fatal(err)
				}
				return v
			}
			if d := cmp.Diff(parse(findConfigMap(t, kobjs, "driftwatch-rules-").Data["driftwatch.yaml"]),
				parse(findConfigMap(t, hobjs, "driftwatch-rules").Data["driftwatch.yaml"])); d != "" {
				t.Errorf("driftwatch.yaml (-overlay +chart):\n%s", d)
			}
			var kcr, hcr rbacv1.ClusterRole
			find(t, kobjs, "ClusterRole", "driftwatch", &kcr)
			find(t, hobjs, "ClusterRole", "driftwatch", &hcr)
			if d := cmp.Diff(kcr.Rules, hcr.Rules); d != "" {
				t.Errorf("ClusterRole rules (-overlay +chart):\n%s", d)
			}
			var kcrb, hcrb rbacv1.ClusterRoleBinding
			find(t, kobjs, "ClusterRoleBinding", "driftwatch", &kcrb)
			find(t, hobjs, "ClusterRoleBinding", "driftwatch", &hcrb)
			if d := cmp.Diff(kcrb.Subjects, hcrb.Subjects); d != "" || kcrb.RoleRef != hcrb.RoleRef {
				t.Errorf("ClusterRoleBinding (-overlay +chart):\n%s%+v %+v", d, kcrb.RoleRef, hcrb.RoleRef)
			}
			var ksa, hsa corev1.ServiceAccount
			find(t, kobjs, "ServiceAccount", "driftwatch", &ksa)
			find(t, hobjs, "ServiceAccount", "driftwatch", &hsa)

			switch tc.overlay {
			case "overlays/daemon":
				var kd, hd appsv1.Deployment
				find(t, kobjs, "Deployment", "driftwatch", &kd)
				find(t, hobjs, "Deployment", "driftwatch", &hd)
				for _, d := range []*appsv1.Deployment{&kd, &hd} {
					normalizePod(&d.Spec.Template)
					d.Spec.Selector = nil
				}
				if d := cmp.Diff(kd.Spec, hd.Spec); d != "" {
					t.Errorf("Deployment spec (-overlay +chart):\n%s", d)
				}
				var kr, hr rbacv1.Role
				find(t, kobjs, "Role", "driftwatch-leader-election", &kr)
				find(t, hobjs, "Role", "driftwatch-leader-election", &hr)
				if d := cmp.Diff(kr.Rules, hr.Rules); d != "" {
					t.Errorf("leader election Role (-overlay +chart):\n%s", d)
				}
				var ks, hs corev1.Service
				find(t, kobjs, "Service", "driftwatch", &ks)
				find(t, hobjs, "Service", "driftwatch", &hs)
				if d := cmp.Diff(ks.Spec.Ports, hs.Spec.Ports); d != "" || ks.Spec.Type != hs.Spec.Type {
					t.Errorf("Service (-overlay +chart):\n%s", d)
				}
			case "overlays/cronjob":
				var kc, hc batchv1.CronJob
				find(t, kobjs, "CronJob", "driftwatch", &kc)
				find(t, hobjs, "CronJob", "driftwatch", &hc)
				for _, c := range []*batchv1.CronJob{&kc, &hc} {
					normalizePod(&c.Spec.JobTemplate.Spec.Template)
					c.Spec.JobTemplate.Labels = nil
					if c.Spec.Suspend != nil && !*c.Spec.Suspend {
						c.Spec.Suspend = nil
					}
				}
				if d := cmp.Diff(kc.Spec, hc.Spec); d != "" {
					t.Errorf("CronJob spec (-overlay +chart):\n%s", d)
				}
			}
		})
	}
}

// TestChartSchema: values.schema.json rejects what would otherwise install
// something else than asked, with an error naming the value.
func TestChartSchema(t *testing.T) {
	files := chartFiles(t, true)
	for _, tc := range []struct {
		name   string
		values string
		want   []string
	}{
		{"unknown top-level key", "source: {repo: https://git.example.com/x.git}\nmodee: cronjob\n", []string{"modee"}},
		{"bad mode", "source: {repo: https://git.example.com/x.git}\nmode: cron\n", []string{"mode", "cron"}},
		{"misspelt nested key", "source: {repo: https://git.example.com/x.git, pth: prod}\n", []string{"pth"}},
		{"a secret value in values", "source: {repo: https://git.example.com/x.git}\ncredentials: {git: {secretName: driftwatch-git, token: s3cret}}\n", []string{"token"}},
		{"not a DRIFTWATCH_ variable", "source: {repo: https://git.example.com/x.git, extraEnv: {GIT_TOKEN: x}}\n", []string{"GIT_TOKEN"}},
		{"webhook not a URL", "source: {repo: https://git.example.com/x.git}\ndaemon: {webhooks: [hooks.example.com]}\n", []string{"webhooks"}},
		{"replicas as a string", "source: {repo: https://git.example.com/x.git}\ndaemon: {replicaCount: \"2\"}\n", []string{"replicaCount"}},
		{"no repo", "mode: cronjob\n", []string{"source.repo", "required"}},
		{"reports interval not a duration", "source: {repo: https://git.example.com/x.git}\nreports: {enabled: true, interval: soon}\n", []string{"interval"}},
		{"misspelt reports key", "source: {repo: https://git.example.com/x.git}\nreports: {enable: true}\n", []string{"enable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var values map[string]any
			if err := yaml.Unmarshal([]byte(tc.values), &values); err != nil {
				t.Fatal(err)
			}
			_, err := renderChart(t, files, "", values)
			if err == nil {
				t.Fatalf("values %q rendered, want an error", tc.values)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			t.Logf("%s: %v", tc.name, err)
		})
	}
}

// monitoringCRDs installs the fixture CRDs for ServiceMonitor and
// PrometheusRule once (see chart/testdata: a minimal structural stand-in
// for the Prometheus operator's).
var monitoringCRDs = sync.OnceValue(func() error {
	data, err := os.ReadFile("chart/testdata/monitoring.coreos.com-crds.yaml")
	if err != nil {
		return err
	}
	c, err := apiservertest.NewClient(env.Config)
	if err != nil {
		return err
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		o := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &o.Object); err != nil {
			return err
		}
		if err := c.Apply(context.Background(), "chart-test", "", o); err != nil {
			return err
		}
	}
})

// restrictedNamespace is the namespace helm install -n driftwatch
// --create-namespace makes, labelled as docs/in-cluster.md says.
func restrictedNamespace() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": namespace, "labels": map[string]any{
			"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest",
		}},
	}}
}

// TestChartServerDryRun sends every object of each rendering to the API
// server as a dry-run create with strict field validation and no warnings
// allowed, and its Pod template as a Pod, in a namespace enforcing the
// restricted Pod Security Standard (as TestOverlaysServerDryRun does).
func TestChartServerDryRun(t *testing.T) {
	requireAPIServer(t)
	if err := monitoringCRDs(); err != nil {
		t.Fatalf("install the monitoring.coreos.com fixture CRDs: %v", err)
	}
	for _, vf := range chartCIValues {
		t.Run(vf, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			objs := mustRenderChart(t, vf, nil)
			c, w := client(t)
			ensureNamespace(ctx, t, c, []*unstructured.Unstructured{restrictedNamespace()})
			w.Take()
			dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"}
			for _, o := range objs {
				id := fmt.Sprintf("%s %s/%s", o.GroupVersionKind(), o.GetNamespace(), o.GetName())
				ri, err := c.Resource(o.GroupVersionKind(), o.GetNamespace())
				if err != nil {
					t.Fatalf("%s: %v", id, err)
				}
				_, err = ri.Create(ctx, o, dry)
				if apierrors.IsAlreadyExists(err) && o.GetKind() == "CustomResourceDefinition" {
					// Installed for real by another test: a dry-run
					// update instead, as helm upgrade would send.
					var cur *unstructured.Unstructured
					if cur, err = ri.Get(ctx, o.GetName(), metav1.GetOptions{}); err == nil {
						u := o.DeepCopy()
						u.SetResourceVersion(cur.GetResourceVersion())
						_, err = ri.Update(ctx, u, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
					}
				}
				if err != nil {
					t.Errorf("dry-run create %s: %v", id, err)
				}
				if ws := w.Take(); len(ws) > 0 {
					t.Errorf("dry-run create %s: API server warnings: %q", id, ws)
				}
			}
			t.Logf("%s: %d objects dry-run created: %v", vf, len(objs), kinds(objs))

			u, err := apiservertest.PodFromTemplate("driftwatch-chart-pod", namespace, chartPod(t, objs))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.DryRunCreate(ctx, u); err != nil {
				t.Errorf("dry-run create of the Pod template as a Pod in the restricted namespace: %v", err)
			}
			if ws := w.Take(); len(ws) > 0 {
				t.Errorf("dry-run create of the Pod: API server warnings: %q", ws)
			}
		})
	}
}

// TestChartDaemonRuns installs the rendering of
// ci/daemon-monitoring-values.yaml (two replicas with leader election, an
// auth token, least-privilege rules) for real and runs the real binary as
// its Deployment starts it, as its service account: it becomes ready,
// reports the source in sync, requires the token, holds the Lease, and
// exits 0 on SIGTERM.
func TestChartDaemonRuns(t *testing.T) {
	requireAPIServer(t)
	if err := monitoringCRDs(); err != nil {
		t.Fatalf("install the monitoring.coreos.com fixture CRDs: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	objs := mustRenderChart(t, "daemon-monitoring-values.yaml", nil)
	c, _ := client(t)
	ensureNamespace(ctx, t, c, []*unstructured.Unstructured{restrictedNamespace()})
	for _, o := range objs {
		ri, err := c.Resource(o.GroupVersionKind(), o.GetNamespace())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ri.Create(ctx, o, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
			t.Fatalf("create %s %s: %v", o.GetKind(), o.GetName(), err)
		}
		t.Cleanup(func() {
			if err := ri.Delete(context.Background(), o.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("delete %s %s: %v", o.GetKind(), o.GetName(), err)
			}
		})
	}

	// The source: a Git repository behind basic auth holding one
	// ConfigMap, which the cluster has too.
	const gitUser, gitToken, apiToken = "driftwatch", "t0ken-from-the-secret", "api-t0ken"
	sourceURL := e2eSource(ctx, t, c, objs, gittest.Options{Username: gitUser, Password: gitToken})

	var d appsv1.Deployment
	find(t, objs, "Deployment", "driftwatch", &d)
	secrets := map[string]map[string]string{"driftwatch-git": {"username": gitUser, "token": gitToken}}
	cmd, args := containerCommand(t, driftwatchBinary(t), d.Spec.Template.Spec, objs, secrets, sourceURL, serviceAccountKubeconfig(t))
	// The kubelet would project key token of Secret driftwatch-auth there.
	i := slices.Index(args, "--auth-token-file")
	if i < 0 {
		t.Fatalf("args %q lack --auth-token-file", args)
	}
	if err := os.WriteFile(args[i+1], []byte(apiToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	addr, exited, dump := startDaemon(t, cmd, args)
	get := func(path, token string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			return 0, err.Error()
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// The probes need no token.
	c0 := d.Spec.Template.Spec.Containers[0]
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, body := get(c0.ReadinessProbe.HTTPGet.Path, "")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness probe %s: %d %s after 90s\n%s", c0.ReadinessProbe.HTTPGet.Path, code, body, dump())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, body := get(c0.LivenessProbe.HTTPGet.Path, ""); code != http.StatusOK {
		t.Errorf("liveness probe: %d %s", code, body)
	}
	if code, _ := get("/api/v1/report", ""); code != http.StatusUnauthorized {
		t.Errorf("/api/v1/report without the token: %d, want 401", code)
	}
	code, body := get("/api/v1/report", apiToken)
	var report struct{ Summary struct{ Total, InSync int } }
	if err := json.Unmarshal([]byte(body), &report); code != http.StatusOK || err != nil || report.Summary.Total != 1 || report.Summary.InSync != 1 {
		t.Errorf("/api/v1/report: %d %v, want 1 resource in sync\n%s\n%s", code, err, body, dump())
	}
	// What the ServiceMonitor scrapes, with the token it sends.
	sm := findObject(t, objs, "ServiceMonitor")
	ep, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	path, _, _ := unstructured.NestedString(ep[0].(map[string]any), "path")
	if code, body := get(path, apiToken); code != http.StatusOK || !strings.Contains(body, "driftwatch_resources") {
		t.Errorf("ServiceMonitor path %s: %d %.200s", path, code, body)
	}

	// It holds and renews the Lease with the chart's Role.
	awaitLeaseRenewed(ctx, t, deadline, dump)
	stopAsKubelet(t, cmd, exited, *d.Spec.Template.Spec.TerminationGracePeriodSeconds, dump)
}

// TestChartReportsRun installs the rendering of
// ci/daemon-reports-values.yaml for real, its OpenReports CRDs first, and
// runs the real binary as the Deployment starts it, as its service
// account (least-privilege rules plus the report rule): a Report appears
// in the namespace of the watched ConfigMap, saying it is in sync, and
// /metrics counts the writes.
func TestChartReportsRun(t *testing.T) {
	requireAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	objs := mustRenderChart(t, "daemon-reports-values.yaml", nil)
	c, _ := client(t)
	ensureNamespace(ctx, t, c, []*unstructured.Unstructured{restrictedNamespace()})
	reportsGVR := schema.GroupVersionResource{Group: "openreports.io", Version: "v1alpha1", Resource: "reports"}
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			// As helm installs them: applied (and established) first.
			if err := c.Apply(ctx, "helm", "", o); err != nil {
				t.Fatalf("apply CRD %s: %v", o.GetName(), err)
			}
			continue
		}
		ri, err := c.Resource(o.GroupVersionKind(), o.GetNamespace())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ri.Create(ctx, o, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
			t.Fatalf("create %s %s: %v", o.GetKind(), o.GetName(), err)
		}
		t.Cleanup(func() {
			if err := ri.Delete(context.Background(), o.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("delete %s %s: %v", o.GetKind(), o.GetName(), err)
			}
		})
	}
	t.Cleanup(func() {
		_ = dyn.Resource(reportsGVR).Namespace(namespace).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
	})

	// The source: a Git repository holding one ConfigMap, which the
	// cluster has too.
	sourceURL := e2eSource(ctx, t, c, objs, gittest.Options{})

	var d appsv1.Deployment
	find(t, objs, "Deployment", "driftwatch", &d)
	cmd, args := containerCommand(t, driftwatchBinary(t), d.Spec.Template.Spec, objs, nil, sourceURL, serviceAccountKubeconfig(t))
	addr, exited, dump := startDaemon(t, cmd, args)

	// The Report of namespace driftwatch: the ConfigMap in sync.
	deadline := time.Now().Add(90 * time.Second)
	var got *unstructured.Unstructured
	for got == nil {
		list, err := dyn.Resource(reportsGVR).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: "driftwatch.dev/policy"})
		if err == nil && len(list.Items) > 0 {
			got = &list.Items[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Report in namespace %s after 90s: %v\n%s", namespace, err, dump())
		}
		time.Sleep(200 * time.Millisecond)
	}
	results, _, _ := unstructured.NestedSlice(got.Object, "results")
	var subjects []string
	for _, r := range results {
		m, _ := r.(map[string]any)
		ss, _, _ := unstructured.NestedSlice(m, "resources")
		for _, s := range ss {
			sm, _ := s.(map[string]any)
			subjects = append(subjects, fmt.Sprintf("%v %v/%v: %v", sm["kind"], sm["namespace"], sm["name"], m["result"]))
		}
	}
	if want := []string{"ConfigMap driftwatch/e2e-settings: pass"}; !slices.Equal(subjects, want) {
		t.Errorf("Report %s results %q, want %q\n%v", got.GetName(), subjects, want, got.Object)
	}
	t.Logf("Report %s/%s: %q", got.GetNamespace(), got.GetName(), subjects)

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`(?m)^driftwatch_reports_writes_total [1-9]`).Match(body) {
		t.Errorf("/metrics has no driftwatch_reports_writes_total above 0:\n%s", grepLines(string(body), "driftwatch_reports_"))
	}

	stopAsKubelet(t, cmd, exited, *d.Spec.Template.Spec.TerminationGracePeriodSeconds, dump)
}

// grepLines returns the lines of s containing sub.
func grepLines(s, sub string) string {
	var out []string
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// TestChartDocValues renders the chart with the values example of
// docs/in-cluster.md ("Install with the Helm chart").
func TestChartDocValues(t *testing.T) {
	data, err := os.ReadFile("../docs/in-cluster.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Install with the Helm chart\n")
	if !ok {
		t.Fatal(`docs/in-cluster.md has no section "Install with the Helm chart"`)
	}
	_, block, ok := strings.Cut(section, "\n```yaml\n")
	if ok {
		block, _, ok = strings.Cut(block, "\n```\n")
	}
	if !ok {
		t.Fatal("the section has no yaml block")
	}
	var values map[string]any
	if err := yaml.Unmarshal([]byte(block), &values); err != nil {
		t.Fatalf("the values example: %v", err)
	}
	objs, err := renderChart(t, chartFiles(t, true), "", values)
	if err != nil {
		t.Fatalf("the values example: %v", err)
	}
	checkChartObjects(t, objs)
	findObject(t, objs, "ServiceMonitor")
}

// TestChartRulesAreTheMixins: the chart's PrometheusRule carries the
// monitoring mixin's rules (deploy/monitoring/rules.yaml), byte for byte:
// copy it again when the mixin changes.
func TestChartRulesAreTheMixins(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("monitoring", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(chartDir, filepath.FromSlash(chartRulesFile)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s/%s differs from monitoring/rules.yaml: cp deploy/monitoring/rules.yaml deploy/%s/%s", chartDir, chartRulesFile, chartDir, chartRulesFile)
	}
}
