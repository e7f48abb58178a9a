"""ApiVersions as the clients on this machine need it.

librdkafka 2.0.2 switches whole features off unless the broker's advertised
range for each API overlaps a hard-coded range (rdkafka_feature.c), and its
producer silently sends gzip, snappy and lz4 batches *uncompressed* unless
the broker's Produce range includes v0 (rdkafka_msgset_writer.c asks
whether Produce [0, 0] is supported; fixed in librdkafka 2.11.1).  These
checks name the gate instead of leaving a client to quietly degrade.
"""

import struct
import time

import pytest

import kf_wire as kw

# (api key, name, versions that must ALL be inside the advertised range, why)
REQUIRED = [
    (0, "Produce", (0,), "librdkafka <= 2.11.0 compresses gzip/snappy/lz4 only if Produce "
                         "includes v0"),
    (0, "Produce", (3, 7), "RecordBatch v2 needs v3; zstd needs v7"),
    (1, "Fetch", (4, 10), "MsgVer2 needs Fetch v4; zstd needs v10"),
    (2, "ListOffsets", (1,), "librdkafka OffsetTime feature"),
    (3, "Metadata", (0,), "kafka-python bootstraps with Metadata v0"),
    (8, "OffsetCommit", (2,), "librdkafka balanced consumer needs overlap with 1..2"),
    (9, "OffsetFetch", (1,), "librdkafka balanced consumer"),
    (10, "FindCoordinator", (0,), "librdkafka balanced consumer and LZ4 feature"),
    (11, "JoinGroup", (0,), "librdkafka balanced consumer"),
    (12, "Heartbeat", (0,), "librdkafka balanced consumer"),
    (13, "LeaveGroup", (0,), "librdkafka balanced consumer"),
    (14, "SyncGroup", (0,), "librdkafka balanced consumer"),
    (17, "SaslHandshake", (0, 1), "kafka-python sends v0 (raw tokens), librdkafka v1"),
    (18, "ApiVersions", (0, 3), "kafka-python sends v0, librdkafka v3"),
    (22, "InitProducerId", (0,), "librdkafka idempotent producer"),
    (24, "AddPartitionsToTxn", (0, 3), "librdkafka sends v0, Kafka 4.0's Java producer v3"),
    (25, "AddOffsetsToTxn", (0, 3), "librdkafka sends v0, Kafka 4.0's Java producer v3"),
    (26, "EndTxn", (0, 1, 3), "librdkafka sends v0-1, Kafka 4.0's Java producer v3"),
    (28, "TxnOffsetCommit", (0, 3), "librdkafka sends v0-3"),
    (29, "DescribeAcls", (1, 2, 3), "kafka-acls.sh --list (Kafka 4.0 serves v1-3); librdkafka v1"),
    (30, "CreateAcls", (1, 2, 3), "kafka-acls.sh --add (Kafka 4.0 serves v1-3); librdkafka v1"),
    (31, "DeleteAcls", (1, 2, 3), "kafka-acls.sh --remove (Kafka 4.0 serves v1-3); librdkafka v1"),
    (36, "SaslAuthenticate", (0, 1, 2), "librdkafka sends v0-1, Kafka 4.0's Java clients v2"),
    (35, "DescribeLogDirs", (1, 4), "kafka-log-dirs.sh (Kafka 4.0 removed v0)"),
    (44, "IncrementalAlterConfigs", (0, 1), "kafka-configs.sh --alter (Kafka 2.3+ tools)"),
    (48, "DescribeClientQuotas", (0, 1), "kafka-configs.sh --describe --entity-type users"),
    (50, "DescribeUserScramCredentials", (0,), "kafka-configs.sh --describe (SCRAM users)"),
    (51, "AlterUserScramCredentials", (0,), "kafka-configs.sh --alter --add-config SCRAM-SHA-*"),
    (60, "DescribeCluster", (0, 1), "kafka-cluster.sh and the Java admin client"),
    (65, "DescribeTransactions", (0,), "kafka-transactions.sh describe"),
    (66, "ListTransactions", (0,), "kafka-transactions.sh list"),
]


@pytest.fixture
def advertised(broker):
    with kw.RawConn(broker.host, broker.port) as c:
        err, apis = kw.api_versions(c)
    assert err == 0, "ApiVersions v0 error %d" % err
    return apis


@pytest.mark.parametrize("key,name,versions,why", REQUIRED,
                         ids=["%s-v%s" % (r[1], "-".join(map(str, r[2]))) for r in REQUIRED])
def test_advertised_range(advertised, key, name, versions, why):
    assert key in advertised, "%s (%d) not advertised: %s" % (name, key, why)
    lo, hi = advertised[key]
    missing = [v for v in versions if not lo <= v <= hi]
    assert not missing, "%s advertised %d..%d, must include v%s: %s" % (
        name, lo, hi, ",".join(map(str, missing)), why)


def test_unsupported_api_versions_version_gets_v0_body(broker):
    """An ApiVersions request newer than the broker knows is answered with a
    v0 body: UNSUPPORTED_VERSION (35) and the supported ranges, so the
    client can retry with a version both sides know."""
    with kw.RawConn(broker.host, broker.port) as c:
        r = c.request(kw.API_API_VERSIONS, 77, b"")
        err = r.i16()
        apis = r.array(lambda r: (r.i16(), r.i16(), r.i16()))
        assert err == 35, "error %d, expected UNSUPPORTED_VERSION (35)" % err
        assert (18, 0) == tuple(a[:2] for a in apis if a[0] == 18)[0], apis
        # The connection is still usable afterwards.
        err, _ = kw.api_versions(c)
        assert err == 0


def test_pipelined_requests_answered_in_order(broker):
    """kafka-python pipelines Metadata behind ApiVersions on a new
    connection; responses must come back in request order."""
    with kw.RawConn(broker.host, broker.port) as c:
        frames = b"".join(kw.request_frame(kw.API_API_VERSIONS if i % 2 == 0 else kw.API_METADATA,
                                           0, 100 + i, b"" if i % 2 == 0 else
                                           struct.pack(">i", 0)) for i in range(6))
        c.send(frames)
        deadline = time.monotonic() + 10
        for i in range(6):
            size = struct.unpack(">i", c._recv_exact(4, deadline))[0]
            data = c._recv_exact(size, deadline)
            assert struct.unpack_from(">i", data)[0] == 100 + i, "response %d out of order" % i
