package pipeline

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/informer"
)

// fakeStreamer lists each scope's objects, then fails with its error.
type fakeStreamer struct {
	objs map[informer.Scope][]*unstructured.Unstructured
	errs map[informer.Scope]error
}

func (f fakeStreamer) Each(_ context.Context, s informer.Scope, warn func([]string), fn func(*unstructured.Unstructured) error) error {
	warn(nil)
	for _, u := range f.objs[s] {
		if err := fn(u.DeepCopy()); err != nil {
			return err
		}
	}
	return f.errs[s]
}

// TestStreamCompare compares targets as their scope streams: in sync,
// drifted, missing; a scope whose LIST fails after some objects makes
// every target of it an Error, those compared before the failure too,
// named as before (a name declared twice, both times). The plan's targets
// are taken over.
func TestStreamCompare(t *testing.T) {
	a, b := monCMs("a"), monCMs("b")
	cm := func(ns, name, value string) *unstructured.Unstructured { return monCM(t, ns, name, value, false) }
	var targets []Target
	for _, d := range []*unstructured.Unstructured{cm("a", "same", "1"), cm("a", "changed", "1"), cm("a", "gone", "1"), cm("b", "first", "1"), cm("b", "second", "1"), cm("b", "first", "1")} {
		packed, err := gitsource.Object{Object: d, Origin: "cms.yaml"}.Pack()
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, Target{Object: packed, Namespace: d.GetNamespace(), Scope: monCMs(d.GetNamespace()),
			Mapping: informer.Mapping{GVR: monConfigMaps, Namespaced: true}})
	}
	src := fakeStreamer{
		objs: map[informer.Scope][]*unstructured.Unstructured{
			a: {cm("a", "same", "1"), cm("a", "changed", "2"), cm("a", "stray", "1")},
			b: {cm("b", "first", "1")},
		},
		errs: map[informer.Scope]error{b: errors.New("list: connection reset")},
	}
	p := &Pipeline{Evaluator: &Evaluator{}}
	plan := Planned{Targets: targets, Scopes: []informer.Scope{a, b}}
	got := p.streamCompare(context.Background(), src, &plan)

	type row struct{ Namespace, Name, Origin, Status, Error string }
	var rows []row
	for _, r := range got {
		if r.APIVersion != "v1" || r.Kind != "ConfigMap" {
			t.Errorf("%s/%s named %s %s", r.Namespace, r.Name, r.APIVersion, r.Kind)
		}
		rows = append(rows, row{r.Namespace, r.Name, r.Origin, string(r.Status), r.Error})
	}
	want := []row{
		{"a", "same", "cms.yaml", string(drift.InSync), ""},
		{"a", "changed", "cms.yaml", string(drift.Drifted), ""},
		{"a", "gone", "cms.yaml", string(drift.Missing), ""},
		{"b", "first", "cms.yaml", string(drift.Error), "list: connection reset"},
		{"b", "second", "cms.yaml", string(drift.Error), "list: connection reset"},
		{"b", "first", "cms.yaml", string(drift.Error), "list: connection reset"},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	if plan.Targets != nil {
		t.Error("the plan still holds its targets")
	}
}

// slowSchemas answers after a pause, and counts the answers given.
type slowSchemas struct{ answered atomic.Int32 }

func (s *slowSchemas) For(context.Context, schema.GroupVersionKind) (*drift.Schema, error) {
	time.Sleep(50 * time.Millisecond)
	s.answered.Add(1)
	return nil, nil
}

// TestStreamCompareWaitsForSchemas: the schemas prefetched while the
// scopes list are all loaded when the comparison returns, even those of a
// kind nothing was compared with. A prefetch left running wrote the
// schema cache after check had ended (a test's temporary directory could
// not be removed).
func TestStreamCompareWaitsForSchemas(t *testing.T) {
	a := monCMs("a")
	packed, err := gitsource.Object{Object: monCM(t, "a", "gone", "1", false), Origin: "cms.yaml"}.Pack()
	if err != nil {
		t.Fatal(err)
	}
	schemas := &slowSchemas{}
	p := &Pipeline{Evaluator: &Evaluator{Schemas: schemas}}
	plan := Planned{Scopes: []informer.Scope{a}, Targets: []Target{{Object: packed, Namespace: "a", Scope: a,
		Mapping: informer.Mapping{GVR: monConfigMaps, Namespaced: true}}}}
	got := p.streamCompare(context.Background(), fakeStreamer{}, &plan)
	if len(got) != 1 || got[0].Status != drift.Missing {
		t.Fatalf("verdicts: %+v, want one missing", got)
	}
	if n := schemas.answered.Load(); n != 1 {
		t.Errorf("%d schema loads finished when the comparison returned, want 1", n)
	}
}
