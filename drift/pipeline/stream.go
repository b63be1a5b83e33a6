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
// compared: as the verdicts grow, the desired objects shrink, and the
// check's peak holds the larger of the two, not both.
func (p *Pipeline) streamCompare(ctx context.Context, src Streamer, plan *Planned) []drift.Resource {
	out := make([]drift.Resource, len(plan.Targets))
	held := make([]heldTarget, len(plan.Targets))
	places := placements{}
	byScope := map[informer.Scope]map[string][]int{}
	for i, t := range plan.Targets {
		if t.Err != nil {
			out[i] = p.Evaluator.EvaluateOne(ctx, t, nil)
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
		go PrefetchSchemas(ctx, p.Evaluator.Schemas, oneOfEachKind(plan.Targets)) // while the first pages come
	}
	plan.Targets = nil
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
			seen := map[string]bool{}
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
					seen[u.GetName()] = true
					for _, i := range idx {
						ev.Live = oneObject{u}
						out[i] = ev.EvaluateOne(ctx, held[i].base(), nil)
						held[i].obj = gitsource.Object{}
					}
					return nil
				})
			}
			if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				err = fmt.Errorf("not listed in time (--sync-timeout %s): %w", p.syncTimeout(), err)
			}
			for name, idx := range names {
				if err == nil && seen[name] {
					continue
				}
				for _, i := range idx {
					// Listed, and not there: Missing. A failed LIST: the
					// error, for every target of the scope, those compared
					// before it failed too (their objects released: the
					// verdict has their identity).
					if seen[name] {
						out[i] = listFailed(out[i], err)
						continue
					}
					ev.Live = oneObject{}
					out[i] = ev.EvaluateOne(ctx, held[i].base(), err)
					held[i].obj = gitsource.Object{}
				}
			}
			if err == nil {
				mu.Lock()
				extras = append(extras, scopeExtras...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Slice(extras, func(i, j int) bool {
		if extras[i].Kind != extras[j].Kind {
			return extras[i].Kind < extras[j].Kind
		}
		return extras[i].Namespace+"/"+extras[i].Name < extras[j].Namespace+"/"+extras[j].Name
	})
	return append(out, extras...)
}

// listFailed is what EvaluateOne makes of a target whose scope failed,
// from the verdict its live object had before the LIST failed.
func listFailed(r drift.Resource, err error) drift.Resource {
	return drift.Resource{APIVersion: r.APIVersion, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name,
		Origin: r.Origin, NotCompared: r.NotCompared, Status: drift.Error, Error: err.Error()}
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
