"""Produce v0-v2: legacy message sets (magic 0 and 1) up-converted to v2
batches, as Kafka does, and read back by modern consumers.

Why it matters beyond old clients: librdkafka (kcat, confluent-kafka) only
compresses with gzip or snappy when the broker's Produce range includes
v0, so without these versions every "gzip" batch from them arrives
uncompressed. The last test checks that what kcat stores really is
compressed with the codec asked for.
"""

import gzip
import struct
import subprocess
import time
import zlib

import pytest

import kafka_wire as kw
from it_util import consume_all, create_topic, stored_codecs, unique_topic


# ------------------------------------------------- legacy message sets


def message(magic, key, value, timestamp=None, attributes=0):
    body = struct.pack(">bb", magic, attributes)
    if magic == 1:
        body += struct.pack(">q", timestamp)
    for b in (key, value):
        body += struct.pack(">i", -1) if b is None else \
            struct.pack(">i", len(b)) + b
    return struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF) + body


def message_set(msgs, first_offset=0):
    out = b""
    for i, m in enumerate(msgs):
        out += struct.pack(">qi", first_offset + i, len(m)) + m
    return out


def req_produce_legacy(v, topic, part, records, acks=-1):
    w = kw.Writer(False)
    w.i16(acks).i32(10000).array_len(1).string(topic).array_len(1)
    w.i32(part).bytes_(records)
    return w.getvalue()


def parse_produce_legacy(r, v):
    out = {}
    for _ in range(r.array_len()):
        topic = r.string()
        for _ in range(r.array_len()):
            part, err, base = r.i32(), r.i16(), r.i64()
            ts = r.i64() if v >= 2 else None
            out[(topic, part)] = (err, base, ts)
    if v >= 1:
        r.i32()
    assert r.remaining() == 0
    return out


def fetch_all(conn, topic, part=0):
    v = 11
    _, parts = kw.parse_fetch(conn.request(
        kw.FETCH, v, kw.req_fetch(v, [(topic, part, 0)])), v)
    return list(kw.decode_record_batches(parts[(topic, part)]["records"]))


# ---------------------------------------------------------------- tests


def test_produce_v0_v1_v2_up_converted(broker):
    t = create_topic(broker.bootstrap, unique_topic("legacy"), 1)
    with kw.Conn(broker.addr) as conn:
        want = []
        ts0 = int(time.time() * 1000) - 60000
        for v in (0, 1, 2):
            magic = 1 if v == 2 else 0
            msgs = [(b"k%d-%d" % (v, i) if i != 1 else None,
                     b"v%d-%d" % (v, i)) for i in range(3)]
            recs = message_set([message(magic, k, val, ts0 + i)
                                for i, (k, val) in enumerate(msgs)])
            res = parse_produce_legacy(conn.request(
                kw.PRODUCE, v, req_produce_legacy(v, t, 0, recs)), v)
            err, base, _ = res[(t, 0)]
            assert err == 0 and base == len(want), (v, res)
            want += [(k, val, magic) for k, val in msgs]
        got = fetch_all(conn, t)
        assert [(r.key, r.value) for r in got] == \
            [(k, val) for k, val, _ in want]
        assert [r.offset for r in got] == list(range(len(want)))
        # magic 1 keeps its CreateTime; magic 0 had none (log append time)
        assert [r.timestamp for r in got[6:9]] == [ts0, ts0 + 1, ts0 + 2]
        assert all(r.timestamp > ts0 + 30000 for r in got[:6])


@pytest.mark.parametrize("codec,compress", [
    (1, lambda b: gzip.compress(b)),
])
def test_compressed_wrapper_message(broker, codec, compress):
    t = create_topic(broker.bootstrap, unique_topic("legz"), 1)
    inner = message_set([message(1, b"k%d" % i, b"v%d" % i, 1000 + i)
                         for i in range(5)])
    wrapper = message(1, None, compress(inner), 1004, attributes=codec)
    with kw.Conn(broker.addr) as conn:
        res = parse_produce_legacy(conn.request(
            kw.PRODUCE, 2, req_produce_legacy(2, t, 0,
                                              message_set([wrapper]))), 2)
        assert res[(t, 0)][0] == 0, res
        got = fetch_all(conn, t)
    assert [(r.key, r.value, r.timestamp) for r in got] == \
        [(b"k%d" % i, b"v%d" % i, 1000 + i) for i in range(5)]


def test_legacy_bad_input_refused(broker):
    t = create_topic(broker.bootstrap, unique_topic("legbad"), 1)
    good = message_set([message(1, b"k", b"v", 1)])
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 0xFF
    modern = kw.encode_record_batch([(b"k", b"v")])
    with kw.Conn(broker.addr) as conn:
        for v, recs in ((2, bytes(bad_crc)), (2, good[:-2]), (1, modern)):
            res = parse_produce_legacy(conn.request(
                kw.PRODUCE, v, req_produce_legacy(v, t, 0, recs)), v)
            assert res[(t, 0)][0] == kw.CORRUPT_MESSAGE, (v, res)
        # nothing was written, and the connection still works
        res = parse_produce_legacy(conn.request(
            kw.PRODUCE, 2, req_produce_legacy(2, t, 0, good)), 2)
        assert res[(t, 0)][:2] == (0, 0), res


@pytest.mark.parametrize("api_version", [(0, 8, 2), (0, 9), (0, 10, 1)])
@pytest.mark.parametrize("compression", [None, "gzip"])
def test_kafka_python_old_protocol(broker, api_version, compression):
    from kafka import KafkaProducer
    if api_version == (0, 8, 2) and compression:
        pytest.skip("kafka-python 2.0.2 offers gzip only from 0.9")
    t = create_topic(broker.bootstrap, unique_topic("kpold"), 1)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap,
                      api_version=api_version, acks="all",
                      compression_type=compression, linger_ms=5,
                      request_timeout_ms=10000)
    n = 200
    for i in range(n):
        p.send(t, key=b"k%d" % i, value=b"value-%d" % i, partition=0)
    p.flush(30)
    p.close(10)
    got = consume_all(broker.bootstrap, t, 1, expected=n)[0]
    assert [(m.key(), m.value()) for m in got] == \
        [(b"k%d" % i, b"value-%d" % i) for i in range(n)]


@pytest.mark.parametrize("codec,num", [("gzip", 1), ("snappy", 2),
                                       ("lz4", 3), ("zstd", 4)])
def test_kcat_batches_are_stored_compressed(broker1, codec, num):
    t = unique_topic("kz" + codec)
    create_topic(broker1.bootstrap, t, 1)
    lines = "".join("key%d:%s\n" % (i, "payload %d " % i * 20)
                    for i in range(2000))
    r = subprocess.run(["kcat", "-b", broker1.bootstrap, "-t", t, "-P",
                        "-K:", "-z", codec, "-p", "0",
                        "-X", "linger.ms=50"],
                       input=lines.encode(), timeout=60,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stderr
    codecs = stored_codecs(broker1.data_dir, t)
    assert codecs and all(c == num for c in codecs), (codec, codecs)
