#!/usr/bin/env bash
# Starts the local cluster of real servers (Kafka, Elasticsearch, S3, Alertmanager) as plain processes.
# Idempotent: a server this project already started and that is healthy is reused.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
here="$(dirname "${BASH_SOURCE[0]}")"
t0=$(date +%s.%N)
# Install (resolve/build, cached) everything first, then start: the servers start in parallel-safe order.
for svc in kafka elasticsearch s3 alertmanager; do bash "$here/$svc.sh" install; done
for svc in kafka elasticsearch s3 alertmanager; do bash "$here/$svc.sh" start; done
t1=$(date +%s.%N)
log "cluster up in $(awk -v a="$t0" -v b="$t1" "BEGIN{printf \"%.1f\", b-a}") s: kafka $(bash "$here/kafka.sh" version) on :${MPLP_KAFKA_PORT:-9092}, elasticsearch $(bash "$here/elasticsearch.sh" version) on :${MPLP_ES_PORT:-9200}, s3 $(bash "$here/s3.sh" version) on :${MPLP_S3_PORT:-9000}, alertmanager $(bash "$here/alertmanager.sh" version) on :${MPLP_ALERTMANAGER_PORT:-9094}"
