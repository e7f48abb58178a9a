#!/usr/bin/env bash
# mirror_bench.sh - kferry mirror throughput against a kcat consume->produce
# pipe, between two local kferry-broker processes, in the same run.
#
#   bench/mirror_bench.sh [BUILD_DIR] [RECORDS] [PARTITIONS]
#
# For each record size (100 B and 1 KiB) it loads RECORDS (default
# 1,000,000) records into a source topic, then times (a) `kferry mirror`
# until the target holds them all and (b) `kcat -C | kcat -P` copying the
# same topic, and prints records/s, MB/s and the ratio kferry/kcat.
# The kcat pipe copies values only (no keys/headers/partitions), so it is
# a lower bar in work done per record than kferry.
set -euo pipefail
BUILD=${1:-build}
N=${2:-1000000}
PARTS=${3:-4}
PY=/usr/bin/python3
WORK=$(mktemp -d /tmp/kferry-mirror-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

start_broker() { # name -> sets PORT
  mkdir -p "$WORK/$1"
  "$BUILD/kferry-broker" --listen 127.0.0.1:0 --data-dir "$WORK/$1" >"$WORK/$1.out" 2>"$WORK/$1.err" &
  PIDS+=($!)
  for _ in $(seq 100); do
    PORT=$(sed -n 's/^kferry-broker listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/$1.out")
    [ -n "$PORT" ] && return 0
    sleep 0.1
  done
  echo "broker $1 did not start" >&2; exit 1
}

wait_total() { # bootstrap topic n: returns once the topic's high watermarks sum to n
  $PY - "$1" "$2" "$3" <<'PYEOF'
import sys, time
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "bench-unused"})
topic, want = sys.argv[2], int(sys.argv[3])
while True:
    md = c.list_topics(timeout=10).topics.get(topic)
    n = 0
    if md is not None and md.error is None and md.partitions:
        n = sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
                for p in md.partitions)
    if n >= want:
        break
    time.sleep(0.02)
c.close()
PYEOF
}

start_broker src; SRC=127.0.0.1:$PORT
start_broker dst; DST=127.0.0.1:$PORT
KCAT=(kcat -X broker.address.family=v4 -q)
printf '%-6s %14s %10s   %14s %10s   %s\n' size kferry-rec/s MB/s kcat-rec/s MB/s ratio
for SIZE in 100 1024; do
  T=bench$SIZE
  $PY - "$SRC" "$T" "$PARTS" <<'PYEOF'
import sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": sys.argv[1]})
a.create_topics([NewTopic(sys.argv[2], int(sys.argv[3]), 1)])[sys.argv[2]].result(20)
PYEOF
  # values: SIZE printable bytes, no newline inside
  $PY -c "
import sys, random
w = sys.stdout.buffer
base = bytes(random.Random(1).choice(b'abcdefghijklmnopqrstuvwxyz0123456789') for _ in range($SIZE + 64))
for i in range($N):
    o = i % 64
    w.write(base[o:o + $SIZE] + b'\n')
" >"$WORK/data"
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
  t0=$(date +%s.%N) # includes kferry's start-up (topic creation, metadata)
  "$BUILD/kferry" mirror --config "$WORK/m.properties" 2>"$WORK/kferry.$SIZE.log" &
  KP=$!; PIDS+=($KP)
  wait_total "$DST" "s.$T" "$N"
  t1=$(date +%s.%N)
  kill -TERM $KP; wait $KP || { echo "kferry exited non-zero"; tail "$WORK/kferry.$SIZE.log"; exit 1; }

  t2=$(date +%s.%N)
  "${KCAT[@]}" -C -b "$SRC" -t "$T" -o beginning -e -D '\n' |
    "${KCAT[@]}" -P -b "$DST" -t "pipe.$T" -D '\n' -X linger.ms=10 -X batch.num.messages=100000 -z lz4
  wait_total "$DST" "pipe.$T" "$N"
  t3=$(date +%s.%N)
  # for context: how fast the source broker can just be read
  t4=$(date +%s.%N)
  "${KCAT[@]}" -C -b "$SRC" -t "$T" -o beginning -e >/dev/null
  t5=$(date +%s.%N)
  $PY - "$SIZE" "$N" "$t0" "$t1" "$t2" "$t3" "$t4" "$t5" <<'PYEOF'
import sys
size, n = int(sys.argv[1]), int(sys.argv[2])
t = [float(x) for x in sys.argv[3:]]
k, c, r = n / (t[1] - t[0]), n / (t[3] - t[2]), n / (t[5] - t[4])
print("%-6s %14.0f %10.1f   %14.0f %10.1f   %.2fx (kferry/kcat)   [kcat -C alone: %.0f rec/s]" % (
    "%dB" % size, k, k * size / 1e6, c, c * size / 1e6, k / c, r))
PYEOF
done
