"""Rolling restarts while kferry mirrors and syncs groups under load, as
MSK's maintenance does: each broker of the three-broker target in turn,
then the source broker.  Nothing lost, nothing duplicated, the offset map
exact, group offsets translated exactly, and no manual step: the same
kferry process runs from start to end.

These tests restart brokers of the shared clusters, so they run last
(conftest.py puts them at the end of the session) and wait until every
partition is back in sync before they return.
"""

import threading
import time

import confluent_kafka as ck

from kf_util import cf_create_topic, cf_producer, wait_until
from test_mirror_util import KferryProc, check_exact, wait_mirrored

PARTS = 6


class Load:
    """A producer writing sequenced records until stopped, and a consumer
    group on the source that reads and commits as it goes."""

    def __init__(self, bootstrap, topic, group):
        self.bootstrap, self.topic, self.group = bootstrap, topic, group
        self.stop = threading.Event()
        self.sent = 0
        self.errors = []
        self.threads = [threading.Thread(target=self.produce, daemon=True),
                        threading.Thread(target=self.consume, daemon=True)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def produce(self):
        p = cf_producer(self.bootstrap, **{"linger.ms": 10, "acks": "all",
                                           "enable.idempotence": True})
        i = 0
        while not self.stop.is_set():
            try:
                p.produce(self.topic, key=b"k%d" % i, value=b"seq-%d-" % i + b"r" * (i % 50),
                          partition=i % PARTS, headers=[("seq", b"%d" % i)])
                i += 1
            except BufferError:
                p.poll(0.05)
                continue
            if i % 200 == 0:
                p.poll(0)
                time.sleep(0.05)  # about 4,000 records/s
        if p.flush(60) != 0:
            self.errors.append("producer: records not delivered")
        self.sent = i

    def consume(self):
        c = ck.Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "broker.address.family": "v4", "session.timeout.ms": 10000})
        c.subscribe([self.topic])
        n = 0
        while not self.stop.is_set():
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            n += 1
            if n % 500 == 0:
                try:
                    c.commit(asynchronous=False)
                except ck.KafkaException:
                    pass  # the source may be restarting: the next commit catches up
        # The final commit may meet a group that is rebalancing after the
        # source restart (assignment lost, rejoin pending): it is retried,
        # polling in between so the consumer rejoins, as an application does.
        deadline = time.monotonic() + 60
        while True:
            try:
                c.commit(asynchronous=False)
                break
            except ck.KafkaException as e:
                if e.args[0].code() == ck.KafkaError._NO_OFFSET:  # nothing new since the last
                    break
                if time.monotonic() > deadline:
                    self.errors.append("final commit: %s" % e)
                    break
                c.poll(0.5)
        c.close()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(120)
        assert not self.errors, self.errors


def committed(bootstrap, group, topic):
    c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                     "broker.address.family": "v4"})
    try:
        tps = c.committed([ck.TopicPartition(topic, p) for p in range(PARTS)], timeout=30)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


def test_rolling_restarts_target_then_source(real, ns, tmp_path):
    src, tgt = real.src, real.tgt
    topic = cf_create_topic(src.bootstrap, ns.topic("roll"), PARTS)
    group = ns.group("app")
    cfg = ns.config(tmp_path / "m.properties", extra={"replication.factor": "3"})
    kf = KferryProc(cfg, tmp_path).start()
    load = Load(src.bootstrap, topic, group).start()
    tgt_topic = ns.target_topic("roll")
    try:
        wait_until(lambda: "mirroring " in kf.log_text(), 90, "kferry to mirror")
        time.sleep(3)
        for i in range(len(tgt.brokers)):
            tgt.restart_broker(i)
            assert kf.alive(), "kferry died during the restart of target broker %d:\n%s" % (
                i + 1, kf.log_text()[-5000:])
            tgt.wait_in_sync(180)
            time.sleep(2)
        src.restart_broker(0)
        assert kf.alive(), "kferry died during the source restart:\n" + kf.log_text()[-5000:]
        time.sleep(5)
        load.finish()
        assert load.sent > 10_000, load.sent
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, topic, tgt_topic, PARTS, timeout=240)
        wait_until(lambda: check_exact(kf, src.bootstrap, tgt.bootstrap, topic, PARTS) ==
                   load.sent, 60, "exact copy of %d records" % load.sent, interval=1)
        # group offsets: the target's are the exact translation of the source's
        src_off = committed(src.bootstrap, group, topic)
        assert all(o >= 0 for o in src_off.values()), src_off
        want = {p: kf.translate(topic, p, o)["target_offset"] for p, o in src_off.items()}

        def synced():
            got = committed(tgt.bootstrap, group, tgt_topic)
            return got == want or None
        wait_until(synced, 60, "group %s synced exactly (want %r)" % (group, want), interval=1)
        assert kf.alive()
    finally:
        load.stop.set()
        if kf.alive():
            kf.stop(expect=0)
