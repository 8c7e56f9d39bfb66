"""confluent-kafka (Python on librdkafka) against the broker: admin API,
a 100,000-message acks=all round trip, and ListOffsets.

librdkafka is the reference client for most of the ecosystem (kcat, the Go,
.NET and Python clients), so its admin calls must return Kafka's own error
codes for each kind of bad request, and its producer/consumer must see
offsets that agree: the offset in each delivery report is exactly where the
consumer later finds that message. Consumption uses assign() with a dummy
group.id because consumer groups are not part of this issue.
"""

import time

import pytest
from confluent_kafka import (OFFSET_END, Consumer, KafkaError, Producer,
                             TopicPartition)
from confluent_kafka.admin import NewTopic

import kafka_wire as kw
from it_util import (admin, base_conf, consume_all, create_topic,
                     produce_all, unique_topic)

BROKER_SETTINGS = {"auto.create.topics.enable": "true"}


def _create(a, topics, **kw_):
    fs = a.create_topics(topics, operation_timeout=15, request_timeout=15,
                         **kw_)
    return {name: f for name, f in fs.items()}


def _error_code(future, timeout=20):
    """The KafkaError code a future failed with, or None on success."""
    try:
        future.result(timeout)
    except Exception as e:  # KafkaException wrapping a KafkaError
        err = e.args[0] if e.args else None
        if hasattr(err, "code"):
            return err.code()
        raise
    return None


def _topic_names(a):
    return set(a.list_topics(timeout=10).topics)


def _wait_topic_gone(a, name, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if name not in _topic_names(a):
            return
        time.sleep(0.1)
    raise AssertionError("deleted topic %s still listed after %d s"
                         % (name, timeout))


# ------------------------------------------------------------------ admin


def test_admin_create_list_delete(broker1):
    a = admin(broker1.bootstrap)
    name = unique_topic("adm")
    fs = _create(a, [NewTopic(name, 3, 1, config={
        "retention.ms": "3600000", "segment.bytes": "1048576"})])
    assert _error_code(fs[name]) is None
    md = a.list_topics(timeout=10)
    assert name in md.topics
    t = md.topics[name]
    assert t.error is None, t.error
    assert sorted(t.partitions) == [0, 1, 2]
    node = list(md.brokers)[0]
    for p in t.partitions.values():
        assert p.leader == node and p.replicas == [node] and \
            p.isrs == [node], p

    fs = a.delete_topics([name], operation_timeout=15, request_timeout=15)
    assert _error_code(fs[name]) is None
    _wait_topic_gone(a, name)


def test_admin_validate_only_creates_nothing(broker1):
    a = admin(broker1.bootstrap)
    name = unique_topic("adm-validate")
    fs = _create(a, [NewTopic(name, 2, 1)], validate_only=True)
    assert _error_code(fs[name]) is None
    assert name not in _topic_names(a)
    # Validation still reports errors.
    fs = _create(a, [NewTopic(name, 2, 3)], validate_only=True)
    assert _error_code(fs[name]) == KafkaError.INVALID_REPLICATION_FACTOR
    assert name not in _topic_names(a)


def test_admin_create_errors(broker1):
    a = admin(broker1.bootstrap)
    existing = create_topic(broker1.bootstrap, unique_topic("adm-exists"), 1)
    cases = {
        existing: (NewTopic(existing, 1, 1),
                   KafkaError.TOPIC_ALREADY_EXISTS),
    }
    n = unique_topic("adm-zero-parts")
    cases[n] = (NewTopic(n, 0, 1), KafkaError.INVALID_PARTITIONS)
    n = unique_topic("adm-rf3")
    cases[n] = (NewTopic(n, 1, 3), KafkaError.INVALID_REPLICATION_FACTOR)
    n = unique_topic("adm-badval")
    cases[n] = (NewTopic(n, 1, 1, config={"retention.ms": "not-a-number"}),
                KafkaError.INVALID_CONFIG)
    n = unique_topic("adm-badkey")
    cases[n] = (NewTopic(n, 1, 1, config={"no.such.topic.config": "1"}),
                KafkaError.INVALID_CONFIG)
    # Topic names become directory names: refuse anything Kafka refuses.
    for n in ("../adm-escape", "adm/slash", "..", "adm space", "y" * 250):
        cases[n] = (NewTopic(n, 1, 1), KafkaError.TOPIC_EXCEPTION)

    # One request per case, then all in a single CreateTopics request: the
    # broker must answer each topic of a batch on its own.
    got = {}
    for name, (nt, _) in cases.items():
        got[name] = _error_code(_create(a, [nt])[name])
    fs = _create(a, [nt for nt, _ in cases.values()])
    got_batched = {name: _error_code(f) for name, f in fs.items()}
    want = {name: code for name, (_, code) in cases.items()}
    assert got == want, "one per request"
    assert got_batched == want, "batched"

    listed = _topic_names(a)
    for name in cases:
        if name != existing:
            assert name not in listed, "failed create left topic %s" % name


def test_admin_delete_errors_and_recreate(broker1):
    a = admin(broker1.bootstrap)
    missing = unique_topic("adm-missing")
    fs = a.delete_topics([missing], operation_timeout=15, request_timeout=15)
    assert _error_code(fs[missing]) == KafkaError.UNKNOWN_TOPIC_OR_PART

    # Deleting a topic deletes its data: re-created, it starts empty.
    name = create_topic(broker1.bootstrap, unique_topic("adm-recreate"), 1)
    produce_all(broker1.bootstrap, name,
                [(b"k", b"v%d" % i, 0) for i in range(10)])
    fs = a.delete_topics([name], operation_timeout=15, request_timeout=15)
    assert _error_code(fs[name]) is None
    _wait_topic_gone(a, name)
    create_topic(broker1.bootstrap, name, 1)
    c = Consumer(base_conf(broker1.bootstrap, **{
        "group.id": "strata-it-unused", "enable.auto.commit": False}))
    try:
        lo, hi = c.get_watermark_offsets(TopicPartition(name, 0), timeout=10,
                                         cached=False)
    finally:
        c.close()
    assert (lo, hi) == (0, 0)


# ------------------------------------------------------------ round trip


@pytest.mark.deadline(180)
def test_100k_acks_all_roundtrip(broker):
    parts = 3
    n = 100000
    topic = create_topic(broker.bootstrap, unique_topic("rt100k"), parts)
    msgs = [(b"key-%06d" % i, b"value-%06d-" % i + b"x" * (i % 200),
             i % parts) for i in range(n)]
    log = produce_all(broker.bootstrap, topic, msgs, timeout=120,
                      acks="all", **{"linger.ms": 10,
                                     "compression.type": "none"})
    assert len(log.ok) == n
    delivered = {(p, off): (k, v) for p, off, k, v in log.ok}
    assert len(delivered) == n, "two deliveries reported the same offset"

    got = consume_all(broker.bootstrap, topic, parts, expected=n,
                      timeout=120)
    total = sum(len(v) for v in got.values())
    assert total == n, "read %d of %d messages" % (total, n)
    for p in range(parts):
        ms = got[p]
        offsets = [m.offset() for m in ms]
        assert offsets == list(range(len(ms))), \
            "partition %d offsets not dense from 0" % p
        values = [m.value() for m in ms]
        want = [v for k, v, pp in msgs if pp == p]
        assert values == want, "partition %d content/order differs" % p
        for m in ms:
            assert delivered[(p, m.offset())] == (m.key(), m.value()), \
                "delivery report offset disagrees with fetched data"


@pytest.mark.deadline(120)
def test_large_messages(broker1):
    """Messages up to just under the default message.max.bytes (1 MiB +
    12) survive the round trip, compressed and not."""
    topic = create_topic(broker1.bootstrap, unique_topic("large"), 1)
    sizes = [1, 1000, 100000, 512 * 1024, 1000000]
    msgs = [(b"k%d" % n, bytes((i * 7 + n) & 0xFF for i in range(n)), 0)
            for n in sizes]
    produce_all(broker1.bootstrap, topic, msgs, acks="all",
                **{"message.max.bytes": 1048576, "linger.ms": 0})
    produce_all(broker1.bootstrap, topic, msgs, acks="all",
                **{"message.max.bytes": 1048576, "linger.ms": 0,
                   "compression.type": "lz4"})
    got = consume_all(broker1.bootstrap, topic, 1, expected=2 * len(msgs))
    assert [(m.key(), m.value()) for m in got[0]] == \
        [(k, v) for k, v, _ in msgs] * 2


# ------------------------------------------------------------ ListOffsets


def test_list_offsets(broker):
    topic = create_topic(broker.bootstrap, unique_topic("lo"), 2)
    t0 = int(time.time() * 1000) - 3600 * 1000
    n = 100
    p = Producer(base_conf(broker.bootstrap, acks="all"))
    errors = []
    for i in range(n):
        p.produce(topic, value=b"m%d" % i, partition=0,
                  timestamp=t0 + i * 1000,
                  on_delivery=lambda e, m: errors.append(e) if e else None)
    assert p.flush(30) == 0 and not errors, errors

    c = Consumer(base_conf(broker.bootstrap, **{
        "group.id": "strata-it-unused", "enable.auto.commit": False}))
    try:
        wm = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10,
                                     cached=False)
        assert wm == (0, n)
        wm = c.get_watermark_offsets(TopicPartition(topic, 1), timeout=10,
                                     cached=False)
        assert wm == (0, 0)

        def at(ts):
            r = c.offsets_for_times([TopicPartition(topic, 0, ts)],
                                    timeout=10)
            assert r[0].error is None, r[0].error
            return r[0].offset
        cases = {"before-first": (t0 - 5000, 0), "first": (t0, 0),
                 "middle": (t0 + 50 * 1000, 50),
                 "between": (t0 + 50 * 1000 - 500, 50),  # first ts >= it
                 "last": (t0 + (n - 1) * 1000, n - 1),
                 "after-last": (t0 + n * 1000, OFFSET_END)}
        got = {k: at(ts) for k, (ts, _) in cases.items()}
        assert got == {k: off for k, (_, off) in cases.items()}
    finally:
        c.close()

    # The same through the raw protocol, every version the codec speaks
    # that the broker advertises.
    with kw.Client(broker.addr) as cl:
        assert cl.list_offsets(topic, 0, kw.EARLIEST)[::2] == (0, 0)
        assert cl.list_offsets(topic, 0, kw.LATEST)[::2] == (0, n)
        # By time: the first record with timestamp >= target, and its
        # own timestamp (not the batch's).
        got = {i: cl.list_offsets(topic, 0, t0 + i * 1000 - 1)
               for i in (0, 10, 99)}
        assert got == {i: (0, t0 + i * 1000, i) for i in (0, 10, 99)}
        err, ts, off = cl.list_offsets(topic, 7, kw.LATEST)
        assert err == kw.UNKNOWN_TOPIC_OR_PARTITION
