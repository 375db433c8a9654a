#!/usr/bin/env bash
# Prometheus Alertmanager, the notifier's first receiver: built from its Go module with the Go
# toolchain (no binary download) and cached in $MPLP_CACHE_DIR/bin, like MinIO (s3.sh).
# v0.31.1 is the newest release `go install` can build: from v0.32.0 on, the module embeds a UI
# bundle (ui/app/dist) that is built by npm at release time and absent from the module zip.
# Usage: alertmanager.sh install|start|stop|health|version|rss
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SVC=alertmanager
# 9093, Alertmanager's own default, is the Kafka controller's here.
PORT="${MPLP_ALERTMANAGER_PORT:-9094}"
AM_VERSION="v0.31.1"
BIN_DIR="$MPLP_CACHE_DIR/bin"
BIN="$BIN_DIR/alertmanager-$AM_VERSION"

install() {
  [ -x "$BIN" ] && return 0
  command -v go >/dev/null || die "alertmanager: the Go toolchain is needed to build Alertmanager"
  log "alertmanager: building Alertmanager $AM_VERSION with Go (first run only, a minute or two)"
  local tmp; tmp=$(mktemp -d)
  GOBIN="$tmp" GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install "github.com/prometheus/alertmanager/cmd/alertmanager@$AM_VERSION" \
    || { rm -rf "$tmp"; die "alertmanager: build failed"; }
  mkdir -p "$BIN_DIR"; mv "$tmp/alertmanager" "$BIN"; rm -rf "$tmp"
}

health() { curl -fsS -m 3 "http://127.0.0.1:$PORT/-/ready" >/dev/null; }

start() {
  if pid_alive $SVC && health; then log "alertmanager: already running (pid $(cat "$MPLP_CLUSTER_DIR/$SVC/pid")), reusing"; return 0; fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then die "alertmanager: port $PORT is taken by a process this project did not start"; fi
  install
  local d; d=$(svc_dir $SVC)
  mkdir -p "$d/data"
  : > "$d/log"
  # One receiver that notifies nobody: the notifier posts alerts to the API; routing them on to
  # e-mail, chat or paging is the operator's own alertmanager.yml.
  cat > "$d/alertmanager.yml" <<'YML'
route:
  receiver: default
receivers:
  - name: default
YML
  log "alertmanager: starting Alertmanager $AM_VERSION on 127.0.0.1:$PORT"
  # --cluster.listen-address= turns the gossip mesh off (it would bind :9094 on every interface).
  start_bg $SVC "$BIN" --config.file="$d/alertmanager.yml" --storage.path="$d/data" \
    --web.listen-address="127.0.0.1:$PORT" --cluster.listen-address= --log.level=warn
  wait_for "alertmanager" 60 health || { tail -30 "$d/log" >&2; die "alertmanager: not ready after 60 s, log: $d/log"; }
}

stop() { stop_pid $SVC 30; }
version() { echo "Alertmanager ${AM_VERSION}"; }
rss() { rss_mb $SVC; }

case "${1:-}" in
  install|start|stop|health|version|rss) "$1" ;;
  *) echo "usage: $0 install|start|stop|health|version|rss" >&2; exit 2 ;;
esac
