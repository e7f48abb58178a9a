"""Crash recovery of a torn or corrupt log tail.

Produce a few dozen batches (several segments), kill -9 the broker, damage
the end of the last segment's .log, restart.  As Kafka's recovery does, the
broker must cut the log after the last whole, valid batch: the log end is
that batch's next offset, everything before is readable, new records get
the next offsets, and the files are a clean sequence of batches again.
"""

import os

import confluent_kafka as ck
import pytest

import kf_segments as ks
from kf_util import cf_create_topic, cf_producer, cf_read, cf_watermarks, unique

BATCHES = 30
PER_BATCH = 3


def damage(path, batches, how):
    """Damages the last batch of the .log at path; returns a description."""
    last = batches[-1]
    size = os.path.getsize(path)
    if how == "cut10":
        os.truncate(path, size - 10)
    elif how == "cut-into-header":
        os.truncate(path, last.pos + 30)
    elif how == "zeros":
        with open(path, "ab") as f:
            f.write(b"\0" * 100)
        return "appended 100 zero bytes"
    elif how == "bad-crc":
        with open(path, "r+b") as f:
            f.seek(last.pos + ks.BATCH_HEADER_LEN + 3)
            b = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([b[0] ^ 0xFF]))
    else:
        raise ValueError(how)
    return how


@pytest.mark.parametrize("how", ["cut10", "cut-into-header", "zeros", "bad-crc"])
def test_torn_tail_is_truncated_on_restart(broker_factory, how):
    broker = broker_factory({"log.segment.bytes": "2048"})
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("torn"), 1)
    p = cf_producer(bs, **{"linger.ms": 0, "acks": "all"})
    produced = []
    for b in range(BATCHES):
        for j in range(PER_BATCH):
            k = len(produced)
            kv = (b"key-%d" % k, b"value-%d-" % k + b"q" * (k % 40))
            produced.append(kv)
            p.produce(topic, key=kv[0], value=kv[1], partition=0)
        assert p.flush(10) == 0
    del p
    assert cf_watermarks(bs, topic, 0) == (0, len(produced))
    broker.kill9()

    pdir = broker.part_dir(topic, 0)
    bases = ks.segment_bases(pdir)
    assert len(bases) >= 2, "expected several segments with log.segment.bytes=2048: %s" % bases
    last_log = ks.seg_path(pdir, bases[-1], ".log")
    batches, tail = ks.read_log(last_log)
    if how == "zeros" and tail is not None:
        pytest.fail("last segment already has a torn tail before the test damaged it: %s" % tail)
    assert batches, "last segment %s holds no batch" % last_log
    what = damage(last_log, batches, how)
    if how == "zeros":
        expected_end = batches[-1].next_offset
        expected_size = batches[-1].pos + batches[-1].size
    else:
        expected_end = batches[-1].base_offset
        expected_size = batches[-1].pos

    broker.start()
    bs = broker.bootstrap
    assert cf_watermarks(bs, topic, 0) == (0, expected_end), (
        "after restart with %s on the last batch of %s, watermarks should be (0, %d)" % (
            what, last_log, expected_end))
    got = cf_read(bs, topic, {0: ck.OFFSET_BEGINNING}, count=expected_end)[0]
    assert [(r.offset, r.key, r.value) for r in got] == [
        (i, k, v) for i, (k, v) in enumerate(produced[:expected_end])]

    p = cf_producer(bs, **{"linger.ms": 0, "acks": "all"})
    reports = []
    p.produce(topic, key=b"after", value=b"restart", partition=0,
              on_delivery=lambda err, msg: reports.append((err, msg.offset())))
    assert p.flush(10) == 0
    assert reports == [(None, expected_end)], "first produce after recovery: %r" % reports
    del p
    got = cf_read(bs, topic, {0: expected_end}, count=1)[0]
    assert (got[0].offset, got[0].key, got[0].value) == (expected_end, b"after", b"restart")

    broker.stop()
    batches_after, problems = ks.check_partition(pdir)
    assert not problems, "partition files after recovery:\n" + "\n".join(problems)
    assert batches_after[-1].next_offset == expected_end + 1
    # The damaged bytes were cut, not left in front of the new batch.
    log_batches, _ = ks.read_log(last_log)
    for b in log_batches:
        if b.base_offset == expected_end:
            assert b.pos == expected_size, (
                "new batch written at byte %d of %s, but the recovered log ended at byte %d"
                % (b.pos, last_log, expected_size))
