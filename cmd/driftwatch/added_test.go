package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource"
)

var gvkCronJob = schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "CronJob"}

// addedOf lists a report's Added diffs as "Kind/name path (manager)".
func addedOf(r *drift.Report) []string {
	var out []string
	for _, res := range r.Resources {
		for _, d := range res.Diffs {
			if d.Type == drift.Added {
				out = append(out, res.Kind+"/"+res.Name+" "+d.Path+" ("+d.ChangedBy.Manager+")")
			}
		}
	}
	sort.Strings(out)
	return out
}

// sidecarWebhook serves a mutating admission webhook over HTTPS on
// loopback that injects a sidecar container into Deployments labelled
// inject=sidecar, and registers it with the API server, scoped to ns.
func sidecarWebhook(t *testing.T, ns string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Request    struct {
				UID string `json:"uid"`
			} `json:"request"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		patch, _ := json.Marshal([]map[string]any{{"op": "add", "path": "/spec/template/spec/containers/-",
			"value": map[string]any{"name": "proxy", "image": "registry.example.com/proxy:1.0"}}})
		pt := "JSONPatch"
		_ = json.NewEncoder(w).Encode(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
			"response": map[string]any{"uid": review.Request.UID, "allowed": true, "patchType": pt,
				"patch": base64.StdEncoding.EncodeToString(patch)}})
	}))
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	name := "driftwatch-test-sidecar-" + ns
	cfg := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
		"metadata": map[string]any{"name": name},
		"webhooks": []any{map[string]any{
			"name":                    "sidecar.driftwatch.test",
			"clientConfig":            map[string]any{"url": srv.URL + "/mutate", "caBundle": base64.StdEncoding.EncodeToString(ca)},
			"rules":                   []any{map[string]any{"apiGroups": []any{"apps"}, "apiVersions": []any{"v1"}, "operations": []any{"CREATE"}, "resources": []any{"deployments"}}},
			"namespaceSelector":       map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": ns}},
			"objectSelector":          map[string]any{"matchLabels": map[string]any{"inject": "sidecar"}},
			"sideEffects":             "None",
			"admissionReviewVersions": []any{"v1"},
			"failurePolicy":           "Fail",
		}},
	}}
	if err := kube.Apply(context.Background(), "test-setup", "", cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.Delete(context.Background(), schema.GroupVersionKind{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "MutatingWebhookConfiguration"}, "", name)
	})
}

// TestAddedByHand: fields Git does not set, added by hand, are drift
// (Added, with manager), on the real API server; what controllers,
// Git's applier and admission webhooks add never is; labels count only
// when configured.
func TestAddedByHand(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	ctx := context.Background()
	sidecarWebhook(t, ns)
	dir := t.TempDir()
	manifests := `apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: backup, image: "registry.example.com/backup:2.1"}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: "registry.example.com/web:1.4"
        env: [{name: LOG_LEVEL, value: info}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, labels: {app: api}}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: "registry.example.com/api:3.0"}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: meshed, labels: {app: meshed, inject: sidecar}}
spec:
  selector: {matchLabels: {app: meshed}}
  template:
    metadata: {labels: {app: meshed}}
    spec:
      containers: [{name: app, image: "registry.example.com/meshed:1.0"}]
`
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(manifests), 0o644); err != nil {
		t.Fatal(err)
	}
	applyFixtureDir(t, dir, ns)
	check := func(extra ...string) result {
		return runCLI(t, append([]string{"check", "--dir", dir, "--kubeconfig", kubeconfig, "-n", ns, "-o", "json"}, extra...)...)
	}
	// The webhook did inject its sidecar, as part of Git's apply.
	ri, err := kube.Resource(gvkDeployment, ns)
	if err != nil {
		t.Fatal(err)
	}
	meshed, err := ri.Get(ctx, "meshed", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cs, _, _ := unstructured.NestedSlice(meshed.Object, "spec", "template", "spec", "containers"); len(cs) != 2 {
		t.Fatalf("the webhook injected no sidecar: %v", cs)
	}
	r := check()
	if r.code != exitInSync {
		t.Fatalf("right after apply (the webhook's sidecar included): exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	edit := func(manager string, gvk schema.GroupVersionKind, name string, f func(u *unstructured.Unstructured)) {
		t.Helper()
		if err := kube.Edit(ctx, manager, gvk, ns, name, func(u *unstructured.Unstructured) error { f(u); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	// kubectl patch cronjob nightly -p '{"spec":{"suspend":true}}'
	edit("kubectl-patch", gvkCronJob, "nightly", func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedField(u.Object, true, "spec", "suspend")
	})
	// kubectl set env deploy/web DEBUG=1
	edit("kubectl-set", gvkDeployment, "web", func(u *unstructured.Unstructured) {
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		c := cs[0].(map[string]any)
		c["env"] = append(c["env"].([]any), map[string]any{"name": "DEBUG", "value": "1"})
		_ = unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
	})
	// kubectl edit: privileged: true
	edit("kubectl-edit", gvkDeployment, "api", func(u *unstructured.Unstructured) {
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		cs[0].(map[string]any)["securityContext"] = map[string]any{"privileged": true}
		_ = unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
	})
	// kubectl label deploy/web team=checkout
	edit("kubectl-label", gvkDeployment, "web", func(u *unstructured.Unstructured) {
		l := u.GetLabels()
		l["team"] = "checkout"
		u.SetLabels(l)
	})
	// A controller-like manager scaling what Git omits.
	edit("horizontal-pod-autoscaler", gvkDeployment, "meshed", func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedField(u.Object, int64(4), "spec", "replicas")
	})

	r = check()
	if r.code != exitDrift {
		t.Fatalf("after the edits: exit %d, want 1\n%s", r.code, r.stderr)
	}
	want := []string{
		"CronJob/nightly spec.suspend (kubectl-patch)",
		"Deployment/api spec.template.spec.containers[name=api].securityContext (kubectl-edit)",
		"Deployment/web spec.template.spec.containers[name=app].env[name=DEBUG] (kubectl-set)",
	}
	rep := parseReport(t, r)
	if diff := cmp.Diff(want, addedOf(rep)); diff != "" {
		t.Errorf("Added fields (-want +got):\n%s", diff)
	}
	for _, res := range rep.Resources {
		if res.Name == "meshed" && res.Status != drift.InSync {
			t.Errorf("meshed (a webhook's sidecar, a controller's replicas): %s %+v", res.Status, res.Diffs)
		}
	}
	// The server-side apply view sees none of them; --confirm=server keeps
	// them (the dry run cannot judge a field Git does not set).
	if got := addedOf(parseReport(t, check("--confirm", "server"))); !cmp.Equal(want, got) {
		t.Errorf("with --confirm=server: %v", got)
	}
	// The text report says who and what, with the value.
	txt := runCLI(t, "check", "--dir", dir, "--kubeconfig", kubeconfig, "-n", ns)
	if !strings.Contains(txt.stdout, "  + spec.suspend: not in Git, added by hand: live true  [kubectl-patch Update ") {
		t.Errorf("text report:\n%s", txt.stdout)
	}

	// Labels count when configured; Added can be turned off per kind and
	// path with an ignore rule.
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte(`apiVersion: driftwatch.dev/v1alpha1
kind: Config
added:
  metadata:
    - match: {kind: Deployment}
ignore:
  - match: {kind: CronJob}
    paths: [spec.suspend]
    types: [Added]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	want = []string{
		"Deployment/api spec.template.spec.containers[name=api].securityContext (kubectl-edit)",
		"Deployment/web metadata.labels.team (kubectl-label)",
		"Deployment/web spec.template.spec.containers[name=app].env[name=DEBUG] (kubectl-set)",
	}
	if diff := cmp.Diff(want, addedOf(parseReport(t, check("--config", cfg)))); diff != "" {
		t.Errorf("with the config (-want +got):\n%s", diff)
	}
}

// applyFixtureDir applies every manifest of dir as Git's applier would
// (server-side apply, field manager "gitops").
func applyFixtureDir(t *testing.T, dir, ns string) {
	t.Helper()
	objs, err := gitsource.Render(dir, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := kube.Apply(context.Background(), "gitops", ns, o.Object); err != nil {
			t.Fatal(err)
		}
	}
}
