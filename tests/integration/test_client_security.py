"""kferry on secured clusters, configured the way MirrorMaker 2 users already
are: Kafka config providers (${file:...}, ${env:...}) and the Java SSL
settings (ssl.truststore.*, ssl.keystore.*), and `kferry plan`'s
per-cluster connection diagnosis.

The TLS handshake cases run against a real TLS server, `openssl s_server`,
holding a certificate from a throw-away CA (kf_pki.py): the handshake, the
trust decision and the client-certificate request are TLS, not Kafka, so no
Kafka broker is needed for them; kferry-broker's PLAINTEXT listener stands
in for "a TLS client talking to a plaintext listener".  The end-to-end
tests run against kferry-broker's SSL and SASL_SSL listeners.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from kf_pki import PASSWORD, Pki
from kf_util import cf_create_topic, unique
from test_mirror_util import kferry_binary

SECRET = "Tr0ub4dor-kferry-secret"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("openssl command not found")
    p = Pki(str(tmp_path_factory.mktemp("pki")))
    p.server = p.issue("broker")
    p.client = p.issue("mirror", client=True)
    p.other_host = p.issue("elsewhere", hosts=("kafka.example.com",))
    return p


def need_keytool():
    kt = shutil.which("keytool") or "/usr/lib/jvm/java-17-openjdk-amd64/bin/keytool"
    if not os.path.exists(kt):
        pytest.skip("keytool (a JDK) not found: cannot make Java stores")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class TlsServer:
    """`openssl s_server` on 127.0.0.1; what clients send after the
    handshake is written to its stdout file."""

    def __init__(self, tmp_path, ident, ca=None, require_client_cert=False):
        self.port = free_port()
        self.out = str(tmp_path / ("s_server-%d.out" % self.port))
        args = ["openssl", "s_server", "-quiet", "-accept", "127.0.0.1:%d" % self.port,
                "-cert", ident.cert, "-key", ident.key]
        if require_client_cert:
            args += ["-Verify", "1", "-CAfile", ca]
        with open(self.out, "wb") as f:
            self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=f,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("openssl s_server did not listen")

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    def received(self):
        with open(self.out, "rb") as f:
            return f.read()

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def tls_server(tmp_path):
    servers = []

    def make(*a, **kw):
        s = TlsServer(tmp_path, *a, **kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def write_cfg(path, src_bootstrap, tgt_bootstrap, lines):
    text = ["clusters = src, dst", "src.bootstrap.servers = %s" % src_bootstrap,
            "dst.bootstrap.servers = %s" % tgt_bootstrap, "src->dst.enabled = true"] + lines
    path.write_text("\n".join(text) + "\n")
    return str(path)


def plan(cfg, *extra, env=None, timeout=90):
    return subprocess.run([kferry_binary(), "plan", "--config", cfg, "--timeout", "3"] +
                          list(extra), capture_output=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def plan_connection(cfg, role="source", env=None):
    cp = plan(cfg, "--json", env=env)
    assert cp.returncode in (0, 1), cp.stderr.decode()[-3000:]
    doc = json.loads(cp.stdout)
    return doc["clusters"][role]["connection"], doc, cp


# --- Java stores -------------------------------------------------------------

def test_jks_truststore_refused_with_the_keytool_command(pki, tmp_path):
    need_keytool()
    jks = pki.truststore_jks()
    cfg = write_cfg(tmp_path / "mm2.properties", "127.0.0.1:1", "127.0.0.1:2", [
        "src.security.protocol = SSL",
        "src.ssl.truststore.location = %s" % jks,
        "src.ssl.truststore.password = %s" % PASSWORD])
    cp = plan(cfg)
    err = cp.stderr.decode()
    assert cp.returncode == 2, err
    dest = jks[:-4] + ".p12"
    assert ("keytool -importkeystore -srckeystore %s -srcstoretype JKS -destkeystore %s "
            "-deststoretype PKCS12" % (jks, dest)) in err
    assert "src.ssl.truststore.location=%s and src.ssl.truststore.type=PKCS12" % dest in err
    assert PASSWORD not in err and PASSWORD not in cp.stdout.decode()
    # the suggested command works and the result is accepted
    kt = shutil.which("keytool") or "/usr/lib/jvm/java-17-openjdk-amd64/bin/keytool"
    subprocess.run([kt, "-importkeystore", "-srckeystore", jks, "-srcstoretype", "JKS",
                    "-destkeystore", dest, "-deststoretype", "PKCS12", "-srcstorepass", PASSWORD,
                    "-deststorepass", PASSWORD, "-noprompt"], check=True, capture_output=True)
    cfg = write_cfg(tmp_path / "mm2b.properties", "127.0.0.1:1", "127.0.0.1:2", [
        "src.security.protocol = SSL", "src.ssl.truststore.location = %s" % dest,
        "src.ssl.truststore.type = PKCS12", "src.ssl.truststore.password = %s" % PASSWORD])
    cp = plan(cfg)
    assert cp.returncode == 1, cp.stderr.decode()  # config fine; the clusters are unreachable


def test_jks_keystore_refused(pki, tmp_path):
    need_keytool()
    ident = pki.issue("javaclient", client=True, jks=True)
    cfg = write_cfg(tmp_path / "mm2.properties", "127.0.0.1:1", "127.0.0.1:2", [
        "dst.security.protocol = SSL",
        "dst.ssl.keystore.location = %s" % ident.jks,
        "dst.ssl.keystore.password = %s" % PASSWORD])
    cp = plan(cfg)
    err = cp.stderr.decode()
    assert cp.returncode == 2
    assert ("keytool -importkeystore -srckeystore %s -srcstoretype JKS" % ident.jks) in err
    assert "dst.ssl.keystore.type=PKCS12" in err


# --- config providers ------------------------------------------------------------

def test_providers_resolve_secrets_never_shown(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory()
    cf_create_topic(src.bootstrap, unique("orders"), 1)
    secrets = tmp_path / "secrets.properties"
    secrets.write_text("dst.key.password = %s\nunused = %s-2\n" % (SECRET, SECRET))
    cfg = write_cfg(tmp_path / "mm2.properties", src.bootstrap, "${env:KF_DST_BOOTSTRAP}", [
        "config.providers = file,env",
        "config.providers.file.class = "
        "org.apache.kafka.common.config.provider.FileConfigProvider",
        "config.providers.env.class = "
        "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
        # librdkafka's own ssl.key.password: unused on PLAINTEXT, but resolved and checked
        "src.ssl.key.password = ${file:%s:dst.key.password}" % secrets,
        "dst.ssl.key.password = ${env:KF_TEST_SECRET}",
        "replication.factor = 1"])
    env = {"KF_TEST_SECRET": SECRET + "-env", "KF_DST_BOOTSTRAP": tgt.bootstrap}
    for args in ((), ("--json",)):
        cp = plan(cfg, *args, env=env)
        out = cp.stdout.decode() + cp.stderr.decode()
        assert cp.returncode == 0, out[-4000:]
        assert SECRET not in out
    doc = json.loads(plan(cfg, "--json", env=env).stdout)
    assert doc["clusters"]["target"]["bootstrap"] == tgt.bootstrap  # ${env:...} resolved
    assert doc["clusters"]["source"]["connection"]["result"] == "ok"
    # the mirror's effective-config log at start-up
    p = subprocess.Popen([kferry_binary(), "mirror", "--config", cfg], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, env=dict(os.environ, **env))
    try:
        time.sleep(4)
    finally:
        p.send_signal(signal.SIGTERM)
        out = p.communicate(timeout=60)[0].decode()
    assert "src.ssl.key.password = [redacted]" in out, out[-3000:]
    assert "dst.bootstrap.servers = ${env:KF_DST_BOOTSTRAP}" in out
    assert SECRET not in out


def test_provider_failures_name_key_and_reference(tmp_path):
    secrets = tmp_path / "secrets.properties"
    secrets.write_text("present = %s\n" % SECRET)
    cfg = write_cfg(tmp_path / "mm2.properties", "127.0.0.1:1", "127.0.0.1:2", [
        "config.providers = file,env",
        "src.sasl.password = ${file:%s:absent}" % secrets,
        "dst.sasl.password = ${env:KF_TEST_NOT_SET}",
        "dst.ssl.key.password = ${file:%s/nope.properties:x}" % tmp_path,
        "src.ssl.key.password = ${secretsmanager:x:y}"])
    env = dict(os.environ)
    env.pop("KF_TEST_NOT_SET", None)
    cp = subprocess.run([kferry_binary(), "plan", "--config", cfg, "--json"], capture_output=True,
                        env=env, timeout=30)
    err = cp.stderr.decode()
    assert cp.returncode == 2
    assert "src.sasl.password: ${file:%s:absent}: key 'absent' not found" % secrets in err
    assert ("dst.sasl.password: ${env:KF_TEST_NOT_SET}: environment variable KF_TEST_NOT_SET "
            "is not set") in err
    assert "dst.ssl.key.password: ${file:%s/nope.properties:x}" % tmp_path in err
    assert "unknown config provider 'secretsmanager'" in err
    assert SECRET not in err + cp.stdout.decode()


# --- TLS handshakes against a real TLS server ------------------------------------------

def test_pkcs12_truststore_is_trusted(pki, tls_server, broker, tmp_path):
    need_keytool()
    srv = tls_server(pki.server)
    # without a truststore the certificate is not trusted, named as such
    cfg = write_cfg(tmp_path / "a.properties", srv.bootstrap, broker.bootstrap,
                    ["src.security.protocol = SSL"])
    conn, doc, cp = plan_connection(cfg)
    assert conn["result"] == "tls_untrusted", conn
    assert "src.ssl.truststore.location" in conn["message"]
    assert conn["protocol"] == "SSL" and conn["mechanism"] is None
    assert "CONNECTIONS" in plan(cfg).stdout.decode()
    # the other commands' start-up error carries the same advice
    cp = subprocess.run([kferry_binary(), "status", "--config", cfg], capture_output=True,
                        timeout=60)
    err = cp.stderr.decode()
    assert cp.returncode == 1, err[-2000:]
    assert "cluster 'src' (%s): cannot connect: " % srv.bootstrap in err
    assert "set src.ssl.truststore.location to the CA" in err
    # Java's PKCS12 truststore (keytool), read by kferry: the handshake passes and
    # kferry's first Kafka request reaches the server
    cfg = write_cfg(tmp_path / "b.properties", srv.bootstrap, broker.bootstrap, [
        "src.security.protocol = SSL",
        "src.ssl.truststore.type = PKCS12",
        "src.ssl.truststore.location = %s" % pki.truststore_p12(),
        "src.ssl.truststore.password = %s" % PASSWORD])
    conn, doc, cp = plan_connection(cfg)
    assert not conn["result"].startswith("tls_"), conn
    assert b"kferry-plan-src" in srv.received()
    assert PASSWORD not in cp.stdout.decode() + cp.stderr.decode()


def test_hostname_mismatch(pki, tls_server, broker, tmp_path):
    srv = tls_server(pki.other_host)
    cfg = write_cfg(tmp_path / "m.properties", srv.bootstrap, broker.bootstrap, [
        "src.security.protocol = SSL", "src.ssl.truststore.location = %s" % pki.ca_pem])
    conn, _, _ = plan_connection(cfg)
    assert conn["result"] == "tls_hostname_mismatch", conn
    assert "src.ssl.endpoint.identification.algorithm=" in conn["message"]
    # Java's "" turns the check off, as librdkafka's "none"
    cfg = write_cfg(tmp_path / "n.properties", srv.bootstrap, broker.bootstrap, [
        "src.security.protocol = SSL", "src.ssl.truststore.location = %s" % pki.ca_pem,
        "src.ssl.endpoint.identification.algorithm ="])
    conn, _, _ = plan_connection(cfg)
    assert not conn["result"].startswith("tls_"), conn


def test_client_certificate_required_then_given(pki, tls_server, broker, tmp_path):
    srv = tls_server(pki.server, ca=pki.ca_pem, require_client_cert=True)
    base = ["src.security.protocol = SSL", "src.ssl.truststore.location = %s" % pki.ca_pem]
    cfg = write_cfg(tmp_path / "a.properties", srv.bootstrap, broker.bootstrap, base)
    conn, _, _ = plan_connection(cfg)
    assert conn["result"] == "tls_client_certificate", conn
    assert "src.ssl.keystore.location" in conn["message"]
    # a PKCS12 keystore (openssl-made, as Java reads it) is presented and accepted
    cfg = write_cfg(tmp_path / "b.properties", srv.bootstrap, broker.bootstrap, base + [
        "src.ssl.keystore.type = PKCS12", "src.ssl.keystore.location = %s" % pki.client.p12,
        "src.ssl.keystore.password = %s" % PASSWORD, "src.ssl.key.password = %s" % PASSWORD])
    conn, _, cp = plan_connection(cfg)
    assert not conn["result"].startswith("tls_"), conn
    assert b"kferry-plan-src" in srv.received()
    # and a PEM keystore with an encrypted key, one file
    bundle = tmp_path / "mirror.pem"
    bundle.write_text(open(pki.client.key_encrypted).read() + open(pki.client.cert).read())
    cfg = write_cfg(tmp_path / "c.properties", srv.bootstrap, broker.bootstrap, base + [
        "src.ssl.keystore.type = PEM", "src.ssl.keystore.location = %s" % bundle,
        "src.ssl.key.password = %s" % PASSWORD])
    conn, _, cp = plan_connection(cfg)
    assert not conn["result"].startswith("tls_"), conn
    assert PASSWORD not in cp.stdout.decode() + cp.stderr.decode()


def test_protocol_mismatches(pki, tls_server, broker, tmp_path):
    srv = tls_server(pki.server)
    cfg = write_cfg(tmp_path / "a.properties", srv.bootstrap, broker.bootstrap, [])
    conn, doc, _ = plan_connection(cfg)
    assert conn["result"] == "plaintext_to_tls", conn
    assert "src.security.protocol is PLAINTEXT: set it to SSL" in conn["message"]
    assert [c for c in doc["checks"] if c["check"] == "authentication" and
            c["status"] == "blocker"]
    # TLS against kferry-broker's PLAINTEXT listener
    cfg = write_cfg(tmp_path / "b.properties", broker.bootstrap, broker.bootstrap, [
        "src.security.protocol = SSL", "src.ssl.truststore.location = %s" % pki.ca_pem])
    conn, _, _ = plan_connection(cfg)
    assert conn["result"] == "tls_to_plaintext", conn
    # SASL against a listener without SASL: the password is never printed
    cfg = write_cfg(tmp_path / "c.properties", broker.bootstrap, broker.bootstrap, [
        "src.security.protocol = SASL_PLAINTEXT", "src.sasl.mechanism = SCRAM-SHA-512",
        "src.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule "
        "required username=\"mirror\" password=\"%s\";" % SECRET])
    for args in ((), ("--json",)):
        cp = plan(cfg, *args)
        out = cp.stdout.decode() + cp.stderr.decode()
        assert cp.returncode == 1 and SECRET not in out
    conn, _, _ = plan_connection(cfg)
    assert conn["result"] == "sasl_not_enabled" and conn["mechanism"] == "SCRAM-SHA-512", conn


# --- against kferry-broker's TLS and SASL listeners ----------------------------------

@pytest.fixture
def secure_broker(broker_factory, broker_binary, pki, tmp_path):
    from test_sasl import add_user
    data = tmp_path / "sdata"
    add_user(broker_binary, data, "mirror", SECRET, "SCRAM-SHA-512")
    ov = {"ssl.keystore.type": "PKCS12", "ssl.keystore.location": pki.server.p12,
          "ssl.keystore.password": PASSWORD, "ssl.key.password": PASSWORD,
          "sasl.enabled.mechanisms": "SCRAM-SHA-512"}
    b = broker_factory(overrides=ov, data_dir=str(data),
                       listeners={"SSL": "SSL", "SASL_SSL": "SASL_SSL"})
    ports = b.listener_ports
    b.ssl_bootstrap = "127.0.0.1:%d" % ports["SSL"]
    b.sasl_ssl_bootstrap = "127.0.0.1:%d" % ports["SASL_SSL"]
    return b


def test_plan_over_tls_with_pkcs12_truststore(secure_broker, pki, broker, tmp_path):
    need_keytool()
    cfg = write_cfg(tmp_path / "a.properties", secure_broker.ssl_bootstrap, broker.bootstrap, [
        "src.security.protocol = SSL", "src.ssl.truststore.type = PKCS12",
        "src.ssl.truststore.location = %s" % pki.truststore_p12(),
        "src.ssl.truststore.password = %s" % PASSWORD])
    conn, doc, _ = plan_connection(cfg)
    assert conn["result"] == "ok", conn
    assert doc["clusters"]["source"]["reachable"] is True


@pytest.mark.parametrize("user,pw,result", [("mirror", SECRET, "ok"),
                                            ("mirror", SECRET + "-wrong",
                                             "sasl_authentication_failed")])
def test_plan_over_sasl_ssl_password_from_provider(secure_broker, pki, broker, tmp_path, user,
                                                   pw, result):
    cfg = write_cfg(tmp_path / "a.properties", secure_broker.sasl_ssl_bootstrap,
                    broker.bootstrap, [
                        "config.providers = env",
                        "src.security.protocol = SASL_SSL", "src.sasl.mechanism = SCRAM-SHA-512",
                        "src.ssl.truststore.location = %s" % pki.ca_pem,
                        "src.sasl.jaas.config = org.apache.kafka.common.security.scram."
                        "ScramLoginModule required username=\"%s\" password=\"${env:KF_PW}\";"
                        % user])
    conn, doc, cp = plan_connection(cfg, env={"KF_PW": pw})
    assert conn["result"] == result, conn
    assert pw not in cp.stdout.decode() + cp.stderr.decode()
    if result != "ok":
        assert "user 'mirror' with SCRAM-SHA-512" in conn["message"]
