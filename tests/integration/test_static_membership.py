"""Static group membership (KIP-345, `group.instance.id`) on kferry-broker,
as Kafka's coordinator does it, with librdkafka consumers (confluent-kafka).

* A static member that restarts (closes without leaving, then joins again
  with its instance id) takes its previous place: it gets its old
  partitions back, well before the session timeout, and the other member
  is not rebalanced.
* A second process with the same instance id fences the first: the first
  gets the fatal error FENCED_INSTANCE_ID, the new one takes its place.

`static_membership_checks` runs the same checks against real Kafka
(tests/realkafka/test_real_workflow.py), so the behaviour is Kafka's.
"""

import time

import confluent_kafka as ck

from kf_util import cf_consumer, cf_create_topic, unique, wait_until

PARTS = 4
SESSION_MS = 10000


class Member:
    """A subscribed consumer that records its rebalance events."""

    def __init__(self, bootstrap, group, topic, instance):
        self.events = []
        self.assigned = set()
        self.fatal = None
        self.c = cf_consumer(bootstrap, group=group, **{
            "group.instance.id": instance, "session.timeout.ms": SESSION_MS,
            "auto.offset.reset": "earliest", "heartbeat.interval.ms": 500})
        self.c.subscribe([topic], on_assign=self._assign, on_revoke=self._revoke)

    def _assign(self, c, parts):
        self.assigned = {p.partition for p in parts}
        self.events.append(("assign", time.monotonic(), sorted(self.assigned)))

    def _revoke(self, c, parts):
        self.assigned = set()
        self.events.append(("revoke", time.monotonic(), sorted(p.partition for p in parts)))

    def poll(self, secs=0.1):
        m = self.c.poll(secs)
        if m is not None and m.error() is not None and (
                m.error().fatal() or m.error().code() == ck.KafkaError._FATAL):
            self.fatal = m.error()


def poll_all(members, secs):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        for m in members:
            m.poll(0.05)


def wait_assigned(members, timeout=60):
    def done():
        poll_all(members, 0.2)
        return all(m.assigned for m in members) and \
            sum(len(m.assigned) for m in members) == PARTS
    wait_until(done, timeout, "every partition assigned")


def static_membership_checks(bootstrap, topic):
    group = unique("static")
    a = Member(bootstrap, group, topic, "inst-a")
    b = Member(bootstrap, group, topic, "inst-b")
    wait_assigned([a, b])
    poll_all([a, b], 2)  # settled
    a_before, b_parts = len(a.events), set(b.assigned)
    # b restarts: a static member's close does not leave the group
    b.c.close()
    t0 = time.monotonic()
    b2 = Member(bootstrap, group, topic, "inst-b")
    wait_until(lambda: (poll_all([a, b2], 0.2), bool(b2.assigned))[1], 30, "b back")
    took = time.monotonic() - t0
    assert b2.assigned == b_parts, (b2.assigned, b_parts)
    assert took < SESSION_MS / 1000.0 - 2, "the rejoin waited for the session timeout: %.1f s" % took
    poll_all([a, b2], 2)
    assert a.events[a_before:] == [], "a was rebalanced by b's restart: %s" % a.events[a_before:]
    # a second incarnation of inst-a fences the first
    a2 = Member(bootstrap, group, topic, "inst-a")
    wait_until(lambda: (poll_all([a, a2, b2], 0.2), a.fatal is not None)[1], 30,
               "the first inst-a to be fenced")
    assert a.fatal.code() == ck.KafkaError._FATAL, a.fatal
    assert "fenced by other consumer with same group.instance.id" in str(a.fatal), a.fatal
    for m in (a2, b2):
        m.c.close()
    try:
        a.c.close()
    except ck.KafkaException:
        pass  # a fenced consumer's close reports the fatal error


def test_static_members_rejoin_without_a_rebalance_and_fence_a_duplicate(broker_factory):
    b = broker_factory()
    topic = cf_create_topic(b.bootstrap, unique("stm"), PARTS)
    static_membership_checks(b.bootstrap, topic)
