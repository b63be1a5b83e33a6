package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// release builds the binary of every platform and writes its archive and
// SBOM, then the krew manifest and checksums.txt, into o.Out. Files of
// other releases already there are left alone; those of this release are
// replaced whole (written beside, then renamed).
func release(ctx context.Context, o options, stdout, stderr io.Writer) error {
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	tmp, err := os.MkdirTemp(o.Out, ".build-")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer os.RemoveAll(tmp)

	extra, err := extraFiles(o)
	if err != nil {
		return err
	}
	sums := map[string]string{}
	var archives []krewArchive
	for _, p := range o.Platforms {
		bin := filepath.Join(tmp, p.OS+"_"+p.Arch, binaryName)
		fmt.Fprintf(stdout, "building %s for %s\n", o.Package, p)
		if err := buildBinary(ctx, o, p, bin, stderr); err != nil {
			return err
		}
		written, a, err := packageBinary(o, p, bin, extra)
		if err != nil {
			return err
		}
		for _, f := range written {
			if err := writeAtomic(filepath.Join(o.Out, f.Name), f.Data); err != nil {
				return err
			}
			sums[f.Name] = sha256Hex(f.Data)
			fmt.Fprintf(stdout, "wrote %s (%s)\n", filepath.Join(o.Out, f.Name), size(len(f.Data)))
		}
		archives = append(archives, a)
	}
	manifest, err := krewManifest(o.Version, archives)
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(o.Out, krewManifestName), manifest); err != nil {
		return err
	}
	sums[krewManifestName] = sha256Hex(manifest)
	if err := writeAtomic(filepath.Join(o.Out, checksumsName), checksums(sums)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s\n", filepath.Join(o.Out, krewManifestName), filepath.Join(o.Out, checksumsName))
	return nil
}

// extraFiles are the files every archive holds beside the binary.
func extraFiles(o options) ([]archiveFile, error) {
	var files []archiveFile
	for _, f := range []struct{ flag, path, name string }{
		{"--readme", o.README, "README.md"},
		{"--license", o.License, "LICENSE"},
	} {
		if f.path == "" {
			continue
		}
		data, err := os.ReadFile(f.path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.flag, err)
		}
		files = append(files, archiveFile{Name: f.name, Mode: 0o644, Data: data})
	}
	return files, nil
}

// packageBinary checks the binary built for p and returns the release
// files made of it (its archive and its SBOM; Mode unused) and what the
// krew manifest says of the archive.
func packageBinary(o options, p platform, bin string, extra []archiveFile) ([]archiveFile, krewArchive, error) {
	bi, err := checkBinary(bin, p)
	if err != nil {
		return nil, krewArchive{}, err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, krewArchive{}, fmt.Errorf("binary: %w", err)
	}
	files := append([]archiveFile{{Name: binaryName, Mode: 0o755, Data: data}}, extra...)
	tgz, err := tarGz(files, o.Created)
	if err != nil {
		return nil, krewArchive{}, err
	}
	name := archiveName(o.Version, p)
	a := krewArchive{
		Platform: p,
		URI:      o.DownloadURL + "/" + o.Version + "/" + name,
		SHA256:   sha256Hex(tgz),
		Files:    []string{binaryName},
	}
	if o.License != "" {
		a.Files = append(a.Files, "LICENSE")
	}
	sbomFile := sbomName(o.Version, p)
	doc, err := sbom(sbomInput{
		Version:   o.Version,
		Platform:  p,
		Info:      bi,
		BinarySHA: sha256Hex(data),
		Archive:   a.URI,
		Namespace: o.DownloadURL + "/" + o.Version + "/" + sbomFile,
		Created:   o.Created,
	})
	if err != nil {
		return nil, krewArchive{}, err
	}
	return []archiveFile{{Name: name, Data: tgz}, {Name: sbomFile, Data: doc}}, a, nil
}

// writeAtomic writes data next to path and renames it into place, so a
// failed run never leaves a truncated file behind.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// size is n bytes in MB with one decimal.
func size(n int) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
