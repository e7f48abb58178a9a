"""One writer per flow (issue 7, item 5): two `kferry mirror` processes on
one config never both write.

The second process waits as a standby, names the holder and writes
nothing; when the holder is killed with SIGKILL or stopped with SIGTERM the
standby takes over by itself, and the target ends with exactly the source's
records (check_exact: each at its mapped offset, no duplicate).

The lock is a consumer group on the target; the target broker allows short
sessions here so that takeover after SIGKILL is quick.
"""

import re
import threading
import time

from kf_util import cf_create_topic, cf_producer, unique, wait_until
from test_mirror_util import KferryProc, check_exact, end_offsets, wait_mirrored, write_config

PARTS = 3
SESSION_MS = 2000
TGT_OVERRIDES = {"group.min.session.timeout.ms": "1000"}


def produce(bootstrap, topic, n, start=0, pause_every=0, pause_s=0.0, done=None, parts=PARTS):
    p = cf_producer(bootstrap, **{"linger.ms": 5})
    for i in range(start, start + n):
        while True:
            try:
                p.produce(topic, key=b"k%d" % i, value=b"v-%d-" % i + b"x" * (i % 50),
                          partition=i % parts, headers=[("seq", b"%d" % i)])
                break
            except BufferError:
                p.poll(0.05)
        if pause_every and i % pause_every == 0:
            p.poll(0)
            time.sleep(pause_s)
    assert p.flush(60) == 0
    if done is not None:
        done.set()


def two_mirrors(broker_factory, tmp_path, name):
    src, tgt = broker_factory(), broker_factory(overrides=TGT_OVERRIDES)
    topic = cf_create_topic(src.bootstrap, unique(name), PARTS)
    cfg = write_config(tmp_path / "m.properties", src, tgt, identity=True,
                       extra={"kferry.lock.session.timeout.ms": str(SESSION_MS)})
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    return src, tgt, topic, KferryProc(cfg, a_dir), KferryProc(cfg, b_dir)


def holds(kf):
    return "now holds flow" in kf.log_text(last_only=True)


def wait_holder(kf, timeout=30):
    wait_until(lambda: holds(kf) or not kf.alive(), timeout, "kferry holds the flow lock")
    assert kf.alive(), kf.log_text(last_only=True)[-3000:]


def no_errors(log):
    bad = [l for l in log.splitlines() if " ERROR " in l]
    assert not bad, bad[:5]


def test_second_mirror_waits_as_standby(broker_factory, tmp_path):
    src, tgt, topic, a, b = two_mirrors(broker_factory, tmp_path, "sw")
    produce(src.bootstrap, topic, 6000)
    a.start()
    wait_holder(a)
    wait_mirrored(a, src.bootstrap, tgt.bootstrap, topic, topic, PARTS)
    b.start()
    # the standby names the holder (client id with host and pid)
    pid = a.proc.pid
    wait_until(lambda: re.search(r"standby: flow src->dst is held by kferry-flow-\d+-[^ ]+-%d "
                                 % pid, b.log_text()), 20, "standby names the holder")
    produce(src.bootstrap, topic, 4000, start=6000)
    wait_mirrored(a, src.bootstrap, tgt.bootstrap, topic, topic, PARTS)
    time.sleep(2)  # a second writer would have doubled records by now
    st = a.status()
    assert st["lock"]["holder"]["client_id"].endswith("-%d" % pid), st["lock"]
    assert len(st["lock"]["standbys"]) == 1, st["lock"]
    assert st["mirror"]["holder"].endswith("-%d" % pid), st["mirror"]
    text = a.cmd("status").stdout.decode()
    assert re.search(r"flow lock .*held by kferry-flow-\d+-\S+-%d" % pid, text), text
    assert b.alive()
    blog = b.log_text()
    assert "now holds flow" not in blog
    assert "mirroring src->dst" not in blog
    assert "role holder" in a.log_text() and "role holder" not in blog
    b.stop(expect=0)
    a.stop(expect=0)
    assert check_exact(a, src.bootstrap, tgt.bootstrap, topic, PARTS) == 10000
    no_errors(a.log_text() + b.log_text())


def test_kill9_of_holder_standby_takes_over_exactly(broker_factory, tmp_path):
    src, tgt, topic, a, b = two_mirrors(broker_factory, tmp_path, "swk")
    total = 60000
    done = threading.Event()
    th = threading.Thread(target=produce, daemon=True,
                          args=(src.bootstrap, topic, total, 0, 2000, 0.1, done))
    th.start()
    a.start()
    wait_holder(a)
    b.start()
    wait_until(lambda: "standby: flow src->dst is held by" in b.log_text(), 20,
               "b is a standby")
    # kill the holder while records are still being produced and mirrored
    wait_until(lambda: sum(end_offsets(tgt.bootstrap, topic, PARTS).values()) > 5000, 60,
               "mirroring under way")
    assert not done.is_set(), "production finished before the kill; the test proves nothing"
    a.kill9()
    t0 = time.monotonic()
    wait_holder(b, timeout=40)
    took = time.monotonic() - t0
    # session expiry plus the documented safety delay, with room for a slow machine
    assert took < 4 * SESSION_MS / 1000 + 10, took
    th.join(120)
    assert done.is_set()
    wait_mirrored(b, src.bootstrap, tgt.bootstrap, topic, topic, PARTS, timeout=120)
    b.stop(expect=0)
    blog = b.log_text()
    assert "did not stop cleanly: waiting" in blog, blog[-3000:]
    assert check_exact(b, src.bootstrap, tgt.bootstrap, topic, PARTS) == total
    no_errors(blog)


def test_sigterm_of_holder_hands_over_promptly(broker_factory, tmp_path):
    src, tgt, topic, a, b = two_mirrors(broker_factory, tmp_path, "swt")
    produce(src.bootstrap, topic, 5000)
    a.start()
    wait_holder(a)
    b.start()
    wait_until(lambda: "standby: flow src->dst is held by" in b.log_text(), 20,
               "b is a standby")
    wait_mirrored(a, src.bootstrap, tgt.bootstrap, topic, topic, PARTS)
    a.stop(expect=0)
    t0 = time.monotonic()
    wait_holder(b, timeout=20)
    took = time.monotonic() - t0
    # a clean stop leaves the group: no session expiry, no safety delay
    assert took < SESSION_MS / 1000 + 3, took
    assert "did not stop cleanly" not in b.log_text()
    produce(src.bootstrap, topic, 3000, start=5000)
    wait_mirrored(b, src.bootstrap, tgt.bootstrap, topic, topic, PARTS)
    b.stop(expect=0)
    assert check_exact(b, src.bootstrap, tgt.bootstrap, topic, PARTS) == 8000
    no_errors(a.log_text() + b.log_text())


def test_target_frozen_past_the_session_lock_lost_then_regained(broker_factory, tmp_path):
    """The target stops answering (SIGSTOP) for longer than the flow lock's
    session, twice: the mirror loses the lock, stops writing, waits as a
    standby describing the lock group while the target reconnects, takes the
    flow back when the target answers again, and the target ends with exactly
    the source's records.  (A CI run once saw kferry abort here inside
    librdkafka's admin DescribeConsumerGroups; see grpadmin.c ga_describe.)"""
    import signal
    src, tgt = broker_factory(), broker_factory(overrides=TGT_OVERRIDES)
    topic = cf_create_topic(src.bootstrap, unique("frz"), PARTS)
    cfg = write_config(tmp_path / "m.properties", src, tgt, identity=True,
                       extra={"kferry.lock.session.timeout.ms": str(SESSION_MS),
                              "kferry.status.interval.seconds": "2"})
    kf = KferryProc(cfg, tmp_path).start()
    total = 0
    try:
        produce(src.bootstrap, topic, 3000)
        total += 3000
        wait_holder(kf)
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, topic, topic, PARTS)
        for round_ in range(2):
            tgt.proc.send_signal(signal.SIGSTOP)
            try:
                produce(src.bootstrap, topic, 2000, start=total)
                total += 2000
                wait_until(lambda: kf.log_text(last_only=True).count("assignment LOST")
                           >= round_ + 1 or not kf.alive(), 60, "the lock to be lost")
                time.sleep(12)  # standby describes while the target is still frozen
                assert kf.alive(), kf.log_text(last_only=True)[-4000:]
            finally:
                tgt.proc.send_signal(signal.SIGCONT)
            wait_until(lambda: kf.log_text(last_only=True).count("now holds flow") >= round_ + 2
                       or not kf.alive(), 120, "the flow taken back")
            assert kf.alive(), kf.log_text(last_only=True)[-4000:]
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, topic, topic, PARTS, timeout=120)
        assert check_exact(kf, src.bootstrap, tgt.bootstrap, topic, PARTS) == total
    finally:
        tgt.proc.send_signal(signal.SIGCONT)
        kf.stop(expect=0)


def test_session_timeout_the_target_refuses_is_a_clear_error(broker_factory, tmp_path):
    """kferry.lock.session.timeout.ms below the target's
    group.min.session.timeout.ms (6000, Kafka's default): kferry mirror
    exits 2 naming the setting and the target's bounds, instead of waiting
    as a standby for ever."""
    src, tgt = broker_factory(), broker_factory()
    cfg = write_config(tmp_path / "m.properties", src, tgt, identity=True,
                       extra={"kferry.lock.session.timeout.ms": "2000"})
    kf = KferryProc(cfg, tmp_path).start()
    assert kf.proc.wait(60) == 2
    log = kf.log_text()
    assert "the target refuses kferry.lock.session.timeout.ms=2000" in log, log[-3000:]
    assert "group.min.session.timeout.ms" in log
