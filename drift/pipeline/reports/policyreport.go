package reports

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// PolicyReports converts the OpenReports objects Build made to the older
// wgpolicyk8s.io/v1alpha2 PolicyReport (for each Report) and
// ClusterPolicyReport (for each ClusterReport), with the same content.
// Their results and summary have the same fields under the same names
// (resources, message, properties, timestamp with seconds and nanos; the
// same severities); only the report's top-level source, which v1alpha2
// does not have, is dropped: each result still names driftwatch in its
// source.
func PolicyReports(s Set) (namespaced, cluster []*unstructured.Unstructured, err error) {
	for _, r := range s.Reports {
		u, err := toPolicyReport(r, "PolicyReport")
		if err != nil {
			return nil, nil, err
		}
		namespaced = append(namespaced, u)
	}
	for _, r := range s.ClusterReports {
		u, err := toPolicyReport(r, "ClusterPolicyReport")
		if err != nil {
			return nil, nil, err
		}
		cluster = append(cluster, u)
	}
	return namespaced, cluster, nil
}

func toPolicyReport(obj runtime.Object, kind string) (*unstructured.Unstructured, error) {
	u, err := toUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u.SetAPIVersion(PolicyReportResource.GroupVersion().String())
	u.SetKind(kind)
	delete(u.Object, "source")
	delete(u.Object, "configuration")
	return u, nil
}

func toUnstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// objects are set's objects as the format's resources, by key.
func (f Format) objects(set Set) (map[objectKey]*unstructured.Unstructured, error) {
	nsRes, clRes := f.Resources()
	want := map[objectKey]*unstructured.Unstructured{}
	add := func(gvr schema.GroupVersionResource, u *unstructured.Unstructured) {
		want[objectKey{gvr, u.GetNamespace(), u.GetName()}] = u
	}
	if f == PolicyReport {
		ns, cl, err := PolicyReports(set)
		if err != nil {
			return nil, err
		}
		for _, u := range ns {
			add(nsRes, u)
		}
		for _, u := range cl {
			add(clRes, u)
		}
		return want, nil
	}
	for _, r := range set.Reports {
		u, err := toUnstructured(r)
		if err != nil {
			return nil, err
		}
		add(nsRes, u)
	}
	for _, r := range set.ClusterReports {
		u, err := toUnstructured(r)
		if err != nil {
			return nil, err
		}
		add(clRes, u)
	}
	return want, nil
}
