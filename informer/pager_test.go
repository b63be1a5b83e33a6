package informer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestEachItem decodes pages as the dynamic client does: each page's
// items must come out as unstructured.UnstructuredJSONScheme makes them
// (integers as int64, the list's kind on items without one), whatever the
// order of the list's fields, and a broken page must say so.
func TestEachItem(t *testing.T) {
	const items = `[
	  {"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}, "n": 3, "f": 1.5, "big": 12345678901234, "e": 1e3, "l": [1, "two", null, {"z": false}]},
	  {"kind": "Widget", "apiVersion": "example.com/v1", "metadata": {"name": "b"}, "spec": {}}
	]`
	tests := []struct {
		name      string
		page      string
		continue_ string
		wantErr   string
	}{
		{name: "kind first, as the API server writes it",
			page:      `{"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"resourceVersion": "5", "continue": "abc", "remainingItemCount": 3}, "items": ` + items + `}`,
			continue_: "abc"},
		{name: "items before kind",
			page: `{"items": ` + items + `, "metadata": {}, "kind": "ConfigMapList", "apiVersion": "v1", "extra": [1, {"a": 2}]}`},
		{name: "no metadata",
			page: `{"kind": "ConfigMapList", "apiVersion": "v1", "items": ` + items + `}`},
		{name: "items null",
			page: `{"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {}, "items": null}`},
		{name: "truncated", page: `{"kind": "ConfigMapList", "apiVersion": "v1", "items": [{"metadata": {"na`, wantErr: "decoding the list's items"},
		{name: "items not closed", page: `{"kind": "ConfigMapList", "apiVersion": "v1", "items": [{"a": 1}}`, wantErr: "decoding the list"},
		{name: "not an object", page: `[]`, wantErr: "decoding the list: got [, want {"},
		{name: "items not an array", page: `{"kind": "ConfigMapList", "items": {}}`, wantErr: "decoding the list: got {, want ["},
		{name: "null item", page: `{"kind": "ConfigMapList", "items": [null]}`, wantErr: "an item is null"},
		{name: "empty", page: ``, wantErr: "decoding the list: EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []*unstructured.Unstructured
			var conts []string
			err := eachItem(strings.NewReader(tt.page), func(c string) { conts = append(conts, c) }, func(u *unstructured.Unstructured) error {
				got = append(got, u)
				return nil
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, []byte(tt.page))
			if err != nil {
				t.Fatal(err)
			}
			var want []*unstructured.Unstructured
			for i := range obj.(*unstructured.UnstructuredList).Items {
				want = append(want, &obj.(*unstructured.UnstructuredList).Items[i])
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("items (-dynamic client's +eachItem's):\n%s", diff)
			}
			if diff := cmp.Diff([]string{tt.continue_}, conts); diff != "" {
				t.Errorf("continue tokens told (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("fn's error stops the page", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		err := eachItem(strings.NewReader(`{"kind": "ConfigMapList", "apiVersion": "v1", "items": `+items+`}`), func(string) {}, func(*unstructured.Unstructured) error {
			calls++
			return stop
		})
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("error %v after %d calls, want stop after 1", err, calls)
		}
	})
}

// TestPagerEach lists a namespace's ConfigMaps on the real API server,
// several pages of them, and must hand over exactly what the dynamic
// client lists, each object once; a label selector narrows the LIST, an
// error from fn stops it as it is, and an unknown resource is the API
// server's NotFound.
func TestPagerEach(t *testing.T) {
	requireAPIServer(t)
	ctx := context.Background()
	const ns = "pager-a"
	if err := kube.Apply(ctx, "test", "", mustObj(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: "+ns+"}\n")); err != nil {
		t.Fatal(err)
	}
	for i := range 23 {
		cm := mustObj(t, fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%02d, labels: {odd: %q}}\ndata: {i: %q}\n", i, fmt.Sprint(i%2 == 1), fmt.Sprint(i)))
		if err := kube.Apply(ctx, "test", ns, cm); err != nil {
			t.Fatal(err)
		}
	}
	cms := Scope{GVR: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, Namespace: ns}
	pager, err := NewPagerForConfig(env.Config, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pager.pageSize = 5
	each := func(p *Pager, s Scope) ([]*unstructured.Unstructured, error) {
		var got []*unstructured.Unstructured
		err := p.Each(ctx, s, nil, func(u *unstructured.Unstructured) error {
			got = append(got, u)
			return nil
		})
		sort.Slice(got, func(i, j int) bool { return got[i].GetName() < got[j].GetName() })
		return got, err
	}

	got, err := each(pager, cms)
	if err != nil {
		t.Fatal(err)
	}
	list, err := dyn.Resource(cms.GVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var want []*unstructured.Unstructured
	for i := range list.Items {
		want = append(want, &list.Items[i])
	}
	sort.Slice(want, func(i, j int) bool { return want[i].GetName() < want[j].GetName() })
	if len(want) < 23 { // and kube-root-ca.crt, where a controller makes it
		t.Fatalf("the dynamic client listed %d ConfigMaps, want at least 23", len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Each (-dynamic client's List +Each):\n%s", diff)
	}

	odd, err := NewPagerForConfig(env.Config, Options{TweakListOptions: func(_ Scope, o *metav1.ListOptions) { o.LabelSelector = "odd=true" }})
	if err != nil {
		t.Fatal(err)
	}
	odd.pageSize = 5
	got, err = each(odd, cms)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range got {
		names = append(names, u.GetName())
	}
	wantNames := []string{"cm-01", "cm-03", "cm-05", "cm-07", "cm-09", "cm-11", "cm-13", "cm-15", "cm-17", "cm-19", "cm-21"}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("Each with a label selector (-want +got):\n%s", diff)
	}

	stop := errors.New("enough")
	calls := 0
	err = pager.Each(ctx, cms, nil, func(*unstructured.Unstructured) error {
		calls++
		if calls == 7 { // on the second page, the third requested ahead
			return stop
		}
		return nil
	})
	if err != stop || calls != 7 {
		t.Errorf("Each stopped by fn: %v after %d calls, want %v after 7", err, calls, stop)
	}

	_, err = each(pager, Scope{GVR: schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "nothings"}, Namespace: ns})
	if !apierrors.IsNotFound(err) || !strings.HasPrefix(err.Error(), "list: ") {
		t.Errorf("Each of an unknown resource: %v, want list: and NotFound", err)
	}
}
