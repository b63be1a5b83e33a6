package adopt

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/gitsource/sopstest"
)

var update = flag.Bool("update", false, "rewrite the golden diffs in testdata/adopt/golden")

// fixtures is the tree every case copies: testdata/adopt.
var fixtures = filepath.Join("..", "..", "..", "testdata", "adopt")

// copyFixtures copies testdata/adopt into a temporary directory.
func copyFixtures(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(fixtures)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// scenario is a source tree, a cluster that drifted from it and what
// adopting should do.
type scenario struct {
	root string
	path string
	ro   gitsource.RenderOptions
	// live changes the rendered objects ("Kind name") as a person would
	// in the cluster; missing objects are gone from it.
	live    map[string]func(u *unstructured.Unstructured)
	missing []string
	sel     Selection
	// extra are edits made by hand (fields Git does not set).
	extra []Edit
}

// run renders the source, compares it with the changed live objects as
// check would, and adopts the report.
func (s scenario) run(t *testing.T) *Result {
	t.Helper()
	r, err := gitsource.RenderWith(context.Background(), s.root, s.path, s.ro)
	if err != nil {
		t.Fatal(err)
	}
	report := &drift.Report{}
	seen := map[string]bool{}
	for _, o := range r.Objects {
		u := o.Object
		name := u.GetKind() + " " + u.GetName()
		res := drift.Resource{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: "adopt-test", Name: u.GetName(), Status: drift.InSync}
		if mutate, ok := s.live[name]; ok {
			seen[name] = true
			live := u.DeepCopy()
			mutate(live)
			// As the pipeline does: SOPS-decrypted fields are sensitive.
			var sensitive func(drift.Path) bool
			if len(o.Sensitive) > 0 {
				sensitive = func(p drift.Path) bool {
					for _, f := range o.Sensitive {
						if pp, err := drift.ParsePathPattern(f); err != nil || pp.Matches(p) || pp.MatchesBelow(p) {
							return true
						}
					}
					return false
				}
			}
			res.Diffs = drift.Compare(u, live, drift.Options{Sensitive: sensitive})
			if len(res.Diffs) == 0 {
				t.Fatalf("%s: the live change made no drift", name)
			}
			res.Status = drift.Drifted
		}
		for _, m := range s.missing {
			if m == name {
				seen[name] = true
				res.Status = drift.Missing
			}
		}
		report.Resources = append(report.Resources, res)
	}
	for name := range s.live {
		if !seen[name] {
			t.Fatalf("no rendered object %s", name)
		}
	}
	edits, skipped := EditsFor(report, s.sel)
	res, err := Adopt(context.Background(), Source{Root: s.root, Path: s.path, Render: s.ro}, append(edits, s.extra...))
	if err != nil {
		t.Fatal(err)
	}
	res.Outcomes = append(skipped, res.Outcomes...)
	return res
}

func set(v any, fields ...string) func(u *unstructured.Unstructured) {
	return func(u *unstructured.Unstructured) {
		if err := unstructured.SetNestedField(u.Object, v, fields...); err != nil {
			panic(err)
		}
	}
}

// setContainer changes a field of the container named name.
func setContainer(name string, change func(c map[string]any)) func(u *unstructured.Unstructured) {
	return func(u *unstructured.Unstructured) {
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		for _, c := range cs {
			if m := c.(map[string]any); m["name"] == name {
				change(m)
			}
		}
		_ = unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
	}
}

// setEnv sets an environment variable's value in container app.
func setEnv(name, value string) func(c map[string]any) {
	return func(c map[string]any) {
		for _, e := range c["env"].([]any) {
			if m := e.(map[string]any); m["name"] == name {
				m["value"] = value
			}
		}
	}
}

func all(fs ...func(u *unstructured.Unstructured)) func(u *unstructured.Unstructured) {
	return func(u *unstructured.Unstructured) {
		for _, f := range fs {
			f(u)
		}
	}
}

func field(names ...string) drift.Path {
	var p drift.Path
	for _, n := range names {
		p = append(p, drift.Step{Field: n})
	}
	return p
}

// outcomeLines are the outcomes as a person reads them.
func outcomeLines(r *Result) []string {
	var out []string
	for _, o := range r.Outcomes {
		out = append(out, o.String())
	}
	return out
}

// diffText is the changes as WriteDiff prints them.
func diffText(t *testing.T, r *Result) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteDiff(&b, r.Changes); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// golden compares got with testdata/adopt/golden/name.diff (-update
// rewrites it).
func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join(fixtures, "golden", name+".diff")
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("diff %s (-want +got):\n%s", name, d)
	}
}

var comment = regexp.MustCompile(`(^|\s)#.*$`)

// commentsKept fails for a comment of an edited file that the edit lost.
func commentsKept(t *testing.T, r *Result) {
	t.Helper()
	for _, c := range r.Changes {
		if c.New == nil {
			continue
		}
		for _, l := range strings.Split(string(c.Old), "\n") {
			if m := comment.FindString(l); m != "" && !strings.Contains(string(c.New), strings.TrimSpace(m)) {
				t.Errorf("%s lost the comment %q", c.Path, strings.TrimSpace(m))
			}
		}
	}
}

// rendersLive renders the edited tree and checks the objects changed
// now have the live values: the source matches the cluster.
func rendersLive(t *testing.T, s scenario, r *Result) {
	t.Helper()
	for _, c := range r.Changes {
		p := filepath.Join(s.root, filepath.FromSlash(c.Path))
		if c.New == nil {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, c.New, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := gitsource.RenderWith(context.Background(), s.root, s.path, s.ro)
	if err != nil {
		t.Fatalf("the adopted source does not render: %v", err)
	}
	byName := map[string]*unstructured.Unstructured{}
	for _, o := range got.Objects {
		byName[o.Object.GetKind()+" "+o.Object.GetName()] = o.Object
	}
	for _, o := range r.Outcomes {
		if !o.Adopted {
			continue
		}
		u := byName[o.Edit.Object.Kind+" "+o.Edit.Object.Name]
		switch o.Edit.Op {
		case Remove:
			if u != nil {
				t.Errorf("%s still renders", o.Edit.What())
			}
		case Set:
			if v, ok := lookupIn(normalize(u.Object), o.Edit.Path); !ok || !cmp.Equal(v, normalize(o.Edit.Live)) {
				t.Errorf("%s renders %v, want %v", o.Edit.What(), v, o.Edit.Live)
			}
		}
	}
}

func TestAdoptPlain(t *testing.T) {
	s := scenario{
		root: copyFixtures(t), path: "plain",
		live: map[string]func(u *unstructured.Unstructured){
			"Deployment plain-web": all(
				set(int64(4), "spec", "replicas"),
				set("team-api", "metadata", "annotations", "example.com/owner"),
				setContainer("app", func(c map[string]any) { c["image"] = "nginx:1.27" }),
				setContainer("app", setEnv("MODE", "off")),
			),
			"ConfigMap plain-config": all(
				set("yes", "data", "LOG_LEVEL"),
				set("45s", "data", "TIMEOUT"),
			),
			"Secret plain-secret": set("b3RoZXI=", "data", "password"),
		},
		extra: []Edit{{
			Object: ObjectID{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "adopt-test", Name: "plain-web"},
			Op:     Set, Path: field("metadata", "labels", "tier"), Live: "frontend",
		}},
	}
	r := s.run(t)
	want := []string{
		"adopted ConfigMap adopt-test/plain-config data.LOG_LEVEL (info → yes) into plain/config.yaml",
		"adopted ConfigMap adopt-test/plain-config data.TIMEOUT (30s → 45s) into plain/config.yaml",
		"cannot adopt Secret adopt-test/plain-secret data.password: secret value: never written in clear",
		`adopted Deployment adopt-test/plain-web metadata.annotations["example.com/owner"] (team-web → team-api) into plain/web.yaml`,
		"adopted Deployment adopt-test/plain-web spec.replicas (2 → 4) into plain/web.yaml",
		"adopted Deployment adopt-test/plain-web spec.template.spec.containers[name=app].env[name=MODE].value (on → off) into plain/web.yaml",
		"adopted Deployment adopt-test/plain-web spec.template.spec.containers[name=app].image (nginx:1.25 → nginx:1.27) into plain/web.yaml",
		"adopted Deployment adopt-test/plain-web metadata.labels.tier (added: frontend) into plain/web.yaml",
	}
	if d := cmp.Diff(want, outcomeLines(r)); d != "" {
		t.Errorf("outcomes (-want +got):\n%s", d)
	}
	golden(t, "plain", diffText(t, r))
	commentsKept(t, r)
	rendersLive(t, s, r)
}

func TestAdoptPlainRemoved(t *testing.T) {
	s := scenario{
		root: copyFixtures(t), path: "plain",
		live: map[string]func(u *unstructured.Unstructured){
			"ConfigMap plain-config": func(u *unstructured.Unstructured) { unstructured.RemoveNestedField(u.Object, "data", "TIMEOUT") },
		},
		missing: []string{"ConfigMap plain-flags", "Service plain-web"},
		sel:     Selection{Prune: true},
	}
	r := s.run(t)
	want := []string{
		"adopted ConfigMap adopt-test/plain-flags (missing in the cluster): removed from plain/config.yaml",
		"adopted ConfigMap adopt-test/plain-config data.TIMEOUT (absent in the cluster): removed from plain/config.yaml",
		"adopted Service adopt-test/plain-web (missing in the cluster): removed from plain/web.yaml",
	}
	sort.Strings(want)
	got := outcomeLines(r)
	sort.Strings(got)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("outcomes (-want +got):\n%s", d)
	}
	golden(t, "plain-removed", diffText(t, r))
	rendersLive(t, s, r)

	// Without --prune, a Missing object is reported and left.
	s = scenario{root: copyFixtures(t), path: "plain", missing: []string{"ConfigMap plain-flags"}}
	r = s.run(t)
	if d := cmp.Diff([]string{"cannot adopt ConfigMap adopt-test/plain-flags: missing in the cluster: pass --prune to remove it from the source"}, outcomeLines(r)); d != "" || len(r.Changes) != 0 {
		t.Errorf("outcomes (-want +got):\n%s\nchanges: %v", d, r.Changes)
	}
}

func TestAdoptKustomize(t *testing.T) {
	s := scenario{
		root: copyFixtures(t), path: "kustomize/overlays/prod",
		live: map[string]func(u *unstructured.Unstructured){
			"Deployment prod-web": all(
				set(int64(5), "spec", "replicas"),
				set(int64(20), "spec", "minReadySeconds"),
				set("sre", "metadata", "annotations", "example.com/approved-by"),
				setContainer("app", func(c map[string]any) { c["image"] = "nginx:1.27" }),
				setContainer("app", func(c map[string]any) {
					c["resources"].(map[string]any)["limits"].(map[string]any)["memory"] = "512Mi"
				}),
				setContainer("app", setEnv("LOG_LEVEL", "debug")),
				setContainer("app", setEnv("LOG_FORMAT", "text")),
			),
		},
		missing: []string{"Deployment prod-worker"},
		sel:     Selection{Prune: true},
	}
	r := s.run(t)
	want := []string{
		"adopted Deployment adopt-test/prod-web metadata.annotations[\"example.com/approved-by\"] (ops → sre) into kustomize/overlays/prod/kustomization.yaml",
		"adopted Deployment adopt-test/prod-web spec.minReadySeconds (10 → 20) into kustomize/overlays/prod/web-ready.json6902.yaml",
		"adopted Deployment adopt-test/prod-web spec.replicas (3 → 5) into kustomize/overlays/prod/kustomization.yaml",
		"adopted Deployment adopt-test/prod-web spec.template.spec.containers[name=app].env[name=LOG_FORMAT].value (json → text) into kustomize/base/deployment.yaml",
		"adopted Deployment adopt-test/prod-web spec.template.spec.containers[name=app].env[name=LOG_LEVEL].value (info → debug) into kustomize/overlays/prod/web-resources.yaml",
		"adopted Deployment adopt-test/prod-web spec.template.spec.containers[name=app].image (nginx:1.25 → nginx:1.27) into kustomize/overlays/prod/kustomization.yaml",
		"adopted Deployment adopt-test/prod-web spec.template.spec.containers[name=app].resources.limits.memory (256Mi → 512Mi) into kustomize/overlays/prod/web-resources.yaml",
		"adopted Deployment adopt-test/prod-worker (missing in the cluster): removed from kustomize/base/worker.yaml",
	}
	if d := cmp.Diff(want, outcomeLines(r)); d != "" {
		t.Errorf("outcomes (-want +got):\n%s", d)
	}
	golden(t, "kustomize", diffText(t, r))
	rendersLive(t, s, r)
}

// The deprecated fields: an inline patchesStrategicMerge entry and a
// patchesJson6902 file.
func TestAdoptKustomizeLegacyPatches(t *testing.T) {
	s := scenario{
		root: copyFixtures(t), path: "kustomize/overlays/legacy",
		live: map[string]func(u *unstructured.Unstructured){
			"Deployment staging-web":    setContainer("app", setEnv("LOG_LEVEL", "trace")),
			"Deployment staging-worker": set(int64(2), "spec", "replicas"),
		},
	}
	r := s.run(t)
	want := []string{
		"adopted Deployment adopt-test/staging-web spec.template.spec.containers[name=app].env[name=LOG_LEVEL].value (debug → trace) into kustomize/overlays/legacy/kustomization.yaml",
		"adopted Deployment adopt-test/staging-worker spec.replicas (0 → 2) into kustomize/overlays/legacy/worker-replicas.yaml",
	}
	if d := cmp.Diff(want, outcomeLines(r)); d != "" {
		t.Errorf("outcomes (-want +got):\n%s", d)
	}
	golden(t, "kustomize-legacy", diffText(t, r))
	commentsKept(t, r)
	rendersLive(t, s, r)
}

func TestAdoptKustomizeImageName(t *testing.T) {
	s := scenario{
		root: copyFixtures(t), path: "kustomize/overlays/prod",
		live: map[string]func(u *unstructured.Unstructured){
			"Deployment prod-web": setContainer("app", func(c map[string]any) { c["image"] = "registry.example.com/nginx:1.27" }),
		},
	}
	r := s.run(t)
	if !r.AllAdopted() || len(r.Changes) != 1 || r.Changes[0].Path != "kustomize/overlays/prod/kustomization.yaml" {
		t.Fatalf("outcomes %v, changes %d", outcomeLines(r), len(r.Changes))
	}
	golden(t, "kustomize-image-name", diffText(t, r))
	commentsKept(t, r)
	rendersLive(t, s, r)
}

// An image changed in the cluster to a digest, a tag or both is adopted
// into the images: entry as kustomize reads one (api/filters/imagetag):
// newTag or digest replaces both the tag and the digest, so the entry
// must hold exactly the live ones. kubectl set image app=nginx@sha256:...
// over newTag: "1.25" must remove newTag, or the source renders
// nginx:1.25@sha256:... and verification refuses it.
func TestAdoptKustomizeImageDigest(t *testing.T) {
	const (
		d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
		d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	)
	for _, tc := range []struct {
		name, overlay, live string
		// entry is the images: entry after adopting.
		entry map[string]any
	}{
		{"digest replaces the tag", "prod", "nginx@" + d2,
			map[string]any{"name": "nginx", "digest": d2}},
		{"tag and digest replace the tag", "prod", "nginx:1.27@" + d2,
			map[string]any{"name": "nginx", "newTag": "1.27", "digest": d2}},
		{"name and digest replace name and tag", "prod", "registry.example.com/nginx@" + d2,
			map[string]any{"name": "nginx", "newName": "registry.example.com/nginx", "digest": d2}},
		{"tag replaces the digest", "digest", "nginx:1.27",
			map[string]any{"name": "nginx", "newTag": "1.27"}},
		{"digest replaces the digest", "digest", "nginx@" + d2,
			map[string]any{"name": "nginx", "digest": d2}},
		{"tag and digest replace the digest", "digest", "nginx:1.27@" + d2,
			map[string]any{"name": "nginx", "newTag": "1.27", "digest": d2}},
		{"digest alone replaces tag and digest", "pinned", "nginx@" + d2,
			map[string]any{"name": "nginx", "digest": d2}},
		{"tag alone replaces tag and digest", "pinned", "nginx:1.27",
			map[string]any{"name": "nginx", "newTag": "1.27"}},
		{"the same tag, another digest", "pinned", "nginx:1.26@" + d2,
			map[string]any{"name": "nginx", "newTag": "1.26", "digest": d2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := scenario{
				root: copyFixtures(t), path: "kustomize/overlays/" + tc.overlay,
				live: map[string]func(u *unstructured.Unstructured){
					"Deployment " + tc.overlay + "-web": setContainer("app", func(c map[string]any) { c["image"] = tc.live }),
				},
			}
			r := s.run(t)
			file := "kustomize/overlays/" + tc.overlay + "/kustomization.yaml"
			if !r.AllAdopted() || len(r.Changes) != 1 || r.Changes[0].Path != file {
				t.Fatalf("outcomes %q, %d changes", outcomeLines(r), len(r.Changes))
			}
			var k struct {
				Images []map[string]any `json:"images"`
			}
			if err := sigsyaml.Unmarshal(r.Changes[0].New, &k); err != nil || len(k.Images) != 1 {
				t.Fatalf("%s: %v\n%s", file, err, r.Changes[0].New)
			}
			if d := cmp.Diff(tc.entry, k.Images[0]); d != "" {
				t.Errorf("images: entry (-want +got):\n%s\n%s", d, r.Changes[0].New)
			}
			rendersLive(t, s, r)
		})
	}
}

// A generated field has no place: a configMapGenerator's value.
func TestAdoptKustomizeGenerated(t *testing.T) {
	s := scenario{
		root: copyFixtures(t), path: "kustomize/overlays/prod",
		live: map[string]func(u *unstructured.Unstructured){
			"ConfigMap prod-web-settings-f655md8fbd": set("bonjour", "data", "GREETING"),
		},
	}
	r := s.run(t)
	want := []Outcome{{Reason: "generated by configMapGenerator web-settings in kustomize/overlays/prod/kustomization.yaml", Generated: true}}
	if d := cmp.Diff(want, r.Outcomes, cmp.Comparer(func(a, b Edit) bool { return true })); d != "" || len(r.Changes) != 0 {
		t.Errorf("outcomes (-want +got):\n%s\nchanges: %v", d, r.Changes)
	}
}

// Verification refuses an edit that would change other objects: two
// Deployments share the images: entry, only one changed live, and its
// base image is overridden by that entry.
func TestAdoptVerificationFails(t *testing.T) {
	s := scenario{
		root: copyFixtures(t), path: "shared",
		live: map[string]func(u *unstructured.Unstructured){
			"Deployment api": setContainer("app", func(c map[string]any) { c["image"] = "nginx:1.27" }),
		},
	}
	r := s.run(t)
	want := []Outcome{{Reason: "the source edited in shared/kustomization.yaml also changes Deployment web spec.template.spec.containers[0].image (and 1 other places tried)"}}
	if d := cmp.Diff(want, r.Outcomes, cmp.Comparer(func(a, b Edit) bool { return true })); d != "" || len(r.Changes) != 0 {
		t.Errorf("outcomes (-want +got):\n%s\nchanges: %v", d, r.Changes)
	}
}

func TestAdoptHelm(t *testing.T) {
	s := scenario{
		root: copyFixtures(t), path: "helm",
		ro: gitsource.RenderOptions{Helm: gitsource.HelmOptions{ValuesFiles: []string{"helm/values-prod.yaml"}}},
		live: map[string]func(u *unstructured.Unstructured){
			"Deployment webchart-web": all(
				set(int64(5), "spec", "replicas"),
				setContainer("app", func(c map[string]any) { c["image"] = "nginx:1.27" }),
				setContainer("app", setEnv("GREETING", "BONJOUR")),
			),
		},
	}
	r := s.run(t)
	var lines []string
	for _, o := range r.Outcomes {
		lines = append(lines, o.String())
		if strings.Contains(o.Edit.Path.String(), "GREETING") && !o.Generated {
			t.Errorf("%s: not marked generated", o.Edit.What())
		}
	}
	want := []string{
		"adopted Deployment adopt-test/webchart-web spec.replicas (3 → 5) into helm/values-prod.yaml",
		"cannot adopt Deployment adopt-test/webchart-web spec.template.spec.containers[name=app].env[name=GREETING].value: computed by the chart's templates from .greeting, not a plain reference to it",
		"adopted Deployment adopt-test/webchart-web spec.template.spec.containers[name=app].image (nginx:1.25 → nginx:1.27) into helm/values.yaml",
	}
	if d := cmp.Diff(want, lines); d != "" {
		t.Errorf("outcomes (-want +got):\n%s", d)
	}
	golden(t, "helm", diffText(t, r))
	commentsKept(t, r)
	rendersLive(t, s, r)
}

// A value given with --set is in no file.
func TestAdoptHelmSet(t *testing.T) {
	s := scenario{
		root: copyFixtures(t), path: "helm",
		ro: gitsource.RenderOptions{Helm: gitsource.HelmOptions{Values: map[string]any{"replicaCount": int64(4)}}},
		live: map[string]func(u *unstructured.Unstructured){
			"Deployment webchart-web": set(int64(5), "spec", "replicas"),
		},
	}
	r := s.run(t)
	if d := cmp.Diff([]string{"cannot adopt Deployment adopt-test/webchart-web spec.replicas: the value comes from --set replicaCount, not from a file"}, outcomeLines(r)); d != "" {
		t.Errorf("outcomes (-want +got):\n%s", d)
	}
}

// A SOPS file is never edited: its secret values would have to be
// re-encrypted, and any edit breaks its MAC.
func TestAdoptSOPS(t *testing.T) {
	root := t.TempDir()
	identity, recipient := sopstest.NewAgeKey(t)
	plain := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  labels:\n    tier: data\ndata:\n  password: c2VjcmV0\n"
	if err := os.WriteFile(filepath.Join(root, "secret.yaml"), []byte(sopstest.EncryptYAML(t, plain, recipient)), 0o644); err != nil {
		t.Fatal(err)
	}
	s := scenario{
		root: root,
		ro:   gitsource.RenderOptions{Decryption: gitsource.Decryption{AgeKeys: identity}},
		live: map[string]func(u *unstructured.Unstructured){
			"Secret db": all(set("b3RoZXI=", "data", "password"), set("cache", "metadata", "labels", "tier")),
		},
	}
	r := s.run(t)
	want := []string{
		"cannot adopt Secret adopt-test/db data.password: encrypted with SOPS in secret.yaml, re-encrypt by hand",
		"cannot adopt Secret adopt-test/db metadata.labels.tier: secret.yaml is encrypted with SOPS, re-encrypt by hand",
	}
	if d := cmp.Diff(want, outcomeLines(r)); d != "" || len(r.Changes) != 0 {
		t.Errorf("outcomes (-want +got):\n%s", d)
	}
}
