"""Consumer groups with real clients against kferry-broker's coordinator.

Two kafka-python consumers, then two confluent-kafka (librdkafka) consumers,
subscribe to one multi-partition topic in one group: together they must
own every partition exactly once, and when one leaves the other must take
over all partitions.  Committed offsets (group commits and assign()-style
standalone commits) must read back after a broker restart, and the admin
API (list/describe/delete groups, committed offsets) must see the groups.
"""

import threading

import confluent_kafka as ck
from confluent_kafka.admin import AdminClient

from kf_util import (cf_conf, cf_consumer, cf_create_topic, cf_produce, kp_kwargs, unique,
                     wait_until)

PARTS = 4


def produce_some(bootstrap, topic, per_part=5):
    cf_produce(bootstrap, topic, [{"value": b"v%d" % i, "partition": p}
                                  for p in range(PARTS) for i in range(per_part)])


# ------------------------------------------------------------ kafka-python


class KpMember(threading.Thread):
    """A kafka-python group consumer polling in its own thread and
    publishing its current assignment."""

    def __init__(self, bootstrap, topic, group):
        super().__init__(daemon=True)
        from kafka import KafkaConsumer
        self.consumer = KafkaConsumer(**kp_kwargs(
            bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=10000, heartbeat_interval_ms=500, fetch_max_wait_ms=100,
            max_poll_interval_ms=30000))
        self.consumer.subscribe([topic])
        self.topic = topic
        self.assigned = frozenset()
        self.records = 0
        self.error = None
        self.stop_flag = threading.Event()
        self.closed = threading.Event()

    def run(self):
        try:
            while not self.stop_flag.is_set():
                got = self.consumer.poll(timeout_ms=100)
                self.records += sum(len(v) for v in got.values())
                self.assigned = frozenset(tp.partition for tp in self.consumer.assignment())
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e
        finally:
            self.consumer.close()  # sends LeaveGroup
            self.closed.set()

    def leave(self):
        self.stop_flag.set()
        assert self.closed.wait(30), "kafka-python consumer did not close"


def split_ok(members):
    sets = [m.assigned for m in members]
    union = frozenset().union(*sets)
    return (union == frozenset(range(PARTS)) and sum(len(s) for s in sets) == PARTS
            and all(sets))


def test_kafka_python_group_splits_and_rebalances(broker):
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("kpg"), partitions=PARTS)
    produce_some(bs, topic)
    group = unique("kp-group")
    a = KpMember(bs, topic, group)
    a.start()
    wait_until(lambda: a.assigned == frozenset(range(PARTS)), 30, "first member owns all")
    b = KpMember(bs, topic, group)
    b.start()
    wait_until(lambda: split_ok([a, b]), 40,
               "two kafka-python members to split %d partitions" % PARTS)
    assert a.error is None and b.error is None
    b.leave()
    wait_until(lambda: a.assigned == frozenset(range(PARTS)), 40,
               "remaining member to take every partition after the other left")
    a.stop_flag.set()
    assert a.closed.wait(30)
    assert a.error is None and b.error is None


def test_kafka_python_commit_survives_restart(broker):
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("kpc"), partitions=PARTS)
    group = unique("kp-commit")
    c = KafkaConsumer(**kp_kwargs(bs, group_id=group, enable_auto_commit=False))
    tps = [TopicPartition(topic, p) for p in range(PARTS)]
    c.assign(tps)
    # assign() + commit: generation -1, no member id (standalone commit).
    c.commit({tps[p]: OffsetAndMetadata(100 + p, "meta-%d" % p) for p in range(PARTS)})
    assert c.committed(tps[2]) == 102
    c.close()
    broker.restart()
    c = KafkaConsumer(**kp_kwargs(bs, group_id=group, enable_auto_commit=False))
    wait_until(lambda: c.committed(tps[3]) == 103, 30, "commit to read back after restart")
    assert [c.committed(tp) for tp in tps] == [100, 101, 102, 103]
    c.close()


# ---------------------------------------------------------- confluent-kafka


def cf_assignment(c):
    return frozenset(tp.partition for tp in c.assignment())


def test_confluent_group_splits_rebalances_and_commits(broker):
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("cfg"), partitions=PARTS)
    produce_some(bs, topic)
    group = unique("cf-group")
    conf = dict(session_timeout_ms=6000, heartbeat_interval_ms=500,
                auto_offset_reset="earliest")
    a = cf_consumer(bs, group=group, **conf)
    b = cf_consumer(bs, group=group, **conf)
    a.subscribe([topic])
    b.subscribe([topic])
    consumed = {}

    def pump():
        for c in (a, b):
            m = c.poll(0.05)
            if m is not None and m.error() is None:
                consumed[(m.partition(), m.offset())] = c
        sa, sb = cf_assignment(a), cf_assignment(b)
        return (sa and sb and not (sa & sb) and (sa | sb) == frozenset(range(PARTS)))

    wait_until(pump, 60, "two librdkafka members to split %d partitions" % PARTS, interval=0)
    # Everyone consumes from its own partitions.
    wait_until(lambda: (pump() or True) and len(consumed) == PARTS * 5, 30,
               "all records consumed by the group", interval=0)
    # Commit what each consumed (group commit with generation and member).
    for c in (a, b):
        offs = [ck.TopicPartition(topic, p, 5) for p in cf_assignment(c)]
        res = c.commit(offsets=offs, asynchronous=False)
        assert all(tp.error is None for tp in res), res
    # The admin API sees the group as Stable with two members.
    admin = AdminClient(cf_conf(bs))
    groups = {g.id: g for g in admin.list_groups(group=group, timeout=10)}
    assert groups[group].state == "Stable"
    assert len(groups[group].members) == 2
    assert groups[group].protocol_type == "consumer"
    # b leaves: a takes over everything.
    b.close()
    wait_until(lambda: a.poll(0.05) is None and cf_assignment(a) == frozenset(range(PARTS)), 60,
               "remaining librdkafka member to own all partitions", interval=0)
    a.close()

    broker.restart()
    c = cf_consumer(bs, group=group)
    committed = c.committed([ck.TopicPartition(topic, p) for p in range(PARTS)], timeout=20)
    assert [tp.offset for tp in committed] == [5] * PARTS
    c.close()


def test_kafka_python_and_librdkafka_share_a_group(broker):
    """Different client implementations in one group agree on a protocol
    (both support "range") and split the partitions."""
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("mix"), partitions=PARTS)
    group = unique("mixed")
    kp = KpMember(bs, topic, group)
    kp.start()
    wait_until(lambda: kp.assigned == frozenset(range(PARTS)), 30, "kafka-python owns all")
    c = cf_consumer(bs, group=group, session_timeout_ms=6000, heartbeat_interval_ms=500,
                    partition_assignment_strategy="range")

    c.subscribe([topic])

    def split():
        c.poll(0.05)
        sa, sb = cf_assignment(c), kp.assigned
        return sa and sb and not (sa & sb) and (sa | sb) == frozenset(range(PARTS))

    wait_until(split, 60, "mixed group to split partitions", interval=0)
    c.close()
    wait_until(lambda: kp.assigned == frozenset(range(PARTS)), 40,
               "kafka-python to get everything back")
    kp.leave()
    assert kp.error is None


KILLED_MEMBER = r"""
import sys, time
from kafka import KafkaConsumer
c = KafkaConsumer(bootstrap_servers=sys.argv[1], group_id=sys.argv[3],
                  session_timeout_ms=6000, heartbeat_interval_ms=500,
                  auto_offset_reset="earliest", enable_auto_commit=False,
                  fetch_max_wait_ms=100)
c.subscribe([sys.argv[2]])
while True:
    c.poll(timeout_ms=100)
    if c.assignment():
        print("assigned", sorted(tp.partition for tp in c.assignment()), flush=True)
"""


def test_session_timeout_removes_a_killed_member(broker):
    """A member that dies without LeaveGroup (SIGKILL) is dropped when its
    session times out, and the survivor takes over its partitions."""
    import subprocess
    import sys
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("kill"), partitions=PARTS)
    group = unique("kill-group")
    a = KpMember(bs, topic, group)
    a.start()
    wait_until(lambda: a.assigned == frozenset(range(PARTS)), 30, "first member owns all")
    victim = subprocess.Popen(["/usr/bin/python3", "-c", KILLED_MEMBER, bs, topic, group],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: 0 < len(a.assigned) < PARTS, 40, "the group to split")
        victim.kill()
        victim.wait(10)
        # 6 s session timeout, then the survivor rejoins.
        wait_until(lambda: a.assigned == frozenset(range(PARTS)), 40,
                   "survivor to own all partitions after the killed member's session expired")
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(10)
    a.leave()
    assert a.error is None


def test_commit_survives_kill9(broker):
    """A commit is written before it is acknowledged: SIGKILL loses nothing."""
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("k9"), partitions=PARTS)
    group = unique("k9-group")
    c = cf_consumer(bs, group=group)
    for i in range(3):
        offs = [ck.TopicPartition(topic, p, 10 * i + p) for p in range(PARTS)]
        c.commit(offsets=offs, asynchronous=False)
    c.close()
    port = broker.port
    broker.kill9()
    broker.start(port=port)
    c = cf_consumer(bs, group=group)
    committed = c.committed([ck.TopicPartition(topic, p) for p in range(PARTS)], timeout=20)
    assert [tp.offset for tp in committed] == [20 + p for p in range(PARTS)]
    c.close()
