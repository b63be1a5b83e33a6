package clusters

import (
	"testing"

	"k8s.io/client-go/kubernetes"

	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

// env is the package's one API server (nil when the integration tests
// skip); kube is an admin client of it.
var (
	env  *apiservertest.Env
	kube kubernetes.Interface
)

func TestMain(m *testing.M) {
	apiservertest.Main(m, func(e *apiservertest.Env) (err error) {
		env = e
		kube, err = kubernetes.NewForConfig(env.Config)
		return err
	})
}
