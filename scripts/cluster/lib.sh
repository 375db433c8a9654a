#!/usr/bin/env bash
# Shared helpers for the native (no Docker) local cluster scripts.
# Each service keeps everything under $MPLP_CLUSTER_DIR/<service>/ :
#   pid   the pid of the process this project started (stop only kills that)
#   log   stdout+stderr of the server
#   data/ the server's data
# Downloaded / built artifacts are cached under $MPLP_CACHE_DIR (outside the repo, survives clones).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export MPLP_CLUSTER_DIR="${MPLP_CLUSTER_DIR:-$ROOT/.cluster}"
export MPLP_CACHE_DIR="${MPLP_CACHE_DIR:-$HOME/.cache/mplp}"
JAVA17_HOME="${MPLP_JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}"

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] error: %s\n' "$*" >&2; exit 1; }

svc_dir() { local d="$MPLP_CLUSTER_DIR/$1"; mkdir -p "$d"; printf '%s' "$d"; }

# pid_alive SERVICE -> 0 if the pid recorded for SERVICE is a running process
pid_alive() {
  local f="$MPLP_CLUSTER_DIR/$1/pid"
  [ -f "$f" ] || return 1
  local pid; pid=$(cat "$f")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# wait_for DESCRIPTION TIMEOUT_SECONDS COMMAND... : polls COMMAND every 0.5 s until it succeeds
wait_for() {
  local what="$1" timeout="$2"; shift 2
  local deadline=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then return 1; fi
    sleep 0.5
  done
}

# start_bg SERVICE COMMAND... : starts COMMAND detached (own session), records its pid
start_bg() {
  local svc="$1"; shift
  local d; d=$(svc_dir "$svc")
  setsid "$@" >>"$d/log" 2>&1 < /dev/null &
  echo $! > "$d/pid"
}

# stop_pid SERVICE [GRACE_SECONDS] : SIGTERM the recorded pid (and its process group), SIGKILL after grace
stop_pid() {
  local svc="$1" grace="${2:-30}"
  local f="$MPLP_CLUSTER_DIR/$svc/pid"
  [ -f "$f" ] || { log "$svc: not started by us"; return 0; }
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    log "$svc: stopping pid $pid"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local deadline=$(( $(date +%s) + grace ))
    while kill -0 "$pid" 2>/dev/null; do
      if [ "$(date +%s)" -ge "$deadline" ]; then
        log "$svc: did not stop in ${grace}s, SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
  fi
  rm -f "$f"
}

# rss_mb SERVICE : resident memory of the recorded process tree in MiB
rss_mb() {
  local f="$MPLP_CLUSTER_DIR/$1/pid"; [ -f "$f" ] || { echo 0; return; }
  local pid; pid=$(cat "$f")
  ps -o rss= --ppid "$pid" -p "$pid" 2>/dev/null | awk '{s+=$1} END {printf "%d", s/1024}'
}

# mvn_classpath POM_DIR OUT_FILE [MAVEN_ARGS...] : resolves the pom's runtime classpath with Maven
# (cached in ~/.m2); MAVEN_ARGS (-D properties, -P profiles) must be part of OUT_FILE's name
mvn_classpath() {
  local pomdir="$1" out="$2"; shift 2
  if [ -s "$out" ] && [ "$out" -nt "$pomdir/pom.xml" ]; then return 0; fi
  mkdir -p "$(dirname "$out")"
  log "resolving $(basename "$pomdir") jars with Maven${*:+ ($*)} (first run downloads them)"
  mvn -B -q -f "$pomdir/pom.xml" "$@" dependency:build-classpath -Dmdep.outputFile="$out" -Dmdep.includeScope=runtime \
    || die "Maven could not resolve $pomdir/pom.xml${*:+ with $*}"
}
