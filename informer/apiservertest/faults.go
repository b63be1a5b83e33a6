package apiservertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Faults: the control-plane failures the reliability tests inject. They
// act on real processes: the kube-apiserver is stopped and started again,
// a second kube-apiserver serves the same etcd, and etcd's history is
// compacted through its own API.

// errNotRestartable is returned by StartAPIServer on an Env that was not
// started with Options.Restartable.
var errNotRestartable = errors.New("restart API server: the environment was not started Restartable")

// StopAPIServer stops the kube-apiserver process; etcd keeps running. The
// process gets SIGTERM and, if it has not exited after RestartGrace,
// SIGKILL: a graceful kube-apiserver waits up to a minute for open watches
// to end, so its clients see a crash either way.
func (e *Env) StopAPIServer() error {
	api := e.env.ControlPlane.APIServer
	err := api.Stop()
	if err != nil && !strings.Contains(err.Error(), "timeout waiting for process") {
		return fmt.Errorf("stop API server: %w", err)
	}
	// Killed or not, the port must be free before a restart can bind it.
	return waitClosed(api.SecureServing.Address+":"+api.SecureServing.Port, time.Minute)
}

// waitClosed waits until nothing accepts connections on addr.
func waitClosed(addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return nil
		}
		c.Close()
		if time.Now().After(deadline) {
			return fmt.Errorf("stop API server: %s still accepts connections after %s", addr, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StartAPIServer starts the kube-apiserver again after StopAPIServer, on
// the same etcd, address, serving certificate and client CA, so Config and
// every user added before keep working.
func (e *Env) StartAPIServer() error {
	if e.certDir == "" {
		return errNotRestartable
	}
	if err := e.env.ControlPlane.APIServer.Start(); err != nil {
		return fmt.Errorf("start API server: %w", err)
	}
	return nil
}

// Peer is a second kube-apiserver on the Env's etcd: another member of the
// same control plane, through which tests change objects while the first
// one is down.
type Peer struct {
	// Config is an admin rest.Config for the peer.
	Config *rest.Config
	api    *envtest.APIServer
}

// StartPeer starts a second kube-apiserver on the Env's etcd, with its own
// port, certificates and admin user.
func (e *Env) StartPeer() (*Peer, error) {
	first := e.env.ControlPlane.APIServer
	api := &envtest.APIServer{
		EtcdURL:      e.env.ControlPlane.Etcd.URL,
		Path:         first.Path,
		StartTimeout: first.StartTimeout,
		StopTimeout:  first.StopTimeout,
	}
	if err := api.Start(); err != nil {
		return nil, fmt.Errorf("start peer API server: %w", err)
	}
	plane := &envtest.ControlPlane{APIServer: api}
	u, err := plane.AddUser(envtest.User{Name: "peer-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		api.Stop()
		return nil, fmt.Errorf("start peer API server: %w", err)
	}
	return &Peer{Config: u.Config(), api: api}, nil
}

// Stop stops the peer API server.
func (p *Peer) Stop() error { return p.api.Stop() }

// CompactEtcd compacts etcd's key-value history up to its current
// revision and returns that revision: afterwards a watch or list from any
// older resource version gets 410 Gone, as after etcd's periodic
// compaction on a long-running cluster. It uses etcd's own HTTP gateway
// (the gRPC API as JSON), which etcd serves on its client URL.
func (e *Env) CompactEtcd(ctx context.Context) (int64, error) {
	base := e.env.ControlPlane.Etcd.URL.String()
	// A range request on any key returns the store's current revision.
	var status struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
	}
	if err := etcdCall(ctx, base+"/v3/kv/range", map[string]any{"key": "AA=="}, &status); err != nil {
		return 0, err
	}
	rev, err := strconv.ParseInt(status.Header.Revision, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("compact etcd: revision %q: %w", status.Header.Revision, err)
	}
	if err := etcdCall(ctx, base+"/v3/kv/compaction", map[string]any{"revision": rev, "physical": true}, nil); err != nil {
		return 0, err
	}
	return rev, nil
}

func etcdCall(ctx context.Context, url string, body any, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("etcd %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("etcd %s: %w", url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("etcd %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd %s: %s: %s", url, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("etcd %s: %w", url, err)
		}
	}
	return nil
}
