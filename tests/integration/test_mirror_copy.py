"""`kferry mirror` copies records exactly (issue 3).

Two kferry-broker processes; >= 10,000 records over several topics and
partitions with keys, null and empty values, headers, explicit timestamps
and batches compressed with each codec.  Read back with kafka-python: every
target record equals its source record at the offset the map gives, in the
same partition and order, and nothing else is on the target.
"""

import json
import re
import time
import urllib.request

from kf_util import cf_create_topic, cf_produce, unique, wait_until
from test_mirror_util import (KferryProc, check_exact, end_offsets, wait_mirrored,
                              write_config)


def records(n, parts, seed):
    base = int(time.time() * 1000) - 3_600_000  # recent: retention must not touch them
    out = []
    for i in range(n):
        value = None if i % 17 == 0 else (b"" if i % 23 == 0 else b"v%d-%d-" % (seed, i) +
                                           b"z" * (i % 300))
        key = None if i % 29 == 0 else b"key-%d" % (i % 1000)
        headers = [] if i % 3 else [("h1", b"a%d" % i), ("h2", None), ("h1", b"dup")]
        out.append(dict(partition=i % parts, key=key, value=value, headers=headers,
                        timestamp=base + i))
    return out


def test_mirror_exact_copy_default_policy(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory()
    topics = {}
    for i, codec in enumerate(["lz4", "gzip", "zstd", "snappy"]):
        t = cf_create_topic(src.bootstrap, unique("copy"), 3,
                            config={"retention.ms": "987654321"} if i == 0 else None)
        cf_produce(src.bootstrap, t, records(3000, 3, i), **{"compression.type": codec,
                                                              "linger.ms": 20})
        topics[t] = 3
    excluded = [cf_create_topic(src.bootstrap, unique("x") + ".internal", 1),
                cf_create_topic(src.bootstrap, "__" + unique("hidden"), 1)]
    cfg = write_config(tmp_path / "mm2.properties", src, tgt,
                       extra={"kferry.metrics.port": "0", "src.consumer.fetch.min.bytes": "1"})
    kf = KferryProc(cfg, tmp_path).start()
    try:
        for t, n in topics.items():
            wait_mirrored(kf, src.bootstrap, tgt.bootstrap, t, "src." + t, n)
        # produce more while running: continuous replication
        first = next(iter(topics))
        cf_produce(src.bootstrap, first, records(1000, 3, 9))
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, first, "src." + first, 3)
        st = kf.status()
        wait_until(lambda: kf.status()["total_lag_records"] == 0, 30, "status lag 0")
        assert st["flow"] == "src->dst"
        assert {p["topic"] for p in st["partitions"]} == set(topics)
    finally:
        kf.stop(expect=0)
    log = kf.log_text()
    for x in excluded:
        assert re.search(r"not mirrored: %s \(" % re.escape(x), log), log[-3000:]
    total = 0
    for t, n in topics.items():
        total += check_exact(kf, src.bootstrap, tgt.bootstrap, t, n, expect_target="src." + t)
    assert total == 13000
    # topic configs: the explicitly set retention.ms was copied
    from confluent_kafka.admin import AdminClient, ConfigResource
    admin = AdminClient({"bootstrap.servers": tgt.bootstrap})
    res = ConfigResource(ConfigResource.Type.TOPIC, "src." + first)
    cfgs = admin.describe_configs([res])[res].result(10)
    assert cfgs["retention.ms"].value == "987654321"
    # translate: exact answers for a few offsets, "end" at the log end
    ends = end_offsets(src.bootstrap, first, 3)
    for off in (0, 5, ends[1] - 1):
        r = kf.translate(first, 1, off)
        assert r["status"] == "exact" and r["target_offset"] == off, r
    r = kf.translate(first, 1, ends[1])
    assert r["status"] == "end" and r["target_offset"] == ends[1], r
    r = kf.translate(first, 1, ends[1] + 10)
    assert r["status"] == "not-mirrored" and r["target_offset"] == -1, r


def test_mirror_identity_policy_and_metrics(broker_factory, tmp_path):
    src, tgt = broker_factory(), broker_factory()
    t = cf_create_topic(src.bootstrap, unique("ident"), 2)
    cf_produce(src.bootstrap, t, records(2000, 2, 1))
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cfg = write_config(tmp_path / "mm2.properties", src, tgt, identity=True,
                       extra={"kferry.metrics.port": str(port)})
    kf = KferryProc(cfg, tmp_path).start()
    try:
        wait_mirrored(kf, src.bootstrap, tgt.bootstrap, t, t, 2)

        def scrape():
            body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read()
            m = re.search(rb"^kferry_mirror_records_total (\d+)$", body, re.M)
            return m and int(m.group(1)) >= 2000 and body
        body = wait_until(scrape, 20, "metrics to count 2000 records")
        assert b"kferry_mirror_lag_records" in body and b"kferry_mirror_gaps_total 0" in body
    finally:
        kf.stop(expect=0)
    assert check_exact(kf, src.bootstrap, tgt.bootstrap, t, 2, expect_target=t) == 2000
    st = kf.status()
    assert st["total_lag_records"] == 0 and json.dumps(st)
