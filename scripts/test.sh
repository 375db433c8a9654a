#!/usr/bin/env bash
# `npm test`: builds, runs the unit tests, then the integration tests against the real local
# cluster. Starts the cluster when it is not running (and stops it again afterwards only if it
# started it), so `npm test` works on a fresh clone with nothing running.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run -s build
started_here=0
if ! bash scripts/cluster/status.sh >/dev/null 2>&1; then
  bash scripts/cluster/start.sh
  started_here=1
fi
cleanup() { if [ "$started_here" = 1 ] && [ -z "${MPLP_KEEP_CLUSTER:-}" ]; then bash scripts/cluster/stop.sh; fi; }
trap cleanup EXIT
node dist/scripts/setup.js
npx jest --selectProjects unit
npx jest --selectProjects integration --runInBand "$@"
