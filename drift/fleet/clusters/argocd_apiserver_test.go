package clusters

import (
	"context"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

// lists records onChange's calls.
type lists struct {
	mu    sync.Mutex
	calls [][]Target
	more  chan struct{}
}

func newLists() *lists { return &lists{more: make(chan struct{}, 1)} }

func (l *lists) onChange(ts []Target) {
	l.mu.Lock()
	l.calls = append(l.calls, ts)
	l.mu.Unlock()
	select {
	case l.more <- struct{}{}:
	default:
	}
}

func (l *lists) last() ([]Target, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.calls) == 0 {
		return nil, 0
	}
	return l.calls[len(l.calls)-1], len(l.calls)
}

// await waits for a call whose list is want, failing after a bound (not
// a timing assertion: a correct ArgoCDSecrets calls within a second).
func (l *lists) await(t *testing.T, want []row) {
	t.Helper()
	limit := time.After(30 * time.Second)
	for {
		got, _ := l.last()
		diff := cmp.Diff(want, rows(got))
		if diff == "" {
			return
		}
		select {
		case <-l.more:
		case <-limit:
			t.Fatalf("no onChange with the expected list; the last (-want +got):\n%s", diff)
		}
	}
}

// testNamespace creates a namespace for one test, deleted at its end.
func testNamespace(t *testing.T, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := kube.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// readerToken makes a ServiceAccount that may list namespaces and
// returns a token for it: what `argocd cluster add` puts in a Secret.
func readerToken(t *testing.T, ns string) string {
	t.Helper()
	ctx := t.Context()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hub-reader"}}
	if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-list-namespaces"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"list"}}},
	}
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: sa.Name}},
	}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

func createSecret(t *testing.T, s *corev1.Secret) {
	t.Helper()
	if _, err := kube.CoreV1().Secrets(s.Namespace).Create(t.Context(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// ArgoCDSecrets against a real API server: the first list before it
// returns, a target's Config that works, a deletion and an addition
// followed, Secrets without the label or in other namespaces never seen.
func TestArgoCDSecrets(t *testing.T) {
	apiservertest.Require(t)
	ns := testNamespace(t, "argocd-follow")
	other := testNamespace(t, "argocd-other")
	token := readerToken(t, ns)
	ca := base64.StdEncoding.EncodeToString(env.Config.CAData)

	self := clusterSecret("cluster-self", "self", env.Config.Host, `{"bearerToken":"`+token+`","tlsClientConfig":{"insecure":false,"caData":"`+ca+`"}}`)
	exec := clusterSecret("cluster-gke", "gke", "https://gke.example.com", `{"execProviderConfig":{"command":"argocd-k8s-auth","args":["gcp"],"apiVersion":"client.authentication.k8s.io/v1beta1"}}`)
	inCluster := clusterSecret("cluster-in", "in-cluster", InClusterServer, "")
	unlabelled := clusterSecret("not-a-cluster", "nope", "https://nope.example.com", "")
	unlabelled.Labels = nil
	elsewhere := clusterSecret("cluster-elsewhere", "elsewhere", "https://elsewhere.example.com", "")
	elsewhere.Namespace = other
	for _, s := range []*corev1.Secret{self, exec, inCluster, unlabelled} {
		s.Namespace = ns
		createSecret(t, s)
	}
	createSecret(t, elsewhere)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	l := newLists()
	if err := ArgoCDSecrets(ctx, kube, ns, env.Config, l.onChange); err != nil {
		t.Fatal(err)
	}
	host := env.Config.Host
	gke := row{Name: "gke", Server: "https://gke.example.com", Origin: "Secret " + ns + "/cluster-gke",
		Err: "Secret " + ns + "/cluster-gke: execProviderConfig is not supported; use a bearer token"}
	in := row{Name: "in-cluster", Server: InClusterServer, Origin: "Secret " + ns + "/cluster-in", Host: host, CA: true, Cert: true}
	selfRow := row{Name: "self", Server: host, Origin: "Secret " + ns + "/cluster-self", Host: host, Token: token, CA: true}
	first, calls := l.last()
	if calls != 1 {
		t.Fatalf("ArgoCDSecrets returned after %d calls of onChange, want 1", calls)
	}
	if diff := cmp.Diff([]row{gke, in, selfRow}, rows(first)); diff != "" {
		t.Fatalf("first list (-want +got):\n%s", diff)
	}

	// The token target reaches the API server as the ServiceAccount.
	client, err := kubernetes.NewForConfig(first[2].Config)
	if err != nil {
		t.Fatal(err)
	}
	nsList, err := client.CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list namespaces with the %s target: %v", first[2].Name, err)
	}
	if !containsNamespace(nsList.Items, ns) {
		t.Errorf("the %s target's namespace list lacks %s", first[2].Name, ns)
	}
	// As that ServiceAccount, not as the admin: a Secret is out of reach.
	if _, err := client.CoreV1().Secrets(ns).List(t.Context(), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list Secrets with the token target: err = %v, want forbidden", err)
	}

	if err := kube.CoreV1().Secrets(ns).Delete(t.Context(), exec.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	l.await(t, []row{in, selfRow})

	added := clusterSecret("cluster-edge", "edge", "https://edge.example.com", `{"username":"u","password":"p"}`)
	added.Namespace = ns
	createSecret(t, added)
	edge := row{Name: "edge", Server: "https://edge.example.com", Origin: "Secret " + ns + "/cluster-edge", Host: "https://edge.example.com", User: "u", Password: "p"}
	l.await(t, []row{edge, in, selfRow})

	// Taking the label away takes the cluster away.
	added.Labels = nil
	if _, err := kube.CoreV1().Secrets(ns).Update(t.Context(), added, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	l.await(t, []row{in, selfRow})
}

func containsNamespace(items []corev1.Namespace, name string) bool {
	for _, n := range items {
		if n.Name == name {
			return true
		}
	}
	return false
}

// A hub that may not list the Secrets hears it at start, with the
// namespace and where the Role comes from, and onChange is never called.
func TestArgoCDSecretsForbidden(t *testing.T) {
	apiservertest.Require(t)
	ns := testNamespace(t, "argocd-forbidden")
	cfg, err := env.AddUser("fleet-hub-without-role")
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := newLists()
	err = ArgoCDSecrets(t.Context(), client, ns, nil, l.onChange)
	if !apierrors.IsForbidden(err) {
		t.Fatalf("err = %v, want forbidden", err)
	}
	for _, part := range []string{`namespace "` + ns + `"`, "`driftwatch rbac --for fleet` prints the Role"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not say %s", err, part)
		}
	}
	if _, calls := l.last(); calls != 0 {
		t.Errorf("onChange called %d times, want none", calls)
	}
}

// A context that ends before the first sync ends ArgoCDSecrets with it.
func TestArgoCDSecretsCanceled(t *testing.T) {
	apiservertest.Require(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	l := newLists()
	err := ArgoCDSecrets(ctx, kube, "default", nil, l.onChange)
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("err = %v, want context canceled", err)
	}
}
