package main

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource/ocitest"
)

const (
	ociUser     = "ci-robot"
	ociPassword = "oci-pa55word-never-printed"
)

// appConfig is the app fixture's ConfigMap with LOG_LEVEL set.
func appConfig(level string) map[string]string {
	return map[string]string{"app/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
  labels:
    app.kubernetes.io/name: app
data:
  LOG_LEVEL: ` + level + `
  FEATURES: "a,b"
`}
}

// ociRegistry starts a registry that wants basic auth, and puts its
// credentials (and no Docker config) in the environment as the CLI reads
// them.
func ociRegistry(t *testing.T) *ocitest.Registry {
	t.Helper()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("DRIFTWATCH_REGISTRY_USERNAME", ociUser)
	t.Setenv("DRIFTWATCH_REGISTRY_PASSWORD", ociPassword)
	return ocitest.Start(t, ocitest.Options{Username: ociUser, Password: ociPassword})
}

// TestCheckOCIArtifact: check reads the desired state from a Flux OCI
// artifact, says which digest it compared, and sees drift as with Git.
func TestCheckOCIArtifact(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	reg := ociRegistry(t)
	digest := reg.Push(t, "org/app:v1", ocitest.Artifact{Files: appConfig("info"), Annotations: map[string]string{
		ocitest.AnnotationSource: "https://github.com/org/app", ocitest.AnnotationRevision: "main@sha1:0123456789abcdef",
	}})
	url := reg.URL("org/app:v1")
	check := func(env map[string]string, extra ...string) result {
		t.Helper()
		args := append([]string{"check", "--repo", url, "--path", "app", "--kubeconfig", kubeconfig, "-n", ns,
			"--cache-dir", t.TempDir(), "-o", "json"}, extra...)
		return runWithEnv(t, env, args...)
	}
	r := check(nil)
	if r.code != exitInSync {
		t.Fatalf("exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
	rep := parseReport(t, r)
	want := drift.Source{URL: url, Ref: "v1", Path: "app", Digest: digest,
		Subject: "source https://github.com/org/app revision main@sha1:0123456789abcdef"}
	if diff := cmp.Diff(want, rep.Source); diff != "" {
		t.Errorf("source (-want +got):\n%s", diff)
	}
	if got := statuses(rep); len(got) != 1 || got["ConfigMap app-config"] != drift.InSync {
		t.Errorf("statuses = %v", got)
	}

	if err := kube.Edit(context.Background(), "kubectl-edit", gvkConfigMap, ns, "app-config", setData("LOG_LEVEL", "trace")); err != nil {
		t.Fatal(err)
	}
	r = check(nil)
	if r.code != exitDrift {
		t.Fatalf("exit %d after a live edit, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := statuses(parseReport(t, r)); got["ConfigMap app-config"] != drift.Drifted {
		t.Errorf("statuses = %v", got)
	}

	// Registry failures exit 2 with one line naming the cause.
	for _, tt := range []struct {
		name string
		env  map[string]string
		url  string
		want string
	}{
		{"wrong password", map[string]string{"DRIFTWATCH_REGISTRY_PASSWORD": "wrong"}, url,
			"driftwatch: error: oci " + url + ": credentials were refused"},
		{"missing tag", nil, reg.URL("org/app:v9"), `driftwatch: error: oci ` + reg.URL("org/app:v9") + `: tag "v9" not found`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runWithEnv(t, tt.env, "check", "--repo", tt.url, "--kubeconfig", kubeconfig, "-n", ns, "--cache-dir", t.TempDir())
			last := strings.TrimSuffix(r.stderr, "\n")
			if i := strings.LastIndexByte(last, '\n'); i >= 0 {
				last = last[i+1:]
			}
			if r.code != exitError || !strings.Contains(last, tt.want) {
				t.Errorf("exit %d, last line %q, want 2 and %q", r.code, last, tt.want)
			}
			if strings.Contains(r.stderr, ociPassword) {
				t.Error("stderr leaks the registry password")
			}
		})
	}
}

// TestWatchFollowsOCITag: watch polls the tag; a new artifact pushed to it
// (another digest, another ConfigMap) is picked up: the report names the
// new digest and compares the new desired state.
func TestWatchFollowsOCITag(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	reg := ociRegistry(t)
	first := reg.Push(t, "org/app:stable", ocitest.Artifact{Files: appConfig("info")})
	d := startWatch(t, "--repo", reg.URL("org/app:stable"), "--path", "app", "-n", ns, "--interval", "200ms")
	eventually(t, "the first digest, in sync", d, func() bool {
		r := d.report(t, "")
		res := resourceOf(r, "ConfigMap", "app-config")
		return r.Source.Digest == first && res != nil && res.Status == drift.InSync
	})

	second := reg.Push(t, "org/app:stable", ocitest.Artifact{Files: appConfig("debug")})
	if second == first {
		t.Fatal("the second push has the first digest")
	}
	eventually(t, "the second digest, drifted", d, func() bool {
		r := d.report(t, "")
		res := resourceOf(r, "ConfigMap", "app-config")
		return r.Source.Digest == second && res != nil && res.Status == drift.Drifted &&
			len(res.Diffs) == 1 && res.Diffs[0].Path == "data.LOG_LEVEL" && res.Diffs[0].Desired == "debug"
	})
	if code := d.stop(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// TestWatchOCINewDigestSameObjects: an artifact pushed again with the same
// manifests but another digest (new annotations, as Flux writes on every
// push) must be reported under its new digest.
func TestWatchOCINewDigestSameObjects(t *testing.T) {
	requireAPIServer(t)
	// The monitor's fingerprint (drift/pipeline/monitor.go) hashes the
	// digest too: an artifact whose objects did not change still moves the
	// report to its new digest.
	ns := newNamespace(t)
	reg := ociRegistry(t)
	push := func(rev string) string {
		return reg.Push(t, "org/app:stable", ocitest.Artifact{Files: appConfig("info"),
			Annotations: map[string]string{ocitest.AnnotationRevision: rev}})
	}
	first := push("main@sha1:1111")
	d := startWatch(t, "--repo", reg.URL("org/app:stable"), "--path", "app", "-n", ns, "--interval", "200ms")
	eventually(t, "the first digest", d, func() bool { return d.report(t, "").Source.Digest == first })
	second := push("main@sha1:2222")
	eventually(t, "the second digest", d, func() bool {
		src := d.report(t, "").Source
		return src.Digest == second && src.Subject == "revision main@sha1:2222"
	})
}
