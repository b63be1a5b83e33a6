package helmchart

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/gitsource/helmchart/chartrepotest"
)

const (
	testUser = "ci"
	testPass = "s3cret"
)

// testChart is a minimal chart's files.
func testChart(name, version string) map[string]string {
	return map[string]string{
		"Chart.yaml":        "apiVersion: v2\nname: " + name + "\nversion: " + version + "\n",
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n",
	}
}

// testRepoConfig writes a repositories.yaml and returns its path.
func testRepoConfig(t *testing.T, entries ...map[string]any) string {
	t.Helper()
	data, err := yaml.Marshal(map[string]any{"apiVersion": "", "repositories": entries})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "repositories.yaml")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// testClosedURL is an http URL on 127.0.0.1 where nothing listens.
func testClosedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

// testKeychain hands the same basic credentials to every registry.
type testKeychain struct{ user, pass string }

func (k testKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: k.user, Password: k.pass}, nil
}

func testDigest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// testErr is an error's text, "" for nil.
func testErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestFetcherChart(t *testing.T) {
	repo := chartrepotest.NewRepo(t, chartrepotest.Options{Username: testUser, Password: testPass})
	app100 := repo.Add(t, testChart("app", "1.0.0"))
	app120 := repo.Add(t, testChart("app", "1.2.0"))
	app200 := repo.Add(t, testChart("app", "2.0.0"))
	repo.Add(t, testChart("app", "3.0.0-rc.1"))
	tampered := repo.Add(t, testChart("tampered", "1.0.0"))
	repo.Put(tampered.File, chartrepotest.Package(t, map[string]string{"Chart.yaml": "name: tampered\nversion: 1.0.0\nevil: true\n"}).Archive)

	broken := chartrepotest.NewRepo(t, chartrepotest.Options{})
	broken.Put("index.yaml", []byte("entries: [not a map\n"))

	reg := chartrepotest.NewRegistry(t, chartrepotest.Options{Username: testUser, Password: testPass})
	oci100 := reg.Push(t, "charts", testChart("db", "1.0.0"))
	oci110 := reg.Push(t, "charts", testChart("db", "1.1.0+build.7"))
	reg.Push(t, "charts", testChart("db", "2.0.0"))
	ociRepo := "oci://" + reg.Host + "/charts"

	closed := testClosedURL(t)
	closedHost := strings.TrimPrefix(closed, "http://")

	good := testRepoConfig(t, map[string]any{"name": "charts", "url": repo.URL + "/", "username": testUser, "password": testPass})
	wrong := testRepoConfig(t, map[string]any{"name": "charts", "url": repo.URL, "username": testUser, "password": "nope"})
	none := testRepoConfig(t)

	type result struct {
		Digest string
		Err    string
	}
	tests := []struct {
		name             string
		config           string
		keychain         authn.Keychain
		repo, chart, ver string
		want             result
	}{
		{name: "exact version", config: good, repo: repo.URL, chart: "app", ver: "1.0.0", want: result{Digest: app100.Digest}},
		{name: "caret constraint takes the highest match", config: good, repo: repo.URL, chart: "app", ver: "^1.0.0", want: result{Digest: app120.Digest}},
		{name: "range constraint", config: good, repo: repo.URL + "/", chart: "app", ver: ">=1.0.0 <1.2.0", want: result{Digest: app100.Digest}},
		{name: "empty version is the latest stable", config: good, repo: repo.URL, chart: "app", want: result{Digest: app200.Digest}},
		{name: "repository by @name", config: good, repo: "@charts", chart: "app", ver: "2.0.0", want: result{Digest: app200.Digest}},
		{name: "repository by alias:name", config: good, repo: "alias:charts", chart: "app", ver: "~1.2", want: result{Digest: app120.Digest}},
		{
			name: "unknown repository name", config: good, repo: "@other", chart: "app", ver: "1.0.0",
			want: result{Err: "chart app 1.0.0: repository @other is not in " + good},
		},
		{
			name: "wrong credentials", config: wrong, repo: repo.URL, chart: "app", ver: "1.0.0",
			want: result{Err: "chart app 1.0.0: chart repository " + repo.URL + ": credentials were refused (index.yaml answered 401 Unauthorized)"},
		},
		{
			name: "missing credentials", config: none, repo: repo.URL, chart: "app", ver: "1.0.0",
			want: result{Err: "chart app 1.0.0: chart repository " + repo.URL + ": credentials are needed (index.yaml answered 401 Unauthorized)"},
		},
		{
			name: "tampered archive", config: good, repo: repo.URL, chart: "tampered", ver: "1.0.0",
			want: result{Err: "digest mismatch for tampered-1.0.0 from " + repo.URL + ": index says " + tampered.Digest + ", got " +
				chartrepotest.Package(t, map[string]string{"Chart.yaml": "name: tampered\nversion: 1.0.0\nevil: true\n"}).Digest},
		},
		{
			name: "version not found", config: good, repo: repo.URL, chart: "app", ver: "^4.0.0",
			want: result{Err: `chart app ^4.0.0 from chart repository ` + repo.URL + `: no version matches "^4.0.0" (has 3.0.0-rc.1, 2.0.0, 1.2.0, 1.0.0)`},
		},
		{
			name: "chart not found", config: good, repo: repo.URL, chart: "nope", ver: "1.0.0",
			want: result{Err: "chart nope 1.0.0 from chart repository " + repo.URL + ": index.yaml has no chart nope"},
		},
		{
			name: "bad index.yaml", config: none, repo: broken.URL, chart: "app", ver: "1.0.0",
			want: result{Err: "chart app 1.0.0: chart repository " + broken.URL + ": bad index.yaml: error converting YAML to JSON: yaml: line 1: did not find expected ',' or ']'"},
		},
		{
			name: "unreachable repository", config: none, repo: closed, chart: "app", ver: "1.0.0",
			want: result{Err: "chart app 1.0.0: chart repository " + closed + " is unreachable: dial tcp " + closedHost + ": connect: connection refused"},
		},
		{
			name: "not a repository URL", config: none, repo: "stable", chart: "app", ver: "1.0.0",
			want: result{Err: `chart app 1.0.0: repository "stable" is not an http(s):// or oci:// URL`},
		},
		{name: "OCI exact version", config: none, keychain: testKeychain{testUser, testPass}, repo: ociRepo, chart: "db", ver: "1.0.0", want: result{Digest: oci100.Digest}},
		{name: "OCI build metadata tag", config: none, keychain: testKeychain{testUser, testPass}, repo: ociRepo + "/", chart: "db", ver: "1.1.0+build.7", want: result{Digest: oci110.Digest}},
		{name: "OCI constraint", config: none, keychain: testKeychain{testUser, testPass}, repo: ociRepo, chart: "db", ver: "<2", want: result{Digest: oci110.Digest}},
		{
			name: "OCI version not found", config: none, keychain: testKeychain{testUser, testPass}, repo: ociRepo, chart: "db", ver: "^3",
			want: result{Err: `chart db ^3 from ` + ociRepo + `: no version matches "^3" (has 2.0.0, 1.1.0+build.7, 1.0.0)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Fetcher{RepositoryConfig: tt.config, Keychain: tt.keychain}
			data, err := f.Chart(context.Background(), tt.repo, tt.chart, tt.ver)
			got := result{Err: testErr(err)}
			if err == nil {
				got.Digest = testDigest(data)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Chart(%q, %q, %q) (-want +got):\n%s", tt.repo, tt.chart, tt.ver, diff)
			}
		})
	}
}

func TestFetcherChartOCIErrors(t *testing.T) {
	reg := chartrepotest.NewRegistry(t, chartrepotest.Options{Username: testUser, Password: testPass})
	reg.Push(t, "charts", testChart("db", "1.0.0"))
	ociRepo := "oci://" + reg.Host + "/charts"
	none := testRepoConfig(t)

	tests := []struct {
		name     string
		keychain authn.Keychain
		repo     string
		ver      string
		want     string
	}{
		{name: "anonymous", repo: ociRepo, ver: "1.0.0", want: "chart db 1.0.0 from " + ociRepo + ": registry refused the credentials, or needs some"},
		{name: "wrong credentials", keychain: testKeychain{testUser, "nope"}, repo: ociRepo, ver: "1.0.0", want: "chart db 1.0.0 from " + ociRepo + ": registry refused the credentials, or needs some"},
		{name: "missing tag", keychain: testKeychain{testUser, testPass}, repo: ociRepo, ver: "9.9.9", want: "chart db 9.9.9 from " + ociRepo + ": not found in the registry"},
		{name: "unreachable", repo: "oci://" + strings.TrimPrefix(testClosedURL(t), "http://") + "/charts", ver: "1.0.0", want: "registry is unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Fetcher{RepositoryConfig: none, Keychain: tt.keychain}
			_, err := f.Chart(context.Background(), tt.repo, "db", tt.ver)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Chart() error = %v, want one containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("Chart() error spans lines: %q", err)
			}
		})
	}
}

// TestFetcherCredentialsScope checks that credentials go to the
// repository's host only, unless pass_credentials_all says otherwise.
func TestFetcherCredentialsScope(t *testing.T) {
	tests := []struct {
		name    string
		passAll bool
		want    []chartrepotest.Request
	}{
		{name: "not sent to another host", want: []chartrepotest.Request{{Path: "/app-1.0.0.tgz"}}},
		{name: "sent with pass_credentials_all", passAll: true, want: []chartrepotest.Request{{Path: "/app-1.0.0.tgz", Username: testUser}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			index := chartrepotest.NewRepo(t, chartrepotest.Options{Username: testUser, Password: testPass})
			files := chartrepotest.NewRepo(t, chartrepotest.Options{})
			c := chartrepotest.Package(t, testChart("app", "1.0.0"))
			files.Put(c.File, c.Archive)
			index.AddURL(t, c, files.URL+"/"+c.File)
			f := &Fetcher{RepositoryConfig: testRepoConfig(t, map[string]any{
				"name": "charts", "url": index.URL, "username": testUser, "password": testPass, "pass_credentials_all": tt.passAll,
			})}
			if _, err := f.Chart(context.Background(), index.URL, "app", "1.0.0"); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, files.Requests()); diff != "" {
				t.Errorf("archive host requests (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]chartrepotest.Request{{Path: "/index.yaml", Username: testUser}}, index.Requests()); diff != "" {
				t.Errorf("repository requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFetcherCache(t *testing.T) {
	repo := chartrepotest.NewRepo(t, chartrepotest.Options{})
	c := repo.Add(t, testChart("app", "1.0.0"))
	reg := chartrepotest.NewRegistry(t, chartrepotest.Options{})
	oc := chartrepotest.PushOCI(t, reg.Host, "charts", testChart("db", "1.0.0"))
	cache := t.TempDir()
	f := &Fetcher{RepositoryConfig: testRepoConfig(t), CacheDir: cache}
	ctx := context.Background()

	for i := range 2 {
		data, err := f.Chart(ctx, repo.URL, "app", "1.0.0")
		if err != nil {
			t.Fatal(err)
		}
		if got := testDigest(data); got != c.Digest {
			t.Fatalf("fetch %d: digest %s, want %s", i, got, c.Digest)
		}
		data, err = f.Chart(ctx, "oci://"+reg.Host+"/charts", "db", "1.0.0")
		if err != nil {
			t.Fatal(err)
		}
		if got := testDigest(data); got != oc.Digest {
			t.Fatalf("OCI fetch %d: digest %s, want %s", i, got, oc.Digest)
		}
	}
	if diff := cmp.Diff(map[string]int{"/index.yaml": 2, "/app-1.0.0.tgz": 1}, map[string]int{
		"/index.yaml": repo.Count("/index.yaml"), "/app-1.0.0.tgz": repo.Count("/app-1.0.0.tgz"),
	}); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	var names []string
	entries, err := os.ReadDir(cache)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{strings.Replace(c.Digest, ":", "-", 1) + ".tgz", strings.Replace(oc.Digest, ":", "-", 1) + ".tgz"}
	sort.Strings(want)
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("cache entries (-want +got):\n%s", diff)
	}

	// A damaged cache entry is fetched again, not returned.
	if err := os.WriteFile(filepath.Join(cache, strings.Replace(c.Digest, ":", "-", 1)+".tgz"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := f.Chart(ctx, repo.URL, "app", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if got := testDigest(data); got != c.Digest || repo.Count("/app-1.0.0.tgz") != 2 {
		t.Errorf("after damage: digest %s (want %s), %d downloads (want 2)", got, c.Digest, repo.Count("/app-1.0.0.tgz"))
	}
}

// helmHashReq is helm's internal/resolver.HashReq (helm.sh/helm/v4
// v4.3.1), copied to write Chart.lock files as helm dependency update does.
func helmHashReq(req, lock []*chart.Dependency) (string, error) {
	data, err := json.Marshal([2][]*chart.Dependency{req, lock})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// testLock writes the Chart.lock helm would for chartYAML's dependencies
// (loaded by helm's own loader, "@name" repositories replaced by urls)
// locked at locked.
func testLock(t *testing.T, chartYAML string, urls map[string]string, locked []*chart.Dependency) string {
	t.Helper()
	c, err := loader.LoadFiles([]*archive.BufferedFile{{Name: "Chart.yaml", Data: []byte(chartYAML)}})
	if err != nil {
		t.Fatal(err)
	}
	req := c.Metadata.Dependencies
	for _, d := range req {
		if u, ok := urls[d.Repository]; ok {
			d.Repository = u
		}
	}
	digest, err := helmHashReq(req, locked)
	if err != nil {
		t.Fatal(err)
	}
	data, err := yaml.Marshal(&chart.Lock{Generated: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), Digest: digest, Dependencies: locked})
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// testFiles turns a map of chart files into BufferedFiles, sorted.
func testFiles(files map[string]string) []*archive.BufferedFile {
	var out []*archive.BufferedFile
	for n, d := range files {
		out = append(out, &archive.BufferedFile{Name: n, Data: []byte(d)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func TestFetcherDependencies(t *testing.T) {
	repo := chartrepotest.NewRepo(t, chartrepotest.Options{Username: testUser, Password: testPass})
	redis100 := repo.Add(t, testChart("redis", "1.0.0"))
	redis110 := repo.Add(t, testChart("redis", "1.1.0"))
	common := repo.Add(t, testChart("common-lib", "2.0.0"))
	reg := chartrepotest.NewRegistry(t, chartrepotest.Options{})
	pg := chartrepotest.PushOCI(t, reg.Host, "charts", testChart("pg", "3.0.0"))
	pg31 := chartrepotest.PushOCI(t, reg.Host, "charts", testChart("pg", "3.1.0"))
	ociRepo := "oci://" + reg.Host + "/charts"
	config := testRepoConfig(t, map[string]any{"name": "mycharts", "url": repo.URL, "username": testUser, "password": testPass})

	parent := func(deps string) string {
		return "apiVersion: v2\nname: parent\nversion: 0.1.0\ndependencies:\n" + deps
	}
	redisDep := "- name: redis\n  version: ^1.0.0\n  repository: " + repo.URL + "\n"
	aliasDep := "- name: redis\n  version: ^1.0.0\n  repository: '@mycharts'\n"
	ociDep := "- name: pg\n  version: '>=3.0.0 <3.1.0'\n  repository: " + ociRepo + "\n"
	commonDep := "- name: common-lib\n  version: 2.x\n  repository: " + repo.URL + "\n  alias: common\n"

	type file struct{ Name, Digest string }
	tests := []struct {
		name     string
		files    map[string]string
		want     []file
		wantErr  string
		wantTgzs int // requests for archives on the chart repository
	}{
		{
			name:     "Chart.lock in sync fetches the locked versions",
			files:    map[string]string{"Chart.yaml": parent(redisDep + ociDep), "Chart.lock": testLock(t, parent(redisDep+ociDep), nil, []*chart.Dependency{{Name: "redis", Version: "1.0.0", Repository: repo.URL}, {Name: "pg", Version: "3.0.0", Repository: ociRepo}})},
			want:     []file{{"charts/pg-3.0.0.tgz", pg.Digest}, {"charts/redis-1.0.0.tgz", redis100.Digest}},
			wantTgzs: 1,
		},
		{
			name:    "Chart.lock out of sync",
			files:   map[string]string{"Chart.yaml": parent(redisDep + ociDep), "Chart.lock": testLock(t, parent(redisDep), nil, []*chart.Dependency{{Name: "redis", Version: "1.0.0", Repository: repo.URL}})},
			wantErr: "Chart.lock is out of sync with Chart.yaml's dependencies (run helm dependency update)",
		},
		{
			name:     "without Chart.lock the constraints are resolved",
			files:    map[string]string{"Chart.yaml": parent(redisDep + commonDep + "- name: pg\n  version: ^3\n  repository: " + ociRepo + "\n")},
			want:     []file{{"charts/common-lib-2.0.0.tgz", common.Digest}, {"charts/pg-3.1.0.tgz", pg31.Digest}, {"charts/redis-1.1.0.tgz", redis110.Digest}},
			wantTgzs: 2,
		},
		{
			name:     "OCI dependency",
			files:    map[string]string{"Chart.yaml": parent(ociDep)},
			want:     []file{{"charts/pg-3.0.0.tgz", pg.Digest}},
			wantTgzs: 0,
		},
		{
			name: "vendored subcharts are not fetched",
			files: map[string]string{
				"Chart.yaml":                  parent(redisDep + commonDep + ociDep),
				"charts/redis/Chart.yaml":     "apiVersion: v2\nname: redis\nversion: 1.0.0\n",
				"charts/common-lib-2.0.0.tgz": "not read",
			},
			want:     []file{{"charts/pg-3.0.0.tgz", pg.Digest}},
			wantTgzs: 0,
		},
		{
			name:  "everything vendored asks nothing, even with a stale lock",
			files: map[string]string{"Chart.yaml": parent(aliasDep), "Chart.lock": "digest: sha256:0\n", "charts/redis-1.0.0.tgz": "not read"},
		},
		{
			name:     "repository alias through repositories.yaml, with a lock over the resolved URL",
			files:    map[string]string{"Chart.yaml": parent(aliasDep), "Chart.lock": testLock(t, parent(aliasDep), map[string]string{"@mycharts": repo.URL}, []*chart.Dependency{{Name: "redis", Version: "1.0.0", Repository: repo.URL}})},
			want:     []file{{"charts/redis-1.0.0.tgz", redis100.Digest}},
			wantTgzs: 1,
		},
		{
			name:     "repository alias without a lock",
			files:    map[string]string{"Chart.yaml": parent("- name: redis\n  version: 1.0.0\n  repository: alias:mycharts\n")},
			want:     []file{{"charts/redis-1.0.0.tgz", redis100.Digest}},
			wantTgzs: 1,
		},
		{
			name:     "one chart under two aliases is fetched once",
			files:    map[string]string{"Chart.yaml": parent(redisDep + "- name: redis\n  version: ^1.0.0\n  repository: " + repo.URL + "\n  alias: cache\n")},
			want:     []file{{"charts/redis-1.1.0.tgz", redis110.Digest}},
			wantTgzs: 1,
		},
		{
			name:    "file:// dependency not vendored",
			files:   map[string]string{"Chart.yaml": parent(redisDep + "- name: local\n  version: 0.1.0\n  repository: file://../local\n")},
			wantErr: "dependencies not vendored under charts/ and not fetchable from a repository: local (file://../local)",
		},
		{
			name:     "file:// dependency vendored",
			files:    map[string]string{"Chart.yaml": parent(redisDep + "- name: local\n  version: 0.1.0\n  repository: file://../local\n"), "charts/local/Chart.yaml": "name: local\nversion: 0.1.0\n"},
			want:     []file{{"charts/redis-1.1.0.tgz", redis110.Digest}},
			wantTgzs: 1,
		},
		{
			name:    "unknown repository alias",
			files:   map[string]string{"Chart.yaml": parent("- name: redis\n  version: 1.0.0\n  repository: '@elsewhere'\n")},
			wantErr: "dependency redis: repository @elsewhere is not in " + config,
		},
		{
			name:    "version not in the repository",
			files:   map[string]string{"Chart.yaml": parent("- name: redis\n  version: ~2.0\n  repository: " + repo.URL + "\n")},
			wantErr: `dependency redis: chart redis ~2.0 from chart repository ` + repo.URL + `: no version matches "~2.0" (has 1.1.0, 1.0.0)`,
		},
		{
			name:  "no dependencies",
			files: map[string]string{"Chart.yaml": "apiVersion: v2\nname: parent\nversion: 0.1.0\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := repo.Count("/redis-1.0.0.tgz") + repo.Count("/redis-1.1.0.tgz") + repo.Count("/common-lib-2.0.0.tgz")
			f := &Fetcher{RepositoryConfig: config}
			got, err := f.Dependencies(context.Background(), testFiles(tt.files))
			if diff := cmp.Diff(tt.wantErr, testErr(err)); diff != "" {
				t.Errorf("Dependencies() error (-want +got):\n%s", diff)
			}
			var gotFiles []file
			for _, f := range got {
				gotFiles = append(gotFiles, file{f.Name, testDigest(f.Data)})
			}
			if diff := cmp.Diff(tt.want, gotFiles); diff != "" {
				t.Errorf("Dependencies() (-want +got):\n%s", diff)
			}
			after := repo.Count("/redis-1.0.0.tgz") + repo.Count("/redis-1.1.0.tgz") + repo.Count("/common-lib-2.0.0.tgz")
			if tt.wantErr == "" && after-before != tt.wantTgzs {
				t.Errorf("archive downloads = %d, want %d", after-before, tt.wantTgzs)
			}
		})
	}
}

func TestFetcherDependenciesLocalError(t *testing.T) {
	f := &Fetcher{RepositoryConfig: testRepoConfig(t)}
	_, err := f.Dependencies(context.Background(), testFiles(map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: parent\nversion: 0.1.0\ndependencies:\n- name: sub\n  version: 0.1.0\n",
	}))
	var le *depLocalError
	if !errors.As(err, &le) {
		t.Fatalf("Dependencies() error = %v, want a *depLocalError", err)
	}
	if diff := cmp.Diff([]string{"sub (no repository)"}, le.Deps); diff != "" {
		t.Errorf("depLocalError.Deps (-want +got):\n%s", diff)
	}
}

// TestLockDigestMatchesHelm checks the Chart.lock digest against digests
// helm itself wrote.
func TestLockDigestMatchesHelm(t *testing.T) {
	tests := []struct {
		name         string
		chartYAML    string
		requirements string // requirements.yaml of a v1 chart
		lockName     string // default Chart.lock
		lock         string
		wantErr      string
	}{
		{
			// helm.sh/helm/v4@v4.3.1/pkg/chart/v2/util/testdata/import-values-from-enabled-subchart/parent-chart:
			// conditions, tags and import-values are hashed too.
			name: "helm testdata parent-chart",
			chartYAML: `apiVersion: v2
name: parent-chart
version: v0.1.0
appVersion: v0.1.0
dependencies:
  - name: dev
    repository: "file://envs/dev"
    version: ">= 0.0.1"
    condition: dev.enabled,global.dev.enabled
    tags:
      - dev
    import-values:
      - data

  - name: prod
    repository: "file://envs/prod"
    version: ">= 0.0.1"
    condition: prod.enabled,global.prod.enabled
    tags:
      - prod
    import-values:
      - data`,
			lock: `dependencies:
- name: dev
  repository: file://envs/dev
  version: v0.1.0
- name: prod
  repository: file://envs/prod
  version: v0.1.0
digest: sha256:9403fc24f6cf9d6055820126cf7633b4bd1fed3c77e4880c674059f536346182
generated: "2020-02-03T10:38:51.180474+01:00"
`,
		},
		{
			// helm.sh/helm/v4@v4.3.1/pkg/cmd/testdata/testcharts/issue-7233:
			// an apiVersion v1 chart whose requirements.lock Helm 2 wrote.
			name:         "helm testdata issue-7233",
			chartYAML:    "apiVersion: v1\nappVersion: \"1.0\"\ndescription: A Helm chart for Kubernetes\nname: issue-7233\nversion: 0.1.0\n",
			requirements: "dependencies:\n- name: alpine\n  version: 0.1.0\n  repository: file://../alpine\n",
			lockName:     "requirements.lock",
			lock:         "dependencies:\n- name: alpine\n  repository: file://../alpine\n  version: 0.1.0\ndigest: sha256:7b380b1a826e7be1eecb089f66209d6d3df54be4bf879d4a8e6f8a9e871710e5\ngenerated: \"2020-01-31T11:30:21.911547651Z\"\n",
		},
		{
			// helm.sh/helm/v4@v4.3.1/internal/resolver/resolver_test.go TestHashReq
			name:      "helm TestHashReq",
			chartYAML: "apiVersion: v2\nname: x\nversion: 1.0.0\ndependencies:\n- name: alpine\n  version: 0.1.0\n  repository: http://localhost:8879/charts\n",
			lock:      "digest: sha256:fb239e836325c5fa14b29d1540a13b7d3ba13151b67fe719f820e0ef6d66aaaf\ndependencies:\n- name: alpine\n  version: 0.1.0\n  repository: http://localhost:8879/charts\n",
		},
		{
			name:      "helm TestHashReq with a range in Chart.yaml",
			chartYAML: "apiVersion: v2\nname: x\nversion: 1.0.0\ndependencies:\n- name: alpine\n  version: ^0.1.0\n  repository: http://localhost:8879/charts\n",
			lock:      "digest: sha256:fb239e836325c5fa14b29d1540a13b7d3ba13151b67fe719f820e0ef6d66aaaf\ndependencies:\n- name: alpine\n  version: 0.1.0\n  repository: http://localhost:8879/charts\n",
			wantErr:   "Chart.lock is out of sync with Chart.yaml's dependencies (run helm dependency update)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"Chart.yaml": tt.chartYAML, depOr(tt.lockName, "Chart.lock"): tt.lock}
			if tt.requirements != "" {
				files["requirements.yaml"] = tt.requirements
			}
			spec, err := depRead(testFiles(files))
			if err != nil {
				t.Fatal(err)
			}
			v2Sum, err := depHashV2Req(spec.deps)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantErr, testErr(spec.checkLock(v2Sum))); diff != "" {
				t.Errorf("checkLock() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRepositoryConfigFile(t *testing.T) {
	t.Setenv("HELM_CONFIG_HOME", t.TempDir())
	t.Setenv("HELM_REPOSITORY_CONFIG", "")
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	tests := []struct {
		name    string
		env     string
		config  string
		wantErr string
	}{
		{name: "default file missing is fine"},
		{name: "environment file missing is fine", env: missing},
		{name: "named file missing is an error", config: missing, wantErr: "repository config: open " + missing + ": no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HELM_REPOSITORY_CONFIG", tt.env)
			_, err := (&Fetcher{RepositoryConfig: tt.config}).repoConfig()
			if diff := cmp.Diff(tt.wantErr, testErr(err)); diff != "" {
				t.Errorf("repoConfig() error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDepResolveURL(t *testing.T) {
	tests := []struct {
		repo, ref, want string
	}{
		{repo: "https://charts.example.com", ref: "app-1.0.0.tgz", want: "https://charts.example.com/app-1.0.0.tgz"},
		{repo: "https://charts.example.com/stable/", ref: "app-1.0.0.tgz", want: "https://charts.example.com/stable/app-1.0.0.tgz"},
		{repo: "https://charts.example.com/stable", ref: "files/app-1.0.0.tgz", want: "https://charts.example.com/stable/files/app-1.0.0.tgz"},
		{repo: "https://charts.example.com/stable", ref: "/other/app-1.0.0.tgz", want: "https://charts.example.com/other/app-1.0.0.tgz"},
		{repo: "https://charts.example.com/stable?token=x", ref: "app-1.0.0.tgz", want: "https://charts.example.com/stable/app-1.0.0.tgz?token=x"},
		{repo: "https://charts.example.com/stable", ref: "https://cdn.example.net/app-1.0.0.tgz", want: "https://cdn.example.net/app-1.0.0.tgz"},
	}
	for _, tt := range tests {
		got, err := depResolveURL(tt.repo, tt.ref)
		if err != nil {
			t.Errorf("depResolveURL(%q, %q): %v", tt.repo, tt.ref, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("depResolveURL(%q, %q) (-want +got):\n%s", tt.repo, tt.ref, diff)
		}
	}
}
