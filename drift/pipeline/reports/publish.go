package reports

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline"
)

// The resources a Publisher writes: OpenReports', or, with Format
// PolicyReport, the older wgpolicyk8s.io/v1alpha2 ones.
var (
	ReportResource        = orv1.SchemeGroupVersion.WithResource("reports")
	ClusterReportResource = orv1.SchemeGroupVersion.WithResource("clusterreports")

	PolicyReportResource        = schema.GroupVersionResource{Group: "wgpolicyk8s.io", Version: "v1alpha2", Resource: "policyreports"}
	ClusterPolicyReportResource = schema.GroupVersionResource{Group: "wgpolicyk8s.io", Version: "v1alpha2", Resource: "clusterpolicyreports"}
)

// Format is the report API a Publisher writes.
type Format string

const (
	// OpenReports writes openreports.io/v1alpha1 Report and ClusterReport
	// objects; it is the zero Format's meaning too.
	OpenReports Format = "openreports"
	// PolicyReport writes wgpolicyk8s.io/v1alpha2 PolicyReport and
	// ClusterPolicyReport objects, which Kyverno writes by default and
	// Policy Reporter reads: the same content (see PolicyReports).
	PolicyReport Format = "policyreport"
)

// ParseFormat reads a --reports value: openreports or policyreport.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case OpenReports, PolicyReport:
		return f, nil
	}
	return "", fmt.Errorf("%q is not openreports or policyreport", s)
}

// Resources are the format's namespaced and cluster-scoped resources.
func (f Format) Resources() (namespaced, cluster schema.GroupVersionResource) {
	if f == PolicyReport {
		return PolicyReportResource, ClusterPolicyReportResource
	}
	return ReportResource, ClusterReportResource
}

func (f Format) resources() []schema.GroupVersionResource {
	ns, cl := f.Resources()
	return []schema.GroupVersionResource{ns, cl}
}

// FieldManager is the field manager report objects are applied as.
const FieldManager = "driftwatch"

// ErrNoCRD is what Publisher's methods return, wrapped in a message
// naming the format's kinds and CRD files, when the cluster does not
// serve the format's resources: test for it with errors.Is.
var ErrNoCRD = errors.New("the cluster does not serve the report CRDs")

type noCRDError struct{ format Format }

func (e noCRDError) Error() string {
	if e.format == PolicyReport {
		return "the cluster does not serve wgpolicyk8s.io/v1alpha2 PolicyReport and ClusterPolicyReport: install their CRDs " +
			"(kubectl apply -f deploy/crds/wgpolicyk8s.io_policyreports.yaml -f deploy/crds/wgpolicyk8s.io_clusterpolicyreports.yaml)"
	}
	return "the cluster does not serve openreports.io/v1alpha1 Report and ClusterReport: install their CRDs (kubectl apply -f deploy/crds/openreports.io_reports.yaml -f deploy/crds/openreports.io_clusterreports.yaml)"
}

func (e noCRDError) Unwrap() error { return ErrNoCRD }

// Publisher writes a source's report objects to the cluster. It writes an
// object only when its content changed (results compared without their
// timestamps), at most once per Interval per object: a change within the
// interval is held and written by a later Publish once the interval has
// passed, so a flapping resource costs one write per interval, not one
// per flap. It deletes the source's objects a new Set no longer has.
// Publisher is safe for use by one goroutine at a time per method call;
// its methods lock.
type Publisher struct {
	// Client writes the objects.
	Client dynamic.Interface
	// Policy is the source's policy (Policy(report.Source)): the objects
	// found with its label are the publisher's own.
	Policy string
	// Format is the report API written and read back; zero is
	// OpenReports.
	Format Format
	// Interval is the least time between two writes of one object; zero
	// writes every change at once (check).
	Interval time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// HeartbeatEvery is the most time the heartbeat in the cluster
	// (CheckedAtAnnotation) may lag the last Publish: an unchanged base
	// ClusterReport is rewritten once its heartbeat is older. Zero
	// rewrites it whenever a Set carries a newer heartbeat (check, which
	// runs once).
	HeartbeatEvery time.Duration
	// Agent, if set, is written as AgentAnnotation beside the heartbeat.
	Agent string

	mu      sync.Mutex
	loaded  bool
	objects map[objectKey]*objectState
}

type objectKey struct {
	resource  schema.GroupVersionResource
	namespace string
	name      string
}

type objectState struct {
	written time.Time // last write; zero when found in the cluster
	hash    string    // content in the cluster
	beat    time.Time // heartbeat in the cluster; zero if none
	pending *unstructured.Unstructured
}

// SetPolicy sets Policy, for a source known only once it is read; a new
// policy forgets what was known of the old one's objects.
func (p *Publisher) SetPolicy(policy string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Policy != policy {
		p.Policy, p.loaded, p.objects = policy, false, nil
	}
}

// Stats says what one Publish did.
type Stats struct {
	// Written, Deleted and Unchanged count objects; Deferred counts
	// changed objects held because they were written less than Interval
	// ago.
	Written, Deleted, Unchanged, Deferred int
	// Bytes is the size of the objects written, as JSON.
	Bytes int
}

// Check reports ErrNoCRD when the cluster lacks the format's resources.
func (p *Publisher) Check(ctx context.Context) error {
	for _, gvr := range p.Format.resources() {
		if err := p.checkResource(ctx, gvr); err != nil {
			return err
		}
	}
	return nil
}

func (p *Publisher) checkResource(ctx context.Context, gvr schema.GroupVersionResource) error {
	_, err := p.Client.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
	if isNoResource(err) {
		return noCRDError{p.Format}
	}
	if err != nil {
		return fmt.Errorf("reports: list %s: %w", gvr.GroupResource(), err)
	}
	return nil
}

func isNoResource(err error) bool {
	return apierrors.IsNotFound(err) || meta.IsNoMatchError(err)
}

func (p *Publisher) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// load reads the source's objects already in the cluster, so a new
// process (a CronJob's next run, a restarted watch) rewrites nothing that
// is unchanged and deletes what its source no longer has.
func (p *Publisher) load(ctx context.Context) ([]unstructured.Unstructured, error) {
	p.objects = map[objectKey]*objectState{}
	p.loaded = false
	sel := metav1.ListOptions{LabelSelector: PolicyLabel + "=" + policyHash(p.Policy)}
	var all []unstructured.Unstructured
	for _, gvr := range p.Format.resources() {
		list, err := p.Client.Resource(gvr).List(ctx, sel)
		if isNoResource(err) {
			return nil, noCRDError{p.Format}
		}
		if err != nil {
			return nil, fmt.Errorf("reports: list %s: %w", gvr.GroupResource(), err)
		}
		for i := range list.Items {
			u := &list.Items[i]
			p.objects[objectKey{gvr, u.GetNamespace(), u.GetName()}] = &objectState{hash: contentHash(u), beat: heartbeat(u)}
		}
		all = append(all, list.Items...)
	}
	p.loaded = true
	return all, nil
}

// Previous reads back what the source's reports in the cluster say of
// each resource's drift (see pipeline.Previous), for a watch that starts,
// or takes over as leader, after another process published them.
func (p *Publisher) Previous(ctx context.Context) (map[string]pipeline.Previous, error) {
	// Reading them back is also what a Publisher knows of them: a replica
	// that takes over sees what the last leader wrote, not what it itself
	// wrote before.
	p.mu.Lock()
	items, err := p.load(ctx)
	p.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out := map[string]pipeline.Previous{}
	for _, u := range items {
		// A PolicyReport's results have an OpenReports result's fields,
		// under the same names.
		var rep orv1.Report
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &rep); err != nil {
			return nil, fmt.Errorf("reports: read %s %s: %w", u.GetKind(), u.GetName(), err)
		}
		for _, r := range rep.Results {
			if r.Result != "fail" || len(r.Subjects) != 1 {
				continue
			}
			first, err1 := time.Parse(time.RFC3339Nano, r.Properties["firstSeen"])
			last, _ := time.Parse(time.RFC3339Nano, r.Properties["lastChanged"])
			if err1 != nil {
				continue // check wrote it: no firstSeen to keep
			}
			s := r.Subjects[0]
			out[pipeline.PreviousKey(s.APIVersion, s.Kind, s.Namespace, s.Name)] = pipeline.Previous{
				Status: drift.Status(r.Rule), Digest: r.Properties["digest"], FirstSeen: first, LastChanged: last,
			}
		}
	}
	return out, nil
}

// Publish brings the cluster's report objects to set (as Build made it),
// within the limits above. Errors writing one object do not stop the
// others; they are joined.
func (p *Publisher) Publish(ctx context.Context, set Set) (Stats, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.loaded {
		if _, err := p.load(ctx); err != nil {
			return Stats{}, err
		}
	}
	want, err := p.Format.objects(set)
	if err != nil {
		return Stats{}, err
	}

	var st Stats
	var errs []error
	now := p.now()
	keys := make([]objectKey, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	for _, k := range keys {
		u := want[k]
		s := p.objects[k]
		beat := heartbeat(u)
		if !beat.IsZero() && p.Agent != "" {
			u.SetAnnotations(with(u.GetAnnotations(), AgentAnnotation, p.Agent))
		}
		h := contentHash(u)
		if s != nil && s.hash == h && !beat.After(s.beat.Add(p.HeartbeatEvery)) {
			s.pending = nil
			st.Unchanged++
			continue
		}
		if s != nil && p.Interval > 0 && !s.written.IsZero() && now.Sub(s.written) < p.Interval {
			s.pending = u
			st.Deferred++
			continue
		}
		n, err := p.apply(ctx, k, u)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.objects[k] = &objectState{written: now, hash: h, beat: beat}
		st.Written++
		st.Bytes += n
	}
	for k := range p.objects {
		if _, ok := want[k]; ok {
			continue
		}
		err := p.Client.Resource(k.resource).Namespace(k.namespace).Delete(ctx, k.name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("reports: delete %s %s: %w", k.resource.Resource, k.id(), err))
			continue
		}
		delete(p.objects, k)
		st.Deleted++
	}
	return st, errors.Join(errs...)
}

// Flush writes the changes held back by Interval whose interval has
// passed; watch calls it on a ticker, so the last state of a flapping
// resource is written within one interval.
func (p *Publisher) Flush(ctx context.Context) (Stats, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var st Stats
	var errs []error
	now := p.now()
	for k, s := range p.objects {
		if s.pending == nil {
			continue
		}
		if p.Interval > 0 && now.Sub(s.written) < p.Interval {
			st.Deferred++
			continue
		}
		u := s.pending
		n, err := p.apply(ctx, k, u)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		*s = objectState{written: now, hash: contentHash(u), beat: heartbeat(u)}
		st.Written++
		st.Bytes += n
	}
	return st, errors.Join(errs...)
}

func (p *Publisher) apply(ctx context.Context, k objectKey, u *unstructured.Unstructured) (int, error) {
	b, err := json.Marshal(u.Object)
	if err != nil {
		return 0, fmt.Errorf("reports: %s %s: %w", k.resource.Resource, k.id(), err)
	}
	_, err = p.Client.Resource(k.resource).Namespace(k.namespace).Apply(ctx, k.name, u, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err != nil {
		return 0, fmt.Errorf("reports: apply %s %s: %w", k.resource.Resource, k.id(), err)
	}
	return len(b), nil
}

func (k objectKey) id() string {
	if k.namespace == "" {
		return k.name
	}
	return k.namespace + "/" + k.name
}

func compareKeys(a, b objectKey) int {
	if c := strings.Compare(a.resource.Resource, b.resource.Resource); c != 0 {
		return c
	}
	if c := strings.Compare(a.namespace, b.namespace); c != 0 {
		return c
	}
	return strings.Compare(a.name, b.name)
}

// contentHash hashes what a report says: labels, annotations, summary and
// results without their timestamps (a result's time alone changing is no
// news worth a write).
func contentHash(u *unstructured.Unstructured) string {
	ann := u.GetAnnotations()
	if _, ok := ann[CheckedAtAnnotation]; ok {
		ann = with(ann, CheckedAtAnnotation, "")
		delete(ann, CheckedAtAnnotation)
	}
	c := map[string]any{
		"labels":      u.GetLabels(),
		"annotations": ann,
		"source":      u.Object["source"],
		"summary":     u.Object["summary"],
	}
	if rs, ok := u.Object["results"].([]any); ok {
		out := make([]any, 0, len(rs))
		for _, r := range rs {
			if m, ok := r.(map[string]any); ok {
				m2 := make(map[string]any, len(m))
				for k, v := range m {
					if k != "timestamp" {
						m2[k] = v
					}
				}
				r = m2
			}
			out = append(out, r)
		}
		c["results"] = out
	}
	b, _ := json.Marshal(c) //nolint:errchkjson // maps of JSON values
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// heartbeat is an object's CheckedAtAnnotation, zero if it has none.
func heartbeat(u *unstructured.Unstructured) time.Time {
	t, _ := time.Parse(time.RFC3339, u.GetAnnotations()[CheckedAtAnnotation])
	return t
}

// with returns a copy of m with k set to v.
func with(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	maps.Copy(out, m)
	out[k] = v
	return out
}
