"""`kferry verify` (issue 4, item 4): source and target compared record by
record through the offset map.

Two kferry-broker processes; records are produced with confluent-kafka,
mirrored by `kferry mirror`, then the mirror is stopped and `kferry verify`
is run.  The target is then damaged in the ways verify must catch (exit 1,
partition and offsets named): a value byte flipped inside a stored segment
(with the batch CRC fixed, so only the content differs), a duplicate
written by someone else, a lost last batch.  And what must not fail:
DeleteRecords on the source after mirroring (reported as retention), a
recorded retention gap, records not mirrored yet (a failure only with
--require-complete), an unmapped target tail left by a mirror that did not
persist its map (paired by position), verify while mirroring, records
producers wrote to the target after the cutover, and both flows after a
rollback (test_rollback.py's scenario).
"""

import json
import os
import struct
import subprocess

import pytest

import kf_segments as ks
import kf_wire as kw
from kf_util import cf_create_topic, cf_produce, cf_watermarks, now_ms, unique, wait_until
from test_mirror_util import (KferryProc, end_offsets, kferry_binary, kp_all, wait_mirrored,
                              write_config)

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
    # nothing selected is no success (issue 13, item 5)
    rc, rep, _ = verify_json(kf, "--topic", "no-such-topic.*")
    assert rc == 1 and rep["partitions"] == [] and "nothing verified" in rep["error"]
    rc, out, _ = verify(kf, "--topic", "no-such-topic.*", "--allow-unmirrored")
    assert rc == 1 and "RESULT: NOTHING VERIFIED" in out and "no-such-topic" in out, out
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
                              "target_offset": toff, "count": 1, "differs": ["value"]}]
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
    # a duplicate of an already mirrored record (same key, value, headers
    # and timestamp), as a re-sending writer would leave it
    off, key, value, headers, ts = kp_all(src.bootstrap, topic, 0)[0]
    assert off == 0
    cf_produce(tgt.bootstrap, "src." + topic, [dict(partition=0, key=key, value=value,
                                                    headers=list(headers), timestamp=ts)])
    rc, rep, err = verify_json(kf)
    assert rc == 1, json.dumps(rep["totals"])
    e = part_of(rep, topic, 0)
    assert e["status"] == "failed"
    assert e["extra_on_target"] == 1
    assert e["compared"] == e["matched"] == counts[0]
    assert e["problems"] == [{"kind": "duplicate_on_target", "source_offset": 0,
                              "target_offset": counts[0], "count": 1}]
    assert rep["totals"]["extra_on_target"] == 1
    rc, out, _ = verify(kf)
    assert rc == 1
    assert ("EXTRA target src.%s/0 offset %d: past everything mirrored, a duplicate of source "
            "%s/0 offset 0" % (topic, counts[0], topic)) in out, out


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
    # records not mirrored yet fail by default (issue 13, item 5) ...
    rc, rep, _ = verify_json(kf)
    assert rc == 1 and rep["totals"]["not_yet_mirrored"] == 7
    assert not rep["complete"] and rep["ok"]
    rc, out, _ = verify(kf)
    assert rc == 1 and "RESULT: INCOMPLETE" in out and "RESULT: OK" not in out, out
    rc, rep, _ = verify_json(kf, "--require-complete")
    assert rc == 1 and rep["totals"]["not_yet_mirrored"] == 7
    # ... and --allow-unmirrored checks what is there
    rc, rep, _ = verify_json(kf, "--allow-unmirrored")
    assert rc == 0
    assert not rep["complete"] and rep["ok"]
    e = part_of(rep, topic, 0)
    assert e["status"] == "incomplete" and e["not_yet_mirrored"] == 7
    assert e["compared"] == e["matched"] == counts[0]
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
    rc, rep, _ = verify_json(kf, "--allow-unmirrored")
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
                              "target_offset": counts[0] + 3, "count": 1, "differs": ["value"]}]
    # and a second copy of a source record beyond everything the source
    # has is a duplicate
    cf_produce(tgt.bootstrap, "src." + topic, [late[4], late[4]])
    rc, rep, _ = verify_json(kf)
    assert rc == 1
    e = part_of(rep, topic, 0)
    assert e["extra_on_target"] == 1 and e["mismatched"] == 1
    assert e["problems"][-1] == {"kind": "duplicate_on_target", "source_offset": counts[0] + 4,
                                 "target_offset": counts[0] + 5, "count": 1}


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
        # the 20 deleted records never reach the target
        wait_until(lambda: end_offsets(tgt.bootstrap, "src." + topic, PARTS)[0] == c0 + 40, 60,
                   "the records after the gap to be mirrored")
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


def test_verify_while_mirroring(broker_factory, tmp_path):
    """verify may run while producers write and the mirror copies: records
    the mirror has not reached (or not mapped) yet are never failures."""
    import threading
    src, tgt = broker_factory(), broker_factory()
    topic = cf_create_topic(src.bootstrap, unique("live"), PARTS)
    cf_produce(src.bootstrap, topic, records(2000, 1))
    cfg = write_config(tmp_path / "mm2.properties", src, tgt)
    kf = KferryProc(cfg, tmp_path).start()
    try:
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, topic, "src." + topic, PARTS)
    except AssertionError:
        kf.stop()
        raise
    stop = threading.Event()
    produced = [2000]

    def produce():
        seed = 2
        while not stop.is_set():
            cf_produce(src.bootstrap, topic, records(500, seed))
            produced[0] += 500
            seed += 1

    th = threading.Thread(target=produce)
    th.start()
    try:
        for _ in range(4):
            rc, rep, err = verify_json(kf, "--allow-unmirrored")
            t = rep["totals"]
            assert rc == 0 and rep["ok"], json.dumps(rep["partitions"], indent=1)
            assert t["matched"] == t["compared"] > 0
        stop.set()
        th.join()
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, topic, "src." + topic, PARTS)
        rc, rep, err = verify_json(kf, "--require-complete")
        assert rc == 0, json.dumps(rep["partitions"], indent=1)
        assert rep["totals"]["matched"] == produced[0]
    finally:
        stop.set()
        th.join()
        kf.stop(expect=0)
    rc, rep, err = verify_json(kf, "--require-complete")
    assert rc == 0 and rep["totals"]["matched"] == produced[0] and rep["totals"]["pending_map"] == 0


def test_verify_catches_missing_target_records(broker_factory, tmp_path):
    """The target lost its last batch (the file cut at a batch boundary
    while the broker was down): the mapped records are missing."""
    src, tgt, kf, topic, counts = mirrored_pair(
        broker_factory, tmp_path, n=900, extra_cfg={"kferry.compression.type": "none"})
    tgt.stop()
    pdir = tgt.part_dir("src." + topic, 2)
    base = ks.segment_bases(pdir)[-1]
    path = ks.seg_path(pdir, base, ".log")
    batches, _ = ks.read_log(path)
    last = batches[-1]
    assert last.next_offset == counts[2]
    with open(path, "r+b") as f:
        f.truncate(last.pos)
    tgt.restart()
    assert cf_watermarks(tgt.bootstrap, "src." + topic, 2)[1] == last.base_offset
    rc, rep, _ = verify_json(kf)
    assert rc == 1
    e = part_of(rep, topic, 2)
    assert e["status"] == "failed"
    assert e["missing_on_target"] == last.record_count
    assert e["matched"] == counts[2] - last.record_count
    assert e["problems"] == [{"kind": "missing_on_target", "source_offset": last.base_offset,
                              "target_offset": last.base_offset, "count": last.record_count}]
    rc, out, _ = verify(kf)
    first, n = last.base_offset, last.record_count
    assert ("MISSING source %s/2 offsets %d..%d (%d records): mapped to target src.%s/2 offsets "
            "%d..%d (%d records), which holds no record"
            % (topic, first, first + n - 1, n, topic, first, first + n - 1, n)) in out, out


def test_verify_records_written_on_target_after_cutover(broker_factory, tmp_path):
    """Producers moved to the target after the mirror finished: their
    records follow everything mirrored and copy no source record.  They are
    reported, not compared, and are no failure."""
    src, tgt, kf, topic, counts = mirrored_pair(broker_factory, tmp_path, n=900)
    new = [dict(partition=1, key=b"new%d" % i, value=b"written on the target %d" % i)
           for i in range(25)]
    cf_produce(tgt.bootstrap, "src." + topic, new)
    rc, rep, _ = verify_json(kf, "--require-complete")
    assert rc == 0, json.dumps(rep["partitions"], indent=1)
    e = part_of(rep, topic, 1)
    assert e["status"] == "ok" and e["problems"] == []
    assert e["written_on_target"] == 25 and e["written_on_target_from"] == counts[1]
    assert e["compared"] == e["matched"] == counts[1]
    assert rep["totals"]["written_on_target"] == 25
    rc, out, _ = verify(kf)
    assert rc == 0
    assert "written on the target: 25 record(s) from target offset %d" % counts[1] in out, out


def test_verify_both_flows_after_rollback(broker_factory, tmp_path):
    """After a cutover and a rollback (test_rollback.py's scenario: onprem ->
    cloud, producers moved to cloud, mirrored back cloud -> onprem with loop
    prevention, producers moved back), verify passes for both flows: each
    flow's records match, the opposite flow's copies are recognised as such
    (not extra, not missing), and the application's records written after
    the last cutover are reported as written on the target."""
    rollback = pytest.importorskip("test_rollback")
    onprem, cloud, topic, app, fwd, rev = rollback.run_rollback(broker_factory, tmp_path)
    rc, f, _ = verify_json(fwd, "--allow-unmirrored")
    assert rc == 0, json.dumps(f["partitions"], indent=1)
    rc, r, _ = verify_json(rev)
    assert rc == 0, json.dumps(r["partitions"], indent=1)
    for rep in (f, r):
        t = rep["totals"]
        assert rep["ok"] and t["compared"] == t["matched"] > 0, t
        assert t["mismatched"] == t["missing_on_target"] == t["extra_on_target"] == 0, t
    # forward: onprem holds the reverse flow's copies of cloud records, and
    # cloud their originals; onprem's newest records are not mirrored yet
    tf = f["totals"]
    assert tf["opposite_flow_source"] == tf["opposite_flow_target"] > 0, tf
    assert tf["not_yet_mirrored"] > 0 and not f["complete"]
    # reverse: cloud's copies of onprem records are skipped, and onprem's
    # records after the move back are the application's own
    tr = r["totals"]
    assert tr["opposite_flow_source"] > 0 and tr["written_on_target"] > 0, tr


def test_verify_unreachable_cluster(broker_factory, tmp_path):
    """A cluster that cannot be reached is a failure to verify (exit 1),
    with the reason on stderr and, with --json, in the report."""
    b = broker_factory()
    cfg = tmp_path / "mm2.properties"
    write_config(cfg, b, b)
    text = cfg.read_text().replace("dst.bootstrap.servers = %s" % b.bootstrap,
                                   "dst.bootstrap.servers = 127.0.0.1:1")
    cfg.write_text(text)
    cp = subprocess.run([kferry_binary(), "verify", "--config", str(cfg), "--json"],
                        capture_output=True, timeout=120)
    assert cp.returncode == 1, (cp.stdout, cp.stderr[-2000:])
    rep = json.loads(cp.stdout)
    assert rep["ok"] is False and rep["exit_code"] == 1
    # the cluster, its address and the cause come first (issue 13, item 8)
    assert rep["error"].startswith("cluster 'dst' (127.0.0.1:1): cannot connect: "), rep
    assert b"cluster 'dst' (127.0.0.1:1): cannot connect: Connection refused" in cp.stderr
