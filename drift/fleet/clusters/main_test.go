package clusters

import (
	"fmt"
	"os"
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
	start, err := apiservertest.ShouldStart()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if !start {
		os.Exit(m.Run())
	}
	if env, err = apiservertest.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer env.Stop()
		if kube, err = kubernetes.NewForConfig(env.Config); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}
