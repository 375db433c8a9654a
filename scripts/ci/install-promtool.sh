#!/usr/bin/env bash
# Installs Prometheus' promtool (from its Go module, pinned) into $(go env GOPATH)/bin, where the
# aggregator tests look for it (or set PROMTOOL): `promtool check metrics` on a /metrics
# scrape and `promtool check rules` on aggregator/prometheus/mplp-rules.yml. Those checks are
# skipped when promtool is absent. A no-op when the pinned version is already installed.
set -euo pipefail
version=v0.316.0 # Prometheus 3.x's Go module version
go=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
bin="$("$go" env GOPATH)/bin/promtool"
if [ -x "$bin" ] && [ -f "$bin.version" ] && [ "$(cat "$bin.version")" = "$version" ]; then exit 0; fi
"$go" install "github.com/prometheus/prometheus/cmd/promtool@$version"
echo "$version" > "$bin.version"
"$bin" --version | head -1
