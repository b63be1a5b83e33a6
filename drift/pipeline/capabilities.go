package pipeline

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/driftwatch/driftwatch/gitsource"
)

// Capabilities reads what a Helm chart may branch on from the cluster, as
// helm install does: the server's version, the served group/versions and
// group/version/Kind names, and the default namespace. A group whose
// discovery fails (an APIService with no endpoints) is left out; the
// rest is used.
func (c *Cluster) Capabilities(ctx context.Context) (gitsource.Capabilities, error) {
	return capabilities(c.Discovery, c.Namespace)
}

func capabilities(d discovery.DiscoveryInterface, namespace string) (gitsource.Capabilities, error) {
	caps := gitsource.Capabilities{Namespace: namespace}
	v, err := d.ServerVersion()
	if err != nil {
		return caps, fmt.Errorf("cluster version: %w", err)
	}
	caps.KubeVersion = v.GitVersion
	if !strings.HasPrefix(v.GitVersion, "v1.") && v.Major != "" && v.Minor != "" {
		// A build without its version stamped in (v0.0.0-master+...):
		// the major and minor it reports are what a chart can check.
		caps.KubeVersion = "v" + v.Major + "." + strings.TrimSuffix(v.Minor, "+") + ".0"
	}
	_, lists, err := d.ServerGroupsAndResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return caps, fmt.Errorf("cluster API versions: %w", err)
	}
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			caps.APIVersions = append(caps.APIVersions, s)
		}
	}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			return caps, fmt.Errorf("cluster API versions: %w", err)
		}
		add(gv.String())
		for _, r := range l.APIResources {
			add(gv.String() + "/" + r.Kind)
		}
	}
	sort.Strings(caps.APIVersions)
	return caps, nil
}
