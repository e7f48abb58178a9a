"""Topics and partitions that appear on the source while kferry mirrors are
picked up within the refresh interval (issue 3): the target topic is
created, partitions added on the source are added on the target, and the
records in them are mirrored exactly.
"""

from confluent_kafka.admin import AdminClient, NewPartitions

from kf_util import cf_conf, cf_create_topic, cf_partitions, cf_produce, unique, wait_until
from test_mirror_util import KferryProc, check_exact, wait_mirrored, write_config


def tgt_partitions(bootstrap, topic):
    """Partition count without naming the topic in Metadata, which would let
    the broker auto-create it (and hide what kferry does)."""
    md = AdminClient(cf_conf(bootstrap)).list_topics(timeout=10)
    t = md.topics.get(topic)
    return len(t.partitions) if t is not None and t.error is None else 0


def recs(n, parts, tag):
    return [dict(partition=i % parts, key=b"%s-%d" % (tag, i), value=b"x" * (i % 100))
            for i in range(n)]


def test_new_topic_and_new_partitions(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory()
    t1 = cf_create_topic(src.bootstrap, unique("dyn"), 2)
    cf_produce(src.bootstrap, t1, recs(500, 2, b"a"))
    cfg = write_config(tmp_path / "m.properties", src, tgt, identity=True)
    kf = KferryProc(cfg, tmp_path).start()
    try:
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, t1, t1, 2)
        # a topic created while mirroring (refresh interval is 1 s)
        t2 = cf_create_topic(src.bootstrap, unique("late"), 3)
        cf_produce(src.bootstrap, t2, recs(900, 3, b"b"))
        wait_until(lambda: tgt_partitions(tgt.bootstrap, t2) == 3, 15,
                   "new topic %s on the target" % t2)
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, t2, t2, 3)
        # partitions added on the source
        admin = AdminClient(cf_conf(src.bootstrap))
        admin.create_partitions([NewPartitions(t1, 4)])[t1].result(15)
        wait_until(lambda: len(cf_partitions(src.bootstrap, t1)) == 4, 10, "source growth")
        cf_produce(src.bootstrap, t1, recs(800, 4, b"c"))
        wait_until(lambda: tgt_partitions(tgt.bootstrap, t1) == 4, 15,
                   "target %s grown to 4 partitions" % t1)
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, t1, t1, 4)
        # (the map is persisted every 200 ms: retry until it covers everything)
        wait_until(lambda: check_exact(kf, src.bootstrap, tgt.bootstrap, t2, 3) == 900, 20,
                   "exact copy of %s" % t2, interval=0.3)
        # a source topic deleted while mirroring: stopped and said so, the rest goes on
        admin.delete_topics([t2])[t2].result(15)
        wait_until(lambda: "source topic %s disappeared" % t2 in kf.log_text(), 15,
                   "kferry to notice the deleted topic")
        assert kf.alive()
        assert tgt_partitions(tgt.bootstrap, t2) == 3  # the target copy is kept
    finally:
        kf.stop(expect=0)
    assert check_exact(kf, src.bootstrap, tgt.bootstrap, t1, 4) == 1300


def describe(bootstrap, topic):
    from confluent_kafka.admin import ConfigResource
    admin = AdminClient(cf_conf(bootstrap))
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return {k: v.value for k, v in admin.describe_configs([res])[res].result(10).items()}


def alter(bootstrap, topic, configs):
    from confluent_kafka.admin import ConfigResource
    admin = AdminClient(cf_conf(bootstrap))
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, set_config=configs)
    admin.alter_configs([res])[res].result(10)


def test_topic_config_changes_follow_the_source(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory()
    t = cf_create_topic(src.bootstrap, unique("conf"), 1,
                        config={"retention.ms": "111111111", "min.insync.replicas": "1"})
    cfg = write_config(tmp_path / "m.properties", src, tgt,
                       extra={"sync.topic.configs.interval.seconds": "1"})
    kf = KferryProc(cfg, tmp_path).start()
    try:
        wait_until(lambda: describe(tgt.bootstrap, "src." + t).get("retention.ms") == "111111111",
                   20, "retention.ms copied at creation")
        alter(src.bootstrap, t, {"retention.ms": "222222222", "max.message.bytes": "2000000",
                                 "min.insync.replicas": "1"})
        wait_until(lambda: describe(tgt.bootstrap, "src." + t).get("retention.ms") == "222222222",
                   20, "retention.ms change propagated")
        assert describe(tgt.bootstrap, "src." + t)["max.message.bytes"] == "2000000"
    finally:
        kf.stop()
    assert "config retention.ms: 111111111 -> 222222222" in kf.log_text()
