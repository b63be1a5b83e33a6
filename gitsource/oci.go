package gitsource

import (
	"context"
	"errors"
	"strings"
)

// isOCI says whether a source URL names an OCI artifact.
func isOCI(url string) bool { return strings.HasPrefix(url, "oci://") }

// loadOCI pulls an OCI artifact and renders it.
func loadOCI(ctx context.Context, opts Options) (*Desired, error) {
	return nil, errors.New("oci: not implemented yet")
}
