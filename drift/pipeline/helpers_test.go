package pipeline

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftwatch/driftwatch/informer/informertest"
)

// obj parses one YAML manifest.
func obj(t testing.TB, s string) *unstructured.Unstructured { return informertest.Object(t, s) }
