package gitsource

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftwatch/driftwatch/gitsource/sopsfile"
)

// SOPS-encrypted files are decrypted by gitsource/sopsfile as rendering
// reads them (confinedFS.ReadFile); once the tree is rendered, finishSOPS
// applies what the reader found to the objects.

// ErrSOPSIntegrity is wrapped by the error for a SOPS file whose MAC or
// ciphertext does not verify: it was changed after it was encrypted, and
// `sops decrypt` refuses it too.
var ErrSOPSIntegrity = sopsfile.ErrIntegrity

// Unopened is a desired object that a SOPS file no key opens makes
// unknowable: it is not among the rendered objects and is not compared
// (Rendered.Unopened, Desired.Unopened). Its fields are documented in
// sopsfile.
type Unopened = sopsfile.Unopened

// UnopenedVia says how an Unopened object depends on its encrypted file.
type UnopenedVia = sopsfile.UnopenedVia

// The ways an Unopened object depends on its encrypted file.
const (
	// UnopenedFile: the object is in the file, its identity encrypted.
	UnopenedFile = sopsfile.UnopenedFile
	// UnopenedGenerator: a kustomize secretGenerator or configMapGenerator
	// made the object from the file.
	UnopenedGenerator = sopsfile.UnopenedGenerator
	// UnopenedValues: a Helm chart rendered the object with the file as
	// values.
	UnopenedValues = sopsfile.UnopenedValues
)

// finishSOPS marks decrypted values in objs as Sensitive, strips what
// stayed encrypted into NotCompared, takes out the objects a file no key
// opens makes unknowable (see Unopened) and names the references to their
// hashed names in NotCompared, and returns the objects kept, those taken
// out and the reader's warnings (a file no key opens, when keys were
// given), sorted.
func finishSOPS(r *sopsfile.Reader, objs []Object) ([]Object, []Unopened, []string) {
	f := r.Finish()
	kept := objs[:0]
	for _, obj := range objs {
		var v sopsfile.Verdict
		if obj.Object != nil {
			v = f.Object(obj.Object)
		} else {
			v = f.Packed(obj.GetAPIVersion(), obj.GetKind(), func() (*unstructured.Unstructured, error) {
				o, err := obj.Unpack()
				return o.Object, err
			})
		}
		if v.LeftOut {
			continue
		}
		if v.Stripped {
			obj.NotCompared = v.NotCompared
		}
		obj.Sensitive = v.Sensitive
		kept = append(kept, obj)
	}
	for i := range kept {
		if kept[i].Object == nil {
			continue
		}
		paths, why := f.References(kept[i].Object.Object)
		kept[i].notCompare(paths, func(p string) string { return why[p] })
	}
	unopened, warnings := f.Done()
	return kept, unopened, warnings
}
