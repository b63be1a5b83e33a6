// Package apiservertest starts a real kube-apiserver and etcd for tests and
// the demo, through controller-runtime's envtest, from binaries that
// `make envtest` builds from source (KUBEBUILDER_ASSETS points at them).
package apiservertest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ErrNoAssets is returned when KUBEBUILDER_ASSETS is not set.
var ErrNoAssets = errors.New("KUBEBUILDER_ASSETS is not set: run `make envtest` (or `make test`), which builds kube-apiserver and etcd")

// Env is a running API server with etcd.
type Env struct {
	// Config is an admin rest.Config for the API server.
	Config *rest.Config
	env    *envtest.Environment
	// certDir is the API server's own certificate directory when the Env
	// was started Restartable; Stop removes it.
	certDir string
}

// Options change how Start runs the control plane.
type Options struct {
	// Restartable keeps the API server's serving certificate, client CA,
	// port and admin credentials across StopAPIServer and StartAPIServer,
	// so that clients made before a restart reconnect as they would to a
	// real control plane.
	Restartable bool
	// APIServerFlags are extra kube-apiserver flags without the leading
	// dashes, e.g. {"watch-cache": "false"}.
	APIServerFlags map[string]string
}

// RestartGrace is how long a Restartable API server may take to stop
// before it is killed.
const RestartGrace = 3 * time.Second

// Start starts kube-apiserver and etcd.
func Start() (*Env, error) { return StartWith(Options{}) }

// StartWith starts kube-apiserver and etcd as o says.
func StartWith(o Options) (*Env, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, ErrNoAssets
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	e := &Env{env: env}
	api := env.ControlPlane.GetAPIServer()
	if o.Restartable {
		// envtest regenerates certificates in a directory it allocated
		// itself on every start; in one we own, it keeps them.
		dir, err := os.MkdirTemp("", "driftwatch-apiserver-")
		if err != nil {
			return nil, fmt.Errorf("start API server: %w", err)
		}
		api.CertDir, e.certDir = dir, dir
		env.ControlPlaneStopTimeout = RestartGrace
	}
	for k, v := range o.APIServerFlags {
		api.Configure().Set(k, v)
	}
	cfg, err := env.Start()
	if err != nil {
		e.removeCertDir()
		return nil, fmt.Errorf("start API server: %w", err)
	}
	e.Config = cfg
	return e, nil
}

// Stop stops the API server and etcd.
func (e *Env) Stop() error {
	defer e.removeCertDir()
	return e.env.Stop()
}

func (e *Env) removeCertDir() {
	if e.certDir != "" {
		os.RemoveAll(e.certDir)
	}
}

// AddUser creates a user in the given groups and returns its rest.Config
// (for RBAC tests: no group means no permissions beyond discovery).
func (e *Env) AddUser(name string, groups ...string) (*rest.Config, error) {
	u, err := e.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return nil, err
	}
	return u.Config(), nil
}

// WriteKubeconfig writes a kubeconfig for cfg to dir/kubeconfig with
// context name ctxName and default namespace ns, and returns its path.
func WriteKubeconfig(cfg *rest.Config, dir, ctxName, ns string) (string, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
	}
	kc.AuthInfos["user"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
		Token:                 cfg.BearerToken,
	}
	kc.Contexts[ctxName] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "user", Namespace: ns}
	kc.CurrentContext = ctxName
	path := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return "", fmt.Errorf("write kubeconfig: %w", err)
	}
	return path, nil
}
