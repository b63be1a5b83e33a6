package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/informer"
)

// namespacesPerSize is how many namespaces the desired objects of one size
// spread over.
const namespacesPerSize = 20

var (
	gvrConfigMap  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	gvrSecret     = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	gvrService    = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	gvrDeployment = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	gvrWidget     = schema.GroupVersionResource{Group: "bench.driftwatch.dev", Version: "v1", Resource: "benchwidgets"}
	gvrNamespace  = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	gvrCRD        = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// benchCRD is the CustomResourceDefinition of the custom resources in the
// desired set (installed once, not part of N).
func benchCRD() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "benchwidgets.bench.driftwatch.dev"},
		"spec": map[string]any{
			"group": "bench.driftwatch.dev", "scope": "Namespaced",
			"names": map[string]any{"kind": "BenchWidget", "listKind": "BenchWidgetList", "plural": "benchwidgets", "singular": "benchwidget"},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object",
					"properties": map[string]any{
						"spec": map[string]any{"type": "object", "properties": map[string]any{
							"size":   map[string]any{"type": "integer"},
							"color":  map[string]any{"type": "string", "default": "blue"},
							"tags":   map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
							"limits": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
							"backends": map[string]any{"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": []any{"name"},
								"items": map[string]any{"type": "object", "required": []any{"name"}, "properties": map[string]any{
									"name": map[string]any{"type": "string"}, "weight": map[string]any{"type": "integer"}}}},
						}},
						"status": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true},
					},
				}},
			}},
		},
	}}
}

// obj is one generated desired object.
type obj struct {
	U       *unstructured.Unstructured
	GVR     schema.GroupVersionResource
	Drifted bool
}

// key names an object the way kubectl diff names its files, minus the
// group-version: Kind.namespace.name.
func (o obj) key() string { return o.U.GetKind() + "." + o.U.GetNamespace() + "." + o.U.GetName() }

// desiredNamespace spreads objects so that every namespace holds every kind
// (the kind follows i%20, the namespace i/20 and i).
func desiredNamespace(n, i int) string {
	return fmt.Sprintf("b%d-team-%02d", n, (i+i/20)%namespacesPerSize)
}
func noiseNamespace(n, i int) string { return fmt.Sprintf("b%d-noise-%02d", n, i%namespacesPerSize) }

// filler returns deterministic text of about size bytes.
func filler(seed, size int) string {
	const words = "replicas timeout endpoint upstream retries backoff cluster region primary replica shard tenant quota window "
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		j := (seed*31 + i*17) % (len(words) - 12)
		b.WriteString(words[j : j+10])
	}
	return b.String()[:size]
}

func labels(app string, i int) map[string]any {
	return map[string]any{"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "bench", "team": fmt.Sprintf("team-%02d", i%namespacesPerSize)}
}

// configMapData is about 2 KB in 10 keys.
func configMapData(i int) map[string]any {
	d := map[string]any{}
	for k := range 10 {
		d[fmt.Sprintf("key%d", k)] = filler(i+k, 200)
	}
	return d
}

func configMap(name, ns string, i int) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": labels(name, i), "annotations": map[string]any{"bench.driftwatch.dev/owner": "platform"}},
		"data":     configMapData(i),
	}}
}

func generate(n int) []obj {
	out := make([]obj, 0, n)
	drifted := map[int]bool{}
	for k := range max(1, n/100) {
		drifted[(k*100+k%20)%n] = true
	}
	for i := range n {
		ns := desiredNamespace(n, i)
		var u *unstructured.Unstructured
		var gvr schema.GroupVersionResource
		ann := map[string]any{"bench.driftwatch.dev/owner": "platform"}
		switch c := i % 20; {
		case c < 6:
			name := fmt.Sprintf("cm-%05d", i)
			u, gvr = configMap(name, ns, i), gvrConfigMap
		case c < 9:
			name := fmt.Sprintf("secret-%05d", i)
			data := map[string]any{}
			for k := range 5 {
				data[fmt.Sprintf("secret%d", k)] = base64.StdEncoding.EncodeToString([]byte(filler(i*7+k, 48)))
			}
			u = &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
				"metadata": map[string]any{"name": name, "namespace": ns, "labels": labels(name, i), "annotations": ann},
				"data":     data,
			}}
			gvr = gvrSecret
		case c < 15:
			name := fmt.Sprintf("web-%05d", i)
			u = &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "apps/v1", "kind": "Deployment",
				"metadata": map[string]any{"name": name, "namespace": ns, "labels": labels(name, i), "annotations": ann},
				"spec":     deploymentSpec(name, i),
			}}
			gvr = gvrDeployment
		case c < 18:
			name := fmt.Sprintf("svc-%05d", i)
			u = &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "Service",
				"metadata": map[string]any{"name": name, "namespace": ns, "labels": labels(name, i), "annotations": ann},
				"spec": map[string]any{
					// Headless: envtest's service range holds only 254 IPs.
					"clusterIP": "None",
					"selector":  map[string]any{"app.kubernetes.io/name": name},
					"ports": []any{
						map[string]any{"name": "http", "port": int64(80), "targetPort": int64(8080)},
						map[string]any{"name": "metrics", "port": int64(9090), "targetPort": "metrics"},
					},
				},
			}}
			gvr = gvrService
		default:
			name := fmt.Sprintf("widget-%05d", i)
			u = &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "bench.driftwatch.dev/v1", "kind": "BenchWidget",
				"metadata": map[string]any{"name": name, "namespace": ns, "labels": labels(name, i), "annotations": ann},
				"spec": map[string]any{
					"size": int64(i%7 + 1), "tags": []any{"a", "b", fmt.Sprintf("t%d", i%13)},
					"limits":   map[string]any{"cpu": "500m", "memory": "256Mi"},
					"backends": []any{map[string]any{"name": "primary", "weight": int64(80)}, map[string]any{"name": "canary", "weight": int64(20)}},
				},
			}}
			gvr = gvrWidget
		}
		out = append(out, obj{U: u, GVR: gvr, Drifted: drifted[i]})
	}
	return out
}

func deploymentSpec(name string, i int) map[string]any {
	env := func(prefix string) []any {
		var e []any
		for k := range 5 {
			e = append(e, map[string]any{"name": fmt.Sprintf("%s_VAR_%d", prefix, k), "value": filler(i+k, 24)})
		}
		return e
	}
	probe := map[string]any{"httpGet": map[string]any{"path": "/healthz", "port": int64(8080)}, "periodSeconds": int64(10)}
	return map[string]any{
		"replicas": int64(2),
		"selector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": name}},
		"template": map[string]any{
			"metadata": map[string]any{"labels": map[string]any{"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "bench"}},
			"spec": map[string]any{
				"containers": []any{
					map[string]any{
						"name": "app", "image": fmt.Sprintf("registry.example.com/web:1.%d.0", i%40),
						"ports": []any{map[string]any{"containerPort": int64(8080), "name": "http"}},
						"env":   env("APP"),
						"resources": map[string]any{
							"requests": map[string]any{"cpu": "100m", "memory": "128Mi"},
							"limits":   map[string]any{"cpu": "1", "memory": "512Mi"},
						},
						"readinessProbe": probe, "livenessProbe": probe,
					},
					map[string]any{
						"name": "sidecar", "image": "registry.example.com/proxy:2.4",
						"ports": []any{map[string]any{"containerPort": int64(9090), "name": "metrics"}},
						"env":   env("PROXY"),
						"resources": map[string]any{
							"requests": map[string]any{"cpu": "50m", "memory": "64Mi"},
							"limits":   map[string]any{"cpu": "200m", "memory": "128Mi"},
						},
					},
				},
			},
		},
	}
}

const lastAppliedKey = "kubectl.kubernetes.io/last-applied-configuration"

// withLastApplied returns a copy of u carrying the annotation that
// client-side `kubectl apply` writes (the object as JSON), so client-side
// `kubectl diff` computes its three-way patch as it would after an apply.
func withLastApplied(u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(u.Object)
	if err != nil {
		return nil, err
	}
	c := u.DeepCopy()
	ann := c.GetAnnotations()
	ann[lastAppliedKey] = string(b) + "\n"
	c.SetAnnotations(ann)
	return c, nil
}

// drift changes one field of u the way someone with kubectl edit would.
func driftObject(u *unstructured.Unstructured) {
	switch u.GetKind() {
	case "ConfigMap":
		_ = unstructured.SetNestedField(u.Object, "edited by hand", "data", "key3")
	case "Secret":
		_ = unstructured.SetNestedField(u.Object, base64.StdEncoding.EncodeToString([]byte("rotated by hand")), "data", "secret1")
	case "Deployment":
		_ = unstructured.SetNestedField(u.Object, int64(5), "spec", "replicas")
	case "Service":
		ports, _, _ := unstructured.NestedSlice(u.Object, "spec", "ports")
		ports[0].(map[string]any)["targetPort"] = int64(9999)
		_ = unstructured.SetNestedSlice(u.Object, ports, "spec", "ports")
	case "BenchWidget":
		_ = unstructured.SetNestedField(u.Object, int64(99), "spec", "size")
	}
}

// writeManifests writes the objects as multi-document YAML, one file per
// namespace and kind, into dir.
func writeManifests(dir string, objs []obj) error {
	files := map[string]*strings.Builder{}
	for _, o := range objs {
		f := o.U.GetNamespace() + "-" + strings.ToLower(o.U.GetKind()) + ".yaml"
		b := files[f]
		if b == nil {
			b = &strings.Builder{}
			files[f] = b
		}
		y, err := yaml.Marshal(o.U.Object)
		if err != nil {
			return err
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// scopesOf lists the resource-and-namespace pairs the objects live in:
// exactly what driftwatch watches and the floor lists.
func scopesOf(objs []obj) []informer.Scope {
	seen := map[informer.Scope]bool{}
	var out []informer.Scope
	for _, o := range objs {
		s := informer.Scope{GVR: o.GVR, Namespace: o.U.GetNamespace()}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
