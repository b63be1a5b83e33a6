package fleettest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

const groupPath = "apis/openreports.io/v1alpha1"

// request is a parsed list, get or watch of one kind.
type request struct {
	kind      string // Report or ClusterReport
	namespace string
	name      string
	// fieldName and fieldNamespace come from a fieldSelector
	// (metadata.name=, metadata.namespace=).
	fieldName, fieldNamespace string
	match                     bool
	watch                     bool
	rv                        string
	rvMatch                   string
	sendInitialEvents         bool
	bookmarks                 bool
	timeout                   time.Duration
}

type apiError struct {
	code   int
	reason metav1.StatusReason
	msg    string
}

func badRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, metav1.StatusReasonBadRequest, fmt.Sprintf(format, args...)}
}

// parseRequest parses the path after /clusters/<name>/ and the query.
func parseRequest(path string, q url.Values) (request, *apiError) {
	var req request
	rest, ok := strings.CutPrefix(path, groupPath+"/")
	if !ok {
		return req, &apiError{http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("/%s: not served (only %s reports and clusterreports)", path, groupPath)}
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) <= 2 && parts[0] == "reports":
		req.kind = "Report"
		if len(parts) == 2 {
			return req, &apiError{http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("/%s: a Report is read in its namespace", path)}
		}
	case len(parts) <= 2 && parts[0] == "clusterreports":
		req.kind = "ClusterReport"
		if len(parts) == 2 {
			req.name = parts[1]
		}
	case (len(parts) == 3 || len(parts) == 4) && parts[0] == "namespaces" && parts[2] == "reports":
		req.kind, req.namespace = "Report", parts[1]
		if len(parts) == 4 {
			req.name = parts[3]
		}
	default:
		return req, &apiError{http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("/%s: not served (only %s reports and clusterreports)", path, groupPath)}
	}
	sel, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return req, badRequest("labelSelector: %v", err)
	}
	req.match = sel.Matches(labels.Set(labelSet))
	if fs := q.Get("fieldSelector"); fs != "" {
		f, err := fields.ParseSelector(fs)
		if err != nil {
			return req, badRequest("fieldSelector: %v", err)
		}
		for _, r := range f.Requirements() {
			if r.Operator != "=" && r.Operator != "==" {
				return req, badRequest("fieldSelector: %s: only = is served", r.Field)
			}
			switch r.Field {
			case "metadata.name":
				req.fieldName = r.Value
			case "metadata.namespace":
				req.fieldNamespace = r.Value
			default:
				return req, badRequest("fieldSelector: %q is not a known field selector: only \"metadata.name\", \"metadata.namespace\"", r.Field)
			}
		}
	}
	req.watch = q.Get("watch") == "true" || q.Get("watch") == "1"
	req.rv, req.rvMatch = q.Get("resourceVersion"), q.Get("resourceVersionMatch")
	if req.rv != "" {
		if _, err := strconv.ParseUint(req.rv, 10, 64); err != nil {
			return req, badRequest("resourceVersion: %q is not a resource version", req.rv)
		}
	}
	req.sendInitialEvents = q.Get("sendInitialEvents") == "true"
	req.bookmarks = q.Get("allowWatchBookmarks") == "true"
	if ts := q.Get("timeoutSeconds"); ts != "" {
		n, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || n < 0 {
			return req, badRequest("timeoutSeconds: %q is not a number of seconds", ts)
		}
		req.timeout = time.Duration(n) * time.Second
	}
	if req.watch {
		// The API server's validation of watch options.
		switch {
		case req.sendInitialEvents && req.rvMatch != string(metav1.ResourceVersionMatchNotOlderThan):
			return req, invalid("resourceVersionMatch: must be NotOlderThan when sendInitialEvents is true")
		case req.sendInitialEvents && !req.bookmarks:
			return req, invalid("allowWatchBookmarks: must be true when sendInitialEvents is true")
		case !req.sendInitialEvents && req.rvMatch != "":
			return req, invalid("resourceVersionMatch: forbidden for watch unless sendInitialEvents is true")
		}
	}
	return req, nil
}

func invalid(msg string) *apiError {
	return &apiError{http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, msg}
}

// wants reports whether o is one of the objects req asks for.
func (req request) wants(o *object) bool {
	return req.match && o.kind == req.kind &&
		(req.namespace == "" || o.namespace == req.namespace) &&
		(req.name == "" || o.name == req.name) &&
		(req.fieldName == "" || o.name == req.fieldName) &&
		(req.fieldNamespace == "" || o.namespace == req.fieldNamespace)
}

func statusBody(code int, reason metav1.StatusReason, msg string) []byte {
	b, _ := json.Marshal(metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: msg, Reason: reason, Code: int32(code),
	})
	return b
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(statusBody(code, reason, msg))
}

// serveDiscovery answers /version, /api, /apis and the group version's
// resource list, enough for discovery clients (the dynamic informer
// itself needs none).
func serveDiscovery(w http.ResponseWriter, path string) bool {
	var body string
	switch path {
	case "version":
		body = `{"major":"1","minor":"37","gitVersion":"v1.37.2-fleettest","platform":"linux/amd64"}`
	case "api":
		body = `{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":null}`
	case "apis":
		body = `{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"openreports.io","versions":[{"groupVersion":"openreports.io/v1alpha1","version":"v1alpha1"}],"preferredVersion":{"groupVersion":"openreports.io/v1alpha1","version":"v1alpha1"}}]}`
	case groupPath:
		body = `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"openreports.io/v1alpha1","resources":[` +
			`{"name":"clusterreports","singularName":"clusterreport","namespaced":false,"kind":"ClusterReport","verbs":["get","list","watch"],"shortNames":["creps"]},` +
			`{"name":"reports","singularName":"report","namespaced":true,"kind":"Report","verbs":["get","list","watch"],"shortNames":["reps"]}]}`
	default:
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(body))
	return true
}

func (s *Server) serveGet(w http.ResponseWriter, c *cluster, req request) {
	c.mu.Lock()
	var o *object
	var v *version
	for _, x := range c.objects {
		if req.wants(x) {
			o, v = x, x.cur
			break
		}
	}
	c.mu.Unlock()
	if o == nil {
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("%ss.openreports.io %q not found", strings.ToLower(req.kind), req.name))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(appendObject(nil, o, v))
}

func (s *Server) serveList(w http.ResponseWriter, c *cluster, req request) {
	type item struct {
		o *object
		v *version
	}
	c.mu.Lock()
	rv := c.rv
	var items []item
	for _, o := range c.objects {
		if req.wants(o) {
			items = append(items, item{o, o.cur})
		}
	}
	c.mu.Unlock()
	if req.rvMatch == string(metav1.ResourceVersionMatchExact) && req.rv != strconv.FormatUint(rv, 10) {
		writeStatus(w, http.StatusGone, metav1.StatusReasonExpired, fmt.Sprintf("too old resource version: %s (%d)", req.rv, rv))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	bw := bufio.NewWriterSize(w, 64<<10)
	b := make([]byte, 0, 32<<10)
	b = append(b, `{"apiVersion":"`+apiVersion+`","kind":"`...)
	b = append(b, req.kind...)
	b = append(b, `List","metadata":{"resourceVersion":"`...)
	b = strconv.AppendUint(b, rv, 10)
	b = append(b, `"},"items":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendObject(b, it.o, it.v)
		bw.Write(b)
		b = b[:0]
	}
	b = append(b, "]}\n"...)
	bw.Write(b)
	bw.Flush()
}

// defaultWatchTimeout bounds a watch that names no timeoutSeconds, as the
// API server's --min-request-timeout does.
const defaultWatchTimeout = 30 * time.Minute

func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, c *cluster, req request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, "watch: the connection cannot stream")
		return
	}
	if req.sendInitialEvents {
		s.watchLists.Add(1)
	}
	var from uint64
	if req.rv != "" {
		from, _ = strconv.ParseUint(req.rv, 10, 64)
	}
	wt := &watcher{server: s, kind: req.kind, namespace: req.namespace, name: req.name, match: req.match,
		ch: make(chan event, watchBuffer), kicked: make(chan struct{})}
	if req.fieldName != "" {
		wt.name = req.fieldName
	}
	if req.fieldNamespace != "" {
		wt.namespace = req.fieldNamespace
	}
	var initial, replay []event
	var startRV uint64
	expired := false
	c.mu.Lock()
	startRV = c.rv
	switch {
	case req.sendInitialEvents || from == 0:
		// The current state as ADDED events (NotOlderThan any version
		// given: the current state is never older).
		for _, o := range c.objects {
			if wt.wants(o) {
				initial = append(initial, event{typ: "ADDED", obj: o, v: o.cur})
			}
		}
	case from < c.compacted:
		expired = true
	default:
		for _, e := range c.history {
			if e.v.rv > from && wt.wants(e.obj) {
				replay = append(replay, e)
			}
		}
	}
	if !expired {
		c.watchers[wt] = struct{}{}
	}
	compacted := c.compacted
	c.mu.Unlock()
	defer c.remove(wt)

	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	// Small buffers: a thousand clusters' watches are open at once, and an
	// object larger than the buffer is written through it.
	bw := bufio.NewWriterSize(w, 8<<10)
	var buf []byte
	if expired {
		// As the watch cache answers: the watch opens, then one ERROR
		// event carries the 410.
		s.expired.Add(1)
		buf = append(buf, `{"type":"ERROR","object":`...)
		buf = append(buf, statusBody(http.StatusGone, metav1.StatusReasonExpired, fmt.Sprintf("too old resource version: %d (%d)", from, compacted+1))...)
		buf = append(buf, "}\n"...)
		bw.Write(buf)
		bw.Flush()
		flusher.Flush()
		return
	}
	send := func(e event) {
		buf = append(buf[:0], `{"type":"`...)
		buf = append(buf, e.typ...)
		buf = append(buf, `","object":`...)
		buf = appendObject(buf, e.obj, e.v)
		buf = append(buf, "}\n"...)
		bw.Write(buf)
	}
	bookmark := func(rv uint64, initialEnd bool) {
		buf = append(buf[:0], `{"type":"BOOKMARK","object":{"apiVersion":"`+apiVersion+`","kind":"`...)
		buf = append(buf, req.kind...)
		buf = append(buf, `","metadata":{"resourceVersion":"`...)
		buf = strconv.AppendUint(buf, rv, 10)
		buf = append(buf, '"')
		if initialEnd {
			buf = append(buf, `,"annotations":{"`+metav1.InitialEventsAnnotationKey+`":"true"}`...)
		}
		buf = append(buf, "}}}\n"...)
		bw.Write(buf)
	}
	for _, e := range initial {
		send(e)
	}
	if req.sendInitialEvents {
		bookmark(startRV, true)
	}
	for _, e := range replay {
		send(e)
	}
	if bw.Flush() != nil {
		return
	}
	flusher.Flush()

	timeout := req.timeout
	if timeout == 0 || timeout > defaultWatchTimeout {
		timeout = defaultWatchTimeout
	}
	end := time.NewTimer(timeout)
	defer end.Stop()
	every := s.BookmarkEvery
	if every <= 0 {
		every = time.Minute
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case e := <-wt.ch:
			send(e)
			// Send what else is queued in the same write.
			for drained := false; !drained; {
				select {
				case e := <-wt.ch:
					send(e)
				default:
					drained = true
				}
			}
		case <-tick.C:
			if !req.bookmarks {
				continue
			}
			// Only when nothing is queued is the cluster's version one the
			// client has seen everything up to.
			c.mu.Lock()
			rv, idle := c.rv, len(wt.ch) == 0
			c.mu.Unlock()
			if !idle {
				continue
			}
			bookmark(rv, false)
		case <-wt.kicked:
			bw.Flush()
			return
		case <-end.C:
			bw.Flush()
			return
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
		if bw.Flush() != nil {
			return
		}
		flusher.Flush()
	}
}
