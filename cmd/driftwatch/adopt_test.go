package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftwatch/driftwatch/drift/pipeline/adopt"
	"github.com/driftwatch/driftwatch/gitsource"
)

// adoptFixtures is the tree adopt's tests push and apply.
var adoptFixtures = filepath.Join("..", "..", "testdata", "adopt")

var adoptCounter atomic.Int32

// adoptSource pushes testdata/adopt to a new repository on the Git server
// and clones it over HTTP: a person's work tree, origin the server.
func adoptSource(t *testing.T) (url, dir string) {
	t.Helper()
	name := fmt.Sprintf("adopt-%d", adoptCounter.Add(1))
	repo, err := gitServer.CreateRepo(name)
	if err == nil {
		if err = repo.CopyDir(adoptFixtures); err == nil {
			_, err = repo.Commit("desired state")
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	url = gitServer.RepoURL(name)
	dir = t.TempDir()
	if _, err := git.PlainClone(dir, false, &git.CloneOptions{URL: url, Auth: &githttp.BasicAuth{Username: gitUser, Password: gitPassword}}); err != nil {
		t.Fatalf("clone %s: %v", url, err)
	}
	return url, dir
}

// adoptNamespace creates a fresh namespace with testdata/adopt/<path>
// applied as a GitOps tool would.
func adoptNamespace(t *testing.T, path string, ro gitsource.RenderOptions) string {
	t.Helper()
	ns := fmt.Sprintf("adopt-%d", nsCounter.Add(1))
	ctx := context.Background()
	nsObj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns},
	}}
	if err := kube.Apply(ctx, "setup", "", nsObj); err != nil {
		t.Fatal(err)
	}
	r, err := gitsource.RenderWith(ctx, adoptFixtures, path, ro)
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	for _, o := range r.Objects {
		objs = append(objs, o.Object)
	}
	if err := kube.Apply(ctx, "gitops", ns, objs...); err != nil {
		t.Fatal(err)
	}
	return ns
}

// editDeployment changes a live Deployment as kubectl edit would.
func editDeployment(t *testing.T, ns, name string, changes ...func(u *unstructured.Unstructured)) {
	t.Helper()
	err := kube.Edit(context.Background(), "kubectl-edit", gvkDeployment, ns, name, func(u *unstructured.Unstructured) error {
		for _, c := range changes {
			c(u)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func liveField(v any, fields ...string) func(u *unstructured.Unstructured) {
	return func(u *unstructured.Unstructured) { _ = unstructured.SetNestedField(u.Object, v, fields...) }
}

// liveContainer changes container app of a live Deployment.
func liveContainer(change func(c map[string]any)) func(u *unstructured.Unstructured) {
	return func(u *unstructured.Unstructured) {
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		for _, c := range cs {
			if m := c.(map[string]any); m["name"] == "app" {
				change(m)
			}
		}
		_ = unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
	}
}

func liveEnv(name, value string) func(c map[string]any) {
	return func(c map[string]any) {
		for _, e := range c["env"].([]any) {
			if m := e.(map[string]any); m["name"] == name {
				m["value"] = value
			}
		}
	}
}

// treeFiles reads every file of a work tree but .git.
func treeFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// branchFile reads a file as a branch of the clone holds it.
func branchFile(t *testing.T, dir, branch, file string) (content, author string) {
	t.Helper()
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := repo.Reference(plumbing.NewBranchReferenceName(branch), true)
	if err != nil {
		t.Fatalf("branch %s: %v", branch, err)
	}
	c, err := repo.CommitObject(ref.Hash())
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.File(file)
	if err != nil {
		t.Fatalf("%s at %s: %v", file, branch, err)
	}
	content, err = f.Contents()
	if err != nil {
		t.Fatal(err)
	}
	return content, c.Author.Name + " <" + c.Author.Email + ">"
}

var commentText = regexp.MustCompile(`(^|\s)(#.*)$`)

// commentsOf lists the comments of a YAML text.
func commentsOf(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if m := commentText.FindStringSubmatch(l); m != nil {
			out = append(out, m[2])
		}
	}
	return out
}

var adoptAuthor = map[string]string{"GIT_AUTHOR_NAME": "Ada Adopter", "GIT_AUTHOR_EMAIL": "ada@example.invalid"}

// TestAdoptCommitPushThenCheck: fields changed by hand in the cluster
// are adopted into every kind of source, committed on a new branch,
// pushed, and check at that branch finds the cluster in sync; the work
// tree is untouched and the edited files keep their comments.
func TestAdoptCommitPushThenCheck(t *testing.T) {
	requireAPIServer(t)
	helm := gitsource.RenderOptions{Helm: gitsource.HelmOptions{ValuesFiles: []string{"helm/values-prod.yaml"}}}
	cases := []struct {
		name, path string
		ro         gitsource.RenderOptions
		flags      []string
		drift      func(t *testing.T, ns string)
		// files are the files the commit must change.
		files []string
	}{{
		name: "kustomize", path: "kustomize/overlays/prod",
		drift: func(t *testing.T, ns string) {
			editDeployment(t, ns, "prod-web",
				liveField(int64(5), "spec", "replicas"),
				liveField(int64(20), "spec", "minReadySeconds"),
				liveField("sre", "metadata", "annotations", "example.com/approved-by"),
				liveContainer(func(c map[string]any) { c["image"] = "nginx:1.27" }),
				liveContainer(liveEnv("LOG_LEVEL", "debug")),
				liveContainer(liveEnv("LOG_FORMAT", "text")),
				liveContainer(func(c map[string]any) {
					c["resources"].(map[string]any)["limits"].(map[string]any)["memory"] = "512Mi"
				}))
		},
		files: []string{"kustomize/overlays/prod/kustomization.yaml", "kustomize/overlays/prod/web-resources.yaml",
			"kustomize/overlays/prod/web-ready.json6902.yaml", "kustomize/base/deployment.yaml"},
	}, {
		name: "helm", path: "helm", ro: helm, flags: []string{"--values", "helm/values-prod.yaml"},
		drift: func(t *testing.T, ns string) {
			editDeployment(t, ns, "webchart-web",
				liveField(int64(5), "spec", "replicas"),
				liveContainer(func(c map[string]any) { c["image"] = "nginx:1.27" }))
		},
		files: []string{"helm/values.yaml", "helm/values-prod.yaml"},
	}, {
		name: "plain", path: "plain",
		drift: func(t *testing.T, ns string) {
			editDeployment(t, ns, "plain-web",
				liveField(int64(4), "spec", "replicas"),
				liveField("team-api", "metadata", "annotations", "example.com/owner"),
				liveContainer(liveEnv("MODE", "off")))
			err := kube.Edit(context.Background(), "kubectl-edit", gvkConfigMap, ns, "plain-config", func(u *unstructured.Unstructured) error {
				return unstructured.SetNestedField(u.Object, "yes", "data", "LOG_LEVEL")
			})
			if err != nil {
				t.Fatal(err)
			}
		},
		files: []string{"plain/web.yaml", "plain/config.yaml"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ns := adoptNamespace(t, c.path, c.ro)
			url, dir := adoptSource(t)
			c.drift(t, ns)
			args := append([]string{"--path", c.path, "--kubeconfig", kubeconfig, "-n", ns}, c.flags...)
			if r := runCLI(t, append([]string{"check", "--dir", dir}, args...)...); r.code != exitDrift {
				t.Fatalf("check before adopting: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
			}
			before := treeFiles(t, dir)
			r := runWithEnv(t, adoptAuthor, append([]string{"adopt", "--dir", dir, "--commit", "--branch", "adopt-1", "--push"}, args...)...)
			if r.code != exitInSync {
				t.Fatalf("adopt: exit %d, want 0\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			if r.stdout != "" || !strings.Contains(r.stderr, "pushed branch adopt-1 to origin") || strings.Contains(r.stderr, "cannot adopt") {
				t.Errorf("adopt output:\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
			}
			if d := cmpMaps(before, treeFiles(t, dir)); d != "" {
				t.Errorf("adopt --commit changed the work tree: %s", d)
			}
			check := runCLI(t, append([]string{"check", "--repo", url, "--ref", "adopt-1", "--cache-dir", t.TempDir()}, args...)...)
			if check.code != exitInSync {
				t.Fatalf("check at adopt-1: exit %d, want 0\n%s%s", check.code, check.stdout, check.stderr)
			}
			for _, f := range c.files {
				got, author := branchFile(t, dir, "adopt-1", f)
				if got == before[f] {
					t.Errorf("%s: not changed by the commit", f)
				}
				if author != "Ada Adopter <ada@example.invalid>" {
					t.Errorf("author %q", author)
				}
				if d := cmpLists(commentsOf(before[f]), commentsOf(got)); d != "" {
					t.Errorf("%s: comments changed: %s", f, d)
				}
			}
		})
	}
}

func cmpMaps(a, b map[string]string) string {
	for k, v := range a {
		if b[k] != v {
			return k + " differs"
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			return k + " is new"
		}
	}
	return ""
}

func cmpLists(a, b []string) string {
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		return fmt.Sprintf("before %q, after %q", a, b)
	}
	return ""
}

// TestAdoptDiffAndWrite: by default adopt prints a diff and changes
// nothing; --write changes the files, after which check finds the
// cluster in sync. A field that cannot be adopted (a Helm template
// expression) is said on stderr and makes the exit status 1.
func TestAdoptDiffAndWrite(t *testing.T) {
	requireAPIServer(t)
	path := "kustomize/overlays/prod"
	ns := adoptNamespace(t, path, gitsource.RenderOptions{})
	editDeployment(t, ns, "prod-web", liveField(int64(5), "spec", "replicas"))
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(adoptFixtures)); err != nil {
		t.Fatal(err)
	}
	args := []string{"adopt", "--dir", dir, "--path", path, "--kubeconfig", kubeconfig, "-n", ns}
	before := treeFiles(t, dir)
	r := runCLI(t, args...)
	want := "--- a/kustomize/overlays/prod/kustomization.yaml\n+++ b/kustomize/overlays/prod/kustomization.yaml\n" +
		"@@ -27,7 +27,7 @@\n     newTag: \"1.25\" # bumped by the release pipeline\n replicas:\n   - name: web\n" +
		"-    count: 3 # production load\n+    count: 5 # production load\n configMapGenerator:\n" +
		"   # Generated: its values live in this file, not as a ConfigMap.\n   - name: web-settings\n"
	if r.code != exitInSync || r.stdout != want {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nwant:\n%s\nstderr: %s", r.code, r.stdout, want, r.stderr)
	}
	if !strings.Contains(r.stderr, "adopted Deployment "+ns+"/prod-web spec.replicas (3 → 5) into kustomize/overlays/prod/kustomization.yaml\n") {
		t.Errorf("stderr: %s", r.stderr)
	}
	if d := cmpMaps(before, treeFiles(t, dir)); d != "" {
		t.Errorf("the diff changed the tree: %s", d)
	}
	if r := runCLI(t, append(args, "--write")...); r.code != exitInSync || r.stdout != "" || !strings.Contains(r.stderr, "wrote 1 file") {
		t.Fatalf("--write: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, "check", "--dir", dir, "--path", path, "--kubeconfig", kubeconfig, "-n", ns); r.code != exitInSync {
		t.Fatalf("check after --write: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Nothing left to adopt.
	if r := runCLI(t, args...); r.code != exitInSync || r.stdout != "" || !strings.Contains(r.stderr, "nothing to adopt") {
		t.Errorf("second run: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	t.Run("some fields cannot be adopted", func(t *testing.T) {
		helm := gitsource.RenderOptions{Helm: gitsource.HelmOptions{ValuesFiles: []string{"helm/values-prod.yaml"}}}
		ns := adoptNamespace(t, "helm", helm)
		editDeployment(t, ns, "webchart-web",
			liveField(int64(5), "spec", "replicas"),
			liveContainer(liveEnv("GREETING", "BONJOUR")))
		r := runCLI(t, "adopt", "--dir", dir, "--path", "helm", "--values", "helm/values-prod.yaml", "--kubeconfig", kubeconfig, "-n", ns)
		if r.code != exitDrift || !strings.Contains(r.stdout, "+replicaCount: 5 # production load\n") {
			t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		for _, line := range []string{
			"adopted Deployment " + ns + "/webchart-web spec.replicas (3 → 5) into helm/values-prod.yaml\n",
			"cannot adopt Deployment " + ns + "/webchart-web spec.template.spec.containers[name=app].env[name=GREETING].value: computed by the chart's templates from .greeting, not a plain reference to it\n",
		} {
			if !strings.Contains(r.stderr, line) {
				t.Errorf("stderr lacks %q:\n%s", line, r.stderr)
			}
		}
	})
}

// makeUnwritable makes a directory tree refuse new files, even to root
// (the immutable attribute), until the test ends.
func makeUnwritable(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
		return
	}
	if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
		t.Fatalf("chattr +i %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", dir).Run() })
}

// TestAdoptBadInput: each mistake is one line on stderr and exit 2.
func TestAdoptBadInput(t *testing.T) {
	requireAPIServer(t)
	path := "kustomize/overlays/prod"
	ns := adoptNamespace(t, path, gitsource.RenderOptions{})
	editDeployment(t, ns, "prod-web", liveField(int64(5), "spec", "replicas"))
	settings := ""
	r, err := gitsource.RenderWith(context.Background(), adoptFixtures, path, gitsource.RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range r.Objects {
		if o.Object.GetKind() == "ConfigMap" {
			settings = o.Object.GetName()
		}
	}
	err = kube.Edit(context.Background(), "kubectl-edit", gvkConfigMap, ns, settings, func(u *unstructured.Unstructured) error {
		return unstructured.SetNestedField(u.Object, "bonjour", "data", "GREETING")
	})
	if err != nil {
		t.Fatal(err)
	}
	_, clone := adoptSource(t)
	repo, err := git.PlainOpen(clone)
	if err != nil {
		t.Fatal(err)
	}
	head, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName("taken"), head.Hash())); err != nil {
		t.Fatal(err)
	}
	readOnly := t.TempDir()
	if err := os.CopyFS(readOnly, os.DirFS(adoptFixtures)); err != nil {
		t.Fatal(err)
	}
	makeUnwritable(t, readOnly)
	notRepo := t.TempDir()
	if err := os.CopyFS(notRepo, os.DirFS(adoptFixtures)); err != nil {
		t.Fatal(err)
	}
	cluster := []string{"--path", path, "--kubeconfig", kubeconfig, "-n", ns}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"push without commit", []string{"--dir", clone, "--push"}, "flag --push: needs --commit"},
		{"repo instead of dir", []string{"--repo", gitServer.RepoURL("deploy")}, "flag --repo: adopt writes into a local work tree: use --dir"},
		{"branch exists", []string{"--dir", clone, "--commit", "--branch", "taken"}, "branch taken already exists"},
		{"not a work tree", []string{"--dir", notRepo, "--commit", "--branch", "adopt-1"}, "directory " + notRepo + " is not in a Git work tree"},
		{"unwritable work tree", []string{"--dir", readOnly, "--write"}, "work tree " + readOnly + " is not writable"},
		{"generated field", []string{"--dir", clone, "--field", "data.GREETING"},
			"cannot adopt ConfigMap " + ns + "/" + settings + " data.GREETING: generated by configMapGenerator web-settings in kustomize/overlays/prod/kustomization.yaml"},
		{"bad field", []string{"--dir", clone, "--field", "spec.[x"}, "flag --field: invalid path"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runWithEnv(t, adoptAuthor, append(append([]string{"adopt"}, c.args...), cluster...)...)
			if r.code != exitError || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "driftwatch: error: "+c.want) {
				t.Errorf("exit %d, want 2 and one line starting %q\nstdout: %s\nstderr: %s", r.code, c.want, r.stdout, r.stderr)
			}
		})
	}
	// The author must come from somewhere.
	t.Run("no author", func(t *testing.T) {
		home := t.TempDir()
		env := map[string]string{"HOME": home, "XDG_CONFIG_HOME": home, "GIT_AUTHOR_NAME": "", "GIT_AUTHOR_EMAIL": ""}
		r := runWithEnv(t, env, append([]string{"adopt", "--dir", clone, "--commit", "--branch", "adopt-2"}, cluster...)...)
		want := "driftwatch: error: commit author: set user.name and user.email in the Git config, or GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL\n"
		if r.code != exitError || r.stderr != want {
			t.Errorf("exit %d\nstderr: %s", r.code, r.stderr)
		}
	})
	// And the template-expression field of the chart, chosen by name.
	t.Run("template expression", func(t *testing.T) {
		helm := gitsource.RenderOptions{Helm: gitsource.HelmOptions{ValuesFiles: []string{"helm/values-prod.yaml"}}}
		ns := adoptNamespace(t, "helm", helm)
		editDeployment(t, ns, "webchart-web", liveContainer(liveEnv("GREETING", "BONJOUR")))
		r := runCLI(t, "adopt", "--dir", clone, "--path", "helm", "--values", "helm/values-prod.yaml", "--kubeconfig", kubeconfig, "-n", ns,
			"--field", "spec.template.spec.containers[*].env")
		want := "driftwatch: error: cannot adopt Deployment " + ns + "/webchart-web spec.template.spec.containers[name=app].env[name=GREETING].value: computed by the chart's templates from .greeting, not a plain reference to it\n"
		if r.code != exitError || r.stderr != want {
			t.Errorf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
	})
}

// kubectlSetImage runs the kubectl that .ci/envtest.sh builds, as a person
// pinning an image by hand would.
func kubectlSetImage(t *testing.T, ns, deployment, container, image string) {
	t.Helper()
	kubectl := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	out, err := exec.Command(kubectl, "--kubeconfig", kubeconfig, "-n", ns,
		"set", "image", "deployment/"+deployment, container+"="+image).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl set image: %v\n%s", err, out)
	}
}

// An image pinned by digest with kubectl set image is adopted into the
// overlay's images: entry: digest set and newTag removed, or kustomize
// renders name:tag@digest and verification refuses the edit.
func TestAdoptImagePinnedByDigest(t *testing.T) {
	requireAPIServer(t)
	path := "kustomize/overlays/prod"
	ns := adoptNamespace(t, path, gitsource.RenderOptions{})
	digest := "sha256:" + strings.Repeat("4f", 32)
	kubectlSetImage(t, ns, "prod-web", "app", "nginx@"+digest)
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(adoptFixtures)); err != nil {
		t.Fatal(err)
	}
	args := []string{"--dir", dir, "--path", path, "--kubeconfig", kubeconfig, "-n", ns}
	r := runCLI(t, append([]string{"adopt", "--write"}, args...)...)
	want := "adopted Deployment " + ns + "/prod-web spec.template.spec.containers[name=app].image (nginx:1.25 → " + ("nginx@" + digest)[:57] + "...) into " + path + "/kustomization.yaml\nwrote 1 file\n"
	if r.code != exitInSync || r.stderr != want {
		t.Fatalf("adopt --write: exit %d, want 0\nstdout: %s\nstderr: %s\nwant stderr: %s", r.code, r.stdout, r.stderr, want)
	}
	if r := runCLI(t, append([]string{"check"}, args...)...); r.code != exitInSync {
		t.Fatalf("check after adopting: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	k, err := os.ReadFile(filepath.Join(dir, path, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	images := string(k)[strings.Index(string(k), "images:"):strings.Index(string(k), "replicas:")]
	if want := "images:\n  - name: nginx\n    digest: " + digest + "\n"; images != want {
		t.Errorf("images: entry\n%s\nwant\n%s", images, want)
	}
}

// A commit or a write that fails prints its error alone: no "adopted ...
// into FILE" line for a change that was never made, and nothing changes.
func TestAdoptFailedDeliveryPrintsOnlyTheError(t *testing.T) {
	requireAPIServer(t)
	path := "kustomize/overlays/prod"
	ns := adoptNamespace(t, path, gitsource.RenderOptions{})
	editDeployment(t, ns, "prod-web", liveField(int64(5), "spec", "replicas"))
	cluster := []string{"--path", path, "--kubeconfig", kubeconfig, "-n", ns}
	file := path + "/kustomization.yaml"

	t.Run("commit over uncommitted changes", func(t *testing.T) {
		_, clone := adoptSource(t)
		f, err := os.OpenFile(filepath.Join(clone, file), os.O_APPEND|os.O_WRONLY, 0)
		if err == nil {
			_, err = f.WriteString("# a note not yet committed\n")
			f.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		before := treeFiles(t, clone)
		r := runWithEnv(t, adoptAuthor, append([]string{"adopt", "--dir", clone, "--commit", "--branch", "adopt-1"}, cluster...)...)
		want := "driftwatch: error: file " + file + " has uncommitted changes: commit or stash them first (adopt commits on top of HEAD)\n"
		if r.code != exitError || r.stderr != want || r.stdout != "" {
			t.Errorf("exit %d, want 2\nstdout: %s\nstderr: %s\nwant stderr: %s", r.code, r.stdout, r.stderr, want)
		}
		repo, err := git.PlainOpen(clone)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := repo.Reference(plumbing.NewBranchReferenceName("adopt-1"), false); err == nil {
			t.Error("branch adopt-1 was created")
		}
		if d := cmpMaps(before, treeFiles(t, clone)); d != "" {
			t.Errorf("the work tree changed: %s", d)
		}
	})

	t.Run("write into a directory that refuses it", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS(adoptFixtures)); err != nil {
			t.Fatal(err)
		}
		// The root takes new files (checked before the cluster is read);
		// the overlay's directory does not.
		makeUnwritable(t, filepath.Join(dir, path))
		before := treeFiles(t, dir)
		r := runCLI(t, append([]string{"adopt", "--dir", dir, "--write"}, cluster...)...)
		want := "driftwatch: error: work tree " + dir + ": cannot write " + file + ": "
		if r.code != exitError || !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
			t.Errorf("exit %d, want 2 and one line starting %q\nstdout: %s\nstderr: %s", r.code, want, r.stdout, r.stderr)
		}
		if d := cmpMaps(before, treeFiles(t, dir)); d != "" {
			t.Errorf("the work tree changed: %s", d)
		}
	})
}

// A rename that fails after others succeeded puts those files back: the
// work tree is as it was, and the error names the file.
func TestWriteChangesAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"a.yaml": "a: old\n", "c.yaml": "c: old\n", "b/keep.yaml": "x\n"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := treeFiles(t, dir)
	// b is a directory that is not empty: the file cannot be renamed
	// over it, after a.yaml was.
	err := writeChanges(dir, []adopt.FileChange{
		{Path: "a.yaml", Old: []byte("a: old\n"), New: []byte("a: new\n")},
		{Path: "b", Old: []byte("b: old\n"), New: []byte("b: new\n")},
	})
	if err == nil || !strings.HasPrefix(err.Error(), "work tree "+dir+": cannot write b: ") {
		t.Fatalf("error %v, want one naming b", err)
	}
	if d := cmpMaps(before, treeFiles(t, dir)); d != "" {
		t.Errorf("the work tree changed: %s", d)
	}
	// A deleted file is put back too.
	err = writeChanges(dir, []adopt.FileChange{
		{Path: "a.yaml", Old: []byte("a: old\n"), New: nil},
		{Path: "b", Old: []byte("b: old\n"), New: []byte("b: new\n")},
	})
	if err == nil {
		t.Fatal("no error")
	}
	if d := cmpMaps(before, treeFiles(t, dir)); d != "" {
		t.Errorf("the work tree changed: %s", d)
	}
}
