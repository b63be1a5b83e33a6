package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// cacheSubdir is a directory under driftwatch's cache root
// ($XDG_CACHE_HOME/driftwatch), or "" when there is no home to put it in.
func cacheSubdir(name string) string {
	root := os.Getenv("XDG_CACHE_HOME")
	if root == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		root = filepath.Join(home, ".cache")
	}
	return filepath.Join(root, "driftwatch", name)
}

// loadHashKey returns the key for hashes of sensitive values: from the file
// given, else $DRIFTWATCH_HASH_KEY, else a random key kept (mode 0600) in
// the cache directory so hashes stay comparable across runs. Without any of
// those, no hashes are shown.
func loadHashKey(file string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("flag --hash-key-file: %w", err)
		}
		if k := strings.TrimSpace(string(b)); k != "" {
			return []byte(k), nil
		}
		return nil, fmt.Errorf("flag --hash-key-file: %s is empty", file)
	}
	if k := os.Getenv("DRIFTWATCH_HASH_KEY"); k != "" {
		return []byte(k), nil
	}
	dir := cacheSubdir("")
	if dir == "" {
		return nil, nil
	}
	path := filepath.Join(dir, "hash-key")
	if b, err := os.ReadFile(path); err == nil && len(b) >= 32 {
		return b, nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, nil
	}
	enc := []byte(hex.EncodeToString(key))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil
	}
	tmp, err := os.CreateTemp(dir, ".hash-key-*")
	if err != nil {
		return nil, nil
	}
	_, werr := tmp.Write(enc)
	if cerr := tmp.Close(); werr != nil || cerr != nil || os.Rename(tmp.Name(), path) != nil {
		os.Remove(tmp.Name())
		return nil, nil
	}
	return enc, nil
}
