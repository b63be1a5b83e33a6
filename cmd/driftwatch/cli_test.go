package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/driftwatch/driftwatch/drift"
)

func TestEveryFlagFromTheEnvironment(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	dir := filepath.Join("..", "..", "testdata", "check")
	// No flags at all: the source, cluster and output come from DRIFTWATCH_*.
	t.Setenv("DRIFTWATCH_DIR", dir)
	t.Setenv("DRIFTWATCH_PATH", "app")
	t.Setenv("DRIFTWATCH_KUBECONFIG", kubeconfig)
	t.Setenv("DRIFTWATCH_NAMESPACE", ns)
	t.Setenv("DRIFTWATCH_OUTPUT", "json")
	t.Setenv("DRIFTWATCH_KINDS", "ConfigMap,Service")
	r := runCLI(t, "check")
	if r.code != exitInSync {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if rep := parseReport(t, r); rep.Summary.Total != 2 || rep.Summary.Excluded != 4 {
		t.Errorf("summary %+v", rep.Summary)
	}
	// A flag on the command line wins over the environment.
	r = runCLI(t, "check", "--kinds", "Service")
	if rep := parseReport(t, r); rep.Summary.Total != 1 {
		t.Errorf("flag did not win: %+v", rep.Summary)
	}
	t.Setenv("DRIFTWATCH_SYNC_TIMEOUT", "soon")
	r = runCLI(t, "check")
	if r.code != exitError || !strings.Contains(r.stderr, "environment DRIFTWATCH_SYNC_TIMEOUT: invalid argument \"soon\"") {
		t.Errorf("bad env value: %d %q", r.code, r.stderr)
	}
}

func TestSeveralOutputsAndExitCode(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	if err := kube.Delete(t.Context(), gvkConfigMap, ns, "app-config"); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	jsonPath := filepath.Join(out, "report.json")
	r := checkRepo(t, ns, "-o", "text", "-o", "json="+jsonPath, "--exit-code-on-drift", "3", "--color", "always")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "\x1b[1m\x1b[31mMISSING\x1b[0m  v1 ConfigMap "+ns+"/app-config") {
		t.Errorf("coloured text report:\n%q", r.stdout)
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep drift.Report
	if err := json.Unmarshal(b, &rep); err != nil || rep.Summary.Missing != 1 {
		t.Errorf("report file: %v %+v", err, rep.Summary)
	}
	// No temporary files left behind.
	if entries, _ := os.ReadDir(out); len(entries) != 1 {
		t.Errorf("output directory holds %d entries", len(entries))
	}
	// Piped output is never coloured by default, and NO_COLOR is honoured.
	if r := checkRepo(t, ns); strings.Contains(r.stdout, "\x1b[") || r.code != exitDrift {
		t.Errorf("auto colour on a pipe: %q", r.stdout)
	}
	if r := checkRepo(t, ns, "--exit-code-on-drift", "0"); r.code != 0 {
		t.Errorf("--exit-code-on-drift 0: exit %d", r.code)
	}
	for _, tt := range []struct{ args, want string }{
		{"-o json=" + filepath.Join(out, "missing-dir", "r.json"), "flag --output: directory"},
		{"-o json -o text", "flag --output: only one format can go to stdout"},
		{"-o json=" + out, "is a directory"},
		{"--color sometimes", `flag --color: unknown value "sometimes"`},
		{"--exit-code-on-drift 2", "flag --exit-code-on-drift: 2 is not a usable exit status"},
		{"--on-resource-error never", `flag --on-resource-error: "never" is not auto, fail or report`},
	} {
		r := checkRepo(t, ns, strings.Fields(tt.args)...)
		if r.code != exitError || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: %d %q", tt.args, r.code, r.stderr)
		}
	}
}

func TestExitStatus(t *testing.T) {
	res := func(st ...drift.Status) *drift.Report {
		var rs []drift.Resource
		for _, s := range st {
			rs = append(rs, drift.Resource{Kind: "ConfigMap", Status: s})
		}
		return drift.NewReport(time.Time{}, drift.Source{}, drift.Cluster{}, rs)
	}
	inSync, drifted, errored := res(drift.InSync), res(drift.InSync, drift.Drifted), res(drift.InSync, drift.Error)
	both := res(drift.Missing, drift.Error)
	tests := []struct {
		report  *drift.Report
		onError string
		onDrift int
		want    int
	}{
		{inSync, "auto", 1, 0},
		{drifted, "auto", 1, 1},
		{drifted, "auto", 0, 0},
		{errored, "auto", 1, 2},
		{both, "auto", 1, 1},
		{errored, "fail", 1, 2},
		{both, "fail", 1, 2},
		{inSync, "fail", 1, 0},
		{errored, "report", 1, 0},
		{both, "report", 3, 3},
	}
	var got, want []string
	for _, tt := range tests {
		o := &checkOptions{OnResourceError: tt.onError, ExitCodeOnDrift: tt.onDrift}
		code := 0
		var ec exitCodeError
		if err := o.exitStatus(tt.report); errors.As(err, &ec) {
			code = ec.code
		}
		name := fmt.Sprintf("%+v --on-resource-error=%s --exit-code-on-drift=%d", tt.report.Summary, tt.onError, tt.onDrift)
		got, want = append(got, fmt.Sprintf("%s → %d", name, code)), append(want, fmt.Sprintf("%s → %d", name, tt.want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("exit status (-want +got):\n%s", diff)
	}
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		r := runCLI(t, "completion", shell)
		if r.code != 0 || !strings.Contains(r.stdout, "driftwatch") {
			t.Errorf("completion %s: %d %q", shell, r.code, r.stderr)
		}
	}
}

// The same binary installed as kubectl-drift runs as `kubectl drift`,
// with kubectl's --kubeconfig, --context and -n.
func TestKubectlPlugin(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "kubectl-drift"), ".")
	build.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	kubectl := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	cmd := exec.Command(kubectl, "drift", "check", "--dir", filepath.Join("..", "..", "testdata", "check"), "--path", "app",
		"--kubeconfig", kubeconfig, "--context", "envtest", "-n", ns)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl drift check: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "6 resources: 6 in sync") {
		t.Errorf("kubectl drift check:\n%s", out)
	}
	cmd = exec.Command(kubectl, "drift", "--help")
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	help, _ := cmd.Output()
	if !strings.Contains(string(help), "kubectl drift [command]") {
		t.Errorf("plugin help does not say kubectl drift:\n%s", help)
	}
}

// With no kubeconfig anywhere, the error names driftwatch's ways to give
// one, not client-go's KUBERNETES_MASTER.
func TestConnectWithoutKubeconfig(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	_, err := connect(t.Context(), clusterOptions{})
	want := "kubeconfig: no cluster configured: pass --kubeconfig or --context, set $KUBECONFIG, or write ~/.kube/config (in a Pod, its service account is used)"
	if err == nil || err.Error() != want {
		t.Fatalf("connect() error = %v, want %q", err, want)
	}
}
