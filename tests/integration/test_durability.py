"""Crash durability: kill -9 the broker, restart it on the same data
directory, and check that every acknowledged acks=all message is there,
in order, exactly once.

DESIGN.md promises that no acknowledged acks=all message is lost after
kill -9 and that recovery truncates a torn tail. Three crash cases: a crash
after all deliveries were acknowledged, a crash in the middle of a produce
stream (unacknowledged messages may or may not survive, but nothing
acknowledged may be lost and nothing may be duplicated or reordered), and a
torn tail written into the active segment by hand while the broker is down.
After each restart the partition must also accept new messages at the next
offset. A clean SIGTERM restart must keep topics, deletions and
multi-segment logs, with reads starting anywhere in them.
"""

import glob
import os
import struct
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from it_util import (DeliveryLog, admin, base_conf, consume_all,
                     create_topic, produce_all, unique_topic)

PARTS = 3


def _msgs(n, tag):
    return [(b"%s-k%06d" % (tag, i), b"%s-v%06d-" % (tag, i) +
             b"d" * (i % 300), i % PARTS) for i in range(n)]


def _check_acked(got, acked, allow_extra):
    """got: {partition: [Message]}; acked: [(partition, offset, k, v)].
    Every acked message at its reported offset; offsets dense from 0; no
    value twice; extras (unacked but stored) only if allow_extra."""
    by_off = {(p, off): (k, v) for p, off, k, v in acked}
    seen = set()
    for p, ms in got.items():
        offsets = [m.offset() for m in ms]
        assert offsets == list(range(len(ms))), \
            "partition %d: offsets not dense from 0" % p
        for m in ms:
            assert m.value() not in seen, "duplicate %r" % m.value()
            seen.add(m.value())
            want = by_off.get((p, m.offset()))
            if want is not None:
                assert (m.key(), m.value()) == want, \
                    "partition %d offset %d holds %r, acked %r" % (
                        p, m.offset(), m.value(), want[1])
            else:
                assert allow_extra, "unexpected message %r" % m.value()
    missing = [(p, off) for p, off, _, _ in acked
               if off >= len(got.get(p, []))]
    assert not missing, "%d acknowledged messages lost, first %s" % (
        len(missing), missing[:5])
    return seen


def _produce_after_restart(b, topic, ends):
    """New messages after a restart land at the next offsets."""
    log = produce_all(b.bootstrap, topic,
                      [(b"after", b"after-%d" % p, p) for p in range(PARTS)])
    got = sorted((p, off) for p, off, _, _ in log.ok)
    assert got == [(p, ends[p]) for p in range(PARTS)], \
        "post-restart offsets %s, expected %s" % (got, ends)


@pytest.mark.deadline(150)
@pytest.mark.parametrize("shards", [1, 2])
def test_kill9_after_all_acked(start_broker, shards):
    b = start_broker({"num.shards": shards})
    topic = create_topic(b.bootstrap, unique_topic("dur-acked"), PARTS)
    msgs = _msgs(30000, b"a")
    log = produce_all(b.bootstrap, topic, msgs, acks="all",
                      **{"linger.ms": 2})
    assert len(log.ok) == len(msgs)
    b.kill9()
    b.restart()
    got = consume_all(b.bootstrap, topic, PARTS, expected=len(msgs),
                      timeout=60)
    _check_acked(got, log.ok, allow_extra=False)
    _produce_after_restart(b, topic, [len(got[p]) for p in range(PARTS)])


@pytest.mark.deadline(150)
@pytest.mark.parametrize("shards", [1, 2])
def test_kill9_during_produce(start_broker, shards):
    b = start_broker({"num.shards": shards})
    topic = create_topic(b.bootstrap, unique_topic("dur-mid"), PARTS)
    msgs = _msgs(60000, b"m")
    log = DeliveryLog()
    p = Producer(base_conf(b.bootstrap, **{
        "acks": "all", "linger.ms": 1, "batch.num.messages": 500,
        "message.timeout.ms": 5000, "retries": 0,
        "queue.buffering.max.messages": 100000}))
    killed_at = None
    deadline = time.monotonic() + 60
    for i, (k, v, part) in enumerate(msgs):
        p.produce(topic, value=v, key=k, partition=part, on_delivery=log)
        if i % 200 == 0:
            p.poll(0)
            time.sleep(0.001)  # keep a stream in flight, not one burst
        if killed_at is None and len(log.ok) >= 10000:
            b.kill9()
            killed_at = len(log.ok)
            break
        assert time.monotonic() < deadline
    if killed_at is None:  # everything fit before 10000 acks: kill now
        while p.flush(0.05) and len(log.ok) < 10000:
            assert time.monotonic() < deadline
        b.kill9()
        killed_at = len(log.ok)
    # Collect the last reports; drop the rest so nothing is sent to the
    # restarted broker.
    p.poll(0.5)
    p.purge(in_queue=True, in_flight=True)
    p.flush(10)
    acked = list(log.ok)
    assert acked, "nothing was acknowledged before the crash"

    b.restart()
    got = consume_all(b.bootstrap, topic, PARTS, expected=len(acked),
                      timeout=60)
    total = sum(len(ms) for ms in got.values())
    print("killed after %d acks; %d acked in all; %d stored after restart"
          % (killed_at, len(acked), total))
    _check_acked(got, acked, allow_extra=True)
    # Acknowledged messages appear in the order they were produced within
    # each partition (values carry a sequence number).
    for part, ms in got.items():
        seq = [int(m.value().split(b"-")[1][1:]) for m in ms]
        assert seq == sorted(seq), "partition %d reordered" % part
    _produce_after_restart(b, topic, [len(got[q]) for q in range(PARTS)])


def _valid_end(path):
    """End of the last complete batch in a segment file (which may be
    preallocated with zeros past that point)."""
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos + 17 <= len(data):
        _, length = struct.unpack_from(">qi", data, pos)
        magic = data[pos + 16]
        if length <= 0 or magic != 2 or pos + 12 + length > len(data):
            break
        pos += 12 + length
    return pos


@pytest.mark.deadline(120)
def test_torn_tail_truncated_on_recovery(start_broker):
    b = start_broker({"num.shards": 1})
    topic = create_topic(b.bootstrap, unique_topic("dur-torn"), PARTS)
    msgs = _msgs(3000, b"t")
    log = produce_all(b.bootstrap, topic, msgs, acks="all")
    b.kill9()

    # Tear the tail of partition 0's active segment: a batch header that
    # promises more bytes than follow, then garbage.
    segs = sorted(glob.glob(os.path.join(b.data_dir, "%s-0" % topic,
                                         "*.log")))
    assert segs, "no segment for %s-0 under %s (layout per DESIGN.md: " \
        "<log.dirs>/<topic>-<partition>/<offset>.log)" % (topic, b.data_dir)
    seg = segs[-1]
    end = _valid_end(seg)
    assert end > 0, "no complete batch found in %s" % seg
    print("segment %s: valid data ends at %d of %d bytes"
          % (seg, end, os.path.getsize(seg)))
    torn = struct.pack(">qiib", 1000, 5000, 0, 2) + b"\xa5" * 200
    with open(seg, "r+b") as f:
        f.seek(end)
        f.write(torn)

    b.restart()
    got = consume_all(b.bootstrap, topic, PARTS, expected=len(msgs),
                      timeout=60)
    _check_acked(got, log.ok, allow_extra=False)
    _produce_after_restart(b, topic, [len(got[p]) for p in range(PARTS)])
    assert not b.sanitizer_reports()


@pytest.mark.deadline(120)
@pytest.mark.parametrize("shards", [1, 2])
def test_clean_restart_keeps_topics_and_segments(start_broker, shards):
    """SIGTERM and start again: topics (with partition counts), deletions
    and data survive; small segments force many rolls, and reads starting
    in the middle of the log land on the requested offset."""
    # Segments roll at batch boundaries: small batches (200 records, a few
    # KiB compressed) and 16 KiB segments give each partition several,
    # however librdkafka's batching and partitioner fall out
    b = start_broker({"num.shards": shards, "log.segment.bytes": 16384})
    keep = create_topic(b.bootstrap, unique_topic("dur-keep"), PARTS,
                        config={"retention.ms": "86400000"})
    gone = create_topic(b.bootstrap, unique_topic("dur-gone"), 1)
    msgs = _msgs(20000, b"c")
    log = produce_all(b.bootstrap, keep, msgs, acks="all",
                      **{"batch.num.messages": 200})
    a = admin(b.bootstrap)
    a.delete_topics([gone], operation_timeout=15,
                    request_timeout=15)[gone].result(15)

    segs = glob.glob(os.path.join(b.data_dir, "%s-0" % keep, "*.log"))
    assert len(segs) >= 3, "log.segment.bytes=16384 but %d segment(s): %s" \
        % (len(segs), segs)

    problems = b.stop()
    assert not problems, problems
    b.restart()
    md = admin(b.bootstrap).list_topics(timeout=10)
    assert keep in md.topics and len(md.topics[keep].partitions) == PARTS
    assert gone not in md.topics, "deleted topic is back after restart"

    got = consume_all(b.bootstrap, keep, PARTS, expected=len(msgs),
                      timeout=60)
    _check_acked(got, log.ok, allow_extra=False)

    # Start in the middle of the log, including at segment boundaries.
    c = Consumer(base_conf(b.bootstrap, **{
        "group.id": "strata-it-unused", "enable.auto.commit": False}))
    try:
        n0 = len(got[0])
        for off in sorted({0, 1, n0 // 3, n0 // 2, n0 - 1,
                           *_segment_bases(b, keep, 0)}):
            if off >= n0:
                continue
            c.assign([TopicPartition(keep, 0, off)])
            m = None
            deadline = time.monotonic() + 10
            while m is None and time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is not None and m.error() is not None:
                    raise AssertionError(m.error())
            assert m is not None, "nothing read from offset %d" % off
            assert (m.offset(), m.value()) == (off, got[0][off].value())
    finally:
        c.close()
    _produce_after_restart(b, keep, [len(got[p]) for p in range(PARTS)])


def _segment_bases(b, topic, part):
    out = []
    for path in glob.glob(os.path.join(b.data_dir, "%s-%d" % (topic, part),
                                       "*.log")):
        name = os.path.basename(path)[:-4]
        if name.isdigit():
            out.append(int(name))
    return out
