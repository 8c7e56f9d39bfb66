"""Hand-written Kafka wire codec for the raw-socket protocol tests.

The client libraries used elsewhere in this suite never send malformed,
pipelined or deliberately oversized requests, so the protocol tests build
frames byte by byte here. The codec is deliberately small and independent of
the broker's C codec (a shared bug cannot hide itself): request header v1/v2,
the handful of APIs the data path needs (ApiVersions, Metadata, Produce,
Fetch, ListOffsets) in both classic and flexible encodings, and RecordBatch
magic 2 with a table-driven CRC-32C. Every socket read has a timeout, so a
broker that stops answering fails a test instead of hanging it.
"""

import socket
import struct
import time
import zlib

# ---------------------------------------------------------------- CRC-32C


def _crc32c_table():
    poly = 0x82F63B78  # Castagnoli, reflected
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data, crc=0):
    """Standard CRC-32C (iSCSI): crc32c(b"123456789") == 0xE3069283."""
    crc ^= 0xFFFFFFFF
    table = _CRC32C_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283

# ------------------------------------------------------------- constants

PRODUCE = 0
FETCH = 1
LIST_OFFSETS = 2
METADATA = 3
API_VERSIONS = 18
CREATE_TOPICS = 19
DELETE_RECORDS = 21

# First flexible version of each API we encode.
FLEXIBLE_FROM = {PRODUCE: 9, FETCH: 12, LIST_OFFSETS: 6, METADATA: 9,
                 API_VERSIONS: 3, DELETE_RECORDS: 2}

# Versions this codec can encode and decode (inclusive). Fetch stops at 12
# (13+ addresses topics by id), Metadata at 9 (10+ adds topic ids).
CODEC_RANGE = {PRODUCE: (3, 11), FETCH: (4, 12), LIST_OFFSETS: (1, 7),
               METADATA: (1, 9), API_VERSIONS: (0, 3)}

# Kafka error codes used by the tests.
NONE = 0
OFFSET_OUT_OF_RANGE = 1
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
MESSAGE_TOO_LARGE = 10
INVALID_TOPIC_EXCEPTION = 17
INVALID_REQUIRED_ACKS = 21
UNSUPPORTED_FOR_MESSAGE_FORMAT = 43
UNSUPPORTED_VERSION = 35
INVALID_RECORD = 87

EARLIEST = -2
LATEST = -1


def is_flexible(api_key, version):
    f = FLEXIBLE_FROM.get(api_key)
    return f is not None and version >= f


class ProtocolError(Exception):
    pass


# ---------------------------------------------------------------- varints


def uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(n):
    """Zig-zag signed varint (also used for varlong)."""
    return uvarint((n << 1) ^ (n >> 63))


# ----------------------------------------------------------------- writer


class Writer:
    """Appends Kafka primitive types; `flex` selects compact encodings."""

    def __init__(self, flex=False):
        self.buf = bytearray()
        self.flex = flex

    def raw(self, b):
        self.buf += b
        return self

    def i8(self, v):
        return self.raw(struct.pack(">b", v))

    def i16(self, v):
        return self.raw(struct.pack(">h", v))

    def i32(self, v):
        return self.raw(struct.pack(">i", v))

    def u32(self, v):
        return self.raw(struct.pack(">I", v))

    def i64(self, v):
        return self.raw(struct.pack(">q", v))

    def boolean(self, v):
        return self.i8(1 if v else 0)

    def uvarint(self, v):
        return self.raw(uvarint(v))

    def string(self, s):
        if s is None:
            return self.uvarint(0) if self.flex else self.i16(-1)
        b = s.encode() if isinstance(s, str) else s
        if self.flex:
            self.uvarint(len(b) + 1)
        else:
            self.i16(len(b))
        return self.raw(b)

    def bytes_(self, b):
        if b is None:
            return self.uvarint(0) if self.flex else self.i32(-1)
        if self.flex:
            self.uvarint(len(b) + 1)
        else:
            self.i32(len(b))
        return self.raw(b)

    def array_len(self, n):
        if n is None:
            return self.uvarint(0) if self.flex else self.i32(-1)
        return self.uvarint(n + 1) if self.flex else self.i32(n)

    def tags(self):
        """Empty tagged-field section (flexible versions only)."""
        if self.flex:
            self.uvarint(0)
        return self

    def getvalue(self):
        return bytes(self.buf)


# ----------------------------------------------------------------- reader


class Reader:
    """Bounded reader; any read past the end raises ProtocolError."""

    def __init__(self, data, flex=False):
        self.data = data
        self.pos = 0
        self.flex = flex

    def remaining(self):
        return len(self.data) - self.pos

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise ProtocolError("short read: need %d at %d of %d"
                                % (n, self.pos, len(self.data)))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def _unpack(self, fmt, n):
        return struct.unpack(fmt, self.take(n))[0]

    def i8(self):
        return self._unpack(">b", 1)

    def i16(self):
        return self._unpack(">h", 2)

    def i32(self):
        return self._unpack(">i", 4)

    def u32(self):
        return self._unpack(">I", 4)

    def i64(self):
        return self._unpack(">q", 8)

    def boolean(self):
        return self.i8() != 0

    def uvarint(self):
        shift = 0
        result = 0
        while True:
            b = self.take(1)[0]
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise ProtocolError("varint too long")

    def varint(self):
        n = self.uvarint()
        return (n >> 1) ^ -(n & 1)

    def string(self):
        n = self.uvarint() - 1 if self.flex else self.i16()
        if n < 0:
            return None
        return self.take(n).decode("utf-8", "replace")

    def bytes_(self):
        n = self.uvarint() - 1 if self.flex else self.i32()
        if n < 0:
            return None
        return self.take(n)

    def array_len(self):
        n = self.uvarint() - 1 if self.flex else self.i32()
        return n  # -1 means null

    def tags(self):
        if not self.flex:
            return
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self.take(self.uvarint())

    def array(self, fn):
        n = self.array_len()
        if n < 0:
            return None
        return [fn() for _ in range(n)]


# ---------------------------------------------------------- record batches


class Record:
    __slots__ = ("offset", "timestamp", "key", "value", "headers")

    def __init__(self, offset, timestamp, key, value, headers):
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.value = value
        self.headers = headers

    def __repr__(self):
        return "Record(%d, %r, %r)" % (self.offset, self.key, self.value)


def encode_record_batch(records, base_offset=0, base_timestamp=None,
                        compression=0, corrupt_crc=False, magic=2,
                        last_offset_delta=None, count=None,
                        length_adjust=0):
    """RecordBatch (magic 2 layout). records: list of (key, value) or
    (key, value, headers) or (key, value, headers, timestamp_ms). The
    keyword arguments after compression build deliberately broken batches
    (the CRC is still computed over what is sent unless corrupt_crc)."""
    if base_timestamp is None:
        base_timestamp = int(time.time() * 1000)
    body = bytearray()
    max_ts = base_timestamp
    for i, rec in enumerate(records):
        key, value = rec[0], rec[1]
        headers = rec[2] if len(rec) > 2 and rec[2] else []
        ts = rec[3] if len(rec) > 3 else base_timestamp
        max_ts = max(max_ts, ts)
        r = bytearray()
        r += b"\x00"  # attributes
        r += varint(ts - base_timestamp)
        r += varint(i)
        for field in (key, value):
            if field is None:
                r += varint(-1)
            else:
                r += varint(len(field)) + field
        r += varint(len(headers))
        for hk, hv in headers:
            hk = hk.encode() if isinstance(hk, str) else hk
            r += varint(len(hk)) + hk
            if hv is None:
                r += varint(-1)
            else:
                r += varint(len(hv)) + hv
        body += varint(len(r)) + r
    payload = bytes(body)
    if compression == 1:
        c = zlib.compressobj(wbits=31)  # gzip container
        payload = c.compress(payload) + c.flush()
    elif compression != 0:
        raise ValueError("only none and gzip are encoded here")
    if last_offset_delta is None:
        last_offset_delta = len(records) - 1
    if count is None:
        count = len(records)
    after_crc = (struct.pack(">hiqqqhii", compression, last_offset_delta,
                             base_timestamp, max_ts, -1, -1, -1,
                             count) + payload)
    crc = crc32c(after_crc)
    if corrupt_crc:
        crc ^= 0xDEADBEEF
    after_len = struct.pack(">ibI", 0, magic, crc) + after_crc
    return (struct.pack(">qi", base_offset, len(after_len) + length_adjust)
            + after_len)


def whole_batches(data):
    """Yield (position, base offset, length) of each whole batch in a Fetch
    response's records bytes; a partial batch at the end (allowed by the
    protocol) ends the walk."""
    pos = 0
    while len(data) - pos >= 12:
        base_offset, length = struct.unpack_from(">qi", data, pos)
        if length < 0 or pos + 12 + length > len(data):
            return  # partial trailing batch
        yield pos, base_offset, length
        pos += 12 + length


def batch_headers(data):
    """(base offset, record count, producer id, producer epoch, base
    sequence) of each whole batch in a Fetch response's records bytes."""
    out = []
    for pos, base, _ in whole_batches(data):
        pid, epoch, seq, count = struct.unpack_from(">qhii", data, pos + 43)
        out.append((base, count, pid, epoch, seq))
    return out


def decode_record_batches(data, check_crc=True):
    """Yield Records from a Fetch response's records bytes. A partial batch
    at the end (allowed by the protocol) is ignored."""
    out = []
    for pos, base_offset, length in whole_batches(data):
        batch = data[pos + 12:pos + 12 + length]
        _, magic, crc = struct.unpack_from(">ibI", batch, 0)
        if magic != 2:
            raise ProtocolError("magic %d batch at offset %d"
                                % (magic, base_offset))
        if check_crc and crc32c(batch[9:]) != crc:
            raise ProtocolError("bad CRC in batch at offset %d" % base_offset)
        (attrs, _last_delta, base_ts, _max_ts, _pid, _pepoch, _bseq,
         count) = struct.unpack_from(">hiqqqhii", batch, 9)
        if attrs & 0x20:
            continue  # control batch
        payload = batch[9 + 40:]
        codec = attrs & 7
        if codec == 1:
            payload = zlib.decompress(payload, wbits=47)
        elif codec != 0:
            raise ProtocolError("codec %d not decoded here" % codec)
        r = Reader(payload)
        for _ in range(count):
            rlen = r.varint()
            rr = Reader(r.take(rlen))
            rr.i8()
            ts_delta = rr.varint()
            off_delta = rr.varint()
            klen = rr.varint()
            key = rr.take(klen) if klen >= 0 else None
            vlen = rr.varint()
            value = rr.take(vlen) if vlen >= 0 else None
            headers = []
            for _ in range(rr.varint()):
                hk = rr.take(rr.varint())
                hvl = rr.varint()
                headers.append((hk, rr.take(hvl) if hvl >= 0 else None))
            out.append(Record(base_offset + off_delta, base_ts + ts_delta,
                              key, value, headers))
    return out


# ---------------------------------------------------------- request bodies


def req_api_versions(version):
    w = Writer(is_flexible(API_VERSIONS, version))
    if version >= 3:
        w.string("strata-it").string("0.1").tags()
    return w.getvalue()


def req_metadata(version, topics=None, allow_auto_create=False):
    w = Writer(is_flexible(METADATA, version))
    if topics is None:
        w.array_len(None if version >= 1 else 0)
    else:
        w.array_len(len(topics))
        for t in topics:
            w.string(t).tags()
    if version >= 4:
        w.boolean(allow_auto_create)
    if version >= 8:
        if version <= 10:
            w.boolean(False)
        w.boolean(False)
    w.tags()
    return w.getvalue()


def req_produce(version, acks, timeout_ms, data):
    """data: list of (topic, partition, records_bytes)."""
    w = Writer(is_flexible(PRODUCE, version))
    w.string(None)  # transactional id
    w.i16(acks).i32(timeout_ms)
    by_topic = {}
    for topic, part, recs in data:
        by_topic.setdefault(topic, []).append((part, recs))
    w.array_len(len(by_topic))
    for topic, parts in by_topic.items():
        w.string(topic).array_len(len(parts))
        for part, recs in parts:
            w.i32(part).bytes_(recs).tags()
        w.tags()
    w.tags()
    return w.getvalue()


def req_fetch(version, parts, max_wait_ms=0, min_bytes=1,
              max_bytes=64 << 20, partition_max_bytes=16 << 20):
    """parts: list of (topic, partition, fetch_offset)."""
    w = Writer(is_flexible(FETCH, version))
    w.i32(-1).i32(max_wait_ms).i32(min_bytes).i32(max_bytes)
    w.i8(0)  # isolation level (v4+)
    if version >= 7:
        w.i32(0).i32(-1)  # sessionless full fetch
    by_topic = {}
    for topic, part, off in parts:
        by_topic.setdefault(topic, []).append((part, off))
    w.array_len(len(by_topic))
    for topic, plist in by_topic.items():
        w.string(topic).array_len(len(plist))
        for part, off in plist:
            w.i32(part)
            if version >= 9:
                w.i32(-1)
            w.i64(off)
            if version >= 12:
                w.i32(-1)
            if version >= 5:
                w.i64(-1)
            w.i32(partition_max_bytes).tags()
        w.tags()
    if version >= 7:
        w.array_len(0)
    if version >= 11:
        w.string("")
    w.tags()
    return w.getvalue()


def req_delete_records(version, parts, timeout_ms=10000):
    """parts: list of (topic, partition, offset)."""
    w = Writer(is_flexible(DELETE_RECORDS, version))
    by_topic = {}
    for topic, part, off in parts:
        by_topic.setdefault(topic, []).append((part, off))
    w.array_len(len(by_topic))
    for topic, plist in by_topic.items():
        w.string(topic).array_len(len(plist))
        for part, off in plist:
            w.i32(part).i64(off).tags()
        w.tags()
    w.i32(timeout_ms).tags()
    return w.getvalue()


def parse_delete_records(r, version):
    """Returns {(topic, partition): (error, low_watermark)}."""
    r.flex = is_flexible(DELETE_RECORDS, version)
    r.i32()
    out = {}
    for _ in range(r.array_len()):
        topic = r.string()
        for _ in range(r.array_len()):
            part, low, err = r.i32(), r.i64(), r.i16()
            r.tags()
            out[(topic, part)] = (err, low)
        r.tags()
    r.tags()
    return out


def req_list_offsets(version, parts):
    """parts: list of (topic, partition, timestamp)."""
    w = Writer(is_flexible(LIST_OFFSETS, version))
    w.i32(-1)
    if version >= 2:
        w.i8(0)
    by_topic = {}
    for topic, part, ts in parts:
        by_topic.setdefault(topic, []).append((part, ts))
    w.array_len(len(by_topic))
    for topic, plist in by_topic.items():
        w.string(topic).array_len(len(plist))
        for part, ts in plist:
            w.i32(part)
            if version >= 4:
                w.i32(-1)
            w.i64(ts).tags()
        w.tags()
    w.tags()
    return w.getvalue()


# -------------------------------------------------------- response decoders


def parse_api_versions(r, version):
    r.flex = is_flexible(API_VERSIONS, version)
    err = r.i16()

    def one():
        k, lo, hi = r.i16(), r.i16(), r.i16()
        r.tags()
        return k, lo, hi
    keys = r.array(one) or []
    return err, {k: (lo, hi) for k, lo, hi in keys}


def parse_metadata(r, version):
    r.flex = is_flexible(METADATA, version)
    out = {"brokers": [], "topics": {}}
    if version >= 3:
        r.i32()

    def broker():
        b = {"node_id": r.i32(), "host": r.string(), "port": r.i32()}
        if version >= 1:
            b["rack"] = r.string()
        r.tags()
        return b
    out["brokers"] = r.array(broker) or []
    if version >= 2:
        out["cluster_id"] = r.string()
    if version >= 1:
        out["controller_id"] = r.i32()

    def int32():
        return r.i32()

    def partition():
        p = {"error": r.i16(), "index": r.i32(), "leader": r.i32()}
        if version >= 7:
            p["leader_epoch"] = r.i32()
        p["replicas"] = r.array(int32)
        p["isr"] = r.array(int32)
        if version >= 5:
            p["offline"] = r.array(int32)
        r.tags()
        return p

    def topic():
        t = {"error": r.i16(), "name": r.string()}
        if version >= 1:
            t["internal"] = r.boolean()
        t["partitions"] = r.array(partition) or []
        if version >= 8:
            r.i32()
        r.tags()
        return t
    topics = r.array(topic) or []
    out["topic_count"] = len(topics)
    for t in topics:
        out["topics"][t["name"]] = t
    if 8 <= version <= 10:
        r.i32()
    r.tags()
    return out


def parse_produce(r, version):
    """Returns {(topic, partition): (error, base_offset)}."""
    r.flex = is_flexible(PRODUCE, version)
    out = {}
    for _ in range(r.array_len()):
        topic = r.string()
        for _ in range(r.array_len()):
            part, err, base = r.i32(), r.i16(), r.i64()
            r.i64()  # log append time (v2+)
            if version >= 5:
                r.i64()
            if version >= 8:
                for _ in range(max(r.array_len(), 0)):
                    r.i32()
                    r.string()
                    r.tags()
                r.string()
            r.tags()
            out[(topic, part)] = (err, base)
        r.tags()
    r.i32()  # throttle
    r.tags()
    return out


def parse_fetch(r, version):
    """Returns (top_error, {(topic, partition): dict})."""
    r.flex = is_flexible(FETCH, version)
    r.i32()  # throttle
    top_err = 0
    if version >= 7:
        top_err = r.i16()
        r.i32()
    out = {}
    for _ in range(r.array_len()):
        topic = r.string()
        for _ in range(r.array_len()):
            p = {"partition": r.i32(), "error": r.i16(), "hw": r.i64(),
                 "lso": r.i64()}
            if version >= 5:
                p["log_start"] = r.i64()
            for _ in range(max(r.array_len(), 0)):
                r.i64()
                r.i64()
                r.tags()
            if version >= 11:
                r.i32()
            p["records"] = r.bytes_() or b""
            r.tags()
            out[(topic, p["partition"])] = p
        r.tags()
    r.tags()
    return top_err, out


def parse_list_offsets(r, version):
    """Returns {(topic, partition): (error, timestamp, offset)}."""
    r.flex = is_flexible(LIST_OFFSETS, version)
    if version >= 2:
        r.i32()
    out = {}
    for _ in range(r.array_len()):
        topic = r.string()
        for _ in range(r.array_len()):
            part, err, ts, off = r.i32(), r.i16(), r.i64(), r.i64()
            if version >= 4:
                r.i32()
            r.tags()
            out[(topic, part)] = (err, ts, off)
        r.tags()
    r.tags()
    return out


# ------------------------------------------------------------- connection


def frame(api_key, version, corr, body, client_id="strata-it",
          flexible_header=None):
    """A complete request frame (length prefix included)."""
    if flexible_header is None:
        flexible_header = is_flexible(api_key, version)
    h = Writer()
    h.i16(api_key).i16(version).i32(corr).string(client_id)
    if flexible_header:
        h.uvarint(0)
    payload = h.getvalue() + body
    return struct.pack(">i", len(payload)) + payload


class Conn:
    """One blocking TCP connection with a per-operation timeout."""

    def __init__(self, addr, timeout=10.0):
        host, port = addr
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.corr = 0
        self.pending = []  # (corr, api_key, version) awaiting a response

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def build(self, api_key, version, body, expect_response=True):
        """Return a frame and remember it as pending (for pipelining)."""
        self.corr += 1
        if expect_response:
            self.pending.append((self.corr, api_key, version))
        return frame(api_key, version, self.corr, body)

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, api_key, version, body, expect_response=True):
        self.send_raw(self.build(api_key, version, body, expect_response))
        return self.corr

    def _recv_exact(self, n, deadline):
        buf = bytearray()
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("response not complete in time")
            self.sock.settimeout(left)
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by broker after "
                                      "%d of %d bytes" % (len(buf), n))
            buf += chunk
        return bytes(buf)

    def recv_frame(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        (n,) = struct.unpack(">i", self._recv_exact(4, deadline))
        if n < 4 or n > 256 << 20:
            raise ProtocolError("bad response frame length %d" % n)
        return self._recv_exact(n, deadline)

    def recv(self, timeout=None):
        """Read the next response; check it answers the oldest pending
        request. Returns (corr, api_key, version, Reader at body)."""
        data = self.recv_frame(timeout)
        if not self.pending:
            raise ProtocolError("unexpected response")
        corr, api_key, version = self.pending.pop(0)
        r = Reader(data)
        got = r.i32()
        if got != corr:
            raise ProtocolError("response correlation id %d, expected %d"
                                % (got, corr))
        if is_flexible(api_key, version) and api_key != API_VERSIONS:
            r.flex = True
            r.tags()
            r.flex = False
        return corr, api_key, version, r

    def request(self, api_key, version, body, timeout=None):
        self.send(api_key, version, body)
        return self.recv(timeout)[3]

    def expect_closed(self, timeout=5.0):
        """True if the broker closes the connection within timeout (EOF or
        reset), discarding anything it sends first."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True


# ------------------------------------------------------ high-level helpers


class Client:
    """Convenience wrapper: negotiates versions once, then offers typed
    calls. All versions are the highest both this codec and the broker
    support."""

    def __init__(self, addr, timeout=10.0):
        self.conn = Conn(addr, timeout)
        err, self.broker_versions = parse_api_versions(
            self.conn.request(API_VERSIONS, 0, req_api_versions(0)), 0)
        if err:
            raise ProtocolError("ApiVersions v0 error %d" % err)
        self.v = {}
        for key, (lo, hi) in CODEC_RANGE.items():
            blo, bhi = self.broker_versions.get(key, (None, None))
            if blo is None or max(lo, blo) > min(hi, bhi):
                continue
            self.v[key] = min(hi, bhi)

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def version(self, key):
        if key not in self.v:
            raise ProtocolError(
                "broker advertises no version of api %d this codec speaks "
                "(broker %s, codec %s)" % (key, self.broker_versions.get(key),
                                           CODEC_RANGE[key]))
        return self.v[key]

    def metadata(self, topics=None, allow_auto_create=False):
        v = self.version(METADATA)
        return parse_metadata(self.conn.request(
            METADATA, v, req_metadata(v, topics, allow_auto_create)), v)

    def produce(self, topic, partition, records_bytes, acks=1,
                timeout_ms=10000):
        v = self.version(PRODUCE)
        body = req_produce(v, acks, timeout_ms,
                           [(topic, partition, records_bytes)])
        if acks == 0:
            self.conn.send(PRODUCE, v, body, expect_response=False)
            return None
        res = parse_produce(self.conn.request(PRODUCE, v, body), v)
        return res[(topic, partition)]

    def fetch(self, topic, partition, offset, max_wait_ms=0, min_bytes=1,
              timeout=None, max_bytes=64 << 20,
              partition_max_bytes=16 << 20):
        v = self.version(FETCH)
        body = req_fetch(v, [(topic, partition, offset)], max_wait_ms,
                         min_bytes, max_bytes, partition_max_bytes)
        top_err, parts = parse_fetch(
            self.conn.request(FETCH, v, body, timeout), v)
        p = parts[(topic, partition)]
        p["top_error"] = top_err
        return p

    def list_offsets(self, topic, partition, timestamp):
        v = self.version(LIST_OFFSETS)
        body = req_list_offsets(v, [(topic, partition, timestamp)])
        return parse_list_offsets(
            self.conn.request(LIST_OFFSETS, v, body), v)[(topic, partition)]
