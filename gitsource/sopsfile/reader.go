// Package sopsfile reads SOPS-encrypted files as rendering reads them.
//
// SOPS-encrypted manifests (Flux's convention: values encrypted in place,
// a top-level "sops" block with the keys and the MAC) cannot be compared
// as they are: the ciphertext never equals the live value. With age keys,
// a Reader decrypts files as rendering reads them, as Flux's
// kustomize-controller does, and the decrypted fields are compared but
// never shown (Verdict.Sensitive). Without a key that opens a file, each
// encrypted value is left out of the desired object and named as not
// compared (Verdict.NotCompared): never a false drift, never an error for
// the whole run; an object that cannot be known at all without it is left
// out and listed (Unopened).
//
// Files are read by the package's own reader (file.go, yaml.go, json.go,
// dotenv.go, metadata.go, mac.go), not the sops library, which links every
// cloud key service into the binary; reader_test.go holds the two side by
// side. gitsource is its one user: rendering reads files through
// Reader.Read and hands the rendered objects to Finish.
package sopsfile

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/getsops/sops/v3/shamir"
	yamlv3 "go.yaml.in/yaml/v3"

	"github.com/driftwatch/driftwatch/gitsource/internal/fieldpath"
)

// ErrIntegrity is wrapped by the error for a SOPS file whose MAC or
// ciphertext does not verify: it was changed after it was encrypted, and
// `sops decrypt` refuses it too.
var ErrIntegrity = errors.New("the file was changed after it was encrypted")

// IsSOPS reports whether a decoded manifest carries SOPS metadata: a
// top-level sops map with a mac or a version. Such a manifest holds
// ciphertext until Finish has seen it.
func IsSOPS(obj map[string]any) bool {
	m, ok := obj["sops"].(map[string]any)
	if !ok {
		return false
	}
	_, mac := m["mac"]
	_, version := m["version"]
	return mac || version
}

// isEncrypted reports whether a value is a SOPS ciphertext: ENC[...].
func isEncrypted(v any) bool {
	s, ok := v.(string)
	return ok && strings.HasPrefix(s, "ENC[") && strings.HasSuffix(s, "]")
}

// stripSOPS removes the SOPS metadata and every encrypted value from a
// SOPS manifest (a list holding one goes whole) and returns the paths of
// what it removed, sorted (data.password, spec.items[0].token). A manifest
// without SOPS metadata is left alone.
func stripSOPS(obj map[string]any) []string {
	if !IsSOPS(obj) {
		return nil
	}
	delete(obj, "sops")
	var paths []string
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				p := fieldpath.Join(path, k)
				if isEncrypted(e) || holdsEncryptedItem(e) {
					// A list with an encrypted item goes whole: dropping
					// one item would make the list differ.
					delete(x, k)
					paths = append(paths, p)
					continue
				}
				walk(e, p)
			}
		case []any:
			for i, e := range x {
				walk(e, path+"["+strconv.Itoa(i)+"]")
			}
		}
	}
	walk(obj, "")
	sort.Strings(paths)
	return paths
}

// holdsEncryptedItem reports whether v is a list with an encrypted item.
func holdsEncryptedItem(v any) bool {
	l, ok := v.([]any)
	if !ok {
		return false
	}
	for _, e := range l {
		if isEncrypted(e) {
			return true
		}
	}
	return false
}

// Reader decrypts SOPS files as rendering reads them and remembers what
// it decrypted and which files no key opened, so that the rendered
// objects can name their sensitive fields and what cannot be known
// (Finish). One is made per render; Read is safe for concurrent use, and
// Finish is called once every file has been read.
//
// Only the age identities given are used: files are read by the
// package's own reader (file.go), not the sops library, so sops' lookups
// (SOPS_AGE_KEY*, ~/.config/sops, SSH keys, SOPS_AGE_KEY_CMD, key
// services, cloud KMS) do not exist here: nothing is read from the
// environment and nothing is executed.
type Reader struct {
	// identities open age-encrypted data keys; empty means no decryption.
	identities []age.Identity

	mu sync.Mutex
	// plaintexts are the text forms of every value decrypted.
	plaintexts map[string]struct{}
	// unopened are the SOPS files no key opens (none given, or none that
	// matches), by their path relative to the root; ciphers maps each of
	// their ciphertexts to that path.
	unopened map[string]*Sealed
	ciphers  map[string]string
}

// NewReader parses ageKeys, the text of one or more age identities
// (AGE-SECRET-KEY-1...), one per line, comments allowed; empty means no
// decryption: every SOPS file is read as no key opens it. An error names
// what is wrong with the keys, never their text.
func NewReader(ageKeys string) (*Reader, error) {
	s := &Reader{plaintexts: map[string]struct{}{}, unopened: map[string]*Sealed{}, ciphers: map[string]string{}}
	if strings.TrimSpace(ageKeys) == "" {
		return s, nil
	}
	// age wants each identity at the start of its line; key files pasted
	// into an environment variable are often indented.
	var text strings.Builder
	for _, l := range strings.Split(ageKeys, "\n") {
		text.WriteString(strings.TrimSpace(l) + "\n")
	}
	ids, err := age.ParseIdentities(strings.NewReader(text.String()))
	if err != nil {
		// age's messages name the line, never the key material.
		return nil, fmt.Errorf("sops: age keys: %w", err)
	}
	s.identities = ids
	return s, nil
}

// sopsFormat is how a SOPS file stores its tree.
type sopsFormat int

const (
	notSOPS sopsFormat = iota
	sopsYAML
	sopsJSON
	sopsDotenv
)

// dotenvMetadata finds the flattened SOPS metadata of a dotenv file.
var dotenvMetadata = regexp.MustCompile(`(?m)^sops_(mac|version)=`)

// sopsFormatOf says whether data is a SOPS file and in which store, by
// name and content: Flux's convention, a top-level sops map with a mac or
// a version (in the first document of a YAML stream, where sops reads
// it), or flattened sops_mac= and sops_version= lines in a .env file.
func sopsFormatOf(rel string, data []byte) sopsFormat {
	if !bytes.Contains(data, []byte("sops")) {
		return notSOPS
	}
	ext := strings.ToLower(filepath.Ext(rel))
	if ext == ".env" {
		if dotenvMetadata.Match(data) {
			return sopsDotenv
		}
		return notSOPS
	}
	var first map[string]any
	if err := yamlv3.NewDecoder(bytes.NewReader(data)).Decode(&first); err != nil || !IsSOPS(first) {
		return notSOPS
	}
	if ext == ".json" {
		return sopsJSON
	}
	return sopsYAML
}

// Read returns data, the file rel (relative to the repository root; it
// names the file in errors, warnings and Unopened), decrypted when it is a
// SOPS file a key opens, or unchanged when it is no SOPS file. A file
// whose integrity does not verify is an error wrapping ErrIntegrity. One
// no key opens is remembered (see Sealed) and returned as rendering is to
// read it: as it is, but with each document encrypted whole replaced by a
// stand-in of as many lines, which Finish recognises.
func (s *Reader) Read(rel string, data []byte) ([]byte, error) {
	format := sopsFormatOf(rel, data)
	if format == notSOPS {
		return data, nil
	}
	f, err := loadSOPSFile(format, data)
	if len(s.identities) == 0 {
		// Nothing to decrypt with: the file is remembered (with its
		// recipients when its metadata reads) for what Finish makes of it.
		var meta *sopsMetadata
		if err == nil {
			meta = &f.meta
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.remember(rel, data, meta), nil
	}
	if err != nil {
		return nil, fmt.Errorf("sops: %s: %w", rel, err)
	}
	key, err := s.dataKey(f.meta)
	if err != nil {
		return nil, fmt.Errorf("sops: %s: %w", rel, err)
	}
	if key == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.remember(rel, data, &f.meta), nil
	}
	mac, values, err := f.decrypt(key)
	if err != nil {
		// AES-GCM authenticates each value with its path: a value edited,
		// moved or replaced by a plain one does not decrypt. The cause is
		// left out: it may quote the ciphertext.
		return nil, fmt.Errorf("sops: %s: a value does not decrypt (%w)", rel, ErrIntegrity)
	}
	// Verify the MAC as sops decrypt does: over every value (or only the
	// encrypted ones, mac_only_encrypted), keyed by the data key, with
	// lastmodified as additional data.
	if !f.macMatches(key, mac) {
		return nil, fmt.Errorf("sops: %s: MAC mismatch (%w)", rel, ErrIntegrity)
	}
	plain, err := f.emit()
	if err != nil {
		return nil, fmt.Errorf("sops: %s: %w", rel, err)
	}
	s.mu.Lock()
	for _, v := range values {
		s.plaintexts[v] = struct{}{}
	}
	s.mu.Unlock()
	return plain, nil
}

// errNotOpened says no age identity matches a master key.
var errNotOpened = errors.New("no age identity matches")

// dataKey recovers a file's data key with the age identities, as
// sops.Metadata.GetDataKey does with key services: one master key of each
// key group, and a Shamir threshold of groups when there are several. It
// returns nil and no error when no key opens the file; an error only when
// an age stanza is unreadable or a matching one does not decrypt (a
// damaged or tampered header).
func (s *Reader) dataKey(md sopsMetadata) ([]byte, error) {
	var parts [][]byte
	for _, group := range md.keyGroups {
		part, err := s.openGroup(group)
		if errors.Is(err, errNotOpened) {
			continue
		}
		if err != nil {
			return nil, err
		}
		parts = append(parts, part)
	}
	if len(md.keyGroups) <= 1 {
		if len(parts) == 0 {
			return nil, nil
		}
		return parts[0], nil
	}
	threshold := md.shamirThreshold
	if threshold == 0 {
		threshold = len(md.keyGroups)
	}
	if len(parts) < threshold {
		return nil, nil
	}
	key, err := shamir.Combine(parts)
	if err != nil {
		return nil, fmt.Errorf("data key from Shamir parts: %w", err)
	}
	return key, nil
}

// openGroup decrypts a key group's data key with the first age master key
// an identity opens.
func (s *Reader) openGroup(group []sopsAgeKey) ([]byte, error) {
	var failed error
	for _, k := range group {
		key, err := openAgeKey(k.enc, s.identities)
		if err == nil {
			return key, nil
		}
		var noMatch *age.NoIdentityMatchError
		if !errors.As(err, &noMatch) && failed == nil {
			failed = fmt.Errorf("age data key for %s: %w", k.recipient, err)
		}
	}
	if failed != nil {
		return nil, failed
	}
	return nil, errNotOpened
}

// scalarText is the text of a scalar, the same for a value sops decrypted
// and for the value rendering made of it (int and int64, 2.0 and 2).
func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.FormatInt(int64(x), 10), true
		}
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case time.Time:
		return x.Format(time.RFC3339Nano), true
	}
	return "", false
}
