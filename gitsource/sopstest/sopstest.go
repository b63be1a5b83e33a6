// Package sopstest encrypts files with the sops library, as `sops encrypt`
// does, with age keys made in the test: the reference that driftwatch's
// decryption is tested against. Tests only.
package sopstest

import (
	"crypto/rand"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/config"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
)

// FluxRegex is Flux's usual creation rule: only Secret and ConfigMap
// payloads are encrypted, so names and kinds stay readable.
const FluxRegex = "^(data|stringData)$"

// Store is what encrypting needs of a sops store (YAML, JSON, dotenv).
type Store interface {
	sops.PlainFileLoader
	sops.EncryptedFileEmitter
}

// EncryptYAML encrypts a YAML stream (one or more documents) for the age
// recipients with FluxRegex.
func EncryptYAML(tb testing.TB, plaintext string, recipients ...string) string {
	tb.Helper()
	return Encrypt(tb, sopsyaml.NewStore(&config.YAMLStoreConfig{}), FluxRegex, plaintext, recipients...)
}

// Encrypt encrypts plaintext in store's format for the age recipients as
// `sops encrypt --encrypted-regex regex` does: a random data key wrapped for
// each recipient, every matching value encrypted with AES-GCM and its path,
// and the MAC over all values stored encrypted with lastmodified as
// additional data. An empty regex encrypts every value, sops' default.
func Encrypt(tb testing.TB, store Store, regex, plaintext string, recipients ...string) string {
	tb.Helper()
	branches, err := store.LoadPlainFile([]byte(plaintext))
	if err != nil {
		tb.Fatal(err)
	}
	dataKey := make([]byte, 32)
	if _, err := rand.Read(dataKey); err != nil {
		tb.Fatal(err)
	}
	var group sops.KeyGroup
	for _, r := range recipients {
		mk, err := sopsage.MasterKeyFromRecipient(r)
		if err != nil {
			tb.Fatal(err)
		}
		if err := mk.Encrypt(dataKey); err != nil {
			tb.Fatal(err)
		}
		group = append(group, mk)
	}
	return Seal(tb, store, sops.Tree{Branches: branches, Metadata: sops.Metadata{
		KeyGroups:      []sops.KeyGroup{group},
		EncryptedRegex: regex,
		Version:        "3.13.3",
	}}, dataKey)
}

// Seal encrypts tree's values with dataKey (whose key groups tree's
// metadata holds), stores the MAC encrypted with lastmodified as
// additional data, and writes the file in store's format.
func Seal(tb testing.TB, store Store, tree sops.Tree, dataKey []byte) string {
	tb.Helper()
	cipher := aes.NewCipher()
	mac, err := tree.Encrypt(dataKey, cipher)
	if err != nil {
		tb.Fatal(err)
	}
	tree.Metadata.LastModified = time.Now().UTC()
	tree.Metadata.MessageAuthenticationCode, err = cipher.Encrypt(mac, dataKey, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil {
		tb.Fatal(err)
	}
	out, err := store.EmitEncryptedFile(tree)
	if err != nil {
		tb.Fatal(err)
	}
	return string(out)
}

// NewAgeKey returns a fresh age identity (a key file's text) and its
// recipient.
func NewAgeKey(tb testing.TB) (identity, recipient string) {
	tb.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		tb.Fatal(err)
	}
	return "# created: by the test\n" + id.String() + "\n", id.Recipient().String()
}
