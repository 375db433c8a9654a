#!/usr/bin/env bash
# S3-compatible server: MinIO, built from its Go module with the Go toolchain (no binary
# download) and cached in $MPLP_CACHE_DIR/bin. MinIO implements the S3 REST protocol itself
# (SigV4, multipart, DeleteObjects, conditional writes), which makes it the most faithful
# stand-in for S3 that can be installed here.
# Usage: s3.sh install|start|stop|health|version|rss
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SVC=s3
PORT="${MPLP_S3_PORT:-9000}"
CONSOLE_PORT="${MPLP_S3_CONSOLE_PORT:-9001}"
# A pinned pseudo-version of github.com/minio/minio (the project tags releases outside Go's
# semver, so the module proxy serves pseudo-versions).
MINIO_MODULE_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
BIN_DIR="$MPLP_CACHE_DIR/bin"
BIN="$BIN_DIR/minio-$MINIO_MODULE_VERSION"
ACCESS_KEY="${MPLP_S3_ACCESS_KEY_ID:-mplp}"
SECRET_KEY="${MPLP_S3_SECRET_ACCESS_KEY:-mplp-local-secret}"
BUCKET="${MPLP_S3_BUCKET:-mplp-archive}"

install() {
  [ -x "$BIN" ] && return 0
  command -v go >/dev/null || die "s3: the Go toolchain is needed to build MinIO"
  log "s3: building MinIO $MINIO_MODULE_VERSION with Go (first run only, a few minutes)"
  local tmp; tmp=$(mktemp -d)
  GOBIN="$tmp" GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install "github.com/minio/minio@$MINIO_MODULE_VERSION" \
    || { rm -rf "$tmp"; die "s3: MinIO build failed"; }
  mkdir -p "$BIN_DIR"; mv "$tmp/minio" "$BIN"; rm -rf "$tmp"
}

health() { curl -fsS -m 3 "http://127.0.0.1:$PORT/minio/health/ready" >/dev/null; }

start() {
  if pid_alive $SVC && health; then log "s3: already running (pid $(cat "$MPLP_CLUSTER_DIR/$SVC/pid")), reusing"; return 0; fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then die "s3: port $PORT is taken by a process this project did not start"; fi
  install
  local d; d=$(svc_dir $SVC)
  mkdir -p "$d/data"
  : > "$d/log"
  log "s3: starting MinIO on 127.0.0.1:$PORT"
  # The secret goes through the environment, never the command line (visible in ps).
  MINIO_ROOT_USER="$ACCESS_KEY" MINIO_ROOT_PASSWORD="$SECRET_KEY" MINIO_BROWSER=off MINIO_UPDATE=off \
  MINIO_CALLHOME_ENABLE=off MINIO_PROMETHEUS_AUTH_TYPE=public \
    start_bg $SVC "$BIN" server "$d/data" --address "127.0.0.1:$PORT" --console-address "127.0.0.1:$CONSOLE_PORT" --quiet
  wait_for "s3" 60 health || { tail -30 "$d/log" >&2; die "s3: not ready after 60 s, log: $d/log"; }
  # The archive bucket (idempotent): scripts/setup.ts also ensures it with the project's client.
  local code; code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user "$ACCESS_KEY:$SECRET_KEY" "http://127.0.0.1:$PORT/$BUCKET")
  case "$code" in 200|409) ;; *) log "s3: creating bucket $BUCKET answered $code (setup will retry)";; esac
}

stop() { stop_pid $SVC 30; }
version() { echo "MinIO ${MINIO_MODULE_VERSION}"; }
rss() { rss_mb $SVC; }

case "${1:-}" in
  install|start|stop|health|version|rss) "$1" ;;
  *) echo "usage: $0 install|start|stop|health|version|rss" >&2; exit 2 ;;
esac
