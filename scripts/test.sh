#!/usr/bin/env bash
# `npm test`: builds, runs the unit tests, then the integration tests against the real local
# cluster. Starts the cluster when it is not running (and stops it again afterwards only if it
# started it), so `npm test` works on a fresh clone with nothing running.
# `scripts/test.sh --integration [jest args]` skips the unit tests (.ci/run's second Kafka line).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
unit=1; if [ "${1:-}" = --integration ]; then unit=0; shift; fi
# CKJS_LINKING=dynamic: where the librdkafka addon must be built from source, link system libraries.
[ -d node_modules ] || CKJS_LINKING="${CKJS_LINKING:-dynamic}" npm ci --no-audit --no-fund
npm run -s build
bash scripts/ci/install-kubeconform.sh >/dev/null   # tools of deploy/'s check (scripts/test/deploy.test.ts), cached after the first build
started_here=0
if ! bash scripts/cluster/status.sh >/dev/null 2>&1; then
  bash scripts/cluster/start.sh
  started_here=1
fi
kafka_version=$(bash scripts/cluster/kafka.sh version)
results=${MPLP_CLUSTER_DIR:-.cluster}/test-results; rm -rf "$results"; mkdir -p "$results"
cleanup() {
  # The broker's release, each failure in a line or two, then "N passed, N failed": the tail of a
  # long log is the part every reader (and CI's summary) keeps.
  node dist/scripts/test-summary.js "$results" "$kafka_version" 2>/dev/null || true
  if [ "$started_here" = 1 ] && [ -z "${MPLP_KEEP_CLUSTER:-}" ]; then bash scripts/cluster/stop.sh; fi
}
trap cleanup EXIT
node dist/scripts/setup.js
if [ "$unit" = 1 ]; then npx jest --selectProjects unit --json --outputFile="$results/unit.json"; fi
npx jest --selectProjects integration --runInBand --json --outputFile="$results/integration.json" "$@"
