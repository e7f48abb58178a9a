"""A whole migration between secured clusters: the source takes only
SASL_SSL with SCRAM-SHA-512, the target only mutual TLS (client
certificates), both kferry-brokers.  kferry plans, mirrors, cuts a live
application over (producers, then every group) and verifies, talking to each
cluster only through its secured listener.

The application and the test's own checks use the brokers' PLAINTEXT
listeners (they are the test's instruments, not the migration).
"""

import json
import os
import signal
import subprocess
import time

import pytest

from kf_pki import Pki
from kf_util import cf_create_topic, wait_until
from test_cutover import SeqConsumer, SeqProducer, assert_exact_sequence, merge
from test_mirror_util import kferry_binary
from test_sasl import add_user

MIRROR_PW = "mirror-scram-pw-91"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    p = Pki(d)
    p.server = p.issue("broker")
    p.kferry = p.issue("kferry", client=True, subject="/O=kferry/CN=kferry-mirror")
    p.keystore = os.path.join(d, "broker.keystore.pem")
    with open(p.keystore, "w") as out:
        out.write(open(p.server.key).read() + open(p.server.cert).read())
    return p


def secured_pair(broker_factory, broker_binary, pki, tmp_path):
    data = tmp_path / "srcdata"
    add_user(broker_binary, data, "mirror", MIRROR_PW, "SCRAM-SHA-512")
    src = broker_factory(data_dir=str(data), listeners={"SASL_SSL": "SASL_SSL"}, overrides={
        "ssl.keystore.location": pki.keystore, "sasl.enabled.mechanisms": "SCRAM-SHA-512"})
    tgt = broker_factory(listeners={"MTLS": "SSL"}, overrides={
        "ssl.keystore.location": pki.keystore, "ssl.truststore.location": pki.ca_pem,
        "ssl.client.auth": "required"})
    return src, tgt


def secure_config(src, tgt, pki, extra=()):
    lines = [
        "clusters = onprem, msk",
        "onprem.bootstrap.servers = %s" % src.bootstrap_of("SASL_SSL"),
        "onprem.security.protocol = SASL_SSL",
        "onprem.sasl.mechanism = SCRAM-SHA-512",
        "onprem.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule "
        "required username=\"mirror\" password=\"%s\";" % MIRROR_PW,
        "onprem.ssl.ca.location = %s" % pki.ca_pem,
        "msk.bootstrap.servers = %s" % tgt.bootstrap_of("MTLS"),
        "msk.security.protocol = SSL",
        "msk.ssl.ca.location = %s" % pki.ca_pem,
        "msk.ssl.certificate.location = %s" % pki.kferry.cert,
        "msk.ssl.key.location = %s" % pki.kferry.key,
        "onprem->msk.enabled = true",
        "replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy",
        "replication.factor = 1",
        "refresh.topics.interval.seconds = 1",
        "kferry.map.persist.interval.ms = 200",
        "sync.group.offsets.interval.seconds = 1",
    ] + list(extra)
    return "\n".join(lines) + "\n"


def run(args, cwd, timeout=180, expect=0):
    cp = subprocess.run([kferry_binary()] + args, cwd=cwd, capture_output=True, timeout=timeout)
    assert cp.returncode == expect, "kferry %s exited %d:\n%s\n%s" % (
        " ".join(args), cp.returncode, cp.stdout.decode()[-3000:], cp.stderr.decode()[-3000:])
    return cp


def test_sasl_ssl_source_to_mtls_target(broker_factory, broker_binary, pki, tmp_path):
    src, tgt = secured_pair(broker_factory, broker_binary, pki, tmp_path)
    (tmp_path / "mm2.properties").write_text(secure_config(src, tgt, pki))
    cwd = str(tmp_path)
    apps = {}
    for topic, group in (("orders", "billing"), ("payments", "shipping")):
        cf_create_topic(src.bootstrap, topic, 3)
        apps[topic] = (SeqProducer(topic, rate=300).start(src.bootstrap),
                       SeqConsumer(topic, group).start(src.bootstrap))
    for _, c in apps.values():
        wait_until(lambda c=c: c.count() > 100, 60, "the application consuming on the source")

    plan = json.loads(run(["plan", "--config", "mm2.properties", "--json"], cwd).stdout)
    assert plan, "empty plan"
    log = open(tmp_path / "mirror.stderr", "wb")
    mirror = subprocess.Popen([kferry_binary(), "mirror", "--config", "mm2.properties"], cwd=cwd,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                              start_new_session=True)
    moved = {}
    try:
        time.sleep(3)
        run(["status", "--config", "mm2.properties"], cwd)
        for p, c in apps.values():
            p.stop()
            c.stop()
        out = run(["cutover", "producers", "--config", "mm2.properties"], cwd).stdout.decode()
        assert "producers may write to msk" in out, out
        out = run(["cutover", "--config", "mm2.properties", "--group", "re:.*"],
                  cwd).stdout.decode()
        for group in ("billing", "shipping"):
            assert "cutover of group %s" % group in out and "FAILED" not in out, out
        mirror.send_signal(signal.SIGTERM)
        assert mirror.wait(30) == 0
    finally:
        if mirror.poll() is None:
            mirror.kill()
            mirror.wait(10)
        log.close()
    text = open(tmp_path / "mirror.stderr", "rb").read()
    assert MIRROR_PW.encode() not in text
    for topic, (p, c) in apps.items():
        c2 = SeqConsumer(topic, c.group).start(tgt.bootstrap)
        p.start(tgt.bootstrap)
        moved[topic] = c2
    try:
        for topic in apps:
            wait_until(lambda t=topic: moved[t].count() > 200, 60, "consumption on the target")
    finally:
        for p, c in apps.values():
            p.stop()
    for topic, (p, c) in apps.items():
        want = p.total()
        wait_until(lambda t=topic, w=want: moved[t].count() + apps[t][1].count() >= w, 60,
                   "the target consumers to read everything")
        moved[topic].stop()
        assert_exact_sequence(merge(c, moved[topic]), p)
    out = run(["verify", "--config", "mm2.properties"], cwd).stdout.decode()
    assert "RESULT: OK" in out, out
    for topic in apps:
        assert "%s/0" % topic in out or topic in out, out
    # Neither broker saw a failed login or handshake from kferry.
    for b in (src, tgt):
        assert "authentication failed" not in b.stderr_text()
        # (a client closing mid-handshake, as a short-lived admin client
        # does when it shuts down, is logged at INFO and is no failure)
        failed = [ln for ln in b.stderr_text().splitlines() if "WARN" in ln and "TLS" in ln]
        assert not failed, failed
