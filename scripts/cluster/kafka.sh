#!/usr/bin/env bash
# Apache Kafka, one KRaft node (broker + controller), from the official jars on Maven Central.
# MPLP_KAFKA_VERSION picks the release (3.x or 4.x); each version keeps its own data directory,
# because a KRaft log formatted by one release is not always readable by another.
# Usage: kafka.sh install|start|stop|health|version|requested-version|rss
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SVC=kafka
# The newest release the whole integration suite passed on (README, "The local cluster").
DEFAULT_VERSION=4.4.0
VERSION="${MPLP_KAFKA_VERSION:-$DEFAULT_VERSION}"
PORT="${MPLP_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${MPLP_KAFKA_CONTROLLER_PORT:-9093}"
HEAP="${MPLP_KAFKA_HEAP:-1g}"
POM_DIR="$ROOT/scripts/cluster/kafka"

DIR="$MPLP_CLUSTER_DIR/$SVC"
DATA_DIR="$DIR/data-$VERSION"

# Checked by the commands that use the requested version, not by stop/health/version: stopping
# whatever runs must work whatever MPLP_KAFKA_VERSION says.
check_version() {
  [[ "$VERSION" =~ ^([34])\.[0-9]+\.[0-9]+$ ]] \
    || die "invalid setting MPLP_KAFKA_VERSION: must be a Kafka 3.x or 4.x release such as $DEFAULT_VERSION or 3.9.2, got \"$VERSION\""
  LINE="${BASH_REMATCH[1]}"
  CP_FILE="$MPLP_CACHE_DIR/kafka/classpath-$(sha256sum "$POM_DIR/pom.xml" | cut -c1-12)-$VERSION.txt"
}

install() { check_version; mvn_classpath "$POM_DIR" "$CP_FILE" -Dkafka.version="$VERSION" -P"kafka$LINE"; }

# 3.x reads a log4j 1 properties file, 4.x a log4j 2 one; both log WARN and the startup lines.
write_log_config() {
  if [ "$LINE" = 3 ]; then
    cat > "$DIR/log4j.properties" <<PROPS
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
log4j.logger.kafka.Kafka\$=INFO
PROPS
    printf -- '-Dlog4j.configuration=file:%s' "$DIR/log4j.properties"
  else
    cat > "$DIR/log4j2.properties" <<PROPS
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=WARN
rootLogger.appenderRef.stdout.ref=STDOUT
logger.broker.name=kafka.server.BrokerServer
logger.broker.level=INFO
logger.main.name=kafka.Kafka\$
logger.main.level=INFO
PROPS
    printf -- '-Dlog4j2.configurationFile=file:%s' "$DIR/log4j2.properties"
  fi
}

write_config() {
  mkdir -p "$DATA_DIR"
  cat > "$DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA_DIR
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
}

java_cmd() {
  "$JAVA17_HOME/bin/java" -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true "$LOG_OPT" -cp "$(cat "$CP_FILE")" "$@"
}

# The release of the broker this project started: recorded at start; for a broker started by an
# older kafka.sh (no record), read from the kafka_2.13-<version>.jar on its command line.
running_version() {
  pid_alive $SVC || return 1
  if [ -s "$DIR/version" ]; then cat "$DIR/version"; return 0; fi
  ps -ww -o args= -p "$(cat "$DIR/pid")" | grep -o 'kafka_2\.13-[0-9][0-9.]*[0-9]\.jar' | head -1 | sed 's/kafka_2\.13-//; s/\.jar$//'
}

require_requested_version() {
  local running; running=$(running_version) || return 0
  [ "$running" = "$VERSION" ] && return 0
  die "kafka: the broker this project started (pid $(cat "$DIR/pid")) is Kafka ${running:-of unknown version}, but MPLP_KAFKA_VERSION asks for $VERSION; stop it first (bash scripts/cluster/kafka.sh stop) or set MPLP_KAFKA_VERSION=${running:-<its version>}"
}

health() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && grep -q "Kafka Server started\|Transition from STARTING to STARTED\|started (kafka.server" "$DIR/log"; }

start() {
  check_version
  mkdir -p "$DIR"
  require_requested_version
  if pid_alive $SVC; then
    # ours and the right version: healthy, or still starting (wait rather than start a second one)
    wait_for kafka 120 health || die "kafka: pid $(cat "$DIR/pid") is running but not healthy after 120 s, log: $DIR/log"
    log "kafka: $VERSION already running (pid $(cat "$DIR/pid")), reusing"; return 0
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then die "kafka: port $PORT is taken by a process this project did not start"; fi
  install
  write_config
  LOG_OPT=$(write_log_config)
  if [ -f "$DIR/data/meta.properties" ]; then
    log "kafka: $DIR/data (one directory for every version, before per-version directories) is no longer used; delete it"
  fi
  if [ ! -f "$DATA_DIR/meta.properties" ]; then
    log "kafka: formatting KRaft storage for $VERSION in $DATA_DIR"
    java_cmd kafka.tools.StorageTool format -t "mplp-local-cluster-0001" -c "$DIR/server.properties" --ignore-formatted >>"$DIR/log" 2>&1 \
      || die "kafka: storage format failed, see $DIR/log"
  fi
  : > "$DIR/log"
  log "kafka: starting $VERSION on 127.0.0.1:$PORT"
  printf '%s\n' "$VERSION" > "$DIR/version"
  start_bg $SVC "$JAVA17_HOME/bin/java" -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true "$LOG_OPT" -cp "$(cat "$CP_FILE")" kafka.Kafka "$DIR/server.properties"
  wait_for "kafka" 120 health || { tail -30 "$DIR/log" >&2; die "kafka: not healthy after 120 s, log: $DIR/log"; }
}

# By recorded pid, whichever version that is.
stop() { stop_pid $SVC 60; rm -f "$DIR/version"; }
# The running broker's release, or the requested one when none is running.
version() { running_version || requested_version; }
requested_version() { check_version; printf '%s\n' "$VERSION"; }
rss() { rss_mb $SVC; }

case "${1:-}" in
  install|start|stop|health|version|rss) "$1" ;;
  requested-version) requested_version ;;
  *) echo "usage: $0 install|start|stop|health|version|requested-version|rss" >&2; exit 2 ;;
esac
