"""Reading whole partitions from real Kafka 4.x with confluent-kafka.

kafka-python 2.0.2 cannot read a Kafka 4.0 cluster's metadata: Kafka 4.0
removed Metadata v0-v3 (KIP-896) and kafka-python sends v1, so the broker
closes its connections.  On real Kafka the broker itself is the judge, so
the tier reads with confluent-kafka (librdkafka) and Kafka's own tools.
kp_all / end_offsets of test_mirror_util are replaced by these while the
tier runs (conftest.py), so check_exact and wait_mirrored work unchanged.
"""

import time

import confluent_kafka as ck

from kf_util import cf_headers


def _consumer(bootstrap, isolation="read_committed"):
    return ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "kferry-test-reader",
                        "enable.auto.commit": False, "enable.partition.eof": True,
                        "isolation.level": isolation, "broker.address.family": "v4",
                        "auto.offset.reset": "error", "fetch.wait.max.ms": 100})


def cf_watermarks(bootstrap, topic, partition, timeout=30):
    c = _consumer(bootstrap)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return c.get_watermark_offsets(ck.TopicPartition(topic, partition), timeout=10)
            except ck.KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
    finally:
        c.close()


def end_offsets(bootstrap, topic, partitions):
    return {p: cf_watermarks(bootstrap, topic, p)[1] for p in range(partitions)}


def cf_all(bootstrap, topic, partition, timeout=90, isolation="read_committed"):
    """Every record of a partition from its log start up to the end seen
    when the read begins: [(offset, key, value, headers, timestamp)], the
    shape test_mirror_util.kp_all returns."""
    lo, hi = cf_watermarks(bootstrap, topic, partition)
    out = []
    if hi <= lo:
        return out
    c = _consumer(bootstrap, isolation)
    try:
        c.assign([ck.TopicPartition(topic, partition, lo)])
        deadline = time.monotonic() + timeout
        while True:
            assert time.monotonic() < deadline, "reading %s/%d: %d records, lo %d hi %d" % (
                topic, partition, len(out), lo, hi)
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == ck.KafkaError._PARTITION_EOF:
                    # read_committed stops at the last stable offset, which an
                    # open transaction holds below the high watermark
                    if isolation == "read_committed" or m.offset() >= hi:
                        return out
                    continue
                raise AssertionError("reading %s/%d: %s" % (topic, partition, m.error()))
            if m.offset() >= hi:
                return out
            # cf_headers: confluent-kafka 1.7 drops a reference to None for each
            # null header value, which kills the interpreter after enough reads
            out.append((m.offset(), m.key(), m.value(), tuple(cf_headers(m) or ()),
                        m.timestamp()[1]))
            if m.offset() + 1 >= hi:
                return out
    finally:
        c.close()
