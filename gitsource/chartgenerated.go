package gitsource

import (
	"reflect"
	"sort"

	"github.com/driftwatch/driftwatch/gitsource/internal/fieldpath"
)

// GeneratedWhy is the reason given, in Object.NotComparedWhy, for a field
// a chart generates anew on every render.
const GeneratedWhy = "generated anew on every render by the chart (randAlphaNum, genCA, genSelfSignedCert, uuidv4 and the like; helm reuses the live value through lookup), so Git does not determine it"

// markGenerated compares two renderings of the same chart with the same
// values and leaves out of objs every field whose value differs between
// them, naming it in NotCompared (reason GeneratedWhy). Such a field holds
// a value the chart generates on each render: a random password or a
// self-signed certificate, often reused from the live object through
// lookup, which helm install and upgrade can read and a renderer without
// the cluster cannot; a checksum annotation of it differs too. Comparing
// it would report drift on every check, forever, while no change in Git or
// in the cluster made it.
//
// A difference inside a list leaves out the whole list (the nearest map
// field holding it): items have no stable path here.
func markGenerated(objs, again []Object) {
	byKey := make(map[string]map[string]any, len(again))
	for _, o := range again {
		if o.Object != nil {
			byKey[objectKey(o)] = o.Object.Object
		}
	}
	for i := range objs {
		o := &objs[i]
		if o.Object == nil {
			continue
		}
		other, ok := byKey[objectKey(*o)]
		if !ok {
			continue
		}
		var paths []string
		leaveOutDiffering(o.Object.Object, other, "", &paths)
		o.notCompare(paths, func(string) string { return GeneratedWhy })
	}
}

// leaveOutDiffering deletes from a every field of the map a whose value
// differs from b's, recording its path.
func leaveOutDiffering(a, b map[string]any, path string, paths *[]string) {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := fieldpath.Join(path, k)
		av := a[k]
		bv, ok := b[k]
		am, aMap := av.(map[string]any)
		bm, bMap := bv.(map[string]any)
		switch {
		case !ok:
			delete(a, k)
			*paths = append(*paths, p)
		case aMap && bMap:
			leaveOutDiffering(am, bm, p, paths)
		case !reflect.DeepEqual(av, bv):
			delete(a, k)
			*paths = append(*paths, p)
		}
	}
}
