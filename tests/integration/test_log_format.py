"""--log-format json: logs for machines.

kferry-broker with --log-format json (and with the config key
kferry.log.format=json, and with KFERRY_LOG_FORMAT=json) serves kcat's
produce and consume with debug logging on; every line on its stderr is one
JSON object with time, level, component, message, program and pid.  The
same for `kferry plan` and a short `kferry mirror` between two brokers,
with librdkafka's debug lines forwarded (they carry the handle, facility
and the librdkafka thread's name).  An unknown format exits 2 naming the
option and the allowed values.
"""

import json
import os
import re
import signal
import subprocess

from kf_util import cf_create_topic, cf_produce, kcat, unique, wait_until
from test_mirror_util import end_offsets, kferry_binary, write_config

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
LEVELS = {"error", "warn", "notice", "info", "debug"}


def json_lines(data, program, pid=None):
    """Parses stderr bytes: every line must be a JSON log object of program
    (and pid); returns the objects."""
    assert data.endswith(b"\n"), "stderr does not end with a newline: %r" % data[-200:]
    out = []
    for raw in data.split(b"\n")[:-1]:
        try:
            o = json.loads(raw)
        except ValueError as e:
            raise AssertionError("not a JSON line (%s): %r" % (e, raw[:300])) from None
        assert isinstance(o, dict), raw
        assert TIME_RE.match(o["time"]), o
        assert o["level"] in LEVELS, o
        assert isinstance(o["component"], str) and o["component"], o
        assert isinstance(o["message"], str), o
        assert o["program"] == program, o
        assert isinstance(o["pid"], int) and (pid is None or o["pid"] == pid), o
        if "thread" in o:
            assert isinstance(o["thread"], str) and isinstance(o["tid"], int), o
        out.append(o)
    return out


def broker_stderr(b):
    with open(b.stderr_files[-1], "rb") as f:
        return f.read()


def produce_consume(b):
    topic = unique("logs")
    kcat(["-b", b.bootstrap, "-t", topic, "-P", "-K:"], input=b"k1:v1\nk2:v2\nk3:v3\n")
    cp = kcat(["-b", b.bootstrap, "-t", topic, "-C", "-e", "-o", "beginning", "-f", "%k=%s\n"])
    assert cp.stdout.decode().split() == ["k1=v1", "k2=v2", "k3=v3"]


def check_broker_log(b):
    pid = b.proc.pid
    b.stop()
    objs = json_lines(broker_stderr(b), "kferry-broker", pid)
    msgs = [(o["level"], o["component"], o["message"]) for o in objs]
    assert any(lv == "info" and c == "broker" and m.startswith("node 1 serving cluster ")
               for lv, c, m in msgs), msgs[:20]
    assert msgs[-1] == ("info", "broker", "stopped"), msgs[-5:]
    # the debug lines of the traffic came through as well
    assert sum(1 for o in objs if o["level"] == "debug") >= 3, msgs[:40]
    return objs


def test_broker_json_log_option(broker_factory):
    b = broker_factory(extra_args=["--log-format", "json", "--debug", "all"])
    produce_consume(b)
    check_broker_log(b)


def test_broker_json_log_config_key_and_env(broker_factory, monkeypatch):
    b = broker_factory(overrides={"kferry.log.format": "json"}, extra_args=["--debug", "all"])
    produce_consume(b)
    check_broker_log(b)
    # the environment is the fallback; the option beats it
    monkeypatch.setenv("KFERRY_LOG_FORMAT", "json")
    e = broker_factory(extra_args=["--debug", "net"])
    produce_consume(e)
    check_broker_log(e)
    # and the config key beats the environment
    for t in (broker_factory(extra_args=["--log-format", "text"]),
              broker_factory(overrides={"kferry.log.format": "text"})):
        t.stop()
        text = broker_stderr(t).decode()
        assert re.search(r"^\S+Z kferry-broker INFO \[broker\] node 1 serving cluster ", text,
                         re.M), text
        assert not any(x.startswith("{") for x in text.splitlines()), text


def test_broker_json_log_startup_failure(broker_factory, tmp_path):
    """A failure after the options are read is a JSON error line too."""
    b = broker_factory(extra_args=["--log-format", "json"])
    port = b.port
    cp = subprocess.run([b.binary, "--listen", "127.0.0.1:%d" % port, "--data-dir",
                         str(tmp_path / "other"), "--log-format", "json"],
                        capture_output=True, timeout=30)
    assert cp.returncode == 1, cp
    objs = json_lines(cp.stderr, "kferry-broker")
    assert [o["level"] for o in objs] == ["error"], objs
    assert str(port) in objs[0]["message"], objs


def test_unknown_format_exits_2(broker_binary, tmp_path):
    cp = subprocess.run([broker_binary, "--listen", "127.0.0.1:0", "--data-dir",
                         str(tmp_path / "d"), "--log-format", "yaml"],
                        capture_output=True, timeout=30)
    assert cp.returncode == 2, cp
    assert cp.stderr.decode() == "kferry-broker: --log-format 'yaml': expected text or json\n"
    cp = subprocess.run([broker_binary, "--listen", "127.0.0.1:0", "--data-dir",
                         str(tmp_path / "d"), "--override", "kferry.log.format=yaml"],
                        capture_output=True, timeout=30)
    assert cp.returncode == 2, cp
    assert "kferry.log.format: expected text or json, got 'yaml'" in cp.stderr.decode(), cp
    cfg = tmp_path / "mm2.properties"
    cfg.write_text("clusters = a, b\na.bootstrap.servers = 127.0.0.1:1\n"
                   "b.bootstrap.servers = 127.0.0.1:1\na->b.enabled = true\n")
    for argv in (["plan", "--config", str(cfg), "--log-format", "yaml"],
                 ["--log-format=yaml", "status", "--config", str(cfg)],
                 ["mirror", "--log-format", "yaml", "--config", str(cfg)],
                 ["verify", "--config", str(cfg), "--log-format", "yaml"]):
        cp = subprocess.run([kferry_binary()] + argv, capture_output=True, timeout=30)
        assert cp.returncode == 2, (argv, cp)
        assert cp.stderr.decode() == "kferry: --log-format 'yaml': expected text or json\n", (
            argv, cp)
    cp = subprocess.run([kferry_binary(), "plan", "--config", str(cfg)], capture_output=True,
                        timeout=30, env=dict(os.environ, KFERRY_LOG_FORMAT="yaml"))
    assert cp.returncode == 2, cp
    assert cp.stderr.decode() == "kferry: KFERRY_LOG_FORMAT 'yaml': expected text or json\n", cp
    cp = subprocess.run([kferry_binary(), "plan", "--config", str(cfg), "--log-format"],
                        capture_output=True, timeout=30)
    assert cp.returncode == 2, cp
    assert "--log-format" in cp.stderr.decode() and "text or json" in cp.stderr.decode(), cp


def test_kferry_plan_json_log(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory()
    t = cf_create_topic(src.bootstrap, unique("plan"), 2)
    cf_produce(src.bootstrap, t, [dict(partition=i % 2, key=b"k", value=b"v") for i in range(10)])
    cfg = write_config(tmp_path / "mm2.properties", src, tgt,
                       extra={"kferry.debug": "plan", "src.debug": "broker"})
    cp = subprocess.run([kferry_binary(), "plan", "--log-format", "json", "--config", cfg,
                         "--json"], capture_output=True, timeout=120)
    assert cp.returncode in (0, 1), cp.stderr.decode()[-3000:]
    doc = json.loads(cp.stdout)  # stdout is still the report
    assert doc["kferry_plan"] == 1
    objs = json_lines(cp.stderr, "kferry")
    fwd = [o for o in objs if o["component"] == "plan" and "facility" in o]
    assert fwd, [o["message"] for o in objs][:20]
    # librdkafka logs from its own threads: their names come along
    assert any(o.get("thread", "").startswith("rdk:") for o in fwd), fwd[:5]
    assert all(o["message"].startswith(o["client"] + ": " + o["facility"] + ": ")
               for o in fwd), fwd[:5]


def test_kferry_mirror_json_log(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory()
    topic = cf_create_topic(src.bootstrap, unique("mir"), 2)
    cf_produce(src.bootstrap, topic, [dict(partition=i % 2, key=b"k%d" % i, value=b"v")
                                      for i in range(200)])
    cfg = write_config(tmp_path / "mm2.properties", src, tgt,
                       extra={"kferry.debug": "broker,mirror"})
    err_path = tmp_path / "kferry.stderr"
    with open(err_path, "wb") as err:
        p = subprocess.Popen([kferry_binary(), "mirror", "--config", cfg, "--log-format", "json"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                             start_new_session=True)
    try:
        want = end_offsets(src.bootstrap, topic, 2)
        wait_until(lambda: end_offsets(tgt.bootstrap, "src." + topic, 2) == want, 90,
                   "mirrored")
        p.send_signal(signal.SIGTERM)
        rc = p.wait(60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
    data = err_path.read_bytes()
    assert rc == 0, data.decode(errors="replace")[-3000:]
    objs = json_lines(data, "kferry", p.pid)
    comps = {o["component"] for o in objs}
    assert "rdkafka" in comps, comps
    assert any(o["level"] == "info" and o["component"] != "rdkafka" for o in objs), comps
    rd = [o for o in objs if o["component"] == "rdkafka"]
    assert all("client" in o and "facility" in o for o in rd), rd[:3]
    assert any(o.get("thread", "").startswith("rdk:") for o in rd), rd[:3]
    # lines of many threads, and none torn: each parsed above
    assert len({o.get("tid") for o in objs}) >= 3, len(objs)
