#!/usr/bin/env bash
# Elasticsearch 8, one node, the real server from the jars Elastic publishes on Maven Central,
# started by a small launcher (elasticsearch/src) because the distribution cannot be downloaded.
# Usage: elasticsearch.sh install|start|stop|health|version|rss
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SVC=elasticsearch
PORT="${MPLP_ES_PORT:-9200}"
TRANSPORT_PORT="${MPLP_ES_TRANSPORT_PORT:-9300}"
HEAP="${MPLP_ES_HEAP:-1g}"
SRC_DIR="$ROOT/scripts/cluster/elasticsearch"
HASH=$(cat "$SRC_DIR/pom.xml" "$SRC_DIR"/src/org/elasticsearch/node/*.java | sha256sum | cut -c1-12)
CP_FILE="$MPLP_CACHE_DIR/elasticsearch/classpath-$HASH.txt"
CLASSES="$MPLP_CACHE_DIR/elasticsearch/classes-$HASH"

# Test-only jars stay off the runtime classpath: with randomizedtesting present, the server
# would look for a test runner's random context and refuse to start.
runtime_cp() { tr ':' '\n' < "$CP_FILE" | grep -v -E 'randomizedtesting|junit|hamcrest|mockito|byte-buddy|objenesis|lucene-test-framework' | paste -sd: -; }

install() {
  mvn_classpath "$SRC_DIR" "$CP_FILE"
  if [ ! -d "$CLASSES" ]; then
    log "elasticsearch: compiling the launcher"
    mkdir -p "$CLASSES.tmp"
    "$JAVA17_HOME/bin/javac" -nowarn -cp "$(cat "$CP_FILE")" -d "$CLASSES.tmp" "$SRC_DIR"/src/org/elasticsearch/node/*.java || die "elasticsearch: launcher did not compile"
    mv "$CLASSES.tmp" "$CLASSES"
  fi
}

health() { curl -fsS -m 5 "http://127.0.0.1:$PORT/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null; }

start() {
  if pid_alive $SVC && health; then log "elasticsearch: already running (pid $(cat "$MPLP_CLUSTER_DIR/$SVC/pid")), reusing"; return 0; fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then die "elasticsearch: port $PORT is taken by a process this project did not start"; fi
  install
  local d; d=$(svc_dir $SVC)
  : > "$d/log"
  log "elasticsearch: starting on 127.0.0.1:$PORT (heap $HEAP)"
  start_bg $SVC "$JAVA17_HOME/bin/java" -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dfile.encoding=UTF-8 -Dlog4j2.formatMsgNoLookups=true -Dio.netty.allocator.type=pooled \
    --add-opens=java.base/java.io=ALL-UNNAMED \
    -Dmplp.es.home="$d" -Dmplp.es.port="$PORT" -Dmplp.es.transport.port="$TRANSPORT_PORT" \
    -cp "$CLASSES:$(runtime_cp)" org.elasticsearch.node.MplpElasticsearchNode
  wait_for "elasticsearch" 180 health || { tail -30 "$d/log" >&2; die "elasticsearch: not healthy after 180 s, log: $d/log"; }
}

stop() { stop_pid $SVC 60; }
version() { curl -fsS -m 5 "http://127.0.0.1:$PORT/" 2>/dev/null | sed -n 's/.*"number":"\([^"]*\)".*/\1/p'; }
rss() { rss_mb $SVC; }

case "${1:-}" in
  install|start|stop|health|version|rss) "$1" ;;
  *) echo "usage: $0 install|start|stop|health|version|rss" >&2; exit 2 ;;
esac
