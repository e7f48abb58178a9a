"""A broker is killed (SIGKILL) and restarted while kferry mirrors (issue 3,
restarts).  Target: kferry either rides it out (librdkafka retries the
idempotent batches) or stops with an error; restarted if needed, it ends
with the target holding exactly the source's records, each once, at its
mapped offset.  Source: the consumer reconnects and resumes.
"""

import threading
import time

from kf_util import cf_create_topic, cf_producer, unique
from test_mirror_util import KferryProc, check_exact, wait_mirrored, write_config

TOTAL = 60_000


def produce(bootstrap, topic, done):
    p = cf_producer(bootstrap, **{"linger.ms": 20})
    for i in range(TOTAL):
        while True:
            try:
                p.produce(topic, key=b"k%d" % i, value=b"v%d" % i, partition=i % 2)
                break
            except BufferError:
                p.poll(0.05)
        if i % 2000 == 0:
            p.poll(0)
            time.sleep(0.05)
    assert p.flush(60) == 0
    done.set()


def test_target_broker_killed_and_restarted(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory()
    topic = cf_create_topic(src.bootstrap, unique("tcrash"), 2)
    cfg = write_config(tmp_path / "m.properties", src, tgt, identity=True)
    kf = KferryProc(cfg, tmp_path).start()
    done = threading.Event()
    th = threading.Thread(target=produce, args=(src.bootstrap, topic, done), daemon=True)
    th.start()
    restarts = 0
    for _ in range(2):
        time.sleep(0.7)
        tgt.kill9()
        time.sleep(0.5)
        tgt.start(port=tgt.port)
        restarts += 1
    th.join(60)
    assert done.is_set()
    # kferry may have stopped with an error (it must never go on silently)
    for _ in range(3):
        if kf.alive():
            break
        rc = kf.wait_exit(5)
        assert rc == 1, kf.log_text(last_only=True)[-3000:]
        kf.start()
    wait_mirrored(kf, src.bootstrap, tgt.bootstrap, topic, topic, 2, timeout=120)
    kf.stop()
    assert check_exact(kf, src.bootstrap, tgt.bootstrap, topic, 2) == TOTAL


def test_source_broker_killed_and_restarted(broker_factory, tmp_path):
    """Same with the source broker: the consumer reconnects and resumes from
    kferry's in-memory position; nothing lost or duplicated."""
    src, tgt = broker_factory(), broker_factory()
    topic = cf_create_topic(src.bootstrap, unique("scrash"), 2)
    cfg = write_config(tmp_path / "m.properties", src, tgt, identity=True)
    kf = KferryProc(cfg, tmp_path).start()
    from kf_util import cf_produce
    for round_ in range(3):
        cf_produce(src.bootstrap, topic, [dict(partition=i % 2, key=b"r%d-%d" % (round_, i),
                                               value=b"v" * (i % 50)) for i in range(5000)])
        time.sleep(0.3)
        src.kill9()
        src.start(port=src.port)
    wait_mirrored(kf, src.bootstrap, tgt.bootstrap, topic, topic, 2, timeout=120)
    assert kf.alive(), kf.log_text()[-3000:]
    kf.stop()
    assert check_exact(kf, src.bootstrap, tgt.bootstrap, topic, 2) == 15000
