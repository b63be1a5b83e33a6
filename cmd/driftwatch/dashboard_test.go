package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

	shot := filepath.Join(t.TempDir(), "dashboard.png")
	headless(t, d.url+"/", "--screenshot="+shot)
	st, err := os.Stat(shot)
	if err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot: %v (%d bytes)", err, st.Size())
	}
	if dir := os.Getenv("DRIFTWATCH_SCREENSHOT_DIR"); dir != "" {
		b, _ := os.ReadFile(shot)
		_ = os.WriteFile(filepath.Join(dir, "dashboard.png"), b, 0o644)
	}
}
