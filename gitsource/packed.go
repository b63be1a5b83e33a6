package gitsource

import (
	"bytes"
	"compress/flate"
	"fmt"
	"hash/maphash"
	"io"
	"slices"
	"sync"
	"unique"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Packed objects. A rendered object decoded into maps costs about ten times
// its JSON text (a map header and a boxed value per field): the bench
// measured 7.1 KB per object for ConfigMaps with 10 keys and
// two-container Deployments whose JSON is about 650 bytes, so rendering
// 100,000 of them held 676 MB of maps, and the garbage collector's
// marking of them was 43% of a check's CPU. A check and a watch need an
// object's content only while they compare it, and what they read of
// every object before that (planning, targeting, duplicate detection) is
// its identity and labels. With RenderOptions.Pack each object is packed
// as soon as its document is parsed: a plain tree is then never held as
// maps, only one document per parsing goroutine at a time.

// Packed is a rendered object kept as its JSON text, deflated, with what
// identifies it read out. It is immutable once made: share it freely.
type Packed struct {
	// APIVersion, Kind, Namespace and Name identify the object (Namespace
	// as Git wrote it, possibly empty).
	APIVersion, Kind, Namespace, Name string
	// labels are the object's labels as key, value pairs sorted by key
	// (two strings, not a map: a small map costs about 300 bytes).
	labels []string
	// data is the JSON text, deflated against dict's when dict is set.
	data []byte
	dict *packDict
	// sum is a hash of the JSON text, which tells two objects' contents
	// apart without inflating them.
	sum uint64
}

// interned returns s as a canonical copy: the kinds, API versions and
// namespaces of 100,000 objects are a handful of strings.
func interned(s string) string { return unique.Make(s).Value() }

// pack packs u.
func pack(u *unstructured.Unstructured) (*Packed, error) {
	raw, err := u.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", describe(u), err)
	}
	return packedFrom(u, raw), nil
}

// packedFrom packs u, whose JSON text is raw; raw is not kept.
func packedFrom(u *unstructured.Unstructured, raw []byte) *Packed {
	p := &Packed{
		APIVersion: interned(u.GetAPIVersion()), Kind: interned(u.GetKind()),
		Namespace: interned(u.GetNamespace()), Name: u.GetName(),
		sum: maphash.Bytes(sumSeed, raw),
	}
	p.data, p.dict = deflate(p.APIVersion+" "+p.Kind, raw)
	if l := u.GetLabels(); len(l) > 0 {
		keys := make([]string, 0, len(l))
		for k := range l {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		p.labels = make([]string, 0, 2*len(keys))
		for _, k := range keys {
			p.labels = append(p.labels, k, l[k])
		}
	}
	return p
}

// JSON returns the object's JSON text (a new slice).
func (p *Packed) JSON() ([]byte, error) {
	if p.dict == nil {
		return bytes.Clone(p.data), nil
	}
	return p.dict.inflate(p.data)
}

// Sum is a hash of the object's JSON text: two packed objects with the
// same Sum hold the same object (within one process; collisions have a
// chance of one in 2^64).
func (p *Packed) Sum() uint64 { return p.sum }

// Size is the number of bytes p holds for the object's content.
func (p *Packed) Size() int { return len(p.data) }

var sumSeed = maphash.MakeSeed()

// Deflating against a dictionary. Objects of one kind repeat the same keys
// and much of the same structure, which deflate alone cannot use on one
// small object: given the first object of the kind as its dictionary (its
// window), it codes what repeats as references. The dictionaries live for
// the process, one per kind, at most dictMax bytes each (deflate's window).

// packDict is the dictionary of one kind, with pooled coders (a deflate
// writer is about 1 MB of state: made once per goroutine, not per object).
type packDict struct {
	dict    []byte
	writers sync.Pool // *flate.Writer
	readers sync.Pool // io.ReadCloser and flate.Resetter
}

const dictMax = 32 << 10

var dicts sync.Map // apiVersion + " " + kind → *packDict

// deflate packs raw for its kind: deflated against the kind's dictionary,
// or as it is when it is the kind's first object (which becomes the
// dictionary) or deflating does not shrink it.
func deflate(kind string, raw []byte) ([]byte, *packDict) {
	d, ok := dicts.Load(kind)
	if !ok {
		nd := &packDict{dict: bytes.Clone(raw[max(0, len(raw)-dictMax):])}
		if d, ok = dicts.LoadOrStore(kind, nd); !ok {
			return bytes.Clone(raw), nil
		}
	}
	pd := d.(*packDict)
	var buf bytes.Buffer
	w, _ := pd.writers.Get().(*flate.Writer)
	if w == nil {
		// Level 2 is the fastest that reads a dictionary (BestSpeed
		// ignores it).
		w, _ = flate.NewWriterDict(&buf, 2, pd.dict)
	} else {
		w.Reset(&buf)
	}
	_, err := w.Write(raw)
	if err == nil {
		err = w.Close()
	}
	pd.writers.Put(w)
	if err != nil || buf.Len() >= len(raw) {
		return bytes.Clone(raw), nil
	}
	return bytes.Clone(buf.Bytes()), pd
}

func (pd *packDict) inflate(data []byte) ([]byte, error) {
	src := bytes.NewReader(data)
	r, _ := pd.readers.Get().(io.ReadCloser)
	if r == nil {
		r = flate.NewReaderDict(src, pd.dict)
	} else if err := r.(flate.Resetter).Reset(src, pd.dict); err != nil {
		return nil, err
	}
	out, err := io.ReadAll(r)
	pd.readers.Put(r)
	if err != nil {
		return nil, fmt.Errorf("inflate: %w", err)
	}
	return out, nil
}

// Labels returns the object's labels as a new map (nil when none).
func (p *Packed) Labels() map[string]string {
	if len(p.labels) == 0 {
		return nil
	}
	m := make(map[string]string, len(p.labels)/2)
	for i := 0; i < len(p.labels); i += 2 {
		m[p.labels[i]] = p.labels[i+1]
	}
	return m
}

// Pack returns o with its content packed (Object nil, Packed set); an
// object already packed is returned as it is.
func (o Object) Pack() (Object, error) {
	if o.Object == nil {
		return o, nil
	}
	p, err := pack(o.Object)
	if err != nil {
		return o, fmt.Errorf("desired object %w", err)
	}
	o.Object, o.Packed = nil, p
	return o, nil
}

// Unpack returns o with its content decoded afresh into Object (the caller
// owns it) and Packed cleared; an object not packed is returned as it is.
func (o Object) Unpack() (Object, error) {
	if o.Packed == nil {
		return o, nil
	}
	raw, err := o.Packed.JSON()
	u := &unstructured.Unstructured{}
	if err == nil {
		err = u.UnmarshalJSON(raw)
	}
	if err != nil {
		return o, fmt.Errorf("desired object %s %s: %w", o.Packed.Kind, o.Packed.Name, err)
	}
	o.Object, o.Packed = u, nil
	return o, nil
}

// The identity of an object, packed or not.

// GroupVersionKind returns the object's group, version and kind.
func (o Object) GroupVersionKind() schema.GroupVersionKind {
	if o.Packed != nil {
		return schema.FromAPIVersionAndKind(o.Packed.APIVersion, o.Packed.Kind)
	}
	return o.Object.GroupVersionKind()
}

// GetAPIVersion returns the object's apiVersion.
func (o Object) GetAPIVersion() string {
	if o.Packed != nil {
		return o.Packed.APIVersion
	}
	return o.Object.GetAPIVersion()
}

// GetKind returns the object's kind.
func (o Object) GetKind() string {
	if o.Packed != nil {
		return o.Packed.Kind
	}
	return o.Object.GetKind()
}

// GetName returns the object's name.
func (o Object) GetName() string {
	if o.Packed != nil {
		return o.Packed.Name
	}
	return o.Object.GetName()
}

// GetNamespace returns the namespace Git gives the object (empty when it
// names none).
func (o Object) GetNamespace() string {
	if o.Packed != nil {
		return o.Packed.Namespace
	}
	return o.Object.GetNamespace()
}

// GetLabels returns the object's labels.
func (o Object) GetLabels() map[string]string {
	if o.Packed != nil {
		return o.Packed.Labels()
	}
	return o.Object.GetLabels()
}

// packAll packs every object, in place.
func packAll(objs []Object) error {
	for i := range objs {
		var err error
		if objs[i], err = objs[i].Pack(); err != nil {
			return err
		}
	}
	return nil
}
