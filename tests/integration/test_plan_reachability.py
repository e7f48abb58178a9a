"""`kferry plan`: reachability of every broker a cluster advertises.

The bootstrap address answers, but clients then connect to the addresses
the brokers advertise in Metadata (on MSK behind PrivateLink or a proxy
VPC: b-1...:14001, b-2...:14002, ...), and those may not resolve or connect
from where kferry runs.  Each kferry-broker here answers on its bootstrap
listener while advertising an address that fails one step: a `.invalid`
name (dns), a port nothing listens on (connect), the SASL listener
advertised at the plaintext port (authentication).  Each must be a
`broker_reachability` blocker naming the cluster, node id, host, port and
step, exit 1; a healthy pair (plaintext source, SCRAM target) lists every
broker as ok with its connect time.
"""

import json

from kf_util import cf_create_topic, unique
from test_mirror_util import write_config
from test_plan import checks, free_closed_port, plan_json, run_plan
from test_sasl import PW, SASL_CFG, add_user


def reach(doc, role):
    return doc["clusters"][role]["broker_reachability"]


def one_blocker(doc, alias):
    c = checks(doc, "broker_reachability", "blocker")
    assert len(c) == 1, doc["checks"]
    assert c[0]["cluster"] == alias and c[0]["object_type"] == "broker", c
    return c[0]


def assert_source_ok(doc, src):
    (e,) = reach(doc, "source")
    assert e["status"] == "ok" and e["failed_step"] is None and e["reason"] is None, e
    assert (e["host"], e["port"]) == ("127.0.0.1", src.port), e
    assert e["dns"]["ok"] and "127.0.0.1" in e["dns"]["addresses"], e
    assert e["connect"]["ok"] and e["connect"]["address"] == "127.0.0.1", e
    assert isinstance(e["connect"]["ms"], float) and 0 <= e["connect"]["ms"] < 3000, e
    # plaintext: no TLS or SASL step
    assert e["tls"] is None and e["authentication"] is None and e["handshake_ms"] is None, e
    ok = checks(doc, "broker_reachability", "ok")
    assert any(c["cluster"] == "src" and c["object"] == str(e["id"]) and
               "127.0.0.1:%d" % src.port in c["message"] and "TCP connect" in c["message"]
               for c in ok), ok


def test_unresolvable_advertised_host_is_a_dns_blocker(broker_factory, tmp_path):
    host = "b-2.kferry-test.invalid"
    src = broker_factory()
    tgt = broker_factory(overrides={"advertised.listeners": "PLAINTEXT://%s:14002" % host})
    cfg = write_config(tmp_path / "mm2.properties", src, tgt, extra={"replication.factor": "1"})
    cp, elapsed = run_plan(cfg, "--json", "--timeout", "3")
    assert cp.returncode == 1, cp.stdout.decode()[-4000:] + cp.stderr.decode()[-2000:]
    assert elapsed < 45, "plan took %.1fs with --timeout 3" % elapsed
    doc = json.loads(cp.stdout)
    # the bootstrap answered: the cluster itself is reachable
    assert doc["clusters"]["target"]["reachable"] is True
    assert doc["summary"]["exit_code"] == 1 and doc["summary"]["blockers"] >= 1
    c = one_blocker(doc, "dst")
    assert c["object"] == "1"
    assert "%s:14002" % host in c["message"] and "dns failed" in c["message"], c
    (e,) = reach(doc, "target")
    assert (e["id"], e["host"], e["port"]) == (1, host, 14002), e
    assert e["status"] == "blocker" and e["failed_step"] == "dns", e
    assert e["dns"]["ok"] is False and e["dns"]["addresses"] == [] and e["dns"]["error"], e
    assert e["connect"] is None and host in e["reason"], e
    assert_source_ok(doc, src)

    cp, _ = run_plan(cfg, "--timeout", "3")
    out = cp.stdout.decode()
    assert cp.returncode == 1, out
    assert "BROKERS" in out
    line = [x for x in out.splitlines() if "%s:14002" % host in x and "BLOCKER dns" in x]
    assert line, out


def test_refused_advertised_port_is_a_connect_blocker(broker_factory, tmp_path):
    closed = free_closed_port()
    src = broker_factory()
    tgt = broker_factory(overrides={"advertised.listeners": "PLAINTEXT://127.0.0.1:%d" % closed})
    cfg = write_config(tmp_path / "mm2.properties", src, tgt, extra={"replication.factor": "1"})
    cp, elapsed = run_plan(cfg, "--json", "--timeout", "3")
    assert cp.returncode == 1, cp.stdout.decode()[-4000:] + cp.stderr.decode()[-2000:]
    assert elapsed < 45, elapsed
    doc = json.loads(cp.stdout)
    c = one_blocker(doc, "dst")
    assert "127.0.0.1:%d" % closed in c["message"] and "connect failed" in c["message"], c
    (e,) = reach(doc, "target")
    assert (e["host"], e["port"], e["failed_step"]) == ("127.0.0.1", closed, "connect"), e
    assert e["dns"]["ok"] and e["dns"]["addresses"] == ["127.0.0.1"], e
    assert e["connect"]["ok"] is False and e["connect"]["ms"] is None, e
    (a,) = e["connect"]["attempts"]
    assert a["address"] == "127.0.0.1" and not a["ok"] and "refused" in a["error"].lower(), a
    assert "refused" in e["reason"].lower(), e
    assert_source_ok(doc, src)


def sasl_target(broker_factory, broker_binary, tmp_path, overrides=None):
    data = tmp_path / "sdata"
    add_user(broker_binary, data, "alice", PW, "SCRAM-SHA-512")
    ov = dict(SASL_CFG)
    ov.update(overrides or {})
    b = broker_factory(overrides=ov, data_dir=str(data),
                       listeners={"SASL_PLAINTEXT": "SASL_PLAINTEXT"})
    return b


def sasl_config(tmp_path, src, sasl_bootstrap):
    class Tgt:
        bootstrap = sasl_bootstrap

    return write_config(tmp_path / "mm2.properties", src, Tgt, extra={
        "replication.factor": "1",
        "dst.security.protocol": "SASL_PLAINTEXT",
        "dst.sasl.mechanism": "SCRAM-SHA-512",
        "dst.sasl.username": "alice",
        "dst.sasl.password": PW,
    })


def test_healthy_pair_lists_every_broker_ok(broker_factory, broker_binary, tmp_path):
    src = broker_factory()
    tgt = sasl_target(broker_factory, broker_binary, tmp_path)
    sasl_port = tgt.listener_ports["SASL_PLAINTEXT"]
    cf_create_topic(src.bootstrap, unique("orders"), 1)  # no topic at all is a blocker
    cfg = sasl_config(tmp_path, src, tgt.bootstrap_of("SASL_PLAINTEXT"))
    doc = plan_json(cfg, expect_rc=0)
    assert not checks(doc, "broker_reachability", "blocker")
    assert_source_ok(doc, src)
    (e,) = reach(doc, "target")
    assert (e["host"], e["port"], e["status"]) == ("127.0.0.1", sasl_port, "ok"), e
    assert e["connect"]["ok"] and isinstance(e["connect"]["ms"], float), e
    # SASL_PLAINTEXT: a login on that broker alone, no TLS
    assert e["tls"] is None, e
    assert e["authentication"] == {"ok": True, "mechanism": "SCRAM-SHA-512"}, e
    assert isinstance(e["handshake_ms"], float) and e["handshake_ms"] > 0, e
    assert e["diagnosis"] is None
    ok = [c for c in checks(doc, "broker_reachability", "ok") if c["cluster"] == "dst"]
    assert len(ok) == 1 and "127.0.0.1:%d" % sasl_port in ok[0]["message"], ok
    assert "SASL SCRAM-SHA-512" in ok[0]["message"], ok
    # source and target brokers: same host, different ports, separate entries
    both = reach(doc, "source") + reach(doc, "target")
    assert len({(x["host"], x["port"]) for x in both}) == 2

    cp, _ = run_plan(cfg)
    out = cp.stdout.decode()
    assert cp.returncode == 0, out
    section = out.split("BROKERS", 1)[1].split("\nTOPICS", 1)[0]
    assert "127.0.0.1:%d" % src.port in section and "127.0.0.1:%d" % sasl_port in section
    assert "BLOCKER" not in section and " ms " in section, section


def test_sasl_listener_advertised_at_plaintext_port_is_an_authentication_blocker(
        broker_factory, broker_binary, tmp_path):
    """The bootstrap (SASL listener) logs in; the address it advertises is
    the plaintext listener, where the login cannot happen."""
    src = broker_factory()
    tgt = sasl_target(broker_factory, broker_binary, tmp_path)
    tgt.overrides["advertised.listeners"] = "SASL_PLAINTEXT://127.0.0.1:%d" % tgt.port
    tgt.restart()  # same ports: the advertised plaintext port is known now
    cfg = sasl_config(tmp_path, src, tgt.bootstrap_of("SASL_PLAINTEXT"))
    cp, elapsed = run_plan(cfg, "--json", "--timeout", "3")
    assert cp.returncode == 1, cp.stdout.decode()[-4000:] + cp.stderr.decode()[-2000:]
    doc = json.loads(cp.stdout)
    assert doc["clusters"]["target"]["reachable"] is True
    c = one_blocker(doc, "dst")
    assert "127.0.0.1:%d" % tgt.port in c["message"], c
    assert "authentication failed" in c["message"], c
    (e,) = reach(doc, "target")
    assert e["failed_step"] == "authentication" and e["connect"]["ok"], e
    assert e["authentication"] == {"ok": False, "mechanism": "SCRAM-SHA-512"}, e
    assert e["diagnosis"]["result"].startswith("sasl_"), e
    assert "127.0.0.1:%d" % tgt.port in e["diagnosis"]["message"], e
    assert PW not in cp.stdout.decode()


def test_certificate_not_naming_the_advertised_host_is_a_tls_blocker(broker_factory,
                                                                     tmp_path_factory, tmp_path):
    """The certificate names 127.0.0.1 only: the bootstrap (127.0.0.1)
    verifies, the advertised name `localhost` reaches the same listener
    but fails hostname verification: step tls, diagnosed as a hostname
    mismatch (the retry without the hostname check succeeds)."""
    import os
    from kf_pki import Pki
    pki = Pki(str(tmp_path_factory.mktemp("pki")))
    server = pki.issue("broker", hosts=("127.0.0.1",))
    keystore = os.path.join(pki.dir, "broker.keystore.pem")
    with open(keystore, "w") as out:
        for f in (server.key, server.cert):
            out.write(open(f).read())
    src = broker_factory()
    cf_create_topic(src.bootstrap, unique("orders"), 1)
    tgt = broker_factory(overrides={"ssl.keystore.location": keystore},
                         listeners={"SSL": "SSL"})
    ssl_port = tgt.listener_ports["SSL"]
    tgt.overrides["advertised.listeners"] = "SSL://localhost:%d" % ssl_port
    tgt.restart()

    class Tgt:
        bootstrap = "127.0.0.1:%d" % ssl_port

    cfg = write_config(tmp_path / "mm2.properties", src, Tgt, extra={
        "replication.factor": "1", "dst.security.protocol": "SSL",
        "dst.ssl.ca.location": pki.ca_pem})
    cp, _ = run_plan(cfg, "--json", "--timeout", "4")
    assert cp.returncode == 1, cp.stdout.decode()[-4000:] + cp.stderr.decode()[-2000:]
    doc = json.loads(cp.stdout)
    assert doc["clusters"]["target"]["reachable"] is True
    assert doc["clusters"]["target"]["connection"]["result"] == "ok"
    c = one_blocker(doc, "dst")
    assert "localhost:%d" % ssl_port in c["message"] and "tls failed" in c["message"], c
    (e,) = reach(doc, "target")
    assert (e["host"], e["port"], e["failed_step"]) == ("localhost", ssl_port, "tls"), e
    assert e["connect"]["ok"] and e["tls"] == {"ok": False}, e
    assert e["authentication"] is None, e
    assert e["diagnosis"]["result"] == "tls_hostname_mismatch", e
    assert "localhost:%d" % ssl_port in e["diagnosis"]["message"], e
