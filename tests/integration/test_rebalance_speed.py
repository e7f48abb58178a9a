"""A rebalance finishes as soon as every member has rejoined.

Kafka's coordinator completes PreparingRebalance once all known members have
sent JoinGroup again (only a new, empty group waits for
group.initial.rebalance.delay.ms).  An existing member learns of the
rebalance from its next heartbeat (heartbeat.interval.ms, 3 s by default),
so a second consumer joining a running group, or one leaving it, must
settle within a few seconds, not at a session or rebalance timeout.
Client defaults are kept on purpose (heartbeat 3 s, session 45 s for
librdkafka 2.0.2 / 10 s for kafka-python).
"""

import threading
import time

from kf_util import cf_consumer, cf_create_topic, kp_kwargs, unique, wait_until

PARTS = 4
ALL = frozenset(range(PARTS))
LIMIT_S = 8.0  # heartbeat 3 s + join/sync round trips, with room for a loaded machine


def cf_assignment(c):
    return frozenset(tp.partition for tp in c.assignment())


def split(sets):
    return (all(sets) and sum(len(s) for s in sets) == PARTS
            and frozenset().union(*sets) == ALL)


def test_librdkafka_second_member_and_leave_settle_quickly(broker_factory):
    # The broker's default initial delay (3 s) applies to the first join
    # only; it must not slow down the later rebalances measured here.
    broker = broker_factory(defaults=False)
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("rb"), partitions=PARTS)
    group = unique("rb-group")
    a = cf_consumer(bs, group=group, auto_offset_reset="earliest")
    a.subscribe([topic])
    wait_until(lambda: a.poll(0.05) is None and cf_assignment(a) == ALL, 30,
               "first member to own every partition", interval=0)
    b = cf_consumer(bs, group=group, auto_offset_reset="earliest")
    b.subscribe([topic])
    t0 = time.monotonic()
    while not split([cf_assignment(a), cf_assignment(b)]):
        assert time.monotonic() - t0 < 30, "no split within 30 s"
        a.poll(0.05)
        b.poll(0.05)
    took = time.monotonic() - t0
    assert took < LIMIT_S, "second member got its assignment after %.1f s" % took

    b.close()  # LeaveGroup
    t0 = time.monotonic()
    while cf_assignment(a) != ALL:
        assert time.monotonic() - t0 < 30, "remaining member did not take over in 30 s"
        a.poll(0.05)
    took = time.monotonic() - t0
    assert took < LIMIT_S, "remaining member took over after %.1f s" % took
    a.close()


class KpMember(threading.Thread):
    def __init__(self, bootstrap, topic, group):
        super().__init__(daemon=True)
        from kafka import KafkaConsumer
        self.consumer = KafkaConsumer(**kp_kwargs(
            bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest",
            fetch_max_wait_ms=100))
        self.consumer.subscribe([topic])
        self.assigned = frozenset()
        self.error = None
        self.stop_flag = threading.Event()
        self.closed = threading.Event()

    def run(self):
        try:
            while not self.stop_flag.is_set():
                self.consumer.poll(timeout_ms=100)
                self.assigned = frozenset(tp.partition for tp in self.consumer.assignment())
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e
        finally:
            self.consumer.close()
            self.closed.set()


def test_kafka_python_second_member_and_leave_settle_quickly(broker_factory):
    broker = broker_factory(defaults=False)
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("rbk"), partitions=PARTS)
    group = unique("rbk-group")
    a = KpMember(bs, topic, group)
    a.start()
    wait_until(lambda: a.assigned == ALL, 30, "first member owns all")
    b = KpMember(bs, topic, group)
    t0 = time.monotonic()
    b.start()
    wait_until(lambda: split([a.assigned, b.assigned]), 30, "two members to split")
    took = time.monotonic() - t0
    assert took < LIMIT_S, "second kafka-python member settled after %.1f s" % took
    b.stop_flag.set()
    assert b.closed.wait(30)
    t0 = time.monotonic()
    wait_until(lambda: a.assigned == ALL, 30, "remaining member to own all")
    took = time.monotonic() - t0
    assert took < LIMIT_S, "remaining kafka-python member took over after %.1f s" % took
    a.stop_flag.set()
    assert a.closed.wait(30)
    assert a.error is None and b.error is None


def test_initial_delay_is_not_extended_for_a_group_that_had_a_generation(broker_factory):
    """group.initial.rebalance.delay.ms (3 s by default) is waited once when
    an Empty group gets members; Kafka extends it for members arriving
    during the delay only while the group is at generation 0.  A group that
    emptied after a generation completes after one delay, not two."""
    broker = broker_factory(defaults=False)
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("rbd"), partitions=PARTS)
    group = unique("rbd-group")
    first = cf_consumer(bs, group=group, auto_offset_reset="earliest")
    first.subscribe([topic])
    wait_until(lambda: first.poll(0.05) is None and cf_assignment(first) == ALL, 30,
               "first member to own every partition", interval=0)
    first.close()  # the group is Empty at generation 1
    a = cf_consumer(bs, group=group, auto_offset_reset="earliest")
    b = cf_consumer(bs, group=group, auto_offset_reset="earliest")
    t0 = time.monotonic()
    a.subscribe([topic])
    b.subscribe([topic])
    while not split([cf_assignment(a), cf_assignment(b)]):
        assert time.monotonic() - t0 < 30, "no split within 30 s"
        a.poll(0.05)
        b.poll(0.05)
    took = time.monotonic() - t0
    assert took < 5.0, "rejoined group took %.1f s (one 3 s initial delay expected)" % took
    a.close()
    b.close()
