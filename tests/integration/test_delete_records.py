"""DeleteRecords (v0-2): moving a partition's log start offset on request.

What a user sees: the records before the offset are gone for every reader
(Fetch below it gets OFFSET_OUT_OF_RANGE, ListOffsets earliest moves), the
sealed segments wholly below it are removed from disk, the answer carries
the new low watermark, and all of it survives a kill -9 right after the
answer. Errors as Kafka's: an offset past the high watermark or negative
(other than -1, meaning the high watermark) gets OFFSET_OUT_OF_RANGE, an
unknown partition UNKNOWN_TOPIC_OR_PARTITION, the internal
__consumer_offsets INVALID_TOPIC_EXCEPTION.
"""

import os

import pytest

import kafka_wire as kw
from it_util import create_topic, unique_topic

SEGMENT = 16384


def delete_records(b, parts, version):
    with kw.Conn(b.addr) as c:
        return kw.parse_delete_records(
            c.request(kw.DELETE_RECORDS, version,
                      kw.req_delete_records(version, parts)), version)


def produce_batches(b, topic, part, batches, per_batch=10, size=200):
    with kw.Client(b.addr) as c:
        for i in range(batches):
            recs = [(b"k%d" % (i * per_batch + j), b"v" * size)
                    for j in range(per_batch)]
            err, _ = c.produce(topic, part, kw.encode_record_batch(recs),
                               acks=-1)
            assert err == 0


def segments(b, topic, part):
    d = os.path.join(b.data_dir, "%s-%d" % (topic, part))
    return sorted(f for f in os.listdir(d) if f.endswith(".log"))


@pytest.mark.parametrize("version", [0, 1, 2])
def test_delete_records(start_broker, version):
    b = start_broker({"num.shards": 2, "log.segment.bytes": SEGMENT})
    topic = create_topic(b.bootstrap, unique_topic("delrec"), 2)
    produce_batches(b, topic, 0, 40)  # 400 records, ~2 KiB batches
    produce_batches(b, topic, 1, 2)
    segs_before = segments(b, topic, 0)
    assert len(segs_before) > 4

    res = delete_records(b, [(topic, 0, 235), (topic, 1, -1),
                             (topic, 7, 0), ("no-such-topic", 0, 0)],
                         version)
    assert res[(topic, 0)] == (kw.NONE, 235)
    assert res[(topic, 1)] == (kw.NONE, 20)  # -1: the high watermark
    assert res[(topic, 7)][0] == kw.UNKNOWN_TOPIC_OR_PARTITION
    assert res[("no-such-topic", 0)][0] == kw.UNKNOWN_TOPIC_OR_PARTITION

    # Past the high watermark, or negative: refused, nothing moves.
    res = delete_records(b, [(topic, 0, 401), (topic, 1, -5)], version)
    assert res[(topic, 0)][0] == kw.OFFSET_OUT_OF_RANGE
    assert res[(topic, 1)][0] == kw.OFFSET_OUT_OF_RANGE
    # Lower than the start: nothing changes, the answer is the start.
    assert delete_records(b, [(topic, 0, 100)], version)[(topic, 0)] == \
        (kw.NONE, 235)
    res = delete_records(b, [("__consumer_offsets", 0, 0)], version)
    assert res[("__consumer_offsets", 0)][0] == kw.INVALID_TOPIC_EXCEPTION

    def check():
        with kw.Client(b.addr) as c:
            assert c.list_offsets(topic, 0, kw.EARLIEST)[2] == 235
            assert c.list_offsets(topic, 0, kw.LATEST)[2] == 400
            assert c.list_offsets(topic, 1, kw.EARLIEST)[2] == 20
            f = c.fetch(topic, 0, 0)
            assert f["error"] == kw.OFFSET_OUT_OF_RANGE
            f = c.fetch(topic, 0, 235)
            assert f["error"] == 0 and f["log_start"] == 235
            recs = kw.decode_record_batches(f["records"])
            # the batch holding 235 starts at 230; clients skip to 235
            assert recs[0].offset == 230
        segs = segments(b, topic, 0)
        assert len(segs) < len(segs_before)
        # no segment left lies wholly below the start offset
        bases = [int(s[:-4]) for s in segs]
        assert len(bases) == 1 or bases[1] > 235

    check()
    # The answer came after the new start was durable: a crash right
    # after it must not bring the records back.
    b.kill9()
    b.restart()
    check()
