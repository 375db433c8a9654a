#!/usr/bin/env bash
# Checks deploy/ (and the compose file's image pins) in a few seconds, offline:
#  1. `kustomize build` of the base and of every overlay;
#  2. kubeconform -strict on each result, against the schemas vendored in deploy/schemas
#     (Kubernetes and the KEDA ScaledObject CRD; an unknown field, a wrong type, a missing
#     required field or a kind without a schema fails);
#  3. node dist/scripts/deploy-check.js: the dashboard's metric names against those the code
#     registers, and each worker's settings through its own config schema (needs `npm run build`);
#  4. docker-compose.yml: every image pinned to a version.
# Usage: scripts/validate-deploy.sh [deploy-dir]   (default: deploy/ of this checkout)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deploy="$(cd "${1:-$root/deploy}" && pwd)"
mapfile -t tools < <(bash "$root/scripts/ci/install-kubeconform.sh")
kubeconform="${tools[0]}"; kustomize="${tools[1]}"
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
fail=0
for dir in "$deploy/base" "$deploy"/overlays/*/; do
  dir="${dir%/}"; name="${dir#"$deploy"/}"
  if ! "$kustomize" build "$dir" > "$out/manifest.yaml" 2> "$out/err"; then
    echo "validate-deploy: kustomize build $name failed: $(tr '\n' ' ' < "$out/err")" >&2; fail=1; continue
  fi
  if ! "$kubeconform" -strict -summary -output text \
      -schema-location "$deploy/schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$out/manifest.yaml" > "$out/report" 2>&1; then
    sed "s|^|validate-deploy: $name: |" "$out/report" >&2; fail=1
  else
    echo "validate-deploy: $name: $(tail -1 "$out/report")"
  fi
done
node "$root/dist/scripts/deploy-check.js" "$deploy" || fail=1
# Every image pinned to a version: a tag other than latest (or a digest).
while IFS= read -r line; do
  image="${line#*image:}"; image="${image//[[:space:]\"\']/}"
  if [[ "$image" != *@sha256:* && ( "${image##*/}" != *:* || "${image##*:}" == latest ) ]]; then
    echo "validate-deploy: docker-compose.yml: image $image is not pinned to a version" >&2; fail=1
  fi
done < <(grep -E '^[[:space:]]*image:' "$root/docker-compose.yml")
exit $fail
