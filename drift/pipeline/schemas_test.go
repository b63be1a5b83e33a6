package pipeline

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/driftwatch/driftwatch/drift"
)

// openAPIServer serves what kube-apiserver serves under /openapi/v3: the
// index, whose serverRelativeURLs carry the hash of each document, and one
// document per group-version. It counts every request. It binds 127.0.0.1
// (httptest.NewServer).
type openAPIServer struct {
	t   *testing.T
	URL string

	mu        sync.Mutex
	docs      map[string][]byte // by group-version path, "apis/apps/v1"
	hashes    map[string]string // by group-version path; "" publishes a URL without hash
	failing   map[string]bool   // group-version paths answered with 500
	indexFail bool
	requests  map[string]int // by URL path
	hashSeen  map[string][]string
}

func newOpenAPIServer(t *testing.T) *openAPIServer {
	s := &openAPIServer{
		t:        t,
		docs:     map[string][]byte{},
		hashes:   map[string]string{},
		failing:  map[string]bool{},
		requests: map[string]int{},
		hashSeen: map[string][]string{},
	}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *openAPIServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[r.URL.Path]++
	if r.URL.Path == "/openapi/v3" {
		if s.indexFail {
			http.Error(w, "index unavailable", http.StatusInternalServerError)
			return
		}
		type entry struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		}
		index := struct {
			Paths map[string]entry `json:"paths"`
		}{Paths: map[string]entry{}}
		for gv := range s.docs {
			u := "/openapi/v3/" + gv
			if h := s.hashes[gv]; h != "" {
				u += "?hash=" + h
			}
			index.Paths[gv] = entry{u}
		}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(index); err != nil {
			s.t.Errorf("encoding the index: %v", err)
		}
		return
	}
	gv, ok := strings.CutPrefix(r.URL.Path, "/openapi/v3/")
	doc, published := s.docs[gv]
	if !ok || !published {
		http.NotFound(w, r)
		return
	}
	s.hashSeen[gv] = append(s.hashSeen[gv], r.URL.Query().Get("hash"))
	if !strings.Contains(r.Header.Get("Accept"), "application/json") {
		http.Error(w, "only JSON here, asked for "+r.Header.Get("Accept"), http.StatusNotAcceptable)
		return
	}
	if s.failing[gv] {
		http.Error(w, "etcd is on fire", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(doc)
}

// publish serves doc for group-version path gv under hash.
func (s *openAPIServer) publish(gv, hash string, doc []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[gv], s.hashes[gv] = doc, hash
}

func (s *openAPIServer) set(f func(s *openAPIServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// downloads returns the number of requests for the document of gv, or of
// the index for "".
func (s *openAPIServer) downloads(gv string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gv == "" {
		return s.requests["/openapi/v3"]
	}
	return s.requests["/openapi/v3/"+gv]
}

// total returns the number of requests of any path.
func (s *openAPIServer) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.requests {
		n += c
	}
	return n
}

func (s *openAPIServer) schemas(cacheDir string) *Schemas {
	return NewSchemas(discovery.NewDiscoveryClientForConfigOrDie(&rest.Config{Host: s.URL}), cacheDir)
}

// wantDownloads checks the request counts of the index ("") and of
// group-version documents.
func (s *openAPIServer) wantDownloads(t *testing.T, want map[string]int) {
	t.Helper()
	got := map[string]int{}
	for gv := range want {
		got[gv] = s.downloads(gv)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests per group-version, \"\" the index (-want +got):\n%s", diff)
	}
}

func readSchemaFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "openapi", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	appsGV  = "apis/apps/v1"
	coreGV  = "api/v1"
	batchGV = "apis/batch/v1"
)

var (
	deploymentKind = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	configMapKind  = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	jobKind        = schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}
)

const (
	coreDoc  = `{"components": {"schemas": {"io.k8s.api.core.v1.ConfigMap": {"type": "object", "x-kubernetes-group-version-kind": [{"group": "", "kind": "ConfigMap", "version": "v1"}], "properties": {"data": {"type": "object", "additionalProperties": {"type": "string"}}}}}}}`
	batchDoc = `{"components": {"schemas": {"io.k8s.api.batch.v1.Job": {"type": "object", "x-kubernetes-group-version-kind": [{"group": "batch", "kind": "Job", "version": "v1"}], "properties": {"spec": {"type": "object"}}}}}}`
)

// startOpenAPI publishes apps/v1 (the real, cut-down document), core v1
// and batch/v1.
func startOpenAPI(t *testing.T) *openAPIServer {
	srv := newOpenAPIServer(t)
	srv.publish(appsGV, "APPS1", readSchemaFixture(t, "apis__apps__v1.json"))
	srv.publish(coreGV, "CORE1", []byte(coreDoc))
	srv.publish(batchGV, "BATCH1", []byte(batchDoc))
	return srv
}

// mustSchema returns the schema of gvk, failing the test on an error or a
// nil schema.
func mustSchema(t *testing.T, s *Schemas, gvk schema.GroupVersionKind) *drift.Schema {
	t.Helper()
	sc, err := s.For(t.Context(), gvk)
	if err != nil {
		t.Fatalf("For(%v): %v", gvk, err)
	}
	if sc == nil {
		t.Fatalf("For(%v) = nil", gvk)
	}
	return sc
}

// cacheFiles lists the cache directory, nil when it does not exist.
func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestSchemasDownloadsOnlyAskedGroupVersions(t *testing.T) {
	srv := startOpenAPI(t)
	s := srv.schemas(t.TempDir())

	dep := mustSchema(t, s, deploymentKind)
	if got := dep.Field("spec").Field("template").Field("spec").Field("containers"); got.ListType != "map" {
		t.Errorf("Deployment containers list type = %q, want the document's %q", got.ListType, "map")
	}
	mustSchema(t, s, schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DeleteOptions"})
	if sc, err := s.For(t.Context(), schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}); sc != nil || err != nil {
		t.Errorf("For(a kind the apps/v1 document lacks) = %v, %v; want nil, nil", sc, err)
	}
	srv.wantDownloads(t, map[string]int{"": 1, appsGV: 1, coreGV: 0, batchGV: 0})

	// The core group lives under api/, not apis/.
	cm := mustSchema(t, s, configMapKind)
	if cm.Field("data") == nil {
		t.Error("ConfigMap schema has no data")
	}
	srv.wantDownloads(t, map[string]int{"": 1, appsGV: 1, coreGV: 1, batchGV: 0})
	if got := srv.total(); got != 3 {
		t.Errorf("%d requests in all, want 3", got)
	}
}

func TestSchemasDiskCache(t *testing.T) {
	srv := startOpenAPI(t)
	dir := filepath.Join(t.TempDir(), "openapi") // created on first write

	first := mustSchema(t, srv.schemas(dir), deploymentKind)
	srv.wantDownloads(t, map[string]int{"": 1, appsGV: 1})
	files := cacheFiles(t, dir)
	if len(files) != 1 || !strings.HasSuffix(files[0], ".json") {
		t.Fatalf("cache directory holds %q, want one .json document", files)
	}
	cached, err := os.ReadFile(filepath.Join(dir, files[0]))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(readSchemaFixture(t, "apis__apps__v1.json")), string(cached)); diff != "" {
		t.Errorf("cached document differs from the served one (-served +cached):\n%s", diff)
	}

	// A new Schemas (a new process) reads the index, sees the same hash and
	// takes the document from disk.
	second := mustSchema(t, srv.schemas(dir), deploymentKind)
	srv.wantDownloads(t, map[string]int{"": 2, appsGV: 1})
	for _, sc := range []*drift.Schema{first, second} {
		if got := sc.Field("spec").Field("selector"); got == nil || !got.Atomic {
			t.Errorf("Deployment selector = %+v, want the atomic LabelSelector", got)
		}
	}

	t.Run("corrupt cache file", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(dir, files[0]), []byte(`{"components": `), 0o644); err != nil {
			t.Fatal(err)
		}
		mustSchema(t, srv.schemas(dir), deploymentKind)
		srv.wantDownloads(t, map[string]int{appsGV: 2})
		b, err := os.ReadFile(filepath.Join(dir, files[0]))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(cached), string(b)); diff != "" {
			t.Errorf("corrupt cache file not replaced (-want +got):\n%s", diff)
		}
		if got := cacheFiles(t, dir); len(got) != 1 {
			t.Errorf("cache directory holds %q, want one file (no temporary left)", got)
		}
	})
}

func TestSchemasNoDiskCache(t *testing.T) {
	t.Run("no cache directory", func(t *testing.T) {
		srv := startOpenAPI(t)
		for range 2 {
			mustSchema(t, srv.schemas(""), deploymentKind)
		}
		srv.wantDownloads(t, map[string]int{"": 2, appsGV: 2})
	})

	t.Run("URL without hash", func(t *testing.T) {
		srv := startOpenAPI(t)
		srv.publish(appsGV, "", readSchemaFixture(t, "apis__apps__v1.json"))
		dir := t.TempDir()
		for range 2 {
			mustSchema(t, srv.schemas(dir), deploymentKind)
		}
		srv.wantDownloads(t, map[string]int{"": 2, appsGV: 2})
		if got := cacheFiles(t, dir); len(got) != 0 {
			t.Errorf("a document without hash was cached: %q", got)
		}
	})
}

func TestSchemasHashChange(t *testing.T) {
	srv := startOpenAPI(t)
	current := readSchemaFixture(t, "apis__apps__v1.json")
	// The legacy document's DeploymentSpec has no selector: which document
	// a schema came from shows.
	legacy := readSchemaFixture(t, "apis__apps__v1_legacy.json")
	dir := t.TempDir()
	hasSelector := func(sc *drift.Schema) bool { return sc.Field("spec").Field("selector") != nil }

	if !hasSelector(mustSchema(t, srv.schemas(dir), deploymentKind)) {
		t.Error("hash APPS1: schema is not the APPS1 document's")
	}
	srv.wantDownloads(t, map[string]int{appsGV: 1})

	srv.publish(appsGV, "APPS2", legacy)
	if hasSelector(mustSchema(t, srv.schemas(dir), deploymentKind)) {
		t.Error("hash APPS2: schema is the cached APPS1 document's")
	}
	srv.wantDownloads(t, map[string]int{appsGV: 2})

	if hasSelector(mustSchema(t, srv.schemas(dir), deploymentKind)) {
		t.Error("hash APPS2 again: schema is not the APPS2 document's")
	}
	srv.wantDownloads(t, map[string]int{appsGV: 2})

	// Back to the first hash (a rollback): its document is still on disk.
	srv.publish(appsGV, "APPS1", current)
	if !hasSelector(mustSchema(t, srv.schemas(dir), deploymentKind)) {
		t.Error("hash APPS1 again: schema is not the APPS1 document's")
	}
	srv.wantDownloads(t, map[string]int{"": 4, appsGV: 2})

	srv.mu.Lock()
	defer srv.mu.Unlock()
	if diff := cmp.Diff([]string{"APPS1", "APPS2"}, srv.hashSeen[appsGV]); diff != "" {
		t.Errorf("hash parameters of the downloads (-want +got):\n%s", diff)
	}
	if got := cacheFiles(t, dir); len(got) != 2 {
		t.Errorf("cache directory holds %q, want one file per hash", got)
	}
}

func TestSchemasUnpublishedGroupVersion(t *testing.T) {
	srv := startOpenAPI(t)
	s := srv.schemas(t.TempDir())
	for _, gvk := range []schema.GroupVersionKind{
		{Group: "example.com", Version: "v1", Kind: "Widget"},
		{Group: "example.com", Version: "v1", Kind: "Gadget"},
		{Group: "apps", Version: "v2", Kind: "Deployment"},
		{Version: "v2", Kind: "ConfigMap"},
	} {
		sc, err := s.For(t.Context(), gvk)
		if sc != nil || err != nil {
			t.Errorf("For(%v) = %v, %v; want nil, nil", gvk, sc, err)
		}
	}
	// One index read, no document.
	if got := srv.total(); got != 1 {
		t.Errorf("%d requests, want only the index", got)
	}
	// Group-versions that are published still work after unpublished ones.
	mustSchema(t, s, jobKind)
	srv.wantDownloads(t, map[string]int{"": 1, batchGV: 1, appsGV: 0})
}

func TestSchemasServerError(t *testing.T) {
	t.Run("document", func(t *testing.T) {
		srv := startOpenAPI(t)
		srv.set(func(s *openAPIServer) { s.failing[appsGV] = true })
		dir := t.TempDir()
		s := srv.schemas(dir)
		for i := range 2 {
			sc, err := s.For(t.Context(), deploymentKind)
			if err == nil || !strings.Contains(err.Error(), appsGV) {
				t.Fatalf("For(%v) #%d error = %v, want one naming %s", deploymentKind, i, err, appsGV)
			}
			if sc != nil {
				t.Errorf("For(%v) #%d = %v with its error", deploymentKind, i, sc)
			}
			t.Logf("error: %v", err)
		}
		// The failure is not remembered: each call tried again.
		srv.wantDownloads(t, map[string]int{"": 1, appsGV: 2})
		if got := cacheFiles(t, dir); len(got) != 0 {
			t.Errorf("a failed download left %q in the cache", got)
		}
		// Other group-versions are unaffected, and the server recovering
		// is seen by the same Schemas.
		mustSchema(t, s, configMapKind)
		srv.set(func(s *openAPIServer) { s.failing[appsGV] = false })
		mustSchema(t, s, deploymentKind)
		srv.wantDownloads(t, map[string]int{"": 1, appsGV: 3, coreGV: 1})
	})

	t.Run("index", func(t *testing.T) {
		srv := startOpenAPI(t)
		srv.set(func(s *openAPIServer) { s.indexFail = true })
		s := srv.schemas(t.TempDir())
		sc, err := s.For(t.Context(), deploymentKind)
		if err == nil || !strings.Contains(err.Error(), appsGV) {
			t.Fatalf("For(%v) error = %v, want one naming %s", deploymentKind, err, appsGV)
		}
		if sc != nil {
			t.Errorf("For(%v) = %v with its error", deploymentKind, sc)
		}
		t.Logf("error: %v", err)
		srv.set(func(s *openAPIServer) { s.indexFail = false })
		mustSchema(t, s, deploymentKind)
		srv.wantDownloads(t, map[string]int{"": 2, appsGV: 1})
	})

	t.Run("malformed document", func(t *testing.T) {
		srv := startOpenAPI(t)
		srv.publish(appsGV, "BAD", []byte(`<html>gateway timeout</html>`))
		dir := t.TempDir()
		sc, err := srv.schemas(dir).For(t.Context(), deploymentKind)
		if err == nil || !strings.Contains(err.Error(), appsGV) || !strings.Contains(err.Error(), "openapi document") {
			t.Fatalf("For(%v) error = %v, want one naming %s and the document", deploymentKind, err, appsGV)
		}
		if sc != nil {
			t.Errorf("For(%v) = %v with its error", deploymentKind, sc)
		}
		t.Logf("error: %v", err)
		if got := cacheFiles(t, dir); len(got) != 0 {
			t.Errorf("a malformed document was cached: %q", got)
		}
	})
}

// TestSchemasInvalidate: a group-version published after the first look
// (a CRD applied while watch runs) is found once the Schemas is
// invalidated; documents whose hash did not change come from disk.
func TestSchemasInvalidate(t *testing.T) {
	srv := startOpenAPI(t)
	srv.set(func(s *openAPIServer) { delete(s.docs, batchGV); delete(s.hashes, batchGV) })
	s := srv.schemas(t.TempDir())
	mustSchema(t, s, deploymentKind)
	if sc, err := s.For(t.Context(), jobKind); sc != nil || err != nil {
		t.Fatalf("before batch/v1 is published: %v, %v", sc, err)
	}
	srv.publish(batchGV, "BATCH1", []byte(batchDoc))
	if sc, _ := s.For(t.Context(), jobKind); sc != nil {
		t.Fatal("a new group-version found without invalidating: the test shows nothing")
	}
	s.Invalidate()
	mustSchema(t, s, jobKind)
	mustSchema(t, s, deploymentKind)
	srv.wantDownloads(t, map[string]int{"": 2, appsGV: 1, batchGV: 1})
}
