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
