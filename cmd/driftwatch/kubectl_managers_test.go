package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftwatch/driftwatch/drift"
)

// kubectlManagersGit is what Git declares for TestKubectlManagers: one
// object per kubectl command, so that each drift has one author.
// d-scale-added and d-scale-unowned set no replicas. cm-create is not
// applied: kubectl create makes it.
const kubectlManagersGit = `apiVersion: apps/v1
kind: Deployment
metadata: {name: d-edit}
spec: {replicas: 2, selector: {matchLabels: {app: d-edit}}, template: {metadata: {labels: {app: d-edit}}, spec: {containers: [{name: app, image: "nginx:1.27"}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d-csa}
spec: {replicas: 2, selector: {matchLabels: {app: d-csa}}, template: {metadata: {labels: {app: d-csa}}, spec: {containers: [{name: app, image: "nginx:1.27"}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d-ssa}
spec: {replicas: 2, selector: {matchLabels: {app: d-ssa}}, template: {metadata: {labels: {app: d-ssa}}, spec: {containers: [{name: app, image: "nginx:1.27"}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d-patch}
spec: {replicas: 2, selector: {matchLabels: {app: d-patch}}, template: {metadata: {labels: {app: d-patch}}, spec: {containers: [{name: app, image: "nginx:1.27"}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d-scale}
spec: {replicas: 2, selector: {matchLabels: {app: d-scale}}, template: {metadata: {labels: {app: d-scale}}, spec: {containers: [{name: app, image: "nginx:1.27"}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d-scale-added}
spec: {selector: {matchLabels: {app: d-scale-added}}, template: {metadata: {labels: {app: d-scale-added}}, spec: {containers: [{name: app, image: "nginx:1.27"}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d-scale-unowned}
spec: {selector: {matchLabels: {app: d-scale-unowned}}, template: {metadata: {labels: {app: d-scale-unowned}}, spec: {containers: [{name: app, image: "nginx:1.27"}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d-set-image}
spec: {replicas: 2, selector: {matchLabels: {app: d-set-image}}, template: {metadata: {labels: {app: d-set-image}}, spec: {containers: [{name: app, image: "nginx:1.27"}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d-label, labels: {tier: web}}
spec: {replicas: 2, selector: {matchLabels: {app: d-label}}, template: {metadata: {labels: {app: d-label}}, spec: {containers: [{name: app, image: "nginx:1.27"}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d-annotate, annotations: {note: from-git}}
spec: {replicas: 2, selector: {matchLabels: {app: d-annotate}}, template: {metadata: {labels: {app: d-annotate}}, spec: {containers: [{name: app, image: "nginx:1.27"}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d-rollout}
spec: {replicas: 2, selector: {matchLabels: {app: d-rollout}}, template: {metadata: {labels: {app: d-rollout}}, spec: {containers: [{name: app, image: "nginx:1.27"}]}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm-replace}
data: {mode: auto}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm-create}
data: {mode: auto}
`

// kubectlCase is one kubectl command and what it must leave behind: the
// managedFields entry it writes (besides Git's applier's) and the one
// drift driftwatch reports for it.
type kubectlCase struct {
	name   string
	object string   // Kind/name
	before []string // a kubectl command run first, if any
	run    []string // kubectl arguments, after --kubeconfig and -n
	editor string   // KUBE_EDITOR, for kubectl edit
	// entry is "manager operation [subresource]" as managedFields records
	// it; "" when the API server records none.
	entry string
	// The drift driftwatch must report, owned by entry: path, type,
	// severity (the README's severity example, then the built-in rules);
	// no path when the object must be in sync.
	path     string
	typ      drift.DiffType
	severity drift.Severity
	// interactive: an Added field this entry owned would be a hand edit.
	interactive bool
}

// TestKubectlManagers runs each kubectl command a person uses to change an
// object, with the kubectl .ci/envtest.sh builds (v1.37.2), against the
// test API server, and pins the managedFields entry each writes, how
// driftwatch attributes the change ("[kubectl Update scale ...]" for a
// scale), how the README's severity example classifies it, and which
// managers count as interactive; README.md's list of interactive managers
// must name exactly those.
func TestKubectlManagers(t *testing.T) {
	requireAPIServer(t)
	kubectl := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	if st, err := os.Stat(kubectl); err != nil || st.Mode().Perm()&0o111 == 0 {
		t.Fatalf("no kubectl beside kube-apiserver (%v): .ci/envtest.sh builds it into KUBEBUILDER_ASSETS", err)
	}
	ctx := context.Background()
	ns := fmt.Sprintf("prod-kubectl-%d", nsCounter.Add(1)) // the README example's rule selects "prod-*"
	if err := kube.Apply(ctx, "setup", "", &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns},
	}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "app.yaml"), kubectlManagersGit)
	applyFixtureDir(t, dir, ns)
	if err := kube.Delete(ctx, gvkConfigMap, ns, "cm-create"); err != nil {
		t.Fatal(err)
	}
	files := t.TempDir()
	editor := filepath.Join(files, "editor.sh")
	writeFile(t, editor, "#!/bin/sh\nsed -i 's/^  replicas: 2$/  replicas: 5/' \"$1\"\n")
	if err := os.Chmod(editor, 0o755); err != nil {
		t.Fatal(err)
	}
	csa := filepath.Join(files, "csa.yaml")
	writeFile(t, csa, `apiVersion: apps/v1
kind: Deployment
metadata: {name: d-csa}
spec: {replicas: 5, selector: {matchLabels: {app: d-csa}}, template: {metadata: {labels: {app: d-csa}}, spec: {containers: [{name: app, image: "nginx:1.27"}]}}}
`)
	// A partial manifest, as one scales with server-side apply; it also
	// sets minReadySeconds, which Git does not.
	ssa := filepath.Join(files, "ssa.yaml")
	writeFile(t, ssa, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d-ssa}\nspec: {replicas: 5, minReadySeconds: 5}\n")
	replace := filepath.Join(files, "replace.yaml")
	writeFile(t, replace, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-replace}\ndata: {mode: manual}\n")

	cases := []kubectlCase{
		{name: "edit", object: "Deployment/d-edit", run: []string{"edit", "deployment/d-edit"}, editor: editor,
			entry: "kubectl-edit Update", path: "spec.replicas", typ: drift.Changed, severity: drift.SeverityCritical, interactive: true},
		{name: "apply (client-side)", object: "Deployment/d-csa", run: []string{"apply", "-f", csa},
			entry: "kubectl-client-side-apply Update", path: "spec.replicas", typ: drift.Changed, severity: drift.SeverityCritical, interactive: true},
		{name: "apply --server-side", object: "Deployment/d-ssa", run: []string{"apply", "--server-side", "--force-conflicts", "-f", ssa},
			entry: "kubectl Apply", path: "spec.replicas", typ: drift.Changed, severity: drift.SeverityInfo},
		{name: "patch", object: "Deployment/d-patch", run: []string{"patch", "deployment/d-patch", "-p", `{"spec":{"replicas":5}}`},
			entry: "kubectl-patch Update", path: "spec.replicas", typ: drift.Changed, severity: drift.SeverityCritical, interactive: true},
		{name: "scale", object: "Deployment/d-scale", run: []string{"scale", "deployment/d-scale", "--replicas=5"},
			entry: "kubectl Update scale", path: "spec.replicas", typ: drift.Changed, severity: drift.SeverityCritical, interactive: true},
		// Replicas Git leaves out, set by hand before: the scale takes
		// them over, and is a field added by hand.
		{name: "scale what Git leaves unset", object: "Deployment/d-scale-added",
			before: []string{"patch", "deployment/d-scale-added", "-p", `{"spec":{"replicas":2}}`}, run: []string{"scale", "deployment/d-scale-added", "--replicas=3"},
			entry: "kubectl Update scale", path: "spec.replicas", typ: drift.Added, severity: drift.SeverityCritical, interactive: true},
		// Replicas nobody owns: the scale subresource has no managedFields
		// to start from, and the API server tracks none for it (its
		// skip-non-applied rule), so nothing can say who scaled.
		{name: "scale what nobody owns", object: "Deployment/d-scale-unowned", run: []string{"scale", "deployment/d-scale-unowned", "--replicas=3"}},
		{name: "set image", object: "Deployment/d-set-image", run: []string{"set", "image", "deployment/d-set-image", "app=nginx:1.28"},
			entry: "kubectl-set Update", path: "spec.template.spec.containers[name=app].image", typ: drift.Changed, severity: drift.SeverityCritical, interactive: true},
		{name: "label", object: "Deployment/d-label", run: []string{"label", "--overwrite", "deployment/d-label", "tier=api"},
			entry: "kubectl-label Update", path: "metadata.labels.tier", typ: drift.Changed, severity: drift.SeverityInfo, interactive: true},
		{name: "annotate", object: "Deployment/d-annotate", run: []string{"annotate", "--overwrite", "deployment/d-annotate", "note=by-hand"},
			entry: "kubectl-annotate Update", path: "metadata.annotations.note", typ: drift.Changed, severity: drift.SeverityInfo, interactive: true},
		{name: "rollout restart", object: "Deployment/d-rollout", run: []string{"rollout", "restart", "deployment/d-rollout"},
			entry: "kubectl-rollout Update", path: "spec.template.metadata.annotations", typ: drift.Added, severity: drift.SeverityInfo, interactive: true},
		{name: "replace", object: "ConfigMap/cm-replace", run: []string{"replace", "-f", replace},
			entry: "kubectl-replace Update", path: "data.mode", typ: drift.Changed, severity: drift.SeverityWarning, interactive: true},
		{name: "create", object: "ConfigMap/cm-create", run: []string{"create", "configmap", "cm-create", "--from-literal=mode=manual"},
			entry: "kubectl-create Update", path: "data.mode", typ: drift.Changed, severity: drift.SeverityWarning, interactive: true},
	}

	// Each command, and the managedFields entry it leaves.
	var noTime []string
	for _, c := range cases {
		for _, run := range [][]string{c.before, c.run} {
			if run == nil {
				continue
			}
			cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", kubeconfig, "-n", ns}, run...)...)
			cmd.Env = append(os.Environ(), "KUBE_EDITOR="+c.editor)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("kubectl %s: %v\n%s", strings.Join(run, " "), err, out)
			}
		}
		var want []string
		if c.entry != "" {
			want = []string{c.entry}
		}
		entries, timeless := managedEntries(t, ns, c.object)
		if diff := cmp.Diff(want, entries); diff != "" {
			t.Errorf("%s: managedFields entries besides Git's applier's (-want +got):\n%s", c.name, diff)
		}
		noTime = append(noTime, timeless...)
	}
	// The API server carries no time into a scale's entry (its
	// ScaleHandler takes times from the parent's entries, where a new
	// manager has none), and records one for every other command.
	if diff := cmp.Diff([]string{"Deployment/d-scale: kubectl Update scale", "Deployment/d-scale-added: kubectl Update scale"}, noTime); diff != "" {
		t.Errorf("entries recorded without a time (-want +got):\n%s", diff)
	}

	// driftwatch: who, and how severe, by the README's example (with
	// hand-added labels and annotations reported in this namespace).
	cfg := filepath.Join(files, "config.yaml")
	writeFile(t, cfg, readmeSeverityExample(t)+"added:\n  metadata:\n    - match: {namespace: "+ns+"}\n")
	r := runCLI(t, "check", "--dir", dir, "--kubeconfig", kubeconfig, "-n", ns, "--config", cfg, "-o", "json")
	if r.code != exitDrift {
		t.Fatalf("check: exit %d, want 1\n%s", r.code, r.stderr)
	}
	rep := parseReport(t, r)
	var want, got []string
	for _, c := range cases {
		if c.path == "" {
			want = append(want, c.name+": "+c.object+" "+string(drift.InSync))
		} else {
			f := strings.Fields(c.entry)
			by := drift.ChangedBy{Manager: f[0], Operation: f[1]}
			if len(f) > 2 {
				by.Subresource = f[2]
			}
			want = append(want, fmt.Sprintf("%s: %s %s %s [%s] %s", c.name, c.object, c.typ, c.path, describeBy(&by), c.severity))
		}
		kind, name, _ := strings.Cut(c.object, "/")
		line := c.name + ": " + c.object + " not in the report"
		for _, res := range rep.Resources {
			if res.Kind != kind || res.Name != name {
				continue
			}
			line = c.name + ": " + c.object + " " + string(res.Status)
			for _, d := range res.Diffs {
				if d.Path == c.path || c.path == "" {
					line = fmt.Sprintf("%s: %s %s %s [%s] %s", c.name, c.object, d.Type, d.Path, describeBy(d.ChangedBy), d.Severity)
				}
			}
		}
		got = append(got, line)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("drift as driftwatch reports it (-want +got):\n%s\nreport: %s", diff, r.stdout)
	}
	// What server-side apply by kubectl added is not a hand edit.
	for _, res := range rep.Resources {
		for _, d := range res.Diffs {
			if d.Type == drift.Added && d.ChangedBy != nil && d.ChangedBy.Operation == "Apply" {
				t.Errorf("%s/%s %s: Added by %+v, which is not interactive", res.Kind, res.Name, d.Path, *d.ChangedBy)
			}
		}
	}

	// The text report names the subresource and says when there is no time.
	txt := runCLI(t, "check", "--dir", dir, "--kubeconfig", kubeconfig, "-n", ns, "--config", cfg)
	if scaled := "  ~ spec.replicas: desired 2, live 5  [kubectl Update scale, no time recorded]  (critical)\n"; !strings.Contains(txt.stdout, scaled) {
		t.Errorf("text report lacks %q:\n%s", scaled, txt.stdout)
	}

	// The case: Git holding the scaled Deployment alone fails
	// --fail-on=critical under the README's example.
	scaleOnly := t.TempDir()
	for _, doc := range strings.Split(kubectlManagersGit, "\n---\n") {
		if strings.Contains(doc, "metadata: {name: d-scale}") {
			writeFile(t, filepath.Join(scaleOnly, "app.yaml"), doc)
		}
	}
	if r := runCLI(t, "check", "--dir", scaleOnly, "--kubeconfig", kubeconfig, "-n", ns, "--config", cfg, "--fail-on", "critical"); r.code != exitDrift {
		t.Errorf("kubectl scale under the README's rule with --fail-on=critical: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Interactive managers: the code's and the README's are what kubectl
	// writes when a person changes an object, and nothing else.
	var observed []string
	for _, c := range cases {
		if f := strings.Fields(c.entry); c.interactive && !slices.Contains(observed, f[0]+" "+f[1]) {
			observed = append(observed, f[0]+" "+f[1])
		}
	}
	documented := []string{drift.KubectlManager + " Update"}
	for _, m := range drift.DefaultInteractiveManagers {
		documented = append(documented, m+" Update")
	}
	sort.Strings(observed)
	sort.Strings(documented)
	if diff := cmp.Diff(documented, observed); diff != "" {
		t.Errorf("drift.DefaultInteractiveManagers and KubectlManager against what kubectl writes (-code +kubectl):\n%s", diff)
	}
	if diff := cmp.Diff(observed, readmeInteractiveManagers(t)); diff != "" {
		t.Errorf("README's interactive managers against what kubectl writes (-kubectl +README):\n%s", diff)
	}
}

// managedEntries lists obj's managedFields entries other than Git's
// applier's, as "manager operation [subresource]", and those of them that
// record no time.
func managedEntries(t *testing.T, ns, obj string) (entries, timeless []string) {
	t.Helper()
	kind, name, _ := strings.Cut(obj, "/")
	gvk := map[string]schema.GroupVersionKind{"Deployment": gvkDeployment, "ConfigMap": gvkConfigMap}[kind]
	ri, err := kube.Resource(gvk, ns)
	if err != nil {
		t.Fatal(err)
	}
	u, err := ri.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range u.GetManagedFields() {
		if e.Manager == "gitops" {
			continue
		}
		s := strings.TrimSpace(e.Manager + " " + string(e.Operation) + " " + e.Subresource)
		entries = append(entries, s)
		if e.Time == nil || e.Time.Time.Equal(time.Time{}) {
			timeless = append(timeless, obj+": "+s)
		}
	}
	return entries, timeless
}

// describeBy is a ChangedBy without its time, which differs run to run.
func describeBy(c *drift.ChangedBy) string {
	if c == nil {
		return "nobody"
	}
	s := strings.TrimSpace(c.Manager + " " + c.Operation + " " + c.Subresource)
	if c.Applier {
		s += ", applier"
	}
	return s
}

// readmeSeverityExample is the config of the Severity section of
// docs/what-counts-as-drift.md.
func readmeSeverityExample(t *testing.T) string {
	t.Helper()
	_, section, _ := strings.Cut(readDriftDoc(t), "\n## Severity")
	_, example, ok := strings.Cut(section, "```yaml\n")
	example, _, _ = strings.Cut(example, "```")
	if !ok || !strings.Contains(example, "severity:") {
		t.Fatal("docs/what-counts-as-drift.md's Severity section has no yaml example")
	}
	return example
}

// readmeInteractiveManagers lists the interactive managers
// docs/what-counts-as-drift.md's
// Added section names ("What counts, precisely"), as "manager Update":
// each `kubectl-...` name, and `kubectl` when it is said to be interactive
// with operation `Update`.
func readmeInteractiveManagers(t *testing.T) []string {
	t.Helper()
	_, para, ok := strings.Cut(readDriftDoc(t), "What counts, precisely:")
	para, _, _ = strings.Cut(para, "Never counted:")
	if !ok {
		t.Fatal("docs/what-counts-as-drift.md has no \"What counts, precisely:\" paragraph")
	}
	var out []string
	for _, m := range regexp.MustCompile("`(kubectl-[a-z-]+)`").FindAllStringSubmatch(para, -1) {
		if !slices.Contains(out, m[1]+" Update") {
			out = append(out, m[1]+" Update")
		}
	}
	if strings.Contains(para, "`kubectl` with operation `Update`") {
		out = append(out, "kubectl Update")
	}
	sort.Strings(out)
	return out
}

// readDriftDoc reads docs/what-counts-as-drift.md, where the severity
// example and the list of interactive managers are documented.
func readDriftDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "what-counts-as-drift.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
