"""Transactions on kferry-broker, with real clients.

confluent-kafka (librdkafka 2.0.2) transactional producers commit and
abort across partitions; read_committed consumers must see exactly the
committed records (at the offsets read_uncommitted sees them), before and
after a kill -9.  Also: offsets sent to a transaction become the group's
committed offsets only at commit; a second producer with the same
transactional.id fences the first; a stalled transaction is aborted by the
broker after transaction.timeout.ms; the .txnindex files are Kafka's
format; and Kafka's own Java producer and kafka-transactions.sh work.
"""

import glob
import os
import struct
import subprocess
import tempfile
import time

import confluent_kafka as ck
import pytest

from kf_util import cf_consumer, cf_create_topic, cf_produce, cf_producer, unique, wait_until


def txn_producer(bs, tid, **extra):
    conf = {"transactional.id": tid, "linger.ms": 5}
    conf.update(extra)
    if "transaction.timeout.ms" in extra:  # librdkafka: socket.timeout.ms <= it + 100
        conf["socket.timeout.ms"] = min(10000, extra["transaction.timeout.ms"])
        conf["message.timeout.ms"] = extra["transaction.timeout.ms"]
    return cf_producer(bs, **conf)


def read_all(bs, topic, parts, isolation, settle=1.5, timeout=30):
    """Every record readable from the start of each partition with the
    given isolation level: {partition: [(offset, value)]}.  Reads until
    each partition's position reached its end for that isolation level
    (LSO for read_committed, high watermark otherwise) and nothing more
    arrives for `settle` seconds."""
    c = cf_consumer(bs, **{"isolation.level": isolation, "auto.offset.reset": "earliest"})
    out = {p: [] for p in range(parts)}
    try:
        c.assign([ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in range(parts)])
        ends = {}
        for p in range(parts):
            lo, hi = c.get_watermark_offsets(ck.TopicPartition(topic, p), timeout=10,
                                             cached=False)
            ends[p] = hi
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while True:
            m = c.poll(0.2)
            if m is not None:
                assert m.error() is None, "consumer error: %s" % m.error()
                out[m.partition()].append((m.offset(), m.value()))
                quiet_since = time.monotonic()
                continue
            pos = {tp.partition: tp.offset for tp in
                   c.position([ck.TopicPartition(topic, p) for p in range(parts)])}
            reached = all(ends[p] == 0 or pos.get(p, -1) >= ends[p] for p in range(parts))
            if reached and time.monotonic() - quiet_since >= settle:
                return out
            assert time.monotonic() < deadline, (
                "read_all(%s) did not reach %s (at %s)" % (isolation, ends, pos))
    finally:
        c.close()


def values(view):
    return {p: [v for _, v in recs] for p, recs in view.items()}


def watermarks(bs, topic, p, isolation):
    c = cf_consumer(bs, **{"isolation.level": isolation})
    try:
        return c.get_watermark_offsets(ck.TopicPartition(topic, p), timeout=10, cached=False)
    finally:
        c.close()


def produce_txn(p, topic, parts, tag, n, commit):
    p.begin_transaction()
    for i in range(n):
        for part in range(parts):
            p.produce(topic, value=b"%s-%d-%03d" % (tag, part, i), partition=part)
    assert p.flush(20) == 0
    if commit:
        p.commit_transaction(20)
    else:
        p.abort_transaction(20)


def read_txnindex(path):
    data = open(path, "rb").read()
    assert len(data) % 34 == 0, "%s: %d bytes is not a whole number of entries" % (path, len(data))
    return [struct.unpack(">hqqqq", data[i:i + 34]) for i in range(0, len(data), 34)]


def test_commit_abort_read_committed_and_kill9(broker):
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("txn"), 2)
    p = txn_producer(bs, unique("tid"))
    p.init_transactions(20)
    produce_txn(p, topic, 2, b"c1", 10, True)
    produce_txn(p, topic, 2, b"ab", 10, False)
    produce_txn(p, topic, 2, b"c2", 5, True)
    p.flush(5)

    expect = {part: [b"c1-%d-%03d" % (part, i) for i in range(10)] +
              [b"c2-%d-%03d" % (part, i) for i in range(5)] for part in range(2)}
    expect_all = {part: [b"c1-%d-%03d" % (part, i) for i in range(10)] +
                  [b"ab-%d-%03d" % (part, i) for i in range(10)] +
                  [b"c2-%d-%03d" % (part, i) for i in range(5)] for part in range(2)}

    def check():
        rc = read_all(bs, topic, 2, "read_committed")
        ru = read_all(bs, topic, 2, "read_uncommitted")
        assert values(rc) == expect
        assert values(ru) == expect_all
        # Committed records sit at the same offsets in both views.
        ru_off = {part: dict((v, o) for o, v in recs) for part, recs in ru.items()}
        for part, recs in rc.items():
            for o, v in recs:
                assert ru_off[part][v] == o
        for part in range(2):
            lo, hi = watermarks(bs, topic, part, "read_committed")
            # 25 records + 3 markers: nothing is open, so LSO == HW.
            assert hi == 28, (part, lo, hi)
            assert watermarks(bs, topic, part, "read_uncommitted")[1] == 28
        return rc

    before = check()
    # The abort is in Kafka's transaction index of the segment holding its marker.
    for part in range(2):
        files = glob.glob(os.path.join(broker.part_dir(topic, part), "*.txnindex"))
        assert len(files) == 1, files
        ents = read_txnindex(files[0])
        assert len(ents) == 1
        version, pid, first, last, lso = ents[0]
        assert version == 0 and pid >= 0
        assert (first, last) == (11, 21), ents  # 10 records + commit marker, then the aborted 10
    broker.kill9()
    broker.restart()
    assert check() == before
    # The coordinator state survived: the same transactional id continues.
    produce_txn(p, topic, 2, b"c3", 2, True)
    rc = read_all(bs, topic, 2, "read_committed")
    assert values(rc)[0][-2:] == [b"c3-0-000", b"c3-0-001"]


def test_ongoing_transaction_interrupted_by_crash_is_aborted(broker):
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("txn-crash"), 2)
    p = txn_producer(bs, unique("tid"), **{"transaction.timeout.ms": 4000})
    p.init_transactions(20)
    produce_txn(p, topic, 2, b"ok", 3, True)
    p.begin_transaction()
    for part in range(2):
        p.produce(topic, value=b"open-%d" % part, partition=part)
    assert p.flush(20) == 0
    assert watermarks(bs, topic, 0, "read_committed")[1] == 4  # LSO at the open transaction
    broker.kill9()
    broker.restart()
    # Right after the restart the transaction is still open (rebuilt from the log) ...
    assert watermarks(bs, topic, 0, "read_committed")[1] == 4
    # ... and the coordinator aborts it once its timeout has passed.
    wait_until(lambda: watermarks(bs, topic, 0, "read_committed")[1] == 6, 20,
               "the interrupted transaction to be aborted")
    rc = read_all(bs, topic, 2, "read_committed")
    assert values(rc) == {part: [b"ok-%d-%03d" % (part, i) for i in range(3)] for part in range(2)}


def test_send_offsets_to_transaction(broker):
    bs = broker.bootstrap
    src = cf_create_topic(bs, unique("ctp-in"), 1)
    dst = cf_create_topic(bs, unique("ctp-out"), 1)
    group = unique("ctp-g")
    cf_produce(bs, src, [{"value": b"in-%d" % i} for i in range(20)])
    cons = cf_consumer(bs, group=group, **{"auto.offset.reset": "earliest",
                                           "isolation.level": "read_committed"})
    prod = txn_producer(bs, unique("tid"))
    prod.init_transactions(20)

    def committed():
        c = cf_consumer(bs, group=group, **{"isolation.level": "read_uncommitted"})
        try:
            return c.committed([ck.TopicPartition(src, 0)], timeout=10)[0].offset
        finally:
            c.close()

    def round_trip(n, commit):
        got = []
        while len(got) < n:
            m = cons.poll(0.5)
            if m is not None:
                assert m.error() is None
                got.append(m)
        prod.begin_transaction()
        for m in got:
            prod.produce(dst, value=b"out-" + m.value())
        assert prod.flush(20) == 0
        pos = [ck.TopicPartition(src, 0, got[-1].offset() + 1)]
        prod.send_offsets_to_transaction(pos, cons.consumer_group_metadata(), 20)
        # Pending, not committed: read_uncommitted OffsetFetch shows the old offset ...
        before = committed()
        # ... and a read_committed consumer (OffsetFetch require_stable) gets
        # UNSTABLE_OFFSET_COMMIT, which librdkafka retries until its timeout.
        c = cf_consumer(bs, group=group, **{"isolation.level": "read_committed"})
        try:
            with pytest.raises(ck.KafkaException):
                c.committed([ck.TopicPartition(src, 0)], timeout=2)
        finally:
            c.close()
        if commit:
            prod.commit_transaction(20)
        else:
            prod.abort_transaction(20)
        return before, got[-1].offset() + 1

    cons.subscribe([src])
    before, upto = round_trip(10, True)
    assert before == ck.OFFSET_INVALID
    assert committed() == upto == 10
    c = cf_consumer(bs, group=group, **{"isolation.level": "read_committed"})
    try:  # stable again: the require_stable OffsetFetch answers
        assert c.committed([ck.TopicPartition(src, 0)], timeout=10)[0].offset == 10
    finally:
        c.close()
    before, upto = round_trip(10, False)
    assert before == 10
    assert committed() == 10  # aborted: the offsets were discarded
    cons.close()
    rc = read_all(bs, dst, 1, "read_committed")
    assert values(rc) == {0: [b"out-in-%d" % i for i in range(10)]}


def test_second_producer_fences_the_first(broker):
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("fence"), 2)
    tid = unique("tid")
    p1 = txn_producer(bs, tid)
    p1.init_transactions(20)
    p1.begin_transaction()
    p1.produce(topic, value=b"zombie", partition=0)
    assert p1.flush(20) == 0
    p2 = txn_producer(bs, tid)
    p2.init_transactions(20)  # aborts p1's transaction
    with pytest.raises(ck.KafkaException) as ei:
        p1.produce(topic, value=b"zombie2", partition=1)
        p1.flush(10)
        p1.commit_transaction(10)
    err = ei.value.args[0]
    assert err.fatal() or err.code() in (ck.KafkaError._FENCED, ck.KafkaError.PRODUCER_FENCED,
                                         ck.KafkaError.INVALID_PRODUCER_EPOCH), err
    produce_txn(p2, topic, 2, b"p2", 2, True)
    rc = read_all(bs, topic, 2, "read_committed")
    assert values(rc) == {part: [b"p2-%d-%03d" % (part, i) for i in range(2)] for part in range(2)}
    ru = read_all(bs, topic, 2, "read_uncommitted")
    assert b"zombie" in values(ru)[0]


def test_transaction_timeout(broker):
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("tmo"), 1)
    p = txn_producer(bs, unique("tid"), **{"transaction.timeout.ms": 2000})
    p.init_transactions(20)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, value=b"stalled-%d" % i)
    assert p.flush(20) == 0
    assert watermarks(bs, topic, 0, "read_committed")[1] == 0
    assert watermarks(bs, topic, 0, "read_uncommitted")[1] == 5
    # The broker aborts it: a marker lands and the LSO catches up with the HW.
    wait_until(lambda: watermarks(bs, topic, 0, "read_committed")[1] == 6, 15,
               "the coordinator to abort the stalled transaction")
    assert read_all(bs, topic, 1, "read_committed") == {0: []}
    with pytest.raises(ck.KafkaException):
        p.commit_transaction(10)


def test_timeout_above_broker_max_is_refused(broker_factory):
    b = broker_factory({"transaction.max.timeout.ms": "5000"})
    p = txn_producer(b.bootstrap, unique("tid"), **{"transaction.timeout.ms": 6000})
    with pytest.raises(ck.KafkaException) as ei:
        p.init_transactions(10)
    assert ei.value.args[0].code() == ck.KafkaError.INVALID_TRANSACTION_TIMEOUT


# ---------------------------------------------------------------- Kafka's Java tools


def kafka_home():
    env = os.environ.get("KAFKA_HOME")
    if env and os.path.isdir(env):
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    for root in (os.path.join(here, "..", "..", "..", "shared", "kafka"),
                 os.path.join(here, "..", "..", "..", "..", "shared", "kafka")):
        found = sorted(glob.glob(os.path.join(root, "kafka_2.13-*")))
        if found:
            return os.path.abspath(found[-1])
    return None


def run_tool(home, tool, args, timeout=180):
    env = dict(os.environ)
    env["KAFKA_HEAP_OPTS"] = "-Xmx256m"
    env["LOG_DIR"] = tempfile.mkdtemp(prefix="kafka-tool-log")
    env["KAFKA_OPTS"] = "-Djava.library.path=/usr/lib/x86_64-linux-gnu/jni:/usr/lib/x86_64-linux-gnu"
    return subprocess.run([os.path.join(home, "bin", tool)] + args, env=env, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_java_transactional_perf_producer_and_transactions_tool(broker):
    home = kafka_home()
    if not home:
        pytest.skip("Kafka distribution not found ($KAFKA_HOME or ../shared/kafka/kafka_2.13-*)")
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("perf"), 1)
    tid = unique("tx1")
    r = run_tool(home, "kafka-producer-perf-test.sh",
                 ["--topic", topic, "--num-records", "2000", "--record-size", "100",
                  "--throughput", "-1", "--transactional-id", tid,
                  "--transaction-duration-ms", "100",
                  "--producer-props", "bootstrap.servers=" + bs])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert "2000 records sent" in r.stdout, r.stdout[-2000:]
    rc = read_all(bs, topic, 1, "read_committed")
    assert len(rc[0]) == 2000
    r = run_tool(home, "kafka-transactions.sh", ["--bootstrap-server", bs, "list"])
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert tid in r.stdout, r.stdout
    r = run_tool(home, "kafka-transactions.sh",
                 ["--bootstrap-server", bs, "describe", "--transactional-id", tid])
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert tid in r.stdout and "CompleteCommit" in r.stdout, r.stdout
    # Kafka's dump tool reads segments with control batches and the transaction index.
    log = glob.glob(os.path.join(broker.part_dir(topic, 0), "*.log"))
    r = run_tool(home, "kafka-dump-log.sh", ["--files", ",".join(log), "--deep-iteration"])
    assert r.returncode == 0, r.stderr[-3000:]
    assert "endTxnMarker: COMMIT" in r.stdout, r.stdout[-3000:]
    # ... and parses the .txnindex of an aborted transaction.
    topic2 = cf_create_topic(bs, unique("perf-abort"), 1)
    p = txn_producer(bs, unique("tid"))
    p.init_transactions(20)
    produce_txn(p, topic2, 1, b"ab", 3, False)
    idx = os.path.join(broker.part_dir(topic2, 0), "00000000000000000000.txnindex")
    (_, pid, _, _, _), = read_txnindex(idx)
    r = run_tool(home, "kafka-dump-log.sh", ["--files", idx])
    assert r.returncode == 0, r.stderr[-3000:]
    assert ("version: 0 producerId: %d firstOffset: 0 lastOffset: 3" % pid) in r.stdout, r.stdout
    # Kafka's Java consumer with read_committed skips the aborted records.
    produce_txn(p, topic2, 1, b"ok", 2, True)
    r = run_tool(home, "kafka-console-consumer.sh",
                 ["--bootstrap-server", bs, "--topic", topic2, "--from-beginning",
                  "--isolation-level", "read_committed", "--timeout-ms", "8000"])
    assert r.stdout.split() == ["ok-0-000", "ok-0-001"], r.stdout + r.stderr[-2000:]


# ---------------------------------------------------------------- kferry mirror


def test_mirror_transactional_source_exactly(broker_factory, tmp_path):
    """`kferry mirror` from a kferry-broker source with committed, aborted
    and interleaved plain records: the target's read_committed view equals
    the source's, and a group committed past control records on the source
    gets exactly the translated offset on the target (the same check
    tests/realkafka/test_real_sources.py makes against real Kafka)."""
    from test_cutover import commit_standalone, target_committed
    from test_mirror_util import KferryProc, write_config

    src, tgt = broker_factory(), broker_factory()
    parts = 2
    topic = cf_create_topic(src.bootstrap, unique("mtxn"), parts)
    plain = cf_producer(src.bootstrap, **{"enable.idempotence": True})
    tx = txn_producer(src.bootstrap, unique("tid"))
    tx.init_transactions(20)
    for rnd, outcome in enumerate(["commit", "abort", "commit", "abort", "commit"]):
        for k in range(3):
            plain.produce(topic, value=b"plain-%d-%d" % (rnd, k), partition=k % parts)
        assert plain.flush(20) == 0
        tx.begin_transaction()
        for k in range(6):
            tx.produce(topic, value=b"txn-%s-%d-%d" % (outcome.encode(), rnd, k),
                       partition=k % parts)
            if k == 2:  # plain records interleaved with the transaction
                plain.produce(topic, value=b"inside-%d" % rnd, partition=0)
                assert plain.flush(20) == 0
        assert tx.flush(20) == 0
        if outcome == "commit":
            tx.commit_transaction(20)
        else:
            tx.abort_transaction(20)
    src_rc = read_all(src.bootstrap, topic, parts, "read_committed")
    assert not any(b"abort" in v for recs in values(src_rc).values() for v in recs)
    ex = {"replication.factor": "1", "sync.group.offsets.interval.seconds": "1"}
    cfg = write_config(tmp_path / "mm2.properties", src, tgt, identity=True, extra=ex)
    kf = KferryProc(cfg, tmp_path).start()
    try:
        want = values(src_rc)

        def mirrored():
            c = cf_consumer(tgt.bootstrap)
            try:
                for p in range(parts):
                    lo, hi = c.get_watermark_offsets(ck.TopicPartition(topic, p), timeout=5,
                                                     cached=False)
                    if hi != len(want[p]):
                        return False
                return True
            finally:
                c.close()

        wait_until(mirrored, 90, "the committed records on the target", interval=0.5)
        assert values(read_all(tgt.bootstrap, topic, parts, "read_committed")) == want
        assert values(read_all(tgt.bootstrap, topic, parts, "read_uncommitted")) == want

        # A source group positioned on control records: partition 0 at the
        # first commit marker (no record there), partition 1 at the end.
        src_offs = {p: [o for o, _ in src_rc[p]] for p in range(parts)}
        ru0 = read_all(src.bootstrap, topic, 1, "read_uncommitted")[0]
        seen = set(o for o, _ in ru0)
        marker = next(o for o in range(max(seen) + 1) if o not in seen)
        hw1 = watermarks(src.bootstrap, topic, 1, "read_uncommitted")[1]
        group = unique("cut")
        commit_standalone(src.bootstrap, group, topic, {0: marker, 1: hw1})
        exp = {(topic, 0): sum(1 for o in src_offs[0] if o < marker),
               (topic, 1): len(src_offs[1])}
        wait_until(lambda: target_committed(tgt.bootstrap, group) == exp, 60,
                   "the group's translated offsets on the target (%r)" % exp, interval=0.5)
        r = kf.translate(topic, 0, marker)
        assert r["target_offset"] == exp[(topic, 0)], r
    finally:
        kf.stop(expect=0)
