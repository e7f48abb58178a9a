"""`kferry mirror` on real Apache Kafka: a single-node source and a
three-broker target whose partition leaders sit on different brokers.

The same assertions as on kferry-broker (tests/integration/test_mirror_*):
every source record equals the target record at the offset the map gives,
in the same partition and order, and the target holds nothing else.
"""

import random
import threading
import time

from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions

from kf_util import cf_conf, cf_create_topic, cf_partitions, cf_produce, cf_producer, wait_until
from rk_read import end_offsets
from test_mirror_copy import records  # the kferry-broker test's record mix
from test_mirror_util import KferryProc, check_exact, wait_mirrored


def describe(bootstrap, topic):
    admin = AdminClient(cf_conf(bootstrap))
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return {k: v.value for k, v in admin.describe_configs([res])[res].result(15).items()}


def tgt_partitions(bootstrap, topic):
    md = AdminClient(cf_conf(bootstrap)).list_topics(timeout=10)
    t = md.topics.get(topic)
    return len(t.partitions) if t is not None and t.error is None else 0


def leaders(bootstrap, topic):
    md = AdminClient(cf_conf(bootstrap)).list_topics(topic=topic, timeout=10)
    return {p.id: p.leader for p in md.topics[topic].partitions.values()}


def test_fresh_clusters(real):
    """kferry mirror was started by the session fixture while the clusters
    were still starting (before any broker listened): it must have waited,
    created its topics through asynchronous leader election and be running."""
    kf = getattr(real, "early", None)
    if kf is None:
        import pytest
        pytest.skip("attached to clusters started earlier: no mirror started with them")
    assert kf.alive(), "kferry mirror started with the clusters exited:\n" + kf.log_text()[-5000:]
    t = cf_create_topic(real.src.bootstrap, "fresh.orders", 3)
    cf_produce(real.src.bootstrap, t, records(3000, 3, 7))
    wait_mirrored(kf, real.src.bootstrap, real.tgt.bootstrap, t, "early." + t, 3, timeout=120)
    wait_until(lambda: check_exact(kf, real.src.bootstrap, real.tgt.bootstrap, t, 3) == 3000,
               30, "exact copy of %s" % t, interval=0.5)
    assert kf.alive()
    kf.stop(expect=0)
    # librdkafka logs the refused connections of the first seconds as errors;
    # kferry itself must have met nothing it could not cope with
    own = [line for line in kf.log_text().splitlines()
           if " ERROR " in line and "[rdkafka]" not in line]
    assert not own, "\n".join(own[:20])
    assert "start-up: cluster 'earlydst'" in kf.log_text()  # it did wait for the target


def test_copy_codecs_configs_dynamic(real, ns, tmp_path):
    src, tgt = real.src.bootstrap, real.tgt.bootstrap
    topics = {}
    for i, codec in enumerate(["lz4", "gzip", "zstd", "snappy"]):
        t = cf_create_topic(src, ns.topic("copy%d" % i), 3,
                            config={"retention.ms": "987654321"} if i == 0 else None)
        reps = cf_produce(src, t, records(2500, 3, i), **{"compression.type": codec,
                                                          "linger.ms": 20})
        assert all(r[2] is None for r in reps), "%s: %s" % (codec, [r for r in reps if r[2]][:3])
        topics[t] = 3
    cfg = ns.config(tmp_path / "mm2.properties",
                    extra={"sync.topic.configs.interval.seconds": "1"})
    kf = KferryProc(cfg, tmp_path).start()
    first = ns.topic("copy0")
    try:
        for t, n in topics.items():
            wait_mirrored(kf, src, tgt, t, ns.src_alias + "." + t, n, timeout=120)
        # target partitions are led by different brokers, as on MSK
        assert len(set(leaders(tgt, ns.src_alias + "." + first).values())) > 1
        # config sync: the explicit retention.ms at creation, then a change
        assert describe(tgt, ns.src_alias + "." + first)["retention.ms"] == "987654321"
        admin = AdminClient(cf_conf(src))
        res = ConfigResource(ConfigResource.Type.TOPIC, first,
                             set_config={"retention.ms": "222222222"})
        admin.alter_configs([res])[res].result(15)
        wait_until(lambda: describe(tgt, ns.src_alias + "." + first).get("retention.ms") ==
                   "222222222", 30, "retention.ms change propagated")
        # a topic created while mirroring, and partitions added to another
        late = cf_create_topic(src, ns.topic("late"), 2)
        cf_produce(src, late, records(900, 2, 8))
        admin.create_partitions([NewPartitions(first, 5)])[first].result(15)
        wait_until(lambda: len(cf_partitions(src, first)) == 5, 20, "source growth")
        cf_produce(src, first, records(1000, 5, 9))
        wait_until(lambda: tgt_partitions(tgt, ns.src_alias + "." + first) == 5, 60,
                   "target grown to 5 partitions")
        topics[first] = 5
        topics[late] = 2
        for t, n in topics.items():
            wait_mirrored(kf, src, tgt, t, ns.src_alias + "." + t, n, timeout=120)
        wait_until(lambda: kf.status()["total_lag_records"] == 0, 30, "status lag 0")
    finally:
        kf.stop(expect=0)
    total = sum(check_exact(kf, src, tgt, t, n, expect_target=ns.src_alias + "." + t)
                for t, n in topics.items())
    assert total == 4 * 2500 + 900 + 1000
    # translate answers exactly at the log end
    ends = end_offsets(src, first, 5)
    r = kf.translate(first, 4, ends[4])
    assert r["status"] == "end" and r["target_offset"] == ends[4], r
    # kferry never wrote to the source: no group of its own appeared there
    groups = [g.id for g in AdminClient(cf_conf(src)).list_groups(timeout=10)]
    assert not [g for g in groups if g.startswith("__kferry")], groups


TOTAL = 60_000
PARTS = 4


def produce_slowly(bootstrap, topic, done, total=TOTAL, every=2000, pause=0.1):
    p = cf_producer(bootstrap, **{"linger.ms": 20, "compression.type": "lz4"})
    for i in range(total):
        while True:
            try:
                p.produce(topic, key=b"k%d" % i, value=b"value-%d-" % i + b"p" * (i % 64),
                          partition=i % PARTS, headers=[("seq", b"%d" % i)])
                break
            except BufferError:
                p.poll(0.05)
        if i % every == 0:
            p.poll(0)
            time.sleep(pause)
    assert p.flush(60) == 0
    done.set()


def test_kill9_loop(real, ns, tmp_path):
    src, tgt = real.src.bootstrap, real.tgt.bootstrap
    topic = cf_create_topic(src, ns.topic("crash"), PARTS)
    cfg = ns.config(tmp_path / "m.properties", extra={"kferry.map.persist.interval.ms": "1000",
                                                      "kferry.lock.session.timeout.ms": "1500"})
    kf = KferryProc(cfg, tmp_path)
    done = threading.Event()
    th = threading.Thread(target=produce_slowly, args=(src, topic, done), daemon=True)
    th.start()
    rnd = random.Random(7)
    kills = 0
    deadline = time.monotonic() + 240
    while (not done.is_set() or kills < 4) and time.monotonic() < deadline:
        kf.start()
        wait_until(lambda: "mirroring " in kf.log_text(last_only=True) or not kf.alive(), 60,
                   "kferry to start mirroring")
        time.sleep(rnd.uniform(1.0, 3.0))
        assert kf.alive(), kf.log_text(last_only=True)[-4000:]
        kf.kill9()
        kills += 1
    th.join(120)
    kf.start()
    try:
        wait_mirrored(kf, src, tgt, topic, ns.src_alias + "." + topic, PARTS, timeout=180)
        wait_until(lambda: check_exact(kf, src, tgt, topic, PARTS) == TOTAL, 30,
                   "exact copy after %d kills" % kills, interval=1)
    finally:
        kf.stop(expect=0)
    assert kills >= 4


def test_two_processes_one_writer(real, ns, tmp_path):
    """A second kferry for the same flow waits as a standby and writes
    nothing; kill -9 of the holder hands the flow over: the target holds
    exactly the source's records (not twice)."""
    src, tgt = real.src.bootstrap, real.tgt.bootstrap
    topic = cf_create_topic(src, ns.topic("one"), PARTS)
    cfg = ns.config(tmp_path / "m.properties")
    a = KferryProc(cfg, tmp_path / "a")
    b = KferryProc(cfg, tmp_path / "b")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    done = threading.Event()
    th = threading.Thread(target=produce_slowly, args=(src, topic, done, 30_000), daemon=True)
    th.start()
    a.start()
    wait_until(lambda: "mirroring " in a.log_text(), 60, "first kferry to mirror")
    b.start()
    wait_until(lambda: "standby: flow" in b.log_text(), 60, "second kferry to wait as standby")
    time.sleep(3)
    assert "mirroring " not in b.log_text(), b.log_text()[-3000:]
    a.kill9()
    wait_until(lambda: "mirroring " in b.log_text(), 60, "standby to take over")
    th.join(120)
    try:
        wait_mirrored(b, src, tgt, topic, ns.src_alias + "." + topic, PARTS, timeout=120)
        wait_until(lambda: check_exact(b, src, tgt, topic, PARTS) == 30_000, 30,
                   "exact copy, nothing twice", interval=1)
    finally:
        b.stop(expect=0)


def test_transactions_frozen_holder_is_fenced(real, ns, tmp_path):
    """kferry.transactions.enabled on a real Kafka target: the holder is
    frozen (SIGSTOP) with records queued and a transaction open until the
    standby has taken over, then resumed: the new holder's InitProducerId
    fenced it, so it writes nothing; the target's read_committed view holds
    every source record once, at its mapped offset (record by record)."""
    import signal
    from test_mirror_transactions import check_exact_committed, wait_mapped
    src, tgt = real.src.bootstrap, real.tgt.bootstrap
    topic = cf_create_topic(src, ns.topic("txz"), PARTS)
    cfg = ns.config(tmp_path / "m.properties", extra={
        "kferry.transactions.enabled": "true", "kferry.transaction.interval.ms": "300"})
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = KferryProc(cfg, tmp_path / "a"), KferryProc(cfg, tmp_path / "b")
    done = threading.Event()
    # about 45 s of production: the freeze and the takeover happen in the middle
    th = threading.Thread(target=produce_slowly, args=(src, topic, done, 30_000, 100, 0.15),
                          daemon=True)
    th.start()
    frozen = False
    try:
        a.start()
        wait_until(lambda: "mirroring " in a.log_text(), 90, "first kferry to mirror")
        b.start()
        wait_until(lambda: "standby: flow" in b.log_text(), 60, "second kferry as a standby")
        time.sleep(2)
        assert not done.is_set(), "production finished before the freeze"
        a.proc.send_signal(signal.SIGSTOP)
        frozen = True
        wait_until(lambda: "mirroring " in b.log_text(), 90, "standby to take over")
        time.sleep(3)
        a.proc.send_signal(signal.SIGCONT)
        frozen = False
        th.join(180)
        assert done.is_set()
        wait_until(lambda: "old epoch" in a.log_text() or "fenced" in a.log_text()
                   or "assignment LOST" in a.log_text(), 60, "the frozen holder to learn it lost")
        wait_mapped(b, src, topic, timeout=180, parts=PARTS)
        assert check_exact_committed(b, src, tgt, topic, PARTS) == 30_000
    finally:
        if frozen:
            a.proc.send_signal(signal.SIGCONT)
        b.stop(expect=0)
        a.stop(expect=0)


def test_scaleout_three_processes_kill9_join_and_a_paused_one(real, ns, tmp_path):
    """kferry.workers=12 on a real Kafka target: three processes share the
    flow's units through the lock group; one is killed with -9, one joins,
    and one is paused (SIGSTOP) until its units moved, then resumed.  The
    target's read_committed view holds every source record once, at its
    mapped offset: the paused process wrote nothing after it resumed."""
    import signal
    from test_mirror_scaleout import UNITS, holds_count, produce
    from test_mirror_transactions import check_exact_committed, wait_mapped
    src, tgt = real.src.bootstrap, real.tgt.bootstrap
    topic = cf_create_topic(src, ns.topic("sco"), UNITS)
    cfg = ns.config(tmp_path / "m.properties", extra={
        "kferry.transactions.enabled": "true", "kferry.transaction.interval.ms": "300",
        "kferry.workers": str(UNITS)})
    ps = {}
    for n in "abcd":
        (tmp_path / n).mkdir()
        ps[n] = KferryProc(cfg, tmp_path / n)
    a, b, c, d = ps["a"], ps["b"], ps["c"], ps["d"]
    total = 60_000
    done = threading.Event()
    th = threading.Thread(target=produce, daemon=True,
                          args=(src, topic, total, 0, 200, 0.05, done))
    th.start()
    frozen = False
    try:
        a.start()
        wait_until(lambda: holds_count(a, UNITS), 90, "a alone runs every unit")
        b.start()
        c.start()
        wait_until(lambda: all(holds_count(k, 4) for k in (a, b, c)), 120,
                   "three processes with four units each")
        b.kill9()
        wait_until(lambda: holds_count(a, 6) and holds_count(c, 6), 120,
                   "a and c take over b's units")
        d.start()
        wait_until(lambda: all(holds_count(k, 4) for k in (a, c, d)), 120, "d joins with four")
        assert not done.is_set(), "production finished before the freeze"
        c.proc.send_signal(signal.SIGSTOP)  # transactions open, records queued
        frozen = True
        wait_until(lambda: holds_count(a, 6) and holds_count(d, 6), 120,
                   "a and d take over c's units")
        time.sleep(3)
        c.proc.send_signal(signal.SIGCONT)
        frozen = False
        th.join(300)
        assert done.is_set()
        wait_mapped(a, src, topic, timeout=240, parts=UNITS)
        assert check_exact_committed(a, src, tgt, topic, UNITS) == total
        units = {u["unit"]: u for u in a.status()["mirror"]["units"]}
        assert set(units) == set(range(UNITS)), units
    finally:
        if frozen:
            c.proc.send_signal(signal.SIGCONT)
        for k in (a, c, d):
            if k.alive():
                k.stop(expect=0)
    assert "assignment LOST" in c.log_text(), c.log_text()[-3000:]
