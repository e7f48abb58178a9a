#!/usr/bin/env bash
# Demo: builds kferry, starts a kferry-broker on a free port in a temporary
# directory, creates a topic, round-trips records with kcat and shows the
# Kafka-format segment files on disk. Cleans up on exit, including Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target kferry-broker >/dev/null

work=$(mktemp -d -t kferry-demo.XXXXXX)
broker_pid=""
cleanup() {
  [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== starting kferry-broker (data in $work/data)"
./build/kferry-broker --listen 127.0.0.1:0 --data-dir "$work/data" \
  --override num.partitions=3 --override group.initial.rebalance.delay.ms=0 \
  >"$work/broker.out" 2>"$work/broker.log" &
broker_pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$work/broker.out" 2>/dev/null && break
  sleep 0.1
done
addr=$(sed -n 's/.*listening on //p' "$work/broker.out")
[ -n "$addr" ] || { echo "broker did not start:"; cat "$work/broker.log"; exit 1; }
echo "   broker at $addr"

echo "== producing 1000 keyed records with headers (zstd) to topic 'orders'"
seq 1 1000 | awk '{printf "order-%d:{\"id\":%d,\"amount\":%d}\n", $1 % 10, $1, $1 * 7}' >"$work/in.txt"
kcat -b "$addr" -P -t orders -K: -z zstd -H source=demo <"$work/in.txt"

echo "== consuming them back"
kcat -b "$addr" -C -t orders -o beginning -e -q -f '%k:%s\n' | sort >"$work/out.txt"
sort "$work/in.txt" >"$work/in.sorted"
if cmp -s "$work/in.sorted" "$work/out.txt"; then
  echo "   all $(wc -l <"$work/out.txt") records came back identical"
else
  echo "   MISMATCH between produced and consumed records"; exit 1
fi
kcat -b "$addr" -C -t orders -o beginning -c 3 -q -f '   partition %p offset %o key %k headers %h value %s\n'

echo "== on disk (Kafka's format)"
for d in "$work"/data/orders-*; do
  echo "   $(basename "$d"): $(cd "$d" && ls | tr '\n' ' ')"
done
echo "== demo finished"
