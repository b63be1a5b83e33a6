package drift

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// sevCase is one diff, or one whole resource (path empty), to classify.
type sevCase struct {
	name       string
	apiVersion string
	kind       string
	namespace  string
	status     Status // Drifted when empty
	path       string
	typ        DiffType // Changed when empty
	live       any
	manager    string
	// operation is Update when empty; subresource is the object itself.
	operation, subresource string
	want                   Severity
}

// classify runs cfg.Classify on the case's resource and returns the
// severity of its diff, or of the resource when the case has no path.
func (c sevCase) classify(cfg *Config) Severity {
	res := Resource{APIVersion: c.apiVersion, Kind: c.kind, Namespace: c.namespace, Name: "x", Status: c.status}
	if res.Status == "" {
		res.Status = Drifted
	}
	if c.path != "" {
		d := FieldDiff{Path: c.path, Type: c.typ, Live: c.live}
		if d.Type == "" {
			d.Type = Changed
		}
		if c.manager != "" {
			d.ChangedBy = &ChangedBy{Manager: c.manager, Operation: c.operation, Subresource: c.subresource}
			if d.ChangedBy.Operation == "" {
				d.ChangedBy.Operation = "Update"
			}
		}
		res.Diffs = []FieldDiff{d}
	}
	cfg.Classify(&res)
	if c.path != "" {
		if res.Severity != res.Diffs[0].Severity {
			return "resource " + res.Severity + " differs from its only diff's " + res.Diffs[0].Severity
		}
		return res.Diffs[0].Severity
	}
	return res.Severity
}

func runSevCases(t *testing.T, cfg *Config, cases []sevCase) {
	t.Helper()
	var want, got []string
	for _, c := range cases {
		want = append(want, c.name+": "+string(c.want))
		got = append(got, c.name+": "+string(c.classify(cfg)))
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("severities (-want +got):\n%s", d)
	}
}

// TestSeverityDefaults covers every item of the built-in rules.
func TestSeverityDefaults(t *testing.T) {
	hostVolume := map[string]any{"name": "host", "hostPath": map[string]any{"path": "/"}}
	sidecar := map[string]any{"name": "debug", "image": "busybox", "command": []any{"sh"}}
	runSevCases(t, nil, []sevCase{
		{name: "container image", apiVersion: "apps/v1", kind: "Deployment", path: "spec.template.spec.containers[name=app].image", want: SeverityCritical},
		{name: "init container image", apiVersion: "apps/v1", kind: "StatefulSet", path: "spec.template.spec.initContainers[name=init].image", want: SeverityCritical},
		{name: "CronJob image", apiVersion: "batch/v1", kind: "CronJob", path: "spec.jobTemplate.spec.template.spec.containers[name=job].image", want: SeverityCritical},
		{name: "custom resource image", apiVersion: "monitoring.coreos.com/v1", kind: "Prometheus", path: "spec.image", want: SeverityCritical},
		{name: "pod securityContext", apiVersion: "v1", kind: "Pod", path: "spec.securityContext.runAsUser", want: SeverityCritical},
		{name: "privileged", apiVersion: "apps/v1", kind: "DaemonSet", path: "spec.template.spec.containers[name=agent].securityContext.privileged", want: SeverityCritical},
		{name: "securityContext added", apiVersion: "apps/v1", kind: "Deployment", path: "spec.template.spec.containers[name=app].securityContext", typ: Added, want: SeverityCritical},
		{name: "hostNetwork", apiVersion: "apps/v1", kind: "Deployment", path: "spec.template.spec.hostNetwork", want: SeverityCritical},
		{name: "hostPID", apiVersion: "apps/v1", kind: "Deployment", path: "spec.template.spec.hostPID", want: SeverityCritical},
		{name: "hostIPC", apiVersion: "v1", kind: "Pod", path: "spec.hostIPC", want: SeverityCritical},
		{name: "hostUsers", apiVersion: "v1", kind: "Pod", path: "spec.hostUsers", want: SeverityCritical},
		{name: "hostPath", apiVersion: "apps/v1", kind: "Deployment", path: "spec.template.spec.volumes[name=host].hostPath.path", want: SeverityCritical},
		{name: "volume with hostPath added by hand", apiVersion: "apps/v1", kind: "Deployment", path: "spec.template.spec.volumes[name=host]", typ: Added, live: hostVolume, want: SeverityCritical},
		{name: "container added by hand", apiVersion: "apps/v1", kind: "Deployment", path: "spec.template.spec.containers[name=debug]", typ: Added, live: sidecar, want: SeverityCritical},
		{name: "volume without hostPath added", apiVersion: "apps/v1", kind: "Deployment", path: "spec.template.spec.volumes[name=tmp]", typ: Added,
			live: map[string]any{"name": "tmp", "emptyDir": map[string]any{}}, want: SeverityWarning},
		{name: "Role rules", apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", path: "rules[0].verbs", want: SeverityCritical},
		{name: "ClusterRole aggregationRule", apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", path: "aggregationRule.clusterRoleSelectors", want: SeverityCritical},
		{name: "ClusterRoleBinding subjects", apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", path: "subjects", want: SeverityCritical},
		{name: "RoleBinding roleRef", apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding", path: "roleRef.name", want: SeverityCritical},
		{name: "ClusterRole aggregation label", apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole",
			path: `metadata.labels["rbac.authorization.k8s.io/aggregate-to-admin"]`, typ: Added, want: SeverityCritical},
		{name: "Role annotation", apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", path: "metadata.annotations.owner", want: SeverityInfo},
		{name: "NetworkPolicy spec", apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", path: "spec.ingress[0].from", want: SeverityCritical},
		{name: "NetworkPolicy of another group", apiVersion: "crd.projectcalico.org/v1", kind: "NetworkPolicy", path: "spec.ingress", want: SeverityWarning},
		{name: "validating webhook", apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingWebhookConfiguration",
			path: "webhooks[name=check.example.com].failurePolicy", want: SeverityCritical},
		{name: "mutating webhook", apiVersion: "admissionregistration.k8s.io/v1", kind: "MutatingWebhookConfiguration",
			path: "webhooks[name=inject.example.com].namespaceSelector", want: SeverityCritical},
		{name: "replicas", apiVersion: "apps/v1", kind: "Deployment", path: "spec.replicas", want: SeverityInfo},
		{name: "label", apiVersion: "v1", kind: "ConfigMap", path: "metadata.labels.team", want: SeverityInfo},
		{name: "pod template annotation", apiVersion: "apps/v1", kind: "Deployment", path: `spec.template.metadata.annotations["example.com/restartedAt"]`, want: SeverityInfo},
		{name: "annotation named image", apiVersion: "apps/v1", kind: "Deployment", path: "metadata.annotations.image", want: SeverityInfo},
		{name: "ConfigMap data", apiVersion: "v1", kind: "ConfigMap", path: "data.LOG_LEVEL", want: SeverityWarning},
		{name: "Service port", apiVersion: "v1", kind: "Service", path: "spec.ports[port=80,protocol=TCP].targetPort", want: SeverityWarning},
		{name: "resources", apiVersion: "apps/v1", kind: "Deployment", path: "spec.template.spec.containers[name=app].resources.limits.memory", want: SeverityWarning},

		{name: "Deployment missing", apiVersion: "apps/v1", kind: "Deployment", status: Missing, want: SeverityWarning},
		{name: "ConfigMap extra", apiVersion: "v1", kind: "ConfigMap", status: Extra, want: SeverityWarning},
		{name: "NetworkPolicy missing", apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", status: Missing, want: SeverityCritical},
		{name: "ClusterRole extra", apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", status: Extra, want: SeverityCritical},
		{name: "RoleBinding missing", apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding", status: Missing, want: SeverityCritical},
		{name: "webhook configuration missing", apiVersion: "admissionregistration.k8s.io/v1", kind: "MutatingWebhookConfiguration", status: Missing, want: SeverityCritical},
		{name: "in sync", apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", status: InSync, want: ""},
		{name: "error", apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", status: Error, want: ""},
	})
}

func TestSeverityUserRules(t *testing.T) {
	cfg, err := ParseConfig("c.yaml", []byte(`apiVersion: driftwatch.dev/v1alpha1
kind: Config
severity:
  # paths and managers together: replicas scaled by hand in prod.
  - match: {group: apps, kind: Deployment, namespace: prod}
    paths: [spec.replicas]
    managers: ["kubectl-*"]
    level: critical
  # first match wins: this one shadows the next for ConfigMaps in prod.
  - match: {kind: ConfigMap, namespace: prod}
    paths: [data]
    level: info
  - match: {kind: ConfigMap}
    paths: [data]
    level: critical
  - match: {kind: Service}
    types: [Removed]
    level: info
  - managers: [helm]
    level: info
  - match: {group: apps, kind: Deployment}
    types: [Missing]
    level: critical
  - match: {namespace: "dev-*"}
    level: info
  - match: {kind: Deployment, namespace: batch}
    paths: ["spec.template.spec.containers[*].resources"]
    level: info
`))
	if err != nil {
		t.Fatal(err)
	}
	deploy := func(name, ns, path string, typ DiffType, manager string, want Severity) sevCase {
		return sevCase{name: name, apiVersion: "apps/v1", kind: "Deployment", namespace: ns, path: path, typ: typ, manager: manager, want: want}
	}
	runSevCases(t, cfg, []sevCase{
		deploy("replicas edited with kubectl in prod", "prod", "spec.replicas", Changed, "kubectl-edit", SeverityCritical),
		deploy("replicas set by the HPA in prod: the default", "prod", "spec.replicas", Changed, "kube-controller-manager", SeverityInfo),
		deploy("replicas edited with kubectl elsewhere: the default", "staging", "spec.replicas", Changed, "kubectl-edit", SeverityInfo),
		{name: "ConfigMap in prod: the first match", apiVersion: "v1", kind: "ConfigMap", namespace: "prod", path: "data.A", want: SeverityInfo},
		{name: "ConfigMap elsewhere", apiVersion: "v1", kind: "ConfigMap", namespace: "staging", path: "data.A", want: SeverityCritical},
		{name: "ConfigMap label: no user rule, the default", apiVersion: "v1", kind: "ConfigMap", namespace: "staging", path: "metadata.labels.a", want: SeverityInfo},
		{name: "Service field removed", apiVersion: "v1", kind: "Service", path: "spec.ports", typ: Removed, want: SeverityInfo},
		{name: "Service field changed", apiVersion: "v1", kind: "Service", path: "spec.ports", want: SeverityWarning},
		{name: "Service missing: types leaves it out", apiVersion: "v1", kind: "Service", status: Missing, want: SeverityWarning},
		deploy("image changed by helm", "prod", "spec.template.spec.containers[name=app].image", Changed, "helm", SeverityInfo),
		deploy("image changed by kubectl", "prod", "spec.template.spec.containers[name=app].image", Changed, "kubectl-edit", SeverityCritical),
		{name: "Deployment missing", apiVersion: "apps/v1", kind: "Deployment", namespace: "prod", status: Missing, want: SeverityCritical},
		{name: "Deployment extra", apiVersion: "apps/v1", kind: "Deployment", namespace: "prod", status: Extra, want: SeverityWarning},
		deploy("types: [Missing] selects no diff", "prod", "spec.minReadySeconds", Changed, "", SeverityWarning),
		deploy("anything in dev", "dev-alice", "spec.template.spec.containers[name=app].image", Changed, "", SeverityInfo),
		{name: "NetworkPolicy missing in dev", apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", namespace: "dev-bob", status: Missing, want: SeverityInfo},
		deploy("resources: the user's info rule", "batch", "spec.template.spec.containers[name=app].resources.limits.cpu", Changed, "", SeverityInfo),
		// An info rule never lowers a value holding a critical field: the
		// added container is critical by the defaults.
		{name: "container added by hand", apiVersion: "apps/v1", kind: "Deployment", namespace: "batch",
			path: "spec.template.spec.containers[name=debug]", typ: Added,
			live: map[string]any{"name": "debug", "image": "busybox", "resources": map[string]any{}}, want: SeverityCritical},
	})

	off, err := ParseConfig("c.yaml", []byte("apiVersion: driftwatch.dev/v1alpha1\nkind: Config\nseverityDefaults: false\n"+
		"severity:\n  - paths: [spec.replicas]\n    level: critical\n"))
	if err != nil {
		t.Fatal(err)
	}
	runSevCases(t, off, []sevCase{
		deploy("replicas, by the user's rule", "prod", "spec.replicas", Changed, "", SeverityCritical),
		deploy("image without the defaults", "prod", "spec.template.spec.containers[name=app].image", Changed, "", SeverityWarning),
		{name: "NetworkPolicy missing without the defaults", apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", status: Missing, want: SeverityWarning},
	})
}

// TestSeverityOwnerSelectors: operations and subresources select a diff by
// the managedFields entry owning its live value, beside managers; the
// value of a whole resource has no owner, so they never select one.
func TestSeverityOwnerSelectors(t *testing.T) {
	cfg, err := ParseConfig("c.yaml", []byte(`apiVersion: driftwatch.dev/v1alpha1
kind: Config
severity:
  # kubectl by hand, kubectl scale included, not kubectl apply --server-side.
  - match: {namespace: prod}
    managers: ["kubectl", "kubectl-*"]
    operations: [Update]
    level: critical
  # Anything written through a subresource elsewhere.
  - match: {namespace: staging}
    subresources: ["*"]
    level: critical
  - match: {namespace: qa}
    subresources: [scale]
    level: info
`))
	if err != nil {
		t.Fatal(err)
	}
	scale := func(name, ns, manager, op, sub string, want Severity) sevCase {
		return sevCase{name: name, apiVersion: "apps/v1", kind: "Deployment", namespace: ns, path: "spec.minReadySeconds",
			manager: manager, operation: op, subresource: sub, want: want}
	}
	runSevCases(t, cfg, []sevCase{
		scale("kubectl scale in prod", "prod", "kubectl", "Update", "scale", SeverityCritical),
		scale("kubectl edit in prod", "prod", "kubectl-edit", "Update", "", SeverityCritical),
		scale("kubectl apply --server-side in prod: Apply", "prod", "kubectl", "Apply", "", SeverityWarning),
		scale("the HPA in prod: not kubectl", "prod", "kube-controller-manager", "Update", "scale", SeverityWarning),
		scale("the HPA in staging, through scale", "staging", "kube-controller-manager", "Update", "scale", SeverityCritical),
		scale("a status write in staging", "staging", "kubectl-patch", "Update", "status", SeverityCritical),
		scale("the object itself in staging: no subresource", "staging", "kubectl-edit", "Update", "", SeverityWarning),
		scale("through status in qa: not scale", "qa", "kubectl-patch", "Update", "status", SeverityWarning),
		scale("through scale in qa", "qa", "kubectl", "Update", "scale", SeverityInfo),
		scale("no owner known in staging", "staging", "", "", "", SeverityWarning),
		{name: "a missing resource has no owner", apiVersion: "apps/v1", kind: "Deployment", namespace: "staging", status: Missing, want: SeverityWarning},
	})
}

// TestSeverityREADMEExample: the severity example of
// docs/what-counts-as-drift.md does what its
// comment says with what kubectl v1.37 writes (cmd/driftwatch's
// TestKubectlManagers records it): kubectl scale ("kubectl", Update,
// through scale) and kubectl edit in prod are critical; the HPA, and
// kubectl apply --server-side (how Git may be applied), stay info.
func TestSeverityREADMEExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "what-counts-as-drift.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(b), "\n## Severity")
	_, example, ok := strings.Cut(section, "```yaml\n")
	example, _, _ = strings.Cut(example, "```")
	if !ok || !strings.Contains(example, "spec.replicas") {
		t.Fatalf("docs/what-counts-as-drift.md's Severity section has no example with spec.replicas:\n%s", example)
	}
	cfg, err := ParseConfig("docs/what-counts-as-drift.md", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	replicas := func(name, manager, op, sub string, want Severity) sevCase {
		return sevCase{name: name, apiVersion: "apps/v1", kind: "Deployment", namespace: "prod-eu", path: "spec.replicas",
			manager: manager, operation: op, subresource: sub, want: want}
	}
	runSevCases(t, cfg, []sevCase{
		replicas("kubectl scale", "kubectl", "Update", "scale", SeverityCritical),
		replicas("kubectl edit", "kubectl-edit", "Update", "", SeverityCritical),
		replicas("kubectl patch", "kubectl-patch", "Update", "", SeverityCritical),
		replicas("the HPA", "kube-controller-manager", "Update", "scale", SeverityInfo),
		replicas("kubectl apply --server-side", "kubectl", "Apply", "", SeverityInfo),
	})
}

// TestSeverityOfCompare classifies diffs as Compare returns them (with
// their parsed paths) and checks the resource gets the highest.
func TestSeverityOfCompare(t *testing.T) {
	desired := obj(t, deployment)
	live := desired.DeepCopy()
	if err := unstructured.SetNestedField(live.Object, int64(5), "spec", "replicas"); err != nil {
		t.Fatal(err)
	}
	cs := live.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)
	cs[0].(map[string]any)["image"] = "nginx:1.28"
	cs[0].(map[string]any)["resources"].(map[string]any)["requests"].(map[string]any)["memory"] = "2Gi"
	res := Resource{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "prod", Name: "web", Status: Drifted,
		Diffs: Compare(desired, live, Options{})}
	(*Config)(nil).Classify(&res)
	got := map[string]Severity{}
	for _, d := range res.Diffs {
		got[d.Path] = d.Severity
	}
	want := map[string]Severity{
		"spec.replicas": SeverityInfo,
		"spec.template.spec.containers[name=app].image":                     SeverityCritical,
		"spec.template.spec.containers[name=app].resources.requests.memory": SeverityWarning,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("diff severities (-want +got):\n%s", d)
	}
	if res.Severity != SeverityCritical {
		t.Errorf("resource severity %q, want critical", res.Severity)
	}

	// Without the image change, the resource is as severe as its worst
	// remaining diff; a report counts resources by severity.
	res.Diffs = slicesDelete(res.Diffs, "spec.template.spec.containers[name=app].image")
	(*Config)(nil).Classify(&res)
	if res.Severity != SeverityWarning {
		t.Errorf("resource severity %q, want warning", res.Severity)
	}
	r := NewReport(time.Time{}, Source{}, Cluster{}, []Resource{res,
		{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy", Name: "deny", Status: Missing},
		{APIVersion: "v1", Kind: "ConfigMap", Name: "c", Status: InSync}})
	if s := r.Summary; s.Critical != 1 || s.Warning != 1 || s.Info != 0 {
		t.Errorf("summary by severity %+v, want 1 critical (the NetworkPolicy NewReport classified), 1 warning", s)
	}
	if r.Resources[2].Severity != "" {
		t.Errorf("in-sync resource has severity %q", r.Resources[2].Severity)
	}
}

func slicesDelete(ds []FieldDiff, path string) []FieldDiff {
	var out []FieldDiff
	for _, d := range ds {
		if d.Path != path {
			out = append(out, d)
		}
	}
	return out
}

func TestSeverityOrdering(t *testing.T) {
	if !SeverityCritical.AtLeast(SeverityWarning) || !SeverityWarning.AtLeast(SeverityWarning) || SeverityInfo.AtLeast(SeverityWarning) ||
		Severity("").AtLeast(SeverityInfo) {
		t.Errorf("AtLeast orders wrongly")
	}
	if SeverityCritical.Compare(SeverityInfo) <= 0 || SeverityInfo.Compare(SeverityWarning) >= 0 || SeverityInfo.Compare(SeverityInfo) != 0 {
		t.Errorf("Compare orders wrongly")
	}
	for _, s := range Severities {
		if got, err := ParseSeverity(string(s)); err != nil || got != s {
			t.Errorf("ParseSeverity(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := ParseSeverity("high"); err == nil || !strings.Contains(err.Error(), "want critical, warning or info") {
		t.Errorf("ParseSeverity(high) error %v", err)
	}
}

func TestFieldGlob(t *testing.T) {
	container := Path{fieldStep("spec"), fieldStep("template"), fieldStep("spec"), fieldStep("containers"),
		{Keys: []KeyValue{{"name", "app"}}}, fieldStep("securityContext"), fieldStep("privileged")}
	for _, tt := range []struct {
		glob string
		want bool
	}{
		{"**.securityContext", true},
		{"**.privileged", true},
		{"**.containers[name=app].securityContext", true},
		{"**.containers[name=web]", false},
		{"**.spec.template", true},
		{"spec.template.spec.containers[*].securityContext", true},
		{"securityContext", false},
		{"**.image", false},
	} {
		g, err := ParseFieldGlob(tt.glob)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.Matches(container); got != tt.want || g.String() != tt.glob {
			t.Errorf("%s matches %s: %v, want %v", g, container, got, tt.want)
		}
	}
	for _, bad := range []string{"**", "spec.**.image", "**.", "**.spec[", "**.**.image"} {
		if _, err := ParseFieldGlob(bad); err == nil {
			t.Errorf("ParseFieldGlob(%q) succeeded", bad)
		}
	}
}

func TestSeverityConfigErrors(t *testing.T) {
	for _, bad := range []struct{ text, want string }{
		{"severity:\n  - paths: [spec.replicas]\n    level: hgh\n", `c.yaml:5: unknown severity level "hgh" (want critical, warning or info)`},
		{"severity:\n  - paths: [spec.replicas]\n    level: [critical]\n", `c.yaml:5: unknown severity level ""`},
		{"severity:\n  - paths: [spec.replicas]\n", "c.yaml:4: severity rule needs a level: critical, warning or info"},
		{"severity:\n  - paths: [spec.replicas]\n    lvl: info\n", `c.yaml:5: unknown field "lvl" in severity rule (want match, paths, managers, operations, subresources, types, level)`},
		{"severity:\n  - operations: [update]\n    level: info\n", `c.yaml:4: unknown operation "update" (want Apply or Update)`},
		{"severity:\n  - subresources: [\"[\"]\n    level: info\n", `c.yaml:4: bad subresource glob "["`},
		{"severity:\n  - types: [Extra]\n    subresources: [scale]\n    level: info\n", "c.yaml:4: types Missing and Extra select whole resources"},
		{"severity:\n  - match: {knd: Deployment}\n    level: info\n", `c.yaml:4: unknown field "knd" in match (want group, kind, namespace, name)`},
		{"severity:\n  - types: [Edited]\n    level: info\n", `c.yaml:4: unknown type "Edited" (want Changed, Removed, Reordered, Added, Missing or Extra)`},
		{"severity:\n  - types: [Missing]\n    paths: [spec]\n    level: info\n", "c.yaml:4: types Missing and Extra select whole resources"},
		{"severity:\n  - paths: [\"spec[\"]\n    level: info\n", `c.yaml:4: invalid path "spec["`},
		{"severity:\n  - paths: [spec.**.image]\n    level: info\n", `c.yaml:4: invalid path "spec.**.image": ** only leads a path`},
		{"severity:\n  - managers: [\"[\"]\n    level: info\n", `c.yaml:4: bad manager glob "["`},
		{"severity:\n  - match: {kind: \"[\"}\n    level: info\n", `c.yaml:4: bad glob "["`},
		{"severityDefaults: maybe\n", "c.yaml:3: cannot unmarshal !!str `maybe` into bool"},
		{"severity: {level: info}\n", "c.yaml:3: cannot unmarshal !!map into []drift.rawSeverityRule"},
	} {
		_, err := ParseConfig("c.yaml", []byte("apiVersion: driftwatch.dev/v1alpha1\nkind: Config\n"+bad.text))
		if err == nil || !strings.HasPrefix(err.Error(), "config "+bad.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %v, want one line starting with config %s", bad.text, err, bad.want)
		}
	}
	cfg, err := LoadConfig(filepath.Join("..", "testdata", "config", "severity-replicas-critical.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Severity) != 1 || cfg.Severity[0].Level != SeverityCritical || cfg.SeverityDefaultsOff {
		t.Errorf("config %+v", cfg)
	}
	_, err = LoadConfig(filepath.Join("..", "testdata", "config", "bad-severity.yaml"))
	if want := "bad-severity.yaml:6: unknown severity level \"urgent\""; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %q", err, want)
	}
}

// TestSeverityDefaultsDocumented: docs/what-counts-as-drift.md's Severity
// section names every
// path and kind of the built-in rules.
func TestSeverityDefaultsDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "what-counts-as-drift.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Severity")
	if !ok {
		t.Fatal("docs/what-counts-as-drift.md has no Severity section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for _, r := range DefaultSeverityRules() {
		words := []string{string(r.Level)}
		for _, p := range r.Paths {
			words = append(words, "`"+p.String()+"`")
		}
		if r.Match.Kind != "" {
			words = append(words, strings.TrimPrefix(r.Match.Kind, "*"))
		}
		if r.Match.Group != "" {
			words = append(words, r.Match.Group)
		}
		for _, w := range words {
			if !strings.Contains(section, w) {
				t.Errorf("docs/what-counts-as-drift.md's Severity section does not mention %s (rule %+v)", w, r)
			}
		}
	}
}
