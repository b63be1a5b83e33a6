package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

const testVersion = "v9.8.7-disttest"

// testEpoch stands for $SOURCE_DATE_EPOCH (make dist's default is the
// HEAD commit's time).
var testEpoch = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// hostPlatform is this machine's platform: the release test builds only
// it (make dist builds all four), so that it can run the binary.
func hostPlatform(t *testing.T) platform {
	t.Helper()
	p := platform{runtime.GOOS, runtime.GOARCH}
	if !slices.Contains(allPlatforms, p) {
		t.Skipf("%s is not a release platform (%s)", p, platformList(allPlatforms))
	}
	return p
}

// testContext ends 30 seconds before the test binary's timeout, so a slow
// build fails with go's output rather than a panic.
func testContext(t *testing.T) context.Context {
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-30*time.Second))
		t.Cleanup(cancel)
	}
	return ctx
}

// releaseInto runs driftwatch-dist as make dist does, for this machine's
// platform, into out.
func releaseInto(t *testing.T, out string) {
	t.Helper()
	args := []string{"--version", testVersion, "--platforms", hostPlatform(t).String(),
		"--out", out, "--readme", "../../README.md"}
	var stdout, stderr bytes.Buffer
	start := time.Now()
	if code := run(testContext(t), args, &stdout, &stderr); code != 0 {
		t.Fatalf("driftwatch-dist %q: exit %d\n%s%s", args, code, stdout.String(), stderr.String())
	}
	t.Logf("driftwatch-dist into %s: %s\n%s", out, time.Since(start).Round(time.Millisecond), stdout.String())
}

// readDir returns every file in dir by name.
func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		files[e.Name()] = data
	}
	return files
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestRelease builds this machine's release twice and checks the files
// are the same bytes, that the archive holds a binary that runs and says
// its version, and that checksums.txt, the krew manifest and the SBOM
// describe what was built.
func TestRelease(t *testing.T) {
	p := hostPlatform(t)
	t.Setenv("SOURCE_DATE_EPOCH", strconv.FormatInt(testEpoch.Unix(), 10))
	dirA, dirB := t.TempDir(), t.TempDir()
	releaseInto(t, dirA)
	releaseInto(t, dirB)
	files, again := readDir(t, dirA), readDir(t, dirB)

	archive, sbomFile := archiveName(testVersion, p), sbomName(testVersion, p)
	wantNames := []string{checksumsName, krewManifestName, archive, sbomFile}
	slices.Sort(wantNames)
	if diff := cmp.Diff(wantNames, sortedKeys(files)); diff != "" {
		t.Fatalf("files in --out (-want +got):\n%s", diff)
	}
	t.Run("reproducible", func(t *testing.T) {
		if diff := cmp.Diff(sortedKeys(files), sortedKeys(again)); diff != "" {
			t.Fatalf("second run's files (-first +second):\n%s", diff)
		}
		for _, name := range sortedKeys(files) {
			if !bytes.Equal(files[name], again[name]) {
				t.Errorf("%s: the two runs differ (sha256 %s and %s)", name, sha256Hex(files[name]), sha256Hex(again[name]))
			}
		}
	})

	bin := filepath.Join(t.TempDir(), binaryName)
	var entries map[string][]byte
	t.Run("archive", func(t *testing.T) {
		entries = checkArchive(t, files[archive])
		readme, err := os.ReadFile("../../README.md")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(entries["README.md"], readme) {
			t.Error("README.md in the archive is not the repository's")
		}
		if err := os.WriteFile(bin, entries[binaryName], 0o755); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("binary runs and says its version", func(t *testing.T) {
		out, err := exec.CommandContext(testContext(t), bin, "version").CombinedOutput()
		if err != nil {
			t.Fatalf("driftwatch version: %v\n%s", err, out)
		}
		// -buildvcs=false: no commit after the version.
		want := "driftwatch " + testVersion + " (" + runtime.Version() + ", " + p.String() + ")\n"
		if string(out) != want {
			t.Errorf("driftwatch version = %q, want %q", out, want)
		}
		// krew installs the binary behind a symbolic link kubectl-drift.
		link := filepath.Join(filepath.Dir(bin), "kubectl-"+krewPluginName)
		if err := os.Symlink(bin, link); err != nil {
			t.Fatal(err)
		}
		out, err = exec.CommandContext(testContext(t), link, "check", "--help").CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl-drift check --help: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "kubectl drift check") {
			t.Errorf("kubectl-drift check --help does not name kubectl drift check:\n%s", out)
		}
	})

	t.Run("checksums.txt", func(t *testing.T) {
		listed := map[string]string{}
		var order []string
		sc := bufio.NewScanner(bytes.NewReader(files[checksumsName]))
		line := regexp.MustCompile(`^([0-9a-f]{64})  (\S+)$`)
		for sc.Scan() {
			m := line.FindStringSubmatch(sc.Text())
			if m == nil {
				t.Fatalf("checksums.txt: %q is not sha256sum's format", sc.Text())
			}
			listed[m[2]] = m[1]
			order = append(order, m[2])
		}
		want := map[string]string{}
		for name, data := range files {
			if name != checksumsName {
				want[name] = sha256Hex(data)
			}
		}
		if diff := cmp.Diff(want, listed); diff != "" {
			t.Errorf("checksums.txt (-files +listed):\n%s", diff)
		}
		if !slices.IsSorted(order) {
			t.Errorf("checksums.txt lists %q, not sorted by name", order)
		}
	})

	t.Run("krew manifest", func(t *testing.T) {
		checkKrewManifest(t, files[krewManifestName], map[platform]krewArchive{
			p: {Platform: p, URI: defaultDownloadURL + "/" + testVersion + "/" + archive, SHA256: sha256Hex(files[archive])},
		}, entries)
	})

	t.Run("sbom", func(t *testing.T) {
		bindata, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		checkSBOM(t, files[sbomFile], sha256Hex(bindata))
	})
}

// checkArchive checks the tarball's bytes owe nothing to the machine or
// the time it was made, and returns its files.
func checkArchive(t *testing.T, tgz []byte) map[string][]byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header: name %q, time %v; want neither", zr.Name, zr.ModTime)
	}
	type entry struct {
		Name         string
		Mode         int64
		UID, GID     int
		Uname, Gname string
		ModTime      time.Time
		Type         byte
	}
	var got []entry
	files := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, entry{h.Name, h.Mode, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime.UTC(), h.Typeflag})
		if files[h.Name], err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
	}
	want := []entry{
		{"README.md", 0o644, 0, 0, "", "", testEpoch, tar.TypeReg},
		{binaryName, 0o755, 0, 0, "", "", testEpoch, tar.TypeReg},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archive entries (-want +got):\n%s", diff)
	}
	return files
}

// The krew plugin manifest as krew reads it (sigs.k8s.io/krew's
// pkg/index types: JSON field names, through sigs.k8s.io/yaml).
type krewIndexPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Homepage         string `json:"homepage"`
		Caveats          string `json:"caveats"`
		Platforms        []struct {
			URI      string `json:"uri"`
			SHA256   string `json:"sha256"`
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			Files []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
			Bin string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

// checkKrewManifest checks the manifest passes krew's validation and
// installs each archive of want: its platform, its URL and sha256, the
// binary copied out of archiveFiles and linked as kubectl-drift.
func checkKrewManifest(t *testing.T, manifest []byte, want map[platform]krewArchive, archiveFiles map[string][]byte) {
	t.Helper()
	var m krewIndexPlugin
	if err := yaml.UnmarshalStrict(manifest, &m); err != nil {
		t.Fatalf("krew manifest: %v\n%s", err, manifest)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != krewPluginName {
		t.Errorf("krew manifest is %s %s %q, want krew.googlecontainertools.github.com/v1alpha2 Plugin %q", m.APIVersion, m.Kind, m.Metadata.Name, krewPluginName)
	}
	if m.Spec.Version != testVersion || m.Spec.ShortDescription == "" || m.Spec.Description == "" {
		t.Errorf("krew spec: version %q (want %q), shortDescription %q, description %q", m.Spec.Version, testVersion, m.Spec.ShortDescription, m.Spec.Description)
	}
	got := map[platform]krewArchive{}
	for _, pl := range m.Spec.Platforms {
		p := platform{pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"]}
		if len(pl.Selector.MatchLabels) != 2 {
			t.Errorf("platform %s: matchLabels %v, want os and arch", p, pl.Selector.MatchLabels)
		}
		got[p] = krewArchive{Platform: p, URI: pl.URI, SHA256: pl.SHA256}
		var installed []string
		for _, f := range pl.Files {
			if _, ok := archiveFiles[f.From]; !ok || f.To != "." {
				t.Errorf("platform %s: files entry %s → %s, want a file of the archive → .", p, f.From, f.To)
			}
			installed = append(installed, f.From)
		}
		if pl.Bin != binaryName || !slices.Contains(installed, pl.Bin) {
			t.Errorf("platform %s: bin %q among files %q, want %q", p, pl.Bin, installed, binaryName)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("krew platforms (-want +got):\n%s", diff)
	}
}

// checkSBOM checks the SPDX document describes the binary and lists the
// main module and the modules only a clone can build with (k8s.io/kubernetes
// and the staging modules go.mod replaces).
func checkSBOM(t *testing.T, doc []byte, binSHA string) {
	t.Helper()
	var d struct {
		SPDXVersion string `json:"spdxVersion"`
		DataLicense string `json:"dataLicense"`
		SPDXID      string `json:"SPDXID"`
		Namespace   string `json:"documentNamespace"`
		Created     struct {
			Created string `json:"created"`
		} `json:"creationInfo"`
		Packages []struct {
			SPDXID      string `json:"SPDXID"`
			Name        string `json:"name"`
			VersionInfo string `json:"versionInfo"`
			Checksums   []struct {
				Algorithm, ChecksumValue string
			} `json:"checksums"`
			Comment      string `json:"comment"`
			ExternalRefs []struct {
				ReferenceType, ReferenceLocator string
			} `json:"externalRefs"`
		} `json:"packages"`
		Relationships []struct {
			From string `json:"spdxElementId"`
			To   string `json:"relatedSpdxElement"`
			Type string `json:"relationshipType"`
		} `json:"relationships"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatalf("sbom: %v", err)
	}
	if d.SPDXVersion != "SPDX-2.3" || d.DataLicense != "CC0-1.0" || d.SPDXID != "SPDXRef-DOCUMENT" || d.Namespace == "" {
		t.Errorf("sbom: %s %s %s namespace %q", d.SPDXVersion, d.DataLicense, d.SPDXID, d.Namespace)
	}
	if want := testEpoch.Format(time.RFC3339); d.Created.Created != want {
		t.Errorf("sbom created %q, want %q", d.Created.Created, want)
	}
	idRE := regexp.MustCompile(`^SPDXRef-[A-Za-z0-9.-]+$`)
	byName := map[string]int{}
	ids := map[string]bool{}
	for i, p := range d.Packages {
		if !idRE.MatchString(p.SPDXID) || ids[p.SPDXID] {
			t.Errorf("package %s: SPDXID %q invalid or repeated", p.Name, p.SPDXID)
		}
		ids[p.SPDXID] = true
		byName[p.Name] = i
	}
	pkg := func(name string) int {
		i, ok := byName[name]
		if !ok {
			t.Fatalf("sbom lists no package %s", name)
		}
		return i
	}
	bin := d.Packages[pkg(binaryName)]
	if len(bin.Checksums) != 1 || bin.Checksums[0].ChecksumValue != binSHA || bin.VersionInfo != testVersion {
		t.Errorf("sbom's binary: version %q checksums %v, want %s and sha256 %s", bin.VersionInfo, bin.Checksums, testVersion, binSHA)
	}
	if m := d.Packages[pkg("github.com/driftwatch/driftwatch")]; m.VersionInfo != testVersion {
		t.Errorf("sbom's main module at %q, want %q", m.VersionInfo, testVersion)
	}
	k := d.Packages[pkg("k8s.io/kubernetes")]
	if !strings.HasPrefix(k.VersionInfo, "v1.") || len(k.Checksums) != 1 || !strings.Contains(k.Comment, "go.sum h1:") ||
		len(k.ExternalRefs) != 1 || k.ExternalRefs[0].ReferenceLocator != "pkg:golang/k8s.io/kubernetes@"+k.VersionInfo {
		t.Errorf("sbom's k8s.io/kubernetes: %+v", k)
	}
	if a := d.Packages[pkg("k8s.io/api")]; !strings.HasPrefix(a.Comment, "go.mod: replace k8s.io/api ") {
		t.Errorf("sbom's k8s.io/api does not say go.mod replaces it: %q", a.Comment)
	}
	pkg("stdlib")
	contained := map[string]bool{}
	for _, r := range d.Relationships {
		switch {
		case r.Type == "DESCRIBES" && r.From == "SPDXRef-DOCUMENT" && r.To == bin.SPDXID:
		case r.Type == "CONTAINS" && r.From == bin.SPDXID && ids[r.To]:
			contained[r.To] = true
		default:
			t.Errorf("sbom relationship %+v", r)
		}
	}
	if len(contained) != len(d.Packages)-1 {
		t.Errorf("the binary contains %d packages of %d", len(contained), len(d.Packages)-1)
	}
}

// TestBadInput checks each mistake on the command line is refused before
// anything is built, with one line naming it and exit code 2.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		args  []string
		epoch string
		want  string
	}{
		{"no version", []string{}, "", "--version: required"},
		{"version with a slash", []string{"--version", "v1/2"}, "", `--version "v1/2": only letters`},
		{"version with a space", []string{"--version", "v1 2"}, "", `--version "v1 2": only letters`},
		{"unknown platform", []string{"--version", "v1.2.3", "--platforms", "linux/amd64,windows/amd64"}, "", `--platforms: unknown platform "windows/amd64" (want some of linux/amd64,linux/arm64,darwin/amd64,darwin/arm64)`},
		{"platform without arch", []string{"--version", "v1.2.3", "--platforms", "linux"}, "", `--platforms: unknown platform "linux"`},
		{"no platform", []string{"--version", "v1.2.3", "--platforms", " , "}, "", "--platforms: none given"},
		{"missing README", []string{"--version", "v1.2.3", "--readme", filepath.Join(dir, "README.md")}, "", "--readme: stat " + filepath.Join(dir, "README.md") + ": no such file or directory"},
		{"license a directory", []string{"--version", "v1.2.3", "--readme", "../../README.md", "--license", dir}, "", "--license " + dir + ": not a regular file"},
		{"bad SOURCE_DATE_EPOCH", []string{"--version", "v1.2.3", "--readme", "../../README.md"}, "yesterday", `SOURCE_DATE_EPOCH="yesterday": not a Unix time`},
		{"argument", []string{"--version", "v1.2.3", "dist"}, "", `unexpected argument "dist"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SOURCE_DATE_EPOCH", tt.epoch)
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append(tt.args, "--out", filepath.Join(dir, "dist")), &stdout, &stderr)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			checkOneLine(t, stderr.String(), "driftwatch-dist: error: "+tt.want)
			if _, err := os.Stat(filepath.Join(dir, "dist")); err == nil {
				t.Error("--out was created")
			}
		})
	}
}

// TestBadBinary checks the binary a build left is refused, with one line,
// when it could not be what the archive says: missing, not a Go binary, or
// built for another platform.
func TestBadBinary(t *testing.T) {
	host := hostPlatform(t)
	other := allPlatforms[0]
	if other == host {
		other = allPlatforms[1]
	}
	self, err := os.Executable() // a Go binary for this platform
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), binaryName)
	tests := []struct {
		name     string
		binary   string
		platform platform
		want     string
	}{
		{"missing binary", missing, host, "binary: open " + missing + ": no such file or directory"},
		{"not a Go binary", "../../README.md", host, "binary ../../README.md: no Go build information in it: "},
		{"another platform", self, other, "binary " + self + ": built for " + host.String() + ", want " + other.String()},
	}
	o := options{Version: testVersion, DownloadURL: defaultDownloadURL, Created: testEpoch}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := packageBinary(o, tt.platform, tt.binary, nil)
			if err == nil {
				t.Fatal("no error")
			}
			checkOneLine(t, err.Error()+"\n", tt.want)
		})
	}
}

// checkOneLine fails unless msg is one line starting with want.
func checkOneLine(t *testing.T, msg, want string) {
	t.Helper()
	if strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") || !strings.HasPrefix(msg, want) {
		t.Errorf("got %q\nwant one line starting with %q", msg, want)
	}
}

func TestKrewVersion(t *testing.T) {
	tests := []struct{ in, want string }{
		{"v1.2.3", "v1.2.3"},
		{"1.2.3", "v1.2.3"},
		{"v1.2.3-rc.1", "v1.2.3-rc.1"},
		{"v1.2.3-4-gd03a077-dirty", "v1.2.3-4-gd03a077-dirty"},
		// git describe --always on a repository without tags.
		{"d03a077", "v0.0.0-d03a077"},
		{"d03a077-dirty", "v0.0.0-d03a077-dirty"},
		{"dev", "v0.0.0-dev"},
		{"v1.2_x", "v0.0.0-v1.2-x"},
	}
	for _, tt := range tests {
		got, err := krewVersion(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("krewVersion(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSPDXIDs(t *testing.T) {
	ids := spdxIDs{}
	var got []string
	for _, name := range []string{"Module-github.com/a/b", "Module-github.com/a-b", "Module-gopkg.in/yaml.v3", "Module-x_y~z"} {
		got = append(got, ids.next(name))
	}
	want := []string{"SPDXRef-Module-github.com-a-b", "SPDXRef-Module-github.com-a-b-2", "SPDXRef-Module-gopkg.in-yaml.v3", "SPDXRef-Module-x-y-z"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SPDX IDs (-want +got):\n%s", diff)
	}
	if got := escapeModulePath("github.com/BurntSushi/toml"); got != "github.com/!burnt!sushi/toml" {
		t.Errorf("escapeModulePath = %q", got)
	}
}
