"""Connections that follow their partitions (connections.follow.partitions).

A broker with two shards: a connection accepted by one shard whose produce
or fetch requests keep naming partitions of the other moves there. The
tests drive real clients (librdkafka through confluent-kafka, and kcat)
at one partition of each shard in turn, so that every connection has to
move at least once, and check that nothing is lost, duplicated or
reordered on the way, and that the move is counted in
strata_connections_moved_total. With the key off, nothing moves and the
same traffic is served across the shards."""
import os
import shutil
import subprocess
import time

import pytest
from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, Producer,
                             TopicPartition)

from it_util import base_conf, consume_all, create_topic, unique_topic
from test_metrics import MetricsBroker, parse_metrics, scrape, value
from strata_harness import BrokerError


@pytest.fixture
def mbroker_factory():
    if os.environ.get("STRATA_BOOTSTRAP"):
        pytest.skip("needs its own broker (STRATA_BOOTSTRAP is set)")
    started = []

    def start(settings):
        b = MetricsBroker(dict(settings, **{"num.shards": 2}))
        try:
            b.start()
        except BrokerError as e:
            b.cleanup()
            pytest.fail(str(e), pytrace=False)
        started.append(b)
        return b
    yield start
    for b in started:
        b.close()


def metric(b, name):
    return value(parse_metrics(scrape(b)), name)


def produce_in_turn(bootstrap, topic, per_partition=300, rounds=10):
    """One producer (one connection to the broker): partition 0 only, in
    `rounds` flushed requests, then after the move cooldown (1 s)
    partition 1 only. Returns {partition: [values in delivery order]}."""
    p = Producer(base_conf(bootstrap, **{"acks": "all", "linger.ms": 0}))
    sent = {0: [], 1: []}
    errors = []

    def report(err, msg):
        if err is not None:
            errors.append(err)

    for part in (0, 1):
        for r in range(rounds):
            for i in range(per_partition // rounds):
                v = b"p%d-r%d-%d" % (part, r, i)
                p.produce(topic, value=v, partition=part, on_delivery=report)
                sent[part].append(v)
            assert p.flush(30) == 0
        time.sleep(1.2)
    assert not errors, errors[:3]
    return sent


def check_read_back(bootstrap, topic, sent):
    got = consume_all(bootstrap, topic, 2,
                      expected=sum(len(v) for v in sent.values()))
    for part in (0, 1):
        vals = [m.value() for m in got[part]]
        assert vals == sent[part], "partition %d differs" % part
        offs = [m.offset() for m in got[part]]
        assert offs == list(range(len(offs)))


def test_producer_connection_moves_and_loses_nothing(mbroker_factory):
    b = mbroker_factory({})
    topic = unique_topic("follow")
    create_topic(b.bootstrap, topic, partitions=2)
    before = metric(b, "strata_connections_moved_total")
    sent = produce_in_turn(b.bootstrap, topic)
    # Partitions 0 and 1 live on different shards, so whichever shard
    # took the connection, one of the two phases moved it.
    assert metric(b, "strata_connections_moved_total") >= before + 1
    check_read_back(b.bootstrap, topic, sent)
    assert metric(b, "strata_connections_active") is not None


def test_consumer_connection_moves_and_reads_in_order(mbroker_factory):
    b = mbroker_factory({})
    topic = unique_topic("follow")
    create_topic(b.bootstrap, topic, partitions=2)
    sent = produce_in_turn(b.bootstrap, topic, per_partition=2000, rounds=4)
    before = metric(b, "strata_connections_moved_total")
    # One consumer: partition 0 alone, read in small fetches, then
    # partition 1 alone after the cooldown.
    c = Consumer(base_conf(b.bootstrap, **{
        "group.id": "unused", "enable.auto.commit": False,
        "enable.partition.eof": True, "message.max.bytes": 4096,
        "fetch.max.bytes": 4096,
        "max.partition.fetch.bytes": 4096, "fetch.wait.max.ms": 50}))
    try:
        for part in (0, 1):
            c.assign([TopicPartition(topic, part, OFFSET_BEGINNING)])
            vals = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is None:
                    continue
                if m.error():
                    assert m.error().code() == KafkaError._PARTITION_EOF, \
                        m.error()
                    if len(vals) >= len(sent[part]):
                        break
                    continue
                vals.append(m.value())
            assert vals == sent[part], "partition %d differs" % part
            time.sleep(1.2)
    finally:
        c.close()
    assert metric(b, "strata_connections_moved_total") >= before + 1


@pytest.mark.skipif(not shutil.which("kcat"), reason="kcat not installed")
def test_kcat_to_each_shard(mbroker_factory):
    b = mbroker_factory({})
    topic = unique_topic("follow")
    create_topic(b.bootstrap, topic, partitions=2)
    for part in (0, 1):
        lines = "".join("k%d-%d\n" % (part, i) for i in range(5000))
        subprocess.run(["kcat", "-P", "-b", b.bootstrap, "-t", topic,
                        "-p", str(part), "-X", "linger.ms=0",
                        "-X", "batch.num.messages=100"],
                       input=lines.encode(), check=True, timeout=60)
    for part in (0, 1):
        out = subprocess.run(["kcat", "-C", "-b", b.bootstrap, "-t", topic,
                              "-p", str(part), "-o", "beginning", "-e",
                              "-X", "message.max.bytes=4096",
                              "-X", "fetch.max.bytes=4096",
                              "-X", "max.partition.fetch.bytes=4096"],
                             capture_output=True, check=True, timeout=60)
        assert out.stdout.decode().splitlines() == \
            ["k%d-%d" % (part, i) for i in range(5000)]


def test_follow_off_moves_nothing(mbroker_factory):
    b = mbroker_factory({"connections.follow.partitions": "false"})
    topic = unique_topic("follow")
    create_topic(b.bootstrap, topic, partitions=2)
    sent = produce_in_turn(b.bootstrap, topic, per_partition=100, rounds=4)
    check_read_back(b.bootstrap, topic, sent)
    assert metric(b, "strata_connections_moved_total") == 0
