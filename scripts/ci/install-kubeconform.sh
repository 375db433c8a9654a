#!/usr/bin/env bash
# Tools of the deployment check (scripts/validate-deploy.sh): kubeconform and kustomize, built
# from their Go modules with the Go toolchain (no binary download, like MinIO in
# scripts/cluster/s3.sh) and cached in $MPLP_CACHE_DIR/bin under versioned names. Idempotent:
# a cached binary is reused. Prints the two paths.
set -euo pipefail
MPLP_CACHE_DIR="${MPLP_CACHE_DIR:-$HOME/.cache/mplp}"
BIN_DIR="$MPLP_CACHE_DIR/bin"
KUBECONFORM_VERSION=v0.7.0
KUSTOMIZE_VERSION=v5.8.1

build() { # module@version binary-name target
  local target="$3"
  [ -x "$target" ] && return 0
  command -v go >/dev/null || { echo "install-kubeconform: the Go toolchain is needed to build $2" >&2; exit 1; }
  echo "install-kubeconform: building $1 with Go (first run only)" >&2
  local tmp; tmp=$(mktemp -d)
  GOBIN="$tmp" GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install "$1" \
    || { rm -rf "$tmp"; echo "install-kubeconform: building $1 failed" >&2; exit 1; }
  mkdir -p "$BIN_DIR"; mv "$tmp/$2" "$target"; rm -rf "$tmp"
}

build "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" kubeconform "$BIN_DIR/kubeconform-$KUBECONFORM_VERSION"
build "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" kustomize "$BIN_DIR/kustomize-$KUSTOMIZE_VERSION"
echo "$BIN_DIR/kubeconform-$KUBECONFORM_VERSION"
echo "$BIN_DIR/kustomize-$KUSTOMIZE_VERSION"
