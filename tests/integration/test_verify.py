"""`kferry verify` (issue 4, item 4): source and target compared record by
record through the offset map.

Two kferry-broker processes; records are produced with confluent-kafka,
mirrored by `kferry mirror`, then the mirror is stopped and `kferry verify`
is run.  The target is then damaged in the ways verify must catch: a value
byte flipped inside a stored segment (with the batch CRC fixed, so only the
content differs), an extra record written by someone else; and the source
loses records to DeleteRecords, which verify must report as retention, not
as a failure.
"""

import json
import os
import struct
import subprocess

import kf_segments as ks
import kf_wire as kw
from kf_util import cf_create_topic, cf_produce, cf_watermarks, now_ms, unique
from test_mirror_util import KferryProc, end_offsets, kferry_binary, wait_mirrored, write_config

PARTS = 3


def records(n, seed, parts=PARTS):
    base = now_ms() - 600_000
    out = []
    for i in range(n):
        value = None if i % 11 == 0 else b"value-%d-%06d-" % (seed, i) + b"x" * (i % 200)
        key = None if i % 13 == 0 else b"k%d" % (i % 500)
        headers = [] if i % 4 else [("h", b"%d" % i), ("n", None), ("h", b"again")]
        out.append(dict(partition=i % parts, key=key, value=value, headers=headers,
                        timestamp=base + i))
    return out


def verify(kf, *extra, timeout=120):
    cp = subprocess.run([kferry_binary(), "verify", "--config", kf.config] + list(extra),
                        capture_output=True, timeout=timeout)
    return cp.returncode, cp.stdout.decode(), cp.stderr.decode()


def verify_json(kf, *extra):
    rc, out, err = verify(kf, "--json", *extra)
    assert rc in (0, 1), "verify exited %d\nstdout:\n%s\nstderr:\n%s" % (rc, out, err)
    rep = json.loads(out)
    assert rep["exit_code"] == rc
    return rc, rep, err


def mirrored_pair(broker_factory, tmp_path, n=3000, extra_cfg=None):
    """Source with one topic of n records, mirrored to the target and the
    mirror stopped.  Returns (src, tgt, kf, topic, per-partition counts)."""
    src, tgt = broker_factory(), broker_factory()
    topic = cf_create_topic(src.bootstrap, unique("verify"), PARTS)
    cf_produce(src.bootstrap, topic, records(n, 1), **{"compression.type": "lz4"})
    cfg = write_config(tmp_path / "mm2.properties", src, tgt, extra=extra_cfg)
    kf = KferryProc(cfg, tmp_path).start()
    try:
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, topic, "src." + topic, PARTS)
    finally:
        kf.stop(expect=0)
    counts = end_offsets(src.bootstrap, topic, PARTS)
    assert sum(counts.values()) == n
    return src, tgt, kf, topic, counts


def part_of(rep, topic, p):
    for e in rep["partitions"]:
        if e["topic"] == topic and e["partition"] == p:
            return e
    raise AssertionError("no partition %s/%d in %r" % (topic, p, rep["partitions"]))


def test_verify_passes_after_mirroring(broker_factory, tmp_path):
    src, tgt, kf, topic, counts = mirrored_pair(broker_factory, tmp_path)
    rc, rep, err = verify_json(kf)
    assert rc == 0, json.dumps(rep, indent=1)
    assert rep["ok"] and rep["complete"]
    assert rep["flow"] == "src->dst"
    t = rep["totals"]
    assert t["compared"] == t["matched"] == 3000
    for k in ("mismatched", "missing_on_target", "extra_on_target", "not_yet_mirrored",
              "absent_on_source", "removed_by_source_retention", "gap_records"):
        assert t[k] == 0, (k, t)
    assert t["partitions"] == PARTS
    for p in range(PARTS):
        e = part_of(rep, topic, p)
        assert e["status"] == "ok"
        assert e["target_topic"] == "src." + topic
        assert e["compared"] == e["matched"] == counts[p]
        assert e["source"]["first_compared"] == 0
        assert e["source"]["last_compared"] == counts[p] - 1
        assert e["target"]["first_compared"] == 0
        assert e["target"]["last_compared"] == counts[p] - 1
        assert e["source"]["records_read"] == e["target"]["records_read"] == counts[p]
        assert e["source"]["digest"] == e["target"]["digest"]
        assert len(e["source"]["digest"]) == 64
        assert e["problems"] == []
    # the human report says the same, and --topic restricts the selection
    rc, out, err = verify(kf)
    assert rc == 0, out + err
    assert "RESULT: OK" in out
    assert "%s/1" % topic in out
    rc, rep, _ = verify_json(kf, "--topic", "no-such-topic.*")
    assert rc == 0 and rep["partitions"] == []
    rc, rep, _ = verify_json(kf, "--topic", topic)
    assert rc == 0 and rep["totals"]["compared"] == 3000


def flip_value_byte(tgt, topic, partition, needle):
    """Flips one byte of the stored record whose value contains needle and
    fixes its batch's CRC-32C, so that the broker and the clients see a
    valid batch holding different content.  The broker must be stopped."""
    pdir = tgt.part_dir(topic, partition)
    for base in ks.segment_bases(pdir):
        path = ks.seg_path(pdir, base, ".log")
        with open(path, "rb") as f:
            buf = bytearray(f.read())
        pos = buf.find(needle)
        if pos < 0:
            continue
        assert buf.find(needle, pos + 1) < 0, "value not unique in the segment"
        batches, tail = ks.read_log(path)
        assert tail is None
        b = next(b for b in batches if b.pos <= pos < b.pos + b.size)
        assert b.compression == 0, "target batch is compressed: %r" % b
        off = next(r[0] for r in ks.records_of(b) if r[3] is not None and needle in r[3])
        buf[pos + len(needle) - 1] ^= 0x20
        struct.pack_into(">I", buf, b.pos + 17, ks.crc32c(bytes(buf[b.pos + 21:b.pos + b.size])))
        with open(path, "wb") as f:
            f.write(buf)
        batches, _ = ks.read_log(path)
        assert all(x.crc_ok for x in batches)
        return off
    raise AssertionError("value %r not found in %s" % (needle, pdir))


def test_verify_catches_altered_record(broker_factory, tmp_path):
    # uncompressed target batches, so a value byte can be changed in place
    src, tgt, kf, topic, counts = mirrored_pair(
        broker_factory, tmp_path, extra_cfg={"kferry.compression.type": "none"})
    # record i of the produced list is in partition i % 3 at offset i // 3
    i = 3 * 400 + 1
    needle = b"value-1-%06d-" % i
    tgt.stop()
    toff = flip_value_byte(tgt, "src." + topic, 1, needle)
    tgt.restart()
    assert toff == i // 3
    rc, rep, err = verify_json(kf)
    assert rc == 1, json.dumps(rep["totals"])
    assert not rep["ok"]
    e = part_of(rep, topic, 1)
    assert e["status"] == "failed"
    assert e["mismatched"] == 1 and e["matched"] == counts[1] - 1
    assert e["problems"] == [{"kind": "mismatch", "source_offset": i // 3,
                              "target_offset": toff, "differs": ["value"]}]
    assert e["source"]["digest"] != e["target"]["digest"]
    for p in (0, 2):
        assert part_of(rep, topic, p)["status"] == "ok"
    assert rep["totals"]["mismatched"] == 1
    rc, out, _ = verify(kf)
    assert rc == 1
    assert ("MISMATCH source %s/1 offset %d <-> target src.%s/1 offset %d: value differs"
            % (topic, i // 3, topic, toff)) in out, out
    assert "RESULT: FAILED" in out


def test_verify_catches_extra_target_record(broker_factory, tmp_path):
    src, tgt, kf, topic, counts = mirrored_pair(broker_factory, tmp_path, n=1500)
    # a duplicate of an already mirrored record, written by someone else
    dup = records(1500, 1)[0]
    cf_produce(tgt.bootstrap, "src." + topic, [dup])
    rc, rep, err = verify_json(kf)
    assert rc == 1, json.dumps(rep["totals"])
    e = part_of(rep, topic, 0)
    assert e["status"] == "failed"
    assert e["extra_on_target"] == 1
    assert e["compared"] == e["matched"] == counts[0]
    assert e["problems"] == [{"kind": "extra_on_target", "source_offset": None,
                              "target_offset": counts[0]}]
    assert rep["totals"]["extra_on_target"] == 1
    rc, out, _ = verify(kf)
    assert rc == 1
    assert "EXTRA target src.%s/0 offset %d" % (topic, counts[0]) in out, out


def test_verify_source_retention_is_not_a_failure(broker_factory, tmp_path):
    src, tgt, kf, topic, counts = mirrored_pair(broker_factory, tmp_path, n=1500)
    cut = 123
    with kw.RawConn(src.host, src.port) as c:
        assert kw.delete_records(c, topic, {2: cut}) == {2: (cut, 0)}
    assert cf_watermarks(src.bootstrap, topic, 2)[0] == cut
    rc, rep, err = verify_json(kf)
    assert rc == 0, json.dumps(rep, indent=1)
    e = part_of(rep, topic, 2)
    assert e["status"] == "ok"
    assert e["removed_by_retention"] == {"source": cut, "target": 0}
    assert e["compared"] == e["matched"] == counts[2] - cut
    assert e["source"]["first_compared"] == cut and e["target"]["first_compared"] == cut
    assert e["source"]["log_start"] == cut
    assert rep["totals"]["removed_by_source_retention"] == cut
    assert rep["totals"]["compared"] == 1500 - cut
    rc, out, _ = verify(kf)
    assert rc == 0, out
    assert "%d mirrored record(s) below source offset %d were removed by source retention" % (
        cut, cut) in out, out


def test_verify_not_yet_mirrored(broker_factory, tmp_path):
    src, tgt, kf, topic, counts = mirrored_pair(broker_factory, tmp_path, n=600)
    cf_produce(src.bootstrap, topic, [dict(partition=0, key=b"late", value=b"v%d" % i)
                                      for i in range(7)])
    rc, rep, _ = verify_json(kf)
    assert rc == 0
    assert not rep["complete"] and rep["ok"]
    e = part_of(rep, topic, 0)
    assert e["status"] == "incomplete" and e["not_yet_mirrored"] == 7
    assert e["compared"] == e["matched"] == counts[0]
    rc, rep, _ = verify_json(kf, "--require-complete")
    assert rc == 1 and rep["totals"]["not_yet_mirrored"] == 7
    # mirroring again completes it
    kf.start()
    try:
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, topic, "src." + topic, PARTS)
    finally:
        kf.stop(expect=0)
    rc, rep, _ = verify_json(kf, "--require-complete")
    assert rc == 0 and rep["complete"] and rep["totals"]["compared"] == 607


def test_verify_usage_errors(tmp_path, broker_factory):
    b = broker_factory()
    cfg = write_config(tmp_path / "mm2.properties", b, b)
    bad = tmp_path / "bad.properties"
    bad.write_text("clusters = a\nnot.a.key = 1\n")
    for args in (["verify"], ["verify", "--config", cfg, "--bogus"],
                 ["verify", "--config", cfg, "--topic", "("],
                 ["verify", "--config", cfg, "--parallel", "0"],
                 ["verify", "--config", str(bad)],
                 ["verify", "--config", str(tmp_path / "missing.properties")]):
        cp = subprocess.run([kferry_binary()] + args, capture_output=True, timeout=60)
        assert cp.returncode == 2, (args, cp.stdout, cp.stderr)
    assert os.path.exists(cfg)


def test_verify_pairs_unmapped_target_tail(broker_factory, tmp_path):
    """Records on the target past the map (written by a mirror that died
    before persisting the map) are paired with the next source records by
    position, as the mirror's reconciliation does: matching ones pass,
    a differing one fails, one more than the source has is extra."""
    src, tgt, kf, topic, counts = mirrored_pair(broker_factory, tmp_path, n=300)
    late = [dict(partition=0, key=b"late%d" % i, value=b"v%d" % i, timestamp=now_ms() - i,
                 headers=[("x", b"%d" % i)]) for i in range(5)]
    cf_produce(src.bootstrap, topic, late)
    cf_produce(tgt.bootstrap, "src." + topic, late[:3])  # as if mirrored, map not persisted
    rc, rep, _ = verify_json(kf)
    assert rc == 0, json.dumps(rep["partitions"], indent=1)
    e = part_of(rep, topic, 0)
    assert e["pending_map"] == 3 and e["compared"] == e["matched"] == counts[0] + 3
    assert e["not_yet_mirrored"] == 2 and e["not_yet_mirrored_from"] == counts[0] + 3
    assert e["status"] == "incomplete"
    # the next target record differs from the source record at its position
    bad = dict(late[3], value=b"not the same")
    cf_produce(tgt.bootstrap, "src." + topic, [bad])
    rc, rep, _ = verify_json(kf)
    assert rc == 1
    e = part_of(rep, topic, 0)
    assert e["problems"] == [{"kind": "mismatch", "source_offset": counts[0] + 3,
                              "target_offset": counts[0] + 3, "differs": ["value"]}]
    # and target records beyond everything the source has are extra
    cf_produce(tgt.bootstrap, "src." + topic, [late[4], late[4]])
    rc, rep, _ = verify_json(kf)
    assert rc == 1
    e = part_of(rep, topic, 0)
    assert e["extra_on_target"] == 1 and e["mismatched"] == 1
    assert e["problems"][-1] == {"kind": "extra_on_target", "source_offset": None,
                                 "target_offset": counts[0] + 5}


def test_verify_reports_recorded_retention_gap(broker_factory, tmp_path):
    """Source retention removed records before they were mirrored; the
    mirror (gap policy continue) recorded the gap.  verify lists the gap and
    the records retention removed after mirroring, and passes."""
    src, tgt, kf, topic, counts = mirrored_pair(
        broker_factory, tmp_path, n=300, extra_cfg={"kferry.gap.policy": "continue"})
    c0 = counts[0]
    cf_produce(src.bootstrap, topic, [dict(partition=0, key=b"g%d" % i, value=b"%d" % i)
                                      for i in range(60)])
    with kw.RawConn(src.host, src.port) as c:
        assert kw.delete_records(c, topic, {0: c0 + 20}) == {0: (c0 + 20, 0)}
    kf.start()
    try:
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, topic, "src." + topic, PARTS)
        # the target has 20 fewer records than the source's end offset
    except AssertionError:
        pass
    finally:
        kf.stop(expect=0)
    rc, rep, _ = verify_json(kf, "--require-complete")
    assert rc == 0, json.dumps(rep["partitions"], indent=1)
    e = part_of(rep, topic, 0)
    assert e["retention_gaps"] == [{"start": c0, "end": c0 + 20}]
    assert e["gap_records"] == 20
    assert e["removed_by_retention"]["source"] == c0
    assert e["compared"] == e["matched"] == 40
    assert e["source"]["first_compared"] == c0 + 20 and e["target"]["first_compared"] == c0
    rc, out, _ = verify(kf)
    assert rc == 0
    assert "gap: source offsets [%d, %d) were deleted by source retention before" % (
        c0, c0 + 20) in out, out
