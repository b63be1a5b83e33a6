package informer

import (
	"context"
	"errors"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/pager"
)

// PageSize is how many objects one LIST request of a Pager asks for.
const PageSize = 500

// Pager lists scopes once, page by page, handing each object to a function
// as it is decoded and keeping none: what a one-shot check needs, where an
// informer would hold every object until the end. It records the warnings
// the API server sends about each scope's requests, as the Manager does.
// It is safe for concurrent use.
type Pager struct {
	opts Options
	// clientFor returns a dynamic client whose requests report warnings to
	// warn.
	clientFor func(warn rest.WarningHandler) (dynamic.Interface, error)
}

// NewPagerForConfig returns a Pager whose requests share one HTTP client.
// opts.TweakListOptions narrows each LIST as it narrows an informer's;
// opts.Transform is not used (objects are not kept).
func NewPagerForConfig(cfg *rest.Config, opts Options) (*Pager, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return &Pager{opts: opts, clientFor: func(warn rest.WarningHandler) (dynamic.Interface, error) {
		c := rest.CopyConfig(cfg)
		c.WarningHandler = warn
		return dynamic.NewForConfigAndClient(c, hc)
	}}, nil
}

// warnings collects the warnings the API server sends about one scope's
// requests (deprecations), once each; it is a rest.WarningHandler. The
// Manager's entries and the Pager use it alike.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(code int, _ string, text string) {
	if code != 299 || text == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.list {
		if s == text {
			return
		}
	}
	w.list = append(w.list, text)
}

func (w *warnings) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.list...)
}

// Each lists scope page by page (PageSize objects a request, the pages
// read ahead while fn runs) and calls fn with each object, which fn owns.
// warn, if not nil, hears the API's warnings for this scope before fn sees
// the first object. An error of the LIST is wrapped as the Manager's
// are ("list: deployments.apps is forbidden: ..."); an error from fn stops
// the listing and is returned as it is.
func (p *Pager) Each(ctx context.Context, s Scope, warn func([]string), fn func(*unstructured.Unstructured) error) error {
	w := &warnings{}
	client, err := p.clientFor(w)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	ri := client.Resource(s.GVR).Namespace(s.Namespace)
	lp := pager.New(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return ri.List(ctx, o)
	})
	lp.PageSize = PageSize
	lp.PageBufferSize = 2
	var o metav1.ListOptions
	if p.opts.TweakListOptions != nil {
		p.opts.TweakListOptions(s, &o)
	}
	var fnErr error
	first := true
	err = lp.EachListItemWithAlloc(ctx, o, func(obj runtime.Object) error {
		if first && warn != nil {
			warn(w.get())
			first = false
		}
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return fmt.Errorf("list: %T is not an unstructured object", obj)
		}
		if fnErr = fn(u); fnErr != nil {
			return fnErr
		}
		return nil
	})
	if first && warn != nil {
		warn(w.get())
	}
	switch {
	case err == nil:
		return nil
	case fnErr != nil && errors.Is(err, fnErr):
		return err
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return fmt.Errorf("list: %w", &apierrors.StatusError{ErrStatus: st.Status()})
	}
	return fmt.Errorf("list: %w", err)
}
