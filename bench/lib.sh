# lib.sh - what the benchmarks share: sourced by mirror_bench.sh and
# scaleout_bench.sh, which set BUILD, WORK, PY and the PIDS array first.

stop_pid() { # pid [seconds]: SIGTERM, then SIGKILL after the deadline
  local p=$1 i
  kill -TERM "$p" 2>/dev/null || return 0
  for ((i = 0; i < ${2:-30} * 5; i++)); do
    kill -0 "$p" 2>/dev/null || break
    sleep 0.2
  done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}

now() { date +%s.%N; }

start_broker() { # name -> sets PORT
  mkdir -p "$WORK/$1"
  "$BUILD/kferry-broker" --listen 127.0.0.1:0 --data-dir "$WORK/$1" >"$WORK/$1.out" 2>"$WORK/$1.err" &
  PIDS+=($!)
  for _ in $(seq 100); do
    PORT=$(sed -n 's/^kferry-broker listening on PLAINTEXT:\/\/127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/$1.out")
    [ -n "$PORT" ] && return 0
    sleep 0.1
  done
  echo "broker $1 did not start" >&2; exit 1
}

wait_total() { # bootstrap topic n: returns once the topic's high watermarks sum to n
  $PY - "$1" "$2" "$3" <<'PYEOF'
import sys, time
from confluent_kafka import Consumer, KafkaException, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "bench-unused",
              "broker.address.family": "v4"})
topic, want = sys.argv[2], int(sys.argv[3])
while True:
    n = 0
    try:
        md = c.list_topics(timeout=10).topics.get(topic)
        if md is not None and md.error is None and md.partitions:
            n = sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
                    for p in md.partitions)
    except KafkaException:
        pass  # a real broker right after topic creation: leader not elected yet
    if n >= want:
        break
    time.sleep(0.02)
c.close()
PYEOF
}

create_topic() { # bootstrap topic partitions
  $PY - "$1" "$2" "$3" <<'PYEOF'
import sys, time
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
bs, topic, parts = sys.argv[1], sys.argv[2], int(sys.argv[3])
a = AdminClient({"bootstrap.servers": bs, "broker.address.family": "v4"})
a.create_topics([NewTopic(topic, parts, 1)])[topic].result(60)
# a real broker elects the leaders asynchronously: wait until every partition has one
c = Consumer({"bootstrap.servers": bs, "group.id": "bench-unused", "broker.address.family": "v4"})
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        for p in range(parts):
            c.get_watermark_offsets(TopicPartition(topic, p), timeout=5, cached=False)
        break
    except Exception:  # noqa: BLE001 - NOT_LEADER_OR_FOLLOWER etc. until elected
        time.sleep(0.1)
else:
    sys.exit("%s: partitions without a leader after 60 s" % topic)
c.close()
PYEOF
}

make_data() { # size n file: n values of size printable bytes, one per line
  $PY - "$1" "$2" >"$3" <<'PYEOF'
import sys, random
size, n = int(sys.argv[1]), int(sys.argv[2])
w = sys.stdout.buffer
base = bytes(random.Random(1).choice(b'abcdefghijklmnopqrstuvwxyz0123456789') for _ in range(size + 64))
for i in range(n):
    o = i % 64
    w.write(base[o:o + size] + b'\n')
PYEOF
}

KCAT=(kcat -X broker.address.family=v4 -q)

