"""The on-disk files are Apache Kafka's format, checked by an independent
decoder (kf_segments.py): every .log batch whole with a valid CRC-32C,
offsets contiguous across segments; every .index entry at a batch start,
with Kafka's offset for that batch, strictly increasing, exactly where
index.interval.bytes puts it; every .timeindex entry strictly increasing
and naming the first batch that reached its max timestamp, the last one
carrying the segment's max timestamp.

Batches vary in record count, size and codec; some carry timestamps older
than earlier ones (the time index must not grow for them).  After the
check the broker is restarted and everything read back.
"""

import confluent_kafka as ck

import kf_segments as ks
from kf_util import (Rec, cf_create_topic, cf_producer, cf_read, cf_watermarks, now_ms, unique)

INTERVAL = 512
SEGMENT = 4096
PARTS = 2
ROUNDS = 120


def test_index_and_timeindex_files(broker_factory):
    broker = broker_factory({"log.index.interval.bytes": str(INTERVAL),
                             "log.segment.bytes": str(SEGMENT)})
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("idx"), PARTS)
    producers = {codec: cf_producer(bs, **{"linger.ms": 1000, "compression.type": codec,
                                           "acks": "all"}) for codec in ("none", "gzip", "zstd")}
    base_ts = now_ms() - 600_000
    want = {p: [] for p in range(PARTS)}
    for r in range(ROUNDS):
        codec = ("none", "none", "gzip", "zstd")[r % 4]
        prod = producers[codec]
        nrec = 1 + (r * 7) % 3
        for p in range(PARTS):
            for j in range(nrec):
                ts = base_ts + r * 100 + j
                if r % 7 == 3:
                    ts -= 5000   # older than what came before
                filler = b"compressible-%d-" % r * ((r * 37 + j * 11) % 6)
                val = ("r%d-p%d-j%d-" % (r, p, j)).encode() + filler
                key = b"key-%d-%d" % (r, j)
                off = len(want[p])
                want[p].append(Rec(p, off, key, val, (), ts))
                prod.produce(topic, key=key, value=val, partition=p, timestamp=ts)
        assert prod.flush(10) == 0
    for prod in producers.values():
        assert prod.flush(10) == 0
    del producers
    for p in range(PARTS):
        assert cf_watermarks(bs, topic, p) == (0, len(want[p]))
    broker.stop()

    for p in range(PARTS):
        pdir = broker.part_dir(topic, p)
        batches, problems = ks.check_partition(pdir, index_interval_bytes=INTERVAL)
        assert not problems, "partition %d:\n%s" % (p, "\n".join(problems))
        bases = ks.segment_bases(pdir)
        assert len(bases) >= 3, "expected several segments with segment.bytes=%d, got %s" % (
            SEGMENT, bases)
        assert bases[0] == 0
        assert batches[-1].next_offset == len(want[p])
        # (Whether gzip really goes over the wire is test_clients_roundtrip's job.)
        assert 4 in {b.compression for b in batches}, "no zstd batch stored"
        n_index = sum(len(ks.read_index(ks.seg_path(pdir, b, ".index"))) for b in bases)
        assert n_index >= 3 * len(bases), "too few index entries (%d) to test anything" % n_index
        # Segment sizes respect segment.bytes (a batch never straddles).
        for base, size in ks.segment_sizes(pdir):
            assert size <= SEGMENT, "segment %d is %d bytes > segment.bytes" % (base, size)
        # Uncompressed batches carry what was produced, at the right offsets.
        for b in batches:
            if b.compression == 0:
                for off, ts, key, value, headers in ks.records_of(b):
                    w = want[p][off]
                    assert (key, value, ts) == (w.key, w.value, w.ts), "record %d on disk" % off

    broker.start()
    got = cf_read(broker.bootstrap, topic, {p: ck.OFFSET_BEGINNING for p in range(PARTS)},
                  count=sum(len(v) for v in want.values()))
    for p in range(PARTS):
        assert got[p] == want[p], "partition %d read back after restart differs" % p
