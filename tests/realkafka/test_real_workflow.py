"""The migration workflow on real Apache Kafka: group offset sync, both
cutover strategies with a live application, verify, plan, rollback, a
cutover of a group with nothing committed, and the demo's application
check.  The same assertions as the kferry-broker tests in tests/integration
(test_cutover.py, test_verify.py, test_plan.py, test_rollback.py,
test_demo.py), whose helpers are reused; clients are confluent-kafka
(real_clients.py says why kafka-python cannot be used against Kafka 4.0).

The application's records carry a sequence number per partition; what it
consumed across the switch must be exactly 0..n-1 per partition, in order.
"""

import json
import subprocess
import threading
import time

import confluent_kafka as ck

import kf_wire as kw
from kf_util import cf_conf, cf_create_topic, cf_produce, wait_until
from real_clients import (CfApp, CfSeqConsumer, CfSeqProducer, cf_all, check_exact,
                          commit_standalone, committed, end_offsets, topic_exists, values,
                          wait_mirrored)
from test_cutover import assert_exact_sequence, merge, run_kferry
from test_mirror_util import KferryProc, kferry_binary
from test_plan import checks, free_closed_port, plan_json, run_plan
from test_verify import part_of, records, verify, verify_json

PARTS = 3
IDENTITY = {"replication.policy.class":
            "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"}


def no_crash(cp, what):
    assert cp.returncode >= 0, "%s died of signal %d:\n%s" % (what, -cp.returncode,
                                                             cp.stderr.decode()[-4000:])


def test_group_offset_sync(real, ns, tmp_path):
    """A source group's committed offsets appear on the target translated
    exactly (the target partitions held 5 records each before kferry, so
    target offset = source offset + 5), and follow the source; a target
    that is ahead is never moved back."""
    src, tgt = real.src.bootstrap, real.tgt.bootstrap
    topic = cf_create_topic(src, ns.topic("orders"), PARTS)
    ttopic = ns.target_topic("orders")
    cf_create_topic(tgt, ttopic, PARTS)
    cf_produce(tgt, ttopic, [dict(partition=p, value=b"before") for p in range(PARTS)] * 5)
    cf_produce(src, topic, [dict(partition=i % PARTS, key=b"k", value=b"%d" % i)
                            for i in range(600)])
    g = ns.group("synced")
    commit_standalone(src, g, topic, {0: 50, 1: 120, 2: 200})
    kf = KferryProc(ns.config(tmp_path / "mm2.properties"), tmp_path).start()
    try:
        wait_mirrored(kf, src, tgt, topic, ttopic, PARTS, delta=5)
        want = {(ttopic, 0): 55, (ttopic, 1): 125, (ttopic, 2): 205}
        wait_until(lambda: committed(tgt, g, ttopic, PARTS) == want, 60,
                   "translated offsets of %s on the target" % g, interval=0.5)
        for p, off in ((0, 50), (1, 120), (2, 200)):
            r = kf.translate(topic, p, off)
            assert r["target_offset"] == want[(ttopic, p)], r
        cp = run_kferry(kf, "groups", "status", "--group", g, "--json", check=0)
        st = json.loads(cp.stdout)["groups"][0]
        assert st["exact"], st
        assert [r["status"] for r in st["partitions"]] == ["exact", "exact", "end"], st
        assert [(r["source_committed"], r["translated"], r["target_committed"])
                for r in st["partitions"]] == [(50, 55, 55), (120, 125, 125), (200, 205, 205)], st
        # the source group moves on: the target follows
        commit_standalone(src, g, topic, {0: 100, 1: 150, 2: 200})
        want = {(ttopic, 0): 105, (ttopic, 1): 155, (ttopic, 2): 205}
        wait_until(lambda: committed(tgt, g, ttopic, PARTS) == want, 30,
                   "the target to follow %s" % g, interval=0.5)
        # the target is ahead on partition 0: never moved back
        commit_standalone(tgt, g, ttopic, {0: 160})
        commit_standalone(src, g, topic, {0: 120, 1: 180, 2: 200})
        wait_until(lambda: committed(tgt, g, ttopic, PARTS).get((ttopic, 1)) == 185, 30,
                   "partition 1 to follow", interval=0.5)
        wait_until(lambda: "ahead on" in kf.log_text(), 15, "the mirror to say it kept it")
        assert committed(tgt, g, ttopic, PARTS)[(ttopic, 0)] == 160
        assert kf.alive()
    finally:
        kf.stop(expect=0)
    assert check_exact(kf, src, tgt, topic, PARTS, expect_target=ttopic, target_before=5) == 600


def test_cutover_consumers_first_live_producer(real, ns, tmp_path):
    """Consumers first while the producer keeps writing to the source, then
    the producers through the gate: the application's sequence across both
    clusters has no gap and no duplicate; verify passes at the gate and after."""
    src, tgt = real.src.bootstrap, real.tgt.bootstrap
    topic = cf_create_topic(src, ns.topic("orders"), PARTS)
    ttopic = ns.target_topic("orders")
    group = ns.group("app")
    kf = KferryProc(ns.config(tmp_path / "mm2.properties"), tmp_path)
    prod = CfSeqProducer(topic).start(src)
    c1 = CfSeqConsumer(topic, group).start(src)
    kf.start()
    c2 = None
    try:
        wait_until(lambda: c1.count() > 500, 90, "consumption on the source")
        time.sleep(1)
        c1.stop()  # the consumers leave the source; the producer keeps writing there
        cp = run_kferry(kf, "cutover", "--group", group, "--timeout", "120", check=None)
        no_crash(cp, "cutover")
        out = cp.stdout.decode()
        assert cp.returncode == 0, out + cp.stderr.decode()[-4000:]
        assert "cutover of group %s (consumers-first)" % group in out and "done" in out, out
        # the committed offsets on the target are the translations of the source's
        src_c = committed(src, group, topic, PARTS)
        assert len(src_c) == PARTS, src_c
        want = {(ttopic, p): kf.translate(topic, p, o)["target_offset"]
                for (_, p), o in src_c.items()}
        assert committed(tgt, group, ttopic, PARTS) == want
        assert prod.thread.is_alive() and prod.error is None  # the producer never stopped
        c2 = CfSeqConsumer(ttopic, group).start(tgt)
        wait_until(lambda: c2.count() > 200, 90, "consumption on the target")
        prod.stop()
        cp = run_kferry(kf, "cutover", "producers", "--topics", topic, "--quiet-seconds", "2",
                        "--timeout", "120", check=0)
        assert "producers may write to" in cp.stdout.decode()
        run_kferry(kf, "verify", check=0)  # the target is now exactly the source
        prod.topic = ttopic
        prod.start(tgt)
        time.sleep(3)
        prod.stop()
        total = prod.total()
        wait_until(lambda: c1.count() + c2.count() >= total, 90,
                   "the application to consume all %d records" % total)
        time.sleep(1)  # anything re-read would show up now
        c2.stop()
    finally:
        for c in (c1, c2):
            if c and c.thread.is_alive():
                c.stop_flag.set()
        if prod.thread and prod.thread.is_alive():
            prod.stop_flag.set()
        kf.stop(expect=0)
    assert c1.count() > 0 and c2.count() > 0
    assert_exact_sequence(merge(c1, c2), prod)
    run_kferry(kf, "verify", check=0)  # the producers' records are past the mirrored range


def test_cutover_producers_first_with_drain(real, ns, tmp_path):
    src, tgt = real.src.bootstrap, real.tgt.bootstrap
    topic = cf_create_topic(src, ns.topic("orders"), PARTS)
    ttopic = ns.target_topic("orders")
    group = ns.group("app")
    kf = KferryProc(ns.config(tmp_path / "mm2.properties"), tmp_path)
    prod = CfSeqProducer(topic).start(src)
    c1 = CfSeqConsumer(topic, group).start(src)
    kf.start()
    c2 = None
    cut = None
    try:
        wait_until(lambda: c1.count() > 500, 90, "consumption on the source")
        prod.stop()
        on_source = list(prod.next)
        run_kferry(kf, "cutover", "producers", "--topics", topic, "--quiet-seconds", "2",
                   "--timeout", "120", check=0)
        run_kferry(kf, "verify", check=0)
        prod.topic = ttopic
        prod.start(tgt)
        errpath = tmp_path / "cutover.stderr"
        errlog = open(errpath, "wb")
        cut = subprocess.Popen([kferry_binary(), "cutover", "--group", group, "--producers-first",
                                "--quiet-seconds", "2", "--timeout", "120", "--config",
                                kf.config], stdout=subprocess.PIPE, stderr=errlog)
        # the old consumers drain the source, then leave
        wait_until(lambda: all(len(c1.seen[p]) >= on_source[p] for p in range(PARTS)), 90,
                   "the source consumers to drain")
        c1.stop()
        out, _ = cut.communicate(timeout=150)
        errlog.close()
        err = errpath.read_text()
        assert cut.returncode == 0, "cutover exited %d:\n%s\n%s" % (
            cut.returncode, out.decode(), err[-4000:])
        assert "producers-first" in out.decode() and "done" in out.decode()
        for p in range(PARTS):
            assert c1.seen[p] == list(range(on_source[p]))
        # committed at the mirror's end: where the producers' first records are
        assert committed(tgt, group, ttopic, PARTS) == {
            (ttopic, p): kf.translate(topic, p, on_source[p])["target_offset"]
            for p in range(PARTS)}
        c2 = CfSeqConsumer(ttopic, group).start(tgt)
        time.sleep(2)
        prod.stop()
        total = prod.total()
        wait_until(lambda: c1.count() + c2.count() >= total, 90,
                   "the application to consume all %d records" % total)
        time.sleep(1)
        c2.stop()
    finally:
        if cut and cut.poll() is None:
            cut.kill()
        for c in (c1, c2):
            if c and c.thread.is_alive():
                c.stop_flag.set()
        if prod.thread and prod.thread.is_alive():
            prod.stop_flag.set()
        kf.stop(expect=0)
    assert c2.count() > 0, "the target consumers read nothing (nothing produced after the move?)"
    assert_exact_sequence(merge(c1, c2), prod)
    run_kferry(kf, "verify", check=0)


def test_verify_passes_then_catches_a_duplicate(real, ns, tmp_path):
    src, tgt = real.src.bootstrap, real.tgt.bootstrap
    topic = cf_create_topic(src, ns.topic("verify"), PARTS)
    ttopic = ns.target_topic("verify")
    cf_produce(src, topic, records(3000, 1), **{"compression.type": "lz4"})
    kf = KferryProc(ns.config(tmp_path / "mm2.properties"), tmp_path).start()
    try:
        wait_mirrored(kf, src, tgt, topic, ttopic, PARTS)
        wait_until(lambda: kf.status()["total_lag_records"] == 0, 30, "status lag 0")
    finally:
        kf.stop(expect=0)
    counts = end_offsets(src, topic, PARTS)
    assert sum(counts.values()) == 3000
    rc, rep, err = verify_json(kf)
    assert rc == 0, json.dumps(rep, indent=1) + err
    assert rep["ok"] and rep["complete"]
    assert rep["flow"] == "%s->%s" % (ns.src_alias, ns.tgt_alias)
    t = rep["totals"]
    assert t["compared"] == t["matched"] == 3000
    for k in ("mismatched", "missing_on_target", "extra_on_target", "not_yet_mirrored",
              "absent_on_source", "removed_by_source_retention", "gap_records"):
        assert t[k] == 0, (k, t)
    assert t["partitions"] == PARTS
    for p in range(PARTS):
        e = part_of(rep, topic, p)
        assert e["status"] == "ok" and e["target_topic"] == ttopic
        assert e["compared"] == e["matched"] == counts[p]
        assert e["source"]["first_compared"] == 0 and e["target"]["first_compared"] == 0
        assert e["source"]["last_compared"] == e["target"]["last_compared"] == counts[p] - 1
        assert e["source"]["records_read"] == e["target"]["records_read"] == counts[p]
        assert e["source"]["digest"] == e["target"]["digest"] and len(e["source"]["digest"]) == 64
        assert e["problems"] == []
    rc, out, err = verify(kf)
    assert rc == 0 and "RESULT: OK" in out and "%s/1" % topic in out, out + err

    # a duplicate of a mirrored record written straight to the target topic
    off, key, value, headers, ts = cf_all(src, topic, 0)[0]
    assert off == 0
    cf_produce(tgt, ttopic, [dict(partition=0, key=key, value=value, headers=list(headers),
                                  timestamp=ts)])
    rc, rep, err = verify_json(kf)
    assert rc == 1, json.dumps(rep["totals"])
    e = part_of(rep, topic, 0)
    assert e["status"] == "failed" and e["extra_on_target"] == 1
    assert e["compared"] == e["matched"] == counts[0]
    assert e["problems"] == [{"kind": "duplicate_on_target", "source_offset": 0,
                              "target_offset": counts[0], "count": 1}]
    for p in (1, 2):
        assert part_of(rep, topic, p)["status"] == "ok"
    rc, out, _ = verify(kf)
    assert rc == 1 and "RESULT: FAILED" in out
    assert ("EXTRA target %s/0 offset %d: past everything mirrored, a duplicate of source "
            "%s/0 offset 0" % (ttopic, counts[0], topic)) in out, out

    # not failures: a foreign record past everything mirrored (producers
    # writing to the target) and a source record not mirrored yet, which
    # fails only with --require-complete
    cf_produce(src, topic, [dict(partition=1, key=b"late", value=b"source value")])
    cf_produce(tgt, ttopic, [dict(partition=2, key=b"x", value=b"foreign")])
    rc, rep, _ = verify_json(kf, "--topic", topic)
    e2 = part_of(rep, topic, 2)
    # a foreign record past everything mirrored is the producers' (not a failure)
    assert e2["status"] == "ok" and e2["written_on_target"] == 1, e2
    assert part_of(rep, topic, 1)["not_yet_mirrored"] == 1
    rc, rep, _ = verify_json(kf, "--require-complete")
    assert rc == 1 and part_of(rep, topic, 1)["status"] == "incomplete"


def test_plan_real_pair(real, ns, tmp_path):
    src, tgt = real.src.bootstrap, real.tgt.bootstrap
    orders = cf_create_topic(src, ns.topic("orders"), 3, config={"retention.ms": "987654321"})
    single = cf_create_topic(src, ns.topic("single"), 1)
    internal = cf_create_topic(src, ns.topic("x.internal"), 1)
    cf_produce(src, orders, [dict(partition=i % 3, key=b"k%d" % i, value=b"v%d" % i)
                             for i in range(30)])
    cf_produce(src, single, [dict(partition=0, key=b"k%d" % i, value=b"v%d" % i)
                             for i in range(7)])
    group = ns.group("app")
    commit_standalone(src, group, orders, {0: 4, 1: 10})
    commit_standalone(src, group, single, {0: 2})
    cfg = ns.config(tmp_path / "mm2.properties")

    doc = plan_json(cfg, expect_rc=0)
    assert doc["kferry_plan"] == 1
    assert doc["summary"]["blockers"] == 0 and doc["summary"]["exit_code"] == 0, [
        c for c in doc["checks"] if c["status"] == "blocker"]
    assert doc["clusters"]["source"]["reachable"] and doc["clusters"]["target"]["reachable"]
    assert doc["clusters"]["source"]["broker_count"] == 1
    assert doc["clusters"]["target"]["broker_count"] == 3
    topics = {t["source"]: t for t in doc["topics"]}
    assert topics[orders]["partitions"] == 3 and topics[single]["partitions"] == 1
    for name in (orders, single):
        assert topics[name]["selected"] and topics[name]["action"] == "create"
        assert topics[name]["target"] == "%s.%s" % (ns.src_alias, name)
    assert topics[orders]["configs_copied"] == {"retention.ms": "987654321"}
    assert not topics[internal]["selected"] and topics[internal]["action"] == "excluded"
    assert "topics.exclude" in topics[internal]["excluded_reason"]
    inv = {t["name"]: t for t in doc["clusters"]["source"]["topics"]}
    assert inv[orders]["partitions"] == 3 and inv[orders]["replication_factor"] == 1

    groups = {g["group"]: g for g in doc["groups"]}
    g = groups[group]
    assert g["selected"] and g["state"] == "Empty" and g["member_count"] == 0, g
    offs = {(o["topic"], o["partition"]): o for o in g["offsets"]}
    assert offs[(orders, 0)]["committed"] == 4 and offs[(orders, 0)]["end_offset"] == 10
    assert offs[(orders, 0)]["lag"] == 6 and offs[(orders, 1)]["lag"] == 0
    assert offs[(single, 0)]["committed"] == 2 and offs[(single, 0)]["lag"] == 5
    assert (orders, 2) not in offs
    assert g["lag"] == 11
    assert g["target"] == {"exists": False, "state": None, "member_count": 0}
    # replication.factor 2 (kferry's default) <= 3 target brokers
    assert [c["status"] for c in checks(doc, "replication_factor")] == ["ok"]
    assert all(c["status"] == "ok" for c in checks(doc, "api_versions"))
    assert checks(doc, "create_validation", "ok")
    assert checks(doc, "acls") and not checks(doc, "acls", "blocker")

    cp, _ = run_plan(cfg)
    out = cp.stdout.decode()
    assert cp.returncode == 0, out + cp.stderr.decode()
    for section in ("CLUSTERS", "TOPICS", "CONSUMER GROUPS", "ACLS", "PREFLIGHT"):
        assert section in out
    assert "ready to mirror" in out and orders in out and group in out

    # a blocker: the same flow with an unreachable target
    bad = tmp_path / "unreachable.properties"
    closed = "127.0.0.1:%d" % free_closed_port()
    bad.write_text(open(cfg).read().replace(tgt, closed))
    cp, elapsed = run_plan(bad, "--json", "--timeout", "3")
    assert cp.returncode == 1, cp.stdout.decode() + cp.stderr.decode()
    assert elapsed < 20, "plan took %.1fs with --timeout 3" % elapsed
    doc = json.loads(cp.stdout)
    c = checks(doc, "connectivity", "blocker")
    assert len(c) == 1 and c[0]["cluster"] == ns.tgt_alias, c
    assert ns.tgt_alias in c[0]["message"] and closed in c[0]["message"]
    assert doc["clusters"]["target"]["reachable"] is False
    assert doc["clusters"]["source"]["reachable"] is True
    cp, _ = run_plan(bad, "--timeout", "3")
    assert cp.returncode == 1
    assert "cannot connect to target cluster %s at %s" % (ns.tgt_alias, closed) in \
        cp.stdout.decode()
    # and a partition mismatch on the real target
    cf_create_topic(tgt, ns.target_topic("single"), 2)
    doc = plan_json(cfg, expect_rc=1)
    c = checks(doc, "partition_mismatch", "blocker", ns.target_topic("single"))
    assert len(c) == 1 and "2 partition" in c[0]["message"] and "has 1" in c[0]["message"], c


def test_plan_estimate_real(real, ns, tmp_path):
    """The migration estimate on real Kafka: exact records and key+value
    bytes per topic, producers' rate 0 for records stamped five minutes
    ago, and at 5 kB/s the topic keeping 10 minutes is at risk (a blocker),
    the one keeping 30 minutes tight (see tests/integration/test_plan_estimate.py)."""
    src = real.src.bootstrap
    short = cf_create_topic(src, ns.topic("short"), 2, config={"retention.ms": "600000"})
    mid = cf_create_topic(src, ns.topic("mid"), 1, config={"retention.ms": "1800000"})
    safe = cf_create_topic(src, ns.topic("safe"), 3, config={"retention.ms": "604800000"})
    old = int(time.time() * 1000) - 300000
    for t, n, parts in ((short, 2000, 2), (mid, 1000, 1), (safe, 2000, 3)):
        cf_produce(src, t, [dict(partition=i % parts, key=b"k%05d" % i, value=b"v" * 1000,
                                 timestamp=old) for i in range(n)])
    cfg = ns.config(tmp_path / "mm2.properties")
    doc = plan_json(cfg, "--rate", "5kB/s", expect_rc=1)
    est = {e["topic"]: e for e in doc["estimate"]["topics"]}
    for t, n, risk in ((short, 2000, "at_risk"), (mid, 1000, "tight"), (safe, 2000, "none")):
        e = est[t]
        assert e["records"] == n and e["bytes_approx"] == n * 1006, e
        assert e["incoming_bytes_per_s"] == 0 and e["retention_risk"] == risk, e
    assert est[short]["retention_s"] == 600 and est[mid]["retention_s"] == 1800
    assert doc["estimate"]["total"]["catch_up_s"] == 1006, doc["estimate"]["total"]
    assert [c["object"] for c in checks(doc, "retention_risk", "blocker")] == [short]
    # measured on the real source
    doc = plan_json(cfg, "--measure-seconds", "2", expect_rc=0)
    assert doc["estimate"]["rate_source"] == "measured", doc["estimate"]
    assert doc["estimate"]["rate_bytes_per_s"] > 5000


def test_plan_reaches_every_real_broker(real, ns, tmp_path):
    """Per-broker reachability on the real pair: the target's three
    brokers share one host on different ports and must be three separate
    ok entries with a connect time, and so must the source broker; with
    the secure listeners (source SASL_SSL + SCRAM, target mutual TLS) each
    broker also completes its own TLS handshake and login."""
    cf_create_topic(real.src.bootstrap, ns.topic("reach"), 1)
    for secure, sport, tport in ((False, "port", "port"), (True, "secure_port", "secure_port")):
        cfg = ns.config(tmp_path / ("mm2-%d.properties" % secure), secure=secure)
        cp, _ = run_plan(cfg, "--json", "--timeout", "10")
        no_crash(cp, "kferry plan")
        doc = json.loads(cp.stdout)
        assert not checks(doc, "broker_reachability", "blocker"), doc["checks"]
        src = doc["clusters"]["source"]["broker_reachability"]
        tgt = doc["clusters"]["target"]["broker_reachability"]
        assert [(e["id"], e["host"], e["port"]) for e in src] == [
            (b.node_id, "127.0.0.1", getattr(b, sport)) for b in real.src.brokers], src
        assert sorted((e["id"], e["host"], e["port"]) for e in tgt) == sorted(
            (b.node_id, "127.0.0.1", getattr(b, tport)) for b in real.tgt.brokers), tgt
        assert len({e["port"] for e in tgt}) == 3
        for e in src + tgt:
            assert e["status"] == "ok" and e["failed_step"] is None, e
            assert e["connect"]["ok"] and isinstance(e["connect"]["ms"], float), e
        if secure:
            for e in src:
                assert e["tls"] == {"ok": True}, e
                assert e["authentication"] == {"ok": True, "mechanism": "SCRAM-SHA-512"}, e
            for e in tgt:
                assert e["tls"] == {"ok": True} and e["authentication"] is None, e
                assert isinstance(e["handshake_ms"], float), e
        ok = checks(doc, "broker_reachability", "ok")
        assert len(ok) == 4, ok
        assert sorted(c["object"] for c in ok if c["cluster"] == ns.tgt_alias) == sorted(
            str(b.node_id) for b in real.tgt.brokers), ok


RB_PARTS = 2
OLD = 10


def test_rollback_no_gap_no_duplicate_no_ping_pong(real, ns, tmp_path):
    """test_rollback.run_rollback on the real pair (identity policy, the
    source log starting at 10): forward, consumers then producers moved,
    mirror back, the group and producers moved back; every record consumed
    exactly once, nothing kferry wrote copied back, and both flows restarted
    afterwards copy nothing back."""
    import test_rollback
    assert test_rollback.PARTS == RB_PARTS
    onprem, cloud = real.src.bootstrap, real.tgt.bootstrap
    topic = cf_create_topic(onprem, ns.topic("orders"), RB_PARTS)
    app = CfApp(topic, ns.group("app"))
    port = int(onprem.rsplit(":", 1)[1])
    for p in range(RB_PARTS):
        cf_produce(onprem, topic, [dict(partition=p, value=b"old")] * OLD)
        with kw.RawConn("127.0.0.1", port) as c:
            assert kw.delete_records(c, topic, {p: OLD}, version=1) == {p: (OLD, 0)}
    (tmp_path / "fwd").mkdir()
    (tmp_path / "rev").mkdir()
    fwd = KferryProc(ns.config(tmp_path / "fwd.properties", extra=IDENTITY), tmp_path / "fwd")
    rev = KferryProc(ns.config(tmp_path / "rev.properties", extra=IDENTITY, reverse=True),
                     tmp_path / "rev")
    A, B = ns.src_alias, ns.tgt_alias

    def drained(src_bs, tgt_bs, delta):
        want = end_offsets(src_bs, topic, RB_PARTS)
        wait_until(lambda: topic_exists(tgt_bs, topic) and all(
            end_offsets(tgt_bs, topic, RB_PARTS)[p] == want[p] + delta
            for p in range(RB_PARTS)), 90, "mirror drained (%r)" % want)

    def move_group(kf, from_bs, to_bs):
        cp = kf.cmd("cutover", "--group", app.group, "--timeout", "90", check=False,
                    timeout=120)
        no_crash(cp, "cutover")
        assert cp.returncode == 0, "cutover: %s\n%s" % (cp.stdout.decode(),
                                                         cp.stderr.decode()[-3000:])
        want = {}
        for (_, p), off in committed(from_bs, app.group, topic, RB_PARTS).items():
            r = kf.translate(topic, p, off)
            assert r["status"] in ("exact", "end", "skipped"), r
            want[(topic, p)] = r["target_offset"]
        assert len(want) == RB_PARTS
        assert committed(to_bs, app.group, topic, RB_PARTS) == want

    def gate(kf):
        cp = kf.cmd("cutover", "producers", "--topics", topic, "--quiet-seconds", "1",
                    "--timeout", "90", check=False, timeout=120)
        assert cp.returncode == 0, "cutover producers: %s\n%s" % (
            cp.stdout.decode(), cp.stderr.decode()[-3000:])

    try:
        # 1. forward mirror; the application runs on onprem
        app.produce(onprem, 300)
        fwd.start()
        # 200 of the 300 (150 per partition): both partitions have a committed
        # offset to move (with 100, one fetch of a single partition can be all)
        app.consume(onprem, 200)
        drained(onprem, cloud, -OLD)
        # 2. consumers first
        move_group(fwd, onprem, cloud)
        app.produce(onprem, 100)
        app.consume(cloud, 350)
        # 3. producers move to cloud once onprem is fully mirrored
        gate(fwd)
        drained(onprem, cloud, -OLD)
        app.produce(cloud, 200)
        app.consume(cloud, 500)
        fwd.stop()
        onprem_before = {p: values(onprem, topic, p) for p in range(RB_PARTS)}
        cloud_only = {p: [s for s in range(400, 600) if s % RB_PARTS == p]
                      for p in range(RB_PARTS)}
        # 4. mirror back: only cloud's own records come back
        rev.start()
        wait_until(lambda: all(end_offsets(onprem, topic, RB_PARTS)[p] ==
                               OLD + len(onprem_before[p]) + len(cloud_only[p])
                               for p in range(RB_PARTS)), 90, "cloud's records mirrored back")
        for p in range(RB_PARTS):
            assert values(onprem, topic, p) == onprem_before[p] + cloud_only[p], p
        assert "loop prevention" in rev.log_text()
        base = OLD + len(onprem_before[0])
        n_fwd = len(onprem_before[0])
        wait_until(lambda: rev.translate(topic, 0, n_fwd)["status"] == "exact", 30,
                   "the reverse map persisted")
        d = test_rollback.dump(rev, topic)[0]
        assert d["baseline"] == base, d
        assert d["skips"] == [[0, n_fwd, OLD]], d
        assert d["runs"] == [[n_fwd, base, len(cloud_only[0])]], d
        r = rev.translate(topic, 0, 5)
        assert (r["status"], r["target_offset"]) == ("skipped", OLD + 5), r
        r = rev.translate(topic, 0, n_fwd + len(cloud_only[0]))
        assert (r["status"], r["target_offset"]) == ("end", base + len(cloud_only[0])), r
        # 5. the group moves back, then the producers
        move_group(rev, cloud, onprem)
        app.consume(onprem, 600)
        gate(rev)
        app.produce(onprem, 100)
        app.consume(onprem, 700)
        app.check_exactly_once()
        rev.stop()
        cp = rev.cmd("verify", check=False, timeout=120)
        assert cp.returncode == 0, cp.stdout.decode()[-3000:] + cp.stderr.decode()[-2000:]

        # no ping-pong: both flows restarted copy nothing back
        cloud_before = {p: values(cloud, topic, p) for p in range(RB_PARTS)}
        onprem_now = {p: values(onprem, topic, p) for p in range(RB_PARTS)}
        fwd.start()
        new_onprem = {p: [s for s in range(600, 700) if s % RB_PARTS == p]
                      for p in range(RB_PARTS)}
        wait_until(lambda: all(end_offsets(cloud, topic, RB_PARTS)[p] ==
                               len(cloud_before[p]) + len(new_onprem[p])
                               for p in range(RB_PARTS)), 90, "onprem's new records forward")
        wait_until(lambda: all(r["lag_records"] == 0 for r in fwd.status()["partitions"]), 30,
                   "forward flow caught up")
        fwd.stop()
        for p in range(RB_PARTS):
            assert values(cloud, topic, p) == cloud_before[p] + new_onprem[p], p
        rev.start()
        wait_until(lambda: "mirroring %s->%s" % (B, A) in rev.log_text(last_only=True), 60,
                   "reverse flow started")
        wait_until(lambda: all(r["lag_records"] == 0 for r in rev.status()["partitions"]), 30,
                   "reverse flow caught up")
        rev.stop()
        for p in range(RB_PARTS):
            assert values(onprem, topic, p) == onprem_now[p], p
    finally:
        for kf in (fwd, rev):
            if kf.alive():
                kf.stop(expect=0)


def test_cutover_of_a_group_with_nothing_committed(real, ns, tmp_path):
    """Exit 1 with a clear message, no crash: a group that never existed,
    and one whose member joined and left without committing."""
    src = real.src.bootstrap
    topic = cf_create_topic(src, ns.topic("orders"), PARTS)
    cf_produce(src, topic, [dict(partition=i % PARTS, value=b"%d" % i) for i in range(30)])
    kf = KferryProc(ns.config(tmp_path / "mm2.properties"), tmp_path)
    idle = ns.group("idle")
    c = ck.Consumer(cf_conf(src, **{"group.id": idle, "enable.auto.commit": False,
                                    "session.timeout.ms": 6000}))
    c.subscribe([topic])
    wait_until(lambda: c.poll(0.2) is None and c.assignment(), 60, "the idle member to join")
    c.close()
    for g in (ns.group("never"), idle):
        t0 = time.monotonic()
        cp = run_kferry(kf, "cutover", "--group", g, "--timeout", "60", timeout=120)
        no_crash(cp, "cutover --group %s" % g)
        out = cp.stdout.decode()
        assert cp.returncode == 1, "exit %d\n%s\n%s" % (cp.returncode, out,
                                                        cp.stderr.decode()[-3000:])
        assert "no committed offsets" in out and g in out, out
        assert time.monotonic() - t0 < 60, "took the whole timeout"
    cp = run_kferry(kf, "cutover", "--group", ns.group("never"), "--json", timeout=120)
    no_crash(cp, "cutover --json")
    assert cp.returncode == 1
    r = json.loads(cp.stdout.decode().splitlines()[0])
    assert r["result"] == "failed" and "no committed offsets" in r["reason"], r


class Ledger:
    """The demo's application (demo_app.c), in Python on confluent-kafka: a
    producer writing sequence numbers (value b"<seq>", partition seq % 3)
    whose ledger counts a record only once acknowledged, and a consumer
    group counting how often each sequence number was consumed."""

    def __init__(self, topic, group):
        self.topic, self.group = topic, group
        self.lock = threading.Lock()
        self.acked, self.failed, self.seen = set(), [], {}
        self.next_seq = 0

    def start_producer(self, bootstrap, topic, rate=300):
        self.pstop = threading.Event()

        def run():
            p = ck.Producer(cf_conf(bootstrap, **{"enable.idempotence": True, "acks": "all",
                                                  "linger.ms": 5}))

            def cb(err, msg):
                with self.lock:
                    (self.failed.append(err) if err else
                     self.acked.add(int(msg.value())))

            while not self.pstop.is_set():
                for _ in range(10):
                    s = self.next_seq
                    self.next_seq += 1
                    p.produce(topic, value=b"%d" % s, partition=s % PARTS, on_delivery=cb)
                p.poll(0)
                time.sleep(10.0 / rate)
            if p.flush(30) != 0:
                self.failed.append("not flushed")

        self.pth = threading.Thread(target=run, daemon=True)
        self.pth.start()

    def stop_producer(self):
        self.pstop.set()
        self.pth.join(60)
        assert not self.pth.is_alive()

    def start_consumer(self, bootstrap, topic):
        self.cstop = threading.Event()
        self.cerr = None

        def run():
            try:
                c = ck.Consumer(cf_conf(bootstrap, **{
                    "group.id": self.group, "enable.auto.commit": False,
                    "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                    "heartbeat.interval.ms": 500, "fetch.wait.max.ms": 100}))
                c.subscribe([topic])
                while not self.cstop.is_set():
                    msgs = [m for m in c.consume(200, 0.2) if m.error() is None]
                    with self.lock:
                        for m in msgs:
                            s = int(m.value())
                            self.seen[s] = self.seen.get(s, 0) + 1
                    if msgs:
                        c.commit(asynchronous=False)
                c.close()
            except Exception as e:  # noqa: BLE001 - reported by stop_consumer()
                self.cerr = e

        self.cth = threading.Thread(target=run, daemon=True)
        self.cth.start()

    def stop_consumer(self):
        self.cstop.set()
        self.cth.join(60)
        assert not self.cth.is_alive() and self.cerr is None, self.cerr

    def consumed(self):
        with self.lock:
            return sum(self.seen.values())

    def check(self):
        with self.lock:
            missing = sorted(self.acked - set(self.seen))
            twice = sorted(s for s, n in self.seen.items() if n > 1)
            unacked = sorted(set(self.seen) - self.acked)
        assert not self.failed, "produce failed: %r" % self.failed[:5]
        assert not missing, "missing: %d, e.g. %r" % (len(missing), missing[:10])
        assert not twice, "consumed twice: %d, e.g. %r" % (len(twice), twice[:10])
        assert not unacked, "consumed but never acknowledged: %r" % unacked[:10]
        return len(self.acked)


def test_demo_application_check(real, ns, tmp_path):
    """kferry demo's steps (src/migrate/demo.c) on the real pair; the demo
    itself starts its own kferry-broker clusters and cannot be pointed at
    others.  plan -> mirror -> cutover of consumers -> producer gate -> stop
    the mirror -> producers on the target -> verify; the application's
    ledger: every acknowledged record consumed exactly once."""
    src, tgt = real.src.bootstrap, real.tgt.bootstrap
    topic = cf_create_topic(src, ns.topic("orders"), PARTS)
    group = ns.group("ledger")
    app = Ledger(topic, group)
    cfg = ns.config(tmp_path / "mm2.properties", extra=IDENTITY)
    kf = KferryProc(cfg, tmp_path)
    app.start_producer(src, topic)
    app.start_consumer(src, topic)
    try:
        wait_until(lambda: app.consumed() > 300, 60, "the application running on the source")
        cp, _ = run_plan(cfg)  # [3/7]
        assert cp.returncode == 0, cp.stdout.decode()[-4000:]
        kf.start()  # [4/7]
        wait_until(lambda: topic_exists(tgt, topic) and kf.status()["total_lag_records"] < 300,
                   90, "the mirror to catch up")
        app.stop_consumer()  # [5/7]
        cp = run_kferry(kf, "cutover", "--group", group, "--timeout", "120")
        no_crash(cp, "cutover")
        assert cp.returncode == 0, cp.stdout.decode() + cp.stderr.decode()[-3000:]
        app.start_consumer(tgt, topic)
        app.stop_producer()  # [6/7]
        run_kferry(kf, "cutover", "producers", "--quiet-seconds", "2", "--timeout", "120",
                   check=0)
        kf.stop(expect=0)
        app.start_producer(tgt, topic)
        time.sleep(3)
        app.stop_producer()
        total = len(app.acked)
        wait_until(lambda: app.consumed() >= total, 60, "all %d records consumed" % total)
        time.sleep(1)
        app.stop_consumer()
    finally:
        if kf.alive():
            kf.stop(expect=0)
        for ev in ("pstop", "cstop"):
            if hasattr(app, ev):
                getattr(app, ev).set()
    rc, out, err = verify(kf)  # [7/7]
    assert rc == 0 and "RESULT: OK" in out, out[-4000:] + err[-2000:]
    assert app.check() > 0


def test_static_membership_real(real, ns):
    """The static-membership checks kferry-broker passes
    (tests/integration/test_static_membership.py), against real Kafka: a
    restarted static member gets its partitions back without a rebalance,
    and a duplicate instance id fences the older consumer."""
    from test_static_membership import PARTS, static_membership_checks
    topic = cf_create_topic(real.src.bootstrap, ns.topic("static"), PARTS)
    static_membership_checks(real.src.bootstrap, topic)
