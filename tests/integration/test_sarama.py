"""sarama (Go) against the broker, via go/sarama_client.go.

sarama is the fourth independent implementation of the protocol in the
suite, and the one Go services have used longest. It comes from Debian
(golang-github-shopify-sarama-dev, 1.22.1) and is built here once per run
in GOPATH mode with Debian's Go. sarama picks request versions from its
configured Kafka version rather than from ApiVersions; the program sets
2.1.0 (Produce v3, Fetch v4, Metadata v5, JoinGroup v1, OffsetFetch v1, ...).

Without Go or sarama installed (deploy/setup.sh test installs both) the
tests report themselves skipped.
"""

import os
import shutil
import subprocess

import pytest

from confluent_kafka import Consumer, TopicPartition

from it_util import (base_conf, consume_all, create_topic, produce_all,
                     producer_sequences, run_client_json, stored_codecs,
                     unique_topic)

GO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "go")
GO = shutil.which("go")
GOPATH = "/usr/share/gocode"
SARAMA = os.path.join(GOPATH, "src", "github.com", "Shopify", "sarama")
PARTS = 3
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}

pytestmark = [
    pytest.mark.skipif(GO is None, reason="sarama test: go not found "
                       "(apt-get install golang-go)"),
    pytest.mark.skipif(not os.path.isdir(SARAMA), reason="sarama not "
                       "installed (apt-get install "
                       "golang-github-shopify-sarama-dev)"),
]


@pytest.fixture(scope="module")
def sarama_client(tmp_path_factory):
    exe = str(tmp_path_factory.mktemp("sarama") / "sarama_client")
    r = subprocess.run(["sh", os.path.join(GO_DIR, "build.sh"), exe],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=300)
    assert r.returncode == 0, r.stdout.decode(errors="replace")[-4000:]
    return exe


def run(exe, *args, timeout=150, version=None):
    env = dict(os.environ)
    if version:
        env["SARAMA_KAFKA_VERSION"] = version
    return run_client_json([exe] + list(args), timeout=timeout, env=env)


def go_key(i):
    return "go-k%05d" % i


def go_value(i):
    return "go-v%d-%s" % (i, "0" * (i % 50))


@pytest.mark.deadline(280)
@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_sarama_produce_and_consume(broker, sarama_client, codec):
    """sarama's sync producer (acks=all, batches of up to 100 records in
    the given codec, a header on each record), stored in that codec; its
    partition consumer and librdkafka read the same records back."""
    n = 400
    topic = create_topic(broker.bootstrap, unique_topic("go" + codec),
                         PARTS)
    out = run(sarama_client, "produce", broker.bootstrap, topic, n, codec)
    assert out["produced"] == n
    # Offsets as the broker acknowledged them: each partition's run from 0.
    counts = {}
    for p, offs in out["offsets"].items():
        assert sorted(offs) == list(range(len(offs))), p
        counts[int(p)] = len(offs)
    assert sum(counts.values()) == n
    # Stored as sent: every batch on disk in the codec asked for.
    for p in counts:
        codecs = stored_codecs(broker.data_dir, topic, p)
        assert codecs and set(codecs) == {CODEC_IDS[codec]}, (p, codecs)

    got = run(sarama_client, "consume", broker.bootstrap, topic, n)
    assert {int(p): o for p, o in got["high"].items()} == \
        {p: counts.get(p, 0) for p in range(PARTS)}
    recs = got["records"]
    assert len(recs) == n
    seen = set()
    for r in recs:
        i = int(r["k"][4:])
        assert r["v"] == go_value(i) and r["h"] == "i=%d" % i, r
        seen.add(i)
    assert seen == set(range(n))
    for p in range(PARTS):
        assert [r["o"] for r in recs if r["p"] == p] == \
            list(range(counts.get(p, 0)))

    # The same records through librdkafka's decoder.
    by_rd = consume_all(broker.bootstrap, topic, PARTS, expected=n)
    rd = {(m.partition(), m.offset()): (m.key().decode(), m.value().decode(),
                                       m.headers())
          for ms in by_rd.values() for m in ms}
    assert rd == {(r["p"], r["o"]): (r["k"], r["v"],
                                     [("i", r["h"][2:].encode())])
                  for r in recs}


@pytest.mark.deadline(200)
@pytest.mark.parametrize("version,codec", [("0.11.0.0", "lz4"),
                                           ("2.2.0", "zstd")])
def test_sarama_kafka_versions(broker, sarama_client, version, codec):
    """sarama told the broker is Kafka 0.11 (the lowest for which it sends
    only versions Strata serves: below it, Fetch v3 or older; at it,
    Produce v3, Fetch v4, Metadata v1) and 2.2 (the highest sarama 1.22
    knows): produce, consume and a group of two, each record once."""
    n = 300
    topic = create_topic(broker.bootstrap, unique_topic("gov"), PARTS)
    out = run(sarama_client, "produce", broker.bootstrap, topic, n, codec,
              version=version)
    assert out["produced"] == n
    got = run(sarama_client, "consume", broker.bootstrap, topic, n,
              version=version)
    assert sorted(r["k"] for r in got["records"]) == \
        [go_key(i) for i in range(n)]
    out = run(sarama_client, "group", broker.bootstrap, topic,
              unique_topic("govg"), n, version=version)
    assert out["seen"] == n and out["partitions"] == PARTS, out
    assert sum(out["committed"].values()) == n, out


@pytest.mark.deadline(200)
def test_sarama_idempotent_producer(broker, sarama_client):
    """sarama's idempotent producer: InitProducerId from each of two runs,
    and each batch stored with that run's producer id (epoch 0) and a
    sequence that starts at 0 per partition and counts every record
    before it."""
    n = 300
    topic = create_topic(broker.bootstrap, unique_topic("goidem"), PARTS)
    for _ in range(2):
        out = run(sarama_client, "produce", broker.bootstrap, topic, n,
                  "lz4", "idempotent")
        assert out["produced"] == n
    pids = set()
    for p in range(PARTS):
        end, seq = producer_sequences(broker.addr, topic, p)
        # both runs hash the same keys to the same partitions
        assert len(seq) == 2 and len(set(seq.values())) == 1, seq
        assert sum(seq.values()) == end
        pids.update(seq)
    assert len(pids) == 2, pids


@pytest.mark.deadline(200)
def test_sarama_consumer_group(broker, sarama_client):
    """Two sarama group members share a topic written by librdkafka: the
    group splits the partitions, together they see every record, their
    marked offsets are committed, and the group is listed and described
    (empty, once both have left)."""
    n = 300
    topic = create_topic(broker.bootstrap, unique_topic("gogrp"), PARTS)
    produce_all(broker.bootstrap, topic,
                [(go_key(i).encode(), go_value(i).encode(), i % PARTS)
                 for i in range(n)])
    gid = unique_topic("gogroup")
    out = run(sarama_client, "group", broker.bootstrap, topic, gid, n)
    assert out["seen"] == n and out["partitions"] == PARTS, out
    assert out["listed"] == "consumer" and out["state"] == "Empty", out
    assert out["members"] == 0, out
    assert {int(p): o for p, o in out["committed"].items()} == \
        {p: n // PARTS for p in range(PARTS)}, out

    # librdkafka sees the same committed offsets.
    c = Consumer(base_conf(broker.bootstrap, **{"group.id": gid}))
    try:
        committed = c.committed([TopicPartition(topic, p)
                                 for p in range(PARTS)], timeout=10)
    finally:
        c.close()
    assert [tp.offset for tp in committed] == [n // PARTS] * PARTS


@pytest.mark.deadline(200)
def test_sarama_cluster_admin(broker, sarama_client):
    """sarama's ClusterAdmin: CreateTopics with a config, the same again
    (TOPIC_ALREADY_EXISTS), ListTopics, DescribeConfigs, AlterConfigs,
    CreatePartitions, Metadata, DeleteRecords and DeleteTopics twice."""
    topic = unique_topic("goadm")
    out = run(sarama_client, "admin", broker.bootstrap, topic)
    assert out["listed"] is True and out["listedPartitions"] == 3, out
    assert "already exists" in out["createAgain"], out
    assert out["retention"] == "3600000", out
    assert out["retentionAltered"] == "7200000", out
    assert out["partitionsAfter"] == 4, out
    assert out["brokers"] == 1, out
    assert out["startAfterDelete"] == 3, out
    assert "does not exist" in out["secondDelete"], out
    assert out["listedAfterDelete"] is False, out
