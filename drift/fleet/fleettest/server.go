// Package fleettest serves many clusters' driftwatch report objects
// (openreports.io/v1alpha1 Reports and ClusterReports, as
// drift/pipeline/reports writes them) from one process on 127.0.0.1, for
// tests and the bench of the fleet hub (drift/fleet): a thousand real API
// servers do not fit on one machine, and the hub reads nothing else.
//
// Each cluster is served under its own path prefix,
// /clusters/<name>/apis/openreports.io/v1alpha1/..., with the list and
// watch protocol client-go's reflector speaks: LIST with
// metadata.resourceVersion and labelSelector (limit is ignored, as the API
// server's watch cache does, so a list never continues); WATCH from a
// resourceVersion, with bookmarks, timeoutSeconds, an ERROR event with a
// 410 Expired Status when the version is older than the cluster's event
// history, and the streaming watch-list (sendInitialEvents=true: the
// objects as ADDED events, then a BOOKMARK annotated
// k8s.io/initial-events-end) client-go v0.37 tries first. Each cluster has
// its own resourceVersion counter, history and watchers, like its own
// etcd. Writes, patches and other kinds are refused.
//
// Every cluster starts with the same objects: a base ClusterReport
// carrying the agent's heartbeat (driftwatch.dev/checked-at) and a Report
// per namespace ns-00, ns-01..., each of resultsPerReport results, 3 in
// 50 failing (Drifted, Missing, Extra with severities, paths, digest,
// changedBy, firstSeen), the rest passing. Results are rendered as JSON
// once and shared between clusters until they change, so a thousand
// clusters of 20 objects of 50 results cost a few megabytes.
package fleettest

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves the clusters' report objects until Close. Its methods are
// safe for concurrent use.
type Server struct {
	// URL is the server's base, http://127.0.0.1:PORT; a cluster's API
	// server URL is URL + "/clusters/" + name.
	URL string

	// HeartbeatEvery is how often Churn refreshes each cluster's heartbeat
	// (as driftwatch watch does); zero: one minute. Set it before Churn.
	HeartbeatEvery time.Duration
	// BookmarkEvery is how often a watch that asked for bookmarks gets
	// one; zero: one minute (the API server's own period).
	BookmarkEvery time.Duration

	clusters []*cluster
	byName   map[string]*cluster
	results  int
	ln       net.Listener
	srv      *http.Server
	done     chan struct{}
	closed   sync.Once

	lists, gets, watches, watchLists, expired, kicked atomic.Int64
}

// Stats counts the requests served since the start.
type Stats struct {
	// Lists counts LIST requests, Gets single-object GETs.
	Lists, Gets int64
	// Watches counts watch requests; WatchLists those asking for the
	// initial events (sendInitialEvents=true).
	Watches, WatchLists int64
	// Expired counts watches answered with 410 Expired.
	Expired int64
	// Kicked counts watches ended because the client read too slowly.
	Kicked int64
}

// historySize is how many events each cluster keeps for watches that
// resume from an older resourceVersion: at 1% of 1,000 results per minute
// and a heartbeat a minute, about five minutes.
const historySize = 64

// NewServer starts a server for clusters clusters named cluster-0000,
// cluster-0001..., each with reportsPerCluster report objects (one
// ClusterReport, the rest Reports in namespaces ns-00...) of
// resultsPerReport results. Like httptest.NewServer, it panics if it
// cannot listen on 127.0.0.1 or the sizes are not positive.
func NewServer(clusters, reportsPerCluster, resultsPerReport int) *Server {
	if clusters < 1 || reportsPerCluster < 1 || resultsPerReport < 1 {
		panic(fmt.Sprintf("fleettest: NewServer(%d, %d, %d): sizes must be positive", clusters, reportsPerCluster, resultsPerReport))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("fleettest: listen: %v", err))
	}
	now := time.Now().Truncate(time.Second)
	tmpl := templates(reportsPerCluster, resultsPerReport, now)
	s := &Server{
		URL:     "http://" + ln.Addr().String(),
		byName:  make(map[string]*cluster, clusters),
		results: resultsPerReport,
		ln:      ln,
		done:    make(chan struct{}),
	}
	for i := range clusters {
		c := newCluster(fmt.Sprintf("cluster-%04d", i), i, tmpl, now)
		s.clusters = append(s.clusters, c)
		s.byName[c.name] = c
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s
}

// Clusters returns the clusters' names, in order.
func (s *Server) Clusters() []string {
	out := make([]string, len(s.clusters))
	for i, c := range s.clusters {
		out[i] = c.name
	}
	return out
}

// ClusterURL returns the API server URL of the cluster called name.
func (s *Server) ClusterURL(name string) string { return s.URL + "/clusters/" + name }

// Stats returns the request counts so far.
func (s *Server) Stats() Stats {
	return Stats{
		Lists: s.lists.Load(), Gets: s.gets.Load(), Watches: s.watches.Load(), WatchLists: s.watchLists.Load(),
		Expired: s.expired.Load(), Kicked: s.kicked.Load(),
	}
}

// Close ends every watch and stops the server.
func (s *Server) Close() error {
	var err error
	s.closed.Do(func() {
		close(s.done)
		err = s.srv.Close()
	})
	return err
}

// ServeHTTP answers /clusters/<name>/... (Server is its own handler; the
// server started by NewServer uses it).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/clusters/")
	if !ok {
		writeStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("%s: not a cluster's path (/clusters/<name>/...)", r.URL.Path))
		return
	}
	name, rest, _ := strings.Cut(rest, "/")
	c := s.byName[name]
	if c == nil {
		writeStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("cluster %q not served", name))
		return
	}
	if r.Method != http.MethodGet {
		writeStatus(w, http.StatusMethodNotAllowed, "MethodNotAllowed", fmt.Sprintf("%s: the fleettest server is read only", r.Method))
		return
	}
	if serveDiscovery(w, rest) {
		return
	}
	req, err := parseRequest(rest, r.URL.Query())
	if err != nil {
		writeStatus(w, err.code, err.reason, err.msg)
		return
	}
	switch {
	case req.name != "":
		s.gets.Add(1)
		s.serveGet(w, c, req)
	case req.watch:
		s.watches.Add(1)
		s.serveWatch(w, r, c, req)
	default:
		s.lists.Add(1)
		s.serveList(w, c, req)
	}
}
