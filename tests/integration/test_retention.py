"""Retention by size and by time, as Kafka applies it.

The broker runs with log.retention.check.interval.ms=200.  Topics use
segment.bytes=1024 so that a few dozen small batches make many segments.

* retention.bytes: Kafka deletes the oldest segments while the partition
  minus that segment would still hold >= retention.bytes, never the active
  segment.  So afterwards: size - size(oldest segment) < retention.bytes
  (or only one segment is left), and size >= retention.bytes (nothing was
  deleted that should not have been).
* retention.ms: a segment goes when its largest record timestamp is older
  than now - retention.ms.  The test writes records stamped an hour ago,
  then current ones, with retention.ms = 10 minutes: exactly the segments
  holding only old records must go, whatever the wall clock does.

In both cases ListOffsets(earliest) - via confluent-kafka and kafka-python -
must equal the base offset of the first remaining segment, consumers
reading from the beginning must start there, and no file of a deleted
segment may remain.
"""

import os

import confluent_kafka as ck

import kf_segments as ks
from kf_util import (cf_create_topic, cf_producer, cf_read, cf_watermarks, kp_consumer, now_ms,
                     unique, wait_until)

OVERRIDES = {"log.retention.check.interval.ms": "200"}


def produce_batches(bs, topic, n, ts=None, size=120, start=0):
    """n single-record batches (a flush after each); returns their offsets."""
    p = cf_producer(bs, **{"linger.ms": 0, "acks": "all"})
    offsets = []
    for i in range(n):
        k = start + i
        p.produce(topic, key=b"k%d" % k, value=b"v%05d-" % k + b"r" * size, partition=0,
                  timestamp=ts or 0,
                  on_delivery=lambda err, msg: offsets.append((err, msg.offset())))
        assert p.flush(10) == 0
    assert all(err is None for err, _ in offsets), offsets
    return [o for _, o in offsets]


def leftover_files(pdir, first_base):
    """Files of segments below first_base still in the partition dir."""
    out = []
    for name in os.listdir(pdir):
        stem = name.split(".", 1)[0]
        if len(stem) == 20 and stem.isdigit() and int(stem) < first_base:
            out.append(name)
    return sorted(out)


def check_log_start(bs, topic, pdir, first_base, end):
    from kafka import TopicPartition
    assert cf_watermarks(bs, topic, 0) == (first_base, end), (
        "confluent-kafka ListOffsets (earliest, latest)")
    c = kp_consumer(bs)
    try:
        tp = TopicPartition(topic, 0)
        assert c.beginning_offsets([tp]) == {tp: first_base}, "kafka-python beginning_offsets"
    finally:
        c.close()
    got = cf_read(bs, topic, {0: ck.OFFSET_BEGINNING}, count=1)[0]
    assert got[0].offset == first_base, "reading from the beginning starts at %d, not %d" % (
        got[0].offset, first_base)
    assert leftover_files(pdir, first_base) == [], "files of deleted segments remain"


def test_retention_bytes(broker_factory):
    broker = broker_factory(OVERRIDES)
    bs = broker.bootstrap
    retention = 3000
    topic = cf_create_topic(bs, unique("ret-bytes"), 1, config={
        "segment.bytes": "1024", "retention.bytes": str(retention)})
    offsets = produce_batches(bs, topic, 60)
    assert offsets == list(range(60))
    pdir = broker.part_dir(topic, 0)

    def settled():
        segs = ks.segment_sizes(pdir)
        total = sum(s for _, s in segs)
        return segs if (len(segs) == 1 or total - segs[0][1] < retention) else None

    segs = wait_until(settled, 15, "retention.bytes=%d to delete old segments in %s (now %s)"
                      % (retention, pdir, ks.segment_sizes(pdir)))
    total = sum(s for _, s in segs)
    first_base = segs[0][0]
    assert first_base > 0, "segment 0 was never deleted"
    assert total >= retention, (
        "retention deleted too much: %d bytes left, retention.bytes=%d, segments %s" % (
            total, retention, segs))
    check_log_start(bs, topic, pdir, first_base, 60)


def test_retention_ms(broker_factory):
    broker = broker_factory(OVERRIDES)
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("ret-ms"), 1, config={
        "segment.bytes": "1024", "retention.ms": str(10 * 60 * 1000)})
    old = produce_batches(bs, topic, 25, ts=now_ms() - 3600 * 1000)
    new = produce_batches(bs, topic, 25, start=25)
    assert old + new == list(range(50))
    first_new = new[0]
    pdir = broker.part_dir(topic, 0)

    def settled():
        bases = ks.segment_bases(pdir)
        # The first remaining segment must be the one holding first_new:
        # everything before it held only old records.
        ok = bases and bases[0] <= first_new and not any(
            bases[0] < b <= first_new for b in bases)
        return bases if ok else None

    bases = wait_until(settled, 15, "retention.ms to delete exactly the segments with only "
                       "hour-old records (first current record at offset %d; segments now %s)"
                       % (first_new, ks.segment_bases(pdir)))
    assert bases[0] > 0, "no segment was deleted"
    check_log_start(bs, topic, pdir, bases[0], 50)
    # Nothing current was deleted.
    got = cf_read(bs, topic, {0: first_new}, count=25)[0]
    assert [r.offset for r in got] == new
