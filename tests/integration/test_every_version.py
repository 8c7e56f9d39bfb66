"""Every version of every API the broker advertises, against the real
broker, with hand-built frames: the clients each exercise only the versions
they prefer, so versions no client sends (Metadata v2/v3/v7, Fetch v5-v10,
CreateTopics v0-v2, ...) are checked here, each for what it means, not just
that it parses. The advertised ranges are read from ApiVersions, so a
version added to the broker is covered without touching this file (and a
version this file cannot build fails loudly).
"""

import pytest

import kafka_wire as kw
from it_util import unique_topic

CREATE_TOPICS, DELETE_TOPICS = 19, 20
TOPIC_ALREADY_EXISTS = 36


def advertised(broker):
    with kw.Client(broker.addr) as c:
        return dict(c.broker_versions)


def versions(broker, key):
    lo, hi = advertised(broker)[key]
    return list(range(lo, hi + 1))


# ------------------------------------------------------- frame builders


def req_create_topics(v, name, parts, validate_only=False, configs=()):
    w = kw.Writer(False)
    w.array_len(1)
    w.string(name).i32(parts).i16(1)
    w.array_len(0)  # no manual assignment
    w.array_len(len(configs))
    for k, val in configs:
        w.string(k).string(val)
    w.i32(10000)
    if v >= 1:
        w.boolean(validate_only)
    return w.getvalue()


def parse_create_topics(r, v):
    if v >= 2:
        r.i32()
    out = {}
    for _ in range(r.array_len()):
        name, err = r.string(), r.i16()
        msg = r.string() if v >= 1 else None
        out[name] = (err, msg)
    assert r.remaining() == 0
    return out


def req_delete_topics(v, names):
    w = kw.Writer(False)
    w.array_len(len(names))
    for n in names:
        w.string(n)
    w.i32(10000)
    return w.getvalue()


def parse_delete_topics(r, v):
    if v >= 1:
        r.i32()
    out = {}
    for _ in range(r.array_len()):
        name, err = r.string(), r.i16()
        out[name] = err
    assert r.remaining() == 0
    return out


def req_list_offsets_v0(topic, part, ts, max_num=1):
    w = kw.Writer(False)
    w.i32(-1).array_len(1).string(topic).array_len(1)
    w.i32(part).i64(ts).i32(max_num)
    return w.getvalue()


def parse_list_offsets_v0(r):
    out = {}
    for _ in range(r.array_len()):
        topic = r.string()
        for _ in range(r.array_len()):
            part, err = r.i32(), r.i16()
            offs = [r.i64() for _ in range(r.array_len())]
            out[(topic, part)] = (err, offs)
    assert r.remaining() == 0
    return out


def req_metadata_any(v, topics):
    """kafka_wire builds v1+; v0 has no null array (empty = all)."""
    if v >= 1:
        return kw.req_metadata(v, topics)
    w = kw.Writer(False)
    topics = topics or []
    w.array_len(len(topics))
    for t in topics:
        w.string(t)
    return w.getvalue()


def topic_partitions(conn, v, name):
    md = kw.parse_metadata(conn.request(kw.METADATA, v,
                                        req_metadata_any(v, [name])), v)
    t = md["topics"].get(name)
    return t


# ---------------------------------------------------------------- tests


def test_api_versions_every_version(broker1):
    adv = advertised(broker1)
    with kw.Conn(broker1.addr) as conn:
        for v in versions(broker1, kw.API_VERSIONS):
            err, keys = kw.parse_api_versions(
                conn.request(kw.API_VERSIONS, v, kw.req_api_versions(v)), v)
            assert err == 0 and keys == adv, v


def test_create_and_delete_topics_every_version(broker1):
    with kw.Conn(broker1.addr) as conn:
        md_v = max(versions(broker1, kw.METADATA))
        for v in versions(broker1, CREATE_TOPICS):
            name = unique_topic("ct%d" % v)
            if v >= 1:
                res = parse_create_topics(conn.request(
                    CREATE_TOPICS, v,
                    req_create_topics(v, name, 2, validate_only=True)), v)
                assert res[name][0] == 0, (v, res)
                t = topic_partitions(conn, md_v, name)
                assert t is None or t["error"] != 0, \
                    "validate_only created %s" % name
            res = parse_create_topics(conn.request(
                CREATE_TOPICS, v,
                req_create_topics(v, name, 2,
                                  configs=[("retention.ms", "3600000")])), v)
            assert res[name][0] == 0, (v, res)
            t = topic_partitions(conn, md_v, name)
            assert t["error"] == 0 and len(t["partitions"]) == 2, (v, t)
            res = parse_create_topics(conn.request(
                CREATE_TOPICS, v, req_create_topics(v, name, 2)), v)
            assert res[name][0] == TOPIC_ALREADY_EXISTS, (v, res)
            if v >= 1:
                assert res[name][1], "v%d carries an error message" % v
        for v in versions(broker1, DELETE_TOPICS):
            name = unique_topic("dt%d" % v)
            parse_create_topics(conn.request(
                CREATE_TOPICS, 0, req_create_topics(0, name, 1)), 0)
            res = parse_delete_topics(conn.request(
                DELETE_TOPICS, v, req_delete_topics(v, [name])), v)
            assert res == {name: 0}, (v, res)
            res = parse_delete_topics(conn.request(
                DELETE_TOPICS, v, req_delete_topics(v, [name])), v)
            assert res == {name: kw.UNKNOWN_TOPIC_OR_PARTITION}, (v, res)


def test_metadata_every_version(broker1):
    with kw.Conn(broker1.addr) as conn:
        name = unique_topic("md")
        parse_create_topics(conn.request(
            CREATE_TOPICS, 0, req_create_topics(0, name, 3)), 0)
        for v in versions(broker1, kw.METADATA):
            md = kw.parse_metadata(conn.request(
                kw.METADATA, v, req_metadata_any(v, [name])), v)
            assert [(b["host"], b["port"]) for b in md["brokers"]] == \
                [(broker1.host, broker1.port)], v
            t = md["topics"][name]
            assert t["error"] == 0 and len(t["partitions"]) == 3, (v, t)
            # all topics: null array (v1+) or empty array (v0)
            md = kw.parse_metadata(conn.request(
                kw.METADATA, v, req_metadata_any(v, None)), v)
            assert name in md["topics"], v
            if v >= 1:
                assert md["controller_id"] == md["brokers"][0]["node_id"]


def test_produce_fetch_list_offsets_every_version(broker1):
    with kw.Conn(broker1.addr) as conn:
        name = unique_topic("pf")
        parse_create_topics(conn.request(
            CREATE_TOPICS, 0, req_create_topics(0, name, 1)), 0)
        expected = []
        for v in versions(broker1, kw.PRODUCE):
            if v < 3:
                continue  # legacy message sets: test_legacy_produce.py
            recs = [(b"k%d-%d" % (v, i), b"value %d of v%d" % (i, v))
                    for i in range(3)]
            batch = kw.encode_record_batch(recs)
            res = kw.parse_produce(conn.request(
                kw.PRODUCE, v,
                kw.req_produce(v, -1, 10000, [(name, 0, batch)])), v)
            err, base = res[(name, 0)][0], res[(name, 0)][1]
            assert err == 0 and base == len(expected), (v, res)
            expected += recs
        assert expected, "no Produce version >= 3 advertised"
        for v in versions(broker1, kw.FETCH):
            top_err, parts = kw.parse_fetch(conn.request(
                kw.FETCH, v, kw.req_fetch(v, [(name, 0, 0)])), v)
            p = parts[(name, 0)]
            assert top_err == 0 and p["error"] == 0, (v, p)
            assert p["hw"] == len(expected), (v, p)
            got = [(r.key, r.value)
                   for r in kw.decode_record_batches(p["records"])]
            assert got == expected, v
        hw = len(expected)
        for v in versions(broker1, kw.LIST_OFFSETS):
            if v == 0:
                for ts, want in ((-2, [0]), (-1, [hw])):
                    res = parse_list_offsets_v0(conn.request(
                        kw.LIST_OFFSETS, 0, req_list_offsets_v0(name, 0, ts)))
                    assert res[(name, 0)] == (0, want), (ts, res)
                continue
            for ts, want in ((-2, 0), (-1, hw)):
                res = kw.parse_list_offsets(conn.request(
                    kw.LIST_OFFSETS, v,
                    kw.req_list_offsets(v, [(name, 0, ts)])), v)
                err, _, off = res[(name, 0)]
                assert err == 0 and off == want, (v, ts, res)


def test_requests_naming_thousands_of_partitions(broker):
    """One request naming every partition of a 2,000-partition topic, for
    each API that takes partitions, is answered in full (per-request
    memory grows with the partitions named and must not make the broker
    drop such a request)."""
    n = 2000
    with kw.Conn(broker.addr, timeout=60) as conn:
        name = unique_topic("wide")
        res = parse_create_topics(conn.request(
            CREATE_TOPICS, 0, req_create_topics(0, name, n)), 0)
        assert res[name][0] == 0, res
        batch = kw.encode_record_batch([(b"k", b"v")])
        res = kw.parse_produce(conn.request(kw.PRODUCE, 7, kw.req_produce(
            7, -1, 30000, [(name, p, batch) for p in range(n)])), 7)
        assert all(res[(name, p)][0] == 0 for p in range(n))
        for v in (0, 1):
            if v == 0:
                w = kw.Writer(False)
                w.i32(-1).array_len(1).string(name).array_len(n)
                for p in range(n):
                    w.i32(p).i64(-1).i32(1)
                res = parse_list_offsets_v0(conn.request(
                    kw.LIST_OFFSETS, 0, w.getvalue()))
                assert all(res[(name, p)] == (0, [1]) for p in range(n))
            else:
                res = kw.parse_list_offsets(conn.request(
                    kw.LIST_OFFSETS, 1,
                    kw.req_list_offsets(1, [(name, p, -1)
                                            for p in range(n)])), 1)
                assert all(res[(name, p)][0] == 0 and res[(name, p)][2] == 1
                           for p in range(n))
        _, parts = kw.parse_fetch(conn.request(kw.FETCH, 11, kw.req_fetch(
            11, [(name, p, 0) for p in range(n)],
            partition_max_bytes=1024)), 11)
        assert all(parts[(name, p)]["error"] == 0 for p in range(n))
        got = sum(len(list(kw.decode_record_batches(
            parts[(name, p)]["records"]))) for p in range(n))
        assert got == n


def test_init_producer_id_every_version(broker):
    """InitProducerId: each version hands out a fresh id with epoch 0 (on
    every shard: ids come from the controller), and refuses a
    transactional id (Strata has no transactions)."""
    init_producer_id = 22
    seen = set()
    with kw.Conn(broker.addr) as conn:
        for v in versions(broker, init_producer_id):
            for txn in (None, "txn-%d" % v):
                w = kw.Writer(False)
                w.string(txn).i32(60000)
                r = conn.request(init_producer_id, v, w.getvalue())
                r.i32()  # throttle
                err, pid, epoch = r.i16(), r.i64(), r.i16()
                assert r.remaining() == 0
                if txn is None:
                    assert (err, epoch) == (0, 0) and pid >= 0, (v, err)
                    assert pid not in seen
                    seen.add(pid)
                else:
                    # TRANSACTIONAL_ID_AUTHORIZATION_FAILED
                    assert (err, pid, epoch) == (53, -1, -1), (v, err)
    assert seen
