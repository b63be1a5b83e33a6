package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline"
	"github.com/driftwatch/driftwatch/gitsource"
)

// revertManifests is Git's desired state in the revert tests: every object
// carries the tracking label, so that --detect-extra finds leftovers.
const revertManifests = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app.kubernetes.io/managed-by: driftwatch}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        env: [{name: LOG_LEVEL, value: info}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, labels: {app.kubernetes.io/managed-by: driftwatch}}
data: {LOG_LEVEL: info}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, labels: {app.kubernetes.io/managed-by: driftwatch}}
stringData: {password: git-pa55-in-git}
`

// revertFixture creates a bare namespace and a directory holding
// manifests, applied there by the "gitops" field manager.
func revertFixture(t *testing.T, manifests string) (ns, dir string) {
	t.Helper()
	ns = fmt.Sprintf("revert-%d", nsCounter.Add(1))
	nsObj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns},
	}}
	if err := kube.Apply(context.Background(), "setup", "", nsObj); err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(manifests), 0o644); err != nil {
		t.Fatal(err)
	}
	applyFixtureDir(t, dir, ns)
	return ns, dir
}

// getLive reads an object; nil when it does not exist.
func getLive(t *testing.T, gvk schema.GroupVersionKind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	ri, err := kube.Resource(gvk, ns)
	if err != nil {
		t.Fatal(err)
	}
	u, err := ri.Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// appContainer is the web Deployment's container "app".
func appContainer(t *testing.T, u *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	for _, c := range cs {
		if m := c.(map[string]any); m["name"] == "app" {
			return m
		}
	}
	t.Fatalf("no container app in %s", u.GetName())
	return nil
}

// ownedBy lists the managers that own path (map fields) with operation
// Apply or Update, as "manager/Operation", sorted.
func ownedBy(u *unstructured.Unstructured, path ...string) []string {
	var out []string
	for _, e := range u.GetManagedFields() {
		var tree map[string]any
		if e.FieldsV1 == nil || json.Unmarshal(e.FieldsV1.Raw, &tree) != nil {
			continue
		}
		node, ok := tree, true
		for _, f := range path {
			if strings.HasPrefix(f, "k:") || strings.HasPrefix(f, "f:") {
				node, ok = node[f].(map[string]any)
			} else {
				node, ok = node["f:"+f].(map[string]any)
			}
			if !ok {
				break
			}
		}
		if ok {
			out = append(out, e.Manager+"/"+string(e.Operation))
		}
	}
	sort.Strings(out)
	return out
}

// driftHandsOn makes the drift the revert tests undo: kubectl edit of
// replicas and image with a securityContext added by hand; another manager
// setting, by server-side apply, resources and an annotation Git does not
// set; a Secret value changed by hand; a ConfigMap deleted; a leftover
// ConfigMap with the tracking label that Git does not have.
func driftHandsOn(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	if err := kube.Edit(ctx, "kubectl-edit", gvkDeployment, ns, "web", func(u *unstructured.Unstructured) error {
		_ = unstructured.SetNestedField(u.Object, int64(5), "spec", "replicas")
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		c := cs[0].(map[string]any)
		c["image"] = "nginx:1.28"
		c["securityContext"] = map[string]any{"privileged": true}
		return unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
	}); err != nil {
		t.Fatal(err)
	}
	tuner := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "annotations": map[string]any{"tuned-by": "resource-tuner"}},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{
			map[string]any{"name": "app", "resources": map[string]any{"limits": map[string]any{"memory": "512Mi"}}},
		}}}},
	}}
	if err := kube.Apply(ctx, "resource-tuner", ns, tuner); err != nil {
		t.Fatal(err)
	}
	if err := kube.Edit(ctx, "kubectl-edit", gvkSecret, ns, "creds", func(u *unstructured.Unstructured) error {
		return unstructured.SetNestedField(u.Object, base64.StdEncoding.EncodeToString([]byte("hand-set-pw")), "data", "password")
	}); err != nil {
		t.Fatal(err)
	}
	if err := kube.Delete(ctx, gvkConfigMap, ns, "settings"); err != nil {
		t.Fatal(err)
	}
	leftover := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "leftover", "labels": map[string]any{"app.kubernetes.io/managed-by": "driftwatch"}},
		"data":     map[string]any{"old": "yes"},
	}}
	if err := kube.Apply(ctx, "gitops", ns, leftover); err != nil {
		t.Fatal(err)
	}
}

// diffsOf lists a report's findings as "Kind/name status [path (type)]".
func diffsOf(rep *drift.Report) []string {
	var out []string
	for _, r := range rep.Resources {
		if r.Status == drift.InSync {
			continue
		}
		if len(r.Diffs) == 0 {
			out = append(out, r.Kind+"/"+r.Name+" "+string(r.Status))
		}
		for _, d := range r.Diffs {
			out = append(out, r.Kind+"/"+r.Name+" "+d.Path+" ("+string(d.Type)+")")
		}
	}
	sort.Strings(out)
	return out
}

// The whole round: a dry run changes nothing and says what would; revert
// puts back the drifted fields, recreates what is missing, and leaves what
// other managers set where Git sets nothing, hand-made additions and
// leftovers; with --remove-added and --prune those go too, and check is in
// sync.
func TestRevert(t *testing.T) {
	requireAPIServer(t)
	ns, dir := revertFixture(t, revertManifests)
	driftHandsOn(t, ns)
	check := func() result {
		return runCLI(t, "check", "--dir", dir, "--kubeconfig", kubeconfig, "-n", ns, "--detect-extra", "-o", "json")
	}
	revert := func(extra ...string) result {
		return runCLI(t, append([]string{"revert", "--dir", dir, "--kubeconfig", kubeconfig, "-n", ns, "--detect-extra"}, extra...)...)
	}
	drifted := []string{
		"ConfigMap/leftover Extra",
		"ConfigMap/settings Missing",
		"Deployment/web spec.replicas (Changed)",
		"Deployment/web spec.template.spec.containers[name=app].image (Changed)",
		"Deployment/web spec.template.spec.containers[name=app].securityContext (Added)",
		"Secret/creds data.password (Changed)",
	}
	r := check()
	if r.code != exitDrift {
		t.Fatalf("check before revert: exit %d\n%s", r.code, r.stderr)
	}
	if diff := cmp.Diff(drifted, diffsOf(parseReport(t, r))); diff != "" {
		t.Fatalf("drift set up (-want +got):\n%s", diff)
	}

	// --dry-run: the server checks every request, nothing is stored.
	r = revert("--dry-run", "--prune", "--remove-added")
	if r.code != exitInSync {
		t.Fatalf("revert --dry-run: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"Deployment " + ns + `/web: would revert, applied as "gitops"; forced spec.replicas from "kubectl-edit", spec.template.spec.containers[name=app].image from "kubectl-edit"`,
		"  ~ spec.replicas: 5 → 2",
		`  ~ spec.template.spec.containers[name=app].image: "nginx:1.28" → "nginx:1.27"`,
		"  - spec.template.spec.containers[name=app].securityContext: removed (added by hand by kubectl-edit)",
		"  ~ data.password: set to Git's value (sensitive, not shown)",
		"ConfigMap " + ns + `/settings: would create, applied as "gitops" (the manager that applied the source's other 2 objects)`,
		"ConfigMap " + ns + "/leftover: would delete (not in Git)",
		"Revert (dry run): 2 reverted, 1 created, 1 deleted, 0 left, 0 failed; 0 already in sync",
	} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("dry run output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "dry run") {
		t.Errorf("stderr does not say it was a dry run: %s", r.stderr)
	}
	for _, secret := range []string{"hand-set-pw", "git-pa55-in-git", base64.StdEncoding.EncodeToString([]byte("hand-set-pw"))} {
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("the output shows a Secret value")
		}
	}
	if diff := cmp.Diff(drifted, diffsOf(parseReport(t, check()))); diff != "" {
		t.Errorf("after the dry run, the drift changed (-want +got):\n%s", diff)
	}
	if getLive(t, gvkConfigMap, ns, "settings") != nil {
		t.Error("the dry run created the missing ConfigMap")
	}

	// revert, without --prune or --remove-added: the drift Git's values
	// cover goes; the rest stays and is listed.
	r = revert("-o", "json")
	if r.code != exitInSync {
		t.Fatalf("revert: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	var res pipeline.RevertResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("revert -o json: %v\n%s", err, r.stdout)
	}
	got := map[string]string{}
	for _, rr := range res.Resources {
		got[rr.Kind+"/"+rr.Name] = string(rr.Action) + " " + rr.FieldManager + " " + strings.Join(rr.LeftAdded, ",") + rr.Reason
	}
	want := map[string]string{
		"Deployment/web":     "Reverted gitops spec.template.spec.containers[name=app].securityContext",
		"Secret/creds":       "Reverted gitops ",
		"ConfigMap/settings": "Created gitops ",
		"ConfigMap/leftover": "Skipped  not in Git; deleted only with --prune",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("revert actions (-want +got):\n%s", diff)
	}
	if strings.Contains(r.stdout, "hand-set-pw") || strings.Contains(r.stdout, "git-pa55-in-git") {
		t.Error("the JSON output shows a Secret value")
	}
	web := getLive(t, gvkDeployment, ns, "web")
	app := appContainer(t, web)
	if replicas, _, _ := unstructured.NestedInt64(web.Object, "spec", "replicas"); replicas != 2 || app["image"] != "nginx:1.27" {
		t.Errorf("not put back: replicas %d, image %v", replicas, app["image"])
	}
	// Fields Git does not set, owned by another manager: untouched, and
	// still theirs.
	if mem, _, _ := unstructured.NestedString(app, "resources", "limits", "memory"); mem != "512Mi" {
		t.Errorf("resource-tuner's memory limit is gone: %v", app["resources"])
	}
	if web.GetAnnotations()["tuned-by"] != "resource-tuner" {
		t.Errorf("resource-tuner's annotation is gone: %v", web.GetAnnotations())
	}
	appKey := `k:{"name":"app"}`
	if diff := cmp.Diff([]string{"resource-tuner/Apply"}, ownedBy(web, "spec", "template", "spec", "containers", appKey, "resources")); diff != "" {
		t.Errorf("owners of resources (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"gitops/Apply"}, ownedBy(web, "spec", "replicas")); diff != "" {
		t.Errorf("owners of spec.replicas (-want +got):\n%s", diff)
	}
	if _, ok := app["securityContext"]; !ok {
		t.Error("the field added by hand was removed without --remove-added")
	}
	if getLive(t, gvkConfigMap, ns, "settings") == nil || getLive(t, gvkConfigMap, ns, "leftover") == nil {
		t.Error("settings not recreated, or leftover deleted without --prune")
	}
	if diff := cmp.Diff([]string{
		"ConfigMap/leftover Extra",
		"Deployment/web spec.template.spec.containers[name=app].securityContext (Added)",
	}, diffsOf(parseReport(t, check()))); diff != "" {
		t.Errorf("check after revert (-want +got):\n%s", diff)
	}

	// --remove-added and --prune: check is in sync.
	r = revert("--remove-added", "--prune")
	if r.code != exitInSync {
		t.Fatalf("revert --remove-added --prune: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"Deployment " + ns + "/web: reverted\n",
		"  - spec.template.spec.containers[name=app].securityContext: removed (added by hand by kubectl-edit)\n",
		"ConfigMap " + ns + "/leftover: deleted (not in Git)\n",
		"Revert: 1 reverted, 0 created, 1 deleted, 0 left, 0 failed; 2 already in sync\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r = check(); r.code != exitInSync {
		t.Errorf("check after revert --remove-added --prune: exit %d\n%s", r.code, strings.Join(diffsOf(parseReport(t, r)), "\n"))
	}
	web = getLive(t, gvkDeployment, ns, "web")
	if mem, _, _ := unstructured.NestedString(appContainer(t, web), "resources", "limits", "memory"); mem != "512Mi" {
		t.Errorf("resource-tuner's memory limit is gone after --remove-added")
	}
	// Nothing left to do: exit 0, everything in sync.
	if r = revert(); r.code != exitInSync || !strings.Contains(r.stdout, "0 failed; 3 already in sync") {
		t.Errorf("revert in sync: exit %d\n%s", r.code, r.stdout)
	}
}

// A conflict on a field that did not drift (here one an ignore rule
// hides) is not forced: the resource is left as it is, the conflict named,
// exit 2. Without the rule, both fields drifted and are forced, as the
// --field-manager given.
func TestRevertConflictOnFieldThatDidNotDrift(t *testing.T) {
	requireAPIServer(t)
	ns, dir := revertFixture(t, revertManifests)
	if err := kube.Edit(context.Background(), "kubectl-edit", gvkDeployment, ns, "web", func(u *unstructured.Unstructured) error {
		_ = unstructured.SetNestedField(u.Object, int64(5), "spec", "replicas")
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		cs[0].(map[string]any)["image"] = "nginx:1.28"
		return unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
	}); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte("apiVersion: driftwatch.dev/v1alpha1\nkind: Config\nignore:\n- match: {kind: Deployment}\n  paths: [spec.replicas]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "revert", "--dir", dir, "--kubeconfig", kubeconfig, "-n", ns, "--config", cfg)
	if r.code != exitError {
		t.Fatalf("exit %d, want 2\n%s%s", r.code, r.stdout, r.stderr)
	}
	want := "Deployment " + ns + `/web: failed: apply: conflicts on fields that did not drift, not forced: spec.replicas (kubectl-edit)` + "\n"
	if !strings.Contains(r.stdout, want) {
		t.Errorf("output lacks %q:\n%s", want, r.stdout)
	}
	web := getLive(t, gvkDeployment, ns, "web")
	if img := appContainer(t, web)["image"]; img != "nginx:1.28" {
		t.Errorf("the image was written (%v) although the resource was left", img)
	}

	r = runCLI(t, "revert", "--dir", dir, "--kubeconfig", kubeconfig, "-n", ns, "--field-manager", "argocd-controller")
	if r.code != exitInSync {
		t.Fatalf("without the rule: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	web = getLive(t, gvkDeployment, ns, "web")
	if diff := cmp.Diff([]string{"argocd-controller/Apply"}, ownedBy(web, "spec", "replicas")); diff != "" {
		t.Errorf("owners of spec.replicas (-want +got):\n%s", diff)
	}
	// gitops still co-owns what it applied and nobody changed.
	if diff := cmp.Diff([]string{"argocd-controller/Apply", "gitops/Apply"}, ownedBy(web, "spec", "selector")); diff != "" {
		t.Errorf("owners of spec.selector (-want +got):\n%s", diff)
	}
	if r := runCLI(t, "check", "--dir", dir, "--kubeconfig", kubeconfig, "-n", ns); r.code != exitInSync {
		t.Errorf("check after revert: exit %d\n%s", r.code, r.stdout)
	}
}

// rbacDocs runs driftwatch rbac and parses what it prints.
func rbacDocs(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	r := runCLI(t, append([]string{"rbac", "--kubeconfig", kubeconfig}, args...)...)
	if r.code != 0 {
		t.Fatalf("rbac: exit %d: %s", r.code, r.stderr)
	}
	var docs []*unstructured.Unstructured
	for _, doc := range strings.Split(r.stdout, "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil || len(u.Object) == 0 {
			continue
		}
		docs = append(docs, u)
	}
	return docs
}

// resourceRules lists a role's resource rules as "groups:resources:verbs".
func resourceRules(role *unstructured.Unstructured) []string {
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	var out []string
	for _, rule := range rules {
		m := rule.(map[string]any)
		if res, ok := m["resources"]; ok {
			out = append(out, strings.Join(toStrings(m["apiGroups"]), ",")+":"+strings.Join(toStrings(res), ",")+":"+strings.Join(toStrings(m["verbs"]), ","))
		}
	}
	return out
}

// waitAllowed waits (bounded) until the user of cfg may do verb on the
// resource: the API server's authorizer follows RBAC changes through a
// watch, a moment after they are written.
func waitAllowed(t *testing.T, cfg *rest.Config, ns, verb, group, resource string) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		rev, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Verb: verb, Group: group, Resource: resource}},
		}, metav1.CreateOptions{})
		return err == nil && rev.Status.Allowed, nil
	})
	if err != nil {
		t.Fatalf("%s %s.%s never allowed: %v", verb, resource, group, err)
	}
}

// The role `rbac --for revert` prints is enough for revert; the read-only
// one is not: each resource fails with the API server's forbidden message,
// exit 2, and nothing changes.
func TestRevertWithGeneratedRole(t *testing.T) {
	requireAPIServer(t)
	ns, dir := revertFixture(t, revertManifests)
	src := []string{"--dir", dir, "-n", ns}

	writer := "revert-writers-" + ns
	docs := rbacDocs(t, append(src, "--for", "revert", "--name", "dw-revert-"+ns, "--subject", "group:"+writer)...)
	if len(docs) != 2 || docs[0].GetKind() != "ClusterRole" {
		t.Fatalf("rbac --for revert printed %d documents", len(docs))
	}
	if diff := cmp.Diff([]string{
		":configmaps,secrets:get,list,watch,patch,create",
		"apps:deployments:get,list,watch,patch,create",
		"apiextensions.k8s.io:customresourcedefinitions:get,list,watch",
	}, resourceRules(docs[0])); diff != "" {
		t.Errorf("revert role (-want +got):\n%s", diff)
	}
	pruneDocs := rbacDocs(t, append(src, "--for", "revert", "--prune")...)
	if diff := cmp.Diff([]string{
		":configmaps,secrets:get,list,watch,patch,create,delete",
		"apps:deployments:get,list,watch,patch,create,delete",
		"apiextensions.k8s.io:customresourcedefinitions:get,list,watch",
	}, resourceRules(pruneDocs[0])); diff != "" {
		t.Errorf("revert --prune role (-want +got):\n%s", diff)
	}
	for _, d := range docs {
		if err := kube.Apply(context.Background(), "setup", "", d); err != nil {
			t.Fatal(err)
		}
	}

	reader := "revert-readers-" + ns
	for _, d := range rbacDocs(t, append(src, "--name", "dw-read-"+ns, "--subject", "group:"+reader)...) {
		if err := kube.Apply(context.Background(), "setup", "", d); err != nil {
			t.Fatal(err)
		}
	}
	readCfg, readKC := userKubeconfig(t, "reader-"+ns, reader, "reader", ns)
	writeCfg, writeKC := userKubeconfig(t, "writer-"+ns, writer, "writer", ns)
	waitAllowed(t, readCfg, ns, "list", "apps", "deployments")
	waitAllowed(t, writeCfg, ns, "patch", "apps", "deployments")

	driftHandsOn(t, ns)
	// Read-only: every resource to revert fails, forbidden, and says so.
	r := runCLI(t, append([]string{"revert", "--kubeconfig", readKC}, src...)...)
	if r.code != exitError {
		t.Fatalf("read-only role: exit %d, want 2\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"Deployment " + ns + `/web: failed: apply: deployments.apps "web" is forbidden: User "reader-` + ns + `" cannot patch resource "deployments" in API group "apps" in the namespace "` + ns + `"`,
		"Secret " + ns + `/creds: failed: apply: secrets "creds" is forbidden: User "reader-` + ns + `" cannot patch resource "secrets" in API group "" in the namespace "` + ns + `"`,
		"ConfigMap " + ns + `/settings: failed: apply: configmaps "settings" is forbidden: User "reader-` + ns + `" cannot patch resource "configmaps" in API group "" in the namespace "` + ns + `"`,
		"Revert: 0 reverted, 0 created, 0 deleted, 0 left, 3 failed; 0 already in sync",
	} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("read-only output lacks %q:\n%s", want, r.stdout)
		}
	}
	if replicas, _, _ := unstructured.NestedInt64(getLive(t, gvkDeployment, ns, "web").Object, "spec", "replicas"); replicas != 5 {
		t.Errorf("the read-only revert changed replicas to %d", replicas)
	}

	// The revert role: everything put back.
	r = runCLI(t, append([]string{"revert", "--kubeconfig", writeKC}, src...)...)
	if r.code != exitInSync {
		t.Fatalf("revert role: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	c := runCLI(t, "check", "--dir", dir, "--kubeconfig", kubeconfig, "-n", ns, "-o", "json")
	if diff := cmp.Diff([]string{"Deployment/web spec.template.spec.containers[name=app].securityContext (Added)"}, diffsOf(parseReport(t, c))); diff != "" {
		t.Errorf("check after revert with the generated role (-want +got):\n%s", diff)
	}
}

// Bad input: one line on stderr naming the flag, exit 2, before anything
// is read.
func TestRevertBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"revert"}, "flag: exactly one of --repo and --dir is required"},
		{[]string{"revert", "--dir", ".", "-o", "yaml"}, `flag --output: unknown format "yaml" (want text or json)`},
		{[]string{"revert", "--dir", ".", "--prune"}, "flag --prune: needs --detect-extra"},
		{[]string{"revert", "--dir", ".", "--field-manager", strings.Repeat("m", 129)}, "flag --field-manager: 129 characters, at most 128"},
		{[]string{"revert", "--dir", ".", "--field-manager", "a\tb"}, "flag --field-manager: \"a\\tb\" has characters that are not printable"},
		{[]string{"revert", "--dir", ".", "--dry-run=maybe"}, `flag: invalid argument "maybe" for "--dry-run"`},
		{[]string{"revert", "--dir", ".", "--names", "[web"}, `flag --names: bad pattern "[web"`},
		{[]string{"rbac", "--dir", ".", "--for", "deploy"}, `flag --for: unknown command "deploy" (want check, watch, revert or fleet)`},
		{[]string{"rbac", "--dir", ".", "--prune"}, "flag --prune: only with --for revert"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runCLI(t, tc.args...)
			if r.code != exitError {
				t.Errorf("exit %d, want 2", r.code)
			}
			if !strings.HasPrefix(r.stderr, "driftwatch: error: "+tc.want) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr %q, want one line starting %q", r.stderr, tc.want)
			}
		})
	}
}

// A Missing object is recreated as the manager that applied the source's
// other objects, so that it is owned as its siblings are and Git's next
// apply neither shares nor fights over it; when they were applied by
// several managers, as driftwatch; --field-manager wins. The output says
// which and why.
func TestRevertCreatesAsTheSourceManager(t *testing.T) {
	requireAPIServer(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// setup changes who applied the other objects.
		setup func(t *testing.T, ns, dir string)
		flags []string
		line  string
		owner string
	}{{
		name: "one manager applied them all",
		line: `created, applied as "gitops" (the manager that applied the source's other 2 objects)`, owner: "gitops/Apply",
	}, {
		name: "two managers",
		setup: func(t *testing.T, ns, dir string) {
			// The Secret is another tool's now: deleted, applied again by it.
			if err := kube.Delete(ctx, gvkSecret, ns, "creds"); err != nil {
				t.Fatal(err)
			}
			objs, err := gitsource.Render(dir, ".")
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				if o.Object.GetKind() == "Secret" {
					if err := kube.Apply(ctx, "argocd-controller", ns, o.Object); err != nil {
						t.Fatal(err)
					}
				}
			}
		},
		line:  `created, applied as "driftwatch" (the source's other 2 objects were applied by 2 managers: argocd-controller, gitops)`,
		owner: "driftwatch/Apply",
	}, {
		name: "--field-manager wins", flags: []string{"--field-manager", "ops"},
		line: `created, applied as "ops" (given by --field-manager)`, owner: "ops/Apply",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			ns, dir := revertFixture(t, revertManifests)
			if tc.setup != nil {
				tc.setup(t, ns, dir)
			}
			if err := kube.Delete(ctx, gvkConfigMap, ns, "settings"); err != nil {
				t.Fatal(err)
			}
			r := runCLI(t, append([]string{"revert", "--dir", dir, "--kubeconfig", kubeconfig, "-n", ns}, tc.flags...)...)
			want := "ConfigMap " + ns + "/settings: " + tc.line + "\n" +
				"Revert: 0 reverted, 1 created, 0 deleted, 0 left, 0 failed; 2 already in sync\n"
			if r.code != exitInSync || r.stdout != want {
				t.Errorf("revert: exit %d, want 0\nstdout: %s\nwant: %s\nstderr: %s", r.code, r.stdout, want, r.stderr)
			}
			settings := getLive(t, gvkConfigMap, ns, "settings")
			if settings == nil {
				t.Fatal("settings not recreated")
			}
			if diff := cmp.Diff([]string{tc.owner}, ownedBy(settings, "data", "LOG_LEVEL")); diff != "" {
				t.Errorf("owners of data.LOG_LEVEL (-want +got):\n%s", diff)
			}
		})
	}
}
