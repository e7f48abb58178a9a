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
# how the work is split.  The map (committed with the records) is polled
# with `kferry offsets dump` until it covers every source record.  The rate
# printed is the steady state: records mapped after the lock group's last
# rebalance (the last "now holds" line of the processes' logs) over
# the time from then to the end, so start-up and the second process's join
# do not count; the last column is the rate from start to end.
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

wait_mapped() { # config n log... : polls the map until it covers n records; prints
  # "<steady-state start> <records mapped then> <end>" (wall-clock seconds)
  $PY - "$BUILD/kferry" "$STEP_TIMEOUT" "$@" <<'PYEOF'
import datetime, json, re, subprocess, sys, time
kferry, limit, cfg, want, logs = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5:]
deadline = time.monotonic() + limit
samples = []
while True:
    cp = subprocess.run([kferry, "offsets", "dump", "--config", cfg], capture_output=True)
    got = 0
    if cp.returncode == 0:
        for line in cp.stdout.decode().splitlines():
            runs = json.loads(line)["runs"]
            got += max((s + n for s, _, n in runs), default=0)
    samples.append((time.time(), got))
    if got >= want:
        break
    if time.monotonic() > deadline:
        sys.exit("the map covers %d of %d records after %.0f s" % (got, want, limit))
    time.sleep(0.1)
# steady state: from when the last process took its final units (the lock
# group's last rebalance) on; records mapped before then do not count
stable = 0.0
for path in logs:
    last = None
    for line in open(path, errors="replace"):
        if "now holds unit(s)" in line or "now holds flow" in line:
            last = line[:24]
    if last:
        t = datetime.datetime.strptime(last, "%Y-%m-%dT%H:%M:%S.%fZ")
        stable = max(stable, t.replace(tzinfo=datetime.timezone.utc).timestamp())
before = [g for t, g in samples if t <= stable]
print(stable, before[-1] if before else 0, samples[-1][0])
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
  local label=$1 workers=$2 procs=$3 dst t0 t1 ts gs i kps=() logs=() bpids=${#PIDS[@]}
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
    logs+=("$WORK/kferry.$label.$i.log")
    "$BUILD/kferry" mirror --config "$WORK/$label.properties" 2>"${logs[i]}" &
    kps+=($!)
    PIDS+=($!)
  done
  read -r ts gs t1 < <(wait_mapped "$WORK/$label.properties" "$N" "${logs[@]}")
  for p in "${kps[@]}"; do
    kill -TERM "$p"
    wait "$p" || { echo "kferry ($label) exited non-zero" >&2; tail "$WORK/kferry.$label."*.log >&2; exit 1; }
  done
  for p in "${PIDS[@]:$bpids}"; do stop_pid "$p" 10; done
  rm -rf "$WORK/dst-$label"
  echo "$label $t0 $t1 $ts $gs" >>"$WORK/times"
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
whole, steady = {}, {}
for line in open(sys.argv[3]):
    label, t0, t1, ts, gs = line.split()
    t0, t1, ts, gs = float(t0), float(t1), float(ts), int(gs)
    whole[label] = n / (t1 - t0)
    steady[label] = (n - gs) / (t1 - max(ts, t0))
names = {"w1": "1 thread", "w2": "2 threads", "w4": "4 threads", "p2": "2 processes (4 units)"}
print("%-24s %12s %8s %8s   %14s" % ("copy", "records/s", "MB/s", "ratio", "start to end"))
for k in ("w1", "w2", "w4", "p2"):
    r = steady[k]
    print("%-24s %12.0f %8.1f %7.2fx   %10.0f rec/s" % (names[k], r, r * size / 1e6,
                                                       r / steady["w1"], whole[k]))
print("2 processes vs 1 process (both 4 units): %.2fx" % (steady["p2"] / steady["w4"]))
PYEOF
