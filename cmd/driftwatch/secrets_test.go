package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

// Known secret strings are planted in a Secret in Git and in the cluster,
// in the Git credentials, in the daemon's API token and in the Kubernetes
// API token; every command and output
// format, the logs, the metrics, the dashboard and the webhook payloads are
// then searched for them (and for their base64 forms).
func TestSecretsNeverLeak(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	dir := filepath.Join("..", "..", "testdata", "secrets")
	applyFixture(t, "secrets", ".", ns)
	const liveValue = "planted-live-secret-91c2ab"
	err := kube.Edit(context.Background(), "kubectl-edit", gvkSecret, ns, "planted", func(u *unstructured.Unstructured) error {
		return unstructured.SetNestedField(u.Object, base64.StdEncoding.EncodeToString([]byte(liveValue)), "data", "password")
	})
	if err != nil {
		t.Fatal(err)
	}
	const apiToken = "planted-api-token-55aa77"
	const kubeToken = "planted-kube-token-3b8e10"
	plants := []string{"planted-git-secret-7f3a9c", "planted-git-token-0d1e2f", liveValue, gitPassword, apiToken, kubeToken}
	// The Kubernetes API token rides along on every request of the daemon
	// (the client certificate authenticates it); alone, it is refused.
	withToken := rest.CopyConfig(apiConfig)
	withToken.BearerToken = kubeToken
	tokenKubeconfig, err := apiservertest.WriteKubeconfig(withToken, t.TempDir(), "token", ns)
	if err != nil {
		t.Fatal(err)
	}
	onlyToken, err := apiservertest.WriteKubeconfig(&rest.Config{Host: apiConfig.Host, BearerToken: kubeToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: apiConfig.CAData}}, t.TempDir(), "only-token", ns)
	if err != nil {
		t.Fatal(err)
	}
	var haystack strings.Builder

	out := t.TempDir()
	args := []string{"check", "--dir", dir, "--kubeconfig", kubeconfig, "-n", ns, "-o", "text"}
	for _, f := range []string{"json", "markdown", "junit", "sarif"} {
		args = append(args, "-o", f+"="+filepath.Join(out, "report."+f))
	}
	r := runCLI(t, args...)
	if r.code != exitDrift {
		t.Fatalf("check: exit %d %s", r.code, r.stderr)
	}
	haystack.WriteString(r.stdout + r.stderr)
	for _, f := range []string{"json", "markdown", "junit", "sarif"} {
		b, err := os.ReadFile(filepath.Join(out, "report."+f))
		if err != nil {
			t.Fatal(err)
		}
		haystack.Write(b)
	}
	// The API refusing the token.
	r = runCLI(t, "check", "--dir", dir, "--kubeconfig", onlyToken, "-n", ns)
	if r.code != exitError || !strings.Contains(r.stderr, `refused the credentials of context "only-token" (401 Unauthorized)`) {
		t.Errorf("check with a refused token: exit %d %s", r.code, r.stderr)
	}
	haystack.WriteString(r.stdout + r.stderr)
	// A Git error path with the password in play.
	r = runWithEnv(t, map[string]string{"DRIFTWATCH_GIT_PASSWORD": gitPassword + "-wrong"}, "check", "--repo", gitServer.RepoURL("deploy"),
		"--kubeconfig", kubeconfig, "--cache-dir", t.TempDir())
	haystack.WriteString(r.stdout + r.stderr)

	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(apiToken), 0o600); err != nil {
		t.Fatal(err)
	}
	hook := newReceiver(t)
	// The most verbose logging there is, client-go's included.
	d := startWatch(t, "--dir", dir, "-n", ns, "--auth-token-file", tokenFile, "--webhook", hook.srv.URL,
		"--log-format", "json", "--log-level", "debug", "--kubeconfig", tokenKubeconfig)
	d.token = apiToken
	eventually(t, "a webhook event", d, func() bool { return len(hook.types(ns+"/planted")) > 0 })
	for _, path := range []string{"/api/v1/report", "/metrics", "/", "/app.js"} {
		_, body := d.get(t, path)
		haystack.WriteString(body)
	}
	hook.mu.Lock()
	for _, ev := range hook.events {
		b, _ := jsonMarshal(ev)
		haystack.Write(b)
	}
	hook.mu.Unlock()
	// A request with a wrong token must not echo the right one either.
	req, _ := http.NewRequest(http.MethodGet, d.url+"/api/v1/report", nil)
	req.Header.Set("Authorization", "Bearer nope")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		haystack.Write(b)
	}
	d.stop(t)
	logs := d.stderr.String()
	for _, want := range []string{`"level":"DEBUG"`, `"msg":"compared"`, `"component":"client-go"`, `"msg":"drift detected"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("debug logs lack %s", want)
		}
	}
	haystack.WriteString(logs)

	all := haystack.String()
	if len(all) < 1000 {
		t.Fatalf("collected only %d bytes of output", len(all))
	}
	for _, p := range plants {
		for _, form := range []string{p, base64.StdEncoding.EncodeToString([]byte(p))} {
			if strings.Contains(all, form) {
				t.Errorf("planted secret %q found in the output", form)
			}
		}
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
