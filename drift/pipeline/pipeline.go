// Package pipeline composes the parts of driftwatch into the one pipeline
// every command runs:
//
//	gitsource.Load → Plan (resolve kinds, filter) → informer.Manager (sync)
//	→ Evaluator (compare, rules, confirm) → FindExtra → drift.Report
//
// Check runs it once (driftwatch check, the bench); a Monitor keeps it
// running, re-planning on each Git revision and re-evaluating each object
// its informers see change (driftwatch watch). rbac runs Plan alone. The
// engine (package drift) never learns where objects come from; the
// commands only wire flags, I/O and servers to this package.
package pipeline

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/kubedefaults"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/informer"
)

// Cluster is a connection to the cluster to check.
type Cluster struct {
	// Config is the client configuration; informers and dry runs use it.
	Config *rest.Config
	// Discovery resolves kinds and serves OpenAPI schemas.
	Discovery discovery.DiscoveryInterface
	// Namespace is the default namespace of namespaced objects that name
	// none (the kubeconfig context's, or -n).
	Namespace string
	// Info describes the cluster in reports.
	Info drift.Cluster
}

// Options are what the pipeline needs besides the cluster; every command
// fills them from the same flags. The zero value compares everything Git
// declares with no rules, no hashes, no confirmation and no extra
// detection.
type Options struct {
	// Filter narrows the desired objects checked; the zero value keeps all.
	Filter Filter
	// Config holds ignore and sensitive rules; nil has none.
	Config *drift.Config
	// HashKey keys hashes of sensitive values; nil shows none.
	HashKey []byte
	// ConfirmServer confirms suspected drift with a server-side apply dry
	// run (needs the patch verb).
	ConfirmServer bool
	// Tracking, when set, reports live objects of the watched scopes that
	// match it but are not in Git as Extra (--detect-extra); nil reports
	// none.
	Tracking labels.Selector
	// SyncTimeout bounds the wait for informers to sync; zero means a
	// minute.
	SyncTimeout time.Duration
	// SchemaCacheDir keeps downloaded OpenAPI documents between runs;
	// empty keeps them in memory only.
	SchemaCacheDir string
	// AllowEmpty lets Compare check nothing: a source that renders no
	// object, or targeting that keeps none. By default both are errors,
	// so that a CI job with a typo in its path or flags cannot pass
	// forever (--allow-empty).
	AllowEmpty bool
}

func (o Options) syncTimeout() time.Duration {
	if o.SyncTimeout <= 0 {
		return time.Minute
	}
	return o.SyncTimeout
}

// InformerOptions scopes the informers of desired objects to the filter's
// label selector (never the CRD informer, which must see every CRD).
func InformerOptions(f Filter) informer.Options {
	var o informer.Options
	if f.Selector != nil && !f.Selector.Empty() {
		sel := f.Selector.String()
		o.TweakListOptions = func(s informer.Scope, lo *metav1.ListOptions) {
			if s != CRDScope {
				lo.LabelSelector = sel
			}
		}
	}
	return o
}

// Pipeline is the pipeline bound to one cluster: the informers, the kind
// resolver, the schema source and the evaluator that reads them. Build it
// with New; Stop it when done.
type Pipeline struct {
	Options
	Cluster *Cluster
	// Streamer, when set, is how Compare reads the live state: each scope
	// listed once, page by page, each object compared as it arrives and
	// dropped (see stream.go). Nil: Compare syncs the Manager's informers.
	Streamer  Streamer
	Manager   informer.Manager
	Resolver  *informer.Resolver
	Schemas   *Schemas
	Evaluator *Evaluator
}

// New builds the pipeline for a connected cluster. resolver may be nil (a
// new one is made); passing one that is already warm saves a discovery
// round trip.
func New(opts Options, cl *Cluster, resolver *informer.Resolver) (*Pipeline, error) {
	mgr, err := informer.NewManagerForConfig(cl.Config, InformerOptions(opts.Filter))
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", cl.Info.Server, err)
	}
	pager, err := informer.NewPagerForConfig(cl.Config, InformerOptions(opts.Filter))
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", cl.Info.Server, err)
	}
	p, err := NewWithManager(opts, cl, resolver, mgr)
	if err == nil {
		p.Streamer = pager
	}
	return p, err
}

// NewWithManager is New with the informers given (a test's fake, a
// Manager with its own options).
func NewWithManager(opts Options, cl *Cluster, resolver *informer.Resolver, mgr informer.Manager) (*Pipeline, error) {
	if resolver == nil {
		resolver = informer.NewResolver(cl.Discovery)
	}
	p := &Pipeline{Options: opts, Cluster: cl, Manager: mgr, Resolver: resolver,
		Schemas: NewSchemas(cl.Discovery, opts.SchemaCacheDir)}
	p.Evaluator = &Evaluator{Live: mgr, Config: opts.Config, HashKey: opts.HashKey, Warnings: mgr.Warnings, Schemas: p.Schemas,
		Defaults: kubedefaults.Default}
	cl.Info.Defaults = kubedefaults.Version
	if opts.ConfirmServer {
		dyn, err := dynamic.NewForConfig(cl.Config)
		if err != nil {
			mgr.Stop()
			return nil, fmt.Errorf("cluster %s: %w", cl.Info.Server, err)
		}
		p.Evaluator.Confirm = ServerConfirmer{Client: dyn}
	}
	return p, nil
}

// Stop stops the informers.
func (p *Pipeline) Stop() { p.Manager.Stop() }

// Compare checks a rendered desired state once: it plans it, syncs the
// informers it needs (loading the schemas meanwhile), evaluates every
// target and, with Options.Tracking, finds the extra objects. progress,
// if not nil, hears each step.
func (p *Pipeline) Compare(ctx context.Context, desired *gitsource.Desired, now time.Time, progress func(format string, args ...any)) (*drift.Report, error) {
	return p.compare(ctx, desired, now, progress, false)
}

// compare is Compare; with consume, it takes desired.Objects over (the
// caller will not read them again) and drops them once planned: the
// targets hold what is compared. At 100,000 objects the rendered maps were
// most of a check's heap, and the garbage collector's marking of them was
// 43% of its CPU (the bench's profile); Check has them packed as they are
// rendered (gitsource.RenderOptions.Pack), so that they are never all held
// as maps.
func (p *Pipeline) compare(ctx context.Context, desired *gitsource.Desired, now time.Time, progress func(format string, args ...any), consume bool) (*drift.Report, error) {
	say := func(format string, args ...any) {
		if progress != nil {
			progress(format, args...)
		}
	}
	if len(desired.Objects) == 0 && len(desired.Unopened) > 0 {
		// Not an empty source (--allow-empty): a missing key.
		return nil, nothingCompared(desired.Unopened)
	}
	if len(desired.Objects) == 0 && !p.AllowEmpty {
		return nil, fmt.Errorf("source %s rendered no objects (pass --allow-empty if that is expected)", describe(desired.Revision))
	}
	plan := Plan(ctx, p.Resolver, desired.Objects, p.Cluster.Namespace, p.Filter)
	if plan.Unmatched != nil && !p.AllowEmpty {
		return nil, plan.Unmatched
	}
	unopened := notCompared(ctx, p.Resolver, desired.Unopened, p.Cluster.Namespace, p.Filter)
	rev, skipped := desired.Revision, desired.Skipped
	var resources []drift.Resource
	if p.Streamer != nil {
		say("listing and comparing %d objects of %d resources", len(plan.Targets), len(plan.Scopes))
		if consume {
			desired.Objects = nil
		}
		resources = p.streamCompare(ctx, p.Streamer, &plan)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("interrupted: %w", ctx.Err())
		}
	} else {
		p.Manager.Ensure(plan.Scopes...)
		say("syncing informers for %d resources", len(plan.Scopes))
		scopeErrs := p.sync(ctx, plan)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("interrupted: %w", ctx.Err())
		}
		say("comparing %d objects", len(plan.Targets))
		resources = p.Evaluator.Evaluate(ctx, plan.Targets, scopeErrs)
		if p.Tracking != nil {
			resources = append(resources, FindExtra(plan.Targets, plan.Scopes, p.Manager, p.Tracking, scopeErrs)...)
		}
	}
	resources = withoutUnopenedExtra(resources, unopened)
	p.Evaluator.ClassifyExtra(resources)
	report := drift.NewReport(now, SourceOf(rev, skipped), p.Cluster.Info, resources)
	report.Summary.Excluded = plan.Excluded
	report.NotCompared, report.Summary.NotCompared = unopened, len(unopened)
	return report, nil
}

// sync waits for the plan's informers while the OpenAPI schemas the
// comparison needs load, and returns the scopes that did not sync.
func (p *Pipeline) sync(ctx context.Context, plan Planned) map[informer.Scope]error {
	schemasDone := make(chan struct{})
	go func() {
		defer close(schemasDone)
		PrefetchSchemas(ctx, p.Schemas, plan.Targets)
	}()
	syncCtx, cancel := context.WithTimeout(ctx, p.syncTimeout())
	errs := p.Manager.WaitForSync(syncCtx, plan.Scopes...)
	cancel()
	<-schemasDone
	return errs
}

// CheckOptions configure Check. Source, Connect and Now are required.
type CheckOptions struct {
	Options
	// Source says where the desired state is.
	Source gitsource.Options
	// Connect reaches the cluster; it runs while Git is read and rendered.
	Connect func(ctx context.Context) (*Cluster, error)
	// Now stamps the report.
	Now func() time.Time
	// Progress, if set, hears each step (for a terminal's progress line).
	Progress func(format string, args ...any)
	// Warn, if set, hears the renderer's warnings.
	Warn func(msg string)
}

// SourceError is Check's error when the desired state could not be read
// or rendered (Git, a directory, OCI, a renderer) and the cluster had no
// part in it: check --fleet tells such a cluster from an unreachable one.
// Its message is the source's.
type SourceError struct{ Err error }

func (e *SourceError) Error() string { return e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

// Check runs the pipeline once: driftwatch check, and the bench, call it.
// The cluster is reached and discovered while Git is read and rendered; a
// Git error still comes first.
func Check(ctx context.Context, o CheckOptions) (*drift.Report, error) {
	say := func(format string, args ...any) {
		if o.Progress != nil {
			o.Progress(format, args...)
		}
	}
	type connected struct {
		cl       *Cluster
		resolver *informer.Resolver
		err      error
	}
	connCtx, stopConnect := context.WithCancel(ctx)
	defer stopConnect()
	conn := make(chan connected, 1)
	go func() {
		cl, err := o.Connect(connCtx)
		if err != nil {
			conn <- connected{err: err}
			return
		}
		r := informer.NewResolver(cl.Discovery)
		r.Warm(connCtx)
		conn <- connected{cl: cl, resolver: r}
	}()
	// A Helm chart renders for this cluster's version and APIs: it waits
	// for the connection, which a plain tree need not do.
	waitConn := sync.OnceValue(func() connected { return <-conn })
	var connFailed atomic.Bool // the renderer asked, and the cluster was not reached
	if o.Source.Render.Capabilities == nil {
		o.Source.Render.Capabilities = func(ctx context.Context) (gitsource.Capabilities, error) {
			c := waitConn()
			if c.err != nil {
				connFailed.Store(true)
				return gitsource.Capabilities{}, c.err
			}
			return c.cl.Capabilities(ctx)
		}
	}
	say("fetching and rendering %s", o.Source.URL+o.Source.Dir)
	// Check compares each object once, as its live state is listed: each
	// is held packed until then (see gitsource.Packed).
	o.Source.Render.Pack = true
	desired, err := gitsource.Load(ctx, o.Source)
	if err != nil {
		if connFailed.Load() || ctx.Err() != nil {
			return nil, err
		}
		return nil, &SourceError{Err: err}
	}
	if o.Warn != nil {
		for _, w := range desired.Warnings {
			o.Warn(w)
		}
	}
	say("rendered %d objects; discovering the cluster", len(desired.Objects))
	c := waitConn()
	if c.err != nil {
		return nil, c.err
	}
	p, err := New(o.Options, c.cl, c.resolver)
	if err != nil {
		return nil, err
	}
	defer p.Stop()
	return p.compare(ctx, desired, o.Now(), o.Progress, true)
}

// describe names a revision in an error: URL, path and ref.
func describe(r gitsource.Revision) string {
	s := r.URL
	if r.Path != "" {
		s += " (path " + r.Path + ")"
	}
	if r.Ref != "" {
		s += " at " + r.Ref
	}
	return s
}

// SourceOf describes a rendered revision in a report, with the rendered
// objects that are not desired state counted by reason.
func SourceOf(r gitsource.Revision, skipped []gitsource.Skipped) drift.Source {
	src := drift.Source{URL: r.URL, Ref: r.Ref, Path: r.Path, Commit: r.Commit, Digest: r.Digest, AuthorTime: r.AuthorTime, Subject: r.Subject}
	for _, s := range skipped {
		if src.Skipped == nil {
			src.Skipped = map[string]int{}
		}
		src.Skipped[s.Reason]++
	}
	return src
}

// Monitor returns a Monitor running this pipeline: mo gives what only a
// daemon has (Git polling, notifications, logging); the resolver,
// informers, evaluator, filter, extra detection, default namespace, sync
// timeout and cluster come from the pipeline.
func (p *Pipeline) Monitor(mo MonitorOptions) *Monitor {
	mo.Resolver, mo.Manager, mo.Evaluator = p.Resolver, p.Manager, p.Evaluator
	mo.Filter, mo.Tracking = p.Filter, p.Tracking
	mo.DefaultNamespace, mo.SyncTimeout, mo.Cluster = p.Cluster.Namespace, p.syncTimeout(), p.Cluster.Info
	return NewMonitor(mo)
}
