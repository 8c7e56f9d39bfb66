"""Consumer groups with kafka-python 2.0.2: subscribe, commit, resume.

kafka-python has its own coordinator client (JoinGroup, SyncGroup,
Heartbeat from a background thread, OffsetCommit/OffsetFetch), written
independently of librdkafka's, and it picks request versions from its guess
of the broker version. The checks: a consumer reads a topic through a
group, commits chosen offsets with a metadata string, closes; a new
consumer of the group resumes exactly there and committed() returns offset
and metadata. Two consumers in one group (one thread each, since
kafka-python blocks in poll() during a rebalance and needs the other member
to rejoin meanwhile) split the partitions and with auto-commit (committed
synchronously before each rebalance) read every message exactly once. The
admin client lists, describes and deletes the group and reads all its
offsets with OffsetFetch's null topic list.
"""

import threading
import time

import pytest

kafka = pytest.importorskip("kafka")
from kafka import (KafkaAdminClient, KafkaConsumer,  # noqa: E402
                   TopicPartition)
from kafka.structs import OffsetAndMetadata  # noqa: E402

import group_util as gu  # noqa: E402
from it_util import create_topic, unique_topic  # noqa: E402

BROKER_SETTINGS = {
    "group.initial.rebalance.delay.ms": 300,
    "offsets.topic.num.partitions": 6,
}
PARTS = 4


def _consumer(bootstrap, group, topic=None, **extra):
    conf = dict(bootstrap_servers=bootstrap, group_id=group,
                enable_auto_commit=False, auto_offset_reset="earliest",
                session_timeout_ms=gu.SESSION_TIMEOUT_MS,
                heartbeat_interval_ms=gu.HEARTBEAT_MS,
                fetch_max_wait_ms=100, request_timeout_ms=15000,
                api_version_auto_timeout_ms=10000,
                client_id="strata-it-kpy")
    conf.update(extra)
    c = KafkaConsumer(**conf)
    if topic is not None:
        c.subscribe([topic])
    return c


def _poll_into(c, got, want, timeout, what):
    """Poll until `got` ({partition: [offset]}) holds `want` records."""
    deadline = time.monotonic() + timeout
    while sum(map(len, got.values())) < want:
        if time.monotonic() > deadline:
            raise AssertionError(
                "%s: %d of %d records within %d s (assignment %s)"
                % (what, sum(map(len, got.values())), want, timeout,
                   sorted(c.assignment())))
        for tp, recs in c.poll(timeout_ms=200, max_records=5000).items():
            got.setdefault(tp.partition, []).extend(r.offset for r in recs)


def _drain(c, got, seconds=0.7):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for tp, recs in c.poll(timeout_ms=100).items():
            got.setdefault(tp.partition, []).extend(r.offset for r in recs)


def _admin(bootstrap):
    return KafkaAdminClient(bootstrap_servers=bootstrap,
                            request_timeout_ms=15000,
                            api_version_auto_timeout_ms=10000)


@pytest.mark.deadline(90)
def test_consume_commit_resume(broker):
    b = broker
    per = 1000
    topic = create_topic(b.bootstrap, unique_topic("kpy-grp"), PARTS)
    gu.produce_fast(b.bootstrap, topic, per * PARTS, PARTS)
    group = unique_topic("g-kpy")
    tps = [TopicPartition(topic, p) for p in range(PARTS)]

    c = _consumer(b.bootstrap, group, topic)
    try:
        got = {}
        _poll_into(c, got, per * PARTS, 40, "first consumer")
        _drain(c, got)
        for p in range(PARTS):
            assert got[p] == list(range(per)), "partition %d" % p
        assert c.assignment() == set(tps)

        commit = {tp: OffsetAndMetadata(100 + 37 * tp.partition,
                                        "kpy-\u00fc-%d" % tp.partition)
                  for tp in tps}
        c.commit(commit)
    finally:
        c.close()

    # Read back by a consumer that is not assigned the partitions (an
    # assigned one answers committed() from its own cache).
    probe = _consumer(b.bootstrap, group)
    try:
        for tp in tps:
            got_meta = probe.committed(tp, metadata=True)
            assert got_meta is not None, "no committed offset for %s" % (tp,)
            assert (got_meta.offset, got_meta.metadata) == \
                (commit[tp].offset, commit[tp].metadata)
    finally:
        probe.close()

    # A new member resumes exactly at the committed offsets.
    c = _consumer(b.bootstrap, group, topic)
    try:
        got = {}
        want = sum(per - commit[tp].offset for tp in tps)
        _poll_into(c, got, want, 40, "resuming consumer")
        _drain(c, got)
        for tp in tps:
            assert got[tp.partition] == list(range(commit[tp].offset, per)), \
                "partition %d resumed at %s, committed %d" % (
                    tp.partition, got[tp.partition][:3], commit[tp].offset)
        c.commit()  # current positions: the end of every partition
    finally:
        c.close()

    a = _admin(b.bootstrap)
    try:
        assert (group, "consumer") in a.list_consumer_groups()
        (d,) = a.describe_consumer_groups([group])
        assert (d.error_code, d.group, d.state, d.members) == \
            (0, group, "Empty", [])
        # partitions=None: OffsetFetch v2+ with a null topic list.
        offs = a.list_consumer_group_offsets(group)
        assert {tp: om.offset for tp, om in offs.items()} == \
            {tp: per for tp in tps}
        assert a.delete_consumer_groups([group])[0][1].errno in (0, None)
        assert a.list_consumer_group_offsets(group) == {}
        assert group not in [g for g, _ in a.list_consumer_groups()]
    finally:
        a.close()


class _Worker(threading.Thread):
    """One kafka-python consumer polled by its own thread until told to
    stop; records (partition, offset) of every record it is handed."""

    def __init__(self, name, bootstrap, group, topic):
        super().__init__(name=name, daemon=True)
        self.bootstrap, self.group, self.topic = bootstrap, group, topic
        self.got = []
        self.assignment = set()
        self.error = None
        self.stop_flag = threading.Event()
        self.ready = threading.Event()

    def run(self):
        try:
            c = _consumer(self.bootstrap, self.group, self.topic,
                          enable_auto_commit=True,
                          auto_commit_interval_ms=1000,
                          client_id="strata-it-kpy-" + self.name)
        except Exception as e:  # reported by the test
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        try:
            while not self.stop_flag.is_set():
                for tp, recs in c.poll(timeout_ms=100,
                                       max_records=2000).items():
                    self.got.extend((tp.partition, r.offset) for r in recs)
                self.assignment = {tp.partition for tp in c.assignment()}
        except Exception as e:
            self.error = e
        finally:
            try:
                c.close()  # auto-commit: commits, then LeaveGroup
            except Exception as e:
                self.error = self.error or e


@pytest.mark.deadline(90)
def test_two_consumers_split(broker):
    b = broker
    per = 5000
    topic = create_topic(b.bootstrap, unique_topic("kpy-split"), PARTS)
    gu.produce_fast(b.bootstrap, topic, per * PARTS, PARTS)
    group = unique_topic("g-kpy-split")
    w1 = _Worker("w1", b.bootstrap, group, topic)
    w2 = _Worker("w2", b.bootstrap, group, topic)
    w1.start()
    w2.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            seen = set(w1.got) | set(w2.got)
            if len(seen) >= per * PARTS and len(w1.assignment) == 2 and \
                    len(w2.assignment) == 2:
                break
            assert w1.error is None and w2.error is None, \
                (w1.error, w2.error)
            assert time.monotonic() < deadline, \
                "split not reached: %d of %d read, assignments %s %s" % (
                    len(seen), per * PARTS, w1.assignment, w2.assignment)
            time.sleep(0.1)
        time.sleep(0.7)  # anything delivered now is a duplicate
        all_got = w1.got + w2.got
        assert len(all_got) == len(set(all_got)) == per * PARTS, \
            "%d deliveries of %d distinct messages" % (
                len(all_got), len(set(all_got)))
        assert w1.assignment | w2.assignment == set(range(PARTS))
        assert not w1.assignment & w2.assignment
        assert w1.got and w2.got, "one consumer read nothing"
    finally:
        w1.stop_flag.set()
        w2.stop_flag.set()
        w1.join(30)
        w2.join(30)
    assert w1.error is None and w2.error is None, (w1.error, w2.error)

    # Both closed with auto-commit: everything is committed, group empty.
    a = _admin(b.bootstrap)
    try:
        offs = a.list_consumer_group_offsets(group)
        assert {tp.partition: om.offset for tp, om in offs.items()} == \
            {p: per for p in range(PARTS)}
        (d,) = a.describe_consumer_groups([group])
        assert (d.state, d.members) == ("Empty", [])
    finally:
        a.close()
