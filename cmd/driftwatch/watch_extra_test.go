package main

import (
	"context"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftwatch/driftwatch/drift"
)

// extraIDs lists the Extra resources of a report.
func extraIDs(r *drift.Report) []string {
	var out []string
	for _, res := range r.Resources {
		if res.Status == drift.Extra {
			out = append(out, res.ID())
		}
	}
	sort.Strings(out)
	return out
}

// TestWatchDetectExtra runs watch --detect-extra: live objects with the
// tracking label that Git lacks are reported as they appear, and leave the
// report (with a resolved notification) when relabelled or deleted; the
// same objects check --detect-extra reports.
func TestWatchDetectExtra(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	ctx := context.Background()
	cm := func(name, managedBy string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": name, "labels": map[string]any{"app.kubernetes.io/managed-by": managedBy}},
		}}
	}
	if err := kube.Apply(ctx, "someone", ns, cm("stray", "driftwatch"), cm("unrelated", "helm")); err != nil {
		t.Fatal(err)
	}
	hook := newReceiver(t)
	d := startWatch(t, "--repo", gitServer.RepoURL("deploy"), "--path", "app", "-n", ns,
		"--interval", "1s", "--webhook", hook.srv.URL, "--detect-extra")
	eventually(t, "ready", d, func() bool { c, _ := d.get(t, "/readyz"); return c == 200 })
	r := d.report(t, "")
	if diff := cmp.Diff([]string{"ConfigMap " + ns + "/stray"}, extraIDs(r)); diff != "" {
		t.Fatalf("extra after the first sync (-want +got):\n%s", diff)
	}
	if r.Summary.Extra != 1 || r.Summary.InSync != 6 {
		t.Errorf("summary %+v", r.Summary)
	}
	// The same verdict from check, the same pipeline run once.
	if c := checkRepo(t, ns, "--detect-extra", "-o", "json"); c.code != exitDrift {
		t.Errorf("check --detect-extra: exit code %d, want 1\n%s", c.code, c.stderr)
	} else if diff := cmp.Diff(extraIDs(r), extraIDs(parseReport(t, c))); diff != "" {
		t.Errorf("check and watch disagree on extra objects (-watch +check):\n%s", diff)
	}

	// An object created by hand with the label shows up.
	if err := kube.Apply(ctx, "kubectl-create", ns, cm("late", "driftwatch")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "late in the report", d, func() bool {
		return cmp.Equal([]string{"ConfigMap " + ns + "/late", "ConfigMap " + ns + "/stray"}, extraIDs(d.report(t, "")))
	})

	// Relabelled by hand: no longer Git's, no longer Extra.
	if err := kube.Edit(ctx, "kubectl-label", gvkConfigMap, ns, "stray", func(u *unstructured.Unstructured) error {
		u.SetLabels(map[string]string{"app.kubernetes.io/managed-by": "someone-else"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Deleted: gone from the report.
	if err := kube.Delete(ctx, gvkConfigMap, ns, "late"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "no extra left", d, func() bool { return len(extraIDs(d.report(t, ""))) == 0 })
	eventually(t, "detected and resolved CloudEvents for both", d, func() bool {
		return cmp.Equal(hook.types(ns+"/stray"), []string{"dev.driftwatch.drift.detected", "dev.driftwatch.drift.resolved"}) &&
			cmp.Equal(hook.types(ns+"/late"), []string{"dev.driftwatch.drift.detected", "dev.driftwatch.drift.resolved"})
	})
	if r := d.report(t, ""); r.Summary.Extra != 0 || r.Summary.Total != 6 {
		t.Errorf("summary after cleanup %+v", r.Summary)
	}
}
