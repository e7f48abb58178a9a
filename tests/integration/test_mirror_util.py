"""Helpers for the `kferry mirror` tests (no tests here).

KferryProc runs `kferry mirror` on a generated properties file and runs the
one-shot subcommands (status, offsets translate/dump).  Records are read
back with kafka-python, an implementation independent of librdkafka (which
kferry uses), and compared through the offset map kferry stored on the
target.
"""

import json
import os
import signal
import subprocess
import time

from kf_util import kp_consumer, wait_until


def kferry_binary():
    env = os.environ.get("KFERRY_BIN")
    if env:
        return env
    build = os.environ.get("KFERRY_BUILD_DIR")
    if build:
        return os.path.join(build, "kferry")
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "..", "build", "kferry")


def write_config(path, src, tgt, identity=False, extra=None, src_alias="src", tgt_alias="dst"):
    lines = [
        "clusters = %s, %s" % (src_alias, tgt_alias),
        "%s.bootstrap.servers = %s" % (src_alias, src.bootstrap),
        "%s.bootstrap.servers = %s" % (tgt_alias, tgt.bootstrap),
        "%s->%s.enabled = true" % (src_alias, tgt_alias),
        "refresh.topics.interval.seconds = 1",
        "kferry.status.interval.seconds = 1",
        "kferry.map.persist.interval.ms = 200",
    ]
    if identity:
        lines.append("replication.policy.class = "
                     "org.apache.kafka.connect.mirror.IdentityReplicationPolicy")
    for k, v in (extra or {}).items():
        lines.append("%s = %s" % (k, v))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return str(path)


class KferryProc:
    def __init__(self, config, log_dir):
        self.config = str(config)
        self.log_dir = str(log_dir)
        self.proc = None
        self.n = 0
        self.logs = []

    def start(self):
        assert self.proc is None or self.proc.poll() is not None
        self.n += 1
        path = os.path.join(self.log_dir, "kferry.%d.stderr" % self.n)
        self.logs.append(path)
        self.err = open(path, "wb")
        self.proc = subprocess.Popen([kferry_binary(), "mirror", "--config", self.config],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.err, start_new_session=True)
        return self

    def log_text(self, last_only=False):
        out = []
        for p in (self.logs[-1:] if last_only else self.logs):
            with open(p, "rb") as f:
                out.append(f.read().decode("utf-8", "replace"))
        return "\n".join(out)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, expect=0, timeout=60):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self.err.close()
        assert rc == expect, "kferry mirror exited %d (expected %d):\n%s" % (
            rc, expect, self.log_text(last_only=True)[-5000:])
        return rc

    def wait_exit(self, timeout=60):
        rc = self.proc.wait(timeout)
        self.err.close()
        return rc

    def kill9(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.err.close()

    def cmd(self, *args, check=True, timeout=60):
        cp = subprocess.run([kferry_binary()] + list(args) + ["--config", self.config],
                            capture_output=True, timeout=timeout)
        if check:
            assert cp.returncode == 0, "kferry %s exited %d: %s %s" % (
                " ".join(args), cp.returncode, cp.stdout.decode(), cp.stderr.decode()[-3000:])
        return cp

    def dump(self):
        """{(source topic, partition): {"target": t, "runs": [[s, t, n]], "gaps": [...]}}"""
        out = {}
        for line in self.cmd("offsets", "dump").stdout.decode().splitlines():
            d = json.loads(line)
            out[(d["source_topic"], d["partition"])] = {
                "target": d["target_topic"], "runs": d["runs"], "gaps": d["gaps"]}
        return out

    def translate(self, topic, partition, offset):
        cp = self.cmd("offsets", "translate", "--topic", topic, "--partition", str(partition),
                      "--offset", str(offset), "--json", check=False)
        assert cp.returncode in (0, 1), cp.stderr.decode()
        return json.loads(cp.stdout)

    def status(self):
        return json.loads(self.cmd("status", "--json").stdout)


def kp_all(bootstrap, topic, partition, timeout=60):
    """Every record of a partition, log start to high watermark, via
    kafka-python: [(offset, key, value, headers, timestamp)]."""
    from kafka import TopicPartition
    c = kp_consumer(bootstrap, max_partition_fetch_bytes=4 << 20)
    try:
        tp = TopicPartition(topic, partition)
        c.assign([tp])
        lo = c.beginning_offsets([tp])[tp]
        hi = c.end_offsets([tp])[tp]
        c.seek(tp, lo)
        out = []
        deadline = time.monotonic() + timeout
        while (out[-1][0] + 1 if out else lo) < hi:
            assert time.monotonic() < deadline, "reading %s/%d: %d records, lo %d hi %d" % (
                topic, partition, len(out), lo, hi)
            for _, msgs in c.poll(timeout_ms=300).items():
                out.extend((m.offset, m.key, m.value, tuple(m.headers or ()), m.timestamp)
                           for m in msgs if m.offset < hi)
        return out
    finally:
        c.close()


def end_offsets(bootstrap, topic, partitions):
    from kafka import TopicPartition
    c = kp_consumer(bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        return {tp.partition: o for tp, o in c.end_offsets(tps).items()}
    finally:
        c.close()


def map_lookup(runs, s):
    for rs, rt, n in runs:
        if rs <= s < rs + n:
            return rt + (s - rs)
    return None


def check_exact(kf, src_bs, tgt_bs, topic, partitions, expect_target=None, target_before=0):
    """Every source record equals the target record at its mapped offset, in
    the same partition and order; the target holds nothing else (so there is
    no duplicate) but target_before records per partition that were there
    before kferry.  Returns the number of records checked."""
    m = kf.dump()
    total = 0
    for p in range(partitions):
        entry = m.get((topic, p))
        src = kp_all(src_bs, topic, p)
        if not src:
            continue
        assert entry, "no offset map for %s/%d" % (topic, p)
        if expect_target:
            assert entry["target"] == expect_target
        tgt = kp_all(tgt_bs, entry["target"], p)
        by_off = {r[0]: r for r in tgt}
        mapped = []
        for r in src:
            t = map_lookup(entry["runs"], r[0])
            assert t is not None, "%s/%d source offset %d is not in the map %s" % (
                topic, p, r[0], entry["runs"][:5])
            assert t in by_off, "%s/%d: target offset %d (source %d) missing" % (
                topic, p, t, r[0])
            assert by_off[t][1:] == r[1:], "%s/%d: source %d != target %d:\n%r\n%r" % (
                topic, p, r[0], t, r, by_off[t])
            mapped.append(t)
        assert mapped == sorted(mapped), "order differs in %s/%d" % (topic, p)
        assert len(tgt) == len(src) + target_before, (
            "%s/%d: target has %d records, source %d (+%d before kferry): duplicates?" % (
                topic, p, len(tgt), len(src), target_before))
        total += len(src)
    return total


def wait_mirrored(kf, src_bs, tgt_bs, topic, tgt_topic, partitions, timeout=120, delta=0):
    """Waits until the target partitions end at the source's end + delta
    (delta: target records that are not copies, minus source records below
    the source log start; 0 for a single writer and no holes)."""
    want = end_offsets(src_bs, topic, partitions)

    def done():
        got = end_offsets(tgt_bs, tgt_topic, partitions)
        return all(got.get(p, -1) >= want[p] + delta for p in want)

    try:
        wait_until(done, timeout, "%s mirrored to %s (%r)" % (topic, tgt_topic, want),
                   interval=0.3)
    except AssertionError as e:
        raise AssertionError("%s; target has %r\nkferry log tail:\n%s" % (
            e, end_offsets(tgt_bs, tgt_topic, partitions), kf.log_text()[-6000:])) from None
