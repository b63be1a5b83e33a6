package fleettest

import (
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Kubeconfig returns a kubeconfig with one cluster, user and context per
// served cluster, each named as the cluster, its server
// URL/clusters/<name>; the current context is the first cluster.
func (s *Server) Kubeconfig() *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	for _, c := range s.clusters {
		cfg.Clusters[c.name] = &clientcmdapi.Cluster{Server: s.ClusterURL(c.name)}
		cfg.AuthInfos[c.name] = &clientcmdapi.AuthInfo{Token: "fleettest-" + c.name}
		cfg.Contexts[c.name] = &clientcmdapi.Context{Cluster: c.name, AuthInfo: c.name}
	}
	if len(s.clusters) > 0 {
		cfg.CurrentContext = s.clusters[0].name
	}
	return cfg
}

// WriteKubeconfig writes Kubeconfig to path.
func (s *Server) WriteKubeconfig(path string) error {
	if err := clientcmd.WriteToFile(*s.Kubeconfig(), path); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	return nil
}
