"""The real-Kafka tier: kferry against real Apache Kafka (KRaft) clusters.

Clusters are started once per test session (they cost about a minute on
two cores) and shared; every test works in its own namespace: its own
topic and group prefix and its own cluster aliases, so its flow has its own
offset map, journal and lock.

Where Kafka comes from: $KAFKA_HOME, else ../shared/kafka/kafka_2.13-* beside
the repository.  Without one, every test here is skipped with one reason.

  real          session fixture: Real(src=KafkaCluster (1 combined node),
                                      tgt=KafkaCluster (controller + 3 brokers))
                besides PLAINTEXT the source has a SASL_SSL listener
                (SCRAM-SHA-512 user kafka_cluster.SCRAM_USERS) and every
                target broker an MTLS listener (client certificates), with
                .secure_bootstrap and the PKI in <base>/pki
  ns            per test: a Namespace with .prefix (topic/group prefix),
                .src_alias / .tgt_alias, .topic(name), .group(name) and
                .config(path, extra) writing an mm2.properties for the pair

Attaching instead of starting: with KFERRY_REALKAFKA_STATE=FILE, a session
reuses the clusters described in FILE if their processes are alive, and
otherwise starts new ones and writes FILE (clusters then outlive the
session; `python3 tests/realkafka/kafka_cluster.py down FILE` stops them).
That is for working on the tier; CI starts and stops its own.
"""

import itertools
import json
import os
import sys
import tempfile
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from kafka_cluster import (SCRAM_USERS, KafkaCluster, find_kafka_home,  # noqa: E402
                           session_clusters)
import rk_read  # noqa: E402
import test_mirror_util  # noqa: E402

# kafka-python cannot talk to Kafka 4.x (rk_read.py says why): read with
# confluent-kafka wherever the shared helpers read whole partitions.
test_mirror_util.kp_all = rk_read.cf_all
test_mirror_util.end_offsets = rk_read.end_offsets

# Brokers for tests: short group sessions allowed (flow-lock takeover and
# kill -9 tests), fast log cleaner for the compaction test.
CLUSTER_EXTRA = {
    "group.min.session.timeout.ms": 1000,
    "log.cleaner.min.compaction.lag.ms": 0,
    "transaction.abort.timed.out.transaction.cleanup.interval.ms": 2000,
    # Both clusters enforce ACLs, as secured production clusters do; the
    # PLAINTEXT listeners (tests, kferry, the controller) are unauthenticated
    # and User:ANONYMOUS is a super user, so only principals that log in
    # through a secured listener are subject to ACLs.
    "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "super.users": "User:ANONYMOUS",
}

SKIP_REASON = ("real-Kafka tier skipped: no Kafka distribution (set KAFKA_HOME to an Apache "
               "Kafka 3.x/4.x binary distribution, or place one at ../shared/kafka/kafka_2.13-*)")


def pytest_collection_modifyitems(config, items):
    if find_kafka_home() is None:
        for item in items:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))
    # the rolling-restart tests restart every broker of the shared clusters:
    # they run last, so no other test meets brokers still catching up
    items.sort(key=lambda item: "test_real_restarts" in item.nodeid)


class Real:
    def __init__(self, src, tgt):
        self.src, self.tgt = src, tgt


def _alive(cluster):
    return all(n.alive() for n in cluster.nodes)


@pytest.fixture(scope="session")
def real():
    home = find_kafka_home()
    if home is None:
        pytest.skip(SKIP_REASON)
    state_file = os.environ.get("KFERRY_REALKAFKA_STATE")
    if state_file and os.path.exists(state_file):
        with open(state_file) as f:
            st = json.load(f)
        src, tgt = KafkaCluster.attach(st["src"]), KafkaCluster.attach(st["tgt"])
        if _alive(src) and _alive(tgt):
            src.wait_ready(60)
            tgt.wait_ready(60)
            yield Real(src, tgt)
            with open(state_file, "w") as f:
                json.dump({"src": src.state(), "tgt": tgt.state()}, f)
            return
    base = tempfile.mkdtemp(prefix="kferry-realkafka-")
    src, tgt = session_clusters(base, home, CLUSTER_EXTRA)
    try:
        src.format()
        tgt.format()
        src.start_nodes()
        tgt.start_nodes()
        # Started while the clusters are still coming up, checked by
        # test_fresh_clusters: kferry must wait for them, not give up.
        early = start_early_mirror(base, src, tgt)
        src.wait_ready()
        tgt.wait_ready()
        r = Real(src, tgt)
        r.early = early
        if state_file:
            with open(state_file, "w") as f:
                json.dump({"src": src.state(), "tgt": tgt.state()}, f)
        yield r
    finally:
        if not state_file:
            stop_early_mirror(locals().get("early"))
            src.shutdown()
            tgt.shutdown()


def start_early_mirror(base, src, tgt):
    from test_mirror_util import KferryProc
    d = os.path.join(base, "early")
    os.makedirs(d)
    cfg = os.path.join(d, "mm2.properties")
    with open(cfg, "w") as f:
        f.write("clusters = early, earlydst\n"
                "early.bootstrap.servers = %s\n"
                "earlydst.bootstrap.servers = %s\n"
                "early->earlydst.enabled = true\n"
                "topics = fresh\\..*\n"
                "groups = fresh\\..*\n"
                "refresh.topics.interval.seconds = 1\n"
                "kferry.status.interval.seconds = 2\n"
                "kferry.map.persist.interval.ms = 200\n" % (src.bootstrap, tgt.bootstrap))
    return KferryProc(cfg, d).start()


def stop_early_mirror(kf):
    if kf is not None and kf.alive():
        kf.kill9()


_counter = itertools.count()


class Namespace:
    """One test's own corner of the shared clusters."""

    def __init__(self, real):
        k = "%d%s" % (next(_counter), uuid.uuid4().hex[:4])
        self.real = real
        self.prefix = "t%s" % k
        self.src_alias = "on%s" % k
        self.tgt_alias = "msk%s" % k

    def topic(self, name):
        return "%s.%s" % (self.prefix, name)

    def group(self, name):
        return "%s.%s" % (self.prefix, name)

    def target_topic(self, name):
        """The target name of source topic ns.topic(name) (default policy)."""
        return "%s.%s" % (self.src_alias, self.topic(name))

    def secure_settings(self):
        """mm2.properties lines that reach the source through its SASL_SSL
        listener (SCRAM-SHA-512, JAAS as MM2 users write it) and the target
        through its MTLS listener (a client certificate)."""
        src, tgt = self.real.src, self.real.tgt
        a, b = self.src_alias, self.tgt_alias
        pki = src.secure["pki"]
        (user, pw), = SCRAM_USERS.items()
        return [
            "%s.bootstrap.servers = %s" % (a, src.secure_bootstrap),
            "%s.security.protocol = SASL_SSL" % a,
            "%s.sasl.mechanism = SCRAM-SHA-512" % a,
            "%s.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule "
            "required username=\"%s\" password=\"%s\";" % (a, user, pw),
            "%s.ssl.ca.location = %s/ca.crt.pem" % (a, pki),
            "%s.bootstrap.servers = %s" % (b, tgt.secure_bootstrap),
            "%s.security.protocol = SSL" % b,
            "%s.ssl.ca.location = %s/ca.crt.pem" % (b, pki),
            "%s.ssl.certificate.location = %s/kferry-mirror.chain.pem" % (b, pki),
            "%s.ssl.key.location = %s/kferry-mirror.key.pem" % (b, pki),
        ]

    def config(self, path, extra=None, reverse=False, secure=False):
        src, tgt = self.real.src, self.real.tgt
        a, b = self.src_alias, self.tgt_alias
        lines = [
            "clusters = %s, %s" % (a, b),
        ] + (self.secure_settings() if secure else [
            "%s.bootstrap.servers = %s" % (a, src.bootstrap),
            "%s.bootstrap.servers = %s" % (b, tgt.bootstrap),
        ]) + [
            "%s->%s.enabled = true" % ((b, a) if reverse else (a, b)),
            "topics = %s" % (r"%s\..*" % self.prefix if not reverse else
                             r"(%s\.)?%s\..*" % (a, self.prefix)),
            "groups = %s" % (r"%s\..*" % self.prefix),
            "refresh.topics.interval.seconds = 1",
            "sync.group.offsets.interval.seconds = 1",
            "kferry.status.interval.seconds = 2",
            "kferry.map.persist.interval.ms = 200",
            "kferry.lock.session.timeout.ms = 3000",
        ]
        for k, v in (extra or {}).items():
            lines.append("%s = %s" % (k, v))
        with open(str(path), "w") as f:
            f.write("\n".join(lines) + "\n")
        return str(path)


@pytest.fixture
def ns(real):
    return Namespace(real)


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


@pytest.fixture(autouse=True)
def no_sanitizer_reports(tmp_path):
    """Under an ASan/UBSan build (scripts/test.sh runs this tier there), a
    report in any kferry log a test left is a failure of that test."""
    yield
    bad = []
    for root, _, files in os.walk(str(tmp_path)):
        for f in files:
            if f.endswith(".stderr"):
                with open(os.path.join(root, f), "rb") as fh:
                    text = fh.read().decode("utf-8", "replace")
                for mark in SANITIZER_MARKS:
                    if mark in text:
                        i = text.index(mark)
                        bad.append("%s: %s" % (f, text[max(0, i - 200):i + 3000]))
    assert not bad, "sanitizer report in kferry's log:\n" + "\n".join(bad)
