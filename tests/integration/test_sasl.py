"""SASL on kferry-broker: SCRAM users managed with Kafka's kafka-configs.sh and
kferry-broker --add-scram-user, stored salted (never the password) and kept
across restarts; PLAIN and SCRAM-SHA-256/512 logins with kafka-python,
confluent-kafka and kcat on a SASL_PLAINTEXT listener.

The client tests need the `listeners` key (SASL_PLAINTEXT listeners); on a
build without it they are skipped with that reason.
"""

import os
import subprocess
import uuid

import pytest

from test_admin_apis import tool  # noqa: F401  (Kafka's tools, skipped if absent)

PW = "alice-s3cret-pw"


def add_user(broker_binary, data_dir, name, pw, mech="SCRAM-SHA-512"):
    p = subprocess.run([broker_binary, "--data-dir", str(data_dir), "--add-scram-user", name,
                        "--mechanism", mech], input=pw + "\n", capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    return p


def grep_dir(root, needle):
    hits = []
    for d, _, files in os.walk(root):
        for f in files:
            path = os.path.join(d, f)
            with open(path, "rb") as fh:
                if needle.encode() in fh.read():
                    hits.append(path)
    return hits


def describe_users(tool, b):
    p = tool("kafka-configs", "--bootstrap-server", b.bootstrap, "--entity-type", "users",
             "--describe")
    return sorted(l for l in p.stdout.splitlines() if l.startswith("SCRAM credential configs"))


def test_kafka_configs_manages_scram_users(broker_factory, tool):
    b = broker_factory()
    tool("kafka-configs", "--bootstrap-server", b.bootstrap, "--entity-type", "users",
         "--entity-name", "alice", "--alter", "--add-config",
         "SCRAM-SHA-512=[iterations=8192,password=%s],SCRAM-SHA-256=[password=%s]" % (PW, PW))
    tool("kafka-configs", "--bootstrap-server", b.bootstrap, "--entity-type", "users",
         "--entity-name", "bob", "--alter", "--add-config",
         "SCRAM-SHA-256=[iterations=4096,password=bob-pw-123]")
    want = ["SCRAM credential configs for user-principal 'alice' are "
            "SCRAM-SHA-256=iterations=4096, SCRAM-SHA-512=iterations=8192",
            "SCRAM credential configs for user-principal 'bob' are SCRAM-SHA-256=iterations=4096"]
    assert describe_users(tool, b) == want
    # Stored salted: neither password is anywhere in the data directory.
    assert grep_dir(b.data_dir, PW) == []
    assert grep_dir(b.data_dir, "bob-pw-123") == []
    mode = os.stat(os.path.join(b.data_dir, "kferry-meta", "scram-credentials")).st_mode
    assert mode & 0o077 == 0
    b.restart()
    assert describe_users(tool, b) == want
    tool("kafka-configs", "--bootstrap-server", b.bootstrap, "--entity-type", "users",
         "--entity-name", "alice", "--alter", "--delete-config", "SCRAM-SHA-256")
    tool("kafka-configs", "--bootstrap-server", b.bootstrap, "--entity-type", "users",
         "--entity-name", "bob", "--alter", "--delete-config", "SCRAM-SHA-256")
    assert describe_users(tool, b) == [
        "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-512=iterations=8192"]
    # Deleting what is not there: Kafka's RESOURCE_NOT_FOUND.
    p = tool("kafka-configs", "--bootstrap-server", b.bootstrap, "--entity-type", "users",
             "--entity-name", "bob", "--alter", "--delete-config", "SCRAM-SHA-256", check=False)
    assert p.returncode != 0
    assert "Attempt to delete a user credential that does not exist" in p.stdout + p.stderr


def test_add_scram_user_command_line(broker_factory, broker_binary, tmp_path, tool):
    data = tmp_path / "data"
    p = add_user(broker_binary, data, "carol", PW)
    assert "stored SCRAM-SHA-512 credential for user carol" in p.stdout
    assert PW not in p.stdout + p.stderr
    assert grep_dir(str(data), PW) == []
    b = broker_factory(data_dir=str(data))
    assert describe_users(tool, b) == [
        "SCRAM credential configs for user-principal 'carol' are SCRAM-SHA-512=iterations=8192"]
    # While the broker owns the data dir the command refuses (exit 1).
    p = subprocess.run([broker_binary, "--data-dir", str(data), "--add-scram-user", "dave"],
                       input="x\n", capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "cannot lock" in p.stderr


def test_add_scram_user_rejects_bad_input(broker_binary, tmp_path):
    for args, stdin, msg in [
            (["--mechanism", "SCRAM-SHA-1"], "pw\n", "--mechanism must be"),
            (["--iterations", "100"], "pw\n", "--iterations must be"),
            ([], "\n", "the password must be one line"),
    ]:
        p = subprocess.run([broker_binary, "--data-dir", str(tmp_path / "d"), "--add-scram-user",
                            "u"] + args, input=stdin, capture_output=True, text=True, timeout=30)
        assert p.returncode == 2 and msg in p.stderr, p.stderr


# -- clients over SASL_PLAINTEXT ------------------------------------------------

SASL_CFG = {
    "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
    "listener.name.sasl_plaintext.plain.sasl.jaas.config":
        'org.apache.kafka.common.security.plain.PlainLoginModule required '
        'user_jaasuser="jaas-pw-1";',
}


@pytest.fixture
def sasl_broker(broker_factory, broker_binary, tmp_path):
    data = tmp_path / "sdata"
    add_user(broker_binary, data, "alice", PW, "SCRAM-SHA-512")
    add_user(broker_binary, data, "alice", PW, "SCRAM-SHA-256")
    b = broker_factory(overrides=dict(SASL_CFG), data_dir=str(data),
                       listeners={"SASL_PLAINTEXT": "SASL_PLAINTEXT"})
    b.sasl_bootstrap = b.bootstrap_of("SASL_PLAINTEXT")
    return b


def kp_roundtrip(bootstrap, mech, user, pw, topic, values):
    from kafka import KafkaConsumer, KafkaProducer
    kw = dict(bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT",
              sasl_mechanism=mech, sasl_plain_username=user, sasl_plain_password=pw)
    p = KafkaProducer(**kw)
    for v in values:
        p.send(topic, v).get(30)
    p.close()
    c = KafkaConsumer(topic, auto_offset_reset="earliest", consumer_timeout_ms=10000, **kw)
    got = [m.value for m in c]
    c.close()
    return got


def ck_conf(bootstrap, mech, user, pw):
    return {"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": mech, "sasl.username": user, "sasl.password": pw}


@pytest.mark.parametrize("mech,user,pw", [("PLAIN", "jaasuser", "jaas-pw-1"),
                                          ("PLAIN", "alice", PW),
                                          ("SCRAM-SHA-256", "alice", PW),
                                          ("SCRAM-SHA-512", "alice", PW)])
def test_clients_authenticate(sasl_broker, mech, user, pw):
    import confluent_kafka as ck
    topic = "sasl-" + uuid.uuid4().hex[:8]
    values = [b"kp-%d" % i for i in range(5)]
    assert kp_roundtrip(sasl_broker.sasl_bootstrap, mech, user, pw, topic, values) == values
    p = ck.Producer(ck_conf(sasl_broker.sasl_bootstrap, mech, user, pw))
    errs = []
    for i in range(5):
        p.produce(topic, b"ck-%d" % i, on_delivery=lambda e, m: errs.append(e))
    assert p.flush(30) == 0 and errs == [None] * 5
    out = subprocess.run(["kcat", "-b", sasl_broker.sasl_bootstrap, "-X",
                          "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=" + mech,
                          "-X", "sasl.username=" + user, "-X", "sasl.password=" + pw,
                          "-C", "-t", topic, "-e", "-q"], capture_output=True, timeout=60)
    assert out.stdout.split(b"\n")[:-1] == values + [b"ck-%d" % i for i in range(5)]


@pytest.mark.parametrize("user,pw", [("alice", "wrong-password"), ("nobody", PW)])
def test_bad_credentials_refused(sasl_broker, user, pw):
    import confluent_kafka as ck
    errors = []
    conf = ck_conf(sasl_broker.sasl_bootstrap, "SCRAM-SHA-512", user, pw)
    conf["error_cb"] = lambda e: errors.append(e)
    a = ck.admin.AdminClient(conf)
    with pytest.raises(ck.KafkaException):
        a.list_topics(timeout=5)
    for _ in range(20):  # error_cb is served by poll()
        a.poll(0.5)
        if errors:
            break
    assert any(e.code() == ck.KafkaError._AUTHENTICATION for e in errors), errors
    assert any("Authentication failed during authentication due to invalid credentials with "
               "SASL mechanism SCRAM-SHA-512" in e.str() for e in errors), errors
    # Another client is still served.
    topic = "ok-" + uuid.uuid4().hex[:8]
    assert kp_roundtrip(sasl_broker.sasl_bootstrap, "SCRAM-SHA-512", "alice", PW, topic,
                        [b"v"]) == [b"v"]
    assert PW not in sasl_broker.stderr_text() and "wrong-password" not in \
        sasl_broker.stderr_text()


# -- unauthenticated clients ---------------------------------------------------------

def test_unauthenticated_clients_are_bounded(broker_factory, broker_binary, tmp_path):
    """Before a SASL login only ApiVersions, SaslHandshake and SaslAuthenticate
    are answered; frames are capped, so are requests, and so is the time to
    log in.  Each offender is closed alone: a real client logs in meanwhile."""
    import struct
    import kf_wire as kw
    data = tmp_path / "udata"
    add_user(broker_binary, data, "alice", PW, "SCRAM-SHA-512")
    b = broker_factory(overrides=dict(SASL_CFG, **{"kferry.sasl.authentication.timeout.ms":
                                                   "1500"}),
                       data_dir=str(data), listeners={"SASL_PLAINTEXT": "SASL_PLAINTEXT"})
    port = b.listener_ports["SASL_PLAINTEXT"]
    # ApiVersions is answered before authentication ...
    with kw.RawConn("127.0.0.1", port) as c:
        err, apis = kw.api_versions(c)
        assert err == 0 and 17 in apis and 36 in apis
        # ... Metadata is not: the connection is closed without an answer.
        c.send(kw.request_frame(3, 1, 99, struct.pack(">i", -1)))
        assert c.wait_closed() == (True, 0)
    assert "Metadata request before SASL authentication" in b.stderr_text()
    # A size prefix far above any SASL token: closed before reading it.
    with kw.RawConn("127.0.0.1", port) as c:
        c.send(struct.pack(">i", 50 << 20) + b"x" * 1000)
        assert c.wait_closed()[0]
    assert "request of 52428800 bytes before SASL authentication" in b.stderr_text()
    # Endless ApiVersions without logging in: cut off after 16.
    with kw.RawConn("127.0.0.1", port) as c:
        n = 0
        try:
            for _ in range(40):
                kw.api_versions(c)
                n += 1
        except (ConnectionError, OSError):
            pass
        assert n == 16, n
    assert "too many requests before SASL authentication" in b.stderr_text()
    # Many idle connections: all closed after the login timeout, while a real
    # client is served.
    idle = [kw.RawConn("127.0.0.1", port) for _ in range(50)]
    topic = "bounded-" + uuid.uuid4().hex[:8]
    assert kp_roundtrip(b.bootstrap_of("SASL_PLAINTEXT"), "SCRAM-SHA-512", "alice", PW, topic,
                        [b"v"]) == [b"v"]
    for c in idle:
        assert c.wait_closed(timeout=10)[0]
        c.close()
    assert "SASL authentication not completed within 1500 ms" in b.stderr_text()
