package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/informer"
)

// The API server prints conflict paths as structured-merge-diff does; they
// must read as the report's paths, a label key with dots included.
func TestParseManagedPath(t *testing.T) {
	desired := obj(t, `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app.kubernetes.io/name: web, app: web}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - {name: app, image: nginx, ports: [{containerPort: 8080, protocol: TCP}]}
  finalizers: [a, b]
`).Object
	for _, tc := range []struct{ in, want string }{
		{".spec.replicas", "spec.replicas"},
		{`.spec.template.spec.containers[name="app"].image`, "spec.template.spec.containers[name=app].image"},
		{".metadata.labels.app.kubernetes.io/name", `metadata.labels["app.kubernetes.io/name"]`},
		{".metadata.labels.app", "metadata.labels.app"},
		{`.spec.template.spec.containers[name="app"].ports[containerPort=8080,protocol="TCP"]`,
			"spec.template.spec.containers[name=app].ports[containerPort=8080,protocol=TCP]"},
		{`.spec.finalizers[="b"]`, "spec.finalizers[value=b]"},
		{".spec.template.spec.containers[0].image", "spec.template.spec.containers[0].image"},
		{".spec.notInGit.x", "spec.notInGit.x"},
	} {
		p, ok := parseManagedPath(tc.in, desired)
		if !ok {
			t.Errorf("%s: did not parse", tc.in)
			continue
		}
		if got := p.String(); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"", "spec", `.spec.containers[name=`, `.a[name="x"`, ".a[]"} {
		if _, ok := parseManagedPath(bad, desired); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

// A conflict is forced only when it is on a drifted field, or inside one.
func TestCoveredBy(t *testing.T) {
	desired := obj(t, "{apiVersion: apps/v1, kind: Deployment, spec: {selector: {matchLabels: {app: web}}, template: {spec: {containers: [{name: app, image: nginx}]}}}}").Object
	drifted := []drift.FieldDiff{{Path: "spec.template.spec.containers[name=app].image"}, {Path: "spec.selector"}}
	for _, tc := range []struct {
		field string
		want  bool
	}{
		{`.spec.template.spec.containers[name="app"].image`, true},
		{".spec.selector.matchLabels.app", true},
		{`.spec.template.spec.containers[name="app"].resources`, false},
		{".spec.replicas", false},
		{".spec.template", false},
	} {
		p, ok := parseManagedPath(tc.field, desired)
		if !ok {
			t.Fatalf("%s did not parse", tc.field)
		}
		if got := coveredBy(p, drifted); got != tc.want {
			t.Errorf("%s: covered %v, want %v", tc.field, got, tc.want)
		}
	}
}

// managedFields builds a managedFields entry.
func managedFields(manager, op, fields string) map[string]any {
	var tree map[string]any
	if err := json.Unmarshal([]byte(fields), &tree); err != nil {
		panic(err)
	}
	return map[string]any{"manager": manager, "operation": op, "apiVersion": "apps/v1", "fieldsType": "FieldsV1", "fieldsV1": tree}
}

func withManagedFields(u *unstructured.Unstructured, entries ...map[string]any) *unstructured.Unstructured {
	var l []any
	for _, e := range entries {
		l = append(l, e)
	}
	_ = unstructured.SetNestedSlice(u.Object, l, "metadata", "managedFields")
	return u
}

func TestApplierOf(t *testing.T) {
	desired := obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, labels: {app: web}}\nspec: {replicas: 2, paused: false, template: {spec: {containers: [{name: app, image: nginx}]}}}\n")
	gitops := managedFields("gitops", "Apply", `{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:paused":{},"f:template":{"f:spec":{"f:containers":{}}}}}`)
	edit := managedFields("kubectl-edit", "Update", `{"f:spec":{"f:replicas":{},"f:paused":{},"f:template":{"f:spec":{"f:containers":{}}}}}`)
	// Took the drifted fields by force: it owns more of them than gitops
	// does of the rest, but drifted fields do not count.
	hijack := managedFields("hijacker", "Apply", `{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{}}}}}`)
	labeller := managedFields("labeller", "Apply", `{"f:metadata":{"f:labels":{"f:app":{}}}}`)
	drifted := []drift.FieldDiff{{Path: "spec.replicas"}, {Path: "spec.template.spec.containers[name=app].image"}, {Path: "spec.template"}}
	for _, tc := range []struct {
		name    string
		live    *unstructured.Unstructured
		drifted []drift.FieldDiff
		want    string
	}{
		{"the Apply manager owning most", withManagedFields(desired.DeepCopy(), labeller, gitops, edit), nil, "gitops"},
		{"Update managers never count", withManagedFields(desired.DeepCopy(), edit), nil, DefaultRevertFieldManager},
		{"drifted fields do not count", withManagedFields(desired.DeepCopy(), hijack, gitops), drifted, "gitops"},
		{"without managedFields", desired.DeepCopy(), nil, DefaultRevertFieldManager},
		{"missing", nil, nil, DefaultRevertFieldManager},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var live *unstructured.Unstructured
			if tc.live != nil {
				live = tc.live
			}
			if got := applierOf(live, desired, tc.drifted); got != tc.want {
				t.Errorf("applier %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPointerOrder(t *testing.T) {
	live := obj(t, "{kind: X, spec: {template: {spec: {containers: [{name: app, env: [{name: A, value: '1'}, {name: B, value: '2'}]}, {name: side}]}}, ports: [{port: 80}], \"a/b\": {x: 1}}}").Object
	p := func(steps ...drift.Step) drift.Path { return steps }
	f := func(s string) drift.Step { return drift.Step{Field: s} }
	key := func(k, v string) drift.Step { return drift.Step{Keys: []drift.KeyValue{{Key: k, Value: v}}} }
	for _, tc := range []struct {
		path drift.Path
		want string
	}{
		{p(f("spec"), f("template"), f("spec"), f("containers"), key("name", "app"), f("env"), key("name", "B")), "/spec/template/spec/containers/0/env/1"},
		{p(f("spec"), f("template"), f("spec"), f("containers"), key("name", "side")), "/spec/template/spec/containers/1"},
		{p(f("spec"), f("ports"), key("port", "80")), "/spec/ports/0"},
		{p(f("spec"), f("a/b"), f("x")), "/spec/a~1b/x"},
	} {
		ptr, _, ok := pointerTo(live, tc.path)
		if got := "/" + strings.Join(ptr, "/"); !ok || got != tc.want {
			t.Errorf("%s: %s (%v), want %s", tc.path, got, ok, tc.want)
		}
	}
	if _, _, ok := pointerTo(live, p(f("spec"), f("ports"), key("port", "81"))); ok {
		t.Error("a key no item has resolved")
	}
	// Later items of a list are removed first.
	a, b := []string{"spec", "containers", "0", "env", "1"}, []string{"spec", "containers", "10"}
	if !pointerAfter(b, a) || pointerAfter(a, b) {
		t.Error("containers/10 must come before containers/0/env/1")
	}
}

// fakeDynamic records the requests a Reverter sends and answers them as
// scripted; only the methods a Reverter calls are implemented.
type fakeDynamic struct {
	live     map[string]*unstructured.Unstructured // by name
	requests []string
	// listErr fails every List.
	listErr error
	// patch answers a Patch; nil echoes an apply's body as stored.
	patch func(name string, pt types.PatchType, data []byte, o metav1.PatchOptions) (*unstructured.Unstructured, error)
}

type fakeResource struct {
	dynamic.NamespaceableResourceInterface
	f *fakeDynamic
}

func (f *fakeDynamic) Resource(schema.GroupVersionResource) dynamic.NamespaceableResourceInterface {
	return fakeResource{f: f}
}

func (r fakeResource) Namespace(string) dynamic.ResourceInterface { return r }

func (r fakeResource) Get(_ context.Context, name string, _ metav1.GetOptions, _ ...string) (*unstructured.Unstructured, error) {
	r.f.requests = append(r.f.requests, "get "+name)
	if u, ok := r.f.live[name]; ok {
		return u.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "things"}, name)
}

// List answers every live object in one page, sorted by name.
func (r fakeResource) List(_ context.Context, _ metav1.ListOptions) (*unstructured.UnstructuredList, error) {
	r.f.requests = append(r.f.requests, "list")
	if r.f.listErr != nil {
		return nil, r.f.listErr
	}
	out := &unstructured.UnstructuredList{}
	for _, name := range slices.Sorted(maps.Keys(r.f.live)) {
		out.Items = append(out.Items, *r.f.live[name].DeepCopy())
	}
	return out, nil
}

func (r fakeResource) Patch(_ context.Context, name string, pt types.PatchType, data []byte, o metav1.PatchOptions, _ ...string) (*unstructured.Unstructured, error) {
	req := fmt.Sprintf("patch %s %s manager=%s", name, pt, o.FieldManager)
	if o.Force != nil && *o.Force {
		req += " force"
	}
	if len(o.DryRun) > 0 {
		req += " dry-run"
	}
	if pt == types.JSONPatchType {
		req += " " + string(data)
	}
	r.f.requests = append(r.f.requests, req)
	if r.f.patch != nil {
		return r.f.patch(name, pt, data, o)
	}
	if pt == types.JSONPatchType {
		return r.f.live[name].DeepCopy(), nil
	}
	u := &unstructured.Unstructured{}
	return u, json.Unmarshal(data, &u.Object)
}

func (r fakeResource) Delete(_ context.Context, name string, o metav1.DeleteOptions, _ ...string) error {
	req := fmt.Sprintf("delete %s uid=%s rv=%s", name, *o.Preconditions.UID, *o.Preconditions.ResourceVersion)
	if len(o.DryRun) > 0 {
		req += " dry-run"
	}
	r.f.requests = append(r.f.requests, req)
	return nil
}

type fakeResolver struct{}

func (fakeResolver) Resolve(_ context.Context, gvk schema.GroupVersionKind) (informer.Mapping, error) {
	return informer.Mapping{GVK: gvk, GVR: schema.GroupVersionResource{Version: gvk.Version, Resource: "things"}, Namespaced: true}, nil
}

// conflict is the API server's answer to an apply that conflicts.
func conflict(manager string, fields ...string) error {
	var causes []metav1.StatusCause
	for _, f := range fields {
		causes = append(causes, metav1.StatusCause{Type: metav1.CauseTypeFieldManagerConflict,
			Message: fmt.Sprintf("conflict with %q using apps/v1", manager), Field: f})
	}
	return apierrors.NewApplyConflict(causes, "Apply failed with conflicts")
}

// The decisions a Reverter makes, request by request. The real API server
// proves the effects (cmd/driftwatch/revert_test.go); this pins which
// requests are sent, with which manager, force and dry-run.
func TestReverterRequests(t *testing.T) {
	desired := obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 2, template: {spec: {containers: [{name: app, image: nginx}]}}}\n")
	// Drifted: replicas (kubectl-edit's now), and securityContext added by
	// hand; Git was applied by gitops.
	drifted := withManagedFields(obj(t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ns, resourceVersion: "7", uid: u-1}
spec:
  replicas: 5
  template:
    spec:
      containers: [{name: app, image: nginx, securityContext: {privileged: true}}]
`), managedFields("gitops", "Apply", `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:name":{},"f:image":{}}}}}}}`),
		managedFields("kubectl-edit", "Update", `{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:securityContext":{".":{},"f:privileged":{}}}}}}}}`))
	extra := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: old, namespace: ns, uid: u-2, resourceVersion: '9', labels: {managed: git}}\n")
	target := Target{Object: gitsource.Object{Object: desired}, Namespace: "ns",
		Scope: informer.Scope{GVR: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, Namespace: "ns"}}
	report := func(statuses ...drift.Status) *drift.Report {
		var rs []drift.Resource
		for _, s := range statuses {
			if s == drift.Extra {
				rs = append(rs, drift.Resource{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "old", Status: s})
				continue
			}
			rs = append(rs, drift.Resource{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "ns", Name: "web", Status: s})
		}
		return drift.NewReport(metav1.Now().Time, drift.Source{}, drift.Cluster{}, rs)
	}
	tracking, _ := ParseTrackingLabel("managed=git")
	type outcome struct {
		Action   RevertAction
		Manager  string
		Changed  []string
		Left     []string
		Forced   []FieldConflict
		Error    string
		Requests []string
	}
	for _, tc := range []struct {
		name    string
		live    map[string]*unstructured.Unstructured
		notComp []string
		report  *drift.Report
		opts    RevertOptions
		patch   func(string, types.PatchType, []byte, metav1.PatchOptions) (*unstructured.Unstructured, error)
		want    []outcome
	}{{
		name: "no conflict: applied as gitops, the added field left", live: map[string]*unstructured.Unstructured{"web": drifted},
		report: report(drift.Drifted),
		want: []outcome{{Action: RevertApplied, Manager: "gitops", Changed: []string{"spec.replicas"},
			Left:     []string{"spec.template.spec.containers[name=app].securityContext"},
			Requests: []string{"get web", "patch web application/apply-patch+yaml manager=gitops dry-run", "patch web application/apply-patch+yaml manager=gitops"}}},
	}, {
		name: "conflict on the drifted field: forced", live: map[string]*unstructured.Unstructured{"web": drifted},
		report: report(drift.Drifted), opts: RevertOptions{FieldManager: "argocd-controller"},
		patch: func(name string, _ types.PatchType, data []byte, o metav1.PatchOptions) (*unstructured.Unstructured, error) {
			if o.Force == nil || !*o.Force {
				return nil, conflict("kubectl-edit", ".spec.replicas")
			}
			u := &unstructured.Unstructured{}
			return u, json.Unmarshal(data, &u.Object)
		},
		want: []outcome{{Action: RevertApplied, Manager: "argocd-controller", Changed: []string{"spec.replicas"},
			Left:   []string{"spec.template.spec.containers[name=app].securityContext"},
			Forced: []FieldConflict{{Path: "spec.replicas", Manager: "kubectl-edit"}},
			Requests: []string{"get web", "patch web application/apply-patch+yaml manager=argocd-controller dry-run",
				"patch web application/apply-patch+yaml manager=argocd-controller force"}}},
	}, {
		name: "conflict on a field that did not drift: nothing written", live: map[string]*unstructured.Unstructured{"web": drifted},
		report: report(drift.Drifted),
		patch: func(string, types.PatchType, []byte, metav1.PatchOptions) (*unstructured.Unstructured, error) {
			return nil, conflict("kubectl-edit", ".spec.replicas", `.spec.template.spec.containers[name="app"].image`)
		},
		want: []outcome{{Action: RevertFailed, Manager: "gitops",
			Error:    `apply: conflicts on fields that did not drift, not forced: spec.template.spec.containers[name=app].image (kubectl-edit)`,
			Requests: []string{"get web", "patch web application/apply-patch+yaml manager=gitops dry-run"}}},
	}, {
		name: "remove added, dry run: every write a dry run", live: map[string]*unstructured.Unstructured{"web": drifted},
		report: report(drift.Drifted), opts: RevertOptions{RemoveAdded: true, DryRun: true},
		want: []outcome{{Action: RevertApplied, Manager: "gitops",
			Changed: []string{"spec.replicas", "spec.template.spec.containers[name=app].securityContext"},
			Requests: []string{"get web", "patch web application/apply-patch+yaml manager=gitops dry-run",
				`patch web application/json-patch+json manager=driftwatch dry-run [{"op":"test","path":"/spec/template/spec/containers/0/securityContext","value":{"privileged":true}},{"op":"remove","path":"/spec/template/spec/containers/0/securityContext"}]`}}},
	}, {
		name: "missing: created as driftwatch", live: map[string]*unstructured.Unstructured{},
		report: report(drift.Missing),
		want: []outcome{{Action: RevertCreated, Manager: DefaultRevertFieldManager,
			Requests: []string{"get web", "patch web application/apply-patch+yaml manager=driftwatch dry-run", "patch web application/apply-patch+yaml manager=driftwatch"}}},
	}, {
		name: "fields Git holds encrypted: never applied", live: map[string]*unstructured.Unstructured{"web": drifted},
		notComp: []string{"spec.template"}, report: report(drift.Drifted),
		want: []outcome{{Action: RevertFailed,
			Error: "Git holds fields driftwatch could not decrypt (spec.template); applying without them would remove them"}},
	}, {
		name: "extra without prune: left", live: map[string]*unstructured.Unstructured{"old": extra},
		report: report(drift.Extra),
		want:   []outcome{{Action: RevertSkipped}},
	}, {
		name: "extra with prune: deleted, pinned to what was read", live: map[string]*unstructured.Unstructured{"old": extra},
		report: report(drift.Extra), opts: RevertOptions{Prune: true},
		want: []outcome{{Action: RevertDeleted, Requests: []string{"get old", "delete old uid=u-2 rv=9"}}},
	}, {
		name: "extra that lost its tracking label: left", live: map[string]*unstructured.Unstructured{"old": obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: old, namespace: ns}\n")},
		report: report(drift.Extra), opts: RevertOptions{Prune: true},
		want: []outcome{{Action: RevertSkipped, Requests: []string{"get old"}}},
	}, {
		name: "in sync when read again", live: map[string]*unstructured.Unstructured{"web": desired},
		report: report(drift.Drifted),
		want:   []outcome{{Action: RevertSkipped, Requests: []string{"get web"}}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			fd := &fakeDynamic{live: tc.live, patch: tc.patch}
			tg := target
			tg.Object.NotCompared = tc.notComp
			rv := &Reverter{Client: fd, Evaluator: &Evaluator{}, Resolver: fakeResolver{}, Tracking: tracking, Options: tc.opts}
			res := rv.Revert(context.Background(), Planned{Targets: []Target{tg}}, tc.report)
			var got []outcome
			for _, r := range res.Resources {
				o := outcome{Action: r.Action, Manager: r.FieldManager, Left: r.LeftAdded, Forced: r.Forced, Error: r.Error}
				for _, d := range r.Changed {
					o.Changed = append(o.Changed, d.Path)
				}
				got = append(got, o)
			}
			if len(got) == 1 {
				got[0].Requests = fd.requests
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
		})
	}
}

// A Missing object is created as the manager that applied the source's
// other objects, when every one of them in the cluster names the same;
// else as driftwatch, saying why. The others' managers come from one LIST
// per scope.
func TestRevertCreatesAsTheSourceManager(t *testing.T) {
	configMap := func(name string) *unstructured.Unstructured {
		return obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: "+name+"}\ndata: {k: v}\n")
	}
	live := func(name string, entries ...map[string]any) *unstructured.Unstructured {
		u := configMap(name)
		u.SetNamespace("ns")
		return withManagedFields(u, entries...)
	}
	owns := `{"f:data":{"f:k":{}}}`
	gitops, argocd := managedFields("gitops", "Apply", owns), managedFields("argocd-controller", "Apply", owns)
	created := managedFields("kubectl-create", "Update", owns)
	scope := informer.Scope{GVR: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, Namespace: "ns"}
	var plan Planned
	for _, name := range []string{"a", "b", "gone"} {
		plan.Targets = append(plan.Targets, Target{Object: gitsource.Object{Object: configMap(name)}, Namespace: "ns", Scope: scope})
	}
	report := func(a, b drift.Status) *drift.Report {
		var rs []drift.Resource
		for _, r := range []struct {
			name   string
			status drift.Status
		}{{"a", a}, {"b", b}, {"gone", drift.Missing}} {
			rs = append(rs, drift.Resource{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: r.name, Status: r.status})
		}
		return drift.NewReport(metav1.Now().Time, drift.Source{}, drift.Cluster{}, rs)
	}
	applied := func(manager string) []string {
		return []string{"get gone", "patch gone application/apply-patch+yaml manager=" + manager + " dry-run", "patch gone application/apply-patch+yaml manager=" + manager}
	}
	type outcome struct {
		Manager, Why string
		Requests     []string
	}
	for _, tc := range []struct {
		name    string
		live    []*unstructured.Unstructured
		report  *drift.Report
		opts    RevertOptions
		listErr error
		want    outcome
	}{{
		name: "every other object applied by gitops", live: []*unstructured.Unstructured{live("a", gitops), live("b", gitops, created)},
		report: report(drift.InSync, drift.Drifted),
		want:   outcome{"gitops", "the manager that applied the source's other 2 objects", append([]string{"list"}, applied("gitops")...)},
	}, {
		name: "two managers", live: []*unstructured.Unstructured{live("a", gitops), live("b", argocd)},
		report: report(drift.InSync, drift.InSync),
		want: outcome{DefaultRevertFieldManager, "the source's other 2 objects were applied by 2 managers: argocd-controller, gitops",
			append([]string{"list"}, applied(DefaultRevertFieldManager)...)},
	}, {
		name: "one other object not applied server-side", live: []*unstructured.Unstructured{live("a", gitops), live("b", created)},
		report: report(drift.InSync, drift.InSync),
		want: outcome{DefaultRevertFieldManager, "the source's other 2 objects were not all applied by gitops (1 object not with server-side apply)",
			append([]string{"list"}, applied(DefaultRevertFieldManager)...)},
	}, {
		name: "none applied server-side", live: []*unstructured.Unstructured{live("a", created), live("b")},
		report: report(drift.InSync, drift.InSync),
		want: outcome{DefaultRevertFieldManager, "the source's other 2 objects were not applied with server-side apply",
			append([]string{"list"}, applied(DefaultRevertFieldManager)...)},
	}, {
		name: "an object not checked does not count", live: []*unstructured.Unstructured{live("a", gitops), live("b", argocd)},
		report: report(drift.InSync, drift.Error),
		want:   outcome{"gitops", "the manager that applied the source's other object", append([]string{"list"}, applied("gitops")...)},
	}, {
		name: "no other object in the cluster", report: report(drift.Missing, drift.Missing),
		want: outcome{DefaultRevertFieldManager, "no other object of the source is in the cluster to name the manager that applies it", applied(DefaultRevertFieldManager)},
	}, {
		name: "the others cannot be listed", live: []*unstructured.Unstructured{live("a", gitops)}, report: report(drift.InSync, drift.Missing),
		listErr: apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "", fmt.Errorf("no list")),
		want: outcome{DefaultRevertFieldManager, `the managers of the source's other objects could not be read: configmaps is forbidden: no list`,
			append([]string{"list"}, applied(DefaultRevertFieldManager)...)},
	}, {
		name: "--field-manager wins", live: []*unstructured.Unstructured{live("a", gitops), live("b", gitops)},
		report: report(drift.InSync, drift.InSync), opts: RevertOptions{FieldManager: "ops"},
		want: outcome{"ops", "given by --field-manager", applied("ops")},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			fd := &fakeDynamic{live: map[string]*unstructured.Unstructured{}, listErr: tc.listErr}
			for _, u := range tc.live {
				fd.live[u.GetName()] = u
			}
			rv := &Reverter{Client: fd, Evaluator: &Evaluator{}, Resolver: fakeResolver{}, Options: tc.opts}
			res := rv.Revert(context.Background(), plan, tc.report)
			var got outcome
			for _, r := range res.Resources {
				if r.Name == "gone" {
					if r.Action != RevertCreated {
						t.Fatalf("gone: %s %s", r.Action, r.Error)
					}
					got = outcome{r.FieldManager, r.FieldManagerReason, nil}
				}
			}
			// Only the requests of the list and of the Missing object: the
			// others drifted in name only (the fake's live objects are in
			// sync, so they are skipped after a get).
			for _, req := range fd.requests {
				if req == "list" || strings.Contains(req, "gone") {
					got.Requests = append(got.Requests, req)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
		})
	}
}
