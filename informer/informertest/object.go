package informertest

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Object parses one YAML manifest into the form informers cache, failing
// tb on bad input: the objects a test feeds the fake Manager, or compares.
func Object(tb testing.TB, manifest string) *unstructured.Unstructured {
	tb.Helper()
	js, err := yaml.YAMLToJSON([]byte(manifest))
	if err != nil {
		tb.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		tb.Fatal(err)
	}
	return u
}
