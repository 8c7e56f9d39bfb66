"""Raw-socket protocol tests: framing, pipelining, error codes, limits and
long-poll Fetch, with hand-built frames (kafka_wire.py).

Real clients never send what these tests send: fifty requests in one write,
negative or huge frame lengths, array counts that lie, corrupt CRCs. The
rules checked are the ones DESIGN.md and STYLE.md promise: responses leave
in request order, acks=0 gets no response, a request that cannot be decoded
closes only its own connection, a decodable but invalid one gets Kafka's
error code and changes nothing, a client-controlled size never causes a
large allocation, and after every bad input the broker keeps serving other
clients.
"""

import os
import struct
import time

import pytest

import kafka_wire as kw
from it_util import create_topic, unique_topic

REQUEST_MAX = 1 << 20
MESSAGE_MAX = 65536
BROKER_SETTINGS = {
    "socket.request.max.bytes": REQUEST_MAX,
    "message.max.bytes": MESSAGE_MAX,
    "auto.create.topics.enable": "true",
}
PARTS = 4


@pytest.fixture(scope="module")
def topic(broker):
    return create_topic(broker.bootstrap, unique_topic("proto"), PARTS)


@pytest.fixture(scope="module")
def topic1(broker1):
    return create_topic(broker1.bootstrap, unique_topic("proto1"), PARTS)


def assert_serving(b, topic=None):
    """The broker process is alive and a fresh connection gets answers."""
    assert b.alive(), "broker died\n" + b.log_tail()
    with kw.Client(b.addr, timeout=5) as c:
        md = c.metadata([topic] if topic else [])
        if topic:
            assert md["topics"][topic]["error"] == 0


def latest(b, topic, part):
    with kw.Client(b.addr) as c:
        err, _, off = c.list_offsets(topic, part, kw.LATEST)
        assert err == 0
        return off


def records(n, tag=b"r", size=10):
    return [(b"%s-k%d" % (tag, i), b"%s-v%d-" % (tag, i) + b"p" * size)
            for i in range(n)]


# ------------------------------------------------------------ pipelining


@pytest.mark.deadline(60)
def test_pipelined_requests_answered_in_order(broker, topic):
    c = kw.Client(broker.addr)
    try:
        conn = c.conn
        vm, vp, vf = (c.version(kw.METADATA), c.version(kw.PRODUCE),
                      c.version(kw.FETCH))
        frames = []
        for i in range(50):
            kind = i % 4
            part = (i // 4) % PARTS
            if kind == 0:
                frames.append(conn.build(kw.API_VERSIONS, 0,
                                         kw.req_api_versions(0)))
            elif kind == 1:
                frames.append(conn.build(kw.METADATA, vm,
                                         kw.req_metadata(vm, [topic])))
            elif kind == 2:
                batch = kw.encode_record_batch(records(3, b"pipe%d" % i))
                frames.append(conn.build(kw.PRODUCE, vp, kw.req_produce(
                    vp, 1, 10000, [(topic, part, batch)])))
            else:
                frames.append(conn.build(kw.FETCH, vf, kw.req_fetch(
                    vf, [(topic, part, 0)], max_wait_ms=0, min_bytes=0)))
        expected = [p[0] for p in conn.pending]
        conn.send_raw(b"".join(frames))  # one write, 50 requests
        got = []
        bases = {}
        for _ in range(50):
            corr, key, v, r = conn.recv(timeout=20)  # checks order
            got.append(corr)
            if key == kw.PRODUCE:
                ((tp, (err, base)),) = kw.parse_produce(r, v).items()
                assert err == 0, "produce error %d" % err
                assert base > bases.get(tp, -1), "offsets not increasing"
                bases[tp] = base
            elif key == kw.METADATA:
                md = kw.parse_metadata(r, v)
                assert md["topics"][topic]["error"] == 0
            elif key == kw.FETCH:
                _, parts = kw.parse_fetch(r, v)
                assert all(p["error"] == 0 for p in parts.values())
            else:
                err, _ = kw.parse_api_versions(r, v)
                assert err == 0
        assert got == expected
    finally:
        c.close()


def test_produce_acks0_gets_no_response(broker1, topic1):
    before = latest(broker1, topic1, 0)
    with kw.Client(broker1.addr) as c:
        c.produce(topic1, 0, kw.encode_record_batch(records(5, b"a0")),
                  acks=0)
        corr = c.conn.send(kw.API_VERSIONS, 0, kw.req_api_versions(0))
        got, key, _, _ = c.conn.recv(timeout=10)
        assert (got, key) == (corr, kw.API_VERSIONS)
        assert not c.conn.pending
    deadline = time.monotonic() + 5
    while latest(broker1, topic1, 0) != before + 5:
        assert time.monotonic() < deadline, "acks=0 records never appended"
        time.sleep(0.05)


# -------------------------------------------------------------- framing


def test_negative_frame_length_closes(broker1, topic1):
    with kw.Conn(broker1.addr) as conn:
        conn.send_raw(struct.pack(">i", -1) + b"\x00\x12\x00\x00")
        assert conn.expect_closed(5), "connection left open"
    assert_serving(broker1, topic1)


@pytest.mark.parametrize("length", [REQUEST_MAX + 1, 0x7FFFFFFF])
def test_oversized_frame_closes_without_allocating(broker1, topic1, length):
    rss0 = broker1.rss_kb()
    with kw.Conn(broker1.addr) as conn:
        # Only the length and a header: the broker must refuse on the
        # length alone, without waiting for (or buffering) the body.
        conn.send_raw(struct.pack(">ihhi", length, 18, 0, 1))
        assert conn.expect_closed(5), "connection left open"
    assert_serving(broker1, topic1)
    rss1 = broker1.rss_kb()
    if rss0 and rss1:
        assert rss1 - rss0 < 64 * 1024, "RSS grew by %d KiB" % (rss1 - rss0)


def test_frame_just_under_limit_is_read(broker1, topic1):
    """A Produce frame just under socket.request.max.bytes is read and
    answered (here with MESSAGE_TOO_LARGE): the frame limit is exact, not
    off by a large factor."""
    with kw.Client(broker1.addr) as c:
        v = c.version(kw.PRODUCE)
        batch = kw.encode_record_batch([(b"k", b"z" * (REQUEST_MAX - 4096))])
        f = c.conn.build(kw.PRODUCE, v, kw.req_produce(
            v, 1, 10000, [(topic1, 0, batch)]))
        assert REQUEST_MAX - 4096 < len(f) - 4 <= REQUEST_MAX
        c.conn.send_raw(f)
        _, _, _, r = c.conn.recv(10)
        ((_, (err, _)),) = kw.parse_produce(r, v).items()
        assert err == kw.MESSAGE_TOO_LARGE
    assert_serving(broker1, topic1)


# ----------------------------------------------------------- ApiVersions


def test_api_versions_unsupported_version_gets_v0_error(broker1):
    with kw.Conn(broker1.addr) as conn:
        # A future client sends its newest ApiVersions with a flexible
        # header and a flexible body; the broker must answer in v0 format.
        body = kw.req_api_versions(3)
        conn.send_raw(kw.frame(kw.API_VERSIONS, 99, 4242, body,
                               flexible_header=True))
        r = kw.Reader(conn.recv_frame(10))
        assert r.i32() == 4242
        err = r.i16()
        assert err == kw.UNSUPPORTED_VERSION
        n = r.i32()
        keys = {}
        for _ in range(n):
            k, lo, hi = r.i16(), r.i16(), r.i16()
            keys[k] = (lo, hi)
        assert r.remaining() == 0, "v0 response has trailing bytes"
        # Kafka lists only ApiVersions itself here; the full list is fine
        # too. Either way the client learns which version to retry with.
        assert kw.API_VERSIONS in keys, keys
        lo, hi = keys[kw.API_VERSIONS]
        assert lo == 0 and 3 <= hi < 99, keys
        # librdkafka retries on the same connection with a version from
        # that list, so the connection must stay usable.
        conn.corr = 5000
        conn.send(kw.API_VERSIONS, 0, kw.req_api_versions(0))
        _, _, v, r = conn.recv(10)
        assert kw.parse_api_versions(r, v)[0] == 0


def test_api_versions_all_versions(broker1):
    with kw.Client(broker1.addr) as c:
        lo, hi = c.broker_versions[kw.API_VERSIONS]
        for v in range(lo, min(hi, 3) + 1):
            r = c.conn.request(kw.API_VERSIONS, v, kw.req_api_versions(v))
            err, keys = kw.parse_api_versions(r, v)
            assert err == 0 and keys == c.broker_versions, v


def test_unknown_api_key(broker1, topic1):
    with kw.Conn(broker1.addr) as conn:
        conn.send_raw(kw.frame(999, 0, 31337, b"\x00\x00\x00\x00"))
        try:
            data = conn.recv_frame(5)
        except (ConnectionError, OSError):
            data = None  # closed: acceptable
        if data is not None:
            assert struct.unpack(">i", data[:4])[0] == 31337
    assert_serving(broker1, topic1)


# ------------------------------------------------------ malformed bodies


def _garbage_cases(c, topic):
    vm = c.version(kw.METADATA)
    vp = c.version(kw.PRODUCE)
    vf = c.version(kw.FETCH)
    flex_m = kw.is_flexible(kw.METADATA, vm)
    w = kw.Writer(flex_m).array_len(3).string(topic)  # promises 3, has 1
    cases = {
        "metadata-truncated": (kw.METADATA, vm, w.getvalue()),
        "produce-random": (kw.PRODUCE, vp, bytes(range(7, 250, 3))),
        "fetch-truncated": (kw.FETCH, vf, kw.req_fetch(
            vf, [(topic, 0, 0)])[:-9]),
        "produce-string-overrun": (kw.PRODUCE, vp, kw.Writer(
            kw.is_flexible(kw.PRODUCE, vp)).string(None).i16(1).i32(1000)
            .array_len(1).raw(b"\x7f\xff" if not kw.is_flexible(
                kw.PRODUCE, vp) else b"\xff\xff\x01").raw(b"ab").getvalue()),
    }
    return cases


@pytest.mark.parametrize("case", ["metadata-truncated", "produce-random",
                                  "fetch-truncated",
                                  "produce-string-overrun"])
def test_malformed_body_closes_only_that_connection(broker1, topic1, case):
    before = [latest(broker1, topic1, p) for p in range(PARTS)]
    with kw.Client(broker1.addr) as good:
        good.metadata([topic1])
        with kw.Client(broker1.addr) as bad:
            key, v, body = _garbage_cases(bad, topic1)[case]
            bad.conn.send(key, v, body)
            assert bad.conn.expect_closed(5), \
                "malformed %s left the connection open" % case
        # The other connection, opened before, is unaffected.
        md = good.metadata([topic1])
        assert md["topics"][topic1]["error"] == 0
    assert [latest(broker1, topic1, p) for p in range(PARTS)] == before
    assert_serving(broker1, topic1)


def _count_overrun_cases(c, topic):
    vm = c.version(kw.METADATA)
    vp = c.version(kw.PRODUCE)
    vf = c.version(kw.FETCH)
    fm = kw.is_flexible(kw.METADATA, vm)
    fp = kw.is_flexible(kw.PRODUCE, vp)
    ff = kw.is_flexible(kw.FETCH, vf)
    big = 0x7FFFFFFE
    meta = kw.Writer(fm).array_len(big).getvalue()
    prod = (kw.Writer(fp).string(None).i16(1).i32(1000).array_len(1)
            .string(topic).array_len(0x10000000).getvalue())
    fetch = kw.Writer(ff).i32(-1).i32(0).i32(1).i32(1 << 20).i8(0)
    if vf >= 7:
        fetch.i32(0).i32(-1)
    fetch.array_len(big)
    return {"metadata": (kw.METADATA, vm, meta),
            "produce": (kw.PRODUCE, vp, prod),
            "fetch": (kw.FETCH, vf, fetch.getvalue())}


@pytest.mark.parametrize("case", ["metadata", "produce", "fetch"])
def test_array_count_beyond_frame_closes(broker1, topic1, case):
    rss0 = broker1.rss_kb()
    with kw.Client(broker1.addr) as bad:
        key, v, body = _count_overrun_cases(bad, topic1)[case]
        bad.conn.send(key, v, body)
        assert bad.conn.expect_closed(5), \
            "array count overrun (%s) left the connection open" % case
    assert_serving(broker1, topic1)
    rss1 = broker1.rss_kb()
    if rss0 and rss1:
        assert rss1 - rss0 < 64 * 1024, "RSS grew by %d KiB" % (rss1 - rss0)


# ------------------------------------------------------ Produce errors


def test_produce_corrupt_crc(broker, topic):
    before = latest(broker, topic, 1)
    with kw.Client(broker.addr) as c:
        err, _ = c.produce(topic, 1, kw.encode_record_batch(
            records(3, b"crc"), corrupt_crc=True), acks=-1)
        assert err == kw.CORRUPT_MESSAGE
        # The connection stays usable and a good batch goes through.
        err, base = c.produce(topic, 1, kw.encode_record_batch(
            records(2, b"good")), acks=-1)
        assert (err, base) == (0, before)
    assert latest(broker, topic, 1) == before + 2
    assert_serving(broker, topic)


def test_produce_message_too_large(broker, topic):
    before = latest(broker, topic, 2)
    with kw.Client(broker.addr) as c:
        big = kw.encode_record_batch([(b"k", b"x" * (MESSAGE_MAX + 10))])
        assert MESSAGE_MAX < len(big) < REQUEST_MAX
        err, _ = c.produce(topic, 2, big, acks=-1)
        assert err == kw.MESSAGE_TOO_LARGE
        fits = kw.encode_record_batch([(b"k", b"y" * (MESSAGE_MAX - 200))])
        assert len(fits) <= MESSAGE_MAX
        err, base = c.produce(topic, 2, fits, acks=-1)
        assert (err, base) == (0, before)
    assert latest(broker, topic, 2) == before + 1
    assert_serving(broker, topic)


def test_produce_unknown_partition(broker, topic):
    with kw.Client(broker.addr) as c:
        err, _ = c.produce(topic, PARTS + 95, kw.encode_record_batch(
            records(1)), acks=1)
        assert err == kw.UNKNOWN_TOPIC_OR_PARTITION
        err, _ = c.produce(topic, -1, kw.encode_record_batch(records(1)),
                           acks=1)
        assert err == kw.UNKNOWN_TOPIC_OR_PARTITION
    assert_serving(broker, topic)


def test_roundtrip_raw_batch_unchanged(broker, topic):
    """Records produced by hand come back with the same keys, values,
    headers and timestamps, and a valid CRC on the stored batch."""
    recs = [(b"k0", b"v0", [("h1", b"x"), ("h2", None)], 1600000000000),
            (None, b"v1", [], 1600000000005),
            (b"k2", None, [], 1600000000003),
            (b"k3", b"\x00\xff" * 300, [], 1600000000010)]
    with kw.Client(broker.addr) as c:
        for comp in (0, 1):
            err, base = c.produce(topic, 3, kw.encode_record_batch(
                recs, base_timestamp=1600000000000, compression=comp),
                acks=-1)
            assert err == 0
            p = c.fetch(topic, 3, base)
            assert p["error"] == 0 and p["hw"] >= base + len(recs)
            got = kw.decode_record_batches(p["records"])[:len(recs)]
            assert [r.offset for r in got] == \
                list(range(base, base + len(recs)))
            assert [(r.key, r.value, r.timestamp) for r in got] == \
                [(k, v, ts) for k, v, _, ts in recs]
            assert got[0].headers == [(b"h1", b"x"), (b"h2", None)]


# --------------------------------------------------------------- Fetch


def test_fetch_offset_out_of_range(broker, topic):
    with kw.Client(broker.addr) as c:
        err, _ = c.produce(topic, 0, kw.encode_record_batch(records(3)),
                           acks=1)
        assert err == 0
        end = latest(broker, topic, 0)
        p = c.fetch(topic, 0, end + 1000)
        assert p["error"] == kw.OFFSET_OUT_OF_RANGE
        p = c.fetch(topic, 0, -5)
        assert p["error"] == kw.OFFSET_OUT_OF_RANGE
        p = c.fetch(topic, 0, end)  # exactly at the end: valid, empty
        assert p["error"] == 0 and p["hw"] == end
        assert kw.decode_record_batches(p["records"]) == []
        p = c.fetch(topic, PARTS + 7, 0)
        assert p["error"] == kw.UNKNOWN_TOPIC_OR_PARTITION
    assert_serving(broker, topic)


@pytest.mark.deadline(60)
def test_long_poll_times_out_on_empty_partition(broker):
    t = create_topic(broker.bootstrap, unique_topic("lp-empty"), PARTS)
    with kw.Client(broker.addr) as c:
        for part in range(PARTS):
            t0 = time.monotonic()
            p = c.fetch(t, part, 0, max_wait_ms=500, min_bytes=1, timeout=10)
            dt = time.monotonic() - t0
            assert p["error"] == 0 and p["records"] == b""
            assert 0.4 <= dt < 3.0, "partition %d: waited %.3f s" % (part,
                                                                    dt)


@pytest.mark.deadline(90)
def test_long_poll_wakes_on_produce(broker):
    t = create_topic(broker.bootstrap, unique_topic("lp-wake"), PARTS)
    for part in range(PARTS):
        with kw.Client(broker.addr) as waiter, \
                kw.Client(broker.addr) as producer:
            v = waiter.version(kw.FETCH)
            t0 = time.monotonic()
            waiter.conn.send(kw.FETCH, v, kw.req_fetch(
                v, [(t, part, 0)], max_wait_ms=10000, min_bytes=1))
            time.sleep(0.3)
            err, _ = producer.produce(t, part, kw.encode_record_batch(
                records(1, b"wake")), acks=1)
            assert err == 0
            _, _, _, r = waiter.conn.recv(timeout=15)
            dt = time.monotonic() - t0
            _, parts = kw.parse_fetch(r, v)
            got = kw.decode_record_batches(parts[(t, part)]["records"])
            assert [x.value for x in got] == [records(1, b"wake")[0][1]]
            assert dt < 3.0, "partition %d: fetch answered after %.3f s, " \
                "not woken by the produce" % (part, dt)


# ---------------------------------------------------------- connections


@pytest.mark.parametrize("shards", [1, 2])
def test_max_connections(start_broker, shards):
    b = start_broker({"max.connections": 5, "num.shards": shards})
    conns = [kw.Client(b.addr, timeout=5) for _ in range(5)]
    try:
        sixth = kw.Conn(b.addr, timeout=5)
        try:
            # The sixth may be accepted by the kernel, but the broker must
            # close it promptly and not answer it.
            try:
                sixth.send(kw.API_VERSIONS, 0, kw.req_api_versions(0))
            except OSError:
                pass
            assert sixth.expect_closed(3), "6th connection not closed"
        finally:
            sixth.close()
        for c in conns:
            c.metadata([])
        # Closing one makes room for a new one (allow for the close to be
        # processed asynchronously).
        conns.pop().close()
        deadline = time.monotonic() + 5
        while True:
            try:
                conns.append(kw.Client(b.addr, timeout=2))
                break
            except (OSError, kw.ProtocolError):
                assert time.monotonic() < deadline, \
                    "no connection accepted after one was closed"
                time.sleep(0.1)
        for c in conns:
            c.metadata([])
    finally:
        for c in conns:
            c.close()


# ------------------------------------------- more Produce/Fetch semantics


def test_one_request_many_partitions(broker, topic):
    """One Produce and one Fetch spanning every partition (with 2 shards,
    partitions owned by both): every partition answered, in one response."""
    with kw.Client(broker.addr) as c:
        vp, vf = c.version(kw.PRODUCE), c.version(kw.FETCH)
        before = [latest(broker, topic, p) for p in range(PARTS)]
        data = [(topic, p, kw.encode_record_batch(records(p + 1, b"mp%d" % p)))
                for p in range(PARTS)]
        res = kw.parse_produce(c.conn.request(
            kw.PRODUCE, vp, kw.req_produce(vp, -1, 10000, data)), vp)
        assert sorted(res) == [(topic, p) for p in range(PARTS)]
        for p in range(PARTS):
            assert res[(topic, p)] == (0, before[p])
        _, parts = kw.parse_fetch(c.conn.request(kw.FETCH, vf, kw.req_fetch(
            vf, [(topic, p, before[p]) for p in range(PARTS)])), vf)
        assert sorted(parts) == [(topic, p) for p in range(PARTS)]
        for p in range(PARTS):
            got = [r for r in kw.decode_record_batches(
                parts[(topic, p)]["records"]) if r.offset >= before[p]]
            assert [(r.key, r.value) for r in got] == \
                records(p + 1, b"mp%d" % p)


def test_fetch_returns_first_batch_over_limit(broker1, topic1):
    """A batch larger than the fetch limits is still returned whole when
    it is the first one (KIP-74), or consumers could never progress."""
    with kw.Client(broker1.addr) as c:
        err, base = c.produce(topic1, 1, kw.encode_record_batch(
            records(20, b"big", size=1000)), acks=1)
        assert err == 0
        p = c.fetch(topic1, 1, base, max_bytes=100, partition_max_bytes=100)
        assert p["error"] == 0
        got = kw.decode_record_batches(p["records"])
        assert [r.offset for r in got[:20]] == list(range(base, base + 20))


def test_fetch_from_middle_of_batch(broker1, topic1):
    with kw.Client(broker1.addr) as c:
        err, base = c.produce(topic1, 2, kw.encode_record_batch(
            records(10, b"mid")), acks=1)
        assert err == 0
        p = c.fetch(topic1, 2, base + 4)
        got = kw.decode_record_batches(p["records"])
        # The broker may start at the batch boundary; the client skips.
        assert got and got[0].offset <= base + 4
        want = records(10, b"mid")[4:]
        assert [(r.key, r.value) for r in got
                if base + 4 <= r.offset < base + 10] == want


def test_invalid_required_acks(broker1, topic1):
    before = latest(broker1, topic1, 0)
    with kw.Client(broker1.addr) as c:
        for acks in (2, -2):
            err, _ = c.produce(topic1, 0, kw.encode_record_batch(
                records(1, b"acks")), acks=acks)
            assert err == kw.INVALID_REQUIRED_ACKS, "acks=%d" % acks
    assert latest(broker1, topic1, 0) == before
    assert_serving(broker1, topic1)


BAD_BATCHES = {
    # name: (encode_record_batch kwargs, acceptable error codes)
    "magic-1": (dict(magic=1), {kw.CORRUPT_MESSAGE, kw.INVALID_RECORD,
                                kw.UNSUPPORTED_FOR_MESSAGE_FORMAT}),
    "last-offset-delta-too-big": (dict(last_offset_delta=1000),
                                  {kw.CORRUPT_MESSAGE, kw.INVALID_RECORD}),
    "last-offset-delta-negative": (dict(last_offset_delta=-1),
                                   {kw.CORRUPT_MESSAGE, kw.INVALID_RECORD}),
    "count-zero": (dict(count=0, last_offset_delta=-1),
                   {kw.CORRUPT_MESSAGE, kw.INVALID_RECORD}),
    "length-beyond-data": (dict(length_adjust=100),
                           {kw.CORRUPT_MESSAGE, kw.INVALID_RECORD}),
    "length-short": (dict(length_adjust=-20),
                     {kw.CORRUPT_MESSAGE, kw.INVALID_RECORD}),
}


@pytest.mark.parametrize("case", sorted(BAD_BATCHES))
def test_produce_bad_batch_header(broker1, topic1, case):
    """Broken batch headers (with a valid CRC where the CRC covers them)
    are refused with a Kafka error, append nothing, and leave offsets
    intact for the next good batch."""
    kwargs, codes = BAD_BATCHES[case]
    before = latest(broker1, topic1, 3)
    with kw.Client(broker1.addr) as c:
        err, _ = c.produce(topic1, 3, kw.encode_record_batch(
            records(3, b"bad"), **kwargs), acks=-1)
        assert err in codes, "%s: error %d, expected one of %s" % (
            case, err, sorted(codes))
        err, base = c.produce(topic1, 3, kw.encode_record_batch(
            records(2, b"after")), acks=-1)
        assert (err, base) == (0, before)
        p = c.fetch(topic1, 3, before)
        got = [r for r in kw.decode_record_batches(p["records"])
               if r.offset >= before]
        assert [(r.offset, r.value) for r in got] == \
            [(before + i, v) for i, (_, v) in enumerate(records(2, b"after"))]
    assert_serving(broker1, topic1)


# --------------------------------------------------------- topic names


BAD_NAMES = ["../escape", "a/b", ".", "..", "", "x" * 250, "sp ace",
             "nul\x00byte"]


def test_metadata_invalid_topic_names(broker1):
    """Auto-creation never turns a bad name into a path: names that Kafka
    refuses get INVALID_TOPIC_EXCEPTION (or UNKNOWN_TOPIC_OR_PARTITION)
    and nothing appears on disk outside the topic directories."""
    ok = {kw.INVALID_TOPIC_EXCEPTION, kw.UNKNOWN_TOPIC_OR_PARTITION}
    with kw.Client(broker1.addr) as c:
        md = c.metadata(BAD_NAMES, allow_auto_create=True)
        for name in BAD_NAMES:
            t = md["topics"].get(name)
            assert t is not None, "no answer for %r" % name
            assert t["error"] in ok, "%r: error %d" % (name, t["error"])
        listed = c.metadata(None)["topics"]
        for name in BAD_NAMES:
            assert name not in listed, "%r was created" % name
    extra = set(os.listdir(broker1.workdir)) - {"data"}
    assert all(e.startswith("stderr.") for e in extra), \
        "unexpected files next to log.dirs: %s" % sorted(extra)
    assert not os.path.exists(os.path.join(broker1.data_dir, "a")), \
        "topic a/b made a directory"
    bad = [e for e in os.listdir(broker1.data_dir)
           if e.startswith(("sp ace", "nul", "x" * 200, ".-", "..-", "-"))]
    assert not bad, "directories for refused names: %s" % bad
    assert_serving(broker1)


def test_metadata_respects_allow_auto_create_false(broker1):
    name = unique_topic("noauto")
    with kw.Client(broker1.addr) as c:
        if c.version(kw.METADATA) < 4:
            pytest.skip("Metadata v4+ needed for AllowAutoTopicCreation")
        md = c.metadata([name], allow_auto_create=False)
        assert md["topics"][name]["error"] == kw.UNKNOWN_TOPIC_OR_PARTITION
        time.sleep(0.2)
        assert name not in c.metadata(None)["topics"]
        md = c.metadata([name], allow_auto_create=True)
        deadline = time.monotonic() + 5
        while md["topics"][name]["error"] != 0:
            assert time.monotonic() < deadline, md["topics"][name]
            time.sleep(0.1)
            md = c.metadata([name])
        assert md["topics"][name]["partitions"]


def test_metadata_of_many_partitions(start_broker):
    """The answer for all topics grows with the broker, not the request:
    a tiny request must still get the whole answer (it once closed the
    connection past ~1,500 partitions), and naming one big topic many
    times is answered once, as Kafka treats the names as a set."""
    b = start_broker({"num.shards": 2})
    big = create_topic(b.bootstrap, unique_topic("many"), 3000)
    small = create_topic(b.bootstrap, unique_topic("few"), 2)
    with kw.Client(b.addr, timeout=30) as c:
        md = c.metadata(None)
        assert md["topics"][big]["error"] == 0
        assert sorted(p["index"] for p in md["topics"][big]["partitions"]) \
            == list(range(3000))
        assert len(md["topics"][small]["partitions"]) == 2
        md = c.metadata([big] * 5000 + [small, "no-such-topic"] * 3)
        assert md["topic_count"] == 3
        assert len(md["topics"][big]["partitions"]) == 3000
        assert md["topics"]["no-such-topic"]["error"] == \
            kw.UNKNOWN_TOPIC_OR_PARTITION
    assert_serving(b, big)
