#!/usr/bin/env bash
# One line per server: running or not, health, resident memory.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
here="$(dirname "${BASH_SOURCE[0]}")"
rc=0
for svc in kafka elasticsearch s3 alertmanager; do
  if pid_alive "$svc"; then
    if bash "$here/$svc.sh" health >/dev/null 2>&1; then h=healthy; else h=unhealthy; rc=1; fi
    printf '%-14s pid %-8s %-10s %6s MiB  %s\n' "$svc" "$(cat "$MPLP_CLUSTER_DIR/$svc/pid")" "$h" "$(rss_mb "$svc")" "$(bash "$here/$svc.sh" version 2>/dev/null)"
  else
    printf '%-14s stopped\n' "$svc"; rc=1
  fi
done
# A running broker of another release than MPLP_KAFKA_VERSION asks for is not the cluster asked for.
if pid_alive kafka; then
  running=$(bash "$here/kafka.sh" version) requested=$(bash "$here/kafka.sh" requested-version) || exit 1
  if [ "$running" != "$requested" ]; then
    printf 'kafka is %s, MPLP_KAFKA_VERSION asks for %s: stop it (bash scripts/cluster/kafka.sh stop) and start the cluster again\n' "$running" "$requested"; rc=1
  fi
fi
exit $rc
