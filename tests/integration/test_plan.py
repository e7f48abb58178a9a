"""`kferry plan` (issue 4, item 1): inventory and preflight checks.

Two kferry-broker processes.  A matching pair plans clean (exit 0) and the
JSON lists every topic and the committed offsets and lag of a group that
kafka-python committed on the source.  A deliberately mismatched pair gets
each planted problem reported as a blocker naming the object (exit 1).  An
unreachable target is named with its alias and address within the timeout.
"""

import json
import socket
import subprocess
import time

from kf_util import cf_create_topic, cf_produce, kp_consumer, unique
from test_mirror_util import kferry_binary, write_config


def run_plan(cfg, *extra, timeout=60):
    t0 = time.monotonic()
    cp = subprocess.run([kferry_binary(), "plan", "--config", str(cfg)] + list(extra),
                        capture_output=True, timeout=timeout)
    return cp, time.monotonic() - t0


def plan_json(cfg, *extra, expect_rc):
    cp, _ = run_plan(cfg, "--json", *extra)
    assert cp.returncode == expect_rc, "kferry plan exited %d (expected %d)\n%s\n%s" % (
        cp.returncode, expect_rc, cp.stdout.decode()[-6000:], cp.stderr.decode()[-3000:])
    return json.loads(cp.stdout)


def checks(doc, check=None, status=None, obj=None):
    return [c for c in doc["checks"]
            if (check is None or c["check"] == check) and (status is None or c["status"] == status)
            and (obj is None or c["object"] == obj)]


def commit(bootstrap, group, offsets):
    """Commits {(topic, partition): offset} for group, as a consumer would."""
    from kafka import TopicPartition
    from kafka.structs import OffsetAndMetadata
    c = kp_consumer(bootstrap, group_id=group)
    try:
        c.commit({TopicPartition(t, p): OffsetAndMetadata(o, None)
                  for (t, p), o in offsets.items()})
    finally:
        c.close()


def records(n, parts):
    return [dict(partition=i % parts, key=b"k%d" % i, value=b"v%d" % i) for i in range(n)]


def test_plan_matching_pair(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory()
    orders = cf_create_topic(src.bootstrap, unique("orders"), 3,
                             config={"retention.ms": "987654321"})
    single = cf_create_topic(src.bootstrap, unique("single"), 1)
    internal = cf_create_topic(src.bootstrap, unique("x") + ".internal", 1)
    cf_produce(src.bootstrap, orders, records(30, 3))  # 10 per partition
    cf_produce(src.bootstrap, single, records(7, 1))
    group = unique("app")
    commit(src.bootstrap, group, {(orders, 0): 4, (orders, 1): 10, (single, 0): 2})
    cfg = write_config(tmp_path / "mm2.properties", src, tgt)

    doc = plan_json(cfg, expect_rc=0)
    assert doc["kferry_plan"] == 1
    assert doc["summary"]["blockers"] == 0 and doc["summary"]["exit_code"] == 0
    assert doc["clusters"]["source"]["reachable"] and doc["clusters"]["target"]["reachable"]
    assert doc["clusters"]["target"]["broker_count"] == 1

    topics = {t["source"]: t for t in doc["topics"]}
    assert topics[orders]["partitions"] == 3 and topics[single]["partitions"] == 1
    for name in (orders, single):
        assert topics[name]["selected"] and topics[name]["action"] == "create"
        assert topics[name]["target"] == "src." + name
    assert topics[orders]["configs_copied"] == {"retention.ms": "987654321"}
    assert not topics[internal]["selected"] and topics[internal]["action"] == "excluded"
    assert "topics.exclude" in topics[internal]["excluded_reason"]
    inv = {t["name"]: t for t in doc["clusters"]["source"]["topics"]}
    assert inv[orders]["partitions"] == 3 and inv[orders]["replication_factor"] == 1

    groups = {g["group"]: g for g in doc["groups"]}
    g = groups[group]
    assert g["selected"] and g["state"] == "Empty" and g["member_count"] == 0
    offs = {(o["topic"], o["partition"]): o for o in g["offsets"]}
    assert offs[(orders, 0)]["committed"] == 4 and offs[(orders, 0)]["end_offset"] == 10
    assert offs[(orders, 0)]["lag"] == 6
    assert offs[(orders, 1)]["lag"] == 0
    assert offs[(single, 0)]["committed"] == 2 and offs[(single, 0)]["lag"] == 5
    assert (orders, 2) not in offs  # nothing committed there
    assert g["lag"] == 11
    assert g["target"] == {"exists": False, "state": None, "member_count": 0}

    # default replication.factor 2 on a 1-broker target: the mirror caps it
    rf = checks(doc, "replication_factor")
    assert [c["status"] for c in rf] == ["warning"], rf
    # no authorizer on these brokers: no ACLs (librdkafka reads SECURITY_DISABLED as none)
    acl = checks(doc, "acls")
    assert len(acl) == 2 and all(c["status"] == "ok" and "has 0 ACL binding(s)" in c["message"]
                                 for c in acl), acl
    assert all(c["status"] == "ok" for c in checks(doc, "api_versions"))
    assert checks(doc, "create_validation", "ok")

    # the human report: same verdict, every section
    cp, _ = run_plan(cfg)
    out = cp.stdout.decode()
    assert cp.returncode == 0, out + cp.stderr.decode()
    for section in ("CLUSTERS", "TOPICS", "CONSUMER GROUPS", "ACLS", "PREFLIGHT"):
        assert section in out
    assert "has 0 ACL binding(s)" in out
    assert "ready to mirror" in out and orders in out and group in out


def test_plan_mismatched_pair(broker_factory, tmp_path):
    src = broker_factory()
    tgt = broker_factory(overrides={"message.max.bytes": "100000"})
    coll = cf_create_topic(src.bootstrap, unique("coll"), 3)
    cf_create_topic(tgt.bootstrap, "src." + coll, 2)           # (a) partition count differs
    big = cf_create_topic(src.bootstrap, unique("big"), 1)    # (c) 1048588 > 100000
    same = cf_create_topic(src.bootstrap, unique("same"), 2, config={"max.message.bytes": "90000"})
    cf_create_topic(tgt.bootstrap, "src." + same, 2)
    cf_produce(tgt.bootstrap, "src." + same, records(4, 2))   # foreign data on the target
    dotted = cf_create_topic(src.bootstrap, unique("a") + ".b", 1)
    cf_create_topic(tgt.bootstrap, ("src." + dotted).replace(".", "_"), 1)  # '.' vs '_'
    cfg = write_config(tmp_path / "mm2.properties", src, tgt,
                       extra={"replication.factor": "3"})       # (b) 3 > 1 broker

    doc = plan_json(cfg, expect_rc=1)
    assert doc["summary"]["blockers"] >= 4 and doc["summary"]["exit_code"] == 1

    c = checks(doc, "partition_mismatch", "blocker", "src." + coll)
    assert len(c) == 1 and "2 partition" in c[0]["message"] and "has 3" in c[0]["message"]
    topics = {t["source"]: t for t in doc["topics"]}
    assert topics[coll]["action"] == "conflict" and topics[coll]["target_partitions"] == 2

    c = checks(doc, "replication_factor", "blocker")
    assert len(c) == 1 and c[0]["cluster"] == "dst"
    assert "replication.factor 3" in c[0]["message"] and "1 broker" in c[0]["message"]

    c = checks(doc, "message_size", "blocker", "src." + big)
    assert len(c) == 1, doc["checks"]
    assert "1048588" in c[0]["message"] and "message.max.bytes is 100000" in c[0]["message"]
    assert topics[big]["target_max_message_bytes"] == 100000

    # same partitions, limit copied and within the target's: only the data warns
    assert not checks(doc, "message_size", "blocker", "src." + same)
    assert topics[same]["action"] == "exists" and topics[same]["target_records"] == 4
    c = checks(doc, "target_not_empty", "warning", "src." + same)
    assert len(c) == 1 and "not created by kferry" in c[0]["message"]
    # an existing target topic's configs are brought in line by the mirror
    c = checks(doc, "config_change", "warning", "src." + same)
    assert len(c) == 1 and "max.message.bytes" in c[0]["message"]

    c = checks(doc, "name_collision", "blocker", "src." + dotted)
    assert len(c) == 1 and "collide" in c[0]["message"]

    cp, _ = run_plan(cfg)
    assert cp.returncode == 1
    assert "NOT READY" in cp.stdout.decode() and "BLOCKER" in cp.stdout.decode()


def test_plan_reports_what_the_target_refuses_to_create(broker_factory, tmp_path):
    """The CreateTopics validate_only preflight carries the broker's own
    message.  Both test clusters run the same broker, so no topic config
    accepted by the source is refused by the target; a replication policy
    separator that makes illegal topic names is refused the same way."""
    src, tgt = broker_factory(), broker_factory()
    t = cf_create_topic(src.bootstrap, unique("t"), 2)
    cfg = write_config(tmp_path / "mm2.properties", src, tgt,
                       extra={"replication.factor": "1", "replication.policy.separator": "+"})
    doc = plan_json(cfg, expect_rc=1)
    c = checks(doc, "create_rejected", "blocker", "src+" + t)
    assert len(c) == 1, doc["checks"]
    assert "illegal" in c[0]["message"] and "dst" in c[0]["message"]
    entry = [e for e in doc["topics"] if e["source"] == t][0]
    assert "illegal" in entry["create_error"]


def free_closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_plan_unreachable_target(broker_factory, tmp_path):
    src = broker_factory()
    port = free_closed_port()

    class Closed:
        bootstrap = "127.0.0.1:%d" % port

    cfg = write_config(tmp_path / "mm2.properties", src, Closed)
    cp, elapsed = run_plan(cfg, "--json", "--timeout", "3")
    assert cp.returncode == 1, cp.stdout.decode() + cp.stderr.decode()
    assert elapsed < 15, "plan took %.1fs with --timeout 3" % elapsed
    doc = json.loads(cp.stdout)
    c = checks(doc, "connectivity", "blocker")
    assert len(c) == 1 and c[0]["cluster"] == "dst"
    assert "dst" in c[0]["message"] and Closed.bootstrap in c[0]["message"]
    assert "refused" in c[0]["message"].lower()
    assert doc["clusters"]["target"]["reachable"] is False
    assert doc["clusters"]["source"]["reachable"] is True

    cp, elapsed = run_plan(cfg, "--timeout", "3")
    out = cp.stdout.decode()
    assert cp.returncode == 1 and elapsed < 15
    assert "cannot connect to target cluster dst at %s" % Closed.bootstrap in out


def test_plan_silent_target_is_bounded_by_the_timeout(broker_factory, tmp_path):
    """A listener that accepts but never answers (a black-holed port) must
    not hang the plan."""
    src = broker_factory()
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(16)
    try:
        class Silent:
            bootstrap = "127.0.0.1:%d" % hole.getsockname()[1]

        cfg = write_config(tmp_path / "mm2.properties", src, Silent)
        cp, elapsed = run_plan(cfg, "--json", "--timeout", "2")
        assert cp.returncode == 1 and elapsed < 12, (elapsed, cp.stderr.decode())
        c = checks(json.loads(cp.stdout), "connectivity", "blocker")
        assert len(c) == 1 and Silent.bootstrap in c[0]["message"] and "dst" in c[0]["message"]
    finally:
        hole.close()


def test_plan_same_cluster_twice(broker_factory, tmp_path):
    src = broker_factory()
    cfg = write_config(tmp_path / "mm2.properties", src, src,
                       extra={"replication.factor": "1"})
    doc = plan_json(cfg, expect_rc=1)
    c = checks(doc, "same_cluster", "blocker")
    assert len(c) == 1 and "same cluster" in c[0]["message"]


def test_plan_usage_and_config_errors(tmp_path):
    cp, _ = run_plan(tmp_path / "missing.properties")
    assert cp.returncode == 2
    cp = subprocess.run([kferry_binary(), "plan"], capture_output=True, timeout=30)
    assert cp.returncode == 2 and b"--config" in cp.stderr
    bad = tmp_path / "bad.properties"
    bad.write_text("clusters = a, b\na.bootstrap.servers = x:1\n")  # no flow enabled
    cp, _ = run_plan(bad)
    assert cp.returncode == 2
    cp = subprocess.run([kferry_binary(), "plan", "--help"], capture_output=True, timeout=30)
    assert cp.returncode == 0 and b"Exit status" in cp.stdout


def test_plan_after_mirroring_recognizes_kferry_topics(broker_factory, tmp_path):
    """Target topics the mirror created and filled are 'exists', covered by
    the offset map: no 'not created by kferry' warning on a re-plan."""
    from test_mirror_util import KferryProc, wait_mirrored
    src, tgt = broker_factory(), broker_factory()
    t = cf_create_topic(src.bootstrap, unique("m"), 2)
    cf_produce(src.bootstrap, t, records(20, 2))
    cfg = write_config(tmp_path / "mm2.properties", src, tgt, extra={"replication.factor": "1"})
    kf = KferryProc(cfg, tmp_path).start()
    try:
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, t, "src." + t, 2)
    finally:
        kf.stop(expect=0)
    doc = plan_json(cfg, expect_rc=0)
    entry = [e for e in doc["topics"] if e["source"] == t][0]
    assert entry["action"] == "exists" and entry["mirrored_by_kferry"] is True
    assert entry["target_records"] == 20
    assert not checks(doc, "target_not_empty")
    # kferry's own offset-map topic on the target is not a source topic
    assert all(not e["source"].startswith("__kferry") for e in doc["topics"])
