#!/usr/bin/env bash
# run_broker_bench.sh - throughput of one kferry-broker on this machine.
#
# Builds kferry-broker and kb_perf if needed, starts a broker on a fresh
# temporary data dir (127.0.0.1, free port), then measures, one after the
# other:
#   kb_perf produce / consume   SMALL_N x 100 B   (produce with acks=1 and acks=all)
#   kb_perf produce / consume   LARGE_N x 1 KiB   (acks=1)
#   kcat -P from a file         SMALL_N x 100 B   (a second client, same broker)
#   kcat -C into a pipe         SMALL_N x 100 B
# and prints a table with the machine description.  Every step runs REPEAT
# times; a row shows the median run and the records/s range over all runs.
# See bench/README.md for what each number means and does not mean.
#
# Environment: KFERRY_BUILD_DIR (default <repo>/build), SMALL_N (2000000),
# LARGE_N (500000), PARTITIONS (1), REPEAT (3), STEP_TIMEOUT seconds (90),
# KEEP_DATA=1 (keep the temp dir with the data and the broker's logs).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${KFERRY_BUILD_DIR:-$ROOT/build}
SMALL_N=${SMALL_N:-2000000}
LARGE_N=${LARGE_N:-500000}
PARTITIONS=${PARTITIONS:-1}
REPEAT=${REPEAT:-3}
STEP_TIMEOUT=${STEP_TIMEOUT:-90}

command -v kcat >/dev/null || { echo "kcat not found" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kferry-bench.XXXXXX")
BROKER_PID=
cleanup() {
    if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill -TERM "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    if [ "${KEEP_DATA:-0}" = 1 ]; then
        echo "data and logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- build
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$WORK/build.log" 2>&1 ||
        { cat "$WORK/build.log" >&2; exit 1; }
fi
cmake --build "$BUILD" -j"$(nproc)" --target kferry-broker kb_perf >>"$WORK/build.log" 2>&1 ||
    { cat "$WORK/build.log" >&2; exit 1; }
BROKER="$BUILD/kferry-broker"
PERF="$BUILD/bench/kb_perf"
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt")

# ---------------------------------------------------------------- broker
"$BROKER" --listen 127.0.0.1:0 --data-dir "$WORK/data" --log-level warn \
    >"$WORK/broker.stdout" 2>"$WORK/broker.stderr" &
BROKER_PID=$!
for _ in $(seq 1 200); do
    grep -q 'listening on' "$WORK/broker.stdout" 2>/dev/null && break
    kill -0 "$BROKER_PID" 2>/dev/null || { cat "$WORK/broker.stderr" >&2; exit 1; }
    sleep 0.05
done
BOOT=$(sed -n 's/^kferry-broker listening on PLAINTEXT:\/\///p' "$WORK/broker.stdout")
[ -n "$BOOT" ] || { echo "broker did not start" >&2; exit 1; }

# ---------------------------------------------------------------- helpers
ROWS=()
fmt() { printf '| %-34s | %-8s | %9s | %5s | %7s | %10s | %8s | %-19s |' "$@"; }
row() { ROWS+=("$(fmt "$@")"); }
failed() { row "$1" "$2" "$3" "$4" FAILED - - -; }

# summary LABEL CLIENT N SIZE SECS... : the median run, and the records/s
# range over all runs.
summary() {
    local label=$1 client=$2 n=$3 size=$4
    shift 4
    local sorted med fast slow
    sorted=$(printf '%s\n' "$@" | sort -g)
    med=$(sed -n "$((($# + 1) / 2))p" <<<"$sorted")
    fast=$(head -1 <<<"$sorted")
    slow=$(tail -1 <<<"$sorted")
    row "$label" "$client" "$n" "$size" "$med" \
        "$(awk -v n="$n" -v s="$med" 'BEGIN { printf "%.0f", n / s }')" \
        "$(awk -v n="$n" -v z="$size" -v s="$med" 'BEGIN { printf "%.1f", n * z / 1e6 / s }')" \
        "$(awk -v n="$n" -v a="$slow" -v b="$fast" 'BEGIN { printf "%.0f-%.0f", n / a, n / b }')"
}

ns_to_s() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }

log_end() { # TOPIC -> sum of the partitions' high watermarks
    local total=0 p hi
    for ((p = 0; p < PARTITIONS; p++)); do
        hi=$(kcat -b "$BOOT" -Q -t "$1:$p:-1" 2>/dev/null | awk '{ print $NF }')
        total=$((total + ${hi:-0}))
    done
    echo "$total"
}

# perf_step MODE TOPIC N SIZE ACKS LABEL
perf_step() {
    local mode=$1 topic=$2 n=$3 size=$4 acks=$5 label=$6 out secs=() i
    for ((i = 0; i < REPEAT; i++)); do
        if ! out=$(timeout "$((STEP_TIMEOUT + 10))" "$PERF" "$mode" -b "$BOOT" -t "$topic" \
                -n "$n" -s "$size" -a "$acks" -T "$STEP_TIMEOUT" 2>"$WORK/perf.err"); then
            failed "$label" kb_perf "$n" "$size"
            sed 's/^/    /' "$WORK/perf.err" >&2
            return
        fi
        secs+=("$(sed -n 's/.* seconds=\([^ ]*\).*/\1/p' <<<"$out")")
    done
    summary "$label" kb_perf "$n" "$size" "${secs[@]}"
}

KCAT_OPTS=(-X linger.ms=5 -X batch.size=1000000 -X batch.num.messages=100000
           -X queue.buffering.max.messages=1000000 -X queue.buffering.max.kbytes=1048576)

kcat_produce() {
    local label="produce 100 B, acks=1 (from file)" secs=() i t0 t1 got
    for ((i = 0; i < REPEAT; i++)); do
        t0=$(date +%s%N)
        if ! timeout "$STEP_TIMEOUT" kcat -b "$BOOT" -P -t bkcat -X acks=1 "${KCAT_OPTS[@]}" \
                -l "$WORK/records.txt" 2>"$WORK/kcat.err"; then
            failed "$label" "kcat -P" "$SMALL_N" 100
            sed 's/^/    /' "$WORK/kcat.err" >&2
            return
        fi
        t1=$(date +%s%N)
        got=$(log_end bkcat)
        if [ "$got" != "$(((i + 1) * SMALL_N))" ]; then
            failed "$label: log end $got" "kcat -P" "$SMALL_N" 100
            return
        fi
        secs+=("$(ns_to_s "$t0" "$t1")")
    done
    summary "$label" "kcat -P" "$SMALL_N" 100 "${secs[@]}"
}

kcat_consume() {
    local label="consume 100 B (into a pipe)" secs=() i t0 t1 got
    for ((i = 0; i < REPEAT; i++)); do
        t0=$(date +%s%N)
        if ! got=$(timeout "$STEP_TIMEOUT" kcat -b "$BOOT" -C -t bkcat -o beginning -q \
                -c "$SMALL_N" -X fetch.wait.max.ms=100 -f '\n' 2>"$WORK/kcat.err" | wc -l); then
            failed "$label" "kcat -C" "$SMALL_N" 100
            return
        fi
        t1=$(date +%s%N)
        if [ "$got" != "$SMALL_N" ]; then
            failed "$label: got $got" "kcat -C" "$SMALL_N" 100
            return
        fi
        secs+=("$(ns_to_s "$t0" "$t1")")
    done
    summary "$label" "kcat -C" "$SMALL_N" 100 "${secs[@]}"
}

# ---------------------------------------------------------------- steps
for t in b100 b100all b1k bkcat; do
    "$PERF" create -b "$BOOT" -t "$t" -p "$PARTITIONS" >/dev/null
done

echo "running: kb_perf ${SMALL_N} x 100 B ..." >&2
perf_step produce b100 "$SMALL_N" 100 1 "produce 100 B, acks=1"
perf_step consume b100 "$SMALL_N" 100 1 "consume 100 B"
perf_step produce b100all "$SMALL_N" 100 all "produce 100 B, acks=all"
echo "running: kb_perf ${LARGE_N} x 1 KiB ..." >&2
perf_step produce b1k "$LARGE_N" 1024 1 "produce 1 KiB, acks=1"
perf_step consume b1k "$LARGE_N" 1024 1 "consume 1 KiB"

echo "running: kcat ${SMALL_N} x 100 B ..." >&2
# SMALL_N lines of 100 bytes each: kcat sends one record per line.
awk -v n="$SMALL_N" 'BEGIN { s = sprintf("%100s", ""); gsub(/ /, "k", s);
                             for (i = 0; i < n; i++) print s }' >"$WORK/records.txt"
kcat_produce
kcat_consume

# ---------------------------------------------------------------- report
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
RAM=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
FS=$(df -T "$WORK" | awk 'NR == 2 { print $2 " on " $1 }')
REV=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
echo
echo "kferry-broker bench  $(date -u +%Y-%m-%dT%H:%M:%SZ)  rev $REV  build $BUILD_TYPE"
echo "machine: nproc=$(nproc), cpu=\"$CPU\", ram=$RAM, data dir: $FS, kernel $(uname -r)"
echo "broker: one process on 127.0.0.1, $PARTITIONS partition(s) per topic, default flush"
echo "policy (the OS writes pages back; no fsync per request). Clients run on the same machine."
echo "each row: median of $REPEAT runs; last column: records/s of the slowest-fastest run."
echo "MB = 10^6 bytes of record values (keys, headers and framing not counted)."
echo
fmt "workload" "client" "records" "bytes" "seconds" "records/s" "MB/s" "records/s, all runs"
echo
echo "|------------------------------------|----------|-----------|-------|---------|------------|----------|---------------------|"
printf '%s\n' "${ROWS[@]}"
echo
echo "context, not measured here: Apache Kafka's commonly published figure is about"
echo "300,000 100-byte records/s for one producer against one broker on a 2-core machine."
echo "kcat rows: another librdkafka client (one record per line read from a file), same"
echo "broker, same run - they show what an ordinary client gets, not the broker's limit."
if [ -s "$WORK/broker.stderr" ]; then
    echo
    echo "broker stderr (last lines):"
    tail -n 20 "$WORK/broker.stderr" | sed 's/^/  /'
fi
