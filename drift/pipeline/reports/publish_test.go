package reports

import (
	"bytes"
	"context"
	"crypto/sha1" //nolint:gosec // git's object ids
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline"
	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

var (
	env  *apiservertest.Env
	kube *apiservertest.Client
)

func TestMain(m *testing.M) {
	apiservertest.Main(m, func(e *apiservertest.Env) (err error) {
		env = e
		kube, err = apiservertest.NewClient(env.Config)
		return err
	})
}

var crdFiles = []string{"openreports.io_reports.yaml", "openreports.io_clusterreports.yaml"}

// policyReportCRDs are wg-policy-prototypes' files, by their git blob ids
// (deploy/crds/SOURCE.md).
var policyReportCRDs = map[string]string{
	"wgpolicyk8s.io_policyreports.yaml":        "bf77e9336ce3ece18d77745cceb1769335b26872",
	"wgpolicyk8s.io_clusterpolicyreports.yaml": "7d5e164a0a5a18e4e90a7e5e0d44f8c245c2e407",
}

// installCRDs applies deploy/crds to the test API server once: the
// OpenReports CRDs, and the PolicyReport ones too.
func installCRDs(t *testing.T) {
	t.Helper()
	apiservertest.Require(t)
	files := slices.Concat(crdFiles, slices.Sorted(maps.Keys(policyReportCRDs)))
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "crds", f))
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(b, &u.Object); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := kube.Apply(t.Context(), "test", "", u); err != nil {
			t.Fatalf("apply %s: %v", f, err)
		}
	}
}

func namespace(t *testing.T, name string) {
	t.Helper()
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}}}
	if err := kube.Apply(t.Context(), "test", "", ns); err != nil {
		t.Fatal(err)
	}
}

// deploy/crds holds the module's CRDs, byte for byte.
func TestCRDsAreTheModules(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command on PATH: %v", err)
	}
	out, err := exec.CommandContext(t.Context(), goCmd, "list", "-m", "-f", "{{.Dir}}", "github.com/openreports/reports-api").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	for _, f := range crdFiles {
		want, err := os.ReadFile(filepath.Join(dir, "config", "crd", f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "crds", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("deploy/crds/%s differs from the module's config/crd/%s: copy it again", f, f)
		}
	}
}

// deploy/crds holds wg-policy-prototypes' PolicyReport CRDs unchanged:
// the git blob ids SOURCE.md gives.
func TestCRDsArePolicyReportUpstreams(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "crds", "SOURCE.md"))
	if err != nil {
		t.Fatal(err)
	}
	for f, id := range policyReportCRDs {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "crds", f))
		if err != nil {
			t.Fatal(err)
		}
		h := sha1.New() //nolint:gosec // git's object id
		fmt.Fprintf(h, "blob %d\x00", len(b))
		h.Write(b)
		if got := hex.EncodeToString(h.Sum(nil)); got != id {
			t.Errorf("deploy/crds/%s is git blob %s, want upstream's %s: copy it again", f, got, id)
		}
		if !strings.Contains(string(src), id) {
			t.Errorf("deploy/crds/SOURCE.md does not name %s's blob %s", f, id)
		}
	}
}

func TestPublishMissingCRD(t *testing.T) {
	apiservertest.Require(t)
	// A group no CRD serves: the same error path as a cluster without
	// the report CRDs, without uninstalling them under other tests.
	for _, tt := range []struct {
		format Format
		want   string
	}{
		{"", "the cluster does not serve openreports.io/v1alpha1 Report and ClusterReport: install their CRDs (kubectl apply -f deploy/crds/openreports.io_reports.yaml -f deploy/crds/openreports.io_clusterreports.yaml)"},
		{PolicyReport, "the cluster does not serve wgpolicyk8s.io/v1alpha2 PolicyReport and ClusterPolicyReport: install their CRDs " +
			"(kubectl apply -f deploy/crds/wgpolicyk8s.io_policyreports.yaml -f deploy/crds/wgpolicyk8s.io_clusterpolicyreports.yaml)"},
	} {
		p := &Publisher{Client: kube.Dynamic, Policy: "x", Format: tt.format}
		err := p.checkResource(t.Context(), ReportResource.GroupVersion().WithResource("nosuchreports"))
		if !errors.Is(err, ErrNoCRD) || err.Error() != tt.want {
			t.Errorf("format %q: err = %v, want ErrNoCRD saying %q", tt.format, err, tt.want)
		}
	}
}

func report(replicas int) drift.Report {
	r := drift.Report{Source: drift.Source{URL: "https://git.example.com/platform.git", Path: "apps", Commit: "abc"}}
	r.Resources = []drift.Resource{
		{APIVersion: "v1", Kind: "ConfigMap", Namespace: "rep-a", Name: "in-sync", Status: drift.InSync},
		{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole", Name: "reader", Status: drift.InSync},
	}
	if replicas != 3 {
		r.Resources = append(r.Resources, drift.Resource{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "rep-b", Name: "web",
			Status: drift.Drifted, Severity: drift.SeverityInfo, FirstSeen: &firstSeen,
			Diffs: []drift.FieldDiff{{Path: "spec.replicas", Type: drift.Changed, Desired: 3, Live: replicas}}})
	} else {
		r.Resources = append(r.Resources, drift.Resource{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "rep-b", Name: "web", Status: drift.InSync})
	}
	return r
}

// Both formats: the same objects, written, left alone, updated and
// deleted the same way, and read back by Previous.
func TestPublish(t *testing.T) {
	installCRDs(t)
	namespace(t, "rep-a")
	namespace(t, "rep-b")
	for _, tt := range []struct {
		format           Format
		ns, cl           schema.GroupVersionResource
		kind, apiVersion string
	}{
		{OpenReports, ReportResource, ClusterReportResource, "Report", "openreports.io/v1alpha1"},
		{PolicyReport, PolicyReportResource, ClusterPolicyReportResource, "PolicyReport", "wgpolicyk8s.io/v1alpha2"},
	} {
		t.Run(string(tt.format), func(t *testing.T) {
			testPublish(t, tt.format, tt.ns, tt.cl, tt.kind, tt.apiVersion)
		})
	}
}

func testPublish(t *testing.T, format Format, nsRes, clRes schema.GroupVersionResource, kind, apiVersion string) {
	ctx := t.Context()
	clock := now
	p := &Publisher{Client: kube.Dynamic, Policy: Policy(report(5).Source), Format: format, Now: func() time.Time { return clock }}
	if err := p.Check(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := p.Publish(ctx, Build(report(5), Limits{}, clock))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Stats{Written: 3, Bytes: st.Bytes}, st); d != "" || st.Bytes == 0 {
		t.Errorf("first publish (-want +got):\n%s", d)
	}
	name := BaseName(p.Policy)
	got, err := kube.Dynamic.Resource(nsRes).Namespace("rep-b").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetKind() != kind || got.GetAPIVersion() != apiVersion {
		t.Errorf("rep-b's report is a %s %s, want %s %s", got.GetAPIVersion(), got.GetKind(), apiVersion, kind)
	}
	results, _, _ := unstructured.NestedSlice(got.Object, "results")
	if len(results) != 1 || results[0].(map[string]any)["result"] != "fail" {
		t.Fatalf("rep-b results = %v", results)
	}
	res := results[0].(map[string]any)
	if subj, _ := res["resources"].([]any); len(subj) != 1 || subj[0].(map[string]any)["name"] != "web" || res["severity"] != "info" || res["source"] != SourceName {
		t.Errorf("rep-b's result = %v, want Deployment web, severity info, source driftwatch", res)
	}
	if fail, _, _ := unstructured.NestedInt64(got.Object, "summary", "fail"); fail != 1 {
		t.Errorf("rep-b's summary.fail = %d, want 1", fail)
	}
	if _, err := kube.Dynamic.Resource(clRes).Get(ctx, name, metav1.GetOptions{}); err != nil {
		t.Errorf("no cluster-scoped report: %v", err)
	}
	if fm := got.GetManagedFields(); len(fm) != 1 || fm[0].Manager != FieldManager || fm[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Errorf("managedFields = %+v, want one Apply entry by %q", fm, FieldManager)
	}
	b, _ := json.Marshal(got.Object)
	if strings.Contains(string(b), `"5"`) || strings.Contains(string(b), "live") {
		t.Errorf("the report holds a value: %s", b)
	}

	// A new process reads the drift and its firstSeen back.
	prev, err := (&Publisher{Client: kube.Dynamic, Policy: p.Policy, Format: format}).Previous(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantPrev := map[string]pipeline.Previous{
		pipeline.PreviousKey("apps/v1", "Deployment", "rep-b", "web"): {Status: drift.Drifted, Digest: report(5).Resources[2].DriftDigest(), FirstSeen: firstSeen},
	}
	if d := cmp.Diff(wantPrev, prev); d != "" {
		t.Errorf("Previous() (-want +got):\n%s", d)
	}

	// The same findings later, in a new process (a CronJob's next run):
	// only the heartbeat is written.
	clock = clock.Add(time.Hour)
	p2 := &Publisher{Client: kube.Dynamic, Policy: p.Policy, Format: format, Now: func() time.Time { return clock }}
	st, err = p2.Publish(ctx, Build(report(5), Limits{}, clock))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Stats{Written: 1, Unchanged: 2, Bytes: st.Bytes}, st); d != "" {
		t.Errorf("unchanged publish (-want +got):\n%s", d)
	}
	base, err := kube.Dynamic.Resource(clRes).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := base.GetAnnotations()[CheckedAtAnnotation], clock.Format(time.RFC3339); got != want {
		t.Errorf("heartbeat = %q, want %q", got, want)
	}

	// Back in sync and a namespace gone from the source: rep-b's report
	// says pass; a namespace no longer in the set loses its report.
	r := report(3)
	r.Resources = r.Resources[1:] // rep-a's ConfigMap left Git
	st, err = p2.Publish(ctx, Build(r, Limits{}, clock))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Stats{Written: 1, Unchanged: 1, Deleted: 1, Bytes: st.Bytes}, st); d != "" {
		t.Errorf("resolved publish (-want +got):\n%s", d)
	}
	if _, err := kube.Dynamic.Resource(nsRes).Namespace("rep-a").Get(ctx, name, metav1.GetOptions{}); err == nil {
		t.Error("rep-a's report is still there")
	}
}

// A resource flapping 1,000 times in a minute costs one write per
// Interval, and the last state is written by Flush.
func TestPublishFlappingIsDebounced(t *testing.T) {
	installCRDs(t)
	namespace(t, "rep-a")
	namespace(t, "rep-b")
	ctx := context.Background()
	clock := now
	p := &Publisher{Client: kube.Dynamic, Policy: "flap//" + t.Name(), Interval: 10 * time.Second, HeartbeatEvery: time.Minute, Now: func() time.Time { return clock }}
	build := func(replicas int) Set {
		r := report(replicas)
		r.Source.Path = t.Name()
		r.Source.URL = "flap"
		return Build(r, Limits{}, clock)
	}
	writes := 0
	for i := range 1000 {
		clock = now.Add(time.Duration(i) * 60 * time.Millisecond) // 1,000 flaps in 60 s
		replicas := 5
		if i%2 == 1 {
			replicas = 3
		}
		st, err := p.Publish(ctx, build(replicas))
		if err != nil {
			t.Fatal(err)
		}
		writes += st.Written
		fst, err := p.Flush(ctx)
		if err != nil {
			t.Fatal(err)
		}
		writes += fst.Written
	}
	// 3 objects at first, then rep-b's at most once per 10 s over 60 s.
	if writes > 3+7 {
		t.Errorf("%d writes for 1,000 flaps in 60 s, want at most 10", writes)
	}
	t.Logf("1,000 flaps of one resource in 60 s: %d writes", writes)
	// The last state (i = 999: in sync) lands once the interval passes.
	clock = clock.Add(11 * time.Second)
	if _, err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := kube.Dynamic.Resource(ReportResource).Namespace("rep-b").Get(ctx, BaseName(p.Policy), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	results, _, _ := unstructured.NestedSlice(got.Object, "results")
	if len(results) != 1 || results[0].(map[string]any)["result"] != "pass" {
		t.Errorf("after the flapping stopped, rep-b's results = %v, want the final pass", results)
	}
}
