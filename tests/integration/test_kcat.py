"""kcat (librdkafka 2.x command-line client) against the broker.

kcat is the quickest way an operator checks a broker, so its two most used
modes must work unchanged: metadata listing (-L, -L -J) and producing then
consuming a keyed file with every compression codec librdkafka offers. The
round trip is byte-for-byte: keys and values are distinct per line and
include tabs and multi-byte UTF-8, so any re-encoding, truncation,
reordering, loss or duplication shows up as a diff.
"""

import json
import shutil
import subprocess

import pytest

from it_util import unique_topic

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
pytestmark = pytest.mark.skipif(KCAT is None, reason="kcat not installed")

NUM_PARTITIONS = 3
BROKER_SETTINGS = {
    "auto.create.topics.enable": "true",
    "num.partitions": NUM_PARTITIONS,
}
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
LINES = 10000


def kcat(args, input=None, timeout=60):
    cmd = [KCAT, "-X", "broker.address.family=v4"] + args
    r = subprocess.run(cmd, input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("kcat %s exited %d\n--- stderr ---\n%s"
                             % (" ".join(args), r.returncode,
                                r.stderr.decode(errors="replace")[-4000:]))
    return r.stdout


def keyed_lines(n, tag):
    """n lines `key\\tvalue` with distinct keys and values; values carry
    tabs, UTF-8 and varying lengths; keys never contain a tab."""
    uni = ["ü", "日本語", "😀", "Ωμέγα", "\u00a0nbsp", "naïve"]
    out = []
    for i in range(n):
        key = "k%05d-%s" % (i, uni[i % len(uni)])
        value = "v%s-%d\tcol2 %s\tcol3%s" % (tag, i, uni[(i * 7) % len(uni)],
                                             "x" * (i % 97))
        out.append("%s\t%s\n" % (key, value))
    return "".join(out).encode("utf-8")


def test_metadata_lists_broker_and_auto_created_topic(broker1):
    topic = unique_topic("kcat-auto")
    # Producing to an unknown topic makes librdkafka request metadata with
    # auto-creation allowed.
    kcat(["-b", broker1.bootstrap, "-P", "-t", topic], input=b"hello\n")
    out = kcat(["-b", broker1.bootstrap, "-L"]).decode()
    assert " at 127.0.0.1:%d" % broker1.port in out, out
    assert "localhost" not in out, out
    assert 'topic "%s" with %d partitions' % (topic, NUM_PARTITIONS) in out, \
        out

    md = json.loads(kcat(["-b", broker1.bootstrap, "-L", "-J"]))
    brokers = md["brokers"]
    assert len(brokers) == 1, md
    assert brokers[0]["name"] == "127.0.0.1:%d" % broker1.port, md
    node = brokers[0]["id"]
    topics = {t["topic"]: t for t in md["topics"]}
    assert topic in topics, md
    t = topics[topic]
    assert "error" not in t, t
    parts = sorted(t["partitions"], key=lambda p: p["partition"])
    assert [p["partition"] for p in parts] == list(range(NUM_PARTITIONS))
    for p in parts:
        assert p["leader"] == node, p
        assert [r["id"] for r in p["replicas"]] == [node], p
        assert [r["id"] for r in p["isrs"]] == [node], p

    # Metadata for one named topic (kcat -L -t) and the message we sent.
    one = json.loads(kcat(["-b", broker1.bootstrap, "-L", "-J", "-t",
                           topic]))
    assert [x["topic"] for x in one["topics"]] == [topic], one
    got = b"".join(
        kcat(["-b", broker1.bootstrap, "-C", "-t", topic, "-p", str(p),
              "-o", "beginning", "-e", "-q", "-f", "%s\\n"])
        for p in range(NUM_PARTITIONS))
    assert got == b"hello\n"


@pytest.mark.deadline(240)
def test_keyed_roundtrip_all_codecs(broker):
    for codec in CODECS:
        topic = unique_topic("kcat-" + codec)
        data = keyed_lines(LINES, codec)
        kcat(["-b", broker.bootstrap, "-P", "-t", topic, "-p", "0",
              "-K", "\t", "-z", codec, "-X", "linger.ms=20"], input=data,
             timeout=90)
        out = kcat(["-b", broker.bootstrap, "-C", "-t", topic, "-p", "0",
                    "-o", "beginning", "-e", "-q", "-f", "%k\\t%s\\n"],
                   timeout=90)
        if out != data:
            got = out.splitlines(True)
            want = data.splitlines(True)
            first = next((i for i, (a, b) in enumerate(zip(got, want))
                          if a != b), min(len(got), len(want)))
            pytest.fail("codec %s: consumed %d lines, produced %d; first "
                        "difference at line %d: got %r want %r"
                        % (codec, len(got), len(want), first,
                           got[first] if first < len(got) else None,
                           want[first] if first < len(want) else None))

        # Offsets are dense and start at 0: the last line has offset N-1.
        last = kcat(["-b", broker.bootstrap, "-C", "-t", topic, "-p", "0",
                     "-o", "-1", "-e", "-q", "-f", "%o %k\\n"])
        assert last.split(b" ")[0] == str(LINES - 1).encode(), last
