package main

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/version"
)

// krewManifestName is the krew plugin manifest's file. (In the krew index
// it would be plugins/drift.yaml, named for the plugin.)
const krewManifestName = "driftwatch.yaml"

// krewPluginName is the plugin's name: krew links kubectl-drift to the
// binary, and kubectl runs it as `kubectl drift`.
const krewPluginName = "drift"

// The krew plugin manifest, apiVersion krew.googlecontainertools.github.com/v1alpha2
// (https://krew.sigs.k8s.io/docs/developer-guide/plugin-manifest/), in
// the order krew's documentation writes its fields.
type (
	krewPlugin struct {
		APIVersion string       `yaml:"apiVersion"`
		Kind       string       `yaml:"kind"`
		Metadata   krewMetadata `yaml:"metadata"`
		Spec       krewSpec     `yaml:"spec"`
	}
	krewMetadata struct {
		Name string `yaml:"name"`
	}
	krewSpec struct {
		Version          string         `yaml:"version"`
		Homepage         string         `yaml:"homepage"`
		ShortDescription string         `yaml:"shortDescription"`
		Description      string         `yaml:"description"`
		Platforms        []krewPlatform `yaml:"platforms"`
	}
	krewPlatform struct {
		Selector krewSelector `yaml:"selector"`
		URI      string       `yaml:"uri"`
		SHA256   string       `yaml:"sha256"`
		Files    []krewFile   `yaml:"files"`
		Bin      string       `yaml:"bin"`
	}
	krewSelector struct {
		MatchLabels krewLabels `yaml:"matchLabels"`
	}
	krewLabels struct {
		OS   string `yaml:"os"`
		Arch string `yaml:"arch"`
	}
	krewFile struct {
		From string `yaml:"from"`
		To   string `yaml:"to"`
	}
)

const krewDescription = `driftwatch reports how a Kubernetes cluster has drifted from the
manifests in Git, field by field: it renders the desired state from a
Git repository, a directory or an OCI artifact (plain YAML, kustomize or
a Helm chart, SOPS-encrypted files decrypted), reads the live objects and
prints every difference with its path, the desired and the live value
and the field manager that changed it, leaving out what the API server
defaults. It can also put Git back (revert), put the cluster into Git
(adopt), compute least-privilege RBAC and watch continuously.
Secret values never appear in its output.
`

// krewArchive is one archive the manifest installs from.
type krewArchive struct {
	Platform platform
	URI      string
	SHA256   string
	// Files are the archive's files krew copies into the plugin's
	// directory; the binary is among them.
	Files []string
}

// krewVersion is the manifest's spec.version, which krew requires to be a
// semantic version with a "v": the release's version when it is one (a
// "v" added when missing), else v0.0.0- and the version (a build of a commit that is no release,
// named by git describe: v0.0.0-d03a077-dirty).
func krewVersion(v string) (string, error) {
	if _, err := version.ParseSemantic(v); err == nil {
		return "v" + strings.TrimPrefix(v, "v"), nil
	}
	pre := "v0.0.0-" + strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '.' {
			return r
		}
		return '-'
	}, v)
	if _, err := version.ParseSemantic(pre); err != nil {
		return "", fmt.Errorf("krew manifest: version %q is not semantic and %q neither: %w", v, pre, err)
	}
	return pre, nil
}

// krewManifest returns the krew plugin manifest for the archives.
func krewManifest(releaseVersion string, archives []krewArchive) ([]byte, error) {
	v, err := krewVersion(releaseVersion)
	if err != nil {
		return nil, err
	}
	m := krewPlugin{
		APIVersion: "krew.googlecontainertools.github.com/v1alpha2",
		Kind:       "Plugin",
		Metadata:   krewMetadata{Name: krewPluginName},
		Spec: krewSpec{
			Version:          v,
			Homepage:         homepage,
			ShortDescription: "Show how a cluster drifted from Git",
			Description:      krewDescription,
		},
	}
	for _, a := range archives {
		pl := krewPlatform{
			Selector: krewSelector{krewLabels{OS: a.Platform.OS, Arch: a.Platform.Arch}},
			URI:      a.URI,
			SHA256:   a.SHA256,
			Bin:      binaryName,
		}
		for _, f := range a.Files {
			pl.Files = append(pl.Files, krewFile{From: f, To: "."})
		}
		m.Spec.Platforms = append(m.Spec.Platforms, pl)
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("krew manifest: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("krew manifest: %w", err)
	}
	return []byte(b.String()), nil
}
