package clusters

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// row is what a test compares of a Target: its Config by the fields the
// fixtures set.
type row struct {
	Name, Server, Origin string
	Host, Token, User    string
	Password             string
	Insecure, CA, Cert   bool
	Err                  string
}

func rows(ts []Target) []row {
	var out []row
	for _, t := range ts {
		r := row{Name: t.Name, Server: t.Server, Origin: t.Origin}
		if t.Config != nil {
			c := t.Config
			r.Host, r.Token, r.User, r.Password = c.Host, c.BearerToken, c.Username, c.Password
			r.Insecure, r.CA, r.Cert = c.Insecure, len(c.CAData) > 0, len(c.CertData) > 0 && len(c.KeyData) > 0
		}
		if t.Err != nil {
			r.Err = t.Err.Error()
			if t.Config != nil {
				r.Err += " (and a Config)"
			}
		}
		out = append(out, r)
	}
	return out
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

const kc = "testdata/kubeconfig.yaml"

var (
	dev    = row{Name: "dev", Server: "https://dev.example.com:6443", Origin: `context "dev" in ` + kc, Host: "https://dev.example.com:6443", Token: "dev-token"}
	prodEU = row{Name: "prod-eu", Server: "https://prod-eu.example.com", Origin: `context "prod-eu" in ` + kc, Host: "https://prod-eu.example.com", Token: "prod-token"}
	prodUS = row{Name: "prod-us", Server: "https://prod-us.example.com", Origin: `context "prod-us" in ` + kc, Host: "https://prod-us.example.com", Token: "prod-token", Insecure: true}
	broken = row{Name: "broken", Origin: `context "broken" in ` + kc, Err: `context "broken" in ` + kc + `: cluster "gone" is not defined`}
	ghost  = row{Name: "ghost-user", Origin: `context "ghost-user" in ` + kc, Err: `context "ghost-user" in ` + kc + `: user "nobody" is not defined`}
)

func TestFromKubeconfig(t *testing.T) {
	for _, tc := range []struct {
		name      string
		path      string
		selectors []string
		want      []row
		err       string
	}{
		{name: "all contexts, sorted, broken ones with Err", path: kc, want: []row{broken, dev, ghost, prodEU, prodUS}},
		{name: "glob", path: kc, selectors: []string{"prod-*"}, want: []row{prodEU, prodUS}},
		{name: "names and a glob, overlapping", path: kc, selectors: []string{"prod-us", "dev", "prod-?s"}, want: []row{dev, prodUS}},
		{name: "a glob that matches nothing is no error", path: kc, selectors: []string{"dev", "staging-*"}, want: []row{dev}},
		{name: "a name that matches nothing", path: kc, selectors: []string{"prod-*", "staging"}, err: `kubeconfig testdata/kubeconfig.yaml: no context "staging"`},
		{name: "bad glob", path: kc, selectors: []string{"prod-["}, err: `cluster selector "prod-[": syntax error in pattern`},
		{name: "missing file", path: "testdata/nothere", err: "kubeconfig testdata/nothere: no such file or directory"},
		{name: "YAML error names the line", path: "testdata/dir/bad.yaml", err: "kubeconfig testdata/dir/bad.yaml: line 5: mapping values are not allowed in this context"},
		{name: "no contexts", path: "testdata/empty.yaml", err: "kubeconfig testdata/empty.yaml: no contexts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromKubeconfig(tc.path, tc.selectors)
			if diff := cmp.Diff(tc.err, errString(err)); diff != "" {
				t.Fatalf("error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, rows(got)); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
		})
	}
}

// With no path, FromKubeconfig follows $KUBECONFIG, and each target's
// origin names the file its context came from.
func TestFromKubeconfigDefaultRules(t *testing.T) {
	abs, err := filepath.Abs(kc)
	if err != nil {
		t.Fatal(err)
	}
	gamma, err := filepath.Abs("testdata/dir/gamma")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", abs+string(os.PathListSeparator)+gamma)
	got, err := FromKubeconfig("", []string{"dev", "gamma"})
	if err != nil {
		t.Fatal(err)
	}
	want := []row{
		{Name: "dev", Server: dev.Server, Origin: `context "dev" in ` + abs, Host: dev.Host, Token: "dev-token"},
		{Name: "gamma", Server: "https://gamma.example.com", Origin: `context "gamma" in ` + gamma, Host: "https://gamma.example.com", User: "admin", Password: "secret"},
	}
	if diff := cmp.Diff(want, rows(got)); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	_, err = FromKubeconfig("", []string{"staging"})
	if diff := cmp.Diff(`kubeconfig `+abs+string(os.PathListSeparator)+gamma+`: no context "staging"`, errString(err)); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

func TestFromDir(t *testing.T) {
	const d = "testdata/dir"
	alpha := row{Name: "alpha", Server: "https://alpha.example.com", Origin: `context "alpha" in ` + d + "/alpha.yaml", Host: "https://alpha.example.com", Token: "alpha-token"}
	bad := row{Name: "bad", Origin: d + "/bad.yaml", Err: "kubeconfig " + d + "/bad.yaml: line 5: mapping values are not allowed in this context"}
	beta := row{Name: "beta", Server: "https://beta.example.com", Origin: `context "only" in ` + d + "/beta.kubeconfig", Host: "https://beta.example.com", Token: "beta-token"}
	gamma := row{Name: "gamma", Server: "https://gamma.example.com", Origin: `context "gamma" in ` + d + "/gamma", Host: "https://gamma.example.com", User: "admin", Password: "secret"}
	two := row{Name: "two", Origin: d + "/two.conf", Err: "kubeconfig " + d + "/two.conf: no current-context, and 2 contexts: set current-context"}
	for _, tc := range []struct {
		name      string
		dir       string
		selectors []string
		want      []row
		err       string
	}{
		{name: "every file but dot files and directories; bad ones with Err", dir: d, want: []row{alpha, bad, beta, gamma, two}},
		{name: "selected", dir: d, selectors: []string{"?eta", "alpha"}, want: []row{alpha, beta}},
		{name: "a name that matches nothing", dir: d, selectors: []string{"delta"}, err: `kubeconfig directory testdata/dir: no cluster "delta"`},
		{name: "duplicate names", dir: "testdata/dupdir", err: `kubeconfig directory testdata/dupdir: cluster "prod" is in both one.yaml and two.yml`},
		{name: "duplicate names even when not selected", dir: "testdata/dupdir", selectors: []string{"x*"}, err: `kubeconfig directory testdata/dupdir: cluster "prod" is in both one.yaml and two.yml`},
		{name: "missing directory", dir: "testdata/nothere", err: "kubeconfig directory: open testdata/nothere: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromDir(tc.dir, tc.selectors)
			if diff := cmp.Diff(tc.err, errString(err)); diff != "" {
				t.Fatalf("error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, rows(got)); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
		})
	}
}

// A mounted Secret's directory holds links into ..data: FromDir follows
// them and skips ..data itself.
func TestFromDirMountedSecret(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "..2026_12_05")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("testdata/dir/gamma")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "gamma"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..2026_12_05", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/gamma", filepath.Join(dir, "gamma")); err != nil {
		t.Fatal(err)
	}
	got, err := FromDir(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []row{{Name: "gamma", Server: "https://gamma.example.com", Origin: `context "gamma" in ` + filepath.Join(dir, "gamma"), Host: "https://gamma.example.com", User: "admin", Password: "secret"}}
	if diff := cmp.Diff(want, rows(got)); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
}
