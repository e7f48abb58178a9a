"""`kferry mirror` start-up against clusters that are not there yet
(issue 7): a target that comes up late is waited for, with a warning per
attempt naming the cluster and its address, and mirroring then starts on
its own; a target that never comes up ends the start-up after
kferry.startup.timeout.seconds with exit 1 and a message naming the alias,
the address and what to check.
"""

import socket
import time

from kf_util import cf_create_topic, cf_produce, unique, wait_until
from test_mirror_util import KferryProc, check_exact, wait_mirrored


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def config(path, src_bs, tgt_bs, extra=""):
    with open(path, "w") as f:
        f.write("clusters = src, dst\nsrc.bootstrap.servers = %s\ndst.bootstrap.servers = %s\n"
                "src->dst.enabled = true\nreplication.policy.class = "
                "org.apache.kafka.connect.mirror.IdentityReplicationPolicy\n"
                "refresh.topics.interval.seconds = 1\nkferry.map.persist.interval.ms = 200\n%s"
                % (src_bs, tgt_bs, extra))
    return str(path)


def test_target_that_comes_up_late_is_waited_for(broker_factory, tmp_path):
    src = broker_factory()
    t = cf_create_topic(src.bootstrap, unique("late"), 2)
    cf_produce(src.bootstrap, t, [dict(partition=i % 2, value=b"v%d" % i) for i in range(500)])
    port = free_port()
    cfg = config(tmp_path / "m.properties", src.bootstrap, "127.0.0.1:%d" % port)
    kf = KferryProc(cfg, tmp_path).start()
    try:
        wait_until(lambda: "127.0.0.1:%d" % port in kf.log_text() and "dst" in kf.log_text(),
                   40, "a warning naming the target and its address")
        time.sleep(2)
        assert kf.alive(), kf.log_text()[-3000:]
        tgt = broker_factory(start=False)
        tgt.start(port=port)
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, t, t, 2, timeout=90)
        wait_until(lambda: check_exact(kf, src.bootstrap, tgt.bootstrap, t, 2) == 500, 20,
                   "exact copy", interval=0.5)
    finally:
        kf.stop(expect=0)


def test_target_that_never_comes_up_is_named_after_the_deadline(broker_factory, tmp_path):
    src = broker_factory()
    port = free_port()
    cfg = config(tmp_path / "m.properties", src.bootstrap, "127.0.0.1:%d" % port,
                 "kferry.startup.timeout.seconds = 10\n")
    kf = KferryProc(cfg, tmp_path).start()
    rc = kf.wait_exit(timeout=90)
    log = kf.log_text()
    assert rc == 1, log[-3000:]
    last_err = [line for line in log.splitlines() if " ERROR " in line][-1]
    assert "dst" in last_err and "127.0.0.1:%d" % port in last_err, last_err
    assert "kferry.startup.timeout.seconds" in last_err, last_err
