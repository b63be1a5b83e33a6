package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftwatch/driftwatch/drift"
)

// chromium returns the headless browser the project's setup installs
// (.ci/deps.sh: Debian's chromium).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: run .ci/deps.sh (apt-get install chromium)")
	return ""
}

// headless runs Chromium on url with the given extra flags and returns its
// standard output. Background networking is off: this machine reaches no
// outside host.
func headless(t *testing.T, url string, extra ...string) string {
	t.Helper()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,900", "--virtual-time-budget=8000"}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium(t), append(args, url)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, errb.String())
	}
	return out.String()
}

// The dashboard, rendered by a real browser (JavaScript run, report
// fetched from the API), shows the drifted resource, its changed field,
// the values and who changed it.
func TestDashboardInHeadlessChromium(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	d := startWatch(t, "--repo", gitServer.RepoURL("deploy"), "--path", "app", "-n", ns, "--interval", "1s")
	eventually(t, "ready", d, func() bool { c, _ := d.get(t, "/readyz"); return c == 200 })
	if err := kube.Edit(context.Background(), "kubectl-edit", gvkDeployment, ns, "web", setReplicas(6)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "drift", d, func() bool {
		r := resourceOf(d.report(t, ""), "Deployment", "web")
		return r != nil && r.Status == drift.Drifted
	})

	dom := headless(t, d.url+"/", "--dump-dom")
	for _, want := range []string{
		`data-status="Drifted"`, "Deployment " + ns + "/web", "spec.replicas", ">2<", ">6<", "kubectl-edit (Update",
		"drifting since",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered dashboard lacks %q", want)
		}
	}
	// In-sync resources are collapsed by default: the page leads with drift.
	if strings.Contains(dom, `data-status="InSync"`) {
		t.Error("in-sync resources shown by default")
	}

	screenshot(t, d.url+"/", "dashboard.png")
}

// screenshot has Chromium capture url into the test's temp dir, logs the
// path and, with DRIFTWATCH_SCREENSHOT_DIR set, keeps a copy there as name.
func screenshot(t *testing.T, url, name string) {
	t.Helper()
	shot := filepath.Join(t.TempDir(), name)
	headless(t, url, "--screenshot="+shot)
	st, err := os.Stat(shot)
	if err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot: %v (%+v)", err, st)
	}
	t.Logf("screenshot: %s", shot)
	if dir := os.Getenv("DRIFTWATCH_SCREENSHOT_DIR"); dir != "" {
		b, _ := os.ReadFile(shot)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Errorf("keeping the screenshot: %v", err)
		} else {
			t.Logf("screenshot kept as %s", filepath.Join(dir, name))
		}
	}
}

// The dashboard, in a real browser, shows a resource's drift history
// (detected, changed, resolved, as the running watch decided it) when the
// link opens its timeline, and the filters in the link hide every other
// resource.
func TestDashboardHistoryAndFilters(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	d := startWatch(t, "--repo", gitServer.RepoURL("deploy"), "--path", "app", "-n", ns, "--interval", "1s")
	eventually(t, "ready", d, func() bool { c, _ := d.get(t, "/readyz"); return c == 200 })
	ctx := context.Background()
	webLive := func(replicas float64) func() bool {
		return func() bool {
			r := resourceOf(d.report(t, ""), "Deployment", "web")
			return r != nil && r.Status == drift.Drifted && len(r.Diffs) == 1 && r.Diffs[0].Live == replicas
		}
	}
	// Detected, then changed: one edit at a time, each seen before the next.
	if err := kube.Edit(ctx, "kubectl-edit", gvkDeployment, ns, "web", setReplicas(6)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "web drifted to 6 replicas", d, webLive(6))
	if err := kube.Edit(ctx, "kubectl-edit", gvkDeployment, ns, "web", setReplicas(7)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "web drifted to 7 replicas", d, webLive(7))
	// Another drift, which stays: the filters must hide it.
	if err := kube.Edit(ctx, "kubectl-edit", gvkConfigMap, ns, "app-config", func(u *unstructured.Unstructured) error {
		return unstructured.SetNestedField(u.Object, "debug", "data", "LOG_LEVEL")
	}); err != nil {
		t.Fatal(err)
	}
	// Resolved.
	if err := kube.Edit(ctx, "kubectl-edit", gvkDeployment, ns, "web", setReplicas(2)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "web resolved, app-config drifted", d, func() bool {
		r := d.report(t, "")
		web, cm := resourceOf(r, "Deployment", "web"), resourceOf(r, "ConfigMap", "app-config")
		return web != nil && web.Status == drift.InSync && web.ResolvedAt != nil && cm != nil && cm.Status == drift.Drifted
	})
	var hist historyResponse
	eventually(t, "web's history", d, func() bool {
		_, body := d.get(t, "/api/v1/history?kind=Deployment&namespace="+ns+"&name=web")
		return json.Unmarshal([]byte(body), &hist) == nil && len(hist.Resources) == 1 && len(hist.Resources[0].Events) == 3
	})
	var types []string
	for _, e := range hist.Resources[0].Events {
		types = append(types, string(e.Type)+" "+string(e.Status)+" "+strings.Join(e.Paths, ","))
	}
	if got, want := strings.Join(types, " | "), "detected Drifted spec.replicas | changed Drifted spec.replicas | resolved InSync "; got != want {
		t.Errorf("web's history: %q, want %q", got, want)
	}

	webID := "Deployment/" + ns + "/web"
	others := []string{"ConfigMap/" + ns + "/app-config", "Service/" + ns + "/web", "Secret/" + ns + "/db",
		"Gadget/" + ns + "/gizmo", "ClusterRole//driftwatch-test-reader"}
	filtered := d.url + "/?" + url.Values{"kind": {"Deployment"}, "status": {"InSync"}, "severity": {"none"},
		"namespace": {ns}, "open": {webID}}.Encode()
	dom := headless(t, filtered, "--dump-dom")
	if !strings.Contains(dom, `data-id="`+webID+`"`) {
		t.Fatalf("filtered dashboard lacks %s:\n%s", webID, dom)
	}
	for _, id := range others {
		if strings.Contains(dom, `data-id="`+id+`"`) {
			t.Errorf("filtered dashboard shows %s", id)
		}
	}
	for _, want := range []string{"showing 1 of 6 resources (filtered)", `<option value="Deployment" selected="">`,
		`<option value="InSync" selected="">`, `<option value="none" selected="">`, `<option value="` + ns + `" selected="">`,
		`aria-expanded="true"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("filtered dashboard lacks %q", want)
		}
	}
	// The timeline: detected → changed → resolved, in that order, once each.
	start := strings.Index(dom, `<ol class="timeline" data-resource="`+webID+`">`)
	end := strings.Index(dom[max(start, 0):], "</ol>")
	if start < 0 || end < 0 {
		t.Fatalf("no timeline for %s:\n%s", webID, dom)
	}
	tl := dom[start : start+end]
	pos := -1
	for _, step := range []string{`data-type="detected"`, "drift detected", "1 field: spec.replicas",
		`data-type="changed"`, "drift changed", "1 field: spec.replicas", `data-type="resolved"`, "back in sync"} {
		i := strings.Index(tl[pos+1:], step)
		if i < 0 {
			t.Fatalf("timeline lacks %q after position %d:\n%s", step, pos, tl)
		}
		pos += 1 + i
	}
	if n := strings.Count(tl, "data-type="); n != 3 {
		t.Errorf("timeline has %d events, want 3:\n%s", n, tl)
	}

	// The same page without filters shows the other drift (and, resources
	// in sync being collapsed, not web).
	cmID := "ConfigMap/" + ns + "/app-config"
	dom = headless(t, d.url+"/", "--dump-dom")
	if !strings.Contains(dom, `data-id="`+cmID+`"`) || strings.Contains(dom, `data-id="`+webID+`"`) {
		t.Errorf("unfiltered dashboard: app-config shown %v, web shown %v",
			strings.Contains(dom, `data-id="`+cmID+`"`), strings.Contains(dom, `data-id="`+webID+`"`))
	}
	// The severity filter keeps app-config's severity and drops web, in
	// sync and so without one.
	sev := resourceOf(d.report(t, ""), "ConfigMap", "app-config").Severity
	if sev == "" {
		t.Fatal("drifted app-config has no severity in the report")
	}
	dom = headless(t, d.url+"/?status=Drifted,InSync&severity="+string(sev), "--dump-dom")
	if !strings.Contains(dom, `data-id="`+cmID+`" data-severity="`+string(sev)+`"`) || strings.Contains(dom, `data-id="`+webID+`"`) {
		t.Errorf("severity=%s: app-config shown %v, web shown %v", sev,
			strings.Contains(dom, `data-id="`+cmID+`"`), strings.Contains(dom, `data-id="`+webID+`"`))
	}
	dom = headless(t, d.url+"/?kind=Deployment&status=InSync&severity=critical", "--dump-dom")
	if strings.Contains(dom, `data-id="`+webID+`"`) || !strings.Contains(dom, "No resource matches the filters.") {
		t.Errorf("severity=critical shows an in-sync resource, or no notice:\n%s", dom)
	}

	screenshot(t, filtered, "dashboard-history.png")
}
