package pipeline

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/informer"
)

// scopedResolver resolves every kind, namespaced but for Namespace.
type scopedResolver struct{}

func (scopedResolver) Resolve(_ context.Context, gvk schema.GroupVersionKind) (informer.Mapping, error) {
	return informer.Mapping{GVK: gvk, Namespaced: gvk.Kind != "Namespace"}, nil
}

// TestNotCompared: unopened objects are placed as targets are, filtered
// by what Git shows of them (an object whose kind is encrypted is always
// listed), and described; the live side of one is never Extra; a run
// with nothing else names the files and recipients in one line.
func TestNotCompared(t *testing.T) {
	list := []gitsource.Unopened{
		{APIVersion: "v1", Kind: "Secret", Name: "app-env-*", File: "app.env", Via: gitsource.UnopenedGenerator, Recipients: []string{"age1b"}},
		{APIVersion: "apps/v1", Kind: "Deployment", Name: "shop", DefaultNamespace: "shop", File: "values.yaml", Via: gitsource.UnopenedValues,
			Recipients: []string{"age1a", "age1b"}},
		{File: "secret.yaml", Via: gitsource.UnopenedFile},
	}
	secret := drift.NotComparedObject{APIVersion: "v1", Kind: "Secret", Namespace: "prod", Name: "app-env-*", File: "app.env", Via: drift.ViaGenerator,
		Reason: "generated from app.env, encrypted in Git (SOPS), no key opens it"}
	deployment := drift.NotComparedObject{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "shop", File: "values.yaml", Via: drift.ViaValues,
		Reason: "rendered with values file values.yaml, encrypted in Git (SOPS), no key opens it"}
	whole := drift.NotComparedObject{File: "secret.yaml", Via: drift.ViaFile, Reason: "kind and name encrypted in Git (SOPS), no key opens it"}
	tests := []struct {
		name   string
		filter Filter
		want   []drift.NotComparedObject
	}{
		{"no filter", Filter{}, []drift.NotComparedObject{secret, deployment, whole}},
		{"--kinds Deployment", Filter{Kinds: []string{"apps/Deployment"}}, []drift.NotComparedObject{deployment, whole}},
		{"--namespaces prod", Filter{Namespaces: []string{"prod"}}, []drift.NotComparedObject{secret, whole}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := notCompared(context.Background(), scopedResolver{}, list, "prod", tt.filter)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("not compared (-want +got):\n%s", diff)
			}
		})
	}

	labels := []string{secret.Label(), deployment.Label(), whole.Label()}
	if diff := cmp.Diff([]string{"Secret prod/app-env-*", "Deployment shop/shop", "secret.yaml"}, labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}

	extra := func(kind, ns, name string) drift.Resource {
		return drift.Resource{Kind: kind, Namespace: ns, Name: name, Status: drift.Extra}
	}
	rs := []drift.Resource{
		extra("Secret", "prod", "app-env-5tg2k9c8hm"), // the generated Secret, hashed from the plaintext
		extra("Secret", "prod", "app-env-old"),        // not a kustomize hash
		extra("Secret", "dev", "app-env-5tg2k9c8hm"),  // another namespace
		extra("Deployment", "shop", "shop"),
		{Kind: "Secret", Namespace: "prod", Name: "app-env-5tg2k9c8hm", Status: drift.InSync},
	}
	want := []drift.Resource{rs[1], rs[2], rs[4]}
	got := withoutUnopenedExtra(rs, []drift.NotComparedObject{secret, deployment, whole})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}

	err := nothingCompared(list)
	const wantErr = "nothing could be compared: no age key opens app.env, secret.yaml, values.yaml (SOPS; encrypted for age1a, age1b): " +
		"give one with --sops-age-key-file, $SOPS_AGE_KEY_FILE or $SOPS_AGE_KEY"
	if err == nil || err.Error() != wantErr {
		t.Errorf("error %v, want %s", err, wantErr)
	}
}
