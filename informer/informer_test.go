package informer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

var (
	env  *apiservertest.Env
	kube *apiservertest.Client
	dyn  dynamic.Interface
)

func TestMain(m *testing.M) {
	// Without the API server the unit tests run; the integration tests
	// skip themselves.
	apiservertest.Main(m, func(e *apiservertest.Env) (err error) {
		env = e
		if kube, err = apiservertest.NewClient(env.Config); err != nil {
			return err
		}
		dyn = kube.Dynamic
		return nil
	})
}

// requireAPIServer skips (or, under make test, fails) an integration test
// when TestMain started no API server.
func requireAPIServer(t *testing.T) {
	t.Helper()
	apiservertest.Require(t)
}

func mustObj(t *testing.T, s string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(s), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestResolve(t *testing.T) {
	requireAPIServer(t)
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	r := NewResolver(dc)
	ctx := context.Background()
	tests := []struct {
		gvk     schema.GroupVersionKind
		want    Mapping
		wantErr string
	}{
		{gvk: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
			want: Mapping{GVR: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, Namespaced: true}},
		{gvk: schema.GroupVersionKind{Version: "v1", Kind: "Namespace"},
			want: Mapping{GVR: schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}}},
		{gvk: schema.GroupVersionKind{Group: "policy", Version: "v1beta1", Kind: "PodDisruptionBudget"},
			wantErr: "policy/v1beta1 PodDisruptionBudget is not served by the cluster; this cluster serves policy/v1"},
		{gvk: schema.GroupVersionKind{Group: "late.driftwatch.dev", Version: "v1", Kind: "Late"},
			wantErr: "late.driftwatch.dev/v1 Late is not served by the cluster (is its CustomResourceDefinition installed?)"},
	}
	for _, tt := range tests {
		t.Run(tt.gvk.String(), func(t *testing.T) {
			got, err := r.Resolve(ctx, tt.gvk)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || !errors.Is(err, ErrNotServed) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.GVK = tt.gvk
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	// A CRD installed after discovery was cached is found on the next miss.
	crd := mustObj(t, `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: lates.late2.driftwatch.dev}
spec:
  group: late2.driftwatch.dev
  names: {kind: Late, plural: lates, singular: late, listKind: LateList}
  scope: Cluster
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`)
	if err := kube.Apply(ctx, "test", "", crd); err != nil {
		t.Fatal(err)
	}
	got, err := r.Resolve(ctx, schema.GroupVersionKind{Group: "late2.driftwatch.dev", Version: "v1", Kind: "Late"})
	if err != nil {
		t.Fatalf("CRD installed after the first lookup not found: %v", err)
	}
	if got.GVR.Resource != "lates" || got.Namespaced {
		t.Errorf("mapping %+v", got)
	}
}

func TestManagerScopesByNamespace(t *testing.T) {
	requireAPIServer(t)
	ctx := context.Background()
	cms := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	for _, ns := range []string{"mgr-a", "mgr-b"} {
		if err := kube.Apply(ctx, "test", "", mustObj(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: "+ns+"}\n")); err != nil {
			t.Fatal(err)
		}
		cm := mustObj(t, `
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"big": "copy"}'
    keep: me
data: {ns: `+ns+`}
`)
		if err := kube.Apply(ctx, "test", ns, cm); err != nil {
			t.Fatal(err)
		}
	}
	m := NewManager(dyn, Options{})
	defer m.Stop()
	a := Scope{GVR: cms, Namespace: "mgr-a"}
	m.Ensure(a, a)
	if errs := m.WaitForSync(ctx, a); len(errs) > 0 {
		t.Fatal(errs)
	}
	items, err := m.List(a)
	if err != nil {
		t.Fatal(err)
	}
	// Only mgr-a's ConfigMaps are cached (kube-root-ca.crt may be there too),
	// never mgr-b's.
	for _, it := range items {
		if it.GetNamespace() != "mgr-a" {
			t.Errorf("cached %s/%s outside the scope", it.GetNamespace(), it.GetName())
		}
	}
	got, err := m.Get(a, "cm")
	if err != nil || got == nil {
		t.Fatalf("Get: %v %v", got, err)
	}
	if diff := cmp.Diff(map[string]string{"keep": "me"}, got.GetAnnotations()); diff != "" {
		t.Errorf("annotations after transform (-want +got):\n%s", diff)
	}
	if got, err := m.Get(a, "absent"); got != nil || err != nil {
		t.Errorf("Get(absent) = %v, %v", got, err)
	}
	if diff := cmp.Diff([]Scope{a}, m.Scopes()); diff != "" {
		t.Errorf("Scopes (-want +got):\n%s", diff)
	}
	m.Remove(a)
	if len(m.Scopes()) != 0 {
		t.Errorf("Scopes after Remove: %v", m.Scopes())
	}
	if _, err := m.Get(a, "cm"); err == nil {
		t.Error("Get after Remove succeeded")
	}
}

func TestManagerForbiddenFailsFast(t *testing.T) {
	requireAPIServer(t)
	cfg, err := env.AddUser("nobody")
	if err != nil {
		t.Fatal(err)
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(client, Options{})
	defer m.Stop()
	s := Scope{GVR: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, Namespace: "default"}
	m.Ensure(s)
	// A long deadline: the error must come from the API, not the timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	errs := m.WaitForSync(ctx, s)
	if err := errs[s]; err == nil || !strings.Contains(err.Error(), "forbidden") || ctx.Err() != nil {
		t.Fatalf("error = %v (ctx %v), want forbidden", err, ctx.Err())
	}
	if _, err := m.Get(s, "x"); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("Get error = %v", err)
	}
}

// An API server that refuses connections: the sync times out with the
// reason, and Health says the informer is cut off since when.
func TestManagerUnreachableSaysWhy(t *testing.T) {
	client, err := dynamic.NewForConfig(&rest.Config{Host: "https://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(client, Options{})
	defer m.Stop()
	s := Scope{GVR: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, Namespace: "default"}
	m.Ensure(s)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err = m.WaitForSync(ctx, s)[s]
	if err == nil || !strings.Contains(err.Error(), "not synced in time") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("error = %v, want the timeout with the connection's error", err)
	}
	h := m.Health()[s]
	if h.Err == nil || h.Since.IsZero() || h.Lists != 0 {
		t.Errorf("health = %+v", h)
	}
	start := time.Now()
	m.Stop()
	t.Logf("stopped in %s", time.Since(start))
}

// TestManagerRelease: a released object keeps its metadata and labels in
// the cache, Get reads it whole from the API server, and the next event
// caches the new version whole again.
func TestManagerRelease(t *testing.T) {
	requireAPIServer(t)
	ctx := context.Background()
	cms := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	cmGVK := schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	if err := kube.Apply(ctx, "test", "", mustObj(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: rel}\n")); err != nil {
		t.Fatal(err)
	}
	if err := kube.Apply(ctx, "test", "rel", mustObj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, labels: {team: a}}\ndata: {k: v1}\n")); err != nil {
		t.Fatal(err)
	}
	m := NewManager(dyn, Options{})
	defer m.Stop()
	s := Scope{GVR: cms, Namespace: "rel"}
	m.Ensure(s)
	if errs := m.WaitForSync(ctx, s); len(errs) > 0 {
		t.Fatal(errs)
	}
	r := m.(Releaser)
	data := func(u *unstructured.Unstructured) string {
		v, _, _ := unstructured.NestedString(u.Object, "data", "k")
		return v
	}
	r.Release(s, "cm")
	md, err := r.Metadata(s, "cm")
	if err != nil || md == nil {
		t.Fatalf("Metadata after Release: %v, %v", md, err)
	}
	if _, has := md.Object["data"]; has || md.GetLabels()["team"] != "a" || md.GetResourceVersion() == "" {
		t.Errorf("metadata after Release = %v, want labels and resourceVersion without data", md.Object)
	}
	// The cache has no content for it: Get asks the API server.
	got, err := m.Get(s, "cm")
	if err != nil || got == nil || data(got) != "v1" || len(got.GetManagedFields()) == 0 {
		t.Fatalf("Get after Release = %v, %v; want the whole object from the API server", got, err)
	}
	items, err := m.List(s)
	if err != nil || len(items) == 0 {
		t.Fatalf("List: %v, %v", items, err)
	}
	for _, it := range items {
		if _, has := it.Object["data"]; has {
			t.Errorf("List returned %s with its content, want metadata only", it.GetName())
		}
	}
	if err := kube.Edit(ctx, "kubectl-edit", cmGVK, "rel", "cm", func(u *unstructured.Unstructured) error {
		return unstructured.SetNestedField(u.Object, "v2", "data", "k")
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		u, _ := m.(*manager).cached(s, "cm")
		if u != nil {
			if full, err := Unpack(u); err == nil && data(full) == "v2" {
				break // the event cached the new version whole
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the update did not reach the cache whole within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := kube.Delete(ctx, cmGVK, "rel", "cm"); err != nil {
		t.Fatal(err)
	}
	r.Release(s, "cm") // deleted meanwhile: Get says absent, not an error
	if got, err := m.Get(s, "cm"); err != nil || (got != nil && data(got) != "v2") {
		t.Errorf("Get of a released, deleted object = %v, %v; want nil or the last version", got, err)
	}
}
