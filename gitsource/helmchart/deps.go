package helmchart

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"sigs.k8s.io/yaml"
)

// Limits on what a repository or registry may make us read. Chart archives
// are small (the biggest public charts are a few MiB); indexes of large
// public repositories reach tens of MiB.
const (
	depMaxArchiveBytes = 64 << 20
	depMaxIndexBytes   = 128 << 20
	depHTTPTimeout     = 2 * time.Minute

	// Helm's OCI media types (helm.sh/helm/v4/pkg/registry/constants.go).
	depOCIConfigMediaType      = "application/vnd.cncf.helm.config.v1+json"
	depOCIChartMediaType       = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	depOCILegacyChartMediaType = "application/tar+gzip"
)

// Fetcher brings remote charts: from HTTP(S) chart repositories (index.yaml
// + .tgz) and OCI registries.
//
// Every archive is checked against a digest before it is returned: for a
// chart repository the sha256 its index.yaml gives for the version (an index
// entry without a digest is accepted unchecked, as Helm does); for an OCI
// registry the layer digest of the chart's manifest, checked by
// go-containerregistry while reading. A Fetcher holds no state between calls
// (index.yaml files are kept for one Dependencies call only), so one value may
// be used by several goroutines.
type Fetcher struct {
	// RepositoryConfig is Helm's repositories.yaml (entries: name, url,
	// username, password, caFile, certFile, keyFile,
	// insecure_skip_tls_verify, pass_credentials_all). Empty means
	// $HELM_REPOSITORY_CONFIG, else Helm's default location
	// ($HELM_CONFIG_HOME, $XDG_CONFIG_HOME/helm or ~/.config/helm on Linux);
	// a missing file at those is fine (no named repositories, no
	// credentials), a missing file named here is an error.
	RepositoryConfig string
	// Keychain gives OCI registry credentials; nil means anonymous.
	Keychain authn.Keychain
	// CacheDir keeps chart archives by their sha256 digest; empty means no
	// cache.
	CacheDir string
	// HTTPClient fetches from chart repositories (and its Transport from OCI
	// registries); nil means a client with a two-minute timeout over
	// http.DefaultTransport.
	HTTPClient *http.Client
}

// Chart fetches one chart archive (.tgz bytes).
//
// repo is an https:// or http:// chart repository URL (its index.yaml names
// the version's URLs and digest), "oci://host/path" (the chart is the OCI
// artifact host/path/name:version, with Helm's media types), or "@name" or
// "alias:name" naming an entry of RepositoryConfig as in Chart.yaml. version
// is an exact version or a semver constraint, of which the highest matching
// version is used, as Helm does; empty means the latest stable version.
//
// Credentials come from the RepositoryConfig entry whose url is repo; they
// are sent to that scheme and host only, unless the entry sets
// pass_credentials_all.
func (f *Fetcher) Chart(ctx context.Context, repo, name, version string) ([]byte, error) {
	cfg, err := f.repoConfig()
	if err != nil {
		return nil, err
	}
	got, err := f.fetch(ctx, &depRun{cfg: cfg, indexes: map[string]*repoIndex{}}, repo, name, version)
	if err != nil {
		return nil, err
	}
	return got.data, nil
}

// Dependencies returns the archives, as BufferedFiles named
// "charts/<name>-<version>.tgz", of the dependencies chartFiles' Chart.yaml
// declares (apiVersion v2 dependencies:, or requirements.yaml for apiVersion
// v1) that are not vendored under charts/. chartFiles are the chart's files
// with names relative to the chart root (Chart.yaml, Chart.lock, charts/...).
//
// A dependency is vendored when charts/ holds a directory whose Chart.yaml
// names it (charts/<name>/ normally) or an archive charts/<name>-<semver>.tgz,
// whatever the version: helm template renders what is vendored.
//
// With a Chart.lock, its versions are fetched once its digest is checked
// against Chart.yaml's dependencies the way helm dependency build does
// (after "@name" repositories are resolved to their URLs); a stale lock is an
// error. Without one, Chart.yaml's constraints are resolved against the
// repositories.
//
// Dependencies whose repository is file:// (or empty) live in the chart's
// source tree, which Dependencies does not see: the caller (the renderer)
// must vendor them into chartFiles as charts/<name>/... before calling.
// Otherwise Dependencies fetches nothing and returns a *depLocalError naming
// them.
func (f *Fetcher) Dependencies(ctx context.Context, chartFiles []*archive.BufferedFile) ([]*archive.BufferedFile, error) {
	spec, err := depRead(chartFiles)
	if err != nil {
		return nil, err
	}
	vendored := depVendored(chartFiles)
	if !slices.ContainsFunc(spec.deps, func(d *chart.Dependency) bool { return !vendored[d.Name] }) {
		// Nothing to fetch: like helm template, do not ask for repository
		// names or a fresh lock then.
		return nil, nil
	}
	cfg, err := f.repoConfig()
	if err != nil {
		return nil, err
	}
	// Helm 2 hashed the requirements before names were resolved.
	v2Sum := ""
	if spec.v1 && spec.lock != nil {
		if v2Sum, err = depHashV2Req(spec.deps); err != nil {
			return nil, err
		}
	}
	for _, d := range spec.deps {
		if d.Repository, err = cfg.resolveName(d.Repository); err != nil {
			return nil, fmt.Errorf("dependency %s: %w", d.Name, err)
		}
	}
	want := spec.deps
	if spec.lock != nil {
		if err := spec.checkLock(v2Sum); err != nil {
			return nil, err
		}
		want = spec.lock.Dependencies
	}

	var fetch []*chart.Dependency
	local := &depLocalError{}
	for _, d := range want {
		if d == nil || vendored[d.Name] {
			continue
		}
		repo, err := cfg.resolveName(d.Repository)
		if err != nil {
			return nil, fmt.Errorf("dependency %s: %w", d.Name, err)
		}
		if repo == "" || strings.HasPrefix(repo, "file://") {
			local.Deps = append(local.Deps, d.Name+" ("+depOr(repo, "no repository")+")")
			continue
		}
		fetch = append(fetch, &chart.Dependency{Name: d.Name, Version: d.Version, Repository: repo})
	}
	if len(local.Deps) > 0 {
		return nil, local
	}

	run := &depRun{cfg: cfg, indexes: map[string]*repoIndex{}}
	var out []*archive.BufferedFile
	seen := map[string]bool{}
	for _, d := range fetch {
		// The same chart may be a dependency under several aliases.
		key := d.Repository + " " + d.Name + " " + d.Version
		if seen[key] {
			continue
		}
		seen[key] = true
		got, err := f.fetch(ctx, run, d.Repository, d.Name, d.Version)
		if err != nil {
			return nil, fmt.Errorf("dependency %s: %w", d.Name, err)
		}
		file := "charts/" + d.Name + "-" + got.version + ".tgz"
		if seen[file] {
			continue
		}
		seen[file] = true
		out = append(out, &archive.BufferedFile{Name: file, ModTime: got.modTime, Data: got.data})
	}
	slices.SortFunc(out, func(a, b *archive.BufferedFile) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// depLocalError is returned by Dependencies for dependencies that live in
// the chart's source tree (file:// or no repository) and are not vendored in
// the files it was given.
type depLocalError struct {
	// Deps are "name (repository)".
	Deps []string
}

func (e *depLocalError) Error() string {
	return "dependencies not vendored under charts/ and not fetchable from a repository: " + strings.Join(e.Deps, ", ")
}

// depOr returns s, or def when s is empty.
func depOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// depSpec is what a chart declares about its dependencies.
type depSpec struct {
	deps []*chart.Dependency
	lock *chart.Lock // nil without a lock file
	// v1 is an apiVersion v1 chart (requirements.yaml, requirements.lock),
	// whose lock may carry Helm 2's digest.
	v1 bool
}

// depRead parses the dependencies and the lock from the chart's files, the
// way helm's loader does (sigs.k8s.io/yaml into the chart types, strings
// sanitised by Dependency.Validate) so the lock digest is computed over the
// same values.
func depRead(files []*archive.BufferedFile) (*depSpec, error) {
	byName := map[string][]byte{}
	for _, f := range files {
		switch f.Name {
		case "Chart.yaml", "Chart.lock", "requirements.yaml", "requirements.lock":
			byName[f.Name] = f.Data
		}
	}
	data, ok := byName["Chart.yaml"]
	if !ok {
		return nil, errors.New("chart dependencies: Chart.yaml is missing")
	}
	md := &chart.Metadata{}
	if err := yaml.Unmarshal(data, md); err != nil {
		return nil, fmt.Errorf("chart dependencies: cannot read Chart.yaml: %w", err)
	}
	spec := &depSpec{v1: md.APIVersion == "" || md.APIVersion == chart.APIVersionV1}
	lockName := "Chart.lock"
	if spec.v1 {
		lockName = "requirements.lock"
		if req, ok := byName["requirements.yaml"]; ok {
			if err := yaml.Unmarshal(req, md); err != nil {
				return nil, fmt.Errorf("chart dependencies: cannot read requirements.yaml: %w", err)
			}
		}
	}
	for _, d := range md.Dependencies {
		if err := d.Validate(); err != nil {
			return nil, fmt.Errorf("chart dependencies: %w", err)
		}
	}
	spec.deps = md.Dependencies
	if data, ok := byName[lockName]; ok {
		spec.lock = &chart.Lock{}
		if err := yaml.Unmarshal(data, spec.lock); err != nil {
			return nil, fmt.Errorf("chart dependencies: cannot read %s: %w", lockName, err)
		}
	}
	return spec, nil
}

// checkLock fails when the lock was not generated from the dependencies,
// with helm's test: the sha256 of the JSON of [deps, lock.Dependencies]
// (internal/resolver.HashReq), or for v1 charts also Helm 2's hash of the
// requirements alone (HashV2Req, over the names as written). s.deps must
// have their repository names already resolved to URLs, as helm does before
// hashing.
func (s *depSpec) checkLock(v2Sum string) error {
	sum, err := depHashReq(s.deps, s.lock.Dependencies)
	if err == nil && sum == s.lock.Digest {
		return nil
	}
	if s.v1 {
		if v2Sum == s.lock.Digest {
			return nil
		}
		return errors.New("requirements.lock is out of sync with requirements.yaml (run helm dependency update)")
	}
	return errors.New("Chart.lock is out of sync with Chart.yaml's dependencies (run helm dependency update)") //nolint:staticcheck // Chart.lock is a file name
}

// depHashV2Req is helm's internal/resolver.HashV2Req.
func depHashV2Req(req []*chart.Dependency) (string, error) {
	data, err := json.Marshal(map[string][]*chart.Dependency{"dependencies": req})
	if err != nil {
		return "", fmt.Errorf("lock digest: %w", err)
	}
	return depSHA256(data), nil
}

// depHashReq is helm's internal/resolver.HashReq: the digest Chart.lock
// records for Chart.yaml's dependencies and the locked ones.
func depHashReq(req, lock []*chart.Dependency) (string, error) {
	data, err := json.Marshal([2][]*chart.Dependency{req, lock})
	if err != nil {
		return "", fmt.Errorf("lock digest: %w", err)
	}
	return depSHA256(data), nil
}

func depSHA256(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// depVendored returns the names of the charts vendored under charts/: the
// name in each charts/<dir>/Chart.yaml, and <name> of each
// charts/<name>-<semver>.tgz.
func depVendored(files []*archive.BufferedFile) map[string]bool {
	names := map[string]bool{}
	for _, f := range files {
		rest, ok := strings.CutPrefix(f.Name, "charts/")
		if !ok {
			continue
		}
		if dir, ok := strings.CutSuffix(rest, "/Chart.yaml"); ok && !strings.Contains(dir, "/") {
			var md struct {
				Name string `json:"name"`
			}
			// helm matches subcharts by the name in their Chart.yaml.
			if yaml.Unmarshal(f.Data, &md) != nil || md.Name == "" {
				md.Name = dir
			}
			names[md.Name] = true
			continue
		}
		base, ok := strings.CutSuffix(rest, ".tgz")
		if !ok || strings.Contains(base, "/") {
			continue
		}
		// Chart names may contain dashes: try every split.
		for i := strings.Index(base, "-"); i > 0; {
			if _, err := semver.StrictNewVersion(base[i+1:]); err == nil {
				names[base[:i]] = true
			}
			next := strings.Index(base[i+1:], "-")
			if next < 0 {
				break
			}
			i += next + 1
		}
	}
	return names
}

// depRun is what one Chart or Dependencies call shares: the repository
// config and the index.yaml files already read.
type depRun struct {
	cfg     *repoConfig
	indexes map[string]*repoIndex
}

// depFetched is a verified chart archive.
type depFetched struct {
	data    []byte
	version string
	modTime time.Time
}

// fetch brings name at version (exact or constraint) from repo.
func (f *Fetcher) fetch(ctx context.Context, run *depRun, repo, name, version string) (*depFetched, error) {
	repo, err := run.cfg.resolveName(repo)
	if err != nil {
		return nil, fmt.Errorf("chart %s %s: %w", name, depOr(version, "latest"), err)
	}
	if strings.HasPrefix(repo, "oci://") {
		return f.fetchOCI(ctx, repo, name, version)
	}
	u, err := url.Parse(repo)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("chart %s %s: repository %q is not an http(s):// or oci:// URL", name, depOr(version, "latest"), depRedact(repo))
	}
	return f.fetchHTTP(ctx, run, repo, name, version)
}

// fetchHTTP brings a chart from a chart repository.
func (f *Fetcher) fetchHTTP(ctx context.Context, run *depRun, repo, name, version string) (*depFetched, error) {
	entry := run.cfg.entryFor(repo)
	client, done, err := f.repoClient(entry)
	if err != nil {
		return nil, fmt.Errorf("chart %s %s from chart repository %s: %w", name, depOr(version, "latest"), depRedact(repo), err)
	}
	defer done()
	rc := &repoClient{client: client, entry: entry, repo: repo}

	idx := run.indexes[repo]
	if idx == nil {
		if idx, err = rc.index(ctx); err != nil {
			return nil, fmt.Errorf("chart %s %s: %w", name, depOr(version, "latest"), err)
		}
		run.indexes[repo] = idx
	}
	cv, err := idx.find(name, version)
	if err != nil {
		return nil, fmt.Errorf("chart %s %s from chart repository %s: %w", name, depOr(version, "latest"), depRedact(repo), err)
	}
	want := depNormalDigest(cv.Digest)
	if data, ok, err := f.cacheGet(want); err != nil {
		return nil, err
	} else if ok {
		return &depFetched{data: data, version: cv.Version, modTime: cv.Created}, nil
	}

	var errs []error
	for _, ref := range cv.URLs {
		target, err := depResolveURL(repo, ref)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		data, err := rc.get(ctx, target, depMaxArchiveBytes)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if want != "" {
			if got := depSHA256(data); got != want {
				return nil, fmt.Errorf("digest mismatch for %s-%s from %s: index says %s, got %s", name, cv.Version, depRedact(repo), want, got)
			}
			if err := f.cachePut(want, data); err != nil {
				return nil, err
			}
		}
		return &depFetched{data: data, version: cv.Version, modTime: cv.Created}, nil
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("chart %s %s from chart repository %s: index.yaml gives no URL", name, cv.Version, depRedact(repo))
	}
	return nil, fmt.Errorf("chart %s %s: %w", name, cv.Version, depOneLine{errors.Join(errs...)})
}

// depNormalDigest turns an index digest (hex, or sha256:hex) into
// "sha256:<hex>", or "" when there is none.
func depNormalDigest(d string) string {
	d = strings.ToLower(strings.TrimSpace(d))
	if d == "" {
		return ""
	}
	return "sha256:" + strings.TrimPrefix(d, "sha256:")
}

// depResolveURL resolves an index.yaml chart URL against the repository URL
// as helm's repo.ResolveReferenceURL does: the repository is a directory and
// its query string is kept.
func depResolveURL(repo, ref string) (string, error) {
	r, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("chart URL %q: %w", ref, err)
	}
	if r.IsAbs() {
		return ref, nil
	}
	base, err := url.Parse(repo)
	if err != nil {
		return "", fmt.Errorf("repository URL: %w", err)
	}
	base.RawPath = strings.TrimSuffix(base.RawPath, "/") + "/"
	base.Path = strings.TrimSuffix(base.Path, "/") + "/"
	out := base.ResolveReference(r)
	out.RawQuery = base.RawQuery
	return out.String(), nil
}

// depRedact drops the user information from a URL for messages.
func depRedact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}

// repoClient reads from one chart repository with its credentials.
type repoClient struct {
	client *http.Client
	entry  *repoEntry // nil when repositories.yaml does not name the URL
	repo   string
}

// index reads and parses the repository's index.yaml.
func (rc *repoClient) index(ctx context.Context) (*repoIndex, error) {
	target, err := depResolveURL(rc.repo, "index.yaml")
	if err != nil {
		return nil, fmt.Errorf("chart repository %s: %w", depRedact(rc.repo), err)
	}
	data, err := rc.get(ctx, target, depMaxIndexBytes)
	if err != nil {
		return nil, err
	}
	idx := &repoIndex{}
	if err := yaml.Unmarshal(data, idx); err != nil {
		return nil, fmt.Errorf("chart repository %s: bad index.yaml: %w", depRedact(rc.repo), err)
	}
	if idx.APIVersion == "" {
		return nil, fmt.Errorf("chart repository %s: bad index.yaml: no apiVersion", depRedact(rc.repo))
	}
	return idx, nil
}

// get reads target, sending the entry's credentials when target is on the
// repository's scheme and host (or pass_credentials_all is set).
func (rc *repoClient) get(ctx context.Context, target string, limit int64) ([]byte, error) {
	where := "chart repository " + depRedact(rc.repo)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	sent := false
	if e := rc.entry; e != nil && e.Username != "" && e.Password != "" {
		r, _ := url.Parse(rc.repo)
		if e.PassCredentialsAll || (r != nil && r.Scheme == req.URL.Scheme && r.Host == req.URL.Host) {
			req.SetBasicAuth(e.Username, e.Password)
			sent = true
		}
	}
	resp, err := rc.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", where, ctx.Err())
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the message already
		}
		return nil, fmt.Errorf("%s is unreachable: %w", where, err)
	}
	defer resp.Body.Close()
	file := path.Base(req.URL.Path)
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		if sent {
			return nil, fmt.Errorf("%s: credentials were refused (%s answered %s)", where, file, resp.Status)
		}
		return nil, fmt.Errorf("%s: credentials are needed (%s answered %s)", where, file, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s: %s answered %s", where, file, resp.Status)
	case resp.ContentLength > limit:
		return nil, fmt.Errorf("%s: %s is larger than %d MiB", where, file, limit>>20)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s: %w", where, file, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %s is larger than %d MiB", where, file, limit>>20)
	}
	return data, nil
}

// repoIndex is the part of a chart repository's index.yaml that fetching
// needs.
type repoIndex struct {
	APIVersion string                       `json:"apiVersion"`
	Entries    map[string][]*repoIndexEntry `json:"entries"`
}

// repoIndexEntry is one chart version in index.yaml.
type repoIndexEntry struct {
	Version string    `json:"version"`
	URLs    []string  `json:"urls"`
	Digest  string    `json:"digest"`
	Created time.Time `json:"created"`
}

// find picks the version of name as helm's IndexFile.Get does: an entry
// whose version is the string asked for, else the highest version
// satisfying it as a constraint (empty: the latest stable).
func (idx *repoIndex) find(name, version string) (*repoIndexEntry, error) {
	all := slices.DeleteFunc(slices.Clone(idx.Entries[name]), func(e *repoIndexEntry) bool {
		return e == nil || len(e.URLs) == 0
	})
	if len(all) == 0 {
		return nil, fmt.Errorf("index.yaml has no chart %s", name)
	}
	if version != "" {
		for _, e := range all {
			if e.Version == version {
				return e, nil
			}
		}
	}
	versions := make([]string, len(all))
	for i, e := range all {
		versions[i] = e.Version
	}
	best, err := depBestVersion(versions, version)
	if err != nil {
		return nil, err
	}
	return all[slices.Index(versions, best)], nil
}

// depBestVersion returns the highest of versions satisfying constraint
// ("" is "*": the latest stable).
func depBestVersion(versions []string, constraint string) (string, error) {
	c, err := semver.NewConstraint(depOr(constraint, "*"))
	if err != nil {
		return "", fmt.Errorf("version %q is neither a version nor a constraint: %w", constraint, err)
	}
	var best *semver.Version
	bestRaw := ""
	var valid []*semver.Version
	for _, raw := range versions {
		v, err := semver.NewVersion(raw)
		if err != nil {
			continue
		}
		valid = append(valid, v)
		if c.Check(v) && (best == nil || v.GreaterThan(best)) {
			best, bestRaw = v, raw
		}
	}
	if best != nil {
		return bestRaw, nil
	}
	slices.SortFunc(valid, func(a, b *semver.Version) int { return b.Compare(a) })
	var have []string
	for _, v := range valid[:min(len(valid), 8)] {
		have = append(have, v.Original())
	}
	if len(valid) > 8 {
		have = append(have, "...")
	}
	return "", fmt.Errorf("no version matches %q (has %s)", depOr(constraint, "*"), depOr(strings.Join(have, ", "), "none"))
}

// fetchOCI pulls host/path/name:version from an OCI registry.
func (f *Fetcher) fetchOCI(ctx context.Context, repo, chartName, version string) (*depFetched, error) {
	where := strings.TrimSuffix(repo, "/")
	fail := func(v string, err error) (*depFetched, error) {
		return nil, fmt.Errorf("chart %s %s from %s: %w", chartName, depOr(v, "latest"), where, err)
	}
	ref, err := name.NewRepository(strings.TrimPrefix(where, "oci://") + "/" + chartName)
	if err != nil {
		return fail(version, err)
	}
	opts := []remote.Option{remote.WithContext(ctx)}
	if f.Keychain != nil {
		opts = append(opts, remote.WithAuthFromKeychain(f.Keychain))
	}
	if f.HTTPClient != nil && f.HTTPClient.Transport != nil {
		opts = append(opts, remote.WithTransport(f.HTTPClient.Transport))
	}

	// As helm: a version is a tag (with + spelled _), a constraint is
	// matched against the tags.
	if _, err := semver.NewVersion(version); err != nil {
		tags, err := remote.List(ref, opts...)
		if err != nil {
			return fail(version, depOCIError(err))
		}
		for i := range tags {
			tags[i] = strings.ReplaceAll(tags[i], "_", "+")
		}
		best, err := depBestVersion(tags, version)
		if err != nil {
			return fail(version, err)
		}
		version = best
	}
	img, err := remote.Image(ref.Tag(strings.ReplaceAll(version, "+", "_")), opts...)
	if err != nil {
		return fail(version, depOCIError(err))
	}
	m, err := img.Manifest()
	if err != nil {
		return fail(version, depOCIError(err))
	}
	if m.Config.MediaType != depOCIConfigMediaType {
		return fail(version, fmt.Errorf("not a Helm chart: config media type is %q", m.Config.MediaType))
	}
	i := slices.IndexFunc(m.Layers, func(l v1.Descriptor) bool {
		return l.MediaType == depOCIChartMediaType || l.MediaType == depOCILegacyChartMediaType
	})
	if i < 0 {
		return fail(version, fmt.Errorf("not a Helm chart: no layer of media type %s", depOCIChartMediaType))
	}
	layer := m.Layers[i]
	if layer.Size > depMaxArchiveBytes {
		return fail(version, fmt.Errorf("chart archive is larger than %d MiB", depMaxArchiveBytes>>20))
	}
	var modTime time.Time
	if t, err := time.Parse(time.RFC3339, m.Annotations["org.opencontainers.image.created"]); err == nil {
		modTime = t
	}
	if data, ok, err := f.cacheGet(layer.Digest.String()); err != nil {
		return nil, err
	} else if ok {
		return &depFetched{data: data, version: version, modTime: modTime}, nil
	}
	l, err := img.LayerByDigest(layer.Digest)
	if err != nil {
		return fail(version, depOCIError(err))
	}
	rc, err := l.Compressed()
	if err != nil {
		return fail(version, depOCIError(err))
	}
	defer rc.Close()
	// The reader checks the layer's size and digest at EOF.
	data, err := io.ReadAll(io.LimitReader(rc, depMaxArchiveBytes+1))
	if err != nil {
		return fail(version, depOCIError(err))
	}
	if len(data) > depMaxArchiveBytes {
		return fail(version, fmt.Errorf("chart archive is larger than %d MiB", depMaxArchiveBytes>>20))
	}
	if err := f.cachePut(layer.Digest.String(), data); err != nil {
		return nil, err
	}
	return &depFetched{data: data, version: version, modTime: modTime}, nil
}

// depOneLine prints an error on one line, keeping its chain: registries
// put their response bodies, newlines included, in errors.
type depOneLine struct{ err error }

func (e depOneLine) Error() string { return strings.Join(strings.Fields(e.err.Error()), " ") }
func (e depOneLine) Unwrap() error { return e.err }

// depOCIError turns registry answers into what the user can act on.
func depOCIError(err error) error {
	err = depOneLine{err}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("registry refused the credentials, or needs some: %w", err)
		case http.StatusNotFound:
			return fmt.Errorf("not found in the registry: %w", err)
		}
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &oe) || errors.As(err, &ne) {
		return fmt.Errorf("registry is unreachable: %w", err)
	}
	return err
}

// cacheGet returns the archive cached under digest ("sha256:<hex>"), if
// any and still intact.
func (f *Fetcher) cacheGet(digest string) ([]byte, bool, error) {
	if f.CacheDir == "" || digest == "" {
		return nil, false, nil
	}
	data, err := os.ReadFile(f.cachePath(digest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("chart cache: %w", err)
	}
	if depSHA256(data) != digest {
		return nil, false, nil // damaged: fetch again and overwrite
	}
	return data, true, nil
}

// cachePut stores a verified archive; concurrent writers of the same
// digest write the same bytes, and rename makes each write whole.
func (f *Fetcher) cachePut(digest string, data []byte) error {
	if f.CacheDir == "" || digest == "" {
		return nil
	}
	if err := os.MkdirAll(f.CacheDir, 0o755); err != nil {
		return fmt.Errorf("chart cache: %w", err)
	}
	tmp, err := os.CreateTemp(f.CacheDir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("chart cache: %w", err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("chart cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.cachePath(digest)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("chart cache: %w", err)
	}
	return nil
}

func (f *Fetcher) cachePath(digest string) string {
	return filepath.Join(f.CacheDir, strings.ReplaceAll(digest, ":", "-")+".tgz")
}

// repoClient returns the HTTP client for a repository: the Fetcher's, or a
// copy with the entry's TLS settings. done releases what it made.
func (f *Fetcher) repoClient(e *repoEntry) (*http.Client, func(), error) {
	base := f.HTTPClient
	if base == nil {
		base = &http.Client{Timeout: depHTTPTimeout}
	}
	if e == nil || (e.CAFile == "" && e.CertFile == "" && !e.InsecureSkipTLSVerify) {
		return base, func() {}, nil
	}
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	t, ok := rt.(*http.Transport)
	if !ok {
		return nil, nil, fmt.Errorf("repository %s sets TLS options, which need an *http.Transport", e.Name)
	}
	t = t.Clone()
	tc := t.TLSClientConfig
	if tc == nil {
		tc = &tls.Config{}
	}
	tc = tc.Clone()
	tc.InsecureSkipVerify = e.InsecureSkipTLSVerify //nolint:gosec // the user's repositories.yaml asks for it
	if e.CAFile != "" {
		pem, err := os.ReadFile(e.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("repository %s caFile: %w", e.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("repository %s caFile %s: no PEM certificate", e.Name, e.CAFile)
		}
		tc.RootCAs = pool
	}
	if e.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(e.CertFile, e.KeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("repository %s client certificate: %w", e.Name, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	t.TLSClientConfig = tc
	c := *base
	c.Transport = t
	return &c, t.CloseIdleConnections, nil
}

// repoConfig is Helm's repositories.yaml.
type repoConfig struct {
	path    string
	Entries []*repoEntry `json:"repositories"`
}

// repoEntry is one repository of repositories.yaml, with helm's field names
// (helm.sh/helm/v4/pkg/repo/v1.Entry).
type repoEntry struct {
	Name                  string `json:"name"`
	URL                   string `json:"url"`
	Username              string `json:"username"`
	Password              string `json:"password"`
	CertFile              string `json:"certFile"`
	KeyFile               string `json:"keyFile"`
	CAFile                string `json:"caFile"`
	InsecureSkipTLSVerify bool   `json:"insecure_skip_tls_verify"`
	PassCredentialsAll    bool   `json:"pass_credentials_all"`
}

// repoConfig reads the repositories.yaml the Fetcher names or Helm's.
func (f *Fetcher) repoConfig() (*repoConfig, error) {
	file, named := f.RepositoryConfig, true
	if file == "" {
		file, named = os.Getenv("HELM_REPOSITORY_CONFIG"), false
	}
	if file == "" {
		file = filepath.Join(repoConfigHome(), "repositories.yaml")
	}
	cfg := &repoConfig{path: file}
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) && !named {
		return cfg, nil
	}
	if err != nil {
		return nil, fmt.Errorf("repository config: %w", err)
	}
	if err := yaml.Unmarshal(data, cfg); err != nil {
		return nil, fmt.Errorf("repository config %s: %w", file, err)
	}
	cfg.Entries = slices.DeleteFunc(cfg.Entries, func(e *repoEntry) bool { return e == nil })
	return cfg, nil
}

// repoConfigHome is Helm's configuration directory (helmpath.ConfigPath).
func repoConfigHome() string {
	if d := os.Getenv("HELM_CONFIG_HOME"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "helm")
	}
	home, _ := os.UserHomeDir()
	switch runtime.GOOS {
	case "darwin":
		return filepath.Join(home, "Library", "Preferences", "helm")
	case "windows":
		return filepath.Join(os.Getenv("APPDATA"), "helm")
	}
	return filepath.Join(home, ".config", "helm")
}

// resolveName turns "@name" and "alias:name" into the entry's URL; other
// repositories are returned as they are.
func (c *repoConfig) resolveName(repo string) (string, error) {
	n, ok := strings.CutPrefix(repo, "@")
	if !ok {
		n, ok = strings.CutPrefix(repo, "alias:")
	}
	if !ok {
		return repo, nil
	}
	for _, e := range c.Entries {
		if e.Name == n {
			return e.URL, nil
		}
	}
	return "", fmt.Errorf("repository %s is not in %s", repo, depOr(c.path, "repositories.yaml"))
}

// entryFor returns the entry whose url is repo, ignoring a trailing slash
// and the case of scheme and host.
func (c *repoConfig) entryFor(repo string) *repoEntry {
	key := repoURLKey(repo)
	for _, e := range c.Entries {
		if repoURLKey(e.URL) == key {
			return e
		}
	}
	return nil
}

func repoURLKey(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return raw
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = strings.TrimSuffix(u.RawPath, "/")
	return u.String()
}
