#!/usr/bin/env bash
# envtest.sh builds kube-apiserver and etcd from source through the Go module
# proxy into a per-version cache outside the repository, and prints the
# directory that holds them (use it as KUBEBUILDER_ASSETS). A second run with
# the binaries present does nothing but print the directory.
#
# No download site for prebuilt binaries is reachable, so we build: the
# kubernetes module replaces every staging module with ./staging/..., which the
# module zip lacks, so a small module requires it and points each staging
# module back at its published v0.X.Y version.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
CACHE_ROOT="${DRIFTWATCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/driftwatch}"
# "-v2": kube-apiserver built with its version stamped in (as a release
# build is), so /version says v1.37.2 and not v0.0.0-master.
OUT="$CACHE_ROOT/envtest/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION-v2"
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"

if [[ -x "$OUT/kube-apiserver" && -x "$OUT/etcd" && -x "$OUT/kubectl" ]]; then
  echo "$OUT"
  exit 0
fi
mkdir -p "$OUT"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

build_kube() {
  local mod="$CACHE_ROOT/envtest/build-k8s-$KUBE_VERSION"
  rm -rf "$mod" && mkdir -p "$mod" && cd "$mod"
  go mod init driftwatch.local/envtest-kube >/dev/null 2>&1
  go mod edit -require="k8s.io/kubernetes@$KUBE_VERSION"
  local gomod
  gomod="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  local staging
  staging="$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod")"
  for m in $staging; do
    go mod edit -replace="$m=$m@$STAGING_VERSION"
  done
  go get "k8s.io/kubernetes@$KUBE_VERSION" >&2
  local minor="${KUBE_VERSION#v1.}"
  minor="${minor%%.*}"
  local v="k8s.io/component-base/version"
  local ldflags="-X $v.gitVersion=$KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
  go build -ldflags "$ldflags" -o "$OUT/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
  go build -ldflags "$ldflags" -o "$OUT/kubectl" k8s.io/kubernetes/cmd/kubectl >&2
}

build_etcd() {
  local mod="$CACHE_ROOT/envtest/build-etcd-$ETCD_VERSION"
  rm -rf "$mod" && mkdir -p "$mod" && cd "$mod"
  go mod init driftwatch.local/envtest-etcd >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
  go build -o "$OUT/etcd" go.etcd.io/etcd/server/v3 >&2
}

[[ -x "$OUT/etcd" ]] || (build_etcd)
[[ -x "$OUT/kube-apiserver" && -x "$OUT/kubectl" ]] || (build_kube)
echo "$OUT"
