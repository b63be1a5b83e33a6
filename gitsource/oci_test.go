package gitsource

import (
	"archive/tar"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftwatch/driftwatch/gitsource/ocitest"
)

const (
	ociUser = "robot"
	ociPass = "oci-pa55-for-tests"
)

func configMap(name, level string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  LOG_LEVEL: %s\n", name, level)
}

// appFiles is a small artifact: an app directory and another one.
var appFiles = map[string]string{
	"app/configmap.yaml":   configMap("web-config", "info"),
	"other/configmap.yaml": configMap("other-config", "warn"),
}

// loaded is what a test compares of a Desired.
type loaded struct {
	Revision Revision
	Objects  []string // kind/name LOG_LEVEL
}

func summarize(d *Desired) loaded {
	out := loaded{Revision: d.Revision}
	for _, o := range d.Objects {
		lvl, _, _ := unstructured.NestedString(o.Object.Object, "data", "LOG_LEVEL")
		out.Objects = append(out.Objects, o.Object.GetKind()+"/"+o.Object.GetName()+" "+lvl)
	}
	return out
}

// noDockerConfig keeps the user's ~/.docker/config.json out of a test.
func noDockerConfig(t *testing.T) {
	t.Helper()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
}

func TestLoadOCI(t *testing.T) {
	noDockerConfig(t)
	reg := ocitest.Start(t, ocitest.Options{})
	ann := map[string]string{
		ocitest.AnnotationSource:   "https://github.com/org/app",
		ocitest.AnnotationRevision: "main@sha1:0123456789abcdef0123456789abcdef01234567",
	}
	flux := reg.Push(t, "org/app:v1", ocitest.Artifact{Files: appFiles, Annotations: ann})
	latest := reg.Push(t, "org/app:latest", ocitest.Artifact{Files: map[string]string{"cm.yaml": configMap("latest", "debug")}})
	docker := reg.Push(t, "org/docker:v1", ocitest.Artifact{
		ManifestMediaType: types.DockerManifestSchema2, ConfigMediaType: types.DockerConfigJSON,
		Layers: []ocitest.Layer{{MediaType: types.DockerLayer, Files: appFiles}},
	})
	ociLayer := reg.Push(t, "org/oci:v1", ocitest.Artifact{
		ConfigMediaType: types.OCIConfigJSON,
		Layers:          []ocitest.Layer{{MediaType: types.OCILayer, Files: appFiles}},
	})
	plainTar := reg.Push(t, "org/tar:v1", ocitest.Artifact{
		ConfigMediaType: types.OCIConfigJSON,
		Layers: []ocitest.Layer{{MediaType: types.OCIUncompressedLayer, Entries: []ocitest.Entry{
			{Name: "./", Type: tar.TypeDir}, {Name: "./app/", Type: tar.TypeDir},
			{Name: "./app/configmap.yaml", Body: configMap("web-config", "info")},
		}}},
	})
	web, other := "ConfigMap/web-config info", "ConfigMap/other-config warn"
	tests := []struct {
		name, url, path string
		want            loaded
	}{
		{"flux artifact by tag", reg.URL("org/app:v1"), "", loaded{
			Revision: Revision{URL: reg.URL("org/app:v1"), Ref: "v1", Digest: flux,
				Subject: "source https://github.com/org/app revision main@sha1:0123456789abcdef0123456789abcdef01234567"},
			Objects: []string{web, other},
		}},
		{"path inside the artifact", reg.URL("org/app:v1"), "other", loaded{
			Revision: Revision{URL: reg.URL("org/app:v1"), Ref: "v1", Path: "other", Digest: flux,
				Subject: "source https://github.com/org/app revision main@sha1:0123456789abcdef0123456789abcdef01234567"},
			Objects: []string{other},
		}},
		{"by digest", reg.URL("org/app@" + flux), "app", loaded{
			Revision: Revision{URL: reg.URL("org/app@" + flux), Path: "app", Digest: flux,
				Subject: "source https://github.com/org/app revision main@sha1:0123456789abcdef0123456789abcdef01234567"},
			Objects: []string{web},
		}},
		{"no tag means latest", reg.URL("org/app"), "", loaded{
			Revision: Revision{URL: reg.URL("org/app"), Ref: "latest", Digest: latest},
			Objects:  []string{"ConfigMap/latest debug"},
		}},
		{"docker image layer", reg.URL("org/docker:v1"), "app", loaded{
			Revision: Revision{URL: reg.URL("org/docker:v1"), Ref: "v1", Path: "app", Digest: docker},
			Objects:  []string{web},
		}},
		{"oci image layer", reg.URL("org/oci:v1"), "app", loaded{
			Revision: Revision{URL: reg.URL("org/oci:v1"), Ref: "v1", Path: "app", Digest: ociLayer},
			Objects:  []string{web},
		}},
		{"uncompressed tar with ./ names", reg.URL("org/tar:v1"), "app", loaded{
			Revision: Revision{URL: reg.URL("org/tar:v1"), Ref: "v1", Path: "app", Digest: plainTar},
			Objects:  []string{web},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Load(context.Background(), Options{URL: tt.url, Path: tt.path, CacheDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, summarize(d)); diff != "" {
				t.Errorf("Load (-want +got):\n%s", diff)
			}
		})
	}
}

// Every failure is one line naming its cause, wrapped as "oci <url>: ".
func TestLoadOCIErrors(t *testing.T) {
	noDockerConfig(t)
	var mismatch struct{ from, to string }
	reg := ocitest.Start(t, ocitest.Options{Wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case mismatch.from != "" && strings.HasSuffix(r.URL.Path, "/manifests/"+mismatch.from):
				// A registry (or a proxy) serving other content for a digest.
				r.URL.Path = strings.TrimSuffix(r.URL.Path, mismatch.from) + mismatch.to
			case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v2/slow/"):
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			}
			next.ServeHTTP(w, r)
		})
	}})
	good := reg.Push(t, "org/app:v1", ocitest.Artifact{Files: appFiles})
	other := reg.Push(t, "org/app:v2", ocitest.Artifact{Files: map[string]string{"cm.yaml": configMap("v2", "info")}})
	mismatch.from, mismatch.to = other, good
	reg.Push(t, "org/two:v1", ocitest.Artifact{Files: appFiles, Layers: []ocitest.Layer{{Files: appFiles}}})
	reg.Push(t, "org/odd:v1", ocitest.Artifact{Layers: []ocitest.Layer{{MediaType: "application/vnd.example.thing.v1+json"}}})
	reg.Push(t, "org/empty:v1", ocitest.Artifact{})
	reg.Push(t, "slow/app:v1", ocitest.Artifact{Files: appFiles})
	hostile := func(repo string, e ocitest.Entry) string {
		reg.Push(t, repo+":v1", ocitest.Artifact{Layers: []ocitest.Layer{{Files: appFiles, Entries: []ocitest.Entry{e}}}})
		return reg.URL(repo + ":v1")
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadHost := closed.Addr().String()
	closed.Close()
	missing := "sha256:" + strings.Repeat("0", 64)
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"missing tag", Options{URL: reg.URL("org/app:v9")}, `oci ` + reg.URL("org/app:v9") + `: tag "v9" not found`},
		{"missing repository", Options{URL: reg.URL("org/nothing:v1")}, `: repository org/nothing not found`},
		{"missing digest", Options{URL: reg.URL("org/app@" + missing)}, `: digest ` + missing + ` not found`},
		{"digest mismatch", Options{URL: reg.URL("org/app@" + other)}, `: manifest digest mismatch: `},
		{"two layers", Options{URL: reg.URL("org/two:v1")}, `: the artifact has 2 content layers, want one`},
		{"unknown media type", Options{URL: reg.URL("org/odd:v1")}, `: unknown layer media type "application/vnd.example.thing.v1+json"`},
		{"no layers", Options{URL: reg.URL("org/empty:v1")}, `: the artifact has no layers`},
		{"dot-dot path", Options{URL: hostile("hostile/dotdot", ocitest.Entry{Name: "../x", Body: "x"})}, `entry "../x" leaves the artifact root: refused`},
		{"nested dot-dot path", Options{URL: hostile("hostile/nested", ocitest.Entry{Name: "app/../../x", Body: "x"})}, `entry "app/../../x" leaves the artifact root: refused`},
		{"absolute path", Options{URL: hostile("hostile/abs", ocitest.Entry{Name: "/etc/cron.d/x", Body: "x"})}, `entry "/etc/cron.d/x" has an absolute path: refused`},
		{"symlink to /etc", Options{URL: hostile("hostile/symlink", ocitest.Entry{Name: "etc", Type: tar.TypeSymlink, Linkname: "/etc"})}, `entry "etc" is a link to "/etc": links in OCI artifacts are refused`},
		{"relative symlink", Options{URL: hostile("hostile/rel", ocitest.Entry{Name: "app/up", Type: tar.TypeSymlink, Linkname: "../../.."})}, `entry "app/up" is a link to "../../..": links in OCI artifacts are refused`},
		{"hard link", Options{URL: hostile("hostile/hard", ocitest.Entry{Name: "passwd", Type: tar.TypeLink, Linkname: "/etc/passwd"})}, `entry "passwd" is a link to "/etc/passwd": links in OCI artifacts are refused`},
		{"device file", Options{URL: hostile("hostile/dev", ocitest.Entry{Name: "null", Type: tar.TypeChar})}, `entry "null" is a device or special file: refused`},
		{"unreachable registry", Options{URL: "oci://" + deadHost + "/org/app:v1"}, `oci://` + deadHost + `/org/app:v1: registry unreachable: `},
		{"timeout", Options{URL: reg.URL("slow/app:v1"), Timeout: 300 * time.Millisecond}, `: timed out reaching the registry: `},
		{"no repository", Options{URL: "oci://" + reg.Host}, `: bad URL: want oci://host/repository:tag`},
		{"no host", Options{URL: "oci://org/app:v1"}, `oci oci://org/app:v1: bad URL: "org" is not a registry host name`},
		{"bad tag", Options{URL: reg.URL("org/app:v1:v2")}, `: bad URL: `},
		{"credentials in the URL", Options{URL: "oci://user:secret@" + reg.Host + "/org/app:v1"}, `oci oci://***@` + reg.Host + `/org/app:v1: bad URL: credentials in an oci:// URL are not accepted`},
		{"a ref", Options{URL: reg.URL("org/app:v1"), Ref: "main"}, `: a ref is not used for an OCI artifact: name the tag or digest in the URL`},
		{"missing path", Options{URL: reg.URL("org/app:v1"), Path: "nope"}, `oci ` + reg.URL("org/app:v1") + `@` + strings.TrimPrefix(good, "sha256:")[:12] + `: `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.CacheDir = t.TempDir()
			_, err := Load(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error = %v\nwant one line containing %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "oci ") {
				t.Errorf("error %q does not start with \"oci \"", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the password", err)
			}
			var rerr *RenderError
			if got, want := errors.As(err, &rerr), tt.name == "missing path"; got != want {
				t.Errorf("RenderError = %v, want %v", got, want)
			}
			if got, want := errors.Is(err, ErrDigestMismatch), tt.name == "digest mismatch"; got != want {
				t.Errorf("errors.Is(ErrDigestMismatch) = %v, want %v", got, want)
			}
		})
	}
	// Nothing was written outside the temporary directories.
	for _, p := range []string{"/x", "/etc/cron.d/x"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was written", p)
		}
	}
}

// A layer whose content does not match its digest (a broken registry or
// proxy) is refused as a digest mismatch.
func TestLoadOCIBlobDigestMismatch(t *testing.T) {
	noDockerConfig(t)
	var good, bad string
	reg := ocitest.Start(t, ocitest.Options{Wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if bad != "" && strings.HasSuffix(r.URL.Path, "/blobs/"+bad) {
				r.URL.Path = strings.TrimSuffix(r.URL.Path, bad) + good
			}
			next.ServeHTTP(w, r)
		})
	}})
	reg.Push(t, "org/a:v1", ocitest.Artifact{Files: appFiles})
	reg.Push(t, "org/b:v1", ocitest.Artifact{Files: map[string]string{"cm.yaml": configMap("b", "info")}})
	good, bad = layerDigest(t, reg, "org/a:v1"), layerDigest(t, reg, "org/b:v1")
	_, err := Load(context.Background(), Options{URL: reg.URL("org/b:v1"), CacheDir: t.TempDir()})
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), "layer "+bad+": digest mismatch") {
		t.Fatalf("error = %v, want a layer digest mismatch", err)
	}
}

// layerDigest is the digest of an artifact's only layer.
func layerDigest(t *testing.T, reg *ocitest.Registry, ref string) string {
	t.Helper()
	r, err := name.ParseReference(reg.Host + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers of %s: %d, %v", ref, len(layers), err)
	}
	d, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func TestLoadOCIAuth(t *testing.T) {
	noDockerConfig(t)
	reg := ocitest.Start(t, ocitest.Options{Username: ociUser, Password: ociPass})
	digest := reg.Push(t, "org/app:v1", ocitest.Artifact{Files: appFiles})
	basic := base64.StdEncoding.EncodeToString([]byte(ociUser + ":" + ociPass))
	wrong := base64.StdEncoding.EncodeToString([]byte(ociUser + ":nope"))
	config := func(t *testing.T, json string) string {
		p := filepath.Join(t.TempDir(), "config.json")
		if err := os.WriteFile(p, []byte(json), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	host := reg.Host
	tests := []struct {
		name string
		// auth builds the credentials (writing files under the test's
		// temporary directory, or setting DOCKER_CONFIG).
		auth func(t *testing.T) RegistryAuth
		want string // error; empty for success
	}{
		{"username and password", func(*testing.T) RegistryAuth {
			return RegistryAuth{Username: ociUser, Password: ociPass}
		}, ""},
		{"wrong password", func(*testing.T) RegistryAuth {
			return RegistryAuth{Username: ociUser, Password: "nope"}
		}, ": credentials were refused: "},
		{"no credentials", func(*testing.T) RegistryAuth { return RegistryAuth{} }, ": credentials are needed (set DRIFTWATCH_REGISTRY_USERNAME"},
		{"docker config auth", func(t *testing.T) RegistryAuth {
			return RegistryAuth{DockerConfig: config(t, `{"auths":{"`+host+`":{"auth":"`+basic+`"}}}`)}
		}, ""},
		{"docker config username and password, URL key", func(t *testing.T) RegistryAuth {
			return RegistryAuth{DockerConfig: config(t, `{"auths":{"http://`+host+`/v1/":{"username":"`+ociUser+`","password":"`+ociPass+`"}}}`)}
		}, ""},
		{"docker config wrong", func(t *testing.T) RegistryAuth {
			return RegistryAuth{DockerConfig: config(t, `{"auths":{"`+host+`":{"auth":"`+wrong+`"}}}`)}
		}, ": credentials were refused: "},
		{"docker config for another registry", func(t *testing.T) RegistryAuth {
			return RegistryAuth{DockerConfig: config(t, `{"auths":{"ghcr.io":{"auth":"`+basic+`"}}}`)}
		}, ": credentials are needed"},
		{"DOCKER_CONFIG", func(t *testing.T) RegistryAuth {
			dir := filepath.Dir(config(t, `{"auths":{"`+host+`":{"auth":"`+basic+`"}}}`))
			t.Setenv("DOCKER_CONFIG", dir)
			return RegistryAuth{}
		}, ""},
		{"username and password win over the config", func(t *testing.T) RegistryAuth {
			return RegistryAuth{Username: ociUser, Password: ociPass, DockerConfig: config(t, `{"auths":{"`+host+`":{"auth":"`+wrong+`"}}}`)}
		}, ""},
		{"credential helper", func(t *testing.T) RegistryAuth {
			return RegistryAuth{DockerConfig: config(t, `{"credHelpers":{"`+host+`":"secretservice"}}`)}
		}, `the credentials for ` + host + ` are kept by the credential helper "secretservice", which driftwatch does not run: set DRIFTWATCH_REGISTRY_USERNAME`},
		{"credentials store", func(t *testing.T) RegistryAuth {
			return RegistryAuth{DockerConfig: config(t, `{"auths":{"`+host+`":{}},"credsStore":"desktop"}`)}
		}, `kept by the credential helper "desktop", which driftwatch does not run`},
		{"missing config file", func(t *testing.T) RegistryAuth {
			return RegistryAuth{DockerConfig: filepath.Join(t.TempDir(), "nope.json")}
		}, ": docker config: open "},
		{"broken config file", func(t *testing.T) RegistryAuth {
			return RegistryAuth{DockerConfig: config(t, `{"auths":`)}
		}, ": docker config "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Load(context.Background(), Options{
				URL: reg.URL("org/app:v1"), CacheDir: t.TempDir(), Registry: tt.auth(t),
			})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if d.Revision.Digest != digest {
					t.Errorf("digest = %s, want %s", d.Revision.Digest, digest)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error = %v\nwant one line containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), ociPass) || strings.Contains(err.Error(), basic) {
				t.Errorf("error shows the credentials: %v", err)
			}
		})
	}
}

// The keychain reads Docker's key forms and never runs a helper.
func TestRegistryKeychain(t *testing.T) {
	noDockerConfig(t)
	basic := base64.StdEncoding.EncodeToString([]byte("u:p"))
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(`{
		"auths": {
			"https://index.docker.io/v1/": {"auth": "`+basic+`"},
			"ghcr.io": {"identitytoken": "tok"},
			"quay.io": {}
		},
		"credHelpers": {"gcr.io": "gcloud"}
	}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		registry string
		want     *authn.AuthConfig // nil: anonymous
		wantErr  string
	}{
		{"index.docker.io", &authn.AuthConfig{Username: "u", Password: "p", Auth: basic}, ""},
		{"docker.io", &authn.AuthConfig{Username: "u", Password: "p", Auth: basic}, ""},
		{"ghcr.io", &authn.AuthConfig{IdentityToken: "tok"}, ""},
		{"quay.io", nil, ""}, // listed without a secret and no store: anonymous
		{"example.com", nil, ""},
		{"gcr.io", nil, `credential helper "gcloud"`},
	}
	kc := RegistryAuth{DockerConfig: cfg}.keychain()
	for _, tt := range tests {
		t.Run(tt.registry, func(t *testing.T) {
			reg, err := name.NewRegistry(tt.registry)
			if err != nil {
				t.Fatal(err)
			}
			a, err := kc.Resolve(reg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if a != authn.Anonymous {
					t.Errorf("authenticator = %v, want anonymous", a)
				}
				return
			}
			got, err := a.Authorization()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("credentials (-want +got):\n%s", diff)
			}
		})
	}
}

// A digest already pulled costs one manifest request and no blob
// download; a corrupt cache entry is pulled again.
func TestLoadOCICache(t *testing.T) {
	noDockerConfig(t)
	reg := ocitest.Start(t, ocitest.Options{})
	digest := reg.Push(t, "org/app:v1", ocitest.Artifact{Files: appFiles})
	cache := t.TempDir()
	type counts struct{ Blobs, Manifests int64 }
	// The push made manifest requests of its own.
	blobs0, manifests0 := reg.BlobGets(), reg.ManifestRequests()
	load := func(url string) counts {
		t.Helper()
		d, err := Load(context.Background(), Options{URL: url, Path: "app", CacheDir: cache})
		if err != nil {
			t.Fatal(err)
		}
		if d.Revision.Digest != digest || len(d.Objects) != 1 {
			t.Fatalf("revision %+v, %d objects", d.Revision, len(d.Objects))
		}
		return counts{reg.BlobGets() - blobs0, reg.ManifestRequests() - manifests0}
	}
	var got []counts
	got = append(got, load(reg.URL("org/app:v1")), load(reg.URL("org/app:v1")), load(reg.URL("org/app@"+digest)))
	layer := layerDigest(t, reg, "org/app:v1")
	manifests0++ // layerDigest's
	blob := filepath.Join(cache, "oci", "blobs", "sha256", strings.TrimPrefix(layer, "sha256:"))
	if err := os.WriteFile(blob, []byte("corrupt"), 0o600); err != nil {
		t.Fatal(err)
	}
	got = append(got, load(reg.URL("org/app:v1")), load(reg.URL("org/app:v1")))
	want := []counts{{1, 1}, {1, 2}, {1, 3}, {2, 4}, {2, 5}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests after each load (-want +got):\n%s", diff)
	}
	// No temporary directory is left behind.
	left, _ := filepath.Glob(filepath.Join(os.TempDir(), "driftwatch-oci-*"))
	for _, l := range left {
		if st, err := os.Stat(l); err == nil && time.Since(st.ModTime()) < time.Minute {
			t.Errorf("temporary directory %s left behind", l)
		}
	}
}

// The size of the layer, of what it expands to, and its entry count are
// bounded (the limits are lowered here to keep the test small).
func TestLoadOCILimits(t *testing.T) {
	noDockerConfig(t)
	reg := ocitest.Start(t, ocitest.Options{})
	reg.Push(t, "org/app:v1", ocitest.Artifact{Files: appFiles})
	saved := ociLimits
	t.Cleanup(func() { ociLimits = saved })
	tests := []struct {
		name   string
		limits func()
		want   string
	}{
		{"layer too large", func() { ociLimits.blobBytes = 100 }, "bytes, more than the 100 bytes allowed"},
		{"content too large", func() { ociLimits.extractBytes = 100 }, `extract "other/configmap.yaml": the artifact holds more than the 100 bytes allowed`},
		{"too many entries", func() { ociLimits.entries = 1 }, "more than 1 entries in the tarball"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ociLimits = saved
			tt.limits()
			_, err := Load(context.Background(), Options{URL: reg.URL("org/app:v1"), CacheDir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
}
