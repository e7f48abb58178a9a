"""The monitoring kit in monitoring/: the Prometheus alerting rules are
valid and do what their unit tests say (Prometheus's own `promtool`), and
every metric the rules and the Grafana dashboard use is exported by a
running `kferry mirror`, with the labels they select, group or print by.
A metric renamed in the code, or a label dropped, fails this test."""

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

import yaml

from kf_util import cf_create_topic, cf_produce, unique, wait_until
from test_mirror_copy import records
from test_mirror_util import KferryProc, wait_mirrored, write_config

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RULES = os.path.join(ROOT, "monitoring", "prometheus", "kferry-alerts.yml")
RULE_TESTS = os.path.join(ROOT, "monitoring", "prometheus", "kferry-alerts.test.yml")
DASHBOARD = os.path.join(ROOT, "monitoring", "grafana", "kferry-mirror.json")
# labels Prometheus itself attaches to every scraped series
TARGET_LABELS = {"job", "instance"}
METRIC = re.compile(r"\b(kferry_[a-z_]+)(\{[^}]*\})?")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
LEGEND = re.compile(r"\{\{\s*\$?labels?\.?([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}|\{\{([a-zA-Z_]+)\}\}")


def test_promtool_checks_and_unit_tests_the_rules():
    out = subprocess.run(["promtool", "check", "rules", RULES], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 8 rules found" in out.stdout, out.stdout
    out = subprocess.run(["promtool", "test", "rules", os.path.basename(RULE_TESTS)],
                         capture_output=True, text=True, cwd=os.path.dirname(RULE_TESTS))
    assert out.returncode == 0 and "SUCCESS" in out.stdout, out.stdout + out.stderr


def expressions():
    """(where, expr, legend) of every PromQL expression in the kit."""
    out = []
    for g in yaml.safe_load(open(RULES))["groups"]:
        for r in g["rules"]:
            out.append(("rule %s" % r["alert"], r["expr"], ""))
    dash = json.load(open(DASHBOARD))
    for p in dash["panels"]:
        for t in p.get("targets", []):
            out.append(("panel %r" % p["title"], t["expr"], t.get("legendFormat", "")))
    for v in dash["templating"]["list"]:
        q = v.get("query")
        if isinstance(q, dict):
            out.append(("variable %s" % v["name"], q["query"], ""))
    return out


def exported(body):
    """metric name -> set of label names, from a /metrics page."""
    got = {}
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? ", line)
        assert m, "not exposition format: %r" % line
        labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or ""))
        got.setdefault(m.group(1), set()).update(labels)
    return got


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_every_metric_and_label_used_is_exported(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory()
    t = cf_create_topic(src.bootstrap, unique("mon"), 2)
    cf_produce(src.bootstrap, t, records(200, 2, 1))
    port = free_port()
    cfg = write_config(tmp_path / "mm2.properties", src, tgt, identity=True,
                       extra={"kferry.metrics.port": str(port),
                              "sync.group.offsets.enabled": "true",
                              "sync.group.offsets.interval.seconds": "1"})
    kf = KferryProc(cfg, tmp_path).start()
    try:
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, t, t, 2)

        def scrape():
            body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                          timeout=5).read().decode()
            ok = "kferry_mirror_info{" in body and "kferry_mirror_partition_lag_records{" in body
            return ok and body
        body = wait_until(scrape, 30, "the metrics page")
    finally:
        kf.stop(expect=0)
    have = exported(body)
    assert have["kferry_mirror_info"] == {"source", "target"}, have.get("kferry_mirror_info")
    problems = []
    used = 0
    for where, expr, legend in expressions():
        names = METRIC.findall(expr)
        in_expr = set()
        for name, sel in names:
            used += 1
            if name not in have:
                problems.append("%s: %s is not exported" % (where, name))
                continue
            in_expr |= have[name]
            for label in MATCHER.findall(sel or ""):
                if label not in have[name] | TARGET_LABELS:
                    problems.append("%s: %s has no label %r" % (where, name, label))
        if not names:
            continue
        wanted = set()
        for grp in GROUPING.findall(expr):
            wanted |= {x.strip() for x in grp.split(",") if x.strip()}
        for a, b in LEGEND.findall(legend):
            wanted.add(a or b)
        for label in wanted - TARGET_LABELS:
            if label not in in_expr:
                problems.append("%s: no metric of %r has label %r" % (where, expr, label))
    assert used >= 15, "the kit uses only %d metric references?" % used
    assert not problems, "\n".join(problems)


def test_retention_used_ratio_follows_the_waiting_records(broker_factory, tmp_path):
    """kferry_mirror_partition_retention_used_ratio is the age of the records
    still waiting over the source's retention.ms: records stamped 16 minutes
    ago on a topic keeping 20 wait while the target is frozen (SIGSTOP), so
    the ratio is about 0.8; once the target is back and they are mirrored, 0.
    The flow lock's session outlasts the freeze: this test is about the
    metric (test_mirror_single_writer.py freezes a target past the session)."""
    src, tgt = broker_factory(), broker_factory()
    t = cf_create_topic(src.bootstrap, unique("ret"), 1, config={"retention.ms": "1200000"})
    port = free_port()
    cfg = write_config(tmp_path / "mm2.properties", src, tgt, identity=True,
                       extra={"kferry.metrics.port": str(port),
                              "kferry.lock.session.timeout.ms": "180000"})
    kf = KferryProc(cfg, tmp_path).start()
    series = 'kferry_mirror_partition_retention_used_ratio{topic="%s",partition="0"}' % t

    def ratio():
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read()
        for line in body.decode().splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
        return None
    frozen = False
    try:
        cf_produce(src.bootstrap, t, [dict(key=b"a%d" % i, value=b"v") for i in range(10)])
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, t, t, 1)
        assert wait_until(lambda: ratio() == 0.0 and "zero", 30, "ratio 0 while caught up")
        tgt.proc.send_signal(signal.SIGSTOP)
        frozen = True
        stamp = int(time.time() * 1000) - 960000
        cf_produce(src.bootstrap, t, [dict(key=b"k%d" % i, value=b"v", timestamp=stamp)
                                      for i in range(50)])
        # while the target is frozen the main loop also waits on it (its metadata
        # calls time out after seconds), so the gauge can take a while to move
        r = wait_until(lambda: (ratio() or 0) > 0.5 and ratio(), 90, "the ratio to rise")
        assert 0.79 <= r <= 0.9, r
        tgt.proc.send_signal(signal.SIGCONT)
        frozen = False
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, t, t, 1)
        assert wait_until(lambda: ratio() == 0.0 and "zero", 30, "ratio 0 once mirrored")
    finally:
        if frozen:
            tgt.proc.send_signal(signal.SIGCONT)
        kf.stop(expect=0)
