package drift

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// The benchmarks here measure the comparison engine alone,
// without an API server. They report objects per second and allocations;
// nothing asserts a timing.

func benchObj(tb testing.TB, s string) *unstructured.Unstructured {
	tb.Helper()
	js, err := yaml.YAMLToJSON([]byte(s))
	if err != nil {
		tb.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		tb.Fatal(err)
	}
	return u
}

// benchDesired is a typical Deployment as Git holds it: two containers with
// env, resources and probes.
var benchDesired = func() string {
	b, err := os.ReadFile(filepath.Join("..", "testdata", "bench", "deployment.yaml"))
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// benchLive is the same Deployment as the API server returns it: defaults
// filled in, quantities normalised, server metadata, managedFields and
// status.
func benchLive(tb testing.TB, drifted bool) *unstructured.Unstructured {
	replicas, image, logLevel, manager := "3", "registry.example.com/web:1.27.3", "info", "gitops"
	if drifted {
		replicas, image, logLevel, manager = "5", "registry.example.com/web:1.28.0", "debug", "kubectl-edit"
	}
	containerDefaults := `terminationMessagePath: /dev/termination-log
        terminationMessagePolicy: File
        imagePullPolicy: IfNotPresent`
	probeDefaults := `timeoutSeconds: 1, successThreshold: 1`
	return benchObj(tb, fmt.Sprintf(`
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
  uid: 0b7c6f1e-6a0e-4d3e-9d7e-5f1f8b7d6c21
  resourceVersion: "482913"
  generation: 7
  creationTimestamp: "2026-11-20T10:00:00Z"
  labels: {app.kubernetes.io/name: web, app.kubernetes.io/part-of: shop, team: payments}
  annotations: {owner: platform, deployment.kubernetes.io/revision: "4"}
  managedFields:
  - manager: gitops
    operation: Apply
    apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata: {f:labels: {f:app.kubernetes.io/name: {}, f:app.kubernetes.io/part-of: {}, f:team: {}}, f:annotations: {f:owner: {}}}
      f:spec:
        f:selector: {}
        f:template:
          f:metadata: {f:labels: {f:app.kubernetes.io/name: {}, f:app.kubernetes.io/part-of: {}}}
          f:spec:
            f:containers:
              'k:{"name":"app"}': {.: {}, f:name: {}, f:ports: {}, f:env: {}, f:resources: {}, f:readinessProbe: {}, f:livenessProbe: {}}
              'k:{"name":"proxy"}': {.: {}, f:name: {}, f:image: {}, f:ports: {}, f:env: {}, f:resources: {}}
  - manager: %[4]s
    operation: Update
    apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:spec:
        f:replicas: {}
        f:template: {f:spec: {f:containers: {'k:{"name":"app"}': {f:image: {}}}}}
spec:
  replicas: %[1]s
  revisionHistoryLimit: 10
  progressDeadlineSeconds: 600
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 25%%, maxUnavailable: 25%%}}
  selector: {matchLabels: {app.kubernetes.io/name: web}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: web, app.kubernetes.io/part-of: shop}
    spec:
      restartPolicy: Always
      terminationGracePeriodSeconds: 30
      dnsPolicy: ClusterFirst
      schedulerName: default-scheduler
      securityContext: {}
      containers:
      - name: app
        image: %[2]s
        ports: [{containerPort: 8080, name: http, protocol: TCP}]
        env:
        - {name: LOG_LEVEL, value: %[3]s}
        - {name: DB_HOST, value: db.prod.svc}
        - {name: DB_POOL, value: "20"}
        - {name: CACHE_TTL, value: 300s}
        - {name: FEATURE_FLAGS, value: "checkout,search"}
        resources:
          requests: {cpu: 250m, memory: 256Mi}
          limits: {cpu: "1", memory: 1Gi}
        readinessProbe: {httpGet: {path: /ready, port: 8080, scheme: HTTP}, periodSeconds: 5, failureThreshold: 3, %[5]s}
        livenessProbe: {httpGet: {path: /healthz, port: 8080, scheme: HTTP}, periodSeconds: 10, failureThreshold: 3, %[5]s}
        %[6]s
      - name: proxy
        image: registry.example.com/proxy:2.4.1
        ports: [{containerPort: 9090, name: metrics, protocol: TCP}]
        env:
        - {name: UPSTREAM, value: "127.0.0.1:8080"}
        - {name: TLS_MODE, value: strict}
        resources:
          requests: {cpu: 50m, memory: 64Mi}
          limits: {cpu: 200m, memory: 128Mi}
        %[6]s
status:
  observedGeneration: 7
  replicas: %[1]s
  readyReplicas: %[1]s
  conditions:
  - {type: Available, status: "True", reason: MinimumReplicasAvailable}
`, replicas, image, logLevel, manager, probeDefaults, containerDefaults))
}

// benchDeploymentSchema is a hand-built cut of the Deployment schema: the
// keyed lists (containers, ports, env), quantities and the atomic selector.
func benchDeploymentSchema() *Schema {
	quantities := &Schema{Additional: &Schema{Quantity: true}}
	probe := &Schema{Properties: map[string]*Schema{
		"httpGet": {Properties: map[string]*Schema{"port": {IntOrString: true}, "path": {}, "scheme": {}}},
	}, Additional: &Schema{}}
	container := &Schema{Properties: map[string]*Schema{
		"name": {}, "image": {}, "imagePullPolicy": {}, "terminationMessagePath": {}, "terminationMessagePolicy": {},
		"ports": {ListType: "map", ListKeys: []string{"containerPort", "protocol"}, Items: &Schema{
			Properties: map[string]*Schema{"containerPort": {}, "name": {}, "protocol": {Default: "TCP"}},
		}},
		"env": {ListType: "map", ListKeys: []string{"name"}, Items: &Schema{
			Properties: map[string]*Schema{"name": {}, "value": {}, "valueFrom": {Additional: &Schema{}}},
		}},
		"resources":      {Properties: map[string]*Schema{"requests": quantities, "limits": quantities}},
		"readinessProbe": probe, "livenessProbe": probe,
	}}
	meta := &Schema{Additional: &Schema{}, Properties: map[string]*Schema{
		"labels": {Additional: &Schema{}}, "annotations": {Additional: &Schema{}},
	}}
	return &Schema{Properties: map[string]*Schema{
		"apiVersion": {}, "kind": {}, "metadata": meta,
		"spec": {Additional: &Schema{}, Properties: map[string]*Schema{
			"replicas": {},
			"selector": {Atomic: true, Additional: &Schema{}},
			"template": {Properties: map[string]*Schema{
				"metadata": meta,
				"spec": {Additional: &Schema{}, Properties: map[string]*Schema{
					"containers": {ListType: "map", ListKeys: []string{"name"}, Items: container},
				}},
			}},
		}},
		"status": {Additional: &Schema{}},
	}}
}

// BenchmarkCompareDeployment compares one Deployment, in sync and drifted
// (replicas, image and one env value), with and without a schema.
func BenchmarkCompareDeployment(b *testing.B) {
	desired := benchObj(b, benchDesired)
	for _, state := range []string{"in-sync", "drifted"} {
		live := benchLive(b, state == "drifted")
		for _, withSchema := range []bool{false, true} {
			opts := Options{HashKey: []byte("bench")}
			name := state + "/no-schema"
			if withSchema {
				opts.Schema = benchDeploymentSchema()
				name = state + "/schema"
			}
			b.Run(name, func(b *testing.B) {
				// Outside the timing: the verdict is what the name says.
				diffs := Compare(desired, live, opts)
				if (len(diffs) > 0) != (state == "drifted") {
					b.Fatalf("%s: %d diffs: %v", name, len(diffs), diffs)
				}
				b.ReportAllocs()
				n := 0
				for b.Loop() {
					Compare(desired, live, opts)
					n++
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "objects/s")
				b.ReportMetric(float64(len(diffs)), "diffs")
			})
		}
	}
}
