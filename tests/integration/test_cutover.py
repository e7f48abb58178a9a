"""Group offset sync and `kferry cutover` end to end (issue 4, items 2-3).

An application made of a kafka-python producer (per-partition sequence
numbers) and a kafka-python consumer group is moved from the source
cluster to the target while kferry mirrors: consumers first, then producers
first with drain.  What the application consumed across the switch must be
exactly each partition's sequence, once, in order: no gap, no duplicate.
Also: group offset sync while mirroring, and the cutover journal (resume
after kill -9, re-run is a no-op).
"""

import os
import signal
import subprocess
import threading
import time

from kf_util import cf_create_topic, kp_kwargs, unique, wait_until
from test_mirror_util import KferryProc, kferry_binary, write_config

PARTS = 3


class SeqProducer:
    """Writes value b"<n>" with key b"p<P>" to partition P, n counting up per
    partition; moving it to another cluster continues the sequences.  stop()
    returns once every record sent is acknowledged."""

    def __init__(self, topic, parts=PARTS, rate=400):
        self.topic, self.parts, self.rate = topic, parts, rate
        self.next = [0] * parts
        self.error = None
        self.thread = None

    def start(self, bootstrap):
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(bootstrap,), daemon=True)
        self.thread.start()
        return self

    def _run(self, bootstrap):
        from kafka import KafkaProducer
        try:
            p = KafkaProducer(**kp_kwargs(bootstrap, acks="all", retries=20, linger_ms=5,
                                          max_in_flight_requests_per_connection=1))
            i = 0
            while not self.stop_flag.is_set():
                futs = []
                for _ in range(20):
                    part = i % self.parts
                    i += 1
                    futs.append(p.send(self.topic, key=b"p%d" % part,
                                       value=b"%d" % self.next[part], partition=part))
                    self.next[part] += 1
                for f in futs:
                    f.get(timeout=30)  # acknowledged before the sequence goes on
                time.sleep(20.0 / self.rate)
            p.flush(30)
            p.close(10)
        except Exception as e:  # noqa: BLE001 - reported by stop()
            self.error = e

    def stop(self):
        self.stop_flag.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "producer did not stop"
        assert self.error is None, "producer failed: %r" % (self.error,)

    def total(self):
        return sum(self.next)


class SeqConsumer:
    """A kafka-python group member that records every value it reads, per
    partition, and commits synchronously after each poll.  stop() returns
    after the last commit, once the member left the group."""

    def __init__(self, topic, group, parts=PARTS):
        self.topic, self.group = topic, group
        self.seen = {p: [] for p in range(parts)}
        self.error = None
        self.polled = 0

    def start(self, bootstrap):
        self.stop_flag = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(bootstrap,), daemon=True)
        self.thread.start()
        return self

    def _run(self, bootstrap):
        from kafka import KafkaConsumer
        try:
            c = KafkaConsumer(self.topic, **kp_kwargs(
                bootstrap, group_id=self.group, client_id="app-" + self.group,
                enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=100,
                max_poll_records=200))
            while not self.stop_flag.is_set():
                got = c.poll(timeout_ms=200)
                self.polled += 1
                if c.assignment():
                    self.ready.set()
                n = 0
                for tp, msgs in got.items():
                    for m in msgs:
                        self.seen[tp.partition].append(int(m.value))
                        n += 1
                if n:
                    c.commit()
            c.close(autocommit=False)
        except Exception as e:  # noqa: BLE001 - reported by stop()
            self.error = e

    def stop(self):
        self.stop_flag.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "consumer did not stop"
        assert self.error is None, "consumer failed: %r" % (self.error,)

    def count(self):
        return sum(len(v) for v in self.seen.values())


def merge(*consumers):
    out = {}
    for c in consumers:
        for p, v in c.seen.items():
            out.setdefault(p, []).extend(v)
    return out


def assert_exact_sequence(seen, producer):
    for p in range(producer.parts):
        want = list(range(producer.next[p]))
        got = seen.get(p, [])
        if got != want:
            dups = sorted({x for x in got if got.count(x) > 1})[:10]
            missing = sorted(set(want) - set(got))[:10]
            raise AssertionError(
                "partition %d: consumed %d records, produced %d; duplicates %r, missing %r, "
                "first difference at index %d" % (
                    p, len(got), len(want), dups, missing,
                    next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                         min(len(got), len(want)))))


def run_kferry(kf, *args, timeout=180, check=None):
    cp = subprocess.run([kferry_binary()] + list(args) + ["--config", kf.config],
                        capture_output=True, timeout=timeout)
    if check is not None:
        assert cp.returncode == check, "kferry %s exited %d (expected %d):\n%s\n%s" % (
            " ".join(args), cp.returncode, check, cp.stdout.decode(), cp.stderr.decode()[-4000:])
    return cp


def verify_available():
    cp = subprocess.run([kferry_binary(), "verify", "--help"], capture_output=True, timeout=30)
    return cp.returncode == 0


def target_committed(bootstrap, group):
    from kafka import KafkaAdminClient
    a = KafkaAdminClient(**kp_kwargs(bootstrap))
    try:
        return {(tp.topic, tp.partition): om.offset
                for tp, om in a.list_consumer_group_offsets(group).items() if om.offset >= 0}
    finally:
        a.close()


def make_flow(broker_factory, tmp_path, extra=None):
    src, tgt = broker_factory(), broker_factory()
    topic = cf_create_topic(src.bootstrap, unique("orders"), PARTS)
    ex = {"replication.factor": "1", "sync.group.offsets.interval.seconds": "1"}
    ex.update(extra or {})
    cfg = write_config(tmp_path / "mm2.properties", src, tgt, identity=True, extra=ex)
    return src, tgt, topic, KferryProc(cfg, tmp_path)


def test_consumers_first_then_producers(broker_factory, tmp_path):
    src, tgt, topic, kf = make_flow(broker_factory, tmp_path)
    group = unique("app")
    prod = SeqProducer(topic).start(src.bootstrap)
    c1 = SeqConsumer(topic, group).start(src.bootstrap)
    kf.start()
    c2 = None
    try:
        wait_until(lambda: c1.count() > 500, 60, "consumption on the source")
        time.sleep(2)
        c1.stop()  # the consumers leave the source; producers keep writing there
        cp = run_kferry(kf, "cutover", "--group", group, "--timeout", "120", check=0)
        out = cp.stdout.decode()
        assert "cutover of group %s (consumers-first)" % group in out and "done" in out, out
        c2 = SeqConsumer(topic, group).start(tgt.bootstrap)
        wait_until(lambda: c2.count() > 200, 60, "consumption on the target")
        # now the producers: stop on the source, wait for the gate, resume on the target
        prod.stop()
        cp = run_kferry(kf, "cutover", "producers", "--topics", topic, "--quiet-seconds", "2",
                        "--timeout", "120", check=0)
        assert "producers may write to" in cp.stdout.decode()
        if verify_available():  # the target is now exactly the source
            run_kferry(kf, "verify", check=0)
        prod.start(tgt.bootstrap)
        time.sleep(3)
        prod.stop()
        total = prod.total()
        wait_until(lambda: c1.count() + c2.count() >= total, 60,
                   "the application to consume all %d records" % total)
        time.sleep(1)  # anything re-read would show up now
        c2.stop()
    finally:
        for c in (c1, c2):
            if c and c.thread.is_alive():
                c.stop_flag.set()
        kf.stop(expect=0)
    assert c1.count() > 0 and c2.count() > 0
    assert_exact_sequence(merge(c1, c2), prod)
    if verify_available():  # the producers' records on the target are past the mirrored range
        run_kferry(kf, "verify", check=0)


def test_producers_first_with_drain(broker_factory, tmp_path):
    src, tgt, topic, kf = make_flow(broker_factory, tmp_path)
    group = unique("app")
    prod = SeqProducer(topic).start(src.bootstrap)
    c1 = SeqConsumer(topic, group).start(src.bootstrap)
    kf.start()
    c2 = None
    cut = None
    try:
        wait_until(lambda: c1.count() > 500, 60, "consumption on the source")
        # producers first: they stop on the source, the mirror drains it, then
        # they write to the target while the consumers still read the source
        prod.stop()
        on_source = list(prod.next)
        run_kferry(kf, "cutover", "producers", "--topics", topic, "--quiet-seconds", "2",
                   "--timeout", "120", check=0)
        if verify_available():
            run_kferry(kf, "verify", check=0)
        prod.start(tgt.bootstrap)
        errlog = open(tmp_path / "cutover.stderr", "wb")
        cut = subprocess.Popen([kferry_binary(), "cutover", "--group", group, "--producers-first",
                                "--quiet-seconds", "2", "--timeout", "120", "--config",
                                kf.config], stdout=subprocess.PIPE, stderr=errlog)
        # the old consumers drain the source, then leave
        wait_until(lambda: all(len(c1.seen[p]) >= on_source[p] for p in range(PARTS)), 60,
                   "the source consumers to drain")
        time.sleep(1.5)  # their last commit
        c1.stop()
        out, _ = cut.communicate(timeout=150)
        errlog.close()
        err = (tmp_path / "cutover.stderr").read_text()
        assert cut.returncode == 0, "cutover exited %d:\n%s\n%s" % (
            cut.returncode, out.decode(), err[-4000:])
        assert "producers-first" in out.decode() and "done" in out.decode()
        for p in range(PARTS):
            assert c1.seen[p] == list(range(on_source[p]))
        c2 = SeqConsumer(topic, group).start(tgt.bootstrap)
        time.sleep(2)
        prod.stop()
        total = prod.total()
        wait_until(lambda: c1.count() + c2.count() >= total, 60,
                   "the application to consume all %d records" % total)
        time.sleep(1)
        c2.stop()
    finally:
        if cut and cut.poll() is None:
            cut.kill()
        for c in (c1, c2):
            if c and c.thread.is_alive():
                c.stop_flag.set()
        kf.stop(expect=0)
    assert c2.count() > 0, "the target consumers read nothing (nothing produced after the move?)"
    assert_exact_sequence(merge(c1, c2), prod)
    if verify_available():
        run_kferry(kf, "verify", check=0)


def commit_standalone(bootstrap, group, topic, offsets):
    """Commits {partition: offset} for group without joining it (what an
    admin tool does); allowed only while the group has no member."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata
    c = KafkaConsumer(**kp_kwargs(bootstrap, group_id=group, enable_auto_commit=False))
    try:
        tps = {TopicPartition(topic, p): OffsetAndMetadata(o, "meta-%d" % p)
               for p, o in offsets.items()}
        c.assign(list(tps))
        c.commit(tps)
    finally:
        c.close(autocommit=False)


def test_group_offset_sync(broker_factory, tmp_path):
    src, tgt, topic, kf = make_flow(broker_factory, tmp_path)
    from kf_util import cf_produce
    cf_produce(src.bootstrap, topic, [dict(partition=i % PARTS, key=b"k", value=b"%d" % i)
                                      for i in range(600)])
    g, busy = unique("synced"), unique("busy")
    commit_standalone(src.bootstrap, g, topic, {0: 50, 1: 120, 2: 200})
    commit_standalone(src.bootstrap, busy, topic, {0: 10, 1: 10, 2: 10})
    # a member of `busy` is active on the target (reading another topic there):
    # kferry must leave the group alone
    other = cf_create_topic(tgt.bootstrap, unique("other"), 1)
    holder = SeqConsumer(other, busy, parts=1).start(tgt.bootstrap)
    kf.start()
    try:
        wait_until(lambda: holder.ready.is_set(), 60, "the target member of %s to join" % busy)
        want = {(topic, 0): 50, (topic, 1): 120, (topic, 2): 200}
        wait_until(lambda: target_committed(tgt.bootstrap, g) == want, 30,
                   "translated offsets of %s on the target" % g, interval=0.5)
        # committed metadata is carried over
        cp = run_kferry(kf, "groups", "status", "--group", g, "--json", check=0)
        import json
        st = json.loads(cp.stdout)["groups"][0]
        assert st["exact"] and [r["metadata"] for r in st["partitions"]] == [
            "meta-0", "meta-1", "meta-2"], st
        assert [r["status"] for r in st["partitions"]] == ["exact", "exact", "end"], st
        # the source group moves on: the target follows
        commit_standalone(src.bootstrap, g, topic, {0: 100, 1: 150, 2: 200})
        want = {(topic, 0): 100, (topic, 1): 150, (topic, 2): 200}
        wait_until(lambda: target_committed(tgt.bootstrap, g) == want, 30,
                   "the target to follow %s" % g, interval=0.5)
        # the target is ahead on partition 0 (someone consumed there): never moved back
        commit_standalone(tgt.bootstrap, g, topic, {0: 150})
        commit_standalone(src.bootstrap, g, topic, {0: 120, 1: 180, 2: 200})
        wait_until(lambda: target_committed(tgt.bootstrap, g).get((topic, 1)) == 180, 30,
                   "partition 1 to follow", interval=0.5)
        time.sleep(2.5)
        assert target_committed(tgt.bootstrap, g)[(topic, 0)] == 150
        wait_until(lambda: "ahead on" in kf.log_text(), 10, "the mirror to say it kept it")
        # `busy` has an active member on the target: not touched
        assert target_committed(tgt.bootstrap, busy) == {}, "busy group was modified"
        assert "group %s has 1 active member(s)" % busy in kf.log_text()
        # and cutover refuses to commit over an active target group
        cp = run_kferry(kf, "cutover", "--group", busy, "--timeout", "30", check=1)
        out = cp.stdout.decode()
        assert "active member(s) on dst" in out and "refusing to commit" in out, out
    finally:
        holder.stop_flag.set()
        kf.stop(expect=0)


def test_journal_resume_and_rerun(broker_factory, tmp_path):
    src, tgt, topic, kf = make_flow(broker_factory, tmp_path)
    group = unique("slow")
    prod = SeqProducer(topic, rate=200).start(src.bootstrap)
    c1 = SeqConsumer(topic, group).start(src.bootstrap)
    kf.start()
    c2 = None
    try:
        wait_until(lambda: c1.count() > 200, 60, "consumption on the source")
        # a short timeout names who is still connected and fails with exit 1
        cp = run_kferry(kf, "cutover", "--group", group, "--timeout", "3", check=1)
        err = cp.stderr.decode()
        assert "still connected" in err and "client.id app-%s" % group in err, err
        assert "timed out waiting for group %s to leave src" % group in cp.stdout.decode()
        # kill -9 while it waits for the members to leave
        errpath = tmp_path / "cut1.stderr"
        with open(errpath, "wb") as ef:
            p = subprocess.Popen([kferry_binary(), "cutover", "--group", group, "--timeout",
                                  "120", "--config", kf.config],
                                 stdout=subprocess.DEVNULL, stderr=ef)
            wait_until(lambda: "still connected" in errpath.read_text(), 30,
                       "the cutover to wait for members")
            p.send_signal(signal.SIGKILL)
            p.wait(10)
        st = run_kferry(kf, "cutover", "--status", "--group", group, check=0).stdout.decode()
        assert "started" in st and "committed" not in st, st
        c1.stop()
        cp = run_kferry(kf, "cutover", "--group", group, "--timeout", "120", check=0)
        err = cp.stderr.decode()
        assert "resuming the cutover started at" in err, err
        assert "it stopped at: members-drained" in err, err
        assert "done" in cp.stdout.decode()
        # re-running a completed cutover: no-op, re-verified, exit 0
        cp = run_kferry(kf, "cutover", "--group", group, check=0)
        assert "already cut over at" in cp.stdout.decode(), cp.stdout.decode()
        import json
        r = json.loads(run_kferry(kf, "cutover", "--group", group, "--json", check=0).stdout)
        assert r["result"] == "already-done" and len(r["offsets"]) == PARTS, r
        st = run_kferry(kf, "cutover", "--status", "--group", group, check=0).stdout.decode()
        for step in ("started", "members-drained", "mirror-caught-up", "committed", "verified"):
            assert step in st, st
        # the group continues on the target exactly where it stopped
        c2 = SeqConsumer(topic, group).start(tgt.bootstrap)
        prod.stop()
        run_kferry(kf, "cutover", "producers", "--topics", topic, "--quiet-seconds", "1",
                   check=0)
        total = prod.total()
        wait_until(lambda: c1.count() + c2.count() >= total, 60, "all records consumed")
        time.sleep(1)
        c2.stop()
        # after consumers moved on, a re-run still verifies (target ahead is fine)
        cp = run_kferry(kf, "cutover", "--group", group, check=0)
        assert "already cut over at" in cp.stdout.decode()
        # and group sync no longer touches the cut-over group
        assert "was cut over to dst: no longer synced" in kf.log_text()
    finally:
        for c in (c1, c2):
            if c and c.thread.is_alive():
                c.stop_flag.set()
        if prod.thread.is_alive():
            prod.stop_flag.set()
        kf.stop(expect=0)
    assert_exact_sequence(merge(c1, c2), prod)


def test_usage_errors(tmp_path, broker_factory):
    src, tgt = broker_factory(), broker_factory()
    cfg = write_config(tmp_path / "m.properties", src, tgt, identity=True)
    for args in (["cutover"], ["cutover", "--config", cfg], ["cutover", "--bogus"],
                 ["cutover", "--config", cfg, "--group", "re:("],
                 ["cutover", "producers", "--config", cfg, "--group", "g"]):
        cp = subprocess.run([kferry_binary()] + args, capture_output=True, timeout=30)
        assert cp.returncode == 2, (args, cp.stdout, cp.stderr)
    cp = subprocess.run([kferry_binary(), "cutover", "--help"], capture_output=True, timeout=30)
    assert cp.returncode == 0 and b"--producers-first" in cp.stdout
    bad = tmp_path / "bad.properties"
    bad.write_text(open(cfg).read() + "sync.group.offsets.interval.seconds = 0\n")
    cp = subprocess.run([kferry_binary(), "cutover", "--config", str(bad), "--group", "g"],
                        capture_output=True, timeout=30)
    assert cp.returncode == 2 and b"sync.group.offsets.interval.seconds" in cp.stderr
    assert os.path.exists(cfg)


def test_regex_selects_groups(broker_factory, tmp_path):
    src, tgt, topic, kf = make_flow(broker_factory, tmp_path,
                                    extra={"sync.group.offsets.enabled": "false"})
    from kf_util import cf_produce
    cf_produce(src.bootstrap, topic, [dict(partition=i % PARTS, key=b"k", value=b"%d" % i)
                                      for i in range(300)])
    tag = unique("multi")
    a, b, excluded = tag + "-a", tag + "-b", "connect-" + tag
    for g, off in ((a, 10), (b, 20), (excluded, 30)):
        commit_standalone(src.bootstrap, g, topic, {0: off, 1: off, 2: off})
    kf.start()
    try:
        cp = run_kferry(kf, "cutover", "--groups", ".*%s.*" % tag, "--timeout", "60", "--json",
                        check=0)
        import json
        reports = {r["group"]: r for r in map(json.loads, cp.stdout.decode().splitlines())}
        assert sorted(reports) == [a, b], reports  # groups.exclude (connect-.*) applies
        for g, off in ((a, 10), (b, 20)):
            r = reports[g]
            assert r["result"] == "done" and r["mode"] == "consumers-first", r
            assert [(o["partition"], o["source_committed"], o["target_committed"],
                     o["target_committed_now"], o["status"]) for o in r["offsets"]] == [
                (p, off, off, off, "exact") for p in range(PARTS)], r
        assert target_committed(tgt.bootstrap, a) == {(topic, p): 10 for p in range(PARTS)}
        assert target_committed(tgt.bootstrap, b) == {(topic, p): 20 for p in range(PARTS)}
        assert target_committed(tgt.bootstrap, excluded) == {}  # group sync is off, too
        # a plain name is taken as given, whatever the selection
        run_kferry(kf, "cutover", "--group", excluded, "--timeout", "60", check=0)
        assert target_committed(tgt.bootstrap, excluded) == {(topic, p): 30
                                                             for p in range(PARTS)}
        # no match at all: exit 1 with the reason
        cp = run_kferry(kf, "cutover", "--group", "re:nothing-%s" % tag, "--timeout", "5",
                        check=1)
        assert "no group on src matches" in cp.stdout.decode()
    finally:
        kf.stop(expect=0)


def test_translation_below_log_start_and_gap(broker_factory, tmp_path):
    """A committed offset below the source log start goes to the first
    mirrored record (flagged); one inside a recorded retention gap goes to
    the next mirrored record; one at the end to the mirror's end."""
    import json
    from test_mirror_holes import delete_to, produce
    src, tgt, topic, kf = make_flow(broker_factory, tmp_path,
                                    extra={"kferry.gap.policy": "continue",
                                           "sync.group.offsets.enabled": "false"})
    produce(src.bootstrap, topic, 0, 100)
    g1, g2, g3 = unique("below"), unique("gap"), unique("end")
    commit_standalone(src.bootstrap, g1, topic, {0: 10})
    commit_standalone(src.bootstrap, g2, topic, {0: 120})
    delete_to(src, topic, 0, 40)  # the source log starts at 40: 40..99 -> 0..59
    kf.start()
    wait_until(lambda: kf.translate(topic, 0, 100)["status"] == "end", 30, "100 mapped",
               interval=0.3)
    kf.stop()
    produce(src.bootstrap, topic, 100, 100)
    delete_to(src, topic, 0, 150)  # 100..149 deleted before being mirrored: a gap
    commit_standalone(src.bootstrap, g3, topic, {0: 200})
    kf.start()
    try:
        wait_until(lambda: kf.translate(topic, 0, 200)["status"] == "end", 30, "200 mapped",
                   interval=0.3)
        cp = run_kferry(kf, "groups", "status", "--group", "re:(%s|%s|%s)" % (g1, g2, g3),
                        "--json", check=0)
        rows = {g["group"]: g["partitions"][0] for g in json.loads(cp.stdout)["groups"]}
        assert (rows[g1]["status"], rows[g1]["translated"], rows[g1]["below_source_start"]) == (
            "below", 0, True), rows[g1]
        assert (rows[g2]["status"], rows[g2]["translated"]) == ("gap", 60), rows[g2]
        assert (rows[g3]["status"], rows[g3]["translated"]) == ("end", 110), rows[g3]
        for g, want in ((g1, 0), (g2, 60), (g3, 110)):
            cp = run_kferry(kf, "cutover", "--group", g, "--timeout", "60", check=0)
            assert target_committed(tgt.bootstrap, g) == {(topic, 0): want}
        assert "below the source log start" in run_kferry(
            kf, "cutover", "--group", g1, check=0).stdout.decode()
    finally:
        kf.stop(expect=0)
