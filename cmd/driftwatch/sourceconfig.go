package main

import (
	"fmt"
	"os"
	"strings"

	"helm.sh/helm/v4/pkg/strvals"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/gitsource"
)

// sourceConfig is the --source-config file: how the source is rendered,
// kept in a file so a CronJob or a Deployment need not spell it in flags.
// docs/sources.md documents it.
type sourceConfig struct {
	// Render is auto, helm, kustomize or plain.
	Render string                `json:"render,omitempty"`
	Helm   gitsource.HelmOptions `json:"helm,omitempty"`
}

// loadSourceConfig reads a source config file strictly: an unknown field
// is an error naming it.
func loadSourceConfig(path string) (sourceConfig, error) {
	var sc sourceConfig
	data, err := os.ReadFile(path)
	if err != nil {
		return sc, fmt.Errorf("flag --source-config: %w", err)
	}
	if err := yaml.UnmarshalStrict(data, &sc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "error unmarshaling JSON: while decoding JSON: ")
		return sc, fmt.Errorf("source config %s: %s", path, strings.TrimPrefix(msg, "json: "))
	}
	return sc, nil
}

// renderOptions builds the render options from the source config file,
// then the flags over it, and the SOPS keys from a file or the
// environment.
func (sf sourceFlags) renderOptions() (gitsource.RenderOptions, error) {
	var ro gitsource.RenderOptions
	var sc sourceConfig
	if sf.SourceConfig != "" {
		var err error
		if sc, err = loadSourceConfig(sf.SourceConfig); err != nil {
			return ro, err
		}
	}
	mode := sc.Render
	if sf.Render != "" && sf.Render != "auto" || mode == "" {
		mode = sf.Render
	}
	m, err := gitsource.ParseRenderMode(mode)
	if err != nil {
		return ro, fmt.Errorf("flag --render: %w", err)
	}
	ro.Mode = m
	ro.Helm = sc.Helm
	if sf.HelmRelease != "" {
		ro.Helm.ReleaseName = sf.HelmRelease
	}
	if sf.HelmNS != "" {
		ro.Helm.Namespace = sf.HelmNS
	}
	ro.Helm.ValuesFiles = append(ro.Helm.ValuesFiles, sf.Values...)
	if sf.HelmSkipCRDs {
		ro.Helm.SkipCRDs = true
	}
	if len(sf.Set) > 0 {
		if ro.Helm.Values == nil {
			ro.Helm.Values = map[string]any{}
		}
		for _, kv := range sf.Set {
			if err := strvals.ParseInto(kv, ro.Helm.Values); err != nil {
				return ro, fmt.Errorf("flag --set %q: %w", kv, err)
			}
		}
	}
	ro.Helm.Repositories.RepositoryConfig = sf.HelmRepositoryConfig
	if ro.Decryption.AgeKeys, err = sf.ageKeys(); err != nil {
		return ro, err
	}
	return ro, nil
}

// ageKeys reads age identities from --sops-age-key-file, $SOPS_AGE_KEY_FILE
// or $SOPS_AGE_KEY, in that order (SOPS' own variables; its
// SOPS_AGE_KEY_CMD is not run: no exec).
func (sf sourceFlags) ageKeys() (string, error) {
	for _, f := range []struct{ name, path string }{
		{"flag --sops-age-key-file", sf.SOPSAgeKeyFile},
		{"$SOPS_AGE_KEY_FILE", os.Getenv("SOPS_AGE_KEY_FILE")},
	} {
		if f.path == "" {
			continue
		}
		b, err := os.ReadFile(f.path)
		if err != nil {
			return "", fmt.Errorf("%s: %w", f.name, err)
		}
		return string(b), nil
	}
	return os.Getenv("SOPS_AGE_KEY"), nil
}
