"""kferry against a real Apache Kafka broker with TLS and SASL listeners,
configured the way MirrorMaker 2 users are: Java PKCS12 and PEM stores
(made by kf_pki.py with openssl and keytool), SCRAM credentials in
sasl.jaas.config with the password from a config provider, and `kferry
plan`'s connection diagnosis against Kafka's own answers.

One single-node KRaft cluster of its own (not the session's shared pair):
  PLAINTEXT  for setup (topics, the SCRAM user) and nothing else
  SSL        mutual TLS: a client certificate is required
  SASL_SSL   SCRAM-SHA-512 only
The mirror's target is a kferry-broker on PLAINTEXT.
"""

import json
import os
import signal
import subprocess
import sys

import pytest

from kafka_cluster import KafkaCluster, find_kafka_home, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from kf_pki import PASSWORD, Pki  # noqa: E402
from kf_util import cf_create_topic, cf_produce, wait_until  # noqa: E402
from rk_read import end_offsets  # noqa: E402
from test_mirror_util import KferryProc, kferry_binary  # noqa: E402

SCRAM_PW = "Real-Kafka-scram-pw-77"
TOPIC = "secured.orders"


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    home = find_kafka_home()
    if home is None:
        pytest.skip("no Kafka distribution")
    base = tmp_path_factory.mktemp("secured-kafka")
    pki = Pki(str(base / "pki"))
    broker_id = pki.issue("kafka")
    pki.client = pki.issue("mirror", client=True)
    truststore = pki.truststore_p12()
    c = KafkaCluster("secured", str(base), home, brokers=1)
    n = c.brokers[0]
    ssl_port, sasl_port = free_port(), free_port()
    c.extra = {
        "listeners": "PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d,SSL://127.0.0.1:%d,"
                     "SASL_SSL://127.0.0.1:%d" % (n.port, n.controller_port, ssl_port, sasl_port),
        "advertised.listeners": "PLAINTEXT://127.0.0.1:%d,SSL://127.0.0.1:%d,"
                                "SASL_SSL://127.0.0.1:%d" % (n.port, ssl_port, sasl_port),
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,"
                                          "SASL_SSL:SASL_SSL",
        "ssl.keystore.type": "PKCS12", "ssl.keystore.location": broker_id.p12,
        "ssl.keystore.password": PASSWORD, "ssl.key.password": PASSWORD,
        "ssl.truststore.type": "PKCS12", "ssl.truststore.location": truststore,
        "ssl.truststore.password": PASSWORD,
        "listener.name.ssl.ssl.client.auth": "required",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
    }
    try:
        c.start()
        c.wait_ready()
        c.tool("kafka-configs.sh", "--bootstrap-server", c.bootstrap, "--alter", "--entity-type",
               "users", "--entity-name", "mirror", "--add-config",
               "SCRAM-SHA-512=[iterations=8192,password=%s]" % SCRAM_PW)
        cf_create_topic(c.bootstrap, TOPIC, 2)
        c.pki = pki
        c.ssl_bootstrap = "127.0.0.1:%d" % ssl_port
        c.sasl_bootstrap = "127.0.0.1:%d" % sasl_port
        c.base = base
        yield c
    finally:
        c.shutdown()


@pytest.fixture
def target(tmp_path):
    """A kferry-broker on PLAINTEXT (the mirror's target)."""
    binary = os.path.join(os.path.dirname(kferry_binary()), "kferry-broker")
    out = tmp_path / "target.out"
    with open(out, "wb") as f:
        p = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--data-dir",
                              str(tmp_path / "tdata")], stdout=f, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        wait_until(lambda: b"listening on" in out.read_bytes(), 20, "kferry-broker to listen")
        port = int(out.read_bytes().split(b"listening on")[1].split(b":")[-1].split()[0])
        yield "127.0.0.1:%d" % port
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def write_cfg(path, src, tgt, lines):
    text = ["clusters = onprem, cloud", "onprem.bootstrap.servers = %s" % src,
            "cloud.bootstrap.servers = %s" % tgt, "onprem->cloud.enabled = true",
            "replication.factor = 1", "topics = secured\\..*",
            "refresh.topics.interval.seconds = 1", "kferry.map.persist.interval.ms = 200"] + lines
    path.write_text("\n".join(text) + "\n")
    return str(path)


def plan(cfg, env=None):
    cp = subprocess.run([kferry_binary(), "plan", "--config", cfg, "--json", "--timeout", "10"],
                        capture_output=True, timeout=120, env=dict(os.environ, **(env or {})))
    assert cp.returncode in (0, 1), cp.stderr.decode()[-3000:]
    doc = json.loads(cp.stdout)
    return doc["clusters"]["source"]["connection"], doc, cp


def jaas(user, pw):
    return ("onprem.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule "
            "required username=\"%s\" password=\"%s\";" % (user, pw))


def test_mutual_tls_with_java_pkcs12_stores(secured, target, tmp_path):
    pki = secured.pki
    cfg = write_cfg(tmp_path / "a.properties", secured.ssl_bootstrap, target, [
        "onprem.security.protocol = SSL",
        "onprem.ssl.truststore.type = PKCS12",
        "onprem.ssl.truststore.location = %s" % pki.truststore_p12(),
        "onprem.ssl.truststore.password = %s" % PASSWORD,
        "onprem.ssl.keystore.type = PKCS12",
        "onprem.ssl.keystore.location = %s" % pki.client.p12,
        "onprem.ssl.keystore.password = %s" % PASSWORD,
        "onprem.ssl.key.password = %s" % PASSWORD])
    conn, doc, cp = plan(cfg)
    assert conn["result"] == "ok", conn
    assert TOPIC in [t["name"] for t in doc["clusters"]["source"]["topics"]]
    assert PASSWORD not in cp.stdout.decode() + cp.stderr.decode()


def test_mutual_tls_with_pem_keystore_file(secured, target, tmp_path):
    pki = secured.pki
    bundle = tmp_path / "mirror.pem"
    bundle.write_text(open(pki.client.key_encrypted).read() + open(pki.client.cert).read())
    cfg = write_cfg(tmp_path / "a.properties", secured.ssl_bootstrap, target, [
        "onprem.security.protocol = SSL",
        "onprem.ssl.truststore.type = PEM", "onprem.ssl.truststore.location = %s" % pki.ca_pem,
        "onprem.ssl.keystore.type = PEM", "onprem.ssl.keystore.location = %s" % bundle,
        "onprem.ssl.key.password = %s" % PASSWORD])
    conn, _, _ = plan(cfg)
    assert conn["result"] == "ok", conn


def test_diagnoses_from_real_kafka(secured, target, tmp_path):
    pki = secured.pki
    trust = ["onprem.ssl.truststore.location = %s" % pki.ca_pem]
    cases = [
        # no client certificate on the mTLS listener
        (secured.ssl_bootstrap, ["onprem.security.protocol = SSL"] + trust,
         "tls_client_certificate"),
        # no truststore: Kafka's certificate is from the test CA
        (secured.ssl_bootstrap, ["onprem.security.protocol = SSL"], "tls_untrusted"),
        # TLS client on the PLAINTEXT listener, and the other way round
        (secured.bootstrap, ["onprem.security.protocol = SSL"] + trust, "tls_to_plaintext"),
        (secured.sasl_bootstrap, [], "plaintext_to_tls"),
        # SCRAM: wrong password, mechanism the broker does not enable
        (secured.sasl_bootstrap, ["onprem.security.protocol = SASL_SSL",
                                  "onprem.sasl.mechanism = SCRAM-SHA-512",
                                  jaas("mirror", SCRAM_PW + "-wrong")] + trust,
         "sasl_authentication_failed"),
        (secured.sasl_bootstrap, ["onprem.security.protocol = SASL_SSL",
                                  "onprem.sasl.mechanism = SCRAM-SHA-256",
                                  jaas("mirror", SCRAM_PW)] + trust,
         "sasl_mechanism_not_enabled"),
    ]
    seen = []
    for i, (boot, lines, want) in enumerate(cases):
        cfg = write_cfg(tmp_path / ("c%d.properties" % i), boot, target, lines)
        conn, doc, cp = plan(cfg)
        out = cp.stdout.decode() + cp.stderr.decode()
        assert SCRAM_PW not in out
        seen.append((want, conn["result"], conn["message"], conn.get("detail")))
    bad = [s for s in seen if s[0] != s[1]]
    assert not bad, "\n".join(map(str, bad))
    msgs = {s[0]: s[2] for s in seen}
    assert "user 'mirror' with SCRAM-SHA-512 was refused" in msgs["sasl_authentication_failed"]
    assert "(it offers SCRAM-SHA-512)" in msgs["sasl_mechanism_not_enabled"]


def test_mirror_over_sasl_ssl_with_provider_password(secured, target, tmp_path):
    pki = secured.pki
    secrets = tmp_path / "secrets.properties"
    secrets.write_text("onprem.password = %s\n" % SCRAM_PW)
    os.chmod(secrets, 0o600)
    cfg = write_cfg(tmp_path / "mm2.properties", secured.sasl_bootstrap, target, [
        "config.providers = file",
        "config.providers.file.class = "
        "org.apache.kafka.common.config.provider.FileConfigProvider",
        "onprem.security.protocol = SASL_SSL", "onprem.sasl.mechanism = SCRAM-SHA-512",
        "onprem.ssl.truststore.type = PKCS12",
        "onprem.ssl.truststore.location = %s" % pki.truststore_p12(),
        "onprem.ssl.truststore.password = %s" % PASSWORD,
        jaas("mirror", "${file:%s:onprem.password}" % secrets)])
    cf_produce(secured.bootstrap, TOPIC,
               [dict(partition=i % 2, value=b"v%d" % i) for i in range(200)])
    conn, _, _ = plan(cfg)
    assert conn["result"] == "ok" and conn["mechanism"] == "SCRAM-SHA-512", conn
    want = end_offsets(secured.bootstrap, TOPIC, 2)
    kf = KferryProc(cfg, str(tmp_path)).start()
    try:
        wait_until(lambda: end_offsets(target, "onprem." + TOPIC, 2) == want, 90,
                   "the mirror to copy %s over SASL_SSL" % TOPIC, interval=0.5)
    finally:
        kf.stop()
    log = kf.log_text()
    assert "onprem.sasl.password = [redacted]" in log
    assert SCRAM_PW not in log and PASSWORD not in log
