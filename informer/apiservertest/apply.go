package apiservertest

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Client applies, edits and deletes objects the way users and controllers
// do, for setting up drift in tests and the demo.
type Client struct {
	Dynamic dynamic.Interface
	mapper  *restmapper.DeferredDiscoveryRESTMapper
}

// NewClient returns a Client for cfg.
func NewClient(cfg *rest.Config) (*Client, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{Dynamic: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// Resource returns the dynamic client for gvk in namespace ns.
func (c *Client) Resource(gvk schema.GroupVersionKind, ns string) (dynamic.ResourceInterface, error) {
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		// A CRD applied a moment ago: refresh discovery and retry.
		c.mapper.Reset()
		if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 30*time.Second, true,
			func(context.Context) (bool, error) {
				m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
				if err != nil {
					c.mapper.Reset()
				}
				return err == nil, nil
			}); err != nil {
			return nil, fmt.Errorf("%s: %w", gvk, err)
		}
	}
	if m.Scope.Name() == "namespace" {
		return c.Dynamic.Resource(m.Resource).Namespace(ns), nil
	}
	return c.Dynamic.Resource(m.Resource), nil
}

// Apply server-side applies each object as fieldManager (forcing
// conflicts), in namespace ns when the object names none. A
// CustomResourceDefinition is waited for until it is established.
func (c *Client) Apply(ctx context.Context, fieldManager, ns string, objs ...*unstructured.Unstructured) error {
	for _, o := range objs {
		o = o.DeepCopy()
		if o.GetNamespace() == "" {
			o.SetNamespace(ns)
		}
		ri, err := c.Resource(o.GroupVersionKind(), o.GetNamespace())
		if err != nil {
			return err
		}
		data, err := json.Marshal(o.Object)
		if err != nil {
			return err
		}
		force := true
		if _, err := ri.Patch(ctx, o.GetName(), types.ApplyPatchType, data,
			metav1.PatchOptions{FieldManager: fieldManager, Force: &force}); err != nil {
			return fmt.Errorf("apply %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		if o.GetKind() == "CustomResourceDefinition" {
			if err := c.waitEstablished(ctx, ri, o.GetName()); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Client) waitEstablished(ctx context.Context, ri dynamic.ResourceInterface, name string) error {
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		u, err := ri.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, cd := range conds {
			m, _ := cd.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
}

// Edit reads an object, lets mutate change it, and writes it back with an
// Update as fieldManager: what `kubectl edit` does.
func (c *Client) Edit(ctx context.Context, fieldManager string, gvk schema.GroupVersionKind, ns, name string, mutate func(*unstructured.Unstructured) error) error {
	ri, err := c.Resource(gvk, ns)
	if err != nil {
		return err
	}
	u, err := ri.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("edit %s %s: %w", gvk.Kind, name, err)
	}
	if err := mutate(u); err != nil {
		return err
	}
	if _, err := ri.Update(ctx, u, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("edit %s %s: %w", gvk.Kind, name, err)
	}
	return nil
}

// Delete deletes an object; a missing one is not an error.
func (c *Client) Delete(ctx context.Context, gvk schema.GroupVersionKind, ns, name string) error {
	ri, err := c.Resource(gvk, ns)
	if err != nil {
		return err
	}
	err = ri.Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s %s: %w", gvk.Kind, name, err)
	}
	return nil
}
