package adopt

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/driftwatch/driftwatch/drift"
)

func TestFormatScalar(t *testing.T) {
	plain := &kyaml.Node{Kind: kyaml.ScalarNode}
	double := &kyaml.Node{Kind: kyaml.ScalarNode, Style: kyaml.DoubleQuotedStyle}
	single := &kyaml.Node{Kind: kyaml.ScalarNode, Style: kyaml.SingleQuotedStyle}
	cases := []struct {
		name string
		v    any
		old  *kyaml.Node
		flow bool
		want string
	}{
		{"int", int64(5), plain, false, "5"},
		{"float", 0.5, plain, false, "0.5"},
		{"bool", true, plain, false, "true"},
		{"null", nil, plain, false, "null"},
		{"plain string", "nginx:1.27", plain, false, "nginx:1.27"},
		{"string that reads as a number", "1.27", plain, false, `"1.27"`},
		{"string YAML 1.1 reads as a bool", "yes", plain, false, `"yes"`},
		{"string that reads as null", "~", plain, false, `"~"`},
		{"string with a comment sign", "a #b", plain, false, `"a #b"`},
		{"string with a colon and space", "a: b", plain, false, `"a: b"`},
		{"leading space", " x", plain, false, `" x"`},
		{"comma in flow", "a,b", plain, true, `"a,b"`},
		{"comma in block", "a,b", plain, false, "a,b"},
		{"keeps double quotes", "team-api", double, false, `"team-api"`},
		{"escapes in double quotes", "a\"b\n<c>", double, false, `"a\"b\n<c>"`},
		{"keeps single quotes", "it's", single, false, `'it''s'`},
		{"newline leaves single quotes", "a\nb", single, false, `"a\nb"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := formatScalar(c.v, c.old, c.flow)
			if !ok || got != c.want {
				t.Errorf("formatScalar(%#v) = %q, %v; want %q", c.v, got, ok, c.want)
			}
		})
	}
	if _, ok := formatScalar(map[string]any{"a": 1}, plain, false); ok {
		t.Error("a map is not a scalar")
	}
}

func steps(ss ...drift.Step) drift.Path { return drift.Path(ss) }

func TestSetValue(t *testing.T) {
	containers := func(rest ...drift.Step) drift.Path {
		return append(steps(drift.Step{Field: "spec"}, drift.Step{Field: "containers"}, drift.Step{Keys: []drift.KeyValue{{Key: "name", Value: "app"}}}), rest...)
	}
	cases := []struct {
		name   string
		in     string
		path   drift.Path
		v      any
		create bool
		want   string
	}{{
		name: "plain scalar, comment kept",
		in:   "spec:\n  replicas: 3 # load\n",
		path: field("spec", "replicas"), v: int64(5),
		want: "spec:\n  replicas: 5 # load\n",
	}, {
		name: "double-quoted",
		in:   "a:\n  b: \"x\"  # c\n",
		path: field("a", "b"), v: "y z",
		want: "a:\n  b: \"y z\"  # c\n",
	}, {
		name: "keyed list item",
		in:   "spec:\n  containers:\n  # the app\n  - name: side\n    image: busybox\n  - name: app\n    image: nginx:1.25 # pinned\n",
		path: containers(drift.Step{Field: "image"}), v: "nginx:1.27",
		want: "spec:\n  containers:\n  # the app\n  - name: side\n    image: busybox\n  - name: app\n    image: nginx:1.27 # pinned\n",
	}, {
		name: "flow mapping",
		in:   "ports: [{containerPort: 8080, protocol: TCP}]\n",
		path: steps(drift.Step{Field: "ports"}, drift.Step{Keys: []drift.KeyValue{{Key: "containerPort", Value: "8080"}}}, drift.Step{Field: "protocol"}), v: "UDP",
		want: "ports: [{containerPort: 8080, protocol: UDP}]\n",
	}, {
		name: "key added to a list item",
		in:   "images:\n  - name: nginx # upstream\n    newTag: \"1.25\"\n# end\n",
		path: steps(drift.Step{Field: "images"}, drift.Step{Index: 0}, drift.Step{Field: "newName"}), v: "registry/nginx", create: true,
		want: "images:\n  - name: nginx # upstream\n    newTag: \"1.25\"\n    newName: registry/nginx\n# end\n",
	}, {
		name: "keys added with their maps",
		in:   "metadata:\n  name: x\nspec: {}\n",
		path: field("metadata", "labels", "tier"), v: "web", create: true,
		want: "metadata:\n  name: x\n  labels:\n    tier: web\nspec: {}\n",
	}, {
		name: "a value that becomes a list is re-encoded, comments kept",
		in:   "# head\nspec:\n  args: x # one\n",
		path: field("spec", "args"), v: []any{"a", "b"},
		want: "# head\nspec:\n  args: # one\n  - a\n  - b\n",
	}, {
		name: "literal block scalar is re-encoded",
		in:   "data:\n  script: |\n    echo hi\n",
		path: field("data", "script"), v: "echo bye\n",
		want: "data:\n  script: |\n    echo bye\n",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := parseDoc([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			out, err := d.setValue(d.top(), c.path, c.v, c.create)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, string(out)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	d, _ := parseDoc([]byte("a: 1\n"))
	if _, err := d.setValue(d.top(), field("b"), 2, false); err != errNotSet {
		t.Errorf("setting a missing key without create: %v, want errNotSet", err)
	}
}

// A JSON manifest is edited in place; what would need re-encoding (into
// block YAML) is refused.
func TestSetValueJSON(t *testing.T) {
	d, err := parseDoc([]byte(`{"spec": {"replicas": 3, "name": "a"}}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.setValue(d.top(), field("spec", "replicas"), int64(5), false)
	if err != nil || string(out) != `{"spec": {"replicas": 5, "name": "a"}}`+"\n" {
		t.Errorf("replicas: %q, %v", out, err)
	}
	out, err = d.setValue(d.top(), field("spec", "name"), "b c", false)
	if err != nil || string(out) != `{"spec": {"replicas": 3, "name": "b c"}}`+"\n" {
		t.Errorf("name: %q, %v", out, err)
	}
	if _, err := d.setValue(d.top(), field("spec", "labels", "a"), "b", true); err == nil {
		t.Error("adding a key to a JSON document re-encoded it")
	}
}

func TestDeletePath(t *testing.T) {
	cases := []struct {
		name string
		in   string
		path drift.Path
		want string
	}{{
		name: "key by its lines",
		in:   "data:\n  A: 1 # a\n  B:\n    c: 2\n  D: 3\n",
		path: field("data", "B"),
		want: "data:\n  A: 1 # a\n  D: 3\n",
	}, {
		name: "list item by its line",
		in:   "resources:\n  - a.yaml # first\n  - b.yaml\n",
		path: steps(drift.Step{Field: "resources"}, drift.Step{Index: 1}),
		want: "resources:\n  - a.yaml # first\n",
	}, {
		name: "in a flow mapping, re-encoded",
		in:   "data: {A: 1, B: 2}\n",
		path: field("data", "A"),
		want: "data: {B: 2}\n",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := parseDoc([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			out, err := d.deletePath(d.top(), c.path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, string(out)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// An inline patch (a literal block scalar) is edited in place, its
// indentation and the rest of the kustomization kept.
func TestEmbeddedPatch(t *testing.T) {
	for _, chomp := range []string{"|", "|-"} {
		t.Run(chomp, func(t *testing.T) {
			file := "patches:\n  - patch: " + chomp + "\n      - op: replace # why\n        path: /spec/replicas\n        value: 3\n\n  - path: other.yaml\n"
			ds := docs(fileText("kustomization.yaml", []byte(file)))
			k := &kustomization{ref: ds[0], top: ds[0].doc.top(), file: "kustomization.yaml"}
			text := k.embedded(mapValue(k.list("patches")[0], "patch"))
			if text == nil {
				t.Fatal("the inline patch was not found")
			}
			r := docs(text)[0]
			out, err := r.doc.setValue(r.doc.top(), steps(drift.Step{Index: 0}, drift.Step{Field: "value"}), int64(5), false)
			if err != nil {
				t.Fatal(err)
			}
			want := "patches:\n  - patch: " + chomp + "\n      - op: replace # why\n        path: /spec/replicas\n        value: 5\n\n  - path: other.yaml\n"
			if diff := cmp.Diff(want, string(r.file(out))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// An indentation indicator cannot be bounded: the patch is left alone.
	ds := docs(fileText("k.yaml", []byte("patch: |2\n    - op: add\n")))
	k := &kustomization{ref: ds[0], top: ds[0].doc.top(), file: "k.yaml"}
	if k.embedded(mapValue(k.top, "patch")) != nil {
		t.Error("a block scalar with an indentation indicator was taken as editable")
	}
}

func TestWriteDiff(t *testing.T) {
	old := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\n"
	changes := []FileChange{
		{Path: "x.yaml", Old: []byte(old), New: []byte("a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nM")},
		{Path: "gone.yaml", Old: []byte("only\n"), New: nil},
	}
	var b []byte
	w := &sliceWriter{&b}
	if err := WriteDiff(w, changes); err != nil {
		t.Fatal(err)
	}
	want := "--- a/x.yaml\n+++ b/x.yaml\n" +
		"@@ -1,5 +1,5 @@\n a\n-b\n+B\n c\n d\n e\n" +
		"@@ -10,4 +10,4 @@\n j\n k\n l\n-m\n+M\n\\ No newline at end of file\n" +
		"--- a/gone.yaml\n+++ /dev/null\n@@ -1 +0,0 @@\n-only\n"
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

type sliceWriter struct{ b *[]byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	*w.b = append(*w.b, p...)
	return len(p), nil
}
