"""IncrementalAlterConfigs, DescribeLogDirs and DescribeCluster, and Kafka
4.0's admin tools against kferry-broker.

The raw-socket half needs no Java: it sends IncrementalAlterConfigs v0 and
DescribeLogDirs v1 (the non-flexible versions) and checks the outcome with
confluent-kafka's DescribeConfigs.  The tools half runs kafka-configs.sh,
kafka-log-dirs.sh, kafka-cluster.sh, kafka-topics.sh and
kafka-broker-api-versions.sh (flexible versions), and is skipped with a
reason when the Kafka distribution is missing.
"""

import glob
import json
import os
import subprocess
import tempfile

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from kf_util import cf_conf, cf_create_topic, cf_produce, unique
from kf_wire import W, RawConn

API_DESCRIBE_LOG_DIRS = 35
API_INCREMENTAL_ALTER_CONFIGS = 44
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
TOPIC, BROKER = 2, 4
INVALID_CONFIG, INVALID_REQUEST, UNKNOWN_TOPIC = 40, 42, 3


def incremental_alter(conn, resources, validate_only=False):
    """resources: [(type, name, [(key, op, value)])] -> [(err, msg, type, name)]."""
    body = W().array(resources, lambda w, res: (
        w.i8(res[0]).string(res[1]).array(res[2], lambda w, c: w.string(c[0]).i8(c[1])
                                          .string(c[2])))).i8(1 if validate_only else 0).b
    r = conn.request(API_INCREMENTAL_ALTER_CONFIGS, 0, body)
    r.i32()  # throttle
    return r.array(lambda r: (r.i16(), r.string(), r.i8(), r.string()))


def describe_log_dirs(conn, topics=None):
    """DescribeLogDirs v1 -> [(err, dir, {(topic, partition): size})]."""
    w = W()
    if topics is None:
        w.i32(-1)
    else:
        w.array(sorted(topics.items()), lambda w, t: w.string(t[0]).array(
            t[1], lambda w, p: w.i32(p)))
    r = conn.request(API_DESCRIBE_LOG_DIRS, 1, w.b)
    r.i32()
    out = []
    def part(r):
        return (r.i32(), r.i64(), r.i64(), r.i8())

    def topic(r):
        return (r.string(), r.array(part))

    for err, d, tps in r.array(lambda r: (r.i16(), r.string(), r.array(topic))):
        sizes = {}
        for name, parts in tps:
            for p, size, lag, future in parts:
                assert lag == 0 and future == 0
                sizes[(name, p)] = size
        out.append((err, d, sizes))
    return out


def topic_configs(bootstrap, topic):
    admin = AdminClient(cf_conf(bootstrap))
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    cfg = admin.describe_configs([res])[res].result(timeout=10)
    return {k: (v.value, v.source) for k, v in cfg.items()}


DYNAMIC_TOPIC = 1


def log_bytes(part_dir):
    return sum(os.path.getsize(f) for f in glob.glob(os.path.join(part_dir, "*.log")))


def test_incremental_alter_configs_operations(broker):
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("iac"))
    with RawConn(broker.host, broker.port) as conn:
        res = incremental_alter(conn, [(TOPIC, topic, [("retention.ms", SET, "1000"),
                                                       ("cleanup.policy", APPEND, "compact")])])
        assert res == [(0, None, TOPIC, topic)]
        cfg = topic_configs(bs, topic)
        assert cfg["retention.ms"] == ("1000", DYNAMIC_TOPIC)
        assert cfg["cleanup.policy"] == ("delete,compact", DYNAMIC_TOPIC)
        # Appending what is there changes nothing; subtracting removes.
        assert incremental_alter(conn, [(TOPIC, topic, [("cleanup.policy", APPEND, "delete"),
                                                        ("segment.bytes", SET, "1048576")])]
                                 )[0][0] == 0
        assert topic_configs(bs, topic)["cleanup.policy"][0] == "delete,compact"
        assert incremental_alter(conn, [(TOPIC, topic, [("cleanup.policy", SUBTRACT,
                                                         "delete")])])[0][0] == 0
        cfg = topic_configs(bs, topic)
        assert cfg["cleanup.policy"] == ("compact", DYNAMIC_TOPIC)
        assert cfg["segment.bytes"] == ("1048576", DYNAMIC_TOPIC)  # untouched by later calls
        # DELETE goes back to the default.
        assert incremental_alter(conn, [(TOPIC, topic, [("retention.ms", DELETE, None)])]
                                 )[0][0] == 0
        cfg = topic_configs(bs, topic)
        assert cfg["retention.ms"][0] == "604800000" and cfg["retention.ms"][1] != DYNAMIC_TOPIC
        before = topic_configs(bs, topic)

        # validate_only: checked, answered, not applied.
        assert incremental_alter(conn, [(TOPIC, topic, [("retention.ms", SET, "5")])],
                                 validate_only=True) == [(0, None, TOPIC, topic)]
        assert incremental_alter(conn, [(TOPIC, topic, [("retention.ms", SET, "x")])],
                                 validate_only=True)[0][0] == INVALID_CONFIG
        # Per-resource errors; one bad resource does not stop the good one.
        res = incremental_alter(conn, [
            (TOPIC, topic, [("retention.ms", SET, "abc")]),
            (TOPIC, "no-such-topic", [("retention.ms", SET, "1")]),
            (TOPIC, topic + "x", []),
        ])
        assert [e for e, _m, _t, _n in res] == [INVALID_CONFIG, UNKNOWN_TOPIC, UNKNOWN_TOPIC]
        assert "abc" in res[0][1]
        res = incremental_alter(conn, [(TOPIC, topic, [("retention.ms", SET, "1"),
                                                       ("retention.ms", SET, "2")])])
        assert res[0][0] == INVALID_REQUEST and "duplicate" in res[0][1]
        res = incremental_alter(conn, [(TOPIC, topic, [("retention.ms", APPEND, "1")])])
        assert res[0][0] == INVALID_CONFIG and "append" in res[0][1]
        res = incremental_alter(conn, [(TOPIC, topic, [("no.such.config", SET, "1")])])
        assert res[0][0] == INVALID_CONFIG
        res = incremental_alter(conn, [(TOPIC, topic, [("cleanup.policy", APPEND, "bogus")])])
        assert res[0][0] == INVALID_CONFIG
        res = incremental_alter(conn, [(TOPIC, topic, [("retention.ms", SET, None)])])
        assert res[0][0] == INVALID_REQUEST
        # Broker configs are static here: Kafka's error for read-only ones.
        res = incremental_alter(conn, [(BROKER, "1", [("log.retention.ms", SET, "1000")])])
        assert res[0][0] == INVALID_REQUEST and "Cannot update these configs dynamically" in \
            res[0][1]
        res = incremental_alter(conn, [(BROKER, "7", [])])
        assert res[0][0] == INVALID_REQUEST
        assert incremental_alter(conn, [(BROKER, "", [])]) == [(0, None, BROKER, "")]
        # The same resource twice: both refused.
        res = incremental_alter(conn, [(TOPIC, topic, [("retention.ms", SET, "7")]),
                                       (TOPIC, topic, [("retention.ms", SET, "8")])])
        assert [e for e, _m, _t, _n in res] == [INVALID_REQUEST, INVALID_REQUEST]
        assert topic_configs(bs, topic) == before
    # Overrides survive a restart.
    broker.restart()
    assert topic_configs(bs, topic)["cleanup.policy"] == ("compact", DYNAMIC_TOPIC)


def test_describe_log_dirs_reports_partition_sizes(broker):
    bs = broker.bootstrap
    a = cf_create_topic(bs, unique("ld"), partitions=2)
    b = cf_create_topic(bs, unique("ld"), partitions=1)
    cf_produce(bs, a, [{"value": b"x" * 1000, "partition": 1} for _ in range(20)])
    cf_produce(bs, b, [{"value": b"y" * 10, "partition": 0}])
    with RawConn(broker.host, broker.port) as conn:
        (err, d, sizes), = describe_log_dirs(conn)
        assert err == 0 and os.path.realpath(d) == os.path.realpath(broker.data_dir)
        assert sizes[(a, 0)] == 0
        assert sizes[(a, 1)] == log_bytes(broker.part_dir(a, 1)) and sizes[(a, 1)] > 20000
        assert sizes[(b, 0)] == log_bytes(broker.part_dir(b, 0)) > 0
        (err, _d, some), = describe_log_dirs(conn, {a: [1, 5], "nope": [0]})
        assert err == 0 and some == {(a, 1): sizes[(a, 1)]}


# ------------------------------------------------------------------ Java tools


def kafka_home():
    env = os.environ.get("KAFKA_HOME")
    if env:
        return env if os.path.isfile(os.path.join(env, "bin", "kafka-configs.sh")) else None
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    homes = sorted(glob.glob(os.path.join(repo, "..", "shared", "kafka", "kafka_2.13-*")))
    homes = [h for h in homes if os.path.isfile(os.path.join(h, "bin", "kafka-configs.sh"))]
    return os.path.abspath(homes[-1]) if homes else None


@pytest.fixture(scope="module")
def tool():
    home = kafka_home()
    if not home:
        pytest.skip("no Kafka distribution ($KAFKA_HOME or ../shared/kafka/kafka_2.13-*)")
    if subprocess.run(["sh", "-c", "command -v java"], capture_output=True).returncode:
        pytest.skip("no java on PATH for Kafka's tools")
    log_dir = tempfile.mkdtemp(prefix="kafka-tools-log")
    env = dict(os.environ, KAFKA_HEAP_OPTS="-Xmx256m", LOG_DIR=log_dir,
               KAFKA_OPTS="-Djava.library.path=/usr/lib/x86_64-linux-gnu/jni:"
                          "/usr/lib/x86_64-linux-gnu",
               KAFKA_JVM_PERFORMANCE_OPTS="-server -XX:+UseSerialGC -XX:TieredStopAtLevel=1")

    def run(name, *args, check=True):
        p = subprocess.run([os.path.join(home, "bin", name + ".sh")] + list(args), env=env,
                           capture_output=True, text=True, timeout=120)
        if check:
            assert p.returncode == 0, "%s %s failed (%d):\n%s\n%s" % (
                name, " ".join(args), p.returncode, p.stdout[-3000:], p.stderr[-3000:])
        return p
    return run


def test_kafka_tools_topics_configs_log_dirs_cluster(broker, tool):
    bs = broker.bootstrap
    topic = unique("tools")
    tool("kafka-topics", "--bootstrap-server", bs, "--create", "--topic", topic,
         "--partitions", "3", "--config", "retention.ms=86400000")
    assert topic in tool("kafka-topics", "--bootstrap-server", bs, "--list").stdout.split()
    desc = tool("kafka-topics", "--bootstrap-server", bs, "--describe", "--topic", topic).stdout
    assert "PartitionCount: 3" in desc and "retention.ms=86400000" in desc

    tool("kafka-configs", "--bootstrap-server", bs, "--alter", "--entity-type", "topics",
         "--entity-name", topic, "--add-config", "retention.ms=1000,cleanup.policy=[delete,compact]")
    out = tool("kafka-configs", "--bootstrap-server", bs, "--describe", "--entity-type",
               "topics", "--entity-name", topic).stdout
    assert "retention.ms=1000" in out and "cleanup.policy=delete,compact" in out
    tool("kafka-configs", "--bootstrap-server", bs, "--alter", "--entity-type", "topics",
         "--entity-name", topic, "--delete-config", "retention.ms")
    cfg = topic_configs(bs, topic)
    assert cfg["retention.ms"][1] != DYNAMIC_TOPIC
    assert cfg["cleanup.policy"] == ("delete,compact", DYNAMIC_TOPIC)
    bad = tool("kafka-configs", "--bootstrap-server", bs, "--alter", "--entity-type", "topics",
               "--entity-name", topic, "--add-config", "retention.ms=soon", check=False)
    assert bad.returncode != 0 and "InvalidConfigurationException" in bad.stdout + bad.stderr
    out = tool("kafka-configs", "--bootstrap-server", bs, "--describe", "--entity-type",
               "brokers", "--entity-name", "1", "--all").stdout
    assert "log.retention.ms=" in out

    # Keyed: the topic is compacted now, and a record without a key is refused.
    reps = cf_produce(bs, topic, [{"key": b"k%d" % i, "value": b"z" * 500, "partition": 2}
                                  for i in range(10)])
    assert all(err is None for _, _, err in reps), reps
    out = tool("kafka-log-dirs", "--describe", "--bootstrap-server", bs,
               "--topic-list", topic).stdout
    data = json.loads(out.strip().splitlines()[-1])
    (b1,) = data["brokers"]
    assert b1["broker"] == 1
    (ld,) = b1["logDirs"]
    assert ld["error"] is None
    sizes = {p["partition"]: p["size"] for p in ld["partitions"]}
    assert sizes == {"%s-%d" % (topic, p): log_bytes(broker.part_dir(topic, p))
                     for p in range(3)}
    assert sizes["%s-2" % topic] > 5000

    out = tool("kafka-cluster", "cluster-id", "--bootstrap-server", bs).stdout
    ids = [ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Cluster ID")]
    assert len(ids) == 1 and len(ids[0]) == 22
    out = tool("kafka-broker-api-versions", "--bootstrap-server", bs).stdout
    for line in ("IncrementalAlterConfigs(44): 0 to 1", "DescribeCluster(60): 0 to 1",
                 "DescribeLogDirs(35): 1 to 4"):
        assert line in out, out


def test_malformed_admin_requests_close_only_that_connection(broker):
    import struct
    from kf_wire import api_versions

    def frame(key, ver, body, flex_header=False):
        hdr = W().i16(key).i16(ver).i32(1).string("hostile").b
        if flex_header:
            hdr += b"\x00"
        payload = bytes(hdr) + body
        return struct.pack(">i", len(payload)) + payload

    good_res = bytes(W().i32(1).i8(TOPIC).string("t").i32(1).string("retention.ms").i8(SET)
                     .string("1").b)
    cases = [
        frame(API_INCREMENTAL_ALTER_CONFIGS, 0, good_res[:-3]),
        frame(API_INCREMENTAL_ALTER_CONFIGS, 0, bytes(W().i32(1 << 30).b)),
        frame(API_INCREMENTAL_ALTER_CONFIGS, 0, good_res),  # validate_only missing
        frame(API_INCREMENTAL_ALTER_CONFIGS, 1, b"\x02\x02\x02", flex_header=True),
        frame(API_DESCRIBE_LOG_DIRS, 1, bytes(W().i32(2).string("t").b)),
        frame(API_DESCRIBE_LOG_DIRS, 2, b"\x05", flex_header=True),
        frame(60, 1, b"\x00", flex_header=True),  # endpoint_type missing
    ]
    for data in cases:
        with RawConn(broker.host, broker.port) as conn:
            conn.send(data)
            closed, _got = conn.wait_closed(5)
            assert closed, "broker kept the connection after %r" % data
    with RawConn(broker.host, broker.port) as conn:
        err, apis = api_versions(conn)
        assert err == 0 and apis[API_INCREMENTAL_ALTER_CONFIGS] == (0, 1)
