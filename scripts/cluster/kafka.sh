#!/usr/bin/env bash
# Apache Kafka, one KRaft node (broker + controller), from the official jars on Maven Central.
# Usage: kafka.sh install|start|stop|health|version|rss
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SVC=kafka
PORT="${MPLP_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${MPLP_KAFKA_CONTROLLER_PORT:-9093}"
HEAP="${MPLP_KAFKA_HEAP:-1g}"
POM_DIR="$ROOT/scripts/cluster/kafka"
CP_FILE="$MPLP_CACHE_DIR/kafka/classpath-$(sha256sum "$POM_DIR/pom.xml" | cut -c1-12).txt"

java_cmd() {
  "$JAVA17_HOME/bin/java" -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true -Dlog4j.configuration="file:$(svc_dir $SVC)/log4j.properties" \
    -cp "$(cat "$CP_FILE")" "$@"
}

install() { mvn_classpath "$POM_DIR" "$CP_FILE"; }

write_config() {
  local d; d=$(svc_dir $SVC)
  mkdir -p "$d/data"
  cat > "$d/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$d/data
num.partitions=6
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
message.max.bytes=10485760
log.retention.hours=24
log.segment.bytes=268435456
PROPS
  cat > "$d/log4j.properties" <<PROPS
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
log4j.logger.kafka.Kafka\$=INFO
PROPS
}

health() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && grep -q "Kafka Server started\|Transition from STARTING to STARTED\|started (kafka.server" "$(svc_dir $SVC)/log"; }

start() {
  if pid_alive $SVC && health; then log "kafka: already running (pid $(cat "$MPLP_CLUSTER_DIR/$SVC/pid")), reusing"; return 0; fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then die "kafka: port $PORT is taken by a process this project did not start"; fi
  install
  write_config
  local d; d=$(svc_dir $SVC)
  if [ ! -f "$d/data/meta.properties" ]; then
    log "kafka: formatting KRaft storage"
    java_cmd kafka.tools.StorageTool format -t "mplp-local-cluster-0001" -c "$d/server.properties" --ignore-formatted >>"$d/log" 2>&1 \
      || die "kafka: storage format failed, see $d/log"
  fi
  : > "$d/log"
  log "kafka: starting on 127.0.0.1:$PORT"
  start_bg $SVC "$JAVA17_HOME/bin/java" -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true -Dlog4j.configuration="file:$d/log4j.properties" \
    -cp "$(cat "$CP_FILE")" kafka.Kafka "$d/server.properties"
  wait_for "kafka" 120 health || { tail -30 "$d/log" >&2; die "kafka: not healthy after 120 s, log: $d/log"; }
}

stop() { stop_pid $SVC 60; }
version() { basename "$(tr ':' '\n' < "$CP_FILE" | grep '/kafka_2.13-')" .jar | sed 's/kafka_2.13-//'; }
rss() { rss_mb $SVC; }

case "${1:-}" in
  install|start|stop|health|version|rss) "$1" ;;
  *) echo "usage: $0 install|start|stop|health|version|rss" >&2; exit 2 ;;
esac
