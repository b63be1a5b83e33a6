package fleettest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/driftwatch/driftwatch/drift"
)

// Change is one result changed in one cluster's report object, as a hub
// should come to show it: the resource the result describes, its status
// and digest after the change.
type Change struct {
	Cluster string
	// APIVersion, Kind, Namespace and Name are the result's subject.
	APIVersion, Kind, Namespace, Name string
	// Status is InSync when the drift resolved; Digest is then empty.
	Status   drift.Status
	Severity drift.Severity
	Digest   string
	// ReportKind, ReportNamespace and ReportName name the report object
	// changed, ResourceVersion its new version.
	ReportKind, ReportNamespace, ReportName string
	ResourceVersion                         uint64
	// At is when the object changed (its MODIFIED event was sent).
	At time.Time
}

// Churn changes the fraction perMinute of all results per minute (0.01:
// 1%), spread evenly over time and uniformly over clusters, objects and
// results, until ctx ends: a passing result starts failing with a new
// digest; a failing one is resolved or drifts differently (a new
// digest), one or the other at random. Each change is one MODIFIED event
// of its object, and onChange (if not nil) is called with it right after,
// from Churn's goroutine. Churn also refreshes each cluster's heartbeat
// every HeartbeatEvery, the clusters' turns spread evenly too. It returns
// when ctx ends.
func (s *Server) Churn(ctx context.Context, perMinute float64, onChange func(Change)) {
	const step = 50 * time.Millisecond
	every := s.HeartbeatEvery
	if every <= 0 {
		every = time.Minute
	}
	total := 0
	for _, c := range s.clusters {
		total += len(c.objects) * s.results
	}
	perStep := perMinute * float64(total) * step.Seconds() / 60
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	tick := time.NewTicker(step)
	defer tick.Stop()
	start := time.Now()
	var due float64
	// beat is the number of heartbeats sent; the next is due when the
	// time since the start reaches beat × every / clusters.
	beat := 0
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			due += perStep
			for ; due >= 1; due-- {
				c := s.clusters[rng.IntN(len(s.clusters))]
				ch := c.churnOne(rng)
				if onChange != nil {
					onChange(ch)
				}
			}
			n := len(s.clusters)
			for ; time.Duration(beat)*every/time.Duration(n) <= now.Sub(start); beat++ {
				c := s.clusters[beat%n]
				c.heartbeat(now)
			}
		}
	}
}

// ChangeDigest gives a failing result of cluster, picked at random, a new
// digest (new drifted paths; a Missing or Extra result becomes Drifted)
// and returns the change.
func (s *Server) ChangeDigest(cluster string) (Change, error) {
	c := s.byName[cluster]
	if c == nil {
		return Change{}, fmt.Errorf("cluster %q not served", cluster)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	type slot struct{ k, j int }
	var fails []slot
	for k, o := range c.objects {
		for j, r := range o.cur.results {
			if r.fail {
				fails = append(fails, slot{k, j})
			}
		}
	}
	if len(fails) == 0 {
		return Change{}, fmt.Errorf("cluster %s: no failing result to change", cluster)
	}
	sl := fails[rand.IntN(len(fails))]
	return c.setLocked(sl.k, sl.j, drift.Drifted, time.Now()), nil
}

// Heartbeat rewrites cluster's heartbeat (the base ClusterReport's
// driftwatch.dev/checked-at) to at, as an agent does once a minute.
func (s *Server) Heartbeat(cluster string, at time.Time) error {
	c := s.byName[cluster]
	if c == nil {
		return fmt.Errorf("cluster %q not served", cluster)
	}
	c.heartbeat(at)
	return nil
}

// Expire makes cluster's watchers resume into 410 Expired: it ends its
// watches, refreshes the heartbeat and forgets that change and every
// earlier one (as etcd's compaction does), so a client resuming from the
// last version it saw is told to list again, and sees the new heartbeat
// only by listing.
func (s *Server) Expire(cluster string) error {
	c := s.byName[cluster]
	if c == nil {
		return fmt.Errorf("cluster %q not served", cluster)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.compact()
	c.heartbeatLocked(time.Now())
	c.compact()
	return nil
}

func (c *cluster) heartbeat(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.heartbeatLocked(at)
}

func (c *cluster) heartbeatLocked(at time.Time) {
	o := c.objects[0]
	old := o.cur
	c.update(o, func(rv uint64) *version {
		v := *old
		v.rv, v.checkedAt = rv, at.Truncate(time.Second)
		return &v
	})
}

// churnOne changes one result of c picked by rng.
func (c *cluster) churnOne(rng *rand.Rand) Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := rng.IntN(len(c.objects))
	j := rng.IntN(len(c.objects[k].cur.results))
	st := drift.Drifted
	if c.objects[k].cur.results[j].fail && rng.IntN(2) == 0 {
		st = drift.InSync
	}
	return c.setLocked(k, j, st, time.Now())
}

// setLocked sets result j of object k to status st (a new generation of
// drifted paths when Drifted) and sends the object's MODIFIED event.
// c.mu must be held.
func (c *cluster) setLocked(k, j int, st drift.Status, at time.Time) Change {
	o := c.objects[k]
	old := o.cur
	prev := old.results[j]
	firstSeen := at
	if prev.fail {
		firstSeen = prev.firstSeen
	}
	r := makeResult(k, j, st, prev.gen+1, firstSeen, at)
	v := c.update(o, func(rv uint64) *version {
		results := slices.Clone(old.results)
		results[j] = r
		return newVersion(rv, old.generation+1, old.checkedAt, results)
	})
	sub := subject(k, j)
	return Change{
		Cluster: c.name, APIVersion: sub.APIVersion, Kind: sub.Kind, Namespace: sub.Namespace, Name: sub.Name,
		Status: st, Severity: r.severity, Digest: r.digest,
		ReportKind: o.kind, ReportNamespace: o.namespace, ReportName: o.name, ResourceVersion: v.rv, At: at,
	}
}

// Counts returns how many of cluster's results pass and fail now: what a
// hub should count as its resources in sync and drifted.
func (s *Server) Counts(cluster string) (pass, fail int, err error) {
	c := s.byName[cluster]
	if c == nil {
		return 0, 0, fmt.Errorf("cluster %q not served", cluster)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.objects {
		pass += o.cur.pass
		fail += o.cur.fail
	}
	return pass, fail, nil
}
