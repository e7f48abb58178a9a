"""kferry between secured real Kafka clusters: the source reached only over
SASL_SSL with SCRAM-SHA-512 (JAAS in mm2.properties, as MM2 users have it),
the target only over mutual TLS (every broker's MTLS listener).  The test's
own application and checks use the PLAINTEXT listeners.

Also: kferry-broker answers a wrong SCRAM password with the same error text
a real broker gives, as librdkafka reports it.
"""

import importlib.util
import os
import subprocess
import time

from kafka_cluster import SCRAM_USERS
from kf_util import cf_create_topic, wait_until
from real_clients import CfSeqConsumer, CfSeqProducer, committed
from test_cutover import assert_exact_sequence, merge, run_kferry
from test_mirror_util import KferryProc, check_exact, wait_mirrored

PARTS = 3

# kferry-broker processes, with the integration tier's own fixtures
_spec = importlib.util.spec_from_file_location(
    "kf_integration_conftest",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration", "conftest.py"))
_kb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_kb)
broker_factory, broker_binary = _kb.broker_factory, _kb.broker_binary


def test_secured_mirror_cutover_verify(real, ns, tmp_path):
    src, tgt = real.src.bootstrap, real.tgt.bootstrap
    topic = cf_create_topic(src, ns.topic("orders"), PARTS)
    ttopic = ns.target_topic("orders")
    group = ns.group("app")
    kf = KferryProc(ns.config(tmp_path / "mm2.properties", secure=True), tmp_path)
    plan = run_kferry(kf, "plan", "--json", check=None)
    assert plan.returncode in (0, 1), plan.stderr.decode()[-3000:]  # 1: findings, not failure
    prod = CfSeqProducer(topic).start(src)
    c1 = CfSeqConsumer(topic, group).start(src)
    kf.start()
    c2 = None
    try:
        wait_until(lambda: c1.count() > 300, 90, "consumption on the source")
        c1.stop()
        prod.stop()
        wait_mirrored(kf, src, tgt, topic, ttopic, PARTS, timeout=120)
        cp = run_kferry(kf, "cutover", "--group", group, "--timeout", "120", check=0)
        assert "cutover of group %s" % group in cp.stdout.decode(), cp.stdout.decode()
        src_c = committed(src, group, topic, PARTS)
        want = {(ttopic, p): kf.translate(topic, p, o)["target_offset"]
                for (_, p), o in src_c.items()}
        assert committed(tgt, group, ttopic, PARTS) == want
        c2 = CfSeqConsumer(ttopic, group).start(tgt)
        total = prod.total()
        wait_until(lambda: c1.count() + c2.count() >= total, 90, "the rest read on the target")
        time.sleep(1)
        c2.stop()
        run_kferry(kf, "verify", check=0)
    finally:
        for c in (c1, c2):
            if c and c.thread.is_alive():
                c.stop_flag.set()
        if prod.thread and prod.thread.is_alive():
            prod.stop_flag.set()
        kf.stop(expect=0)
    assert check_exact(kf, src, tgt, topic, PARTS, expect_target=ttopic) == prod.total()
    assert_exact_sequence(merge(c1, c2), prod)
    (user, pw), = SCRAM_USERS.items()
    assert pw not in kf.log_text()


def kcat_fail(bootstrap, ca, pw):
    cp = subprocess.run(["kcat", "-L", "-m", "3", "-b", bootstrap, "-X",
                         "security.protocol=SASL_SSL", "-X", "sasl.mechanism=SCRAM-SHA-512",
                         "-X", "sasl.username=mirror", "-X", "sasl.password=" + pw, "-X",
                         "ssl.ca.location=" + ca], capture_output=True, timeout=60)
    assert cp.returncode != 0
    for line in cp.stderr.decode().splitlines():
        if "SASL authentication error" in line:
            return line.split("SASL authentication error: ", 1)[1].split(" (after")[0]
    raise AssertionError(cp.stderr.decode())


def test_wrong_password_same_words_as_kafka(real, broker_factory, broker_binary, tmp_path):
    """What a client sees for a wrong SCRAM password over SASL_SSL: the same
    message from kferry-broker as from Kafka 4.0."""
    from test_sasl import add_user
    pki = real.src.secure["pki"]
    data = tmp_path / "d"
    add_user(broker_binary, data, "mirror", "right-pw-123", "SCRAM-SHA-512")
    b = broker_factory(data_dir=str(data), listeners={"SASL_SSL": "SASL_SSL"}, overrides={
        "ssl.keystore.type": "PKCS12", "ssl.keystore.location": pki + "/kafka-broker.p12",
        "ssl.keystore.password": "changeit-kferry", "sasl.enabled.mechanisms": "SCRAM-SHA-512"})
    ca = pki + "/ca.crt.pem"
    real_msg = kcat_fail(real.src.secure_bootstrap, ca, "wrong-pw")
    ours = kcat_fail(b.bootstrap_of("SASL_SSL"), ca, "wrong-pw")
    assert ours == real_msg, (ours, real_msg)
