package pipeline

import (
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/informer"
)

// DefaultTrackingLabel marks the live objects that Git manages: a live
// object in a watched scope that carries it but is not in Git is Extra.
const DefaultTrackingLabel = "app.kubernetes.io/managed-by=driftwatch"

// ParseTrackingLabel parses KEY=VALUE (objects with that label value) or
// KEY (objects with the label, any value).
func ParseTrackingLabel(s string) (labels.Selector, error) {
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("tracking label %q: %w", s, err)
	}
	if sel.Empty() {
		return nil, fmt.Errorf("tracking label %q selects everything", s)
	}
	return sel, nil
}

// FindExtra lists the live objects of the watched scopes that match the
// tracking selector and are not among the targets. Scopes whose informers
// failed are skipped (their targets already carry the error).
func FindExtra(targets []Target, scopes []informer.Scope, live Lister, sel labels.Selector, scopeErrs map[informer.Scope]error) []drift.Resource {
	desired := map[informer.Scope]map[string]bool{}
	for _, t := range targets {
		if t.Err != nil {
			continue
		}
		if desired[t.Scope] == nil {
			desired[t.Scope] = map[string]bool{}
		}
		desired[t.Scope][t.Object.GetName()] = true
	}
	var out []drift.Resource
	for _, s := range scopes {
		if scopeErrs[s] != nil {
			continue
		}
		items, err := live.List(s)
		if err != nil {
			continue
		}
		for _, u := range items {
			if desired[s][u.GetName()] || !sel.Matches(labels.Set(u.GetLabels())) {
				continue
			}
			out = append(out, drift.Resource{
				APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName(),
				Status: drift.Extra,
			})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name
	})
	return out
}
