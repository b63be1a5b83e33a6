// Package kubedefaults gives the defaults the API server writes into
// built-in kinds, from the Kubernetes source compiled in (the generated
// SetObjectDefaults_* functions of k8s.io/kubernetes/pkg/apis/<group>/<version>,
// registered in a runtime.Scheme, as the API server and Argo CD's
// gitops-engine do).
//
// The OpenAPI documents the cluster publishes do not declare these
// defaults (fieldRef.apiVersion defaults to v1 only in a description), and
// many of them sit inside atomic structures that server-side apply
// replaces whole, so a comparison that does not know them reports the
// server's own defaults as drift. The defaults are those of Version; a
// cluster of another minor version may default differently.
package kubedefaults

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	admissionregistrationv1 "k8s.io/kubernetes/pkg/apis/admissionregistration/v1"
	admissionregistrationv1beta1 "k8s.io/kubernetes/pkg/apis/admissionregistration/v1beta1"
	appsv1 "k8s.io/kubernetes/pkg/apis/apps/v1"
	autoscalingv1 "k8s.io/kubernetes/pkg/apis/autoscaling/v1"
	autoscalingv2 "k8s.io/kubernetes/pkg/apis/autoscaling/v2"
	batchv1 "k8s.io/kubernetes/pkg/apis/batch/v1"
	certificatesv1 "k8s.io/kubernetes/pkg/apis/certificates/v1"
	coordinationv1 "k8s.io/kubernetes/pkg/apis/coordination/v1"
	corev1 "k8s.io/kubernetes/pkg/apis/core/v1"
	discoveryv1 "k8s.io/kubernetes/pkg/apis/discovery/v1"
	flowcontrolv1 "k8s.io/kubernetes/pkg/apis/flowcontrol/v1"
	networkingv1 "k8s.io/kubernetes/pkg/apis/networking/v1"
	policyv1 "k8s.io/kubernetes/pkg/apis/policy/v1"
	rbacv1 "k8s.io/kubernetes/pkg/apis/rbac/v1"
	resourcev1 "k8s.io/kubernetes/pkg/apis/resource/v1"
	schedulingv1 "k8s.io/kubernetes/pkg/apis/scheduling/v1"
	storagev1 "k8s.io/kubernetes/pkg/apis/storage/v1"
)

// Version is the Kubernetes release whose defaults are compiled in: the
// k8s.io/kubernetes version go.mod requires (a test keeps them equal).
const Version = "v1.37.2"

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	for _, register := range []func(*runtime.Scheme) error{
		admissionregistrationv1.RegisterDefaults, admissionregistrationv1beta1.RegisterDefaults,
		appsv1.RegisterDefaults, autoscalingv1.RegisterDefaults, autoscalingv2.RegisterDefaults,
		batchv1.RegisterDefaults, certificatesv1.RegisterDefaults, coordinationv1.RegisterDefaults,
		corev1.RegisterDefaults, discoveryv1.RegisterDefaults, flowcontrolv1.RegisterDefaults,
		networkingv1.RegisterDefaults, policyv1.RegisterDefaults, rbacv1.RegisterDefaults,
		resourcev1.RegisterDefaults, schedulingv1.RegisterDefaults, storagev1.RegisterDefaults,
	} {
		_ = register(s)
	}
	return s
}()

// Known reports whether the defaults of gvk are compiled in.
func Known(gvk schema.GroupVersionKind) bool { return scheme.Recognizes(gvk) }

// Default returns obj with the server's defaults applied, as a new object,
// or nil when its kind is not built in or obj does not decode into its Go
// type. obj is not modified.
func Default(obj *unstructured.Unstructured) *unstructured.Unstructured {
	gvk := obj.GroupVersionKind()
	if !scheme.Recognizes(gvk) {
		return nil
	}
	typed, err := scheme.New(gvk)
	if err != nil {
		return nil
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.UnstructuredContent(), typed); err != nil {
		return nil
	}
	scheme.Default(typed)
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(typed)
	if err != nil {
		return nil
	}
	return &unstructured.Unstructured{Object: m}
}
