"""Hostile input on the Kafka port.

Raw sockets send garbage - impossible sizes, truncated frames, unknown API
keys, unsupported versions, bodies that lie about their lengths, random
bytes - while a real producer keeps producing on its own connection.  The
broker must close each bad connection (a response before closing is
tolerated), stay up, keep answering new connections, never stall other
clients behind a half-sent frame, and lose none of the producer's records.
"""

import random
import socket
import struct
import threading
import time

import confluent_kafka as ck

import kf_wire as kw
from kf_util import cf_create_topic, cf_producer, cf_read, unique, wait_until

CLOSE_TIMEOUT = 5.0


def frame(body):
    return struct.pack(">i", len(body)) + body


def hdr(api_key, version, corr=1, client_id="hostile"):
    return kw.W().i16(api_key).i16(version).i32(corr).string(client_id).b


def garbage_cases():
    """(name, bytes to send, half-close after sending)."""
    cases = [
        ("size 0x7fffffff", struct.pack(">i", 0x7FFFFFFF) + b"\0" * 16, False),
        ("size 0x7fffffff, nothing after it", struct.pack(">i", 0x7FFFFFFF), False),
        ("size 200 MB", struct.pack(">i", 200 << 20) + b"\1" * 64, False),
        ("negative size", struct.pack(">i", -1) + b"\0" * 8, False),
        ("size 0", struct.pack(">i", 0), False),
        ("frame shorter than a request header", frame(b"\0\x03\0"), False),
        ("header with client id longer than the frame",
         frame(kw.W().i16(3).i16(1).i32(7).i16(500).b + b"abc"), False),
        ("truncated frame, then EOF", struct.pack(">i", 100) + b"\0\x12\0\0\0\0\0\1", True),
        ("unknown API key 9999", frame(bytes(hdr(9999, 0))), False),
        ("unknown API key -1", frame(bytes(hdr(-1, 0))), False),
        ("Metadata v99", frame(bytes(hdr(kw.API_METADATA, 99))), False),
        ("Metadata v1 with topic count 0x7fffffff",
         frame(bytes(hdr(kw.API_METADATA, 1)) + struct.pack(">i", 0x7FFFFFFF)), False),
        ("Metadata v1 with 5 topics but no bytes for them",
         frame(bytes(hdr(kw.API_METADATA, 1)) + struct.pack(">i", 5)), False),
        ("Metadata v1 with a topic name longer than the frame",
         frame(bytes(hdr(kw.API_METADATA, 1)) + struct.pack(">ih", 1, 30000) + b"abc"), False),
        ("Produce v3 with partition count 0x7fffffff",
         frame(bytes(hdr(kw.API_PRODUCE, 3)) + bytes(kw.W().string(None).i16(1).i32(1000)
                                                      .i32(1).string("t").i32(0x7FFFFFFF).b)),
         False),
        ("Produce v3 with a records size past the frame",
         frame(bytes(hdr(kw.API_PRODUCE, 3)) + bytes(kw.W().string(None).i16(1).i32(1000)
                                                      .i32(1).string("t").i32(1).i32(0)
                                                      .i32(1 << 30).b) + b"\0" * 40), False),
        ("DeleteRecords v0 with negative topic count then junk",
         frame(bytes(hdr(kw.API_DELETE_RECORDS, 0)) + struct.pack(">i", -7) + b"\xff" * 9),
         False),
    ]
    rnd = random.Random(20240607)
    for n in range(8):
        body = bytearray(rnd.randbytes(rnd.randint(8, 600)))
        body[0:2] = struct.pack(">h", rnd.randint(1000, 32000))  # never a real API key
        cases.append(("random frame #%d (%d bytes)" % (n, len(body)), frame(bytes(body)), False))
    cases.append(("random byte stream, then EOF", rnd.randbytes(4096), True))
    return cases


class BackgroundProducer(threading.Thread):
    def __init__(self, bootstrap, topic):
        super().__init__(daemon=True)
        self.bootstrap, self.topic = bootstrap, topic
        self.acked, self.errors = [], []
        self.stop_evt = threading.Event()
        self.exc = None

    def run(self):
        try:
            p = cf_producer(self.bootstrap, **{"linger.ms": 0, "acks": "all",
                                               "message.timeout.ms": 20000})
            i = 0
            while not self.stop_evt.is_set():
                def cb(err, msg):
                    if err is None:
                        self.acked.append((msg.offset(), msg.value()))
                    else:
                        self.errors.append(err)
                p.produce(self.topic, value=b"bg-%06d" % i, partition=0, on_delivery=cb)
                i += 1
                p.poll(0.02)
            left = p.flush(20)
            if left:
                self.errors.append("%d records not delivered at the end" % left)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.exc = e


def assert_closes(broker, name, data, half_close):
    with kw.RawConn(broker.host, broker.port) as c:
        try:
            c.send(data)
            if half_close:
                c.sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            return  # closed while we were still sending: fine
        closed, got = c.wait_closed(CLOSE_TIMEOUT)
        assert closed, "%s: broker kept the connection open for %.0fs (received %d bytes)" % (
            name, CLOSE_TIMEOUT, got)
    assert broker.alive(), "broker died after: %s" % name


def assert_api_versions_ok(broker):
    with kw.RawConn(broker.host, broker.port) as c:
        err, apis = kw.api_versions(c)
    assert err == 0 and kw.API_API_VERSIONS in apis, "ApiVersions v0: error %d, %r" % (err, apis)
    return apis


def test_garbage_is_rejected_and_broker_keeps_serving(broker):
    bs = broker.bootstrap
    topic = cf_create_topic(bs, unique("hostile"), 1)
    apis = assert_api_versions_ok(broker)  # the raw client itself works
    bg = BackgroundProducer(bs, topic)
    bg.start()
    try:
        wait_until(lambda: len(bg.acked) >= 5 or bg.exc or bg.errors, 20,
                   "the background producer to get going")
        for name, data, half_close in garbage_cases():
            if name.startswith("random frame"):
                assert struct.unpack_from(">h", data, 4)[0] not in apis
            before = len(bg.acked)
            assert_closes(broker, name, data, half_close)
            assert_api_versions_ok(broker)
            wait_until(lambda: len(bg.acked) > before or bg.exc or bg.errors, 10,
                       "the producer to make progress after: %s" % name)
            assert bg.exc is None and not bg.errors, "producer failed after %s: %r %r" % (
                name, bg.exc, bg.errors[:3])

        # A valid request, then garbage on the same connection.
        with kw.RawConn(broker.host, broker.port) as c:
            err, _ = kw.api_versions(c)
            assert err == 0
            c.send(frame(bytes(hdr(9999, 0, corr=2))))
            closed, _ = c.wait_closed(CLOSE_TIMEOUT)
            assert closed, "unknown API key after a valid request: connection kept open"

        # A connection stuck in the middle of a frame must not stall others.
        slow = kw.RawConn(broker.host, broker.port)
        try:
            slow.send(struct.pack(">i", 1000) + b"\0\x03\0\x01")
            before = len(bg.acked)
            t0 = time.monotonic()
            assert_api_versions_ok(broker)
            wait_until(lambda: len(bg.acked) > before + 3 or bg.errors, 10,
                       "other clients to be served while a frame is half-sent")
            assert time.monotonic() - t0 < 10
        finally:
            slow.close()

        # Many connections opened and dropped at once.
        socks = [socket.create_connection((broker.host, broker.port), timeout=5)
                 for _ in range(200)]
        for s in socks:
            s.close()
        assert_api_versions_ok(broker)
    finally:
        bg.stop_evt.set()
        bg.join(30)
    assert bg.exc is None and not bg.errors, "background producer: %r %r" % (
        bg.exc, bg.errors[:5])
    assert broker.alive()
    offsets = [o for o, _ in bg.acked]
    assert offsets == list(range(len(offsets))), "acknowledged offsets are not 0..n-1"
    got = cf_read(bs, topic, {0: ck.OFFSET_BEGINNING}, count=len(offsets))[0]
    assert [(r.offset, r.value) for r in got] == bg.acked
