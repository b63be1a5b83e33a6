package adopt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/driftwatch/driftwatch/gitsource"
)

// workspace is a temporary copy of the source in which edits are made and
// rendered: the source itself is never written, and a failed edit is
// undone by writing the file back.
type workspace struct {
	src  Source
	dir  string
	mode gitsource.RenderMode
	// original holds each touched file's content in the source (nil: it
	// did not exist), by slash path relative to the root.
	original map[string][]byte
}

func newWorkspace(src Source) (*workspace, error) {
	st, err := os.Stat(src.Root)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("directory %s: not found or not a directory", src.Root)
	}
	dir, err := os.MkdirTemp("", "driftwatch-adopt-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	ws := &workspace{src: src, dir: dir, original: map[string][]byte{}}
	if err := copyTree(src.Root, dir); err != nil {
		ws.close()
		return nil, fmt.Errorf("copying %s: %w", src.Root, err)
	}
	ws.mode = detectMode(filepath.Join(dir, filepath.FromSlash(src.Path)), src.Render.Mode)
	return ws, nil
}

func (w *workspace) close() { os.RemoveAll(w.dir) }

// copyTree copies a directory, .git left out, symbolic links as links
// (rendering confines them to the root as it would the source's).
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		switch {
		case d.IsDir() && d.Name() == ".git" && p != from:
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(dst, data, 0o644)
		}
		return nil
	})
}

// detectMode chooses how the path renders, as gitsource does.
func detectMode(target string, mode gitsource.RenderMode) gitsource.RenderMode {
	if mode != gitsource.RenderAuto {
		return mode
	}
	st, err := os.Stat(target)
	if err != nil || !st.IsDir() {
		return gitsource.RenderPlain
	}
	if kustomizationFile(target) != "" {
		return gitsource.RenderKustomize
	}
	if _, err := os.Stat(filepath.Join(target, "Chart.yaml")); err == nil {
		return gitsource.RenderHelm
	}
	return gitsource.RenderPlain
}

// kustomizationFile returns the kustomization's name in dir, or "".
func kustomizationFile(dir string) string {
	for _, n := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if st, err := os.Stat(filepath.Join(dir, n)); err == nil && !st.IsDir() {
			return n
		}
	}
	return ""
}

// abs is a slash path of the source in the workspace.
func (w *workspace) abs(rel string) string { return filepath.Join(w.dir, filepath.FromSlash(rel)) }

// rel is the slash path, relative to the root, of a workspace path.
func (w *workspace) rel(abs string) string {
	r, err := filepath.Rel(w.dir, abs)
	if err != nil {
		return abs
	}
	return filepath.ToSlash(r)
}

// inside reports whether a slash path stays inside the root.
func inside(rel string) bool {
	return rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

// read returns a file's current content.
func (w *workspace) read(rel string) ([]byte, error) {
	if !inside(rel) {
		return nil, fmt.Errorf("%s: %w", rel, gitsource.ErrOutsideRoot)
	}
	return os.ReadFile(w.abs(rel))
}

// apply writes changes (nil content deletes the file) and returns what
// undoes them.
func (w *workspace) apply(changes map[string][]byte) (undo func(), err error) {
	type prev struct {
		data   []byte
		exists bool
	}
	before := map[string]prev{}
	undo = func() {
		for f, p := range before {
			if p.exists {
				_ = os.WriteFile(w.abs(f), p.data, 0o644)
			} else {
				_ = os.Remove(w.abs(f))
			}
		}
	}
	for f, data := range changes {
		if !inside(f) {
			undo()
			return nil, fmt.Errorf("%s: %w", f, gitsource.ErrOutsideRoot)
		}
		old, rerr := os.ReadFile(w.abs(f))
		exists := rerr == nil
		if rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			undo()
			return nil, rerr
		}
		before[f] = prev{old, exists}
		if _, seen := w.original[f]; !seen {
			if exists {
				w.original[f] = old
			} else {
				w.original[f] = nil
			}
		}
		if data == nil {
			err = os.Remove(w.abs(f))
		} else {
			err = os.WriteFile(w.abs(f), data, 0o644)
		}
		if err != nil {
			undo()
			return nil, err
		}
	}
	return undo, nil
}

// render renders the workspace as the source would be.
func (w *workspace) render(ctx context.Context) (*gitsource.Rendered, error) {
	return gitsource.RenderWith(ctx, w.dir, w.src.Path, w.src.Render)
}

// changes compares every touched file with the source.
func (w *workspace) changes() []FileChange {
	m := map[string]FileChange{}
	for f, old := range w.original {
		cur, err := os.ReadFile(w.abs(f))
		if err != nil {
			cur = nil
		}
		if (old == nil) == (cur == nil) && bytes.Equal(old, cur) {
			continue
		}
		m[f] = FileChange{Path: f, Old: old, New: cur}
	}
	return sortedChanges(m)
}

// isSOPSFile reports whether a YAML or JSON file carries SOPS metadata:
// editing any value would break its MAC.
func isSOPSFile(data []byte) bool {
	for _, sp := range splitDocs(data) {
		d, err := parseDoc(data[sp.start:sp.end])
		if err != nil || d.top() == nil {
			continue
		}
		if m := mapValue(d.top(), "sops"); m != nil && (mapValue(m, "mac") != nil || mapValue(m, "version") != nil) {
			return true
		}
	}
	return false
}
