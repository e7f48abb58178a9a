"""TLS, mutual TLS and SASL over TLS on kferry-broker, with real clients.

One broker per test with four listeners besides PLAINTEXT:
  SSL             server certificate only
  MTLS            an SSL listener with ssl.client.auth=required
  SASL_PLAINTEXT  PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
  SASL_SSL        the same over TLS
Every mode is exercised by kafka-python, confluent-kafka and kcat (all
three write, kcat reads everything back), and by Kafka's own Java tools.
Refusals (untrusted certificates, a missing client certificate, a wrong
password, an unknown user, a plaintext client on a TLS port) close only
the offending connection: each is followed by a client that works.
"""

import os
import socket
import ssl
import subprocess
import time
import uuid

import pytest

from kf_pki import PASSWORD, Pki
from test_admin_apis import tool  # noqa: F401  (Kafka's tools, skipped if absent)
from test_sasl import add_user

PW = "tls-alice-pw-42"
PLAIN_PW = "plain-bob-pw-7"
LISTENERS = {"SSL": "SSL", "MTLS": "SSL", "SASL_PLAINTEXT": "SASL_PLAINTEXT",
             "SASL_SSL": "SASL_SSL"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    p = Pki(d)
    p.server = p.issue("broker", jks=True)
    p.alice = p.issue("alice", client=True, subject="/O=kferry/OU=eng/CN=alice")
    with open(os.path.join(d, "broker.keystore.pem"), "w") as out:
        for f in (p.server.key, p.server.cert):
            out.write(open(f).read())
    p.server_keystore_pem = os.path.join(d, "broker.keystore.pem")
    # A second, unrelated CA: its certificates must be refused.
    p.rogue = Pki(os.path.join(d, "rogue"), ca_subject="/CN=rogue CA/O=elsewhere")
    p.mallory = p.rogue.issue("mallory", client=True, subject="/CN=mallory")
    p.rogue_server = p.rogue.issue("rogue-broker")
    return p


def tls_overrides(pki, **extra):
    ov = {
        "ssl.keystore.location": pki.server_keystore_pem,
        "ssl.truststore.location": pki.ca_pem,
        "listener.name.mtls.ssl.client.auth": "required",
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "listener.name.sasl_ssl.plain.sasl.jaas.config":
            'org.apache.kafka.common.security.plain.PlainLoginModule required '
            'user_bob="%s";' % PLAIN_PW,
        "listener.name.sasl_plaintext.plain.sasl.jaas.config":
            'org.apache.kafka.common.security.plain.PlainLoginModule required '
            'user_bob="%s";' % PLAIN_PW,
    }
    ov.update(extra)
    return ov


@pytest.fixture
def tls_broker(broker_factory, broker_binary, pki, tmp_path):
    data = tmp_path / "tdata"
    add_user(broker_binary, data, "alice", PW, "SCRAM-SHA-512")
    add_user(broker_binary, data, "alice", PW, "SCRAM-SHA-256")
    return broker_factory(overrides=tls_overrides(pki), data_dir=str(data), listeners=LISTENERS)


# Client settings per mode, in librdkafka's terms (kcat, confluent-kafka).
def rd_conf(pki, mode, mech=None, user="alice", pw=PW, client_cert=True):
    listener, proto = {"ssl": ("SSL", "SSL"), "mtls": ("MTLS", "SSL"),
                       "sasl_plaintext": ("SASL_PLAINTEXT", "SASL_PLAINTEXT"),
                       "sasl_ssl": ("SASL_SSL", "SASL_SSL")}[mode]
    c = {"security.protocol": proto}
    if "SSL" in proto:
        c["ssl.ca.location"] = pki.ca_pem
    if mode == "mtls" and client_cert:
        c["ssl.certificate.location"] = pki.alice.cert
        c["ssl.key.location"] = pki.alice.key
    if mech:
        c.update({"sasl.mechanism": mech, "sasl.username": user, "sasl.password": pw})
    return listener, c


def kp_kwargs(pki, mode, mech=None, user="alice", pw=PW):
    _, c = rd_conf(pki, mode, mech, user, pw)
    kw = dict(security_protocol=c["security.protocol"])
    if "ssl.ca.location" in c:
        kw.update(ssl_cafile=pki.ca_pem, ssl_check_hostname=True)
    if "ssl.certificate.location" in c:
        kw.update(ssl_certfile=pki.alice.cert, ssl_keyfile=pki.alice.key)
    if mech:
        kw.update(sasl_mechanism=mech, sasl_plain_username=user, sasl_plain_password=pw)
    return kw


def kcat(bootstrap, conf, *args, timeout=60, input=None):
    cmd = ["kcat", "-b", bootstrap]
    for k, v in conf.items():
        cmd += ["-X", "%s=%s" % (k, v)]
    return subprocess.run(cmd + list(args), capture_output=True, timeout=timeout, input=input)


MODES = [("ssl", None), ("mtls", None), ("sasl_plaintext", "PLAIN"),
         ("sasl_plaintext", "SCRAM-SHA-256"), ("sasl_ssl", "PLAIN"),
         ("sasl_ssl", "SCRAM-SHA-256"), ("sasl_ssl", "SCRAM-SHA-512")]


@pytest.mark.parametrize("mode,mech", MODES, ids=["%s-%s" % (m, x or "cert") for m, x in MODES])
def test_three_clients_roundtrip(tls_broker, pki, mode, mech):
    import confluent_kafka as ck
    from kafka import KafkaProducer
    user, pw = ("bob", PLAIN_PW) if mech == "PLAIN" else ("alice", PW)
    listener, conf = rd_conf(pki, mode, mech, user, pw)
    bs = tls_broker.bootstrap_of(listener)
    topic = "tls-" + uuid.uuid4().hex[:8]
    want = []
    p = KafkaProducer(bootstrap_servers=bs, **kp_kwargs(pki, mode, mech, user, pw))
    for i in range(5):
        p.send(topic, key=b"k%d" % i, value=b"kafka-python-%d" % i).get(30)
        want.append(b"kafka-python-%d" % i)
    p.close()
    cp = ck.Producer(dict(conf, **{"bootstrap.servers": bs}))
    errs = []
    for i in range(5):
        cp.produce(topic, b"confluent-%d" % i, on_delivery=lambda e, m: errs.append(e))
        want.append(b"confluent-%d" % i)
    assert cp.flush(30) == 0 and errs == [None] * 5
    prod = kcat(bs, conf, "-P", "-t", topic, input=b"kcat-0\nkcat-1\n")
    assert prod.returncode == 0, prod.stderr
    want += [b"kcat-0", b"kcat-1"]
    r = kcat(bs, conf, "-C", "-t", topic, "-e", "-q")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split(b"\n")[:-1] == want
    # kafka-python reads it back too (a second implementation of the TLS
    # and SASL client side).
    from kafka import KafkaConsumer
    c = KafkaConsumer(topic, bootstrap_servers=bs, auto_offset_reset="earliest",
                      consumer_timeout_ms=10000, **kp_kwargs(pki, mode, mech, user, pw))
    got = [m.value for m in c]
    c.close()
    assert got == want


def test_metadata_advertises_the_clients_listener(tls_broker, pki):
    """A client that bootstraps on the SSL port is sent the SSL port for the
    broker (as Kafka answers per listener), not the PLAINTEXT one."""
    import confluent_kafka as ck
    for listener, mode in (("SSL", "ssl"), ("SASL_SSL", "sasl_ssl")):
        _, conf = rd_conf(pki, mode, "SCRAM-SHA-512" if mode == "sasl_ssl" else None)
        a = ck.admin.AdminClient(dict(conf, **{"bootstrap.servers": tls_broker.bootstrap_of(
            listener)}))
        md = a.list_topics(timeout=20)
        (b,) = md.brokers.values()
        assert (b.host, b.port) == ("127.0.0.1", tls_broker.listener_ports[listener])


def served_after(tls_broker, pki):
    """A well-behaved SCRAM client over TLS still works."""
    _, conf = rd_conf(pki, "sasl_ssl", "SCRAM-SHA-512")
    r = kcat(tls_broker.bootstrap_of("SASL_SSL"), conf, "-L", "-t", "x", timeout=30)
    return r.returncode == 0


def wait_log(b, needle, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if needle in b.stderr_text():
            return True
        time.sleep(0.1)
    return False


def test_missing_client_certificate_refused(tls_broker, pki):
    _, conf = rd_conf(pki, "mtls", client_cert=False)
    r = kcat(tls_broker.bootstrap_of("MTLS"), conf, "-L", "-m", "3", timeout=30)
    assert r.returncode != 0
    assert wait_log(tls_broker, "the client sent no certificate")
    assert served_after(tls_broker, pki)


def test_untrusted_client_certificate_refused(tls_broker, pki):
    conf = {"security.protocol": "SSL", "ssl.ca.location": pki.ca_pem,
            "ssl.certificate.location": pki.mallory.cert, "ssl.key.location": pki.mallory.key}
    r = kcat(tls_broker.bootstrap_of("MTLS"), conf, "-L", "-m", "3", timeout=30)
    assert r.returncode != 0
    assert wait_log(tls_broker, "client certificate refused")
    assert served_after(tls_broker, pki)


def test_client_refuses_untrusted_broker(tls_broker, pki):
    """The client's truststore holds another CA: the client aborts, the
    broker logs it and keeps serving."""
    conf = {"security.protocol": "SSL", "ssl.ca.location": pki.rogue.ca_pem}
    r = kcat(tls_broker.bootstrap_of("SSL"), conf, "-L", "-m", "3", timeout=30)
    assert r.returncode != 0
    assert b"certificate verify failed" in r.stderr, r.stderr[-2000:]
    assert wait_log(tls_broker, "the client does not trust this broker's certificate")
    assert served_after(tls_broker, pki)


@pytest.mark.parametrize("user,pw", [("alice", "not-the-password"), ("nobody", PW)])
def test_bad_sasl_credentials_over_tls(tls_broker, pki, user, pw):
    _, conf = rd_conf(pki, "sasl_ssl", "SCRAM-SHA-512", user, pw)
    r = kcat(tls_broker.bootstrap_of("SASL_SSL"), conf, "-L", "-m", "3", timeout=30)
    assert r.returncode != 0
    assert b"invalid credentials" in r.stderr, r.stderr[-2000:]
    assert served_after(tls_broker, pki)
    assert pw not in tls_broker.stderr_text()


def test_plaintext_client_on_tls_port(tls_broker, pki):
    r = kcat(tls_broker.bootstrap_of("SSL"), {}, "-L", "-m", "3", timeout=30)
    assert r.returncode != 0
    assert wait_log(tls_broker, "a plaintext client on a TLS listener?")
    assert served_after(tls_broker, pki)


def test_silent_client_times_out(broker_factory, pki):
    b = broker_factory(overrides={"ssl.keystore.location": pki.server_keystore_pem,
                                  "kferry.ssl.handshake.timeout.ms": "500"},
                       listeners={"SSL": "SSL"})
    s = socket.create_connection(("127.0.0.1", b.listener_ports["SSL"]))
    s.settimeout(10)
    t0 = time.time()
    assert s.recv(1) == b""  # closed by the broker
    assert time.time() - t0 < 5
    s.close()
    assert wait_log(b, "TLS handshake on SSL not completed within 500 ms")


def test_python_ssl_module_sees_the_broker_certificate(tls_broker, pki):
    """Hostname verification against the certificate's IP SAN, TLS 1.2 and
    1.3 both offered by default."""
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = ssl.create_default_context(cafile=pki.ca_pem)
        ctx.minimum_version = ctx.maximum_version = version
        with socket.create_connection(("127.0.0.1", tls_broker.listener_ports["SSL"])) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                assert s.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                       ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]


# -- keystore forms ---------------------------------------------------------------

def roundtrip_ssl(b, pki, listener="SSL"):
    conf = {"security.protocol": "SSL", "ssl.ca.location": pki.ca_pem}
    topic = "ks-" + uuid.uuid4().hex[:8]
    bs = b.bootstrap_of(listener)
    prod = kcat(bs, conf, "-P", "-t", topic, input=b"one\ntwo\n")
    assert prod.returncode == 0, prod.stderr
    r = kcat(bs, conf, "-C", "-t", topic, "-e", "-q")
    assert r.stdout == b"one\ntwo\n", r.stderr


@pytest.mark.parametrize("form", ["pkcs12", "encrypted-pem", "inline-pem"])
def test_keystore_forms(broker_factory, pki, form):
    if form == "pkcs12":
        ov = {"ssl.keystore.type": "PKCS12", "ssl.keystore.location": pki.server.p12,
              "ssl.keystore.password": PASSWORD, "ssl.key.password": PASSWORD}
    elif form == "encrypted-pem":
        path = os.path.join(pki.dir, "broker.keystore.enc.pem")
        with open(path, "w") as out:
            out.write(open(pki.server.key_encrypted).read() + open(pki.server.cert).read())
        ov = {"ssl.keystore.type": "PEM", "ssl.keystore.location": path,
              "ssl.key.password": PASSWORD}
    else:
        ov = {"ssl.keystore.type": "PEM",
              "ssl.keystore.certificate.chain": open(pki.server.cert).read(),
              "ssl.keystore.key": open(pki.server.key).read()}
    b = broker_factory(overrides=ov, listeners={"SSL": "SSL"})
    roundtrip_ssl(b, pki)


def test_pkcs12_truststore_for_client_certificates(broker_factory, pki):
    ov = {"ssl.keystore.location": pki.server_keystore_pem,
          "ssl.truststore.type": "PKCS12", "ssl.truststore.location": pki.truststore_p12(),
          "ssl.truststore.password": PASSWORD, "ssl.client.auth": "required"}
    b = broker_factory(overrides=ov, listeners={"SSL": "SSL"})
    conf = {"security.protocol": "SSL", "ssl.ca.location": pki.ca_pem,
            "ssl.certificate.location": pki.alice.cert, "ssl.key.location": pki.alice.key}
    r = kcat(b.bootstrap_of("SSL"), conf, "-L", timeout=30)
    assert r.returncode == 0, r.stderr


def run_broker(broker_binary, tmp_path, *overrides):
    args = [broker_binary, "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
            "--override", "listeners=SSL://127.0.0.1:0"]
    for o in overrides:
        args += ["--override", o]
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


def test_bad_tls_configuration_is_refused(broker_binary, pki, tmp_path):
    p = run_broker(broker_binary, tmp_path, "ssl.keystore.location=" + pki.server.jks)
    assert p.returncode == 2
    assert ("keytool -importkeystore -srckeystore %s -srcstoretype JKS -destkeystore %s.p12 "
            "-deststoretype PKCS12" % (pki.server.jks, pki.server.jks)) in p.stderr, p.stderr
    p = run_broker(broker_binary, tmp_path, "ssl.keystore.type=PKCS12",
                   "ssl.keystore.location=" + pki.server.p12, "ssl.keystore.password=wrong-pw")
    assert p.returncode == 2 and "wrong password?" in p.stderr, p.stderr
    assert "wrong-pw" not in p.stderr
    p = run_broker(broker_binary, tmp_path, "ssl.keystore.location=" + pki.dir + "/missing.pem")
    assert p.returncode == 2 and "missing.pem" in p.stderr, p.stderr
    p = run_broker(broker_binary, tmp_path)
    assert p.returncode == 2 and "no server certificate" in p.stderr, p.stderr
    p = run_broker(broker_binary, tmp_path, "ssl.keystore.location=" + pki.server_keystore_pem,
                   "ssl.client.auth=required")
    assert p.returncode == 2 and "needs a truststore" in p.stderr, p.stderr
    p = run_broker(broker_binary, tmp_path, "ssl.keystore.location=" + pki.server_keystore_pem,
                   "listener.name.nope.ssl.client.auth=none")
    assert p.returncode == 2 and "there is no listener named nope" in p.stderr, p.stderr
    enc = os.path.join(pki.dir, "broker.keystore.enc.pem")
    with open(enc, "w") as out:
        out.write(open(pki.server.key_encrypted).read() + open(pki.server.cert).read())
    p = run_broker(broker_binary, tmp_path, "ssl.keystore.location=" + enc)
    assert p.returncode == 2 and "ssl.key.password" in p.stderr, p.stderr


def test_listener_configuration_errors(broker_binary, tmp_path):
    def run(*ov, listen=True):
        args = [broker_binary, "--data-dir", str(tmp_path / "d")]
        if listen:
            args += ["--listen", "127.0.0.1:0"]
        for o in ov:
            args += ["--override", o]
        return subprocess.run(args, capture_output=True, text=True, timeout=30)
    p = run("listeners=CLIENT://127.0.0.1:0")
    assert p.returncode == 2 and "add CLIENT:SSL" in p.stderr, p.stderr
    p = run("listeners=PLAINTEXT://127.0.0.1:0")
    assert p.returncode == 2 and "also given by --listen" in p.stderr, p.stderr
    p = run("listeners=SSL//127.0.0.1:0")
    assert p.returncode == 2 and "expected NAME://HOST:PORT" in p.stderr, p.stderr
    p = run("listener.security.protocol.map=X:TLS", "listeners=X://127.0.0.1:0")
    assert p.returncode == 2 and "PROTOCOL one of" in p.stderr, p.stderr
    p = run(listen=False)
    assert p.returncode == 2 and "no listener" in p.stderr, p.stderr
    p = run("advertised.listeners=NOPE://h:1")
    assert p.returncode == 2 and "NOPE is not one of the listeners" in p.stderr, p.stderr


def test_named_listeners_and_advertised(broker_factory, broker_binary, tmp_path, pki):
    """listeners with names of one's own, mapped to protocols; stdout shows
    NAME=PROTOCOL; advertised.listeners per listener."""
    args = [broker_binary, "--data-dir", str(tmp_path / "d"), "--override",
            "listeners=INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0", "--override",
            "listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:SSL", "--override",
            "advertised.listeners=INTERNAL://localhost:0,EXTERNAL://127.0.0.1:0",
            "--override", "ssl.keystore.location=" + pki.server_keystore_pem]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        lines = [p.stdout.readline().decode() for _ in range(2)]
        assert lines[0].startswith("kferry-broker listening on INTERNAL=PLAINTEXT://127.0.0.1:")
        assert lines[1].startswith("kferry-broker listening on EXTERNAL=SSL://127.0.0.1:")
        iport = int(lines[0].rsplit(":", 1)[1])
        import confluent_kafka as ck
        md = ck.admin.AdminClient({"bootstrap.servers": "127.0.0.1:%d" % iport}).list_topics(
            timeout=20)
        (b,) = md.brokers.values()
        assert (b.host, b.port) == ("localhost", iport)
    finally:
        p.terminate()
        assert p.wait(20) == 0


# -- Kafka's own Java tools ---------------------------------------------------------

def test_java_tools_over_sasl_ssl_and_mtls(tls_broker, pki, tool, tmp_path):
    """kafka-topics.sh and the console producer/consumer, configured the
    Java way (PKCS#12 stores, JAAS), over SASL_SSL/SCRAM-SHA-512 and mTLS."""
    sasl = tmp_path / "sasl.properties"
    sasl.write_text(
        "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        "username=\"alice\" password=\"%s\";\n"
        "ssl.truststore.type=PKCS12\nssl.truststore.location=%s\nssl.truststore.password=%s\n"
        % (PW, pki.truststore_p12(), PASSWORD))
    mtls = tmp_path / "mtls.properties"
    mtls.write_text(
        "security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location=%s\n"
        "ssl.keystore.type=PKCS12\nssl.keystore.location=%s\nssl.keystore.password=%s\n"
        "ssl.key.password=%s\n" % (pki.ca_pem, pki.alice.p12, PASSWORD, PASSWORD))
    topic = "java-" + uuid.uuid4().hex[:8]
    sbs = tls_broker.bootstrap_of("SASL_SSL")
    tool("kafka-topics", "--bootstrap-server", sbs, "--command-config", str(sasl), "--create",
         "--topic", topic, "--partitions", "2")
    out = tool("kafka-topics", "--bootstrap-server", tls_broker.bootstrap_of("MTLS"),
               "--command-config", str(mtls), "--describe", "--topic", topic).stdout
    assert "PartitionCount: 2" in out, out
    env_in = "\n".join("java-%d" % i for i in range(10)) + "\n"
    prod = tool_with_input(tool, env_in, "kafka-console-producer", "--bootstrap-server", sbs,
                           "--producer.config", str(sasl), "--topic", topic)
    assert prod.returncode == 0, prod.stderr
    cons = tool("kafka-console-consumer", "--bootstrap-server", tls_broker.bootstrap_of("MTLS"),
                "--consumer.config", str(mtls), "--topic", topic, "--from-beginning",
                "--max-messages", "10", "--timeout-ms", "30000")
    assert sorted(cons.stdout.split()) == sorted("java-%d" % i for i in range(10))


def tool_with_input(tool, text, name, *args):
    """Runs a Kafka tool with stdin (the tool fixture has none)."""
    from test_admin_apis import kafka_home
    env = dict(os.environ, KAFKA_HEAP_OPTS="-Xmx256m",
               KAFKA_JVM_PERFORMANCE_OPTS="-server -XX:+UseSerialGC -XX:TieredStopAtLevel=1",
               KAFKA_OPTS="-Djava.library.path=/usr/lib/x86_64-linux-gnu/jni:"
                          "/usr/lib/x86_64-linux-gnu")
    return subprocess.run([os.path.join(kafka_home(), "bin", name + ".sh")] + list(args),
                          input=text, capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("rules,want", [
    (None, "User:CN=alice,OU=eng,O=kferry"),
    ("RULE:^CN=(.*?),OU=(.*?),.*$/$1@$2/U,DEFAULT", "User:ALICE@ENG"),
    ("RULE:^CN=bob,.*$/bob/", None)])
def test_client_certificate_principal(broker_factory, pki, rules, want):
    """The principal of a client certificate is its subject in RFC 2253
    order (as Kafka's X500Principal gives it), mapped by
    ssl.principal.mapping.rules; no applicable rule refuses the client."""
    ov = {"ssl.keystore.location": pki.server_keystore_pem, "ssl.truststore.location": pki.ca_pem,
          "ssl.client.auth": "required"}
    if rules:
        ov["ssl.principal.mapping.rules"] = rules
    b = broker_factory(overrides=ov, listeners={"SSL": "SSL"}, extra_args=["--debug", "net"])
    _, conf = rd_conf(pki, "mtls")
    r = kcat(b.bootstrap_of("SSL"), conf, "-L", "-m", "5", timeout=30)
    if want:
        assert r.returncode == 0, r.stderr
        assert wait_log(b, "principal %s\n" % want), b.stderr_text()[-3000:]
    else:
        assert r.returncode != 0
        assert wait_log(b, "no ssl.principal.mapping.rules rule applies to the client "
                           "certificate subject 'CN=alice,OU=eng,O=kferry'")


def test_bad_principal_mapping_rules_refused(broker_binary, pki, tmp_path):
    p = run_broker(broker_binary, tmp_path, "ssl.keystore.location=" + pki.server_keystore_pem,
                   "ssl.principal.mapping.rules=RULE:(/x/")
    assert p.returncode == 2 and "ssl.principal.mapping.rules" in p.stderr, p.stderr


def test_abrupt_clients_do_not_disturb_others(tls_broker, pki):
    """Clients that vanish mid-handshake, after it, or speak plaintext to a
    TLS port leave OpenSSL errors behind; none of that may reach another
    connection: a producer writing through it all sees no error."""
    import threading
    import confluent_kafka as ck
    _, conf = rd_conf(pki, "sasl_ssl", "SCRAM-SHA-512")
    bs = tls_broker.bootstrap_of("SASL_SSL")
    topic = "abrupt-" + uuid.uuid4().hex[:8]
    errs, acked = [], []
    stop = threading.Event()

    def produce():
        p = ck.Producer(dict(conf, **{"bootstrap.servers": bs, "linger.ms": 1}))
        n = 0
        while not stop.is_set():
            p.produce(topic, b"%d" % n, on_delivery=lambda e, m: (errs if e else acked).append(e))
            n += 1
            p.poll(0.002)
        p.flush(30)

    t = threading.Thread(target=produce)
    t.start()
    port = tls_broker.listener_ports["SASL_SSL"]
    try:
        ctx = ssl.create_default_context(cafile=pki.ca_pem)
        vanished = []
        for i in range(60):
            # handshaken connections first, then all vanish at once: the
            # broker meets their ends back to back with the producer's reads
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                                server_hostname="127.0.0.1")
            vanished.append(s)
        for s in vanished:
            s.sendall(b"\x00\x00\x00\x05hello")
            s.close()
        for i in range(60):
            raw = socket.create_connection(("127.0.0.1", port))
            if i % 3 == 0:
                raw.sendall(b"\x16\x03\x01\x00\x10garbage-hello!!!")  # a broken ClientHello
            elif i % 3 == 1:
                ctx = ssl.create_default_context(cafile=pki.ca_pem)
                s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
                s.sendall(b"\x00\x00\x00\x05hello")  # then vanish without close_notify
                raw = s
            else:
                raw.sendall(b"\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x01\x00\x00")
            raw.close()
            time.sleep(0.02)
    finally:
        stop.set()
        t.join(60)
    assert errs == [] and len(acked) > 100, (errs[:5], len(acked))


# -- ACLs for principals from SASL logins and client certificates ----------------

def test_acls_for_sasl_and_certificate_principals(broker_factory, broker_binary, pki, tool,
                                                  tmp_path):
    """With an authorizer and no catch-all: alice (SCRAM) may write and read
    topic 'ledger' in group 'auditors'; the certificate principal of the
    MTLS listener may read it; bob (SCRAM, no ACL) is refused with
    TOPIC_AUTHORIZATION_FAILED and GROUP_AUTHORIZATION_FAILED.  ACLs are
    managed with kafka-acls.sh over PLAINTEXT by the super user ANONYMOUS."""
    import confluent_kafka as ck
    data = tmp_path / "adata"
    for u in ("alice", "bob"):
        add_user(broker_binary, data, u, PW, "SCRAM-SHA-512")
    ov = tls_overrides(pki, **{
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:ANONYMOUS", "allow.everyone.if.no.acl.found": "false"})
    b = broker_factory(overrides=ov, data_dir=str(data), listeners=LISTENERS)
    cert_principal = "User:CN=alice,OU=eng,O=kferry"
    from kf_util import cf_create_topic
    cf_create_topic(b.bootstrap, "ledger", 1)  # by the super user; alice may not CREATE
    tool("kafka-acls", "--bootstrap-server", b.bootstrap, "--add", "--allow-principal",
         "User:alice", "--operation", "Write", "--operation", "Read", "--operation", "Describe",
         "--topic", "ledger")
    tool("kafka-acls", "--bootstrap-server", b.bootstrap, "--add", "--allow-principal",
         "User:alice", "--operation", "Read", "--group", "auditors")
    tool("kafka-acls", "--bootstrap-server", b.bootstrap, "--add", "--allow-principal",
         cert_principal, "--operation", "Read", "--topic", "ledger", "--group", "replicas")
    # alice writes over SASL_SSL
    _, aconf = rd_conf(pki, "sasl_ssl", "SCRAM-SHA-512", "alice", PW)
    sbs = b.bootstrap_of("SASL_SSL")
    p = ck.Producer(dict(aconf, **{"bootstrap.servers": sbs}))
    res = []
    for i in range(5):
        p.produce("ledger", b"entry-%d" % i, on_delivery=lambda e, m: res.append(e))
    assert p.flush(30) == 0 and res == [None] * 5, res

    def consume(conf, bs, group):
        c = ck.Consumer(dict(conf, **{"bootstrap.servers": bs, "group.id": group,
                                      "auto.offset.reset": "earliest"}))
        c.subscribe(["ledger"])
        got, errs = [], []
        deadline = time.time() + 20
        while time.time() < deadline and len(got) < 5 and not errs:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                errs.append(m.error().code())
            else:
                got.append(m.value())
        c.close()
        return got, errs

    want = [b"entry-%d" % i for i in range(5)]
    assert consume(aconf, sbs, "auditors") == (want, [])
    _, mconf = rd_conf(pki, "mtls")
    got, errs = consume(mconf, b.bootstrap_of("MTLS"), "replicas")
    assert (got, errs) == (want, []), (got, errs)
    # bob: no ACL at all
    _, bconf = rd_conf(pki, "sasl_ssl", "SCRAM-SHA-512", "bob", PW)
    bp = ck.Producer(dict(bconf, **{"bootstrap.servers": sbs, "message.timeout.ms": 10000}))
    bres = []
    bp.produce("ledger", b"intruder", on_delivery=lambda e, m: bres.append(e))
    bp.flush(20)
    assert len(bres) == 1 and bres[0] is not None and \
        bres[0].code() == ck.KafkaError.TOPIC_AUTHORIZATION_FAILED, bres
    got, errs = consume(bconf, sbs, "replicas")
    assert got == [] and ck.KafkaError.GROUP_AUTHORIZATION_FAILED in errs, errs
    # the certificate principal may read but not write
    mp = ck.Producer(dict(mconf, **{"bootstrap.servers": b.bootstrap_of("MTLS"),
                                    "message.timeout.ms": 10000}))
    mres = []
    mp.produce("ledger", b"not-allowed", on_delivery=lambda e, m: mres.append(e))
    mp.flush(20)
    assert mres and mres[0] is not None and \
        mres[0].code() == ck.KafkaError.TOPIC_AUTHORIZATION_FAILED, mres
