package drift

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// SchemaVersion identifies the JSON report format. It changes only when a
// field is removed or changes meaning; new fields may be added within a
// version.
const SchemaVersion = "driftwatch.dev/report/v1"

// Status is the verdict on one desired resource.
type Status string

const (
	// InSync: every field the desired manifest sets has the desired value.
	InSync Status = "InSync"
	// Drifted: the object exists and at least one field differs.
	Drifted Status = "Drifted"
	// Missing: the object does not exist in the cluster.
	Missing Status = "Missing"
	// Error: the resource could not be checked (kind not served, no
	// permission to list it, informer did not sync); Error says why.
	Error Status = "Error"
	// Extra: a live object that carries the tracking label but is no
	// longer in Git (reported with --detect-extra only).
	Extra Status = "Extra"
)

// Resource is the verdict on one desired object.
type Resource struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	// Origin is the file or kustomization the object was rendered from.
	Origin string `json:"origin,omitempty"`
	Status Status `json:"status"`
	// Diffs lists the drifted fields, sorted by path; only when Drifted.
	Diffs []FieldDiff `json:"diffs,omitempty"`
	// Error says why the resource could not be checked; only when Error.
	Error string `json:"error,omitempty"`
	// Warnings are the API server's warnings about the resource's kind and
	// version (e.g. deprecation), as it sent them.
	Warnings []string `json:"warnings,omitempty"`
	// IgnoredFields counts drifted fields that ignore rules dropped.
	IgnoredFields int `json:"ignoredFields,omitempty"`
	// NotCompared names fields Git holds encrypted (SOPS) that could not
	// be decrypted: they were not compared. It also names the fields that
	// hold the hashed name of an object generated from such a file (a
	// Deployment's envFrom naming a kustomize secretGenerator's Secret).
	NotCompared []string `json:"notCompared,omitempty"`
	// NotComparedWhy says why a path of NotCompared was not compared when
	// Git does not hold it encrypted itself ("names Secret
	// prod-app-env-*, generated from app.env, ..."); absent for encrypted
	// fields.
	NotComparedWhy map[string]string `json:"notComparedWhy,omitempty"`
	// Confirmed is true when a server-side dry run confirmed the diffs
	// (--confirm=server).
	Confirmed bool `json:"confirmed,omitempty"`
	// Severity is the highest of the diffs' severities when Drifted, the
	// resource's own when Missing or Extra (Config.Classify); none when
	// InSync or Error.
	Severity Severity `json:"severity,omitempty"`

	// FirstSeen is when the current drift was first seen, LastChanged when
	// it last changed, ResolvedAt when the resource came back in sync
	// (watch only).
	FirstSeen   *time.Time `json:"firstSeen,omitempty"`
	LastChanged *time.Time `json:"lastChanged,omitempty"`
	ResolvedAt  *time.Time `json:"resolvedAt,omitempty"`
}

// DriftDigest identifies what drifted, never the values: the status and
// each drifted field's path and type, as a short hash. Reports carry it so
// that a later process can tell the same drift from new drift.
func (r Resource) DriftDigest() string {
	h := sha256.New()
	h.Write([]byte(r.Status))
	for _, d := range r.Diffs {
		h.Write([]byte{0})
		h.Write([]byte(d.Path))
		h.Write([]byte{1})
		h.Write([]byte(d.Type))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// ID names the resource as Kind namespace/name.
func (r Resource) ID() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// Summary counts resources by status.
type Summary struct {
	Total   int `json:"total"`
	InSync  int `json:"inSync"`
	Drifted int `json:"drifted"`
	Missing int `json:"missing"`
	Errors  int `json:"errors"`
	Extra   int `json:"extra"`
	// IgnoredFields counts drifted fields dropped by ignore rules.
	IgnoredFields int `json:"ignoredFields"`
	// Excluded counts desired objects left out by targeting flags
	// (--selector, --names, --namespaces, --kinds and their exclusions).
	Excluded int `json:"excluded"`
	// NotCompared counts the desired objects not compared at all
	// (Report.NotCompared); they are not among Total.
	NotCompared int `json:"notCompared,omitempty"`
	// Critical, Warning and Info count the Drifted, Missing and Extra
	// resources by severity; absent when zero.
	Critical int `json:"critical,omitempty"`
	Warning  int `json:"warning,omitempty"`
	Info     int `json:"info,omitempty"`
}

// Source identifies the desired state a report compares: the repository
// (or directory), ref, path and commit it was rendered from. The pipeline
// fills it from the source's revision; the engine never reads Git.
type Source struct {
	// URL is the repository URL with any password removed, or the directory.
	URL string `json:"url"`
	// Ref is the ref asked for (empty: the default branch).
	Ref string `json:"ref,omitempty"`
	// Path is the rendered path inside the repository.
	Path string `json:"path,omitempty"`
	// Commit is the full SHA of the rendered commit; empty for a directory
	// that is not inside a Git work tree, and for an OCI artifact.
	Commit string `json:"commit,omitempty"`
	// Digest is the manifest digest (sha256:...) of an OCI artifact.
	Digest string `json:"digest,omitempty"`
	// AuthorTime and Subject describe the commit.
	AuthorTime *time.Time `json:"authorTime,omitempty"`
	Subject    string     `json:"subject,omitempty"`
	// Skipped counts rendered objects that are not desired state (Helm
	// hooks and test Pods), by reason.
	Skipped map[string]int `json:"skipped,omitempty"`
}

// Cluster identifies the cluster checked.
type Cluster struct {
	Server  string `json:"server"`
	Context string `json:"context,omitempty"`
	Version string `json:"version,omitempty"`
	// Defaults is the Kubernetes version whose built-in defaults the
	// comparison knows (compiled in); when its minor version differs from
	// the cluster's, the report says so, since defaults may differ.
	Defaults string `json:"defaults,omitempty"`
}

// DefaultsSkew reports whether the compiled-in defaults come from another
// minor version than the cluster's.
func (c Cluster) DefaultsSkew() bool {
	minor := func(v string) string {
		parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
		if len(parts) < 2 {
			return ""
		}
		return parts[0] + "." + parts[1]
	}
	a, b := minor(c.Version), minor(c.Defaults)
	return a != "" && b != "" && a != b
}

// Report is the result of one drift check. Its JSON form is versioned by
// SchemaVersion.
type Report struct {
	SchemaVersion string     `json:"schemaVersion"`
	GeneratedAt   time.Time  `json:"generatedAt"`
	Source        Source     `json:"source"`
	Cluster       Cluster    `json:"cluster"`
	Summary       Summary    `json:"summary"`
	Resources     []Resource `json:"resources"`
	// NotCompared are the desired objects that could not be compared at
	// all, because Git holds them (or what they are made from) encrypted
	// and no key given opens the file; they are not among Resources.
	NotCompared []NotComparedObject `json:"notCompared,omitempty"`
	// Stale is set (watch only) while Git cannot be read: the report shows
	// the last good desired state.
	Stale *Stale `json:"stale,omitempty"`
	// Disconnected is set (watch only) while the API server cannot be
	// listed or watched for some of the resources: their live state is the
	// last one seen, and changes made meanwhile show up once it is back.
	Disconnected *Stale `json:"disconnected,omitempty"`
}

// How a NotComparedObject depends on its encrypted file.
const (
	// ViaFile: the object is in the file, encrypted whole (its kind or
	// name too).
	ViaFile = "file"
	// ViaGenerator: a kustomize secretGenerator or configMapGenerator made
	// it from the file.
	ViaGenerator = "generator"
	// ViaValues: a Helm chart rendered it with the file as values.
	ViaValues = "values"
)

// NotComparedObject is a desired object that could not be compared at
// all: Git holds it, or what it is made from, encrypted with SOPS, and no
// key given opens the file. Comparing what Git shows of it would be a
// guess (its data is ciphertext, its name may be a hash of ciphertext).
type NotComparedObject struct {
	// APIVersion, Kind, Namespace and Name are what Git shows of the object
	// in clear; empty where encrypted. A name kustomize hashed from the
	// file's ciphertext ends in "-*": the cluster's is the plaintext's hash.
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name,omitempty"`
	// File is the encrypted file, relative to the source's root.
	File string `json:"file"`
	// Via says how the object depends on File: ViaFile, ViaGenerator or
	// ViaValues.
	Via string `json:"via"`
	// Reason says it in words, as the text report does ("generated from
	// app.env, encrypted in Git (SOPS), no key opens it").
	Reason string `json:"reason"`
}

// Label names the object: Kind namespace/name when Git shows them in
// clear, else its file.
func (o NotComparedObject) Label() string {
	if o.Kind == "" || o.Name == "" {
		return o.File
	}
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// Describe says how the object depends on its file, for Reason.
func (o NotComparedObject) Describe() string {
	const sealed = "encrypted in Git (SOPS), no key opens it"
	switch {
	case o.Via == ViaGenerator:
		return "generated from " + o.File + ", " + sealed
	case o.Via == ViaValues:
		return "rendered with values file " + o.File + ", " + sealed
	case o.Label() == o.File:
		return "kind and name " + sealed
	}
	return "in " + o.File + ", " + sealed
}

// Stale says why and since when part of a report is not current.
type Stale struct {
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

// Notices are the sentences every format shows above a report whose
// desired or live state is not current (watch only; empty for check).
func (r *Report) Notices() []string {
	var out []string
	if r.Stale != nil {
		out = append(out, "Stale report: Git could not be read since "+fmtTime(r.Stale.Since)+
			" ("+r.Stale.Reason+"); it shows the last good desired state.")
	}
	if r.Cluster.DefaultsSkew() {
		out = append(out, "The cluster runs Kubernetes "+r.Cluster.Version+"; the server defaults driftwatch knows are those of "+
			r.Cluster.Defaults+": a default that changed between them may show as drift.")
	}
	if r.Disconnected != nil {
		out = append(out, "Live state may be out of date: the API server could not be watched since "+fmtTime(r.Disconnected.Since)+
			" ("+r.Disconnected.Reason+"); the report shows the last state seen, and changes made meanwhile will show once watching resumes.")
	}
	return out
}

// NewReport assembles a report and computes its summary. A Drifted,
// Missing or Extra resource that was not classified gets a severity as
// Config.Classify's defaults would give it (an Extra object found outside
// the Evaluator); a Drifted one whose diffs were, the highest of theirs.
func NewReport(now time.Time, src Source, cl Cluster, resources []Resource) *Report {
	r := &Report{
		SchemaVersion: SchemaVersion, GeneratedAt: now.UTC(), Source: src, Cluster: cl,
		Resources: resources,
	}
	if r.Resources == nil {
		r.Resources = []Resource{}
	}
	for i := range resources {
		res := &resources[i]
		if res.Severity == "" {
			res.Severity = derivedSeverity(res)
		}
		switch res.Severity {
		case SeverityCritical:
			r.Summary.Critical++
		case SeverityWarning:
			r.Summary.Warning++
		case SeverityInfo:
			r.Summary.Info++
		}
		r.Summary.Total++
		switch res.Status {
		case InSync:
			r.Summary.InSync++
		case Drifted:
			r.Summary.Drifted++
		case Missing:
			r.Summary.Missing++
		case Error:
			r.Summary.Errors++
		case Extra:
			r.Summary.Extra++
		}
		r.Summary.IgnoredFields += res.IgnoredFields
	}
	return r
}

// derivedSeverity is the severity of a resource nobody classified: the
// highest of its diffs' when Drifted, the built-in rules' when Missing or
// Extra.
func derivedSeverity(res *Resource) Severity {
	switch res.Status {
	case Drifted:
		var s Severity
		for _, d := range res.Diffs {
			if d.Severity.Rank() > s.Rank() {
				s = d.Severity
			}
		}
		return s
	case Missing, Extra:
		whole := Resource{APIVersion: res.APIVersion, Kind: res.Kind, Namespace: res.Namespace, Name: res.Name, Status: res.Status}
		(*Config)(nil).Classify(&whole)
		return whole.Severity
	}
	return ""
}

// HasDrift reports whether any resource is Drifted, Missing or Extra.
func (r *Report) HasDrift() bool { return r.Summary.Drifted+r.Summary.Missing+r.Summary.Extra > 0 }

// HasErrors reports whether any resource could not be checked.
func (r *Report) HasErrors() bool { return r.Summary.Errors > 0 }

// fmtTime is how reports show a time: UTC, to the second.
func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") }
