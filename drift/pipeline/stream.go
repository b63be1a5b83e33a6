package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/informer"
)

// A one-shot check streams: each scope is listed once, page by page, and
// each live object is compared as it is decoded, then dropped. Memory grows
// with a page, the verdicts and the drifted objects' diffs, not with the
// number of objects (an informer would hold them all until the end). The
// watch keeps informers: it needs their events.
//
// Scopes are listed concurrently (listScopesAtOnce at a time), so one
// scope's decoding and comparing overlap another's waiting on the API
// server.
const listScopesAtOnce = 4

// Streamer lists scopes page by page; informer.Pager is one.
type Streamer interface {
	Each(ctx context.Context, s informer.Scope, warn func([]string), fn func(*unstructured.Unstructured) error) error
}

// streamCompare evaluates plan's targets against live objects listed by
// src, and finds the extra objects when tracking is set. The result is in
// the targets' order, then the extra objects sorted.
//
// It takes plan's targets over (plan.Targets is nil on return) and holds
// each as a Monitor does (heldTarget: the packed object, a placement
// shared by the targets of a scope, the error; 120 bytes against a
// Target's 296). Each target's desired object is released once it is
// compared, and each scope's verdicts are collected as they are made
// (the result is put in order at the end): as the verdicts grow, the
// desired objects shrink, and the check's peak holds the larger of the
// two, not both. (The verdicts, 256 bytes each, were allocated all at
// once before listing began: 26 MB at 100,000 objects, held beside every
// desired object.)
func (p *Pipeline) streamCompare(ctx context.Context, src Streamer, plan *Planned) []drift.Resource {
	n := len(plan.Targets)
	held := make([]heldTarget, n)
	places := placements{}
	byScope := map[informer.Scope]map[string][]int{}
	var verdicts [][]verdictAt // each scope's, and the unresolved targets'
	var unresolved []verdictAt
	for i, t := range plan.Targets {
		if t.Err != nil {
			unresolved = append(unresolved, verdictAt{i, p.Evaluator.EvaluateOne(ctx, t, nil)})
			continue
		}
		held[i] = holdTarget(t, places)
		if byScope[t.Scope] == nil {
			byScope[t.Scope] = map[string][]int{}
		}
		name := t.Object.GetName()
		byScope[t.Scope][name] = append(byScope[t.Scope][name], i)
	}
	if p.Evaluator.Schemas != nil {
		// The schemas load while the first pages come. The check waits for
		// them before it returns: a prefetch left running would write the
		// schema cache after the command ended.
		kinds := oneOfEachKind(plan.Targets)
		prefetched := make(chan struct{})
		go func() {
			defer close(prefetched)
			PrefetchSchemas(ctx, p.Evaluator.Schemas, kinds)
		}()
		defer func() { <-prefetched }()
	}
	plan.Targets = nil
	verdicts = append(verdicts, unresolved)
	// Targets are decoded one at a time, as their live object arrives
	// (EvaluateOne unpacks a packed object).
	listCtx, cancel := context.WithTimeout(ctx, p.syncTimeout())
	defer cancel()

	var (
		mu     sync.Mutex
		extras []drift.Resource
		wg     sync.WaitGroup
		sem    = make(chan struct{}, listScopesAtOnce)
	)
	for _, s := range plan.Scopes {
		names := byScope[s]
		if names == nil && p.Tracking == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-listCtx.Done():
			}
			ev := *p.Evaluator
			var warns []string
			ev.Warnings = func(informer.Scope) []string { return warns }
			// rows holds the scope's verdicts; seen gives where a listed
			// name's first verdict is in it (those of its duplicates
			// follow).
			rows := make([]verdictAt, 0, countTargets(names))
			seen := map[string]int{}
			var scopeExtras []drift.Resource
			err := listCtx.Err()
			if err == nil {
				err = src.Each(listCtx, s, func(w []string) { warns = w }, func(u *unstructured.Unstructured) error {
					idx, ok := names[u.GetName()]
					if !ok {
						if p.Tracking != nil && p.Tracking.Matches(labels.Set(u.GetLabels())) {
							scopeExtras = append(scopeExtras, drift.Resource{
								APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName(),
								Status: drift.Extra,
							})
						}
						return nil
					}
					seen[u.GetName()] = len(rows)
					for _, i := range idx {
						ev.Live = oneObject{u}
						rows = append(rows, verdictAt{i, ev.EvaluateOne(ctx, held[i].base(), nil)})
						held[i].obj = gitsource.Object{}
					}
					return nil
				})
			}
			if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				err = fmt.Errorf("not listed in time (--sync-timeout %s): %w", p.syncTimeout(), err)
			}
			for name, idx := range names {
				at, listed := seen[name]
				if err == nil && listed {
					continue
				}
				for k, i := range idx {
					// Listed, and not there: Missing. A failed LIST: the
					// error, for every target of the scope, those compared
					// before it failed too (their objects released: the
					// verdict has their identity).
					if listed {
						rows[at+k].res = listFailed(rows[at+k].res, err)
						continue
					}
					ev.Live = oneObject{}
					rows = append(rows, verdictAt{i, ev.EvaluateOne(ctx, held[i].base(), err)})
					held[i].obj = gitsource.Object{}
				}
			}
			mu.Lock()
			verdicts = append(verdicts, rows)
			if err == nil {
				extras = append(extras, scopeExtras...)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	out := make([]drift.Resource, n, n+len(extras))
	for _, rows := range verdicts {
		for _, v := range rows {
			out[v.i] = v.res
		}
	}
	sort.Slice(extras, func(i, j int) bool {
		if extras[i].Kind != extras[j].Kind {
			return extras[i].Kind < extras[j].Kind
		}
		return extras[i].Namespace+"/"+extras[i].Name < extras[j].Namespace+"/"+extras[j].Name
	})
	return append(out, extras...)
}

// verdictAt is the verdict on the i-th target.
type verdictAt struct {
	i   int
	res drift.Resource
}

// countTargets counts the targets of a scope's index of names.
func countTargets(names map[string][]int) int {
	n := 0
	for _, idx := range names {
		n += len(idx)
	}
	return n
}

// listFailed is what EvaluateOne makes of a target whose scope failed,
// from the verdict its live object had before the LIST failed.
func listFailed(r drift.Resource, err error) drift.Resource {
	return drift.Resource{APIVersion: r.APIVersion, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name,
		Origin: r.Origin, NotCompared: r.NotCompared, NotComparedWhy: r.NotComparedWhy, Status: drift.Error, Error: err.Error()}
}

// oneObject is the live state of one target, as the stream delivered it
// (nil: not found).
type oneObject struct{ u *unstructured.Unstructured }

func (o oneObject) Get(informer.Scope, string) (*unstructured.Unstructured, error) { return o.u, nil }

func (o oneObject) List(informer.Scope) ([]*unstructured.Unstructured, error) {
	if o.u == nil {
		return nil, nil
	}
	return []*unstructured.Unstructured{o.u}, nil
}
