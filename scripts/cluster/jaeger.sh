#!/usr/bin/env bash
# Jaeger v2 (the `jaeger` binary, an OpenTelemetry Collector distribution), for benchmarks that
# compare with it (MPLP_BENCH_JAEGER=1 npm run bench:indexer). Not part of the cluster: the bench
# runs it itself, with its own configuration. Built from its Go module with the Go toolchain and
# cached in $MPLP_CACHE_DIR/bin like Alertmanager; the module's go.mod has a replace directive,
# which `go install pkg@version` refuses, so it is built as the main module from a copy.
# Usage: jaeger.sh install|path|version
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Jaeger v2 is released under the module's v1.x tags: v1.76.0 is Jaeger v2.13.0 (CHANGELOG.md).
JAEGER_MODULE_VERSION="v1.76.0"
BIN="$MPLP_CACHE_DIR/bin/jaeger-$JAEGER_MODULE_VERSION"

install() {
  [ -x "$BIN" ] && return 0
  command -v go >/dev/null || die "jaeger: the Go toolchain is needed to build Jaeger"
  log "jaeger: building Jaeger (module $JAEGER_MODULE_VERSION) with Go (first run only, several minutes)"
  local dir tmp
  dir=$(go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_MODULE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || die "jaeger: go mod download failed"
  tmp=$(mktemp -d)
  cp -r "$dir/." "$tmp/" && chmod -R u+w "$tmp"
  (cd "$tmp" && GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=0 go build -o "$tmp/jaeger.bin" ./cmd/jaeger) \
    || { rm -rf "$tmp"; die "jaeger: build failed"; }
  mkdir -p "$(dirname "$BIN")"; mv "$tmp/jaeger.bin" "$BIN"; rm -rf "$tmp"
}

case "${1:-}" in
  install) install ;;
  path) install; echo "$BIN" ;;
  version) echo "Jaeger module $JAEGER_MODULE_VERSION" ;;
  *) echo "usage: $0 install|path|version" >&2; exit 2 ;;
esac
