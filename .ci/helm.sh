#!/usr/bin/env bash
# helm.sh builds the helm CLI from source through the Go module proxy into a
# per-version cache outside the repository (as envtest.sh builds the API
# server) and prints its path. A second run with the binary present does
# nothing but print it. The helm CLI is the judge of chart rendering: the
# files in testdata/helm/golden are its output (`make helm-golden`), and
# gitsource's TestRenderAgreesWithHelmCLI holds driftwatch's renderer to them.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v4.3.1}"
CACHE_ROOT="${DRIFTWATCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/driftwatch}"
OUT="$CACHE_ROOT/helm/$HELM_VERSION"

if [[ -x "$OUT/helm" ]]; then
  echo "$OUT/helm"
  exit 0
fi
mkdir -p "$OUT"
export GOTOOLCHAIN=local
GOBIN="$OUT" go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" >&2
echo "$OUT/helm"
