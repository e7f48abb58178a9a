"""Secrets never leak: canary passwords are planted in every place a user
puts one (a SCRAM password in sasl.jaas.config, the password of an
encrypted client key, the broker's SCRAM credential), then every output
kferry and kferry-broker produce is scanned for them: stdout and stderr of
each command (human and --json), the mirror's log, `status --json`,
/metrics and the web view's page and APIs, /proc/PID/cmdline of every process, and every file either
broker or kferry wrote.
"""

import os
import socket
import subprocess
import time
import urllib.request

from kf_pki import PASSWORD, Pki
from kf_util import cf_create_topic, cf_produce, wait_until
from test_mirror_util import KferryProc, kferry_binary
from test_sasl import add_user

CANARY_SCRAM = "CANARY-scram-7f3a9c"
CANARY_KEY = "CANARY-keypw-2b8e51"
CANARY_WRONG = "CANARY-wrong-d41d8c"
CANARIES = (CANARY_SCRAM, CANARY_KEY, CANARY_WRONG)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def assert_clean(what, data):
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    for c in CANARIES:
        assert c not in data, "%s contains the secret %s:\n%s" % (what, c, data[-3000:])


def scan_tree(root):
    for d, _, files in os.walk(str(root)):
        for f in files:
            path = os.path.join(d, f)
            if path.endswith((".key.enc.pem", "mm2.properties", "wrong.properties", "bad.properties")):
                continue  # the user's own secret files
            with open(path, "rb") as fh:
                assert_clean(path, fh.read())


def test_canaries_found_nowhere(broker_factory, broker_binary, tmp_path):
    pki = Pki(str(tmp_path / "pki"))
    server = pki.issue("broker")
    client = pki.issue("kferry", client=True, subject="/CN=kferry")
    enc_key = str(tmp_path / "pki" / "kferry.key.enc.pem")
    subprocess.run(["openssl", "pkcs8", "-topk8", "-in", client.key, "-out", enc_key,
                    "-passout", "pass:" + CANARY_KEY, "-v2", "aes-256-cbc"], check=True)
    keystore = str(tmp_path / "broker.keystore.pem")
    with open(keystore, "w") as out:
        out.write(open(server.key).read() + open(server.cert).read())
    data = tmp_path / "srcdata"
    add_user(broker_binary, data, "mirror", CANARY_SCRAM, "SCRAM-SHA-512")
    src = broker_factory(data_dir=str(data), listeners={"SASL_SSL": "SASL_SSL"}, overrides={
        "ssl.keystore.location": keystore, "sasl.enabled.mechanisms": "SCRAM-SHA-512"})
    tgt = broker_factory(listeners={"SSL": "SSL"}, overrides={
        "ssl.keystore.location": keystore, "ssl.truststore.location": pki.ca_pem,
        "ssl.client.auth": "required"})
    topic = cf_create_topic(src.bootstrap, "secret-topic", 2)
    cf_produce(src.bootstrap, topic, [dict(value=b"v%d" % i) for i in range(200)])
    mport = free_port()

    def config(path, pw):
        path.write_text("\n".join([
            "clusters = a, b",
            "a.bootstrap.servers = %s" % src.bootstrap_of("SASL_SSL"),
            "a.security.protocol = SASL_SSL",
            "a.sasl.mechanism = SCRAM-SHA-512",
            "a.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule "
            "required username=\"mirror\" password=\"%s\";" % pw,
            "a.ssl.ca.location = %s" % pki.ca_pem,
            "b.bootstrap.servers = %s" % tgt.bootstrap_of("SSL"),
            "b.security.protocol = SSL",
            "b.ssl.ca.location = %s" % pki.ca_pem,
            "b.ssl.certificate.location = %s" % client.cert,
            "b.ssl.key.location = %s" % enc_key,
            "b.ssl.key.password = %s" % CANARY_KEY,
            "a->b.enabled = true",
            "replication.factor = 1",
            "refresh.topics.interval.seconds = 1",
            "kferry.status.interval.seconds = 1",
            "kferry.map.persist.interval.ms = 200",
            "kferry.metrics.port = %d" % mport,
        ]) + "\n")
        return str(path)

    cfg = config(tmp_path / "mm2.properties", CANARY_SCRAM)
    outputs = []

    def run(*args, cfgpath=cfg, ok=(0, 1)):
        cp = subprocess.run([kferry_binary()] + list(args) + ["--config", cfgpath],
                            capture_output=True, timeout=120)
        assert cp.returncode in ok, "kferry %s: %d\n%s" % (args, cp.returncode,
                                                            cp.stderr.decode()[-3000:])
        outputs.append(("kferry %s" % " ".join(args), cp.stdout + cp.stderr))
        return cp

    run("plan")
    run("plan", "--json")
    kf = KferryProc(cfg, tmp_path).start()
    try:
        wait_until(lambda: kf.status().get("total_lag_records") == 0, 90, "the mirror caught up",
                   interval=0.5)
        run("status")
        run("status", "--json")
        run("offsets", "dump")
        for path in ("/metrics", "/", "/app.js", "/api/status", "/api/lag-history"):
            body = urllib.request.urlopen("http://127.0.0.1:%d%s" % (mport, path),
                                          timeout=30).read()
            outputs.append((path, body))
        for name, pid in (("kferry mirror", kf.proc.pid), ("source broker", src.proc.pid),
                          ("target broker", tgt.proc.pid)):
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                outputs.append(("/proc/%d/cmdline (%s)" % (pid, name), f.read()))
            with open("/proc/%d/environ" % pid, "rb") as f:
                outputs.append(("/proc/%d/environ (%s)" % (pid, name), f.read()))
        run("verify")
        run("verify", "--json")
    finally:
        kf.stop(expect=0)
    # A wrong password: the failure is reported without the password.
    wrong = config(tmp_path / "wrong.properties", CANARY_WRONG)
    cp = run("plan", cfgpath=wrong, ok=(0, 1, 2))
    assert cp.returncode != 0 or b"auth" in (cp.stdout + cp.stderr).lower()
    # config-reference and --help mention no secret either (trivially), and
    # a config error echoes no value of a secret key.
    bad = tmp_path / "bad.properties"
    bad.write_text(open(cfg).read() + "a.sasl.jaas.config.extra = %s\n" % CANARY_WRONG +
                   "b.ssl.key.password.typo = %s\n" % CANARY_WRONG)
    cp = subprocess.run([kferry_binary(), "plan", "--config", str(bad)], capture_output=True,
                        timeout=60)
    outputs.append(("kferry plan (bad config)", cp.stdout + cp.stderr))
    for what, data in outputs:
        assert_clean(what, data)
    assert_clean("kferry mirror log", kf.log_text())
    for b in (src, tgt):
        assert_clean("%s stderr" % b.name, b.stderr_text())
    scan_tree(tmp_path)  # every file: broker data dirs, kferry's state, logs
