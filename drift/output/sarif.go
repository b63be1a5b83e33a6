package output

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/drift"
)

// The SARIF report (2.1.0) is for code-scanning UIs: one result per
// drifted field and one per Missing, Extra or Error resource, located at
// the manifest (or kustomization) the resource came from. A result's level
// is its severity's (critical error, warning warning, info note); the
// fingerprint leaves severity out, so reclassifying keeps the alert.

const (
	sarifSchemaURI = "https://json.schemastore.org/sarif-2.1.0.json"
	sarifToolURI   = "https://github.com/driftwatch/driftwatch"
	// sarifFingerprintKey names the partial fingerprint; bump its version
	// only if what it hashes changes.
	sarifFingerprintKey = "driftwatch/v1"
)

// sarifRules are the rules every run declares, in ruleIndex order.
var sarifRules = []sarifRule{
	{ID: "DW001", Name: "field-drifted",
		ShortDescription:     sarifMessage{Text: "A field differs from the value in Git."},
		FullDescription:      &sarifMessage{Text: "The live object sets a field the desired manifest sets, to another value, or does not set it, or holds its list items in another order."},
		DefaultConfiguration: sarifRuleConfig{Level: "warning"}},
	{ID: "DW002", Name: "resource-missing",
		ShortDescription:     sarifMessage{Text: "A resource in Git is not in the cluster."},
		FullDescription:      &sarifMessage{Text: "The desired object does not exist in the cluster."},
		DefaultConfiguration: sarifRuleConfig{Level: "error"}},
	{ID: "DW003", Name: "resource-extra",
		ShortDescription:     sarifMessage{Text: "A resource in the cluster is no longer in Git."},
		FullDescription:      &sarifMessage{Text: "A live object carries the tracking label but is no longer rendered from Git."},
		DefaultConfiguration: sarifRuleConfig{Level: "warning"}},
	{ID: "DW004", Name: "resource-error",
		ShortDescription:     sarifMessage{Text: "A resource could not be checked."},
		FullDescription:      &sarifMessage{Text: "The resource could not be compared with the cluster: its kind is not served, listing it is forbidden, or its informer did not sync."},
		DefaultConfiguration: sarifRuleConfig{Level: "error"}},
}

const (
	ruleFieldDrifted = iota
	ruleResourceMissing
	ruleResourceExtra
	ruleResourceError
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool                     sarifTool         `json:"tool"`
	AutomationDetails        sarifAutomation   `json:"automationDetails"`
	VersionControlProvenance []sarifVersionCtl `json:"versionControlProvenance,omitempty"`
	Results                  []sarifResult     `json:"results"`
	Properties               map[string]any    `json:"properties,omitempty"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string          `json:"id"`
	Name                 string          `json:"name"`
	ShortDescription     sarifMessage    `json:"shortDescription"`
	FullDescription      *sarifMessage   `json:"fullDescription,omitempty"`
	DefaultConfiguration sarifRuleConfig `json:"defaultConfiguration"`
}

type sarifRuleConfig struct {
	Level string `json:"level"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifAutomation struct {
	ID string `json:"id"`
}

type sarifVersionCtl struct {
	RepositoryURI string `json:"repositoryUri"`
	RevisionID    string `json:"revisionId,omitempty"`
	Branch        string `json:"branch,omitempty"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifMessage      `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]any    `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

func writeSARIF(b *bytes.Buffer, r *drift.Report) error {
	src := r.Source
	run := sarifRun{
		Tool: sarifTool{Driver: sarifDriver{
			Name: "driftwatch", InformationURI: sarifToolURI, Rules: sarifRules,
		}},
		AutomationDetails: sarifAutomation{ID: "driftwatch/" + src.URL + "/" + src.Path},
		Results:           []sarifResult{},
		Properties:        map[string]any{},
	}
	if u, err := url.Parse(src.URL); err == nil && u.IsAbs() && u.Host != "" && src.Commit != "" {
		run.VersionControlProvenance = []sarifVersionCtl{{RepositoryURI: src.URL, RevisionID: src.Commit, Branch: src.Ref}}
	}
	for k, v := range map[string]string{
		"repository": src.URL, "ref": src.Ref, "path": src.Path, "commit": src.Commit,
		"cluster": r.Cluster.Server, "clusterContext": r.Cluster.Context,
	} {
		if v != "" {
			run.Properties[k] = v
		}
	}
	if !r.GeneratedAt.IsZero() {
		run.Properties["generatedAt"] = r.GeneratedAt.UTC().Format(time.RFC3339)
	}
	if r.Stale != nil {
		run.Properties["stale"] = map[string]string{
			"reason": r.Stale.Reason, "since": r.Stale.Since.UTC().Format(time.RFC3339),
		}
	}
	if r.Disconnected != nil {
		run.Properties["disconnected"] = map[string]string{
			"reason": r.Disconnected.Reason, "since": r.Disconnected.Since.UTC().Format(time.RFC3339),
		}
	}

	for _, res := range r.Resources {
		who := res.APIVersion + " " + res.ID()
		switch res.Status {
		case drift.Drifted:
			if len(res.Diffs) == 0 {
				run.Results = append(run.Results, sarifResultFor(res, ruleFieldDrifted, "", "", res.Severity, who+": differs from Git"))
			}
			for _, d := range res.Diffs {
				text := who + ": " + d.Path + ": " + describeDiff(d)
				if c := describeChanger(d.ChangedBy); c != "" {
					text += " (changed by " + c + ")"
				}
				run.Results = append(run.Results, sarifResultFor(res, ruleFieldDrifted, d.Path, d.Type, d.Severity, text))
			}
		case drift.Missing:
			run.Results = append(run.Results, sarifResultFor(res, ruleResourceMissing, "", "", res.Severity, who+": not found in the cluster"))
		case drift.Extra:
			run.Results = append(run.Results, sarifResultFor(res, ruleResourceExtra, "", "", res.Severity, who+": in the cluster with the tracking label, not in Git"))
		case drift.Error:
			run.Results = append(run.Results, sarifResultFor(res, ruleResourceError, "", "", "", who+": could not be checked: "+oneLine(res.Error)))
		}
	}

	enc := json.NewEncoder(b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(sarifLog{Schema: sarifSchemaURI, Version: "2.1.0", Runs: []sarifRun{run}})
}

// sarifLevels maps severities to SARIF levels; a result without a
// severity has its rule's default level.
var sarifLevels = map[drift.Severity]string{
	drift.SeverityCritical: "error", drift.SeverityWarning: "warning", drift.SeverityInfo: "note",
}

func sarifResultFor(res drift.Resource, rule int, path string, dt drift.DiffType, sev drift.Severity, text string) sarifResult {
	rd := sarifRules[rule]
	level := rd.DefaultConfiguration.Level
	if l, ok := sarifLevels[sev]; ok {
		level = l
	}
	props := map[string]any{
		"apiVersion": res.APIVersion, "kind": res.Kind, "name": res.Name, "status": string(res.Status),
	}
	if res.Namespace != "" {
		props["namespace"] = res.Namespace
	}
	if path != "" {
		props["path"] = path
		props["diffType"] = string(dt)
	}
	if len(res.Warnings) > 0 {
		props["warnings"] = res.Warnings
	}
	if res.Confirmed {
		props["confirmed"] = true
	}
	if sev != "" {
		props["severity"] = string(sev)
	}
	return sarifResult{
		RuleID:    rd.ID,
		RuleIndex: rule,
		Level:     level,
		Message:   sarifMessage{Text: strings.ToValidUTF8(text, "")},
		Locations: []sarifLocation{sarifLocationOf(res)},
		PartialFingerprints: map[string]string{
			sarifFingerprintKey: sarifFingerprint(res, path, rd.Name),
		},
		Properties: props,
	}
}

// sarifFingerprint identifies a result across runs: it hashes what the
// result is about (the object, the field and the rule, by name), never a
// value or a time, so the same drift keeps its alert while it lasts, even
// if the field's diff type changes (Changed to Removed).
func sarifFingerprint(res drift.Resource, path, rule string) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{res.APIVersion, res.Kind, res.Namespace, res.Name, path, rule}, "|")))
	return hex.EncodeToString(sum[:])
}

// sarifLocationOf locates a resource at its origin, "file:line" or a
// kustomization, and always names it logically as Kind/namespace/name.
func sarifLocationOf(res drift.Resource) sarifLocation {
	fqn := res.Kind + "/" + res.Name
	if res.Namespace != "" {
		fqn = res.Kind + "/" + res.Namespace + "/" + res.Name
	}
	loc := sarifLocation{LogicalLocations: []sarifLogical{{FullyQualifiedName: fqn, Kind: "resource"}}}
	if res.Origin == "" {
		return loc
	}
	file, line := splitOrigin(res.Origin)
	p := &sarifPhysical{ArtifactLocation: sarifArtifact{URI: (&url.URL{Path: filepath.ToSlash(file)}).String()}}
	if line > 0 {
		p.Region = &sarifRegion{StartLine: line}
	}
	loc.PhysicalLocation = p
	return loc
}

// splitOrigin splits "file:12" into the file and line; line is 0 when the
// origin has no line (a kustomization).
func splitOrigin(origin string) (string, int) {
	i := strings.LastIndexByte(origin, ':')
	if i <= 0 {
		return origin, 0
	}
	n, err := strconv.Atoi(origin[i+1:])
	if err != nil || n <= 0 || strings.HasPrefix(origin[i+1:], "+") {
		return origin, 0
	}
	return origin[:i], n
}
