package informertest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftwatch/driftwatch/informer"
)

var (
	cms     = informer.Scope{GVR: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, Namespace: "ns"}
	secrets = informer.Scope{GVR: schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, Namespace: "ns"}
)

func cm(name, value string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": name},
		"data":     map[string]any{"k": value},
	}}
}

// recorder is a handler that writes down what it receives.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) handler() informer.EventHandler {
	return informer.EventHandler{
		OnEvent: func(s informer.Scope, name string, t informer.EventType) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.got = append(r.got, fmt.Sprintf("%s %s %s", t, s.GVR.Resource, name))
		},
		OnConnection: func(s informer.Scope, err error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.got = append(r.got, fmt.Sprintf("connection %s %v", s.GVR.Resource, err))
		},
	}
}

func (r *recorder) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func TestManagerEvents(t *testing.T) {
	for _, tc := range []struct {
		name string
		act  func(m *Manager)
		want []string
	}{{
		name: "no informer: store only",
		act: func(m *Manager) {
			m.Add(cms, cm("a", "1"))
			m.Update(cms, cm("a", "2"))
			m.Delete(cms, "a")
		},
	}, {
		name: "running informer: every change",
		act: func(m *Manager) {
			m.Ensure(cms)
			m.Add(cms, cm("a", "1"))
			m.Update(cms, cm("a", "2"))
			m.Add(cms, cm("a", "3")) // replaces: an update
			m.Delete(cms, "a")
			m.Delete(cms, "a") // gone already: nothing
			m.Update(cms, cm("b", "1"))
		},
		want: []string{"Added configmaps a", "Updated configmaps a", "Updated configmaps a", "Deleted configmaps a", "Added configmaps b"},
	}, {
		name: "objects before Ensure are listed, not replayed",
		act: func(m *Manager) {
			m.Add(cms, cm("a", "1"))
			m.Ensure(cms)
			m.Update(cms, cm("a", "2"))
		},
		want: []string{"Updated configmaps a"},
	}, {
		name: "only the scope's informer",
		act: func(m *Manager) {
			m.Ensure(cms)
			m.Add(secrets, cm("s", "1"))
			m.Add(cms, cm("a", "1"))
		},
		want: []string{"Added configmaps a"},
	}, {
		name: "failed informer: none",
		act: func(m *Manager) {
			m.SetSyncError(cms, errors.New("forbidden"))
			m.Ensure(cms)
			m.Add(cms, cm("a", "1"))
		},
	}, {
		name: "removed informer: none",
		act: func(m *Manager) {
			m.Ensure(cms)
			m.Remove(cms)
			m.Add(cms, cm("a", "1"))
		},
	}, {
		name: "stopped: none",
		act: func(m *Manager) {
			m.Ensure(cms)
			m.Stop()
			m.Add(cms, cm("a", "1"))
		},
	}, {
		name: "connection transitions only",
		act: func(m *Manager) {
			m.SetHealth(cms, informer.Health{Err: errors.New("early")}) // not running
			m.SetHealth(cms, informer.Health{})
			m.Ensure(cms)
			m.SetHealth(cms, informer.Health{Lists: 1})
			m.SetHealth(cms, informer.Health{Lists: 1, Err: errors.New("refused")})
			m.SetHealth(cms, informer.Health{Lists: 1, Err: errors.New("refused again")})
			m.SetHealth(cms, informer.Health{Lists: 2})
		},
		want: []string{"connection configmaps refused", "connection configmaps <nil>"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			m := New()
			var r recorder
			if _, err := m.AddEventHandler(r.handler()); err != nil {
				t.Fatal(err)
			}
			tc.act(m)
			if diff := cmp.Diff(tc.want, r.events()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestManagerSync(t *testing.T) {
	forbidden := errors.New("configmaps is forbidden")
	for _, tc := range []struct {
		name    string
		act     func(m *Manager)
		wantErr string // of WaitForSync, Get and List; "" means synced
		want    []string
	}{{
		name:    "never ensured",
		act:     func(m *Manager) {},
		wantErr: "no informer for configmaps/v1 in namespace ns",
	}, {
		name: "synced at once, sorted",
		act: func(m *Manager) {
			m.Add(cms, cm("b", "1"))
			m.Add(cms, cm("a", "1"))
			m.Ensure(cms)
		},
		want: []string{"a", "b"},
	}, {
		name: "sync error",
		act: func(m *Manager) {
			m.Add(cms, cm("a", "1"))
			m.SetSyncError(cms, forbidden)
			m.Ensure(cms)
		},
		wantErr: forbidden.Error(),
	}, {
		name: "sync error latched until restarted",
		act: func(m *Manager) {
			m.SetSyncError(cms, forbidden)
			m.Ensure(cms)
			m.SetSyncError(cms, nil)
		},
		wantErr: forbidden.Error(),
	}, {
		name: "restarted after the error cleared",
		act: func(m *Manager) {
			m.Add(cms, cm("a", "1"))
			m.SetSyncError(cms, forbidden)
			m.Ensure(cms)
			m.SetSyncError(cms, nil)
			m.Remove(cms)
			m.Ensure(cms)
		},
		want: []string{"a"},
	}, {
		name: "error set while running does not unsync",
		act: func(m *Manager) {
			m.Ensure(cms)
			m.SetSyncError(cms, forbidden)
		},
		want: []string{},
	}, {
		name: "removed",
		act: func(m *Manager) {
			m.Ensure(cms)
			m.Remove(cms)
		},
		wantErr: "no informer for",
	}, {
		name: "stopped",
		act: func(m *Manager) {
			m.Ensure(cms)
			m.Stop()
			m.Ensure(cms)
		},
		wantErr: "no informer for",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			m := New()
			tc.act(m)
			errs := m.WaitForSync(context.Background(), cms)
			list, listErr := m.List(cms)
			missing, getErr := m.Get(cms, "missing")
			for what, err := range map[string]error{"WaitForSync": errs[cms], "List": listErr, "Get": getErr} {
				switch {
				case tc.wantErr == "" && err != nil:
					t.Errorf("%s: %v", what, err)
				case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
					t.Errorf("%s: error %v, want %q", what, err, tc.wantErr)
				}
			}
			if tc.wantErr != "" {
				return
			}
			if missing != nil {
				t.Errorf("Get of a missing object: %v", missing)
			}
			var names []string
			for _, u := range list {
				names = append(names, u.GetName())
				if got, _ := m.Get(cms, u.GetName()); got != u {
					t.Errorf("Get(%s) is not the stored object", u.GetName())
				}
				if u.GetNamespace() != "ns" {
					t.Errorf("%s: namespace %q, want the scope's", u.GetName(), u.GetNamespace())
				}
			}
			if diff := cmp.Diff(tc.want, append([]string{}, names...)); diff != "" {
				t.Errorf("List (-want +got):\n%s", diff)
			}
			if got := m.CacheSizes()[cms]; got != len(tc.want) {
				t.Errorf("CacheSizes: %d, want %d", got, len(tc.want))
			}
		})
	}
}

func TestManagerBookkeeping(t *testing.T) {
	m := New()
	m.Ensure(secrets, cms)
	m.Ensure(cms) // running: not started again
	m.Remove(secrets)
	m.Remove(secrets) // not running: not counted
	m.Ensure(secrets)
	m.SetWarnings(cms, []string{"v1 ConfigMap is fine"})
	if diff := cmp.Diff([]informer.Scope{secrets, cms, secrets}, m.Started()); diff != "" {
		t.Errorf("Started (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]informer.Scope{secrets}, m.Removed()); diff != "" {
		t.Errorf("Removed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]informer.Scope{cms, secrets}, m.Scopes()); diff != "" {
		t.Errorf("Scopes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"v1 ConfigMap is fine"}, m.Warnings(cms)); diff != "" {
		t.Errorf("Warnings (-want +got):\n%s", diff)
	}
	if h := m.Health(); len(h) != 2 {
		t.Errorf("Health: %v, want one entry per running informer", h)
	}

	reg, err := m.AddEventHandler(informer.EventHandler{})
	if err != nil || m.Handlers() != 1 {
		t.Fatalf("AddEventHandler: %v, %d handlers", err, m.Handlers())
	}
	m.RemoveEventHandler(reg)
	m.RemoveEventHandler(reg) // twice: no-op
	if m.Handlers() != 0 {
		t.Errorf("%d handlers after removal", m.Handlers())
	}

	m.Stop()
	if _, err := m.AddEventHandler(informer.EventHandler{}); !errors.Is(err, informer.ErrStopped) {
		t.Errorf("AddEventHandler after Stop: %v, want ErrStopped", err)
	}
	if s := m.Scopes(); len(s) != 0 {
		t.Errorf("Scopes after Stop: %v", s)
	}
	if w := m.Warnings(cms); w != nil {
		t.Errorf("Warnings after Stop: %v", w)
	}
}

// TestManagerRemoveHandlerConcurrent checks, under -race, that no call
// reaches a handler once RemoveEventHandler returned, while events fire.
func TestManagerRemoveHandlerConcurrent(t *testing.T) {
	m := New()
	m.Ensure(cms)
	var removed, late atomic.Bool
	var calls atomic.Int64
	reg, err := m.AddEventHandler(informer.EventHandler{OnEvent: func(informer.Scope, string, informer.EventType) {
		calls.Add(1)
		if removed.Load() {
			late.Store(true)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range 4 {
		wg.Go(func() {
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				m.Update(cms, cm(fmt.Sprintf("o%d", i), fmt.Sprint(j)))
			}
		})
	}
	for calls.Load() < 100 {
		m.List(cms) // some reads meanwhile
	}
	m.RemoveEventHandler(reg)
	removed.Store(true)
	for range 1000 {
		m.Get(cms, "o0")
	}
	close(stop)
	wg.Wait()
	if late.Load() {
		t.Error("a call reached the handler after RemoveEventHandler returned")
	}
}

func TestResolver(t *testing.T) {
	widget := schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}
	widgets := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	boom := errors.New("discovery failed")
	for _, tc := range []struct {
		name    string
		act     func(r *Resolver)
		want    informer.Mapping
		wantErr error
	}{{
		name:    "unknown kind is not served",
		act:     func(r *Resolver) {},
		wantErr: informer.ErrNotServed,
	}, {
		name: "mapping",
		act:  func(r *Resolver) { r.SetMapping(widget, informer.Mapping{GVR: widgets, Namespaced: true}) },
		want: informer.Mapping{GVK: widget, GVR: widgets, Namespaced: true},
	}, {
		name: "error wins over mapping",
		act: func(r *Resolver) {
			r.SetMapping(widget, informer.Mapping{GVR: widgets})
			r.SetError(widget, boom)
		},
		wantErr: boom,
	}, {
		name: "mapping clears error",
		act: func(r *Resolver) {
			r.SetError(widget, boom)
			r.SetMapping(widget, informer.Mapping{GVR: widgets})
		},
		want: informer.Mapping{GVK: widget, GVR: widgets},
	}, {
		name: "forgotten",
		act: func(r *Resolver) {
			r.SetMapping(widget, informer.Mapping{GVR: widgets})
			r.Forget(widget)
		},
		wantErr: informer.ErrNotServed,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewResolver()
			tc.act(r)
			got, err := r.Resolve(context.Background(), widget)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Resolve: error %v, want %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Resolve (-want +got):\n%s", diff)
			}
		})
	}
	r := NewResolver()
	r.Invalidate()
	r.Invalidate()
	if n := r.Invalidations(); n != 2 {
		t.Errorf("Invalidations: %d, want 2", n)
	}
}
