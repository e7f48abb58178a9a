"""Independent reader for Apache Kafka's on-disk log format, used to check
what kferry-broker writes.

Written from the format description (RecordBatch v2, .index, .timeindex),
not from the broker's code, so that a shared misunderstanding is less
likely.  Nothing here talks to the broker.

  .log        RecordBatch v2 batches, concatenated
  .index      8-byte entries: u32 BE offset relative to the segment base,
              u32 BE byte position of a batch in the .log
  .timeindex  12-byte entries: i64 BE timestamp, u32 BE relative offset

Kafka writes the offset index entry for a batch as (batch *last* offset,
batch position) - see Kafka's LogSegment.append()/recover(), and
kafka-dump-log's index check, which compares each entry's offset with the
last offset of the batch found at its position.  The time index entry
carries the last offset of the batch that first reached that max
timestamp.  INDEX_OFFSET_CONVENTION below selects what the checks expect.
"""

import os
import struct

# "last": Kafka's convention (entry offset == last offset of the batch at
# that position).  "base": entry offset == base offset of that batch.
INDEX_OFFSET_CONVENTION = "last"

BATCH_HEADER_LEN = 61
_HDR = struct.Struct(">qiibIhiqqqhii")
SEGMENT_SUFFIXES = (".log", ".index", ".timeindex")

# ---------------------------------------------------------------- CRC-32C


def _make_crc32c_table():
    poly = 0x82F63B78  # Castagnoli, reflected
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _make_crc32c_table()


def crc32c(data, crc=0):
    """CRC-32C (Castagnoli) of data; crc32c(b'123456789') == 0xE3069283."""
    t = _CRC32C_TABLE
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283

# ---------------------------------------------------------------- batches


class Batch:
    """One RecordBatch as found in a .log file."""

    __slots__ = ("pos", "base_offset", "batch_length", "leader_epoch", "magic", "crc",
                 "attributes", "last_offset_delta", "base_timestamp", "max_timestamp",
                 "producer_id", "producer_epoch", "base_sequence", "record_count",
                 "crc_ok", "raw")

    @property
    def size(self):
        return 12 + self.batch_length

    @property
    def last_offset(self):
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self):
        return self.last_offset + 1

    @property
    def compression(self):
        return self.attributes & 0x7

    @property
    def is_control(self):
        return bool(self.attributes & 0x20)

    def __repr__(self):
        return ("Batch(pos=%d, offsets=%d..%d, len=%d, count=%d, maxTs=%d, attrs=0x%x, crc_ok=%s)"
                % (self.pos, self.base_offset, self.last_offset, self.size, self.record_count,
                   self.max_timestamp, self.attributes, self.crc_ok))


def parse_batch(buf, pos):
    """Parses the batch starting at buf[pos].  Returns (Batch, None) or
    (None, reason) when the bytes from pos do not hold one whole batch."""
    avail = len(buf) - pos
    if avail < BATCH_HEADER_LEN:
        return None, "only %d bytes left, less than a batch header" % avail
    f = _HDR.unpack_from(buf, pos)
    b = Batch()
    (b.base_offset, b.batch_length, b.leader_epoch, b.magic, b.crc, b.attributes,
     b.last_offset_delta, b.base_timestamp, b.max_timestamp, b.producer_id,
     b.producer_epoch, b.base_sequence, b.record_count) = f
    b.pos = pos
    if b.batch_length < BATCH_HEADER_LEN - 12:
        return None, "batchLength %d too small" % b.batch_length
    if b.size > avail:
        return None, "batch claims %d bytes, only %d left" % (b.size, avail)
    if b.magic != 2:
        return None, "magic %d" % b.magic
    b.raw = bytes(buf[pos:pos + b.size])
    b.crc_ok = crc32c(b.raw[21:]) == b.crc
    return b, None


def read_log(path):
    """All whole batches of a .log file.  Returns (batches, tail) where tail
    is None when the file ends exactly after the last batch, else a string
    describing the bytes that do not form a batch."""
    with open(path, "rb") as f:
        buf = f.read()
    batches, pos = [], 0
    while pos < len(buf):
        b, why = parse_batch(buf, pos)
        if b is None:
            return batches, "at byte %d of %d: %s" % (pos, len(buf), why)
        batches.append(b)
        pos += b.size
    return batches, None


def _varint(buf, pos):
    shift = result = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    return (result >> 1) ^ -(result & 1), pos


def records_of(batch):
    """Decodes the records of an uncompressed batch:
    list of (offset, timestamp, key, value, headers)."""
    if batch.compression != 0:
        raise ValueError("compressed batch (codec %d): not decoded here" % batch.compression)
    buf, pos, out = batch.raw, BATCH_HEADER_LEN, []
    for _ in range(batch.record_count):
        length, pos = _varint(buf, pos)
        end = pos + length
        pos += 1  # attributes
        ts_delta, pos = _varint(buf, pos)
        off_delta, pos = _varint(buf, pos)
        klen, pos = _varint(buf, pos)
        key = None if klen < 0 else buf[pos:pos + klen]
        pos += max(klen, 0)
        vlen, pos = _varint(buf, pos)
        value = None if vlen < 0 else buf[pos:pos + vlen]
        pos += max(vlen, 0)
        nh, pos = _varint(buf, pos)
        headers = []
        for _ in range(nh):
            hk, pos = _varint(buf, pos)
            name = buf[pos:pos + hk].decode()
            pos += hk
            hv, pos = _varint(buf, pos)
            headers.append((name, None if hv < 0 else buf[pos:pos + hv]))
            pos += max(hv, 0)
        if pos != end:
            raise ValueError("record length mismatch in batch at %d" % batch.pos)
        out.append((batch.base_offset + off_delta, batch.base_timestamp + ts_delta, key, value,
                    headers))
    return out


# ---------------------------------------------------------------- indexes


def read_index(path):
    """Entries of a .index file: list of (relative_offset, position)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) % 8:
        raise ValueError("%s: size %d is not a multiple of 8" % (path, len(data)))
    return [struct.unpack_from(">II", data, i) for i in range(0, len(data), 8)]


def read_timeindex(path):
    """Entries of a .timeindex file: list of (timestamp, relative_offset)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) % 12:
        raise ValueError("%s: size %d is not a multiple of 12" % (path, len(data)))
    return [struct.unpack_from(">qI", data, i) for i in range(0, len(data), 12)]


# ---------------------------------------------------------------- partition dirs


def segment_bases(part_dir):
    """Sorted base offsets of the segments (.log files) in a partition dir."""
    out = []
    for name in os.listdir(part_dir):
        if name.endswith(".log") and len(name) == 24 and name[:20].isdigit():
            out.append(int(name[:20]))
    return sorted(out)


def seg_path(part_dir, base, suffix):
    return os.path.join(part_dir, "%020d%s" % (base, suffix))


def segment_sizes(part_dir):
    """[(base, .log size)] in base order."""
    return [(b, os.path.getsize(seg_path(part_dir, b, ".log"))) for b in segment_bases(part_dir)]


def _entry_offset_of(batch):
    return batch.last_offset if INDEX_OFFSET_CONVENTION == "last" else batch.base_offset


def check_segment(part_dir, base, index_interval_bytes=None):
    """Checks one segment's .log, .index and .timeindex against each other.
    With index_interval_bytes, also checks that offset index entries are
    exactly where Kafka's rule puts them (an entry for the first batch that
    starts more than index_interval_bytes after the previously indexed
    batch, counting from position 0) - only valid for a segment written in
    one go without a broker restart.
    Returns (batches, problems)."""
    problems = []
    name = "%020d" % base
    batches, tail = read_log(seg_path(part_dir, base, ".log"))
    if tail is not None:
        problems.append("%s.log: trailing bytes that are not a whole batch (%s)" % (name, tail))
    by_pos = {b.pos: b for b in batches}
    for i, b in enumerate(batches):
        if not b.crc_ok:
            problems.append("%s.log: CRC-32C mismatch in %r" % (name, b))
        if b.record_count != b.last_offset_delta + 1 and not b.is_control:
            problems.append("%s.log: recordCount %d != lastOffsetDelta+1 in %r"
                            % (name, b.record_count, b))
        if i and b.base_offset != batches[i - 1].next_offset:
            problems.append("%s.log: batch %r does not follow %r" % (name, b, batches[i - 1]))
    if batches and batches[0].base_offset < base:
        problems.append("%s.log: first batch offset %d below the segment base"
                        % (name, batches[0].base_offset))

    # ---- offset index
    ipath = seg_path(part_dir, base, ".index")
    entries = []
    if not os.path.exists(ipath):
        problems.append("%s.index missing" % name)
    else:
        try:
            entries = read_index(ipath)
        except ValueError as e:
            problems.append(str(e))
    prev = None
    for k, (rel, pos) in enumerate(entries):
        where = "%s.index entry #%d (rel=%d pos=%d)" % (name, k, rel, pos)
        if prev is not None and not (rel > prev[0] and pos > prev[1]):
            problems.append("%s: not strictly after previous entry %r" % (where, prev))
        prev = (rel, pos)
        b = by_pos.get(pos)
        if b is None:
            problems.append("%s: position is not the start of a batch" % where)
            continue
        want = _entry_offset_of(b)
        if base + rel != want:
            problems.append("%s: offset %d but the batch there is %d..%d (expected the %s offset,"
                            " %d)" % (where, base + rel, b.base_offset, b.last_offset,
                                      INDEX_OFFSET_CONVENTION, want))
    if index_interval_bytes is not None:
        expected, last = [], 0
        for b in batches:
            if b.pos - last > index_interval_bytes:
                expected.append(b.pos)
                last = b.pos
        got = [pos for _, pos in entries]
        if got != expected:
            problems.append("%s.index: entries at positions %s, expected %s for "
                            "index.interval.bytes=%d (batch starts: %s)"
                            % (name, got, expected, index_interval_bytes,
                               [b.pos for b in batches]))

    # ---- time index
    tpath = seg_path(part_dir, base, ".timeindex")
    tentries = []
    if not os.path.exists(tpath):
        problems.append("%s.timeindex missing" % name)
    else:
        try:
            tentries = read_timeindex(tpath)
        except ValueError as e:
            problems.append(str(e))
    prev = None
    for k, (ts, rel) in enumerate(tentries):
        where = "%s.timeindex entry #%d (ts=%d rel=%d)" % (name, k, ts, rel)
        if prev is not None and not (ts > prev[0] and rel >= prev[1]):
            problems.append("%s: timestamp not greater / offset smaller than previous entry %r"
                            % (where, prev))
        prev = (ts, rel)
        off = base + rel
        idx = next((i for i, b in enumerate(batches) if b.base_offset <= off <= b.last_offset),
                   None)
        if idx is None:
            problems.append("%s: offset %d is in no batch of the segment" % (where, off))
            continue
        b = batches[idx]
        max_before = max([x.max_timestamp for x in batches[:idx]], default=None)
        if b.max_timestamp != ts:
            problems.append("%s: batch %r holding offset %d has maxTimestamp %d"
                            % (where, b, off, b.max_timestamp))
        elif max_before is not None and max_before >= ts:
            problems.append("%s: an earlier batch already reached timestamp %d, so this is not"
                            " the first batch with max timestamp %d" % (where, max_before, ts))
        if off != _entry_offset_of(b):
            problems.append("%s: offset %d, expected the %s offset %d of batch %r"
                            % (where, off, INDEX_OFFSET_CONVENTION, _entry_offset_of(b), b))
    if batches:
        seg_max = max(b.max_timestamp for b in batches)
        if not tentries or tentries[-1][0] != seg_max:
            problems.append("%s.timeindex: last entry %r does not carry the segment's max "
                            "timestamp %d (Kafka appends it when a segment is closed)"
                            % (name, tentries[-1] if tentries else None, seg_max))
    return batches, problems


def check_partition(part_dir, index_interval_bytes=None):
    """Checks every segment of a partition and the offsets across segments.
    Returns (all batches in order, problems)."""
    problems, all_batches = [], []
    bases = segment_bases(part_dir)
    if not bases:
        problems.append("%s: no segments" % part_dir)
    for name in os.listdir(part_dir):
        if name.endswith((".index", ".timeindex")):
            stem = name.rsplit(".", 1)[0]
            if stem.isdigit() and int(stem) not in bases:
                problems.append("%s: index file without a .log" % name)
    for i, base in enumerate(bases):
        batches, p = check_segment(part_dir, base, index_interval_bytes)
        problems.extend(p)
        if batches and all_batches and batches[0].base_offset != all_batches[-1].next_offset:
            problems.append("segment %020d starts at offset %d, previous segment ended at %d"
                            % (base, batches[0].base_offset, all_batches[-1].next_offset))
        if i + 1 < len(bases) and batches and batches[-1].next_offset > bases[i + 1]:
            problems.append("segment %020d runs past the next segment's base %d"
                            % (base, bases[i + 1]))
        all_batches.extend(batches)
    return all_batches, problems
