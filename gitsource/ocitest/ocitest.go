// Package ocitest provides a real OCI registry for tests: go-containerregistry's
// in-memory registry on 127.0.0.1 (spoken to over plain HTTP, as clients
// do for loopback registries), with optional basic auth and request
// counters, and a way to push Flux-style artifacts or plain tarballs to it.
package ocitest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/subtle"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types of Flux's OCI artifacts (what `flux push artifact` writes).
const (
	FluxConfigMediaType  types.MediaType = "application/vnd.cncf.flux.config.v1+json"
	FluxContentMediaType types.MediaType = "application/vnd.cncf.flux.content.v1.tar+gzip"
)

// Annotations Flux writes on an artifact's manifest.
const (
	AnnotationSource   = "org.opencontainers.image.source"
	AnnotationRevision = "org.opencontainers.image.revision"
)

// Registry is a running registry. It is closed when the test ends.
type Registry struct {
	// Host is 127.0.0.1:<port>.
	Host string
	// Username and Password, when set, are required as basic auth on
	// every request (Push sends them).
	Username, Password string

	srv       *httptest.Server
	blobGets  atomic.Int64
	manifests atomic.Int64
}

// Options configure a Registry. The zero value serves without auth.
type Options struct {
	// Username and Password, when both set, are required on every request.
	Username, Password string
	// Wrap, when set, wraps the registry's handler (inside the auth check
	// and the counters), to inject faults; nil serves it as it is.
	Wrap func(http.Handler) http.Handler
}

// Start starts a registry on a free loopback port.
func Start(tb testing.TB, opts Options) *Registry {
	tb.Helper()
	var h http.Handler = newQuietRegistry()
	if opts.Wrap != nil {
		h = opts.Wrap(h)
	}
	r := &Registry{Username: opts.Username, Password: opts.Password}
	r.srv = httptest.NewServer(r.count(r.auth(h)))
	tb.Cleanup(r.srv.Close)
	r.Host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// newQuietRegistry is an in-memory registry that keeps its request log
// out of test output.
func newQuietRegistry() http.Handler {
	return registry.New(registry.Logger(log.New(io.Discard, "", 0)))
}

// URL is the oci:// URL of a repository ("org/app:v1" or
// "org/app@sha256:...") in this registry.
func (r *Registry) URL(ref string) string { return "oci://" + r.Host + "/" + ref }

// BlobGets counts the blob downloads (GET requests of /v2/.../blobs/...)
// since the start, pushes included (a push does none).
func (r *Registry) BlobGets() int64 { return r.blobGets.Load() }

// ManifestRequests counts the manifest requests (HEAD or GET) since the
// start.
func (r *Registry) ManifestRequests() int64 { return r.manifests.Load() }

func (r *Registry) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch {
		case req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha256:"):
			r.blobGets.Add(1)
		case (req.Method == http.MethodGet || req.Method == http.MethodHead) && strings.Contains(req.URL.Path, "/manifests/"):
			r.manifests.Add(1)
		}
		next.ServeHTTP(w, req)
	})
}

func (r *Registry) auth(next http.Handler) http.Handler {
	if r.Username == "" || r.Password == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		u, p, ok := req.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(r.Username)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(r.Password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="ocitest"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`) //nolint:errcheck // test server
			return
		}
		next.ServeHTTP(w, req)
	})
}

// Entry is one raw tar entry, for hostile tarballs: a symbolic link
// (Type tar.TypeSymlink), a hard link, a device, an absolute or ../ path.
type Entry struct {
	Name     string
	Type     byte // tar.TypeReg when zero
	Linkname string
	Body     string
}

// Layer is one layer of an artifact.
type Layer struct {
	// MediaType defaults to FluxContentMediaType. The tarball is gzipped
	// unless the media type ends in "tar".
	MediaType types.MediaType
	// Files are regular files by slash-separated path, written in order
	// of path.
	Files map[string]string
	// Entries are written after Files, as they are.
	Entries []Entry
}

// Artifact describes what Push pushes. The zero value is an empty Flux
// artifact.
type Artifact struct {
	// Files, when set, are one Flux content layer before Layers.
	Files map[string]string
	// Layers come after the one Files makes.
	Layers []Layer
	// ManifestMediaType defaults to the OCI image manifest; Docker's
	// (types.DockerManifestSchema2) makes a Docker image.
	ManifestMediaType types.MediaType
	// ConfigMediaType defaults to FluxConfigMediaType.
	ConfigMediaType types.MediaType
	// Annotations are set on the manifest (Flux's source and revision).
	Annotations map[string]string
}

// Push builds the artifact and pushes it as ref ("org/app:v1") to the
// registry, with its credentials; it returns the manifest digest
// (sha256:...).
func (r *Registry) Push(tb testing.TB, ref string, a Artifact) string {
	tb.Helper()
	img, err := Image(a)
	if err != nil {
		tb.Fatalf("ocitest: build %s: %v", ref, err)
	}
	tag, err := name.ParseReference(r.Host + "/" + ref)
	if err != nil {
		tb.Fatalf("ocitest: %v", err)
	}
	auth := authn.Anonymous
	if r.Username != "" {
		auth = &authn.Basic{Username: r.Username, Password: r.Password}
	}
	if err := remote.Write(tag, img, remote.WithAuth(auth)); err != nil {
		tb.Fatalf("ocitest: push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		tb.Fatalf("ocitest: digest of %s: %v", ref, err)
	}
	return d.String()
}

// Image builds the artifact as an image, without pushing it.
func Image(a Artifact) (v1.Image, error) {
	mt := a.ManifestMediaType
	if mt == "" {
		mt = types.OCIManifestSchema1
	}
	cmt := a.ConfigMediaType
	if cmt == "" {
		cmt = FluxConfigMediaType
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, mt), cmt)
	layers := a.Layers
	if a.Files != nil {
		layers = append([]Layer{{Files: a.Files}}, layers...)
	}
	for _, l := range layers {
		lmt := l.MediaType
		if lmt == "" {
			lmt = FluxContentMediaType
		}
		b, err := Tarball(l.Files, l.Entries, !strings.HasSuffix(string(lmt), "tar"))
		if err != nil {
			return nil, err
		}
		if img, err = mutate.Append(img, mutate.Addendum{Layer: static.NewLayer(b, lmt), MediaType: lmt}); err != nil {
			return nil, err
		}
	}
	if len(a.Annotations) > 0 {
		img = mutate.Annotations(img, a.Annotations).(v1.Image)
	}
	return img, nil
}

// Tarball writes files (in order of path) and then entries into a tar,
// gzipped when gz is set.
func Tarball(files map[string]string, entries []Entry, gz bool) ([]byte, error) {
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	all := make([]Entry, 0, len(files)+len(entries))
	for _, p := range paths {
		all = append(all, Entry{Name: p, Body: files[p]})
	}
	all = append(all, entries...)
	for _, e := range all {
		typ := e.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Name: e.Name, Typeflag: typ, Linkname: e.Linkname, Mode: 0o644, Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.Body))
		}
		if typ == tar.TypeDir {
			hdr.Mode = 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if typ == tar.TypeReg {
			if _, err := io.WriteString(tw, e.Body); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}
