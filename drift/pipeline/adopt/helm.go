package adopt

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/driftwatch/driftwatch/drift"
)

// A Helm chart's field can be adopted when it is a plain reference to one
// value: the template prints the value, alone or with fixed text around
// it ("{{ .Values.image.repository }}:{{ .Values.image.tag }}" prints
// image.tag after a fixed "nginx:"). Reading templates cannot tell that
// soundly (pipelines, include, tpl, conditionals), so it is found by
// experiment: each value whose text is part of the field's is set to a
// probe, the chart rendered, and the field must become exactly the probe
// with the same text around it. Then the live value, with that text taken
// off, goes into the values file that set the value last (the chart's
// values.yaml, then each --values file in order: Helm's precedence); a
// value given with --set is in no file and cannot be adopted. The edit is
// then verified like any other.

// generatedError is a failure that shows the field is made by the
// template rather than written anywhere.
type generatedError struct{ msg string }

func (e *generatedError) Error() string { return e.msg }

// valueLeaf is one scalar of a values file.
type valueLeaf struct {
	keys []string
	file string
	node *kyaml.Node
}

func (l valueLeaf) name() string { return "." + strings.Join(l.keys, ".") }

func (l valueLeaf) path() drift.Path {
	p := make(drift.Path, len(l.keys))
	for i, k := range l.keys {
		p[i] = drift.Step{Field: k}
	}
	return p
}

// leaves lists the scalars below n, through maps only.
func leaves(n *kyaml.Node, keys []string, file string, out []valueLeaf) []valueLeaf {
	n = resolve(n)
	if n == nil {
		return out
	}
	switch n.Kind {
	case kyaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := append(append([]string(nil), keys...), n.Content[i].Value)
			out = leaves(n.Content[i+1], k, file, out)
		}
	case kyaml.ScalarNode:
		if len(keys) > 0 && n.Tag != "!!null" && n.Value != "" {
			out = append(out, valueLeaf{keys: keys, file: file, node: n})
		}
	}
	return out
}

// inlineValues flattens --set values into their key paths.
func inlineValues(v any, prefix string, out map[string]any) {
	m, ok := v.(map[string]any)
	if !ok {
		out[prefix] = v
		return
	}
	for k, x := range m {
		inlineValues(x, prefix+"."+k, out)
	}
}

func (a *adopter) helmPlaces(ctx context.Context, obj *desiredObject, e Edit) ([]place, string, bool) {
	switch {
	case e.Op == Remove:
		return nil, "rendered by a Helm template: remove it from the chart by hand", false
	case e.Op == Unset:
		return nil, "rendered by a Helm template: remove the field from the chart by hand", false
	case e.Desired == nil:
		return nil, "the chart does not set it: add it to the template by hand", false
	}
	old, ok := lookupIn(obj.obj.Object, e.Path)
	oldText, _, scalar := scalarText(old)
	_, _, liveScalar := scalarText(e.Live)
	if !ok || !scalar || !liveScalar {
		return nil, "computed by the chart's templates: not a single value", true
	}
	chart := cleanSlash(a.ws.src.Path)
	files := []string{path.Join(chart, "values.yaml")}
	for _, f := range a.ws.src.Render.Helm.ValuesFiles {
		files = append(files, cleanSlash(f))
	}
	// The last file setting a key is where its value comes from.
	effective := map[string]valueLeaf{}
	var order []string
	for _, f := range files {
		data, err := a.ws.read(f)
		if err != nil {
			continue
		}
		for _, r := range docs(fileText(f, data)) {
			for _, l := range leaves(r.doc.top(), nil, f, nil) {
				if _, seen := effective[l.name()]; !seen {
					order = append(order, l.name())
				}
				effective[l.name()] = l
			}
		}
	}
	inline := map[string]any{}
	if v := a.ws.src.Render.Helm.Values; len(v) > 0 {
		inlineValues(v, "", inline)
	}
	_, oldIsString := old.(string)
	related := func(text string) bool {
		if oldIsString {
			return text != "" && strings.Contains(strings.ToLower(oldText), strings.ToLower(text))
		}
		return text == oldText
	}
	type candidate struct {
		leaf  valueLeaf
		exact bool
	}
	var cands []candidate
	var fromSet []string
	for _, name := range sortedKeys(inline) {
		if text, _, ok := scalarText(inline[name]); ok && related(text) {
			fromSet = append(fromSet, name)
		}
	}
	for _, name := range order {
		l := effective[name]
		if _, overridden := inline[name]; overridden || !related(l.node.Value) {
			continue
		}
		cands = append(cands, candidate{leaf: l, exact: l.node.Value == oldText})
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].exact != cands[j].exact {
			return cands[i].exact
		}
		return len(cands[i].leaf.node.Value) > len(cands[j].leaf.node.Value)
	})
	if len(cands) == 0 && len(fromSet) > 0 {
		return nil, fmt.Sprintf("the value comes from --set %s, not from a file", strings.TrimPrefix(fromSet[0], ".")), false
	}
	if len(cands) == 0 {
		return nil, "computed by the chart's templates: no value of the chart is part of it", true
	}
	key, _ := a.expected.find(e.Object)
	var places []place
	for _, c := range cands {
		l := c.leaf
		places = append(places, place{file: l.file, edit: func() (map[string][]byte, error) {
			return a.helmEdit(ctx, key, l, old, e)
		}})
	}
	return places, "", false
}

// probe is a value of the leaf's type that no chart would hold.
func probe(l valueLeaf) any {
	switch l.node.Tag {
	case "!!int":
		if l.node.Value == "48611" {
			return int64(48612)
		}
		return int64(48611)
	case "!!float":
		return 48611.5
	case "!!bool":
		return l.node.Value != "true"
	}
	return "dwprobe48611"
}

// setLeaf returns the values file with the leaf set to v.
func (a *adopter) setLeaf(l valueLeaf, v any) ([]byte, error) {
	data, err := a.ws.read(l.file)
	if err != nil {
		return nil, err
	}
	for _, r := range docs(fileText(l.file, data)) {
		if walkPath(r.doc.top(), l.path()).node == nil {
			continue
		}
		out, err := r.doc.setValue(r.doc.top(), l.path(), v, false)
		if err != nil {
			return nil, err
		}
		return r.file(out), nil
	}
	return nil, fmt.Errorf("%s is not set there", l.name())
}

// helmEdit probes whether the field follows the leaf, and if it does,
// sets the leaf to what makes the field render the live value.
func (a *adopter) helmEdit(ctx context.Context, key string, l valueLeaf, old any, e Edit) (map[string][]byte, error) {
	pv := probe(l)
	probed, err := a.setLeaf(l, pv)
	if err != nil {
		return nil, err
	}
	undo, err := a.ws.apply(map[string][]byte{l.file: probed})
	if err != nil {
		return nil, err
	}
	r, err := a.ws.render(ctx)
	undo()
	if err != nil {
		return nil, fmt.Errorf("rendering with %s probed: %s", l.name(), oneLine(err.Error()))
	}
	var got any
	for _, o := range r.Objects {
		if objectKey(o.Object) == key {
			got, _ = lookupIn(normalize(o.Object.Object), e.Path)
		}
	}
	oldText, _, _ := scalarText(old)
	gotText, _, _ := scalarText(got)
	probeText, _, _ := scalarText(pv)
	i := strings.Index(gotText, probeText)
	if i < 0 || strings.Count(gotText, probeText) != 1 || gotText[:i]+l.node.Value+gotText[i+len(probeText):] != oldText {
		return nil, &generatedError{fmt.Sprintf("computed by the chart's templates from %s, not a plain reference to it", l.name())}
	}
	prefix, suffix := gotText[:i], gotText[i+len(probeText):]
	liveText, _, _ := scalarText(e.Live)
	if !strings.HasPrefix(liveText, prefix) || !strings.HasSuffix(liveText, suffix) || len(liveText) < len(prefix)+len(suffix) {
		return nil, fmt.Errorf("the template prints %s as %q…%q, and the live value %q does not fit", l.name(), prefix, suffix, liveText)
	}
	value := typedLike(l.node, liveText[len(prefix):len(liveText)-len(suffix)])
	data, err := a.setLeaf(l, value)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{l.file: data}, nil
}

// typedLike reads text as the leaf's YAML type, when it parses as one.
func typedLike(n *kyaml.Node, text string) any {
	switch n.Tag {
	case "!!int":
		if v, err := strconv.ParseInt(text, 10, 64); err == nil {
			return v
		}
	case "!!float":
		if v, err := strconv.ParseFloat(text, 64); err == nil {
			return v
		}
	case "!!bool":
		if v, err := strconv.ParseBool(text); err == nil {
			return v
		}
	}
	return text
}

// isGenerated reports whether err says the template makes the value.
func isGenerated(err error) bool {
	var g *generatedError
	return errors.As(err, &g)
}
