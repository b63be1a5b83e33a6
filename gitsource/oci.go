package gitsource

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// fluxContentMediaType is the layer of Flux's OCI artifacts (what `flux
// push artifact` writes, with a config of media type
// application/vnd.cncf.flux.config.v1+json, which is not read).
const fluxContentMediaType types.MediaType = "application/vnd.cncf.flux.content.v1.tar+gzip"

// Annotations Flux puts on an artifact's manifest to say where it was
// built from.
const (
	annotationSource   = "org.opencontainers.image.source"
	annotationRevision = "org.opencontainers.image.revision"
)

// ociLimits bound what an artifact may hold: a drift check reads
// manifests, not images, and a hostile registry must not fill the disk.
// A variable so that tests can lower them.
var ociLimits = struct {
	blobBytes    int64 // the compressed layer
	extractBytes int64 // all files, uncompressed
	entries      int
}{blobBytes: 256 << 20, extractBytes: 256 << 20, entries: 100000}

// ErrDigestMismatch is returned when content pulled from a registry does
// not have the digest it was asked for (or announced with).
var ErrDigestMismatch = errors.New("digest mismatch")

// isOCI says whether a source URL names an OCI artifact.
func isOCI(url string) bool { return strings.HasPrefix(url, "oci://") }

// loadOCI pulls an OCI artifact (Flux's format, or any single-layer
// tarball), extracts it to a temporary directory and renders it as Load
// renders a Git checkout. Layers are cached by digest, so a tag that has
// not moved costs one manifest request.
func loadOCI(ctx context.Context, opts Options) (*Desired, error) {
	display := redactOCIURL(opts.URL)
	ref, err := parseOCIURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("oci %s: %w", display, err)
	}
	if opts.Ref != "" {
		return nil, fmt.Errorf("oci %s: a ref is not used for an OCI artifact: name the tag or digest in the URL", display)
	}
	art, err := pullOCI(ctx, ref, opts)
	if err != nil {
		return nil, fmt.Errorf("oci %s: %w", display, err)
	}
	defer os.RemoveAll(art.dir)
	r, err := RenderWith(ctx, art.dir, opts.Path, opts.Render)
	if err != nil {
		return nil, fmt.Errorf("oci %s@%s: %w", display, short(strings.TrimPrefix(art.digest, "sha256:")), &RenderError{Err: err})
	}
	rev := Revision{URL: display, Path: opts.Path, Digest: art.digest, Subject: describeArtifact(art.annotations)}
	if t, ok := ref.(name.Tag); ok {
		rev.Ref = t.TagStr()
	}
	return &Desired{Revision: rev, Objects: r.Objects, Skipped: r.Skipped, Unopened: r.Unopened, Warnings: r.Warnings}, nil
}

// describeArtifact says which source revision an artifact was built from,
// from the annotations Flux writes; empty when there are none.
func describeArtifact(ann map[string]string) string {
	src, rev := ann[annotationSource], ann[annotationRevision]
	switch {
	case src != "" && rev != "":
		return "source " + src + " revision " + rev
	case src != "":
		return "source " + src
	case rev != "":
		return "revision " + rev
	}
	return ""
}

// redactOCIURL removes credentials from an oci:// URL, for messages.
func redactOCIURL(u string) string {
	rest := strings.TrimPrefix(u, "oci://")
	host, repo, _ := strings.Cut(rest, "/")
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = "***@" + host[i+1:]
		return "oci://" + host + "/" + repo
	}
	return u
}

// parseOCIURL turns oci://host[:port]/repository[:tag|@sha256:...] into a
// reference; no tag and no digest means :latest. Registries on loopback
// addresses are spoken to over plain HTTP (name does that by itself for
// localhost, *.localhost, 127.0.0.1 and ::1).
func parseOCIURL(u string) (name.Reference, error) {
	const want = "want oci://host/repository:tag or oci://host/repository@sha256:<hex>"
	rest := strings.TrimPrefix(u, "oci://")
	host, repo, ok := strings.Cut(rest, "/")
	if !ok || host == "" || repo == "" {
		return nil, fmt.Errorf("bad URL: %s", want)
	}
	if strings.Contains(host, "@") {
		return nil, errors.New("bad URL: credentials in an oci:// URL are not accepted: give them with the registry username and password or a Docker config file")
	}
	if strings.ContainsAny(rest, "?#") {
		return nil, fmt.Errorf("bad URL: no query or fragment allowed: %s", want)
	}
	// Without a dot, a port or "localhost", name would read the host as
	// the first path element of a Docker Hub repository.
	if !strings.ContainsAny(host, ".:") && host != "localhost" {
		return nil, fmt.Errorf("bad URL: %q is not a registry host name (it needs a dot or a port): %s", host, want)
	}
	ref, err := name.ParseReference(rest)
	if err != nil {
		return nil, fmt.Errorf("bad URL: %w", err)
	}
	if got := ref.Context().RegistryStr(); got != host && !(host == "docker.io" && got == name.DefaultRegistry) {
		return nil, fmt.Errorf("bad URL: registry %q read as %q: %s", host, got, want)
	}
	return ref, nil
}

// pulledArtifact is an artifact extracted to a temporary directory.
type pulledArtifact struct {
	dir         string
	digest      string // of the manifest
	annotations map[string]string
}

// pullOCI fetches the manifest of ref, the content layer (from the cache
// when it holds it) and extracts it. opts.Timeout bounds it all.
func pullOCI(ctx context.Context, ref name.Reference, opts Options) (*pulledArtifact, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	auth, err := authn.Resolve(ctx, opts.Registry.keychain(), ref.Context())
	if err != nil {
		return nil, err
	}
	withCreds := auth != authn.Anonymous
	ro := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth), remote.WithUserAgent("driftwatch")}
	// One puller for the manifest and the layer: one ping, one token.
	puller, err := remote.NewPuller(ro...)
	if err != nil {
		return nil, err
	}
	ro = append(ro, remote.Reuse(puller))
	desc, err := remote.Get(ref, ro...)
	if err != nil {
		return nil, manifestError(ref, err, withCreds)
	}
	switch desc.MediaType {
	case types.OCIManifestSchema1, types.DockerManifestSchema2:
	case types.OCIImageIndex, types.DockerManifestList:
		return nil, fmt.Errorf("%s is an image index (several platforms), not a single artifact", desc.Digest)
	default:
		return nil, fmt.Errorf("unsupported manifest media type %q", desc.MediaType)
	}
	mf, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	layer, err := contentLayer(mf)
	if err != nil {
		return nil, err
	}
	blob, err := cachedBlob(ociCacheDir(opts.CacheDir), ref.Context(), layer, ro, withCreds)
	if err != nil {
		return nil, err
	}
	dir, err := extractLayer(blob, layer.MediaType)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", layer.Digest, err)
	}
	return &pulledArtifact{dir: dir, digest: desc.Digest.String(), annotations: mf.Annotations}, nil
}

// ociCacheDir is where layers are kept: <cacheDir>/oci, or beside the
// default Git cache ($XDG_CACHE_HOME/driftwatch/oci).
func ociCacheDir(cacheDir string) string {
	if cacheDir != "" {
		return filepath.Join(cacheDir, "oci")
	}
	d := defaultCacheDir()
	if filepath.Base(d) == "git" {
		return filepath.Join(filepath.Dir(d), "oci")
	}
	return filepath.Join(d, "oci")
}

// contentLayer picks the one tarball layer of an artifact.
func contentLayer(mf *v1.Manifest) (v1.Descriptor, error) {
	if len(mf.Layers) == 0 {
		return v1.Descriptor{}, errors.New("the artifact has no layers")
	}
	for _, l := range mf.Layers {
		if !isTarLayer(l.MediaType) {
			return v1.Descriptor{}, fmt.Errorf("unknown layer media type %q (want Flux's %s or a tarball)", l.MediaType, fluxContentMediaType)
		}
	}
	if n := len(mf.Layers); n > 1 {
		return v1.Descriptor{}, fmt.Errorf("the artifact has %d content layers, want one", n)
	}
	return mf.Layers[0], nil
}

// isTarLayer says whether a layer media type is a tarball, gzipped or not:
// Flux's content, OCI and Docker image layers.
func isTarLayer(mt types.MediaType) bool {
	s := string(mt)
	return strings.HasSuffix(s, "tar+gzip") || strings.HasSuffix(s, ".tar.gzip") ||
		strings.HasSuffix(s, ".tar") || strings.HasSuffix(s, "+tar")
}

// cachedBlob returns the path of the layer's blob in the cache, pulling it
// when it is absent or does not match its digest.
func cachedBlob(cacheDir string, repo name.Repository, l v1.Descriptor, ro []remote.Option, withCreds bool) (string, error) {
	if l.Digest.Algorithm != "sha256" || len(l.Digest.Hex) != 64 {
		return "", fmt.Errorf("layer digest %s: only sha256 is supported", l.Digest)
	}
	if l.Size > ociLimits.blobBytes {
		return "", fmt.Errorf("layer %s is %d bytes, more than the %s allowed", l.Digest, l.Size, byteSize(ociLimits.blobBytes))
	}
	dir := filepath.Join(cacheDir, "blobs", "sha256")
	p := filepath.Join(dir, l.Digest.Hex)
	if got, err := fileDigest(p); err == nil && got == l.Digest.String() {
		return p, nil
	}
	// Absent, or corrupt: pull it (again).
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("oci cache: %w", err)
	}
	layer, err := remote.Layer(repo.Digest(l.Digest.String()), ro...)
	if err != nil {
		return "", blobError(l, err, withCreds)
	}
	rc, err := layer.Compressed()
	if err != nil {
		return "", blobError(l, err, withCreds)
	}
	defer rc.Close()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("oci cache: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".pull-*")
	if err != nil {
		return "", fmt.Errorf("oci cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(rc, ociLimits.blobBytes+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", blobError(l, err, withCreds)
	}
	if n > ociLimits.blobBytes {
		return "", fmt.Errorf("layer %s is more than the %s allowed", l.Digest, byteSize(ociLimits.blobBytes))
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != l.Digest.String() {
		return "", fmt.Errorf("layer %s: %w: its content has digest %s", l.Digest, ErrDigestMismatch, got)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return "", fmt.Errorf("oci cache: %w", err)
	}
	return p, nil
}

// fileDigest is the sha256 digest of a file, "sha256:<hex>".
func fileDigest(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// manifestError names the cause of a failed manifest request.
func manifestError(ref name.Reference, err error, withCreds bool) error {
	if strings.Contains(err.Error(), "does not match requested digest") {
		return fmt.Errorf("manifest %w: %v", ErrDigestMismatch, err)
	}
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		if hasCode(terr, transport.NameUnknownErrorCode) {
			return fmt.Errorf("repository %s not found: %w", ref.Context().RepositoryStr(), err)
		}
		switch r := ref.(type) {
		case name.Digest:
			return fmt.Errorf("digest %s not found: %w", r.DigestStr(), err)
		case name.Tag:
			return fmt.Errorf("tag %q not found: %w", r.TagStr(), err)
		}
	}
	return registryError(err, withCreds)
}

// blobError names the cause of a failed layer download.
func blobError(l v1.Descriptor, err error, withCreds bool) error {
	if strings.Contains(err.Error(), "error verifying") {
		return fmt.Errorf("layer %s: %w: %v", l.Digest, ErrDigestMismatch, err)
	}
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return fmt.Errorf("layer %s not found: %w", l.Digest, err)
	}
	return registryError(err, withCreds)
}

// registryError turns transport errors into a short cause.
func registryError(err error, withCreds bool) error {
	var terr *transport.Error
	var nerr net.Error
	var oerr *net.OpError
	switch {
	case errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden ||
		hasCode(terr, transport.UnauthorizedErrorCode) || hasCode(terr, transport.DeniedErrorCode)):
		if withCreds {
			return fmt.Errorf("credentials were refused: %w", err)
		}
		return fmt.Errorf("credentials are needed (set DRIFTWATCH_REGISTRY_USERNAME and DRIFTWATCH_REGISTRY_PASSWORD, or give a Docker config file): %w", err)
	case errors.As(err, &terr):
		return fmt.Errorf("registry answered %d %s: %w", terr.StatusCode, http.StatusText(terr.StatusCode), err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("timed out reaching the registry: %w", err)
	case errors.As(err, &oerr), errors.As(err, &nerr):
		return fmt.Errorf("registry unreachable: %w", err)
	}
	return err
}

func hasCode(terr *transport.Error, code transport.ErrorCode) bool {
	for _, d := range terr.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

// extractLayer writes a tarball (gzipped when its media type says so) to a
// new temporary directory. It refuses absolute paths, paths leaving the
// root, every symbolic and hard link (a manifest bundle needs none, and
// refusing them all is simpler to trust than resolving them), device and
// other special files; and it bounds the total size and entry count.
func extractLayer(blob string, mt types.MediaType) (_ string, err error) {
	f, err := os.Open(blob)
	if err != nil {
		return "", fmt.Errorf("oci cache: %w", err)
	}
	defer f.Close()
	var r io.Reader = bufio.NewReader(f)
	if strings.Contains(string(mt), "gzip") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return "", fmt.Errorf("not gzip-compressed as its media type %q says: %w", mt, err)
		}
		defer zr.Close()
		r = zr
	}
	tmp, err := os.MkdirTemp("", "driftwatch-oci-")
	if err != nil {
		return "", fmt.Errorf("extract: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	tr := tar.NewReader(r)
	var total int64
	for entries := 0; ; entries++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tmp, nil
		}
		if err != nil {
			return "", fmt.Errorf("bad tarball: %w", err)
		}
		if entries >= ociLimits.entries {
			return "", fmt.Errorf("more than %d entries in the tarball", ociLimits.entries)
		}
		rel, err := entryPath(hdr)
		if err != nil {
			return "", err
		}
		if rel == "" {
			continue // the root itself
		}
		target := filepath.Join(tmp, filepath.FromSlash(rel))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return "", fmt.Errorf("extract %q: %w", hdr.Name, err)
			}
		case tar.TypeReg:
			if hdr.Size > ociLimits.extractBytes-total {
				return "", fmt.Errorf("extract %q: the artifact holds more than the %s allowed", hdr.Name, byteSize(ociLimits.extractBytes))
			}
			n, err := writeEntry(target, tr, ociLimits.extractBytes-total)
			total += n
			if err != nil {
				return "", fmt.Errorf("extract %q: %w", hdr.Name, err)
			}
		case tar.TypeSymlink, tar.TypeLink:
			return "", fmt.Errorf("entry %q is a link to %q: links in OCI artifacts are refused", hdr.Name, hdr.Linkname)
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			return "", fmt.Errorf("entry %q is a device or special file: refused", hdr.Name)
		default:
			return "", fmt.Errorf("entry %q has unsupported tar type %q", hdr.Name, hdr.Typeflag)
		}
	}
}

// entryPath is the cleaned slash-separated path of a tar entry inside the
// root ("" for the root itself), or an error naming the entry.
func entryPath(hdr *tar.Header) (string, error) {
	n := hdr.Name
	if strings.HasPrefix(n, "/") || filepath.IsAbs(n) {
		return "", fmt.Errorf("entry %q has an absolute path: refused", n)
	}
	c := path.Clean(n)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("entry %q leaves the artifact root: refused", n)
	}
	if c == "." {
		return "", nil
	}
	return c, nil
}

// writeEntry writes at most limit bytes of r to a new file at p.
func writeEntry(p string, r io.Reader, limit int64) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return 0, err
	}
	w, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(w, io.LimitReader(r, limit+1))
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > limit {
		err = fmt.Errorf("the artifact holds more than the %s allowed", byteSize(ociLimits.extractBytes))
	}
	return n, err
}

// byteSize says n in MiB when it is a whole number of them.
func byteSize(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// keychain resolves the credentials for a registry: Username and Password
// for every registry when set; else the auths of the Docker config file.
// It never runs a credential helper (no exec): a registry whose only
// credentials are in one gets an error saying how to give them instead.
func (a RegistryAuth) keychain() authn.Keychain { return registryKeychain{auth: a} }

type registryKeychain struct{ auth RegistryAuth }

var _ authn.Keychain = registryKeychain{}

// dockerConfig is the part of Docker's config.json driftwatch reads.
type dockerConfig struct {
	Auths       map[string]authn.AuthConfig `json:"auths"`
	CredHelpers map[string]string           `json:"credHelpers"`
	CredsStore  string                      `json:"credsStore"`
}

// Resolve implements authn.Keychain. The config file is read on every call,
// so that rotated credentials are picked up by a long-running watch.
func (k registryKeychain) Resolve(res authn.Resource) (authn.Authenticator, error) {
	a := k.auth
	if a.Username != "" || a.Password != "" {
		return authn.FromConfig(authn.AuthConfig{Username: a.Username, Password: a.Password}), nil
	}
	file, explicit := a.DockerConfig, true
	if file == "" {
		explicit = false
		if d := os.Getenv("DOCKER_CONFIG"); d != "" {
			file = filepath.Join(d, "config.json")
		} else if home, err := os.UserHomeDir(); err == nil {
			file = filepath.Join(home, ".docker", "config.json")
		} else {
			return authn.Anonymous, nil
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		if !explicit && errors.Is(err, os.ErrNotExist) {
			return authn.Anonymous, nil
		}
		return nil, fmt.Errorf("docker config: %w", err)
	}
	var cfg dockerConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("docker config %s: %w", file, err)
	}
	host := normalizeRegistry(res.RegistryStr())
	keys := make([]string, 0, len(cfg.Auths))
	for key := range cfg.Auths {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	listed := false
	for _, key := range keys {
		if normalizeRegistry(configHost(key)) != host {
			continue
		}
		listed = true
		if ac := cfg.Auths[key]; ac != (authn.AuthConfig{}) {
			return authn.FromConfig(ac), nil
		}
	}
	helper := ""
	for key, h := range cfg.CredHelpers {
		if normalizeRegistry(configHost(key)) == host {
			helper = h
		}
	}
	if helper == "" && listed {
		// Docker lists a registry with empty auths when its secret is in
		// the credsStore.
		helper = cfg.CredsStore
	}
	if helper != "" {
		return nil, fmt.Errorf("docker config %s: the credentials for %s are kept by the credential helper %q, which driftwatch does not run: "+
			"set DRIFTWATCH_REGISTRY_USERNAME and DRIFTWATCH_REGISTRY_PASSWORD, or give a Docker config file with an auths entry for it", file, res.RegistryStr(), helper)
	}
	return authn.Anonymous, nil
}

// configHost is the host of an auths or credHelpers key, which may be a
// URL ("https://index.docker.io/v1/").
func configHost(key string) string {
	k := strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	if i := strings.IndexByte(k, '/'); i >= 0 {
		k = k[:i]
	}
	return k
}

// normalizeRegistry maps Docker Hub's aliases to one name.
func normalizeRegistry(host string) string {
	switch host {
	case "docker.io", "registry-1.docker.io":
		return name.DefaultRegistry
	}
	return host
}
