package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline"
	"github.com/driftwatch/driftwatch/gitsource"
)

// mutation is a fixture's mutation.yaml: a change made by another field
// manager after Git's state was applied.
type mutation struct {
	Manager string `json:"manager"`
	Type    string `json:"type"` // merge, json or apply
	Patch   string `json:"patch"`
}

// TestFidelityAgainstServerSideApply applies every case of
// testdata/fidelity, mutates it, and checks that driftwatch's verdict (in
// sync or drifted, and the set of drifted paths) equals the API server's:
// a server-side apply dry run of Git's object (force), whose result is
// diffed with the live object. It runs every case without and with
// --confirm=server and writes the tally to $DRIFTWATCH_FIDELITY_TALLY.
func TestFidelityAgainstServerSideApply(t *testing.T) {
	requireAPIServer(t)
	root := filepath.Join("..", "..", "testdata", "fidelity")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(apiConfig)
	if err != nil {
		t.Fatal(err)
	}
	type tally struct{ cases, agree, falsePos, falseNeg, pathMismatch int }
	tallies := map[string]*tally{"local": {}, "confirm=server": {}}
	var failures, added []string
	run := nsCounter.Add(1) // fresh namespaces on every run (go test -count N)
	for i, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		ns := fmt.Sprintf("fid-%d-%02d", run, i)
		oracle, err := prepareCase(t, dir, ns, dc)
		if err != nil {
			t.Errorf("%s: %v", e.Name(), err)
			continue
		}
		for mode, extra := range map[string][]string{"local": nil, "confirm=server": {"--confirm", "server"}} {
			tl := tallies[mode]
			tl.cases++
			args := append([]string{"check", "--dir", dir, "--path", "desired.yaml", "--kubeconfig", kubeconfig, "-n", ns, "-o", "json"}, extra...)
			r := runCLI(t, args...)
			rep := parseReport(t, r)
			if len(rep.Resources) != 1 || rep.Resources[0].Status == drift.Error {
				t.Errorf("%s [%s]: unexpected report: %s %s", e.Name(), mode, r.stdout, r.stderr)
				continue
			}
			var got []string
			for _, d := range rep.Resources[0].Diffs {
				if d.Type == drift.Added {
					// Beyond the oracle: server-side apply cannot see a
					// field Git does not set.
					if mode == "local" {
						added = append(added, e.Name()+": "+d.Path+" (by "+d.ChangedBy.Manager+")")
					}
					continue
				}
				got = append(got, d.Path)
			}
			sort.Strings(got)
			switch {
			case len(got) > 0 && len(oracle) == 0:
				tl.falsePos++
			case len(got) == 0 && len(oracle) > 0:
				tl.falseNeg++
			case !reflect.DeepEqual(got, oracle):
				tl.pathMismatch++
			default:
				tl.agree++
				continue
			}
			failures = append(failures, fmt.Sprintf("%s [%s]: driftwatch %q, server %q", e.Name(), mode, got, oracle))
		}
	}
	var b strings.Builder
	for _, mode := range []string{"local", "confirm=server"} {
		tl := tallies[mode]
		fmt.Fprintf(&b, "fidelity (%s): %d cases, %d agree with server-side apply, %d false positives, %d false negatives, %d path mismatches\n",
			mode, tl.cases, tl.agree, tl.falsePos, tl.falseNeg, tl.pathMismatch)
	}
	fmt.Fprintf(&b, "fidelity: %d fields added by hand that Git does not set (Added, beyond server-side apply's view)\n", len(added))
	for _, a := range added {
		b.WriteString("  + " + a + "\n")
	}
	for _, f := range failures {
		b.WriteString("  " + f + "\n")
	}
	t.Log("\n" + b.String())
	appendTally(t, b.String())
	if tallies["local"].cases < 40 {
		t.Errorf("only %d fidelity cases, want at least 40", tallies["local"].cases)
	}
	for _, f := range failures {
		t.Error(f)
	}
}

// prepareCase applies a case into namespace ns and returns the paths the
// API server says have drifted (sorted).
func prepareCase(t *testing.T, dir, ns string, dc discovery.DiscoveryInterface) ([]string, error) {
	ctx := context.Background()
	nsObj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}
	if err := kube.Apply(ctx, "setup", "", nsObj); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "setup.yaml")); err == nil {
		setup, err := gitsource.Render(dir, "setup.yaml")
		if err != nil {
			return nil, err
		}
		for _, o := range setup {
			if err := kube.Apply(ctx, "setup", ns, o.Object); err != nil {
				return nil, err
			}
		}
	}
	objs, err := gitsource.Render(dir, "desired.yaml")
	if err != nil {
		return nil, err
	}
	desired := objs[0].Object
	if err := kube.Apply(ctx, "gitops", ns, desired); err != nil {
		return nil, err
	}
	ri, err := kube.Resource(desired.GroupVersionKind(), ns)
	if err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, "mutation.yaml")); err == nil {
		var m mutation
		if err := yaml.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("mutation.yaml: %w", err)
		}
		switch m.Type {
		case "merge", "json":
			pt := types.MergePatchType
			if m.Type == "json" {
				pt = types.JSONPatchType
			}
			js, err := yaml.YAMLToJSON([]byte(m.Patch))
			if err != nil {
				return nil, err
			}
			if _, err := ri.Patch(ctx, desired.GetName(), pt, js, metav1.PatchOptions{FieldManager: m.Manager}); err != nil {
				return nil, fmt.Errorf("mutation: %w", err)
			}
		case "apply":
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(m.Patch), &u.Object); err != nil {
				return nil, err
			}
			if err := kube.Apply(ctx, m.Manager, ns, u); err != nil {
				return nil, fmt.Errorf("mutation: %w", err)
			}
		default:
			return nil, fmt.Errorf("mutation type %q", m.Type)
		}
	}
	live, err := ri.Get(ctx, desired.GetName(), metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	d := desired.DeepCopy()
	d.SetNamespace(ns)
	js, err := json.Marshal(d.Object)
	if err != nil {
		return nil, err
	}
	force := true
	applied, err := ri.Patch(ctx, d.GetName(), types.ApplyPatchType, js, metav1.PatchOptions{
		FieldManager: "oracle", Force: &force, DryRun: []string{metav1.DryRunAll},
	})
	if err != nil {
		return nil, fmt.Errorf("oracle dry run: %w", err)
	}
	// The OpenAPI document of a CRD is published a moment after the CRD is
	// established: wait for it, so the oracle knows the list keys.
	var sc *drift.Schema
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		s, err := pipeline.NewSchemas(dc, "").For(ctx, desired.GroupVersionKind())
		sc = s
		return err == nil && s != nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("no OpenAPI schema for %s: %w", desired.GroupVersionKind(), err)
	}
	var paths []string
	for _, k := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"} {
		unstructured.RemoveNestedField(applied.Object, "metadata", k)
		unstructured.RemoveNestedField(live.Object, "metadata", k)
	}
	// The DaemonSet controller's template counter is bumped by any template
	// write, the dry run included: server bookkeeping, not Git's content.
	for _, u := range []*unstructured.Unstructured{applied, live} {
		unstructured.RemoveNestedField(u.Object, "metadata", "annotations", "deprecated.daemonset.template.generation")
		unstructured.RemoveNestedField(u.Object, "status")
	}
	serverDiff(nil, sc, applied.Object, live.Object, &paths)
	sort.Strings(paths)
	return paths, nil
}

// serverDiff is the oracle's differ: a plain symmetric comparison of two
// server-produced objects (both defaulted and canonical), keyed lists
// matched by the schema's keys, everything else by position. It is written
// independently of drift.Compare so that the two can check each other.
func serverDiff(p drift.Path, sc *drift.Schema, a, b any, out *[]string) {
	add := func(q drift.Path) { *out = append(*out, q.String()) }
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			add(p)
			return
		}
		if sc != nil && sc.Atomic {
			// An atomic map or struct is one field to server-side apply.
			var sub []string
			serverDiff(p, nil, av, bv, &sub)
			if len(sub) > 0 {
				add(p)
			}
			return
		}
		keys := map[string]bool{}
		for k := range av {
			keys[k] = true
		}
		for k := range bv {
			keys[k] = true
		}
		for k := range keys {
			q := append(append(drift.Path{}, p...), drift.Step{Field: k})
			x, okA := av[k]
			y, okB := bv[k]
			if okA != okB {
				add(q)
				continue
			}
			serverDiff(q, sc.Field(k), x, y, out)
		}
	case []any:
		bv, ok := b.([]any)
		if !ok {
			add(p)
			return
		}
		if sc != nil && sc.ListType == "map" {
			key := func(it any) (string, []drift.KeyValue) {
				m, _ := it.(map[string]any)
				var kvs []drift.KeyValue
				for _, k := range sc.ListKeys {
					v, ok := m[k]
					if !ok {
						continue
					}
					s, isStr := v.(string)
					if !isStr {
						js, _ := json.Marshal(v)
						s = string(js)
					}
					kvs = append(kvs, drift.KeyValue{Key: k, Value: s})
				}
				return fmt.Sprint(kvs), kvs
			}
			// The API server lets an update write duplicate keys (two env
			// vars of one name); server-side apply then owns the list as a
			// unit and rewrites it without them, a change to the whole list.
			ids := func(items []any) ([]string, bool) {
				var out []string
				seen, dup := map[string]bool{}, false
				for _, it := range items {
					id, _ := key(it)
					dup = dup || seen[id]
					seen[id] = true
					out = append(out, id)
				}
				return out, dup
			}
			aIDs, aDup := ids(av)
			bIDs, bDup := ids(bv)
			if aDup || bDup {
				// Compared in order: for env, the last of two same-named
				// variables wins, so their order is their value.
				var sub []string
				for i := 0; i < len(av) && slices.Equal(aIDs, bIDs); i++ {
					serverDiff(p, sc.Item(), av[i], bv[i], &sub)
				}
				if !slices.Equal(aIDs, bIDs) || len(sub) > 0 {
					add(p)
				}
				return
			}
			bi := map[string]int{}
			for i, it := range bv {
				id, _ := key(it)
				bi[id] = i
			}
			ai := map[string]bool{}
			var order []int
			for _, it := range av {
				id, kvs := key(it)
				ai[id] = true
				q := append(append(drift.Path{}, p...), drift.Step{Keys: kvs})
				j, ok := bi[id]
				if !ok {
					add(q)
					continue
				}
				order = append(order, j)
				serverDiff(q, sc.Item(), it, bv[j], out)
			}
			for _, it := range bv {
				if id, kvs := key(it); !ai[id] {
					add(append(append(drift.Path{}, p...), drift.Step{Keys: kvs}))
				}
			}
			if !sort.IntsAreSorted(order) {
				add(p)
			}
			return
		}
		// Atomic lists (and sets) are one field to server-side apply.
		var sub []string
		if len(av) == len(bv) {
			for i := range av {
				serverDiff(p, nil, av[i], bv[i], &sub)
			}
		}
		if len(av) != len(bv) || len(sub) > 0 {
			add(p)
		}
	default:
		if !scalarsEqual(a, b) {
			add(p)
		}
	}
}

func scalarsEqual(a, b any) bool {
	af, aNum := toFloat(a)
	bf, bNum := toFloat(b)
	if aNum || bNum {
		return aNum && bNum && af == bf
	}
	return reflect.DeepEqual(a, b)
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	case int:
		return float64(n), true
	}
	return 0, false
}

// appendTally adds lines to the tally make test prints
// ($DRIFTWATCH_FIDELITY_TALLY); several tests write to it.
func appendTally(t *testing.T, text string) {
	t.Helper()
	f := os.Getenv("DRIFTWATCH_FIDELITY_TALLY")
	if f == "" {
		return
	}
	out, err := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Error(err)
		return
	}
	if _, err := out.WriteString(text); err != nil {
		t.Error(err)
	}
	if err := out.Close(); err != nil {
		t.Error(err)
	}
}
