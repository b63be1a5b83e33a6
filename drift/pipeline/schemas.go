package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/openapi"

	"github.com/driftwatch/driftwatch/drift"
)

// Schemas fetches OpenAPI v3 documents from the cluster, one per
// group-version and only for the group-versions asked about, and caches the
// parsed result in memory and the raw document on disk keyed by the hash the
// server publishes, so that unchanged schemas are never downloaded twice.
// Safe for concurrent use.
type Schemas struct {
	client   openapi.Client
	cacheDir string

	mu    sync.Mutex
	paths map[string]openapi.GroupVersion
	docs  map[string]*drift.OpenAPIDocument // by group-version path
}

// NewSchemas returns a Schemas reading through dc. cacheDir may be empty
// (no disk cache).
func NewSchemas(dc discovery.DiscoveryInterface, cacheDir string) *Schemas {
	return &Schemas{client: dc.OpenAPIV3(), cacheDir: cacheDir, docs: map[string]*drift.OpenAPIDocument{}}
}

// Invalidate forgets the index and the parsed documents, so that the next
// For reads the index again: a CRD created, changed or deleted since
// changes it. Documents whose hash did not change come back from the disk
// cache, not the network.
func (s *Schemas) Invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paths = nil
	s.docs = map[string]*drift.OpenAPIDocument{}
}

// For returns the schema of gvk, or nil when the cluster publishes none.
func (s *Schemas) For(ctx context.Context, gvk schema.GroupVersionKind) (*drift.Schema, error) {
	path := "apis/" + gvk.Group + "/" + gvk.Version
	if gvk.Group == "" {
		path = "api/" + gvk.Version
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	doc, ok := s.docs[path]
	if !ok {
		var err error
		doc, err = s.load(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("openapi schema of %s: %w", path, err)
		}
		s.docs[path] = doc
	}
	if doc == nil {
		return nil, nil
	}
	return doc.Kind(gvk), nil
}

func (s *Schemas) load(ctx context.Context, path string) (*drift.OpenAPIDocument, error) {
	if s.paths == nil {
		p, err := openapi.ToClientWithContext(s.client).PathsWithContext(ctx)
		if err != nil {
			return nil, err
		}
		s.paths = map[string]openapi.GroupVersion{}
		for k, v := range p {
			s.paths[k] = v.(openapi.GroupVersion)
		}
	}
	gv, ok := s.paths[path]
	if !ok {
		return nil, nil
	}
	var cacheFile string
	if s.cacheDir != "" {
		sum := sha256.Sum256([]byte(gv.ServerRelativeURL()))
		cacheFile = filepath.Join(s.cacheDir, hex.EncodeToString(sum[:12])+".json")
		// Only a URL with the server's content hash identifies a version.
		if strings.Contains(gv.ServerRelativeURL(), "hash=") {
			if b, err := os.ReadFile(cacheFile); err == nil {
				if doc, err := drift.ParseOpenAPI(b); err == nil {
					return doc, nil
				}
			}
		} else {
			cacheFile = ""
		}
	}
	b, err := openapi.ToGroupVersionWithContext(gv).SchemaWithContext(ctx, "application/json")
	if err != nil {
		return nil, err
	}
	doc, err := drift.ParseOpenAPI(b)
	if err != nil {
		return nil, err
	}
	if cacheFile != "" {
		writeAtomic(cacheFile, b)
	}
	return doc, nil
}

// writeAtomic writes a cache file through a temporary file and a rename, so
// a reader never sees half of it. Failure only costs a later download.
func writeAtomic(path string, b []byte) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".openapi-*")
	if err != nil {
		return
	}
	if _, err := f.Write(b); err != nil || f.Close() != nil {
		os.Remove(f.Name())
		return
	}
	if os.Rename(f.Name(), path) != nil {
		os.Remove(f.Name())
	}
}
