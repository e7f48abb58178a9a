"""confluent-kafka versions of the kafka-python helpers of tests/integration.

kafka-python 2.0.2 (Debian 12) cannot talk to Kafka 4.0: it sends Metadata
v1, which Kafka 4.0 removed (KIP-896), and the broker closes the connection
(seen here as "socket disconnected" and then UnknownTopicOrPartition or a
ListOffsets timeout).  The kferry-broker tests read and commit with
kafka-python; on real Kafka the same helpers, with the same semantics, are
built on confluent-kafka (librdkafka 2.0.2, which negotiates versions).
Where a helper is a class in tests/integration, the class here subclasses
it and replaces only the client (so the assertions stay the ones there).
"""

import time

import confluent_kafka as ck

from kf_util import cf_conf, cf_consumer, cf_producer, wait_until
from rk_read import cf_all, end_offsets  # noqa: F401 - re-exported for the tests
# conftest.py points test_mirror_util's readers at rk_read, so its checks
# read real Kafka with confluent-kafka
from test_mirror_util import check_exact, wait_mirrored  # noqa: F401 - re-exported
from test_cutover import SeqConsumer, SeqProducer
from test_rollback import App


def topic_exists(bootstrap, topic):
    from confluent_kafka.admin import AdminClient
    md = AdminClient(cf_conf(bootstrap)).list_topics(timeout=10)
    t = md.topics.get(topic)
    return t is not None and t.error is None


def values(bootstrap, topic, p):
    """The App's sequence numbers stored in a partition (values b"v<n>")."""
    return [int(r[2][1:]) for r in cf_all(bootstrap, topic, p)]


def committed(bootstrap, group, topic, partitions):
    """{(topic, partition): offset} committed by group (only those >= 0),
    read with OffsetFetch through confluent-kafka (test_cutover's
    target_committed, which uses kafka-python's admin client)."""
    c = cf_consumer(bootstrap, group=group)
    try:
        tps = c.committed([ck.TopicPartition(topic, p) for p in range(partitions)], timeout=20)
        return {(tp.topic, tp.partition): tp.offset for tp in tps if tp.offset >= 0}
    finally:
        c.close()


def commit_standalone(bootstrap, group, topic, offsets):
    """Commits {partition: offset} for group without joining it (allowed while
    the group has no member), as a consumer with assign() does."""
    c = cf_consumer(bootstrap, group=group)
    try:
        c.commit(offsets=[ck.TopicPartition(topic, p, o) for p, o in offsets.items()],
                 asynchronous=False)
    finally:
        c.close()


class CfSeqProducer(SeqProducer):
    """test_cutover.SeqProducer on confluent-kafka (idempotent): each batch
    of 20 is acknowledged before the sequence goes on."""

    def _run(self, bootstrap):
        try:
            p = cf_producer(bootstrap, **{"enable.idempotence": True, "acks": "all",
                                          "linger.ms": 5})
            errors = []

            def cb(err, msg):
                if err is not None:
                    errors.append(err)

            i = 0
            while not self.stop_flag.is_set():
                for _ in range(20):
                    part = i % self.parts
                    i += 1
                    p.produce(self.topic, key=b"p%d" % part, value=b"%d" % self.next[part],
                              partition=part, on_delivery=cb)
                    self.next[part] += 1
                assert p.flush(30) == 0, "batch not acknowledged within 30 s"
                assert not errors, "delivery failed: %r" % errors
                time.sleep(20.0 / self.rate)
            assert p.flush(30) == 0
        except Exception as e:  # noqa: BLE001 - reported by stop()
            self.error = e


class CfSeqConsumer(SeqConsumer):
    """test_cutover.SeqConsumer on confluent-kafka: a group member that
    records every value per partition and commits synchronously after each
    poll; stop() returns once it left the group."""

    def _run(self, bootstrap):
        try:
            c = ck.Consumer(cf_conf(bootstrap, **{
                "group.id": self.group, "client.id": "app-" + self.group,
                "enable.auto.commit": False, "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 100, "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 500}))
            c.subscribe([self.topic])
            while not self.stop_flag.is_set():
                msgs = c.consume(200, 0.2)
                self.polled += 1
                if c.assignment():
                    self.ready.set()
                for m in msgs:
                    if m.error() is not None:
                        if m.error().code() == ck.KafkaError._PARTITION_EOF:
                            continue
                        raise ck.KafkaException(m.error())
                    self.seen[m.partition()].append(int(m.value()))
                if msgs:
                    c.commit(asynchronous=False)
            c.close()
        except Exception as e:  # noqa: BLE001 - reported by stop()
            self.error = e


class CfApp(App):
    """test_rollback.App on confluent-kafka."""

    def produce(self, bootstrap, n):
        from test_rollback import PARTS
        p = cf_producer(bootstrap, **{"enable.idempotence": True, "acks": "all"})
        errors = []
        for _ in range(n):
            i = self.seq
            p.produce(self.topic, partition=i % PARTS, key=b"k%d" % i, value=b"v%d" % i,
                      on_delivery=lambda err, msg: errors.append(err) if err else None)
            self.seq += 1
        assert p.flush(30) == 0 and not errors, errors

    def consume(self, bootstrap, until, timeout=60):
        c = ck.Consumer(cf_conf(bootstrap, **{
            "group.id": self.group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100,
            "session.timeout.ms": 6000, "heartbeat.interval.ms": 500}))
        try:
            c.subscribe([self.topic])

            def step():
                msgs = [m for m in c.consume(500, 0.3) if m.error() is None]
                self.seen.extend((m.partition(), int(m.value()[1:])) for m in msgs)
                if msgs:
                    c.commit(asynchronous=False)
                return len(self.seen) >= until

            wait_until(step, timeout, "the group to consume %d records (has %d)" % (
                until, len(self.seen)), interval=0)
        finally:
            c.close()
