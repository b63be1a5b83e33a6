// Package monitoring holds driftwatch's monitoring mixin: Prometheus rules
// (rules.yaml, and the same as a PrometheusRule), their runbooks
// (docs/runbooks.md) and a Grafana dashboard. Its tests check the rules
// with promtool, unit-test every alert, and run the whole mixin against a
// real Prometheus and Alertmanager scraping three real `driftwatch watch`
// processes, each watching its own real API server.
package monitoring

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/deploy/internal/proctest"
	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

const runbookPrefix = "https://github.com/driftwatch/driftwatch/blob/main/docs/runbooks.md#"

// ruleFile is a Prometheus rules file.
type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []rule `json:"rules"`
	} `json:"groups"`
}

type rule struct {
	Record      string            `json:"record,omitempty"`
	Alert       string            `json:"alert,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func readRules(t *testing.T) ruleFile {
	t.Helper()
	var f ruleFile
	readYAML(t, "rules.yaml", &f)
	if len(f.Groups) == 0 {
		t.Fatal("rules.yaml: no groups")
	}
	return f
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func alerts(f ruleFile) []rule {
	var out []rule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	return out
}

// requireTools returns the paths of the named programs, or skips the test
// (fails it when make test requires the integration tests).
func requireTools(t *testing.T, names ...string) []string {
	t.Helper()
	var paths, missing []string
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			missing = append(missing, n)
		}
		paths = append(paths, p)
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("%s not installed: .ci/deps.sh installs Debian's prometheus and prometheus-alertmanager (make test runs it)", strings.Join(missing, ", "))
		if apiservertest.Required() {
			t.Fatalf("%s, and %s=%s forbids skipping", msg, apiservertest.RequireVar, os.Getenv(apiservertest.RequireVar))
		}
		t.Skip(msg)
	}
	return paths
}

func TestPromtool(t *testing.T) {
	promtool := requireTools(t, "promtool")[0]
	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "rules_test.yaml"}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestEveryAlertTested checks that rules_test.yaml has, for every alert, a
// case where it fires and one where it does not, with a cluster label.
func TestEveryAlertTested(t *testing.T) {
	var tests struct {
		RuleFiles          []string `json:"rule_files"`
		EvaluationInterval string   `json:"evaluation_interval"`
		Tests              []struct {
			Name           string `json:"name"`
			Interval       string `json:"interval"`
			InputSeries    []any  `json:"input_series"`
			PromQLExprTest []any  `json:"promql_expr_test"`
			AlertRuleTest  []struct {
				EvalTime  string `json:"eval_time"`
				Alertname string `json:"alertname"`
				ExpAlerts []struct {
					ExpLabels      map[string]string `json:"exp_labels"`
					ExpAnnotations map[string]string `json:"exp_annotations"`
				} `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	readYAML(t, "rules_test.yaml", &tests)
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) == 0 {
				quiet[a.Alertname] = true
			}
			for _, e := range a.ExpAlerts {
				if e.ExpLabels["cluster"] != "" {
					fires[a.Alertname] = true
				}
			}
		}
	}
	for _, a := range alerts(readRules(t)) {
		if !fires[a.Alert] {
			t.Errorf("rules_test.yaml: no test where %s fires with a cluster label", a.Alert)
		}
		if !quiet[a.Alert] {
			t.Errorf("rules_test.yaml: no test where %s does not fire", a.Alert)
		}
	}
}

var (
	camelCase      = regexp.MustCompile(`^Driftwatch[A-Z][A-Za-z0-9]*$`)
	clusterMatcher = regexp.MustCompile(`\bcluster\s*(=|!=|=~|!~)`)
	heading        = regexp.MustCompile(`(?m)^## (.+)$`)
	byClause       = regexp.MustCompile(`\bby\s*\(([^)]*)\)`)
	withoutClause  = regexp.MustCompile(`\bwithout\s*\(([^)]*)\)`)
)

// githubSlug is the anchor GitHub gives a heading.
func githubSlug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestRulesConventions checks names, labels and annotations of every
// alert, that every runbook_url has its section in docs/runbooks.md, and
// that no rule selects or sets a cluster.
func TestRulesConventions(t *testing.T) {
	f := readRules(t)
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "runbooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range heading.FindAllStringSubmatch(string(b), -1) {
		anchors[githubSlug(m[1])] = true
	}
	seen := map[string]bool{}
	for _, a := range alerts(f) {
		if !camelCase.MatchString(a.Alert) {
			t.Errorf("%s: not a CamelCase name prefixed Driftwatch", a.Alert)
		}
		if seen[a.Alert] {
			t.Errorf("%s: defined twice", a.Alert)
		}
		seen[a.Alert] = true
		if s := a.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
			t.Errorf("%s: labels.severity is %q, want critical, warning or info", a.Alert, s)
		}
		for _, k := range []string{"summary", "description", "runbook_url"} {
			if a.Annotations[k] == "" {
				t.Errorf("%s: no annotations.%s", a.Alert, k)
			}
		}
		if want := runbookPrefix + strings.ToLower(a.Alert); a.Annotations["runbook_url"] != want {
			t.Errorf("%s: runbook_url is %q, want %q", a.Alert, a.Annotations["runbook_url"], want)
		}
		anchor := strings.TrimPrefix(a.Annotations["runbook_url"], runbookPrefix)
		if !anchors[anchor] {
			t.Errorf("%s: docs/runbooks.md has no heading with anchor #%s (want \"## %s\")", a.Alert, anchor, a.Alert)
		}
	}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			if clusterMatcher.MatchString(r.Expr) {
				t.Errorf("%s: its expression selects a cluster: %s", name, r.Expr)
			}
			if _, ok := r.Labels["cluster"]; ok {
				t.Errorf("%s: sets a cluster label", name)
			}
			// An aggregation keeps the cluster label Prometheus may add.
			for _, m := range byClause.FindAllStringSubmatch(r.Expr, -1) {
				if !slices.Contains(strings.Fields(strings.ReplaceAll(m[1], ",", " ")), "cluster") {
					t.Errorf("%s: %s drops the cluster label", name, m[0])
				}
			}
			for _, m := range withoutClause.FindAllStringSubmatch(r.Expr, -1) {
				if slices.Contains(strings.Fields(strings.ReplaceAll(m[1], ",", " ")), "cluster") {
					t.Errorf("%s: %s drops the cluster label", name, m[0])
				}
			}
		}
	}
	for anchor := range anchors {
		if !seen[anchorAlert(anchor, f)] {
			t.Errorf("docs/runbooks.md: section #%s is for no alert of rules.yaml", anchor)
		}
	}
}

func anchorAlert(anchor string, f ruleFile) string {
	for _, a := range alerts(f) {
		if strings.ToLower(a.Alert) == anchor {
			return a.Alert
		}
	}
	return ""
}

var update = flag.Bool("update", false, "rewrite prometheusrule.yaml from rules.yaml")

const prometheusRuleHeader = `# The rules of rules.yaml as a PrometheusRule for the Prometheus Operator:
# kubectl apply -n monitoring -f deploy/monitoring/prometheusrule.yaml
# Your Prometheus's ruleSelector may want a label, e.g. release: prometheus.
# Generated from rules.yaml: go test ./deploy/monitoring -run TestPrometheusRule -update
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: driftwatch
  labels:
    app.kubernetes.io/name: driftwatch
    app.kubernetes.io/component: monitoring
spec:
`

// TestPrometheusRule checks that prometheusrule.yaml is generated from
// rules.yaml (its groups, indented under spec), and holds the same rules.
func TestPrometheusRule(t *testing.T) {
	b, err := os.ReadFile("rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, groups, ok := strings.Cut(string(b), "\ngroups:\n")
	if !ok {
		t.Fatal("rules.yaml: no groups: line")
	}
	var gen strings.Builder
	gen.WriteString(prometheusRuleHeader)
	for _, line := range strings.SplitAfter("groups:\n"+groups, "\n") {
		if strings.TrimSpace(line) != "" {
			gen.WriteString("  ")
		}
		gen.WriteString(line)
	}
	if *update {
		writeFile(t, "prometheusrule.yaml", gen.String())
	}
	got, err := os.ReadFile("prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(gen.String(), string(got)); d != "" {
		t.Errorf("prometheusrule.yaml is not generated from rules.yaml; run go test ./deploy/monitoring -run TestPrometheusRule -update (-want +got):\n%s", d)
	}
	var want map[string]any
	readYAML(t, "rules.yaml", &want)
	var pr struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       map[string]any `json:"spec"`
	}
	readYAML(t, "prometheusrule.yaml", &pr)
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" {
		t.Errorf("prometheusrule.yaml is a %s %s, want monitoring.coreos.com/v1 PrometheusRule", pr.APIVersion, pr.Kind)
	}
	if d := cmp.Diff(want, pr.Spec); d != "" {
		t.Errorf("prometheusrule.yaml's spec differs from rules.yaml (-rules.yaml +prometheusrule.yaml):\n%s", d)
	}
}

// dashboard is the part of dashboard.json the tests read.
type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"`
			Regex      string `json:"regex"`
			IncludeAll bool   `json:"includeAll"`
			AllValue   string `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID      int     `json:"id"`
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	return d
}

// queries are the dashboard's panel queries by panel title.
func (d dashboard) queries() map[string][]string {
	out := map[string][]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out[p.Title] = append(out[p.Title], tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// perResource are the series with a namespace label naming a desired
// resource's namespace: a panel reading them is filtered by $namespace.
var perResource = regexp.MustCompile(`driftwatch_resource_|:driftwatch_resources_drifted:|:driftwatch_resource_drifted_fields:`)

func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.UID != "driftwatch-overview" {
		t.Errorf("uid is %q, want driftwatch-overview", d.UID)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion is %d, want a current one (39)", d.SchemaVersion)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Name == "cluster" || v.Name == "namespace" {
			if !v.IncludeAll || v.AllValue != ".*" {
				t.Errorf("variable %s: includeAll %v, allValue %q; want an All of .*, which matches a missing label too", v.Name, v.IncludeAll, v.AllValue)
			}
		}
	}
	for _, v := range []string{"datasource", "cluster", "namespace"} {
		if !vars[v] {
			t.Errorf("no template variable %s", v)
		}
	}
	qs := d.queries()
	if len(qs) < 11 {
		t.Errorf("%d panels with queries, want at least 11", len(qs))
	}
	for title, exprs := range qs {
		for _, e := range exprs {
			if !strings.Contains(e, `cluster=~"$cluster"`) {
				t.Errorf("panel %q: query does not select cluster=~\"$cluster\": %s", title, e)
			}
			if perResource.MatchString(e) && !strings.Contains(e, `namespace=~"$namespace"`) {
				t.Errorf("panel %q: query of per-resource series does not select namespace=~\"$namespace\": %s", title, e)
			}
		}
	}
}

// expand replaces the dashboard's variables the way Grafana does with All
// selected.
func expand(expr string) string {
	return strings.NewReplacer("$cluster", ".*", "$namespace", ".*", "$__rate_interval", "1m").Replace(expr)
}

// --- the fleet: three clusters, one Prometheus, one Alertmanager ---

const (
	waitFor   = 90 * time.Second
	namespace = "shop"
)

var deployment = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}

// cluster is one API server with a driftwatch watching it.
type cluster struct {
	name    string
	env     *apiservertest.Env
	kube    *apiservertest.Client
	metrics string // the watch's address, host:port
}

// TestFleet runs the mixin against three clusters: a drift in one fires
// its alert in Alertmanager with that cluster's label and resolves when
// reverted; every dashboard query returns series; the metrics carry no
// cluster label and are all in the cardinality table.
func TestFleet(t *testing.T) {
	apiservertest.Require(t)
	tools := requireTools(t, "prometheus", "prometheus-alertmanager")
	promBin, amBin := tools[0], tools[1]
	tmp := t.TempDir()

	// Build driftwatch while the API servers start.
	bin := filepath.Join(tmp, "driftwatch")
	var buildErr error
	var buildOut []byte
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		cmd := exec.Command("go", "build", "-o", bin, "github.com/driftwatch/driftwatch/cmd/driftwatch")
		buildOut, buildErr = cmd.CombinedOutput()
	}()
	clusters := []*cluster{{name: "cluster-a"}, {name: "cluster-b"}, {name: "cluster-c"}}
	errs := make([]error, len(clusters))
	for i, c := range clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.env, errs[i] = apiservertest.Start()
		}()
	}
	wg.Wait()
	for i, c := range clusters {
		if c.env != nil {
			t.Cleanup(func() { c.env.Stop() })
		}
		if errs[i] != nil {
			t.Fatalf("%s: %v", c.name, errs[i])
		}
	}
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}

	// The desired state, a Git work tree so that the report names a commit.
	dir := proctest.GitTree(t, filepath.Join(tmp, "desired"), map[string]string{"shop.yaml": proctest.ShopManifest})
	objs := decode(t, proctest.ShopManifest)
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": namespace}}}
	for _, c := range clusters {
		var err error
		if c.kube, err = apiservertest.NewClient(c.env.Config); err != nil {
			t.Fatal(err)
		}
		if err := c.kube.Apply(context.Background(), "setup", "", ns); err != nil {
			t.Fatal(err)
		}
		if err := c.kube.Apply(context.Background(), "gitops", namespace, objs...); err != nil {
			t.Fatal(err)
		}
		kubeconfig, err := apiservertest.WriteKubeconfig(c.env.Config, t.TempDir(), c.name, namespace)
		if err != nil {
			t.Fatal(err)
		}
		c.metrics = proctest.FreeAddr(t)
		proctest.Start(t, c.name, bin, nil, "watch", "--dir", dir, "--kubeconfig", kubeconfig, "--listen", c.metrics,
			"--cache-dir", t.TempDir(), "--interval", "1s")
	}

	am := proctest.FreeAddr(t)
	amDir := t.TempDir()
	writeFile(t, filepath.Join(amDir, "alertmanager.yml"), `route:
  receiver: none
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: none
`)
	proctest.Start(t, "alertmanager", amBin, nil, "--config.file="+filepath.Join(amDir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(amDir, "data"), "--web.listen-address="+am, "--cluster.listen-address=")

	prom := proctest.FreeAddr(t)
	promDir := t.TempDir()
	writeFile(t, filepath.Join(promDir, "rules.yaml"), shortenFor(t))
	var targets strings.Builder
	for _, c := range clusters {
		fmt.Fprintf(&targets, "      - targets: [%q]\n        labels: {cluster: %s}\n", c.metrics, c.name)
	}
	writeFile(t, filepath.Join(promDir, "prometheus.yml"), fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files: [rules.yaml]
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%q]
scrape_configs:
  - job_name: driftwatch
    static_configs:
%s`, am, targets.String()))
	proctest.Start(t, "prometheus", promBin, nil, "--config.file="+filepath.Join(promDir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(promDir, "data"), "--web.listen-address="+prom,
		"--rules.alert.resend-delay=1s")

	p := promClient{base: "http://" + prom}
	proctest.Poll(t, "every driftwatch target up and reporting", 500*time.Millisecond, waitFor, func() (bool, string) {
		up, err := p.query(`up{job="driftwatch"} == 1`)
		if err != nil {
			return false, err.Error()
		}
		synced, err := p.query(`driftwatch_resources{status="InSync"} == 2`)
		if err != nil {
			return false, err.Error()
		}
		return len(up) == 3 && len(synced) == 3, fmt.Sprintf("up: %s; in sync: %s", up, synced)
	})

	b := clusters[1]
	setImage := func(image string) {
		t.Helper()
		err := b.kube.Edit(context.Background(), "kubectl-edit", deployment, namespace, "web", func(u *unstructured.Unstructured) error {
			cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			cs[0].(map[string]any)["image"] = image
			return unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	setImage("nginx:1.27-hotfix")

	amc := amClient{base: "http://" + am}
	want := map[string]string{"alertname": "DriftwatchCriticalDrift", "severity": "critical", "cluster": "cluster-b",
		"group": "apps", "kind": "Deployment", "namespace": namespace, "name": "web"}
	proctest.Poll(t, "DriftwatchCriticalDrift firing in Alertmanager for cluster-b", 500*time.Millisecond, waitFor, func() (bool, string) {
		as, err := amc.alerts()
		if err != nil {
			return false, err.Error()
		}
		var critical []map[string]string
		for _, a := range as {
			if a["alertname"] == "DriftwatchCriticalDrift" {
				critical = append(critical, a)
			}
		}
		return len(critical) == 1 && cmp.Equal(critical[0], want), fmt.Sprintf("active alerts: %v", as)
	})

	t.Run("dashboard queries return series", func(t *testing.T) {
		qs := readDashboard(t).queries()
		titles := slices.Sorted(func(yield func(string) bool) {
			for k := range qs {
				if !yield(k) {
					return
				}
			}
		})
		for _, title := range titles {
			for _, e := range qs[title] {
				q := expand(e)
				res, err := p.query(q)
				switch {
				case err != nil:
					t.Errorf("panel %q: %s: %v", title, q, err)
				case len(res) == 0:
					t.Errorf("panel %q: %s returns no series", title, q)
				}
			}
		}
	})

	t.Run("metrics audit", func(t *testing.T) {
		auditMetrics(t, "http://"+clusters[0].metrics+"/metrics")
	})

	setImage("nginx:1.27")
	proctest.Poll(t, "DriftwatchCriticalDrift resolved in Alertmanager", 500*time.Millisecond, waitFor, func() (bool, string) {
		as, err := amc.alerts()
		if err != nil {
			return false, err.Error()
		}
		for _, a := range as {
			if a["alertname"] == "DriftwatchCriticalDrift" {
				return false, fmt.Sprintf("active alerts: %v", as)
			}
		}
		return true, ""
	})
}

// auditMetrics scrapes url and checks that no series has a cluster label
// and that every driftwatch_* metric is in the cardinality table of
// docs/in-cluster.md.
func auditMetrics(t *testing.T, url string) {
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	documented := cardinalityTable(t)
	names := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			names[f[2]] = true
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexByte(line, '{'); i >= 0 && regexp.MustCompile(`[{,]cluster="`).MatchString(line) {
			t.Errorf("series with a cluster label: %s", line)
		}
	}
	var n int
	for name := range names {
		if !strings.HasPrefix(name, "driftwatch_") {
			continue
		}
		n++
		if !documented[name] {
			t.Errorf("%s is not in the metrics cardinality table of docs/in-cluster.md", name)
		}
	}
	if n < 20 {
		t.Errorf("only %d driftwatch metrics scraped from %s", n, url)
	}
}

var metricName = regexp.MustCompile("`(driftwatch_[a-z_]+)`")

// cardinalityTable returns the metrics named in the first column of the
// table under "### Metrics cardinality" in docs/in-cluster.md.
func cardinalityTable(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "in-cluster.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "\n### Metrics cardinality\n")
	if !ok {
		t.Fatal(`docs/in-cluster.md has no "### Metrics cardinality" section`)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(after, "\n") {
		if strings.HasPrefix(line, "#") {
			break
		}
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first, _, _ := strings.Cut(strings.TrimPrefix(line, "|"), "|")
		for _, m := range metricName.FindAllStringSubmatch(first, -1) {
			out[m[1]] = true
		}
	}
	if len(out) == 0 {
		t.Fatal("docs/in-cluster.md: the metrics cardinality table names no metric")
	}
	return out
}

// shortenFor is rules.yaml with every `for:` shortened to 2s.
func shortenFor(t *testing.T) string {
	b, err := os.ReadFile("rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^(\s+for:) \S+$`)
	if !re.Match(b) {
		t.Fatal("rules.yaml has no for:")
	}
	return re.ReplaceAllString(string(b), "$1 2s")
}

func decode(t *testing.T, docs string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, d := range strings.Split(docs, "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

type promClient struct{ base string }

// series is a query result: the label sets it returned.
type series []map[string]string

func (s series) String() string {
	parts := make([]string, len(s))
	for i, m := range s {
		parts[i] = fmt.Sprint(m)
	}
	sort.Strings(parts)
	return "[" + strings.Join(parts, " ") + "]"
}

// query runs an instant query and returns the label sets of its result.
func (p promClient) query(q string) (series, error) {
	resp, err := httpClient.Get(p.base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", q, r.Error)
	}
	var out series
	for _, s := range r.Data.Result {
		out = append(out, s.Metric)
	}
	return out, nil
}

type amClient struct{ base string }

// alerts returns the labels of Alertmanager's active alerts.
func (a amClient) alerts() ([]map[string]string, error) {
	resp, err := httpClient.Get(a.base + "/api/v2/alerts?active=true&silenced=false&inhibited=false")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var as []struct {
		Labels map[string]string `json:"labels"`
		Status struct {
			State string `json:"state"`
		} `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&as); err != nil {
		return nil, fmt.Errorf("alertmanager alerts: %w", err)
	}
	var out []map[string]string
	for _, x := range as {
		if x.Status.State == "active" {
			out = append(out, x.Labels)
		}
	}
	return out, nil
}
