"""docs/MIGRATION.md's stop-the-world walkthrough, executed as written
(issue 13, "Done when").

The configuration is the guide's own block with the addresses of two local
kferry-brokers (its SASL lines dropped and replication.factor lowered to the
one broker these clusters have); every `kferry ...` command of sections 1,
2, 3 (stop-the-world) and 4 is taken from the guide's text and run verbatim,
in the guide's order, from the directory holding mm2.properties.  The
application (two topics, two consumer groups, per-partition sequence
numbers) must continue on the target with nothing lost and nothing read
twice.  If the guide changes, this test runs the new text.
"""

import os
import re
import shlex
import signal
import subprocess
import time

from kf_util import cf_create_topic, wait_until
from test_cutover import SeqConsumer, SeqProducer, assert_exact_sequence, merge
from test_mirror_util import kferry_binary

GUIDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                     "MIGRATION.md")


def section(text, heading):
    start = text.index(heading)
    rest = text[start + len(heading):]
    ends = [m.start() for m in re.finditer(r"^#{2,3} ", rest, re.M)]
    return rest[:ends[0]] if ends else rest


def commands(text):
    """The `kferry ...` commands of a piece of the guide, in order: from
    ```sh blocks (comments dropped) and from inline backticks."""
    out = []
    for m in re.finditer(r"```sh\n(.*?)```|`(kferry [^`]+)`", text, re.S):
        if m.group(1):
            for line in m.group(1).splitlines():
                line = line.split("#")[0].strip()
                if line.startswith("kferry "):
                    out.append(line)
        else:
            out.append(m.group(2))
    return out


def guide_config(text, src, tgt):
    block = re.search(r"```properties\n(.*?)```", section(text, "## 0. The configuration"),
                      re.S).group(1)
    lines = []
    for line in block.splitlines():
        key = line.split("=")[0].strip()
        if key == "onprem.bootstrap.servers":
            line = "onprem.bootstrap.servers = %s" % src.bootstrap
        elif key == "msk.bootstrap.servers":
            line = "msk.bootstrap.servers = %s" % tgt.bootstrap
        elif key.startswith("msk.s"):  # msk.security.protocol, msk.sasl.*: not on these brokers
            continue
        elif key == "replication.factor":
            line = "replication.factor = 1"  # one broker per cluster here
        lines.append(line)
    # quicker intervals than production defaults, so the test is short
    lines += ["refresh.topics.interval.seconds = 1", "kferry.map.persist.interval.ms = 200",
              "sync.group.offsets.interval.seconds = 1"]
    return "\n".join(lines) + "\n"


def run(cmd, cwd, timeout=180):
    argv = shlex.split(cmd)
    assert argv[0] == "kferry"
    cp = subprocess.run([kferry_binary()] + argv[1:], cwd=cwd, capture_output=True,
                        timeout=timeout)
    assert cp.returncode == 0, "`%s` exited %d:\n%s\n%s" % (
        cmd, cp.returncode, cp.stdout.decode()[-3000:], cp.stderr.decode()[-3000:])
    return cp


def test_stop_the_world_as_written(broker_factory, tmp_path):
    text = open(GUIDE, encoding="utf-8").read()
    plan_cmds = commands(section(text, "## 1. Plan"))
    mirror_cmds = commands(section(text, "## 2. Mirror"))
    stw_cmds = commands(section(text, "### Stop-the-world"))
    verify_cmds = commands(section(text, "## 4. Verify"))
    assert [c.split()[1] for c in mirror_cmds] == ["mirror", "status"], mirror_cmds
    assert stw_cmds == ["kferry cutover producers --config mm2.properties",
                        "kferry cutover --config mm2.properties --group 're:.*'"], stw_cmds

    src, tgt = broker_factory(), broker_factory()
    (tmp_path / "mm2.properties").write_text(guide_config(text, src, tgt))
    cwd = str(tmp_path)
    apps = {}
    for topic, group in (("orders", "billing"), ("payments", "shipping")):
        cf_create_topic(src.bootstrap, topic, 3)
        apps[topic] = (SeqProducer(topic, rate=300).start(src.bootstrap),
                       SeqConsumer(topic, group).start(src.bootstrap))
    for _, c in apps.values():
        wait_until(lambda c=c: c.count() > 100, 60, "the application consuming on the source")

    # 1. Plan
    for cmd in plan_cmds:
        run(cmd, cwd)
    # 2. Mirror (runs until SIGTERM), then status
    margv = shlex.split(mirror_cmds[0])
    log = open(tmp_path / "mirror.stderr", "wb")
    mirror = subprocess.Popen([kferry_binary()] + margv[1:], cwd=cwd, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    moved = {}
    try:
        time.sleep(3)
        run(mirror_cmds[1], cwd)
        # 3. Stop-the-world: 1. stop producers and consumers on the source
        for p, c in apps.values():
            p.stop()
            c.stop()
        # 2. the producer gate, 3. every group
        out = run(stw_cmds[0], cwd).stdout.decode()
        assert "producers may write to msk" in out, out
        out = run(stw_cmds[1], cwd).stdout.decode()
        for group in ("billing", "shipping"):
            assert "cutover of group %s" % group in out and "FAILED" not in out, out
        # 4. stop the mirror (SIGTERM) ...
        mirror.send_signal(signal.SIGTERM)
        assert mirror.wait(30) == 0
    finally:
        if mirror.poll() is None:
            mirror.kill()
            mirror.wait(10)
        log.close()
    # ... start producers and consumers against the target
    for topic, (p, c) in apps.items():
        c2 = SeqConsumer(topic, c.group).start(tgt.bootstrap)
        p.start(tgt.bootstrap)
        moved[topic] = c2
    try:
        for topic, (p, c) in apps.items():
            wait_until(lambda t=topic: moved[t].count() > 200, 60, "consumption on the target")
    finally:
        for topic, (p, c) in apps.items():
            p.stop()
    for topic, (p, c) in apps.items():
        want = p.total()
        wait_until(lambda t=topic, w=want: moved[t].count() + apps[t][1].count() >= w, 60,
                   "the target consumers to read everything")
        moved[topic].stop()
        assert_exact_sequence(merge(c, moved[topic]), p)
    # 4. Verify (the records the producers wrote on the target are theirs)
    for cmd in verify_cmds:
        run(cmd, cwd)
