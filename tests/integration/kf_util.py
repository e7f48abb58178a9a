"""Helpers shared by the integration tests: polling with deadlines, unique
names, and thin wrappers over confluent-kafka, kafka-python and kcat.

Records are compared as Rec tuples so that every client's view can be
checked against what was produced with plain ==.
"""

import collections
import ctypes
import itertools
import subprocess
import time
import uuid

import confluent_kafka as ck
from confluent_kafka.admin import AdminClient, NewTopic

# What a record looks like to a test, whichever client read it.  headers
# is a tuple of (str, bytes|None); ts is the CreateTime in ms.
Rec = collections.namedtuple("Rec", "partition offset key value headers ts")

_counter = itertools.count()


def unique(prefix="t"):
    """A topic/group name unique within this run."""
    return "%s-%d-%s" % (prefix, next(_counter), uuid.uuid4().hex[:8])


def wait_until(pred, timeout, what, interval=0.05):
    """Polls pred() until it returns something truthy, returns that value;
    raises AssertionError naming `what` after `timeout` seconds.  The last
    exception raised by pred (if any) is included in the message."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - reported below
            last_exc = e
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s%s" % (
                timeout, what, "" if last_exc is None else " (last error: %r)" % last_exc))
        time.sleep(interval)


def now_ms():
    return int(time.time() * 1000)


# ---------------------------------------------------------------- confluent-kafka


def cf_conf(bootstrap, **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        "broker.address.family": "v4",
        "socket.timeout.ms": 10000,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500,
    }
    conf.update({k.replace("_", "."): v for k, v in extra.items()})
    return conf


def cf_create_topic(bootstrap, name, partitions=1, config=None, timeout=20):
    admin = AdminClient(cf_conf(bootstrap))
    fs = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                       config=config or {})], operation_timeout=10)
    fs[name].result(timeout=timeout)
    # Metadata must show the topic with all partitions before tests use it.
    wait_until(lambda: len(cf_partitions(bootstrap, name, admin)) == partitions, 10,
               "topic %s to show %d partitions in Metadata" % (name, partitions))
    return name


def cf_partitions(bootstrap, topic, admin=None):
    admin = admin or AdminClient(cf_conf(bootstrap))
    md = admin.list_topics(topic=topic, timeout=10)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return {}
    return t.partitions


def cf_producer(bootstrap, **extra):
    conf = cf_conf(bootstrap, **{"linger.ms": 5, "message.timeout.ms": 30000})
    conf.update({k.replace("_", "."): v for k, v in extra.items()})
    return ck.Producer(conf)


def cf_produce(bootstrap, topic, records, timeout=30, **extra):
    """Produces records = iterable of dicts (kwargs of Producer.produce:
    value, key, partition, timestamp, headers).  Returns the delivery
    reports [(partition, offset, error)] in produce order."""
    p = cf_producer(bootstrap, **extra)
    reports = []
    for i, r in enumerate(records):
        reports.append(None)

        def cb(err, msg, i=i):
            reports[i] = (msg.partition(), msg.offset(), err)

        while True:
            try:
                p.produce(topic, on_delivery=cb, **r)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(timeout)
    assert left == 0, "%d messages not delivered within %ss" % (left, timeout)
    return reports


def cf_consumer(bootstrap, group=None, **extra):
    conf = cf_conf(bootstrap, **{
        "group.id": group or unique("g-unused"),
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        "auto.offset.reset": "error",
        "fetch.wait.max.ms": 100,
    })
    conf.update({k.replace("_", "."): v for k, v in extra.items()})
    return ck.Consumer(conf)


# confluent-kafka < 1.8.2 loses one reference to None for every null header
# value of a consumed message (confluent-kafka-python issue #1191, fixed in
# 1.8.2); after a few hundred such records the interpreter aborts at exit
# with "Fatal Python error: none_dealloc".  Debian 12 ships 1.7.0.
_CK_NULL_HEADER_REFBUG = ck.version()[1] < 0x01080200
_py_incref = ctypes.pythonapi.Py_IncRef
_py_incref.argtypes = [ctypes.py_object]
_py_incref.restype = None


def cf_headers(m):
    """m.headers(), giving back the reference confluent-kafka < 1.8.2 steals
    for each null header value.  Use it instead of m.headers(), once per
    message (later calls return the same cached list; calling again only
    over-counts None, which is harmless)."""
    h = m.headers()
    if h and _CK_NULL_HEADER_REFBUG:
        for _, v in h:
            if v is None:
                _py_incref(None)
    return h


def cf_msg_to_rec(m):
    ts_type, ts = m.timestamp()
    headers = tuple((k, v) for k, v in (cf_headers(m) or []))
    return Rec(m.partition(), m.offset(), m.key(), m.value(), headers, ts)


def _read_loop(poll_one, count, min_each, partitions, what, timeout):
    out = {p: [] for p in partitions}
    got = 0
    deadline = time.monotonic() + timeout

    def done():
        if count is not None and got < count:
            return False
        if min_each is not None and any(len(v) < min_each for v in out.values()):
            return False
        return True

    while not done():
        assert time.monotonic() < deadline, (
            "%s read %d records (wanted %s, at least %s per partition) in %ss: %s"
            % (what, got, count, min_each, timeout, {p: len(v) for p, v in out.items()}))
        for rec in poll_one():
            out[rec.partition].append(rec)
            got += 1
    return out


def cf_read(bootstrap, topic, start, count=None, min_each=None, timeout=30, consumer=None,
            **extra):
    """Reads with confluent-kafka by assign() from start = {partition:
    offset} (offset may be ck.OFFSET_BEGINNING) until `count` records in
    total and/or at least `min_each` per partition have arrived.  Returns
    {partition: [Rec]}; fails if they do not arrive within timeout."""
    c = consumer or cf_consumer(bootstrap, **extra)
    try:
        c.assign([ck.TopicPartition(topic, p, o) for p, o in start.items()])

        def poll_one():
            m = c.poll(0.2)
            if m is None:
                return []
            assert m.error() is None, "confluent-kafka consumer error: %s" % m.error()
            return [cf_msg_to_rec(m)]

        return _read_loop(poll_one, count, min_each, start, "confluent-kafka", timeout)
    finally:
        if consumer is None:
            c.close()


def cf_watermarks(bootstrap, topic, partition, timeout=10):
    """(low, high) via ListOffsets, with confluent-kafka."""
    c = cf_consumer(bootstrap)
    try:
        return c.get_watermark_offsets(ck.TopicPartition(topic, partition), timeout=timeout,
                                       cached=False)
    finally:
        c.close()


# ---------------------------------------------------------------- kafka-python


def kp_kwargs(bootstrap, **extra):
    kw = dict(bootstrap_servers=bootstrap, request_timeout_ms=15000,
              reconnect_backoff_ms=50, reconnect_backoff_max_ms=500,
              api_version_auto_timeout_ms=10000)
    kw.update(extra)
    return kw


def kp_msg_to_rec(m):
    headers = tuple((k, v) for k, v in (m.headers or []))
    return Rec(m.partition, m.offset, m.key, m.value, headers, m.timestamp)


def kp_consumer(bootstrap, **extra):
    from kafka import KafkaConsumer
    kw = dict(group_id=None, enable_auto_commit=False, auto_offset_reset="none",
              fetch_max_wait_ms=100)
    kw.update(extra)
    return KafkaConsumer(**kp_kwargs(bootstrap, **kw))


def kp_read(bootstrap, topic, start, count=None, min_each=None, timeout=30, consumer=None):
    """kafka-python counterpart of cf_read; start = {partition: offset, or
    None for the beginning}."""
    from kafka import TopicPartition
    c = consumer or kp_consumer(bootstrap)
    try:
        tps = {p: TopicPartition(topic, p) for p in start}
        c.assign(list(tps.values()))
        for p, off in start.items():
            if off is None:
                c.seek_to_beginning(tps[p])
            else:
                c.seek(tps[p], off)

        def poll_one():
            recs = []
            for tp, msgs in c.poll(timeout_ms=200).items():
                recs.extend(kp_msg_to_rec(m) for m in msgs)
            return recs

        return _read_loop(poll_one, count, min_each, start, "kafka-python", timeout)
    finally:
        if consumer is None:
            c.close()


# ---------------------------------------------------------------- kcat


def kcat(args, input=None, timeout=60, check=True):
    """Runs kcat with args (list); returns CompletedProcess (bytes)."""
    cmd = ["kcat", "-X", "broker.address.family=v4"] + list(args)
    cp = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout)
    if check:
        assert cp.returncode == 0, "kcat %s exited %d; stderr:\n%s" % (
            " ".join(args), cp.returncode, cp.stderr.decode(errors="replace")[-3000:])
    return cp
