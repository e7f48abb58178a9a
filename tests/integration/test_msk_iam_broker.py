"""kferry-broker's AWS MSK IAM emulation: SASL/OAUTHBEARER whose bearer token
is an MSK IAM token (a SigV4-presigned kafka-cluster:Connect URL, base64url),
checked against the keys of kferry.msk.iam.credentials.file for
kferry.msk.iam.region.

Tokens come from botocore's SigV4QueryAuth (AWS's own signer; Debian's
python3-botocore) and from kferry's C signer (build/tests/sigv4_tool), and
reach the broker through confluent-kafka's oauth_cb (librdkafka 2.0.2) over
SASL_PLAINTEXT and SASL_SSL, or as raw SaslAuthenticate requests (kf_wire)
where the test needs to see the exchange itself (session_lifetime_ms, the
{"status":"invalid_token"} challenge).
"""

import base64
import datetime
import os
import subprocess
import time
from unittest import mock

import confluent_kafka as ck
import pytest
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kf_util import cf_conf, cf_create_topic, unique, wait_until
from kf_wire import RawConn, W
from test_tls import pki  # noqa: F401  (module-scoped CA, broker and client certificates)

REGION = "eu-west-1"
ALICE = dict(akid="AKIAKFERRYALICE00001", secret="alice/Secret+Key0123456789abcdefghijKLMN",
             principal="arn:aws:iam::123456789012:user/alice")
TEMP = dict(akid="ASIAKFERRYTEMP000002", secret="tempSecretKey9876543210zyxwvutsrqpONMLK",
            token="IQoJb3JpZ2luX2VjEKfake//session+token/for/tests==",
            principal="arn:aws:sts::123456789012:assumed-role/migrator/kferry")
BOB = dict(akid="AKIAKFERRYBOB0000003", secret="bobSecretKeyAAAABBBBCCCCDDDDEEEEFFFF0000",
           principal="bob")  # no principal key: the section name is the identity

CRED_FILE = """# test keys for the MSK IAM emulation
[alice]
aws_access_key_id = %s
aws_secret_access_key = %s
principal = %s

[migrator]
aws_access_key_id=%s
aws_secret_access_key=%s
aws_session_token=%s
principal=%s
region = eu-west-1

[bob]
aws_access_key_id = %s
aws_secret_access_key = %s
""" % (ALICE["akid"], ALICE["secret"], ALICE["principal"], TEMP["akid"], TEMP["secret"],
       TEMP["token"], TEMP["principal"], BOB["akid"], BOB["secret"])

LISTENERS = {"SASL_PLAINTEXT": "SASL_PLAINTEXT", "SASL_SSL": "SASL_SSL"}
AUTH_ERR = "Authentication failed with SASL mechanism OAUTHBEARER (MSK IAM): "


def b64url(s):
    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")


def unb64url(t):
    return base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)).decode()


def presigned_url(key, region=REGION, expires=900, when=None, session_token="key"):
    """botocore's presigned kafka-cluster:Connect URL (without User-Agent).
    session_token: "key" = the key's own (if any), else the given value."""
    tok = key.get("token") if session_token == "key" else session_token
    creds = Credentials(key["akid"], key["secret"], tok)
    req = AWSRequest(method="GET", url="https://kafka.%s.amazonaws.com/" % region,
                     params={"Action": "kafka-cluster:Connect"})
    signer = SigV4QueryAuth(creds, "kafka-cluster", region, expires=expires)
    if when is None:
        signer.add_auth(req)
    else:
        with mock.patch("botocore.auth.datetime") as dt:
            dt.datetime.utcnow.return_value = when
            signer.add_auth(req)
    return req.url


def botocore_token(key, **kw):
    return b64url(presigned_url(key, **kw) + "&User-Agent=kferry-test%2F1.0")


def utc(offset_s):
    return datetime.datetime.utcnow() + datetime.timedelta(seconds=offset_s)


@pytest.fixture
def cred_file(tmp_path):
    p = tmp_path / "msk-credentials"
    p.write_text(CRED_FILE)
    os.chmod(p, 0o600)
    return str(p)


def iam_overrides(pki, cred_file, **extra):
    ov = {
        "ssl.keystore.location": pki.server_keystore_pem,
        "ssl.truststore.location": pki.ca_pem,
        "sasl.enabled.mechanisms": "OAUTHBEARER",
        "kferry.msk.iam.credentials.file": cred_file,
        "kferry.msk.iam.region": REGION,
    }
    ov.update(extra)
    return ov


@pytest.fixture
def iam_broker(broker_factory, pki, cred_file):
    return broker_factory(overrides=iam_overrides(pki, cred_file), listeners=LISTENERS)


def rd_conf(b, listener, pki, token_fn, **extra):
    """librdkafka settings for OAUTHBEARER with tokens from token_fn() ->
    (token, expiry in epoch seconds)."""
    c = cf_conf(b.bootstrap_of(listener))
    c.update({"security.protocol": listener, "sasl.mechanism": "OAUTHBEARER",
              "oauth_cb": lambda _cfg: token_fn()})
    if listener == "SASL_SSL":
        c["ssl.ca.location"] = pki.ca_pem
    c.update(extra)
    return c


def fixed(token, life=900):
    return lambda: (token, time.time() + life)


def produce(conf, topic, values, timeout=30):
    p = ck.Producer(dict(conf, **{"linger.ms": 5, "message.timeout.ms": 30000}))
    errs = []
    for v in values:
        p.produce(topic, v, on_delivery=lambda e, m: errs.append(e) if e else None)
        p.poll(0)
    assert p.flush(timeout) == 0
    assert errs == []


def consume(conf, topic, count, timeout=30):
    c = ck.Consumer(dict(conf, **{"group.id": unique("iam-g"), "enable.auto.commit": False,
                                  "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100}))
    c.assign([ck.TopicPartition(topic, 0, ck.OFFSET_BEGINNING)])
    got, errors = [], []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            errors.append(m.error())
            continue
        got.append(m.value())
    c.close()
    return got, errors


def auth_failure(b, listener, pki, token, timeout=15):
    """Connects with token and returns the authentication error librdkafka
    reports (error_cb), as text."""
    errs = []
    conf = rd_conf(b, listener, pki, fixed(token), error_cb=errs.append)
    p = ck.Producer(conf)

    def failed():
        p.poll(0.1)
        return [e for e in errs if e.code() == ck.KafkaError._AUTHENTICATION]

    try:
        p.list_topics(timeout=0.5)
    except ck.KafkaException:
        pass
    hits = wait_until(failed, timeout, "an authentication error from librdkafka")
    return hits[0].str()


def log_has(b, needle, timeout=5):
    return wait_until(lambda: needle in b.stderr_text(), timeout, "broker log line %r" % needle)


# -- accepted ----------------------------------------------------------------------


@pytest.mark.parametrize("listener", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_botocore_token_produces_and_consumes(iam_broker, pki, listener):
    b = iam_broker
    topic = cf_create_topic(b.bootstrap, unique("iam"))
    calls = []

    def tok():
        calls.append(1)
        return botocore_token(ALICE), time.time() + 900

    conf = rd_conf(b, listener, pki, tok)
    values = [b"rec-%d" % i for i in range(50)]
    produce(conf, topic, values)
    got, errors = consume(conf, topic, len(values))
    assert got == values and errors == []
    assert calls, "oauth_cb was never asked for a token"
    log_has(b, "authenticated User:%s with OAUTHBEARER" % ALICE["principal"])


def test_session_token_key_accepted(iam_broker, pki):
    b = iam_broker
    topic = cf_create_topic(b.bootstrap, unique("iam-sts"))
    conf = rd_conf(b, "SASL_SSL", pki, lambda: (botocore_token(TEMP), time.time() + 900))
    produce(conf, topic, [b"a", b"b"])
    got, errors = consume(conf, topic, 2)
    assert got == [b"a", b"b"] and errors == []
    log_has(b, "authenticated User:%s with OAUTHBEARER" % TEMP["principal"])


def test_c_signer_token_accepted(iam_broker, pki):
    b = iam_broker
    tool = os.path.join(os.environ.get("KFERRY_BUILD_DIR", "../../build"), "tests", "sigv4_tool")

    def tok():
        now = int(time.time())
        out = subprocess.run([tool, REGION, str(now), TEMP["akid"], TEMP["secret"], TEMP["token"],
                              "kferry-c-signer"], capture_output=True, text=True, check=True)
        token, url = out.stdout.splitlines()[:2]
        assert unb64url(token) == url and "User-Agent=kferry-c-signer" in url
        return token, now + 900

    topic = cf_create_topic(b.bootstrap, unique("iam-c"))
    conf = rd_conf(b, "SASL_PLAINTEXT", pki, tok)
    produce(conf, topic, [b"from-c"])
    got, errors = consume(conf, topic, 1)
    assert got == [b"from-c"] and errors == []


# -- refused -----------------------------------------------------------------------


def tamper_signature(url):
    head, sig = url.rsplit("X-Amz-Signature=", 1)
    sig, rest = sig[:64], sig[64:]
    flipped = ("0" if sig[10] != "0" else "1")
    return head + "X-Amz-Signature=" + sig[:10] + flipped + sig[11:] + rest


def refused_cases():
    ua = "&User-Agent=kferry-test"
    return {
        "tampered signature": (lambda: b64url(tamper_signature(presigned_url(ALICE)) + ua),
                               "the token's signature does not match"),
        # X-Amz-Expires is signed: raising it breaks the signature.
        "tampered param": (lambda: b64url(presigned_url(ALICE).replace(
            "X-Amz-Expires=900", "X-Amz-Expires=901") + ua),
            "the token's signature does not match"),
        "unknown key": (lambda: botocore_token(dict(akid="AKIAUNKNOWNKEY000009",
                                                    secret="whatever-secret")),
                        "the token's access key id is unknown"),
        "wrong region": (lambda: botocore_token(ALICE, region="us-east-1"),
                         "the token is for another region"),
        # Signed 20 minutes ago for 900 s: expired 5 minutes ago.
        "expired": (lambda: botocore_token(ALICE, when=utc(-1200)), "the token has expired"),
        "future date": (lambda: botocore_token(ALICE, when=utc(600)),
                        "more than 5 minutes in the future"),
        "missing session token": (lambda: botocore_token(TEMP, session_token=None),
                                  "has no X-Amz-Security-Token but the key requires one"),
        "wrong session token": (lambda: botocore_token(TEMP, session_token="IQoJother=="),
                                "X-Amz-Security-Token is not the key's session token"),
        "not base64url": (lambda: "not*a*token", "the token is not base64url"),
        "not a URL": (lambda: b64url("hello world"), "the token is not an https URL"),
        "wrong action": (lambda: b64url(presigned_url(ALICE).replace(
            "kafka-cluster%3AConnect", "kafka-cluster%3AWriteData") + ua),
            "Action is not kafka-cluster:Connect"),
    }


@pytest.mark.parametrize("case", sorted(refused_cases()))
def test_refused_tokens(iam_broker, pki, case):
    b = iam_broker
    make, reason = refused_cases()[case]
    token = make()
    listener = "SASL_SSL" if case in ("tampered signature", "expired") else "SASL_PLAINTEXT"
    msg = auth_failure(b, listener, pki, token)
    assert AUTH_ERR in msg and reason in msg, msg
    log_has(b, reason)
    text = b.stderr_text()
    # Never a secret, a session token or the token itself in the log.
    for secret in (ALICE["secret"], TEMP["secret"], TEMP["token"]):
        assert secret not in text
    if len(token) > 20:
        assert token not in text


def test_wire_challenge_and_session_lifetime(iam_broker):
    """The exchange as Kafka's OAUTHBEARER server does it: a refused token gets
    {"status":"invalid_token"}, the client's \\x01 then gets
    SASL_AUTHENTICATION_FAILED (58) naming the reason.  An accepted token gets
    session_lifetime_ms (v1) up to its expiry, and the broker closes the
    connection when it expires."""
    b = iam_broker
    host, port = b.bootstrap_of("SASL_PLAINTEXT").split(":")

    def auth(conn, payload):
        r = conn.request(36, 1, W().i32(len(payload)).raw(payload).b)
        err, msg = r.i16(), r.string()
        n = r.i32()
        data = r.d[r.p:r.p + n]
        r.p += n
        return err, msg, bytes(data), r.i64()

    def handshake(conn):
        r = conn.request(17, 1, W().string("OAUTHBEARER").b)
        assert r.i16() == 0

    with RawConn(host, int(port)) as c:
        handshake(c)
        bad = botocore_token(dict(akid="AKIAUNKNOWNKEY000009", secret="x"))
        err, msg, data, life = auth(c, ("n,,\x01auth=Bearer %s\x01\x01" % bad).encode())
        assert (err, data) == (0, b'{"status":"invalid_token"}'), (err, msg, data)
        err, msg, data, life = auth(c, b"\x01")
        assert err == 58 and "access key id is unknown" in msg, (err, msg)
        assert c.wait_closed(5)[0]

    with RawConn(host, int(port)) as c:
        handshake(c)
        good = botocore_token(ALICE, expires=3)
        t0 = time.time()
        err, msg, data, life = auth(
            c, ("n,a=%s,\x01auth=Bearer %s\x01\x01" % (ALICE["principal"], good)).encode())
        assert (err, data) == (0, b""), (err, msg)
        assert 0 < life <= 3000, life
        closed, _ = c.wait_closed(8)
        assert closed and time.time() - t0 >= 1.5
    log_has(b, "the MSK IAM session of User:%s expired" % ALICE["principal"])

    # An authorization id naming someone else is refused.
    with RawConn(host, int(port)) as c:
        handshake(c)
        err, msg, data, life = auth(
            c, ("n,a=someone-else,\x01auth=Bearer %s\x01\x01" % botocore_token(ALICE)).encode())
        assert data == b'{"status":"invalid_token"}'
        err, msg, data, life = auth(c, b"\x01")
        assert err == 58 and "authorization id" in msg, msg


# -- principal and ACLs ----------------------------------------------------------


def test_principal_in_acls(broker_factory, pki, cred_file):
    from kafka.admin import (ACL, ACLOperation, ACLPermissionType, KafkaAdminClient,
                             ResourcePattern, ResourceType)
    b = broker_factory(overrides=iam_overrides(
        pki, cred_file, **{"authorizer.class.name":
                           "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                           "allow.everyone.if.no.acl.found": "false",
                           "super.users": "User:ANONYMOUS"}), listeners=LISTENERS)
    topic = cf_create_topic(b.bootstrap, unique("iam-acl"))
    p = ck.Producer(cf_conf(b.bootstrap))
    for i in range(5):
        p.produce(topic, b"secret-%d" % i)
    assert p.flush(30) == 0
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    alice = "User:" + ALICE["principal"]
    res = admin.create_acls([
        ACL(alice, "*", ACLOperation.READ, ACLPermissionType.ALLOW,
            ResourcePattern(ResourceType.TOPIC, topic)),
        # Any group for anyone: bob is stopped by the topic ACL, not the group.
        ACL("User:*", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
            ResourcePattern(ResourceType.GROUP, "*")),
    ])
    admin.close()
    assert not res["failed"], res

    conf = rd_conf(b, "SASL_PLAINTEXT", pki, lambda: (botocore_token(ALICE), time.time() + 900))
    got, errors = consume(conf, topic, 5)
    assert got == [b"secret-%d" % i for i in range(5)], (got, errors)

    conf = rd_conf(b, "SASL_PLAINTEXT", pki, lambda: (botocore_token(BOB), time.time() + 900))
    got, errors = consume(conf, topic, 5, timeout=6)
    assert got == []
    c = ck.Consumer(dict(conf, **{"group.id": unique("iam-g")}))
    c.poll(0.5)  # serves oauth_cb
    md = c.list_topics(topic=topic, timeout=10)
    c.close()
    assert md.topics[topic].error.code() == ck.KafkaError.TOPIC_AUTHORIZATION_FAILED
    log_has(b, "authenticated User:bob with OAUTHBEARER")


# -- session expiry with a real client ---------------------------------------------


def test_expiry_closes_and_client_reconnects(iam_broker, pki):
    """6-second tokens: the broker closes each connection when its token
    expires; librdkafka (no re-authentication in 2.0.2) reconnects with the
    fresh token its oauth_cb supplied, and nothing is lost or duplicated."""
    b = iam_broker
    topic = cf_create_topic(b.bootstrap, unique("iam-exp"))
    calls = []

    def tok():
        calls.append(time.time())
        return botocore_token(ALICE, expires=6), time.time() + 6

    conf = rd_conf(b, "SASL_PLAINTEXT", pki, tok)
    p = ck.Producer(dict(conf, **{"linger.ms": 5, "enable.idempotence": True}))
    errs = []
    sent = []
    t_end = time.monotonic() + 16
    i = 0
    while time.monotonic() < t_end:
        v = b"exp-%d" % i
        p.produce(topic, v, on_delivery=lambda e, m: errs.append(e) if e else None)
        sent.append(v)
        i += 1
        p.poll(0.1)
    assert p.flush(30) == 0
    assert errs == []
    text = b.stderr_text()
    expired = text.count("the MSK IAM session of User:%s expired" % ALICE["principal"])
    logins = text.count("authenticated User:%s with OAUTHBEARER" % ALICE["principal"])
    assert expired >= 2 and logins >= 3, (expired, logins)
    assert len(calls) >= 3, "oauth_cb called %d times" % len(calls)
    got, errors = consume(conf, topic, len(sent))
    assert got == sent, (len(got), len(sent))


# -- configuration -----------------------------------------------------------------


def test_oauthbearer_needs_credentials_file(broker_factory):
    from conftest import BrokerStartError
    b = broker_factory(overrides={"sasl.enabled.mechanisms": "SCRAM-SHA-512,OAUTHBEARER"},
                       listeners={"SASL_PLAINTEXT": "SASL_PLAINTEXT"}, start=False)
    with pytest.raises(BrokerStartError):
        b.start()
    text = b.stderr_text()
    assert "OAUTHBEARER needs kferry.msk.iam.credentials.file" in text, text
    assert "OAUTHBEARER needs kferry.msk.iam.region" in text, text


def test_bad_credentials_file_refused(broker_factory, tmp_path):
    from conftest import BrokerStartError
    bad = tmp_path / "bad-creds"
    bad.write_text("[x]\naws_access_key_id = AKIAXXXX\n")  # no secret
    b = broker_factory(overrides={"sasl.enabled.mechanisms": "OAUTHBEARER",
                                  "kferry.msk.iam.credentials.file": str(bad),
                                  "kferry.msk.iam.region": REGION},
                       listeners={"SASL_PLAINTEXT": "SASL_PLAINTEXT"}, start=False)
    with pytest.raises(BrokerStartError):
        b.start()
    assert "section [x]" in b.stderr_text() and "aws_secret_access_key" in b.stderr_text()


def test_credentials_file_mode_warning(broker_factory, pki, cred_file):
    os.chmod(cred_file, 0o644)
    b = broker_factory(overrides=iam_overrides(pki, cred_file), listeners=LISTENERS)
    log_has(b, "is readable by others (mode 644): chmod 600 it")
    os.chmod(cred_file, 0o600)
    b.restart()
    assert b.stderr_text().count("readable by others") == 1


def test_kafka_python_raw_tokens(iam_broker):
    """kafka-python 2.0.2, an independent client: SaslHandshake v0, then the
    OAUTHBEARER message as a raw frame; a valid token reads back what it
    wrote, a refused one fails its login."""
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.errors import KafkaError as KpError
    b = iam_broker
    topic = cf_create_topic(b.bootstrap, unique("iam-kp"))

    class Provider:
        def __init__(self, key):
            self.key = key

        def token(self):
            return botocore_token(self.key)

    kw = dict(bootstrap_servers=b.bootstrap_of("SASL_PLAINTEXT"),
              security_protocol="SASL_PLAINTEXT", sasl_mechanism="OAUTHBEARER")
    p = KafkaProducer(sasl_oauth_token_provider=Provider(TEMP), **kw)
    for v in (b"kp-1", b"kp-2"):
        p.send(topic, v).get(30)
    p.close()
    c = KafkaConsumer(topic, auto_offset_reset="earliest", consumer_timeout_ms=8000,
                      sasl_oauth_token_provider=Provider(TEMP), **kw)
    got = [m.value for m in c]
    c.close()
    assert got == [b"kp-1", b"kp-2"]
    log_has(b, "authenticated User:%s with OAUTHBEARER" % TEMP["principal"])

    with pytest.raises(KpError):
        bad = dict(TEMP, secret="not-the-secret")
        KafkaProducer(sasl_oauth_token_provider=Provider(bad), max_block_ms=5000,
                      **kw).send(topic, b"x").get(10)
    log_has(b, "the token's signature does not match")
