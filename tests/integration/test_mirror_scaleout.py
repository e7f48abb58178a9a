"""kferry.workers: one flow split into units of work, shared by several
kferry processes through the lock group on the target.

Every process joins the group; the group's assignment of the lock topic's
partitions decides which units each one runs (one thread per unit, each
with its own transactional.id).  The checks are record by record: the
target's read_committed view holds every source record exactly once, at
the offset the map gives, however the units moved.
"""

import json
import re
import signal
import subprocess
import threading
import time
import urllib.request

from kf_util import cf_create_topic, unique, wait_until
from test_mirror_single_writer import TGT_OVERRIDES
from test_mirror_single_writer import produce as produce_parts
from test_monitoring import free_port
from test_plan import checks, run_plan
from test_mirror_transactions import TXN, check_exact_committed, wait_mapped
from test_mirror_util import KferryProc, end_offsets, write_config

UNITS = 12
SCALE = dict(TXN, **{"kferry.workers": str(UNITS)})


def produce(bootstrap, topic, n, start=0, pause_every=0, pause_s=0.0, done=None, parts=UNITS):
    """Keyed, headered records spread over the UNITS partitions."""
    produce_parts(bootstrap, topic, n, start, pause_every, pause_s, done, parts)


def held_units(kf):
    """The units the process's last assignment gave it (from its log)."""
    found = re.findall(r"now holds unit\(s\) ([0-9,]+) of %d" % UNITS, kf.log_text(last_only=True))
    return set(int(u) for u in found[-1].split(",")) if found else set()


def holds_count(kf, n):
    """The process's latest assignment has n units (and was not revoked)."""
    log = kf.log_text(last_only=True)
    last_hold = log.rfind("now holds unit(s)")
    last_rev = max(log.rfind("revoked (group rebalance)"), log.rfind("assignment LOST"))
    return last_hold > last_rev and len(held_units(kf)) == n


def procs(cfg, tmp_path, names):
    out = []
    for n in names:
        d = tmp_path / n
        d.mkdir()
        out.append(KferryProc(cfg, d))
    return out


def test_three_processes_share_a_flow_through_kill9_and_a_join(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory(overrides=TGT_OVERRIDES)
    topic = cf_create_topic(src.bootstrap, unique("sco"), UNITS)
    cfg = write_config(tmp_path / "m.properties", src, tgt, identity=True, extra=SCALE)
    a, b, c = procs(cfg, tmp_path, "abc")
    port = free_port()  # d also serves /metrics
    (d,) = procs(write_config(tmp_path / "d.properties", src, tgt, identity=True, extra=dict(
        SCALE, **{"kferry.metrics.port": str(port)})), tmp_path, "d")
    total = 120000
    done = threading.Event()
    th = threading.Thread(target=produce, daemon=True,
                          args=(src.bootstrap, topic, total, 0, 500, 0.03, done))
    th.start()
    try:
        a.start()
        wait_until(lambda: holds_count(a, UNITS), 30, "a alone runs every unit")
        b.start()
        c.start()
        wait_until(lambda: all(holds_count(k, 4) for k in (a, b, c)), 60,
                   "three processes with four units each")
        assert held_units(a) | held_units(b) | held_units(c) == set(range(UNITS))
        wait_until(lambda: sum(end_offsets(tgt.bootstrap, topic, UNITS).values()) > 20000, 60,
                   "mirroring under way")
        assert not done.is_set(), "production finished before the kill"
        b.kill9()  # with transactions open: the next holders of its units abort them
        wait_until(lambda: holds_count(a, 6) and holds_count(c, 6), 60,
                   "a and c take over b's units")
        d.start()
        wait_until(lambda: all(holds_count(k, 4) for k in (a, c, d)), 60, "d joins with four")
        check_unit_metrics(port, held_units(d))
        th.join(300)
        assert done.is_set()
        wait_mapped(a, src.bootstrap, topic, timeout=180, parts=UNITS)
        assert check_exact_committed(a, src.bootstrap, tgt.bootstrap, topic, UNITS) == total
        v = a.cmd("verify", check=False)
        assert v.returncode == 0, v.stdout.decode()[-3000:]
        # who owns what: one status record per unit, each naming its holder
        st = a.status()["mirror"]
        units = {u["unit"]: u for u in st["units"]}
        assert set(units) == set(range(UNITS)), st
        assert st["running"] is True
        alive = {str(k.proc.pid) for k in (a, c, d)}
        for u in units.values():
            assert u["holder"].rsplit("-", 1)[1] in alive, u
            assert u["transactions"]["transactional_id"] == (
                "__kferry.flow.src->dst.txn.%d" % u["unit"]), u
    finally:
        for k in (a, c, d):
            if k.alive():
                k.stop(expect=0)
    st = a.status()["mirror"]
    assert st["running"] is False and st["clean"] is True, st
    assert st["records_total"] == sum(u["records_total"] for u in st["units"]), st
    text = a.cmd("status").stdout.decode()
    assert "units: %d" % UNITS in text and "unit 11: stopped" in text, text


def check_unit_metrics(port, units):
    """/metrics of a process running several units: valid for Prometheus
    (promtool), every sample labelled with its unit, the units held."""
    def scrape():
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read()
        held = set(int(u) for u in re.findall(rb'kferry_mirror_flow_holder\{unit="(\d+)"\} 1', body))
        return held == units and body
    body = wait_until(scrape, 30, "/metrics to show units %s" % sorted(units))
    out = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
    assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            assert 'unit="' in line, line
    lag = re.findall(r'kferry_mirror_partition_lag_records\{unit="(\d+)",topic="[^"]*",'
                     r'partition="(\d+)"\}', body.decode())
    assert lag and {int(u) for u, _ in lag} == units, lag


def test_paused_process_writes_nothing_after_its_units_moved(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory(overrides=TGT_OVERRIDES)
    topic = cf_create_topic(src.bootstrap, unique("scz"), UNITS)
    cfg = write_config(tmp_path / "m.properties", src, tgt, identity=True, extra=SCALE)
    a, b = procs(cfg, tmp_path, "ab")
    total = 150000
    done = threading.Event()
    th = threading.Thread(target=produce, daemon=True,
                          args=(src.bootstrap, topic, total, 0, 500, 0.03, done))
    th.start()
    frozen = False
    try:
        a.start()
        wait_until(lambda: holds_count(a, UNITS), 30, "a alone runs every unit")
        b.start()
        wait_until(lambda: holds_count(a, 6) and holds_count(b, 6), 60, "six units each")
        wait_until(lambda: sum(end_offsets(tgt.bootstrap, topic, UNITS).values()) > 20000, 60,
                   "mirroring under way")
        assert not done.is_set(), "production finished before the freeze"
        a.proc.send_signal(signal.SIGSTOP)  # records queued, transactions open
        frozen = True
        wait_until(lambda: holds_count(b, UNITS), 60, "b takes a's units")
        time.sleep(3)  # b writes a's units meanwhile
        a.proc.send_signal(signal.SIGCONT)
        frozen = False
        th.join(300)
        assert done.is_set()
        wait_mapped(b, src.bootstrap, topic, timeout=180, parts=UNITS)
        # the resumed process's queued records are in no committed view
        assert check_exact_committed(b, src.bootstrap, tgt.bootstrap, topic, UNITS) == total
        v = b.cmd("verify", check=False)
        assert v.returncode == 0, v.stdout.decode()[-3000:]
    finally:
        if frozen:
            a.proc.send_signal(signal.SIGCONT)
        for k in (a, b):
            if k.alive():
                k.stop(expect=0)
    assert "assignment LOST" in a.log_text(), a.log_text()[-3000:]


def test_workers_above_one_need_transactions(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory()
    cfg = write_config(tmp_path / "m.properties", src, tgt, extra={"kferry.workers": "4"})
    kf = KferryProc(cfg, tmp_path).start()
    assert kf.wait_exit(30) == 2
    assert "kferry.workers=4 needs kferry.transactions.enabled=true" in kf.log_text()


def test_a_different_unit_count_is_refused(broker_factory, tmp_path):
    """The lock topic has one partition per unit: a process started with
    another kferry.workers than the flow's exits 2 and says how to change it."""
    src, tgt = broker_factory(), broker_factory(overrides=TGT_OVERRIDES)
    cf_create_topic(src.bootstrap, unique("scw"), 4)
    cfg = write_config(tmp_path / "m.properties", src, tgt, identity=True,
                       extra=dict(TXN, **{"kferry.workers": "4"}))
    (tmp_path / "a").mkdir()
    a = KferryProc(cfg, tmp_path / "a").start()
    wait_until(lambda: holds_count_n(a, 4), 30, "a runs four units")
    cfg2 = write_config(tmp_path / "m2.properties", src, tgt, identity=True,
                        extra=dict(TXN, **{"kferry.workers": "2"}))
    (tmp_path / "b").mkdir()
    b = KferryProc(cfg2, tmp_path / "b").start()
    assert b.wait_exit(60) == 2
    log = b.log_text()
    assert "has 4 partition(s), one per unit of the flow, but kferry.workers=2" in log, log[-2000:]
    # `kferry plan` says so before anything starts
    cp, _ = run_plan(cfg2, "--json")
    found = checks(json.loads(cp.stdout), "flow_units")
    assert [c["status"] for c in found] == ["blocker"] and cp.returncode != 0, found
    assert "kferry.workers=2" in found[0]["message"], found
    cp, _ = run_plan(cfg, "--json")
    assert [c["status"] for c in checks(json.loads(cp.stdout), "flow_units")] == ["ok"]
    a.stop(expect=0)


def holds_count_n(kf, n):
    found = re.findall(r"now holds unit\(s\) ([0-9,]+) of %d" % n, kf.log_text(last_only=True))
    return bool(found) and len(found[-1].split(",")) == n
