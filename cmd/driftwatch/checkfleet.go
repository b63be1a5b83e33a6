package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/driftwatch/driftwatch/drift/fleet"
	"github.com/driftwatch/driftwatch/drift/pipeline"
)

// checkFleetFlags are check's flags for checking many clusters in one run.
type checkFleetFlags struct {
	// File is the fleet file (--fleet); empty checks one cluster.
	File string
	// Parallel bounds the clusters checked at once; default 4.
	Parallel int
}

func (ff *checkFleetFlags) register(f *pflag.FlagSet) {
	f.StringVar(&ff.File, "fleet", "", "check every cluster a fleet file lists, in one report")
	f.IntVar(&ff.Parallel, "parallel", 4, "clusters checked at once with --fleet")
}

// checkFleetExclusive are the flags a fleet file sets per cluster: with
// --fleet they are an error rather than silently one more default.
var checkFleetExclusive = []struct {
	flag string
	set  func(o *checkOptions) bool
}{
	{"--repo", func(o *checkOptions) bool { return o.Source.Repo != "" }},
	{"--dir", func(o *checkOptions) bool { return o.Source.Dir != "" }},
	{"--ref", func(o *checkOptions) bool { return o.Source.Ref != "" }},
	{"--path", func(o *checkOptions) bool { return o.Source.Path != "" }},
	{"--render", func(o *checkOptions) bool { return o.Source.Render != "" && o.Source.Render != "auto" }},
	{"--values", func(o *checkOptions) bool { return len(o.Source.Values) > 0 }},
	{"--source-config", func(o *checkOptions) bool { return o.Source.SourceConfig != "" }},
	{"--kubeconfig", func(o *checkOptions) bool { return o.Cluster.Kubeconfig != "" }},
	{"--context", func(o *checkOptions) bool { return o.Cluster.Context != "" }},
	{"--namespace", func(o *checkOptions) bool { return o.Cluster.Namespace != "" }},
	{"--reports", func(o *checkOptions) bool { return o.Reports != "" }},
}

// validateFleet checks the flags of check --fleet and returns the
// outputs, before the fleet file is read.
func (o *checkOptions) validateFleet() ([]outputSpec, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	for _, x := range checkFleetExclusive {
		if x.set(o) {
			what := "the fleet file names each cluster's source and context"
			if x.flag == "--reports" {
				what = "not available for several clusters"
			}
			return nil, fmt.Errorf("flag %s: not with --fleet (%s)", x.flag, what)
		}
	}
	if o.Fleet.Parallel < 1 {
		return nil, fmt.Errorf("flag --parallel: %d, want at least 1", o.Fleet.Parallel)
	}
	specs, _ := parseOutputs(o.Outputs)
	for _, s := range specs {
		if !slices.Contains(fleet.Formats, string(s.Format)) {
			return nil, fmt.Errorf("flag -o: %s is not available with --fleet (want %s)", s.Format, strings.Join(fleet.Formats, ", "))
		}
	}
	return specs, nil
}

// fleetCheckJob is one cluster's check: its entry and what check needs to run
// it.
type fleetCheckJob struct {
	entry   fleetEntry
	setup   *setup
	cluster clusterOptions
}

// checkFleetRun is `check --fleet FILE`: the check of every cluster the
// file lists, at most --parallel at once, each through the same pipeline
// as a check of one cluster and independent of the others (a cluster
// that cannot be reached or read is shown with its error, the others are
// checked). One report covers them all (fleet.Write); the exit status is
// 1 when some cluster drifted at or above --fail-on, else 2 when some
// cluster or resource could not be checked (as --on-resource-error
// says), else 0.
func checkFleetRun(ctx context.Context, o *checkOptions) error {
	specs, err := o.validateFleet()
	if err != nil {
		return err
	}
	ff, err := loadFleetFile(o.Fleet.File)
	if err != nil {
		return err
	}
	// Every cluster's options are read before any is checked: a bad
	// source config or values flag fails the run at once, and the hash
	// key is created once, not by several checks at the same time.
	runs := make([]fleetCheckJob, len(ff.Clusters))
	for i, c := range ff.Clusters {
		sf, co := c.flags(o.Source)
		st, err := prepare(sf, o.Compare, o.Target)
		if err != nil {
			return fmt.Errorf("%s:%d: cluster %s: %w", ff.Path, c.Line, c.Name, err)
		}
		runs[i] = fleetCheckJob{entry: c, setup: st, cluster: co}
		if st.source.Auth.InsecureIgnoreHostKey && i == 0 {
			o.logf("warning: SSH host key verification is off (--insecure-skip-host-key-check)")
		}
	}
	v := o.checkFleet(ctx, runs)
	for _, s := range specs {
		var buf bytes.Buffer
		if err := fleet.Write(&buf, string(s.Format), v); err != nil {
			return err
		}
		if s.Path == "" {
			if _, err := o.Out.Write(buf.Bytes()); err != nil {
				return err
			}
			continue
		}
		if err := writeFileAtomic(s.Path, buf.Bytes()); err != nil {
			return fmt.Errorf("output %s: %w", s.Path, err)
		}
	}
	return o.fleetExitStatus(v)
}

// checkFleet runs the checks, at most --parallel at once, and assembles
// the view. Each worker keeps its own Git and OCI cache (the first uses
// check's, the others a directory beside it): a cache is never written by
// two fetches at once, and a fleet of clusters on one repository still
// fetches it incrementally run after run.
func (o *checkOptions) checkFleet(ctx context.Context, runs []fleetCheckJob) fleet.View {
	type result struct {
		cluster   fleet.Cluster
		resources []fleet.Resource
	}
	results := make([]result, len(runs))
	// The checks' warnings reach stderr one whole line at a time.
	var logMu sync.Mutex
	warn := func(cluster, msg string) {
		logMu.Lock()
		defer logMu.Unlock()
		o.logf("warning: cluster %s: %s", cluster, msg)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := range min(o.Fleet.Parallel, len(runs)) {
		cacheDir := workerCacheDir(o.Source.CacheDir, w)
		wg.Go(func() {
			for i := range next {
				c, rs := o.checkOne(ctx, runs[i], cacheDir, warn)
				results[i] = result{c, rs}
			}
		})
	}
	for i := range runs {
		next <- i
	}
	close(next)
	wg.Wait()
	var clusters []fleet.Cluster
	var resources []fleet.Resource
	for _, r := range results {
		clusters = append(clusters, r.cluster)
		resources = append(resources, r.resources...)
	}
	return fleet.Assemble(o.Now(), clusters, resources)
}

// checkOne checks one cluster of the fleet; a failure is the cluster's
// state and error, not the run's.
func (o *checkOptions) checkOne(ctx context.Context, r fleetCheckJob, cacheDir string, warn func(cluster, msg string)) (fleet.Cluster, []fleet.Resource) {
	src := r.setup.source
	src.CacheDir = cacheDir
	report, err := pipeline.Check(ctx, pipeline.CheckOptions{
		Options: r.setup.pipeline,
		Source:  src,
		Connect: func(ctx context.Context) (*pipeline.Cluster, error) { return connect(ctx, r.cluster) },
		Now:     o.Now,
		Warn:    func(msg string) { warn(r.entry.Name, msg) },
	})
	if err != nil {
		c := fleet.Cluster{Name: r.entry.Name, State: fleet.Unreachable, Error: oneLine(err.Error()),
			Sources: []fleet.Source{{Policy: r.entry.policy()}}}
		var serr *pipeline.SourceError
		switch {
		case errors.As(err, &serr):
			c.State = fleet.SourceError
		case apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err):
			c.State = fleet.Forbidden
		}
		return c, nil
	}
	c, rs := fleet.FromReport(r.entry.Name, *report)
	for i := range c.Sources {
		c.Sources[i].Agent = "check " + version
	}
	return c, rs
}

// workerCacheDir is worker w's Git and OCI cache: check's own for the
// first, fleet-<w> inside it for the others (the cache keeps each
// repository in a directory named by a hash, which never clashes).
func workerCacheDir(base string, w int) string {
	if base == "" {
		if base = cacheSubdir("git"); base == "" {
			base = filepath.Join(os.TempDir(), "driftwatch-git")
		}
	}
	if w == 0 {
		return base
	}
	return filepath.Join(base, fmt.Sprintf("fleet-%d", w))
}

// fleetExitStatus is check's exit status over a fleet: drift at or above
// --fail-on exits --exit-code-on-drift, a cluster or resource not
// checked 2 (unless drift was found; always with
// --on-resource-error=fail), nothing 0. --on-resource-error=report
// leaves resources not checked out, never a cluster not checked.
func (o *checkOptions) fleetExitStatus(v fleet.View) error {
	least, _ := severityFlag("fail-on", o.FailOn)
	drifted, incomplete := v.Exit(least)
	if !drifted && v.Summary.Drifted > 0 {
		o.logf("note: %s below --fail-on=%s: not failing", plural(v.Summary.Drifted, "drifted, missing or extra resource", "drifted, missing or extra resources"), least)
	}
	if o.OnResourceError == "report" {
		incomplete = slices.ContainsFunc(v.Clusters, func(c fleet.Cluster) bool { return !c.State.Healthy() })
	}
	switch {
	case incomplete && o.OnResourceError == "fail":
		return exitCodeError{exitError}
	case drifted:
		if o.ExitCodeOnDrift == 0 {
			return nil
		}
		return exitCodeError{o.ExitCodeOnDrift}
	case incomplete:
		return exitCodeError{exitError}
	}
	return nil
}
