package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline"
	"github.com/driftwatch/driftwatch/drift/pipeline/reports"
)

// clusterOptions are the kubectl-style flags that choose a cluster.
type clusterOptions struct {
	Kubeconfig string
	Context    string
	Namespace  string
}

// connect loads the client configuration the way kubectl does (--kubeconfig,
// then $KUBECONFIG, then ~/.kube/config, then the in-cluster service account)
// and checks the API server answers.
func connect(ctx context.Context, o clusterOptions) (*pipeline.Cluster, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.Kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: o.Context}
	if o.Namespace != "" {
		overrides.Context.Namespace = o.Namespace
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if clientcmd.IsEmptyConfig(err) {
		// client-go's own advice names KUBERNETES_MASTER, which is not how
		// driftwatch is told where the cluster is.
		return nil, errors.New("kubeconfig: no cluster configured: pass --kubeconfig or --context, set $KUBECONFIG, or write ~/.kube/config (in a Pod, its service account is used)")
	}
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.UserAgent = "driftwatch/" + version
	// Room for many informers listing at once; client-go's default of 5 QPS
	// would serialise the initial LISTs.
	cfg.QPS, cfg.Burst = 50, 100
	instrument(cfg)
	ctxName := o.Context
	if ctxName == "" {
		if raw, err := cc.RawConfig(); err == nil {
			ctxName = raw.CurrentContext
		}
	}
	// Discovery gets a request timeout; informers must not (it would cut
	// their long-running watches).
	dcfg := rest.CopyConfig(cfg)
	dcfg.Timeout = 30 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(dcfg)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", cfg.Host, err)
	}
	v, err := dc.ServerVersion()
	switch {
	case apierrors.IsUnauthorized(err):
		return nil, fmt.Errorf("cluster %s refused the credentials of context %q (401 Unauthorized): %w", cfg.Host, ctxName, err)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("cluster %s: context %q may not read the server version (403 Forbidden): %w", cfg.Host, ctxName, err)
	case err != nil:
		return nil, fmt.Errorf("cluster %s is unreachable: %w", cfg.Host, err)
	}
	return &pipeline.Cluster{
		Config: cfg, Namespace: ns, Discovery: dc,
		Info: drift.Cluster{Server: cfg.Host, Context: ctxName, Version: v.GitVersion},
	}, nil
}

// newPublisher makes the publisher of report objects in format
// (openreports or policyreport) for a cluster, and checks the cluster
// serves them (a missing CRD is one line naming the fix).
func newPublisher(ctx context.Context, cl *pipeline.Cluster, format string, interval time.Duration) (*reports.Publisher, error) {
	f, err := reports.ParseFormat(format)
	if err != nil {
		return nil, fmt.Errorf("flag --reports: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cl.Config)
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	// check (interval 0) writes its heartbeat every run; watch at most
	// once a minute, so an idle cluster costs one write a minute.
	p := &reports.Publisher{Client: dyn, Format: f, Interval: interval, Agent: "check " + version}
	if interval > 0 {
		p.Agent, p.HeartbeatEvery = "watch "+version, time.Minute
	}
	if err := p.Check(ctx); err != nil {
		return nil, fmt.Errorf("flag --reports: %w", err)
	}
	return p, nil
}
