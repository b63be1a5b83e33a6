package drift

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func obj(t *testing.T, s string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	js, err := yaml.YAMLToJSON([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	if err := u.UnmarshalJSON(js); err != nil {
		t.Fatal(err)
	}
	return u
}

const deployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod, labels: {app: web}}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: app
        image: nginx:1.27
        resources: {requests: {cpu: 1000m, memory: 1Gi}}
        ports: [{containerPort: 8080}]
      - name: sidecar
        image: busybox
        args: [a, b]
`

// serviceSchema is a cut-down schema of a Service: ports keyed by port and
// protocol (default TCP), a quantity, and an atomic selector.
var serviceSchema = &Schema{Properties: map[string]*Schema{
	"spec": {Properties: map[string]*Schema{
		"ports": {ListType: "map", ListKeys: []string{"port", "protocol"}, Items: &Schema{
			Properties: map[string]*Schema{"protocol": {Default: "TCP"}, "targetPort": {IntOrString: true}},
		}},
		"limit":    {Quantity: true},
		"selector": {Atomic: true, Additional: &Schema{}},
	}},
}}

func TestCompare(t *testing.T) {
	tests := []struct {
		name    string
		schema  *Schema
		desired string
		live    string
		want    []FieldDiff
	}{
		{
			name:    "server defaults and metadata are not drift",
			desired: deployment,
			live: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod, labels: {app: web}, uid: x, resourceVersion: "5", generation: 3,
  annotations: {deployment.kubernetes.io/revision: "2"}}
spec:
  replicas: 2
  progressDeadlineSeconds: 600
  template:
    spec:
      restartPolicy: Always
      containers:
      - name: app
        image: nginx:1.27
        resources: {requests: {cpu: "1", memory: 1Gi}}
        ports: [{containerPort: 8080, protocol: TCP}]
      - name: sidecar
        image: busybox
        args: [a, b]
        imagePullPolicy: Always
status: {replicas: 2}
`,
		},
		{
			name: "fields the schema does not declare are pruned by the server",
			schema: &Schema{Properties: map[string]*Schema{
				"spec": {Properties: map[string]*Schema{"size": {}, "extra": {PreserveUnknown: true, Properties: map[string]*Schema{"a": {}}}}},
			}},
			desired: "apiVersion: x/v1\nkind: Cache\nmetadata: {name: c}\nspec: {size: 3, sizeMB: 512, extra: {a: 1, b: 2}}\n",
			live:    "apiVersion: x/v1\nkind: Cache\nmetadata: {name: c}\nspec: {size: 3, extra: {a: 1}}\n",
			want:    []FieldDiff{{Path: "spec.extra.b", Type: Removed, Desired: int64(2)}},
		},
		{
			name:    "keyed list reordered",
			desired: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: x}, {name: b, image: y}]}\n",
			live:    "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: z}, {name: b, image: y}, {name: a, image: x}]}\n",
			want: []FieldDiff{{Path: "spec.containers", Type: Reordered,
				Desired: []any{"[name=a]", "[name=b]"}, Live: []any{"[name=c]", "[name=b]", "[name=a]"}}},
		},
		{
			name:    "duplicate live key that Git does not declare is left alone",
			desired: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, env: [{name: X, value: \"1\"}]}]}\n",
			live: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, env: [{name: X, value: \"1\"}, " +
				"{name: D, value: \"1\"}, {name: D, value: \"2\"}]}]}\n",
		},
		{
			name:    "duplicate live key that Git declares is drift of the list",
			desired: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, env: [{name: X, value: \"1\"}]}]}\n",
			live:    "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, env: [{name: X, value: \"1\"}, {name: X, value: \"2\"}]}]}\n",
			want: []FieldDiff{{Path: "spec.containers[name=a].env", Type: Changed,
				Desired: []any{map[string]any{"name": "X", "value": "1"}},
				Live:    []any{map[string]any{"name": "X", "value": "1"}, map[string]any{"name": "X", "value": "2"}}}},
		},
		{
			name:    "changed fields by container name",
			desired: deployment,
			live: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod, labels: {app: api}}
spec:
  replicas: 5.0
  template:
    spec:
      containers:
      - name: app
        image: nginx:1.28
        resources: {requests: {cpu: 900m, memory: 1Gi}}
        ports: [{containerPort: 8080}]
      - name: sidecar
        image: busybox
        args: [b, a]
`,
			want: []FieldDiff{
				{Path: "metadata.labels.app", Type: Changed, Desired: "web", Live: "api"},
				{Path: "spec.replicas", Type: Changed, Desired: int64(2), Live: int64(5)},
				{Path: "spec.template.spec.containers[name=app].image", Type: Changed, Desired: "nginx:1.27", Live: "nginx:1.28"},
				{Path: "spec.template.spec.containers[name=app].resources.requests.cpu", Type: Changed, Desired: "1000m", Live: "900m"},
				{Path: "spec.template.spec.containers[name=sidecar].args", Type: Changed, Desired: []any{"a", "b"}, Live: []any{"b", "a"}},
			},
		},
		{
			name:    "removed container and label",
			desired: deployment,
			live: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: app
        image: nginx:1.27
        resources: {requests: {cpu: "1", memory: 1024Mi}}
        ports: [{containerPort: 8080}]
`,
			want: []FieldDiff{
				{Path: "metadata.labels", Type: Removed, Desired: map[string]any{"app": "web"}},
				{Path: "spec.template.spec.containers[name=sidecar]", Type: Removed,
					Desired: map[string]any{"name": "sidecar", "image": "busybox", "args": []any{"a", "b"}}},
			},
		},
		{
			name: "secret values never shown; stringData merged into data",
			desired: `
apiVersion: v1
kind: Secret
metadata: {name: s, annotations: {owner: team-a}}
stringData: {password: hunter2}
data: {user: YWRtaW4=}
`,
			live: `
apiVersion: v1
kind: Secret
metadata: {name: s, annotations: {owner: team-b}}
data: {password: aHVudGVyMw==, user: YWRtaW4=}
`,
			want: []FieldDiff{
				{Path: "data.password", Type: Changed, Sensitive: true},
				{Path: `metadata.annotations.owner`, Type: Changed, Desired: "team-a", Live: "team-b"},
			},
		},
		{
			name:    "secret in sync through stringData",
			desired: "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: hunter2}\n",
			live:    "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {password: aHVudGVyMg==}\ntype: Opaque\n",
		},
		{
			name:    "zero values match absent fields; quoted keys",
			desired: "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app.kubernetes.io/name: x}}\nspec: {hostNetwork: false, priority: 0, volumes: [], nodeSelector: {}}\n",
			live:    "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app.kubernetes.io/name: z}}\nspec: {}\n",
			want: []FieldDiff{
				{Path: `metadata.labels["app.kubernetes.io/name"]`, Type: Changed, Desired: "x", Live: "z"},
			},
		},
		{
			name:    "unnamed lists by index, different length whole",
			desired: "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80, targetPort: 8080}], externalIPs: [1.2.3.4]}\n",
			live:    "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80, targetPort: 9090, protocol: TCP}], externalIPs: [1.2.3.4, 5.6.7.8]}\n",
			want: []FieldDiff{
				{Path: "spec.externalIPs", Type: Changed, Desired: []any{"1.2.3.4"}, Live: []any{"1.2.3.4", "5.6.7.8"}},
				{Path: "spec.ports", Type: Changed,
					Desired: []any{map[string]any{"port": int64(80), "targetPort": int64(8080)}},
					Live:    []any{map[string]any{"port": int64(80), "targetPort": int64(9090), "protocol": "TCP"}}},
			},
		},
		{
			name:    "schema: list-map keys with defaulted protocol, quantities, atomic map",
			schema:  serviceSchema,
			desired: "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80, targetPort: 8080}, {port: 53, protocol: UDP}], limit: 1000m, selector: {app: a}}\n",
			live:    "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 53, protocol: UDP}, {port: 80, targetPort: 9090, protocol: TCP}], limit: '1', selector: {app: a, extra: b}}\n",
			want: []FieldDiff{
				{Path: "spec.ports", Type: Reordered,
					Desired: []any{"[port=80,protocol=TCP]", "[port=53,protocol=UDP]"}, Live: []any{"[port=53,protocol=UDP]", "[port=80,protocol=TCP]"}},
				{Path: "spec.ports[port=80,protocol=TCP].targetPort", Type: Changed, Desired: int64(8080), Live: int64(9090)},
				{Path: "spec.selector", Type: Changed, Desired: map[string]any{"app": "a"}, Live: map[string]any{"app": "a", "extra": "b"}},
			},
		},
		{
			// helm install with a chart that renders `annotations:` and
			// `labels:` with nothing under them (ingress-nginx's Service).
			name:    "null maps and lists set nothing: helm's release metadata under them is not drift",
			desired: "apiVersion: v1\nkind: Service\nmetadata: {name: s, annotations: null, labels: null}\nspec: {selector: null, ports: [{port: 80}], externalIPs: null}\n",
			live: "apiVersion: v1\nkind: Service\nmetadata: {name: s, annotations: {meta.helm.sh/release-name: edge, meta.helm.sh/release-namespace: ns}, labels: {app.kubernetes.io/managed-by: Helm}}\n" +
				"spec: {selector: {app: x}, ports: [{port: 80, protocol: TCP}], externalIPs: [1.2.3.4]}\n",
		},
		{
			name:    "null inside a container and a list item sets nothing",
			desired: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {template: {metadata: {annotations: null}, spec: {containers: [{name: app, image: a, env: null, args: null, resources: null}]}}}\n",
			live:    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {template: {metadata: {annotations: {kubectl.kubernetes.io/restartedAt: now}}, spec: {containers: [{name: app, image: a, env: [{name: X, value: y}], args: [z], resources: {limits: {cpu: 1}}}]}}}\n",
		},
		{
			name:    "a null field of an atomic map is not set: live's value there is drift",
			schema:  serviceSchema,
			desired: "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {selector: {app: a, tier: null}}\n",
			live:    "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {selector: {app: a, tier: web}}\n",
			want: []FieldDiff{
				{Path: "spec.selector", Type: Changed, Desired: map[string]any{"app": "a", "tier": nil}, Live: map[string]any{"app": "a", "tier": "web"}},
			},
		},
		{
			name:    "helm's release annotations and managed-by label are installer metadata, whatever the chart renders",
			desired: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {app.kubernetes.io/managed-by: Tiller, app: c}, annotations: {meta.helm.sh/release-name: old, note: n}}\ndata: {k: v}\n",
			live:    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {app.kubernetes.io/managed-by: Helm, app: c}, annotations: {meta.helm.sh/release-name: edge, meta.helm.sh/release-namespace: ns, note: n}}\ndata: {k: v}\n",
		},
		{
			name:    "managed-by is compared when helm did not install the object",
			desired: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {app.kubernetes.io/managed-by: kustomize}}\ndata: {k: v}\n",
			live:    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {app.kubernetes.io/managed-by: Helm}}\ndata: {k: v}\n",
			want: []FieldDiff{
				{Path: `metadata.labels["app.kubernetes.io/managed-by"]`, Type: Changed, Desired: "kustomize", Live: "Helm"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desired, live := obj(t, tt.desired), obj(t, tt.live)
			before := desired.DeepCopy()
			got := Compare(desired, live, Options{Schema: tt.schema})
			if diff := cmp.Diff(tt.want, got, ignorePath); diff != "" {
				t.Errorf("Compare (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, desired); diff != "" {
				t.Errorf("Compare modified desired:\n%s", diff)
			}
		})
	}
}

// ignorePath leaves FieldDiff's structured path out of comparisons.
var ignorePath = cmpopts.IgnoreUnexported(FieldDiff{})

func TestPathString(t *testing.T) {
	p := Path{{Field: "spec"}, {Field: "containers"}, {Keys: []KeyValue{{"name", "app"}}}, {Field: "ports"}, {Index: 0},
		{Field: "a.b/c"}}
	if diff := cmp.Diff(`spec.containers[name=app].ports[0]["a.b/c"]`, p.String()); diff != "" {
		t.Error(diff)
	}
}
