"""A deliberately small Kafka wire-protocol client over a raw socket, for
what the real clients on this machine cannot send: garbage frames, and
DeleteRecords (neither kafka-python 2.0.2 nor confluent-kafka 1.7.0 has it).

Only non-flexible request versions are encoded here.  Requests use header
v1 (api_key, api_version, correlation_id, client_id); responses header v0
(correlation_id).
"""

import socket
import struct
import time

API_PRODUCE = 0
API_LIST_OFFSETS = 2
API_METADATA = 3
API_API_VERSIONS = 18
API_DELETE_RECORDS = 21


class W:
    """Big-endian writer."""

    def __init__(self):
        self.b = bytearray()

    def i8(self, v):
        self.b += struct.pack(">b", v)
        return self

    def i16(self, v):
        self.b += struct.pack(">h", v)
        return self

    def i32(self, v):
        self.b += struct.pack(">i", v)
        return self

    def i64(self, v):
        self.b += struct.pack(">q", v)
        return self

    def string(self, s):
        if s is None:
            return self.i16(-1)
        e = s.encode()
        self.i16(len(e))
        self.b += e
        return self

    def array(self, items, fn):
        self.i32(len(items))
        for it in items:
            fn(self, it)
        return self

    def raw(self, data):
        self.b += data
        return self


class R:
    """Big-endian reader; raises ValueError past the end."""

    def __init__(self, data):
        self.d, self.p = data, 0

    def _take(self, fmt):
        n = struct.calcsize(fmt)
        if self.p + n > len(self.d):
            raise ValueError("response truncated at byte %d" % self.p)
        v = struct.unpack_from(fmt, self.d, self.p)[0]
        self.p += n
        return v

    def i8(self):
        return self._take(">b")

    def i16(self):
        return self._take(">h")

    def i32(self):
        return self._take(">i")

    def i64(self):
        return self._take(">q")

    def string(self):
        n = self.i16()
        if n < 0:
            return None
        s = self.d[self.p:self.p + n].decode()
        self.p += n
        return s

    def array(self, fn):
        n = self.i32()
        return [] if n < 0 else [fn(self) for _ in range(n)]

    def remaining(self):
        return len(self.d) - self.p


def request_frame(api_key, api_version, correlation_id, body, client_id="kferry-it"):
    hdr = W().i16(api_key).i16(api_version).i32(correlation_id).string(client_id).b
    payload = bytes(hdr) + bytes(body)
    return struct.pack(">i", len(payload)) + payload


class RawConn:
    """One TCP connection to the broker."""

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.corr = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _recv_exact(self, n, deadline):
        buf = bytearray()
        while len(buf) < n:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by broker after %d of %d bytes"
                                      % (len(buf), n))
            buf += chunk
        return bytes(buf)

    def request(self, api_key, api_version, body, timeout=10.0):
        """Sends one request and returns the response body (after the
        correlation id), checking that the correlation id matches."""
        self.corr += 1
        corr = self.corr
        self.send(request_frame(api_key, api_version, corr, body))
        deadline = time.monotonic() + timeout
        size = struct.unpack(">i", self._recv_exact(4, deadline))[0]
        if size < 4 or size > 64 << 20:
            raise ValueError("implausible response size %d" % size)
        data = self._recv_exact(size, deadline)
        got = struct.unpack_from(">i", data)[0]
        if got != corr:
            raise ValueError("correlation id %d, expected %d" % (got, corr))
        return R(data[4:])

    def wait_closed(self, timeout=5.0):
        """Reads and discards until the broker closes the connection.
        Returns (closed, bytes_received_before_close)."""
        deadline = time.monotonic() + timeout
        got = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False, got
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False, got
            except (ConnectionResetError, BrokenPipeError):
                return True, got
            if not chunk:
                return True, got
            got += len(chunk)


# ---------------------------------------------------------------- requests


def api_versions(conn):
    """ApiVersions v0 -> (error_code, {api_key: (min, max)})."""
    r = conn.request(API_API_VERSIONS, 0, b"")
    err = r.i16()
    apis = r.array(lambda r: (r.i16(), r.i16(), r.i16()))
    return err, {k: (lo, hi) for k, lo, hi in apis}


def delete_records(conn, topic, partition_offsets, timeout_ms=10000, version=0):
    """DeleteRecords v0/v1 for one topic.  partition_offsets: {partition:
    offset}.  Returns {partition: (low_watermark, error_code)}."""
    body = W().array([topic], lambda w, t: (
        w.string(t).array(sorted(partition_offsets.items()),
                          lambda w, po: w.i32(po[0]).i64(po[1])))).i32(timeout_ms).b
    r = conn.request(API_DELETE_RECORDS, version, body)
    r.i32()  # throttle
    out = {}
    for name, parts in r.array(lambda r: (r.string(), r.array(
            lambda r: (r.i32(), r.i64(), r.i16())))):
        if name != topic:
            raise ValueError("DeleteRecords response for topic %r" % name)
        for p, low, err in parts:
            out[p] = (low, err)
    return out


def list_offsets(conn, topic, partition_times, version=1):
    """ListOffsets v1 -> {partition: (error_code, timestamp, offset)}.
    partition_times: {partition: -2 (earliest) | -1 (latest) | ts}."""
    body = W().i32(-1)
    if version >= 2:
        body.i8(0)
    body.array([topic], lambda w, t: w.string(t).array(
        sorted(partition_times.items()), lambda w, pt: w.i32(pt[0]).i64(pt[1])))
    r = conn.request(API_LIST_OFFSETS, version, body.b)
    if version >= 2:
        r.i32()
    out = {}
    for name, parts in r.array(lambda r: (r.string(), r.array(
            lambda r: (r.i32(), r.i16(), r.i64(), r.i64())))):
        for p, err, ts, off in parts:
            out[p] = (err, ts, off)
    return out


def _varint(v):
    """Zig-zag varint, as records use them."""
    z = (v << 1) ^ (v >> 63)
    out = bytearray()
    while True:
        b = z & 0x7F
        z >>= 7
        if z:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def record_batch(values, timestamp_ms=None):
    """One uncompressed RecordBatch v2 (BaseOffset 0, no producer id)
    holding the given values (bytes), keys null, no headers."""
    from kf_segments import crc32c
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    recs = bytearray()
    for i, v in enumerate(values):
        body = (bytes([0]) + _varint(0) + _varint(i) + _varint(-1) + _varint(len(v)) + v
                + _varint(0))
        recs += _varint(len(body)) + body
    after_crc = (W().i16(0).i32(len(values) - 1).i64(ts).i64(ts).i64(-1).i16(-1).i32(-1)
                 .i32(len(values)).b + recs)
    crc = crc32c(after_crc)
    tail = W().i32(0).i8(2).raw(struct.pack(">I", crc)).raw(after_crc).b
    return bytes(W().i64(0).i32(len(tail)).raw(tail).b)


def produce_body(topic, partition, batch, acks=1, timeout_ms=10000):
    """Produce v3 request body: one topic, one partition, one batch."""
    return bytes(W().string(None).i16(acks).i32(timeout_ms).array([topic], lambda w, t: (
        w.string(t).array([partition], lambda w, p: w.i32(p).i32(len(batch)).raw(batch)))).b)


def parse_produce_v3(r):
    """Produce v3 response -> [(topic, partition, error_code, base_offset)]."""
    out = []
    for name, parts in r.array(lambda r: (r.string(), r.array(
            lambda r: (r.i32(), r.i16(), r.i64(), r.i64())))):
        for p, err, base, _lat in parts:
            out.append((name, p, err, base))
    r.i32()  # throttle
    return out


def read_response(conn, deadline):
    """Reads one response frame: (correlation_id, R over the body)."""
    size = struct.unpack(">i", conn._recv_exact(4, deadline))[0]
    if size < 4 or size > 64 << 20:
        raise ValueError("implausible response size %d" % size)
    data = conn._recv_exact(size, deadline)
    return struct.unpack_from(">i", data)[0], R(data[4:])
