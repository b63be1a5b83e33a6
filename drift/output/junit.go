package output

import (
	"bytes"
	"encoding/xml"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/drift"
)

// The JUnit report is for CI test report views (GitLab, Jenkins): one test
// suite for the checked source, one test case per resource. Drifted,
// Missing and Extra resources fail, their failure message led by their
// severity ("critical: 2 fields differ from Git"); resources that could
// not be checked are errors. It follows the Jenkins JUnit schema
// (testdata/formats/schemas).

type junitTestsuites struct {
	XMLName  xml.Name         `xml:"testsuites"`
	Name     string           `xml:"name,attr"`
	Tests    int              `xml:"tests,attr"`
	Failures int              `xml:"failures,attr"`
	Errors   int              `xml:"errors,attr"`
	Suites   []junitTestsuite `xml:"testsuite"`
}

type junitTestsuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitTestcase `xml:"testcase"`
	SystemOut  *junitCData     `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// junitTestcase's elements are in the schema's order: error, failure,
// system-out.
type junitTestcase struct {
	Classname string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Error     *junitProblem `xml:"error,omitempty"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	SystemOut *junitCData   `xml:"system-out,omitempty"`
}

// Texts are CDATA sections, so that line breaks and quotes stay readable
// (encoding/xml writes them as character references in character data).
type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

type junitCData struct {
	Text string `xml:",cdata"`
}

func writeJUnit(b *bytes.Buffer, r *drift.Report) error {
	src := r.Source
	name := src.URL
	if src.Path != "" {
		name += " (" + src.Path + ")"
	}
	suite := junitTestsuite{
		Name:      xmlText(name),
		Timestamp: r.GeneratedAt.UTC().Format(time.RFC3339),
		Cases:     []junitTestcase{},
	}
	for _, p := range []junitProperty{
		{"source.url", src.URL}, {"source.ref", src.Ref}, {"source.path", src.Path},
		{"source.commit", src.Commit}, {"source.subject", src.Subject},
		{"cluster.server", r.Cluster.Server}, {"cluster.context", r.Cluster.Context},
	} {
		if p.Value != "" {
			suite.Properties = append(suite.Properties, junitProperty{p.Name, xmlText(p.Value)})
		}
	}
	if ns := r.Notices(); len(ns) > 0 {
		suite.SystemOut = &junitCData{xmlText(strings.Join(ns, "\n") + "\n")}
	}

	for _, res := range r.Resources {
		name := res.Name
		if res.Namespace != "" {
			name = res.Namespace + "/" + res.Name
		}
		tc := junitTestcase{Classname: xmlText(res.APIVersion + " " + res.Kind), Name: xmlText(name)}
		var out []string
		for _, w := range res.Warnings {
			out = append(out, "warning: "+w)
		}
		switch res.Status {
		case drift.Drifted:
			lines := make([]string, 0, len(res.Diffs))
			for _, d := range res.Diffs {
				l := d.Path + ": " + describeDiff(d)
				if c := describeChanger(d.ChangedBy); c != "" {
					l += " [" + c + "]"
				}
				if d.Severity != "" {
					l += " (" + string(d.Severity) + ")"
				}
				lines = append(lines, l)
			}
			tc.Failure = &junitProblem{Type: string(drift.Drifted), Message: severityPrefix(res) + plural(len(res.Diffs), "field differs", "fields differ") + " from Git"}
			tc.Failure.Text = junitText(lines, res)
		case drift.Missing:
			tc.Failure = &junitProblem{Type: string(drift.Missing), Message: severityPrefix(res) + "not found in the cluster"}
			tc.Failure.Text = junitText(nil, res)
		case drift.Extra:
			tc.Failure = &junitProblem{Type: string(drift.Extra), Message: severityPrefix(res) + "in the cluster with the tracking label, not in Git"}
			tc.Failure.Text = junitText(nil, res)
		case drift.Error:
			tc.Error = &junitProblem{Type: string(drift.Error), Message: oneLine(res.Error)}
			tc.Error.Text = junitText([]string{res.Error}, res)
		}
		if tc.Failure != nil {
			suite.Failures++
			tc.Failure.Message = xmlText(tc.Failure.Message)
		}
		if tc.Error != nil {
			suite.Errors++
			tc.Error.Message = xmlText(tc.Error.Message)
		}
		if len(out) > 0 {
			tc.SystemOut = &junitCData{xmlText(strings.Join(out, "\n") + "\n")}
		}
		suite.Tests++
		suite.Cases = append(suite.Cases, tc)
	}

	doc := junitTestsuites{
		Name: "driftwatch", Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors,
		Suites: []junitTestsuite{suite},
	}
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(b)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	b.WriteByte('\n')
	return nil
}

// severityPrefix leads a failure message with the resource's severity:
// "critical: ".
func severityPrefix(res drift.Resource) string {
	if res.Severity == "" {
		return ""
	}
	return string(res.Severity) + ": "
}

// junitText is the body of a failure or error: the given lines, then the
// ignored field count and the origin.
func junitText(lines []string, res drift.Resource) string {
	if res.IgnoredFields > 0 {
		lines = append(lines, "("+plural(res.IgnoredFields, "drifted field", "drifted fields")+" ignored by rules)")
	}
	if res.Origin != "" {
		lines = append(lines, "origin: "+res.Origin)
	}
	if len(lines) == 0 {
		return ""
	}
	return xmlText(strings.Join(lines, "\n") + "\n")
}

// xmlText drops what XML 1.0 cannot hold: invalid UTF-8 and control
// characters other than tab, newline and carriage return (encoding/xml
// would write U+FFFD for them).
func xmlText(s string) string {
	s = strings.ToValidUTF8(s, "")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r < 0x20, r == 0xFFFE, r == 0xFFFF:
			return ' '
		}
		return r
	}, s)
}
