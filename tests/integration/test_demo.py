"""`kferry demo` is the README's first command: it must run a whole migration
on a fresh machine, exit 0 and end with the verification report; and Ctrl-C
must leave nothing behind."""

import os
import signal
import subprocess
import time

import pytest


@pytest.fixture
def kferry_binary(broker_binary):
    path = os.path.join(os.path.dirname(broker_binary), "kferry")
    if not os.path.exists(path):
        pytest.fail("kferry binary not found next to kferry-broker: %s" % path)
    return path


def test_demo_runs_a_verified_migration(kferry_binary, tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    p = subprocess.run([kferry_binary, "demo", "--rate", "300"], env=env, capture_output=True,
                       text=True, timeout=600)
    out = p.stdout
    assert p.returncode == 0, "demo failed (%d)\nstdout:\n%s\nstderr:\n%s" % (
        p.returncode, out[-6000:], p.stderr[-4000:])
    for step in ("[1/7]", "[3/7] kferry plan", "[4/7] kferry mirror", "[5/7] cutover of consumers",
                 "[6/7] cutover of producers", "[7/7] kferry verify"):
        assert step in out
    assert "RESULT: OK" in out
    assert "missing:                   0" in out
    assert "consumed twice:            0" in out
    assert out.rstrip().endswith("migration verified: nothing lost, nothing duplicated")
    assert os.listdir(tmp_path) == [], "demo left files behind: %s" % os.listdir(tmp_path)


def test_demo_ctrl_c_cleans_up(kferry_binary, tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    p = subprocess.Popen([kferry_binary, "demo"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    # Wait until the mirror step has started, then interrupt.
    deadline = time.monotonic() + 120
    seen = ""
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        seen += line
        if "[4/7]" in line:
            break
    assert "[4/7]" in seen, seen
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=90)
    assert p.returncode == 130, (p.returncode, out[-3000:], err[-3000:])
    assert "interrupted" in out
    assert os.listdir(tmp_path) == []
    # No broker or mirror of the demo survives it.
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(tmp_path) not in ps


def test_demo_secure(kferry_binary, tmp_path):
    """--secure: the source takes only SASL_SSL/SCRAM-SHA-512, the target only
    mutual TLS; the same verified migration, and no password of the demo's
    in its output."""
    env = dict(os.environ, TMPDIR=str(tmp_path))
    p = subprocess.run([kferry_binary, "demo", "--secure", "--rate", "300", "--keep"], env=env,
                       capture_output=True, text=True, timeout=600)
    out = p.stdout
    assert p.returncode == 0, "demo --secure failed (%d)\nstdout:\n%s\nstderr:\n%s" % (
        p.returncode, out[-6000:], p.stderr[-4000:])
    assert "(SASL_SSL, SCRAM-SHA-512 only)" in out and "client certificates required" in out
    # ACLs on both sides; the application's rights are synced by kferry
    assert "3 ACL(s) on the source, 3 wanted on the target, 0 already there, 3 to create" in out
    assert "ACL sync (producers phase): 0 created, 3 already on cloud" in out + p.stderr
    assert "RESULT: OK" in out
    assert out.rstrip().endswith("kept %s (brokers' data, logs and mm2.properties)" %
                                 os.path.join(str(tmp_path), os.listdir(tmp_path)[0]))
    assert "missing:                   0" in out and "consumed twice:            0" in out
    (d,) = os.listdir(tmp_path)
    d = os.path.join(str(tmp_path), d)
    secrets = []
    for name in os.listdir(os.path.join(d, "secrets")):
        path = os.path.join(d, "secrets", name)
        assert os.stat(path).st_mode & 0o077 == 0, "%s is readable by others" % path
        secrets.append(open(path).read().strip())
    assert len(secrets) == 2 and all(len(s) == 32 for s in secrets)
    assert os.stat(os.path.join(d, "mm2.properties")).st_mode & 0o077 == 0
    conf = open(os.path.join(d, "mm2.properties")).read()
    assert "onprem.security.protocol = SASL_SSL" in conf and "cloud.security.protocol = SSL" in conf
    logs = "".join(open(os.path.join(d, f), errors="replace").read()
                   for f in os.listdir(d) if f.endswith(".log"))
    for s in secrets:
        assert s not in out and s not in p.stderr and s not in logs
    # Both brokers refused nothing: kferry and the application logged in.
    assert "authentication failed" not in logs
    assert not [ln for ln in logs.splitlines() if "WARN" in ln and "TLS" in ln]
