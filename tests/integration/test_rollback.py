"""Rollback after a cutover (issue 4, item 5): mirroring back target -> source
with loop prevention, and moving a consumer group back.

Scenario: "onprem" -> "cloud" mirrored (IdentityReplicationPolicy), consumers
then producers moved to cloud, producers write there; the forward mirror
stops, the reverse flow cloud -> onprem starts, the group and then the
producers move back.  The application (kafka-python) must consume every
record exactly once across all four switches, and no record kferry copied
may be copied back (onprem holds its own records plus the cloud-produced
ones, once each; restarting either flow afterwards copies nothing back).

The onprem log starts at offset 10 (DeleteRecords), so onprem and cloud
offsets differ and every translation is checked for real.  The group is
moved with `kferry cutover` (checked against `kferry offsets translate`),
or with translate and a plain offset commit in a tree without cutover.

Also: SIGKILLs of the reverse flow while it alternately skips and copies,
the refusal to run both directions on the same topics, DefaultReplication-
Policy names both ways, both directions at once on distinct topics, and the
baseline of a first start on a non-empty target.
"""

import json
import random
import subprocess
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from kf_util import cf_create_topic, cf_produce, kp_kwargs, unique, wait_until
import kf_wire as kw
from test_mirror_util import KferryProc, end_offsets, kferry_binary, kp_all, write_config

PARTS = 2
OLD = 10  # records per partition deleted on onprem before mirroring starts


class App:
    """The application: a sequential producer and a consumer group."""

    def __init__(self, topic, group):
        self.topic, self.group = topic, group
        self.seq = 0
        self.seen = []  # (partition, seq) in consumption order

    def produce(self, bootstrap, n):
        p = KafkaProducer(**kp_kwargs(bootstrap, acks="all"))
        try:
            for _ in range(n):
                i = self.seq
                p.send(self.topic, partition=i % PARTS, key=b"k%d" % i, value=b"v%d" % i)
                self.seq += 1
            p.flush(30)
        finally:
            p.close()

    def consume(self, bootstrap, until, timeout=60):
        """Consumes with the group, committing after every poll, until
        `until` records were seen in total; then leaves the group."""
        c = KafkaConsumer(**kp_kwargs(bootstrap, group_id=self.group, enable_auto_commit=False,
                                      auto_offset_reset="earliest", fetch_max_wait_ms=100))
        try:
            c.subscribe([self.topic])

            def step():
                for tp, msgs in c.poll(timeout_ms=300).items():
                    self.seen.extend((tp.partition, int(m.value[1:])) for m in msgs)
                c.commit()
                return len(self.seen) >= until

            wait_until(step, timeout, "the group to consume %d records (has %d)" % (
                until, len(self.seen)), interval=0)
        finally:
            c.close()

    def check_exactly_once(self):
        vals = [s for _, s in self.seen]
        assert len(vals) == len(set(vals)), "duplicates: %r" % sorted(
            v for v in set(vals) if vals.count(v) > 1)[:20]
        assert sorted(vals) == list(range(self.seq)), "missing: %r" % sorted(
            set(range(self.seq)) - set(vals))[:20]
        for part in range(PARTS):
            got = [s for p, s in self.seen if p == part]
            assert got == sorted(got), "partition %d consumed out of order" % part


def committed(bootstrap, group, topic):
    c = KafkaConsumer(**kp_kwargs(bootstrap, group_id=group, enable_auto_commit=False))
    try:
        return {p: c.committed(TopicPartition(topic, p)) for p in range(PARTS)}
    finally:
        c.close()


def has_cutover():
    cp = subprocess.run([kferry_binary(), "cutover", "--help"], capture_output=True, timeout=30)
    return cp.returncode == 0


def move_group(kf, from_bs, to_bs, group, topic, statuses=("exact", "end", "skipped")):
    """Moves the group with `kferry cutover` on kf's config and checks the
    committed offsets against `kferry offsets translate`; without cutover,
    commits the translations itself."""
    if has_cutover():
        cp = kf.cmd("cutover", "--group", group, "--timeout", "60", check=False, timeout=90)
        assert cp.returncode == 0, "cutover: %s\n%s" % (cp.stdout.decode(),
                                                         cp.stderr.decode()[-3000:])
        want = {}
        for p, off in committed(from_bs, group, topic).items():
            r = kf.translate(topic, p, off)
            assert r["status"] in statuses, r
            want[p] = r["target_offset"]
        assert committed(to_bs, group, topic) == want
        return want
    offs = {}
    for p, off in committed(from_bs, group, topic).items():
        assert off is not None, "group %s has no offset for %s/%d" % (group, topic, p)
        r = wait_until(lambda: (lambda r: r if r["status"] in statuses else None)(
            kf.translate(topic, p, off)), 30, "translation of %s/%d@%d" % (topic, p, off))
        offs[TopicPartition(topic, p)] = OffsetAndMetadata(r["target_offset"], None)
    c = KafkaConsumer(**kp_kwargs(to_bs, group_id=group, enable_auto_commit=False))
    try:
        c.commit(offs)
    finally:
        c.close()
    return {tp.partition: o.offset for tp, o in offs.items()}


def producer_gate(kf, topic):
    """`kferry cutover producers`: the source is quiet and fully mirrored."""
    if has_cutover():
        cp = kf.cmd("cutover", "producers", "--topics", topic, "--quiet-seconds", "1",
                    "--timeout", "60", check=False, timeout=90)
        assert cp.returncode == 0, "cutover producers: %s\n%s" % (
            cp.stdout.decode(), cp.stderr.decode()[-3000:])


def ends(bs, t):
    """End offset of partition 0 of t, -1 while t does not exist (without
    auto-creating it before kferry does)."""
    c = KafkaConsumer(**kp_kwargs(bs))
    try:
        return end_offsets(bs, t, 1)[0] if t in c.topics() else -1
    finally:
        c.close()


def values(bootstrap, topic, p):
    return [int(r[2][1:]) for r in kp_all(bootstrap, topic, p)]


def dump(kf, topic):
    out = {}
    for line in kf.cmd("offsets", "dump", "--topic", topic).stdout.decode().splitlines():
        d = json.loads(line)
        out[d["partition"]] = d
    return out


def run_rollback(broker_factory, tmp_path):
    """The whole rollback; returns what the follow-up checks need."""
    onprem, cloud = broker_factory(), broker_factory()
    topic = cf_create_topic(onprem.bootstrap, unique("orders"), PARTS)
    app = App(topic, unique("app"))
    for p in range(PARTS):
        cf_produce(onprem.bootstrap, topic, [dict(partition=p, value=b"old")] * OLD)
        with kw.RawConn(onprem.host, onprem.port) as c:
            assert kw.delete_records(c, topic, {p: OLD}) == {p: (OLD, 0)}

    (tmp_path / "fwd").mkdir()
    (tmp_path / "rev").mkdir()
    fwd_cfg = write_config(tmp_path / "fwd.properties", onprem, cloud, identity=True,
                           src_alias="onprem", tgt_alias="cloud")
    rev_cfg = write_config(tmp_path / "rev.properties", cloud, onprem, identity=True,
                           src_alias="cloud", tgt_alias="onprem")
    fwd = KferryProc(fwd_cfg, tmp_path / "fwd")
    rev = KferryProc(rev_cfg, tmp_path / "rev")

    def drained(src_bs, tgt_bs, delta):
        want = end_offsets(src_bs, topic, PARTS)
        wait_until(lambda: ends(tgt_bs, topic) >= 0 and all(
            end_offsets(tgt_bs, topic, PARTS)[p] == want[p] + delta for p in range(PARTS)), 60,
            "mirror drained (%r)" % want)

    # 1. forward mirror; the application runs on onprem
    app.produce(onprem.bootstrap, 300)
    fwd.start()
    app.consume(onprem.bootstrap, 100)
    drained(onprem.bootstrap, cloud.bootstrap, -OLD)

    # 2. consumers first: the group moves to cloud; producers still on onprem
    moved = move_group(fwd, onprem.bootstrap, cloud.bootstrap, app.group, topic)
    assert all(o >= 0 for o in moved.values()), moved
    app.produce(onprem.bootstrap, 100)
    app.consume(cloud.bootstrap, 350)

    # 3. producers move to cloud once onprem is fully mirrored
    producer_gate(fwd, topic)
    drained(onprem.bootstrap, cloud.bootstrap, -OLD)
    app.produce(cloud.bootstrap, 200)
    app.consume(cloud.bootstrap, 500)
    fwd.stop()
    onprem_before = {p: values(onprem.bootstrap, topic, p) for p in range(PARTS)}
    cloud_only = {p: [s for s in range(400, 600) if s % PARTS == p] for p in range(PARTS)}

    # 4. something went wrong: mirror back; only cloud's own records come back
    rev.start()
    wait_until(lambda: all(end_offsets(onprem.bootstrap, topic, PARTS)[p] ==
                           OLD + len(onprem_before[p]) + len(cloud_only[p])
                           for p in range(PARTS)), 60, "cloud's records mirrored back")
    for p in range(PARTS):
        assert values(onprem.bootstrap, topic, p) == onprem_before[p] + cloud_only[p], p
    assert "loop prevention" in rev.log_text()
    base = OLD + len(onprem_before[0])  # onprem end when the reverse flow started
    n_fwd = len(onprem_before[0])  # records the forward flow wrote to cloud/0
    wait_until(lambda: rev.translate(topic, 0, n_fwd)["status"] == "exact", 30,
               "the reverse map persisted")
    d = dump(rev, topic)[0]
    assert d["baseline"] == base, d
    assert d["skips"] == [[0, n_fwd, OLD]], d  # cloud 0.. are copies of onprem 10..
    assert d["runs"] == [[n_fwd, base, len(cloud_only[0])]], d
    r = rev.translate(topic, 0, 5)
    assert (r["status"], r["target_offset"]) == ("skipped", OLD + 5), r
    r = rev.translate(topic, 0, n_fwd)
    assert (r["status"], r["target_offset"]) == ("exact", base), r
    r = rev.translate(topic, 0, n_fwd + len(cloud_only[0]))
    assert (r["status"], r["target_offset"]) == ("end", base + len(cloud_only[0])), r

    # 5. the group moves back to onprem, then the producers
    move_group(rev, cloud.bootstrap, onprem.bootstrap, app.group, topic)
    app.consume(onprem.bootstrap, 600)
    producer_gate(rev, topic)
    app.produce(onprem.bootstrap, 100)
    app.consume(onprem.bootstrap, 700)
    app.check_exactly_once()
    rev.stop()
    return onprem, cloud, topic, app, fwd, rev


def test_rollback_no_gap_no_duplicate(broker_factory, tmp_path):
    onprem, cloud, topic, app, fwd, rev = run_rollback(broker_factory, tmp_path)
    # `kferry verify` of the reverse flow: what it copied matches, and the
    # forward flow's copies on cloud are recognised, not reported missing
    cp = rev.cmd("verify", check=False, timeout=120)
    if cp.returncode != 2 or b"unknown command" not in cp.stderr:
        assert cp.returncode == 0, cp.stdout.decode()[-3000:] + cp.stderr.decode()[-2000:]


def test_restart_after_rollback_no_ping_pong(broker_factory, tmp_path):
    """Both flows restarted after the rollback copy nothing back: the
    forward flow skips what the reverse flow wrote to onprem (and does not
    take cloud's own records for its unmapped tail), and vice versa."""
    onprem, cloud, topic, app, fwd, rev = run_rollback(broker_factory, tmp_path)
    cloud_before = {p: values(cloud.bootstrap, topic, p) for p in range(PARTS)}
    onprem_now = {p: values(onprem.bootstrap, topic, p) for p in range(PARTS)}
    fwd.start()
    new_onprem = {p: [s for s in range(600, 700) if s % PARTS == p] for p in range(PARTS)}
    wait_until(lambda: all(end_offsets(cloud.bootstrap, topic, PARTS)[p] ==
                           len(cloud_before[p]) + len(new_onprem[p]) for p in range(PARTS)),
               60, "onprem's new records mirrored forward")
    fwd.stop()
    for p in range(PARTS):
        assert values(cloud.bootstrap, topic, p) == cloud_before[p] + new_onprem[p], p
    d = dump(fwd, topic)[0]
    n_fwd = len(onprem_now[0]) - 200 // PARTS - len(new_onprem[0])  # forward's first copies
    # onprem's copies of cloud records are skipped; their originals are on cloud
    assert d["skips"] == [[OLD + n_fwd, OLD + n_fwd + 100, n_fwd]], d
    # and the reverse flow, restarted, has nothing to copy back
    rev.start()
    wait_until(lambda: "mirroring cloud->onprem" in rev.log_text(last_only=True), 30,
               "reverse flow started")
    wait_until(lambda: all(r["lag_records"] == 0 for r in rev.status()["partitions"]), 30,
               "reverse flow caught up")
    rev.stop()
    for p in range(PARTS):
        assert values(onprem.bootstrap, topic, p) == onprem_now[p], p


def test_opposite_flow_must_be_stopped_cleanly(broker_factory, tmp_path):
    """Only the opposite flow's persisted map tells its records apart, so a
    flow refuses to start while the opposite one runs or after it was
    killed (records it wrote may not be mapped yet)."""
    onprem, cloud = broker_factory(), broker_factory()
    topic = cf_create_topic(onprem.bootstrap, unique("orders"), 1)
    cf_produce(onprem.bootstrap, topic, [dict(partition=0, value=b"v%d" % i) for i in range(50)])
    (tmp_path / "fwd").mkdir()
    (tmp_path / "rev").mkdir()
    fwd = KferryProc(write_config(tmp_path / "fwd.properties", onprem, cloud, identity=True,
                                  src_alias="onprem", tgt_alias="cloud"), tmp_path / "fwd")
    rev = KferryProc(write_config(tmp_path / "rev.properties", cloud, onprem, identity=True,
                                  src_alias="cloud", tgt_alias="onprem"), tmp_path / "rev")
    fwd.start()
    wait_until(lambda: ends(cloud.bootstrap, topic) == 50, 30, "mirrored")
    rev.start()
    assert rev.wait_exit(60) == 1
    assert "the opposite flow onprem->cloud" in rev.log_text(last_only=True)
    assert "not stopped cleanly" in rev.log_text(last_only=True)
    fwd.kill9()
    rev.start()
    assert rev.wait_exit(60) == 1, "started although the opposite flow was killed"
    # the remedy: start the killed flow again and stop it with SIGTERM
    fwd.start()
    wait_until(lambda: "mirroring onprem->cloud" in fwd.log_text(last_only=True), 30,
               "forward flow restarted")
    fwd.stop()
    rev.start()
    wait_until(lambda: rev.translate(topic, 0, 49)["status"] == "skipped", 30,
               "the reverse flow to skip the forward flow's records")
    # and now the forward flow may not start while the reverse one runs
    fwd.start()
    assert fwd.wait_exit(60) == 1
    assert "not stopped cleanly" in fwd.log_text(last_only=True)
    rev.stop()
    assert values(onprem.bootstrap, topic, 0) == list(range(50))


def test_default_policy_rollback_topics(broker_factory, tmp_path):
    """DefaultReplicationPolicy both ways: cloud's own topic comes back as
    cloud.<topic>; replicas (onprem.<topic> on cloud, cloud.<topic> on
    onprem) are never mirrored back (MirrorMaker 2's cycle rule), so no
    onprem.cloud.* topic appears and nothing goes round."""
    onprem, cloud = broker_factory(), broker_factory()
    topic = cf_create_topic(onprem.bootstrap, unique("orders"), 1)
    cf_produce(onprem.bootstrap, topic, [dict(partition=0, value=b"v%d" % i) for i in range(30)])
    (tmp_path / "fwd").mkdir()
    (tmp_path / "rev").mkdir()
    fwd = KferryProc(write_config(tmp_path / "fwd.properties", onprem, cloud,
                                  src_alias="onprem", tgt_alias="cloud"), tmp_path / "fwd")
    rev = KferryProc(write_config(tmp_path / "rev.properties", cloud, onprem,
                                  src_alias="cloud", tgt_alias="onprem"), tmp_path / "rev")
    fwd.start()
    wait_until(lambda: ends(cloud.bootstrap, "onprem." + topic) == 30, 30, "mirrored")
    fwd.stop()
    # producers moved to cloud write to cloud's own topic of that name
    cf_create_topic(cloud.bootstrap, topic, 1)
    cf_produce(cloud.bootstrap, topic,
               [dict(partition=0, value=b"v%d" % i) for i in range(100, 120)])
    rev.start()
    wait_until(lambda: ends(onprem.bootstrap, "cloud." + topic) == 20, 30,
               "cloud's topic mirrored back")
    wait_until(lambda: "not mirrored: onprem.%s (a replica of a target topic" % topic
               in rev.log_text(), 30, "the replica to be excluded")
    rev.stop()
    assert values(onprem.bootstrap, "cloud." + topic, 0) == list(range(100, 120))
    fwd.start()
    wait_until(lambda: "not mirrored: cloud.%s (a replica" % topic in fwd.log_text(last_only=True),
               30, "cloud.<topic> excluded going forward")
    fwd.stop()
    c = KafkaConsumer(**kp_kwargs(cloud.bootstrap))
    names = set(c.topics())
    c.close()
    assert not [n for n in names if n.startswith("onprem.cloud.")], names
    assert end_offsets(cloud.bootstrap, "onprem." + topic, 1)[0] == 30


def test_reverse_flow_killed_repeatedly_stays_exact(broker_factory, tmp_path):
    """Cloud holds the forward flow's copies and cloud's own records in
    alternating stretches (producers on both sides while the forward flow
    ran), so the reverse flow skips and copies in turn; SIGKILLed at random
    moments, it must still end with each cloud record on onprem exactly
    once: copied back if cloud's own, never if it came from onprem."""
    onprem, cloud = broker_factory(), broker_factory()
    topic = cf_create_topic(onprem.bootstrap, unique("orders"), 1)
    (tmp_path / "fwd").mkdir()
    (tmp_path / "rev").mkdir()
    fwd = KferryProc(write_config(tmp_path / "fwd.properties", onprem, cloud, identity=True,
                                  src_alias="onprem", tgt_alias="cloud"), tmp_path / "fwd")
    rev = KferryProc(write_config(tmp_path / "rev.properties", cloud, onprem, identity=True,
                                  src_alias="cloud", tgt_alias="onprem"), tmp_path / "rev")
    fwd.start()
    n, rounds, seq = 10000, 6, 0
    onprem_vals, cloud_own = [], []
    for _ in range(rounds):
        batch = list(range(seq, seq + n))
        seq += n
        cf_produce(onprem.bootstrap, topic, [dict(partition=0, value=b"v%d" % i) for i in batch])
        onprem_vals += batch
        wait_until(lambda: ends(cloud.bootstrap, topic) ==
                   len(onprem_vals) + len(cloud_own), 60, "forward copies")
        batch = list(range(seq, seq + n))
        seq += n
        cf_produce(cloud.bootstrap, topic, [dict(partition=0, value=b"v%d" % i) for i in batch])
        cloud_own += batch
    fwd.stop()
    cloud_vals = values(cloud.bootstrap, topic, 0)
    rnd = random.Random(7)
    for _ in range(4):
        rev.start()
        wait_until(lambda: "mirroring cloud->onprem" in rev.log_text(last_only=True) or
                   not rev.alive(), 30, "reverse flow started")
        assert rev.alive(), rev.log_text(last_only=True)[-3000:]
        time.sleep(rnd.uniform(0.0, 0.6))
        rev.kill9()
    rev.start()
    wait_until(lambda: end_offsets(onprem.bootstrap, topic, 1)[0] == len(onprem_vals) +
               len(cloud_own), 60, "cloud's own records mirrored back")
    wait_until(lambda: all(r["lag_records"] == 0 for r in rev.status()["partitions"]), 30,
               "caught up")
    rev.stop()
    assert values(onprem.bootstrap, topic, 0) == onprem_vals + cloud_own
    # every cloud record translates to its own value on onprem
    d = dump(rev, topic)[0]
    on = values(onprem.bootstrap, topic, 0)
    seen = 0
    for s, t, ln in d["runs"]:
        for k in range(ln):
            assert on[t + k] == cloud_vals[s + k]
            seen += 1
    for s, e, origin in d["skips"]:
        for k in range(e - s):
            assert on[origin + k] == cloud_vals[s + k]
            seen += 1
    assert seen == len(cloud_vals)
    assert len(d["skips"]) == rounds and len(d["runs"]) >= rounds, d


def test_active_active_distinct_topics(broker_factory, tmp_path):
    """Both directions at once are fine when they cannot meet: with
    DefaultReplicationPolicy each flow mirrors its own cluster's topics and
    never the other's replicas, so neither refuses nor stops the other."""
    a, b = broker_factory(), broker_factory()
    x = cf_create_topic(a.bootstrap, unique("x"), 1)
    y = cf_create_topic(b.bootstrap, unique("y"), 1)
    (tmp_path / "ab").mkdir()
    (tmp_path / "ba").mkdir()
    ab = KferryProc(write_config(tmp_path / "ab.properties", a, b, src_alias="a", tgt_alias="b"),
                    tmp_path / "ab")
    ba = KferryProc(write_config(tmp_path / "ba.properties", b, a, src_alias="b", tgt_alias="a"),
                    tmp_path / "ba")
    cf_produce(a.bootstrap, x, [dict(partition=0, value=b"v%d" % i) for i in range(10)])
    ab.start()
    wait_until(lambda: ab.translate(x, 0, 9)["status"] == "exact", 30, "a->b mapped")
    ba.start()
    cf_produce(b.bootstrap, y, [dict(partition=0, value=b"v%d" % i) for i in range(20)])
    cf_produce(a.bootstrap, x, [dict(partition=0, value=b"v%d" % i) for i in range(10, 30)])
    wait_until(lambda: ends(a.bootstrap, "b." + y) == 20 and ends(b.bootstrap, "a." + x) == 30,
               30, "both directions mirrored")
    time.sleep(3)  # a few refreshes of each other's maps
    assert ab.alive() and ba.alive()
    ab.stop()
    ba.stop()
    assert values(b.bootstrap, "a." + x, 0) == list(range(30))
    assert values(a.bootstrap, "b." + y, 0) == list(range(20))
    for bs in (a.bootstrap, b.bootstrap):
        c = KafkaConsumer(**kp_kwargs(bs))
        names = set(c.topics())
        c.close()
        assert not [n for n in names if n.startswith(("a.b.", "b.a."))], names


def test_baseline_then_foreign_writer_is_refused(broker_factory, tmp_path):
    """A partition's first start on a target that already holds records
    records a baseline (those records are not kferry's); a record written
    there by someone else while kferry is stopped is still refused at the
    next start, exactly as before."""
    src, tgt = broker_factory(), broker_factory()
    topic = cf_create_topic(src.bootstrap, unique("t"), 1)
    cf_create_topic(tgt.bootstrap, topic, 1)
    cf_produce(tgt.bootstrap, topic, [dict(partition=0, value=b"v%d" % i) for i in range(900, 905)])
    cf_produce(src.bootstrap, topic, [dict(partition=0, value=b"v%d" % i) for i in range(20)])
    kf = KferryProc(write_config(tmp_path / "m.properties", src, tgt, identity=True), tmp_path)
    kf.start()
    wait_until(lambda: ends(tgt.bootstrap, topic) == 25, 30, "mirrored after the baseline")
    kf.stop()
    assert values(tgt.bootstrap, topic, 0) == list(range(900, 905)) + list(range(20))
    d = dump(kf, topic)[0]
    assert d["baseline"] == 5 and d["runs"] == [[0, 5, 20]], d
    assert kf.translate(topic, 0, 0)["target_offset"] == 5
    cf_produce(tgt.bootstrap, topic, [dict(partition=0, value=b"foreign")])
    cf_produce(src.bootstrap, topic, [dict(partition=0, value=b"v%d" % i) for i in range(20, 25)])
    kf.start()
    assert kf.wait_exit(60) == 1
    assert "records kferry did not write" in kf.log_text(last_only=True)


def test_rollback_after_forward_flow_was_killed(broker_factory, tmp_path):
    """The forward flow died (SIGKILL) after the producers moved to cloud:
    it cannot be restarted to stop cleanly (cloud's own records now follow
    its copies).  With kferry.opposite.stopped=true the reverse flow starts
    anyway, but only because the forward map reaches the end of every
    onprem partition, so no copy of it can be unmapped."""
    onprem, cloud = broker_factory(), broker_factory()
    topic = cf_create_topic(onprem.bootstrap, unique("orders"), 1)
    cf_produce(onprem.bootstrap, topic, [dict(partition=0, value=b"v%d" % i) for i in range(40)])
    (tmp_path / "fwd").mkdir()
    (tmp_path / "rev").mkdir()
    fwd = KferryProc(write_config(tmp_path / "fwd.properties", onprem, cloud, identity=True,
                                  src_alias="onprem", tgt_alias="cloud"), tmp_path / "fwd")
    fwd.start()
    wait_until(lambda: fwd.translate(topic, 0, 40)["status"] == "end", 30, "forward mapped")
    cf_produce(cloud.bootstrap, topic, [dict(partition=0, value=b"v%d" % i) for i in range(40, 50)])
    fwd.kill9()
    rev_props = tmp_path / "rev.properties"
    rev = KferryProc(write_config(rev_props, cloud, onprem, identity=True, src_alias="cloud",
                                  tgt_alias="onprem"), tmp_path / "rev")
    rev.start()
    assert rev.wait_exit(60) == 1
    assert "kferry.opposite.stopped=true" in rev.log_text(last_only=True)
    fwd.start()  # the usual remedy does not work here
    assert fwd.wait_exit(60) == 1
    assert "another writer on the target" in fwd.log_text(last_only=True)
    write_config(rev_props, cloud, onprem, identity=True, src_alias="cloud", tgt_alias="onprem",
                 extra={"kferry.opposite.stopped": "true"})
    rev.start()
    wait_until(lambda: ends(onprem.bootstrap, topic) == 50, 30, "cloud's records mirrored back")
    assert "did not stop cleanly" in rev.log_text(last_only=True)
    rev.stop()
    assert values(onprem.bootstrap, topic, 0) == list(range(50))


def test_opposite_stopped_needs_a_complete_map(broker_factory, tmp_path):
    """kferry.opposite.stopped is refused when the dead flow's map does not
    reach the end of its source: records it read there may have been copied
    without being mapped."""
    onprem, cloud = broker_factory(), broker_factory()
    topic = cf_create_topic(onprem.bootstrap, unique("orders"), 1)
    cf_produce(onprem.bootstrap, topic, [dict(partition=0, value=b"v%d" % i) for i in range(40)])
    (tmp_path / "fwd").mkdir()
    (tmp_path / "rev").mkdir()
    fwd = KferryProc(write_config(tmp_path / "fwd.properties", onprem, cloud, identity=True,
                                  src_alias="onprem", tgt_alias="cloud"), tmp_path / "fwd")
    fwd.start()
    wait_until(lambda: fwd.translate(topic, 0, 40)["status"] == "end", 30, "forward mapped")
    fwd.kill9()
    cf_produce(onprem.bootstrap, topic,
               [dict(partition=0, value=b"v%d" % i) for i in range(40, 42)])
    rev = KferryProc(write_config(tmp_path / "rev.properties", cloud, onprem, identity=True,
                                  src_alias="cloud", tgt_alias="onprem",
                                  extra={"kferry.opposite.stopped": "true"}), tmp_path / "rev")
    rev.start()
    assert rev.wait_exit(60) == 1
    assert "cannot be honoured" in rev.log_text(last_only=True)
    assert "only below offset 40 but the partition ends at 42" in rev.log_text(last_only=True)
