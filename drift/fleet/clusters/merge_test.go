package clusters

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"
)

func TestMerge(t *testing.T) {
	cfg := func(host string) *rest.Config { return &rest.Config{Host: host} }
	kube := []Target{
		{Name: "dev", Server: "https://dev", Config: cfg("https://dev"), Origin: `context "dev" in k`},
		{Name: "prod", Server: "https://prod", Config: cfg("https://prod"), Origin: `context "prod" in k`},
	}
	argo := []Target{
		{Name: "edge", Server: "https://edge", Config: cfg("https://edge"), Origin: "Secret argocd/edge"},
		{Name: "prod", Server: "https://prod2", Config: cfg("https://prod2"), Origin: "Secret argocd/prod"},
		{Name: "broken", Origin: "Secret argocd/broken", Err: errors.New("Secret argocd/broken: no server")},
	}
	want := []row{
		{Name: "broken", Origin: "Secret argocd/broken", Err: "Secret argocd/broken: no server"},
		{Name: "dev", Server: "https://dev", Origin: `context "dev" in k`, Host: "https://dev"},
		{Name: "edge", Server: "https://edge", Origin: "Secret argocd/edge", Host: "https://edge"},
		{Name: "prod", Server: "https://prod", Origin: `context "prod" in k`, Host: "https://prod"},
		{Name: "prod", Server: "https://prod2", Origin: "Secret argocd/prod",
			Err: `cluster "prod" is both context "prod" in k and Secret argocd/prod: rename one`},
	}
	if diff := cmp.Diff(want, rows(Merge(kube, argo))); diff != "" {
		t.Errorf("Merge (-want +got):\n%s", diff)
	}
	if got := Merge(); len(got) != 0 {
		t.Errorf("Merge() = %v, want none", got)
	}
}
