package clusters

import (
	"encoding/base64"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/cert"
)

// clusterSecret is an Argo CD cluster Secret in namespace argocd, as
// `argocd cluster add` writes one.
func clusterSecret(secretName, name, server, config string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: secretName,
			Labels: map[string]string{SecretTypeLabel: SecretTypeCluster}},
		Data: map[string][]byte{"server": []byte(server)},
	}
	if name != "" {
		s.Data["name"] = []byte(name)
	}
	if config != "" {
		s.Data["config"] = []byte(config)
	}
	return s
}

func TestSecretTarget(t *testing.T) {
	certPEM, keyPEM, err := cert.GenerateSelfSignedCertKey("client", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	self := &rest.Config{Host: "https://10.0.0.1:443", BearerToken: "hub-token"}
	for _, tc := range []struct {
		name   string
		secret *corev1.Secret
		self   *rest.Config
		want   row
	}{
		{
			name:   "bearer token and CA",
			secret: clusterSecret("cluster-prod", "prod", "https://prod.example.com", `{"bearerToken":"t0k","tlsClientConfig":{"insecure":false,"caData":"`+b64(certPEM)+`"}}`),
			want:   row{Name: "prod", Server: "https://prod.example.com", Origin: "Secret argocd/cluster-prod", Host: "https://prod.example.com", Token: "t0k", CA: true},
		},
		{
			name:   "basic auth; namespaces, clusterResources and unknown fields ignored",
			secret: withData(clusterSecret("cluster-dev", "dev", "https://dev.example.com", `{"username":"u","password":"p","disableCompression":true}`), "namespaces", "a,b", "clusterResources", "true"),
			want:   row{Name: "dev", Server: "https://dev.example.com", Origin: "Secret argocd/cluster-dev", Host: "https://dev.example.com", User: "u", Password: "p"},
		},
		{
			name:   "client certificate",
			secret: clusterSecret("cluster-c", "c", "https://c.example.com", `{"tlsClientConfig":{"certData":"`+b64(certPEM)+`","keyData":"`+b64(keyPEM)+`","serverName":"api"}}`),
			want:   row{Name: "c", Server: "https://c.example.com", Origin: "Secret argocd/cluster-c", Host: "https://c.example.com", Cert: true},
		},
		{
			name:   "insecure drops the CA, which client-go would refuse",
			secret: clusterSecret("cluster-i", "i", "https://i.example.com", `{"bearerToken":"t","tlsClientConfig":{"insecure":true,"caData":"`+b64(certPEM)+`"}}`),
			want:   row{Name: "i", Server: "https://i.example.com", Origin: "Secret argocd/cluster-i", Host: "https://i.example.com", Token: "t", Insecure: true},
		},
		{
			name:   "no name: the Secret's",
			secret: clusterSecret("cluster-anon", "", "https://anon.example.com", `{"bearerToken":"t"}`),
			want:   row{Name: "cluster-anon", Server: "https://anon.example.com", Origin: "Secret argocd/cluster-anon", Host: "https://anon.example.com", Token: "t"},
		},
		{
			name:   "the hub's own cluster",
			secret: clusterSecret("cluster-in", "in-cluster", "https://kubernetes.default.svc/", `{"tlsClientConfig":{"insecure":false}}`),
			self:   self,
			want:   row{Name: "in-cluster", Server: "https://kubernetes.default.svc/", Origin: "Secret argocd/cluster-in", Host: "https://10.0.0.1:443", Token: "hub-token"},
		},
		{
			name:   "the hub's own cluster, hub outside any",
			secret: clusterSecret("cluster-in", "in-cluster", "https://kubernetes.default.svc", ""),
			want: row{Name: "in-cluster", Server: "https://kubernetes.default.svc", Origin: "Secret argocd/cluster-in",
				Err: "Secret argocd/cluster-in: server https://kubernetes.default.svc is the hub's own cluster, and the hub runs outside a cluster"},
		},
		{
			name:   "execProviderConfig",
			secret: clusterSecret("cluster-x", "x", "https://x.example.com", `{"execProviderConfig":{"command":"argocd-k8s-auth","args":["gcp"],"apiVersion":"client.authentication.k8s.io/v1beta1"},"tlsClientConfig":{"insecure":false}}`),
			want:   row{Name: "x", Server: "https://x.example.com", Origin: "Secret argocd/cluster-x", Err: "Secret argocd/cluster-x: execProviderConfig is not supported; use a bearer token"},
		},
		{
			name:   "awsAuthConfig",
			secret: clusterSecret("cluster-eks", "eks", "https://eks.example.com", `{"awsAuthConfig":{"clusterName":"eks","roleARN":"arn:aws:iam::1:role/r"}}`),
			want:   row{Name: "eks", Server: "https://eks.example.com", Origin: "Secret argocd/cluster-eks", Err: "Secret argocd/cluster-eks: awsAuthConfig is not supported; use a bearer token"},
		},
		{
			name:   "bad base64",
			secret: clusterSecret("cluster-b", "b", "https://b.example.com", `{"tlsClientConfig":{"caData":"%%%"}}`),
			want:   row{Name: "b", Server: "https://b.example.com", Origin: "Secret argocd/cluster-b", Err: "Secret argocd/cluster-b: config: illegal base64 data at input byte 0"},
		},
		{
			name:   "not PEM",
			secret: clusterSecret("cluster-p", "p", "https://p.example.com", `{"tlsClientConfig":{"certData":"`+b64([]byte("cert"))+`","keyData":"`+b64([]byte("key"))+`"}}`),
			want:   row{Name: "p", Server: "https://p.example.com", Origin: "Secret argocd/cluster-p", Err: "Secret argocd/cluster-p: tlsClientConfig: tls: failed to find any PEM data in certificate input"},
		},
		{
			name:   "config not JSON",
			secret: clusterSecret("cluster-j", "j", "https://j.example.com", `bearerToken: t`),
			want:   row{Name: "j", Server: "https://j.example.com", Origin: "Secret argocd/cluster-j", Err: "Secret argocd/cluster-j: config: invalid character 'b' looking for beginning of value"},
		},
		{
			name:   "no server",
			secret: clusterSecret("cluster-n", "n", "", `{"bearerToken":"t"}`),
			want:   row{Name: "n", Origin: "Secret argocd/cluster-n", Err: "Secret argocd/cluster-n: no server"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rows([]Target{secretTarget(tc.secret, tc.self)})
			if diff := cmp.Diff([]row{tc.want}, got); diff != "" {
				t.Errorf("target (-want +got):\n%s", diff)
			}
		})
	}
}

func withData(s *corev1.Secret, kv ...string) *corev1.Secret {
	for i := 0; i+1 < len(kv); i += 2 {
		s.Data[kv[i]] = []byte(kv[i+1])
	}
	return s
}

// Two Secrets naming one cluster: the second, by Secret name, is the
// error; the in-cluster config is a copy the hub may change.
func TestSecretTargets(t *testing.T) {
	self := &rest.Config{Host: "https://10.0.0.1:443"}
	got := secretTargets([]any{
		clusterSecret("cluster-prod-2", "prod", "https://prod2.example.com", ""),
		clusterSecret("cluster-prod-1", "prod", "https://prod1.example.com", ""),
		clusterSecret("in", "in-cluster", InClusterServer, ""),
	}, self)
	want := []row{
		{Name: "in-cluster", Server: InClusterServer, Origin: "Secret argocd/in", Host: "https://10.0.0.1:443"},
		{Name: "prod", Server: "https://prod1.example.com", Origin: "Secret argocd/cluster-prod-1", Host: "https://prod1.example.com"},
		{Name: "prod", Server: "https://prod2.example.com", Origin: "Secret argocd/cluster-prod-2",
			Err: `cluster "prod" is both Secret argocd/cluster-prod-1 and Secret argocd/cluster-prod-2: rename one`},
	}
	if diff := cmp.Diff(want, rows(got)); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	if got[0].Config == self {
		t.Error("the in-cluster target shares self: the hub's changes to it would change every later copy")
	}
}
