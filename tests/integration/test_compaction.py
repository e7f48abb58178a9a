"""Log compaction (cleanup.policy=compact): kferry-broker's log cleaner.

The expected view of a compacted partition is computed from what was
produced and the cleaner checkpoint C (cleaner-offset-checkpoint): below C a
record survives iff it is the last record of its key below C (tombstones
included while delete.retention.ms has not passed); from C on every record
survives.  Tests wait until the cleaner has nothing left to do (C equals the
active segment's base and stays there) before comparing with ==.
"""

import glob
import random
import os
import subprocess
import tempfile
import time

import confluent_kafka as ck
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from kf_util import (Rec, cf_conf, cf_consumer, cf_create_topic, cf_msg_to_rec, cf_producer,
                     cf_watermarks, now_ms, unique, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

FAST = {"log.cleaner.backoff.ms": "100"}
COMPACT = {"cleanup.policy": "compact", "segment.bytes": "4096",
           "min.cleanable.dirty.ratio": "0.01", "index.interval.bytes": "512"}


def find_kafka_home():
    env = os.environ.get("KAFKA_HOME")
    if env:
        return env if os.path.isfile(os.path.join(env, "bin", "kafka-dump-log.sh")) else None
    for base in (os.path.join(REPO, "..", "shared", "kafka"),
                 os.path.join(REPO, "..", "..", "shared", "kafka")):
        for h in sorted(glob.glob(os.path.join(base, "kafka_2.13-*")), reverse=True):
            if os.path.isfile(os.path.join(h, "bin", "kafka-dump-log.sh")):
                return os.path.abspath(h)
    return None


def produce(bootstrap, topic, records, **extra):
    """records: list of dicts (key, value, headers, timestamp).  Returns the
    records as Rec with their assigned offsets."""
    extra.setdefault("batch.num.messages", 20)  # several batches and segments
    p = cf_producer(bootstrap, **extra)
    got = [None] * len(records)
    errs = []
    for i, r in enumerate(records):
        def cb(err, msg, i=i, r=r):
            if err is not None:
                errs.append(err)
                return
            got[i] = Rec(0, msg.offset(), r.get("key"), r.get("value"),
                         tuple(r.get("headers") or ()), r["timestamp"])
        while True:
            try:
                p.produce(topic, partition=0, on_delivery=cb, **r)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    assert p.flush(30) == 0
    assert not errs, errs
    return got


def gen(keys, rounds, tombstone_keys=(), tag="v"):
    out, ts = [], now_ms() - 1000
    for r in range(rounds):
        for k in keys:
            ts += 1
            out.append({"key": k, "value": ("%s-%s-%d" % (tag, k.decode(), r)).encode() * 3,
                        "headers": [("round", str(r).encode()), ("n", None)], "timestamp": ts})
    for k in tombstone_keys:
        ts += 1
        out.append({"key": k, "value": None, "headers": [("del", b"1")], "timestamp": ts})
    return out


def cleaner_point(data_dir, topic, part=0):
    path = os.path.join(data_dir, "cleaner-offset-checkpoint")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        lines = f.read().split("\n")
    assert lines[0] == "0", lines
    n = int(lines[1])
    ents = [ln.rsplit(" ", 2) for ln in lines[2:2 + n]]
    assert len(ents) == n
    for t, p, o in ents:
        if t == topic and int(p) == part:
            return int(o)
    return 0


def seg_bases(pdir):
    return sorted(int(n[:20]) for n in os.listdir(pdir) if len(n) == 24 and n.endswith(".log"))


def wait_cleaned(b, topic, timeout=60):
    """Waits until the cleaner checkpoint reached the active segment's base
    and stayed there for a second; returns it."""
    pdir = b.part_dir(topic, 0)
    state = {"since": None, "cp": None}

    def settled():
        cp = cleaner_point(b.data_dir, topic)
        active = seg_bases(pdir)[-1]
        if cp != active or cp == 0:
            state["since"] = None
            return False
        if state["cp"] != cp or state["since"] is None:
            state["cp"], state["since"] = cp, time.monotonic()
            return False
        return time.monotonic() - state["since"] > 1.0 and cp

    try:
        return wait_until(settled, timeout, "the cleaner to finish %s" % topic, interval=0.1)
    except AssertionError:
        raise AssertionError("cleaner did not settle (checkpoint %s, segments %s)\n%s" % (
            cleaner_point(b.data_dir, topic), seg_bases(pdir), b.stderr_text()[-3000:]))


def expected_view(written, cp, drop_tombstones=False):
    last = {}
    for r in written:
        if r.offset < cp:
            last[r.key] = r.offset
    out = []
    for r in written:
        if r.offset >= cp:
            out.append(r)
        elif last[r.key] == r.offset and not (drop_tombstones and r.value is None):
            out.append(r)
    return out


def read_all(bootstrap, topic, timeout=30):
    lo, hi = cf_watermarks(bootstrap, topic, 0)
    c = cf_consumer(bootstrap, **{"auto.offset.reset": "earliest"})
    out = []
    try:
        c.assign([ck.TopicPartition(topic, 0, ck.OFFSET_BEGINNING)])
        deadline = time.monotonic() + timeout
        while not out or out[-1].offset < hi - 1:
            assert time.monotonic() < deadline, "read %d records, last %s, hw %d" % (
                len(out), out[-1].offset if out else None, hi)
            m = c.poll(0.2)
            if m is None:
                continue
            assert m.error() is None, m.error()
            out.append(cf_msg_to_rec(m))
    finally:
        c.close()
    return out


def assert_view(got, want):
    offs = [r.offset for r in got]
    assert offs == sorted(set(offs)), "offsets not strictly increasing"
    if got != want:
        gk = {r.offset for r in got}
        wk = {r.offset for r in want}
        raise AssertionError("compacted view differs: %d records, expected %d; missing %s, "
                             "unexpected %s; first difference %s" % (
                                 len(got), len(want), sorted(wk - gk)[:10], sorted(gk - wk)[:10],
                                 next(((a, b) for a, b in zip(got, want) if a != b), None)))


def test_compaction_keeps_latest_value_per_key(broker_factory):
    b = broker_factory(overrides=FAST)
    topic = cf_create_topic(b.bootstrap, unique("compact"), config=COMPACT)
    keys = [("k%02d" % i).encode() for i in range(20)]
    written = produce(b.bootstrap, topic, gen(keys, 30), **{"linger.ms": 20})
    for codec in ("lz4", "gzip", "snappy"):
        written += produce(b.bootstrap, topic, gen(keys[:8], 6, tag=codec),
                           **{"compression.codec": codec, "linger.ms": 20})
    cp = wait_cleaned(b, topic)
    want = expected_view(written, cp)
    got = read_all(b.bootstrap, topic)
    assert_view(got, want)
    assert len(got) < len(written) / 3, (len(got), len(written))
    # every key's latest value is there, whatever the checkpoint
    latest = {}
    for r in written:
        latest[r.key] = r
    got_latest = {}
    for r in got:
        got_latest[r.key] = r
    assert got_latest == latest

    # The same after a clean restart (indexes and segments reloaded) and via
    # kafka-python.
    b.restart()
    got2 = read_all(b.bootstrap, topic)
    assert_view(got2, want)
    from kf_util import kp_read
    kp = kp_read(b.bootstrap, topic, {0: None}, count=len(want))[0]
    assert [(r.offset, r.key, r.value) for r in kp] == [(r.offset, r.key, r.value) for r in want]


def dump_log(kafka_home, files, extra=()):
    env = dict(os.environ)
    env["KAFKA_HEAP_OPTS"] = "-Xmx256m"
    env["LOG_DIR"] = tempfile.mkdtemp(prefix="kf-dumplog-")
    env["KAFKA_OPTS"] = "-Djava.library.path=/usr/lib/x86_64-linux-gnu/jni:/usr/lib/x86_64-linux-gnu"
    cmd = [os.path.join(kafka_home, "bin", "kafka-dump-log.sh"), "--files", ",".join(files)]
    cp = subprocess.run(cmd + list(extra), capture_output=True, timeout=180, env=env)
    return cp.returncode, cp.stdout.decode("utf-8", "replace"), cp.stderr.decode("utf-8",
                                                                                  "replace")


def test_kafka_dump_log_reads_cleaned_segments(broker_factory):
    home = find_kafka_home()
    if home is None:
        pytest.skip("no Kafka distribution ($KAFKA_HOME or ../shared/kafka/kafka_2.13-*) for "
                    "kafka-dump-log.sh")
    b = broker_factory(overrides=FAST)
    topic = cf_create_topic(b.bootstrap, unique("dump"), config=COMPACT)
    keys = [("k%02d" % i).encode() for i in range(12)]
    written = produce(b.bootstrap, topic, gen(keys, 25, tombstone_keys=keys[:2]),
                      **{"linger.ms": 20, "compression.codec": "zstd"})
    written += produce(b.bootstrap, topic, gen(keys, 25, tag="x"), **{"linger.ms": 20})
    cp = wait_cleaned(b, topic)
    want = expected_view(written, cp)
    b.stop()
    pdir = b.part_dir(topic, 0)
    bases = [x for x in seg_bases(pdir) if x < cp]
    assert bases
    logs = [os.path.join(pdir, "%020d.log" % x) for x in bases]
    rc, out, err = dump_log(home, logs, ["--deep-iteration"])
    assert rc == 0, err[-2000:]
    assert "Exception" not in out + err, (out + err)[-3000:]
    offsets = [int(ln.split("offset:")[1].split()[0]) for ln in out.splitlines()
               if ln.startswith("| offset:")]
    assert offsets == [r.offset for r in want if r.offset < cp]
    idx = []
    for x in bases:
        idx += [os.path.join(pdir, "%020d.index" % x), os.path.join(pdir, "%020d.timeindex" % x)]
    rc, out, err = dump_log(home, idx, ["--index-sanity-check"])
    assert rc == 0, err[-2000:]
    assert "Exception" not in out + err and "is corrupt" not in out, (out + err)[-3000:]
    # an index with no entries is reported as "is empty" instead
    assert out.count("passed sanity check") + out.count(" is empty.") == len(idx), out[-3000:]
    assert out.count("passed sanity check") >= len(bases), out[-3000:]


def alter(bootstrap, topic, configs):
    admin = AdminClient(cf_conf(bootstrap))
    fs = admin.alter_configs([ConfigResource(ConfigResource.Type.TOPIC, topic, set_config=configs)])
    for f in fs.values():
        f.result(timeout=20)


def test_tombstones_removed_after_delete_retention(broker_factory):
    b = broker_factory(overrides=FAST)
    cfg = dict(COMPACT, **{"delete.retention.ms": "3600000"})
    topic = cf_create_topic(b.bootstrap, unique("tomb"), config=cfg)
    keys = [("k%02d" % i).encode() for i in range(10)]
    dead = keys[:4]
    written = produce(b.bootstrap, topic, gen(keys, 20, tombstone_keys=dead), **{"linger.ms": 20})
    written += produce(b.bootstrap, topic, gen(keys[4:], 15, tag="f"))
    cp = wait_cleaned(b, topic)
    got = read_all(b.bootstrap, topic)
    assert_view(got, expected_view(written, cp))
    tombs = [r for r in got if r.value is None]
    assert sorted(r.key for r in tombs) == dead, "tombstones must stay before delete.retention.ms"

    # Shorter delete.retention.ms; the next pass (more dirty data) drops them.
    alter(b.bootstrap, topic, dict(cfg, **{"delete.retention.ms": "1000"}))
    time.sleep(1.5)
    written += produce(b.bootstrap, topic, gen(keys[4:], 15, tag="g"))
    cp2 = wait_cleaned(b, topic)
    assert cp2 > cp
    got = read_all(b.bootstrap, topic)
    want = [r for r in expected_view(written, cp2) if not (r.value is None and r.offset < cp)]
    assert_view(got, want)
    assert not [r for r in got if r.key in dead], "tombstoned keys still readable"


def test_null_key_refused_on_compacted_topic(broker_factory):
    b = broker_factory(overrides=FAST)
    topic = cf_create_topic(b.bootstrap, unique("nokey"), config=COMPACT)
    p = cf_producer(b.bootstrap, **{"message.timeout.ms": 10000})
    errs = []
    p.produce(topic, value=b"no key", partition=0, on_delivery=lambda e, m: errs.append(e))
    assert p.flush(20) == 0
    assert len(errs) == 1 and errs[0] is not None
    assert errs[0].code() == ck.KafkaError.INVALID_RECORD, errs[0]


@pytest.mark.parametrize("point", ["cleaned", "swap", "partial"])
def test_kill9_during_cleaning_loses_nothing(broker_factory, monkeypatch, point):
    b = broker_factory(overrides=dict(FAST, **{"log.cleaner.enable": "false"}))
    topic = cf_create_topic(b.bootstrap, unique("crash"), config=COMPACT)
    keys = [("k%02d" % i).encode() for i in range(15)]
    written = produce(b.bootstrap, topic, gen(keys, 25), **{"linger.ms": 20})
    b.stop()
    pdir = b.part_dir(topic, 0)
    before = seg_bases(pdir)
    b.overrides["log.cleaner.enable"] = "true"
    monkeypatch.setenv("KFERRY_TEST_CLEANER_CRASH", point)
    b.start()
    wait_until(lambda: not b.alive(), 30, "the broker to kill itself at " + point)
    monkeypatch.delenv("KFERRY_TEST_CLEANER_CRASH")
    left = [n for n in os.listdir(pdir) if n.endswith((".cleaned", ".swap"))]
    assert left, "no cleaning leftovers after a kill at %s: %s" % (point, os.listdir(pdir))
    b.start()
    left = [n for n in os.listdir(pdir) if n.endswith((".cleaned", ".swap"))]
    assert not left, left
    assert seg_bases(pdir) == before
    cp = wait_cleaned(b, topic)
    got = read_all(b.bootstrap, topic)
    assert_view(got, expected_view(written, cp))
    # the broker restarts cleanly afterwards too
    b.restart()
    assert_view(read_all(b.bootstrap, topic), expected_view(written, cp))


def test_compact_delete_still_applies_retention(broker_factory):
    b = broker_factory(overrides=dict(FAST, **{"log.retention.check.interval.ms": "200"}))
    both = cf_create_topic(b.bootstrap, unique("cd"),
                           config=dict(COMPACT, **{"cleanup.policy": "compact,delete",
                                                   "retention.ms": "3000"}))
    only = cf_create_topic(b.bootstrap, unique("conly"),
                           config=dict(COMPACT, **{"retention.ms": "3000"}))
    keys = [("k%02d" % i).encode() for i in range(10)]
    for t in (both, only):
        produce(b.bootstrap, t, gen(keys, 15))
    time.sleep(3.5)
    for t in (both, only):  # new data rolls the old segments out of the active one
        produce(b.bootstrap, t, gen(keys, 2, tag="new"))
    wait_until(lambda: cf_watermarks(b.bootstrap, both, 0)[0] > 0, 20,
               "retention to delete old segments of the compact,delete topic")
    time.sleep(1)
    assert cf_watermarks(b.bootstrap, only, 0)[0] == 0, "compact-only topic lost its log start"
    got = read_all(b.bootstrap, only)
    assert {r.key for r in got} == set(keys)


def test_idempotent_producer_after_cleaning_and_restart(broker_factory):
    b = broker_factory(overrides=FAST)
    topic = cf_create_topic(b.bootstrap, unique("idem"), config=COMPACT)
    keys = [("k%02d" % i).encode() for i in range(8)]
    idem = {"enable.idempotence": True, "linger.ms": 20, "message.timeout.ms": 60000,
            "batch.num.messages": 10}
    p = cf_producer(b.bootstrap, **idem)
    written = []
    errs = []

    def send(recs):
        for r in recs:
            def cb(err, msg, r=r):
                if err is not None:
                    errs.append(err)
                else:
                    written.append(Rec(0, msg.offset(), r["key"], r["value"],
                                       tuple(r["headers"]), r["timestamp"]))
            p.produce(topic, partition=0, on_delivery=cb, **r)
            p.poll(0)
        assert p.flush(60) == 0

    send(gen(keys, 30))
    cp = wait_cleaned(b, topic)
    b.restart()
    send(gen(keys, 3, tag="after"))
    assert not errs, errs
    p2 = cf_producer(b.bootstrap, **idem)
    for r in gen(keys, 2, tag="p2"):
        p2.produce(topic, partition=0, **r)
    assert p2.flush(60) == 0
    written.sort(key=lambda r: r.offset)
    got = read_all(b.bootstrap, topic)
    offs = [r.offset for r in got]
    assert offs == sorted(set(offs))
    cp = cleaner_point(b.data_dir, topic)
    assert [r for r in got if r.offset < cp] == [r for r in expected_view(written, cp)
                                                 if r.offset < cp]
    after = [r.value for r in got if r.value and r.value.startswith(b"after")]
    assert len(after) == len(set(after)) == 3 * len(keys), "lost or duplicated records"


def test_kill9_at_random_moments_while_cleaning(broker_factory):
    """Repeated kill -9 while data arrives and the cleaner runs: after the
    last restart the log is a valid compaction of everything acknowledged."""
    b = broker_factory(overrides=FAST)
    topic = cf_create_topic(b.bootstrap, unique("rnd"), config=COMPACT)
    keys = [("k%02d" % i).encode() for i in range(25)]
    rng = random.Random(7)
    written = []
    for i in range(5):
        written += produce(b.bootstrap, topic, gen(keys, 12, tag="r%d" % i), **{"linger.ms": 10})
        time.sleep(rng.uniform(0.0, 0.4))
        b.kill9()
        b.start()
    cp = wait_cleaned(b, topic)
    pdir = b.part_dir(topic, 0)
    assert not [n for n in os.listdir(pdir) if n.endswith((".cleaned", ".swap"))]
    assert_view(read_all(b.bootstrap, topic), expected_view(written, cp))


def test_describe_configs_shows_cleaner_settings(broker_factory):
    b = broker_factory(overrides=dict(FAST, **{"log.cleaner.delete.retention.ms": "5000"}))
    topic = cf_create_topic(b.bootstrap, unique("desc"),
                            config={"cleanup.policy": "compact,delete",
                                    "min.compaction.lag.ms": "100"})
    admin = AdminClient(cf_conf(b.bootstrap))
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    cfg = admin.describe_configs([res])[res].result(timeout=20)
    vals = {k: v.value for k, v in cfg.items()}
    assert vals["cleanup.policy"] == "compact,delete"
    assert vals["min.cleanable.dirty.ratio"] == "0.5"
    assert vals["min.compaction.lag.ms"] == "100"
    assert vals["max.compaction.lag.ms"] == "9223372036854775807"
    assert vals["delete.retention.ms"] == "5000"
    with pytest.raises(Exception):
        alter(b.bootstrap, topic, {"min.cleanable.dirty.ratio": "1.5"})


def test_deleted_topic_leaves_no_cleaner_checkpoint(broker_factory):
    b = broker_factory(overrides=FAST)
    topic = cf_create_topic(b.bootstrap, unique("del"), config=COMPACT)
    keys = [("k%02d" % i).encode() for i in range(10)]
    produce(b.bootstrap, topic, gen(keys, 20))
    assert wait_cleaned(b, topic) > 0
    admin = AdminClient(cf_conf(b.bootstrap))
    admin.delete_topics([topic], operation_timeout=10)[topic].result(timeout=20)
    wait_until(lambda: cleaner_point(b.data_dir, topic) == 0, 10,
               "the deleted topic to leave cleaner-offset-checkpoint")
    cf_create_topic(b.bootstrap, topic, config=COMPACT)
    b.restart()
    written = produce(b.bootstrap, topic, gen(keys, 20, tag="again"))
    cp = wait_cleaned(b, topic)
    assert_view(read_all(b.bootstrap, topic), expected_view(written, cp))


def test_min_compaction_lag_protects_recent_records(broker_factory):
    b = broker_factory(overrides=FAST)
    topic = cf_create_topic(b.bootstrap, unique("lag"),
                            config=dict(COMPACT, **{"min.compaction.lag.ms": "600000"}))
    keys = [("k%02d" % i).encode() for i in range(10)]
    old = gen(keys, 20, tag="old")
    for i, r in enumerate(old):  # an hour old: past the lag
        r["timestamp"] = now_ms() - 3600000 + i
    written = produce(b.bootstrap, topic, old)
    written += produce(b.bootstrap, topic, gen(keys, 20, tag="new"))
    pdir = b.part_dir(topic, 0)
    first_new = next(r.offset for r in written if r.value.startswith(b"new"))
    # the cleaner stops at the first segment holding a record newer than the lag
    bound = max(x for x in seg_bases(pdir) if x <= first_new)
    wait_until(lambda: cleaner_point(b.data_dir, topic) == bound, 30,
               "the cleaner to clean up to the first recent segment %d" % bound)
    time.sleep(1)
    assert cleaner_point(b.data_dir, topic) == bound
    got = read_all(b.bootstrap, topic)
    assert_view(got, expected_view(written, bound))
    assert [r for r in got if r.offset >= bound] == [r for r in written if r.offset >= bound]
