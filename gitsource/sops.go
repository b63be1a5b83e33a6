package gitsource

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
)

// SOPS-encrypted manifests (Flux's convention: values encrypted in place,
// a top-level "sops" block with the keys and the MAC) cannot be compared
// as they are: the ciphertext never equals the live value. With age keys,
// files are decrypted as rendering reads them, as Flux's kustomize-controller
// does, and the decrypted fields are compared but never shown. Without a key
// that opens a file, each encrypted value is left out of the desired object
// and named in Object.NotCompared: never a false drift, never an error for
// the whole run.

// ErrSOPSIntegrity is wrapped by the error for a SOPS file whose MAC or
// ciphertext does not verify: it was changed after it was encrypted, and
// `sops decrypt` refuses it too.
var ErrSOPSIntegrity = errors.New("the file was changed after it was encrypted")

// isSOPS reports whether a manifest carries SOPS metadata.
func isSOPS(obj map[string]any) bool {
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
	if !isSOPS(obj) {
		return nil
	}
	delete(obj, "sops")
	var paths []string
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				p := fieldPath(path, k)
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

// plainField matches map keys that a path prints without quoting; it is
// drift.Path's rule, which gitsource may not import.
var plainField = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$-]*$`)

// fieldPath extends path by map key k in drift.Path.String's syntax:
// spec.replicas, metadata.labels["app.kubernetes.io/name"].
func fieldPath(path, k string) string {
	if !plainField.MatchString(k) {
		return path + "[" + strconv.Quote(k) + "]"
	}
	if path == "" {
		return k
	}
	return path + "." + k
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

// sopsState decrypts SOPS files as rendering reads them and remembers what
// it decrypted, so that rendered objects can name their sensitive fields.
// One is made per render; it is safe for concurrent use.
//
// Only the age identities given are used: files are read by our own
// reader (sopsfile.go), not the sops library, so sops' lookups
// (SOPS_AGE_KEY*, ~/.config/sops, SSH keys, SOPS_AGE_KEY_CMD, key
// services, cloud KMS) do not exist here: nothing is read from the
// environment and nothing is executed.
type sopsState struct {
	// identities open age-encrypted data keys; empty means no decryption.
	identities []age.Identity

	mu sync.Mutex
	// plaintexts are the text forms of every value decrypted.
	plaintexts map[string]struct{}
	// unopened are the SOPS files no key opens (none given, or none that
	// matches), by their path relative to the root; ciphers maps each of
	// their ciphertexts to that path.
	unopened map[string]*unopenedFile
	ciphers  map[string]string
}

// newSOPSState parses the keys; an error names what is wrong with them,
// never their text.
func newSOPSState(d Decryption) (*sopsState, error) {
	s := &sopsState{plaintexts: map[string]struct{}{}, unopened: map[string]*unopenedFile{}, ciphers: map[string]string{}}
	if strings.TrimSpace(d.AgeKeys) == "" {
		return s, nil
	}
	// age wants each identity at the start of its line; key files pasted
	// into an environment variable are often indented.
	var text strings.Builder
	for _, l := range strings.Split(d.AgeKeys, "\n") {
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
	if err := yamlv3.NewDecoder(bytes.NewReader(data)).Decode(&first); err != nil || !isSOPS(first) {
		return notSOPS
	}
	if ext == ".json" {
		return sopsJSON
	}
	return sopsYAML
}

// file returns data decrypted when it is a SOPS file a key opens, or
// unchanged. rel names the file in errors. A file whose integrity does not
// verify is an error wrapping ErrSOPSIntegrity; one no key opens is
// returned as it is and named in finish's warnings.
func (s *sopsState) file(rel string, data []byte) ([]byte, error) {
	format := sopsFormatOf(rel, data)
	if format == notSOPS {
		return data, nil
	}
	f, err := loadSOPSFile(format, data)
	if len(s.identities) == 0 {
		// Nothing to decrypt with: the file is remembered (with its
		// recipients when its metadata reads) for what finish makes of it.
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
		return nil, fmt.Errorf("sops: %s: a value does not decrypt (%w)", rel, ErrSOPSIntegrity)
	}
	// Verify the MAC as sops decrypt does: over every value (or only the
	// encrypted ones, mac_only_encrypted), keyed by the data key, with
	// lastmodified as additional data.
	if !f.macMatches(key, mac) {
		return nil, fmt.Errorf("sops: %s: MAC mismatch (%w)", rel, ErrSOPSIntegrity)
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
func (s *sopsState) dataKey(md sopsMetadata) ([]byte, error) {
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
func (s *sopsState) openGroup(group []sopsAgeKey) ([]byte, error) {
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

// minEmbedded is the shortest decrypted value looked for inside longer
// strings (a password a Helm template puts into a connection URL); shorter
// ones would mark unrelated fields.
const minEmbedded = 6

// identityFields are shown in every report anyway: never marked.
var identityFields = map[string]bool{"apiVersion": true, "kind": true, "metadata.name": true, "metadata.namespace": true}

// sensitivePaths returns the sorted paths of the scalars in obj whose text
// is a decrypted value or, for a string, holds one of embedded (the
// decrypted values of at least minEmbedded bytes).
func (s *sopsState) sensitivePaths(obj map[string]any, embedded []string) []string {
	var paths []string
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(e, fieldPath(path, k))
			}
		case []any:
			for i, e := range x {
				walk(e, path+"["+strconv.Itoa(i)+"]")
			}
		default:
			t, ok := scalarText(v)
			if !ok || identityFields[path] {
				return
			}
			if _, hit := s.plaintexts[t]; hit {
				paths = append(paths, path)
				return
			}
			if _, isString := v.(string); !isString {
				return
			}
			for _, e := range embedded {
				if strings.Contains(t, e) {
					paths = append(paths, path)
					return
				}
			}
		}
	}
	walk(obj, "")
	sort.Strings(paths)
	return paths
}

// finish marks decrypted values in objs as Sensitive, strips what stayed
// encrypted into NotCompared, takes out the objects a file no key opens
// makes unknowable (see Unopened) and the references to their hashed
// names, and returns the objects kept, those taken out and warnings (a
// file no key opens, when keys were given), sorted. Values are matched by
// content, not by file: kustomize and Helm move, rename and relabel what
// they read, and a value equal to a secret one is hidden wherever it
// appears, which is safe.
func (s *sopsState) finish(objs []Object) ([]Object, []Unopened, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var embedded []string
	for v := range s.plaintexts {
		if len(v) >= minEmbedded {
			embedded = append(embedded, v)
		}
	}
	var unopened []Unopened
	hashed := map[string]string{} // generated names hashed from ciphertext: why a reference is not compared
	kept := objs[:0]
	for _, obj := range objs {
		if o, ok := s.standInOf(obj); ok {
			// Encrypted whole: which object it is is a secret too.
			unopened = append(unopened, o)
			continue
		}
		u := obj.Object
		switch {
		case u == nil:
			// Packed while parsing, so not a SOPS document (those are left
			// as maps); it may still hold a decrypted value.
			if len(s.plaintexts) == 0 {
				kept = append(kept, obj)
				continue
			}
			o, err := obj.Unpack()
			if err != nil {
				kept = append(kept, obj)
				continue // its Pack made this JSON; it decodes
			}
			u = o.Object
		case valuesMark(u) != "":
			// A kustomization's chart rendered with encrypted values.
			f := s.unopened[valuesMark(u)]
			if f == nil {
				f = &unopenedFile{rel: valuesMark(u)}
			}
			unopened = append(unopened, unopenedOf(u, f, UnopenedValues))
			continue
		case isSOPS(u.Object):
			obj.NotCompared = stripSOPS(u.Object)
		case len(s.unopened) > 0:
			if f := s.generatedFrom(u); f != nil {
				o := unopenedOf(u, f, UnopenedGenerator)
				if base, ok := hashedName(u); ok {
					o.Name = base + "-*"
					hashed[u.GetName()] = referenceReason(o)
				}
				unopened = append(unopened, o)
				continue
			}
		}
		if len(s.plaintexts) > 0 {
			obj.Sensitive = s.sensitivePaths(u.Object, embedded)
		}
		kept = append(kept, obj)
	}
	if len(hashed) > 0 {
		markReferences(kept, hashed)
	}
	var warnings []string
	if len(s.identities) > 0 {
		for rel := range s.unopened {
			warnings = append(warnings, fmt.Sprintf("sops: %s: no age key opens it; its encrypted values are not compared", rel))
		}
		sort.Strings(warnings)
	}
	return kept, dedupeUnopened(unopened), warnings
}
