"""`kill -9` of kferry every few seconds while it mirrors 200,000 records
(issue 3): nothing lost, nothing duplicated, the map exact.

Records are produced while kferry runs and is killed, so kills land in
the middle of fetches, produce batches and map writes.  After the last run
(stopped with SIGTERM, which must exit 0) kafka-python reads both sides:
the target holds exactly the source's records, each at its mapped offset.
The documented bound for re-sent records is 0 (docs/MIRROR.md), so the
target record count must equal the source's.

Each restart waits for the killed process's flow-lock session to expire
(one writer per flow), so the target allows short sessions and each kill
lands only once the new process mirrors.
"""

import random
import re
import threading
import time

from kf_util import cf_create_topic, cf_producer, unique, wait_until
from test_mirror_util import KferryProc, check_exact, wait_mirrored, write_config

TOTAL = 200_000
PARTS = 4


def produce(bootstrap, topic, done):
    p = cf_producer(bootstrap, **{"linger.ms": 20, "compression.type": "lz4"})
    for i in range(TOTAL):
        while True:
            try:
                p.produce(topic, key=b"k%d" % i, value=b"value-%d-" % i + b"p" * (i % 64),
                          partition=i % PARTS, headers=[("seq", b"%d" % i)])
                break
            except BufferError:
                p.poll(0.05)
        if i % 5000 == 0:
            p.poll(0)
            time.sleep(0.05)  # spread production over the kill cycles
    assert p.flush(60) == 0
    done.set()


def test_kill9_loop_no_loss_no_duplicates(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory(overrides={"group.min.session.timeout.ms": "1000"})
    topic = cf_create_topic(src.bootstrap, unique("crash"), PARTS)
    cfg = write_config(tmp_path / "m.properties", src, tgt, identity=True,
                       extra={"kferry.map.persist.interval.ms": "1000",
                              "kferry.lock.session.timeout.ms": "1500"})
    kf = KferryProc(cfg, tmp_path)
    done = threading.Event()
    th = threading.Thread(target=produce, args=(src.bootstrap, topic, done), daemon=True)
    th.start()
    rnd = random.Random(42)
    kills = 0
    deadline = time.monotonic() + 180
    while (not done.is_set() or kills < 6) and time.monotonic() < deadline:
        kf.start()
        wait_until(lambda: "mirroring " in kf.log_text(last_only=True) or not kf.alive(), 30,
                   "kferry holds the flow and mirrors")
        time.sleep(rnd.uniform(0.3, 2.5))
        assert kf.alive(), kf.log_text(last_only=True)[-3000:]
        kf.kill9()
        kills += 1
    th.join(60)
    assert done.is_set()
    kf.start()
    try:
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, topic, topic, PARTS, timeout=180)
    finally:
        kf.stop(expect=0)
    log = kf.log_text()
    assert kills >= 6
    assert not re.search(r" ERROR ", log), [l for l in log.splitlines() if " ERROR " in l][:5]
    assert check_exact(kf, src.bootstrap, tgt.bootstrap, topic, PARTS) == TOTAL
    # the kills did leave unmapped records behind, and reconciliation mapped them
    assert "were found on the target and mapped (not re-sent)" in log
