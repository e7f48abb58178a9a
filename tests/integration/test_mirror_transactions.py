"""kferry.transactions.enabled: the target is written in Kafka transactions
(one transactional.id per flow, the offset map in the same transactions),
so a new holder fences the previous one.

The case this mode exists for: a holder frozen with SIGSTOP while it has
records queued, until a standby has taken the flow over, then resumed with
SIGCONT.  Without fencing its queued records land after the new holder's
(docs/MIRROR.md, "Not yet"); with it, the target's read_committed view
holds every source record exactly once, at its mapped offset, checked
record by record.
"""

import signal
import threading
import time

import confluent_kafka as ck
import pytest

from kf_util import cf_consumer, cf_create_topic, cf_produce, unique, wait_until
from test_acls import AUTHORIZER, acls
from test_admin_apis import tool  # noqa: F401
from test_mirror_single_writer import PARTS, TGT_OVERRIDES, produce, wait_holder
from test_mirror_util import KferryProc, end_offsets, kp_all, map_lookup, write_config

TXN = {"kferry.transactions.enabled": "true", "kferry.transaction.interval.ms": "300",
       "kferry.lock.session.timeout.ms": "2000"}


def read_committed(bs, topic, partition, timeout=60):
    """[(offset, key, value, headers, timestamp)] of the partition as a
    read_committed consumer sees it, up to the last stable offset."""
    c = cf_consumer(bs, **{"isolation.level": "read_committed"})
    tp = ck.TopicPartition(topic, partition)
    try:
        lo, hi = c.get_watermark_offsets(tp, timeout=10, cached=False)
        c.assign([ck.TopicPartition(topic, partition, lo)])
        out = []
        deadline = time.monotonic() + timeout
        while True:
            m = c.poll(0.2)
            if m is not None:
                assert m.error() is None, m.error()
                if m.offset() < hi:
                    out.append((m.offset(), m.key(), m.value(), tuple(m.headers() or ()),
                                m.timestamp()[1]))
                continue
            pos = c.position([tp])[0].offset
            if hi == lo or pos >= hi:
                return out
            assert time.monotonic() < deadline, "read_committed %s/%d: at %d of %d" % (
                topic, partition, pos, hi)
    finally:
        c.close()


def mapped_ends(kf, topic, parts=PARTS):
    m = kf.dump()
    return {p: max((rs + n for rs, _, n in m[(topic, p)]["runs"]), default=0)
            if (topic, p) in m else 0 for p in range(parts)}


def wait_mapped(kf, src_bs, topic, timeout=120, parts=PARTS):
    want = end_offsets(src_bs, topic, parts)
    wait_until(lambda: mapped_ends(kf, topic, parts) == want, timeout,
               "the committed map to reach the source ends %s" % want)


def check_exact_committed(kf, src_bs, tgt_bs, topic, parts=PARTS):
    """Every source record equals the read_committed target record at its
    mapped offset, in order, and the committed view holds nothing else."""
    m = kf.dump()
    total = 0
    for p in range(parts):
        src = kp_all(src_bs, topic, p)
        tgt = read_committed(tgt_bs, m[(topic, p)]["target"], p)
        by_off = {r[0]: r for r in tgt}
        mapped = []
        for r in src:
            t = map_lookup(m[(topic, p)]["runs"], r[0])
            assert t is not None, "%s/%d: source %d not in the map" % (topic, p, r[0])
            assert t in by_off, "%s/%d: target %d (source %d) not committed" % (topic, p, t, r[0])
            assert by_off[t][1:] == r[1:], (p, r, by_off[t])
            mapped.append(t)
        assert mapped == sorted(mapped)
        assert len(tgt) == len(src), "%s/%d: %d committed target records, %d source" % (
            topic, p, len(tgt), len(src))
        total += len(src)
    return total


def test_transactions_mirror_exact_across_sigterm_and_kill9(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory(overrides=TGT_OVERRIDES)
    topic = cf_create_topic(src.bootstrap, unique("txm"), PARTS)
    cfg = write_config(tmp_path / "m.properties", src, tgt, identity=True, extra=TXN)
    kf = KferryProc(cfg, tmp_path).start()
    produce(src.bootstrap, topic, 6000)
    wait_mapped(kf, src.bootstrap, topic)
    kf.stop(expect=0)
    assert "writing dst in transactions as __kferry.flow.src->dst.txn" in kf.log_text()
    txn = kf.status()["mirror"]["transactions"]
    assert txn["enabled"] is True and txn["transactional_id"] == "__kferry.flow.src->dst.txn"
    assert txn["commits"] >= 1, txn
    # the target holds commit markers: its high watermark is past the records
    assert sum(end_offsets(tgt.bootstrap, topic, PARTS).values()) > 6000
    produce(src.bootstrap, topic, 6000, start=6000)
    kf.start()
    done = threading.Event()
    th = threading.Thread(target=produce, daemon=True,
                          args=(src.bootstrap, topic, 30000, 12000, 1000, 0.05, done))
    th.start()
    wait_until(lambda: sum(mapped_ends(kf, topic).values()) > 15000, 60, "mirroring under way")
    kf.kill9()  # with a transaction open: it is aborted by the next start
    kf.start()
    th.join(120)
    assert done.is_set()
    wait_mapped(kf, src.bootstrap, topic)
    assert check_exact_committed(kf, src.bootstrap, tgt.bootstrap, topic) == 42000
    v = kf.cmd("verify", check=False)
    assert v.returncode == 0, v.stdout.decode()[-3000:]
    kf.stop(expect=0)


def test_transactions_frozen_holder_is_fenced(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory(overrides=TGT_OVERRIDES)
    topic = cf_create_topic(src.bootstrap, unique("txz"), PARTS)
    cfg = write_config(tmp_path / "m.properties", src, tgt, identity=True, extra=TXN)
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    a, b = KferryProc(cfg, a_dir), KferryProc(cfg, b_dir)
    total = 200000
    done = threading.Event()
    th = threading.Thread(target=produce, daemon=True,
                          args=(src.bootstrap, topic, total, 0, 500, 0.02, done))
    th.start()
    frozen = False
    try:
        a.start()
        wait_holder(a)
        b.start()
        wait_until(lambda: "standby: flow src->dst is held by" in b.log_text(), 20, "b standby")
        wait_until(lambda: sum(end_offsets(tgt.bootstrap, topic, PARTS).values()) > 20000, 60,
                   "mirroring under way")
        assert not done.is_set(), "production finished before the freeze"
        a.proc.send_signal(signal.SIGSTOP)  # with records queued and a transaction open
        frozen = True
        wait_holder(b, timeout=60)
        wait_until(lambda: "writing dst in transactions" in b.log_text(), 30, "b fenced a")
        time.sleep(3)  # b writes meanwhile
        a.proc.send_signal(signal.SIGCONT)
        frozen = False
        th.join(300)
        assert done.is_set()
        holder = b
        # a may take the flow back after it rejoined; whoever holds it finishes
        wait_until(lambda: b.alive() and a.alive(), 5, "both alive")
        wait_mapped(holder, src.bootstrap, topic, timeout=180)
        assert check_exact_committed(holder, src.bootstrap, tgt.bootstrap, topic) == total
        v = holder.cmd("verify", check=False)
        assert v.returncode == 0, v.stdout.decode()[-3000:]
    finally:
        if frozen:
            a.proc.send_signal(signal.SIGCONT)
        b.stop(expect=0)
        a.stop(expect=0)
    alog = a.log_text()
    assert "assignment LOST" in alog, alog[-3000:]


def test_transactions_not_authorized_is_a_clear_error(broker_factory, tool, tmp_path):
    """The target refuses the flow's transactional id (a DENY ACL): kferry
    mirror exits 1 at once, naming the id and what it needs, and writes no
    record."""
    src = broker_factory()
    tgt = broker_factory(overrides=dict(TGT_OVERRIDES, **{
        "authorizer.class.name": AUTHORIZER, "allow.everyone.if.no.acl.found": "true"}))
    topic = cf_create_topic(src.bootstrap, unique("txa"), 1)
    cf_produce(src.bootstrap, topic, [dict(value=b"v%d" % i) for i in range(10)])
    acls(tool, tgt, "--add", "--deny-principal", "User:ANONYMOUS", "--operation", "All",
         "--transactional-id", "__kferry.flow.src->dst.txn")
    cfg = write_config(tmp_path / "m.properties", src, tgt, identity=True, extra=TXN)
    kf = KferryProc(cfg, tmp_path).start()
    assert kf.proc.wait(120) == 1
    log = kf.log_text()
    assert "InitProducerId for __kferry.flow.src->dst.txn" in log, log[-3000:]
    assert "Write on the TransactionalId __kferry.flow.src->dst.txn" in log, log[-3000:]
    # refused before the map was read: no topic of the flow on the target
    names = tgt_topics(tgt)
    assert topic not in names and "__kferry.offset-map.src" not in names, names


def tgt_topics(b):
    from confluent_kafka.admin import AdminClient
    return set(AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=10).topics)


@pytest.mark.parametrize("workers", [1, 3])
def test_transactions_group_cutover_exact(broker_factory, tmp_path, workers):
    """A group cut over from a flow written in transactions (commit markers
    between the runs of the map): its offsets on the target are exactly the
    translated ones, and a read_committed member there resumes at exactly
    the source record after the last one it had committed.  With
    kferry.workers=3 each partition is another unit's, with its own
    transactional.id, and group sync runs in unit 0."""
    from test_cutover import commit_standalone, run_kferry, target_committed
    src, tgt = broker_factory(), broker_factory(overrides=TGT_OVERRIDES)
    topic = cf_create_topic(src.bootstrap, unique("txc"), PARTS)
    cfg = write_config(tmp_path / "m.properties", src, tgt, identity=True, extra=dict(
        TXN, **{"sync.group.offsets.interval.seconds": "1", "kferry.workers": str(workers)}))
    kf = KferryProc(cfg, tmp_path).start()
    group = unique("app")
    try:
        for k in range(5):  # five bursts: several transactions, several map runs
            produce(src.bootstrap, topic, 600, start=600 * k)
            time.sleep(0.5)
        wait_mapped(kf, src.bootstrap, topic)
        runs = {p: len(kf.dump()[(topic, p)]["runs"]) for p in range(PARTS)}
        assert all(n >= 2 for n in runs.values()), runs  # the markers split the runs
        committed = {0: 17, 1: 503, 2: 999}
        commit_standalone(src.bootstrap, group, topic, committed)
        cp = run_kferry(kf, "cutover", "--group", group, "--timeout", "120", check=0)
        assert "done" in cp.stdout.decode(), cp.stdout.decode()
        want = {(topic, p): kf.translate(topic, p, o)["target_offset"]
                for p, o in committed.items()}
        assert target_committed(tgt.bootstrap, group) == want
        src_recs = {p: {r[0]: r for r in kp_all(src.bootstrap, topic, p)} for p in range(PARTS)}
        c = cf_consumer(tgt.bootstrap, group=group, **{"isolation.level": "read_committed"})
        try:
            c.assign([ck.TopicPartition(topic, p, want[(topic, p)]) for p in range(PARTS)])
            first = {}
            deadline = time.monotonic() + 30
            while len(first) < PARTS and time.monotonic() < deadline:
                m = c.poll(0.2)
                if m is not None and m.error() is None and m.partition() not in first:
                    first[m.partition()] = (m.key(), m.value())
        finally:
            c.close()
        assert first == {p: src_recs[p][o][1:3] for p, o in committed.items()}
    finally:
        kf.stop(expect=0)
