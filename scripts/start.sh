#!/usr/bin/env bash
# `npm start`: the whole pipeline on the local cluster with demo traffic.
#   1. build, 2. start the cluster (reused when up), 3. topics/templates/bucket,
#   4. start ingest, aggregator, indexer, archiver, notifier and the OTLP receiver (:4318, :4317) as separate processes,
#   5. publish synthetic traces with the load generator for MPLP_DEMO_SECONDS (default 60),
#   6. print what arrived where and the web UI's address, stop the workers (the cluster keeps
#      running: npm run cluster:stop). On an interactive terminal the workers stay up for the UI
#      until Ctrl-C. MPLP_DEMO_SECONDS=0 keeps the traffic going too until Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DEMO_SECONDS="${MPLP_DEMO_SECONDS:-60}"
DEMO_RATE="${MPLP_DEMO_RATE:-2000}"
LOGS=.cluster/demo; mkdir -p "$LOGS"
say() { printf '\n[demo] %s\n' "$*"; }
# The indexer's query URL (web UI and Jaeger API), from the same settings the indexer reads.
ui_url() {
  if [ -n "${MPLP_INDEXER_QUERY_URL:-}" ]; then echo "${MPLP_INDEXER_QUERY_URL%/}/"; return; fi
  local host="${MPLP_INDEXER_QUERY_HOST:-127.0.0.1}" scheme=http
  case "$host" in 0.0.0.0|::) host=127.0.0.1 ;; *:*) host="[$host]" ;; esac
  [ -n "${MPLP_INDEXER_QUERY_TLS_CERT_FILE:-}" ] && scheme=https
  echo "$scheme://$host:${MPLP_INDEXER_QUERY_PORT:-16686}/"
}

[ -d node_modules ] || npm ci --no-audit --no-fund
say "building"; npm run -s build
say "starting the local cluster (Kafka, Elasticsearch, S3, Alertmanager)"; bash scripts/cluster/start.sh
say "creating topics, index templates and the archive bucket"; node dist/scripts/setup.js

pids=()
stop_workers() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
}
trap stop_workers EXIT INT TERM
for w in ingest aggregator indexer archiver notifier receiver; do
  MPLP_AGGREGATOR_RULES_FILE="${MPLP_AGGREGATOR_RULES_FILE:-scripts/demo-rules.json}" MPLP_ARCHIVER_INTERVAL="${MPLP_ARCHIVER_INTERVAL:-1m}" \
    node $(node dist/scripts/worker-node-flags.js "$w") "dist/$w/src/main.js" >"$LOGS/$w.log" 2>&1 &
  pids+=($!)
  say "$w started (pid $!, log $LOGS/$w.log)"
done

say "web UI and Jaeger API: $(ui_url)"
say "demo traffic: $DEMO_RATE spans/s for ${DEMO_SECONDS}s (0 = until Ctrl-C)"
MPLP_LOADGEN_RATE="$DEMO_RATE" MPLP_LOADGEN_DURATION="${DEMO_SECONDS}s" node dist/ingest/src/loadgen/main.js
if [ "$DEMO_SECONDS" = 0 ]; then wait; fi

say "letting the pipeline drain"
node dist/scripts/demo-summary.js || true
if [ -t 0 ] && [ -t 1 ]; then
  say "web UI: $(ui_url) (workers keep running for it; Ctrl-C stops them)"
  wait || true
fi
say "web UI was at $(ui_url) (gone with the workers; MPLP_DEMO_SECONDS=0 keeps everything up)"
say "stopping workers (cluster stays up: npm run cluster:stop)"
