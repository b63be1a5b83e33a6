package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/google/pprof/profile"
)

// Where a check's CPU goes. The bench profiles the in-process check of the
// largest size and sorts every sample into one of a few categories by its
// stack, so that the results say whether time goes to decoding, garbage
// collection, comparing or rendering without opening pprof.

// cpuCategories are tried in order against each frame of a sample, from
// the leaf: the first frame that matches decides. Garbage collection comes
// first since allocation assists run inside any code.
var cpuCategories = []struct {
	name     string
	prefixes []string
}{
	{"GC", []string{"runtime.gc", "runtime.bgsweep", "runtime.bgscavenge", "runtime.mallocgc", "runtime.sweepone", "runtime.markroot", "runtime.scanobject", "runtime.greyobject", "runtime.findObject", "runtime.wbBuf", "runtime.gcWriteBarrier", "runtime.bulkBarrierPreWrite"}},
	{"decode", []string{"encoding/json.", "sigs.k8s.io/json.", "sigs.k8s.io/json/", "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured.", "k8s.io/apimachinery/pkg/runtime/serializer", "github.com/driftwatch/driftwatch/informer.Unpack"}},
	{"compare", []string{"github.com/driftwatch/driftwatch/drift.", "github.com/driftwatch/driftwatch/drift/kubedefaults"}},
	{"render", []string{"github.com/driftwatch/driftwatch/gitsource", "sigs.k8s.io/kustomize", "sigs.k8s.io/yaml", "go.yaml.in/yaml", "gopkg.in/yaml"}},
	{"network", []string{"net/http.", "crypto/", "net.", "internal/poll.", "syscall.", "golang.org/x/net/http2", "compress/"}},
}

// cpuShare reads a CPU profile and returns each category's share of the
// samples (they sum to 1, "other" included).
func cpuShare(path string) (map[string]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("cpu profile %s: %w", path, err)
	}
	vi := len(p.SampleType) - 1 // cpu nanoseconds
	total := 0.0
	by := map[string]float64{}
	for _, s := range p.Sample {
		v := float64(s.Value[vi])
		total += v
		by[categorize(s)] += v
	}
	if total == 0 {
		return nil, fmt.Errorf("cpu profile %s: no samples", path)
	}
	for k := range by {
		by[k] /= total
	}
	return by, nil
}

func categorize(s *profile.Sample) string {
	for _, loc := range s.Location {
		for _, line := range loc.Line {
			if line.Function == nil {
				continue
			}
			for _, c := range cpuCategories {
				for _, p := range c.prefixes {
					if strings.HasPrefix(line.Function.Name, p) {
						return c.name
					}
				}
			}
		}
	}
	return "other"
}

// formatShare writes the shares largest first: "decode 31%, GC 24%, ...".
func formatShare(by map[string]float64) string {
	type kv struct {
		k string
		v float64
	}
	var xs []kv
	for k, v := range by {
		xs = append(xs, kv{k, v})
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i].v > xs[j].v })
	parts := make([]string, 0, len(xs))
	for _, x := range xs {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", x.k, 100*x.v))
	}
	return strings.Join(parts, ", ")
}
