package fleet

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unique"

	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline/reports"
)

// ReportObject is what the hub keeps of one report object (Report or
// ClusterReport, OpenReports or PolicyReport) once parsed: its results
// as Resources, and the heartbeat if it carries one. The object itself is
// not kept.
type ReportObject struct {
	Policy    string
	CheckedAt time.Time // zero unless this is a source's base object
	Agent     string
	Resources []Resource
}

// ParseReport reads one report object a driftwatch agent wrote (see
// drift/pipeline/reports) for cluster. Results of another source
// (another tool's reports sharing the CRD) are skipped; a result without
// exactly one subject is skipped.
func ParseReport(cluster string, u *unstructured.Unstructured) (ReportObject, error) {
	var rep orv1.Report
	// A PolicyReport's results have an OpenReports result's fields, under
	// the same names; a ClusterReport's are a Report's.
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &rep); err != nil {
		return ReportObject{}, fmt.Errorf("fleet: read %s %s: %w", u.GetKind(), objectName(u), err)
	}
	ann := u.GetAnnotations()
	out := ReportObject{Policy: ann[reports.SourceAnnotation], Agent: ann[reports.AgentAnnotation]}
	if t, err := time.Parse(time.RFC3339, ann[reports.CheckedAtAnnotation]); err == nil {
		out.CheckedAt = t
	}
	out.Resources = make([]Resource, 0, len(rep.Results))
	for _, r := range rep.Results {
		if r.Source != reports.SourceName || len(r.Subjects) != 1 {
			continue
		}
		s := r.Subjects[0]
		p := r.Properties
		// The strings that repeat across results, objects and clusters
		// are kept once: a hub holds a thousand clusters' results.
		res := Resource{
			Cluster: cluster, APIVersion: intern(s.APIVersion), Kind: intern(s.Kind), Namespace: intern(s.Namespace), Name: s.Name,
			Status: drift.Status(intern(r.Rule)), Severity: severity(string(r.Severity)),
			ChangedBy: intern(p["changedBy"]), ChangedAt: parseTime(p["changedAt"]),
			FirstSeen: parseTime(p["firstSeen"]), LastChanged: parseTime(p["lastChanged"]),
			Digest: p["digest"], Policy: intern(r.Policy), Revision: intern(p["revision"]), Description: r.Description,
		}
		if r.Result == "pass" {
			res.Description = intern(r.Description)
		}
		res.Fields, _ = strconv.Atoi(p["fields"])
		res.Paths, res.MorePaths = splitPaths(p["paths"])
		if r.Result == "skip" {
			res.Status = drift.Status(r.Rule) // NotCompared
		}
		out.Resources = append(out.Resources, res)
	}
	return out, nil
}

// intern returns the one copy of s the process keeps.
func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// severity maps OpenReports' levels back to driftwatch's (the inverse of
// reports.Severity).
func severity(s string) drift.Severity {
	switch s {
	case "critical", "high":
		return drift.SeverityCritical
	case "medium":
		return drift.SeverityWarning
	case "low", "info":
		return drift.SeverityInfo
	}
	return ""
}

func parseTime(s string) *time.Time {
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	return &t
}

// splitPaths reads the paths property: "a, b (+3 more)".
func splitPaths(s string) ([]string, int) {
	if s == "" {
		return nil, 0
	}
	more := 0
	if i := strings.LastIndex(s, " (+"); i >= 0 && strings.HasSuffix(s, " more)") {
		more, _ = strconv.Atoi(strings.TrimSuffix(s[i+3:], " more)"))
		s = s[:i]
	}
	return strings.Split(s, ", "), more
}

func objectName(u *unstructured.Unstructured) string {
	if u.GetNamespace() != "" {
		return u.GetNamespace() + "/" + u.GetName()
	}
	return u.GetName()
}
