"""kferry plan's migration estimate: bytes and records to copy per topic and
in total, the catch-up time at a given or measured rate, and the topics
whose retention would delete records before the mirror reaches them.

The planted source: three topics whose records carry timestamps five
minutes old (older than the estimate's one-minute incoming window, so the
producers' rate is 0 and the arithmetic is exact), 1006 key+value bytes
each.  At --rate 5kB/s the 5 MB backlog takes 1006 s: the topic keeping
10 minutes is at risk, the one keeping 30 minutes is tight, the default
week is safe."""
import time

from kf_util import cf_create_topic, cf_produce, unique
from test_mirror_util import KferryProc, wait_mirrored, write_config
from test_plan import checks, plan_json, run_plan

VALUE = b"v" * 1000


def planted(bootstrap, topic, n, parts, ts_ms):
    cf_produce(bootstrap, topic, [dict(partition=i % parts, key=b"k%05d" % i, value=VALUE,
                                       timestamp=ts_ms) for i in range(n)])


def by_topic(doc):
    return {t["topic"]: t for t in doc["estimate"]["topics"]}


def test_plan_estimate_and_retention_risk(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory()
    short = cf_create_topic(src.bootstrap, unique("short"), 2, config={"retention.ms": "600000"})
    mid = cf_create_topic(src.bootstrap, unique("mid"), 1, config={"retention.ms": "1800000"})
    safe = cf_create_topic(src.bootstrap, unique("safe"), 3)
    old = int(time.time() * 1000) - 300000
    planted(src.bootstrap, short, 2000, 2, old)
    planted(src.bootstrap, mid, 1000, 1, old)
    planted(src.bootstrap, safe, 2000, 3, old)
    cfg = write_config(tmp_path / "mm2.properties", src, tgt, extra={"replication.factor": "1"})

    doc = plan_json(cfg, "--rate", "5kB/s", expect_rc=1)
    est = doc["estimate"]
    assert est["rate_bytes_per_s"] == 5000 and est["rate_source"] == "given", est
    t = by_topic(doc)
    for name, n, risk, ret in ((short, 2000, "at_risk", 600), (mid, 1000, "tight", 1800),
                               (safe, 2000, "none", 7 * 86400)):
        e = t[name]
        assert e["records"] == n and e["bytes_approx"] == n * 1006, e
        assert e["avg_record_bytes"] == 1006 and e["incoming_bytes_per_s"] == 0, e
        assert e["retention_s"] == ret and e["retention_by"] == "retention.ms", e
        assert e["retention_risk"] == risk, e
        assert e["catch_up_alone_s"] == -(-n * 1006 // 5000), e
        assert 295 <= e["oldest_unmirrored_age_s"] <= 400, e
    tot = est["total"]
    assert tot["records"] == 5000 and tot["bytes_approx"] == 5030000, tot
    assert tot["catch_up_s"] == 1006 and tot["topics_at_risk"] == 1 and tot["topics_tight"] == 1
    blockers = checks(doc, "retention_risk", "blocker")
    assert [c["object"] for c in blockers] == [short], blockers
    assert "16 min 46 s" in blockers[0]["message"] and "10 min 0 s" in blockers[0]["message"]
    assert [c["object"] for c in checks(doc, "retention_risk", "warning")] == [mid]
    assert doc["summary"]["blockers"] == 1

    # the human report says the same
    cp, _ = run_plan(cfg, "--rate", "5kB/s")
    out = cp.stdout.decode()
    assert cp.returncode == 1, out
    assert "ESTIMATE (rate 5.0 kB/s, given" in out, out
    line = [ln for ln in out.splitlines() if ln.strip().startswith(short + " ")
            and "AT RISK" in ln]
    assert line, out
    assert "about 5.0 MB to copy" in out and "catch-up: about 16 min 46 s" in out, out

    # a fast enough rate: nothing at risk, ready to mirror
    doc = plan_json(cfg, "--rate", "1MB/s", expect_rc=0)
    assert {e["retention_risk"] for e in doc["estimate"]["topics"]} == {"none"}
    assert doc["estimate"]["total"]["catch_up_s"] == 6  # ceil(5.03 s)

    # no rate given: plan measures the source's read rate
    doc = plan_json(cfg, "--measure-seconds", "2", expect_rc=0)
    est = doc["estimate"]
    assert est["rate_source"] == "measured" and est["rate_bytes_per_s"] > 5000, est
    assert "measured by plan" in est["rate_note"], est

    # neither: the time is unknown, a warning says how to get it
    doc = plan_json(cfg, "--measure-seconds", "0", expect_rc=0)
    assert doc["estimate"]["rate_source"] == "none"
    assert doc["estimate"]["total"]["catch_up_s"] is None
    assert {e["retention_risk"] for e in doc["estimate"]["topics"]} == {"unknown"}
    assert checks(doc, "catch_up", "warning"), doc["checks"]

    # once mirrored, nothing is left to copy and nothing is at risk at any rate
    kf = KferryProc(cfg, tmp_path).start()
    try:
        for name, parts in ((short, 2), (mid, 1), (safe, 3)):
            wait_mirrored(kf, src.bootstrap, tgt.bootstrap, name, "src." + name, parts)
    finally:
        kf.stop(expect=0)
    doc = plan_json(cfg, "--rate", "1kB/s", expect_rc=0)
    assert doc["estimate"]["total"]["records"] == 0, doc["estimate"]
    assert doc["estimate"]["total"]["catch_up_s"] == 0
    assert not checks(doc, "retention_risk")


def test_plan_estimate_producers_outpacing_the_rate(broker_factory, tmp_path):
    """Records of the last minute are the producers' rate: above --rate the
    mirror never catches up, and every topic with retention is at risk."""
    src, tgt = broker_factory(), broker_factory()
    t = cf_create_topic(src.bootstrap, unique("busy"), 1, config={"retention.ms": "86400000"})
    cf_produce(src.bootstrap, t, [dict(key=b"k%05d" % i, value=VALUE) for i in range(600)])
    cfg = write_config(tmp_path / "mm2.properties", src, tgt)
    doc = plan_json(cfg, "--rate", "1kB/s", expect_rc=1)
    e = by_topic(doc)[t]
    assert e["incoming_records_per_min"] == 600 and e["incoming_bytes_per_s"] == 10060, e
    assert e["catch_up_alone_s"] == "never" and e["retention_risk"] == "at_risk", e
    assert doc["estimate"]["total"]["catch_up_s"] == "never"
    assert checks(doc, "catch_up", "blocker")
    assert "never catches up" in checks(doc, "retention_risk", "blocker")[0]["message"]


def test_plan_rate_option_errors(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory()
    cfg = write_config(tmp_path / "mm2.properties", src, tgt)
    for bad in ("fast", "0", "-5MB/s", "5XB/s", "5MB/min"):
        cp, _ = run_plan(cfg, "--rate", bad)
        assert cp.returncode == 2, (bad, cp.stdout, cp.stderr)
        assert b"--rate " + bad.encode() + b": expected bytes per second" in cp.stderr
    cp, _ = run_plan(cfg, "--measure-seconds", "700")
    assert cp.returncode == 2 and b"--measure-seconds 700" in cp.stderr
    cp, _ = run_plan(cfg, "--help")
    assert cp.returncode == 0 and b"--rate RATE" in cp.stdout and b"--measure-seconds" in cp.stdout
