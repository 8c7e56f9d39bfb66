"""The hot tier (log.hot.reads): Fetch of a partition's active segment near
its end is served from a read mapping of the segment and sent with writev;
everything else (sealed and cold segments, catch-up reads, the direct
write mode, log.hot.reads=false) as file ranges with sendfile.

- A confluent-kafka consumer tails two partitions while a producer writes
  into small segments that roll under it: it reads every message exactly
  once, the raw batches served from offset 0 are byte-identical to the
  segment files, and strata_fetch_bytes_total{source="hot"} shows where
  the bytes came from, in every write mode.
- Retention deleting segments under consumers that tail them: every batch
  served has a good CRC and the broker lives on (the mapping outlives the
  file while a response is in flight).
"""

import threading
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

import kafka_wire as kw
from it_util import base_conf, create_topic, produce_all, unique_topic
from test_metrics import MetricsBroker, parse_metrics, scrape, value
from test_tiers import fetch_all_raw, seg_files

KIB = 1 << 10


def fetch_sources(b):
    m = parse_metrics(scrape(b))
    return (value(m, "strata_fetch_bytes_total", source="hot"),
            value(m, "strata_fetch_bytes_total", source="file"))


def tail(bootstrap, topic, parts, want, out, errors):
    """Reads from the beginning until `want` messages arrived."""
    c = Consumer(base_conf(bootstrap, **{
        "group.id": "strata-it-unused", "enable.auto.commit": False,
        "fetch.wait.max.ms": 50, "auto.offset.reset": "error"}))
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                  for p in range(parts)])
        deadline = time.monotonic() + 90
        while len(out) < want and time.monotonic() < deadline:
            for m in c.consume(num_messages=500, timeout=0.2):
                if m.error() is not None:
                    errors.append(str(m.error()))
                    return
                out.append((m.partition(), m.offset(), m.key(), m.value()))
    finally:
        c.close()


@pytest.mark.parametrize("settings", [
    {"log.io.mode": "writeback"},
    {"log.io.mode": "pwrite"},
    {"log.io.mode": "mmap"},
    {"log.io.mode": "direct"},
    {"log.io.mode": "uring"},
    {"log.io.mode": "uring-direct"},
    {"log.hot.reads": "false"},
], ids=["writeback", "pwrite", "mmap", "direct", "uring", "uring-direct",
        "off"])
def test_tail_reads(settings):
    hot_expected = (settings.get("log.hot.reads") != "false"
                    and settings.get("log.io.mode") not in ("direct",
                                                            "uring-direct"))
    s = {"num.shards": 2, "log.segment.bytes": 256 * KIB}
    s.update(settings)
    n, parts = 20000, 2
    with MetricsBroker(s) as b:
        topic = unique_topic("hot")
        create_topic(b.bootstrap, topic, parts)
        got, errors = [], []
        t = threading.Thread(target=tail, args=(b.bootstrap, topic, parts, n,
                                                got, errors))
        t.start()
        msgs = [(b"k%d" % i, b"v%d-" % i + bytes(200), i % parts)
                for i in range(n)]
        # small batches, so the consumer keeps catching up with the tail
        produce_all(b.bootstrap, topic, msgs, acks="1", **{"linger.ms": 1,
                                                           "batch.size": 4096})
        t.join(120)
        assert not t.is_alive()
        assert not errors, errors
        assert len(got) == n
        seen = {k: (p, v) for p, _, k, v in got}
        assert len(seen) == n, "a message was read twice"
        for k, v, p in msgs:
            assert seen[k] == (p, v)
        for p in range(parts):
            offs = [o for q, o, _, _ in got if q == p]
            assert offs == list(range(len(offs)))
        hot, file = fetch_sources(b)
        print("tail consumer: hot %d bytes, file %d bytes" % (hot, file))
        if hot_expected:
            assert hot > 0, (hot, file)
        else:
            assert hot == 0 and file > 0, (hot, file)
        # the bytes served, from wherever, are the stored ones (the mmap
        # mode's active segment has preallocated zeros past its end)
        for p in range(parts):
            files = seg_files(b.data_dir, topic, p)
            assert len(files) >= 3, "segments did not roll"
            stored = b"".join(open(f, "rb").read() for f in files)
            raw, _ = fetch_all_raw(b, topic, p)
            assert raw == stored[:len(raw)]
            assert stored[len(raw):].count(0) == len(stored) - len(raw)


def test_retention_under_tailing_fetches():
    s = {"num.shards": 1, "log.segment.bytes": 64 * KIB,
         "log.retention.check.interval.ms": 50}
    with MetricsBroker(s) as b:
        topic = unique_topic("hotret")
        create_topic(b.bootstrap, topic, 1,
                     config={"retention.bytes": str(128 * KIB)})
        stop = threading.Event()
        bad = []
        served = [0]

        def reader():
            with kw.Client(b.addr, timeout=30) as c:
                off = 0
                while not stop.is_set():
                    f = c.fetch(topic, 0, off, max_bytes=1 << 20,
                                partition_max_bytes=1 << 20)
                    if f["error"] == kw.OFFSET_OUT_OF_RANGE:
                        off = c.list_offsets(topic, 0, kw.EARLIEST)[2]
                        continue
                    if f["error"] != 0:
                        bad.append(f["error"])
                        return
                    try:
                        got = kw.decode_record_batches(f["records"])
                    except Exception as e:  # a bad CRC or a torn batch
                        bad.append(repr(e))
                        return
                    if got:
                        served[0] += len(f["records"])
                        off = got[-1].offset + 1

        threads = [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        msgs = [(None, bytes(500), 0) for _ in range(6000)]  # ~3 MB
        produce_all(b.bootstrap, topic, msgs, acks="1",
                    **{"linger.ms": 1, "batch.size": 8192})
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(60)
        assert not bad, bad
        assert b.alive()
        assert served[0] > 0
        with kw.Client(b.addr, timeout=30) as c:
            start = c.list_offsets(topic, 0, kw.EARLIEST)[2]
        assert start > 0, "retention deleted nothing"
        assert len(seg_files(b.data_dir, topic, 0)) <= 4
        hot, _ = fetch_sources(b)
        assert hot > 0


def test_catch_up_is_read_in_off_the_loop():
    """A consumer more than 64 MiB behind the end (writeback: the trail
    has dropped those pages) gets each file range read into the page cache
    on a worker thread first; the bytes it gets are the stored ones."""
    with MetricsBroker({"num.shards": 1, "log.segment.bytes": 32 << 20}) as b:
        topic = unique_topic("readin")
        create_topic(b.bootstrap, topic, 1)
        msgs = [(b"k%d" % i, bytes(1000), 0) for i in range(100000)]
        produce_all(b.bootstrap, topic, msgs, acks="1")
        before = value(parse_metrics(scrape(b)),
                       "strata_fetch_read_in_bytes_total")
        assert before == 0
        files = seg_files(b.data_dir, topic, 0)
        stored = b"".join(open(f, "rb").read() for f in files)
        raw, _ = fetch_all_raw(b, topic, 0)
        assert raw == stored
        read_in = value(parse_metrics(scrape(b)),
                        "strata_fetch_read_in_bytes_total")
        # everything but the last 64 MiB or so was a catch-up read
        assert read_in >= len(stored) - (80 << 20), (read_in, len(stored))
