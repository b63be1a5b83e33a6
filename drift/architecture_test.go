package drift_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// maxEngineDeps bounds the packages the engine pulls in (it was 270 when
// the layout was set): the comparison engine must stay a small library.
const maxEngineDeps = 350

// listedPackage is the part of `go list -json` output the rules need.
type listedPackage struct {
	ImportPath   string
	Name         string
	DepOnly      bool
	Standard     bool
	Imports      []string
	TestImports  []string
	XTestImports []string
	Deps         []string
	Module       *struct{ Path string }
	Error        *struct{ Err string }
}

// packageGraph is the non-test import graph of the module and its deps.
type packageGraph struct {
	module string                    // module path
	pkgs   map[string]*listedPackage // by import path
	own    []string                  // the module's packages, sorted
}

// loadPackageGraph runs `go list -e -json -deps ./...` once, from the
// module root.
func loadPackageGraph(t *testing.T) *packageGraph {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go command is not on PATH (%v): cannot list the import graph", err)
	}
	out, err := exec.CommandContext(t.Context(), goCmd, "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == "/dev/null" {
		t.Fatalf("go env GOMOD = %q: not inside the module", gomod)
	}

	cmd := exec.CommandContext(t.Context(), goCmd, "list", "-e", "-json", "-deps", "./...")
	cmd.Dir = filepath.Dir(gomod)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("go list -e -json -deps ./... in %s: %v\n%s", cmd.Dir, err, stderr.Bytes())
	}

	g := &packageGraph{pkgs: map[string]*listedPackage{}}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := &listedPackage{}
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		g.pkgs[p.ImportPath] = p
		if !p.DepOnly && p.Module != nil {
			g.module = p.Module.Path
		}
	}
	if g.module == "" {
		t.Fatal("go list listed no package of the module")
	}
	for ip, p := range g.pkgs {
		if g.inModule(ip) {
			g.own = append(g.own, ip)
			if p.Error != nil {
				// Another test fails on it; the imports are still listed.
				t.Logf("%s: %s", ip, p.Error.Err)
			}
		}
	}
	slices.Sort(g.own)
	return g
}

// underPath reports whether ip is prefix or a package below it.
func underPath(ip, prefix string) bool {
	return ip == prefix || strings.HasPrefix(ip, prefix+"/")
}

func (g *packageGraph) inModule(ip string) bool { return underPath(ip, g.module) }

// pkg returns the module package rel ("drift", "cmd/driftwatch").
func (g *packageGraph) pkg(t *testing.T, rel string) *listedPackage {
	t.Helper()
	p, ok := g.pkgs[g.module+"/"+rel]
	if !ok {
		t.Fatalf("go list did not list %s/%s", g.module, rel)
	}
	return p
}

// chain returns the shortest non-test import chain from one package to
// another, "a -> b -> c", following the Imports of listed packages.
func (g *packageGraph) chain(from, to string) string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == to {
			var steps []string
			for p := to; p != ""; p = prev[p] {
				steps = append(steps, p)
			}
			slices.Reverse(steps)
			return strings.Join(steps, " -> ")
		}
		if p := g.pkgs[cur]; p != nil {
			for _, imp := range p.Imports {
				if _, seen := prev[imp]; !seen {
					prev[imp] = cur
					queue = append(queue, imp)
				}
			}
		}
	}
	return from + " -> ... -> " + to
}

// forbidDeps fails for every package among the non-test deps of from that
// bad selects. Forbidden packages are grouped by the way in: the shortest
// import chain to the allowed package that imports them, and the forbidden
// packages it imports, with how many forbidden packages come in that way.
func (g *packageGraph) forbidDeps(t *testing.T, from *listedPackage, rule string, bad func(ip string) bool) {
	t.Helper()
	type door struct {
		chain   string
		imports []string
		n       int
	}
	doors := map[string]*door{}
	var order []string
	for _, dep := range from.Deps {
		if !bad(dep) {
			continue
		}
		steps := strings.Split(g.chain(from.ImportPath, dep), " -> ")
		first := len(steps) - 1
		for i, s := range steps[1:] {
			if bad(s) {
				first = i + 1
				break
			}
		}
		key := strings.Join(steps[:first], " -> ")
		d := doors[key]
		if d == nil {
			d = &door{chain: key}
			doors[key] = d
			order = append(order, key)
		}
		if !slices.Contains(d.imports, steps[first]) {
			d.imports = append(d.imports, steps[first])
		}
		d.n++
	}
	for _, key := range order {
		d := doors[key]
		t.Errorf("%s: %s reaches %d forbidden package(s) through this import chain:\n\t%s -> {%s}",
			rule, from.ImportPath, d.n, d.chain, strings.Join(d.imports, ", "))
	}
}

// harnessNames are the last path elements of the module's test harness
// packages (gitsource/gittest, gitsource/sopstest, informer/apiservertest,
// informer/informertest, drift/fleet/fleettest, drift/fleet/audit/pgtest,
// deploy/internal/proctest); a new harness is added here.
var harnessNames = []string{"gittest", "sopstest", "apiservertest", "informertest", "fleettest", "pgtest", "proctest"}

// isHarness reports whether ip is a test harness package of the module.
func (g *packageGraph) isHarness(ip string) bool {
	return g.inModule(ip) && slices.Contains(harnessNames, path.Base(ip))
}

func TestArchitecture(t *testing.T) {
	g := loadPackageGraph(t)
	doesIO := func(ip string) bool {
		return underPath(ip, "k8s.io/client-go") || underPath(ip, "github.com/go-git") || underPath(ip, "sigs.k8s.io/kustomize")
	}

	t.Run("engine has no driftwatch deps and no I/O", func(t *testing.T) {
		engine := g.pkg(t, "drift")
		g.forbidDeps(t, engine, "the engine imports no other driftwatch package", func(ip string) bool {
			return g.inModule(ip) && ip != engine.ImportPath
		})
		g.forbidDeps(t, engine, "the engine is free of I/O (no client-go, go-git, kustomize)", doesIO)
	})

	t.Run("engine stays small", func(t *testing.T) {
		engine := g.pkg(t, "drift")
		std := 0
		for _, dep := range engine.Deps {
			if p := g.pkgs[dep]; p != nil && p.Standard {
				std++
			}
		}
		t.Logf("%s has %d deps (%d standard library, %d other)", engine.ImportPath, len(engine.Deps), std, len(engine.Deps)-std)
		if len(engine.Deps) > maxEngineDeps {
			t.Errorf("%s has %d deps, more than %d: the engine has grown a heavy dependency (go list -deps %s)",
				engine.ImportPath, len(engine.Deps), maxEngineDeps, engine.ImportPath)
		}
	})

	t.Run("output imports only the engine", func(t *testing.T) {
		output := g.pkg(t, "drift/output")
		engine := g.module + "/drift"
		for _, imp := range output.Imports {
			if g.inModule(imp) && imp != engine {
				t.Errorf("%s imports %s: of driftwatch packages, report formats import only %s", output.ImportPath, imp, engine)
			}
		}
		g.forbidDeps(t, output, "report formats do no I/O (no client-go, go-git, kustomize)", doesIO)
	})

	t.Run("sources reach no other driftwatch package", func(t *testing.T) {
		for _, rel := range []string{"gitsource", "informer"} {
			root := g.pkg(t, rel).ImportPath
			for _, ip := range g.own {
				if !underPath(ip, root) || g.isHarness(ip) {
					continue
				}
				g.forbidDeps(t, g.pkgs[ip], "gitsource and informer depend on no other driftwatch package", func(dep string) bool {
					return g.inModule(dep) && !underPath(dep, root)
				})
			}
		}
	})

	t.Run("the SOPS reader stands alone", func(t *testing.T) {
		reader := g.pkg(t, "gitsource/sopsfile")
		gitsource := g.module + "/gitsource"
		g.forbidDeps(t, reader, "the SOPS reader imports no driftwatch package but gitsource/internal", func(ip string) bool {
			return g.inModule(ip) && ip != reader.ImportPath && !underPath(ip, gitsource+"/internal")
		})
		for _, ip := range g.own {
			if ip != gitsource && slices.Contains(g.pkgs[ip].Imports, reader.ImportPath) {
				t.Errorf("%s imports %s: only %s reads SOPS files; the rest get its rendered objects", ip, reader.ImportPath, gitsource)
			}
		}
	})

	t.Run("the sops library stays in tests", func(t *testing.T) {
		// Its key services link every cloud SDK (AWS, Azure, GCP, Vault,
		// gRPC); driftwatch decrypts with its own reader, and only the
		// harness that encrypts test files uses the library.
		for _, ip := range g.own {
			if g.isHarness(ip) {
				continue
			}
			g.forbidDeps(t, g.pkgs[ip], "of the sops library, only its shamir package is linked", func(dep string) bool {
				return underPath(dep, "github.com/getsops/sops/v3") && dep != "github.com/getsops/sops/v3/shamir"
			})
		}
	})

	t.Run("the fleet hub reads reports, not sources", func(t *testing.T) {
		// The hub is a second consumer of the report objects: it may read
		// them (drift/pipeline/reports for their format, informer for the
		// watch, drift/output's escaping for its markdown) but never render
		// a source or compare a cluster itself.
		m := g.module
		allowed := map[string][]string{
			m + "/drift/fleet":          {m + "/drift", m + "/drift/output", m + "/drift/pipeline/reports", m + "/informer"},
			m + "/drift/fleet/audit":    {m + "/drift", m + "/drift/fleet"},
			m + "/drift/fleet/clusters": {},
		}
		for ip, ok := range allowed {
			p := g.pkg(t, strings.TrimPrefix(ip, m+"/"))
			for _, imp := range p.Imports {
				if g.inModule(imp) && !slices.Contains(ok, imp) {
					t.Errorf("%s imports %s: of driftwatch packages it may import only %v", ip, imp, ok)
				}
			}
		}
		for _, ip := range g.own {
			if underPath(ip, m+"/drift/fleet") && !g.isHarness(ip) && allowed[ip] == nil {
				t.Errorf("%s: a new package of the hub needs its import rule here", ip)
			}
		}
	})

	t.Run("nothing imports a command", func(t *testing.T) {
		cmds := g.module + "/cmd"
		for _, ip := range g.own {
			p := g.pkgs[ip]
			for _, imports := range [][]string{p.Imports, p.TestImports, p.XTestImports} {
				for _, imp := range imports {
					if underPath(imp, cmds) && imp != ip {
						t.Errorf("%s imports %s: commands are wiring, share code through a library package", ip, imp)
					}
				}
			}
		}
	})

	t.Run("harnesses only in tests, demo and bench", func(t *testing.T) {
		var harnesses []string
		for _, ip := range g.own {
			if g.isHarness(ip) {
				harnesses = append(harnesses, ip)
			}
		}
		if len(harnesses) == 0 {
			t.Fatal("found no harness package (…/gittest, …/apiservertest, …/informertest)")
		}
		t.Logf("harness packages: %s", strings.Join(harnesses, ", "))
		allowed := []string{g.module + "/cmd/driftwatch-demo", g.module + "/cmd/driftwatch-bench"}
		for _, ip := range g.own {
			if g.isHarness(ip) || slices.Contains(allowed, ip) {
				continue
			}
			g.forbidDeps(t, g.pkgs[ip], "test harnesses are for tests, the demo and the bench only", g.isHarness)
		}
	})
}
