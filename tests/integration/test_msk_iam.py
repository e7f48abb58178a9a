"""A migration into a target that takes only MSK IAM: kferry-broker's MSK
IAM emulation (SASL_SSL + OAUTHBEARER, tokens checked as MSK checks them,
against a table of access keys) and kferry configured with MirrorMaker 2's
four aws-msk-iam-auth lines, unchanged.

- credentials from environment variables: plan, mirror under a live
  application, producer and group cutover, verify;
- credentials from a profile of a shared credentials file (awsProfileName=);
- a wrong secret key: an authentication error naming the cluster;
- temporary credentials from a local instance-metadata stand-in (IMDSv2)
  that expire quickly: kferry refreshes them, the broker closes sessions
  whose token expired, and the mirror goes on with nothing lost.

The application and the test's checks use the brokers' PLAINTEXT
listeners (the test's instruments, not the migration).
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

REGION = "eu-west-1"
AKID = "AKIAKFERRYMIRROR0001"
SECRET = "kferry/Mirror+Secret/0123456789abcdefEXAMPLE"
PROFILE_AKID = "AKIAKFERRYPROFILE001"
PROFILE_SECRET = "profile/Secret+0123456789abcdefEXAMPLE"
MM2_IAM_LINES = [
    "msk.security.protocol = SASL_SSL",
    "msk.sasl.mechanism = AWS_MSK_IAM",
    "msk.sasl.jaas.config = software.amazon.msk.auth.iam.IAMLoginModule required;",
    "msk.sasl.client.callback.handler.class = "
    "software.amazon.msk.auth.iam.IAMClientCallbackHandler",
]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    p = Pki(d)
    p.server = p.issue("broker")
    p.keystore = os.path.join(d, "broker.keystore.pem")
    with open(p.keystore, "w") as out:
        out.write(open(p.server.key).read() + open(p.server.cert).read())
    return p


def keys_file(path, extra=""):
    path.write_text(
        "[mirror]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
        "principal = arn:aws:iam::123456789012:user/kferry-mirror\n\n"
        "[profiled]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
        "principal = arn:aws:iam::123456789012:role/kferry-profile\n%s"
        % (AKID, SECRET, PROFILE_AKID, PROFILE_SECRET, extra))
    return str(path)


def iam_broker(broker_factory, pki, tmp_path, extra=None):
    ov = {"ssl.keystore.location": pki.keystore, "sasl.enabled.mechanisms": "OAUTHBEARER",
          "kferry.msk.iam.credentials.file": keys_file(tmp_path / "iam-keys"),
          "kferry.msk.iam.region": REGION}
    ov.update(extra or {})
    return broker_factory(listeners={"IAM": "SASL_SSL"}, overrides=ov)


def iam_config(src, tgt, pki, jaas=None, extra=()):
    lines = [
        "clusters = onprem, msk",
        "onprem.bootstrap.servers = %s" % src.bootstrap,
        "msk.bootstrap.servers = %s" % tgt.bootstrap_of("IAM"),
    ] + MM2_IAM_LINES + [
        "msk.ssl.truststore.location = %s" % pki.ca_pem,  # MSK's certificates chain to a public CA
        "msk.aws.region = %s" % REGION,  # 127.0.0.1 does not name it
        "onprem->msk.enabled = true",
        "replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy",
        "replication.factor = 1",
        "refresh.topics.interval.seconds = 1",
        "kferry.map.persist.interval.ms = 200",
        "sync.group.offsets.interval.seconds = 1",
    ] + list(extra)
    if jaas:
        lines = [jaas if ln.startswith("msk.sasl.jaas.config") else ln for ln in lines]
    return "\n".join(lines) + "\n"


def clean_env(**kv):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/credentials"
    env["AWS_CONFIG_FILE"] = "/nonexistent/config"
    env.update(kv)
    return env


def run(args, cwd, env, timeout=180, expect=0):
    cp = subprocess.run([kferry_binary()] + args, cwd=cwd, capture_output=True, timeout=timeout,
                        env=env)
    assert cp.returncode == expect, "kferry %s exited %d:\n%s\n%s" % (
        " ".join(args), cp.returncode, cp.stdout.decode()[-3000:], cp.stderr.decode()[-3000:])
    return cp


def plan_json(cwd, env, expect=0):
    cp = run(["plan", "--config", "mm2.properties", "--json"], cwd, env, expect=expect)
    return json.loads(cp.stdout), cp


def profile_setup(tmp_path):
    """A shared credentials file whose default profile is wrong and whose
    profile 'prod' is the right one, chosen by awsProfileName."""
    creds = tmp_path / "aws-credentials"
    creds.write_text("[default]\naws_access_key_id = AKIAWRONGDEFAULT0001\n"
                     "aws_secret_access_key = not-this-one\n\n"
                     "[prod]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                     % (PROFILE_AKID, PROFILE_SECRET))
    jaas = ("msk.sasl.jaas.config = software.amazon.msk.auth.iam.IAMLoginModule required "
            "awsProfileName=\"prod\";")
    return clean_env(AWS_SHARED_CREDENTIALS_FILE=str(creds)), jaas


@pytest.mark.parametrize("creds", ["environment", "profile"])
def test_migration_into_iam_target(broker_factory, pki, tmp_path, creds):
    src = broker_factory()
    tgt = iam_broker(broker_factory, pki, tmp_path)
    if creds == "environment":
        env, jaas = clean_env(AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET), None
        akid, secret, principal = AKID, SECRET, "arn:aws:iam::123456789012:user/kferry-mirror"
        source = "environment variables"
    else:
        env, jaas = profile_setup(tmp_path)
        akid, secret = PROFILE_AKID, PROFILE_SECRET
        principal, source = "arn:aws:iam::123456789012:role/kferry-profile", "profile 'prod'"
    (tmp_path / "mm2.properties").write_text(iam_config(src, tgt, pki, jaas=jaas))
    cwd = str(tmp_path)
    apps = {}
    for topic, group in (("orders", "billing"), ("payments", "shipping")):
        cf_create_topic(src.bootstrap, topic, 3)
        apps[topic] = (SeqProducer(topic, rate=300).start(src.bootstrap),
                       SeqConsumer(topic, group).start(src.bootstrap))
    for _, c in apps.values():
        wait_until(lambda c=c: c.count() > 100, 60, "the application consuming on the source")

    doc, _ = plan_json(cwd, env)
    conn = doc["clusters"]["target"]["connection"]
    assert conn["result"] == "ok", conn
    assert "MSK IAM as access key %s" % akid in conn["message"], conn
    assert source in conn["message"], conn
    log = open(tmp_path / "mirror.stderr", "wb")
    mirror = subprocess.Popen([kferry_binary(), "mirror", "--config", "mm2.properties"], cwd=cwd,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                              start_new_session=True, env=env)
    moved = {}
    try:
        time.sleep(3)
        run(["status", "--config", "mm2.properties"], cwd, env)
        for p, c in apps.values():
            p.stop()
            c.stop()
        out = run(["cutover", "producers", "--config", "mm2.properties"], cwd, env).stdout.decode()
        assert "producers may write to msk" in out, out
        out = run(["cutover", "--config", "mm2.properties", "--group", "re:.*"], cwd,
                  env).stdout.decode()
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
    assert secret.encode() not in text
    for topic, (p, c) in apps.items():
        moved[topic] = SeqConsumer(topic, c.group).start(tgt.bootstrap)
        p.start(tgt.bootstrap)
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
    out = run(["verify", "--config", "mm2.properties"], cwd, env).stdout.decode()
    assert "RESULT: OK" in out, out
    # the broker saw the mirror's identity, and no refused token
    btext = tgt.stderr_text()
    assert principal in btext, btext[-3000:]
    assert secret not in btext


def verify_ok(cwd, env):
    cp = subprocess.run([kferry_binary(), "verify", "--config", "mm2.properties"], cwd=cwd,
                        env=env, capture_output=True, timeout=120)
    return cp.returncode == 0 and b"RESULT: OK" in cp.stdout


def test_wrong_secret_is_an_authentication_error(broker_factory, pki, tmp_path):
    src = broker_factory()
    tgt = iam_broker(broker_factory, pki, tmp_path)
    (tmp_path / "mm2.properties").write_text(iam_config(src, tgt, pki))
    cwd = str(tmp_path)
    env = clean_env(AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET + "-wrong")
    doc, cp = plan_json(cwd, env, expect=1)
    conn = doc["clusters"]["target"]["connection"]
    assert conn["result"] != "ok", conn
    auth = [c for c in doc["checks"] if c["check"] == "authentication" and
            c["status"] == "blocker"]
    assert auth and "msk" in auth[0]["message"], doc["checks"]
    out = cp.stdout.decode() + cp.stderr.decode()
    assert SECRET not in out
    assert "signature" in tgt.stderr_text().lower()
    # without any credentials: the chain says what it tried
    env = clean_env()
    doc, cp = plan_json(cwd, env, expect=1)
    conn = doc["clusters"]["target"]["connection"]
    assert conn["result"] != "ok", conn
    text = json.dumps(doc)
    assert "AWS_ACCESS_KEY_ID" in text or "environment" in text, conn


def test_temporary_credentials_refreshed_and_expired_sessions_survived(broker_factory, pki,
                                                                      tmp_path):
    """Instance-metadata credentials (IMDSv2 stand-in) that live 20 s, and a
    broker that closes every session after 4 s (kferry.msk.iam.session.max.ms,
    as MSK closes sessions whose credentials expired; librdkafka 2.0.2
    cannot re-authenticate): kferry fetches new credentials before the old
    expire, signs new tokens, reconnects, and the copy stays exact."""
    from aws_endpoints import AwsEndpoints
    keys = tmp_path / "iam-keys"
    ep = AwsEndpoints(expiry_s=20)

    def tell_broker(ak, sk, tok):  # MSK knows every key IAM issues; the emulation reads a file
        with open(keys, "a") as f:
            f.write("\n[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                    "aws_session_token = %s\n"
                    "principal = arn:aws:sts::123456789012:assumed-role/kferry-test-role/i-0abc\n"
                    % (ak, ak, sk, tok))
    ep.on_issue = tell_broker
    try:
        src = broker_factory()
        tgt = iam_broker(broker_factory, pki, tmp_path,
                         extra={"kferry.msk.iam.session.max.ms": "4000"})
        (tmp_path / "mm2.properties").write_text(iam_config(src, tgt, pki))
        cwd = str(tmp_path)
        env = clean_env(AWS_EC2_METADATA_SERVICE_ENDPOINT=ep.url)
        del env["AWS_EC2_METADATA_DISABLED"]
        topic = "imds.orders"
        cf_create_topic(src.bootstrap, topic, 3)
        p = SeqProducer(topic, rate=200).start(src.bootstrap)
        log = open(tmp_path / "mirror.stderr", "wb")
        mirror = subprocess.Popen([kferry_binary(), "mirror", "--config", "mm2.properties"],
                                  cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=log, start_new_session=True, env=env)
        try:
            # three credential lifetimes, many session expiries
            wait_until(lambda: len(ep.issued) >= 3, 90, "three sets of instance credentials")
            p.stop()
            wait_until(lambda: verify_ok(cwd, env), 120, "verify to pass", interval=2)
            assert mirror.poll() is None, open(tmp_path / "mirror.stderr").read()[-3000:]
            mirror.send_signal(signal.SIGTERM)
            assert mirror.wait(30) == 0
        finally:
            if mirror.poll() is None:
                mirror.kill()
                mirror.wait(10)
            log.close()
        # every record once, in order, on the target
        c = SeqConsumer(topic, "check-imds").start(tgt.bootstrap)
        wait_until(lambda: c.count() >= p.total(), 60, "the target's records")
        c.stop()
        assert_exact_sequence(merge(c), p)
        btext = tgt.stderr_text()
        assert btext.count("MSK IAM session of") >= 3, btext[-3000:]
        used = [ak for ak in ep.issued if ak in btext]
        assert len(used) >= 2, (used, btext[-3000:])
        # new credentials were fetched before the old ones expired: IMDSv2 token flow each time
        assert ep.requests(method="PUT"), ep.log[:3]
        mtext = open(tmp_path / "mirror.stderr").read()
        assert "instance metadata" in mtext, mtext[-3000:]
        for ak, v in ep.issued.items():
            assert v["secret"] not in mtext and v["token"] not in mtext
    finally:
        ep.close()
