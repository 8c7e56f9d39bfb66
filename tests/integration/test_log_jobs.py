"""Background jobs of the partition logs: loading a sealed segment's index
(rebuilding it when its files are missing or wrong), writing it at a roll,
and the directory fsync after a cold move run on worker threads, never on
the shard loop that serves the partition.

- A sealed segment whose .index cannot be opened yet (a FIFO with no
  writer: open() blocks until the test lets it go) is being loaded while
  the same single shard goes on serving Produce, Fetch and Metadata of
  another topic; the Fetch that needs the segment waits, then returns the
  right batches once the load (a rebuild) ends, and the index file is
  there again. With the load on the loop, the shard would hang in open().
- After the index files of every sealed segment are deleted, a consumer
  reads everything from offset 0 exactly as produced; the loads and the
  roll's index writes show in strata_log_jobs_total.
"""

import os
import threading
import time

import kafka_wire as kw
from it_util import consume_all, create_topic, produce_all, unique_topic
from test_metrics import MetricsBroker, parse_metrics, scrape, value
from test_tiers import fetch_all_raw, seg_files

MIB = 1 << 20


def jobs(b, kind):
    return value(parse_metrics(scrape(b)), "strata_log_jobs_total", kind=kind)


def fill(b, topic, n=6000, size=1000):
    msgs = [(b"k%d" % i, b"v%d-" % i + bytes(size), 0) for i in range(n)]
    # small batches: the index has an entry every 4 KiB of them
    produce_all(b.bootstrap, topic, msgs, acks="all",
                **{"batch.size": 16384})
    return msgs


def test_load_blocked_in_open_does_not_stop_the_shard(tmp_path):
    s = {"num.shards": 1, "log.segment.bytes": MIB,
         # no retention pass wants the segment's timestamp meanwhile
         "log.retention.check.interval.ms": 3600000}
    with MetricsBroker(s) as b:
        topic, other = unique_topic("jobs"), unique_topic("other")
        create_topic(b.bootstrap, topic, 1)
        create_topic(b.bootstrap, other, 1)
        fill(b, topic)
        files = seg_files(b.data_dir, topic, 0)
        assert len(files) >= 4, files
        stored = b"".join(open(f, "rb").read() for f in files)
        b.stop()

        index = files[0][:-len(".log")] + ".index"
        os.unlink(index)
        os.mkfifo(index)
        holder = str(tmp_path / "fifo")
        os.link(index, holder)  # to let the open go later
        b.start()
        loads0 = jobs(b, "load")

        result = {}

        def slow_fetch():
            with kw.Client(b.addr, timeout=60) as c:
                result["fetch"] = c.fetch(topic, 0, 0, max_bytes=MIB,
                                          partition_max_bytes=MIB)

        def let_go():
            """The FIFO is empty: the load then rebuilds the index."""
            if os.path.exists(index):
                os.unlink(index)
            fd = os.open(holder, os.O_RDWR)
            os.close(fd)

        t = threading.Thread(target=slow_fetch)
        t.start()
        try:
            # The load is now blocked in open() on a worker thread...
            time.sleep(1.0)
            assert t.is_alive(), "the fetch did not wait for the load"
            # ...while the shard serves the other topic, and metadata.
            with kw.Client(b.addr, timeout=10) as c:
                batch = kw.encode_record_batch([(b"k", b"v")])
                r = c.produce(other, 0, batch, acks=-1)
                assert r[0] == 0, r
                f = c.fetch(other, 0, 0)
                assert f["error"] == 0, f
                recs = kw.decode_record_batches(f["records"])
                assert [x.value for x in recs] == [b"v"]
                assert c.metadata([topic])
            assert t.is_alive()
        finally:
            let_go()
        t.join(30)
        assert not t.is_alive()
        f = result["fetch"]
        assert f["error"] == 0, f
        assert len(f["records"]) > 0
        assert stored.startswith(bytes(f["records"]))
        assert jobs(b, "load") > loads0
        for _ in range(50):
            if os.path.isfile(index) and os.path.getsize(index) > 0:
                break
            time.sleep(0.1)
        assert os.path.isfile(index) and os.path.getsize(index) > 0
        raw, _ = fetch_all_raw(b, topic, 0)
        assert raw == stored[:len(raw)] and len(raw) == len(stored)


def test_read_everything_after_losing_the_indexes():
    s = {"num.shards": 2, "log.segment.bytes": MIB}
    with MetricsBroker(s) as b:
        topic = unique_topic("jobsidx")
        create_topic(b.bootstrap, topic, 1)
        msgs = fill(b, topic)
        assert jobs(b, "store_index") >= 4  # one per roll
        files = seg_files(b.data_dir, topic, 0)
        b.stop()
        for f in files:
            for ext in (".index", ".timeindex"):
                p = f[:-len(".log")] + ext
                if os.path.exists(p):
                    os.unlink(p)
        b.start()
        got = consume_all(b.bootstrap, topic, 1, expected=len(msgs))
        assert [(k, v) for k, v, _ in msgs] == \
            [(m.key(), m.value()) for m in got[0]]
        assert jobs(b, "load") >= len(files) - 1
        # ListOffsets by time needs the timestamps of the sealed segments
        with kw.Client(b.addr) as c:
            assert c.list_offsets(topic, 0, 0)[2] == 0
