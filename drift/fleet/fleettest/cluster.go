package fleettest

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync"
	"time"
)

// cluster is one fake API server's state: its objects, resourceVersion
// counter, recent events and watchers.
type cluster struct {
	name  string
	index int

	mu      sync.Mutex
	rv      uint64
	objects []*object
	// history holds the last historySize events, oldest first; compacted
	// is the newest resourceVersion no longer in it (a watch from an
	// older one is answered 410 Expired).
	history   []event
	compacted uint64
	watchers  map[*watcher]struct{}
}

// event is one change, as watches send it.
type event struct {
	typ string // ADDED, MODIFIED, DELETED
	obj *object
	v   *version
}

// firstRV is where every cluster's resourceVersions start, offset by the
// cluster's index so that no two clusters share one.
const firstRV = 1000

func newCluster(name string, index int, tmpl [][]*result, now time.Time) *cluster {
	c := &cluster{name: name, index: index, watchers: map[*watcher]struct{}{}}
	c.rv = firstRV + uint64(index)*7
	for k, results := range tmpl {
		c.rv++
		o := &object{idx: k, kind: "Report", namespace: namespaceOf(k), name: objectName, uid: uid(name, k), created: now}
		if k == 0 {
			o.kind = "ClusterReport"
		}
		o.cur = newVersion(c.rv, 1, now, results)
		c.objects = append(c.objects, o)
	}
	c.compacted = c.rv
	return c
}

// uid is a stable, UUID-shaped uid for object k of cluster name.
func uid(name string, k int) string {
	h := sha256.Sum256([]byte(name + "/" + strconv.Itoa(k)))
	x := hex.EncodeToString(h[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// update replaces o's version with one made by mk from the next
// resourceVersion, records the event and sends it to the watchers it
// concerns. c.mu must be held.
func (c *cluster) update(o *object, mk func(rv uint64) *version) *version {
	c.rv++
	v := mk(c.rv)
	o.cur = v
	e := event{typ: "MODIFIED", obj: o, v: v}
	if len(c.history) == historySize {
		c.compacted = c.history[0].v.rv
		copy(c.history, c.history[1:])
		c.history = c.history[:historySize-1]
	}
	c.history = append(c.history, e)
	for w := range c.watchers {
		if !w.wants(o) {
			continue
		}
		select {
		case w.ch <- e:
		default:
			// A watcher that cannot keep up is ended, as the API server
			// ends one whose buffer is full: its client watches again
			// from the last version it read.
			delete(c.watchers, w)
			close(w.kicked)
			w.server.kicked.Add(1)
		}
	}
	return v
}

// compact forgets the cluster's event history up to now, as etcd's
// compaction does, and ends its watches: a client resuming from a version
// it read before gets 410 Expired and lists again. c.mu must be held.
func (c *cluster) compact() {
	c.history = c.history[:0]
	c.compacted = c.rv
	for w := range c.watchers {
		delete(c.watchers, w)
		close(w.kicked)
	}
}

// watcher is one open watch of a cluster.
type watcher struct {
	server    *Server
	kind      string
	namespace string
	name      string
	// match is false when the label selector excludes every object (all
	// of a cluster's objects carry the same labels).
	match  bool
	ch     chan event
	kicked chan struct{}
}

// watchBuffer is how many events a watcher may fall behind before it is
// ended.
const watchBuffer = 256

func (w *watcher) wants(o *object) bool {
	return w.match && o.kind == w.kind && (w.namespace == "" || o.namespace == w.namespace) && (w.name == "" || o.name == w.name)
}

// remove unregisters w (a no-op if it was kicked).
func (c *cluster) remove(w *watcher) {
	c.mu.Lock()
	delete(c.watchers, w)
	c.mu.Unlock()
}
