"""The operators' admin APIs against the real broker: DescribeConfigs 0-3,
AlterConfigs 0-1, IncrementalAlterConfigs 0-1, CreatePartitions 0-1,
DescribeCluster 0 and DescribeLogDirs 0-1.

confluent-kafka's AdminClient (1.7.0: describe_configs, alter_configs,
create_partitions) drives the calls tools make, and each change must
survive a clean restart and a kill -9 (the metadata log is fdatasynced
before the answer). Changed configs must act on partitions already open
(segment size, retention, max.message.bytes), and new partitions must take
records and give them back. Hand-built frames cover every version, the
APIs AdminClient 1.7.0 does not have (IncrementalAlterConfigs,
DescribeCluster, DescribeLogDirs), and Kafka's error codes for each kind
of bad request.
"""

import os
import struct
import time

import pytest
from confluent_kafka.admin import (ConfigResource, ConfigSource,
                                   NewPartitions)

import kafka_wire as kw
from it_util import (admin, consume_all, create_topic, produce_all,
                     run_client_json, total_size, unique_topic,
                     wait_for_topic)

DESCRIBE_CONFIGS = 32
ALTER_CONFIGS = 33
DESCRIBE_LOG_DIRS = 35
CREATE_PARTITIONS = 37
INCREMENTAL_ALTER_CONFIGS = 44
DESCRIBE_CLUSTER = 60

# First flexible version of each, from the schemas: the request header
# version (kafka_wire.frame) and the response header depend on it.
for _key, _flex in ((DESCRIBE_CONFIGS, 4), (ALTER_CONFIGS, 2),
                    (DESCRIBE_LOG_DIRS, 2), (CREATE_PARTITIONS, 2),
                    (INCREMENTAL_ALTER_CONFIGS, 1), (DESCRIBE_CLUSTER, 0)):
    kw.FLEXIBLE_FROM.setdefault(_key, _flex)

TOPIC, BROKER, BROKER_LOGGER = 2, 4, 8
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
SRC_TOPIC, SRC_STATIC, SRC_DEFAULT = 1, 4, 5
TYPE_INT, TYPE_LONG, TYPE_LIST, TYPE_STRING, TYPE_BOOLEAN = 3, 5, 7, 2, 1

UNKNOWN_TOPIC_OR_PARTITION = 3
MESSAGE_TOO_LARGE = 10
INVALID_TOPIC_EXCEPTION = 17
INVALID_PARTITIONS = 37
INVALID_REPLICA_ASSIGNMENT = 39
INVALID_CONFIG = 40
INVALID_REQUEST = 42

HONOURED = {"retention.ms", "retention.bytes", "segment.bytes",
            "max.message.bytes", "cleanup.policy"}

# ------------------------------------------------------- frame builders


def req_describe_configs(v, resources, synonyms=False, docs=False):
    """resources: [(type, name, keys or None)]."""
    w = kw.Writer(False)
    w.array_len(len(resources))
    for rtype, name, keys in resources:
        w.i8(rtype).string(name)
        w.array_len(None if keys is None else len(keys))
        for k in keys or ():
            w.string(k)
    if v >= 1:
        w.boolean(synonyms)
    if v >= 3:
        w.boolean(docs)
    return w.getvalue()


def parse_describe_configs(r, v):
    """[{error, message, type, name, configs: {name: {...}}}]"""
    r.i32()

    def config():
        c = {"name": r.string(), "value": r.string(),
             "read_only": r.boolean()}
        if v == 0:
            c["is_default"] = r.boolean()
        else:
            c["source"] = r.i8()
        c["sensitive"] = r.boolean()
        if v >= 1:
            c["synonyms"] = r.array(
                lambda: (r.string(), r.string(), r.i8()))
        if v >= 3:
            c["type"] = r.i8()
            c["doc"] = r.string()
        return c

    def result():
        res = {"error": r.i16(), "message": r.string(), "type": r.i8(),
               "name": r.string()}
        res["configs"] = {c["name"]: c for c in r.array(config)}
        return res
    out = r.array(result)
    assert r.remaining() == 0
    return out


def req_alter(key, v, resources, validate_only=False):
    """resources: [(type, name, [(key, value)])] for AlterConfigs,
    [(type, name, [(key, op, value)])] for IncrementalAlterConfigs."""
    flex = kw.is_flexible(key, v)
    w = kw.Writer(flex)
    w.array_len(len(resources))
    for rtype, name, configs in resources:
        w.i8(rtype).string(name).array_len(len(configs))
        for c in configs:
            w.string(c[0])
            if key == INCREMENTAL_ALTER_CONFIGS:
                w.i8(c[1])
            w.string(c[-1]).tags()
        w.tags()
    w.boolean(validate_only).tags()
    return w.getvalue()


def parse_alter(key, r, v):
    """[(error, message, type, name)] in request order."""
    r.flex = kw.is_flexible(key, v)
    r.i32()

    def one():
        x = (r.i16(), r.string(), r.i8(), r.string())
        r.tags()
        return x
    out = r.array(one)
    r.tags()
    assert r.remaining() == 0
    return out


def req_create_partitions(v, topics, validate_only=False):
    """topics: [(name, count, assignments or None)]."""
    w = kw.Writer(False)
    w.array_len(len(topics))
    for name, count, asg in topics:
        w.string(name).i32(count)
        w.array_len(None if asg is None else len(asg))
        for ids in asg or ():
            w.array_len(len(ids))
            for i in ids:
                w.i32(i)
    w.i32(10000).boolean(validate_only)
    return w.getvalue()


def parse_create_partitions(r, v):
    r.i32()
    out = r.array(lambda: (r.string(), r.i16(), r.string()))
    assert r.remaining() == 0
    return out


def req_describe_cluster(include_ops):
    return kw.Writer(True).boolean(include_ops).tags().getvalue()


def parse_describe_cluster(r):
    r.flex = True
    out = {"throttle": r.i32(), "error": r.i16(), "message": r.string(),
           "cluster_id": r.string(), "controller": r.i32()}

    def broker():
        b = (r.i32(), r.string(), r.i32(), r.string())
        r.tags()
        return b
    out["brokers"] = r.array(broker)
    out["ops"] = r.i32()
    r.tags()
    assert r.remaining() == 0
    return out


def req_describe_log_dirs(v, topics):
    """topics: None (all) or [(name, [partitions])]."""
    w = kw.Writer(False)
    w.array_len(None if topics is None else len(topics))
    for name, parts in topics or ():
        w.string(name).array_len(len(parts))
        for p in parts:
            w.i32(p)
    return w.getvalue()


def parse_describe_log_dirs(r, v):
    """[(error, dir, {topic: {partition: (size, lag, future)}})]"""
    r.i32()

    def part():
        return r.i32(), (r.i64(), r.i64(), r.boolean())

    def topic():
        return r.string(), dict(r.array(part))

    def result():
        return r.i16(), r.string(), dict(r.array(topic))
    out = r.array(result)
    assert r.remaining() == 0
    return out


def advertised(addr):
    with kw.Client(addr) as c:
        return dict(c.broker_versions)


def describe(conn, v, resources, **kw_):
    return parse_describe_configs(conn.request(
        DESCRIBE_CONFIGS, v, req_describe_configs(v, resources, **kw_)), v)


def topic_configs(conn, topic, v=1):
    res = describe(conn, v, [(TOPIC, topic, None)], synonyms=True)[0]
    assert res["error"] == 0, res
    return res["configs"]


def alter(conn, key, v, resources, validate_only=False):
    return parse_alter(key, conn.request(
        key, v, req_alter(key, v, resources, validate_only)), v)


def _result(future, timeout=20):
    """(error code or None, message) of an AdminClient future."""
    try:
        future.result(timeout)
    except Exception as e:  # KafkaException wrapping a KafkaError
        err = e.args[0] if e.args else None
        if hasattr(err, "code"):
            return err.code(), err.str()
        raise
    return None, None


def _describe_confluent(a, resource):
    return a.describe_configs([resource])[resource].result(20)


def _segment_files(b, topic, part=0):
    d = os.path.join(b.data_dir, "%s-%d" % (topic, part))
    return sorted(f for f in os.listdir(d) if f.endswith(".log"))


def _log_bytes(b, topic, part):
    d = os.path.join(b.data_dir, "%s-%d" % (topic, part))
    return total_size(os.path.join(d, f)
                      for f in os.listdir(d) if f.endswith(".log"))


# ------------------------------------------------------ advertised ranges


def test_versions_advertised(broker):
    adv = advertised(broker.addr)
    assert adv[DESCRIBE_CONFIGS] == (0, 3)
    assert adv[ALTER_CONFIGS] == (0, 1)
    assert adv[INCREMENTAL_ALTER_CONFIGS] == (0, 1)
    assert adv[CREATE_PARTITIONS] == (0, 1)
    assert adv[DESCRIBE_CLUSTER] == (0, 0)
    assert adv[DESCRIBE_LOG_DIRS] == (0, 1)


# --------------------------------------------------- confluent-kafka


def test_describe_configs_topic_confluent(broker):
    a = admin(broker.bootstrap)
    t = create_topic(broker.bootstrap, unique_topic("dc"), 2,
                     {"retention.bytes": "1048576"})
    cfg = _describe_confluent(a, ConfigResource("topic", t))
    assert set(cfg) == HONOURED
    rb = cfg["retention.bytes"]
    assert rb.value == "1048576"
    assert rb.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert not rb.is_read_only and not rb.is_sensitive and not rb.is_default
    seg = cfg["segment.bytes"]
    assert seg.value == "1073741824"
    assert seg.source == ConfigSource.DEFAULT_CONFIG.value
    assert cfg["cleanup.policy"].value == "delete"
    assert cfg["max.message.bytes"].value == "1048588"
    # librdkafka asks for synonyms: the broker key the topic inherits
    assert "log.segment.bytes" in seg.synonyms
    assert "log.retention.bytes" in rb.synonyms


def test_describe_configs_broker_confluent(broker):
    a = admin(broker.bootstrap)
    cfg = _describe_confluent(a, ConfigResource("broker", "1"))
    # every broker key, all read-only (no dynamic broker configs)
    assert {"log.dirs", "listeners", "num.partitions", "log.retention.hours",
            "message.max.bytes", "num.shards"} <= set(cfg)
    assert all(e.is_read_only and not e.is_sensitive for e in cfg.values())
    # the harness sets log.dirs and listeners on the command line
    assert cfg["log.dirs"].value == broker.data_dir
    assert cfg["log.dirs"].source == \
        ConfigSource.STATIC_BROKER_CONFIG.value
    assert cfg["num.shards"].source == \
        ConfigSource.STATIC_BROKER_CONFIG.value
    assert cfg["num.partitions"].value == "1"
    assert cfg["num.partitions"].source == ConfigSource.DEFAULT_CONFIG.value
    assert cfg["log.roll.ms"].value is None  # unset: log.roll.hours


def test_alter_configs_confluent_errors(broker):
    a = admin(broker.bootstrap)
    t = create_topic(broker.bootstrap, unique_topic("ae"), 1)

    def alter_one(res):
        return _result(a.alter_configs([res])[res])

    # a Kafka topic config Strata does not honour, and an unknown name
    for k in ("compression.type", "no.such.config"):
        code, msg = alter_one(ConfigResource("topic", t,
                                             set_config={k: "1"}))
        assert code == INVALID_CONFIG and k in msg, (k, code, msg)
    code, msg = alter_one(ConfigResource("topic", t, set_config={
        "retention.ms": "soon"}))
    assert code == INVALID_CONFIG and "retention.ms" in msg
    code, msg = alter_one(ConfigResource("topic", t, set_config={
        "cleanup.policy": "compact"}))
    assert code == INVALID_CONFIG and "compact" in msg
    code, msg = alter_one(ConfigResource("topic", unique_topic("none"),
                                         set_config={"retention.ms": "1"}))
    assert code == UNKNOWN_TOPIC_OR_PARTITION
    code, msg = alter_one(ConfigResource("topic", "__consumer_offsets",
                                         set_config={"retention.ms": "1"}))
    assert code == INVALID_CONFIG
    code, msg = alter_one(ConfigResource("broker", "1", set_config={
        "log.retention.ms": "1000"}))
    assert code == INVALID_REQUEST
    assert "Cannot update these configs dynamically" in msg
    # nothing of the refused changes stuck
    cfg = _describe_confluent(a, ConfigResource("topic", t))
    assert cfg["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value
    assert cfg["cleanup.policy"].value == "delete"


@pytest.mark.deadline(90)
@pytest.mark.parametrize("shards", [1, 2])
def test_alter_configs_confluent_survives_restart(start_broker, shards):
    b = start_broker({"num.shards": shards})
    a = admin(b.bootstrap)
    t = create_topic(b.bootstrap, unique_topic("ar"), 2,
                     {"retention.bytes": "1048576"})
    res = ConfigResource("topic", t, set_config={
        "retention.ms": "3600000", "max.message.bytes": "2000"})
    assert _result(a.alter_configs([res])[res]) == (None, None)
    cfg = _describe_confluent(a, ConfigResource("topic", t))
    assert cfg["retention.ms"].value == "3600000"
    assert cfg["retention.ms"].source == \
        ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert cfg["max.message.bytes"].value == "2000"
    # AlterConfigs replaces the whole set: retention.bytes went back
    assert cfg["retention.bytes"].value == "-1"
    assert cfg["retention.bytes"].source == ConfigSource.DEFAULT_CONFIG.value

    # the new limit applies at once, on every partition and connection
    big = kw.encode_record_batch([(None, b"x" * 3000)])
    small = kw.encode_record_batch([(None, b"y" * 100)])
    with kw.Client(b.addr) as c:
        for p in (0, 1):
            assert c.produce(t, p, big, acks=-1)[0] == MESSAGE_TOO_LARGE
            assert c.produce(t, p, small, acks=-1)[0] == 0

    for restart in ("clean", "kill9"):
        if restart == "clean":
            assert b.stop() == []
        else:
            b.kill9()
        b.restart()
        a = admin(b.bootstrap)
        cfg = _describe_confluent(a, ConfigResource("topic", t))
        assert cfg["retention.ms"].value == "3600000", restart
        assert cfg["max.message.bytes"].value == "2000", restart
        assert cfg["retention.ms"].source == \
            ConfigSource.DYNAMIC_TOPIC_CONFIG.value
        with kw.Client(b.addr) as c:
            assert c.produce(t, 0, big, acks=-1)[0] == MESSAGE_TOO_LARGE
        # a second change after the restart is recorded too
        res = ConfigResource("topic", t, set_config={
            "retention.ms": "7200000", "max.message.bytes": "2000"})
        assert _result(a.alter_configs([res])[res]) == (None, None)
        cfg = _describe_confluent(a, ConfigResource("topic", t))
        assert cfg["retention.ms"].value == "7200000"
        res = ConfigResource("topic", t, set_config={
            "retention.ms": "3600000", "max.message.bytes": "2000"})
        assert _result(a.alter_configs([res])[res]) == (None, None)


@pytest.mark.deadline(120)
@pytest.mark.parametrize("shards", [1, 2])
def test_create_partitions_confluent(start_broker, shards):
    b = start_broker({"num.shards": shards})
    a = admin(b.bootstrap)
    t = create_topic(b.bootstrap, unique_topic("cp"), 2)
    produce_all(b.bootstrap, t, [(b"k%d" % i, b"before-%d" % i, i % 2)
                                 for i in range(20)])
    fs = a.create_partitions([NewPartitions(t, 5)], operation_timeout=15,
                             request_timeout=15)
    assert _result(fs[t]) == (None, None)
    wait_for_topic(a, t, 5)
    # every partition, new ones included, takes records and gives them back
    produce_all(b.bootstrap, t, [(b"k%d" % i, b"after-%d" % i, i % 5)
                                 for i in range(50)])
    got = consume_all(b.bootstrap, t, 5, expected=70)
    assert [len(got[p]) for p in range(5)] == [20, 20, 10, 10, 10]
    assert [m.value() for m in got[4]] == [b"after-%d" % i
                                           for i in range(4, 50, 5)]

    # refused: fewer, the same, the internal topic, an unknown topic
    fs = a.create_partitions([NewPartitions(t, 3)])
    code, msg = _result(fs[t])
    assert code == INVALID_PARTITIONS and "5" in msg and "3" in msg
    fs = a.create_partitions([NewPartitions(t, 5)])
    assert _result(fs[t])[0] == INVALID_PARTITIONS
    fs = a.create_partitions([NewPartitions("__consumer_offsets", 100)])
    code, msg = _result(fs["__consumer_offsets"])
    assert code == INVALID_PARTITIONS and "fixed" in msg
    u = unique_topic("none")
    fs = a.create_partitions([NewPartitions(u, 4)])
    assert _result(fs[u])[0] == UNKNOWN_TOPIC_OR_PARTITION
    # validate_only changes nothing
    fs = a.create_partitions([NewPartitions(t, 8)], validate_only=True)
    assert _result(fs[t]) == (None, None)
    assert len(a.list_topics(t, timeout=10).topics[t].partitions) == 5

    for restart in ("clean", "kill9"):
        if restart == "clean":
            assert b.stop() == []
        else:
            b.kill9()
        b.restart()
        a = admin(b.bootstrap)
        wait_for_topic(a, t, 5)
        got = consume_all(b.bootstrap, t, 5, expected=70)
        assert sum(len(v) for v in got.values()) == 70, restart
    # and it still grows after the restarts
    fs = a.create_partitions([NewPartitions(t, 6)])
    assert _result(fs[t]) == (None, None)
    wait_for_topic(a, t, 6)
    produce_all(b.bootstrap, t, [(None, b"last", 5)])
    assert len(consume_all(b.bootstrap, t, 6, expected=71)[5]) == 1


# ------------------------------------------ configs acting on open logs


@pytest.mark.deadline(90)
def test_segment_and_retention_changes_reach_open_partitions(start_broker):
    b = start_broker({"num.shards": 2,
                      "log.retention.check.interval.ms": 300})
    t = create_topic(b.bootstrap, unique_topic("live"), 2)
    batch = kw.encode_record_batch([(None, b"z" * 200)])
    with kw.Client(b.addr) as c, kw.Conn(b.addr) as conn:
        for p in (0, 1):
            for _ in range(10):
                assert c.produce(t, p, batch, acks=-1)[0] == 0
            assert len(_segment_files(b, t, p)) == 1
        # IncrementalAlterConfigs leaves the other configs alone
        out = alter(conn, INCREMENTAL_ALTER_CONFIGS, 1, [
            (TOPIC, t, [("segment.bytes", SET, "1024")])])
        assert out == [(0, None, TOPIC, t)]
        for p in (0, 1):
            for _ in range(20):
                assert c.produce(t, p, batch, acks=-1)[0] == 0
            # ~270-byte batches, 1024-byte segments
            assert len(_segment_files(b, t, p)) >= 5, p
        # retention by size, without a restart: old segments go
        out = alter(conn, INCREMENTAL_ALTER_CONFIGS, 1, [
            (TOPIC, t, [("retention.bytes", SET, "2048")])])
        assert out == [(0, None, TOPIC, t)]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            starts = [c.list_offsets(t, p, kw.EARLIEST)[2] for p in (0, 1)]
            if all(s > 0 for s in starts):
                break
            time.sleep(0.2)
        assert all(s > 0 for s in starts), starts
        for p in (0, 1):
            assert c.list_offsets(t, p, kw.LATEST)[2] == 30
        cfg = topic_configs(conn, t)
        assert cfg["segment.bytes"]["value"] == "1024"
        assert cfg["retention.bytes"]["value"] == "2048"
        assert cfg["retention.bytes"]["source"] == SRC_TOPIC


# ------------------------------------------------- every version, frames


def test_describe_configs_every_version(broker):
    t = create_topic(broker.bootstrap, unique_topic("dv"), 1,
                     {"retention.ms": "3600000"})
    with kw.Conn(broker.addr) as conn:
        for v in range(0, 4):
            topic, brk = describe(conn, v, [(TOPIC, t, None),
                                            (BROKER, "1", ["log.dirs",
                                                           "no.such.key"])],
                                  synonyms=True, docs=True)
            assert topic["error"] == 0 and topic["message"] is None
            assert (topic["type"], topic["name"]) == (TOPIC, t)
            assert set(topic["configs"]) == HONOURED
            rm = topic["configs"]["retention.ms"]
            seg = topic["configs"]["segment.bytes"]
            assert rm["value"] == "3600000" and not rm["read_only"]
            assert not rm["sensitive"]
            assert set(brk["configs"]) == {"log.dirs"}, v
            ld = brk["configs"]["log.dirs"]
            assert ld["value"] == broker.data_dir and ld["read_only"]
            if v == 0:
                assert not rm["is_default"] and seg["is_default"]
                assert not ld["is_default"]
                continue
            assert rm["source"] == SRC_TOPIC and seg["source"] == SRC_DEFAULT
            assert ld["source"] == SRC_STATIC
            # the chain Kafka walks: the topic's value, then the broker's
            assert rm["synonyms"] == [
                ("retention.ms", "3600000", SRC_TOPIC),
                ("log.retention.hours", "168", SRC_DEFAULT)]
            assert seg["synonyms"] == [
                ("log.segment.bytes", "1073741824", SRC_DEFAULT)]
            assert topic["configs"]["cleanup.policy"]["synonyms"] == [
                ("log.cleanup.policy", "delete", SRC_DEFAULT)]
            assert ld["synonyms"][0] == ("log.dirs", broker.data_dir,
                                         SRC_STATIC)
            if v >= 3:
                assert rm["type"] == TYPE_LONG and seg["type"] == TYPE_INT
                assert topic["configs"]["cleanup.policy"]["type"] == \
                    TYPE_LIST
                assert ld["type"] == TYPE_STRING
                assert rm["doc"] and "Retention" in rm["doc"]
            # without IncludeSynonyms: none
            topic, = describe(conn, v, [(TOPIC, t, ["retention.ms"])])
            assert list(topic["configs"]) == ["retention.ms"]
            assert topic["configs"]["retention.ms"]["synonyms"] == []
            if v >= 3:
                assert topic["configs"]["retention.ms"]["doc"] is None


def test_describe_configs_errors(broker):
    with kw.Conn(broker.addr) as conn:
        out = describe(conn, 1, [
            (TOPIC, unique_topic("none"), None),
            (TOPIC, "bad/name", None),
            (BROKER, "7", None),
            (BROKER, "one", None),
            (BROKER, "", None),
            (BROKER_LOGGER, "1", None),
            (3, "group", None),
        ])
        assert [r["error"] for r in out] == [
            UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION,
            INVALID_REQUEST, INVALID_REQUEST, 0, INVALID_REQUEST,
            INVALID_REQUEST]
        assert "Unexpected broker id" in out[2]["message"]
        assert "must be an integer" in out[3]["message"]
        # the cluster-wide dynamic defaults: there are none
        assert out[4]["configs"] == {}
        assert all(not r["configs"] for r in out)
        # the connection is still fine
        assert describe(conn, 0, [(BROKER, "1", ["node.id"])])[0][
            "configs"]["node.id"]["value"] == "1"


def test_alter_configs_every_version(broker):
    t = create_topic(broker.bootstrap, unique_topic("av"), 1)
    with kw.Conn(broker.addr) as conn:
        for v in (0, 1):
            # validate only: accepted, nothing changes
            before = topic_configs(conn, t)
            out = alter(conn, ALTER_CONFIGS, v, [
                (TOPIC, t, [("retention.ms", "1")])], validate_only=True)
            assert out == [(0, None, TOPIC, t)]
            assert topic_configs(conn, t) == before
            out = alter(conn, ALTER_CONFIGS, v, [
                (TOPIC, t, [("retention.ms", "%d" % (1000 + v)),
                            ("cleanup.policy", "delete")])])
            assert out == [(0, None, TOPIC, t)]
            cfg = topic_configs(conn, t)
            assert cfg["retention.ms"]["value"] == "%d" % (1000 + v)
            assert cfg["cleanup.policy"]["source"] == SRC_TOPIC
            # a refused resource changes nothing, the others go through
            u = create_topic(broker.bootstrap, unique_topic("av"), 1)
            out = alter(conn, ALTER_CONFIGS, v, [
                (TOPIC, t, [("retention.ms", "5"), ("segment.ms", "5")]),
                (TOPIC, u, [("max.message.bytes", "4096")]),
                (TOPIC, "__consumer_offsets", [("retention.ms", "5")]),
                (TOPIC, unique_topic("none"), [("retention.ms", "5")]),
                (BROKER, "1", [("num.partitions", "3")]),
                (BROKER, "1", []),
                (BROKER, "2", []),
                (BROKER_LOGGER, "1", [("root", "DEBUG")]),
                (TOPIC, t, [("retention.bytes", None)]),
            ])
            codes = [o[0] for o in out]
            # t is named twice: both refused as duplicates
            assert codes == [INVALID_REQUEST, 0, INVALID_CONFIG,
                             UNKNOWN_TOPIC_OR_PARTITION, INVALID_REQUEST,
                             INVALID_REQUEST, INVALID_REQUEST,
                             INVALID_REQUEST, INVALID_REQUEST], codes
            assert [(o[2], o[3]) for o in out][:2] == [(TOPIC, t),
                                                       (TOPIC, u)]
            assert topic_configs(conn, t)["retention.ms"]["value"] == \
                "%d" % (1000 + v)
            assert topic_configs(conn, u)["max.message.bytes"]["value"] == \
                "4096"
            out = alter(conn, ALTER_CONFIGS, v, [
                (TOPIC, t, [("retention.bytes", None)]),
                (TOPIC, u, [("segment.ms", "5")]),
                (TOPIC, unique_topic("none") + "/", [])])
            assert [o[0] for o in out] == [INVALID_REQUEST, INVALID_CONFIG,
                                           INVALID_TOPIC_EXCEPTION]
            assert "Null value" in out[0][1]
            assert "segment.ms" in out[1][1]


def test_incremental_alter_configs_every_version(broker):
    t = create_topic(broker.bootstrap, unique_topic("iv"), 1,
                     {"retention.bytes": "100000"})
    with kw.Conn(broker.addr) as conn:
        for v in (0, 1):
            ok = [(0, None, TOPIC, t)]
            assert alter(conn, INCREMENTAL_ALTER_CONFIGS, v, [
                (TOPIC, t, [("retention.ms", SET, "60000"),
                            ("cleanup.policy", APPEND, "delete")])]) == ok
            cfg = topic_configs(conn, t)
            # incremental: retention.bytes is kept
            assert cfg["retention.bytes"]["value"] == "100000"
            assert cfg["retention.ms"]["value"] == "60000"
            assert cfg["cleanup.policy"]["value"] == "delete"
            assert cfg["cleanup.policy"]["source"] == SRC_TOPIC
            assert alter(conn, INCREMENTAL_ALTER_CONFIGS, v, [
                (TOPIC, t, [("retention.ms", DELETE, None),
                            ("cleanup.policy", DELETE, None)])]) == ok
            cfg = topic_configs(conn, t)
            assert cfg["retention.ms"]["source"] == SRC_DEFAULT
            assert cfg["retention.ms"]["value"] == "604800000"
            assert cfg["cleanup.policy"]["source"] == SRC_DEFAULT
            bad = [
                ([("cleanup.policy", APPEND, "compact")], INVALID_CONFIG),
                ([("cleanup.policy", SUBTRACT, "delete")], INVALID_CONFIG),
                ([("retention.ms", APPEND, "5")], INVALID_CONFIG),
                ([("retention.ms", SET, None)], INVALID_REQUEST),
                ([("retention.ms", 9, "5")], INVALID_REQUEST),
                ([("min.insync.replicas", SET, "2")], INVALID_CONFIG),
                ([("nope", DELETE, None)], INVALID_CONFIG),
                ([("segment.bytes", SET, "5")], INVALID_CONFIG),
                ([("retention.ms", SET, "5"), ("retention.ms", DELETE, None)],
                 INVALID_REQUEST),
                # the first operation is valid, the second is not: neither
                # is applied
                ([("retention.ms", SET, "5"), ("nope", SET, "1")],
                 INVALID_CONFIG),
            ]
            for configs, code in bad:
                out = alter(conn, INCREMENTAL_ALTER_CONFIGS, v,
                            [(TOPIC, t, configs)])
                assert out[0][0] == code, (configs, out)
                assert out[0][1], configs
            cfg = topic_configs(conn, t)
            assert cfg["retention.ms"]["source"] == SRC_DEFAULT
            assert cfg["segment.bytes"]["source"] == SRC_DEFAULT
            out = alter(conn, INCREMENTAL_ALTER_CONFIGS, v, [
                (BROKER, "1", [("log.retention.ms", SET, "1")]),
                (BROKER, "", [("log.retention.ms", DELETE, None)]),
                (TOPIC, t, [("segment.bytes", SET, "4096")])],
                validate_only=True)
            assert [o[0] for o in out] == [INVALID_REQUEST,
                                           INVALID_REQUEST, 0]
            assert topic_configs(conn, t)["segment.bytes"]["source"] == \
                SRC_DEFAULT


def test_create_partitions_every_version(broker):
    with kw.Conn(broker.addr) as conn:
        for v in (0, 1):
            t = create_topic(broker.bootstrap, unique_topic("pv"), 1)
            u = create_topic(broker.bootstrap, unique_topic("pv"), 1)

            def cp(topics, validate_only=False):
                return parse_create_partitions(conn.request(
                    CREATE_PARTITIONS, v,
                    req_create_partitions(v, topics, validate_only)), v)
            assert cp([(t, 4, None)], validate_only=True) == \
                [(t, 0, None)]
            # manual assignment: this broker, once per new partition
            assert cp([(t, 3, [[1], [1]]), (u, 2, None)]) == \
                [(t, 0, None), (u, 0, None)]
            out = cp([(t, 5, [[2], [1]]), (u, 4, [[1]]), (t, 9, None),
                      (u + "x", 2, None), (u, 4, [[1, 1], [1]])])
            assert [(o[0], o[1]) for o in out] == [
                (t, INVALID_REQUEST), (u, INVALID_REQUEST),
                (t, INVALID_REQUEST), (u + "x", UNKNOWN_TOPIC_OR_PARTITION),
                (u, INVALID_REQUEST)]
            out = cp([(t, 5, [[2], [1]]), (u, 4, [[1]]),
                      (u + "y", 0, None)])
            assert [(o[0], o[1]) for o in out] == [
                (t, INVALID_REPLICA_ASSIGNMENT),
                (u, INVALID_REPLICA_ASSIGNMENT),
                (u + "y", UNKNOWN_TOPIC_OR_PARTITION)]
            assert "2 but 1 assignments" in out[1][2]
            out = cp([(t, 100001, None), (u, 1, None), (u + "z", 2, None)])
            assert [o[1] for o in out] == [
                INVALID_PARTITIONS, INVALID_PARTITIONS,
                UNKNOWN_TOPIC_OR_PARTITION]
            md = kw.Client(broker.addr)
            try:
                m = md.metadata([t, u])
            finally:
                md.close()
            assert len(m["topics"][t]["partitions"]) == 3
            assert len(m["topics"][u]["partitions"]) == 2


def test_describe_cluster(broker):
    with kw.Client(broker.addr) as c:
        md = c.metadata([])
    with kw.Conn(broker.addr) as conn:
        for include in (False, True):
            out = parse_describe_cluster(conn.request(
                DESCRIBE_CLUSTER, 0, req_describe_cluster(include)))
            assert out["error"] == 0 and out["message"] is None
            assert out["cluster_id"] == md["cluster_id"]
            assert len(out["cluster_id"]) == 22
            assert out["controller"] == 1
            assert out["brokers"] == [(1, "127.0.0.1", broker.port, None)]
            # without an authorizer every cluster operation is allowed
            assert out["ops"] == (8096 if include else -2 ** 31)


def test_describe_log_dirs(broker):
    t = create_topic(broker.bootstrap, unique_topic("ld"), 3)
    produce_all(broker.bootstrap, t, [(None, b"v" * 500, i % 3)
                                      for i in range(30)])
    produce_all(broker.bootstrap, t, [(None, b"w" * 500, 1)
                                      for i in range(30)])
    real = os.path.realpath(broker.data_dir)
    with kw.Conn(broker.addr) as conn:
        for v in (0, 1):
            (err, d, topics), = parse_describe_log_dirs(conn.request(
                DESCRIBE_LOG_DIRS, v, req_describe_log_dirs(v, None)), v)
            assert err == 0 and d == real
            assert "__consumer_offsets" in topics
            assert sorted(topics[t]) == [0, 1, 2]
            for p in range(3):
                size, lag, future = topics[t][p]
                # the owner shard's count equals what is on disk
                assert size == _log_bytes(broker, t, p) > 0, p
                assert lag == 0 and not future
            assert topics[t][1][0] > topics[t][0][0]
            # named partitions, each once; unknown ones left out
            (err, d, topics), = parse_describe_log_dirs(conn.request(
                DESCRIBE_LOG_DIRS, v, req_describe_log_dirs(v, [
                    (t, [2, 2, 7, -1]), (unique_topic("none"), [0]),
                    (t, [0])])), v)
            assert err == 0 and list(topics) == [t]
            assert list(topics[t]) == [2]
            (err, d, topics), = parse_describe_log_dirs(conn.request(
                DESCRIBE_LOG_DIRS, v, req_describe_log_dirs(v, [])), v)
            assert topics == {}


def test_config_records_in_metadata_log(start_broker):
    """The two new record types are appended (and fdatasynced) at each
    change, then folded into CREATE_TOPIC by the rewrite at the next
    start."""
    b = start_broker()
    t = create_topic(b.bootstrap, unique_topic("ml"), 1)
    a = admin(b.bootstrap)
    res = ConfigResource("topic", t, set_config={"retention.ms": "1234"})
    assert _result(a.alter_configs([res])[res]) == (None, None)
    fs = a.create_partitions([NewPartitions(t, 2)])
    assert _result(fs[t]) == (None, None)
    path = os.path.join(b.data_dir, "meta", "metadata.log")

    def records():
        data = open(path, "rb").read()
        out, off = [], 0
        while off + 8 <= len(data):
            n, crc = struct.unpack_from(">II", data, off)
            payload = data[off + 8:off + 8 + n]
            assert kw.crc32c(payload) == crc
            out.append(payload)
            off += 8 + n
        assert off == len(data)
        return out
    recs = records()
    assert [r[0] for r in recs[-2:]] == [5, 6]
    cfg_rec, part_rec = recs[-2], recs[-1]
    name_len = struct.unpack_from(">H", cfg_rec, 9)[0]
    assert cfg_rec[11:11 + name_len].decode() == t
    body = cfg_rec[11 + name_len:]
    assert body == struct.pack(">HH", 1, 12) + b"retention.ms" + \
        struct.pack(">H", 4) + b"1234"
    assert part_rec[11 + name_len:] == struct.pack(">i", 2)
    assert b.stop() == []
    b.restart()
    recs = records()
    assert all(r[0] in (1, 3) for r in recs), [r[0] for r in recs]
    cfg = _describe_confluent(admin(b.bootstrap), ConfigResource("topic", t))
    assert cfg["retention.ms"].value == "1234"
    assert len(admin(b.bootstrap).list_topics(t, timeout=10)
               .topics[t].partitions) == 2


# ------------------------------------------------ other clients' admins


def test_kafka_python_admin(broker):
    """kafka-python 2.0.2: DescribeConfigs v2, AlterConfigs v1,
    CreatePartitions v1."""
    from kafka.admin import (ConfigResource as KConfigResource,
                             ConfigResourceType, KafkaAdminClient)
    from kafka.admin import NewPartitions as KNewPartitions
    t = create_topic(broker.bootstrap, unique_topic("kp"), 1)
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap,
                         request_timeout_ms=10000)
    try:
        res, = a.describe_configs([KConfigResource(
            ConfigResourceType.TOPIC, t)], include_synonyms=True)
        (err, msg, rtype, name, entries), = res.resources
        assert (err, rtype, name) == (0, TOPIC, t)
        got = {e[0]: e for e in entries}
        assert set(got) == HONOURED
        assert got["segment.bytes"][1] == "1073741824"
        assert got["segment.bytes"][3] == SRC_DEFAULT
        res = a.alter_configs([KConfigResource(
            ConfigResourceType.TOPIC, t, configs={"retention.ms": "1000"})])
        assert res.resources[0][0] == 0
        res, = a.describe_configs([KConfigResource(
            ConfigResourceType.TOPIC, t, configs={"retention.ms": None})])
        (err, _, _, _, entries), = res.resources
        assert [(e[0], e[1], e[3]) for e in entries] == [
            ("retention.ms", "1000", SRC_TOPIC)]
        res, = a.describe_configs([KConfigResource(
            ConfigResourceType.BROKER, "1")])
        entries = {e[0]: e for e in res.resources[0][4]}
        assert entries["log.dirs"][1] == broker.data_dir
        assert entries["log.dirs"][2]  # read-only
        res = a.create_partitions({t: KNewPartitions(3)})
        assert res.topic_errors == [(t, 0, None)]
        from kafka.errors import InvalidPartitionsError
        with pytest.raises(InvalidPartitionsError):
            a.create_partitions({t: KNewPartitions(2)})
    finally:
        a.close()
    wait_for_topic(admin(broker.bootstrap), t, 3)


JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")


@pytest.mark.skipif(
    not os.path.isdir(os.path.join(JS_DIR, "node_modules", "kafkajs")),
    reason="kafkajs not installed: run `npm ci` in tests/integration/js")
@pytest.mark.deadline(120)
def test_kafkajs_admin(broker):
    """kafkajs 2.2.4: DescribeConfigs v2, AlterConfigs v1,
    CreatePartitions v1, DeleteRecords v1 (deleteTopicRecords)."""
    import shutil
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not found")
    t = create_topic(broker.bootstrap, unique_topic("kjsa"), 1)
    out = run_client_json([node, os.path.join(JS_DIR, "admin.js"),
                           broker.bootstrap, t], cwd=JS_DIR, timeout=100)
    assert set(out["before"]) == HONOURED
    assert out["before"]["retention.ms"]["source"] == SRC_DEFAULT
    assert "log.retention.hours" in out["before"]["retention.ms"]["synonyms"]
    assert out["after"]["retention.ms"] == {
        "value": "7200000", "source": SRC_TOPIC, "readOnly": False,
        "synonyms": []}
    assert out["after"]["segment.bytes"]["value"] == "1048576"
    assert out["alterError"] == "INVALID_CONFIG"
    assert out["partitions"] == 3
    assert out["partitionsError"] == "INVALID_PARTITIONS"
    assert (out["controller"], out["brokers"]) == (1, 1)
    assert out["deleted"] == {"low": "4", "high": "10"}
    # past the end: refused (kafkajs keeps only the message of the error;
    # the code, OFFSET_OUT_OF_RANGE, is checked in test_delete_records.py)
    assert out["deleteError"] == "Error while deleting records"
