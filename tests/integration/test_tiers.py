"""Tiered storage: sealed segments move to log.tier.cold.dir and stay
readable there, through restarts and crashes.

- ~60 MB produced with acks=all into 1 MiB segments with a 1 s cold
  threshold ends up mostly in the cold dir; reading from offset 0 returns
  byte-identical batches before and after kill -9 + restart.
- Retention by bytes and by time, and DeleteRecords, delete the oldest
  segments in both tiers and move the log start offset.
- A crash loop: kill -9 at random moments of acks=all production with
  tiering running, 20 cycles; every acknowledged record is then readable
  exactly once and every batch served has a good CRC (kafka_wire checks
  it). bench/crash_loop.py runs the same loop for longer.
"""

import glob
import json
import os
import random
import shutil
import subprocess
import threading
import time
import urllib.request

import pytest

import kafka_wire as kw
from it_util import create_topic, produce_all, total_size, unique_topic
from strata_harness import Broker, free_port
from test_metrics import parse_metrics, value

MIB = 1 << 20


def tier_settings(cold, **extra):
    s = {"num.shards": 2, "log.segment.bytes": MIB,
         "log.tier.cold.dir": str(cold), "log.tier.cold.after.ms": 1000,
         "log.tier.check.interval.ms": 100}
    s.update(extra)
    return s


def seg_files(root, topic, part):
    return sorted(glob.glob(os.path.join(str(root), "%s-%d" % (topic, part),
                                         "*.log")))


def fetch_all_raw(b, topic, part, start=0):
    """Every batch from `start` to the end as raw bytes (whole batches
    only), and the records decoded (CRCs checked)."""
    raw = bytearray()
    recs = []
    off = start
    with kw.Client(b.addr, timeout=30) as c:
        end = c.list_offsets(topic, part, kw.LATEST)[2]
        while off < end:
            f = c.fetch(topic, part, off, max_bytes=8 * MIB,
                        partition_max_bytes=8 * MIB)
            assert f["error"] == 0, f
            data = f["records"]
            got = kw.decode_record_batches(data)
            assert got, "no whole batch at offset %d" % off
            # keep whole batches only
            pos = 0
            while len(data) - pos >= 12:
                n = int.from_bytes(data[pos + 8:pos + 12], "big")
                if pos + 12 + n > len(data):
                    break
                pos += 12 + n
            raw += data[:pos]
            recs += [r for r in got if r.offset >= off]
            off = got[-1].offset + 1
    return bytes(raw), recs


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def http(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                timeout=10) as r:
        return r.read().decode()


@pytest.mark.deadline(240)
def test_cold_tier_holds_most_and_reads_identical(start_broker, tmp_path):
    cold = tmp_path / "cold"
    mport = free_port()
    b = start_broker(tier_settings(cold, **{
        "metrics.listener": "127.0.0.1:%d" % mport}))
    topic = create_topic(b.bootstrap, unique_topic("tier"), 2)
    payload = bytes(random.getrandbits(8) for _ in range(1024))
    msgs = [(b"k%d" % i, payload[i % 512:] + payload[:i % 512], i % 2)
            for i in range(60000)]
    produce_all(b.bootstrap, topic, msgs, timeout=120,
                **{"compression.type": "none"})

    def mostly_cold():
        for p in (0, 1):
            local = len(seg_files(b.data_dir, topic, p))
            far = len(seg_files(cold, topic, p))
            if far < 0.8 * (local + far - 1) or local > 3:
                return False
        return True
    wait_until(mostly_cold, 60, "segments to move to the cold tier")
    before = {p: fetch_all_raw(b, topic, p) for p in (0, 1)}
    for p in (0, 1):
        got = [(r.key, r.value) for r in before[p][1]]
        want = [(k, v) for k, v, part in msgs if part == p]
        assert got == want
    # the operator's view: bytes per tier, moves, free space of each tier
    text = http(mport, "/metrics")
    m = parse_metrics(text)
    cold_bytes = value(m, "strata_log_size_bytes", tier="cold")
    local_bytes = value(m, "strata_log_size_bytes", tier="local")
    assert cold_bytes > 50e6 and cold_bytes > 4 * local_bytes, (cold_bytes,
                                                                local_bytes)
    assert value(m, "strata_tier_moved_bytes_total") >= cold_bytes
    assert value(m, "strata_tier_move_failures_total") == 0
    assert value(m, "strata_log_dir_free_bytes", tier="cold",
                 dir=str(cold)) > 0
    promtool = shutil.which("promtool")
    if promtool:
        r = subprocess.run([promtool, "check", "metrics"], input=text,
                           text=True, capture_output=True)
        assert r.returncode == 0, r.stdout + r.stderr
    st = json.loads(http(mport, "/v1/status"))
    parts = [p for t in st["topics"] if t["name"] == topic
             for p in t["partitions"]]
    assert all(p["tiers"]["cold"]["segments"] > 0 for p in parts), parts
    b.kill9()
    b.restart()
    for p in (0, 1):
        assert fetch_all_raw(b, topic, p)[0] == before[p][0]
        # ListOffsets by time reaches into the cold tier too
        with kw.Client(b.addr) as c:
            err, _, off = c.list_offsets(topic, p, 0)
            assert (err, off) == (0, 0)
    # nothing left behind by the moves
    leftovers = [f for f in glob.glob(str(cold / "*" / "*"))
                 if not f.endswith((".log", ".index", ".timeindex"))]
    assert not leftovers, leftovers


def produce_batches(b, topic, part, batches, size=1000, per=100, ts=None):
    with kw.Client(b.addr) as c:
        for i in range(batches):
            recs = [(b"%d" % j, b"x" * size) for j in range(per)]
            err, _ = c.produce(topic, part, kw.encode_record_batch(
                recs, base_timestamp=ts), acks=-1)
            assert err == 0


@pytest.mark.deadline(120)
def test_retention_by_bytes_spans_tiers(start_broker, tmp_path):
    cold = tmp_path / "cold"
    b = start_broker(tier_settings(cold, **{
        "log.retention.check.interval.ms": 200}))
    topic = create_topic(b.bootstrap, unique_topic("tret"), 1,
                         config={"retention.bytes": str(6 * MIB)})
    produce_batches(b, topic, 0, 150)  # ~15 MB: ~15 segments
    wait_until(lambda: len(seg_files(cold, topic, 0)) >= 1, 30,
               "a cold segment")

    def trimmed():
        segs = seg_files(cold, topic, 0) + seg_files(b.data_dir, topic, 0)
        total = total_size(segs)
        return total <= 7 * MIB
    wait_until(trimmed, 30, "retention.bytes to trim both tiers")
    with kw.Client(b.addr) as c:
        start = c.list_offsets(topic, 0, kw.EARLIEST)[2]
        assert start > 0
        assert c.fetch(topic, 0, 0)["error"] == kw.OFFSET_OUT_OF_RANGE
        assert c.fetch(topic, 0, start)["error"] == 0
    # the oldest went first: every remaining segment is at or after start
    bases = sorted(int(os.path.basename(s)[:-4]) for s in
                   seg_files(cold, topic, 0) + seg_files(b.data_dir, topic, 0))
    assert bases[0] <= start < (bases[1] if len(bases) > 1 else 1 << 62)


@pytest.mark.deadline(120)
def test_retention_by_time_and_delete_records_span_tiers(start_broker,
                                                        tmp_path):
    cold = tmp_path / "cold"
    b = start_broker(tier_settings(cold, **{
        "log.retention.check.interval.ms": 200}))
    topic = create_topic(b.bootstrap, unique_topic("ttime"), 2,
                         config={"retention.ms": "86400000"})
    old = int(time.time() * 1000) - 3 * 86400000
    # partition 0: three days old records, then fresh ones
    produce_batches(b, topic, 0, 40, ts=old)
    produce_batches(b, topic, 0, 30)
    # partition 1: DeleteRecords into the cold range
    produce_batches(b, topic, 1, 60)
    wait_until(lambda: len(seg_files(cold, topic, 1)) >= 3, 30,
               "cold segments of partition 1")

    def old_gone():
        with kw.Client(b.addr) as c:
            return c.list_offsets(topic, 0, kw.EARLIEST)[2] >= 4000
    wait_until(old_gone, 30, "retention.ms to delete the old records")
    with kw.Client(b.addr) as c:
        start = c.list_offsets(topic, 0, kw.EARLIEST)[2]
        assert start <= 4000 + 100  # the fresh ones stay
    remaining = seg_files(cold, topic, 1) + seg_files(b.data_dir, topic, 1)
    with kw.Conn(b.addr) as c:
        res = kw.parse_delete_records(c.request(
            kw.DELETE_RECORDS, 1,
            kw.req_delete_records(1, [(topic, 1, 2500)])), 1)
    assert res[(topic, 1)] == (0, 2500)
    after = seg_files(cold, topic, 1) + seg_files(b.data_dir, topic, 1)
    assert len(after) < len(remaining)
    assert all(int(os.path.basename(s)[:-4]) + 1100 > 2500 for s in after)
    b.kill9()
    b.restart()
    with kw.Client(b.addr) as c:
        assert c.list_offsets(topic, 1, kw.EARLIEST)[2] == 2500
        f = c.fetch(topic, 1, 2500)
        assert f["error"] == 0
        assert any(r.offset == 2500 for r in
                   kw.decode_record_batches(f["records"]))


def crash_loop(b, cold, topic, cycles, seed):
    """kill -9 at random moments of acks=all production; returns the
    acknowledged values."""
    rnd = random.Random(seed)
    acked = []
    for cycle in range(cycles):
        stop = threading.Event()
        errors = []

        def produce():
            n = 0
            try:
                with kw.Client(b.addr, timeout=5) as c:
                    while not stop.is_set():
                        vals = [b"c%d-%d-%d" % (cycle, n, j) + b"." * 900
                                for j in range(50)]
                        n += 1
                        err, _ = c.produce(topic, 0, kw.encode_record_batch(
                            [(None, v) for v in vals]), acks=-1)
                        if err == 0:
                            acked.extend(vals)
                        else:
                            errors.append(err)
            except (OSError, kw.ProtocolError, EOFError):
                pass  # the broker died under us: expected
        t = threading.Thread(target=produce)
        t.start()
        time.sleep(rnd.uniform(0.2, 1.2))
        b.kill9()
        stop.set()
        t.join(10)
        assert not t.is_alive()
        assert not errors, errors
        b.restart()
    return acked


@pytest.mark.deadline(300)
def test_crash_loop_with_tiering(start_broker, tmp_path):
    cold = tmp_path / "cold"
    b = start_broker(tier_settings(cold, **{
        "log.segment.bytes": 256 * 1024, "log.tier.cold.after.ms": 0}))
    topic = create_topic(b.bootstrap, unique_topic("tcrash"), 1)
    acked = crash_loop(b, cold, topic, 20, seed=os.getpid())
    assert len(acked) > 1000
    assert seg_files(cold, topic, 0), "tiering never ran"
    _, recs = fetch_all_raw(b, topic, 0)
    seen = {}
    for r in recs:
        seen[r.value] = seen.get(r.value, 0) + 1
    missing = [v for v in acked if v not in seen]
    twice = [v for v, n in seen.items() if n > 1]
    assert not missing, "%d acknowledged records lost, first %r" % (
        len(missing), missing[0][:20])
    assert not twice, "%d records twice" % len(twice)
    # offsets are dense and increasing
    assert [r.offset for r in recs] == list(range(len(recs)))


def test_cold_dir_inside_log_dirs_is_refused(tmp_path):
    """Partition directories of one tier would be taken for the other's."""
    b = Broker({"log.tier.cold.dir": "PLACEHOLDER"})
    try:
        for cold in (os.path.join(b.data_dir, "cold"), b.data_dir,
                     os.path.dirname(b.data_dir)):
            b.settings["log.tier.cold.dir"] = cold
            r = subprocess.run(b.command(), capture_output=True, text=True,
                               timeout=20)
            assert r.returncode != 0
            assert "must not be the same directory or inside one another" \
                in r.stderr, r.stderr
    finally:
        b.cleanup()
