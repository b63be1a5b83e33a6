// Package fleet is the hub's view of many clusters: what each cluster's
// driftwatch agent says of its drift, read back from the report objects
// the agent writes (see drift/pipeline/reports), never from the
// clusters' resources.
//
// A View is built from Snapshots, one per cluster: the report objects the
// hub's informer holds for that cluster and how the connection to it
// fares. Building is pure (no I/O): the Hub (hub.go) keeps the informers
// and the snapshots, Diff (events.go) turns two views into the audit
// log's transitions, and Write (format.go) prints a view.
package fleet

import (
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/drift"
)

// State is what the hub can say of one cluster, worst first in the
// order of States.
type State string

const (
	// Unreachable: the hub cannot list the cluster's reports (network,
	// TLS, the API server down).
	Unreachable State = "unreachable"
	// Forbidden: the cluster refused the hub's credentials (401 or 403).
	Forbidden State = "forbidden"
	// NoCRD: the cluster does not serve the report CRDs.
	NoCRD State = "no-crd"
	// SourceError (check --fleet only): the cluster's source could not be
	// read or rendered, so the cluster was not compared.
	SourceError State = "source-error"
	// Stale: the newest agent heartbeat is older than the threshold (or
	// there is none): whatever the reports say, they may be out of date.
	Stale State = "stale"
	// NoReports: the CRDs are served but no driftwatch agent wrote a
	// report.
	NoReports State = "no-reports"
	// Pending: the hub has not finished its first list of the cluster.
	Pending State = "pending"
	// Drifted: fresh reports name at least one drifted, missing or extra
	// resource.
	Drifted State = "drifted"
	// InSync: fresh reports, and nothing drifted.
	InSync State = "in-sync"
)

// States lists every State, worst first: the order of the summary and
// of the dashboard's cluster list.
var States = []State{Unreachable, Forbidden, NoCRD, SourceError, Stale, NoReports, Pending, Drifted, InSync}

// Healthy reports whether the hub's view of the cluster is complete and
// fresh, so that its resources' statuses can be trusted (drifted or in
// sync).
func (s State) Healthy() bool { return s == Drifted || s == InSync }

// View is the fleet at one moment. Clusters are sorted by name;
// Resources by cluster, then namespace, kind and name. Both are never
// null in JSON.
type View struct {
	GeneratedAt time.Time  `json:"generatedAt"`
	Summary     Summary    `json:"summary"`
	Clusters    []Cluster  `json:"clusters"`
	Resources   []Resource `json:"resources"`
}

// Summary counts clusters by state and drifted resources by severity.
type Summary struct {
	Clusters int `json:"clusters"`
	// ByState counts clusters per State (states with none are left out).
	ByState map[State]int `json:"byState"`
	// Drifted counts resources whose status is Drifted, Missing or Extra,
	// over healthy and stale clusters alike; BySeverity splits them
	// (unclassified ones under "").
	Drifted    int            `json:"drifted"`
	BySeverity map[string]int `json:"bySeverity"`
	// Errors counts resources the agents could not check.
	Errors int `json:"errors"`
}

// Cluster is one cluster's line in the view.
type Cluster struct {
	Name string `json:"name"`
	// Server is the API server URL the hub reads the reports from.
	Server string `json:"server,omitempty"`
	State  State  `json:"state"`
	// Error says why the cluster is unreachable, forbidden, without the
	// CRDs or stale; empty otherwise.
	Error string `json:"error,omitempty"`
	// CheckedAt is the newest agent heartbeat (the time the agent last
	// compared), nil if no report carries one.
	CheckedAt *time.Time `json:"checkedAt,omitempty"`
	// Since is when the hub first saw the cluster in its current
	// connection state (failing since, or connected since).
	Since *time.Time `json:"since,omitempty"`
	// Sources are the desired-state sources the cluster's agents compare
	// against, with the revision of their last comparison.
	Sources []Source `json:"sources"`
	// InSync, Drifted and Errors count the cluster's resources.
	InSync  int `json:"inSync"`
	Drifted int `json:"drifted"`
	Errors  int `json:"errors"`
	// Severity is the highest severity of the cluster's drift, empty if
	// none.
	Severity drift.Severity `json:"severity,omitempty"`
}

// Source is one agent's desired-state source, as its reports name it.
type Source struct {
	// Policy is the repository (or directory, or OCI reference) and path.
	Policy   string `json:"policy"`
	Revision string `json:"revision,omitempty"`
	// CheckedAt is this source's heartbeat.
	CheckedAt *time.Time `json:"checkedAt,omitempty"`
	// Agent is the agent that wrote the reports ("watch" or "check") and
	// its version, as the heartbeat names it.
	Agent string `json:"agent,omitempty"`
}

// Resource is one resource of one cluster as its agent's report says:
// paths, never values.
type Resource struct {
	Cluster    string         `json:"cluster"`
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Namespace  string         `json:"namespace,omitempty"`
	Name       string         `json:"name"`
	Status     drift.Status   `json:"status"`
	Severity   drift.Severity `json:"severity,omitempty"`
	// Paths are the drifted paths the report names; MorePaths counts the
	// ones it left out; Fields counts them all.
	Paths     []string `json:"paths,omitempty"`
	MorePaths int      `json:"morePaths,omitempty"`
	Fields    int      `json:"fields,omitempty"`
	// ChangedBy is the field manager of the last change, ChangedAt its
	// time.
	ChangedBy   string     `json:"changedBy,omitempty"`
	ChangedAt   *time.Time `json:"changedAt,omitempty"`
	FirstSeen   *time.Time `json:"firstSeen,omitempty"`
	LastChanged *time.Time `json:"lastChanged,omitempty"`
	// Digest identifies the drift (drift.Resource.DriftDigest): equal
	// digests, same drift.
	Digest      string `json:"digest,omitempty"`
	Policy      string `json:"policy,omitempty"`
	Revision    string `json:"revision,omitempty"`
	Description string `json:"description,omitempty"`
}

// Key identifies a resource across the fleet, independently of its
// version: cluster, group, kind, namespace, name.
func (r Resource) Key() string {
	return r.Cluster + "|" + group(r.APIVersion) + "|" + r.Kind + "|" + r.Namespace + "|" + r.Name
}

// IsDrift reports whether the resource's status is a drift (Drifted,
// Missing or Extra).
func (r Resource) IsDrift() bool {
	return r.Status == drift.Drifted || r.Status == drift.Missing || r.Status == drift.Extra
}

// group is the API group of apiVersion ("" for the core group).
func group(apiVersion string) string {
	g, _, ok := strings.Cut(apiVersion, "/")
	if !ok {
		return ""
	}
	return g
}
