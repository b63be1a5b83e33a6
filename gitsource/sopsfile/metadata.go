// Portions of this file are derived from github.com/getsops/sops/v3
// (its stores, tree, MAC and AES-GCM code), Copyright the sops authors,
// licensed under the Mozilla Public License, v. 2.0. This file is
// therefore available under the MPL-2.0: a copy of the licence is at
// https://mozilla.org/MPL/2.0/.

package sopsfile

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// sopsMetadata is what decrypting needs of a file's sops block.
type sopsMetadata struct {
	lastModified time.Time
	// mac is the encrypted MAC, ENC[AES256_GCM,...].
	mac string
	// The encryption rules: at most one is set; none means
	// unencryptedSuffix "_unencrypted", sops' default.
	unencryptedSuffix, encryptedSuffix             string
	unencryptedRegex, encryptedRegex               string
	unencryptedCommentRegex, encryptedCommentRegex string
	// macOnlyEncrypted: the MAC covers only the encrypted values.
	macOnlyEncrypted bool
	// keyGroups hold the age master keys of each key group, in file
	// order; the other kinds of key are checked and left out.
	keyGroups       [][]sopsAgeKey
	shamirThreshold int
}

// sopsAgeKey is an age master key: the data key (or its Shamir part)
// encrypted for recipient, armored.
type sopsAgeKey struct {
	recipient, enc string
}

// sopsKeyKind is a kind of master key in the metadata and its fields.
type sopsKeyKind struct {
	name   string
	fields []string
}

// sopsKeyKinds are in the order sops builds a key group from them, which
// is the order of the errors it finds in them; age comes last.
var sopsKeyKinds = []sopsKeyKind{
	{"kms", []string{"arn", "role", "created_at", "enc", "aws_profile"}},
	{"gcp_kms", []string{"resource_id", "created_at", "enc"}},
	{"hckms", []string{"key_id", "created_at", "enc"}},
	{"azure_kv", []string{"vault_url", "name", "version", "created_at", "enc"}},
	{"hc_vault", []string{"vault_address", "engine_path", "key_name", "created_at", "enc"}},
	{"pgp", []string{"created_at", "enc", "fp"}},
	{"age", []string{"recipient", "enc"}},
}

// parseSOPSMetadata reads the metadata as sops does (mapstructure with
// weakly typed input, then Metadata.ToInternal): fields matched by name,
// case folded when not exact; scalars converted where mapstructure
// converts them (a number to a string, "true" to a bool, a single map to
// a list of one). sops reports every fault at once; this names the first.
func parseSOPSMetadata(m map[string]any) (sopsMetadata, error) {
	var r metaReader
	var md sopsMetadata
	md.shamirThreshold = r.integer(m, "", "shamir_threshold")
	var groups [][]sopsKey
	for i, g := range r.maps(m, "", "key_groups") {
		groups = append(groups, r.keyGroup(g, fmt.Sprintf("key_groups[%d]", i)))
	}
	top := r.keyGroup(m, "")
	lastModified := r.str(m, "", "lastmodified")
	md.mac = r.str(m, "", "mac")
	md.unencryptedSuffix = r.str(m, "", "unencrypted_suffix")
	md.encryptedSuffix = r.str(m, "", "encrypted_suffix")
	md.unencryptedRegex = r.str(m, "", "unencrypted_regex")
	md.encryptedRegex = r.str(m, "", "encrypted_regex")
	md.unencryptedCommentRegex = r.str(m, "", "unencrypted_comment_regex")
	md.encryptedCommentRegex = r.str(m, "", "encrypted_comment_regex")
	md.macOnlyEncrypted = r.boolean(m, "", "mac_only_encrypted")
	r.str(m, "", "version")
	if r.err != nil {
		return sopsMetadata{}, r.err
	}

	var err error
	md.lastModified, err = time.Parse(time.RFC3339, lastModified)
	if err != nil {
		return sopsMetadata{}, err
	}
	switch {
	case len(top) > 0:
		groups = [][]sopsKey{top}
	case len(groups) == 0:
		return sopsMetadata{}, errors.New("No keys found in file")
	}
	for _, g := range groups {
		ages, err := checkKeyGroup(g)
		if err != nil {
			return sopsMetadata{}, err
		}
		md.keyGroups = append(md.keyGroups, ages)
	}
	rules := 0
	for _, rule := range []string{md.unencryptedSuffix, md.encryptedSuffix, md.unencryptedRegex, md.encryptedRegex, md.unencryptedCommentRegex, md.encryptedCommentRegex} {
		if rule != "" {
			rules++
		}
	}
	if rules > 1 {
		return sopsMetadata{}, errors.New("Cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex in the same file")
	}
	if rules == 0 {
		md.unencryptedSuffix = "_unencrypted"
	}
	return md, nil
}

// sopsKey is a master key of any kind, its fields as strings.
type sopsKey struct {
	kind   string
	fields map[string]string
}

// checkKeyGroup checks the keys as sops' toInternal does (dates of
// creation, HuaweiCloud key IDs) and returns the age ones.
func checkKeyGroup(g []sopsKey) ([]sopsAgeKey, error) {
	var ages []sopsAgeKey
	for _, k := range g {
		if k.kind == "age" {
			ages = append(ages, sopsAgeKey{recipient: k.fields["recipient"], enc: k.fields["enc"]})
			continue
		}
		if _, err := time.Parse(time.RFC3339, k.fields["created_at"]); err != nil {
			return nil, err
		}
		if k.kind == "hckms" {
			if err := checkHCKMSKeyID(k.fields["key_id"]); err != nil {
				return nil, err
			}
		}
	}
	return ages, nil
}

// checkHCKMSKeyID is sops' hckms parseKeyID: "region:key-uuid".
func checkHCKMSKeyID(id string) error {
	id = strings.TrimSpace(id)
	region, uuid, ok := strings.Cut(id, ":")
	switch {
	case !ok:
		return fmt.Errorf("invalid key ID format: expected 'region:key-uuid', got %q", id)
	case strings.TrimSpace(region) == "":
		return fmt.Errorf("region cannot be empty in key ID: %q", id)
	case strings.TrimSpace(uuid) == "":
		return fmt.Errorf("key UUID cannot be empty in key ID: %q", id)
	}
	return nil
}

// metaReader reads fields weakly typed, keeping the first error.
type metaReader struct {
	err error
}

// fail keeps err, named by the field as mapstructure names it, if it is
// the first.
func (r *metaReader) fail(name string, err error) {
	if r.err == nil {
		r.err = fmt.Errorf("'%s' %w", name, err)
	}
}

// metaField returns m's value for name: the exact key, else the first key
// equal to it under case folding.
func metaField(m map[string]any, name string) any {
	if v, ok := m[name]; ok {
		return v
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.EqualFold(k, name) {
			return m[k]
		}
	}
	return nil
}

// joinName is a field's name below prefix: age[0].enc.
func joinName(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// str reads a string field: numbers and booleans are written out.
func (r *metaReader) str(m map[string]any, prefix, name string) string {
	switch x := metaField(m, name).(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "1"
		}
		return "0"
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []byte:
		return string(x)
	default:
		r.fail(joinName(prefix, name), fmt.Errorf("expected type 'string', got unconvertible type '%T'", x))
	}
	return ""
}

// integer reads an int field: strings are parsed (0x, 0o, 0b too), floats
// truncated, booleans 0 or 1.
func (r *metaReader) integer(m map[string]any, prefix, name string) int {
	switch x := metaField(m, name).(type) {
	case nil:
		return 0
	case int:
		return x
	case int64:
		return int(x)
	case uint64:
		return int(x)
	case float64:
		return int(x)
	case bool:
		if x {
			return 1
		}
		return 0
	case string:
		if x == "" {
			x = "0"
		}
		i, err := strconv.ParseInt(x, 0, strconv.IntSize)
		if err != nil {
			var num *strconv.NumError
			if errors.As(err, &num) {
				err = fmt.Errorf("strconv.%s: %w", num.Func, num.Err)
			}
			r.fail(joinName(prefix, name), fmt.Errorf("cannot parse value as 'int': %w", err))
		}
		return int(i)
	default:
		r.fail(joinName(prefix, name), fmt.Errorf("expected type 'int', got unconvertible type '%T'", x))
	}
	return 0
}

// boolean reads a bool field: strings are parsed, the empty one false;
// numbers are true when not zero.
func (r *metaReader) boolean(m map[string]any, prefix, name string) bool {
	switch x := metaField(m, name).(type) {
	case nil:
		return false
	case bool:
		return x
	case int:
		return x != 0
	case int64:
		return x != 0
	case uint64:
		return x != 0
	case float64:
		return x != 0
	case string:
		b, err := strconv.ParseBool(x)
		if err != nil && x != "" {
			r.fail(joinName(prefix, name), fmt.Errorf("cannot parse value as 'bool': strconv.ParseBool: %w", strconv.ErrSyntax))
		}
		return b
	default:
		r.fail(joinName(prefix, name), fmt.Errorf("expected type 'bool', got unconvertible type '%T'", x))
	}
	return false
}

// maps reads a list of structs: each item must be a map; a single
// non-empty value stands for a list of one, an empty map for an empty
// list.
func (r *metaReader) maps(m map[string]any, prefix, name string) []map[string]any {
	var items []any
	switch x := metaField(m, name).(type) {
	case nil:
		return nil
	case []any:
		items = x
	case map[string]any:
		if len(x) == 0 {
			return []map[string]any{}
		}
		items = []any{x}
	default:
		items = []any{x}
	}
	out := make([]map[string]any, 0, len(items))
	for i, item := range items {
		switch x := item.(type) {
		case map[string]any:
			out = append(out, x)
		case nil:
			out = append(out, nil)
		default:
			r.fail(fmt.Sprintf("%s[%d]", joinName(prefix, name), i), fmt.Errorf("expected a map or struct, got %q", kindName(x)))
		}
	}
	return out
}

// kindName is the reflect.Kind name of a value a decoder makes.
func kindName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "bool"
	case int:
		return "int"
	case int64:
		return "int64"
	case uint64:
		return "uint64"
	case float64:
		return "float64"
	case []any:
		return "slice"
	}
	return "struct"
}

// keyGroup reads the master keys of every kind in m (a key group, or the
// top level of the metadata).
func (r *metaReader) keyGroup(m map[string]any, prefix string) []sopsKey {
	var keys []sopsKey
	for _, kind := range sopsKeyKinds {
		for i, km := range r.maps(m, prefix, kind.name) {
			name := fmt.Sprintf("%s[%d]", joinName(prefix, kind.name), i)
			k := sopsKey{kind: kind.name, fields: map[string]string{}}
			for _, f := range kind.fields {
				k.fields[f] = r.str(km, name, f)
			}
			if kind.name == "kms" {
				r.context(km, name)
			}
			keys = append(keys, k)
		}
	}
	return keys
}

// context checks a KMS encryption context: a map of strings.
func (r *metaReader) context(m map[string]any, prefix string) {
	switch x := metaField(m, "context").(type) {
	case nil:
	case map[string]any:
		for k := range x {
			r.str(x, joinName(prefix, "context"), k)
		}
	default:
		r.fail(joinName(prefix, "context"), fmt.Errorf("expected a map, got '%s'", kindName(x)))
	}
}

// openAgeKey decrypts an armored age file holding a data key, as sops'
// age MasterKey.Decrypt does with identities given to it.
func openAgeKey(enc string, ids []age.Identity) ([]byte, error) {
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(enc)), ids...)
	if err != nil {
		return nil, fmt.Errorf("failed to create reader for decrypting sops data key with age: %w", err)
	}
	key, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("failed to copy age decrypted data into bytes.Buffer: %w", err)
	}
	return key, nil
}
