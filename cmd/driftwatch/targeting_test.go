package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource"
)

func applyFixture(t *testing.T, dir, path, ns string) {
	t.Helper()
	objs, err := gitsource.Render(filepath.Join("..", "..", "testdata", dir), path)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := kube.Apply(context.Background(), "gitops", ns, o.Object); err != nil {
			t.Fatal(err)
		}
	}
}

// cachedObjects reads driftwatch_informer_cached_objects for one namespace
// and resource from /metrics; -1 when no informer exists.
func cachedObjects(t *testing.T, d *daemon, resource, ns string) int {
	_, m := d.get(t, "/metrics")
	re := regexp.MustCompile(fmt.Sprintf(`driftwatch_informer_cached_objects\{group="",namespace=%q,resource=%q,version="v1"\} (\d+)`, ns, resource))
	if g := re.FindStringSubmatch(m); g != nil {
		var n int
		fmt.Sscan(g[1], &n)
		return n
	}
	return -1
}

func TestTargetingNarrowsChecksAndInformers(t *testing.T) {
	requireAPIServer(t)
	ctx := context.Background()
	for _, ns := range []string{"tgt-a", "tgt-b"} {
		if err := kube.Apply(ctx, "setup", "", &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}); err != nil {
			t.Fatal(err)
		}
	}
	applyFixture(t, "targeting", ".", "")
	// Noise Git does not declare: 20 unlabelled ConfigMaps in tgt-a.
	for i := range 20 {
		cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": fmt.Sprintf("noise-%d", i), "namespace": "tgt-a"}}}
		if err := kube.Apply(ctx, "someone", "tgt-a", cm); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join("..", "..", "testdata", "targeting")

	all := startWatch(t, "--dir", dir)
	eventually(t, "ready", all, func() bool { c, _ := all.get(t, "/readyz"); return c == 200 })
	if got := cachedObjects(t, all, "configmaps", "tgt-a"); got != 22 {
		t.Errorf("unfiltered: tgt-a ConfigMaps cached = %d, want 22", got)
	}
	all.stop(t)

	d := startWatch(t, "--dir", dir, "--selector", "tier=frontend", "--exclude-namespaces", "tgt-b")
	eventually(t, "ready", d, func() bool { c, _ := d.get(t, "/readyz"); return c == 200 })
	rep := d.report(t, "")
	var got []string
	for _, r := range rep.Resources {
		got = append(got, r.Kind+" "+r.Namespace+"/"+r.Name+" "+string(r.Status))
	}
	if diff := cmp.Diff([]string{"ConfigMap tgt-a/web InSync", "Service tgt-a/web InSync"}, got); diff != "" {
		t.Errorf("checked (-want +got):\n%s", diff)
	}
	if rep.Summary.Excluded != 2 {
		t.Errorf("excluded = %d, want 2 (tgt-a/db by selector, tgt-b/web by namespace)", rep.Summary.Excluded)
	}
	// The informer lists with the selector: only the frontend ConfigMap is
	// cached, not the backend one nor the noise; tgt-b has no informer.
	if got := cachedObjects(t, d, "configmaps", "tgt-a"); got != 1 {
		t.Errorf("filtered: tgt-a ConfigMaps cached = %d, want 1", got)
	}
	if got := cachedObjects(t, d, "configmaps", "tgt-b"); got != -1 {
		t.Errorf("an informer runs for the excluded namespace tgt-b (%d objects)", got)
	}

	// check takes the same flags; --kinds narrows by kind.
	r := runCLI(t, "check", "--dir", dir, "--kubeconfig", kubeconfig, "--kinds", "Service", "-o", "json")
	if rep := parseReport(t, r); len(rep.Resources) != 1 || rep.Resources[0].Kind != "Service" || rep.Summary.Excluded != 3 {
		t.Errorf("--kinds Service: %+v", rep.Summary)
	}
	r = runCLI(t, "check", "--dir", dir, "--kubeconfig", kubeconfig, "--exclude-kinds", "/ConfigMap", "--names", "web")
	if !strings.Contains(r.stdout, "1 resource: 1 in sync, 0 drifted, 0 missing, 0 errors; 3 excluded by targeting") {
		t.Errorf("text summary:\n%s", r.stdout)
	}
	r = runCLI(t, "check", "--dir", dir, "--kubeconfig", kubeconfig, "--selector", "tier in (")
	if r.code != exitError || !strings.Contains(r.stderr, "flag --selector:") {
		t.Errorf("bad selector: %d %s", r.code, r.stderr)
	}
}

func TestVersionSkewAndDeprecationWarnings(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	applyFixture(t, "skew", "crd.yaml", "")
	applyFixture(t, "skew", "desired", ns)
	dir := filepath.Join("..", "..", "testdata", "skew")
	r := runCLI(t, "check", "--dir", dir, "--path", "desired", "--kubeconfig", kubeconfig, "-n", ns, "-o", "json")
	if r.code != exitInSync {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	rep := parseReport(t, r)
	byName := map[string]drift.Resource{}
	for _, res := range rep.Resources {
		byName[res.Name] = res
	}
	// Each object is compared in the version it was written in.
	if byName["current"].APIVersion != "skew.driftwatch.dev/v1" || byName["legacy"].APIVersion != "skew.driftwatch.dev/v1beta1" {
		t.Errorf("versions: %+v", rep.Resources)
	}
	// The API server's deprecation warning reaches the report, on the
	// resource it concerns only.
	want := []string{"skew.driftwatch.dev/v1beta1 Widget is deprecated; use skew.driftwatch.dev/v1"}
	if diff := cmp.Diff(want, byName["legacy"].Warnings); diff != "" {
		t.Errorf("legacy warnings (-want +got):\n%s", diff)
	}
	if len(byName["current"].Warnings) != 0 {
		t.Errorf("current has warnings: %v", byName["current"].Warnings)
	}
	text := runCLI(t, "check", "--dir", dir, "--path", "desired", "--kubeconfig", kubeconfig, "-n", ns)
	if !strings.Contains(text.stdout, "  ! warning: skew.driftwatch.dev/v1beta1 Widget is deprecated") || strings.Contains(text.stderr, "deprecated") {
		t.Errorf("warning should be in the report, not the log:\nstdout:\n%s\nstderr:\n%s", text.stdout, text.stderr)
	}

	// Drift in the old version is found and named in that version.
	if err := kube.Edit(context.Background(), "kubectl-edit", gvkWidgetV1, ns, "legacy", func(u *unstructured.Unstructured) error {
		return unstructured.SetNestedField(u.Object, int64(9), "spec", "size")
	}); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "check", "--dir", dir, "--path", "desired", "--kubeconfig", kubeconfig, "-n", ns, "-o", "json")
	for _, res := range parseReport(t, r).Resources {
		if res.Name == "legacy" && (res.Status != drift.Drifted || res.Diffs[0].Path != "spec.size") {
			t.Errorf("legacy after edit: %+v", res)
		}
		if res.Name == "current" && res.Status != drift.InSync {
			t.Errorf("current after edit: %+v", res)
		}
	}
}

func TestWatchExposesClientMetrics(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	d := startWatch(t, "--repo", gitServer.RepoURL("deploy"), "--path", "app", "-n", ns)
	eventually(t, "ready", d, func() bool { c, _ := d.get(t, "/readyz"); return c == 200 })
	_, m := d.get(t, "/metrics")
	for _, want := range []string{
		// Informers stream their initial list as a watch (WatchList).
		`driftwatch_client_requests_total{code="200",resource="configmaps",verb="WATCH"}`,
		`driftwatch_client_requests_total{code="200",resource="deployments.apps",verb="WATCH"}`,
		`driftwatch_client_request_duration_seconds_bucket{resource="configmaps",verb="WATCH"`,
		`driftwatch_client_requests_total{code="200",resource="version",verb="GET"}`,
		`driftwatch_client_rate_limiter_duration_seconds_count`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// A CRD losing a served version while watch runs turns the objects written
// in it into errors naming what is served, and stops their informer; serving
// it again brings them back.
func TestWatchFollowsServedVersions(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	applyFixture(t, "skew", "crd.yaml", "")
	applyFixture(t, "skew", "desired", ns)
	d := startWatch(t, "--dir", filepath.Join("..", "..", "testdata", "skew"), "--path", "desired", "-n", ns, "--interval", "300ms")
	status := func(name string) drift.Resource {
		if r := resourceOf(d.report(t, ""), "Widget", name); r != nil {
			return *r
		}
		return drift.Resource{}
	}
	eventually(t, "both in sync", d, func() bool {
		return status("legacy").Status == drift.InSync && status("current").Status == drift.InSync
	})
	setServed := func(served bool) {
		t.Helper()
		err := kube.Edit(context.Background(), "test", gvkCRD, "", "widgets.skew.driftwatch.dev", func(u *unstructured.Unstructured) error {
			vs, _, _ := unstructured.NestedSlice(u.Object, "spec", "versions")
			for _, v := range vs {
				if m := v.(map[string]any); m["name"] == "v1beta1" {
					m["served"] = served
				}
			}
			return unstructured.SetNestedSlice(u.Object, vs, "spec", "versions")
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	setServed(false)
	eventually(t, "v1beta1 no longer served", d, func() bool {
		r := status("legacy")
		return r.Status == drift.Error && strings.Contains(r.Error, "skew.driftwatch.dev/v1beta1 Widget is not served by the cluster; this cluster serves skew.driftwatch.dev/v1")
	})
	if status("current").Status != drift.InSync {
		t.Errorf("current: %+v", status("current"))
	}
	setServed(true)
	eventually(t, "v1beta1 served again", d, func() bool { return status("legacy").Status == drift.InSync })
}
