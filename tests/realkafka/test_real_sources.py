"""`kferry mirror` from real Apache Kafka sources whose offsets are not
contiguous (issue 7): transactions (commit markers, aborted records, an
open transaction), a compacted topic the log cleaner has actually cleaned,
and a log start above 0 with DeleteRecords holes made by Kafka's own tool.

The same assertions as on kferry-broker (tests/integration/test_mirror_*,
test_mirror_holes.py): every source record equals the target record at the
offset the map gives, in the same partition and order, and the target holds
nothing else.

Every read here is confluent-kafka's: kafka-python 2.0.2 (the
kferry-broker tier's independent reader) cannot talk to Kafka 4.0 at all
(it sends Metadata v1, removed by KIP-896, and the broker closes the
connection), and it has no read_committed either (it even hands out
transaction control records as ordinary records).  So kp_all, end_offsets
and check_exact of tests/integration/test_mirror_util.py have
confluent-kafka twins below with the same assertions (including "the target
holds nothing else"), reading with an explicit isolation level.
"""

import json
import re
import time
import uuid

import confluent_kafka as ck
from confluent_kafka.admin import AdminClient, ConfigResource

from kf_util import (cf_conf, cf_consumer, cf_create_topic, cf_msg_to_rec,
                     cf_produce, cf_producer, wait_until)
from rk_read import cf_all, end_offsets
from test_mirror_util import KferryProc, map_lookup

# --------------------------------------------------------------------------- helpers


def kp_all(bootstrap, topic, partition, isolation="read_uncommitted", timeout=60):
    """Every record of a partition a consumer with `isolation` may read
    (read_uncommitted: up to the high watermark; read_committed: up to the
    last stable offset): [(offset, key, value, headers, timestamp)]."""
    return cf_all(bootstrap, topic, partition, timeout=timeout, isolation=isolation)


def check_exact(kf, src_bs, tgt_bs, topic, partitions, expect_target=None):
    """test_mirror_util.check_exact with confluent-kafka reads: every source
    record equals the target record at its mapped offset, in the same
    partition and order; the target holds nothing else (so there is no
    duplicate).  Returns the number of records checked."""
    m = kf.dump()
    total = 0
    for p in range(partitions):
        entry = m.get((topic, p))
        src = kp_all(src_bs, topic, p, "read_committed")
        if not src:
            continue
        assert entry, "no offset map for %s/%d" % (topic, p)
        if expect_target:
            assert entry["target"] == expect_target
        tgt = kp_all(tgt_bs, entry["target"], p)
        by_off = {r[0]: r for r in tgt}
        mapped = []
        for r in src:
            t = map_lookup(entry["runs"], r[0])
            assert t is not None, "%s/%d source offset %d is not in the map %s" % (
                topic, p, r[0], entry["runs"][:5])
            assert t in by_off, "%s/%d: target offset %d (source %d) missing" % (
                topic, p, t, r[0])
            assert by_off[t][1:] == r[1:], "%s/%d: source %d != target %d:\n%r\n%r" % (
                topic, p, r[0], t, r, by_off[t])
            mapped.append(t)
        assert mapped == sorted(mapped), "order differs in %s/%d" % (topic, p)
        assert len(tgt) == len(src), "%s/%d: target has %d records, source %d (duplicates?)" % (
            topic, p, len(tgt), len(src))
        total += len(src)
    return total


def cf_read_all(bootstrap, topic, partitions, isolation, timeout=60):
    """Every record a consumer with `isolation` sees, from the log start to
    the end it is allowed to read (the last stable offset for
    read_committed): {partition: [Rec]}."""
    c = cf_consumer(bootstrap, **{"isolation.level": isolation, "enable.partition.eof": True})
    out = {p: [] for p in range(partitions)}
    try:
        c.assign([ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in range(partitions)])
        eof = set()
        deadline = time.monotonic() + timeout
        while len(eof) < partitions:
            assert time.monotonic() < deadline, "reading %s (%s): eof on %s only" % (
                topic, isolation, sorted(eof))
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error() is not None:
                assert m.error().code() == ck.KafkaError._PARTITION_EOF, m.error()
                eof.add(m.partition())
                continue
            eof.discard(m.partition())
            out[m.partition()].append(cf_msg_to_rec(m))
        return out
    finally:
        c.close()


def content(r):
    """What must be equal on both sides: key, value, headers, timestamp."""
    return (r.key, r.value, tuple(tuple(h) for h in r.headers), r.ts)


def kp_content(r):
    _, key, value, headers, ts = r
    return (key, value, tuple(tuple(h) for h in headers), ts)


def describe(bootstrap, topic):
    admin = AdminClient(cf_conf(bootstrap))
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return {k: v.value for k, v in admin.describe_configs([res])[res].result(15).items()}


def alter(bootstrap, topic, configs):
    admin = AdminClient(cf_conf(bootstrap))
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, set_config=configs)
    admin.alter_configs([res])[res].result(15)


def watermarks(bootstrap, topic, partition):
    c = cf_consumer(bootstrap)
    try:
        return c.get_watermark_offsets(ck.TopicPartition(topic, partition), timeout=10,
                                       cached=False)
    finally:
        c.close()


def dump_runs(kf, topic, partition):
    e = kf.dump().get((topic, partition))
    return e["runs"] if e else []


def check_committed_equal(kf, src, tgt, topic, ttopic, parts, aborted):
    """read_committed on the source == read_committed on the target, partition
    for partition, in order; read_uncommitted on the target
    holds the same and no aborted record; the map sends every committed
    source offset to the target offset of the same record.  Returns the
    source records."""
    s = cf_read_all(src, topic, parts, "read_committed")
    t = cf_read_all(tgt, ttopic, parts, "read_committed")
    m = kf.dump()
    for p in range(parts):
        assert [content(r) for r in s[p]] == [content(r) for r in t[p]], (
            "%s/%d: read_committed differs: source %d records, target %d" % (
                topic, p, len(s[p]), len(t[p])))
        raw = kp_all(tgt, ttopic, p)  # read_uncommitted
        assert [kp_content(r) for r in raw] == [content(r) for r in s[p]], (
            "%s/%d: read_uncommitted on the target differs from the committed source" % (
                topic, p))
        leaked = [r for r in raw if dict(r[3]).get("n") in aborted]
        assert not leaked, "%s/%d: aborted records on the target: %r" % (topic, p, leaked[:3])
        runs = m[(topic, p)]["runs"] if s[p] else []
        by_off = {r[0]: r for r in raw}
        for r in s[p]:
            to = map_lookup(runs, r.offset)
            assert to is not None, "%s/%d source %d not in map %r" % (topic, p, r.offset, runs)
            assert to in by_off and kp_content(by_off[to]) == content(r), (
                "%s/%d: source offset %d maps to target %d, another record" % (
                    topic, p, r.offset, to))
    return s


# --------------------------------------------------------------------------- transactions

PARTS = 3


def txn_producer(bootstrap):
    p = ck.Producer(cf_conf(bootstrap, **{"transactional.id": "kferry-test-" + uuid.uuid4().hex,
                                          "linger.ms": 5}))
    p.init_transactions(30)
    return p


class Gen:
    """Unique, recognisable records with keys, headers (null values and
    duplicates) and explicit timestamps."""

    def __init__(self):
        self.i = 0
        self.base = int(time.time() * 1000) - 7_200_000

    def rec(self, kind, partition):
        self.i += 1
        i = self.i
        headers = [("kind", kind.encode()), ("n", b"%d" % i)]
        if i % 4 == 0:
            headers += [("nullh", None), ("kind", b"dup")]
        key = None if i % 11 == 0 else b"k%d" % (i % 37)
        value = b"" if i % 13 == 0 else b"%s-%d-" % (kind.encode(), i) + b"x" * (i % 50)
        return dict(partition=partition, key=key, value=value, headers=headers,
                    timestamp=self.base + i)


def test_transactions_committed_aborted_open(real, ns, tmp_path):
    src, tgt = real.src.bootstrap, real.tgt.bootstrap
    topic = cf_create_topic(src, ns.topic("txn"), PARTS)
    ttopic = ns.target_topic("txn")
    g = Gen()
    plain = cf_producer(src, **{"enable.idempotence": True})
    tx = txn_producer(src)
    aborted = set()
    outcomes = ["commit", "abort", "commit", "commit", "abort", "abort", "commit", "abort"]
    for rnd, outcome in enumerate(outcomes):
        for k in range(4):  # before the transaction
            plain.produce(topic, **g.rec("plain", (rnd + k) % PARTS))
        assert plain.flush(30) == 0
        tx.begin_transaction()
        for k in range(12):
            r = g.rec("txn-" + outcome, k % PARTS)
            if outcome == "abort":
                aborted.add(r["headers"][1][1])  # header "n": unique
            tx.produce(topic, **r)
            if k == 5:  # interleaved with the open transaction
                tx.flush(30)
                for j in range(3):
                    plain.produce(topic, **g.rec("plain", j))
                assert plain.flush(30) == 0
        tx.flush(30)  # KAFKA-NOTES: librdkafka 2.0.2 vs Kafka 4.0 needs flush first
        if outcome == "commit":
            tx.commit_transaction(30)
        else:
            tx.abort_transaction(30)
    # ends with an aborted transaction: every partition's last offset is a marker
    expect = {p: len(v) for p, v in cf_read_all(src, topic, PARTS, "read_committed").items()}
    assert all(expect.values()) and sum(expect.values()) == 8 * 4 + 8 * 3 + 4 * 12

    cfg = ns.config(tmp_path / "mm2.properties")
    kf = KferryProc(cfg, tmp_path).start()
    try:
        wait_until(lambda: end_offsets(tgt, ttopic, PARTS) == expect, 120,
                   "committed records mirrored (%r)" % expect, interval=0.3)
        hw = end_offsets(src, topic, PARTS)
        # the map covers everything; the source end (after the last marker)
        # is the mirror's position: a consumer that read to the end commits it
        for p in range(PARTS):
            wait_until(lambda p=p: kf.translate(topic, p, hw[p])["status"] == "end", 30,
                       "%s/%d: source end %d translates as 'end'" % (topic, p, hw[p]))
            r = kf.translate(topic, p, hw[p])
            assert r["target_offset"] == expect[p], r
        wait_until(lambda: kf.status()["total_lag_records"] == 0, 30, "status lag 0")
        s = check_committed_equal(kf, src, tgt, topic, ttopic, PARTS, aborted)
        # an aborted record and a marker translate as holes: the next mirrored record
        runs = dump_runs(kf, topic, 0)
        offs = [r.offset for r in s[0]]
        missing = [o for o in range(offs[0], offs[-1]) if o not in set(offs)]
        assert missing, "no hole on the source partition?"
        o = missing[0]
        nxt = min(x for x in offs if x > o)
        r = kf.translate(topic, 0, o)
        assert (r["status"], r["target_offset"], r["next_source_offset"]) == (
            "hole", map_lookup(runs, nxt), nxt), r

        # An open transaction: the mirror stops at the last stable offset.
        lso_before = end_offsets(src, topic, PARTS)
        tx.begin_transaction()
        opened = [g.rec("txn-open", p) for p in (0, 1) for _ in range(5)]
        for r in opened:
            tx.produce(topic, **r)
        tx.flush(30)
        after = [g.rec("plain-after-open", p) for p in (0, 1)]  # above the LSO
        cf_produce(src, topic, after)
        sentinel = g.rec("sentinel", 2)  # partition 2 is not in the transaction
        cf_produce(src, topic, [sentinel])
        want2 = expect[2] + 1
        wait_until(lambda: end_offsets(tgt, ttopic, PARTS)[2] == want2, 60,
                   "records beside the open transaction mirrored")
        # librdkafka fetched partitions 0 and 1 in the same requests: their
        # records above the last stable offset must not be on the target
        got = end_offsets(tgt, ttopic, PARTS)
        assert (got[0], got[1]) == (expect[0], expect[1]), (got, expect)
        for p in (0, 1):
            r = kf.translate(topic, p, lso_before[p] + 3)
            assert r["status"] == "not-mirrored", r
        tx.commit_transaction(30)
        expect = {0: expect[0] + 6, 1: expect[1] + 6, 2: want2}
        wait_until(lambda: end_offsets(tgt, ttopic, PARTS) == expect, 60,
                   "the committed transaction mirrored (%r)" % expect, interval=0.3)
        hw = end_offsets(src, topic, PARTS)
        for p in range(PARTS):
            wait_until(lambda p=p: kf.translate(topic, p, hw[p])["status"] == "end", 30,
                       "%s/%d: source end %d translates as 'end'" % (topic, p, hw[p]))
        s = check_committed_equal(kf, src, tgt, topic, ttopic, PARTS, aborted)
        for p in (0, 1):
            tail = [content(r)[1] for r in s[p][-6:]]
            want = [r["value"] for r in opened if r["partition"] == p] + [
                r["value"] for r in after if r["partition"] == p]
            assert tail == want, (p, tail, want)
    finally:
        kf.stop(expect=0)
    assert "ERROR" not in kf.log_text(), kf.log_text()[-5000:]


# --------------------------------------------------------------------------- compaction


def kp_offsets(bootstrap, topic, partition):
    return [r[0] for r in kp_all(bootstrap, topic, partition)]


def contiguous(offs):
    return all(b == a + 1 for a, b in zip(offs, offs[1:]))


def test_compacted_source(real, ns, tmp_path):
    src, tgt = real.src.bootstrap, real.tgt.bootstrap
    parts = 2
    topic = cf_create_topic(src, ns.topic("compact"), parts, config={
        "cleanup.policy": "compact",
        "segment.ms": "100",
        "segment.bytes": "16384",
        "min.cleanable.dirty.ratio": "0.01",
        "min.compaction.lag.ms": "0",
        "max.compaction.lag.ms": "1000",
        "delete.retention.ms": "86400000",
    })
    ttopic = ns.target_topic("compact")
    g = Gen()
    keys = [b"key-%d" % k for k in range(8)]
    for burst in range(12):  # segments roll between bursts (segment.ms)
        recs = []
        for i in range(60):
            r = g.rec("upd", i % parts)
            r["key"] = keys[(i * 7 + burst) % len(keys)]
            if i % 19 == 0:
                r["value"] = None  # tombstone
            recs.append(r)
        cf_produce(src, topic, recs)
        time.sleep(0.15)  # shapes the log into segments; not a wait for a condition
    # Kafka's cleaner must really have removed records from every partition
    wait_until(lambda: all(not contiguous(kp_offsets(src, topic, p)) for p in range(parts)),
               120, "the log cleaner to compact %s" % topic, interval=1)
    # Freeze the source as compacted: nothing is cleanable any more, so the
    # source cannot change under the comparison (the target gets the same
    # config and does not clean either).
    alter(src, topic, {"cleanup.policy": "compact", "segment.ms": "100",
                       "segment.bytes": "16384", "min.cleanable.dirty.ratio": "0.01",
                       "min.compaction.lag.ms": "86400000", "delete.retention.ms": "86400000"})
    # The new config reaches the cleaner asynchronously, and a cleaning pass
    # may be running: wait until the source stops changing (three equal
    # reads two seconds apart) before taking it as the reference.
    seen = []

    def settled():
        seen.append({p: kp_all(src, topic, p) for p in range(parts)})
        return len(seen) >= 3 and seen[-1] == seen[-2] == seen[-3]
    wait_until(settled, 90, "the compacted source to stop changing", interval=2)
    before = seen[-1]
    for p in range(parts):
        offs = [r[0] for r in before[p]]
        assert not contiguous(offs) and len(offs) < 360, (p, len(offs))
        assert any(r[2] is None for r in before[p]), "tombstones survive"

    cfg = ns.config(tmp_path / "mm2.properties")
    kf = KferryProc(cfg, tmp_path).start()
    try:
        want = {p: len(before[p]) for p in range(parts)}
        try:
            wait_until(lambda: end_offsets(tgt, ttopic, parts) == want, 120,
                       "surviving records mirrored (%r)" % want, interval=0.3)
        except AssertionError as e:
            raise AssertionError("%s\nkferry log tail:\n%s" % (e, kf.log_text()[-6000:])) from None
        hw = end_offsets(src, topic, parts)
        for p in range(parts):
            wait_until(lambda p=p: kf.translate(topic, p, hw[p])["status"] == "end", 30,
                       "%s/%d: source end translates as 'end'" % (topic, p))
        n = check_exact(kf, src, tgt, topic, parts, expect_target=ttopic)
        assert n == sum(want.values())
        assert {p: kp_all(src, topic, p) for p in range(parts)} == before, "source changed"
        conf = describe(tgt, ttopic)
        assert conf["cleanup.policy"] == "compact", conf
        assert conf["min.cleanable.dirty.ratio"] == "0.01", conf
        # a compacted-away source offset translates as a hole: the next record
        p0 = [r[0] for r in before[0]]
        hole = next(o for o in range(p0[0], p0[-1]) if o not in set(p0))
        nxt = min(o for o in p0 if o > hole)
        r = kf.translate(topic, 0, hole)
        assert (r["status"], r["target_offset"], r["next_source_offset"]) == (
            "hole", map_lookup(dump_runs(kf, topic, 0), nxt), nxt), r
    finally:
        kf.stop(expect=0)
    assert "ERROR" not in kf.log_text(), kf.log_text()[-5000:]


# --------------------------------------------------------------------------- log start > 0


def delete_records(real, tmp_path, topic, offsets):
    path = tmp_path / ("delete-%s.json" % uuid.uuid4().hex[:6])
    path.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": p, "offset": o} for p, o in offsets.items()]}))
    real.src.tool("kafka-delete-records.sh", "--bootstrap-server", real.src.bootstrap,
                  "--offset-json-file", str(path))
    for p, o in offsets.items():
        wait_until(lambda p=p, o=o: watermarks(real.src.bootstrap, topic, p)[0] == o, 30,
                   "%s/%d log start %d" % (topic, p, o))


def produce_seq(bs, topic, start, n, partition):
    cf_produce(bs, topic, [dict(partition=partition, key=b"k%d" % i, value=b"v%d" % i,
                                headers=[("i", b"%d" % i)])
                           for i in range(start, start + n)])


def test_log_start_above_zero_and_holes(real, ns, tmp_path):
    src, tgt = real.src.bootstrap, real.tgt.bootstrap
    topic = cf_create_topic(src, ns.topic("holes"), 2)
    ttopic = ns.target_topic("holes")
    produce_seq(src, topic, 0, 100, 0)
    produce_seq(src, topic, 0, 50, 1)
    delete_records(real, tmp_path, topic, {0: 40})  # partition 0 starts at 40
    cfg = ns.config(tmp_path / "m.properties", extra={"kferry.gap.policy": "continue"})
    kf = KferryProc(cfg, tmp_path).start()
    wait_until(lambda: end_offsets(tgt, ttopic, 2) == {0: 60, 1: 50}, 60, "mirrored")
    wait_until(lambda: kf.translate(topic, 0, 100)["status"] == "end", 30, "map persisted")
    assert check_exact(kf, src, tgt, topic, 2, expect_target=ttopic) == 110
    kf.stop()
    r = kf.translate(topic, 0, 40)
    assert (r["status"], r["target_offset"]) == ("exact", 0), r
    r = kf.translate(topic, 0, 99)
    assert (r["status"], r["target_offset"]) == ("exact", 59), r
    r = kf.translate(topic, 0, 39)
    assert (r["status"], r["target_offset"], r["next_source_offset"]) == ("below", 0, 40), r
    r = kf.translate(topic, 0, 0)
    assert (r["status"], r["target_offset"], r["next_source_offset"]) == ("below", 0, 40), r

    # while kferry is stopped, 100..149 arrive and 100..119 are deleted
    # before they were mirrored, and partition 1 loses a mirrored stretch
    produce_seq(src, topic, 100, 50, 0)
    delete_records(real, tmp_path, topic, {0: 120, 1: 20})
    kf.start()
    wait_until(lambda: end_offsets(tgt, ttopic, 2)[0] == 90, 60, "90 records mirrored")
    wait_until(lambda: kf.status()["mirror"]["gaps"] == 1, 30, "status to report the gap")
    wait_until(lambda: kf.translate(topic, 0, 150)["status"] == "end", 30, "map persisted")
    kf.stop()
    log = kf.log_text(last_only=True)
    assert re.search(r"GAP %s/0: source offsets \[100, 120\) \(20 records\)" % re.escape(topic),
                     log), log[-4000:]
    m = kf.dump()[(topic, 0)]
    assert m["runs"] == [[40, 0, 60], [120, 60, 30]], m
    assert m["gaps"] == [[100, 120]], m
    assert kf.dump()[(topic, 1)]["runs"] == [[0, 0, 50]]
    r = kf.translate(topic, 0, 110)
    assert (r["status"], r["target_offset"], r["next_source_offset"]) == ("gap", 60, 120), r
    for s, t in ((120, 60), (149, 89), (99, 59)):
        r = kf.translate(topic, 0, s)
        assert (r["status"], r["target_offset"]) == ("exact", t), r
    r = kf.translate(topic, 1, 5)  # deleted after it was mirrored: still exact
    assert (r["status"], r["target_offset"]) == ("exact", 5), r

    # records deleted from the source after mirroring still translate, and
    # every record still on the source is at its mapped target offset
    delete_records(real, tmp_path, topic, {0: 130})
    r = kf.translate(topic, 0, 125)
    assert (r["status"], r["target_offset"]) == ("exact", 65), r
    src_recs = kp_all(src, topic, 0)
    tgt_recs = {x[0]: x for x in kp_all(tgt, ttopic, 0)}
    assert len(src_recs) == 20 and len(tgt_recs) == 90
    for rec in src_recs:
        t = kf.translate(topic, 0, rec[0])
        assert t["status"] == "exact" and tgt_recs[t["target_offset"]][1:] == rec[1:], (rec, t)
    assert [x[0] for x in kp_all(tgt, ttopic, 1)] == list(range(50))
    assert "ERROR" not in log.replace("ERROR [gap] GAP", ""), log[-4000:]
