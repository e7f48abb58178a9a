"""Consumer groups with real clients (kafka-python and confluent-kafka).

Two members of one group split the partitions (disjoint, covering all);
when one leaves (close -> LeaveGroup) the other gets all of them; every
record is consumed at least once; committed offsets read back with
OffsetFetch - from both clients - after a clean broker restart and after a
kill -9 and restart.

Each member runs in its own thread: kafka-python blocks inside poll() while
it (re)joins, so polling two members from one thread would deadlock a
rebalance.
"""

import threading

import confluent_kafka as ck
import pytest

from kf_util import (cf_conf, cf_consumer, cf_create_topic, cf_produce, kp_kwargs, unique,
                     wait_until)

PARTS = 4
COUNTS = [5, 6, 7, 8]  # records per partition: distinct committed offsets
SESSION_MS = 6000
HEARTBEAT_MS = 500
MAX_POLL_MS = 20000


class Member(threading.Thread):
    """One group member: subscribes, polls, records what it holds and
    consumes, and commits explicit offsets after consuming (retrying a
    failed commit on the next round)."""

    def __init__(self, client, name, bootstrap, group, topic):
        super().__init__(name=name, daemon=True)
        self.client, self.bootstrap, self.group, self.topic = client, bootstrap, group, topic
        self.assignment = frozenset()
        self.positions = {}      # partition -> next offset to consume
        self.consumed = set()    # (partition, offset)
        self.pending = {}        # partition -> offset not yet committed
        self.commit_errors = []
        self.error = None
        self.stop_evt = threading.Event()
        self.closed = threading.Event()

    # -- client specific
    def _open(self):
        if self.client == "confluent":
            c = ck.Consumer(cf_conf(self.bootstrap, **{
                "group.id": self.group, "enable.auto.commit": False,
                "auto.offset.reset": "earliest", "session.timeout.ms": SESSION_MS,
                "heartbeat.interval.ms": HEARTBEAT_MS, "max.poll.interval.ms": MAX_POLL_MS,
                "fetch.wait.max.ms": 100}))
            c.subscribe([self.topic])
            return c
        from kafka import KafkaConsumer
        c = KafkaConsumer(**kp_kwargs(
            self.bootstrap, group_id=self.group, enable_auto_commit=False,
            auto_offset_reset="earliest", session_timeout_ms=SESSION_MS,
            heartbeat_interval_ms=HEARTBEAT_MS, max_poll_interval_ms=MAX_POLL_MS,
            request_timeout_ms=MAX_POLL_MS + 10000, fetch_max_wait_ms=100))
        c.subscribe([self.topic])
        return c

    def _poll(self, c):
        if self.client == "confluent":
            out = []
            m = c.poll(0.1)
            if m is not None:
                if m.error() is not None:
                    raise AssertionError("consumer error: %s" % m.error())
                out.append((m.partition(), m.offset()))
            return out
        return [(tp.partition, m.offset) for tp, msgs in c.poll(timeout_ms=100).items()
                for m in msgs]

    def _assignment(self, c):
        return frozenset(tp.partition for tp in c.assignment())

    def _commit(self, c, offsets):
        if self.client == "confluent":
            c.commit(offsets=[ck.TopicPartition(self.topic, p, o) for p, o in offsets.items()],
                     asynchronous=False)
        else:
            from kafka import TopicPartition
            from kafka.structs import OffsetAndMetadata
            c.commit({TopicPartition(self.topic, p): OffsetAndMetadata(o, "")
                      for p, o in offsets.items()})

    def _close(self, c):
        if self.client == "confluent":
            c.close()
        else:
            c.close(autocommit=False)

    # -- loop
    def run(self):
        c = None
        try:
            c = self._open()
            while not self.stop_evt.is_set():
                for p, off in self._poll(c):
                    self.consumed.add((p, off))
                    self.positions[p] = off + 1
                    self.pending[p] = off + 1
                self.assignment = self._assignment(c)
                todo = {p: o for p, o in self.pending.items() if p in self.assignment}
                if todo:
                    try:
                        self._commit(c, todo)
                        for p, o in todo.items():
                            if self.pending.get(p) == o:
                                del self.pending[p]
                    except Exception as e:  # noqa: BLE001 - retried next round
                        self.commit_errors.append(repr(e))
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e
        finally:
            if c is not None:
                try:
                    self._close(c)
                except Exception as e:  # noqa: BLE001
                    self.error = self.error or e
            self.assignment = frozenset()
            self.closed.set()

    def shutdown(self, timeout=30):
        self.stop_evt.set()
        assert self.closed.wait(timeout), "%s did not close within %ss" % (self.name, timeout)
        self.join(5)


def read_committed(client, bootstrap, group, topic):
    """Committed offsets {partition: offset} via OffsetFetch, by a consumer
    that does not join the group."""
    if client == "confluent":
        c = cf_consumer(bootstrap, group=group)
        try:
            res = c.committed([ck.TopicPartition(topic, p) for p in range(PARTS)], timeout=10)
            for tp in res:
                assert tp.error is None, "committed(): %s" % tp.error
            return {tp.partition: tp.offset for tp in res}
        finally:
            c.close()
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(**kp_kwargs(bootstrap, group_id=group, enable_auto_commit=False))
    try:
        return {p: c.committed(TopicPartition(topic, p)) for p in range(PARTS)}
    finally:
        c.close(autocommit=False)


def describe(*members):
    return "; ".join("%s: assignment=%s positions=%s error=%r commit_errors=%s" % (
        m.name, sorted(m.assignment), m.positions, m.error, m.commit_errors[-3:])
        for m in members)


@pytest.mark.parametrize("client", ["kafka-python", "confluent"])
def test_group_split_leave_and_committed_offsets(broker, client):
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("grp-" + client), PARTS)
    cf_produce(bs, topic, [dict(partition=p, key=b"k%d" % i, value=b"v-%d-%d" % (p, i))
                           for p in range(PARTS) for i in range(COUNTS[p])])
    ends = {p: COUNTS[p] for p in range(PARTS)}
    group = unique("g-" + client)
    everything = frozenset(range(PARTS))

    a = Member(client, "member-A", bs, group, topic)
    b = Member(client, "member-B", bs, group, topic)
    try:
        a.start()
        wait_until(lambda: a.assignment == everything or a.error, 30,
                   "the only member to get all partitions (%s)" % describe(a))
        assert a.error is None, describe(a)

        b.start()

        def split():
            if a.error or b.error:
                return True
            x, y = a.assignment, b.assignment
            return x and y and not (x & y) and (x | y) == everything

        wait_until(split, 45, "two members to split the partitions (%s)" % describe(a, b))
        assert a.error is None and b.error is None, describe(a, b)

        # Everything gets consumed by someone before B leaves.
        want = {(p, o) for p in range(PARTS) for o in range(COUNTS[p])}
        wait_until(lambda: (a.consumed | b.consumed) >= want, 30,
                   "all records to be consumed (%s)" % describe(a, b))

        b.shutdown()
        assert b.error is None, describe(b)
        wait_until(lambda: a.assignment == everything or a.error, 45,
                   "the remaining member to get all partitions after the other left (%s)"
                   % describe(a))
        assert a.error is None, describe(a)
        assert (a.consumed | b.consumed) == want, "records consumed that were never produced"

        wait_until(lambda: read_committed(client, bs, group, topic) == ends, 30,
                   "committed offsets to reach the log ends %s (%s)" % (ends, describe(a)))
        a.shutdown()
        assert a.error is None, describe(a)
    finally:
        for m in (a, b):
            m.stop_evt.set()
        for m in (a, b):
            if m.is_alive():
                m.closed.wait(30)

    broker.restart()
    for reader in ("kafka-python", "confluent"):
        got = read_committed(reader, broker.bootstrap, group, topic)
        assert got == ends, "after a clean restart, %s reads committed offsets %r, expected %r" % (
            reader, got, ends)

    broker.kill9()
    broker.restart()
    for reader in ("kafka-python", "confluent"):
        got = read_committed(reader, broker.bootstrap, group, topic)
        assert got == ends, "after kill -9 and restart, %s reads committed %r, expected %r" % (
            reader, got, ends)
