// Package fieldpath writes a field's path as drift.Path.String does
// (spec.replicas, metadata.labels["app.kubernetes.io/name"]), the syntax
// in which gitsource names fields (Object.NotCompared, Object.Sensitive)
// and which the SOPS reader and chart rendering share: gitsource and its
// packages may not import drift.
package fieldpath

import (
	"regexp"
	"strconv"
)

// plainField matches map keys that a path prints without quoting; it is
// drift.Path's rule.
var plainField = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$-]*$`)

// Join extends path by map key k in drift.Path.String's syntax:
// spec.replicas, metadata.labels["app.kubernetes.io/name"].
func Join(path, k string) string {
	if !plainField.MatchString(k) {
		return path + "[" + strconv.Quote(k) + "]"
	}
	if path == "" {
		return k
	}
	return path + "." + k
}
