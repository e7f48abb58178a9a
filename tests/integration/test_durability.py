"""Durability: records acknowledged with acks=all survive a kill -9.

confluent-kafka produces continuously with acks=all; the broker is killed
with SIGKILL while requests are in flight; after a restart every
acknowledged record must be readable at the offset it was acknowledged
with, with the same key and value.  Records that were in flight and never
acknowledged may or may not be there; anything that is there must be
something the producer sent, and the log must have no offset gaps.
"""

import confluent_kafka as ck
import pytest

from kf_util import cf_create_topic, cf_producer, cf_read, cf_watermarks, unique

PARTS = 2
ACKED_BEFORE_KILL = 3000


@pytest.mark.parametrize("idempotent", [False, True], ids=["plain", "idempotent"])
def test_acked_records_survive_kill9(broker, idempotent):
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("dur"), PARTS)
    acked = {}    # (partition, offset) -> (key, value)
    failed = []
    sent = {}     # key -> value
    p = cf_producer(bs, **{"acks": "all", "linger.ms": 2, "message.timeout.ms": 15000,
                           "enable.idempotence": idempotent, "retries": 3,
                           "queue.buffering.max.messages": 20000})

    def cb(err, msg):
        if err is None:
            acked[(msg.partition(), msg.offset())] = (msg.key(), msg.value())
        else:
            failed.append(err)

    i = 0
    killed_at = None
    while True:
        key, value = b"k%07d" % i, b"durable-%07d-" % i + b"z" * (i % 97)
        sent[key] = value
        try:
            p.produce(topic, key=key, value=value, partition=i % PARTS, on_delivery=cb)
        except BufferError:
            p.poll(0.01)
            continue
        i += 1
        p.poll(0)
        if killed_at is None and len(acked) >= ACKED_BEFORE_KILL:
            broker.kill9()   # requests are in flight right now
            killed_at = i
        if killed_at is not None and i >= killed_at + 200:
            break
        assert i < 1_000_000, "only %d of %d acknowledged" % (len(acked), i)
    acked_at_kill = dict(acked)
    # Drop whatever is still queued or in flight; no retries after the restart.
    p.purge(in_queue=True, in_flight=True)
    p.flush(5)
    del p
    assert len(acked) >= ACKED_BEFORE_KILL
    assert acked.keys() >= acked_at_kill.keys()

    broker.start(port=broker.port)
    for part in range(PARTS):
        mine = {off: kv for (pp, off), kv in acked.items() if pp == part}
        low, high = cf_watermarks(broker.bootstrap, topic, part)
        assert low == 0, "partition %d: log start %d after restart" % (part, low)
        # Under load every batch of one partition can still be unacknowledged
        # at the kill; such a partition has no acknowledged offset to check,
        # only that what it holds was produced and has no gaps.
        if mine:
            assert high >= max(mine) + 1, (
                "partition %d: log end %d after kill -9, but offset %d was acknowledged"
                % (part, high, max(mine)))
        got = cf_read(broker.bootstrap, topic, {part: ck.OFFSET_BEGINNING}, count=high,
                      timeout=60)[part]
        offsets = [r.offset for r in got]
        assert offsets == list(range(high)), "partition %d: offsets are not 0..%d" % (
            part, high - 1)
        for r in got:
            if r.offset in mine:
                assert (r.key, r.value) == mine[r.offset], (
                    "partition %d offset %d: got key %r, acknowledged %r" % (
                        part, r.offset, r.key, mine[r.offset][0]))
            else:
                assert sent.get(r.key) == r.value, "partition %d offset %d: record %r was " \
                    "never produced" % (part, r.offset, r.key)
