#!/usr/bin/env bash
# mirror_bench.sh - kferry mirror throughput next to baselines measured in
# the same run.
#
#   bench/mirror_bench.sh [BUILD_DIR] [RECORDS] [PARTITIONS]
#
# Part 1 (two kferry-broker processes): for each record size (100 B and
# 1 KiB) it loads RECORDS (default 1,000,000) records into a source topic,
# then times (a) `kferry mirror` until the target holds them all and (b)
# `kcat -C | kcat -P` copying the same topic, and prints records/s, MB/s and
# the ratio kferry/kcat.  The kcat pipe copies values only (no
# keys/headers/partitions), so it is a lower bar in work done per record
# than kferry.
#
# Part 2 (two real Apache Kafka clusters, when a Kafka distribution is
# found: $KAFKA_HOME, else ../shared/kafka/kafka_2.13-* beside the repo):
# starts a single-node KRaft source and a single-node KRaft target, loads
# KAFKA_RECORDS (500,000) x KAFKA_VALUE_BYTES (100) records over PARTITIONS
# partitions, and then, one after the other, each on a fresh target topic:
#   MirrorMaker 2 (dedicated mode, bin/connect-mirror-maker.sh),
#   kferry mirror, and the kcat pipe.
# Each is timed from process start until the target topic's high watermarks
# add up to all records (polled every 50 ms); the first non-zero poll gives
# the time to the first record.  One table: records/s, MB/s, time to first
# record, and kferry's ratio to each.
#
# Environment:
#   BENCH_PARTS="broker kafka"  which parts to run
#   KAFKA_HOME                  Kafka binary distribution (bin/connect-mirror-maker.sh)
#   KAFKA_RECORDS=500000 KAFKA_VALUE_BYTES=100   data of part 2
#   MM2_HEAP_OPTS="-Xms256M -Xmx2G"              MirrorMaker 2's heap (its script's default)
#   MM2_PLUGIN_DISCOVERY=service_load            Connect's plugin.discovery (hybrid_warn: Kafka's default)
#   STEP_TIMEOUT=900            seconds one copy may take before the run fails
#   KEEP_DATA=1                 keep the work dir (logs, configs, cluster data)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
N=${2:-1000000}
PARTS=${3:-4}
BENCH_PARTS=${BENCH_PARTS:-broker kafka}
KAFKA_N=${KAFKA_RECORDS:-500000}
KAFKA_SIZE=${KAFKA_VALUE_BYTES:-100}
MM2_HEAP=${MM2_HEAP_OPTS:--Xms256M -Xmx2G}
MM2_PLUGIN_DISCOVERY=${MM2_PLUGIN_DISCOVERY:-service_load}
STEP_TIMEOUT=${STEP_TIMEOUT:-900}
PY=/usr/bin/python3
REV=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown) # at start: the code that ran
WORK=$(mktemp -d /tmp/kferry-mirror-bench.XXXXXX)
PIDS=()
KSTATE=$WORK/kafka/state.json

cleanup() {
  set +e
  trap '' INT TERM
  for p in "${PIDS[@]}"; do stop_pid "$p" 20; done
  if [ -f "$KSTATE" ]; then kafka_pair down; fi
  if [ "${KEEP_DATA:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

has_part() { case " $BENCH_PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
. "$ROOT/bench/lib.sh"

# ------------------------------------------------ part 1: two kferry-brokers
broker_part() {
  local SRC DST SIZE T KP t0 t1 t2 t3 t4 t5 bpids
  bpids=${#PIDS[@]}
  start_broker src; SRC=127.0.0.1:$PORT
  start_broker dst; DST=127.0.0.1:$PORT
  start_broker dst-txn; DSTX=127.0.0.1:$PORT # the copy in transactions goes here
  echo "kferry mirror vs kcat pipe, two kferry-broker processes, $N records, $PARTS partitions"
  printf '%-6s %14s %10s   %14s %10s   %s\n' size kferry-rec/s MB/s kcat-rec/s MB/s ratio
  for SIZE in 100 1024; do
    T=bench$SIZE
    create_topic "$SRC" "$T" "$PARTS"
    make_data "$SIZE" "$N" "$WORK/data"
    "${KCAT[@]}" -P -b "$SRC" -t "$T" -X linger.ms=50 -X batch.num.messages=100000 -z lz4 -l "$WORK/data"
    wait_total "$SRC" "$T" "$N"

    cat >"$WORK/m.properties" <<PEOF
clusters = s, d
s.bootstrap.servers = $SRC
d.bootstrap.servers = $DST
s->d.enabled = true
topics = $T
kferry.status.interval.seconds = 0
PEOF
    t0=$(now) # includes kferry's start-up (topic creation, metadata)
    "$BUILD/kferry" mirror --config "$WORK/m.properties" 2>"$WORK/kferry.$SIZE.log" &
    KP=$!; PIDS+=("$KP")
    wait_total "$DST" "s.$T" "$N"
    t1=$(now)
    kill -TERM "$KP"; wait "$KP" || { echo "kferry exited non-zero"; tail "$WORK/kferry.$SIZE.log"; exit 1; }

    # the same copy written in transactions (kferry.transactions.enabled, 1 s
    # commits) to a third broker: what fencing costs
    sed -e "s/^d.bootstrap.servers = .*/d.bootstrap.servers = $DSTX/" "$WORK/m.properties" \
      >"$WORK/mt.properties"
    cat >>"$WORK/mt.properties" <<PEOF
kferry.transactions.enabled = true
kferry.transaction.interval.ms = 1000
PEOF
    tt0=$(now)
    "$BUILD/kferry" mirror --config "$WORK/mt.properties" 2>"$WORK/kferry-txn.$SIZE.log" &
    KP=$!; PIDS+=("$KP")
    wait_total "$DSTX" "s.$T" "$N"
    tt1=$(now)
    kill -TERM "$KP"; wait "$KP" || { echo "kferry (transactions) exited non-zero"; tail "$WORK/kferry-txn.$SIZE.log"; exit 1; }

    t2=$(now)
    "${KCAT[@]}" -C -b "$SRC" -t "$T" -o beginning -e -D '\n' |
      "${KCAT[@]}" -P -b "$DST" -t "pipe.$T" -D '\n' -X linger.ms=10 -X batch.num.messages=100000 -z lz4
    wait_total "$DST" "pipe.$T" "$N"
    t3=$(now)
    # for context: how fast the source broker can just be read
    t4=$(now)
    "${KCAT[@]}" -C -b "$SRC" -t "$T" -o beginning -e >/dev/null
    t5=$(now)
    $PY - "$SIZE" "$N" "$t0" "$t1" "$t2" "$t3" "$t4" "$t5" "$tt0" "$tt1" <<'PYEOF'
import sys
size, n = int(sys.argv[1]), int(sys.argv[2])
t = [float(x) for x in sys.argv[3:]]
k, c, r = n / (t[1] - t[0]), n / (t[3] - t[2]), n / (t[5] - t[4])
x = n / (t[7] - t[6])
print("%-6s %14.0f %10.1f   %14.0f %10.1f   %.2fx (kferry/kcat)   [kcat -C alone: %.0f rec/s]" % (
    "%dB" % size, k, k * size / 1e6, c, c * size / 1e6, k / c, r))
print("%-6s %14.0f %10.1f   in transactions (1 s commits): %.2fx of kferry without, %.2fx of kcat" % (
    "", x, x * size / 1e6, x / k, x / c))
PYEOF
  done
  # the brokers are idle from here on, but would still hold memory and CPU
  for p in "${PIDS[@]:$bpids}"; do stop_pid "$p" 10; done
}

# ------------------------------------------------ part 2: real Apache Kafka
find_kafka_home() { # prints the distribution's directory, or nothing
  local h homes
  if [ -n "${KAFKA_HOME:-}" ]; then
    [ -x "$KAFKA_HOME/bin/connect-mirror-maker.sh" ] && (cd "$KAFKA_HOME" && pwd)
    return 0
  fi
  for h in "$ROOT/../shared/kafka" "$ROOT/../../shared/kafka"; do
    homes=("$h"/kafka_2.13-*)
    for ((i = ${#homes[@]} - 1; i >= 0; i--)); do
      if [ -x "${homes[i]}/bin/connect-mirror-maker.sh" ]; then
        (cd "${homes[i]}" && pwd)
        return 0
      fi
    done
  done
}

kafka_pair() { # up | down: a single-node KRaft source and target (tests/realkafka/kafka_cluster.py)
  $PY - "$1" "$KSTATE" "$ROOT/tests/realkafka" "${KHOME:-}" "$WORK/kafka" <<'PYEOF'
import json, os, sys
mode, state, lib = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, lib)
from kafka_cluster import KafkaCluster
if mode == "down":
    with open(state) as f:
        st = json.load(f)
    for k in ("tgt", "src"):
        if k in st:
            KafkaCluster.attach(st[k]).shutdown()
    os.unlink(state)
    sys.exit(0)
home, base = sys.argv[4], sys.argv[5]
src = KafkaCluster("source", base, home, brokers=1)
tgt = KafkaCluster("target", base, home, brokers=1)
src.format()
tgt.format()
st = {}
for k, c in (("src", src), ("tgt", tgt)):
    c.start_nodes()
    st[k] = c.state()  # written at once, so that cleanup finds every started node
    with open(state + ".tmp", "w") as f:
        json.dump(st, f)
    os.rename(state + ".tmp", state)
src.wait_ready()
tgt.wait_ready()
print(src.bootstrap, tgt.bootstrap)
PYEOF
}

start_poller() { # bootstrap topic n out: polls the topic's high watermarks every 50 ms
  # in the background; once connected it creates out.ready; when the sum
  # reaches n it writes "<epoch of first non-zero poll> <epoch of the poll
  # that saw n> <sum>" to out.  Sets POLLER.
  rm -f "$4" "$4.ready"
  $PY - "$1" "$2" "$3" "$4" "$STEP_TIMEOUT" <<'PYEOF' &
import sys, time
from confluent_kafka import Consumer, KafkaException, TopicPartition
bs, topic, want, out, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
c = Consumer({"bootstrap.servers": bs, "group.id": "kferry-bench-poller",
              "broker.address.family": "v4", "enable.auto.commit": False})
c.list_topics(timeout=30)
open(out + ".ready", "w").close()
start, first, n = time.time(), None, 0
while True:
    try:
        # all topics: asking for one by name could auto-create it
        md = c.list_topics(timeout=5).topics.get(topic)
        if md is not None and md.error is None and md.partitions:
            n = sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=5, cached=False)[1]
                    for p in md.partitions)
    except KafkaException:
        pass  # leader not elected yet right after creation: poll again
    t = time.time()
    if n > 0 and first is None:
        first = t
    if n >= want:
        break
    if t - start > limit:
        sys.exit("%s: %d of %d records after %.0f s" % (topic, n, want, limit))
    time.sleep(0.05)
c.close()
with open(out + ".tmp", "w") as f:
    f.write("%.3f %.3f %d\n" % (first, t, n))
import os
os.rename(out + ".tmp", out)
PYEOF
  POLLER=$!
  PIDS+=("$POLLER")
  local i
  for ((i = 0; i < 600; i++)); do
    [ -e "$4.ready" ] && return 0
    kill -0 "$POLLER" 2>/dev/null || break
    sleep 0.05
  done
  echo "poller for $2 did not connect" >&2; exit 1
}

wait_poller() { # label log: waits for POLLER; on failure shows the log's tail
  if ! wait "$POLLER"; then
    echo "$1 did not copy all records in ${STEP_TIMEOUT}s; last lines of $2:" >&2
    tail -n 30 "$2" >&2
    exit 1
  fi
}

kafka_part() {
  local SRC DST T MP KP t0 t1 bs
  KHOME=$(find_kafka_home)
  if [ -z "$KHOME" ]; then
    echo "MirrorMaker 2 comparison skipped: no Kafka distribution${KAFKA_HOME:+ in KAFKA_HOME=$KAFKA_HOME}" \
      "(set KAFKA_HOME to an Apache Kafka 3.x/4.x binary distribution, or place one at" \
      "../shared/kafka/kafka_2.13-*)"
    return 0
  fi
  if ! command -v java >/dev/null; then
    echo "MirrorMaker 2 comparison skipped: no java on PATH (install Java 17, e.g. openjdk-17-jre-headless)"
    return 0
  fi
  # A benchmark wants the JIT and collector Kafka ships with (kafka-run-class.sh's
  # defaults); kafka_cluster.py would otherwise pick a C1-only JIT that starts faster.
  export KAFKA_JVM_PERFORMANCE_OPTS="-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true"
  local jni=/usr/lib/x86_64-linux-gnu/jni KOPTS=${KAFKA_OPTS:-}
  if [ -d "$jni" ]; then KOPTS="$KOPTS -Djava.library.path=$jni"; fi
  local load0
  load0=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "starting two single-node KRaft clusters from $KHOME ..." >&2
  mkdir -p "$WORK/kafka"
  local pair
  pair=$(kafka_pair up)
  SRC=${pair%% *} DST=${pair##* }
  T=bench
  create_topic "$SRC" "$T" "$PARTS"
  make_data "$KAFKA_SIZE" "$KAFKA_N" "$WORK/data"
  echo "loading $KAFKA_N x $KAFKA_SIZE B into $T ($PARTS partitions) ..." >&2
  "${KCAT[@]}" -P -b "$SRC" -t "$T" -X linger.ms=50 -X batch.num.messages=100000 -z lz4 -l "$WORK/data"
  wait_total "$SRC" "$T" "$KAFKA_N"
  rm -f "$WORK/data"
  # for context, and to have the source's pages and JIT warm for every contender
  t0=$(now)
  "${KCAT[@]}" -C -b "$SRC" -t "$T" -o beginning -e >/dev/null
  t1=$(now)
  local READ="$t0 $t1"

  # (a) MirrorMaker 2, dedicated mode: one flow mm2src->dst, this topic only
  cat >"$WORK/mm2.properties" <<PEOF
clusters = mm2src, dst
mm2src.bootstrap.servers = $SRC
dst.bootstrap.servers = $DST
mm2src->dst.enabled = true
dst->mm2src.enabled = false
mm2src->dst.topics = $T
tasks.max = $PARTS
replication.factor = 1
checkpoints.topic.replication.factor = 1
heartbeats.topic.replication.factor = 1
offset.storage.replication.factor = 1
status.storage.replication.factor = 1
config.storage.replication.factor = 1
emit.heartbeats.enabled = false
emit.checkpoints.enabled = false
emit.offset-syncs.enabled = false
# (with offset syncs off, setting offset-syncs.topic.replication.factor is a config error)
sync.group.offsets.enabled = false
sync.topic.configs.enabled = false
sync.topic.acls.enabled = false
# Connect's plugin scan: service_load reads the jars' manifests only (the log
# recommends it); the default, hybrid_warn, also scans every class of the
# classpath, which costs MirrorMaker 2 about 20 s of start-up on 2 cores.
# The driver reads the top-level key, the target's Connect worker the dst. one.
plugin.discovery = $MM2_PLUGIN_DISCOVERY
dst.plugin.discovery = $MM2_PLUGIN_DISCOVERY
PEOF
  echo "MirrorMaker 2 ..." >&2
  start_poller "$DST" "mm2src.$T" "$KAFKA_N" "$WORK/res.mm2"
  mkdir -p "$WORK/mm2-logs"
  t0=$(now)
  KAFKA_HEAP_OPTS="$MM2_HEAP" KAFKA_OPTS="$KOPTS" LOG_DIR="$WORK/mm2-logs" \
    "$KHOME/bin/connect-mirror-maker.sh" "$WORK/mm2.properties" >"$WORK/mm2.log" 2>&1 &
  MP=$!; PIDS+=("$MP")
  wait_poller "MirrorMaker 2" "$WORK/mm2.log"
  local MM2
  MM2="$t0 $(cat "$WORK/res.mm2")"
  kill -0 "$MP" 2>/dev/null || { echo "MirrorMaker 2 exited early" >&2; tail "$WORK/mm2.log" >&2; exit 1; }
  stop_pid "$MP" 60

  # (b) kferry mirror, the same pair and topic, the same features off
  cat >"$WORK/kf.properties" <<PEOF
clusters = kfsrc, dst
kfsrc.bootstrap.servers = $SRC
dst.bootstrap.servers = $DST
kfsrc->dst.enabled = true
kfsrc->dst.topics = $T
replication.factor = 1
sync.group.offsets.enabled = false
sync.topic.configs.enabled = false
kferry.status.interval.seconds = 0
PEOF
  echo "kferry mirror ..." >&2
  start_poller "$DST" "kfsrc.$T" "$KAFKA_N" "$WORK/res.kf"
  t0=$(now)
  "$BUILD/kferry" mirror --config "$WORK/kf.properties" 2>"$WORK/kferry.log" &
  KP=$!; PIDS+=("$KP")
  wait_poller "kferry mirror" "$WORK/kferry.log"
  local KF
  KF="$t0 $(cat "$WORK/res.kf")"
  kill -TERM "$KP"
  wait "$KP" || { echo "kferry exited non-zero" >&2; tail "$WORK/kferry.log" >&2; exit 1; }

  # (c) kcat -C | kcat -P: values only
  create_topic "$DST" "pipe.$T" "$PARTS"
  echo "kcat pipe ..." >&2
  start_poller "$DST" "pipe.$T" "$KAFKA_N" "$WORK/res.kcat"
  t0=$(now)
  "${KCAT[@]}" -C -b "$SRC" -t "$T" -o beginning -e -D '\n' |
    "${KCAT[@]}" -P -b "$DST" -t "pipe.$T" -D '\n' -X linger.ms=10 -X batch.num.messages=100000 -z lz4
  wait_poller "kcat pipe" /dev/null
  local KC
  KC="$t0 $(cat "$WORK/res.kcat")"

  local CPU RAM JV
  CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
  RAM=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
  JV=$(java -version 2>&1 | head -1)
  bs=$(basename "$KHOME")
  echo
  echo "kferry vs MirrorMaker 2 on Apache Kafka ($bs), $(date -u +%Y-%m-%dT%H:%M:%SZ), rev $REV"
  echo "machine: nproc=$(nproc), cpu=\"$CPU\", ram=$RAM, kernel $(uname -r), $JV"
  echo "load average at start $load0, at end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "pair: two single-node KRaft clusters on 127.0.0.1 (G1, -Xmx512m each); data: $KAFKA_N x $KAFKA_SIZE B, $PARTS partitions"
  echo "timed from process start until the target's high watermarks sum to $KAFKA_N (polled every 50 ms)"
  $PY - "$KAFKA_N" "$KAFKA_SIZE" "$READ" "$MM2" "$KF" "$KC" <<'PYEOF'
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
r0, r1 = map(float, sys.argv[3].split())
rows = []
for name, arg in (("MirrorMaker 2", sys.argv[4]), ("kferry mirror", sys.argv[5]),
                  ("kcat pipe", sys.argv[6])):
    t0, first, last, got = arg.split()
    t0, first, last, got = float(t0), float(first), float(last), int(got)
    rows.append((name, first - t0, last - t0, n / (last - t0),
                 n / (last - first) if last > first else float("inf"), got))
kf = rows[1]
print()
print("| %-17s | %12s | %9s | %9s | %6s | %16s | %16s | %9s |" % (
    "copy", "first record", "all (s)", "records/s", "MB/s", "rec/s after 1st", "kferry/this", "on target"))
print("|%s|%s|%s|%s|%s|%s|%s|%s|" % ("-" * 19, "-" * 14, "-" * 11, "-" * 11, "-" * 8, "-" * 18, "-" * 18, "-" * 11))
for name, tf, tl, rate, steady, got in rows:
    ratio = "%.2fx (%.2fx)" % (kf[3] / rate, kf[4] / steady)
    print("| %-17s | %10.2f s | %9.2f | %9.0f | %6.1f | %16.0f | %16s | %9d |" % (
        name, tf, tl, rate, rate * size / 1e6, steady, ratio, got))
print()
print("records/s and MB/s: all records over the time from process start (MB = 10^6 bytes of values);")
print("rec/s after 1st: all records over the time from the first record to the last;")
print("kferry/this: kferry's records/s over the row's (in brackets: the same for rec/s after 1st).")
print("kcat pipe: kcat -C | kcat -P, values only (no keys, headers, timestamps or partitions);")
print("MirrorMaker 2 and kferry keep all of them, partition for partition.")
print("kcat -C alone, reading the source: %.0f records/s." % (n / (r1 - r0)))
PYEOF
}

if has_part broker; then broker_part; fi
if has_part kafka; then kafka_part; fi
