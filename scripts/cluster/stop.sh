#!/usr/bin/env bash
# Stops what scripts/cluster/start.sh started, by recorded pid, and nothing else.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
here="$(dirname "${BASH_SOURCE[0]}")"
rc=0
for svc in alertmanager s3 elasticsearch kafka; do bash "$here/$svc.sh" stop || rc=1; done
exit $rc
