package sopsfile

import (
	cryptoaes "crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/shamir"
	"github.com/getsops/sops/v3/stores/dotenv"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/driftwatch/driftwatch/gitsource/sopstest"
)

// The reader (file.go, metadata.go, mac.go) is checked against
// the sops library itself: every file here is encrypted by the library,
// as `sops encrypt` does, and decrypted by both; the plaintext must be the
// same bytes, the MAC must verify in both or in neither, and the values
// marked sensitive must be those the library's tree said were encrypted.

// sopsStore is a sops store in the library, for encrypting and for the
// reference decryption.
type sopsStore interface {
	sops.Store
}

func yamlStore() sopsStore   { return sopsyaml.NewStore(&config.YAMLStoreConfig{}) }
func jsonStore() sopsStore   { return sopsjson.NewStore(&config.JSONStoreConfig{}) }
func dotenvStore() sopsStore { return dotenv.NewStore(&config.DotenvStoreConfig{}) }

// encryptSOPS encrypts branches in store's format with the library, as
// sopstest.Encrypt does but with any metadata rules (meta's suffixes,
// regexes, mac_only_encrypted) and any key groups: one group is the data
// key wrapped for each recipient; several are Shamir parts of it, each
// wrapped for its group's recipients. It returns the file and its data key.
func encryptSOPS(tb testing.TB, store sopsStore, branches sops.TreeBranches, meta sops.Metadata, groups ...[]string) (string, []byte) {
	tb.Helper()
	dataKey := make([]byte, 32)
	if _, err := rand.Read(dataKey); err != nil {
		tb.Fatal(err)
	}
	parts := [][]byte{dataKey}
	if len(groups) > 1 {
		if meta.ShamirThreshold == 0 {
			meta.ShamirThreshold = len(groups) // as sops' UpdateMasterKeys
		}
		threshold := meta.ShamirThreshold
		var err error
		if parts, err = shamir.Split(dataKey, len(groups), threshold); err != nil {
			tb.Fatal(err)
		}
	}
	meta.KeyGroups = nil
	for i, recipients := range groups {
		var group sops.KeyGroup
		for _, r := range recipients {
			mk, err := sopsage.MasterKeyFromRecipient(r)
			if err != nil {
				tb.Fatal(err)
			}
			if err := mk.Encrypt(parts[i]); err != nil {
				tb.Fatal(err)
			}
			group = append(group, mk)
		}
		meta.KeyGroups = append(meta.KeyGroups, group)
	}
	meta.Version = "3.13.3"
	return sopstest.Seal(tb, store, sops.Tree{Branches: branches, Metadata: meta}, dataKey), dataKey
}

// encryptText is encryptSOPS of a plaintext file.
func encryptText(tb testing.TB, store sopsStore, plaintext string, meta sops.Metadata, groups ...[]string) (string, []byte) {
	tb.Helper()
	branches, err := store.LoadPlainFile([]byte(plaintext))
	if err != nil {
		tb.Fatal(err)
	}
	return encryptSOPS(tb, store, branches, meta, groups...)
}

// libDecrypt decrypts a file with the library as `sops decrypt` does,
// the data key given, and returns the plaintext and the text of every
// value that was a ciphertext.
func libDecrypt(store sopsStore, data, key []byte) ([]byte, []string, error) {
	tree, err := store.LoadEncryptedFile(data)
	if err != nil {
		return nil, nil, err
	}
	encrypted := libCopy(tree.Branches).(sops.TreeBranches)
	cipher := aes.NewCipher()
	mac, err := tree.Decrypt(key, cipher)
	if err != nil {
		return nil, nil, err
	}
	stored, err := cipher.Decrypt(tree.Metadata.MessageAuthenticationCode, key, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil || stored != mac {
		return nil, nil, sops.MacMismatch
	}
	plain, err := store.EmitPlainFile(tree.Branches)
	if err != nil {
		return nil, nil, err
	}
	var texts []string
	libTexts(encrypted, tree.Branches, &texts)
	return plain, texts, nil
}

// libCopy copies a library tree deeply enough that decrypting the
// original leaves the copy's values encrypted.
func libCopy(v any) any {
	switch x := v.(type) {
	case sops.TreeBranches:
		out := make(sops.TreeBranches, len(x))
		for i, b := range x {
			out[i] = libCopy(b).(sops.TreeBranch)
		}
		return out
	case sops.TreeBranch:
		out := make(sops.TreeBranch, len(x))
		for i, item := range x {
			out[i] = sops.TreeItem{Key: item.Key, Value: libCopy(item.Value)}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = libCopy(e)
		}
		return out
	}
	return v
}

// libTexts walks a library tree before (enc) and after decryption (dec)
// side by side and appends the text of every value that was a
// ciphertext: what the reader must mark sensitive.
func libTexts(enc, dec any, out *[]string) {
	switch e := enc.(type) {
	case sops.TreeBranches:
		d := dec.(sops.TreeBranches)
		for i := range e {
			libTexts(e[i], d[i], out)
		}
	case sops.TreeBranch:
		d := dec.(sops.TreeBranch)
		for i := range e {
			libTexts(e[i].Value, d[i].Value, out)
		}
	case []any:
		d := dec.([]any)
		for i := range e {
			libTexts(e[i], d[i], out)
		}
	default:
		if _, comment := dec.(sops.Comment); comment || !isEncrypted(enc) {
			return
		}
		if t, ok := scalarText(dec); ok && t != "" {
			*out = append(*out, t)
		}
	}
}

// readerDecrypt decrypts a file with a Reader, as rendering does, and
// returns the plaintext and the sensitive texts.
func readerDecrypt(t *testing.T, rel, data, identity string) ([]byte, []string, []string, error) {
	t.Helper()
	s, err := NewReader(identity)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := s.Read(rel, []byte(data))
	texts := make([]string, 0, len(s.plaintexts))
	for v := range s.plaintexts {
		texts = append(texts, v)
	}
	sort.Strings(texts)
	_, warnings := s.Finish().Done()
	return plain, texts, warnings, err
}

// uniqueSorted sorts and deduplicates texts.
func uniqueSorted(texts []string) []string {
	m := map[string]bool{}
	out := []string{}
	for _, t := range texts {
		if !m[t] {
			m[t] = true
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

const allTypesYAML = `str: hello
int: 42
negative: -7
float: 3.25
whole_float: 2.0
big_float: 1.5e+30
bool: true
bool_false: false
timestamp: 2024-01-02T03:04:05Z
date: 2024-01-02
nothing: null
empty: ""
quoted_int: "42"
multiline: |
    first line
    second line
unicode: "żółw 🐢"
list: [1, two, 3.5, true, null, ""]
nested:
    deeper:
        deepest: value
    "key with spaces": x
    "a:b": colon in key
`

const commentedYAML = `# a comment above everything
apiVersion: v1 # on the line of a value
kind: Secret
metadata:
    name: commented
    # above a key
    namespace: prod
data:
    # above a secret
    password: hunter2-secret # beside a secret
    hosts:
        # above an item
        - alpha # beside an item
        - beta
        # below the last item
    token: abc
    # below the last key
# at the end
`

// TestSOPSReaderMatchesLibrary decrypts files the library encrypted, in
// every format, value type, rule and key layout sops writes, with the
// reader and with the library, and wants the same plaintext bytes and the
// same sensitive values.
func TestSOPSReaderMatchesLibrary(t *testing.T) {
	identityA, recipientA := sopstest.NewAgeKey(t)
	identityB, recipientB := sopstest.NewAgeKey(t)
	_, recipientC := sopstest.NewAgeKey(t)
	both := identityA + identityB

	type file struct {
		text string
		key  []byte
	}
	tests := []struct {
		name     string
		rel      string
		store    func() sopsStore
		make     func(t *testing.T, store sopsStore) file
		identity string
	}{{
		name:  "every YAML value type, every value encrypted",
		store: yamlStore,
		make: func(t *testing.T, store sopsStore) file {
			text, key := encryptText(t, store, allTypesYAML, sops.Metadata{}, []string{recipientA})
			return file{text, key}
		},
	}, {
		name:  "bytes and typed values the library makes",
		store: yamlStore,
		make: func(t *testing.T, store sopsStore) file {
			branches := sops.TreeBranches{{
				{Key: "bytes", Value: []byte("raw bytes")},
				{Key: "int", Value: 7},
				{Key: "float", Value: 0.1},
				{Key: "time", Value: time.Date(2025, 5, 6, 7, 8, 9, 123, time.UTC)},
				{Key: "bool", Value: false},
			}}
			text, key := encryptSOPS(t, store, branches, sops.Metadata{}, []string{recipientA})
			return file{text, key}
		},
	}, {
		name:  "comments encrypted (sops' default)",
		store: yamlStore,
		make: func(t *testing.T, store sopsStore) file {
			text, key := encryptText(t, store, commentedYAML, sops.Metadata{}, []string{recipientA})
			if !strings.Contains(text, "#ENC[AES256_GCM") {
				t.Fatalf("no encrypted comment in\n%s", text)
			}
			return file{text, key}
		},
	}, {
		name:  "comments with encrypted_regex",
		store: yamlStore,
		make: func(t *testing.T, store sopsStore) file {
			text, key := encryptText(t, store, commentedYAML, sops.Metadata{EncryptedRegex: sopstest.FluxRegex}, []string{recipientA})
			return file{text, key}
		},
	}, {
		name:  "sopstest.EncryptYAML, several recipients",
		store: yamlStore,
		make: func(t *testing.T, store sopsStore) file {
			return file{text: sopstest.EncryptYAML(t, commentedYAML, recipientC, recipientA)}
		},
	}, {
		name:  "unencrypted_suffix",
		store: yamlStore,
		make: func(t *testing.T, store sopsStore) file {
			text, key := encryptText(t, store, "user_unencrypted: app\npassword: hunter2-secret\nnested_unencrypted:\n    below: plain\nlist:\n    - a\n",
				sops.Metadata{UnencryptedSuffix: "_unencrypted"}, []string{recipientA})
			return file{text, key}
		},
	}, {
		name:  "encrypted_suffix",
		store: yamlStore,
		make: func(t *testing.T, store sopsStore) file {
			text, key := encryptText(t, store, "user: app\npassword_secret: hunter2-secret\ngroup_secret:\n    below: [1, 2]\n",
				sops.Metadata{EncryptedSuffix: "_secret"}, []string{recipientA})
			return file{text, key}
		},
	}, {
		name:  "unencrypted_regex",
		store: yamlStore,
		make: func(t *testing.T, store sopsStore) file {
			text, key := encryptText(t, store, "apiVersion: v1\nkind: Secret\nmetadata:\n    name: x\ndata:\n    password: hunter2-secret\n",
				sops.Metadata{UnencryptedRegex: "^(apiVersion|kind|metadata)$"}, []string{recipientA})
			return file{text, key}
		},
	}, {
		name:  "encrypted_comment_regex",
		store: yamlStore,
		make: func(t *testing.T, store sopsStore) file {
			text, key := encryptText(t, store, "plain: visible\n# sops:enc\nsecret: hunter2-secret\nother: visible too\nlist:\n    - a\n    # sops:enc\n    - hidden-item\n    - b\n",
				sops.Metadata{EncryptedCommentRegex: "sops:enc"}, []string{recipientA})
			return file{text, key}
		},
	}, {
		name:  "unencrypted_comment_regex",
		store: yamlStore,
		make: func(t *testing.T, store sopsStore) file {
			text, key := encryptText(t, store, "secret: hunter2-secret\n# sops:plain\nvisible: yes-visible\nafter: hidden-again\n",
				sops.Metadata{UnencryptedCommentRegex: "sops:plain"}, []string{recipientA})
			return file{text, key}
		},
	}, {
		name:  "mac_only_encrypted",
		store: yamlStore,
		make: func(t *testing.T, store sopsStore) file {
			text, key := encryptText(t, store, "metadata:\n    name: x\ndata:\n    password: hunter2-secret\n",
				sops.Metadata{EncryptedRegex: sopstest.FluxRegex, MACOnlyEncrypted: true}, []string{recipientA})
			if !strings.Contains(text, "mac_only_encrypted: true") {
				t.Fatalf("no mac_only_encrypted in\n%s", text)
			}
			return file{text, key}
		},
	}, {
		name:  "multi-document stream",
		store: yamlStore,
		make: func(t *testing.T, store sopsStore) file {
			text, key := encryptText(t, store, "a: 1\nb: two\n---\n# second\nc: [3]\n---\nd: {e: f}\n",
				sops.Metadata{}, []string{recipientA})
			return file{text, key}
		},
	}, {
		name:  "anchors and aliases",
		store: yamlStore,
		make: func(t *testing.T, store sopsStore) file {
			text, key := encryptText(t, store, "base: &base\n    user: app\n    pass: hunter2-secret\ncopy: *base\nscalar: &s one\nagain: *s\nmerged:\n    <<: *base\n    extra: 1\n",
				sops.Metadata{}, []string{recipientA})
			return file{text, key}
		},
	}, {
		name:     "key groups: Shamir 2 of 2",
		store:    yamlStore,
		identity: both,
		make: func(t *testing.T, store sopsStore) file {
			text, key := encryptText(t, store, "password: hunter2-secret\n", sops.Metadata{}, []string{recipientA}, []string{recipientB})
			if !strings.Contains(text, "key_groups:") {
				t.Fatalf("no key groups in\n%s", text)
			}
			return file{text, key}
		},
	}, {
		name: "key groups: Shamir 2 of 3, one identity in two groups",
		make: func(t *testing.T, store sopsStore) file {
			text, key := encryptText(t, store, "password: hunter2-secret\n", sops.Metadata{ShamirThreshold: 2},
				[]string{recipientC}, []string{recipientB, recipientA}, []string{recipientA})
			return file{text, key}
		},
		store: yamlStore,
	}, {
		name:  "JSON with nested arrays and every JSON type",
		rel:   "x.json",
		store: jsonStore,
		make: func(t *testing.T, store sopsStore) file {
			text, key := encryptText(t, store, `{"apiVersion": "v1", "kind": "ConfigMap",
				"matrix": [[1, 2], [3, [4, "five"]], [], {}],
				"objects": [{"a": "b", "c": [true, false, null]}, {"d": {"e": 1.5}}],
				"big": 12345678901234567890, "max": 9223372036854775807, "neg": -1, "exp": 1e3,
				"html": "<a href=\"x\">&amp;</a>", "unicode": "żółw \u00e9 🐢", "escaped": "tab\there\nnewline",
				"empty": "", "nothing": null, "emptyObject": {}, "emptyList": []}`,
				sops.Metadata{}, []string{recipientA})
			return file{text, key}
		},
	}, {
		name:  "JSON with encrypted_regex (sopstest)",
		rel:   "x.json",
		store: jsonStore,
		make: func(t *testing.T, store sopsStore) file {
			return file{text: sopstest.Encrypt(t, store, sopstest.FluxRegex,
				`{"kind": "Secret", "data": {"a": ["x", ["y"]], "b": 2}, "stringData": {"c": "hunter2-secret"}}`, recipientA)}
		},
	}, {
		name:  "dotenv with comments and escaped newlines",
		rel:   "x.env",
		store: dotenvStore,
		make: func(t *testing.T, store sopsStore) file {
			text, key := encryptText(t, store, "# database\nDB_USER=app\nDB_PASSWORD=hunter2=secret\nMULTI=line1\\nline2\nEMPTY=\n#\nLAST=x\n",
				sops.Metadata{}, []string{recipientA})
			if !strings.Contains(text, "sops_age__list_0__map_enc=") {
				t.Fatalf("no flattened metadata in\n%s", text)
			}
			return file{text, key}
		},
	}, {
		name:  "dotenv with unencrypted_regex and mac_only_encrypted",
		rel:   "x.env",
		store: dotenvStore,
		make: func(t *testing.T, store sopsStore) file {
			text, key := encryptText(t, store, "PUBLIC_URL=https://x\nTOKEN=hunter2-secret\n",
				sops.Metadata{UnencryptedRegex: "^PUBLIC_", MACOnlyEncrypted: true}, []string{recipientA})
			return file{text, key}
		},
	}, {
		name:  "dotenv, Shamir key groups",
		rel:   "x.env",
		store: dotenvStore,
		make: func(t *testing.T, store sopsStore) file {
			text, key := encryptText(t, store, "TOKEN=hunter2-secret\n", sops.Metadata{ShamirThreshold: 2},
				[]string{recipientA}, []string{recipientB}, []string{recipientC})
			return file{text, key}
		},
		identity: both,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := tt.store()
			f := tt.make(t, store)
			identity := tt.identity
			if identity == "" {
				identity = identityA
			}
			key := f.key
			if key == nil {
				key = libDataKey(t, store, f.text, identity)
			}
			want, wantTexts, err := libDecrypt(store, []byte(f.text), key)
			if err != nil {
				t.Fatalf("library: %v\n%s", err, f.text)
			}
			rel := tt.rel
			if rel == "" {
				rel = "x.yaml"
			}
			got, gotTexts, warnings, err := readerDecrypt(t, rel, f.text, identity)
			if err != nil {
				t.Fatalf("reader: %v\n%s", err, f.text)
			}
			if len(warnings) > 0 {
				t.Errorf("warnings %q", warnings)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("plaintext (-library +reader):\n%s\nencrypted:\n%s", diff, f.text)
			}
			if diff := cmp.Diff(uniqueSorted(wantTexts), gotTexts); diff != "" {
				t.Errorf("sensitive values (-library +reader):\n%s", diff)
			}
		})
	}
}

// libDataKey recovers a file's data key with the library's age master
// keys, for files sopstest encrypted (their data key is not returned).
func libDataKey(t *testing.T, store sopsStore, text, identity string) []byte {
	t.Helper()
	tree, err := store.LoadEncryptedFile([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	var ids sopsage.ParsedIdentities
	if err := ids.Import(identity); err != nil {
		t.Fatal(err)
	}
	for _, group := range tree.Metadata.KeyGroups {
		for _, k := range group {
			mk := k.(*sopsage.MasterKey)
			ids.ApplyToMasterKey(mk)
			if key, err := mk.Decrypt(); err == nil {
				return key
			}
		}
	}
	t.Fatal("no key opens the file")
	return nil
}

// TestSOPSReaderRefuses: a file changed after encryption is refused as
// `sops decrypt` refuses it, with the messages rendering gives; a file no
// key opens is left as it is, with a warning.
func TestSOPSReaderRefuses(t *testing.T) {
	identityA, recipientA := sopstest.NewAgeKey(t)
	identityB, recipientB := sopstest.NewAgeKey(t)
	const secret = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\ndata:\n    password: hunter2-secret\n    retries: 3\n"
	encYAML := sopstest.EncryptYAML(t, secret, recipientA)
	onlyEnc, _ := encryptText(t, yamlStore(), secret, sops.Metadata{EncryptedRegex: sopstest.FluxRegex, MACOnlyEncrypted: true}, []string{recipientA})
	encJSON := sopstest.Encrypt(t, jsonStore(), "", `{"password": "hunter2-secret", "list": [[1], ["a"]]}`, recipientA)
	shamir2, _ := encryptText(t, yamlStore(), secret, sops.Metadata{}, []string{recipientA}, []string{recipientB})

	value := regexp.MustCompile(`password: (ENC\[AES256_GCM,data:)([^,]+)`)
	macField := regexp.MustCompile(`(?m)^(\s*mac: )(ENC\[[^\]]+\])$`)
	lastModified := regexp.MustCompile(`lastmodified: "[^"]+"`)
	flip := func(b64 string) string {
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		raw[0] ^= 1
		return base64.StdEncoding.EncodeToString(raw)
	}
	mustReplace := func(text string, re *regexp.Regexp, repl func([]string) string) string {
		t.Helper()
		out := re.ReplaceAllStringFunc(text, func(m string) string { return repl(re.FindStringSubmatch(m)) })
		if out == text {
			t.Fatalf("%s does not change\n%s", re, text)
		}
		return out
	}
	const (
		notDecrypt = "sops: x.yaml: a value does not decrypt (the file was changed after it was encrypted)"
		mismatch   = "sops: x.yaml: MAC mismatch (the file was changed after it was encrypted)"
	)
	otherMAC := macField.FindStringSubmatch(sopstest.EncryptYAML(t, secret, recipientA))[2]

	tests := []struct {
		name, rel, text, identity string
		wantErr                   string
		wantWarnings              []string
	}{{
		name:    "a ciphertext's data changed",
		text:    mustReplace(encYAML, value, func(m []string) string { return "password: " + m[1] + flip(m[2]) }),
		wantErr: notDecrypt,
	}, {
		name:    "a ciphertext replaced by plain text",
		text:    strings.Replace(encYAML, "retries: ENC[", "retries: 3\n    was: ENC[", 1),
		wantErr: notDecrypt,
	}, {
		name:    "a plain value changed",
		text:    strings.Replace(encYAML, "name: db", "name: dc", 1),
		wantErr: mismatch,
	}, {
		name:    "the MAC replaced by another file's",
		text:    mustReplace(encYAML, macField, func(m []string) string { return m[1] + otherMAC }),
		wantErr: mismatch,
	}, {
		name: "the MAC's ciphertext changed",
		text: mustReplace(encYAML, macField, func(m []string) string {
			d := regexp.MustCompile(`data:([^,]+)`).FindStringSubmatch(m[2])[1]
			return m[1] + strings.Replace(m[2], d, flip(d), 1)
		}),
		wantErr: mismatch,
	}, {
		name:    "the MAC removed",
		text:    mustReplace(encYAML, macField, func(m []string) string { return m[1] + `""` }),
		wantErr: mismatch,
	}, {
		name:    "lastmodified changed (the MAC's additional data)",
		text:    mustReplace(encYAML, lastModified, func([]string) string { return `lastmodified: "2001-01-01T00:00:00Z"` }),
		wantErr: mismatch,
	}, {
		name:    "an encrypted value moved (its path is authenticated)",
		text:    strings.Replace(encYAML, "    password:", "    passw0rd:", 1),
		wantErr: notDecrypt,
	}, {
		name:    "mac_only_encrypted: a plain value changed is allowed",
		text:    strings.Replace(onlyEnc, "name: db", "name: dc", 1),
		wantErr: "",
	}, {
		name:    "mac_only_encrypted turned off",
		text:    strings.Replace(onlyEnc, "mac_only_encrypted: true", "mac_only_encrypted: false", 1),
		wantErr: mismatch,
	}, {
		name: "JSON: an item of a nested array changed",
		rel:  "x.json",
		text: regexp.MustCompile(`\[\s*\[\s*"ENC\[AES256_GCM,data:[^,]+`).ReplaceAllStringFunc(encJSON, func(m string) string {
			i := strings.Index(m, "data:") + len("data:")
			return m[:i] + flip(m[i:])
		}),
		wantErr: "sops: x.json: a value does not decrypt",
	}, {
		name:         "wrong key",
		text:         encYAML,
		identity:     identityB,
		wantWarnings: []string{"sops: x.yaml: no age key opens it; its encrypted values are not compared"},
	}, {
		name:         "Shamir: one part of two",
		text:         shamir2,
		identity:     identityB,
		wantWarnings: []string{"sops: x.yaml: no age key opens it; its encrypted values are not compared"},
	}, {
		name:    "an age stanza damaged",
		text:    strings.Replace(encYAML, "-----BEGIN AGE ENCRYPTED FILE-----", "-----BEGIN AGE ENCRYPTED FILE-----\n              AAAA", 1),
		wantErr: "sops: x.yaml: age data key for " + recipientA + ": failed to create reader for decrypting sops data key with age",
	}, {
		name:    "two encryption rules",
		text:    strings.Replace(encYAML, "encrypted_regex:", "unencrypted_suffix: _x\n    encrypted_regex:", 1),
		wantErr: "sops: x.yaml: Cannot use more than one of encrypted_suffix",
	}, {
		name:    "no keys",
		text:    regexp.MustCompile(`(?s)    age:.*?\n          recipient: [^\n]*\n`).ReplaceAllString(encYAML, ""),
		wantErr: "sops: x.yaml: No keys found in file",
	}, {
		name:    "lastmodified not a time",
		text:    mustReplace(encYAML, lastModified, func([]string) string { return `lastmodified: "yesterday"` }),
		wantErr: `sops: x.yaml: parsing time "yesterday"`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			identity := tt.identity
			if identity == "" {
				identity = identityA
			}
			rel := tt.rel
			if rel == "" {
				rel = "x.yaml"
			}
			_, _, warnings, err := readerDecrypt(t, rel, tt.text, identity)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v\n%s", err, tt.text)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("no error, want %q\n%s", tt.wantErr, tt.text)
			case err != nil && (!strings.HasPrefix(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n")):
				t.Errorf("error %q, want one line starting %q", err, tt.wantErr)
			case err != nil && strings.Contains(tt.wantErr, "changed after") && !errors.Is(err, ErrIntegrity):
				t.Errorf("error %v does not wrap ErrIntegrity", err)
			case err != nil && strings.Contains(err.Error(), "hunter2"):
				t.Errorf("error %q shows a secret", err)
			}
			if diff := cmp.Diff(tt.wantWarnings, warnings, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			// The library refuses what the reader refuses, and opens what
			// it opens.
			store := yamlStore()
			if rel == "x.json" {
				store = jsonStore()
			}
			opened, _, _, lerr := libOpen(t, store, tt.text, identity)
			if (lerr != nil) != (err != nil) || err == nil && opened != (len(warnings) == 0) {
				t.Errorf("library: opened %v, error %v; reader: warnings %q, error %v", opened, lerr, warnings, err)
			}
		})
	}
}

// libOpen decrypts a file with the library, as `sops decrypt` does with
// identity: whether a key opens it, the plaintext and sensitive values,
// and the error it refuses it with.
func libOpen(t *testing.T, store sopsStore, text, identity string) (bool, []byte, []string, error) {
	t.Helper()
	tree, err := store.LoadEncryptedFile([]byte(text))
	if err != nil {
		return false, nil, nil, err
	}
	var ids sopsage.ParsedIdentities
	if err := ids.Import(identity); err != nil {
		t.Fatal(err)
	}
	var parts [][]byte
	for _, group := range tree.Metadata.KeyGroups {
		for _, k := range group {
			mk, ok := k.(*sopsage.MasterKey)
			if !ok {
				continue
			}
			ids.ApplyToMasterKey(mk)
			part, err := mk.Decrypt()
			var noMatch *age.NoIdentityMatchError
			if errors.As(err, &noMatch) {
				continue
			}
			if err != nil {
				return false, nil, nil, err
			}
			parts = append(parts, part)
			break
		}
	}
	var key []byte
	switch {
	case len(tree.Metadata.KeyGroups) == 1 && len(parts) == 1:
		key = parts[0]
	case len(tree.Metadata.KeyGroups) > 1 && len(parts) >= max(tree.Metadata.ShamirThreshold, 1):
		if key, err = shamir.Combine(parts); err != nil {
			return false, nil, nil, err
		}
	default:
		return false, nil, nil, nil
	}
	plain, texts, err := libDecrypt(store, []byte(text), key)
	return true, plain, texts, err
}

// TestSOPSCipherMatchesLibrary opens values of every type and malformed
// ones with the reader's cipher and with sops' aes cipher.
func TestSOPSCipherMatchesLibrary(t *testing.T) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	const aad = "data:password:"
	b64 := base64.StdEncoding.EncodeToString
	seal := func(text, typ string, ivLen int, key []byte) string {
		block, err := cryptoaes.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		gcm, err := cipher.NewGCMWithNonceSize(block, ivLen)
		if err != nil {
			t.Fatal(err)
		}
		iv := make([]byte, ivLen)
		if _, err := rand.Read(iv); err != nil {
			t.Fatal(err)
		}
		out := gcm.Seal(nil, iv, []byte(text), []byte(aad))
		return "ENC[AES256_GCM,data:" + b64(out[:len(out)-16]) + ",iv:" + b64(iv) + ",tag:" + b64(out[len(out)-16:]) + ",type:" + typ + "]"
	}
	otherKey := make([]byte, 32)
	values := map[string]string{
		"str":              seal("hunter2", "str", 32, key),
		"empty str":        seal("", "str", 32, key),
		"int":              seal("-42", "int", 32, key),
		"int not a number": seal("forty", "int", 32, key),
		"float":            seal("3.25", "float", 32, key),
		"float exponent":   seal("1e300", "float", 32, key),
		"bool True":        seal("True", "bool", 32, key),
		"bool false":       seal("false", "bool", 32, key),
		"bool maybe":       seal("maybe", "bool", 32, key),
		"bytes":            seal("\x00\xffraw", "bytes", 32, key),
		"time":             seal("2024-01-02T03:04:05.5+02:00", "time", 32, key),
		"time malformed":   seal("yesterday", "time", 32, key),
		"comment":          seal(" a comment", "comment", 32, key),
		"unknown type":     seal("x", "complex", 32, key),
		"12-byte iv":       seal("short iv", "str", 12, key),
		"other key":        seal("hunter2", "str", 32, otherKey),
		"trailing text":    seal("hunter2", "str", 32, key) + "junk",
		"empty":            "",
		"not ENC":          "hunter2",
		"bad base64":       "ENC[AES256_GCM,data:!!!,iv:AAAA,tag:AAAA,type:str]",
		"empty iv":         "ENC[AES256_GCM,data:AAAA,iv:,tag:AAAA,type:str]",
		"no iv":            "ENC[AES256_GCM,data:AAAA,tag:AAAA,type:str]",
	}
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			if name == "bytes" {
				// The library panics on a bytes value (its IV stash is
				// keyed by the plaintext) and never writes one.
				got, err := newSOPSCipher(key).decrypt(v, aad)
				if diff := cmp.Diff([]byte("\x00\xffraw"), got); diff != "" || err != nil {
					t.Errorf("bytes: %v (-want +got):\n%s", err, diff)
				}
				return
			}
			want, wantErr := aes.NewCipher().Decrypt(v, key, aad)
			got, gotErr := newSOPSCipher(key).decrypt(v, aad)
			if (wantErr != nil) != (gotErr != nil) {
				t.Fatalf("library error %v, reader error %v", wantErr, gotErr)
			}
			if wantErr != nil {
				return
			}
			if c, ok := want.(sops.Comment); ok {
				want = sopsComment{Value: c.Value, Inline: c.Inline}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("value (-library +reader):\n%s", diff)
			}
		})
	}
	t.Run("data key of the wrong size", func(t *testing.T) {
		_, wantErr := aes.NewCipher().Decrypt(values["str"], key[:7], aad)
		_, gotErr := newSOPSCipher(key[:7]).decrypt(values["str"], aad)
		if wantErr == nil || gotErr == nil {
			t.Errorf("library error %v, reader error %v", wantErr, gotErr)
		}
		if v, err := newSOPSCipher(key[:7]).decrypt("", aad); v != "" || err != nil {
			t.Errorf("empty value: %v, %v", v, err)
		}
	})
}

// TestSOPSMetadataMatchesLibrary reads hand-edited sops blocks as the
// library reads them: the same weak typing, the same refusals.
func TestSOPSMetadataMatchesLibrary(t *testing.T) {
	identity, recipient := sopstest.NewAgeKey(t)
	const secret = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\ndata:\n    password: hunter2-secret\n"
	enc := sopstest.EncryptYAML(t, secret, recipient)
	onlyEnc, _ := encryptText(t, yamlStore(), secret, sops.Metadata{EncryptedRegex: sopstest.FluxRegex, MACOnlyEncrypted: true}, []string{recipient})
	shamir2, _ := encryptText(t, yamlStore(), secret, sops.Metadata{}, []string{recipient}, []string{recipient})
	line := func(text, re, repl string) string {
		t.Helper()
		out := regexp.MustCompile(re).ReplaceAllString(text, repl)
		if out == text {
			t.Fatalf("%s does not change\n%s", re, text)
		}
		return out
	}
	tests := map[string]string{
		"as written":                       enc,
		"version a number":                 line(enc, `version: 3.13.3`, `version: 3.7`),
		"version a list":                   line(enc, `version: 3.13.3`, `version: [3]`),
		"mac_only_encrypted a string":      line(onlyEnc, `mac_only_encrypted: true`, `mac_only_encrypted: "true"`),
		"mac_only_encrypted 1":             line(onlyEnc, `mac_only_encrypted: true`, `mac_only_encrypted: 1`),
		"mac_only_encrypted not a bool":    line(onlyEnc, `mac_only_encrypted: true`, `mac_only_encrypted: maybe`),
		"mac_only_encrypted empty":         line(onlyEnc, `mac_only_encrypted: true`, `mac_only_encrypted: ""`),
		"shamir_threshold a string":        line(shamir2, `shamir_threshold: 2`, `shamir_threshold: "2"`),
		"shamir_threshold hex":             line(shamir2, `shamir_threshold: 2`, `shamir_threshold: "0x2"`),
		"shamir_threshold not a number":    line(shamir2, `shamir_threshold: 2`, `shamir_threshold: two`),
		"shamir_threshold a float":         line(shamir2, `shamir_threshold: 2`, `shamir_threshold: 2.9`),
		"upper-case MAC key":               line(enc, `(?m)^    mac:`, `    MAC:`),
		"an unknown field":                 line(enc, `(?m)^    version:`, "    extra: [1, {a: b}]\n    version:"),
		"lastmodified unquoted":            line(enc, `lastmodified: "([^"]+)"`, `lastmodified: $1`),
		"lastmodified with fraction":       line(enc, `lastmodified: "([^"]+)Z"`, `lastmodified: "${1}.25Z"`),
		"encrypted_regex does not compile": line(enc, `encrypted_regex: .*`, `encrypted_regex: "("`),
		"encrypted_regex empty":            line(enc, `encrypted_regex: .*`, `encrypted_regex: ""`),
		"age a single map":                 line(line(enc, `(?s)    age:\n        - enc:`, "    age:\n        enc:"), `(?m)^          recipient:`, "        recipient:"),
		"age entry a string":               line(enc, `(?s)    age:\n.*?recipient: \S+\n`, "    age:\n        - just a string\n"),
		"a pgp key too":                    line(enc, `(?m)^    lastmodified:`, "    pgp:\n        - fp: ABC\n          created_at: \"2020-01-01T00:00:00Z\"\n          enc: x\n    lastmodified:"),
		"a pgp key with a bad date":        line(enc, `(?m)^    lastmodified:`, "    pgp:\n        - fp: ABC\n          created_at: never\n          enc: x\n    lastmodified:"),
		"an hckms key without a region":    line(enc, `(?m)^    lastmodified:`, "    hckms:\n        - key_id: \":uuid\"\n          created_at: \"2020-01-01T00:00:00Z\"\n          enc: x\n    lastmodified:"),
		"a kms key with a context":         line(enc, `(?m)^    lastmodified:`, "    kms:\n        - arn: a\n          created_at: \"2020-01-01T00:00:00Z\"\n          enc: x\n          context: {k: v}\n    lastmodified:"),
		"a second document's sops block":   enc + "---\na: b\nsops: not even a map\n",
		"a comment in the sops block":      line(enc, `(?m)^    version:`, "    # a comment\n    version:"),
	}
	for name, text := range tests {
		t.Run(name, func(t *testing.T) {
			opened, want, wantTexts, wantErr := libOpen(t, yamlStore(), text, identity)
			got, gotTexts, warnings, gotErr := readerDecrypt(t, "x.yaml", text, identity)
			if (wantErr != nil) != (gotErr != nil) {
				t.Fatalf("library error %v, reader error %v\n%s", wantErr, gotErr, text)
			}
			if gotErr != nil {
				return
			}
			if opened != (len(warnings) == 0) {
				t.Fatalf("library opened it: %v; reader warnings %q", opened, warnings)
			}
			if !opened {
				return
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("plaintext (-library +reader):\n%s", diff)
			}
			if diff := cmp.Diff(uniqueSorted(wantTexts), gotTexts); diff != "" {
				t.Errorf("sensitive values (-library +reader):\n%s", diff)
			}
		})
	}
}
