package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline/reports"
)

// check --reports FORMAT, for each format: a bad value and, without the
// CRDs, one line naming them, before anything is checked; with them, a
// report per namespace and one for the cluster-scoped objects holding the
// failing result (never its value), in the format's own resources only;
// a second run (a CronJob's next) writes nothing; rbac --reports grants
// exactly the verbs writing them takes.
func TestCheckReports(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	r := checkRepo(t, ns, "--reports", "policyreports")
	if r.code != exitError || !strings.Contains(r.stderr, `flag --reports: "policyreports" is not openreports or policyreport`) {
		t.Errorf("a bad format: exit %d, stderr %q", r.code, r.stderr)
	}
	tests := []struct {
		format                  string
		crds                    []string
		resource, cluster, none schema.GroupVersionResource
		kind, group             string
		noCRD                   string
	}{
		{
			format: "openreports", crds: []string{"openreports.io_reports.yaml", "openreports.io_clusterreports.yaml"},
			resource: reports.ReportResource, cluster: reports.ClusterReportResource, none: reports.PolicyReportResource,
			kind: "Report", group: "openreports.io",
			noCRD: "flag --reports: the cluster does not serve openreports.io/v1alpha1 Report and ClusterReport: install their CRDs " +
				"(kubectl apply -f deploy/crds/openreports.io_reports.yaml -f deploy/crds/openreports.io_clusterreports.yaml)\n",
		},
		{
			format: "policyreport", crds: []string{"wgpolicyk8s.io_policyreports.yaml", "wgpolicyk8s.io_clusterpolicyreports.yaml"},
			resource: reports.PolicyReportResource, cluster: reports.ClusterPolicyReportResource, none: reports.ReportResource,
			kind: "PolicyReport", group: "wgpolicyk8s.io",
			noCRD: "flag --reports: the cluster does not serve wgpolicyk8s.io/v1alpha2 PolicyReport and ClusterPolicyReport: install their CRDs " +
				"(kubectl apply -f deploy/crds/wgpolicyk8s.io_policyreports.yaml -f deploy/crds/wgpolicyk8s.io_clusterpolicyreports.yaml)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			ns := newNamespace(t)
			// This test installs the CRDs: unless an earlier run in this
			// process did, the check stops before it runs.
			_, err := kube.Dynamic.Resource(tt.resource).List(t.Context(), metav1.ListOptions{Limit: 1})
			if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
				r := checkRepo(t, ns, "--reports", tt.format)
				if r.code != exitError || r.stdout != "" || !strings.HasSuffix(r.stderr, tt.noCRD) || strings.Count(r.stderr, "\n") != 1 {
					t.Fatalf("without the CRDs: exit %d, stdout %q, stderr %q; want one line %q", r.code, r.stdout, r.stderr, tt.noCRD)
				}
			}
			installCRDs(t, tt.crds...)
			if err := kube.Edit(t.Context(), "kubectl-edit", gvkConfigMap, ns, "app-config", func(u *unstructured.Unstructured) error {
				return unstructured.SetNestedField(u.Object, "LIVE-VALUE-8c1f", "data", "greeting")
			}); err != nil {
				t.Fatal(err)
			}
			r := checkRepo(t, ns, "--reports", tt.format, "-o", "json")
			if r.code != exitDrift {
				t.Fatalf("with the CRDs: exit %d: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, "reports: 2 written, 0 unchanged, 0 deleted") {
				t.Errorf("stderr = %q, want the namespace's and the cluster's reports written", r.stderr)
			}
			rep := parseReport(t, r)
			name := reports.BaseName(reports.Policy(rep.Source))
			got, err := kube.Dynamic.Resource(tt.resource).Namespace(ns).Get(t.Context(), name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.GetKind() != tt.kind || got.GetLabels()[reports.ManagedByLabel] != "driftwatch" {
				t.Errorf("got a %s labelled %v, want a %s managed by driftwatch", got.GetKind(), got.GetLabels(), tt.kind)
			}
			fail, _, _ := unstructured.NestedInt64(got.Object, "summary", "fail")
			pass, _, _ := unstructured.NestedInt64(got.Object, "summary", "pass")
			if fail != 1 || pass < 1 {
				t.Errorf("summary fail %d pass %d, want 1 failing (the ConfigMap) and the rest passing", fail, pass)
			}
			results, _, _ := unstructured.NestedSlice(got.Object, "results")
			var failing []map[string]any
			for _, x := range results {
				if m := x.(map[string]any); m["result"] == "fail" {
					failing = append(failing, m)
				}
			}
			if len(failing) != 1 {
				t.Fatalf("%d failing results, want 1: %v", len(failing), results)
			}
			f := failing[0]
			subj, _ := f["resources"].([]any)
			paths, _, _ := unstructured.NestedString(f, "properties", "paths")
			if len(subj) != 1 || subj[0].(map[string]any)["kind"] != "ConfigMap" || subj[0].(map[string]any)["name"] != "app-config" ||
				f["rule"] != "Drifted" || f["source"] != "driftwatch" || f["policy"] != reports.Policy(rep.Source) || paths != "data.greeting" {
				t.Errorf("failing result = %v, want ConfigMap app-config Drifted at data.greeting, from driftwatch", f)
			}
			if b, _ := yaml.Marshal(got.Object); strings.Contains(string(b), "LIVE-VALUE-8c1f") {
				t.Errorf("the report holds the live value:\n%s", b)
			}
			if _, err := kube.Dynamic.Resource(tt.cluster).Get(t.Context(), name, metav1.GetOptions{}); err != nil {
				t.Errorf("no cluster-scoped report for the source's cluster-scoped objects: %v", err)
			}
			if _, err := kube.Dynamic.Resource(tt.none).Namespace(ns).Get(t.Context(), name, metav1.GetOptions{}); err == nil {
				t.Errorf("check --reports %s wrote the other format's report too", tt.format)
			}

			// The next run, in a later second: the same findings, so only
			// the heartbeat (on the base cluster-scoped report) is written.
			before, err := kube.Dynamic.Resource(tt.cluster).Get(t.Context(), name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
			r = checkRepo(t, ns, "--reports", tt.format)
			if !strings.Contains(r.stderr, "reports: 1 written, 1 unchanged, 0 deleted") {
				t.Errorf("second run: stderr = %q, want only the heartbeat written", r.stderr)
			}
			after, err := kube.Dynamic.Resource(tt.cluster).Get(t.Context(), name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if b, a := before.GetAnnotations()[reports.CheckedAtAnnotation], after.GetAnnotations()[reports.CheckedAtAnnotation]; a <= b {
				t.Errorf("second run: heartbeat %q, then %q: not later", b, a)
			}

			r = runCLI(t, "rbac", "--repo", gitServer.RepoURL("deploy"), "--path", "app", "--kubeconfig", kubeconfig,
				"-n", ns, "--cache-dir", t.TempDir(), "--reports", tt.format)
			if r.code != 0 {
				t.Fatalf("rbac: exit %d: %s", r.code, r.stderr)
			}
			want := fmt.Sprintf("- apiGroups:\n  - %s\n  resources:\n  - %s\n  - %s\n  verbs:\n  - get\n  - list\n  - create\n  - patch\n  - delete\n",
				tt.group, tt.cluster.Resource, tt.resource.Resource)
			if !strings.Contains(r.stdout, want) || strings.Contains(r.stdout, tt.none.Group) {
				t.Errorf("rbac --reports %s: want\n%s\nand no %s in\n%s", tt.format, want, tt.none.Group, r.stdout)
			}
		})
	}
}

// installReportCRDs applies deploy/crds' OpenReports CRDs.
func installReportCRDs(t *testing.T) {
	t.Helper()
	installCRDs(t, "openreports.io_reports.yaml", "openreports.io_clusterreports.yaml")
}

// installCRDs applies these files of deploy/crds to the package's API
// server. TestCheckReports, first in this file, checks the error without
// them.
func installCRDs(t *testing.T, files ...string) {
	t.Helper()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "crds", f))
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(b, &u.Object); err != nil {
			t.Fatal(err)
		}
		if err := kube.Apply(t.Context(), "setup", "", u); err != nil {
			t.Fatal(err)
		}
	}
}

// publishedFirstSeen is the firstSeen a source's Report in ns says of
// Deployment web, once it says it drifted.
func publishedFirstSeen(t *testing.T, ns string) (string, bool) {
	t.Helper()
	list, err := kube.Dynamic.Resource(reports.ReportResource).Namespace(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil || len(list.Items) == 0 {
		return "", false
	}
	results, _, _ := unstructured.NestedSlice(list.Items[0].Object, "results")
	for _, r := range results {
		m := r.(map[string]any)
		subj, _ := m["resources"].([]any)
		if m["result"] != "fail" || len(subj) != 1 || subj[0].(map[string]any)["name"] != "web" {
			continue
		}
		fs, _, _ := unstructured.NestedString(m, "properties", "firstSeen")
		return fs, fs != ""
	}
	return "", false
}

// A watch restarted while drift is present keeps its firstSeen (read back
// from the Report it published) in its report and metrics, and notifies
// nothing for drift that did not change; the drift resolved later is.
func TestWatchRestartKeepsFirstSeen(t *testing.T) {
	requireAPIServer(t)
	installReportCRDs(t)
	ns := newNamespace(t)
	hook := newReceiver(t)
	args := []string{"--repo", gitServer.RepoURL("deploy"), "--path", "app", "-n", ns, "--interval", "1s",
		"--webhook", hook.srv.URL, "--reports", "openreports", "--reports-interval", "1s"}
	d := startWatch(t, args...)
	eventually(t, "ready", d, func() bool { c, _ := d.get(t, "/readyz"); return c == 200 })
	if err := kube.Edit(t.Context(), "kubectl-edit", gvkDeployment, ns, "web", setReplicas(7)); err != nil {
		t.Fatal(err)
	}
	var first time.Time
	eventually(t, "drift in the report", d, func() bool {
		res := resourceOf(d.report(t, ""), "Deployment", "web")
		if res == nil || res.Status != drift.Drifted || res.FirstSeen == nil {
			return false
		}
		first = *res.FirstSeen
		return true
	})
	eventually(t, "the drift published", d, func() bool {
		fs, ok := publishedFirstSeen(t, ns)
		return ok && fs == first.UTC().Format(time.RFC3339Nano)
	})
	eventually(t, "the detected CloudEvent", d, func() bool { return len(hook.types(ns+"/web")) == 1 })
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}

	d = startWatch(t, args...)
	eventually(t, "ready after the restart", d, func() bool { c, _ := d.get(t, "/readyz"); return c == 200 })
	res := resourceOf(d.report(t, ""), "Deployment", "web")
	if res == nil || res.Status != drift.Drifted || res.FirstSeen == nil || !res.FirstSeen.Equal(first) {
		t.Fatalf("after the restart: %+v, want Drifted first seen at %s", res, first)
	}
	_, met := d.get(t, "/metrics")
	prefix := fmt.Sprintf(`driftwatch_resource_drift_age_seconds{group="apps",kind="Deployment",name="web",namespace=%q} `, ns)
	age := -1.0
	for _, l := range strings.Split(met, "\n") {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			age, _ = strconv.ParseFloat(v, 64)
		}
	}
	if elapsed := time.Since(first).Seconds(); age < elapsed-1 || age > elapsed+1 {
		t.Errorf("drift age after the restart = %v s, want about %.1f s (since the first run saw it)", age, elapsed)
	}
	time.Sleep(2 * time.Second) // room for a wrong notification to arrive (bounded)
	if got := hook.types(ns + "/web"); len(got) != 1 {
		t.Errorf("CloudEvents %v: the restart notified drift that did not change", got)
	}

	if err := kube.Edit(t.Context(), "kubectl-edit", gvkDeployment, ns, "web", setReplicas(2)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the resolved CloudEvent", d, func() bool { return len(hook.types(ns+"/web")) == 2 })
	if got := hook.types(ns + "/web"); got[1] != "dev.driftwatch.drift.resolved" {
		t.Errorf("CloudEvents %v, want detected then resolved", got)
	}
	eventually(t, "the resolution published", d, func() bool { _, drifted := publishedFirstSeen(t, ns); return !drifted })
}

// Two replicas of the real binary: the leader publishes; killed with
// SIGKILL (no Lease released, nothing flushed), the other takes the Lease
// once it expires and keeps the firstSeen the first one published, in its
// report and its metrics, and notifies nothing again.
func TestWatchLeaderKilledKeepsFirstSeen(t *testing.T) {
	requireAPIServer(t)
	installReportCRDs(t)
	ns := newNamespace(t)
	hook := newReceiver(t)
	t.Setenv("DRIFTWATCH_GIT_USERNAME", gitUser)
	t.Setenv("DRIFTWATCH_GIT_PASSWORD", gitPassword)
	start := func() *binaryDaemon {
		return startBinaryWatch(t, "--repo", gitServer.RepoURL("deploy"), "--path", "app", "-n", ns, "--interval", "1s",
			"--cache-dir", t.TempDir(), "--webhook", hook.srv.URL, "--reports", "openreports", "--reports-interval", "1s",
			"--leader-elect", "--leader-elect-namespace", ns)
	}
	a, b := start(), start()
	a.waitReady(t)
	b.waitReady(t)
	leading := func(d *binaryDaemon) bool {
		return strings.Contains(d.stderr.String(), "leading: this replica sends notifications")
	}
	waitFor := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(limit); !cond(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %s waiting for %s\nA:\n%s\nB:\n%s", limit, what, a.stderr.String(), b.stderr.String())
			}
		}
	}
	waitFor("a leader", 60*time.Second, func() bool { return leading(a) || leading(b) })
	leader, other := a, b
	if leading(b) {
		leader, other = b, a
	}
	web := func(d *binaryDaemon) *drift.Resource {
		resp, err := http.Get("http://" + d.addr + "/api/v1/report")
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var r drift.Report
		if json.NewDecoder(resp.Body).Decode(&r) != nil {
			return nil
		}
		return resourceOf(&r, "Deployment", "web")
	}
	if err := kube.Edit(t.Context(), "kubectl-edit", gvkDeployment, ns, "web", setReplicas(7)); err != nil {
		t.Fatal(err)
	}
	var first time.Time
	waitFor("drift in the leader's report", 30*time.Second, func() bool {
		res := web(leader)
		if res == nil || res.Status != drift.Drifted || res.FirstSeen == nil {
			return false
		}
		first = *res.FirstSeen
		return true
	})
	waitFor("the drift published", 30*time.Second, func() bool {
		fs, ok := publishedFirstSeen(t, ns)
		return ok && fs == first.UTC().Format(time.RFC3339Nano)
	})
	waitFor("one CloudEvent", 30*time.Second, func() bool { return len(hook.types(ns+"/web")) == 1 })
	if err := leader.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-leader.done
	waitFor("the other replica leading after the Lease expired", 60*time.Second, func() bool { return leading(other) })
	waitFor("the new leader keeping firstSeen", 30*time.Second, func() bool {
		res := web(other)
		return res != nil && res.FirstSeen != nil && res.FirstSeen.Equal(first)
	})
	resp, err := http.Get("http://" + other.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	met, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	prefix := fmt.Sprintf(`driftwatch_resource_drift_age_seconds{group="apps",kind="Deployment",name="web",namespace=%q} `, ns)
	age := -1.0
	for _, l := range strings.Split(string(met), "\n") {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			age, _ = strconv.ParseFloat(v, 64)
		}
	}
	if elapsed := time.Since(first).Seconds(); age < elapsed-1 || age > elapsed+1 {
		t.Errorf("the new leader's drift age = %v s, want about %.1f s (since the killed leader saw it)", age, elapsed)
	}
	time.Sleep(2 * time.Second) // room for a wrong notification (bounded)
	if got := hook.types(ns + "/web"); len(got) != 1 {
		t.Errorf("CloudEvents %v: the new leader notified drift that did not change", got)
	}
}
