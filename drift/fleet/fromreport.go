package fleet

import (
	"slices"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline/reports"
)

// maxPaths is how many drifted paths FromReport keeps per resource, as
// the report objects keep them; MorePaths counts the rest.
const maxPaths = 20

// FromReport converts one cluster's full drift report (as `check`
// makes it) into the fleet's types, so that a run over several clusters
// prints like the hub's view. The cluster is Drifted when some resource
// is Drifted, Missing or Extra, InSync otherwise, and Stale when the
// report says its desired or live state is not current (watch's reports
// only). Resources in sync are counted in the Cluster, not returned; the
// others come sorted by namespace, kind and name, with paths (never
// values), the last change's manager and time, and the drift's digest.
// A resource that could not be checked carries its error as Description.
//
// A Drifted resource one of whose diffs nobody classified gets no
// severity: check fails on such a diff whatever --fail-on says, and so
// does View.Exit on a drift without a severity.
func FromReport(cluster string, r drift.Report) (Cluster, []Resource) {
	at := r.GeneratedAt.UTC()
	policy := policyOf(r.Source)
	revision := r.Source.Commit
	if revision == "" {
		revision = r.Source.Digest
	}
	c := Cluster{
		Name: cluster, Server: r.Cluster.Server, State: InSync, CheckedAt: &at,
		Sources: []Source{{Policy: policy, Revision: revision, CheckedAt: &at}},
	}
	var out []Resource
	for _, res := range r.Resources {
		switch res.Status {
		case drift.InSync:
			c.InSync++
			continue
		case drift.Error:
			c.Errors++
		default:
			c.Drifted++
			c.State = Drifted
		}
		fr := Resource{
			Cluster: cluster, APIVersion: res.APIVersion, Kind: res.Kind, Namespace: res.Namespace, Name: res.Name,
			Status: res.Status, Severity: res.Severity,
			FirstSeen: utc(res.FirstSeen), LastChanged: utc(res.LastChanged),
			Policy: policy, Revision: revision,
		}
		if res.Status == drift.Error {
			fr.Description = res.Error
			out = append(out, fr)
			continue
		}
		fr.Digest = res.DriftDigest()
		fr.Fields = len(res.Diffs)
		for i, d := range res.Diffs {
			if i < maxPaths {
				fr.Paths = append(fr.Paths, d.Path)
			}
			if d.Severity == "" {
				fr.Severity = ""
			}
		}
		fr.MorePaths = max(0, len(res.Diffs)-maxPaths)
		if by := reports.LastChange(res.Diffs); by != nil {
			fr.ChangedBy = by.Manager
			if by.Subresource != "" {
				fr.ChangedBy += "/" + by.Subresource
			}
			fr.ChangedAt = utc(by.Time)
		}
		if fr.Severity.Rank() > c.Severity.Rank() {
			c.Severity = fr.Severity
		}
		out = append(out, fr)
	}
	for _, st := range []*drift.Stale{r.Stale, r.Disconnected} {
		if st != nil && c.Error == "" {
			c.State, c.Error = Stale, st.Reason
		}
	}
	slices.SortStableFunc(out, compareResources)
	return c, out
}

// Assemble makes a View of clusters and their resources at a time: it
// sorts them as a View is sorted and counts the summary.
func Assemble(at time.Time, clusters []Cluster, resources []Resource) View {
	v := View{GeneratedAt: at.UTC(), Clusters: slices.Clone(clusters), Resources: slices.Clone(resources)}
	if v.Clusters == nil {
		v.Clusters = []Cluster{}
	}
	if v.Resources == nil {
		v.Resources = []Resource{}
	}
	slices.SortStableFunc(v.Clusters, func(a, b Cluster) int { return strings.Compare(a.Name, b.Name) })
	slices.SortStableFunc(v.Resources, compareResources)
	v.Summary = Summarize(v.Clusters, v.Resources)
	return v
}

// Exit says what a view means for an exit status, as check's --fail-on
// does for one report: drifted when some resource is Drifted, Missing or
// Extra with a severity of at least failOn (empty is info: any drift),
// or with no severity (unclassified drift cannot be shown to be below
// the threshold); incomplete when some cluster is not Healthy or some
// resource could not be checked.
func (v View) Exit(failOn drift.Severity) (drifted, incomplete bool) {
	if failOn == "" {
		failOn = drift.SeverityInfo
	}
	for _, c := range v.Clusters {
		incomplete = incomplete || !c.State.Healthy()
	}
	for _, r := range v.Resources {
		switch {
		case r.IsDrift():
			drifted = drifted || r.Severity == "" || r.Severity.AtLeast(failOn)
		case r.Status == drift.Error:
			incomplete = true
		}
	}
	return drifted, incomplete
}

// policyOf names a source as the report objects do
// (reports.Policy): the URL, and the path after "//".
func policyOf(s drift.Source) string {
	if s.Path == "" {
		return s.URL
	}
	return s.URL + "//" + s.Path
}
