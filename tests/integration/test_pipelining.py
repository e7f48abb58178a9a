"""A client that pipelines requests must be slowed down, never disconnected.

The broker handles one request per connection at a time; while it is busy,
or while more input is buffered than it will hold, it must stop reading that
socket (TCP backpressure) and carry on once the queued requests are served.
Kafka answers every pipelined request, in order; so must kferry-broker.
"""

import threading
import time

from kf_util import cf_create_topic, cf_producer, cf_read, unique
from kf_wire import (API_METADATA, API_PRODUCE, W, RawConn, parse_produce_v3, produce_body,
                     read_response, record_batch, request_frame)

LIMIT = 300000  # socket.request.max.bytes for the raw test


def metadata_v1_body(topic):
    return bytes(W().array([topic], lambda w, t: w.string(t)).b)


def test_pipelined_requests_beyond_the_input_limit_are_all_answered(broker_factory):
    broker = broker_factory({"socket.request.max.bytes": str(LIMIT)})
    topic = cf_create_topic(broker.bootstrap, unique("pipe"))
    values = [bytes([65 + i]) * 100000 for i in range(2)]  # ~200 kB per request
    batch = record_batch(values)
    produce = produce_body(topic, 0, batch, acks=1)
    assert len(produce) < LIMIT
    n = 150  # ~30 MB in all: 100 times the broker's per-request limit
    frames, kinds = [], []
    for i in range(n):
        corr = i + 1
        if i % 10 == 9:
            frames.append(request_frame(API_METADATA, 1, corr, metadata_v1_body(topic)))
            kinds.append("metadata")
        else:
            frames.append(request_frame(API_PRODUCE, 3, corr, produce))
            kinds.append("produce")
    sent = sum(len(f) for f in frames)
    assert sent > 50 * LIMIT

    with RawConn(broker.host, broker.port, timeout=60) as conn:
        send_exc = []

        def sender():
            try:
                for f in frames:  # back to back, without reading a response
                    conn.send(f)
            except OSError as e:
                send_exc.append(e)

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        t.join(60)
        assert not t.is_alive(), "sending %d pipelined bytes did not finish in 60 s" % sent
        assert not send_exc, "broker broke the connection while we were sending: %r" % send_exc
        deadline = time.monotonic() + 60
        next_offset = 0
        for i in range(n):
            try:
                corr, r = read_response(conn, deadline)
            except ConnectionError as e:
                raise AssertionError("connection closed after %d of %d responses: %s"
                                     % (i, n, e))
            assert corr == i + 1, "response %d has correlation id %d" % (i + 1, corr)
            if kinds[i] == "produce":
                parts = parse_produce_v3(r)
                assert parts == [(topic, 0, 0, next_offset)], parts
                next_offset += len(values)
            else:
                r.array(lambda r: (r.i32(), r.string(), r.i32(), r.string()))  # brokers
                r.i32()  # controller id
                topics = r.array(lambda r: (r.i16(), r.string(), r.i8(), r.array(
                    lambda r: (r.i16(), r.i32(), r.i32(), r.array(lambda r: r.i32()),
                               r.array(lambda r: r.i32())))))
                assert [(e, name) for e, name, _i, _p in topics] == [(0, topic)], topics

    assert "closing connection" not in broker.stderr_text()
    got = cf_read(broker.bootstrap, topic, {0: 0}, count=next_offset)[0]
    assert len(got) == next_offset
    assert [r.value for r in got[:2]] == values


def test_producer_with_unbounded_in_flight_is_not_disconnected(broker_factory):
    # A limit just above one request's size, so buffered pipelined input
    # exceeds it quickly (with the default 100 MiB the race is rarely lost).
    broker = broker_factory({"socket.request.max.bytes": "1048576"})
    topic = cf_create_topic(broker.bootstrap, unique("pipe-cf"))
    p = cf_producer(broker.bootstrap, **{"linger.ms": 0, "max.in.flight": 1000000,
                                         "batch.num.messages": 1, "acks": 1,
                                         "queue.buffering.max.kbytes": 2097151})
    n, size = 1500, 100000
    errors = []

    def cb(err, msg):
        if err is not None:
            errors.append(err)

    for i in range(n):
        while True:
            try:
                p.produce(topic, value=b"%06d" % i + b"x" * (size - 6), partition=0,
                          on_delivery=cb)
                break
            except BufferError:
                p.poll(0.01)
    assert p.flush(60) == 0
    assert not errors, errors[:5]
    assert "closing connection" not in broker.stderr_text()
    got = cf_read(broker.bootstrap, topic, {0: 0}, count=n, timeout=60)[0]
    assert [r.value[:6] for r in got] == [b"%06d" % i for i in range(n)]
