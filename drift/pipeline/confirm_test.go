package pipeline

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/informer"
)

// fakeLive serves one live object.
type fakeLive struct{ obj *unstructured.Unstructured }

func (f fakeLive) Get(informer.Scope, string) (*unstructured.Unstructured, error) { return f.obj, nil }
func (f fakeLive) List(informer.Scope) ([]*unstructured.Unstructured, error) {
	return []*unstructured.Unstructured{f.obj}, nil
}

// fakeConfirmer returns a fixed dry-run result and counts its calls.
type fakeConfirmer struct {
	applied *unstructured.Unstructured
	err     error
	calls   int
}

func (f *fakeConfirmer) DryRun(context.Context, Target) (*unstructured.Unstructured, error) {
	f.calls++
	return f.applied, f.err
}

func TestEvaluatorConfirm(t *testing.T) {
	// Git says image "nginx" and replicas 2. A mutating webhook rewrites the
	// image to the mirror, so live differs from Git there without drift;
	// replicas really drifted.
	desired := obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 2, template: {spec: {containers: [{name: app, image: nginx}]}}}\n")
	live := obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 5, template: {spec: {containers: [{name: app, image: mirror.local/nginx}]}}}\n")
	applied := obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 2, template: {spec: {containers: [{name: app, image: mirror.local/nginx}]}}}\n")
	target := Target{Object: gitsource.Object{Object: desired}, Namespace: "default"}

	local := (&Evaluator{Live: fakeLive{live}}).EvaluateOne(context.Background(), target, nil)
	var localPaths []string
	for _, d := range local.Diffs {
		localPaths = append(localPaths, d.Path)
	}
	if diff := cmp.Diff([]string{"spec.replicas", "spec.template.spec.containers[name=app].image"}, localPaths); diff != "" {
		t.Errorf("local diffs (-want +got):\n%s", diff)
	}

	conf := &fakeConfirmer{applied: applied}
	res := (&Evaluator{Live: fakeLive{live}, Confirm: conf}).EvaluateOne(context.Background(), target, nil)
	var paths []string
	for _, d := range res.Diffs {
		paths = append(paths, d.Path)
	}
	if diff := cmp.Diff([]string{"spec.replicas"}, paths); diff != "" {
		t.Errorf("confirmed diffs (-want +got):\n%s", diff)
	}
	if res.Status != drift.Drifted || !res.Confirmed || conf.calls != 1 {
		t.Errorf("status %s confirmed %v calls %d", res.Status, res.Confirmed, conf.calls)
	}

	// Objects in sync are never sent to the server.
	conf = &fakeConfirmer{applied: applied}
	same := (&Evaluator{Live: fakeLive{desired}, Confirm: conf}).EvaluateOne(context.Background(), target, nil)
	if same.Status != drift.InSync || conf.calls != 0 {
		t.Errorf("in sync: status %s, %d dry runs", same.Status, conf.calls)
	}

	// A refused dry run is an error on the resource, not a crash.
	conf = &fakeConfirmer{err: errors.New("server-side dry run: forbidden")}
	failed := (&Evaluator{Live: fakeLive{live}, Confirm: conf}).EvaluateOne(context.Background(), target, nil)
	if failed.Status != drift.Error || failed.Error != "server-side dry run: forbidden" {
		t.Errorf("failed dry run: %+v", failed)
	}
}
