"""DeleteRecords (API 21).

Neither client here can send it (confluent-kafka 1.7.0's AdminClient has no
delete_records, kafka-python 2.0.2 has no DeleteRecords request), so the
request goes over a raw socket (kf_wire.py); the effects are then checked
with the real clients: ListOffsets earliest moves to the requested offset,
consumers reading from the beginning start there, reading below it is
OFFSET_OUT_OF_RANGE, segments entirely below it are deleted, new records
continue at the old log end, and the new log start survives a restart.
"""

import confluent_kafka as ck

import kf_segments as ks
import kf_wire as kw
from kf_util import (cf_consumer, cf_create_topic, cf_produce, cf_read, cf_watermarks,
                     kp_consumer, unique, wait_until)

OFFSET_OUT_OF_RANGE = 1
UNKNOWN_TOPIC_OR_PARTITION = 3
PER_BATCH = 5
BATCHES = 10


def produce(bs, topic):
    for b in range(BATCHES):
        cf_produce(bs, topic, [dict(partition=p, key=b"k%d" % (b * PER_BATCH + i),
                                    value=b"v%d-" % (b * PER_BATCH + i) + b"d" * 150)
                               for p in (0, 1) for i in range(PER_BATCH)],
                   **{"linger.ms": 1000})


def earliest_both_clients(bs, topic, partition):
    from kafka import TopicPartition
    low, _ = cf_watermarks(bs, topic, partition)
    c = kp_consumer(bs)
    try:
        tp = TopicPartition(topic, partition)
        kp_low = c.beginning_offsets([tp])[tp]
    finally:
        c.close()
    assert low == kp_low, "confluent says log start %d, kafka-python %d" % (low, kp_low)
    return low


def test_delete_records(broker_factory):
    broker = broker_factory({"log.retention.check.interval.ms": "200",
                             "log.segment.bytes": "2048"})
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("delrec"), 2)
    produce(bs, topic)
    end = BATCHES * PER_BATCH
    assert cf_watermarks(bs, topic, 0) == (0, end)
    pdir = broker.part_dir(topic, 0)
    segs_before = ks.segment_bases(pdir)
    assert len(segs_before) >= 3, segs_before

    target = 23  # inside a batch, inside a segment
    with kw.RawConn(broker.host, broker.port) as c:
        assert kw.delete_records(c, topic, {0: target}) == {0: (target, 0)}
        # Lower than the current log start: no change, no error.
        assert kw.delete_records(c, topic, {0: 10}) == {0: (target, 0)}
        # -1 means the high watermark (v1 this time).
        assert kw.delete_records(c, topic, {1: -1}, version=1) == {1: (end, 0)}
        res = kw.delete_records(c, topic, {0: end + 100})
        assert res[0][1] == OFFSET_OUT_OF_RANGE, "delete beyond the log end: %r" % (res,)
        res = kw.delete_records(c, topic, {7: 1})
        assert res[7][1] == UNKNOWN_TOPIC_OR_PARTITION, "delete in partition 7: %r" % (res,)

    assert earliest_both_clients(bs, topic, 0) == target
    assert cf_watermarks(bs, topic, 0) == (target, end)
    assert earliest_both_clients(bs, topic, 1) == end
    got = cf_read(bs, topic, {0: ck.OFFSET_BEGINNING}, count=end - target)[0]
    assert [r.offset for r in got] == list(range(target, end))
    assert got[0].key == b"k%d" % target

    # Fetching below the log start is out of range.
    c = cf_consumer(bs)
    try:
        c.assign([ck.TopicPartition(topic, 0, 5)])
        m = wait_until(lambda: [m for m in [c.poll(0.2)] if m is not None], 10,
                       "a fetch error for offset 5 < log start")[0]
        assert m.error() is not None, "fetch at offset 5 returned record %d" % m.offset()
        assert m.error().code() in (ck.KafkaError.OFFSET_OUT_OF_RANGE,
                                    ck.KafkaError._AUTO_OFFSET_RESET), m.error()
    finally:
        c.close()

    # Segments that end at or below the new log start go away.
    def gone():
        bases = ks.segment_bases(pdir)
        return bases if bases and bases[0] <= target and not any(
            bases[0] < b <= target for b in bases) else None

    wait_until(gone, 15, "segments below offset %d to be deleted (before: %s, now: %s)"
               % (target, segs_before, ks.segment_bases(pdir)))

    # New records continue at the old end.
    reps = cf_produce(bs, topic, [dict(partition=0, value=b"after")])
    assert reps == [(0, end, None)]

    broker.restart()
    assert earliest_both_clients(broker.bootstrap, topic, 0) == target, (
        "log start offset not kept across a restart")
    assert earliest_both_clients(broker.bootstrap, topic, 1) == end
    assert cf_watermarks(broker.bootstrap, topic, 0) == (target, end + 1)
