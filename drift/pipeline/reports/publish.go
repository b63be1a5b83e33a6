package reports

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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

// The resources a Publisher writes.
var (
	ReportResource        = orv1.SchemeGroupVersion.WithResource("reports")
	ClusterReportResource = orv1.SchemeGroupVersion.WithResource("clusterreports")
)

// FieldManager is the field manager report objects are applied as.
const FieldManager = "driftwatch"

// ErrNoCRD is returned by Publisher.Check when the cluster does not serve
// the OpenReports resources.
var ErrNoCRD = errors.New("the cluster does not serve openreports.io/v1alpha1 Report and ClusterReport: install their CRDs (kubectl apply -f deploy/crds/)")

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
	// Interval is the least time between two writes of one object; zero
	// writes every change at once (check).
	Interval time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

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

// Check reports ErrNoCRD when the cluster lacks the report resources.
func (p *Publisher) Check(ctx context.Context) error {
	for _, gvr := range []schema.GroupVersionResource{ReportResource, ClusterReportResource} {
		if err := p.checkResource(ctx, gvr); err != nil {
			return err
		}
	}
	return nil
}

func (p *Publisher) checkResource(ctx context.Context, gvr schema.GroupVersionResource) error {
	_, err := p.Client.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
	if isNoResource(err) {
		return ErrNoCRD
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
func (p *Publisher) load(ctx context.Context) error {
	p.objects = map[objectKey]*objectState{}
	sel := metav1.ListOptions{LabelSelector: PolicyLabel + "=" + policyHash(p.Policy)}
	for _, gvr := range []schema.GroupVersionResource{ReportResource, ClusterReportResource} {
		list, err := p.Client.Resource(gvr).List(ctx, sel)
		if isNoResource(err) {
			return ErrNoCRD
		}
		if err != nil {
			return fmt.Errorf("reports: list %s: %w", gvr.GroupResource(), err)
		}
		for i := range list.Items {
			u := &list.Items[i]
			p.objects[objectKey{gvr, u.GetNamespace(), u.GetName()}] = &objectState{hash: contentHash(u)}
		}
	}
	p.loaded = true
	return nil
}

// Previous reads back what the source's reports in the cluster say of
// each resource's drift (see pipeline.Previous), for a watch that starts,
// or takes over as leader, after another process published them.
func (p *Publisher) Previous(ctx context.Context) (map[string]pipeline.Previous, error) {
	p.mu.Lock()
	policy := p.Policy
	p.mu.Unlock()
	out := map[string]pipeline.Previous{}
	sel := metav1.ListOptions{LabelSelector: PolicyLabel + "=" + policyHash(policy)}
	for _, gvr := range []schema.GroupVersionResource{ReportResource, ClusterReportResource} {
		list, err := p.Client.Resource(gvr).List(ctx, sel)
		if isNoResource(err) {
			return nil, ErrNoCRD
		}
		if err != nil {
			return nil, fmt.Errorf("reports: list %s: %w", gvr.GroupResource(), err)
		}
		for _, u := range list.Items {
			var rep orv1.Report
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &rep); err != nil {
				return nil, fmt.Errorf("reports: read %s %s: %w", gvr.Resource, u.GetName(), err)
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
		if err := p.load(ctx); err != nil {
			return Stats{}, err
		}
	}
	want := map[objectKey]*unstructured.Unstructured{}
	add := func(gvr schema.GroupVersionResource, obj runtime.Object) error {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return fmt.Errorf("reports: %w", err)
		}
		u := &unstructured.Unstructured{Object: m}
		want[objectKey{gvr, u.GetNamespace(), u.GetName()}] = u
		return nil
	}
	for _, r := range set.Reports {
		if err := add(ReportResource, r); err != nil {
			return Stats{}, err
		}
	}
	for _, r := range set.ClusterReports {
		if err := add(ClusterReportResource, r); err != nil {
			return Stats{}, err
		}
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
		h := contentHash(u)
		if s != nil && s.hash == h {
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
		p.objects[k] = &objectState{written: now, hash: h}
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
		*s = objectState{written: now, hash: contentHash(u)}
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
	c := map[string]any{
		"labels":      u.GetLabels(),
		"annotations": u.GetAnnotations(),
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
