"""Round trip with each real client and each compression codec.

For confluent-kafka, kafka-python and kcat: create a topic with several
partitions, produce keyed records, null keys/values and headers with one
codec, read everything back from the beginning and compare every record
(partition, offset, key, value, headers, timestamp, order); then look up
offsets by timestamp and check that reading from there starts at the first
record (in offset order) whose timestamp is >= the target; finally stop the
broker and check on disk that every batch was stored with the requested
codec (so a client that silently fell back to uncompressed is caught).
"""

import json

import confluent_kafka as ck
import pytest

import kf_segments as ks

from kf_util import (Rec, cf_consumer, cf_create_topic, cf_produce, cf_read, cf_watermarks,
                     kcat, kp_consumer, kp_kwargs, kp_read, now_ms, unique, wait_until)

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PARTS = 3
PER_PART = 40
REGRESS_AT = 30  # record whose timestamp goes back in time


def make_records(codec, null_header_values=True, empty_value=True):
    """PER_PART records per partition, offsets 0..PER_PART-1, with explicit
    CreateTime timestamps one second apart - except record REGRESS_AT,
    whose timestamp lies between records 10 and 11."""
    base_ts = (now_ms() - 3600 * 1000) // 1000 * 1000
    recs = []
    for p in range(PARTS):
        for i in range(PER_PART):
            key = None if i % 7 == 3 else ("key-%d-%d" % (p, i)).encode()
            value = None if i % 5 == 2 else (
                "value-%s-%d-%d-" % (codec, p, i) + "x" * (i * 13 % 200)).encode()
            if key is None and value is None:
                value = b"key-and-value-not-both-null"
            if empty_value and i == 11:
                value = b""
            if i % 4 == 1:
                headers = (("h1", b"one"), ("h2", ("%d:%d" % (p, i)).encode()))
            elif i % 4 == 2:
                headers = (("dup", b"a"), ("dup", b"b"), ("empty", b""))
            elif i % 4 == 3 and null_header_values:
                headers = (("nullval", None),)
            else:
                headers = ()
            ts = base_ts + 1000 * i
            if i == REGRESS_AT:
                ts = base_ts + 10500
            recs.append(Rec(p, i, key, value, headers, ts))
    return recs


def by_partition(recs):
    out = {p: [] for p in range(PARTS)}
    for r in recs:
        out[r.partition].append(r)
    return out


def first_at_or_after(recs, target):
    """Kafka's answer to ListOffsets(target): the first record in offset
    order whose timestamp is >= target, or None."""
    return next((r for r in recs if r.ts >= target), None)


def timestamp_targets(part_recs):
    """Targets that exercise exact hits, gaps, the regressing timestamp and
    'nothing that late'."""
    ts = [r.ts for r in part_recs]
    return [min(ts) - 5000, ts[13], ts[25] - 1, ts[10] + 500, ts[REGRESS_AT], max(ts),
            max(ts) + 1]


def assert_same(got, want, client):
    for p in range(PARTS):
        g, w = got.get(p, []), want[p]
        for k, (a, b) in enumerate(zip(g, w)):
            assert a == b, "%s, partition %d, record #%d:\n got  %r\n want %r" % (
                client, p, k, a, b)
        assert len(g) == len(w), "%s, partition %d: %d records, expected %d" % (
            client, p, len(g), len(w))


def check_watermarks(bootstrap, topic, want_high):
    for p in range(PARTS):
        assert cf_watermarks(bootstrap, topic, p) == (0, want_high), (
            "partition %d watermarks" % p)


CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def check_stored_codec(broker, topic, codec, client):
    """Stops the broker and checks that the stored batches carry the codec
    the client was asked to use: the records went over the wire compressed
    and were stored as sent.  (librdkafka silently sends uncompressed
    batches when it decides from ApiVersions that the broker cannot take
    the codec - see its debug log 'Broker does not support compression
    type'.)  A client may still send a batch uncompressed when compressing
    it would not save space (librdkafka does so for a lone small record),
    so the rule is: no batch uses another codec, and every partition holds
    at least one batch with the requested one."""
    broker.stop()
    names = {v: k for k, v in CODEC_IDS.items()}
    for p in range(PARTS):
        pdir = broker.part_dir(topic, p)
        seen = []
        for base in ks.segment_bases(pdir):
            batches, tail = ks.read_log(ks.seg_path(pdir, base, ".log"))
            assert tail is None, "partition %d segment %d: %s" % (p, base, tail)
            for b in batches:
                assert b.crc_ok, "partition %d: bad CRC in %r" % (p, b)
                assert b.compression in (0, CODEC_IDS[codec]), (
                    "%s asked for %s, but partition %d holds %r with codec %d (%s)" % (
                        client, codec, p, b, b.compression, names.get(b.compression)))
                seen.append(b)
        assert any(b.compression == CODEC_IDS[codec] for b in seen), (
            "%s asked for %s, but no batch of partition %d uses it: %r" % (
                client, codec, p, seen[:5]))


def skip_if_kafka_python_lacks(codec):
    import kafka.codec as kc
    has = {"none": True, "gzip": True, "snappy": kc.has_snappy(), "lz4": kc.has_lz4(),
           "zstd": kc.has_zstd()}[codec]
    if not has:
        pytest.skip("kafka-python cannot do %s here: install python3-%s" % (
            codec, {"snappy": "snappy", "lz4": "lz4", "zstd": "zstandard"}[codec]))


# ---------------------------------------------------------------- confluent-kafka


@pytest.mark.parametrize("codec", CODECS)
def test_roundtrip_confluent(broker, codec):
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("rt-cf-" + codec), PARTS)
    recs = make_records(codec)
    # Two producers, one after the other: at least two batches per partition.
    half = [r for r in recs if r.offset < PER_PART // 2], [r for r in recs
                                                            if r.offset >= PER_PART // 2]
    for part in half:
        reports = cf_produce(bs, topic, [
            dict(key=r.key, value=r.value, partition=r.partition, timestamp=r.ts,
                 headers=list(r.headers) or None) for r in part],
            **{"compression.type": codec, "linger.ms": 50})
        for r, rep in zip(part, reports):
            assert rep == (r.partition, r.offset, None), (
                "delivery report for %r: %r" % (r, rep))
    want = by_partition(recs)
    got = cf_read(bs, topic, {p: ck.OFFSET_BEGINNING for p in range(PARTS)}, count=len(recs))
    assert_same(got, want, "confluent-kafka/" + codec)
    check_watermarks(bs, topic, PER_PART)

    c = cf_consumer(bs)
    try:
        for tnum in range(len(timestamp_targets(want[0]))):
            targets = {p: timestamp_targets(want[p])[tnum] for p in range(PARTS)}
            res = c.offsets_for_times([ck.TopicPartition(topic, p, t)
                                       for p, t in targets.items()], timeout=10)
            offsets = {}
            for tp in res:
                assert tp.error is None, "offsets_for_times error %s" % tp.error
                exp = first_at_or_after(want[tp.partition], targets[tp.partition])
                assert tp.offset == (exp.offset if exp else -1), (
                    "offsets_for_times(partition %d, ts %d) = %d, expected %s"
                    % (tp.partition, targets[tp.partition], tp.offset, exp))
                if exp:
                    offsets[tp.partition] = tp.offset
            if not offsets:
                continue
            got = cf_read(bs, topic, offsets, min_each=1, consumer=c)
            for p, off in offsets.items():
                exp = first_at_or_after(want[p], targets[p])
                assert got[p][0] == exp, "first record from ts %d, partition %d" % (
                    targets[p], p)
    finally:
        c.close()
    check_stored_codec(broker, topic, codec, "confluent-kafka")


# ---------------------------------------------------------------- kafka-python


@pytest.mark.parametrize("codec", CODECS)
def test_roundtrip_kafka_python(broker, codec):
    skip_if_kafka_python_lacks(codec)
    from kafka import KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic

    bs = broker.bootstrap
    topic = unique("rt-kp-" + codec)
    admin = KafkaAdminClient(**kp_kwargs(bs))
    try:
        resp = admin.create_topics([NewTopic(topic, PARTS, 1)], timeout_ms=10000)
        errors = [(t, e) for t, e, *_ in resp.topic_errors if e != 0]
        assert not errors, "CreateTopics errors: %r" % errors
    finally:
        admin.close()

    # kafka-python's headers must be bytes: no null header values.
    recs = make_records(codec, null_header_values=False)
    for part in ([r for r in recs if r.offset < PER_PART // 2],
                 [r for r in recs if r.offset >= PER_PART // 2]):
        prod = KafkaProducer(**kp_kwargs(bs, compression_type=None if codec == "none" else codec,
                                         linger_ms=50, acks=1))
        try:
            futs = [prod.send(topic, key=r.key, value=r.value, partition=r.partition,
                              timestamp_ms=r.ts, headers=list(r.headers)) for r in part]
            prod.flush(30)
            for r, f in zip(part, futs):
                md = f.get(timeout=30)
                assert (md.partition, md.offset) == (r.partition, r.offset), (
                    "RecordMetadata for %r: %r" % (r, md))
        finally:
            prod.close(10)

    want = by_partition(recs)
    got = kp_read(bs, topic, {p: None for p in range(PARTS)}, count=len(recs))
    assert_same(got, want, "kafka-python/" + codec)

    c = kp_consumer(bs)
    try:
        tps = {p: TopicPartition(topic, p) for p in range(PARTS)}
        assert c.beginning_offsets(list(tps.values())) == {tp: 0 for tp in tps.values()}
        assert c.end_offsets(list(tps.values())) == {tp: PER_PART for tp in tps.values()}
        for tnum in range(len(timestamp_targets(want[0]))):
            targets = {p: timestamp_targets(want[p])[tnum] for p in range(PARTS)}
            res = c.offsets_for_times({tps[p]: t for p, t in targets.items()})
            offsets = {}
            for p in range(PARTS):
                exp = first_at_or_after(want[p], targets[p])
                ot = res[tps[p]]
                if exp is None:
                    assert ot is None, "offsets_for_times(p%d, %d) = %r, expected None" % (
                        p, targets[p], ot)
                    continue
                assert ot is not None and (ot.offset, ot.timestamp) == (exp.offset, exp.ts), (
                    "offsets_for_times(p%d, %d) = %r, expected offset %d ts %d"
                    % (p, targets[p], ot, exp.offset, exp.ts))
                offsets[p] = ot.offset
            if not offsets:
                continue
            got = kp_read(bs, topic, offsets, min_each=1, consumer=c)
            for p in offsets:
                exp = first_at_or_after(want[p], targets[p])
                assert got[p][0] == exp, "first record from ts %d, partition %d" % (
                    targets[p], p)
    finally:
        c.close()
    check_stored_codec(broker, topic, codec, "kafka-python")


# ---------------------------------------------------------------- kcat


def kcat_records(stdout):
    """Parses kcat -J output into Recs (text keys/values)."""
    out = []
    for line in stdout.decode().splitlines():
        if not line.strip():
            continue
        j = json.loads(line)
        h = j.get("headers") or []
        headers = tuple((h[i], None if h[i + 1] is None else h[i + 1].encode())
                        for i in range(0, len(h), 2))
        enc = (lambda s: None if s is None else s.encode())
        out.append(Rec(j["partition"], j["offset"], enc(j["key"]), enc(j["payload"]), headers,
                       j["ts"]))
    return out


KCAT_RUNS = [
    # (header args, headers as read back)
    (["-H", "h1=one", "-H", "dup=a", "-H", "dup=b", "-H", "empty="],
     (("h1", b"one"), ("dup", b"a"), ("dup", b"b"), ("empty", b""))),
    (["-H", "h2=two", "-H", "nullval"], (("h2", b"two"), ("nullval", None))),
]


@pytest.mark.parametrize("codec", CODECS)
def test_roundtrip_kcat(broker, codec):
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("rt-kcat-" + codec), PARTS)
    want = {p: [] for p in range(PARTS)}
    t_start = now_ms()
    for run, (hargs, headers) in enumerate(KCAT_RUNS):
        if run:
            # kcat sets CreateTime itself: make sure run 2 gets later timestamps.
            t_mark = now_ms()
            wait_until(lambda: now_ms() > t_mark + 5, 1, "the clock to move")
        for p in range(PARTS):
            lines = []
            for i in range(run * PER_PART // 2, (run + 1) * PER_PART // 2):
                key = None if i % 7 == 3 else "key-%d-%d" % (p, i)
                value = None if i % 5 == 2 else "value-%s-%d-%d-%s" % (codec, p, i,
                                                                        "x" * (i * 13 % 200))
                if key is None and value is None:
                    value = "key-and-value-not-both-null"
                # With -K'|' -Z: empty key or empty value is sent as null.
                lines.append("%s|%s" % (key or "", value or ""))
                want[p].append(Rec(p, i, key and key.encode(), value and value.encode(),
                                   headers, None))
            kcat(["-b", bs, "-P", "-t", topic, "-p", str(p), "-K", "|", "-Z",
                  "-X", "compression.codec=" + codec, "-X", "linger.ms=50"] + hargs,
                 input=("\n".join(lines) + "\n").encode())
    t_end = now_ms()

    total = PARTS * PER_PART
    cp = kcat(["-b", bs, "-C", "-t", topic, "-o", "beginning", "-e", "-J", "-q",
               "-c", str(total)], timeout=60)
    got_list = kcat_records(cp.stdout)
    got = {p: [r for r in got_list if r.partition == p] for p in range(PARTS)}
    for p in range(PARTS):
        for r in got[p]:
            assert t_start - 1000 <= r.ts <= t_end + 1000, "kcat record timestamp %r" % (r,)
    # Timestamps come from kcat: compare everything else, then use the real ones.
    assert_same({p: [r._replace(ts=None) for r in got[p]] for p in got}, want,
                "kcat/" + codec)
    check_watermarks(bs, topic, PER_PART)

    for p in range(PARTS):
        assert len({r.ts for r in got[p]}) >= 2, "kcat runs got identical timestamps"
    run2_first = {p: got[p][PER_PART // 2].ts for p in range(PARTS)}
    run1_last = {p: max(r.ts for r in got[p][:PER_PART // 2]) for p in range(PARTS)}
    target_sets = [
        {p: got[p][0].ts - 1 for p in range(PARTS)},
        {p: run1_last[p] + 1 for p in range(PARTS)},
        {p: run2_first[p] for p in range(PARTS)},
        {p: max(r.ts for r in got[p]) + 1 for p in range(PARTS)},
    ]
    for targets in target_sets:
        for p in range(PARTS):
            exp = first_at_or_after(got[p], targets[p])
            cp = kcat(["-b", bs, "-C", "-t", topic, "-p", str(p), "-o", "s@%d" % targets[p],
                       "-e", "-J", "-q", "-c", "1"], timeout=30)
            first = kcat_records(cp.stdout)
            if exp is None:
                assert first == [], "kcat -o s@%d on partition %d returned %r, expected nothing" % (
                    targets[p], p, first)
            else:
                assert first == [exp], "kcat -o s@%d on partition %d: got %r, expected %r" % (
                    targets[p], p, first, exp)
    check_stored_codec(broker, topic, codec, "kcat")
