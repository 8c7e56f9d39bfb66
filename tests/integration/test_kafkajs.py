"""kafkajs (pure JavaScript client) against the broker, via js/roundtrip.js.

kafkajs is the third independent protocol implementation in the suite and
the one most Node.js services use. The script creates, lists and deletes
topics with its admin client, produces uncompressed and gzip batches, and
reads them back through kafkajs's own Fetch decoder; this test then reads
the same data with librdkafka. kafkajs comes from npm: run `npm ci` in
tests/integration/js first, otherwise this test is skipped.
"""

import json
import os
import shutil
import subprocess

import pytest

import kafka_wire as kw
from it_util import consume_all, unique_topic

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
    r = subprocess.run([NODE, os.path.join(JS_DIR, "roundtrip.js")] +
                       [str(a) for a in args], cwd=JS_DIR,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout,
                       env=dict(os.environ,
                                KAFKAJS_NO_PARTITIONER_WARNING="1"))
    if r.returncode != 0:
        raise AssertionError("roundtrip.js %s exited %d\n%s"
                             % (args[0], r.returncode,
                                r.stderr.decode(errors="replace")[-4000:]))
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


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
    with kw.Client(broker.addr) as c:
        for p in range(PARTS):
            end = c.list_offsets(topic, p, kw.LATEST)[2]
            assert end == n // PARTS
            batches, off = [], 0
            while off < end:
                r = c.fetch(topic, p, off)
                assert r["error"] == 0, r
                got = kw.batch_headers(r["records"])
                assert got, "no whole batch at %d" % off
                batches += got
                off = got[-1][0] + got[-1][1]
            assert off == end
            seq = {}
            for base, count, pid, epoch, first in batches:
                assert pid >= 0 and epoch == 0, (p, base, pid, epoch)
                assert first == seq.get(pid, 0), \
                    "partition %d offset %d: sequence %d, want %d" % (
                        p, base, first, seq.get(pid, 0))
                seq[pid] = first + count
            # two producer sessions, half of the records each
            assert sorted(seq.values()) == [n // 2 // PARTS] * 2, seq
            pids.update(seq)
    assert len(pids) == 2, pids
