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
