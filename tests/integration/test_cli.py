"""kferry-broker's command line: --help, usage and config errors (exit 2,
naming the key), port in use (exit 1), clean shutdown on SIGTERM/SIGINT
(exit 0, clean-shutdown marker), exactly one line on stdout, config file
and --override precedence.
"""

import os
import signal
import socket
import subprocess

import pytest

from kf_util import cf_partitions, cf_produce, cf_watermarks, unique, wait_until


def run(binary, args, timeout=20):
    return subprocess.run([binary] + args, capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_help_exits_0(broker_binary):
    cp = run(broker_binary, ["--help"])
    assert cp.returncode == 0, cp
    text = (cp.stdout + cp.stderr).decode()
    for opt in ("--listen", "--data-dir", "--config", "--override"):
        assert opt in text, "--help does not mention %s:\n%s" % (opt, text)


@pytest.mark.parametrize("args", [[], ["--bogus-option"], ["--listen"],
                                  ["--data-dir", "DATA", "--listen", "not-a-host-port"]],
                         ids=["no-args", "unknown-option", "missing-value", "bad-listen"])
def test_usage_errors_exit_2(broker_binary, tmp_path, args):
    args = [str(tmp_path / "data") if a == "DATA" else a for a in args]
    cp = run(broker_binary, args)
    assert cp.returncode == 2, "%s: exit %d, stderr %r" % (args, cp.returncode, cp.stderr)
    assert cp.stderr.strip(), "no message on stderr"


def test_bad_config_file_names_the_keys(broker_binary, tmp_path):
    cfg = tmp_path / "bad.properties"
    cfg.write_text("# a comment\nnum.partitions=banana\nlog.segment.bytes=-7\n"
                   "node.id=1\n")
    data = tmp_path / "data"
    cp = run(broker_binary, ["--listen", "127.0.0.1:0", "--data-dir", str(data),
                             "--config", str(cfg)])
    err = cp.stderr.decode()
    assert cp.returncode == 2, "exit %d, stderr:\n%s" % (cp.returncode, err)
    assert "num.partitions" in err, "message does not name num.partitions:\n" + err
    assert "log.segment.bytes" in err, "message does not name log.segment.bytes:\n" + err
    assert cp.stdout == b"", "printed on stdout: %r" % cp.stdout


def test_bad_override_names_the_key(broker_binary, tmp_path):
    cp = run(broker_binary, ["--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
                             "--override", "log.retention.check.interval.ms=soon"])
    err = cp.stderr.decode()
    assert cp.returncode == 2, "exit %d, stderr:\n%s" % (cp.returncode, err)
    assert "log.retention.check.interval.ms" in err, err


def test_missing_config_file(broker_binary, tmp_path):
    missing = str(tmp_path / "nope.properties")
    cp = run(broker_binary, ["--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
                             "--config", missing])
    assert cp.returncode == 2, "exit %d, stderr %r" % (cp.returncode, cp.stderr)
    assert "nope.properties" in cp.stderr.decode(), cp.stderr


def test_port_in_use_exits_1(broker_binary, tmp_path):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        cp = run(broker_binary, ["--listen", "127.0.0.1:%d" % port,
                                 "--data-dir", str(tmp_path / "d")])
    finally:
        s.close()
    assert cp.returncode == 1, "exit %d, stderr %r" % (cp.returncode, cp.stderr)
    assert cp.stderr.strip(), "no message on stderr"
    assert b"listening" not in cp.stdout


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_clean_shutdown(broker, sig):
    topic = unique("sig")
    cf_produce(broker.bootstrap, topic, [dict(value=b"x")])  # auto-created
    broker.proc.send_signal(sig)
    rc = broker.proc.wait(20)
    assert rc == 0, "exit %d after %s" % (rc, sig.name)
    assert os.path.exists(os.path.join(broker.data_dir, ".kafka_cleanshutdown")), (
        "no .kafka_cleanshutdown marker after a clean stop")
    out_files = sorted(f for f in os.listdir(broker.log_dir) if f.endswith(".stdout"))
    with open(os.path.join(broker.log_dir, out_files[-1]), "rb") as f:
        out = f.read()
    assert out == b"kferry-broker listening on PLAINTEXT://127.0.0.1:%d\n" % broker.port, (
        "stdout should be exactly the listening line: %r" % out)
    # And it starts again on the same data, with the record.
    broker.start()
    assert cf_watermarks(broker.bootstrap, topic, 0) == (0, 1)


def test_config_file_and_override_precedence(broker_factory, tmp_path):
    cfg = tmp_path / "broker.properties"
    cfg.write_text("num.partitions=3\nauto.create.topics.enable=true\n")
    b1 = broker_factory(extra_args=["--config", str(cfg)])
    t1 = unique("auto")
    cf_produce(b1.bootstrap, t1, [dict(value=b"x")])
    wait_until(lambda: len(cf_partitions(b1.bootstrap, t1)) == 3, 10,
               "auto-created topic to have num.partitions=3 from the config file")
    b2 = broker_factory(overrides={"num.partitions": "2"}, extra_args=["--config", str(cfg)])
    t2 = unique("auto")
    cf_produce(b2.bootstrap, t2, [dict(value=b"x")])
    n = len(cf_partitions(b2.bootstrap, t2))
    assert n == 2, "--override num.partitions=2 should win over the file's 3, got %d" % n


def test_auto_create_disabled(broker_factory):
    import confluent_kafka as ck
    b = broker_factory(overrides={"auto.create.topics.enable": "false"})
    t = unique("noauto")
    p = ck.Producer({"bootstrap.servers": b.bootstrap, "message.timeout.ms": 3000,
                     "broker.address.family": "v4"})
    errs = []
    p.produce(t, value=b"x", on_delivery=lambda err, msg: errs.append(err))
    p.flush(10)
    assert len(errs) == 1 and errs[0] is not None, "produce to a missing topic: %r" % errs
    assert cf_partitions(b.bootstrap, t) == {}, "topic was auto-created"
