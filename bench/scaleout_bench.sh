#!/usr/bin/env bash
# scaleout_bench.sh - kferry.workers: the same copy with 1, 2 and 4 worker
# threads in one process, and with 1 and 2 processes, in one run, printed
# as ratios to the one-thread copy.
#
#   bench/scaleout_bench.sh [BUILD_DIR] [RECORDS] [PARTITIONS]
#
# Loads RECORDS (default 500,000) records of VALUE_BYTES (1024) into a
# source topic of PARTITIONS (12) partitions on one kferry-broker, then
# copies it, each time to a fresh kferry-broker target:
#   workers=1, workers=2, workers=4   (one process)
#   workers=4 in 2 processes          (the lock group gives each two units)
# Every copy writes in transactions (kferry.transactions.enabled, 1 s
# commits), which kferry.workers > 1 requires, so the rows differ only in
# how the work is split.  A copy is timed from the start of the first
# process until the offset map (committed with the records) covers every
# source record; `kferry offsets dump` is polled every 200 ms.
#
# On a machine with few cores the brokers, the processes and the poller
# share them: the ratios say what more threads buy on this machine, not
# what they buy next to remote brokers.
#
# Environment: VALUE_BYTES=1024, STEP_TIMEOUT=600, KEEP_DATA=1 keeps the work dir.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
N=${2:-500000}
PARTS=${3:-12}
SIZE=${VALUE_BYTES:-1024}
STEP_TIMEOUT=${STEP_TIMEOUT:-600}
PY=/usr/bin/python3
REV=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
WORK=$(mktemp -d /tmp/kferry-scaleout-bench.XXXXXX)
PIDS=()
. "$ROOT/bench/lib.sh"

cleanup() {
  set +e
  trap '' INT TERM
  for p in "${PIDS[@]}"; do stop_pid "$p" 20; done
  if [ "${KEEP_DATA:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_mapped() { # config n: returns once the offset map covers n source records
  $PY - "$BUILD/kferry" "$1" "$2" "$STEP_TIMEOUT" <<'PYEOF'
import json, subprocess, sys, time
kferry, cfg, want, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
deadline = time.monotonic() + limit
while True:
    cp = subprocess.run([kferry, "offsets", "dump", "--config", cfg], capture_output=True)
    got = 0
    if cp.returncode == 0:
        for line in cp.stdout.decode().splitlines():
            runs = json.loads(line)["runs"]
            got += max((s + n for s, _, n in runs), default=0)
    if got >= want:
        break
    if time.monotonic() > deadline:
        sys.exit("the map covers %d of %d records after %.0f s" % (got, want, limit))
    time.sleep(0.2)
PYEOF
}

start_broker src
SRC=127.0.0.1:$PORT
create_topic "$SRC" bench "$PARTS"
make_data "$SIZE" "$N" "$WORK/data"
kcat -X broker.address.family=v4 -q -P -b "$SRC" -t bench -X linger.ms=50 \
  -X batch.num.messages=100000 -z lz4 -l "$WORK/data"
rm -f "$WORK/data"
wait_total "$SRC" bench "$N"

run_copy() { # label workers processes -> prints the seconds on fd 3
  local label=$1 workers=$2 procs=$3 dst t0 t1 i kps=() bpids=${#PIDS[@]}
  start_broker "dst-$label"
  dst=127.0.0.1:$PORT
  cat >"$WORK/$label.properties" <<PEOF
clusters = s, d
s.bootstrap.servers = $SRC
d.bootstrap.servers = $dst
s->d.enabled = true
topics = bench
kferry.status.interval.seconds = 0
kferry.transactions.enabled = true
kferry.transaction.interval.ms = 1000
kferry.workers = $workers
PEOF
  t0=$(now)
  for ((i = 0; i < procs; i++)); do
    "$BUILD/kferry" mirror --config "$WORK/$label.properties" 2>"$WORK/kferry.$label.$i.log" &
    kps+=($!)
    PIDS+=($!)
  done
  wait_mapped "$WORK/$label.properties" "$N"
  t1=$(now)
  for p in "${kps[@]}"; do
    kill -TERM "$p"
    wait "$p" || { echo "kferry ($label) exited non-zero" >&2; tail "$WORK/kferry.$label."*.log >&2; exit 1; }
  done
  for p in "${PIDS[@]:$bpids}"; do stop_pid "$p" 10; done
  rm -rf "$WORK/dst-$label"
  echo "$label $t0 $t1" >>"$WORK/times"
}

echo "kferry.workers scaling: $N records of $SIZE B, $PARTS partitions, kferry-broker source and target"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), rev $REV"
run_copy w1 1 1
run_copy w2 2 1
run_copy w4 4 1
run_copy p2 4 2
$PY - "$N" "$SIZE" "$WORK/times" <<'PYEOF'
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
t = {}
for line in open(sys.argv[3]):
    label, a, b = line.split()
    t[label] = float(b) - float(a)
names = {"w1": "1 thread", "w2": "2 threads", "w4": "4 threads",
         "p2": "2 processes (4 units)"}
print("%-24s %10s %12s %8s   %s" % ("copy", "seconds", "records/s", "MB/s", "ratio to 1 thread"))
for k in ("w1", "w2", "w4", "p2"):
    r = n / t[k]
    print("%-24s %10.2f %12.0f %8.1f   %.2fx" % (names[k], t[k], r, r * size / 1e6, t["w1"] / t[k]))
print("2 processes vs 1 process (both 4 units): %.2fx" % (t["w4"] / t["p2"]))
PYEOF
