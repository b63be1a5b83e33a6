package clusters

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Argo CD's names for its cluster Secrets.
const (
	// SecretTypeLabel marks an Argo CD cluster Secret, with value
	// SecretTypeCluster.
	SecretTypeLabel   = "argocd.argoproj.io/secret-type"
	SecretTypeCluster = "cluster"
	// InClusterServer is the server Argo CD gives the cluster it runs in.
	InClusterServer = "https://kubernetes.default.svc"
)

// debounce is how long ArgoCDSecrets waits after a change for others
// before calling onChange: a kubectl apply of several Secrets makes one
// call.
const debounce = 200 * time.Millisecond

// ArgoCDSecrets follows Argo CD's cluster Secrets (label
// argocd.argoproj.io/secret-type=cluster) in namespace through an
// informer that lists and watches only those, and calls onChange with
// every cluster they name, sorted by name: once before it returns, then
// after each add, update or delete (changes within 200ms make one
// call), until ctx ends. Calls never overlap, and the list passed is
// onChange's to keep.
//
// It returns once the informer has synced and onChange has had the
// first list, or with an error: ctx ended first, or the hub may not list
// the Secrets (the error names the namespace and says that `driftwatch
// rbac --for fleet` prints the Role it needs). Other list errors
// (network) are retried until ctx ends, as informers do.
//
// A Secret's data gives the Target: name (the Secret's own name when
// empty), server, and config, the JSON of Argo CD's ClusterConfig, of
// which bearerToken, username, password and tlsClientConfig (insecure,
// serverName, caData, certData, keyData) are read; namespaces,
// clusterResources and the rest are ignored. The server
// https://kubernetes.default.svc is the hub's own cluster, reached with
// self (a Target with Err when self is nil). A Secret whose config asks
// for execProviderConfig or awsAuthConfig, or does not parse, is a
// Target with Err; two Secrets naming the same cluster make the second
// (by Secret name) an error-Target, as Merge does.
func ArgoCDSecrets(ctx context.Context, client kubernetes.Interface, namespace string, self *rest.Config, onChange func([]Target)) error {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = SecretTypeLabel + "=" + SecretTypeCluster
		}))
	inf := factory.Core().V1().Secrets().Informer()
	// The cache keeps the data, which the targets are made from, and
	// nothing else of the Secret.
	if err := inf.SetTransform(func(obj any) (any, error) {
		if s, ok := obj.(*corev1.Secret); ok {
			s.ManagedFields, s.Annotations = nil, nil
		}
		return obj, nil
	}); err != nil {
		return fmt.Errorf("argocd cluster secrets: %w", err)
	}

	// Before the first sync, a refusal ends the wait: retrying would
	// never succeed without someone changing RBAC, and the operator
	// should hear it at start.
	runCtx, stop := context.WithCancel(ctx)
	var refused struct {
		sync.Mutex
		err error
	}
	if err := inf.SetWatchErrorHandlerWithContext(func(c context.Context, r *cache.Reflector, err error) {
		if !inf.HasSynced() && (apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)) {
			refused.Lock()
			if refused.err == nil {
				refused.err = err
			}
			refused.Unlock()
			stop()
			return
		}
		cache.DefaultWatchErrorHandler(c, r, err)
	}); err != nil {
		stop()
		return fmt.Errorf("argocd cluster secrets: %w", err)
	}

	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	})
	if err != nil {
		stop()
		return fmt.Errorf("argocd cluster secrets: %w", err)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		inf.RunWithContext(runCtx)
	}()
	if !cache.WaitForCacheSync(runCtx.Done(), reg.HasSynced) {
		stop()
		<-done
		refused.Lock()
		err := refused.err
		refused.Unlock()
		if err != nil {
			return fmt.Errorf("argocd cluster secrets: cannot list Secrets in namespace %q (%w); `driftwatch rbac --for fleet` prints the Role the hub needs there", namespace, err)
		}
		return fmt.Errorf("argocd cluster secrets in namespace %q: %w", namespace, context.Cause(ctx))
	}

	// The initial list's events are in the first call.
	select {
	case <-changed:
	default:
	}
	onChange(secretTargets(inf.GetStore().List(), self))

	go func() {
		defer stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-changed:
			}
			t := time.NewTimer(debounce)
			select {
			case <-runCtx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			// Events during the wait are in this list.
			select {
			case <-changed:
			default:
			}
			if runCtx.Err() != nil {
				return
			}
			onChange(secretTargets(inf.GetStore().List(), self))
		}
	}()
	return nil
}

// secretTargets turns the informer's Secrets into targets, sorted by
// name, a name two Secrets give an error-Target for the second.
func secretTargets(objs []any, self *rest.Config) []Target {
	var secrets []*corev1.Secret
	for _, o := range objs {
		if s, ok := o.(*corev1.Secret); ok {
			secrets = append(secrets, s)
		}
	}
	// Merge keeps the first of a name: make "first" the Secret's name
	// order, not the store's.
	slices.SortFunc(secrets, func(a, b *corev1.Secret) int { return cmp.Compare(a.Name, b.Name) })
	ts := make([]Target, 0, len(secrets))
	for _, s := range secrets {
		ts = append(ts, secretTarget(s, self))
	}
	return Merge(ts)
}

// argoConfig is the part of Argo CD's ClusterConfig (the Secret's
// config) that driftwatch reads. []byte fields are base64 in JSON, as
// Argo CD writes them.
type argoConfig struct {
	Username        string `json:"username"`
	Password        string `json:"password"`
	BearerToken     string `json:"bearerToken"`
	TLSClientConfig struct {
		Insecure   bool   `json:"insecure"`
		ServerName string `json:"serverName"`
		CAData     []byte `json:"caData"`
		CertData   []byte `json:"certData"`
		KeyData    []byte `json:"keyData"`
	} `json:"tlsClientConfig"`
	// Authentications driftwatch does not run: their presence is
	// enough to refuse.
	ExecProviderConfig json.RawMessage `json:"execProviderConfig"`
	AWSAuthConfig      json.RawMessage `json:"awsAuthConfig"`
}

// secretTarget is the Target one Argo CD cluster Secret gives (see
// ArgoCDSecrets). self reaches the hub's own cluster; nil if it has
// none.
func secretTarget(s *corev1.Secret, self *rest.Config) Target {
	origin := "Secret " + s.Namespace + "/" + s.Name
	t := Target{Name: string(s.Data["name"]), Server: string(s.Data["server"]), Origin: origin}
	if t.Name == "" {
		t.Name = s.Name
	}
	fail := func(err error) Target {
		t.Err = fmt.Errorf("%s: %w", origin, err)
		return t
	}
	if t.Server == "" {
		return fail(errors.New("no server"))
	}
	var c argoConfig
	if raw := s.Data["config"]; len(raw) > 0 {
		if err := json.Unmarshal(raw, &c); err != nil {
			return fail(fmt.Errorf("config: %w", err))
		}
	}
	switch {
	case notNull(c.ExecProviderConfig):
		return fail(errors.New("execProviderConfig is not supported; use a bearer token"))
	case notNull(c.AWSAuthConfig):
		return fail(errors.New("awsAuthConfig is not supported; use a bearer token"))
	}
	if strings.TrimSuffix(t.Server, "/") == InClusterServer {
		if self == nil {
			return fail(errors.New("server " + InClusterServer + " is the hub's own cluster, and the hub runs outside a cluster"))
		}
		t.Config = rest.CopyConfig(self)
		return t
	}
	cfg := &rest.Config{
		Host:        t.Server,
		Username:    c.Username,
		Password:    c.Password,
		BearerToken: c.BearerToken,
		TLSClientConfig: rest.TLSClientConfig{
			Insecure:   c.TLSClientConfig.Insecure,
			ServerName: c.TLSClientConfig.ServerName,
			CAData:     c.TLSClientConfig.CAData,
			CertData:   c.TLSClientConfig.CertData,
			KeyData:    c.TLSClientConfig.KeyData,
		},
	}
	if cfg.Insecure {
		// client-go refuses a CA with insecure; Argo CD's secrets
		// may hold both, and insecure wins there.
		cfg.CAData = nil
	}
	// Bad PEM shows now, as this target's error, not at the hub's first
	// request.
	if _, err := rest.TLSConfigFor(cfg); err != nil {
		return fail(fmt.Errorf("tlsClientConfig: %w", err))
	}
	t.Config = cfg
	return t
}

func notNull(m json.RawMessage) bool { return len(m) > 0 && string(m) != "null" }
