"""`kferry acls plan|apply` between real Kafka 4.0 clusters (both run
StandardAuthorizer): ACLs planted on the source with kafka-acls.sh come out
on the target exactly as expected, renamed by DefaultReplicationPolicy;
apply twice creates nothing.  Principals are unique to this test so the
shared clusters' other ACLs do not matter."""

import json
import subprocess

from kf_util import cf_create_topic
from test_acls import list_acls
from test_admin_apis import tool  # noqa: F401
from test_mirror_util import kferry_binary


def kferry(*args, expect=0):
    cp = subprocess.run([kferry_binary()] + list(args), capture_output=True, text=True,
                        timeout=180)
    assert cp.returncode == expect, "kferry %s: %d\n%s\n%s" % (args, cp.returncode,
                                                              cp.stdout[-3000:], cp.stderr[-3000:])
    return cp


def test_acl_sync_real(real, ns, tool, tmp_path):
    src, tgt = real.src, real.tgt
    alice, bob = "User:%s-alice" % ns.prefix, "User:%s-bob" % ns.prefix
    orders, pay = ns.topic("orders"), ns.topic("pay")
    for t in (orders, pay):
        cf_create_topic(src.bootstrap, t, 1)
    group = ns.group("billing")
    tool("kafka-acls", "--bootstrap-server", src.bootstrap, "--add", "--allow-principal", alice,
         "--operation", "Read", "--topic", orders, "--group", group)
    tool("kafka-acls", "--bootstrap-server", src.bootstrap, "--add", "--deny-principal", bob,
         "--operation", "Write", "--topic", ns.prefix, "--resource-pattern-type", "prefixed")
    cfg = ns.config(tmp_path / "mm2.properties", extra={
        "kferry.acl.principal.map": "%s=%s-msk" % (alice, alice)})
    plan = json.loads(kferry("acls", "plan", "--config", cfg, "--json").stdout)
    mine = [e for e in plan["desired"] if ns.prefix in e["principal"]]
    got = {(e["resource_type"], e["name"], e["principal"], e["operation"], e["permission"])
           for e in mine}
    want = {("TOPIC", ns.target_topic("orders"), alice + "-msk", "READ", "ALLOW"),
            ("GROUP", group, alice + "-msk", "READ", "ALLOW"),
            ("TOPIC", ns.target_topic("orders"), bob, "WRITE", "DENY"),
            ("TOPIC", ns.target_topic("pay"), bob, "WRITE", "DENY")}
    assert got == want, got ^ want

    def on_target():
        out = set()
        for p in (alice + "-msk", bob):
            for r, n, pat, pr, h, op, perm in list_acls(tool, tgt, "--principal", p):
                out.add((r.upper(), n, pr, op.upper(), perm.upper()))
        return out

    assert on_target() == set()  # plan changed nothing
    kferry("acls", "apply", "--config", cfg)
    assert on_target() == want
    again = json.loads(kferry("acls", "apply", "--config", cfg, "--json").stdout)
    assert [e for e in again["created"] if ns.prefix in e["principal"]] == []
