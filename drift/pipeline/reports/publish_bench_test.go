//go:build unix

package reports

// What publishing reports costs at 10,000 resources with 1% drifted: Build
// alone, and Build+Publish against the real API server under flapping,
// beside the JSON report check writes anyway (make bench runs both; no
// timing is asserted).

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/output"
	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

const (
	benchResources  = 10_000
	benchNamespaces = 20
	// benchDrifted is 1% of benchResources: every 100th resource.
	benchDrifted = benchResources / 100
)

var benchNow = time.Date(2026, 12, 5, 15, 0, 0, 0, time.UTC)

// benchReport is a report of benchResources Deployments and ConfigMaps
// over benchNamespaces namespaces, 1% of them drifted (1% of each
// namespace's); with flipped, those are in sync instead, and
// another 1% is drifted, so that going from one to the other changes 2%
// of the results and every namespace's report.
func benchReport(source string, flipped bool) drift.Report {
	r := drift.Report{Source: drift.Source{URL: "https://git.example.com/platform.git", Path: source, Commit: "f7d64d16c2794d4c0d4ad0fbd63cbba3f0a1bb8e"}}
	r.Resources = make([]drift.Resource, benchResources)
	first := benchNow.Add(-time.Hour)
	for i := range r.Resources {
		res := drift.Resource{APIVersion: "v1", Kind: "ConfigMap", Namespace: fmt.Sprintf("bench-%02d", i%benchNamespaces),
			Name: fmt.Sprintf("settings-%05d", i), Origin: "apps/settings.yaml", Status: drift.InSync}
		if i%2 == 0 {
			res.APIVersion, res.Kind, res.Name, res.Origin = "apps/v1", "Deployment", fmt.Sprintf("web-%05d", i), "apps/web.yaml"
		}
		// The k-th resource of its namespace: 5 of each namespace's 500.
		k := i / benchNamespaces
		drifted := k%100 == 0
		if flipped {
			drifted = k%100 == 50
		}
		if drifted {
			res.Status, res.Severity, res.FirstSeen = drift.Drifted, drift.SeverityWarning, &first
			res.Diffs = []drift.FieldDiff{
				{Path: "spec.replicas", Type: drift.Changed, Desired: 3, Live: 5, Severity: drift.SeverityWarning},
				{Path: "metadata.labels.team", Type: drift.Added, Live: "platform", Severity: drift.SeverityInfo},
			}
		}
		r.Resources[i] = res
	}
	r.Summary = drift.Summary{Total: benchResources, InSync: benchResources - benchDrifted, Drifted: benchDrifted}
	return r
}

// BenchmarkBuild: the report objects of 10,000 resources, 1% drifted,
// beside the JSON report of the same drift.Report (check -o json).
func BenchmarkBuild(b *testing.B) {
	r := benchReport("bench", false)
	b.Run("reports", func(b *testing.B) {
		b.ReportAllocs()
		var set Set
		for b.Loop() {
			set = Build(r, Limits{}, benchNow)
		}
		b.ReportMetric(float64(len(set.Reports)+len(set.ClusterReports)), "objects")
	})
	b.Run("json-output", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := output.Write(io.Discard, &r, output.FormatJSON); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// cpuTime is the process's user and system CPU time: the API server runs
// in processes of its own, so this is driftwatch's side of the work.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchCRDs applies deploy/crds' OpenReports CRDs and the namespaces.
func benchCRDs(b *testing.B) {
	b.Helper()
	apiservertest.Require(b)
	for _, f := range crdFiles {
		data, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "crds", f))
		if err != nil {
			b.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(data, &u.Object); err != nil {
			b.Fatalf("%s: %v", f, err)
		}
		if err := kube.Apply(context.Background(), "bench", "", u); err != nil {
			b.Fatalf("apply %s: %v", f, err)
		}
	}
	for i := range benchNamespaces {
		ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace",
			"metadata": map[string]any{"name": fmt.Sprintf("bench-%02d", i)}}}
		if err := kube.Apply(context.Background(), "bench", "", ns); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublishFlapping publishes the 10,000-resource report to the
// test API server, then, each op one second later on an injected clock,
// flaps 1% of the resources (drifted, then in sync, and back: every
// namespace's report changes every second) and publishes again with the
// default --reports-interval of 30 s, as watch would if every second
// brought news. It reports the writes and bytes per op (a second of
// flapping) and per minute, the first publish's, and the CPU time of
// Build+Publish+Flush beside that of the JSON report of the same
// drift.Report, measured in the same op so that their ratio holds on a
// noisy machine.
func BenchmarkPublishFlapping(b *testing.B) {
	benchCRDs(b)
	ctx := context.Background()
	reports := [2]drift.Report{benchReport("flap", false), benchReport("flap", true)}
	clock := benchNow
	p := &Publisher{Client: kube.Dynamic, Policy: Policy(reports[0].Source) + fmt.Sprint(time.Now().UnixNano()),
		Interval: 30 * time.Second, Now: func() time.Time { return clock }}
	for i := range reports {
		reports[i].Source.Path = p.Policy // a fresh policy per run: nothing published yet
	}
	p.Policy = Policy(reports[0].Source)
	st, err := p.Publish(ctx, Build(reports[0], Limits{}, clock))
	if err != nil {
		b.Fatal(err)
	}
	first := st

	var writes, bytes int
	var publishCPU, jsonCPU time.Duration
	i := 0
	for b.Loop() {
		i++
		clock = clock.Add(time.Second)
		r := &reports[i%2]
		c0 := cpuTime(b)
		st, err := p.Publish(ctx, Build(*r, Limits{}, clock))
		if err != nil {
			b.Fatal(err)
		}
		fst, err := p.Flush(ctx)
		if err != nil {
			b.Fatal(err)
		}
		c1 := cpuTime(b)
		if err := output.Write(io.Discard, r, output.FormatJSON); err != nil {
			b.Fatal(err)
		}
		c2 := cpuTime(b)
		publishCPU += c1 - c0
		jsonCPU += c2 - c1
		writes += st.Written + fst.Written
		bytes += st.Bytes + fst.Bytes
	}
	n := float64(b.N)
	b.ReportMetric(float64(first.Written), "first-writes")
	b.ReportMetric(float64(first.Bytes), "first-bytes")
	b.ReportMetric(float64(writes)/n, "writes/op")
	b.ReportMetric(float64(bytes)/n, "bytes/op")
	b.ReportMetric(float64(writes)/n*60, "writes/min")
	b.ReportMetric(float64(publishCPU.Microseconds())/n, "publish-cpu-µs/op")
	b.ReportMetric(float64(jsonCPU.Microseconds())/n, "json-cpu-µs/op")
	if jsonCPU > 0 {
		b.ReportMetric(float64(publishCPU)/float64(jsonCPU), "publish/json-cpu")
	}
}
