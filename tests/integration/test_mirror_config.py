"""`kferry mirror` reads MirrorMaker 2 properties files (issue 3).

A typical mm2.properties (with MM2-only keys, a disabled reverse flow and
flow-prefixed overrides) works with the identity and with the default
replication policy; bad files are rejected with every problem listed with
file:line and exit status 2; secrets never appear in the log.
"""

import subprocess

import pytest

from kf_util import cf_create_topic, cf_produce, unique
from test_mirror_util import KferryProc, check_exact, kferry_binary, wait_mirrored

MM2 = """\
# MirrorMaker 2 style file
clusters = primary, backup
primary.bootstrap.servers = {src}
backup.bootstrap.servers = {tgt}
primary->backup.enabled = true
backup->primary.enabled = false
primary->backup.topics = {prefix}.*
topics.exclude = .*[\\-\\.]internal, .*\\.replica, __.*
{policy}
replication.factor = 3
sync.topic.configs.enabled = true
refresh.topics.interval.seconds = 1
tasks.max = 4
emit.checkpoints.enabled = true
sync.group.offsets.enabled = false
checkpoints.topic.replication.factor = 1
heartbeats.topic.replication.factor = 1
offset-syncs.topic.replication.factor = 1
primary.sasl.username = mirror-user
primary.sasl.password = S3cr3t-PassWord
backup.producer.compression.type = zstd
backup.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required \\
    username="u2" password="An0ther-S3cret";
"""


@pytest.mark.parametrize("identity", [True, False], ids=["identity", "default"])
def test_mm2_properties_file(broker_factory, tmp_path, identity):
    src, tgt = broker_factory(), broker_factory()
    prefix = unique("mm2")
    topic = cf_create_topic(src.bootstrap, prefix + "-orders", 2)
    other = cf_create_topic(src.bootstrap, unique("skipped"), 1)
    cf_produce(src.bootstrap, topic, [dict(partition=i % 2, key=b"%d" % i, value=b"v%d" % i)
                                      for i in range(1000)])
    cf_produce(src.bootstrap, other, [dict(value=b"nope")])
    policy = ("replication.policy.class = "
              "org.apache.kafka.connect.mirror.IdentityReplicationPolicy" if identity else "")
    path = tmp_path / "mm2.properties"
    path.write_text(MM2.format(src=src.bootstrap, tgt=tgt.bootstrap, prefix=prefix,
                               policy=policy))
    target = topic if identity else "primary." + topic
    kf = KferryProc(path, tmp_path).start()
    try:
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, topic, target, 2)
    finally:
        kf.stop()
    assert check_exact(kf, src.bootstrap, tgt.bootstrap, topic, 2, expect_target=target) == 1000
    log = kf.log_text()
    assert "S3cr3t-PassWord" not in log and "An0ther-S3cret" not in log
    assert "primary.sasl.password = [redacted]" in log
    assert "tasks.max accepted but not used" in log
    assert "replication.factor 3 capped to the target's 1 broker(s)" in log
    assert "not mirrored: %s (not matched by 'topics')" % other in log


def test_bad_config_reports_everything(tmp_path):
    path = tmp_path / "bad.properties"
    path.write_text(
        "clusters = a, b\n"
        "a.bootstrap.servers = 127.0.0.1:1\n"
        "b.bootstrap.servers = 127.0.0.1:2\n"
        "a->b.enabled = true\n"
        "topics = ok, bad(\n"
        "refresh.topics.interval.seconds = soon\n"
        "a.client.idd = 1\n"
        "b.producer.enable.idempotence = false\n"
        "mystery.key = 1\n"
        "kferry.gap.policy = sometimes\n"
        "a.ssl.key.password = TopSecret99\n")
    cp = subprocess.run([kferry_binary(), "mirror", "--config", str(path)], capture_output=True,
                        timeout=30)
    err = cp.stderr.decode()
    assert cp.returncode == 2, err
    for line in (5, 6, 7, 8, 9, 10):
        assert "bad.properties:%d:" % line in err, err
    assert "6 configuration errors" in err
    assert "did you mean 'a.client.id'" in err
    assert "TopSecret99" not in err
    # no flow enabled
    path.write_text("clusters = a, b\na.bootstrap.servers = x:1\nb.bootstrap.servers = y:1\n")
    cp = subprocess.run([kferry_binary(), "mirror", "--config", str(path)], capture_output=True,
                        timeout=30)
    assert cp.returncode == 2 and b"exactly one flow must be enabled" in cp.stderr


def test_help():
    # each command has its own usage (issue 13); the global one lists them all
    for args, want in ((["--help"], b"offsets translate --config FILE"),
                       (["mirror", "--help"], b"usage: kferry mirror --config FILE"),
                       (["offsets", "--help"], b"offsets translate --config FILE"),
                       (["status", "-h"], b"usage: kferry status --config FILE")):
        cp = subprocess.run([kferry_binary()] + args, capture_output=True, timeout=10)
        assert cp.returncode == 0, (args, cp)
        assert want in cp.stdout, (args, cp.stdout)
    cp = subprocess.run([kferry_binary(), "config-reference"], capture_output=True, timeout=10)
    assert cp.returncode == 0 and b"kferry.gap.policy" in cp.stdout
