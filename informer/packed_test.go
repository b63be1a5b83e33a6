package informer

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/tools/cache"
)

// TestPackedObjectInCache: what client-go's cache reads of a stored
// object (its key functions, meta.Accessor, the GVK) works on a stub.
func TestPackedObjectInCache(t *testing.T) {
	pack := func(u *unstructured.Unstructured) any {
		t.Helper()
		out, err := PackTransform(u)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	cm := pack(&unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "cm", "namespace": "ns", "resourceVersion": "7", "uid": "u-7"},
		"data":     map[string]any{"k": "v"},
	}})
	ns := pack(&unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "ns"},
	}})
	for _, tc := range []struct {
		obj     any
		key, rv string
		gvk     schema.GroupVersionKind
	}{
		{obj: cm, key: "ns/cm", rv: "7", gvk: schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}},
		{obj: ns, key: "ns", gvk: schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}},
	} {
		if _, ok := tc.obj.(*packedObject); !ok {
			t.Fatalf("%s: %T, want a stub", tc.key, tc.obj)
		}
		for name, key := range map[string]cache.KeyFunc{
			"MetaNamespaceKeyFunc": cache.MetaNamespaceKeyFunc, "DeletionHandlingMetaNamespaceKeyFunc": cache.DeletionHandlingMetaNamespaceKeyFunc,
		} {
			if got, err := key(tc.obj); err != nil || got != tc.key {
				t.Errorf("%s(%s) = %q, %v", name, tc.key, got, err)
			}
		}
		tomb := cache.DeletedFinalStateUnknown{Key: tc.key, Obj: tc.obj}
		if got, err := cache.DeletionHandlingMetaNamespaceKeyFunc(tomb); err != nil || got != tc.key {
			t.Errorf("key of a tombstone of %s = %q, %v", tc.key, got, err)
		}
		acc, err := meta.Accessor(tc.obj)
		if err != nil || acc.GetResourceVersion() != tc.rv || acc.GetLabels() != nil {
			t.Errorf("meta.Accessor(%s) = %v, %v", tc.key, acc, err)
		}
		if got := tc.obj.(k8sruntime.Object).GetObjectKind().GroupVersionKind(); got != tc.gvk {
			t.Errorf("GVK of %s = %v, want %v", tc.key, got, tc.gvk)
		}
	}
	// A store keyed as the informer's is holds stubs and replaces them.
	store := cache.NewStore(cache.DeletionHandlingMetaNamespaceKeyFunc)
	if err := store.Replace([]any{cm, ns}, "7"); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := store.GetByKey("ns/cm"); err != nil || !ok || got != cm {
		t.Errorf("GetByKey(ns/cm) = %v, %v, %v", got, ok, err)
	}
}

// TestManagerPackedCache: a Manager caching stubs (the default) and one
// caching plain objects (another Options.Transform) answer alike through
// the informer's own machinery (client-go's queue, store and handlers),
// here over a fake client: Get whole, List and Metadata by metadata,
// Release, and events named for updates and deletes.
func TestManagerPackedCache(t *testing.T) {
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	s := Scope{GVR: gvr, Namespace: "ns"}
	cm := func(name, value string, labels map[string]any) *unstructured.Unstructured {
		md := map[string]any{"name": name, "namespace": "ns"}
		if labels != nil {
			md["labels"] = labels
		}
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": map[string]any{"k": value},
		}}
	}
	data := func(u *unstructured.Unstructured) string {
		v, _, _ := unstructured.NestedString(u.Object, "data", "k")
		return v
	}
	for _, tc := range []struct {
		name      string
		transform cache.TransformFunc
		packed    bool
	}{
		{"packed", nil, true},
		{"DefaultTransform", DefaultTransform, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(k8sruntime.NewScheme(),
				map[schema.GroupVersionResource]string{gvr: "ConfigMapList"},
				cm("a", "v1", map[string]any{"team": "x", "app": "a"}), cm("b", "v1", nil))
			m := NewManager(client, Options{Transform: tc.transform})
			defer m.Stop()
			var mu sync.Mutex
			var events []string
			if _, err := m.AddEventHandler(EventHandler{OnEvent: func(_ Scope, name string, et EventType) {
				mu.Lock()
				defer mu.Unlock()
				events = append(events, string(et)+" "+name)
			}}); err != nil {
				t.Fatal(err)
			}
			m.Ensure(s)
			if errs := m.WaitForSync(ctx, s); len(errs) > 0 {
				t.Fatal(errs)
			}
			e, _ := m.(*manager).entry(s)
			obj, _, _ := e.informer.GetIndexer().GetByKey("ns/a")
			if _, isStub := obj.(*packedObject); isStub != tc.packed {
				t.Errorf("cached %T, packed = %v", obj, tc.packed)
			}

			got, err := m.Get(s, "a")
			if err != nil || got == nil || data(got) != "v1" {
				t.Fatalf("Get(a) = %v, %v; want the whole object", got, err)
			}
			items, err := m.List(s)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, it := range items {
				names = append(names, it.GetName())
				if _, has := it.Object["data"]; has == tc.packed {
					t.Errorf("List: %s has data = %v, packed = %v", it.GetName(), has, tc.packed)
				}
				if it.GetKind() != "ConfigMap" || it.GetAPIVersion() != "v1" || it.GetNamespace() != "ns" {
					t.Errorf("List: %v, want apiVersion, kind and namespace", it.Object)
				}
			}
			sort.Strings(names)
			if diff := cmp.Diff([]string{"a", "b"}, names); diff != "" {
				t.Errorf("List names (-want +got):\n%s", diff)
			}

			r := m.(Releaser)
			r.Release(s, "a")
			md, err := r.Metadata(s, "a")
			if err != nil || md == nil {
				t.Fatalf("Metadata(a) = %v, %v", md, err)
			}
			if diff := cmp.Diff(map[string]string{"team": "x", "app": "a"}, md.GetLabels()); diff != "" {
				t.Errorf("Metadata labels after Release (-want +got):\n%s", diff)
			}
			if md.GetName() != "a" || md.GetNamespace() != "ns" || md.GetKind() != "ConfigMap" {
				t.Errorf("Metadata(a) = %v", md.Object)
			}
			cached, _ := m.(*manager).cached(s, "a")
			if _, err := Unpack(cached); errors.Is(err, ErrReleased) != tc.packed {
				t.Errorf("Unpack after Release: %v; packed = %v", err, tc.packed)
			}
			// Released or not, Get returns the whole object (packed: from
			// the client).
			if got, err := m.Get(s, "a"); err != nil || got == nil || data(got) != "v1" {
				t.Errorf("Get(a) after Release = %v, %v", got, err)
			}
			if md, err := r.Metadata(s, "absent"); md != nil || err != nil {
				t.Errorf("Metadata(absent) = %v, %v", md, err)
			}

			ri := client.Resource(gvr).Namespace("ns")
			if _, err := ri.Update(ctx, cm("a", "v2", map[string]any{"team": "y"}), metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := ri.Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool {
				got, _ := m.Get(s, "a")
				b, _ := m.Get(s, "b")
				return got != nil && data(got) == "v2" && b == nil
			})
			if md, _ := r.Metadata(s, "a"); md == nil || md.GetLabels()["team"] != "y" {
				t.Errorf("Metadata(a) after the update = %v", md)
			}
			mu.Lock()
			defer mu.Unlock()
			want := []string{"Added a", "Added b", "Updated a", "Deleted b"}
			sort.Strings(want)
			got2 := append([]string(nil), events...)
			sort.Strings(got2)
			if diff := cmp.Diff(want, got2); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// waitFor polls cond until it holds, failing after 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// typicalObject is the i-th object of the sizes issue #15 measured: even
// i a ConfigMap with 10 keys, odd i a Deployment with two containers; two
// labels each, in 20 namespaces, decoded from JSON as the informer's
// decoder does (so that no string is shared between objects).
func typicalObject(i int) *unstructured.Unstructured {
	var text string
	if i%2 == 0 {
		data := ""
		for k := 0; k < 10; k++ {
			data += fmt.Sprintf(`,"key-%d":"value-%d-%08d-abcdefghijklmnopqrstuvwxyz"`, k, k, i)
		}
		text = fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"config-%d","namespace":"team-%d",
"uid":"6f1b2c3d-4e5f-4a6b-8c7d-%012d","resourceVersion":"%d","creationTimestamp":"2025-01-02T03:04:05Z",
"labels":{"app.kubernetes.io/name":"config-%d","app.kubernetes.io/managed-by":"driftwatch"},
"managedFields":[{"manager":"driftwatch","operation":"Apply","apiVersion":"v1","time":"2025-01-02T03:04:05Z","fieldsType":"FieldsV1",
"fieldsV1":{"f:data":{"f:key-0":{},"f:key-1":{}},"f:metadata":{"f:labels":{"f:app.kubernetes.io/name":{}}}}}]},
"data":{%s}}`, i, i%20, i, 100000+i, i, data[1:])
	} else {
		text = fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web-%d","namespace":"team-%d",
"uid":"6f1b2c3d-4e5f-4a6b-8c7d-%012d","resourceVersion":"%d","generation":1,"creationTimestamp":"2025-01-02T03:04:05Z",
"labels":{"app.kubernetes.io/name":"web-%d","app.kubernetes.io/managed-by":"driftwatch"},
"managedFields":[{"manager":"driftwatch","operation":"Apply","apiVersion":"apps/v1","time":"2025-01-02T03:04:05Z","fieldsType":"FieldsV1",
"fieldsV1":{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:image":{}}}}}}}}]},
"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web-%d"}},"template":{"metadata":{"labels":{"app":"web-%d"}},
"spec":{"containers":[{"name":"app","image":"registry.example.com/web:1.2.%d","ports":[{"containerPort":8080}],
"resources":{"requests":{"cpu":"100m","memory":"128Mi"}}},{"name":"sidecar","image":"registry.example.com/proxy:2.0.1",
"args":["--upstream=127.0.0.1:8080"]}]}}},"status":{"replicas":2,"readyReplicas":2}}`, i, i%20, i, 100000+i, i, i, i, i)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON([]byte(text)); err != nil {
		panic(err)
	}
	return u
}

// BenchmarkStubHeap measures the heap a packed object costs in the cache:
// N typical objects (half ConfigMaps with 10 keys, half Deployments with
// two containers, two labels each, as decoded from the API server's JSON)
// go through the transform, then are released, as a watch does once it
// has compared them. It reports bytes per object while the body is held
// ("B/held") and after Release ("B/released"), for the packedObject
// struct and, for comparison, the map stub it replaced. Run it with
//
//	go test -run '^$' -bench StubHeap -benchtime 3x ./informer/
func BenchmarkStubHeap(b *testing.B) {
	const n = 10000
	layouts := []struct {
		name    string
		pack    func(any) (any, error)
		release func(any)
	}{
		{"struct", PackTransform, func(o any) { o.(*packedObject).release() }},
		{"maps", mapPackTransform, func(o any) { mapRelease(o.(*unstructured.Unstructured)) }},
	}
	for _, l := range layouts {
		b.Run(l.name, func(b *testing.B) {
			var held, released float64
			for b.Loop() {
				h, r := stubHeap(n, l.pack, l.release)
				held += h
				released += r
			}
			b.ReportMetric(held/float64(b.N), "B/held")
			b.ReportMetric(released/float64(b.N), "B/released")
		})
	}
}

// stubHeap returns the heap bytes per object that n packed objects hold,
// before and after their release. The decoded objects are garbage by the
// time the heap is read: only the stubs are alive.
func stubHeap(n int, pack func(any) (any, error), release func(any)) (held, released float64) {
	stubs := make([]any, n)
	var before, withBody, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range stubs {
		stub, err := pack(typicalObject(i))
		if err != nil {
			panic(err)
		}
		stubs[i] = stub
	}
	runtime.GC()
	runtime.ReadMemStats(&withBody)
	for _, s := range stubs {
		release(s)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(stubs)
	perObject := func(m runtime.MemStats) float64 {
		return float64(int64(m.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
	}
	return perObject(withBody), perObject(after)
}

// mapPackTransform is the stub PackTransform made before packedObject,
// kept here only for BenchmarkStubHeap's comparison: an
// *unstructured.Unstructured holding apiVersion, kind, a metadata map
// (name, namespace, resourceVersion, uid, the labels map) and the body
// behind a pointer.
func mapPackTransform(obj any) (any, error) {
	obj, _ = DropLastApplied(obj)
	u := obj.(*unstructured.Unstructured)
	delete(u.Object, "status")
	raw, err := u.MarshalJSON()
	if err != nil {
		return nil, err
	}
	md := map[string]any{"name": u.GetName()}
	if ns := u.GetNamespace(); ns != "" {
		md["namespace"] = ns
	}
	if rv := u.GetResourceVersion(); rv != "" {
		md["resourceVersion"] = rv
	}
	if uid := string(u.GetUID()); uid != "" {
		md["uid"] = uid
	}
	if l, ok := u.Object["metadata"].(map[string]any)["labels"].(map[string]any); ok && len(l) > 0 {
		md["labels"] = l
	}
	body := &mapBody{}
	text := string(raw)
	body.raw.Store(&text)
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": u.GetAPIVersion(), "kind": u.GetKind(), "metadata": md, "driftwatch.dev/packed": body,
	}}, nil
}

type mapBody struct{ raw atomic.Pointer[string] }

func mapRelease(u *unstructured.Unstructured) {
	u.Object["driftwatch.dev/packed"].(*mapBody).raw.Store(nil)
}
