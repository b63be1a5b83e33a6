package informer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	kjson "sigs.k8s.io/json"
)

// PageSize is how many objects one LIST request of a Pager asks for.
const PageSize = 500

// Pager lists scopes once, page by page, handing each object to a function
// as it is decoded and keeping none: what a one-shot check needs, where an
// informer would hold every object until the end. It records the warnings
// the API server sends about each scope's requests, as the Manager does.
// It is safe for concurrent use.
//
// A page is decoded as it is read, one item at a time: the dynamic
// client's List reads a whole page into memory, then decodes it twice
// over (the items as raw messages, then the whole list as maps, of which
// it keeps only the list's metadata), then each item. At 100,000 objects
// that decoding was a third of a check's CPU and, with four scopes listed
// at once and two pages read ahead each, 40 MB of a check's live heap
// (the bench's gctrace). Here the response body streams through one
// decoder; the next page is requested as soon as this page's metadata
// gives its continue token, so that the API server prepares it while this
// one is compared.
type Pager struct {
	opts Options
	// pageSize is PageSize but in tests.
	pageSize int64
	// clientFor returns a REST client whose requests report warnings to
	// warn.
	clientFor func(warn rest.WarningHandler) (rest.Interface, error)
}

// NewPagerForConfig returns a Pager whose requests share one HTTP client.
// opts.TweakListOptions narrows each LIST as it narrows an informer's;
// opts.Transform is not used (objects are not kept).
func NewPagerForConfig(cfg *rest.Config, opts Options) (*Pager, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return &Pager{opts: opts, pageSize: PageSize, clientFor: func(warn rest.WarningHandler) (rest.Interface, error) {
		// As the dynamic client is made (dynamic.NewForConfigAndClient),
		// asking for JSON only: the items are decoded as they stream.
		c := dynamic.ConfigFor(cfg)
		c.AcceptContentTypes = "application/json"
		c.GroupVersion = nil
		c.APIPath = "/if-you-see-this-search-for-the-break"
		c.WarningHandler = warn
		return rest.UnversionedRESTClientForConfigAndClient(c, hc)
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

// Each lists scope page by page (PageSize objects a request, the next
// page requested while this one is decoded) and calls fn with each object,
// which fn owns. warn, if not nil, hears the API's warnings for this scope
// before fn sees the first object. An error of the LIST is wrapped as the
// Manager's are ("list: deployments.apps is forbidden: ..."); an error
// from fn stops the listing and is returned as it is.
func (p *Pager) Each(ctx context.Context, s Scope, warn func([]string), fn func(*unstructured.Unstructured) error) error {
	w := &warnings{}
	client, err := p.clientFor(w)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // a page requested ahead, when fn stopped the listing
	var o metav1.ListOptions
	if p.opts.TweakListOptions != nil {
		p.opts.TweakListOptions(s, &o)
	}
	o.Limit = p.pageSize
	path := urlSegments(s)
	request := func(cont string) <-chan opened {
		c := make(chan opened, 1)
		go func() {
			lo := o
			lo.Continue = cont
			body, err := client.Get().AbsPath(path...).SpecificallyVersionedParams(&lo, metav1.ParameterCodec, metav1.SchemeGroupVersion).Stream(ctx)
			c <- opened{body, err}
		}()
		return c
	}
	first := true
	tell := func() {
		if first && warn != nil {
			warn(w.get())
		}
		first = false
	}
	var fnErr error
	for page := request(""); page != nil; {
		r := <-page
		if r.err != nil {
			err = r.err
			break
		}
		page = nil
		err = eachItem(r.body, func(cont string) {
			if cont != "" {
				page = request(cont)
			}
		}, func(u *unstructured.Unstructured) error {
			tell()
			fnErr = fn(u)
			return fnErr
		})
		r.body.Close()
		if err != nil {
			if page != nil { // requested ahead: cancelled, its body closed
				cancel()
				if r := <-page; r.body != nil {
					r.body.Close()
				}
			}
			break
		}
	}
	tell()
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

// opened is a page's response body, or why there is none.
type opened struct {
	body io.ReadCloser
	err  error
}

// urlSegments is a scope's collection path, as the dynamic client makes
// it: /api/v1/namespaces/NS/configmaps, /apis/apps/v1/deployments.
func urlSegments(s Scope) []string {
	url := []string{"api"}
	if s.GVR.Group != "" {
		url = []string{"apis", s.GVR.Group}
	}
	url = append(url, s.GVR.Version)
	if s.Namespace != "" {
		url = append(url, "namespaces", s.Namespace)
	}
	return append(url, s.GVR.Resource)
}

// eachItem decodes one page of a LIST, a JSON object whose "items" array
// holds the objects, and calls fn with each item as it is decoded. more
// hears the list's continue token ("" on the last page) as soon as the
// list's metadata is read, which the API server writes before the items.
// Items are decoded as the dynamic client decodes them
// (unstructured.UnstructuredJSONScheme: integers kept as int64, field
// names matched case-sensitively), and an item without kind and
// apiVersion gets the list's, less its "List" suffix. Should the items
// come before the list's kind, they are held until it is read.
func eachItem(r io.Reader, more func(cont string), fn func(*unstructured.Unstructured) error) error {
	dec := kjson.NewDecoderCaseSensitivePreserveInts(r)
	if err := delim(dec, '{'); err != nil {
		return err
	}
	var apiVersion, kind string
	var held []*unstructured.Unstructured
	told := false
	deliver := func(u *unstructured.Unstructured) error {
		if u.GetKind() == "" && u.GetAPIVersion() == "" {
			u.SetKind(strings.TrimSuffix(kind, "List"))
			u.SetAPIVersion(apiVersion)
		}
		return fn(u)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("decoding the list: %w", err)
		}
		key, _ := tok.(string)
		switch key {
		case "apiVersion":
			err = dec.Decode(&apiVersion)
		case "kind":
			err = dec.Decode(&kind)
		case "metadata":
			var meta metav1.ListMeta
			if err = dec.Decode(&meta); err == nil && !told {
				told = true
				more(meta.Continue)
			}
		case "items":
			var open json.Token
			if open, err = dec.Token(); err != nil {
				return fmt.Errorf("decoding the list's items: %w", err)
			}
			if open == nil { // "items": null, as some aggregated APIs write an empty list
				continue
			}
			if d, ok := open.(json.Delim); !ok || d != '[' {
				return fmt.Errorf("decoding the list: got %v, want [", open)
			}
			for dec.More() {
				u := &unstructured.Unstructured{}
				if err := dec.Decode(&u.Object); err != nil {
					return fmt.Errorf("decoding the list's items: %w", err)
				}
				if u.Object == nil {
					return errors.New("decoding the list's items: an item is null")
				}
				if kind == "" {
					held = append(held, u)
					continue
				}
				if err := deliver(u); err != nil {
					return err
				}
			}
			err = delim(dec, ']')
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return fmt.Errorf("decoding the list's %s: %w", key, err)
		}
	}
	if err := delim(dec, '}'); err != nil {
		return err
	}
	if !told {
		more("")
	}
	for _, u := range held {
		if err := deliver(u); err != nil {
			return err
		}
	}
	return nil
}

// delim reads the JSON delimiter want.
func delim(dec kjson.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("decoding the list: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("decoding the list: got %v, want %s", tok, string(want))
	}
	return nil
}
