package gitsource

import (
	"context"
	"fmt"
	"strings"
)

// RenderMode says how a directory is rendered.
type RenderMode string

// Render modes. Auto looks at the directory: a Chart.yaml means a Helm
// chart, a kustomization means kustomize, anything else plain YAML.
const (
	RenderAuto      RenderMode = ""
	RenderHelm      RenderMode = "helm"
	RenderKustomize RenderMode = "kustomize"
	RenderPlain     RenderMode = "plain"
)

// ParseRenderMode reads a --render value.
func ParseRenderMode(s string) (RenderMode, error) {
	switch m := RenderMode(strings.ToLower(s)); m {
	case "auto":
		return RenderAuto, nil
	case RenderAuto, RenderHelm, RenderKustomize, RenderPlain:
		return m, nil
	}
	return "", fmt.Errorf("render mode %q: want auto, helm, kustomize or plain", s)
}

// RenderOptions say how the tree is turned into objects. The zero value
// renders by auto-detection, with no SOPS keys and Helm's defaults.
type RenderOptions struct {
	// Mode overrides auto-detection.
	Mode RenderMode
	// Helm configures a Helm chart at the path (and, where they do not
	// say otherwise, the charts a kustomization's helmCharts: inflates).
	Helm HelmOptions
	// Capabilities describe the cluster a chart is rendered for
	// (.Capabilities in templates). It is called only when a chart is
	// rendered, so a plain tree need not wait for the cluster; nil means
	// Helm's defaults.
	Capabilities func(context.Context) (Capabilities, error)
	// Decryption holds the keys for SOPS-encrypted files; without keys,
	// encrypted values are left out and named as not compared.
	Decryption Decryption
	// Pack keeps each rendered object as its JSON text (Object.Packed)
	// rather than decoded maps: a plain tree's objects are packed as each
	// file is parsed, a kustomization's or a chart's once built. A check
	// and a watch, which hold every desired object, ask for it.
	Pack bool
}

// HelmOptions configure how a chart is rendered, as `helm template` flags
// do.
type HelmOptions struct {
	// ReleaseName is .Release.Name; empty means the chart's name.
	ReleaseName string `json:"releaseName,omitempty"`
	// Namespace is .Release.Namespace; empty means the namespace the
	// command runs against (--namespace, or the kubeconfig's).
	Namespace string `json:"namespace,omitempty"`
	// ValuesFiles are values files inside the source, relative to the
	// source root, merged in order after the chart's values.yaml.
	ValuesFiles []string `json:"valuesFiles,omitempty"`
	// Values are inline values, merged last (--set and the source config
	// file's values:).
	Values map[string]any `json:"values,omitempty"`
	// SkipCRDs leaves out the chart's crds/ directory, which Helm installs
	// (and so is desired state) by default.
	SkipCRDs bool `json:"skipCRDs,omitempty"`
	// Repositories fetch remote dependencies and charts; the zero value
	// reads Helm's own repositories.yaml and registry config.
	Repositories Repositories `json:"-"`
}

// Repositories are where remote charts come from and their credentials.
type Repositories struct {
	// RepositoryConfig is Helm's repositories.yaml (name, url, username,
	// password per repository); empty means $HELM_REPOSITORY_CONFIG or
	// ~/.config/helm/repositories.yaml when it exists.
	RepositoryConfig string
	// Registry holds OCI registry credentials for oci:// dependencies.
	Registry RegistryAuth
	// CacheDir keeps downloaded chart archives by digest; empty means
	// $XDG_CACHE_HOME/driftwatch/charts.
	CacheDir string
}

// Capabilities are the cluster facts a chart may branch on.
type Capabilities struct {
	// KubeVersion is the server's version (v1.37.2); empty means Helm's
	// default.
	KubeVersion string
	// APIVersions are the served group/versions and group/version/Kind
	// names (apps/v1, apps/v1/Deployment), as `helm template
	// --api-versions` takes them.
	APIVersions []string
	// Namespace is the namespace the command runs against: a chart's
	// release namespace when HelmOptions names none.
	Namespace string
}

// Decryption holds SOPS keys.
type Decryption struct {
	// AgeKeys is the text of one or more age identities
	// (AGE-SECRET-KEY-1...), one per line, comments allowed; read from a
	// file or the environment by the command, never from a flag value.
	AgeKeys string
}

// Skipped is a rendered object that is not desired state.
type Skipped struct {
	Kind, Namespace, Name string
	// Origin is the template it came from.
	Origin string
	// Reason says why: "helm hook pre-install", "helm test".
	Reason string
}
