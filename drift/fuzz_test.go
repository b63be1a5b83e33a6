package drift_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/output"
	"github.com/driftwatch/driftwatch/informer"
)

// Fuzz targets. Run one at a time, e.g.
//
//	go test ./drift -run '^$' -fuzz FuzzCompare -fuzztime 60s
//
// Inputs the fuzzer finds land in testdata/fuzz/<Target>/ and are replayed
// by every plain go test run.

// fuzzSchema is a small schema in the shape of a workload: keyed lists
// (ports by port+protocol with protocol defaulting to TCP, containers by
// name), quantities, an atomic map, an atomic object with a default, and
// atomic lists. Unknown fields are kept at every level but the atomic
// object's, where they are pruned.
var fuzzSchema = &drift.Schema{PreserveUnknown: true, Properties: map[string]*drift.Schema{
	"metadata": {},
	"data":     {Additional: &drift.Schema{}},
	"spec": {PreserveUnknown: true, Properties: map[string]*drift.Schema{
		"replicas": {},
		"size":     {Quantity: true},
		"selector": {Atomic: true, Additional: &drift.Schema{}},
		"target": {Atomic: true, Properties: map[string]*drift.Schema{
			"kind": {Default: "Service"}, "name": {}, "port": {IntOrString: true},
		}},
		"ports": {ListType: "map", ListKeys: []string{"port", "protocol"}, Items: &drift.Schema{
			Properties: map[string]*drift.Schema{
				"name": {}, "port": {}, "protocol": {Default: "TCP"}, "targetPort": {IntOrString: true},
			},
		}},
		"containers": {ListType: "map", ListKeys: []string{"name"}, Items: &drift.Schema{
			PreserveUnknown: true,
			Properties: map[string]*drift.Schema{
				"name": {},
				"args": {ListType: "atomic", Items: &drift.Schema{}},
				"resources": {Properties: map[string]*drift.Schema{
					"limits":   {Additional: &drift.Schema{Quantity: true}},
					"requests": {Additional: &drift.Schema{Quantity: true}},
				}},
			},
		}},
		"rules": {ListType: "atomic", Items: &drift.Schema{PreserveUnknown: true}},
	}},
}}

// fuzzCompareSeeds are realistic desired/live pairs (YAML and JSON).
var fuzzCompareSeeds = [][2]string{
	{ // Deployment: replicas and image changed, env reordered, quantities canonical.
		`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod, labels: {app: web}}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: app
        image: nginx:1.27
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
        resources: {requests: {cpu: 1000m, memory: 1Gi}, limits: {cpu: 2}}
        ports: [{containerPort: 8080}]
      - name: sidecar
        image: busybox
        args: [a, b]
`,
		`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
  labels: {app: web}
  managedFields:
  - manager: kubectl-edit
    operation: Update
    time: "2026-11-24T10:42:00Z"
    fieldsType: FieldsV1
    fieldsV1: {"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {"f:image": {}}}}}}}
spec:
  replicas: 5
  progressDeadlineSeconds: 600
  template:
    spec:
      restartPolicy: Always
      containers:
      - name: app
        image: nginx:1.28
        env: [{name: B, value: "2"}, {name: A, value: "1"}]
        resources: {requests: {cpu: "1", memory: 1Gi}, limits: {cpu: 2000m}}
        ports: [{containerPort: 8080, protocol: TCP}]
      - name: sidecar
        image: busybox
        args: [a, c]
status: {replicas: 5}
`},
	{ // Secret with stringData: values merged into data, never shown.
		`apiVersion: v1
kind: Secret
metadata: {name: db, namespace: prod}
stringData: {password: hunter2}
data: {user: YWRtaW4=, token: dG9r}
`,
		`apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: prod
  managedFields:
  - {manager: kubectl-edit, operation: Update, time: "2026-11-24T09:15:30Z", fieldsType: FieldsV1, fieldsV1: {"f:data": {"f:password": {}}}}
data: {user: YWRtaW4=, password: b3RoZXI=}
type: Opaque
`},
	{ // Service in JSON: ports keyed by port+protocol, protocol defaulted.
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"dns"},"spec":{"selector":{"k8s-app":"dns"},"ports":[{"name":"dns","port":53,"protocol":"UDP"},{"name":"dns-tcp","port":53}]}}`,
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"dns","uid":"x"},"spec":{"selector":{"k8s-app":"dns","extra":"y"},"ports":[{"name":"dns-tcp","port":53,"protocol":"TCP","targetPort":53},{"name":"dns","port":53,"protocol":"UDP","targetPort":53}],"clusterIP":"10.96.0.10"}}`},
	{ // Custom resource: atomic object with default, quantity, nested lists.
		`apiVersion: example.com/v1
kind: Cache
metadata: {name: c}
spec:
  size: 1Gi
  target: {name: web, port: 8080}
  rules:
  - host: a.example.com
    paths: [{path: /, backend: {name: web}}, {path: /api}]
  - host: b.example.com
    paths: [[1, 2], [3]]
`,
		`apiVersion: example.com/v1
kind: Cache
metadata: {name: c, generation: 2}
spec:
  size: 1024Mi
  target: {kind: Service, name: web, port: "8080"}
  rules:
  - host: a.example.com
    paths: [{path: /, backend: {name: web}, pathType: Prefix}, {path: /api, pathType: Prefix}]
  - host: b.example.com
    paths: [[1, 2], [3, 4]]
status: {ready: true}
`},
	{ // ConfigMap: a removed key, zero values, odd keys.
		`apiVersion: v1
kind: ConfigMap
metadata: {name: cm, annotations: {"driftwatch.dev/ignore": "data.x", "example.com/owner": team}}
data: {"a.b/c": "1", "": "", "0": zero, removed: "yes", "x y": "\"quoted\""}
`,
		`apiVersion: v1
kind: ConfigMap
metadata: {name: cm, annotations: {"example.com/owner": other}}
data: {"a.b/c": "2", "0": zero, "x y": "\"quoted\""}
`},
	{ // Odd key values: dots, spaces, numbers, empty; float and int ports.
		`apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: "a.b", image: x}, {name: "c d", image: y}, {name: 7, image: z}, {name: "", image: e}]
  ports: [{port: 80.0, name: http}, {port: 443, protocol: TCP}]
`,
		`apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: 7, image: z2}, {name: "c d", image: y2}, {name: "a.b", image: x2}, {name: "", image: e2}]
  ports: [{port: 443, protocol: TCP, name: https}, {port: 80, protocol: TCP, name: web}]
`},
}

func FuzzCompare(f *testing.F) {
	for _, s := range fuzzCompareSeeds {
		f.Add(s[0], s[1])
	}
	// The golden fixtures are realistic pairs too.
	cases, _ := filepath.Glob("../testdata/golden/*/desired.yaml")
	for _, desired := range cases {
		d, err1 := os.ReadFile(desired)
		l, err2 := os.ReadFile(filepath.Join(filepath.Dir(desired), "live.yaml"))
		if err1 == nil && err2 == nil {
			f.Add(string(d), string(l))
		}
	}
	f.Fuzz(func(t *testing.T, desiredText, liveText string) {
		// desired as a YAML library decodes it (numbers are float64), live
		// as client-go does (integers are int64).
		desired, ok := fuzzDecode(desiredText, false)
		if !ok {
			return
		}
		live, ok := fuzzDecode(liveText, true)
		if !ok {
			return
		}
		for _, sc := range []*drift.Schema{nil, fuzzSchema} {
			fuzzCheckCompare(t, desired, live, sc)
		}

		// An object compared with itself is in sync, however it was decoded,
		// and so is an object compared with what the API server would store:
		// the fields the schema does not declare pruned, defaults filled in.
		for _, text := range []string{desiredText, liveText} {
			asFloat, _ := fuzzDecode(text, false)
			asInt, _ := fuzzDecode(text, true)
			if asFloat == nil || asInt == nil || !fuzzSelfComparable(asInt) {
				continue
			}
			stored := &unstructured.Unstructured{Object: fuzzServerForm(asInt.DeepCopy().Object, fuzzSchema).(map[string]any)}
			if diffs := fuzzCheckCompare(t, asFloat, stored, fuzzSchema); len(diffs) > 0 {
				t.Errorf("object compared with its stored form (pruned, defaulted) is not in sync: %s\nobject: %q\nstored: %v",
					fuzzDescribe(diffs), text, stored.Object)
			}
			for _, sc := range []*drift.Schema{nil, fuzzSchema} {
				for _, pair := range [][2]*unstructured.Unstructured{{asInt, asInt}, {asFloat, asFloat}, {asFloat, asInt}, {asInt, asFloat}} {
					if diffs := fuzzCheckCompare(t, pair[0], pair[1], sc); len(diffs) > 0 {
						t.Errorf("object compared with itself (schema %v) is not in sync: %s\nobject: %q",
							sc != nil, fuzzDescribe(diffs), text)
					}
				}
			}
		}
	})
}

// fuzzDecode decodes YAML or JSON text into an object; false when the text
// is no YAML map. ints says whether integers become int64 (as in objects
// from the API server) or float64 (as sigs.k8s.io/yaml decodes them).
func fuzzDecode(text string, ints bool) (*unstructured.Unstructured, bool) {
	var m map[string]any
	if ints {
		js, err := yaml.YAMLToJSON([]byte(text))
		if err != nil || utiljson.Unmarshal(js, &m) != nil {
			return nil, false
		}
	} else if yaml.Unmarshal([]byte(text), &m) != nil {
		return nil, false
	}
	if m == nil {
		return nil, false
	}
	return &unstructured.Unstructured{Object: m}, true
}

// fuzzServerForm returns v as the API server would store it under schema
// sc: fields sc does not declare are pruned, declared defaults of absent
// fields filled in. It modifies v.
func fuzzServerForm(v any, sc *drift.Schema) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if sc.Prunes(k) {
				delete(x, k)
				continue
			}
			x[k] = fuzzServerForm(e, sc.Field(k))
		}
		if sc != nil {
			for k, p := range sc.Properties {
				if _, ok := x[k]; !ok && p.Default != nil {
					x[k] = p.Default
				}
			}
		}
	case []any:
		for i := range x {
			x[i] = fuzzServerForm(x[i], sc.Item())
		}
	}
	return v
}

// fuzzSelfComparable reports whether comparing u with itself must find no
// drift: u looks like an object the API server returns (apiVersion, kind,
// metadata.name), and is not a Secret with stringData (which Compare folds
// into data on the desired side only, as the API server does on write).
func fuzzSelfComparable(u *unstructured.Unstructured) bool {
	av, _ := u.Object["apiVersion"].(string)
	kind, _ := u.Object["kind"].(string)
	md, _ := u.Object["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	if av == "" || kind == "" || name == "" {
		return false
	}
	if fuzzIsSecret(u) {
		if sd, ok := u.Object["stringData"].(map[string]any); ok {
			for _, v := range sd {
				if _, ok := v.(string); ok {
					return false
				}
			}
		}
	}
	return true
}

// fuzzSensitive configures as sensitive every "password" field and the
// value of the DB_PASSWORD item of keyed lists (an env variable), as a
// config file's sensitive rules for spec.rules[*].password and
// spec.template.spec.containers[*].env[name=DB_PASSWORD].value would.
func fuzzSensitive(p drift.Path) bool {
	for i, s := range p {
		if s.Field == "password" {
			return true
		}
		for _, kv := range s.Keys {
			if kv.Value == "DB_PASSWORD" && i+1 < len(p) && p[i+1].Field == "value" {
				return true
			}
		}
	}
	return false
}

// fuzzLeaks reports whether v holds a value fuzzSensitive protects: a
// non-empty "password" field, or the value of an item named DB_PASSWORD.
func fuzzLeaks(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		if pw, ok := x["password"]; ok && pw != nil && pw != "" {
			return true
		}
		if x["name"] == "DB_PASSWORD" && x["value"] != nil && x["value"] != "" {
			return true
		}
		for _, e := range x {
			if fuzzLeaks(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if fuzzLeaks(e) {
				return true
			}
		}
	}
	return false
}

// fuzzIsSecret: a Secret of the core group, whatever the version.
func fuzzIsSecret(u *unstructured.Unstructured) bool {
	gvk := u.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Secret"
}

// fuzzCheckCompare runs Compare and checks what must hold for any input.
func fuzzCheckCompare(t *testing.T, desired, live *unstructured.Unstructured, sc *drift.Schema) []drift.FieldDiff {
	t.Helper()
	desiredBefore, liveBefore := desired.DeepCopy(), live.DeepCopy()
	opts := drift.Options{Schema: sc}
	if sc != nil {
		opts.HashKey = []byte("fuzz-key")
		opts.Sensitive = fuzzSensitive
	}
	diffs := drift.Compare(desired, live, opts)
	if !reflect.DeepEqual(desiredBefore.Object, desired.Object) {
		t.Fatalf("Compare modified desired:\nbefore %v\nafter  %v", desiredBefore.Object, desired.Object)
	}
	if !reflect.DeepEqual(liveBefore.Object, live.Object) {
		t.Fatalf("Compare modified live:\nbefore %v\nafter  %v", liveBefore.Object, live.Object)
	}
	// The informer cache keeps managedFields compacted to text: the
	// comparison and its attribution must not tell the difference.
	compact := live.DeepCopy()
	informer.CompactManagedFields(compact)
	if a, b := fuzzDescribe(diffs), fuzzDescribe(drift.Compare(desired, compact, opts)); a != b {
		t.Errorf("compacted managedFields change the result:\nmaps: %s\ntext: %s", a, b)
	}

	secret := fuzzIsSecret(desired)
	if !sort.SliceIsSorted(diffs, func(i, j int) bool { return diffs[i].Path < diffs[j].Path }) {
		t.Errorf("diffs not sorted by path: %s", fuzzDescribe(diffs))
	}
	for _, d := range diffs {
		pattern, err := drift.ParsePathPattern(d.Path)
		if err != nil {
			t.Errorf("diff path %q does not parse: %v", d.Path, err)
		} else if !pattern.Matches(d.ParsedPath()) {
			t.Errorf("diff path %q, parsed as a pattern, does not match the diff's own path %s", d.Path, fuzzSteps(d.ParsedPath()))
		}
		if strings.IndexFunc(d.Path, unicode.IsControl) >= 0 {
			// A raw newline would let a key value forge lines of the text report.
			t.Errorf("diff path %q holds control characters", d.Path)
		}
		if got := d.ParsedPath().String(); got != d.Path {
			t.Errorf("diff Path %q but ParsedPath().String() %q", d.Path, got)
		}
		switch d.Type {
		case drift.Changed, drift.Removed, drift.Reordered:
		default:
			t.Errorf("%s: unknown diff type %q", d.Path, d.Type)
		}
		if d.Type == drift.Removed && d.Live != nil {
			t.Errorf("%s: Removed with a live value %v", d.Path, d.Live)
		}
		p := d.ParsedPath()
		if secret && len(p) > 0 && (p[0].Field == "data" || p[0].Field == "stringData") && !d.Sensitive {
			t.Errorf("%s: Secret value diff not marked Sensitive", d.Path)
		}
		if opts.Sensitive != nil && !d.Sensitive && (fuzzLeaks(d.Desired) || fuzzLeaks(d.Live)) {
			t.Errorf("%s: a value configured as sensitive is shown: desired %v, live %v", d.Path, d.Desired, d.Live)
		}
		if d.Sensitive {
			if d.Desired != nil || d.Live != nil {
				t.Errorf("%s: Sensitive diff carries values (desired %v, live %v)", d.Path, d.Desired, d.Live)
			}
			if opts.HashKey != nil && d.DesiredHash == "" {
				t.Errorf("%s: Sensitive diff without a desired hash", d.Path)
			}
		}
	}

	// The report renders in every format.
	res := drift.Resource{APIVersion: desired.GetAPIVersion(), Kind: desired.GetKind(), Name: desired.GetName(), Status: drift.InSync, Diffs: diffs}
	if len(diffs) > 0 {
		res.Status = drift.Drifted
	}
	r := drift.NewReport(time.Unix(0, 0), drift.Source{URL: "."}, drift.Cluster{Server: "https://k8s"}, []drift.Resource{res})
	for _, f := range output.Formats {
		var buf bytes.Buffer
		if err := output.Write(&buf, r, f); err != nil {
			t.Errorf("Write %s: %v", f, err)
		}
		// Inputs decoded from YAML hold valid UTF-8 only, so must reports.
		if !utf8.Valid(buf.Bytes()) {
			t.Errorf("%s report is not valid UTF-8:\n%q", f, buf.String())
		}
	}
	return diffs
}

// fuzzSteps shows a Path step by step, to tell apart what String merges.
func fuzzSteps(p drift.Path) string {
	var parts []string
	for _, s := range p {
		switch {
		case s.Field != "":
			parts = append(parts, "field "+strconv.Quote(s.Field))
		case len(s.Keys) > 0:
			var kvs []string
			for _, kv := range s.Keys {
				kvs = append(kvs, strconv.Quote(kv.Key)+"="+strconv.Quote(kv.Value))
			}
			parts = append(parts, "keys "+strings.Join(kvs, ","))
		default:
			parts = append(parts, "index "+strconv.Itoa(s.Index))
		}
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

// fuzzDescribe lists diffs by type and path, with the field manager each
// is attributed to.
func fuzzDescribe(diffs []drift.FieldDiff) string {
	var b strings.Builder
	for _, d := range diffs {
		b.WriteString("\n  " + string(d.Type) + " " + d.Path)
		if d.ChangedBy != nil {
			b.WriteString(" by " + d.ChangedBy.Manager + " (" + d.ChangedBy.Operation + ")")
		}
	}
	return b.String()
}

// fuzzPatternSeeds are patterns users write in ignore rules, and broken ones.
var fuzzPatternSeeds = []string{
	"spec.replicas",
	"spec.template.spec.containers[name=app].image",
	"spec.template.spec.containers[*].image",
	"spec.template.spec.containers[name=app].ports[containerPort=8080,protocol=TCP]",
	`metadata.annotations["example.com/owner"]`,
	`metadata.labels["app.kubernetes.io/name"]`,
	"/spec/template/spec/containers/0/image",
	"/metadata/annotations/example.com~1owner",
	"/spec/*/x",
	"spec.rules[0].host",
	`data["a\"b"]`,
	"  spec.replicas  ",
	"spec..replicas",
	"spec[",
	`spec["unterminated`,
	"spec[]",
	"spec[=x]",
	"[-1]",
	"]",
	"/",
}

func FuzzParsePathPattern(f *testing.F) {
	for _, s := range fuzzPatternSeeds {
		f.Add(s)
	}
	paths := []drift.Path{
		{{Field: "spec"}, {Field: "replicas"}},
		{{Field: "spec"}, {Field: "containers"}, {Keys: []drift.KeyValue{{Key: "name", Value: "app"}}, Index: 1}, {Field: "image"}},
		{{Field: "metadata"}, {Field: "annotations"}, {Field: "example.com/owner"}},
		{{Field: "spec"}, {Field: "rules"}, {Index: 0}, {Field: "host"}},
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := drift.ParsePathPattern(s)
		if err != nil {
			if err.Error() == "" {
				t.Errorf("ParsePathPattern(%q): empty error", s)
			}
			return
		}
		if got, want := p.String(), strings.TrimSpace(s); got != want {
			t.Errorf("ParsePathPattern(%q).String() = %q, want %q", s, got, want)
		}
		for _, path := range paths {
			p.Matches(path) // must not panic
		}
		// What parsed once parses again, to the same pattern.
		again, err := drift.ParsePathPattern(p.String())
		if err != nil {
			t.Errorf("ParsePathPattern(%q) parsed, but its String %q does not: %v", s, p.String(), err)
		} else {
			for _, path := range paths {
				if again.Matches(path) != p.Matches(path) {
					t.Errorf("pattern %q and its reparse disagree on %s", s, path)
				}
			}
		}
	})
}

// FuzzPathRoundTrip checks the path syntax itself on any field name and
// key value: what a report prints (Path.String) must parse as a pattern
// that selects that path and not its neighbours, or ignore and sensitive
// rules cannot name the field.
func FuzzPathRoundTrip(f *testing.F) {
	f.Add("replicas", "name", "app")
	f.Add("app.kubernetes.io/name", "name", "LOG_LEVEL")
	f.Add("nginx.conf", "containerPort", "8080")
	f.Add("0", "port", "443")
	f.Add("$ref", "name", "")
	f.Add(`a"b\c`, "protocol", "TCP")
	f.Add("Grüße", "name", "Grüße")
	f.Fuzz(func(t *testing.T, field, key, value string) {
		if field == "" || key == "" || strings.TrimFunc(key, func(r rune) bool {
			return r == '_' || r == '-' || r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))
		}) != "" {
			// Key names are schema property names; an empty map key is a
			// separate, known limitation.
			return
		}
		keyed := func(v string) drift.Step { return drift.Step{Keys: []drift.KeyValue{{Key: key, Value: v}}} }
		for _, c := range []struct{ path, neighbour drift.Path }{
			{drift.Path{{Field: field}}, drift.Path{{Field: field + "x"}}},
			{drift.Path{{Field: "spec"}, {Field: field}, {Field: "x"}}, drift.Path{{Field: "spec"}, {Field: "x" + field}, {Field: "x"}}},
			{drift.Path{{Field: "spec"}, keyed(value), {Field: "image"}}, drift.Path{{Field: "spec"}, keyed(value + "x"), {Field: "image"}}},
			{drift.Path{{Field: "spec"}, {Index: 3}, {Field: field}, keyed(value)}, drift.Path{{Field: "spec"}, {Index: 3}, {Field: field}, keyed("x" + value)}},
		} {
			s := c.path.String()
			if strings.IndexFunc(s, unicode.IsControl) >= 0 {
				t.Errorf("path %s prints with control characters: %q", fuzzSteps(c.path), s)
			}
			p, err := drift.ParsePathPattern(s)
			if err != nil {
				t.Errorf("path %s prints as %q, which does not parse: %v", fuzzSteps(c.path), s, err)
				continue
			}
			if !p.Matches(c.path) {
				t.Errorf("path %s prints as %q, which does not match it", fuzzSteps(c.path), s)
			}
			if p.Matches(c.neighbour) {
				t.Errorf("path %s prints as %q, which also matches %s", fuzzSteps(c.path), s, fuzzSteps(c.neighbour))
			}
		}
	})
}

// FuzzCompactFields: a FieldsV1 tree whose keys are arbitrary (valid
// UTF-8, as JSON from the API server gives) survives the informer cache's
// compaction to text and back unchanged.
func FuzzCompactFields(f *testing.F) {
	f.Add("f:spec", `k:{"name":"app"}`, "f:image")
	f.Add(`v:"a\b"`, "\x00\x1f\x7f", "é ✓ \u2028")
	f.Add("", `\"`, `\u0041`)
	f.Fuzz(func(t *testing.T, a, b, c string) {
		for _, s := range []*string{&a, &b, &c} {
			*s = strings.ToValidUTF8(*s, "?")
		}
		tree := map[string]any{a: map[string]any{b: map[string]any{}, c: map[string]any{a: map[string]any{}}}, "f:x": map[string]any{}}
		text := informer.CompactFields(tree)
		got := drift.FieldsV1(text)
		if !reflect.DeepEqual(got, tree) {
			t.Fatalf("round trip of %q:\ntext %s\ngot  %#v\nwant %#v", []string{a, b, c}, text, got, tree)
		}
	})
}
