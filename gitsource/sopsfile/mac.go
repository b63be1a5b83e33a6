// Portions of this file are derived from github.com/getsops/sops/v3
// (its stores, tree, MAC and AES-GCM code), Copyright the sops authors,
// licensed under the Mozilla Public License, v. 2.0. This file is
// therefore available under the MPL-2.0: a copy of the licence is at
// https://mozilla.org/MPL/2.0/.

package sopsfile

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Values are decrypted and the MAC computed as sops' Tree.Decrypt does:
// a walk over every document in order, each value encrypted or not by
// the file's rule for its path (the mapping keys above it; list indexes
// are not part of it), each encrypted one opened with AES-256-GCM and its
// path joined by ":" with a trailing ":" as additional data, and a SHA-512
// over the text of every value (or of the encrypted ones only, after a
// fixed prefix, with mac_only_encrypted). The MAC stored in the file is
// that hash, encrypted with lastmodified as additional data.

// macOnlyEncryptedInit starts the hash of a mac_only_encrypted file, so
// that its MAC differs from the MAC over every value: sha256("sops"), as
// sops' MACOnlyEncryptedInitialization.
var macOnlyEncryptedInit = []byte{0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0xb, 0xb, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69}

// sopsValue is an encrypted value as sops' aes cipher parses it (a prefix
// match: text after the closing bracket is ignored, as there).
var sopsValue = regexp.MustCompile(`^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`)

// sopsCipher opens a file's values with its data key.
type sopsCipher struct {
	block cipher.Block
	// err is aes.NewCipher's for a data key of the wrong size; like
	// sops, it fails the first non-empty value, not the file.
	err error
}

func newSOPSCipher(key []byte) *sopsCipher {
	b, err := aes.NewCipher(key)
	return &sopsCipher{block: b, err: err}
}

// errSOPSValue is why a value does not decrypt; the error never quotes
// the value.
var errSOPSValue = errors.New("not a SOPS value")

// decrypt opens an ENC[AES256_GCM,...] value, authenticated with
// additional data aad, and returns it as its type says: a string, int,
// float64, bool, []byte, time.Time or sopsComment. The empty string stands
// for itself, as sops encrypts it.
func (c *sopsCipher) decrypt(value, aad string) (any, error) {
	if value == "" {
		return "", nil
	}
	m := sopsValue.FindStringSubmatch(value)
	if m == nil {
		return nil, errSOPSValue
	}
	var parts [3][]byte
	for i := range parts {
		b, err := base64.StdEncoding.DecodeString(m[i+1])
		if err != nil {
			return nil, fmt.Errorf("%w: base64: %w", errSOPSValue, err)
		}
		parts[i] = b
	}
	data, iv, tag := parts[0], parts[1], parts[2]
	if c.err != nil {
		return nil, c.err
	}
	gcm, err := cipher.NewGCMWithNonceSize(c.block, len(iv))
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, iv, append(data, tag...), []byte(aad))
	if err != nil {
		return nil, fmt.Errorf("could not decrypt with AES_GCM: %w", err)
	}
	text := string(plain)
	switch m[4] {
	case "str":
		return text, nil
	case "int":
		return strconv.Atoi(text)
	case "float":
		return strconv.ParseFloat(text, 64)
	case "bytes":
		return plain, nil
	case "bool":
		return strconv.ParseBool(text)
	case "time":
		var t time.Time
		err := t.UnmarshalText(plain)
		return t, err
	case "comment":
		return sopsComment{Value: text}, nil
	}
	return nil, fmt.Errorf("%w: unknown datatype %q", errSOPSValue, m[4])
}

// sopsRegex is an encryption rule's regular expression: set when the
// file names one; re is nil when it does not compile, and then, as in
// sops, it matches nothing.
type sopsRegex struct {
	set bool
	re  *regexp.Regexp
}

func compileSOPSRegex(expr string) sopsRegex {
	if expr == "" {
		return sopsRegex{}
	}
	re, _ := regexp.Compile(expr)
	return sopsRegex{set: true, re: re}
}

func (r sopsRegex) match(s string) bool {
	return r.re != nil && r.re.MatchString(s)
}

// sopsWalk decrypts a file's documents in place.
type sopsWalk struct {
	meta   *sopsMetadata
	cipher *sopsCipher
	hash   hash.Hash

	unencryptedRegex, encryptedRegex               sopsRegex
	unencryptedCommentRegex, encryptedCommentRegex sopsRegex

	// texts are the text forms of the values that were ciphertexts.
	texts []string
}

// decrypt decrypts f's values in place with the data key and returns
// the MAC computed over them (upper-case hex, as sops prints it) and the
// text of every value that was encrypted.
func (f *sopsFile) decrypt(key []byte) (string, []string, error) {
	w := &sopsWalk{
		meta:                    &f.meta,
		cipher:                  newSOPSCipher(key),
		hash:                    sha512.New(),
		unencryptedRegex:        compileSOPSRegex(f.meta.unencryptedRegex),
		encryptedRegex:          compileSOPSRegex(f.meta.encryptedRegex),
		unencryptedCommentRegex: compileSOPSRegex(f.meta.unencryptedCommentRegex),
		encryptedCommentRegex:   compileSOPSRegex(f.meta.encryptedCommentRegex),
	}
	if f.meta.macOnlyEncrypted {
		w.hash.Write(macOnlyEncryptedInit)
	}
	for _, doc := range f.docs {
		if _, err := w.branch(doc, []string{}, [][]string{}); err != nil {
			return "", nil, fmt.Errorf("Error walking tree: %s", err)
		}
	}
	return fmt.Sprintf("%X", w.hash.Sum(nil)), w.texts, nil
}

// macMatches reports whether the file's stored MAC decrypts, with
// lastmodified as additional data, to mac.
func (f *sopsFile) macMatches(key []byte, mac string) bool {
	stored, err := newSOPSCipher(key).decrypt(f.meta.mac, f.meta.lastModified.Format(time.RFC3339))
	return err == nil && stored == any(mac)
}

// value walks a value; path holds the mapping keys above it, comments
// the comments seen at each level since the last value.
func (w *sopsWalk) value(in any, path []string, comments [][]string) (any, error) {
	switch x := in.(type) {
	case string, int, bool, float64, time.Time, sopsComment:
		return w.leaf(in, path, comments)
	case []byte:
		return w.leaf(string(x), path, comments)
	case sopsBranch:
		return w.branch(x, path, comments)
	case []any:
		return w.slice(x, path, comments)
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("Cannot walk value, unknown type: %T", in)
}

func (w *sopsWalk) slice(in []any, path []string, comments [][]string) ([]any, error) {
	comments = append(comments, []string{})
	last := len(comments) - 1
	for i, v := range in {
		c, isComment := v.(sopsComment)
		if isComment {
			// A comment may switch on the encryption of what follows it,
			// the comment after it included.
			comments[last] = append(comments[last], c.Value)
		}
		nv, err := w.value(v, path, comments)
		if err != nil {
			return nil, err
		}
		in[i] = nv
		if !isComment {
			comments[last] = []string{}
		}
	}
	return in, nil
}

func (w *sopsWalk) branch(in sopsBranch, path []string, comments [][]string) (sopsBranch, error) {
	comments = append(comments, []string{})
	last := len(comments) - 1
	for i, item := range in {
		if c, ok := item.key.(sopsComment); ok {
			comments[last] = append(comments[last], c.Value)
			v, err := w.value(c, path, comments)
			if err != nil {
				return nil, err
			}
			switch v := v.(type) {
			case sopsComment:
				in[i].key = v
			case string:
				in[i].key = sopsComment{Value: v, Inline: c.Inline}
			default:
				return nil, fmt.Errorf("walkValue of Comment should be either Comment or string, was %T", v)
			}
			continue
		}
		c, valueIsComment := item.value.(sopsComment)
		if valueIsComment {
			comments[last] = append(comments[last], c.Value)
		}
		key, ok := item.key.(string)
		if !ok {
			return nil, fmt.Errorf("Tree contains a non-string key (type %T): %s. Only string keys are supported", item.key, item.key)
		}
		v, err := w.value(item.value, append(path, key), comments)
		if err != nil {
			return nil, err
		}
		in[i].value = v
		if !valueIsComment {
			comments[last] = []string{}
		}
	}
	return in, nil
}

// leaf decrypts a scalar or a comment when its path says it is
// encrypted, adds it to the MAC and returns it.
func (w *sopsWalk) leaf(in any, path []string, comments [][]string) (any, error) {
	c, isComment := in.(sopsComment)
	encrypted := w.encrypted(path, comments, isComment)
	v := in
	if encrypted {
		aad := strings.Join(path, ":") + ":"
		switch s, isString := in.(string); {
		case isComment:
			// A comment that does not decrypt was written before sops
			// encrypted comments: it stays as it is.
			if d, err := w.cipher.decrypt(c.Value, aad); err == nil {
				v = d
			}
		case isString:
			d, err := w.cipher.decrypt(s, aad)
			if err != nil {
				return nil, fmt.Errorf("Could not decrypt value: %w", err)
			}
			v = d
		default:
			return nil, fmt.Errorf("Expected encrypted value as string, but got %T", in)
		}
	}
	_, resultIsComment := v.(sopsComment)
	if (!w.meta.macOnlyEncrypted || encrypted) && !resultIsComment {
		b, err := macBytes(v)
		if err != nil {
			return nil, err
		}
		w.hash.Write(b)
	}
	if s, ok := in.(string); ok && !resultIsComment && isEncrypted(s) {
		// An empty value reveals nothing, and marking every empty string
		// would hide harmless diffs.
		if t, ok := scalarText(v); ok && t != "" {
			w.texts = append(w.texts, t)
		}
	}
	return v, nil
}

// macBytes is the text a value adds to the MAC (sops' ToBytes): Python's
// spelling of booleans, floats without an exponent.
func macBytes(v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return []byte(x), nil
	case int:
		return []byte(strconv.Itoa(x)), nil
	case float64:
		return []byte(strconv.FormatFloat(x, 'f', -1, 64)), nil
	case bool:
		if x {
			return []byte("True"), nil
		}
		return []byte("False"), nil
	case []byte:
		return x, nil
	case time.Time:
		return x.MarshalText()
	case sopsComment:
		return []byte(x.Value), nil
	}
	return nil, fmt.Errorf("Could not convert unknown type %T to bytes", v)
}

// encrypted is sops' Tree.shouldBeEncrypted: whether the value at path,
// under comments, is encrypted by the file's rule.
func (w *sopsWalk) encrypted(path []string, comments [][]string, isComment bool) bool {
	md := w.meta
	encrypted := true
	if md.unencryptedSuffix != "" {
		for _, k := range path {
			if strings.HasSuffix(k, md.unencryptedSuffix) {
				encrypted = false
				break
			}
		}
	}
	if md.encryptedSuffix != "" {
		encrypted = false
		for _, k := range path {
			if strings.HasSuffix(k, md.encryptedSuffix) {
				encrypted = true
				break
			}
		}
	}
	if w.unencryptedRegex.set {
		for _, k := range path {
			if w.unencryptedRegex.match(k) {
				encrypted = false
				break
			}
		}
	}
	if w.encryptedRegex.set {
		encrypted = false
		for _, k := range path {
			if w.encryptedRegex.match(k) {
				encrypted = true
				break
			}
		}
	}
	if w.unencryptedCommentRegex.set {
	unencrypted:
		for _, cs := range comments {
			for _, c := range cs {
				if w.unencryptedCommentRegex.match(c) {
					encrypted = false
					break unencrypted
				}
			}
		}
	}
	if w.encryptedCommentRegex.set {
		lastLevel := len(comments) - 1
		lastComment := len(comments[lastLevel]) - 1
		encrypted = false
	encryptedByComment:
		for i, cs := range comments {
			for j, c := range cs {
				// The comment that matches is not encrypted itself: only
				// what follows it.
				if isComment && i == lastLevel && j == lastComment {
					continue
				}
				if w.encryptedCommentRegex.match(c) {
					encrypted = true
					break encryptedByComment
				}
			}
		}
	}
	return encrypted
}
