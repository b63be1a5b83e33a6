// Command driftwatch-demo shows driftwatch on a real, local API server: it
// starts kube-apiserver and etcd, serves the example manifests of
// testdata/demo from a Git server on 127.0.0.1, applies them as a GitOps
// tool would, drifts the cluster by hand (one field edited with another
// field manager, one object deleted), runs `driftwatch check`, prints its
// report and exit code, and shuts everything down.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/gitsource/gittest"
	"github.com/driftwatch/driftwatch/informer/apiservertest"
)

func main() {
	binary := flag.String("driftwatch", "bin/driftwatch", "the driftwatch binary to run")
	manifests := flag.String("manifests", "testdata/demo", "the example repository content")
	flag.Parse()
	if err := demo(*binary, *manifests); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(2)
	}
}

const (
	gitUser     = "demo"
	gitPassword = "demo-password"
)

func step(format string, args ...any) {
	fmt.Printf("==> "+format+"\n", args...)
}

func demo(binary, manifests string) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "driftwatch-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	step("starting kube-apiserver and etcd")
	env, err := apiservertest.Start()
	if err != nil {
		return err
	}
	defer func() {
		step("stopping the API server")
		_ = env.Stop()
	}()
	kubeconfig, err := apiservertest.WriteKubeconfig(env.Config, tmp, "demo", "default")
	if err != nil {
		return err
	}

	step("serving %s from a Git server on 127.0.0.1 (basic auth)", manifests)
	srv, err := gittest.Start(filepath.Join(tmp, "git"), gittest.Options{Username: gitUser, Password: gitPassword})
	if err != nil {
		return err
	}
	defer srv.Close()
	repo, err := srv.CreateRepo("platform")
	if err != nil {
		return err
	}
	if err := repo.CopyDir(manifests); err != nil {
		return err
	}
	if _, err := repo.Commit("prod: web v1.27, 3 replicas"); err != nil {
		return err
	}

	step("applying overlays/prod as field manager %q (server-side apply)", "gitops")
	objs, err := gitsource.Render(manifests, "overlays/prod")
	if err != nil {
		return err
	}
	kube, err := apiservertest.NewClient(env.Config)
	if err != nil {
		return err
	}
	var us []*unstructured.Unstructured
	for _, o := range objs {
		us = append(us, o.Object)
	}
	if err := kube.Apply(ctx, "gitops", "default", us...); err != nil {
		return err
	}

	step("drifting: kubectl-edit sets Deployment demo/web to 5 replicas and image nginx:1.28-alpine")
	deploy := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	err = kube.Edit(ctx, "kubectl-edit", deploy, "demo", "web", func(u *unstructured.Unstructured) error {
		if err := unstructured.SetNestedField(u.Object, int64(5), "spec", "replicas"); err != nil {
			return err
		}
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		for _, c := range cs {
			if m := c.(map[string]any); m["name"] == "app" {
				m["image"] = "nginx:1.28-alpine"
			}
		}
		return unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
	})
	if err != nil {
		return err
	}
	step("drifting: deleting ConfigMap demo/web-config")
	if err := kube.Delete(ctx, schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, "demo", "web-config"); err != nil {
		return err
	}

	args := []string{"check", "--repo", srv.RepoURL("platform"), "--ref", "main", "--path", "overlays/prod",
		"--kubeconfig", kubeconfig, "--cache-dir", filepath.Join(tmp, "cache")}
	step("driftwatch %s", joinArgs(args))
	fmt.Println()
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "DRIFTWATCH_GIT_USERNAME="+gitUser, "DRIFTWATCH_GIT_PASSWORD="+gitPassword)
	err = cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		return err
	}
	fmt.Println()
	step("driftwatch exited with code %d (0 in sync, 1 drift found, 2 error)", code)
	if code != 1 {
		return fmt.Errorf("expected exit code 1 (drift), got %d", code)
	}
	return nil
}

func joinArgs(args []string) string {
	s := ""
	for i, a := range args {
		if i > 0 {
			s += " "
		}
		s += a
	}
	return s
}
