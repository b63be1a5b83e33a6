// Package deploy holds the kustomize manifests that run driftwatch in a
// cluster (base, overlays/cronjob, overlays/daemon, overlays/helm). Its test builds each
// overlay with kustomize and sends every object to a real kube-apiserver as
// a server-side dry-run create with strict field validation, in a namespace
// that enforces the restricted Pod Security Standard.
package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource/gittest"
	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

const (
	namespace      = "driftwatch"
	image          = "ghcr.io/driftwatch/driftwatch:latest"
	serviceAccount = "system:serviceaccount:driftwatch:driftwatch"
)

var overlays = []string{"overlays/cronjob", "overlays/daemon", "overlays/helm", "overlays/example"}

var env *apiservertest.Env

func TestMain(m *testing.M) {
	// Without the API server, TestCronJob and TestDaemon (kustomize only)
	// run; the tests that need it skip themselves.
	apiservertest.Main(m, func(e *apiservertest.Env) error {
		env = e
		return nil
	})
}

// requireAPIServer skips (or, under make test, fails) a test that needs
// the API server when TestMain started none.
func requireAPIServer(t *testing.T) {
	t.Helper()
	apiservertest.Require(t)
}

// build runs kustomize on dir with the default (root-only) load
// restrictions, as `kubectl apply -k` does.
func build(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []*unstructured.Unstructured
	for _, r := range rm.Resources() {
		m, err := r.Map()
		if err != nil {
			t.Fatalf("kustomize build %s: %v", dir, err)
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	if len(objs) == 0 {
		t.Fatalf("kustomize build %s: no objects", dir)
	}
	return objs
}

// find returns the one object of kind named name, converted to out.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string, out any) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out); err != nil {
				t.Fatalf("%s %s: %v", kind, name, err)
			}
			return
		}
	}
	t.Fatalf("no %s %s among the built objects", kind, name)
}

// client returns a test client whose warnings land in the returned
// collector.
func client(t *testing.T) (*apiservertest.Client, *apiservertest.Warnings) {
	t.Helper()
	c, w, err := apiservertest.NewWarnedClient(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return c, w
}

// ensureNamespace creates the Namespace from the built objects for real:
// dry runs of namespaced objects need it to exist, and its Pod Security
// labels are what the dry runs of Pods are checked against.
func ensureNamespace(ctx context.Context, t *testing.T, c *apiservertest.Client, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "Namespace" {
			continue
		}
		if o.GetName() != namespace {
			t.Fatalf("Namespace %q, want %q", o.GetName(), namespace)
		}
		if got := o.GetLabels()["pod-security.kubernetes.io/enforce"]; got != "restricted" {
			t.Errorf("Namespace label pod-security.kubernetes.io/enforce = %q, want restricted", got)
		}
		ri, err := c.Resource(o.GroupVersionKind(), "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ri.Create(ctx, o, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create Namespace: %v", err)
		}
		return
	}
	t.Fatal("no Namespace among the built objects")
}

// TestOverlaysServerDryRun sends every object of each overlay to the API
// server as a dry-run create with strict field validation: unknown or
// misspelt fields, bad values and namespaces that do not exist all fail,
// and so does any warning (Pod Security, deprecated APIs). Each Pod
// template is also dry-run created as a Pod, which the restricted Pod
// Security Standard the namespace enforces must admit.
func TestOverlaysServerDryRun(t *testing.T) {
	requireAPIServer(t)
	for _, dir := range overlays {
		t.Run(dir, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			objs := build(t, dir)
			c, w := client(t)
			ensureNamespace(ctx, t, c, objs)
			w.Take()
			dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"}
			kinds := map[string]int{}
			for _, o := range objs {
				id := fmt.Sprintf("%s %s/%s", o.GetObjectKind().GroupVersionKind(), o.GetNamespace(), o.GetName())
				if o.GetKind() != "Namespace" && o.GetNamespace() != "" && o.GetNamespace() != namespace {
					t.Errorf("%s: namespace %q, want %q", id, o.GetNamespace(), namespace)
				}
				ri, err := c.Resource(o.GroupVersionKind(), o.GetNamespace())
				if err != nil {
					t.Fatalf("%s: %v", id, err)
				}
				if o.GetKind() != "Namespace" {
					if _, err := ri.Create(ctx, o, dry); err != nil {
						t.Errorf("dry-run create %s: %v", id, err)
					}
				}
				if ws := w.Take(); len(ws) > 0 {
					t.Errorf("dry-run create %s: API server warnings: %q", id, ws)
				}
				kinds[o.GetKind()]++
			}
			t.Logf("%s: %d objects dry-run created: %v", dir, len(objs), kinds)

			// Pods as their controllers would create them.
			var pod corev1.PodTemplateSpec
			switch dir {
			case "overlays/cronjob", "overlays/helm", "overlays/example":
				var cj batchv1.CronJob
				find(t, objs, "CronJob", "driftwatch", &cj)
				pod = cj.Spec.JobTemplate.Spec.Template
			case "overlays/daemon":
				var d appsv1.Deployment
				find(t, objs, "Deployment", "driftwatch", &d)
				pod = d.Spec.Template
			}
			u, err := apiservertest.PodFromTemplate("driftwatch-pod", namespace, pod)
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

// checkPod asserts the settings both workloads share: non-root, read-only
// root file system, no privilege escalation, no capabilities, the default
// seccomp profile, the caches on emptyDirs, the config mounted, credentials
// from optional Secrets, resources bounded.
func checkPod(t *testing.T, spec corev1.PodSpec) corev1.Container {
	t.Helper()
	if spec.ServiceAccountName != "driftwatch" {
		t.Errorf("serviceAccountName = %q, want driftwatch", spec.ServiceAccountName)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	if c.Image != image {
		t.Errorf("image = %q, want %q", c.Image, image)
	}
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("container has no securityContext")
	}
	// The container's settings win over the Pod's.
	runAsNonRoot := sc.RunAsNonRoot
	if runAsNonRoot == nil {
		runAsNonRoot = psc.RunAsNonRoot
	}
	if runAsNonRoot == nil || !*runAsNonRoot {
		t.Error("runAsNonRoot is not true")
	}
	runAsUser := sc.RunAsUser
	if runAsUser == nil {
		runAsUser = psc.RunAsUser
	}
	if runAsUser == nil || *runAsUser != 65532 {
		t.Errorf("runAsUser = %v, want 65532", runAsUser)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities = %+v, want drop [ALL] and nothing added", sc.Capabilities)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccompProfile = %+v, want RuntimeDefault", seccomp)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("Pod seccompProfile = %+v, want RuntimeDefault", psc.SeccompProfile)
	}

	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("no %s request", r)
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			t.Errorf("no %s limit", r)
		}
	}

	// Environment: caches under /cache, settings from the ConfigMap, Git
	// credentials and the hash key from optional Secrets.
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if got := env["XDG_CACHE_HOME"].Value; got != "/cache" {
		t.Errorf("XDG_CACHE_HOME = %q, want /cache", got)
	}
	for name, key := range map[string]string{
		"DRIFTWATCH_GIT_USERNAME": "username", "DRIFTWATCH_GIT_PASSWORD": "password",
		"DRIFTWATCH_GIT_TOKEN": "token",
	} {
		e, ok := env[name]
		if !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("%s does not come from a Secret", name)
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if ref.Name != "driftwatch-git" || ref.Key != key || ref.Optional == nil || !*ref.Optional {
			t.Errorf("%s from %+v, want optional key %s of Secret driftwatch-git", name, ref, key)
		}
	}
	if e := env["DRIFTWATCH_HASH_KEY"]; e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
		e.ValueFrom.SecretKeyRef.Optional == nil || !*e.ValueFrom.SecretKeyRef.Optional {
		t.Error("DRIFTWATCH_HASH_KEY does not come from an optional Secret")
	}
	fromConfig := false
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil && strings.HasPrefix(ef.ConfigMapRef.Name, "driftwatch-config-") {
			fromConfig = true
		}
	}
	if !fromConfig {
		t.Errorf("envFrom = %+v, want the generated ConfigMap driftwatch-config", c.EnvFrom)
	}

	// Volumes: the rules ConfigMap at /etc/driftwatch, emptyDirs for
	// /cache and /tmp (the root file system is read-only).
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
	}
	for _, path := range []string{"/cache", "/tmp"} {
		m, ok := mounts[path]
		if !ok {
			t.Errorf("nothing mounted at %s", path)
			continue
		}
		if vols[m.Name].EmptyDir == nil {
			t.Errorf("%s is not an emptyDir", path)
		}
	}
	if m, ok := mounts["/etc/driftwatch"]; !ok || !m.ReadOnly {
		t.Error("/etc/driftwatch is not mounted read-only")
	} else if cm := vols[m.Name].ConfigMap; cm == nil || !strings.HasPrefix(cm.Name, "driftwatch-rules-") {
		t.Errorf("/etc/driftwatch holds %+v, want the generated ConfigMap driftwatch-rules", vols[m.Name])
	}
	return c
}

// checkConfigMaps asserts the settings ConfigMap holds only DRIFTWATCH_
// variables with the source settings, and the rules ConfigMap a
// driftwatch.yaml that driftwatch accepts.
func checkConfigMaps(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "ConfigMap" {
			continue
		}
		var cm corev1.ConfigMap
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &cm); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(cm.Name, "driftwatch-config-"):
			for _, k := range []string{"DRIFTWATCH_REPO", "DRIFTWATCH_REF", "DRIFTWATCH_PATH"} {
				if cm.Data[k] == "" {
					t.Errorf("ConfigMap %s has no %s", cm.Name, k)
				}
			}
			for k := range cm.Data {
				if !strings.HasPrefix(k, "DRIFTWATCH_") {
					t.Errorf("ConfigMap %s: key %q is not a DRIFTWATCH_ variable", cm.Name, k)
				}
			}
		case strings.HasPrefix(cm.Name, "driftwatch-rules-"):
			if len(cm.Data) != 1 {
				t.Errorf("ConfigMap %s has keys %v, want only driftwatch.yaml", cm.Name, cm.Data)
			}
			data, ok := cm.Data["driftwatch.yaml"]
			if !ok {
				t.Fatalf("ConfigMap %s has no driftwatch.yaml", cm.Name)
			}
			if _, err := drift.ParseConfig("driftwatch.yaml", []byte(data)); err != nil {
				t.Errorf("driftwatch.yaml: %v", err)
			}
		default:
			t.Errorf("unexpected ConfigMap %s", cm.Name)
		}
	}
}

func TestCronJob(t *testing.T) {
	objs := build(t, "overlays/cronjob")
	checkConfigMaps(t, objs)
	var cj batchv1.CronJob
	find(t, objs, "CronJob", "driftwatch", &cj)
	if cj.Namespace != namespace {
		t.Errorf("namespace = %q", cj.Namespace)
	}
	if cj.Spec.Schedule != "*/15 * * * *" {
		t.Errorf("schedule = %q, want every 15 minutes", cj.Spec.Schedule)
	}
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy = %q, want Forbid", cj.Spec.ConcurrencyPolicy)
	}
	if h := cj.Spec.SuccessfulJobsHistoryLimit; h == nil || *h != 3 {
		t.Errorf("successfulJobsHistoryLimit = %v, want 3", h)
	}
	if h := cj.Spec.FailedJobsHistoryLimit; h == nil || *h != 3 {
		t.Errorf("failedJobsHistoryLimit = %v, want 3", h)
	}
	js := cj.Spec.JobTemplate.Spec
	if js.BackoffLimit == nil || *js.BackoffLimit != 0 {
		t.Errorf("backoffLimit = %v, want 0 (exit 1 means drift, not a failure to retry)", js.BackoffLimit)
	}
	if d := js.ActiveDeadlineSeconds; d == nil || *d <= 0 || *d > 15*60 {
		t.Errorf("activeDeadlineSeconds = %v, want a deadline within the schedule", d)
	}
	if js.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy = %q, want Never", js.Template.Spec.RestartPolicy)
	}
	c := checkPod(t, js.Template.Spec)
	if want := []string{"check", "--config", "/etc/driftwatch/driftwatch.yaml", "-o", "json"}; !slices.Equal(c.Args, want) {
		t.Errorf("args = %q, want %q", c.Args, want)
	}
}

// TestExampleOverlay: the overlay docs/getting-started.md has readers copy
// is the CronJob with their image and their repository, nothing else.
func TestExampleOverlay(t *testing.T) {
	objs := build(t, "overlays/example")
	var cj batchv1.CronJob
	find(t, objs, "CronJob", "driftwatch", &cj)
	if got, want := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image, "registry.example.com/platform/driftwatch:dev"; got != want {
		t.Errorf("image = %q, want %q", got, want)
	}
	cm := findConfigMap(t, objs, "driftwatch-config")
	for k, want := range map[string]string{
		"DRIFTWATCH_REPO": "https://github.com/acme/deploy.git",
		"DRIFTWATCH_PATH": "overlays/prod",
		"DRIFTWATCH_REF":  "main",
	} {
		if got := cm.Data[k]; got != want {
			t.Errorf("driftwatch-config %s = %q, want %q", k, got, want)
		}
	}
	if refs := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].EnvFrom; len(refs) == 0 || refs[0].ConfigMapRef == nil || refs[0].ConfigMapRef.Name != cm.Name {
		t.Errorf("the CronJob does not read the merged driftwatch-config %q: %+v", cm.Name, refs)
	}
}

func TestDaemon(t *testing.T) {
	objs := build(t, "overlays/daemon")
	checkConfigMaps(t, objs)
	var d appsv1.Deployment
	find(t, objs, "Deployment", "driftwatch", &d)
	if d.Namespace != namespace {
		t.Errorf("namespace = %q", d.Namespace)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want 2", d.Spec.Replicas)
	}
	pt := d.Spec.Template
	c := checkPod(t, pt.Spec)

	args := strings.Join(c.Args, " ")
	for _, want := range []string{"watch ", "--listen :8080", "--config /etc/driftwatch/driftwatch.yaml", "--leader-elect ",
		"--leader-elect-namespace $(POD_NAMESPACE)"} {
		if !strings.Contains(args+" ", want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	var podNS *corev1.EnvVar
	for i, e := range c.Env {
		if e.Name == "POD_NAMESPACE" {
			podNS = &c.Env[i]
		}
	}
	if podNS == nil || podNS.ValueFrom == nil || podNS.ValueFrom.FieldRef == nil || podNS.ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("POD_NAMESPACE = %+v, want the downward API's metadata.namespace", podNS)
	}

	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("ports = %+v, want http 8080", c.Ports)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", p.name)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path || (g.Port.StrVal != "http" && g.Port.IntValue() != 8080) {
			t.Errorf("%s probe GET %s on %s, want %s on port http", p.name, g.Path, g.Port.String(), p.path)
		}
	}
	for k, v := range map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "prometheus.io/path": "/metrics"} {
		if got := pt.Annotations[k]; got != v {
			t.Errorf("Pod annotation %s = %q, want %q", k, got, v)
		}
	}

	// The Service reaches these Pods (and only the watch Pods) on http.
	var svc corev1.Service
	find(t, objs, "Service", "driftwatch", &svc)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].TargetPort.StrVal != "http" {
		t.Errorf("Service ports = %+v, want http 8080 -> http", svc.Spec.Ports)
	}
	if len(svc.Spec.Selector) == 0 {
		t.Error("Service has no selector")
	}
	for k, v := range svc.Spec.Selector {
		if pt.Labels[k] != v {
			t.Errorf("Service selector %s=%s does not match the Pod labels %v", k, v, pt.Labels)
		}
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if pt.Labels[k] != v {
			t.Errorf("Deployment selector %s=%s does not match the Pod labels %v", k, v, pt.Labels)
		}
	}

	var role rbacv1.Role
	find(t, objs, "Role", "driftwatch-leader-election", &role)
	if role.Namespace != namespace {
		t.Errorf("Role namespace = %q", role.Namespace)
	}
	var rb rbacv1.RoleBinding
	find(t, objs, "RoleBinding", "driftwatch-leader-election", &rb)
	if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != role.Name || len(rb.Subjects) != 1 ||
		rb.Subjects[0].Kind != "ServiceAccount" || rb.Subjects[0].Name != "driftwatch" || rb.Subjects[0].Namespace != namespace {
		t.Errorf("RoleBinding = %+v", rb)
	}
}

// TestAsServiceAccount creates the daemon overlay for real and then acts as
// its service account: the API server's authorizer says what it may do
// (read everything, take its Lease, nothing else), and the real driftwatch
// binary runs `check` with the CronJob's arguments and environment and
// `watch` with the Deployment's, as the kubelet would start them, against
// this API server and a Git server that requires the credentials from the
// driftwatch-git Secret.
func TestAsServiceAccount(t *testing.T) {
	requireAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	objs := build(t, "overlays/daemon")
	c, _ := client(t)
	ensureNamespace(ctx, t, c, objs)
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			continue
		}
		ri, err := c.Resource(o.GroupVersionKind(), o.GetNamespace())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ri.Create(ctx, o, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
			t.Fatalf("create %s %s: %v", o.GetKind(), o.GetName(), err)
		}
		// Leave the API server as it was for the dry runs (-count=N).
		t.Cleanup(func() {
			if err := ri.Delete(context.Background(), o.GetName(), metav1.DeleteOptions{}); err != nil {
				t.Errorf("delete %s %s: %v", o.GetKind(), o.GetName(), err)
			}
		})
	}
	t.Run("access reviews", func(t *testing.T) { accessReviews(ctx, t) })

	// What the binary runs against: a Git repository behind basic auth
	// holding one ConfigMap, which the cluster has too.
	const gitUser, gitToken = "driftwatch", "t0ken-from-the-secret"
	sourceURL := e2eSource(ctx, t, c, objs, gittest.Options{Username: gitUser, Password: gitToken})
	settings := findConfigMap(t, objs, "driftwatch-config-").Data

	bin := driftwatchBinary(t)
	kubeconfig := serviceAccountKubeconfig(t)
	secrets := map[string]map[string]string{"driftwatch-git": {"username": gitUser, "token": gitToken}}

	t.Run("check as the CronJob runs it", func(t *testing.T) {
		cobjs := build(t, "overlays/cronjob")
		var cj batchv1.CronJob
		find(t, cobjs, "CronJob", "driftwatch", &cj)
		pod := cj.Spec.JobTemplate.Spec.Template.Spec
		cmd, _ := containerCommand(t, bin, pod, cobjs, secrets, sourceURL, kubeconfig)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%q: %v\nstderr: %s\nstdout: %s", cmd.Args, err, stderr.String(), stdout.String())
		}
		var report struct {
			SchemaVersion string `json:"schemaVersion"`
			Source        struct{ URL, Ref, Path string }
			Summary       struct {
				Total  int `json:"total"`
				InSync int `json:"inSync"`
			}
		}
		if err := json.Unmarshal([]byte(stdout.String()), &report); err != nil {
			t.Fatalf("report is not JSON: %v\n%s", err, stdout.String())
		}
		if report.SchemaVersion != "driftwatch.dev/report/v1" || report.Summary.Total != 1 || report.Summary.InSync != 1 ||
			report.Source.URL != sourceURL || report.Source.Ref != settings["DRIFTWATCH_REF"] || report.Source.Path != settings["DRIFTWATCH_PATH"] {
			t.Errorf("report = %+v, want 1 resource in sync from %s @ %s, path %s", report, sourceURL, settings["DRIFTWATCH_REF"], settings["DRIFTWATCH_PATH"])
		}
	})

	t.Run("watch as the Deployment runs it", func(t *testing.T) {
		var d appsv1.Deployment
		find(t, objs, "Deployment", "driftwatch", &d)
		cmd, args := containerCommand(t, bin, d.Spec.Template.Spec, objs, secrets, sourceURL, kubeconfig)
		addr, exited, dump := startDaemon(t, cmd, args)

		get := func(path string) (int, string) {
			resp, err := http.Get("http://" + addr + path)
			if err != nil {
				return 0, err.Error()
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		// The probes of the Deployment.
		probePath := func(p *corev1.Probe) string { return p.HTTPGet.Path }
		c0 := d.Spec.Template.Spec.Containers[0]
		deadline := time.Now().Add(90 * time.Second)
		for {
			code, body := get(probePath(c0.ReadinessProbe))
			if code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("readiness probe %s: %d %s after 90s\n%s", probePath(c0.ReadinessProbe), code, body, dump())
			}
			time.Sleep(200 * time.Millisecond)
		}
		if code, body := get(probePath(c0.LivenessProbe)); code != http.StatusOK {
			t.Errorf("liveness probe: %d %s", code, body)
		}
		code, body := get("/api/v1/report")
		var report struct{ Summary struct{ Total, InSync int } }
		if err := json.Unmarshal([]byte(body), &report); code != http.StatusOK || err != nil ||
			report.Summary.Total != 1 || report.Summary.InSync != 1 {
			t.Errorf("/api/v1/report: %d %v, want 1 resource in sync\n%s", code, err, body)
		}
		if code, body := get(d.Spec.Template.Annotations["prometheus.io/path"]); code != http.StatusOK || !strings.Contains(body, "driftwatch_resources") {
			t.Errorf("scrape path: %d %.200s", code, body)
		}

		// It took its Lease with the Role of the overlay (create), and
		// renews it (update).
		awaitLeaseRenewed(ctx, t, deadline, dump)
		stopAsKubelet(t, cmd, exited, *d.Spec.Template.Spec.TerminationGracePeriodSeconds, dump)
	})
}

// awaitLeaseRenewed waits until deadline for the daemon's Lease
// (namespace/driftwatch) to be held and renewed once, and deletes it at
// the end of the test.
func awaitLeaseRenewed(ctx context.Context, t *testing.T, deadline time.Time, dump func() string) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	var firstRenew *metav1.MicroTime
	for {
		l, err := cs.CoordinationV1().Leases(namespace).Get(ctx, "driftwatch", metav1.GetOptions{})
		if err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" && l.Spec.RenewTime != nil {
			if firstRenew == nil {
				firstRenew = l.Spec.RenewTime
				t.Cleanup(func() {
					_ = cs.CoordinationV1().Leases(namespace).Delete(context.Background(), "driftwatch", metav1.DeleteOptions{})
				})
			} else if !l.Spec.RenewTime.Equal(firstRenew) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Lease %s/driftwatch not held and renewed: %v\n%s", namespace, err, dump())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stopAsKubelet stops the daemon as Kubernetes stops a Pod: SIGTERM, then
// terminationGracePeriodSeconds for it to exit 0.
func stopAsKubelet(t *testing.T, cmd *exec.Cmd, exited <-chan error, graceSeconds int64, dump func() string) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGTERM: %v\n%s", err, dump())
		}
	case <-time.After(time.Duration(graceSeconds) * time.Second):
		t.Errorf("still running %ds after SIGTERM (terminationGracePeriodSeconds)\n%s", graceSeconds, dump())
	}
}

const testConfigMap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: e2e-settings
  namespace: driftwatch
data:
  color: blue
`

func accessReviews(ctx context.Context, t *testing.T) {
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: serviceAccount, Groups: serviceAccountGroups}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		attr  authorizationv1.ResourceAttributes
		nonRU *authorizationv1.NonResourceAttributes
		want  bool
	}{
		{attr: authorizationv1.ResourceAttributes{Verb: "list", Group: "apps", Resource: "deployments"}, want: true},
		{attr: authorizationv1.ResourceAttributes{Verb: "watch", Group: "apps", Resource: "deployments", Namespace: "prod"}, want: true},
		{attr: authorizationv1.ResourceAttributes{Verb: "get", Resource: "configmaps", Namespace: "prod", Name: "web"}, want: true},
		{attr: authorizationv1.ResourceAttributes{Verb: "list", Group: "example.com", Resource: "widgets"}, want: true},
		{attr: authorizationv1.ResourceAttributes{Verb: "watch", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"}, want: true},
		{nonRU: &authorizationv1.NonResourceAttributes{Verb: "get", Path: "/openapi/v3/apis/apps/v1"}, want: true},
		{attr: authorizationv1.ResourceAttributes{Verb: "get", Group: "coordination.k8s.io", Resource: "leases", Namespace: namespace, Name: "driftwatch"}, want: true},
		{attr: authorizationv1.ResourceAttributes{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: namespace}, want: true},
		{attr: authorizationv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: namespace, Name: "driftwatch"}, want: true},
		// Read-only everywhere else.
		{attr: authorizationv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: "default", Name: "driftwatch"}, want: false},
		{attr: authorizationv1.ResourceAttributes{Verb: "delete", Group: "coordination.k8s.io", Resource: "leases", Namespace: namespace, Name: "driftwatch"}, want: false},
		{attr: authorizationv1.ResourceAttributes{Verb: "patch", Group: "apps", Resource: "deployments", Namespace: "prod", Name: "web"}, want: false},
		{attr: authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods", Namespace: namespace}, want: false},
		{attr: authorizationv1.ResourceAttributes{Verb: "delete", Resource: "configmaps", Namespace: "prod", Name: "web"}, want: false},
	} {
		r := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{NonResourceAttributes: tc.nonRU}}
		what := fmt.Sprintf("%+v", tc.nonRU)
		if tc.nonRU == nil {
			a := tc.attr
			r.Spec.ResourceAttributes = &a
			what = fmt.Sprintf("%s %s.%s ns=%q name=%q", a.Verb, a.Resource, a.Group, a.Namespace, a.Name)
		}
		got, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, r, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got.Status.Allowed != tc.want {
			t.Errorf("service account may %s: %v, want %v (%s)", what, got.Status.Allowed, tc.want, got.Status.Reason)
		}
	}
}

var serviceAccountGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}

// serviceAccountKubeconfig writes a kubeconfig that acts as the
// service account (what the in-cluster config gives a Pod).
func serviceAccountKubeconfig(t *testing.T) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: env.Config.Host, CertificateAuthorityData: env.Config.CAData}
	kc.AuthInfos["sa"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: env.Config.CertData, ClientKeyData: env.Config.KeyData, Token: env.Config.BearerToken,
		Impersonate: serviceAccount, ImpersonateGroups: serviceAccountGroups,
	}
	kc.Contexts["sa"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "sa", Namespace: namespace}
	kc.CurrentContext = "sa"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// driftwatchBinary builds cmd/driftwatch.
func driftwatchBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "driftwatch")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/driftwatch/driftwatch/cmd/driftwatch")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/driftwatch: %v\n%s", err, out)
	}
	return bin
}

func findConfigMap(t *testing.T, objs []*unstructured.Unstructured, prefix string) corev1.ConfigMap {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" && strings.HasPrefix(o.GetName(), prefix) {
			var cm corev1.ConfigMap
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &cm); err != nil {
				t.Fatal(err)
			}
			return cm
		}
	}
	t.Fatalf("no ConfigMap %s*", prefix)
	return corev1.ConfigMap{}
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// containerCommand prepares the Pod's container the way the kubelet starts
// it: the environment from envFrom and env (ConfigMaps from the built
// objects, Secrets from secrets, the downward API), $(VAR) expanded in the
// arguments, ConfigMap volumes written to files and emptyDirs made. What
// only a cluster gives is emulated: the mounts are directories under a
// temporary root (mount paths in the arguments and environment are
// rewritten to them), the in-cluster config is a kubeconfig acting as the
// service account, the Git URL is the test server's, and the HTTP address
// is a free loopback port.
func containerCommand(t *testing.T, bin string, pod corev1.PodSpec, objs []*unstructured.Unstructured,
	secrets map[string]map[string]string, gitURL, kubeconfig string) (*exec.Cmd, []string) {
	t.Helper()
	c := pod.Containers[0]
	configMap := func(name string) map[string]string {
		for _, o := range objs {
			if o.GetKind() == "ConfigMap" && o.GetName() == name {
				data, _, _ := unstructured.NestedStringMap(o.Object, "data")
				return data
			}
		}
		t.Fatalf("the Pod refers to ConfigMap %s, which the overlay does not create", name)
		return nil
	}

	// Volumes.
	root := t.TempDir()
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		dir := filepath.Join(root, filepath.FromSlash(m.MountPath))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		mounts[m.MountPath] = dir
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil {
				for k, val := range configMap(v.ConfigMap.Name) {
					if err := os.WriteFile(filepath.Join(dir, k), []byte(val), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	remount := func(s string) string {
		for mp, dir := range mounts {
			if s == mp || strings.HasPrefix(s, mp+"/") {
				return dir + strings.TrimPrefix(s, mp)
			}
		}
		return s
	}

	// Environment, in the kubelet's order: envFrom, then env.
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			t.Fatalf("unexpected envFrom %+v", ef)
		}
		for k, v := range configMap(ef.ConfigMapRef.Name) {
			set(ef.Prefix+k, v)
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			set(e.Name, varRef.ReplaceAllStringFunc(e.Value, func(m string) string { return vars[m[2:len(m)-1]] }))
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := secrets[ref.Name][ref.Key]
			if !ok {
				if ref.Optional == nil || !*ref.Optional {
					t.Fatalf("%s: Secret %s key %s is missing and not optional", e.Name, ref.Name, ref.Key)
				}
				continue
			}
			set(e.Name, v)
		case e.ValueFrom.ConfigMapKeyRef != nil:
			set(e.Name, configMap(e.ValueFrom.ConfigMapKeyRef.Name)[e.ValueFrom.ConfigMapKeyRef.Key])
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			set(e.Name, namespace)
		default:
			t.Fatalf("env %s: unsupported source %+v", e.Name, e.ValueFrom)
		}
	}
	if vars["DRIFTWATCH_REPO"] == "" {
		t.Fatal("DRIFTWATCH_REPO is not set")
	}
	set("DRIFTWATCH_REPO", gitURL)
	home := t.TempDir()
	environ := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "KUBECONFIG=" + kubeconfig}
	for _, k := range order {
		environ = append(environ, k+"="+remount(vars[k]))
	}

	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		a = varRef.ReplaceAllStringFunc(a, func(m string) string {
			if v, ok := vars[m[2:len(m)-1]]; ok {
				return v
			}
			return m
		})
		if i > 0 && c.Args[i-1] == "--listen" {
			a = "127.0.0.1:0"
		}
		args[i] = remount(a)
	}
	if len(c.Command) > 0 {
		t.Fatalf("command %q overrides the image's entrypoint", c.Command)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = environ
	cmd.Dir = home
	return cmd, args
}

// startDaemon starts cmd (driftwatch watch as a workload would run it),
// collects its log, waits up to a minute for its "watching" line and
// returns the address it listens on, its exit and its log so far. The
// process is killed at the end of the test if it is still running.
func startDaemon(t *testing.T, cmd *exec.Cmd, args []string) (addr string, exited <-chan error, dump func() string) {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	listen := make(chan string, 1)
	var logs strings.Builder
	var logMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			logs.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			var line struct{ Msg, Listen string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "watching" && line.Listen != "" {
				listen <- line.Listen
			}
		}
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	dump = func() string { logMu.Lock(); defer logMu.Unlock(); return logs.String() }
	select {
	case addr = <-listen:
	case err := <-done:
		t.Fatalf("%q exited: %v\n%s", args, err, dump())
	case <-time.After(time.Minute):
		t.Fatalf("%q: no \"watching\" log line in a minute\n%s", args, dump())
	}
	return addr, done, dump
}

// e2eSource serves, from a Git server on 127.0.0.1 (with opts' basic
// auth), a repository holding testConfigMap at the path and ref the
// rendered workload's driftwatch-config names, applies the same ConfigMap
// to the cluster (deleted at the end of the test), and returns the
// repository's URL.
func e2eSource(ctx context.Context, t *testing.T, c *apiservertest.Client, objs []*unstructured.Unstructured, opts gittest.Options) string {
	t.Helper()
	srv, err := gittest.Start(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	repo, err := srv.CreateRepo("platform")
	if err != nil {
		t.Fatal(err)
	}
	settings := findConfigMap(t, objs, "driftwatch-config").Data
	if err := repo.WriteFile(settings["DRIFTWATCH_PATH"]+"/configmap.yaml", testConfigMap); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Commit("e2e"); err != nil {
		t.Fatal(err)
	}
	if err := repo.Checkout(settings["DRIFTWATCH_REF"]); err != nil {
		t.Fatal(err)
	}
	if err := repo.Push(); err != nil {
		t.Fatal(err)
	}
	cm := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(testConfigMap), &cm.Object); err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(ctx, "e2e", namespace, cm); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Delete(context.Background(), cm.GroupVersionKind(), namespace, cm.GetName()); err != nil {
			t.Errorf("delete ConfigMap: %v", err)
		}
	})
	return srv.RepoURL(repo.Name)
}
