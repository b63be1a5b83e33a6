// Package reports publishes drift findings in the cluster as OpenReports
// objects (openreports.io/v1alpha1 Report and ClusterReport), the report API
// Kyverno, Trivy, Falco and kube-bench write and Policy Reporter, OCM and
// Rancher read: one Report per namespace and one ClusterReport for
// cluster-scoped objects, per desired-state source.
//
// Build turns a drift.Report into those objects and is pure. Publisher
// writes them with server-side apply, only when their content changed, at
// most once per interval per report, and deletes the source's reports that
// are no longer needed.
//
// A report never holds a value: no desired or live value and no hash of a
// sensitive one, only paths, kinds, names, managers and times.
package reports

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftwatch/driftwatch/drift"
)

// The source every report and result names, and the labels that find a
// source's reports again.
const (
	SourceName = "driftwatch"
	// PolicyLabel holds a hash of the desired-state source (URL and path),
	// so several driftwatch agents with different sources keep their own
	// reports apart.
	PolicyLabel    = "driftwatch.dev/policy"
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// SourceAnnotation holds the source's policy in full.
	SourceAnnotation = "driftwatch.dev/source"
	// CheckedAtAnnotation is the agent's heartbeat: when it last compared
	// the cluster with its source (RFC 3339). It is on the source's base
	// ClusterReport (the first cluster-scoped object, which every Set
	// has), kept fresh by Publisher.HeartbeatEvery even when nothing
	// changed, so that a hub (drift/fleet) tells a quiet agent from a
	// dead one.
	CheckedAtAnnotation = "driftwatch.dev/checked-at"
	// AgentAnnotation names the agent that wrote the heartbeat and its
	// version ("watch v1.2.0", "check v1.2.0").
	AgentAnnotation = "driftwatch.dev/agent"
)

// Limits bound what one report object holds, well under etcd's 1.5 MiB.
type Limits struct {
	// MaxResults is the most results one report object holds; more are
	// split over objects named NAME, NAME-2, NAME-3... in the order of
	// the results (failures first, then errors, skips, passes; by kind,
	// then name). Default 200.
	MaxResults int
	// MaxPass is the most pass results (resources in sync) listed per
	// namespace; the rest are only counted in summary.pass. Default 100.
	MaxPass int
	// MaxPaths is the most drifted paths named in a result's properties;
	// the rest are counted ("+12 more"). Default 20.
	MaxPaths int
}

func (l Limits) withDefaults() Limits {
	if l.MaxResults <= 0 {
		l.MaxResults = 200
	}
	if l.MaxPass < 0 {
		l.MaxPass = 0
	} else if l.MaxPass == 0 {
		l.MaxPass = 100
	}
	if l.MaxPaths <= 0 {
		l.MaxPaths = 20
	}
	return l
}

// maxText bounds a message or a property value, in bytes.
const maxText = 1024

// Set is what Build makes: the Reports, by namespace, and the
// ClusterReports, each already split by Limits.MaxResults.
type Set struct {
	Reports        []*orv1.Report
	ClusterReports []*orv1.ClusterReport
}

// Policy names the desired-state source in each result's policy field:
// the repository (or directory, or OCI reference) and the path in it.
func Policy(s drift.Source) string {
	p := s.URL
	if s.Path != "" {
		p += "//" + s.Path
	}
	return p
}

// BaseName is the name of the source's report objects: "driftwatch-" and
// a hash of its policy, so that two sources never share an object.
func BaseName(policy string) string { return "driftwatch-" + policyHash(policy) }

func policyHash(policy string) string {
	h := sha256.Sum256([]byte(policy))
	return hex.EncodeToString(h[:])[:10]
}

// Severity maps driftwatch's levels to OpenReports': critical → critical,
// warning → medium, info → info.
func Severity(s drift.Severity) orv1.ResultSeverity {
	switch s {
	case drift.SeverityCritical:
		return "critical"
	case drift.SeverityWarning:
		return "medium"
	case drift.SeverityInfo:
		return "info"
	}
	return ""
}

// Build makes the report objects for r: a result per resource (fail for
// Drifted, Missing and Extra, pass for InSync, error for Error) and a skip
// result per object that could not be compared (SOPS without a key). now
// stamps results that carry no time of their own.
func Build(r drift.Report, lim Limits, now time.Time) Set {
	lim = lim.withDefaults()
	policy := Policy(r.Source)
	revision := cmp.Or(r.Source.Commit, r.Source.Digest)
	type bucket struct {
		results []orv1.ReportResult
		summary orv1.ReportSummary
		pass    int
	}
	byNS := map[string]*bucket{}
	get := func(ns string) *bucket {
		b := byNS[ns]
		if b == nil {
			b = &bucket{}
			byNS[ns] = b
		}
		return b
	}
	for _, res := range r.Resources {
		b := get(res.Namespace)
		rr := result(res, policy, revision, lim, now)
		switch rr.Result {
		case "pass":
			b.summary.Pass++
			b.pass++
			if b.pass > lim.MaxPass {
				continue
			}
		case "fail":
			b.summary.Fail++
		case "error":
			b.summary.Error++
		}
		b.results = append(b.results, rr)
	}
	for _, nc := range r.NotCompared {
		b := get(nc.Namespace)
		b.summary.Skip++
		b.results = append(b.results, notCompared(nc, policy, revision, now))
	}
	// The base ClusterReport always exists: it carries the heartbeat.
	get("")

	var set Set
	name := BaseName(policy)
	for _, ns := range sortedKeys(byNS) {
		b := byNS[ns]
		sortResults(b.results)
		chunks := split(b.results, lim.MaxResults)
		for i, chunk := range chunks {
			meta := metav1.ObjectMeta{
				Name:      chunkName(name, i),
				Namespace: ns,
				Labels:    map[string]string{ManagedByLabel: SourceName, PolicyLabel: policyHash(policy)},
				Annotations: map[string]string{
					SourceAnnotation:      truncate(policy, maxText),
					"driftwatch.dev/part": fmt.Sprintf("%d/%d", i+1, len(chunks)),
				},
			}
			if ns == "" && i == 0 {
				meta.Annotations[CheckedAtAnnotation] = now.UTC().Format(time.RFC3339)
			}
			// The summary counts every result of the namespace, in the
			// first part only, so that summing parts counts each once.
			var sum orv1.ReportSummary
			if i == 0 {
				sum = b.summary
			}
			if ns == "" {
				set.ClusterReports = append(set.ClusterReports, &orv1.ClusterReport{
					TypeMeta:   metav1.TypeMeta{APIVersion: orv1.SchemeGroupVersion.String(), Kind: "ClusterReport"},
					ObjectMeta: clusterMeta(meta),
					Source:     SourceName,
					Summary:    sum,
					Results:    chunk,
				})
				continue
			}
			set.Reports = append(set.Reports, &orv1.Report{
				TypeMeta:   metav1.TypeMeta{APIVersion: orv1.SchemeGroupVersion.String(), Kind: "Report"},
				ObjectMeta: meta,
				Source:     SourceName,
				Summary:    sum,
				Results:    chunk,
			})
		}
	}
	return set
}

func clusterMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	m.Namespace = ""
	return m
}

// chunkName is NAME for the first part, NAME-2, NAME-3... after it.
func chunkName(name string, i int) string {
	if i == 0 {
		return name
	}
	return name + "-" + strconv.Itoa(i+1)
}

func split(rs []orv1.ReportResult, n int) [][]orv1.ReportResult {
	if len(rs) == 0 {
		return [][]orv1.ReportResult{nil}
	}
	var out [][]orv1.ReportResult
	for len(rs) > n {
		out = append(out, rs[:n:n])
		rs = rs[n:]
	}
	return append(out, rs)
}

var resultOrder = map[orv1.Result]int{"fail": 0, "error": 1, "warn": 2, "skip": 3, "pass": 4}

func sortResults(rs []orv1.ReportResult) {
	slices.SortStableFunc(rs, func(a, b orv1.ReportResult) int {
		return cmp.Or(
			cmp.Compare(resultOrder[a.Result], resultOrder[b.Result]),
			cmp.Compare(subjectKey(a), subjectKey(b)),
		)
	})
}

func subjectKey(r orv1.ReportResult) string {
	if len(r.Subjects) == 0 {
		return ""
	}
	s := r.Subjects[0]
	return s.Kind + "/" + s.APIVersion + "/" + s.Name
}

func result(res drift.Resource, policy, revision string, lim Limits, now time.Time) orv1.ReportResult {
	rr := orv1.ReportResult{
		Source:   SourceName,
		Policy:   policy,
		Rule:     string(res.Status),
		Subjects: []corev1.ObjectReference{{APIVersion: res.APIVersion, Kind: res.Kind, Namespace: res.Namespace, Name: res.Name}},
		Properties: map[string]string{
			"origin": truncate(res.Origin, maxText),
		},
	}
	if revision != "" {
		rr.Properties["revision"] = revision
	}
	if res.IgnoredFields > 0 {
		// Drift an ignore rule allows is counted, never silently gone.
		rr.Properties["ignoredFields"] = strconv.Itoa(res.IgnoredFields)
	}
	stamp := now
	switch res.Status {
	case drift.InSync:
		rr.Result = "pass"
		rr.Description = "in sync with Git"
	case drift.Error:
		rr.Result = "error"
		rr.Description = truncate("could not be checked: "+res.Error, maxText)
	default:
		rr.Result = "fail"
		rr.Severity = Severity(res.Severity)
		rr.Description, rr.Properties["paths"] = failText(res, lim.MaxPaths)
		if by := LastChange(res.Diffs); by != nil {
			rr.Properties["changedBy"] = by.Manager
			if by.Subresource != "" {
				rr.Properties["changedBy"] += "/" + by.Subresource
			}
			if by.Time != nil {
				rr.Properties["changedAt"] = by.Time.UTC().Format(time.RFC3339)
			}
		}
		if res.FirstSeen != nil {
			rr.Properties["firstSeen"] = res.FirstSeen.UTC().Format(time.RFC3339Nano)
			stamp = *res.FirstSeen
		}
		if res.LastChanged != nil {
			rr.Properties["lastChanged"] = res.LastChanged.UTC().Format(time.RFC3339Nano)
		}
		rr.Properties["digest"] = res.DriftDigest()
		if len(res.Diffs) > 0 {
			rr.Properties["fields"] = strconv.Itoa(len(res.Diffs))
		}
	}
	if rr.Properties["paths"] == "" {
		delete(rr.Properties, "paths")
	}
	if rr.Properties["origin"] == "" {
		delete(rr.Properties, "origin")
	}
	rr.Timestamp = metav1.Timestamp{Seconds: stamp.Unix()}
	return rr
}

// failText says what drifted, by paths only: never a value.
func failText(res drift.Resource, maxPaths int) (msg, paths string) {
	switch res.Status {
	case drift.Missing:
		return "in Git, missing from the cluster", ""
	case drift.Extra:
		return "in the cluster with the tracking label, not in Git", ""
	}
	ps := make([]string, 0, len(res.Diffs))
	for _, d := range res.Diffs {
		ps = append(ps, d.Path)
	}
	shown := ps
	more := 0
	if len(shown) > maxPaths {
		shown, more = shown[:maxPaths], len(shown)-maxPaths
	}
	paths = strings.Join(shown, ", ")
	if more > 0 {
		paths += fmt.Sprintf(" (+%d more)", more)
	}
	noun := "fields"
	if len(ps) == 1 {
		noun = "field"
	}
	return truncate(fmt.Sprintf("%d %s drifted from Git: %s", len(ps), noun, paths), maxText), truncate(paths, maxText)
}

// LastChange is the attribution of the most recently changed diff (the
// first one with an owner when none records a time).
func LastChange(ds []drift.FieldDiff) *drift.ChangedBy {
	var best *drift.ChangedBy
	for _, d := range ds {
		c := d.ChangedBy
		if c == nil {
			continue
		}
		if best == nil || (c.Time != nil && (best.Time == nil || c.Time.After(*best.Time))) {
			best = c
		}
	}
	return best
}

func notCompared(nc drift.NotComparedObject, policy, revision string, now time.Time) orv1.ReportResult {
	rr := orv1.ReportResult{
		Source:      SourceName,
		Policy:      policy,
		Rule:        "NotCompared",
		Result:      "skip",
		Description: truncate("not compared: "+nc.Reason, maxText),
		Subjects:    []corev1.ObjectReference{{APIVersion: nc.APIVersion, Kind: nc.Kind, Namespace: nc.Namespace, Name: nc.Name}},
		Properties:  map[string]string{"file": truncate(nc.File, maxText)},
		Timestamp:   metav1.Timestamp{Seconds: now.Unix()},
	}
	if revision != "" {
		rr.Properties["revision"] = revision
	}
	return rr
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
