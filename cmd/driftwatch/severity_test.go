package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline"
	"github.com/driftwatch/driftwatch/informer"
)

// severityDir holds the desired state of the severity tests: a Deployment
// and a ConfigMap (testdata/severity/app).
var severityDir = filepath.Join("..", "..", "testdata", "severity")

// severityNamespace creates a fresh namespace with the severity fixture
// applied by the "gitops" field manager.
func severityNamespace(t *testing.T) string {
	t.Helper()
	ns := fmt.Sprintf("severity-%d", nsCounter.Add(1))
	nsObj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns},
	}}
	if err := kube.Apply(context.Background(), "setup", "", nsObj); err != nil {
		t.Fatal(err)
	}
	applyFixtureDir(t, filepath.Join(severityDir, "app"), ns)
	return ns
}

// setImage sets the image of the Deployment's container "app".
func setImage(image string) func(*unstructured.Unstructured) error {
	return func(u *unstructured.Unstructured) error {
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		cs[0].(map[string]any)["image"] = image
		return unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
	}
}

// checkSeverity runs check on the severity fixture in ns.
func checkSeverity(t *testing.T, ns string, extra ...string) result {
	t.Helper()
	return runCLI(t, append([]string{"check", "--dir", severityDir, "--path", "app", "--kubeconfig", kubeconfig, "-n", ns}, extra...)...)
}

// severities maps "Kind path" (or "Kind" for a resource) to severity.
func severities(rep *drift.Report) map[string]drift.Severity {
	out := map[string]drift.Severity{}
	for _, res := range rep.Resources {
		out[res.Kind] = res.Severity
		for _, d := range res.Diffs {
			out[res.Kind+" "+d.Path] = d.Severity
		}
	}
	return out
}

// sarifLevels maps each SARIF result's path (or message) to its level.
func sarifLevels(t *testing.T, file string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Runs []struct {
			Results []struct {
				Level      string         `json:"level"`
				Properties map[string]any `json:"properties"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || len(doc.Runs) != 1 {
		t.Fatalf("SARIF report: %v\n%s", err, b)
	}
	out := map[string]string{}
	for _, r := range doc.Runs[0].Results {
		key, _ := r.Properties["path"].(string)
		if key == "" {
			key, _ = r.Properties["kind"].(string)
		}
		out[key] = r.Level + " " + r.Properties["severity"].(string)
	}
	return out
}

func TestCheckSeverity(t *testing.T) {
	requireAPIServer(t)
	ns := severityNamespace(t)
	ctx := context.Background()
	const image = "spec.template.spec.containers[name=app].image"
	if r := checkSeverity(t, ns, "--fail-on", "critical"); r.code != exitInSync {
		t.Fatalf("in sync: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// By hand, with another field manager: an image (critical) and the
	// replicas (info).
	if err := kube.Edit(ctx, "kubectl-edit", gvkDeployment, ns, "web", func(u *unstructured.Unstructured) error {
		if err := setImage("nginx:1.28")(u); err != nil {
			return err
		}
		return unstructured.SetNestedField(u.Object, int64(5), "spec", "replicas")
	}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	sarif, junit := filepath.Join(out, "drift.sarif"), filepath.Join(out, "drift.xml")
	r := checkSeverity(t, ns, "--fail-on", "critical", "-o", "json", "-o", "sarif="+sarif, "-o", "junit="+junit)
	if r.code != exitDrift {
		t.Fatalf("image changed, --fail-on=critical: exit %d, want 1\n%s", r.code, r.stderr)
	}
	rep := parseReport(t, r)
	if d := cmp.Diff(map[string]drift.Severity{
		"Deployment": drift.SeverityCritical, "Deployment " + image: drift.SeverityCritical,
		"Deployment spec.replicas": drift.SeverityInfo, "ConfigMap": "",
	}, severities(rep)); d != "" {
		t.Errorf("severities (-want +got):\n%s", d)
	}
	if s := rep.Summary; s.Critical != 1 || s.Warning != 0 || s.Info != 0 {
		t.Errorf("summary %+v, want 1 critical", s)
	}
	// The JSON report spells the fields out.
	for _, want := range []string{`"severity": "critical"`, `"severity": "info"`, `"critical": 1`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("JSON report lacks %s", want)
		}
	}
	if d := cmp.Diff(map[string]string{image: "error critical", "spec.replicas": "note info"}, sarifLevels(t, sarif)); d != "" {
		t.Errorf("SARIF levels (-want +got):\n%s", d)
	}
	if b, _ := os.ReadFile(junit); !strings.Contains(string(b), `message="critical: 2 fields differ from Git"`) {
		t.Errorf("JUnit report:\n%s", b)
	}
	text := checkSeverity(t, ns, "--fail-on", "critical")
	for _, want := range []string{
		`  ~ ` + image + `: desired "nginx:1.27", live "nginx:1.28"  [kubectl-edit Update `,
		"  ~ spec.replicas: desired 2, live 5  [kubectl-edit Update ",
		"\nBy severity: 1 critical, 0 warning, 0 info\n",
	} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("text report lacks %q:\n%s", want, text.stdout)
		}
	}
	for _, line := range strings.Split(text.stdout, "\n") {
		if strings.Contains(line, image) && !strings.HasSuffix(line, "  (critical)") ||
			strings.Contains(line, "spec.replicas") && !strings.HasSuffix(line, "  (info)") {
			t.Errorf("text line without its severity: %q", line)
		}
	}

	// The image back as in Git: only info drift is left. It is still
	// reported, and fails the default threshold, but not critical.
	if err := kube.Edit(ctx, "kubectl-edit", gvkDeployment, ns, "web", setImage("nginx:1.27")); err != nil {
		t.Fatal(err)
	}
	r = checkSeverity(t, ns, "--fail-on", "critical", "-o", "json")
	if r.code != exitInSync {
		t.Fatalf("replicas only, --fail-on=critical: exit %d, want 0\n%s", r.code, r.stderr)
	}
	if want := "note: 1 drifted field below --fail-on=critical: not failing\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	rep = parseReport(t, r)
	if d := cmp.Diff(map[string]drift.Severity{
		"Deployment": drift.SeverityInfo, "Deployment spec.replicas": drift.SeverityInfo, "ConfigMap": "",
	}, severities(rep)); d != "" || rep.Summary.Drifted != 1 {
		t.Errorf("severities (-want +got):\n%s\nsummary %+v", d, rep.Summary)
	}
	if r := checkSeverity(t, ns); r.code != exitDrift {
		t.Errorf("replicas only, default --fail-on: exit %d, want 1", r.code)
	}
	if r := checkSeverity(t, ns, "--fail-on", "warning"); r.code != exitInSync {
		t.Errorf("replicas only, --fail-on=warning: exit %d, want 0", r.code)
	}

	// A rule of the config file makes replicas critical.
	cfg := filepath.Join("..", "..", "testdata", "config", "severity-replicas-critical.yaml")
	r = checkSeverity(t, ns, "--fail-on", "critical", "--config", cfg, "-o", "json")
	if r.code != exitDrift {
		t.Fatalf("replicas critical by the config: exit %d, want 1\n%s", r.code, r.stderr)
	}
	if got := severities(parseReport(t, r))["Deployment spec.replicas"]; got != drift.SeverityCritical {
		t.Errorf("replicas with the config: %q, want critical", got)
	}

	// A ConfigMap changed by hand is a warning; a missing one too.
	if err := kube.Edit(ctx, "kubectl-edit", gvkConfigMap, ns, "web-config", setData("LOG_LEVEL", "debug")); err != nil {
		t.Fatal(err)
	}
	if r := checkSeverity(t, ns, "--fail-on", "warning"); r.code != exitDrift || !strings.Contains(r.stdout, "  ~ data.LOG_LEVEL: desired \"info\", live \"debug\"  [kubectl-edit Update ") {
		t.Errorf("ConfigMap changed, --fail-on=warning: exit %d, want 1\n%s", r.code, r.stdout)
	}
	if err := kube.Delete(ctx, gvkConfigMap, ns, "web-config"); err != nil {
		t.Fatal(err)
	}
	r = checkSeverity(t, ns, "--fail-on", "critical")
	if r.code != exitInSync || !strings.Contains(r.stdout, "  - not found in the cluster  (warning)\n") ||
		r.stderr != "note: 1 drifted field and 1 missing or extra resource below --fail-on=critical: not failing\n" {
		t.Errorf("ConfigMap missing, --fail-on=critical: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestCheckSeverityBadInput: a bad --fail-on or severity rule is one line
// naming its cause, exit 2, and no report.
func TestCheckSeverityBadInput(t *testing.T) {
	requireAPIServer(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--fail-on", "urgent"}, `driftwatch: error: flag --fail-on: unknown severity "urgent" (want critical, warning or info)` + "\n"},
		{[]string{"--fail-on", ""}, ""},
		{[]string{"--config", filepath.Join("..", "..", "testdata", "config", "bad-severity.yaml")},
			`bad-severity.yaml:6: unknown severity level "urgent" (want critical, warning or info)` + "\n"},
	} {
		r := checkSeverity(t, "default", tt.args...)
		if tt.want == "" {
			if r.code == exitError {
				t.Errorf("%v: exit 2: %s", tt.args, r.stderr)
			}
			continue
		}
		if r.code != exitError || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and one line ending %q", tt.args, r.code, r.stdout, r.stderr, tt.want)
		}
	}
}

// TestWatchNotifyOnSeverity: watch --notify-on=critical posts the drift
// that reaches critical, says once when it falls below, and not its
// resolution then; the report and the metrics carry the severities.
func TestWatchNotifyOnSeverity(t *testing.T) {
	requireAPIServer(t)
	ns := severityNamespace(t)
	ctx := context.Background()
	hook := newReceiver(t)
	d := startWatch(t, "--dir", severityDir, "--path", "app", "-n", ns, "--webhook", hook.srv.URL, "--notify-on", "critical")
	web := func() *drift.Resource { return resourceOf(d.report(t, ""), "Deployment", "web") }
	eventually(t, "the Deployment in sync", d, func() bool { r := web(); return r != nil && r.Status == drift.InSync })
	edit := func(f func(*unstructured.Unstructured) error) {
		t.Helper()
		if err := kube.Edit(ctx, "kubectl-edit", gvkDeployment, ns, "web", f); err != nil {
			t.Fatal(err)
		}
	}

	edit(setReplicas(5))
	eventually(t, "replicas drift, info", d, func() bool { r := web(); return r.Status == drift.Drifted && r.Severity == drift.SeverityInfo })
	edit(setImage("nginx:1.28"))
	eventually(t, "a critical notification", d, func() bool { return len(hook.types(ns+"/web")) == 1 })
	_, metrics := d.get(t, "/metrics")
	for _, want := range []string{
		`driftwatch_resource_drifted_fields{group="apps",kind="Deployment",name="web",namespace="` + ns + `",severity="critical"} 1`,
		`driftwatch_resource_drifted_fields{group="apps",kind="Deployment",name="web",namespace="` + ns + `",severity="info"} 1`,
		`driftwatch_resource_drifted_fields{group="",kind="ConfigMap",name="web-config",namespace="` + ns + `",severity=""} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	edit(setImage("nginx:1.27"))
	eventually(t, "the fall below critical notified", d, func() bool { return len(hook.types(ns+"/web")) == 2 })
	// Back in sync: its resolution is not posted (the receiver heard it
	// fall below); a new critical drift is, after it, in order.
	edit(setReplicas(2))
	eventually(t, "the Deployment in sync again", d, func() bool { return web().Status == drift.InSync })
	edit(setImage("nginx:1.29"))
	eventually(t, "a second critical notification", d, func() bool { return len(hook.types(ns+"/web")) >= 3 })

	hook.mu.Lock()
	var got []string
	for _, ev := range hook.events {
		if strings.HasSuffix(ev.Subject, ns+"/web") {
			got = append(got, ev.Type+" "+string(ev.Severity)+" "+string(ev.Data.Severity))
		}
	}
	hook.mu.Unlock()
	if diff := cmp.Diff([]string{
		eventTypePrefix + "detected critical critical", // replicas alone was below: new to the receiver
		eventTypePrefix + "changed info info",
		eventTypePrefix + "detected critical critical",
	}, got); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
	}
}

// TestNotifierThreshold drives the notifier's decisions directly, with
// info (every change, as before severities) and critical thresholds.
func TestNotifierThreshold(t *testing.T) {
	res := func(st drift.Status, sev drift.Severity) drift.Resource {
		return drift.Resource{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "c", Status: st, Severity: sev}
	}
	steps := []pipeline.Change{
		{Type: pipeline.DriftDetected, Resource: res(drift.Drifted, drift.SeverityWarning)},
		{Type: pipeline.DriftChanged, Resource: res(drift.Drifted, drift.SeverityCritical)},
		{Type: pipeline.DriftChanged, Resource: res(drift.Drifted, drift.SeverityCritical)},
		{Type: pipeline.DriftResolved, Resource: res(drift.InSync, "")},
		{Type: pipeline.DriftDetected, Resource: res(drift.Extra, "")}, // classified by the notifier
		{Type: pipeline.DriftChanged, Resource: res(drift.Drifted, drift.SeverityInfo)},
		{Type: pipeline.DriftResolved, Resource: res(drift.InSync, "")},
	}
	for _, tt := range []struct {
		threshold drift.Severity
		want      []string
	}{
		{drift.SeverityInfo, []string{"detected warning", "changed critical", "changed critical", "resolved critical",
			"detected warning", "changed info", "resolved info"}},
		{drift.SeverityCritical, []string{"-", "detected critical", "changed critical", "resolved critical",
			"-", "-", "-"}},
		{drift.SeverityWarning, []string{"detected warning", "changed critical", "changed critical", "resolved critical",
			"detected warning", "changed info", "-"}},
	} {
		n := &notifier{threshold: tt.threshold, notified: map[string]drift.Severity{}}
		var got []string
		for _, c := range steps {
			if c.Resource.Severity == "" && c.Resource.Status == drift.Extra {
				n.config.Classify(&c.Resource)
			}
			typ, sev, ok := n.admit("v1 ConfigMap ns/c", c)
			if !ok {
				got = append(got, "-")
				continue
			}
			got = append(got, string(typ)+" "+string(sev))
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("--notify-on=%s (-want +got):\n%s", tt.threshold, d)
		}
	}
}

// TestNotifierPostsSeverity: a posted CloudEvent carries the severity
// attribute, on a real HTTP receiver.
func TestNotifierPostsSeverity(t *testing.T) {
	hook := newReceiver(t)
	n := newNotifier([]string{hook.srv.URL}, "driftwatch/test", drift.SeverityCritical, nil, newMetrics(),
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	n.Send(pipeline.Change{Type: pipeline.DriftDetected, Time: time.Now(),
		Resource: drift.Resource{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy", Namespace: "ns", Name: "deny", Status: drift.Missing}})
	n.Send(pipeline.Change{Type: pipeline.DriftDetected, Time: time.Now(),
		Resource: drift.Resource{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "c", Status: drift.Missing}})
	n.Close(10 * time.Second)
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if len(hook.events) != 1 || hook.events[0].Severity != drift.SeverityCritical || hook.events[0].Data.Severity != drift.SeverityCritical {
		t.Errorf("events %+v, want the missing NetworkPolicy alone, critical", hook.events)
	}
}

// TestDriftedFieldsMetricBySeverity: one series per severity of a
// resource's fields; a resource without drift keeps its single 0.
func TestDriftedFieldsMetricBySeverity(t *testing.T) {
	rep := drift.NewReport(time.Now(), drift.Source{}, drift.Cluster{}, []drift.Resource{
		{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "ns", Name: "web", Status: drift.Drifted, Diffs: []drift.FieldDiff{
			{Path: "spec.replicas", Severity: drift.SeverityInfo},
			{Path: "spec.template.spec.containers[name=app].image", Severity: drift.SeverityCritical},
			{Path: "spec.template.spec.containers[name=app].env", Severity: drift.SeverityCritical},
		}},
		{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "c", Status: drift.InSync},
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(reportCollector{report: func() *drift.Report { return rep }, gitStatus: func() time.Time { return time.Time{} },
		informers: func() int { return 0 }, caches: func() map[informer.Scope]int { return nil },
		health: func() map[informer.Scope]informer.Health { return nil }, now: time.Now})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "driftwatch_resource_drifted_fields" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["kind"]+" "+labels["severity"]] = m.GetGauge().GetValue()
		}
	}
	if d := cmp.Diff(map[string]float64{"Deployment critical": 2, "Deployment info": 1, "ConfigMap ": 0}, got); d != "" {
		t.Errorf("driftwatch_resource_drifted_fields (-want +got):\n%s", d)
	}
}
