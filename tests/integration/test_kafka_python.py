"""kafka-python 2.0.2 (pure-Python client, its own protocol code) against
the broker.

kafka-python does not use librdkafka, so it exercises a second, independent
encoder and decoder of the same requests. It also guesses the broker's
version from the ApiVersions answer when api_version is not given, and then
picks request versions from that guess; both the pinned (2.5.0) and the
probed modes are tested, since unmodified applications use either.
Consumption uses assign() with group_id=None: no group coordinator.
"""

import time

import pytest

kafka = pytest.importorskip("kafka")
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402

from it_util import consume_all, create_topic, unique_topic  # noqa: E402

BROKER_SETTINGS = {"auto.create.topics.enable": "true"}
PARTS = 2
N = 5000


def _conf(bootstrap, api_version):
    c = {"bootstrap_servers": bootstrap, "request_timeout_ms": 15000,
         "api_version_auto_timeout_ms": 10000}
    if api_version is not None:
        c["api_version"] = api_version
    return c


def _produce(bootstrap, topic, api_version, compression=None):
    p = KafkaProducer(acks="all", linger_ms=5, compression_type=compression,
                      **_conf(bootstrap, api_version))
    try:
        futs = []
        for i in range(N):
            futs.append(p.send(topic, key=b"k%05d" % i,
                               value=("v%05d-ü-%s" % (i, "x" * (i % 50)))
                               .encode(), partition=i % PARTS))
        p.flush(timeout=60)
        metas = [f.get(timeout=10) for f in futs]
    finally:
        p.close(timeout=10)
    return metas


def _consume(bootstrap, topic, api_version, expected):
    c = KafkaConsumer(group_id=None, enable_auto_commit=False,
                      consumer_timeout_ms=1000, fetch_max_wait_ms=100,
                      **_conf(bootstrap, api_version))
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTS)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        got = {p: [] for p in range(PARTS)}
        count = 0
        deadline = time.monotonic() + 60
        while count < expected and time.monotonic() < deadline:
            batch = c.poll(timeout_ms=500, max_records=2000)
            for tp, recs in batch.items():
                got[tp.partition].extend(recs)
                count += len(recs)
        assert count == expected, "consumed %d of %d" % (count, expected)
        return got
    finally:
        c.close()


@pytest.mark.deadline(120)
@pytest.mark.parametrize("api_version,compression", [
    ((2, 5, 0), None), ((2, 5, 0), "gzip"), (None, None)],
    ids=["pinned-2.5", "pinned-2.5-gzip", "probed"])
def test_produce_consume(broker, api_version, compression):
    topic = create_topic(broker.bootstrap, unique_topic("kpy"), PARTS)
    metas = _produce(broker.bootstrap, topic, api_version, compression)
    for p in range(PARTS):
        offs = [m.offset for m in metas if m.partition == p]
        assert offs == list(range(len(offs))), "partition %d offsets" % p

    got = _consume(broker.bootstrap, topic, api_version, N)
    for p in range(PARTS):
        want = [(b"k%05d" % i, ("v%05d-ü-%s" % (i, "x" * (i % 50))).encode())
                for i in range(p, N, PARTS)]
        recs = got[p]
        assert [(r.key, r.value) for r in recs] == want, "partition %d" % p
        assert [r.offset for r in recs] == list(range(len(want)))

    # The same data through librdkafka: the two clients agree.
    other = consume_all(broker.bootstrap, topic, PARTS, expected=N)
    for p in range(PARTS):
        assert [m.value() for m in other[p]] == [r.value for r in got[p]]


def test_probed_version_is_modern(broker1):
    """With api_version unset kafka-python infers the broker version from
    ApiVersions; anything older than 0.11 would make it fall back to the
    pre-RecordBatch message formats, which Strata does not store."""
    c = KafkaConsumer(group_id=None, **_conf(broker1.bootstrap, None))
    try:
        v = c.config["api_version"]
    finally:
        c.close()
    assert v >= (0, 11, 0), "kafka-python inferred broker version %s" % (v,)
