// Package fleet holds the examples that install an agent in every cluster
// of a fleet (an Argo CD ApplicationSet, a Flux Kustomization) and the
// end-to-end test of the fleet hub: three real API servers, each with a
// real `driftwatch watch` agent writing reports, read by real
// `driftwatch fleet` hubs.
package fleet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/deploy/internal/proctest"
	"github.com/driftwatch/driftwatch/drift/fleet"
	"github.com/driftwatch/driftwatch/drift/fleet/audit/pgtest"
	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

const namespace = "shop"

var deployment = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}

// member is one API server with its agent, and the credentials the hub
// reads it with: a user bound to what `driftwatch rbac --for fleet`
// prints, nothing more.
type member struct {
	name string
	env  *apiservertest.Env
	kube *apiservertest.Client
	hub  *rest.Config
}

const (
	limit    = 60 * time.Second
	interval = 200 * time.Millisecond
)

// The fleet end to end: drift in two of three clusters is shown by the
// hub, with cluster, severity and paths, in its API, its dashboard (a real
// headless Chromium) and `fleet --once`; a revert resolves it within
// seconds and the audit log has both transitions; a stopped API server
// makes its cluster unreachable and leaves the others alone, and its
// restart recovers it. A second hub finds the same clusters through Argo
// CD cluster Secrets, and follows a Secret deleted.
func TestFleetHub(t *testing.T) {
	apiservertest.Require(t)
	tmp := t.TempDir()
	var bin string
	members := []*member{{name: "cluster-a"}, {name: "cluster-b"}, {name: "cluster-c"}}
	errs := make([]error, len(members))
	var wg sync.WaitGroup
	wg.Go(func() { bin = proctest.Build(t, tmp, "github.com/driftwatch/driftwatch/cmd/driftwatch") })
	var pg *pgtest.Server
	var pgErr error
	wg.Go(func() { pg, pgErr = pgtest.Start() })
	for i, m := range members {
		wg.Go(func() { m.env, errs[i] = apiservertest.StartWith(apiservertest.Options{Restartable: true}) })
	}
	wg.Wait()
	for i, m := range members {
		if m.env != nil {
			t.Cleanup(func() { m.env.Stop() })
		}
		if errs[i] != nil {
			t.Fatalf("%s: %v", m.name, errs[i])
		}
	}
	if pg != nil {
		t.Cleanup(func() { pg.Stop() })
	}
	if pgErr != nil {
		t.Fatalf("PostgreSQL (.ci/deps.sh installs it): %v", pgErr)
	}
	if t.Failed() {
		return
	}

	dir := proctest.GitTree(t, filepath.Join(tmp, "desired"), map[string]string{"shop.yaml": proctest.ShopManifest})
	rbac := run(t, bin, 0, "rbac", "--for", "fleet", "--subject", "user:fleet-hub")
	ctx := t.Context()
	kubeconfigs := make([]string, len(members))
	for i, m := range members {
		var err error
		if m.kube, err = apiservertest.NewClient(m.env.Config); err != nil {
			t.Fatal(err)
		}
		apply(t, m.kube, "setup", "", decode(t, readCRDs(t)+"---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n"+rbac))
		apply(t, m.kube, "gitops", namespace, decode(t, proctest.ShopManifest))
		agentKC, err := apiservertest.WriteKubeconfig(m.env.Config, t.TempDir(), m.name, namespace)
		if err != nil {
			t.Fatal(err)
		}
		proctest.Start(t, m.name+" agent", bin, nil, "watch", "--dir", dir, "--kubeconfig", agentKC, "--listen", proctest.FreeAddr(t),
			"--cache-dir", t.TempDir(), "--interval", "1s", "--reports", "openreports", "--reports-interval", "1s")
		if m.hub, err = m.env.AddUser("fleet-hub"); err != nil {
			t.Fatal(err)
		}
		kubeconfigs[i] = writeKubeconfig(t, m.name, m.hub)
	}

	// Hub 1: the clusters are the contexts of $KUBECONFIG, three files.
	token := "s3cret-hub-token"
	writeFile(t, filepath.Join(tmp, "token"), token)
	hubAddr := proctest.FreeAddr(t)
	kcEnv := "KUBECONFIG=" + strings.Join(kubeconfigs, string(os.PathListSeparator))
	proctest.Start(t, "hub", bin, []string{kcEnv}, "fleet", "--contexts", "cluster-*", "--listen", hubAddr,
		"--auth-token-file", filepath.Join(tmp, "token"), "--audit-db", filepath.Join(tmp, "audit.db"), "--stale-after", "5m")
	api := client{base: "http://" + hubAddr, token: token}
	waitStates(t, api, "every agent's reports read, all in sync", map[string]fleet.State{
		"cluster-a": fleet.InSync, "cluster-b": fleet.InSync, "cluster-c": fleet.InSync,
	})
	if code, _ := (client{base: api.base}).get(t, "/api/v1/fleet"); code != http.StatusUnauthorized {
		t.Errorf("/api/v1/fleet without the token: %d, want 401", code)
	}

	// Drift in two clusters: an image (critical) in b, replicas in c.
	edit(t, members[1], func(u *unstructured.Unstructured) {
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		cs[0].(map[string]any)["image"] = "nginx:1.27-hotfix"
		_ = unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
	})
	edit(t, members[2], func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedField(u.Object, int64(4), "spec", "replicas")
	})
	v := waitStates(t, api, "drift in b and c", map[string]fleet.State{
		"cluster-a": fleet.InSync, "cluster-b": fleet.Drifted, "cluster-c": fleet.Drifted,
	})
	got := map[string]string{}
	for _, r := range v.Resources {
		got[r.Cluster] = fmt.Sprintf("%s %s/%s %s %s %s by %s", r.Status, r.Namespace, r.Name, r.Severity, strings.Join(r.Paths, ","), r.Kind, r.ChangedBy)
	}
	want := map[string]string{
		"cluster-b": "Drifted shop/web critical spec.template.spec.containers[name=web].image Deployment by kubectl-edit",
		"cluster-c": "Drifted shop/web info spec.replicas Deployment by kubectl-edit",
	}
	for c, w := range want {
		if got[c] != w {
			t.Errorf("%s in the hub's API: %q, want %q", c, got[c], w)
		}
	}
	if len(got) != 2 {
		t.Errorf("drifted resources: %v, want b's and c's only", got)
	}
	if f := api.view(t, "?cluster=cluster-b&severity=critical"); len(f.Resources) != 1 || len(f.Clusters) != 1 {
		t.Errorf("filtered by cluster and severity: %+v", f)
	}

	// fleet --once over the same contexts: one report, exit 1.
	out := runEnv(t, bin, []string{"KUBECONFIG=" + kubeconfigs[0] + string(os.PathListSeparator) + kubeconfigs[1]}, 1,
		"fleet", "--once", "-o", "json")
	var once fleet.View
	if err := json.Unmarshal([]byte(out), &once); err != nil {
		t.Fatalf("fleet --once -o json: %v\n%s", err, out)
	}
	if len(once.Clusters) != 2 || once.Summary.Drifted != 1 || once.Resources[0].Cluster != "cluster-b" {
		t.Errorf("fleet --once over a and b: %s", out)
	}
	text := runEnv(t, bin, []string{kcEnv}, 1, "fleet", "--once", "--contexts", "cluster-*")
	for _, w := range []string{"cluster-b", "cluster-c", "spec.replicas", "critical"} {
		if !strings.Contains(text, w) {
			t.Errorf("fleet --once text lacks %q:\n%s", w, text)
		}
	}
	runEnv(t, bin, []string{kcEnv}, 0, "fleet", "--once", "--contexts", "cluster-a")

	// The dashboard, in a real browser: filters and the resource opened
	// (its paths and its history) come from the link.
	page := api.base + "/?token=" + token + "&severity=critical&open=cluster-b/Deployment/shop/web"
	dom := proctest.Headless(t, page, "--dump-dom")
	for _, w := range []string{"cluster-a", "cluster-b", "cluster-c", "spec.template.spec.containers[name=web].image", "detected"} {
		if !strings.Contains(dom, w) {
			t.Errorf("the hub's dashboard lacks %q", w)
		}
	}
	proctest.Screenshot(t, page, "fleet-hub-e2e.png")

	// Reverted in c: resolved in the hub within seconds, and logged.
	reverted := time.Now()
	edit(t, members[2], func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedField(u.Object, int64(1), "spec", "replicas")
	})
	waitStates(t, api, "c's revert", map[string]fleet.State{"cluster-a": fleet.InSync, "cluster-b": fleet.Drifted, "cluster-c": fleet.InSync})
	t.Logf("revert in cluster-c seen by the hub after %s", time.Since(reverted).Round(10*time.Millisecond))
	proctest.Poll(t, "c's drift detected and resolved in the audit log", interval, limit, func() (bool, string) {
		_, body := api.get(t, "/api/v1/history?cluster=cluster-c&format=jsonl")
		return strings.Count(body, `"type":"detected"`) == 1 && strings.Count(body, `"type":"resolved"`) == 1, body
	})
	_, csv := api.get(t, "/api/v1/history?format=csv")
	if lines := strings.Split(strings.TrimSpace(csv), "\n"); len(lines) != 4 || !strings.Contains(csv, "cluster-b") {
		t.Errorf("the audit log as CSV: header and three events (b detected, c detected, c resolved) wanted:\n%s", csv)
	}
	_, metrics := api.get(t, "/metrics")
	for _, w := range []string{`driftwatch_fleet_cluster_state{cluster="cluster-b",state="drifted"} 1`, `driftwatch_fleet_clusters{state="in-sync"} 2`} {
		if !strings.Contains(metrics, w) {
			t.Errorf("the hub's metrics lack %s", w)
		}
	}

	// c's API server stops: c is unreachable, a and b as they were.
	if err := members[2].env.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	v = waitStates(t, api, "c unreachable", map[string]fleet.State{"cluster-a": fleet.InSync, "cluster-b": fleet.Drifted, "cluster-c": fleet.Unreachable})
	for _, c := range v.Clusters {
		if c.Name == "cluster-c" && c.Error == "" {
			t.Errorf("cluster-c unreachable without an error: %+v", c)
		}
	}
	if err := members[2].env.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	waitStates(t, api, "c back", map[string]fleet.State{"cluster-a": fleet.InSync, "cluster-b": fleet.Drifted, "cluster-c": fleet.InSync})

	// Hub 2: the clusters are Argo CD cluster Secrets in cluster-a.
	a := members[0]
	apply(t, a.kube, "setup", "", decode(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: argocd}\n---\n"+
		run(t, bin, 0, "rbac", "--for", "fleet", "--cluster-secrets", "argocd", "--subject", "user:fleet-hub")))
	for _, m := range members[1:] {
		apply(t, a.kube, "setup", "argocd", decode(t, argoSecret(t, m)))
	}
	hub2Addr := proctest.FreeAddr(t)
	proctest.Start(t, "hub2", bin, nil, "fleet", "--cluster-secrets", "argocd", "--kubeconfig", kubeconfigs[0],
		"--listen", hub2Addr, "--audit-db", "none")
	api2 := client{base: "http://" + hub2Addr}
	waitStates(t, api2, "the Secrets' clusters", map[string]fleet.State{"cluster-b": fleet.Drifted, "cluster-c": fleet.InSync})
	if err := a.kube.Delete(ctx, schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, "argocd", "cluster-c"); err != nil {
		t.Fatal(err)
	}
	waitStates(t, api2, "c's Secret deleted", map[string]fleet.State{"cluster-b": fleet.Drifted})

	// Two replicas on one PostgreSQL audit log, with leader election in
	// the hub's cluster (a): b's drift is logged once, and so is its
	// revert, though the first replica is killed in between.
	apply(t, a.kube, "setup", "", decode(t, run(t, bin, 0, "rbac", "--for", "fleet", "--leader-elect", "--leader-elect-namespace", "default",
		"--subject", "user:fleet-hub", "--name", "driftwatch-fleet-lease")))
	dsn := pg.Database(t)
	var replicas []*proctest.Proc
	var apis []client
	for i := range 2 {
		addr := proctest.FreeAddr(t)
		replicas = append(replicas, proctest.Start(t, fmt.Sprintf("replica-%d", i), bin, []string{kcEnv}, "fleet", "--contexts", "cluster-*",
			"--listen", addr, "--audit-db", dsn, "--leader-elect", "--leader-elect-namespace", "default"))
		apis = append(apis, client{base: "http://" + addr})
	}
	history := func(c client) string {
		_, body := c.get(t, "/api/v1/history?cluster=cluster-b&format=jsonl")
		return body
	}
	for _, c := range apis {
		waitStates(t, c, "a replica's view", map[string]fleet.State{"cluster-a": fleet.InSync, "cluster-b": fleet.Drifted, "cluster-c": fleet.InSync})
	}
	proctest.Poll(t, "b's drift logged by the leader", interval, limit, func() (bool, string) {
		h := history(apis[1])
		return strings.Count(h, `"type":"detected"`) == 1, h
	})
	replicas[0].Kill()
	edit(t, members[1], func(u *unstructured.Unstructured) {
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		cs[0].(map[string]any)["image"] = "nginx:1.27"
		_ = unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
	})
	proctest.Poll(t, "b's revert logged once, by whichever replica leads", interval, 2*limit, func() (bool, string) {
		h := history(apis[1])
		return strings.Count(h, `"type":"resolved"`) == 1, h
	})
	time.Sleep(2 * time.Second) // a writer pass more: no duplicate comes
	if h := history(apis[1]); strings.Count(h, `"type":"detected"`) != 1 || strings.Count(h, `"type":"resolved"`) != 1 {
		t.Errorf("b's history in PostgreSQL, want one detection and one resolution:\n%s", h)
	}
}

// argoSecret is an Argo CD cluster Secret for m, with the hub user's
// client certificate.
func argoSecret(t *testing.T, m *member) string {
	t.Helper()
	cfg, err := json.Marshal(map[string]any{"tlsClientConfig": map[string]any{
		"caData":   base64.StdEncoding.EncodeToString(m.hub.CAData),
		"certData": base64.StdEncoding.EncodeToString(m.hub.CertData),
		"keyData":  base64.StdEncoding.EncodeToString(m.hub.KeyData),
	}, "bearerToken": m.hub.BearerToken})
	if err != nil {
		t.Fatal(err)
	}
	sec := map[string]any{"apiVersion": "v1", "kind": "Secret",
		"metadata":   map[string]any{"name": m.name, "namespace": "argocd", "labels": map[string]any{"argocd.argoproj.io/secret-type": "cluster"}},
		"stringData": map[string]any{"name": m.name, "server": m.hub.Host, "config": string(cfg)}}
	b, err := yaml.Marshal(sec)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// writeKubeconfig writes a kubeconfig whose only context, named name,
// reaches the cluster as the hub's user.
func writeKubeconfig(t *testing.T, name string, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	kc.CurrentContext = name
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func readCRDs(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for i, f := range []string{"openreports.io_reports.yaml", "openreports.io_clusterreports.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "crds", f))
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(data)
	}
	return b.String()
}

// decode splits a YAML stream into objects, skipping empty documents and
// comments.
func decode(t *testing.T, docs string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range strings.Split(docs, "\n---") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatalf("%v\n%s", err, d)
		}
		if len(m) > 0 {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
	return out
}

func apply(t *testing.T, kube *apiservertest.Client, manager, ns string, objs []*unstructured.Unstructured) {
	t.Helper()
	if err := kube.Apply(t.Context(), manager, ns, objs...); err != nil {
		t.Fatal(err)
	}
}

func edit(t *testing.T, m *member, f func(*unstructured.Unstructured)) {
	t.Helper()
	err := m.kube.Edit(context.Background(), "kubectl-edit", deployment, namespace, "web", func(u *unstructured.Unstructured) error {
		f(u)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// run runs the driftwatch binary to completion, expecting exit code want,
// and returns its standard output.
func run(t *testing.T, bin string, want int, args ...string) string {
	t.Helper()
	return runEnv(t, bin, nil, want, args...)
}

func runEnv(t *testing.T, bin string, env []string, want int, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("driftwatch %s: %v", strings.Join(args, " "), err)
	}
	if code != want {
		t.Fatalf("driftwatch %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out, stderr.String())
	}
	return string(out)
}

// client calls the hub's HTTP API.
type client struct{ base, token string }

var httpClient = &http.Client{Timeout: 10 * time.Second}

func (c client) get(t *testing.T, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (c client) view(t *testing.T, query string) fleet.View {
	t.Helper()
	code, body := c.get(t, "/api/v1/fleet"+query)
	var v fleet.View
	if code != http.StatusOK || json.Unmarshal([]byte(body), &v) != nil {
		return fleet.View{}
	}
	return v
}

// waitStates polls the hub until its clusters are exactly want.
func waitStates(t *testing.T, c client, what string, want map[string]fleet.State) fleet.View {
	t.Helper()
	var v fleet.View
	proctest.Poll(t, what, interval, limit, func() (bool, string) {
		v = c.view(t, "")
		got := map[string]fleet.State{}
		var desc []string
		for _, cl := range v.Clusters {
			got[cl.Name] = cl.State
			desc = append(desc, fmt.Sprintf("%s=%s %s", cl.Name, cl.State, cl.Error))
		}
		if len(got) != len(want) {
			return false, strings.Join(desc, "; ")
		}
		for k, s := range want {
			if got[k] != s {
				return false, strings.Join(desc, "; ")
			}
		}
		return true, ""
	})
	return v
}
