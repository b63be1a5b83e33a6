// Package chartrepotest serves Helm charts for tests: a chart repository
// (index.yaml and .tgz archives over HTTP, optionally behind basic auth) and
// an OCI registry holding charts with Helm's media types. Both listen on
// 127.0.0.1 and stop when the test ends.
package chartrepotest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"sigs.k8s.io/yaml"
)

// Helm's OCI media types (helm.sh/helm/v4/pkg/registry/constants.go).
const (
	ConfigMediaType = "application/vnd.cncf.helm.config.v1+json"
	ChartMediaType  = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
)

// modTime is the time of every archive entry and index entry, so archives
// and their digests are reproducible.
var modTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// Chart is a packaged chart.
type Chart struct {
	Name, Version string
	// File is "<name>-<version>.tgz".
	File string
	// Archive is the .tgz.
	Archive []byte
	// Digest is "sha256:<hex>" of Archive.
	Digest string
	// Manifest is the OCI manifest digest, set by pushes only.
	Manifest string
}

// Package builds a chart archive from files named relative to the chart's
// root ("Chart.yaml", "templates/cm.yaml"); Chart.yaml gives the name and
// version. Entries are under "<name>/", as helm package writes them.
func Package(t testing.TB, files map[string]string) Chart {
	t.Helper()
	var md struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if err := yaml.Unmarshal([]byte(files["Chart.yaml"]), &md); err != nil || md.Name == "" || md.Version == "" {
		t.Fatalf("chartrepotest: Chart.yaml needs a name and a version (%v)", err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, n := range names {
		body := files[n]
		hdr := &tar.Header{Name: md.Name + "/" + n, Mode: 0o644, Size: int64(len(body)), ModTime: modTime, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("chartrepotest: %v", err)
		}
		if _, err := io.WriteString(tw, body); err != nil {
			t.Fatalf("chartrepotest: %v", err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("chartrepotest: %v", err)
	}
	if err := zw.Close(); err != nil {
		t.Fatalf("chartrepotest: %v", err)
	}
	return Chart{
		Name:    md.Name,
		Version: md.Version,
		File:    md.Name + "-" + md.Version + ".tgz",
		Archive: buf.Bytes(),
		Digest:  Digest(buf.Bytes()),
	}
}

// Digest is "sha256:<hex>" of data.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Options configure a server.
type Options struct {
	// Username and Password, when Username is set, are required as HTTP
	// basic auth on every request; empty means no authentication.
	Username, Password string
}

// authorized checks basic auth against o.
func (o Options) authorized(r *http.Request) bool {
	if o.Username == "" {
		return true
	}
	u, p, ok := r.BasicAuth()
	return ok && subtle.ConstantTimeCompare([]byte(u), []byte(o.Username)) == 1 &&
		subtle.ConstantTimeCompare([]byte(p), []byte(o.Password)) == 1
}

// Request is a request a Repo received.
type Request struct {
	// Path is the URL path, "/index.yaml" or "/app-1.0.0.tgz".
	Path string
	// Username is the basic-auth user sent, "" when none.
	Username string
}

// Repo is a chart repository: GET /index.yaml lists the charts added, and
// each added archive is served at /<name>-<version>.tgz.
type Repo struct {
	// URL is the repository URL, http://127.0.0.1:<port>, without a
	// trailing slash.
	URL string

	opts     Options
	mu       sync.Mutex
	entries  map[string][]indexEntry
	files    map[string][]byte
	requests []Request
}

// indexEntry is one version in index.yaml, as helm repo index writes it.
type indexEntry struct {
	APIVersion string    `json:"apiVersion"`
	Name       string    `json:"name"`
	Version    string    `json:"version"`
	URLs       []string  `json:"urls"`
	Digest     string    `json:"digest"`
	Created    time.Time `json:"created"`
}

// NewRepo starts a chart repository on 127.0.0.1, closed when the test ends.
func NewRepo(t testing.TB, o Options) *Repo {
	t.Helper()
	r := &Repo{opts: o, entries: map[string][]indexEntry{}, files: map[string][]byte{}}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func (r *Repo) serve(w http.ResponseWriter, req *http.Request) {
	user, _, _ := req.BasicAuth()
	r.mu.Lock()
	r.requests = append(r.requests, Request{Path: req.URL.Path, Username: user})
	r.mu.Unlock()
	if !r.opts.authorized(req) {
		w.Header().Set("WWW-Authenticate", `Basic realm="charts"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	data, ok := r.files[strings.TrimPrefix(req.URL.Path, "/")]
	var err error
	if !ok && req.URL.Path == "/index.yaml" {
		data, err = r.index()
		ok = true
	}
	r.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if !ok {
		http.NotFound(w, req)
		return
	}
	_, _ = w.Write(data)
}

// index renders index.yaml; r.mu is held.
func (r *Repo) index() ([]byte, error) {
	return yaml.Marshal(map[string]any{"apiVersion": "v1", "entries": r.entries, "generated": modTime})
}

// Add packages files (as Package does), serves the archive and lists it in
// index.yaml under a URL relative to the repository.
func (r *Repo) Add(t testing.TB, files map[string]string) Chart {
	t.Helper()
	c := Package(t, files)
	r.Put(c.File, c.Archive)
	r.AddURL(t, c, c.File)
	return c
}

// AddURL lists c in index.yaml with the given URL (relative to the
// repository, or absolute, e.g. on another Repo) and c's digest, serving
// nothing itself.
func (r *Repo) AddURL(t testing.TB, c Chart, chartURL string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries[c.Name] = append(r.entries[c.Name], indexEntry{
		APIVersion: "v2",
		Name:       c.Name,
		Version:    c.Version,
		URLs:       []string{chartURL},
		Digest:     strings.TrimPrefix(c.Digest, "sha256:"),
		Created:    modTime,
	})
}

// Put serves data at /<file>, replacing what was there: an archive that
// no longer matches its digest, or a hand-written index.yaml.
func (r *Repo) Put(file string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files[file] = data
}

// Requests returns the requests received so far.
func (r *Repo) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// Count returns how many requests asked for path ("/index.yaml").
func (r *Repo) Count(path string) int {
	n := 0
	for _, q := range r.Requests() {
		if q.Path == path {
			n++
		}
	}
	return n
}

// Registry is an OCI registry (go-containerregistry's pkg/registry).
type Registry struct {
	// Host is 127.0.0.1:<port>; charts are oci://<Host>/<repoPath>.
	Host string

	opts Options
}

// NewRegistry starts an OCI registry on 127.0.0.1, closed when the test
// ends.
func NewRegistry(t testing.TB, o Options) *Registry {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !o.authorized(req) {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatalf("chartrepotest: %v", err)
	}
	return &Registry{Host: u.Host, opts: o}
}

// Push packages files and pushes the chart as
// <Host>/<repoPath>/<name>:<version>, with the registry's credentials.
func (r *Registry) Push(t testing.TB, repoPath string, files map[string]string) Chart {
	t.Helper()
	auth := authn.Anonymous
	if r.opts.Username != "" {
		auth = &authn.Basic{Username: r.opts.Username, Password: r.opts.Password}
	}
	return push(t, r.Host, repoPath, files, remote.WithAuth(auth))
}

// PushOCI packages files and pushes the chart anonymously to any registry
// as <registryHost>/<repoPath>/<name>:<version> (a + in the version is
// written _, as helm push does), with Helm's media types.
func PushOCI(t testing.TB, registryHost, repoPath string, files map[string]string) Chart {
	t.Helper()
	return push(t, registryHost, repoPath, files)
}

func push(t testing.TB, host, repoPath string, files map[string]string, opts ...remote.Option) Chart {
	t.Helper()
	c := Package(t, files)
	repo, err := name.NewRepository(path.Join(host, repoPath, c.Name))
	if err != nil {
		t.Fatalf("chartrepotest: %v", err)
	}
	config, err := json.Marshal(map[string]string{"apiVersion": "v2", "name": c.Name, "version": c.Version})
	if err != nil {
		t.Fatalf("chartrepotest: %v", err)
	}
	configLayer := static.NewLayer(config, ConfigMediaType)
	chartLayer := static.NewLayer(c.Archive, ChartMediaType)
	for _, l := range []v1.Layer{configLayer, chartLayer} {
		if err := remote.WriteLayer(repo, l, opts...); err != nil {
			t.Fatalf("chartrepotest: push blob: %v", err)
		}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        descriptor(t, configLayer),
		Layers:        []v1.Descriptor{descriptor(t, chartLayer)},
		Annotations:   map[string]string{"org.opencontainers.image.created": modTime.Format(time.RFC3339)},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("chartrepotest: %v", err)
	}
	tag := repo.Tag(strings.ReplaceAll(c.Version, "+", "_"))
	if err := remote.Put(tag, rawManifest(raw), opts...); err != nil {
		t.Fatalf("chartrepotest: push manifest: %v", err)
	}
	c.Manifest = Digest(raw)
	return c
}

func descriptor(t testing.TB, l v1.Layer) v1.Descriptor {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatalf("chartrepotest: %v", err)
	}
	size, err := l.Size()
	if err != nil {
		t.Fatalf("chartrepotest: %v", err)
	}
	mt, err := l.MediaType()
	if err != nil {
		t.Fatalf("chartrepotest: %v", err)
	}
	return v1.Descriptor{MediaType: mt, Size: size, Digest: d}
}

// rawManifest is an OCI image manifest for remote.Put.
type rawManifest []byte

func (m rawManifest) RawManifest() ([]byte, error)        { return m, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
