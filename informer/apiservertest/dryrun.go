package apiservertest

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
)

// Warnings records the warning headers the API server sends (Pod
// Security, deprecated APIs), for tests that allow none.
type Warnings struct {
	mu   sync.Mutex
	msgs []string
}

// HandleWarningHeaderWithContext implements rest.WarningHandlerWithContext.
func (w *Warnings) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

// Take returns the warnings recorded since the last Take.
func (w *Warnings) Take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

// NewWarnedClient is NewClient for a copy of cfg whose API server
// warnings are recorded in the returned Warnings instead of logged.
func NewWarnedClient(cfg *rest.Config) (*Client, *Warnings, error) {
	w := &Warnings{}
	c := rest.CopyConfig(cfg)
	c.WarningHandlerWithContext = w
	cl, err := NewClient(c)
	return cl, w, err
}

// StrictDryRun are the options of a server-side dry-run create with
// strict field validation: unknown or misspelt fields and bad values
// fail, and nothing is stored.
func StrictDryRun() metav1.CreateOptions {
	return metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"}
}

// DryRunCreate sends u to the API server as a dry-run create with strict
// field validation (StrictDryRun).
func (c *Client) DryRunCreate(ctx context.Context, u *unstructured.Unstructured) error {
	ri, err := c.Resource(u.GroupVersionKind(), u.GetNamespace())
	if err != nil {
		return err
	}
	_, err = ri.Create(ctx, u, StrictDryRun())
	return err
}

// PodFromTemplate is the Pod a controller would create from tmpl, named
// name in namespace ns: what admission (Pod Security) judges.
func PodFromTemplate(name, ns string, tmpl corev1.PodTemplateSpec) (*unstructured.Unstructured, error) {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: tmpl.Labels, Annotations: tmpl.Annotations},
		Spec:       tmpl.Spec,
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
	if err != nil {
		return nil, fmt.Errorf("pod from template: %w", err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}
