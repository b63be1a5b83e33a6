package gitsource

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/driftwatch/driftwatch/gitsource/sopsfile"
)

// ErrOutsideRoot is returned for any path that leaves the repository root,
// directly, through "..", or through a symbolic link.
var ErrOutsideRoot = errors.New("path escapes the repository root")

// confinedFS is a read-only kustomize file system that refuses every path
// outside root, symbolic links resolved. krusty's own RootOnly restriction
// only confines files to each kustomization's directory and still lets a
// base be loaded from anywhere on disk; this closes that gap.
type confinedFS struct {
	root string // absolute, symlinks evaluated
	disk filesys.FileSystem
	// sops decrypts SOPS files as they are read; nil reads them as they are.
	sops *sopsfile.Reader
	// overlay holds files rendering made up (a kustomization with its
	// helmCharts: replaced by the rendered charts), by absolute path.
	overlay map[string][]byte
}

var _ filesys.FileSystem = (*confinedFS)(nil)

func newConfinedFS(root string) (*confinedFS, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, err
	}
	return &confinedFS{root: real, disk: filesys.MakeFsOnDisk()}, nil
}

// check resolves path (following every symbolic link that exists) and
// returns an error unless the result is inside the root.
func (c *confinedFS) check(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	resolved, err := resolveExisting(abs)
	if err != nil {
		return err
	}
	if !within(c.root, resolved) {
		return fmt.Errorf("%s: %w", c.rel(abs), ErrOutsideRoot)
	}
	return nil
}

// rel names path relative to the root when it can, for error messages that
// do not leak temporary directory names.
func (c *confinedFS) rel(path string) string {
	if r, err := filepath.Rel(c.root, path); err == nil {
		return r
	}
	return path
}

// resolveExisting evaluates symbolic links in the longest existing prefix of
// path and appends the rest unchanged.
func resolveExisting(path string) (string, error) {
	rest := ""
	cur := path
	for {
		real, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(real, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return path, nil
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

func within(root, path string) bool {
	return path == root || strings.HasPrefix(path, root+string(filepath.Separator))
}

var errReadOnly = errors.New("rendering may not write files")

func (c *confinedFS) Create(string) (filesys.File, error) { return nil, errReadOnly }
func (c *confinedFS) Mkdir(string) error                  { return errReadOnly }
func (c *confinedFS) MkdirAll(string) error               { return errReadOnly }
func (c *confinedFS) RemoveAll(string) error              { return errReadOnly }
func (c *confinedFS) WriteFile(string, []byte) error      { return errReadOnly }

func (c *confinedFS) Open(path string) (filesys.File, error) {
	if err := c.check(path); err != nil {
		return nil, err
	}
	return c.disk.Open(path)
}

func (c *confinedFS) IsDir(path string) bool {
	return c.check(path) == nil && c.disk.IsDir(path)
}

func (c *confinedFS) ReadDir(path string) ([]string, error) {
	if err := c.check(path); err != nil {
		return nil, err
	}
	return c.disk.ReadDir(path)
}

func (c *confinedFS) CleanedAbs(path string) (filesys.ConfirmedDir, string, error) {
	if _, ok := c.overlay[filepath.Clean(path)]; ok {
		return filesys.ConfirmedDir(filepath.Dir(filepath.Clean(path))), filepath.Base(path), nil
	}
	if err := c.check(path); err != nil {
		return "", "", err
	}
	return c.disk.CleanedAbs(path)
}

func (c *confinedFS) Exists(path string) bool {
	if _, ok := c.overlay[filepath.Clean(path)]; ok {
		return true
	}
	return c.check(path) == nil && c.disk.Exists(path)
}

func (c *confinedFS) Glob(pattern string) ([]string, error) {
	matches, err := c.disk.Glob(pattern)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		if c.check(m) == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

func (c *confinedFS) ReadFile(path string) ([]byte, error) {
	if data, ok := c.overlay[filepath.Clean(path)]; ok {
		return data, nil
	}
	if err := c.check(path); err != nil {
		return nil, err
	}
	if err := checkSize(path, c.rel(path)); err != nil {
		return nil, err
	}
	data, err := c.disk.ReadFile(path)
	if err != nil || c.sops == nil {
		return data, err
	}
	return c.sops.Read(c.rel(path), data)
}

// MaxManifestSize bounds one manifest file: etcd stores objects of at most
// 1.5 MiB, so a larger file is a mistake or an attack, and parsing it would
// cost seconds and gigabytes.
const MaxManifestSize = 32 << 20

// ErrTooLarge is returned for a file over MaxManifestSize.
var ErrTooLarge = errors.New("file is larger than 32 MiB")

func checkSize(path, display string) error {
	if st, err := os.Stat(path); err == nil && st.Size() > MaxManifestSize {
		return fmt.Errorf("%s: %w", display, ErrTooLarge)
	}
	return nil
}

func (c *confinedFS) Walk(path string, walkFn filepath.WalkFunc) error {
	if err := c.check(path); err != nil {
		return err
	}
	return c.disk.Walk(path, func(p string, info os.FileInfo, err error) error {
		if err == nil {
			if cerr := c.check(p); cerr != nil {
				return walkFn(p, info, cerr)
			}
		}
		return walkFn(p, info, err)
	})
}
