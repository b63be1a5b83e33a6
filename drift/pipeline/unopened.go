package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource"
)

// Objects that a SOPS file no key opens makes unknowable (gitsource.Unopened)
// are never compared: the report lists them with their file, the filter
// applies to what Git shows of them, and a live object they stand for is
// not Extra. A run that has nothing else to compare is an error: it would
// otherwise pass without checking anything.

// notCompared places the unopened objects the filter keeps as Plan places
// targets (a namespaced object without a namespace gets the release's or
// the default one) and describes them for the report. An object whose
// kind is encrypted is always kept: it could be of any kind.
func notCompared(ctx context.Context, r Resolver, list []gitsource.Unopened, defaultNamespace string, f Filter) []drift.NotComparedObject {
	var out []drift.NotComparedObject
	for _, o := range list {
		e := drift.NotComparedObject{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name,
			File: o.File, Via: string(o.Via)}
		if o.Kind != "" && o.APIVersion != "" {
			gv, _ := schema.ParseGroupVersion(o.APIVersion)
			if m, err := r.Resolve(ctx, gv.WithKind(o.Kind)); err == nil && m.Namespaced && e.Namespace == "" {
				e.Namespace = o.DefaultNamespace
				if e.Namespace == "" {
					e.Namespace = defaultNamespace
				}
			}
			u := &unstructured.Unstructured{Object: map[string]any{}}
			u.SetAPIVersion(o.APIVersion)
			u.SetKind(o.Kind)
			u.SetName(o.Name)
			u.SetNamespace(o.Namespace)
			u.SetLabels(o.Labels)
			if !f.keeps(Target{Object: gitsource.Object{Object: u}, Namespace: e.Namespace}) {
				continue
			}
		}
		e.Reason = e.Describe()
		out = append(out, e)
	}
	return out
}

// nothingCompared is the error of a run whose every desired object is
// unopened: it names the files and the age recipients whose key is missing.
func nothingCompared(list []gitsource.Unopened) error {
	var files, recipients []string
	for _, o := range list {
		if !slices.Contains(files, o.File) {
			files = append(files, o.File)
		}
		for _, r := range o.Recipients {
			if !slices.Contains(recipients, r) {
				recipients = append(recipients, r)
			}
		}
	}
	slices.Sort(files)
	slices.Sort(recipients)
	key := "no age recipient in them"
	if len(recipients) > 0 {
		key = "encrypted for " + strings.Join(recipients, ", ")
	}
	return fmt.Errorf("nothing could be compared: no age key opens %s (SOPS; %s): give one with --sops-age-key-file, $SOPS_AGE_KEY_FILE or $SOPS_AGE_KEY",
		strings.Join(files, ", "), key)
}

// withoutUnopenedExtra drops the Extra resources that are the live side
// of an object not compared: the Secret a secretGenerator made, whose
// name carries the plaintext's hash where Git's carries the ciphertext's.
func withoutUnopenedExtra(rs []drift.Resource, list []drift.NotComparedObject) []drift.Resource {
	if len(list) == 0 {
		return rs
	}
	return slices.DeleteFunc(rs, func(r drift.Resource) bool {
		return r.Status == drift.Extra && slices.ContainsFunc(list, func(o drift.NotComparedObject) bool {
			return o.Kind == r.Kind && o.Namespace == r.Namespace && sameUnopenedName(o.Name, r.Name)
		})
	})
}

// sameUnopenedName matches a live name with an unopened object's name,
// whose "-*" stands for kustomize's ten-character hash.
func sameUnopenedName(pattern, name string) bool {
	if base, ok := strings.CutSuffix(pattern, "-*"); ok {
		rest, ok := strings.CutPrefix(name, base+"-")
		return ok && len(rest) == 10
	}
	return pattern == name
}
