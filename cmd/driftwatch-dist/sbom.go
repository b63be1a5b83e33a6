package main

import (
	"debug/buildinfo"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"runtime/debug"
	"strings"
	"time"
	"unicode"
)

// The parts of an SPDX 2.3 document (https://spdx.github.io/spdx-spec/v2.3/)
// an SBOM of a Go binary fills in.
type (
	spdxDocument struct {
		SPDXVersion       string             `json:"spdxVersion"`
		DataLicense       string             `json:"dataLicense"`
		SPDXID            string             `json:"SPDXID"`
		Name              string             `json:"name"`
		DocumentNamespace string             `json:"documentNamespace"`
		CreationInfo      spdxCreationInfo   `json:"creationInfo"`
		Packages          []spdxPackage      `json:"packages"`
		Relationships     []spdxRelationship `json:"relationships"`
	}
	spdxCreationInfo struct {
		Created  string   `json:"created"`
		Creators []string `json:"creators"`
	}
	spdxPackage struct {
		SPDXID                string            `json:"SPDXID"`
		Name                  string            `json:"name"`
		VersionInfo           string            `json:"versionInfo,omitempty"`
		PackageFileName       string            `json:"packageFileName,omitempty"`
		Homepage              string            `json:"homepage,omitempty"`
		DownloadLocation      string            `json:"downloadLocation"`
		FilesAnalyzed         bool              `json:"filesAnalyzed"`
		Checksums             []spdxChecksum    `json:"checksums,omitempty"`
		LicenseConcluded      string            `json:"licenseConcluded"`
		LicenseDeclared       string            `json:"licenseDeclared"`
		CopyrightText         string            `json:"copyrightText"`
		Comment               string            `json:"comment,omitempty"`
		ExternalRefs          []spdxExternalRef `json:"externalRefs,omitempty"`
		PrimaryPackagePurpose string            `json:"primaryPackagePurpose,omitempty"`
	}
	spdxChecksum struct {
		Algorithm     string `json:"algorithm"`
		ChecksumValue string `json:"checksumValue"`
	}
	spdxExternalRef struct {
		ReferenceCategory string `json:"referenceCategory"`
		ReferenceType     string `json:"referenceType"`
		ReferenceLocator  string `json:"referenceLocator"`
	}
	spdxRelationship struct {
		SPDXElementID      string `json:"spdxElementId"`
		RelatedSPDXElement string `json:"relatedSpdxElement"`
		RelationshipType   string `json:"relationshipType"`
	}
)

const (
	noAssertion = "NOASSERTION"
	// goProxy serves every public module's zip (what go.sum's h1: hash is
	// computed over once unpacked).
	goProxy = "https://proxy.golang.org/"
)

// sbomName names the SBOM of p's binary.
func sbomName(version string, p platform) string {
	return fmt.Sprintf("driftwatch_%s_%s_%s.spdx.json", version, p.OS, p.Arch)
}

// sbomInput is what an SBOM describes: one binary of the release.
type sbomInput struct {
	Version   string
	Platform  platform
	Info      *buildinfo.BuildInfo
	BinarySHA string // sha256 of the binary, hex
	Archive   string // URL of the archive it ships in
	Namespace string // the document's URI, unique to it
	Created   time.Time
}

// sbom returns the SPDX 2.3 JSON document of one binary: the binary (the
// document describes it), and the modules it contains as its build
// information records them: the main module at the release's version,
// every dependency with its version and go.sum hash, a replaced module as
// its replacement (the code compiled in) with the replace directive in its
// comment, and the Go standard library.
func sbom(in sbomInput) ([]byte, error) {
	bi := in.Info
	settings := make([]string, 0, len(bi.Settings))
	for _, s := range bi.Settings {
		settings = append(settings, s.Key+"="+s.Value)
	}
	ids := spdxIDs{}
	bin := spdxPackage{
		SPDXID:                ids.next("Package-" + binaryName),
		Name:                  binaryName,
		VersionInfo:           in.Version,
		PackageFileName:       binaryName,
		DownloadLocation:      in.Archive,
		Checksums:             []spdxChecksum{{"SHA256", in.BinarySHA}},
		Comment:               fmt.Sprintf("Go binary for %s built by %s from %s with %s", in.Platform, bi.GoVersion, bi.Path, strings.Join(settings, " ")),
		PrimaryPackagePurpose: "APPLICATION",
	}
	pkgs := []spdxPackage{bin}
	mainMod := moduleFields(bi.Main, in.Version)
	mainMod.Comment = "main module"
	mainMod.Homepage = homepage
	pkgs = append(pkgs, mainMod)
	for _, dep := range bi.Deps {
		pkgs = append(pkgs, moduleFields(*dep, ""))
	}
	goVersion, _, _ := strings.Cut(bi.GoVersion, " ")
	pkgs = append(pkgs, spdxPackage{
		Name:             "stdlib",
		VersionInfo:      goVersion,
		DownloadLocation: "https://go.dev/dl/",
		Comment:          "the Go standard library and runtime, " + bi.GoVersion,
		ExternalRefs:     []spdxExternalRef{purlRef("stdlib", strings.TrimPrefix(goVersion, "go"))},
	})
	rels := []spdxRelationship{{"SPDXRef-DOCUMENT", bin.SPDXID, "DESCRIBES"}}
	for i := range pkgs {
		p := &pkgs[i]
		if i > 0 {
			p.SPDXID = ids.next("Module-" + p.Name)
			rels = append(rels, spdxRelationship{bin.SPDXID, p.SPDXID, "CONTAINS"})
		}
		p.LicenseConcluded, p.LicenseDeclared, p.CopyrightText = noAssertion, noAssertion, noAssertion
	}
	doc := spdxDocument{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            "SPDXRef-DOCUMENT",
		Name:              strings.TrimSuffix(sbomName(in.Version, in.Platform), ".spdx.json"),
		DocumentNamespace: in.Namespace,
		CreationInfo: spdxCreationInfo{
			Created:  in.Created.UTC().Format(time.RFC3339),
			Creators: []string{"Tool: driftwatch-dist"},
		},
		Packages:      pkgs,
		Relationships: rels,
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("sbom: %w", err)
	}
	return append(out, '\n'), nil
}

// moduleFields is the SPDX package of a module the binary contains (its
// SPDXID is set later); version, when set, overrides the recorded one
// (the main module's is "(devel)" without VCS stamping).
func moduleFields(m debug.Module, version string) spdxPackage {
	var comment string
	if r := m.Replace; r != nil {
		comment = strings.TrimSpace(fmt.Sprintf("go.mod: replace %s %s => %s %s", m.Path, m.Version, r.Path, r.Version))
		m = *r
	}
	if version != "" {
		m.Version = version
	}
	p := spdxPackage{Name: m.Path, VersionInfo: m.Version, DownloadLocation: noAssertion, Comment: comment}
	if m.Version == "" || m.Version == "(devel)" {
		p.VersionInfo = ""
		if comment != "" {
			p.Comment = comment + "; a directory, not a module version"
		}
		return p
	}
	p.ExternalRefs = []spdxExternalRef{purlRef(m.Path, m.Version)}
	if m.Sum != "" {
		p.DownloadLocation = goProxy + escapeModulePath(m.Path) + "/@v/" + escapeModulePath(m.Version) + ".zip"
		if h, ok := strings.CutPrefix(m.Sum, "h1:"); ok {
			if raw, err := base64.StdEncoding.DecodeString(h); err == nil && len(raw) == 32 {
				// go.sum's h1: hash is a SHA-256 (over the module's file
				// hashes, not over the zip); both forms are kept.
				p.Checksums = []spdxChecksum{{"SHA256", hex.EncodeToString(raw)}}
			}
		}
		p.Comment = strings.TrimPrefix(p.Comment+"; go.sum "+m.Sum, "; ")
	}
	return p
}

// purlRef is a module's package URL (pkg:golang/<path>@<version>).
func purlRef(path, version string) spdxExternalRef {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return spdxExternalRef{
		ReferenceCategory: "PACKAGE-MANAGER",
		ReferenceType:     "purl",
		ReferenceLocator:  "pkg:golang/" + strings.Join(segs, "/") + "@" + url.PathEscape(version),
	}
}

// escapeModulePath is the module proxy's case encoding: an upper-case
// letter becomes "!" and the letter in lower case (golang.org/x/mod's
// module.EscapePath, for paths that are already valid).
func escapeModulePath(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// spdxIDs hands out SPDX identifiers (SPDXRef- and letters, digits, "."
// and "-"), unique within a document.
type spdxIDs map[string]bool

func (ids spdxIDs) next(name string) string {
	id := "SPDXRef-" + strings.Map(func(r rune) rune {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '-') {
			return r
		}
		return '-'
	}, name)
	base := id
	for n := 2; ids[id]; n++ {
		id = fmt.Sprintf("%s-%d", base, n)
	}
	ids[id] = true
	return id
}
