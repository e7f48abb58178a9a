"""The migration workflow as an operator meets it (issue 13).

Each test reproduces one of the issue's findings on two kferry-broker
processes (or on a config file alone) and checks the fixed behaviour: the
documented stop-the-world regex cutover, a cutover already journaled as
done that must notice the source moved, stalls on unmirrored topics, MM2
keys, verify and empty selections, config typos, unreachable clusters,
per-command --help and options, and the smaller gaps.
"""

import json
import os
import signal
import subprocess
import time

from kf_util import cf_create_topic, cf_produce, kp_kwargs, unique, wait_until
from test_cutover import (PARTS, SeqConsumer, commit_standalone, make_flow, run_kferry,
                          target_committed)
from test_mirror_util import KferryProc, kferry_binary, wait_mirrored, write_config


def kferry(*args, timeout=60):
    return subprocess.run([kferry_binary()] + list(args), capture_output=True, timeout=timeout)


def out_err(cp):
    return cp.stdout.decode() + cp.stderr.decode()


def produce_n(bootstrap, topic, n, parts=PARTS, start=0):
    cf_produce(bootstrap, topic, [dict(partition=i % parts, key=b"k%d" % i, value=b"%d" % i)
                                  for i in range(start, start + n)])


# --- item 1: `cutover --group 're:.*'` crashed when the first listed group matched


def test_regex_cutover_first_listed_group_matches(broker_factory, tmp_path):
    src, tgt, topic, kf = make_flow(broker_factory, tmp_path,
                                    extra={"sync.group.offsets.enabled": "false"})
    produce_n(src.bootstrap, topic, 300)
    tag = unique("rx")
    # sorted listing: "a..." comes first and matches every pattern below
    groups = {"a-" + tag: 10, "b-" + tag: 20, "ship-" + tag: 30}
    for g, off in groups.items():
        commit_standalone(src.bootstrap, g, topic, {p: off for p in range(PARTS)})
    kf.start()
    try:
        for pattern, want in (("re:b.*", ["b-" + tag]), ("re:.*", sorted(groups))):
            cp = run_kferry(kf, "cutover", "--group", pattern, "--timeout", "60", "--json")
            assert cp.returncode == 0, (pattern, cp.returncode, out_err(cp)[-3000:])
            reports = [json.loads(line) for line in cp.stdout.decode().splitlines()]
            got = sorted(r["group"] for r in reports if r["group"] in groups)
            assert got == want, (pattern, reports)
            assert all(r["result"] in ("done", "already-done") for r in reports), reports
        for g, off in groups.items():
            assert target_committed(tgt.bootstrap, g) == {(topic, p): off for p in range(PARTS)}
    finally:
        kf.stop(expect=0)


# --- item 2: a cutover journaled as done re-checks the source before saying so


def test_done_cutover_refuses_when_source_moved(broker_factory, tmp_path):
    src, tgt, topic, kf = make_flow(broker_factory, tmp_path,
                                    extra={"sync.group.offsets.enabled": "false"})
    produce_n(src.bootstrap, topic, 600)
    g = unique("billing")
    commit_standalone(src.bootstrap, g, topic, {p: 100 for p in range(PARTS)})
    kf.start()
    try:
        run_kferry(kf, "cutover", "--group", g, "--timeout", "60", check=0)
        again = run_kferry(kf, "cutover", "--group", g, "--timeout", "60", check=0)
        assert "already cut over" in again.stdout.decode()
        # consumers ran on the source again (as after a rollback): offsets moved
        commit_standalone(src.bootstrap, g, topic, {p: 150 for p in range(PARTS)})
        cp = run_kferry(kf, "cutover", "--group", g, "--timeout", "60", check=1)
        text = out_err(cp)
        assert "already cut over" not in cp.stdout.decode() or "FAILED" in text, text
        assert "150" in text and "--restart" in text, text
        # a member back on the source is refused too, and named
        c = SeqConsumer(topic, g).start(src.bootstrap)
        try:
            assert c.ready.wait(30), "consumer never got an assignment"
            cp = run_kferry(kf, "cutover", "--group", g, "--timeout", "60", check=1)
            assert "active member" in out_err(cp) and "app-" + g in out_err(cp), out_err(cp)
        finally:
            c.stop()
        # --restart moves it again, to the source's current position
        commit_standalone(src.bootstrap, g, topic, {p: 150 for p in range(PARTS)})
        run_kferry(kf, "cutover", "--group", g, "--restart", "--timeout", "60", check=0)
        assert target_committed(tgt.bootstrap, g) == {(topic, p): 150 for p in range(PARTS)}
        run_kferry(kf, "cutover", "--group", g, "--timeout", "60", check=0)
    finally:
        kf.stop(expect=0)


# --- item 6: empty selections are named, not passed silently


def test_empty_selections_are_failures(broker_factory, tmp_path):
    src, tgt, topic, kf = make_flow(broker_factory, tmp_path,
                                    extra={"topics": "nomatch-.*"})
    produce_n(src.bootstrap, topic, 30)
    cp = run_kferry(kf, "plan", "--json")
    assert cp.returncode == 1, out_err(cp)
    doc = json.loads(cp.stdout)
    sel = [c for c in doc["checks"] if c["check"] == "topic_selection"]
    assert sel and sel[0]["status"] == "blocker" and "no source topic" in sel[0]["message"], sel
    cp = run_kferry(kf, "plan")
    assert cp.returncode == 1 and "ready to mirror" not in cp.stdout.decode().replace(
        "NOT READY to mirror", ""), cp.stdout.decode()
    cp = run_kferry(kf, "verify")
    assert cp.returncode == 1 and "NOTHING VERIFIED" in cp.stdout.decode(), out_err(cp)
    kf.start()
    try:
        wait_until(lambda: "no source topic is selected" in kf.log_text(), 30,
                   "the mirror to say it mirrors nothing")
    finally:
        kf.stop(expect=0)
    for g in ("nosuchgroup", "re:nosuch.*"):
        for sub in ("status", "sync"):
            cp = run_kferry(kf, "groups", sub, "--group", g)
            assert cp.returncode == 1, (g, sub, out_err(cp))
            assert "nosuch" in cp.stderr.decode() and "src" in cp.stderr.decode(), out_err(cp)


# --- item 8: an unreachable cluster is named, with its address and the cause


def test_unreachable_cluster_named_first(broker_factory, tmp_path):
    b = broker_factory()
    for side, alias in (("src", "src"), ("dst", "dst")):
        cfg = tmp_path / ("%s-down.properties" % side)
        # mirror retries its start-up (a cluster may be restarting) up to this
        # deadline, every attempt naming the cluster; the others fail at once
        write_config(cfg, b, b, extra={"kferry.startup.timeout.seconds": "10"})
        cfg.write_text(cfg.read_text().replace(
            "%s.bootstrap.servers = %s" % (alias, b.bootstrap),
            "%s.bootstrap.servers = 127.0.0.1:1" % alias))
        want = "cluster '%s' (127.0.0.1:1): cannot connect: Connection refused" % alias
        cmds = [["status"], ["verify"], ["groups", "status"], ["cutover", "--group", "g"],
                ["cutover", "producers"], ["mirror"]]
        if side == "dst":  # these read only the target's offset map
            cmds += [["offsets", "dump"],
                     ["offsets", "translate", "--topic", "t", "--partition", "0",
                      "--offset", "0"]]
        for args in cmds:
            t0 = time.monotonic()
            cp = kferry(*args, "--config", str(cfg), timeout=60)
            text = out_err(cp)
            assert cp.returncode == 1, (args, cp.returncode, text[-2000:])
            ours = [line for line in cp.stderr.decode().splitlines()
                    if " kferry " in line and "[rdkafka]" not in line
                    and ("ERROR" in line or "FAILED" in line)]
            assert ours and want in ours[0], (args, ours, text[-2000:])
            assert "offset map" not in ours[0] and "journal" not in ours[0], (args, ours)
            assert time.monotonic() - t0 < 30, args


# --- item 4 (and "Done when"): a stock MirrorMaker 2 file runs unchanged

STOCK_MM2 = """\
# A MirrorMaker 2 dedicated-mode file as shipped with Kafka, adapted to two clusters
clusters = onprem, msk
onprem.bootstrap.servers = {src}
msk.bootstrap.servers = {tgt}
onprem->msk.enabled = true
msk->onprem.enabled = false
onprem->msk.topics = {prefix}.*
topics.blacklist = .*[\\-\\.]internal, .*\\.replica, __.*, {prefix}-secret
groups.blacklist = console-consumer-.*, connect-.*, __.*
replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy
replication.factor = 1
checkpoints.topic.replication.factor = 1
heartbeats.topic.replication.factor = 1
offset-syncs.topic.replication.factor = 1
offset.storage.replication.factor = 1
status.storage.replication.factor = 1
config.storage.replication.factor = 1
offset.storage.topic = mm2-offsets
tasks.max = 4
refresh.topics.enabled = true
refresh.topics.interval.seconds = 1
refresh.groups.enabled = true
refresh.groups.interval.seconds = 10
sync.topic.configs.enabled = true
sync.topic.acls.enabled = false
emit.heartbeats.enabled = true
emit.checkpoints.enabled = true
emit.checkpoints.interval.seconds = 5
sync.group.offsets.enabled = true
sync.group.offsets.interval.seconds = 1
offset-syncs.topic.location = target
exactly.once.support = enabled
key.converter = org.apache.kafka.connect.converters.ByteArrayConverter
value.converter = org.apache.kafka.connect.converters.ByteArrayConverter
onprem.consumer.max.poll.records = 500
onprem.consumer.auto.offset.reset = earliest
onprem.admin.request.timeout.ms = 30000
msk.producer.buffer.memory = 33554432
msk.producer.compression.type = zstd
msk.admin.retries = 5
"""


def test_stock_mm2_properties_runs_with_warnings_only(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory()
    prefix = unique("stock")
    topic = cf_create_topic(src.bootstrap, prefix + "-orders", 2)
    secret = cf_create_topic(src.bootstrap, prefix + "-secret", 1)
    produce_n(src.bootstrap, topic, 500, parts=2)
    produce_n(src.bootstrap, secret, 5, parts=1)
    path = tmp_path / "mm2.properties"
    path.write_text(STOCK_MM2.format(src=src.bootstrap, tgt=tgt.bootstrap, prefix=prefix))
    kf = KferryProc(path, tmp_path).start()
    try:
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, topic, topic, 2)
        time.sleep(1.5)
        assert kf.alive()
    finally:
        kf.stop(expect=0)
    log = kf.log_text()
    assert " ERROR " not in log, log[-4000:]
    for key in ("tasks.max", "refresh.topics.enabled", "refresh.groups.enabled",
                "offset-syncs.topic.location", "exactly.once.support", "emit.heartbeats.enabled",
                "offset.storage.topic", "config.storage.replication.factor", "key.converter",
                "onprem.consumer.max.poll.records"):
        assert ("%s accepted but not used" % key) in log, key
    assert "topics.blacklist is MirrorMaker 2's old name of topics.exclude" in log
    assert "onprem.max.poll.records" not in log
    assert "not mirrored: %s (matched by 'topics.exclude')" % secret in log, log[-4000:]
    from kafka import KafkaConsumer
    c = KafkaConsumer(**kp_kwargs(tgt.bootstrap))
    try:
        assert secret not in c.topics()
    finally:
        c.close()
    # the one-shot commands read the same file unchanged
    for args in (["status"], ["verify"], ["plan"], ["groups", "status"]):
        cp = kferry(*args, "--config", str(path), timeout=120)
        assert cp.returncode in (0, 1) and "configuration error" not in out_err(cp), (
            args, out_err(cp)[-3000:])
    assert kferry("verify", "--config", str(path), timeout=120).returncode == 0


# --- item 9: every command has its own --help; unknown options are named


HELP = [(["mirror"], "kferry mirror"), (["status"], "kferry status"),
        (["offsets", "translate"], "kferry offsets translate"),
        (["offsets", "dump"], "kferry offsets dump"), (["plan"], "kferry plan"),
        (["cutover"], "kferry cutover"), (["cutover", "producers"], "kferry cutover producers"),
        (["verify"], "kferry verify"), (["groups", "status"], "kferry groups status"),
        (["groups", "sync"], "kferry groups sync"), (["demo"], "kferry demo"),
        (["config-reference"], "kferry config-reference")]


def test_every_command_has_its_own_help():
    for args, usage in HELP:
        for flag in ("--help", "-h"):
            cp = kferry(*args, flag)
            out = cp.stdout.decode()
            assert cp.returncode == 0, (args, flag, out_err(cp))
            assert out.startswith("usage:") and usage in out, (args, out)
            assert "Example" in out and "Exit status" in out, (args, out)
            assert "commands:" not in out, (args, "the global usage")


def test_unknown_and_unsupported_options_are_refused(tmp_path):
    cfg = tmp_path / "m.properties"
    cfg.write_text("clusters = a, b\na.bootstrap.servers = 127.0.0.1:1\n"
                   "b.bootstrap.servers = 127.0.0.1:2\na->b.enabled = true\n")
    c = str(cfg)
    cases = [(["plan", "--config", c, "--jsn"], "unknown option --jsn (did you mean --json?)"),
             (["status", "--config", c, "--topic", "orders"], "unknown option --topic"),
             (["mirror", "--config", c, "--json"], "unknown option --json"),
             (["offsets", "dump", "--config", c, "--partition", "1"], "unknown option --partition"),
             (["verify", "--config", c, "--topics", "x"], "unknown option --topics"),
             (["groups", "status", "--config", c, "--grop", "g"],
              "unknown option --grop (did you mean --group?)"),
             (["groups", "sync", "--config", c, "--json"], "--json"),
             (["cutover", "--config", c, "--group", "g", "--topics", "x"], "--topics"),
             (["cutover", "producers", "--config", c, "--json"], "--json"),
             (["cutover", "--status", "--config", c, "--restart"], "--restart"),
             (["demo", "--rat", "5"], "unknown option --rat (did you mean --rate?)"),
             (["plan", "--config"], "--config needs a value"),
             (["status", "--config", c, "extra"], "unexpected argument 'extra'")]
    for args, want in cases:
        t0 = time.monotonic()
        cp = kferry(*args)
        assert cp.returncode == 2, (args, out_err(cp))
        assert want in cp.stderr.decode(), (args, cp.stderr.decode())
        assert time.monotonic() - t0 < 5, (args, "must fail before contacting a cluster")


# --- item 3: a group with offsets on a topic that is not mirrored stalls nothing


def test_unmirrored_topic_offsets_do_not_stall(broker_factory, tmp_path):
    src, tgt, topic, kf = make_flow(broker_factory, tmp_path)
    other = cf_create_topic(src.bootstrap, unique("notmirrored"), 2)
    cfg = open(kf.config).read() + "topics.exclude = %s\n" % other
    open(kf.config, "w").write(cfg)
    produce_n(src.bootstrap, topic, 300)
    produce_n(src.bootstrap, other, 100, parts=2)
    g = unique("billing")
    commit_standalone(src.bootstrap, g, topic, {p: 50 for p in range(PARTS)})
    commit_standalone(src.bootstrap, g, other, {0: 20, 1: 30})
    kf.start()
    try:
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, topic, topic, PARTS)
        wait_until(lambda: target_committed(tgt.bootstrap, g) == {
            (topic, p): 50 for p in range(PARTS)}, 60, "group sync of the mirrored topic")
        t0 = time.monotonic()
        cp = run_kferry(kf, "groups", "status", "--group", g, "--json", check=0)
        assert time.monotonic() - t0 < 8, "groups status took %.1f s" % (time.monotonic() - t0)
        rows = json.loads(cp.stdout)["groups"][0]["partitions"]
        assert sorted(r["status"] for r in rows if r["topic"] == other) == ["not-mirrored"] * 2
        time.sleep(1.5)  # a group sync pass is running or about to
    finally:
        t0 = time.monotonic()
        kf.proc.send_signal(signal.SIGTERM)
        rc = kf.wait_exit(timeout=60)
        took = time.monotonic() - t0
    assert rc == 0 and took < 5, "SIGTERM took %.1f s (rc %d):\n%s" % (
        took, rc, kf.log_text()[-3000:])


# --- item 10: smaller gaps


def test_status_eta_uses_the_recent_working_rate(broker_factory, tmp_path):
    """After an idle stretch the progress line's rate is 0; the ETA of a new
    burst must come from how fast the mirror worked recently, not from it."""
    src, tgt, topic, kf = make_flow(broker_factory, tmp_path,
                                    extra={"kferry.status.interval.seconds": "2"})
    kf.start()
    try:
        produce_n(src.bootstrap, topic, 300)
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, topic, topic, PARTS)  # running
        for i in range(4):
            produce_n(src.bootstrap, topic, 20000, start=300 + i * 20000)
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, topic, topic, PARTS)
        time.sleep(6)  # idle for more than two status intervals
        st = kf.status()
        assert st["mirror"]["records_per_s"] == 0, st["mirror"]
        recent = st["mirror"]["recent_records_per_s"]
        assert recent > 1000, json.dumps(st["mirror"])
        kf.proc.send_signal(signal.SIGSTOP)  # a burst the mirror has not started on
        try:
            produce_n(src.bootstrap, topic, 60000, start=80300)
            st = kf.status()
        finally:
            kf.proc.send_signal(signal.SIGCONT)
        assert st["total_lag_records"] == 60000, st
        assert 0 <= st["eta_seconds"] <= 60000 / recent + 1, st
        t0 = time.monotonic()
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, topic, topic, PARTS)
        took = time.monotonic() - t0
        assert st["eta_seconds"] < 10 * took + 10, (st["eta_seconds"], took)
    finally:
        kf.stop(expect=0)


def test_unknown_group_cutover_journals_nothing(broker_factory, tmp_path):
    src, tgt, topic, kf = make_flow(broker_factory, tmp_path)
    produce_n(src.bootstrap, topic, 30)
    kf.start()
    try:
        g = unique("nosuchgroup")
        cp = run_kferry(kf, "cutover", "--group", g, "--timeout", "30", check=1)
        assert "group %s is not known on src" % g in cp.stdout.decode(), out_err(cp)
        cp = run_kferry(kf, "cutover", "--status", "--group", g, "--json", check=0)
        assert json.loads(cp.stdout) == [], cp.stdout
    finally:
        kf.stop(expect=0)


def test_producer_gate_timeout_names_busy_partitions(broker_factory, tmp_path):
    src, tgt, topic, kf = make_flow(broker_factory, tmp_path)
    quiet = cf_create_topic(src.bootstrap, unique("quiet"), 1)
    produce_n(src.bootstrap, quiet, 5, parts=1)
    from test_cutover import SeqProducer
    prod = SeqProducer(topic, parts=1, rate=200).start(src.bootstrap)  # writes partition 0 only
    kf.start()
    try:
        cp = run_kferry(kf, "cutover", "producers", "--quiet-seconds", "3", "--timeout", "8",
                        check=1)
        text = cp.stdout.decode()
        assert "timed out" in text and "%s/0 (+" % topic in text, out_err(cp)
        assert "%s/1" % topic not in text and quiet not in text.split("timed out")[1], text
    finally:
        prod.stop()
        kf.stop(expect=0)
