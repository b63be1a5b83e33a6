package fleettest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline/reports"
)

// The desired-state source every fake agent names, and its commit.
const (
	sourceURL    = "https://git.example.com/platform/fleet-config.git"
	sourcePath   = "clusters/prod"
	sourceCommit = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
	agent        = "watch v1.0.0-fleettest"
)

// apiVersion is the report kinds' group and version.
var apiVersion = orv1.SchemeGroupVersion.String()

// result is one result of a report object, rendered once as JSON (each
// result of a new cluster shares its report's template until it
// changes). It is never modified once made: a change makes a new one.
type result struct {
	json []byte
	fail bool
	// The drift the result describes (fail only): status, generation of
	// its drifted paths (a new generation is a new digest), when it was
	// first seen and its digest.
	status    drift.Status
	severity  drift.Severity
	gen       int
	firstSeen time.Time
	digest    string
}

// version is one state of one object; never modified once made. Events
// and lists hold versions, so a list is a consistent snapshot without
// holding the cluster's lock while it is written.
type version struct {
	rv         uint64
	generation int64
	// checkedAt is the heartbeat (the base ClusterReport only).
	checkedAt  time.Time
	results    []*result
	pass, fail int
}

// object is one report object's identity and current version.
type object struct {
	idx       int
	kind      string // "Report" or "ClusterReport"
	namespace string
	name      string
	uid       string
	created   time.Time
	cur       *version
}

// subject is the resource result j of object k describes: the same in
// every cluster.
func subject(k, j int) drift.Resource {
	if k == 0 {
		kinds := [...][2]string{
			{"rbac.authorization.k8s.io/v1", "ClusterRole"},
			{"rbac.authorization.k8s.io/v1", "ClusterRoleBinding"},
			{"v1", "Namespace"},
			{"admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"},
			{"scheduling.k8s.io/v1", "PriorityClass"},
		}
		kv := kinds[j%len(kinds)]
		name := fmt.Sprintf("platform-%02d", j)
		return drift.Resource{APIVersion: kv[0], Kind: kv[1], Name: name, Origin: "cluster/" + name + ".yaml"}
	}
	kinds := [...][2]string{
		{"apps/v1", "Deployment"},
		{"v1", "Service"},
		{"v1", "ConfigMap"},
		{"v1", "ServiceAccount"},
		{"networking.k8s.io/v1", "Ingress"},
	}
	kv := kinds[j%len(kinds)]
	name := fmt.Sprintf("app-%02d", j)
	return drift.Resource{APIVersion: kv[0], Kind: kv[1], Namespace: namespaceOf(k), Name: name, Origin: "apps/" + name + "/" + kv[1] + ".yaml"}
}

// namespaceOf is the namespace of object k ("" for the ClusterReport).
func namespaceOf(k int) string {
	if k == 0 {
		return ""
	}
	return fmt.Sprintf("ns-%02d", k-1)
}

// failsAtStart says which results fail in a new cluster: 3 of every 50.
func failsAtStart(j int) bool { return j%17 == 3 }

var driftPaths = [...]string{
	"spec.replicas",
	"spec.template.spec.containers[name=app].image",
	"spec.template.spec.containers[name=app].resources.limits.memory",
	"metadata.labels.team",
	"metadata.annotations.rollout",
	"data.config.yaml",
	"spec.ports[port=443].targetPort",
	"rules",
}

var managers = [...]string{"kubectl-edit", "kubectl-client-side-apply", "helm", "kube-controller-manager", "argocd-controller"}

var severities = [...]drift.Severity{drift.SeverityCritical, drift.SeverityWarning, drift.SeverityInfo}

// makeResult renders result j of object k in status st (InSync, Drifted,
// Missing or Extra); gen picks the drifted paths (consecutive
// generations always differ), at stamps the change.
func makeResult(k, j int, st drift.Status, gen int, firstSeen, at time.Time) *result {
	res := subject(k, j)
	res.Status = st
	r := &result{status: st, gen: gen}
	if st != drift.InSync {
		r.fail = true
		r.severity = severities[(j+gen)%len(severities)]
		res.Severity = r.severity
		fs, lc := firstSeen, at
		res.FirstSeen, res.LastChanged = &fs, &lc
		r.firstSeen = firstSeen
		if st == drift.Drifted {
			by := &drift.ChangedBy{Manager: managers[(j+gen)%len(managers)], Operation: "Update", Time: &lc}
			n := 1 + gen%3
			for i := range n {
				res.Diffs = append(res.Diffs, drift.FieldDiff{Path: driftPaths[(j+gen*3+i)%len(driftPaths)], Type: drift.Changed, ChangedBy: by, Severity: r.severity})
			}
		}
		r.digest = res.DriftDigest()
	}
	rep := drift.Report{Source: drift.Source{URL: sourceURL, Path: sourcePath, Commit: sourceCommit}, Resources: []drift.Resource{res}}
	set := reports.Build(rep, reports.Limits{}, at)
	var rr orv1.ReportResult
	if k == 0 {
		rr = set.ClusterReports[0].Results[0]
	} else {
		rr = set.Reports[0].Results[0]
	}
	b, err := json.Marshal(rr)
	if err != nil {
		// A ReportResult of strings, maps and integers always marshals.
		panic(fmt.Sprintf("fleettest: result: %v", err))
	}
	r.json = b
	return r
}

// templates makes the results every new cluster starts with, per object.
func templates(objects, results int, at time.Time) [][]*result {
	out := make([][]*result, objects)
	for k := range out {
		out[k] = make([]*result, results)
		for j := range out[k] {
			st := drift.InSync
			if failsAtStart(j) {
				st = [...]drift.Status{drift.Drifted, drift.Drifted, drift.Missing, drift.Extra}[(k+j)%4]
			}
			out[k][j] = makeResult(k, j, st, 0, at, at)
		}
	}
	return out
}

// newVersion makes a version of results, counting them.
func newVersion(rv uint64, generation int64, checkedAt time.Time, results []*result) *version {
	v := &version{rv: rv, generation: generation, checkedAt: checkedAt, results: results}
	for _, r := range results {
		if r.fail {
			v.fail++
		} else {
			v.pass++
		}
	}
	return v
}

var (
	policy      = reports.Policy(drift.Source{URL: sourceURL, Path: sourcePath})
	objectName  = reports.BaseName(policy)
	policyLabel = objectName[len("driftwatch-"):]
	// labelSet is every object's labels.
	labelSet = map[string]string{reports.ManagedByLabel: reports.SourceName, reports.PolicyLabel: policyLabel}
)

// appendObject renders o at v as the API server would send it.
func appendObject(b []byte, o *object, v *version) []byte {
	b = append(b, `{"apiVersion":"`...)
	b = append(b, apiVersion...)
	b = append(b, `","kind":"`...)
	b = append(b, o.kind...)
	b = append(b, `","metadata":{"name":`...)
	b = strconv.AppendQuote(b, o.name)
	if o.namespace != "" {
		b = append(b, `,"namespace":`...)
		b = strconv.AppendQuote(b, o.namespace)
	}
	b = append(b, `,"uid":"`...)
	b = append(b, o.uid...)
	b = append(b, `","resourceVersion":"`...)
	b = strconv.AppendUint(b, v.rv, 10)
	b = append(b, `","generation":`...)
	b = strconv.AppendInt(b, v.generation, 10)
	b = append(b, `,"creationTimestamp":"`...)
	b = o.created.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","labels":{"`...)
	b = append(b, reports.ManagedByLabel...)
	b = append(b, `":"`...)
	b = append(b, reports.SourceName...)
	b = append(b, `","`...)
	b = append(b, reports.PolicyLabel...)
	b = append(b, `":"`...)
	b = append(b, policyLabel...)
	b = append(b, `"},"annotations":{`...)
	if o.kind == "ClusterReport" && o.idx == 0 {
		b = append(b, `"`+reports.AgentAnnotation+`":"`+agent+`","`+reports.CheckedAtAnnotation+`":"`...)
		b = v.checkedAt.UTC().AppendFormat(b, time.RFC3339)
		b = append(b, `",`...)
	}
	b = append(b, `"driftwatch.dev/part":"1/1","`+reports.SourceAnnotation+`":`...)
	b = strconv.AppendQuote(b, policy)
	// The server-side apply entry of the agent, as the API server keeps
	// it (results is an atomic list: one entry, however many results).
	b = append(b, `},"managedFields":[{"manager":"driftwatch","operation":"Apply","apiVersion":"`+apiVersion+`","time":"`...)
	b = o.created.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{`...)
	if o.kind == "ClusterReport" && o.idx == 0 {
		b = append(b, `"f:`+reports.AgentAnnotation+`":{},"f:`+reports.CheckedAtAnnotation+`":{},`...)
	}
	b = append(b, `"f:driftwatch.dev/part":{},"f:`+reports.SourceAnnotation+`":{}},"f:labels":{"f:`+reports.ManagedByLabel+`":{},"f:`+reports.PolicyLabel+`":{}}},"f:results":{},"f:source":{},"f:summary":{".":{},"f:error":{},"f:fail":{},"f:pass":{},"f:skip":{},"f:warn":{}}}}]},"source":"`+reports.SourceName+`","summary":{"pass":`...)
	b = strconv.AppendInt(b, int64(v.pass), 10)
	b = append(b, `,"fail":`...)
	b = strconv.AppendInt(b, int64(v.fail), 10)
	b = append(b, `,"warn":0,"error":0,"skip":0},"results":[`...)
	// Failures first, as Build orders them.
	first := true
	for pass := range 2 {
		for _, r := range v.results {
			if r.fail != (pass == 0) {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, r.json...)
		}
	}
	return append(b, "]}"...)
}
