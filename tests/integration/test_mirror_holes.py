"""Offset translation when the source log does not start at 0 or has holes,
and retention gaps (issue 3).

Holes are made with DeleteRecords (raw protocol, kf_wire.py: neither Python
client has it) while kferry is stopped, which is what retention does to an
unmirrored range: with kferry.gap.policy=stop kferry exits 3 naming the
range; with continue it records the gap, and the map gets a second run.
"""

import re

from kf_util import cf_create_topic, cf_produce, unique, wait_until
import kf_wire as kw
from test_mirror_util import KferryProc, end_offsets, kp_all, write_config


def produce(bs, topic, start, n, partition=0):
    cf_produce(bs, topic, [dict(partition=partition, key=b"k%d" % i, value=b"v%d" % i)
                           for i in range(start, start + n)])


def delete_to(broker, topic, partition, offset):
    with kw.RawConn(broker.host, broker.port) as c:
        assert kw.delete_records(c, topic, {partition: offset}) == {partition: (offset, 0)}


def mapped_count(bs, topic):
    return end_offsets(bs, topic, 1)[0]


def test_log_start_above_zero_and_holes_translate_exactly(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory()
    topic = cf_create_topic(src.bootstrap, unique("holes"), 1)
    produce(src.bootstrap, topic, 0, 100)
    delete_to(src, topic, 0, 40)  # the source log starts at 40
    cfg = write_config(tmp_path / "m.properties", src, tgt, identity=True,
                       extra={"kferry.gap.policy": "continue"})
    kf = KferryProc(cfg, tmp_path).start()
    wait_until(lambda: mapped_count(tgt.bootstrap, topic) == 60, 30, "60 records mirrored")
    kf.stop()
    r = kf.translate(topic, 0, 40)
    assert (r["status"], r["target_offset"]) == ("exact", 0), r
    r = kf.translate(topic, 0, 99)
    assert (r["status"], r["target_offset"]) == ("exact", 59), r
    r = kf.translate(topic, 0, 39)
    assert (r["status"], r["target_offset"], r["next_source_offset"]) == ("below", 0, 40), r

    # while kferry is stopped, records 100..149 arrive and 100..119 are deleted
    produce(src.bootstrap, topic, 100, 50)
    delete_to(src, topic, 0, 120)
    kf.start()
    wait_until(lambda: mapped_count(tgt.bootstrap, topic) == 90, 30, "90 records mirrored")
    wait_until(lambda: kf.status()["mirror"]["gaps"] == 1, 20, "status to report the gap")
    kf.stop()
    log = kf.log_text(last_only=True)
    assert re.search(r"GAP %s/0: source offsets \[100, 120\) \(20 records\)" % topic, log), log
    runs = kf.dump()[(topic, 0)]
    assert runs["runs"] == [[40, 0, 60], [120, 60, 30]], runs
    assert runs["gaps"] == [[100, 120]], runs
    r = kf.translate(topic, 0, 110)
    assert (r["status"], r["target_offset"], r["next_source_offset"]) == ("gap", 60, 120), r
    for s, t in ((120, 60), (149, 89), (99, 59)):
        r = kf.translate(topic, 0, s)
        assert (r["status"], r["target_offset"]) == ("exact", t), r

    # records deleted from the source after mirroring still translate
    delete_to(src, topic, 0, 130)
    r = kf.translate(topic, 0, 125)
    assert (r["status"], r["target_offset"]) == ("exact", 65), r
    # and content matches at every mapped offset that still exists on the source
    src_recs = kp_all(src.bootstrap, topic, 0)
    tgt_recs = {r[0]: r for r in kp_all(tgt.bootstrap, topic, 0)}
    assert len(src_recs) == 20 and len(tgt_recs) == 90
    for rec in src_recs:
        t = kf.translate(topic, 0, rec[0])["target_offset"]
        assert tgt_recs[t][1:] == rec[1:]


def test_retention_gap_stops_by_default(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory()
    topic = cf_create_topic(src.bootstrap, unique("gap"), 1)
    produce(src.bootstrap, topic, 0, 100)
    cfg = write_config(tmp_path / "m.properties", src, tgt)
    kf = KferryProc(cfg, tmp_path).start()
    wait_until(lambda: mapped_count(tgt.bootstrap, "src." + topic) == 100, 30, "mirrored")
    kf.stop()
    produce(src.bootstrap, topic, 100, 50)
    delete_to(src, topic, 0, 130)
    kf.start()
    rc = kf.wait_exit(60)
    log = kf.log_text(last_only=True)
    assert rc == 3, log[-3000:]
    assert re.search(r"GAP %s/0: source offsets \[100, 130\) \(30 records\)" % topic, log), log
    assert "kferry.gap.policy=stop" in log
    # nothing past the gap was written, and the map is intact
    assert mapped_count(tgt.bootstrap, "src." + topic) == 100
    assert kf.dump()[(topic, 0)]["runs"] == [[0, 0, 100]]
    st = kf.status()
    assert st["partitions"][0]["lag_records"] == 20  # 130..149 are still to mirror
    assert st["partitions"][0]["gap_records"] == 30 and st["gap_records"] == 30
    text = kf.cmd("status").stdout.decode()
    assert "GAP: source offsets [100, 130)" in text, text



def test_time_retention_gap_continue(broker_factory, tmp_path):
    """Real time-based retention (not DeleteRecords) removes records kferry
    has not mirrored yet: with kferry.gap.policy=continue the gap is logged,
    recorded in the map and counted in the metrics/status, and mirroring goes
    on after it."""
    import time
    from confluent_kafka.admin import AdminClient, ConfigResource
    from kafka import TopicPartition
    from kf_util import cf_conf, kp_consumer

    src = broker_factory({"log.retention.check.interval.ms": "200"})
    tgt = broker_factory()
    topic = cf_create_topic(src.bootstrap, unique("ret"), 1, config={"segment.bytes": "1024"})
    old = int(time.time() * 1000) - 3_600_000

    def produce_old(start, n):
        for i in range(start, start + n):  # one batch each: many small segments
            cf_produce(src.bootstrap, topic, [dict(partition=0, key=b"o%d" % i,
                                                   value=b"x" * 100, timestamp=old + i)])

    def log_start():
        c = kp_consumer(src.bootstrap)
        try:
            tp = TopicPartition(topic, 0)
            return c.beginning_offsets([tp])[tp]
        finally:
            c.close()

    produce_old(0, 10)
    cfg = write_config(tmp_path / "m.properties", src, tgt, identity=True,
                       extra={"kferry.gap.policy": "continue"})
    kf = KferryProc(cfg, tmp_path).start()
    wait_until(lambda: mapped_count(tgt.bootstrap, topic) == 10, 30, "first 10 mirrored")
    kf.stop()
    produce_old(10, 30)
    # now retention (10 minutes) applies to the hour-old records
    admin = AdminClient(cf_conf(src.bootstrap))
    res = ConfigResource(ConfigResource.Type.TOPIC, topic,
                         set_config={"segment.bytes": "1024", "retention.ms": "600000"})
    admin.alter_configs([res])[res].result(10)
    lo = wait_until(lambda: log_start() > 10 and log_start(), 30, "retention to delete")
    cf_produce(src.bootstrap, topic, [dict(partition=0, key=b"n%d" % i, value=b"y")
                                      for i in range(5)])
    kf.start()
    wait_until(lambda: mapped_count(tgt.bootstrap, topic) == 10 + 45 - lo, 30,
               "mirrored after the gap")
    wait_until(lambda: kf.status()["mirror"]["gaps"] == 1, 20, "status to count the gap")
    kf.stop()
    log = kf.log_text(last_only=True)
    assert re.search(r"GAP %s/0: source offsets \[10, %d\)" % (topic, lo), log), log[-3000:]
    m = kf.dump()[(topic, 0)]
    assert m["runs"] == [[0, 0, 10], [lo, 10, 45 - lo]] and m["gaps"] == [[10, lo]], m
    r = kf.translate(topic, 0, 10)
    assert (r["status"], r["target_offset"], r["next_source_offset"]) == ("gap", 10, lo), r
