package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/output"
)

// outputSpec is one -o value: a format written to stdout (Path empty) or
// to a file.
type outputSpec struct {
	Format output.Format
	Path   string
}

// parseOutputs parses -o values: FORMAT or FORMAT=PATH. At most one goes
// to stdout; a file's directory must exist.
func parseOutputs(values []string) ([]outputSpec, error) {
	var out []outputSpec
	stdout := 0
	for _, v := range values {
		name, path, hasPath := strings.Cut(v, "=")
		f, err := output.ParseFormat(name)
		if err != nil {
			return nil, fmt.Errorf("flag --output: %w", err)
		}
		if hasPath {
			if path == "" {
				return nil, fmt.Errorf("flag --output: %q names no file", v)
			}
			dir := filepath.Dir(path)
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				return nil, fmt.Errorf("flag --output: directory %s of %s does not exist", dir, path)
			}
			if st, err := os.Stat(path); err == nil && st.IsDir() {
				return nil, fmt.Errorf("flag --output: %s is a directory", path)
			}
		} else {
			stdout++
		}
		out = append(out, outputSpec{Format: f, Path: path})
	}
	if stdout > 1 {
		return nil, errors.New("flag --output: only one format can go to stdout; give the others a file (-o json=report.json)")
	}
	return out, nil
}

// writeOutputs renders the report in every requested format. Files are
// written through a temporary file and a rename, so a reader never sees
// half a report. color colours the text report on stdout, never a file;
// the text writer itself colours what it writes.
func writeOutputs(specs []outputSpec, r *drift.Report, stdout io.Writer, color bool) error {
	for _, s := range specs {
		var buf bytes.Buffer
		opts := output.WriteOptions{Color: color && s.Path == "" && s.Format == output.FormatText}
		if err := output.WriteWith(&buf, r, s.Format, opts); err != nil {
			return err
		}
		if s.Path == "" {
			if _, err := stdout.Write(buf.Bytes()); err != nil {
				return err
			}
			continue
		}
		if err := writeFileAtomic(s.Path, buf.Bytes()); err != nil {
			return fmt.Errorf("output %s: %w", s.Path, err)
		}
	}
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// useColor decides --color: always, never, or auto (a terminal, and
// NO_COLOR unset).
func useColor(mode string, w io.Writer) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto", "":
		return os.Getenv("NO_COLOR") == "" && isTerminal(w), nil
	}
	return false, fmt.Errorf("flag --color: unknown value %q (want auto, always or never)", mode)
}

// progress shows what a check is doing on a terminal's stderr, one line
// updated in place; on anything else it prints nothing.
type progress struct {
	w  io.Writer
	on bool
}

func newProgress(w io.Writer) *progress { return &progress{w: w, on: isTerminal(w)} }

func (p *progress) step(format string, args ...any) {
	if p.on {
		fmt.Fprintf(p.w, "\r\x1b[K"+format, args...)
	}
}

func (p *progress) done() {
	if p.on {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
