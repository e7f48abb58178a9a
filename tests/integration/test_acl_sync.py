"""`kferry acls plan|apply`: a planted set of source ACLs (made with Kafka's
own kafka-acls.sh on kferry-brokers with an authorizer) gives exactly the
expected target ACLs: topic ACLs expanded to the mirrored topics and
renamed by the replication policy, DENYs carried, group ACLs kept,
principals mapped, cluster ACLs skipped with a reason.  plan changes
nothing; apply creates them; a second apply creates nothing; the consumer
phase holds back WRITE rights.  Checked on the target with kafka-acls.sh.
"""

import json
import subprocess

from kf_util import cf_create_topic
from test_acls import AUTHORIZER, acls, list_acls
from test_admin_apis import tool  # noqa: F401
from test_mirror_util import kferry_binary, write_config

SECURED = {"authorizer.class.name": AUTHORIZER, "super.users": "User:ANONYMOUS",
           "allow.everyone.if.no.acl.found": "false"}


def kferry(*args, expect=0):
    cp = subprocess.run([kferry_binary()] + list(args), capture_output=True, text=True,
                        timeout=120)
    assert cp.returncode == expect, "kferry %s: %d\n%s\n%s" % (args, cp.returncode, cp.stdout,
                                                              cp.stderr)
    return cp


def as_set(entries):
    return {(e["resource_type"], e["name"], e["pattern"], e["principal"], e["host"],
             e["operation"], e["permission"]) for e in entries}


def test_plan_then_apply_exact(broker_factory, tool, tmp_path):
    src, tgt = broker_factory(overrides=SECURED), broker_factory(overrides=SECURED)
    for t in ("orders", "payments", "pay-eu", "internal-audit"):
        cf_create_topic(src.bootstrap, t, 1)
    acls(tool, src, "--add", "--allow-principal", "User:alice", "--operation", "Read",
         "--topic", "orders", "--topic", "internal-audit", "--group", "billing")
    acls(tool, src, "--add", "--allow-principal", "User:bob", "--operation", "Write",
         "--topic", "pay", "--resource-pattern-type", "prefixed")
    acls(tool, src, "--add", "--deny-principal", "User:eve", "--deny-host", "10.0.0.1",
         "--operation", "Read", "--topic", "*")
    acls(tool, src, "--add", "--allow-principal", "User:ops", "--operation", "Alter",
         "--cluster")
    cfg = write_config(tmp_path / "mm2.properties", src, tgt, extra={
        "topics": "orders, pay.*", "kferry.acl.principal.map": "User:alice=User:alice-msk"})
    plan = json.loads(kferry("acls", "plan", "--config", cfg, "--json").stdout)
    topics = ["src.orders", "src.payments", "src.pay-eu"]
    want = {("TOPIC", "src.orders", "LITERAL", "User:alice-msk", "*", "READ", "ALLOW"),
            ("TOPIC", "src.payments", "LITERAL", "User:bob", "*", "WRITE", "ALLOW"),
            ("TOPIC", "src.pay-eu", "LITERAL", "User:bob", "*", "WRITE", "ALLOW"),
            ("GROUP", "billing", "LITERAL", "User:alice-msk", "*", "READ", "ALLOW")}
    want |= {("TOPIC", t, "LITERAL", "User:eve", "10.0.0.1", "READ", "DENY") for t in topics}
    assert as_set(plan["desired"]) == want
    assert as_set(plan["to_create"]) == want and plan["present"] == []
    skipped = {(e["resource_type"], e["name"], e["principal"]): e["reason"]
               for e in plan["skipped"]}
    assert set(skipped) == {("CLUSTER", "kafka-cluster", "User:ops"),
                            ("TOPIC", "internal-audit", "User:alice")}, skipped
    assert "cluster-wide" in skipped[("CLUSTER", "kafka-cluster", "User:ops")]
    assert len(plan["source_acls"]) == 6
    assert list_acls(tool, tgt) == set()  # plan changed nothing
    # the consumer phase: no WRITE yet
    out = kferry("acls", "apply", "--config", cfg, "--phase", "consumers", "--json").stdout
    first = json.loads(out)
    consumer_set = {w for w in want if w[5] != "WRITE"}
    assert as_set(first["created"]) == consumer_set
    assert first["waiting_for_producer_phase"] == 2
    # then everything; only the WRITE ACLs are new
    out = kferry("acls", "apply", "--config", cfg).stdout
    assert "2 created" in out, out
    got = {(r, n, p.upper(), pr, h, op.upper(), perm.upper())
           for r, n, p, pr, h, op, perm in list_acls(tool, tgt)}
    assert got == want, got ^ want
    again = json.loads(kferry("acls", "apply", "--config", cfg, "--json").stdout)
    assert again["created"] == [] and again["to_create"] == []
    assert as_set(again["present"]) == want


def test_errors_are_clear(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory(overrides=SECURED)
    cfg = write_config(tmp_path / "mm2.properties", src, tgt)
    # librdkafka 2.0.2 reports a cluster without authorizer as one without ACLs
    cp = kferry("acls", "plan", "--config", cfg)
    assert "0 ACL(s) on the source" in cp.stdout, cp.stdout
    dead = broker_factory()
    dead.stop()
    cfg2 = write_config(tmp_path / "dead.properties", src, dead)
    cp = kferry("acls", "plan", "--config", cfg2, expect=1)
    assert "dst" in cp.stderr and dead.bootstrap in cp.stderr, cp.stderr
    bad = write_config(tmp_path / "bad.properties", tgt, tgt, extra={
        "kferry.acl.principal.map": "User:a=User:x,User:b=User:x"})
    cp = kferry("acls", "plan", "--config", bad, expect=1)
    assert "mapped twice" in cp.stderr, cp.stderr
    cp = kferry("acls", "frobnicate", expect=2)
    assert "expected 'plan' or 'apply'" in cp.stderr
    cp = kferry("acls", "plan", "--config", cfg, "--phase", "sometimes", expect=2)
    assert "--phase expects" in cp.stderr


def test_mirror_syncs_acls_when_enabled(broker_factory, tool, tmp_path):
    """sync.topic.acls.enabled=true: the running mirror creates the target's
    ACLs, including those of a topic ACL added while it runs."""
    from kf_util import wait_until
    from test_mirror_util import KferryProc
    src, tgt = broker_factory(overrides=SECURED), broker_factory(overrides=SECURED)
    cf_create_topic(src.bootstrap, "orders", 1)
    acls(tool, src, "--add", "--allow-principal", "User:alice", "--operation", "Read",
         "--topic", "orders")
    cfg = write_config(tmp_path / "mm2.properties", src, tgt, identity=True, extra={
        "sync.topic.acls.enabled": "true", "sync.topic.acls.interval.seconds": "2"})
    kf = KferryProc(cfg, tmp_path).start()
    try:
        want = {("Topic", "orders", "LITERAL", "User:alice", "*", "READ", "ALLOW")}

        def target_acls():
            return {(r, n, p.upper(), pr, h, op.upper(), perm.upper())
                    for r, n, p, pr, h, op, perm in list_acls(tool, tgt)}
        wait_until(lambda: {a[1:] for a in target_acls()} == {w[1:] for w in want}, 60,
                   "the mirror to sync the ACL", interval=1)
        acls(tool, src, "--add", "--allow-principal", "User:bob", "--operation", "Write",
             "--topic", "orders")
        wait_until(lambda: ("orders", "LITERAL", "User:bob", "*", "WRITE", "ALLOW") in
                   {a[1:] for a in target_acls()}, 60, "the new ACL synced", interval=1)
        assert "ACL sync: created 1 ACL(s)" in kf.log_text()
    finally:
        kf.stop(expect=0)


def test_consumers_authorized_on_source_are_on_target_and_nobody_else(
        broker_factory, broker_binary, tool, tmp_path):
    """Both clusters take SCRAM logins; alice may consume 'orders' in group
    'billing' on the source, bob may not.  After kferry mirrors and syncs the
    ACLs, the same holds on the target, record for record."""
    import confluent_kafka as ck
    import time
    from kf_util import cf_produce, wait_until
    from test_mirror_util import KferryProc
    from test_sasl import add_user
    pw = "sync-pw-1234"
    brokers = []
    for name in ("s", "t"):
        data = tmp_path / name
        for u in ("alice", "bob"):
            add_user(broker_binary, data, u, pw, "SCRAM-SHA-512")
        ov = dict(SECURED, **{"sasl.enabled.mechanisms": "SCRAM-SHA-512"})
        brokers.append(broker_factory(overrides=ov, data_dir=str(data),
                                      listeners={"SASL_PLAINTEXT": "SASL_PLAINTEXT"}))
    src, tgt = brokers
    cf_create_topic(src.bootstrap, "orders", 2)
    cf_produce(src.bootstrap, "orders", [dict(value=b"o%d" % i) for i in range(50)])
    acls(tool, src, "--add", "--allow-principal", "User:alice", "--operation", "Read",
         "--topic", "orders", "--group", "billing")
    cfg = write_config(tmp_path / "mm2.properties", src, tgt, identity=True, extra={
        "topics": "orders"})
    kf = KferryProc(cfg, tmp_path).start()
    try:
        wait_until(lambda: kf.status().get("total_lag_records") == 0, 60, "mirrored",
                   interval=0.5)
    finally:
        kf.stop(expect=0)
    kferry("acls", "apply", "--config", cfg)

    def consume(b, user):
        c = ck.Consumer({"bootstrap.servers": b.bootstrap_of("SASL_PLAINTEXT"),
                         "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
                         "sasl.username": user, "sasl.password": pw, "group.id": "billing",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
        c.subscribe(["orders"])
        got, errs, deadline = [], set(), time.time() + 20
        while time.time() < deadline and len(got) < 50 and not errs:
            m = c.poll(0.5)
            if m is not None:
                (errs.add(m.error().code()) if m.error() else got.append(m.value()))
        c.close()
        return sorted(got), errs

    want = sorted(b"o%d" % i for i in range(50))
    for b in (src, tgt):
        assert consume(b, "alice") == (want, set()), b.name
        got, errs = consume(b, "bob")
        assert got == [] and errs & {ck.KafkaError.GROUP_AUTHORIZATION_FAILED,
                                     ck.KafkaError.TOPIC_AUTHORIZATION_FAILED}, (b.name, errs)


def test_cutover_moves_rights_with_the_clients(broker_factory, tool, tmp_path):
    """With sync.topic.acls.enabled, `kferry cutover --group` first creates
    the consumer rights on the target (no WRITE), `kferry cutover producers`
    the write rights."""
    from kf_util import cf_consumer, cf_produce, wait_until
    from test_mirror_util import KferryProc
    src, tgt = broker_factory(overrides=SECURED), broker_factory(overrides=SECURED)
    cf_create_topic(src.bootstrap, "orders", 1)
    cf_produce(src.bootstrap, "orders", [dict(value=b"v%d" % i) for i in range(20)])
    c = cf_consumer(src.bootstrap, group="billing", auto_offset_reset="earliest")
    c.subscribe(["orders"])
    n = 0
    while n < 20:
        m = c.poll(5)
        assert m is not None
        n += not m.error()
    c.commit(asynchronous=False)
    c.close()
    acls(tool, src, "--add", "--allow-principal", "User:alice", "--operation", "Read",
         "--operation", "Write", "--topic", "orders")
    acls(tool, src, "--add", "--allow-principal", "User:alice", "--operation", "Read",
         "--group", "billing")
    mcfg = write_config(tmp_path / "mirror.properties", src, tgt, identity=True)
    ccfg = write_config(tmp_path / "cutover.properties", src, tgt, identity=True,
                        extra={"sync.topic.acls.enabled": "true"})
    kf = KferryProc(mcfg, tmp_path).start()

    def ops():
        return {(n, op.upper()) for _, n, _, _, _, op, _ in list_acls(tool, tgt)}
    try:
        wait_until(lambda: kf.status().get("total_lag_records") == 0, 60, "mirrored",
                   interval=0.5)
        out = kferry("cutover", "--config", ccfg, "--group", "billing").stdout
        assert "cutover of group billing" in out, out
        assert ops() == {("orders", "READ"), ("billing", "READ")}
        kferry("cutover", "producers", "--config", ccfg, "--quiet-seconds", "1")
        assert ops() == {("orders", "READ"), ("billing", "READ"), ("orders", "WRITE")}
    finally:
        kf.stop(expect=0)


IAM_ARN = "arn:aws:kafka:us-east-1:111122223333:cluster/target/0a1b2c3d-4"


def test_iam_policies_for_an_msk_iam_target(broker_factory, tool, tmp_path):
    """`kferry acls plan --iam-policy`: the MSK IAM policy of every
    (mapped) principal equivalent to the source's ACLs, with the target's
    topic names; DENY as Deny; host-limited ALLOWs left out.  MSK does not
    apply Kafka ACLs to IAM identities, so this is what an IAM target needs."""
    src, tgt = broker_factory(overrides=SECURED), broker_factory(overrides=SECURED)
    for t in ("orders", "payments", "pay-eu", "internal-audit"):
        cf_create_topic(src.bootstrap, t, 1)
    acls(tool, src, "--add", "--allow-principal", "User:alice", "--operation", "Read",
         "--topic", "orders", "--group", "billing")
    acls(tool, src, "--add", "--allow-principal", "User:bob", "--operation", "Write",
         "--topic", "pay", "--resource-pattern-type", "prefixed")
    acls(tool, src, "--add", "--deny-principal", "User:eve", "--deny-host", "10.0.0.1",
         "--operation", "Read", "--topic", "*")
    acls(tool, src, "--add", "--allow-principal", "User:ops", "--operation", "Alter",
         "--operation", "IdempotentWrite", "--cluster")
    acls(tool, src, "--add", "--allow-principal", "User:carol", "--allow-host", "10.0.0.9",
         "--operation", "Read", "--topic", "payments")
    cfg = write_config(tmp_path / "mm2.properties", src, tgt, extra={
        "topics": "orders, pay.*", "kferry.acl.principal.map": "User:alice=User:alice-msk"})

    # a target that does not use MSK IAM, no flag: no IAM member
    plain = json.loads(kferry("acls", "plan", "--config", cfg, "--json").stdout)
    assert "iam_policies" not in plain

    out = kferry("acls", "plan", "--config", cfg, "--json", "--iam-policy",
                 "--msk-cluster-arn", IAM_ARN).stdout
    iam = json.loads(out)["iam_policies"]
    p = "arn:aws:kafka:us-east-1:111122223333:"
    c = IAM_ARN

    def topic(n):
        return p + "topic/target/0a1b2c3d-4/" + n

    def st(effect, actions, resources):
        return {"Effect": effect, "Action": ["kafka-cluster:" + a for a in actions],
                "Resource": resources}

    def doc(*stmts):
        return {"Version": "2012-10-17", "Statement": list(stmts)}

    connect = st("Allow", ["Connect"], [c])
    want = [
        ("User:alice-msk", doc(connect, st("Allow", ["DescribeTopic", "ReadData"],
                                           [topic("src.orders")]),
                               st("Allow", ["AlterGroup", "DescribeGroup"],
                                  [p + "group/target/0a1b2c3d-4/billing"]))),
        ("User:bob", doc(connect, st("Allow", ["DescribeTopic", "WriteData"],
                                     [topic("src.pay*")]))),
        ("User:eve", doc(connect, st("Deny", ["ReadData"], [topic("src.*")]))),
        ("User:ops", doc(st("Allow", ["AlterCluster", "Connect", "DescribeCluster",
                                      "WriteDataIdempotently"], [c]))),
    ]
    assert [(x["principal"], x["policy"]) for x in iam["policies"]] == want, \
        json.dumps(iam, indent=1)
    assert iam["cluster_arn"] == IAM_ARN and iam["placeholders"] is False
    notes = {x["principal"]: x["notes"] for x in iam["policies"]}
    assert any("every host" in n for n in notes["User:eve"]), notes
    assert notes["User:ops"] == [] and notes["User:alice-msk"] == []
    nm = {(x["principal"], x["name"], x["host"]) for x in iam["not_mapped"]}
    assert nm == {("User:carol", "payments", "10.0.0.9")}, iam["not_mapped"]

    # the text form: placeholders without an ARN, each policy pasteable JSON
    text = kferry("acls", "plan", "--config", cfg, "--iam-policy").stdout
    assert "--msk-cluster-arn" in text and "<region>" in text, text
    at = text.index("# User:ops\n")
    pol, _ = json.JSONDecoder().raw_decode(text, text.index("{", at))
    assert pol == doc(st("Allow", ["AlterCluster", "Connect", "DescribeCluster",
                                   "WriteDataIdempotently"],
                         ["arn:aws:kafka:<region>:<account>:cluster/"
                          "<cluster-name>/<cluster-uuid>"]))
    assert list_acls(tool, tgt) == set()  # plan changed nothing

    cp = kferry("acls", "plan", "--config", cfg, "--msk-cluster-arn", "prod", expect=2)
    assert "not an MSK cluster ARN" in cp.stderr, cp.stderr
