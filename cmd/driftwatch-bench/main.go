// Command driftwatch-bench measures driftwatch against a real API server:
// check time split by phase against a minimal client-go LIST (the floor),
// kubectl diff in its three modes, peak memory with and without objects Git
// does not declare, and watch latency. It prints a table and writes
// results.md and results.json.
//
//	KUBEBUILDER_ASSETS=$(bash .ci/envtest.sh) go run ./cmd/driftwatch-bench --sizes 1000,5000,10000 --reps 3 --out bench/
//
// With "fleet" first, it measures the fleet hub instead (fleet.go): memory,
// time to a complete view and change latency of driftwatch fleet over 10,
// 100 and 1,000 fake clusters, into a section of results.md.
//
//	go run ./cmd/driftwatch-bench fleet --clusters 10,100,1000 --out bench/
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "driftwatch-bench:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "fleet" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runFleet(ctx, args[1:])
	}
	fs := flag.NewFlagSet("driftwatch-bench", flag.ContinueOnError)
	sizes := fs.String("sizes", "1000,5000,10000", "numbers of desired objects, comma-separated")
	reps := fs.Int("reps", 3, "repetitions of each measurement (the median is reported)")
	out := fs.String("out", "bench", "directory for results.md and results.json")
	kubectl := fs.Bool("kubectl", true, "also time kubectl diff (default, --concurrency 8, --server-side --force-conflicts)")
	kubectlMax := fs.Int("kubectl-max-n", 1000, "run kubectl diff only at sizes up to this")
	kubectlReps := fs.Int("kubectl-reps", 1, "repetitions of each kubectl diff mode (each takes about a minute per 1,000 objects)")
	noise := fs.Int("noise-factor", 10, "undeclared ConfigMaps per desired object at the largest size")
	noiseSmall := fs.Int("noise-factor-small", 2, "undeclared ConfigMaps per desired object at the other sizes")
	watchLogDir := fs.String("watch-log-dir", "", "keep each driftwatch watch process's whole log in this directory")
	checkLogDir := fs.String("check-log-dir", "", "run each check binary with GODEBUG=gctrace=1 and keep its standard error in this directory")
	watch := fs.Int("watch-changes", 500, "live changes for the watch latency at the largest size (0: skip)")
	watchProc := fs.Bool("watch-process", true, "at every size, run the real driftwatch watch: time to first report, RSS per watched object above a baseline watch")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the in-process checks at the largest size to this file")
	listVariant := fs.Bool("list-variant", false, "also time the binary with KUBE_FEATURE_WatchListClient=false (informers sync by LIST)")
	writers := fs.Int("writers", 16, "parallel writers creating objects")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := Config{Reps: *reps, Out: *out, Kubectl: *kubectl, KubectlMaxN: *kubectlMax, KubectlReps: *kubectlReps, NoiseFactor: *noise,
		NoiseFactorSmall: *noiseSmall, WatchChanges: *watch, WatchProcess: *watchProc, WatchLogDir: *watchLogDir, CheckLogDir: *checkLogDir, Writers: *writers, CPUProfile: *cpuProfile, ListVariant: *listVariant, Log: os.Stderr}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("--sizes: %q is not a positive number", s)
		}
		cfg.Sizes = append(cfg.Sizes, n)
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return apiservertest.ErrNoAssets
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, cfg)
	if err != nil {
		return err
	}
	md := Markdown(res)
	fmt.Print(md)
	return writeResults(cfg.Out, res)
}
