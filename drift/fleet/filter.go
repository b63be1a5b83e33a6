package fleet

import (
	"strings"

	"github.com/driftwatch/driftwatch/drift"
)

// Filter narrows a View. Each list keeps the items matching any of its
// values (case-insensitive); an empty list keeps everything. Clusters
// narrows the clusters and their resources; the other lists narrow the
// resources only.
type Filter struct {
	Clusters   []string
	Namespaces []string
	Kinds      []string
	// Severities are drift.Severity values.
	Severities []string
	// Statuses are drift.Status values. Without InSync among them,
	// resources in sync are left out of the view (they are counted in
	// each Cluster's InSync).
	Statuses []string
}

// Apply returns the part of v that f keeps, with the summary counted
// afresh over it.
func (f Filter) Apply(v View) View {
	out := View{GeneratedAt: v.GeneratedAt, Clusters: []Cluster{}, Resources: []Resource{}}
	for _, c := range v.Clusters {
		if match(f.Clusters, c.Name) {
			out.Clusters = append(out.Clusters, c)
		}
	}
	for _, r := range v.Resources {
		if f.keeps(r) {
			out.Resources = append(out.Resources, r)
		}
	}
	out.Summary = Summarize(out.Clusters, out.Resources)
	return out
}

// keeps reports whether f keeps resource r.
func (f Filter) keeps(r Resource) bool {
	if !match(f.Clusters, r.Cluster) || !match(f.Namespaces, r.Namespace) || !match(f.Kinds, r.Kind) ||
		!match(f.Severities, string(r.Severity)) || !match(f.Statuses, string(r.Status)) {
		return false
	}
	return r.Status != drift.InSync || len(f.Statuses) > 0
}

// Summarize counts clusters by state and drifted resources by severity.
func Summarize(clusters []Cluster, resources []Resource) Summary {
	s := Summary{Clusters: len(clusters), ByState: map[State]int{}, BySeverity: map[string]int{}}
	for _, c := range clusters {
		s.ByState[c.State]++
	}
	for _, r := range resources {
		switch {
		case r.IsDrift():
			s.Drifted++
			s.BySeverity[string(r.Severity)]++
		case r.Status == drift.Error:
			s.Errors++
		}
	}
	return s
}

func match(list []string, v string) bool {
	if len(list) == 0 {
		return true
	}
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(x), v) {
			return true
		}
	}
	return false
}
