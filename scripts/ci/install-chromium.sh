#!/usr/bin/env bash
# The browser tests (indexer/test/ui.int.test.ts) drive Debian's Chromium through playwright-core;
# install it when it is missing (CHROMIUM_PATH overrides where the tests look for it).
set -euo pipefail
bin="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$bin" ]; then echo "chromium: $("$bin" --version 2>/dev/null || echo "$bin")"; exit 0; fi
echo "== ci: apt-get install chromium"
(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium) >/dev/null
"$bin" --version
