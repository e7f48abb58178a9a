"""Consumer groups with kcat (-G, librdkafka's balanced consumer): two kcat
members split the partitions and the survivor takes them all when the other
leaves; what kcat committed reads back after a broker restart.

kcat reports every rebalance on stderr ("% Group G rebalanced (...):
assigned: T [0], T [2]"), which is how the test learns each member's
assignment.
"""

import re
import signal
import subprocess
import threading

from kf_util import cf_create_topic, cf_produce, unique, wait_until
from test_consumer_groups import PARTS, read_committed

ASSIGNED_RE = re.compile(r"rebalanced .*: assigned: (.*)$")


class KcatMember:
    def __init__(self, bootstrap, group, topic):
        self.topic = topic
        self.assignment = None  # latest assignment (set of partitions)
        self.consumed = []      # (partition, offset)
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            ["kcat", "-b", bootstrap, "-G", group, "-u", "-f", "%p %o\\n",
             "-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000",
             "-X", "heartbeat.interval.ms=500", "-X", "auto.commit.interval.ms=200", topic],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_out(self):
        for line in self.proc.stdout:
            p, o = line.split()
            with self.lock:
                self.consumed.append((int(p), int(o)))

    def _read_err(self):
        for line in self.proc.stderr:
            m = ASSIGNED_RE.search(line.strip())
            if m:
                parts = set(int(x) for x in re.findall(r"\[(\d+)\]", m.group(1)))
                with self.lock:
                    self.assignment = parts
            elif "revoked" in line:
                with self.lock:
                    self.assignment = set()

    def get_assignment(self):
        with self.lock:
            return None if self.assignment is None else set(self.assignment)

    def consumed_count(self):
        with self.lock:
            return len(self.consumed)

    def stop(self):
        # kcat leaves the group and commits its offsets on SIGTERM.
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(30) == 0

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def test_kcat_group_split_leave_and_committed_offsets(broker):
    topic, group = unique("kgrp"), unique("kg")
    cf_create_topic(broker.bootstrap, topic, partitions=PARTS)
    cf_produce(broker.bootstrap, topic,
               [{"partition": p, "value": b"r1-%d" % i} for p in range(PARTS) for i in range(5)])
    a = KcatMember(broker.bootstrap, group, topic)
    b = None
    try:
        wait_until(lambda: a.get_assignment() == set(range(PARTS)), 30,
                   "first kcat member assigned every partition")
        wait_until(lambda: a.consumed_count() >= 5 * PARTS, 30, "first member read round 1")

        b = KcatMember(broker.bootstrap, group, topic)

        def split():
            sa, sb = a.get_assignment(), b.get_assignment()
            return sa and sb and not (sa & sb) and (sa | sb) == set(range(PARTS))
        wait_until(split, 60, "two kcat members split the partitions")

        cf_produce(broker.bootstrap, topic,
                   [{"partition": p, "value": b"r2-%d" % i} for p in range(PARTS)
                    for i in range(5)])
        wait_until(lambda: a.consumed_count() + b.consumed_count() >= 10 * PARTS, 30,
                   "round 2 consumed by the two members")
        b.stop()
        b_done, b = b, None
        wait_until(lambda: a.get_assignment() == set(range(PARTS)), 60,
                   "the remaining kcat member takes every partition after the other left")
        cf_produce(broker.bootstrap, topic,
                   [{"partition": p, "value": b"r3-%d" % i} for p in range(PARTS)
                    for i in range(5)])
        wait_until(lambda: a.consumed_count() + b_done.consumed_count() >= 15 * PARTS, 30,
                   "round 3 consumed by the remaining member")
        a.stop()
    finally:
        a.kill()
        if b:
            b.kill()
    broker.restart()
    committed = read_committed("confluent", broker.bootstrap, group, topic)
    assert committed == {p: 15 for p in range(PARTS)}, committed
