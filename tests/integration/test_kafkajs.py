"""kafkajs (pure JavaScript client) against the broker, via js/roundtrip.js.

kafkajs is the third independent protocol implementation in the suite and
the one most Node.js services use. The script creates, lists and deletes
topics with its admin client, produces uncompressed and gzip batches, and
reads them back through kafkajs's own Fetch decoder; this test then reads
the same data with librdkafka. kafkajs comes from npm: run `npm ci` in
tests/integration/js first, otherwise this test is skipped.
"""

import os
import shutil

import pytest

from it_util import (consume_all, producer_sequences, run_client_json,
                     unique_topic)

JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")
NODE = shutil.which("node")
N = 2000
PARTS = 2

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="kafkajs test: node not found"),
    pytest.mark.skipif(
        not os.path.isdir(os.path.join(JS_DIR, "node_modules", "kafkajs")),
        reason="kafkajs not installed: run `npm ci` in tests/integration/js"),
]


def node(*args, timeout=120):
    return run_client_json(
        [NODE, os.path.join(JS_DIR, "roundtrip.js")] + list(args), cwd=JS_DIR,
        timeout=timeout,
        env=dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1"))


def js_message(i):
    return (("js-k%05d" % i).encode(),
            ("js-v%d-é-%s" % (i, "y" * (i % 40))).encode())


@pytest.mark.deadline(200)
def test_kafkajs_admin_produce_fetch(broker):
    topic = unique_topic("kjs")
    out = node("produce", broker.bootstrap, topic, N)
    assert out["topic"] == topic and out["produced"] == N

    got = consume_all(broker.bootstrap, topic, PARTS, expected=N)
    for p in range(PARTS):
        want = [js_message(i) for i in range(p, N, PARTS)]
        assert [(m.key(), m.value()) for m in got[p]] == want, \
            "partition %d differs" % p

    out = node("delete", broker.bootstrap, topic)
    assert out["deleted"] == topic
    assert out["secondDeleteError"] == "UNKNOWN_TOPIC_OR_PARTITION", out


@pytest.mark.deadline(200)
def test_kafkajs_idempotent_producer(broker):
    """kafkajs's idempotent producer: InitProducerId from two sessions,
    each batch stored with that session's producer id and a sequence that
    starts at 0 per partition and counts every record before it."""
    topic = unique_topic("kjsidem")
    n = 600
    out = node("idempotent", broker.bootstrap, topic, n)
    assert out == {"topic": topic, "produced": n}

    pids = set()
    for p in range(PARTS):
        end, seq = producer_sequences(broker.addr, topic, p)
        assert end == n // PARTS
        # two producer sessions, half of the records each
        assert sorted(seq.values()) == [n // 2 // PARTS] * 2, seq
        pids.update(seq)
    assert len(pids) == 2, pids
