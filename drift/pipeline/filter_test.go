package pipeline

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/driftwatch/driftwatch/gitsource"
)

func TestFilterUnmatched(t *testing.T) {
	targets := []Target{
		{Object: gitsource.Object{Object: obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: shop, labels: {tier: frontend}}\n")}, Namespace: "shop"},
		{Object: gitsource.Object{Object: obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n")}, Namespace: "shop"},
		{Object: gitsource.Object{Object: obj(t, "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\n")}},
		// An unresolved kind still counts, by the namespace it names.
		{Object: gitsource.Object{Object: obj(t, "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: lab}\n")}, Err: errors.New("not served")},
	}
	for _, tt := range []struct {
		name   string
		filter Filter
		want   string // "" for no error
	}{
		{"empty filter", Filter{}, ""},
		{"every value matches", Filter{Kinds: []string{"ConfigMap", "apps/*"}, Namespaces: []string{"shop", "lab"}}, ""},
		{"kind typo", Filter{Kinds: []string{"ConfigMap", "Deploymnet"}},
			`flag --kinds: "Deploymnet" matches no object in Git (kinds there: ConfigMap, apps/Deployment, example.com/Widget, rbac.authorization.k8s.io/ClusterRole)`},
		{"kind in the wrong group", Filter{Kinds: []string{"batch/Deployment"}},
			`flag --kinds: "batch/Deployment" matches no object in Git (kinds there: ConfigMap, apps/Deployment, example.com/Widget, rbac.authorization.k8s.io/ClusterRole)`},
		{"exclusion typo", Filter{ExcludeKinds: []string{"Secret"}},
			`flag --exclude-kinds: "Secret" matches no object in Git (kinds there: ConfigMap, apps/Deployment, example.com/Widget, rbac.authorization.k8s.io/ClusterRole)`},
		{"namespace typo", Filter{Namespaces: []string{"shpo"}},
			`flag --namespaces: "shpo" matches no object in Git (namespaces there: "" (cluster-scoped), lab, shop)`},
		{"cluster-scoped by the empty pattern", Filter{Namespaces: []string{""}}, ""},
		{"excluded namespace typo", Filter{ExcludeNamespaces: []string{"kube-sytem"}},
			`flag --exclude-namespaces: "kube-sytem" matches no object in Git (namespaces there: "" (cluster-scoped), lab, shop)`},
		{"name glob", Filter{Names: []string{"re*"}}, ""},
		{"name typo", Filter{Names: []string{"wbe"}}, `flag --names: "wbe" matches no object in Git (names there: reader, w, web)`},
		{"selector", Filter{Selector: labels.SelectorFromSet(labels.Set{"tier": "frontend"})}, ""},
		{"selector matching nothing", Filter{Selector: labels.SelectorFromSet(labels.Set{"tier": "db"})},
			`flag --selector: "tier=db" matches no object in Git`},
		{"values that match but keep nothing together", Filter{Kinds: []string{"ClusterRole"}, Namespaces: []string{"shop"}},
			`flags: the targeting flags together keep none of the 4 objects in Git`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := tt.filter.Unmatched(targets); err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Unmatched (-want +got):\n%s", diff)
			}
		})
	}
}
