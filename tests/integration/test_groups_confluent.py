"""Consumer groups with confluent-kafka (librdkafka): membership, committed
offsets across restarts, admin views and static membership.

What applications rely on, checked end to end: two members of a group split
a topic's partitions and together read every message exactly once (with
the usual commit-on-revoke pattern), a member that leaves hands its
partitions to the other, committed offsets are where a new member resumes
-- also after a clean restart and after kill -9 right behind a synchronous
commit -- and a static member (group.instance.id) that restarts within its
session timeout gets its old partitions back without the other member
noticing a rebalance. A member that stops heartbeating is dropped after
its session timeout, and a deleted topic takes its committed offsets with
it. The admin side (ListGroups, DescribeGroups, DeleteGroups) is checked
through the installed client where it has the call and with GroupWire's
hand-built frames where it does not (the Debian confluent-kafka is 1.7:
AdminClient.list_groups only, no commit metadata on TopicPartition);
kafka-python's admin client does DeleteGroups. The last tests walk the
protocol by hand (JoinGroup/SyncGroup/Heartbeat/LeaveGroup, OffsetDelete,
commit metadata at every version) for the exact error codes clients react
to.

The module runs on a 2-shard broker: a group lives on one shard while its
members' connections land on either, so every group API here also crosses
shards. The initial rebalance delay is short (Kafka's default is 3 s) and
members heartbeat every 500 ms, keeping the file near a minute on two cores.
"""

import select
import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

import group_util as gu
from group_util import GroupWire, Member, poll_until
from it_util import admin, create_topic, unique_topic

try:
    from kafka import KafkaAdminClient
except ImportError:  # kafka-python missing: DeleteGroups via GroupWire
    KafkaAdminClient = None

GROUP_SETTINGS = {
    "group.initial.rebalance.delay.ms": 300,
    "offsets.topic.num.partitions": 6,
}
# broker1 honours num.shards from BROKER_SETTINGS: two shards throughout.
BROKER_SETTINGS = dict(GROUP_SETTINGS, **{"num.shards": 2})

PARTS = 4


def _tps(topic, parts=PARTS):
    return [(topic, p) for p in range(parts)]


def _delete_group(bootstrap, group):
    """DeleteGroups through a client: confluent-kafka's AdminClient where
    this version has delete_consumer_groups, else kafka-python's. Returns
    the Kafka error code (0 = deleted)."""
    if hasattr(AdminClient, "delete_consumer_groups"):
        fs = admin(bootstrap).delete_consumer_groups([group],
                                                     request_timeout=15)
        try:
            fs[group].result(20)
        except Exception as e:
            err = e.args[0] if e.args else None
            if hasattr(err, "code"):
                return err.code()
            raise
        return 0
    if KafkaAdminClient is not None:
        a = KafkaAdminClient(bootstrap_servers=bootstrap,
                             request_timeout_ms=15000)
        try:
            ((g, err),) = a.delete_consumer_groups([group])
        finally:
            a.close()
        assert g == group
        return err.errno if err.errno is not None else 0
    with GroupWire(_addr(bootstrap)) as gw:
        return gw.delete_groups([group])[group]


def _addr(bootstrap):
    host, port = bootstrap.rsplit(":", 1)
    return host, int(port)


def _read_up_to(member, end, count=2):
    """member holds `count` partitions and has read each up to `end`."""
    return len(member.assigned) == count and all(
        member.pos.get(tp) == end for tp in member.assigned)


def _describe(bootstrap, group):
    """librdkafka's view (ListGroups + DescribeGroups): the GroupMetadata
    of `group`, or None if the broker does not list it."""
    found = admin(bootstrap).list_groups(group=group, timeout=15)
    found = [g for g in found if g.id == group]
    assert len(found) <= 1, found
    return found[0] if found else None


# ------------------------------------------------------------------ basics


def test_group_apis_advertised(broker1):
    """ApiVersions lists every group API in the range the issue names;
    without them no client can use a group at all."""
    with GroupWire(broker1.addr) as gw:
        assert gw.missing_versions() == []


def test_find_coordinator_is_this_broker(broker1):
    md = admin(broker1.bootstrap).list_topics(timeout=10)
    (node,) = md.brokers
    with GroupWire(broker1.addr) as gw:
        for v in range(0, gw.version(gu.FIND_COORDINATOR) + 1):
            for i in range(8):  # several groups: different owner shards
                err, nid, host, port = gw.find_coordinator("fc-%d" % i, v)
                assert (err, nid, host, port) == (
                    0, node, broker1.host, broker1.port), "v%d" % v


# ----------------------------------------------- split, exactly once, leave


N = 200000


@pytest.mark.deadline(150)
def test_two_members_split_exactly_once_then_takeover(broker1):
    b = broker1
    topic = create_topic(b.bootstrap, unique_topic("grp-split"), PARTS)
    gu.produce_fast(b.bootstrap, topic, N, PARTS, timeout=90)
    per = N // PARTS  # message i is at partition i % 4, offset i // 4
    group = unique_topic("g-split")

    owner = {}     # (partition, offset) -> member name
    dups = []
    wrong = []

    def on_msg(m, msg):
        p, off = msg.partition(), msg.offset()
        if (p, off) in owner:
            dups.append((m.name, p, off, owner[(p, off)]))
        owner[(p, off)] = m.name
        if msg.value() != b"%d" % (off * PARTS + p):
            wrong.append((p, off, msg.value()))

    # A starts alone; B joins once A is well into the topic, so the group
    # rebalances mid-stream and the partitions A gives up move to B at the
    # offsets A committed on revoke. A is paused meanwhile so that it
    # cannot finish the topic before B is in.
    A = Member("a", b.bootstrap, group, [topic])
    B = None
    try:
        poll_until([A], lambda: len(owner) >= N // 5, 60,
                   "first member reads a fifth of the topic", on_msg)
        A.c.pause([TopicPartition(t, p) for t, p in A.assigned])
        B = Member("b", b.bootstrap, group, [topic])
        poll_until([A, B], lambda: len(A.assigned) == 2 and
                   len(B.assigned) == 2, 30, "second member joins: 2 + 2",
                   on_msg)
        # librdkafka keeps a partition's pause across reassignment: resume
        # all four, also those A will only get back later.
        A.c.resume([TopicPartition(topic, p) for p in range(PARTS)])
        assert [e[1] for e in A.events] == ["assign", "revoke", "assign"], \
            A.journal()
        poll_until([A, B], lambda: len(owner) >= N, 100,
                   "group reads all %d messages" % N, on_msg)
        # Anything still arriving now is a second delivery.
        t_end = time.monotonic() + 1.0
        poll_until([A, B], lambda: time.monotonic() > t_end, 5, "drain",
                   on_msg)
        assert not wrong, "wrong content at %s" % wrong[:5]
        assert not dups, "%d messages delivered twice, first %s\n%s" % (
            len(dups), dups[:5], "\n".join(A.journal() + B.journal()))
        assert len(owner) == N
        assert not A.commit_errors and not B.commit_errors, \
            (A.commit_errors, B.commit_errors)

        # The split: two partitions each, disjoint, covering the topic.
        poll_until([A, B], lambda: len(A.assigned) == 2 and
                   len(B.assigned) == 2, 15, "2 + 2 assignment")
        assert A.assigned | B.assigned == set(_tps(topic))
        assert A.assignment() == sorted(A.assigned)
        assert B.assignment() == sorted(B.assigned)
        read_by = {name: {p for (p, _), n in owner.items() if n == name}
                   for name in ("a", "b")}
        assert read_by["a"] and read_by["b"], \
            "one member read nothing: %s" % read_by

        # Both commit where they are; B leaves (close() sends LeaveGroup).
        assert A.commit_positions() == []
        assert B.commit_positions() == []
        a_before = set(A.assigned)
        B.close()

        redelivered = []
        poll_until([A], lambda: len(A.assigned) == PARTS, 20,
                   "remaining member takes over all partitions",
                   lambda m, msg: redelivered.append(
                       (msg.partition(), msg.offset())))
        assert A.assignment() == _tps(topic)
        assert set(A.assigned) > a_before

        # New messages on every partition reach A, each once, starting
        # exactly at the end B (and A) committed.
        M = 400
        gu.produce_fast(b.bootstrap, topic, M, PARTS, start=N,
                        value=lambda i: b"new-%d" % i)
        new = {p: [] for p in range(PARTS)}

        def on_new(m, msg):
            if msg.value().startswith(b"new-"):
                new[msg.partition()].append(msg.offset())
            else:
                redelivered.append((msg.partition(), msg.offset()))
        poll_until([A], lambda: sum(map(len, new.values())) >= M, 30,
                   "new messages after the takeover", on_new)
        t_end = time.monotonic() + 0.5
        poll_until([A], lambda: time.monotonic() > t_end, 5, "drain",
                   on_new)
        assert not redelivered, \
            "old messages re-delivered after the takeover: %s" % (
                redelivered[:10],)
        for p in range(PARTS):
            assert new[p] == list(range(per, per + M // PARTS)), \
                "partition %d after takeover: %s..." % (p, new[p][:5])
        assert not A.commit_errors, A.commit_errors
    finally:
        A.close()
        if B is not None:
            B.close()


@pytest.mark.deadline(60)
def test_silent_member_expires_after_session_timeout(broker1):
    """A member that stops heartbeating (its connection still open) stays
    in the group while it heartbeats, and is removed once
    session.timeout.ms passes without one; the other member then gets its
    partitions."""
    b = broker1
    topic = create_topic(b.bootstrap, unique_topic("grp-session"), PARTS)
    group = unique_topic("g-session")
    A = Member("a", b.bootstrap, group, [topic])
    X = gu.RawMember(b.addr, group, [topic], {topic: PARTS})
    try:
        poll_until([A], lambda: len(A.assigned) == PARTS, 20,
                   "first member gets everything")
        X.start_join()
        poll_until([A], lambda: X.step() == "stable" and
                   len(A.assigned) == 2, 20, "raw member joins: 2 + 2")
        assert set(X.assignment[topic]) | {p for _, p in A.assigned} == \
            set(range(PARTS)), (X.assignment, A.assigned)
        events = list(A.events)

        # Heartbeats every second for longer than the session timeout.
        t_end = time.monotonic() + gu.SESSION_TIMEOUT_MS / 1000 + 1.5
        last = [0.0]

        def beat():
            if time.monotonic() - last[0] >= 1.0:
                assert X.heartbeat() == 0, X.history
                last[0] = time.monotonic()
            return time.monotonic() > t_end
        poll_until([A], beat, 20, "heartbeating member stays")
        assert A.events == events, "rebalance while every member " \
            "heartbeats:\n%s" % "\n".join(A.journal())

        # Silence: removed after the session timeout, not before.
        t0 = last[0]
        poll_until([A], lambda: len(A.assigned) == PARTS, 20,
                   "silent member removed")
        took = time.monotonic() - t0
        assert took >= gu.SESSION_TIMEOUT_MS / 1000 - 0.5, \
            "removed %.1f s after its last heartbeat" % took
        assert X.heartbeat() == gu.UNKNOWN_MEMBER_ID
        d = gu.wait_group_state(b.addr, group, {"Stable"}, members=1)
        assert [m["client_id"] for m in d["members"]] == ["strata-it-a"]
    finally:
        A.close()
        X.close()


# ---------------------------------------------- committed offsets, restarts


@pytest.mark.deadline(150)
def test_committed_offsets_survive_restart_and_kill9(start_broker):
    b = start_broker(BROKER_SETTINGS)
    topic = create_topic(b.bootstrap, unique_topic("grp-restart"), PARTS)
    per = 2500
    gu.produce_fast(b.bootstrap, topic, per * PARTS, PARTS)
    group = unique_topic("g-restart")
    tps = _tps(topic)

    def resume_check(name, start):
        """A new member of the group reads from exactly `start` (per
        partition) to the end: nothing before it, nothing missed, nothing
        twice. Returns the member (still open)."""
        got = {p: [] for p in range(PARTS)}
        m = Member(name, b.bootstrap, group, [topic], commit_on_revoke=False)
        want = sum(per - start[p] for p in range(PARTS))
        poll_until([m], lambda: sum(map(len, got.values())) >= want, 40,
                   "%s resumes at %s" % (name, start),
                   lambda _, msg: got[msg.partition()].append(msg.offset()))
        t_end = time.monotonic() + 0.5
        poll_until([m], lambda: time.monotonic() > t_end, 5, "drain",
                   lambda _, msg: got[msg.partition()].append(msg.offset()))
        for p in range(PARTS):
            assert got[p] == list(range(start[p], per)), \
                "%s partition %d: read %s..%s (%d), committed %d" % (
                    name, p, got[p][:3], got[p][-3:], len(got[p]), start[p])
        return m

    # Groups of simple commits (with metadata) spread over the offsets
    # topic's partitions, hence over both shards: all must come back.
    many = {"%s-m%02d" % (group, i): i for i in range(30)}
    with GroupWire(b.addr) as gw:
        for g, i in many.items():
            tp = (topic, i % PARTS)
            assert gw.offset_commit(g, [tp + (10 + i, "m%d" % i)]) == \
                {tp: 0}

    def check_many(when):
        with GroupWire(b.addr) as gw:
            for g, i in many.items():
                assert gw.offset_fetch_ready(g, None) == \
                    (0, {(topic, i % PARTS): (10 + i, "m%d" % i, 0)}), \
                    "group %s %s" % (g, when)

    # A reads everything, then commits offsets in the middle of each
    # partition (different ones, so a mix-up between partitions shows).
    A = Member("a", b.bootstrap, group, [topic], commit_on_revoke=False)
    try:
        poll_until([A], lambda: A.received >= per * PARTS, 40,
                   "first member reads everything")
        c1 = {p: 1000 + 111 * p for p in range(PARTS)}
        assert A.commit([TopicPartition(topic, p, c1[p])
                         for p in range(PARTS)]) == []
        assert gu.committed(b.bootstrap, group, tps) == \
            {(topic, p): c1[p] for p in range(PARTS)}
    finally:
        A.close()

    # Clean restart: the offsets come back from __consumer_offsets.
    assert b.stop() == []
    b.restart()
    assert gu.committed(b.bootstrap, group, tps) == \
        {(topic, p): c1[p] for p in range(PARTS)}, "after clean restart"
    check_many("after clean restart")
    C = resume_check("c", c1)
    try:
        # A synchronous commit, acknowledged, then kill -9 at once.
        c2 = {p: 2000 + 7 * p for p in range(PARTS)}
        assert C.commit([TopicPartition(topic, p, c2[p])
                         for p in range(PARTS)]) == []
        b.kill9()
        b.restart()
    finally:
        C.close()  # after the restart: it can leave the group cleanly
    assert gu.committed(b.bootstrap, group, tps) == \
        {(topic, p): c2[p] for p in range(PARTS)}, "after kill -9"
    check_many("after kill -9")
    D = resume_check("d", c2)
    D.close()

    # Deleting the (now empty) group deletes its offsets, durably.
    gu.wait_group_state(b.addr, group, {"Empty"}, members=0)
    assert _delete_group(b.bootstrap, group) == 0
    assert gu.committed(b.bootstrap, group, tps) == \
        {(topic, p): None for p in range(PARTS)}
    b.kill9()
    b.restart()
    assert gu.committed(b.bootstrap, group, tps) == \
        {(topic, p): None for p in range(PARTS)}, \
        "deleted group's offsets back after a restart"
    with GroupWire(b.addr) as gw:
        err, offs = gw.offset_fetch_ready(group, None)
        assert (err, offs) == (0, {})


# ------------------------------------------------------------------- admin


@pytest.mark.deadline(90)
def test_admin_list_describe_delete(broker1):
    b = broker1
    topic = create_topic(b.bootstrap, unique_topic("grp-admin"), PARTS)
    gu.produce_fast(b.bootstrap, topic, 400, PARTS)
    group = unique_topic("g-admin")
    A = Member("adm-a", b.bootstrap, group, [topic], commit_on_revoke=False)
    B = Member("adm-b", b.bootstrap, group, [topic], commit_on_revoke=False)
    try:
        poll_until([A, B], lambda: _read_up_to(A, 100) and
                   _read_up_to(B, 100), 30,
                   "two members with two partitions each, read to the end")
        assert A.commit_positions() == [] and B.commit_positions() == []
        gu.wait_group_state(b.addr, group, {"Stable"}, members=2)

        listed = admin(b.bootstrap).list_groups(timeout=15)
        mine = [g for g in listed if g.id == group]
        assert len(mine) == 1, "ListGroups: %s" % listed
        g = _describe(b.bootstrap, group)
        assert g is not None and g.error is None, g
        assert (g.state, g.protocol_type, g.protocol) == \
            ("Stable", "consumer", "range")
        by_client = {m.client_id: m for m in g.members}
        assert set(by_client) == {"strata-it-adm-a", "strata-it-adm-b"}
        assert len({m.id for m in g.members}) == 2
        for mem, who in ((by_client["strata-it-adm-a"], A),
                         (by_client["strata-it-adm-b"], B)):
            assert gu.decode_subscription(mem.metadata) == [topic]
            assert gu.decode_assignment(mem.assignment) == \
                {topic: sorted(p for _, p in who.assigned)}
            assert mem.client_host, "empty client host"

        # The raw view agrees (DescribeGroups at the highest version).
        with GroupWire(b.addr) as gw:
            (d,) = gw.describe([group])
        assert (d["error"], d["state"], d["protocol_type"],
                d["protocol"]) == (0, "Stable", "consumer", "range")
        assert {m["member_id"] for m in d["members"]} == \
            {m.id for m in g.members}

        # Not while it has members.
        assert _delete_group(b.bootstrap, group) == gu.NON_EMPTY_GROUP
        want = {(topic, p): 100 for p in range(PARTS)}
        assert gu.committed(b.bootstrap, group, _tps(topic)) == want
    finally:
        A.close()
        B.close()

    gu.wait_group_state(b.addr, group, {"Empty"}, members=0)
    g = _describe(b.bootstrap, group)
    assert g is not None and (g.state, len(g.members)) == ("Empty", 0), g
    assert gu.committed(b.bootstrap, group, _tps(topic)) == want

    assert _delete_group(b.bootstrap, group) == 0
    assert gu.committed(b.bootstrap, group, _tps(topic)) == \
        {(topic, p): None for p in range(PARTS)}
    g = _describe(b.bootstrap, group)
    assert g is None or g.state == "Dead", \
        "deleted group still listed: %s %s" % (g, g.state)
    assert _delete_group(b.bootstrap, group) == gu.GROUP_ID_NOT_FOUND

    # Newer confluent-kafka: the offsets admin calls too.
    if hasattr(AdminClient, "alter_consumer_group_offsets"):
        from confluent_kafka import ConsumerGroupTopicPartitions
        a = admin(b.bootstrap)
        req = ConsumerGroupTopicPartitions(
            group, [TopicPartition(topic, p, 10 + p) for p in range(PARTS)])
        a.alter_consumer_group_offsets([req])[group].result(20)
        res = a.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)])[group].result(20)
        assert sorted((t.partition, t.offset) for t in
                      res.topic_partitions) == \
            [(p, 10 + p) for p in range(PARTS)]


# -------------------------------------------------------- commit metadata


def test_commit_metadata_roundtrip(broker1):
    """The metadata string of a commit comes back with OffsetFetch, at
    every OffsetCommit version that carries it."""
    b = broker1
    topic = create_topic(b.bootstrap, unique_topic("grp-meta"), 2)
    group = unique_topic("g-meta")
    tp0 = TopicPartition(topic, 0, 5)
    if hasattr(tp0, "metadata"):  # confluent-kafka >= 2.x
        meta = "strata-\u00fc-meta"
        c = Consumer(gu.member_conf(b.bootstrap, group))
        try:
            c.commit(offsets=[TopicPartition(topic, 0, 5, metadata=meta)],
                     asynchronous=False)
            (r,) = c.committed([TopicPartition(topic, 0)], timeout=10)
            assert (r.offset, r.metadata) == (5, meta)
        finally:
            c.close()

    with GroupWire(b.addr) as gw:
        top = gw.version(gu.OFFSET_COMMIT)
        for v in range(0, top + 1):
            g = "%s-v%d" % (group, v)
            meta = "m\u00fc-v%d-%s" % (v, "x" * (v * 10))
            res = gw.offset_commit(g, [(topic, 0, 5 + v, meta),
                                       (topic, 1, 70 + v, None)], v=v)
            assert res == {(topic, 0): 0, (topic, 1): 0}, "commit v%d" % v
            for fv in range(1, gw.version(gu.OFFSET_FETCH) + 1):
                err, offs = gw.offset_fetch_ready(g, {topic: [0, 1]}, v=fv)
                assert err == 0
                assert offs[(topic, 0)] == (5 + v, meta, 0), \
                    "commit v%d fetch v%d" % (v, fv)
                off1, meta1, err1 = offs[(topic, 1)]
                assert (off1, err1) == (70 + v, 0)
                assert meta1 in ("", None), \
                    "null metadata fetched as %r" % meta1
            if v == top:  # librdkafka reads the same offsets
                assert gu.committed(b.bootstrap, g, _tps(topic, 2)) == \
                    {(topic, 0): 5 + v, (topic, 1): 70 + v}
        # Kafka refuses metadata longer than offset.metadata.max.bytes
        # (4096) with OFFSET_METADATA_TOO_LARGE, per partition.
        res = gw.offset_commit(group, [(topic, 0, 1, "y" * 5000),
                                       (topic, 1, 2, "ok")])
        assert res == {(topic, 0): 12, (topic, 1): 0}, res


# -------------------------------------------------------- static members


@pytest.mark.deadline(90)
def test_static_member_rejoins_without_rebalance(broker1):
    """A member with group.instance.id that restarts within its session
    timeout takes its old member's place: same partitions, no rebalance,
    so the other member is never revoked. (librdkafka's close() of a
    static member sends no LeaveGroup.)"""
    b = broker1
    topic = create_topic(b.bootstrap, unique_topic("grp-static"), PARTS)
    gu.produce_fast(b.bootstrap, topic, 40, PARTS)
    group = unique_topic("g-static")
    S1 = Member("s1", b.bootstrap, group, [topic],
                **{"group.instance.id": "inst-1"})
    S2 = Member("s2", b.bootstrap, group, [topic],
                **{"group.instance.id": "inst-2"})
    S1b = None
    try:
        poll_until([S1, S2], lambda: len(S1.assigned) == 2 and
                   len(S2.assigned) == 2 and S1.received + S2.received >= 40,
                   30, "two static members, two partitions each")
        d = gu.wait_group_state(b.addr, group, {"Stable"}, members=2)
        ids = {m["instance_id"]: m["member_id"] for m in d["members"]}
        assert set(ids) == {"inst-1", "inst-2"}, d["members"]
        s1_parts = set(S1.assigned)
        s2_events = list(S2.events)

        S1.close()  # no LeaveGroup: the group keeps inst-1's place
        d = gu.wait_group_state(b.addr, group, {"Stable"}, members=2)
        assert {m["instance_id"]: m["member_id"] for m in d["members"]} \
            == ids, "static member left the group on close()"

        S1b = Member("s1b", b.bootstrap, group, [topic],
                     **{"group.instance.id": "inst-1"})
        poll_until([S1b, S2], lambda: S1b.assigned, 20,
                   "restarted static member gets an assignment")
        # Give a rebalance, if any, time to reach S2 (heartbeats 500 ms).
        t_end = time.monotonic() + 3.0
        poll_until([S1b, S2], lambda: time.monotonic() > t_end, 10,
                   "observation")

        assert S2.events == s2_events, \
            "the other member saw a rebalance:\n%s" % "\n".join(
                S2.journal())
        assert S1b.assigned == s1_parts, \
            "restarted static member got %s, had %s" % (
                sorted(S1b.assigned), sorted(s1_parts))
        assert [e[1] for e in S1b.events] == ["assign"], S1b.journal()

        d = gu.wait_group_state(b.addr, group, {"Stable"}, members=2)
        now = {m["instance_id"]: m["member_id"] for m in d["members"]}
        assert set(now) == {"inst-1", "inst-2"}
        assert now["inst-2"] == ids["inst-2"]
        assert now["inst-1"] != ids["inst-1"], \
            "rejoin kept the old member id (old instance not fenced)"
        parts = gu.assignment_of(d, topic)
        assert parts[now["inst-1"]] == sorted(p for _, p in s1_parts)
        assert S1b.commit_errors == [] and S2.commit_errors == []
    finally:
        S1.close()
        S2.close()
        if S1b is not None:
            S1b.close()


@pytest.mark.deadline(60)
def test_deleted_topic_offsets_are_removed(broker1):
    """Deleting a topic deletes every group's committed offsets for it, as
    Kafka does when it deletes the partitions: a group reading a re-created
    topic of the same name must not skip messages at an offset it
    committed on the old one."""
    b = broker1
    topic = create_topic(b.bootstrap, unique_topic("grp-deltopic"), 1)
    keep = create_topic(b.bootstrap, unique_topic("grp-keep"), 1)
    group = unique_topic("g-deltopic")
    with GroupWire(b.addr) as gw:
        assert gw.offset_commit(group, [(topic, 0, 3, None),
                                        (keep, 0, 2, None)]) == \
            {(topic, 0): 0, (keep, 0): 0}
    a = admin(b.bootstrap)
    a.delete_topics([topic], operation_timeout=15)[topic].result(20)
    deadline = time.monotonic() + 15
    while topic in a.list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, "topic not deleted"
        time.sleep(0.1)
    with GroupWire(b.addr) as gw:
        deadline = time.monotonic() + 5
        while True:
            err, offs = gw.offset_fetch_ready(group, None)
            if (err, sorted(offs)) == (0, [(keep, 0)]) or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert (err, offs) == (0, {(keep, 0): (2, None, 0)}) or \
            (err, offs) == (0, {(keep, 0): (2, "", 0)}), \
            "offsets of the deleted topic still committed: %s" % (offs,)

    create_topic(b.bootstrap, topic, 1)
    gu.produce_fast(b.bootstrap, topic, 10, 1)
    m = Member("deltopic", b.bootstrap, group, [topic],
               commit_on_revoke=False)
    got = []
    try:
        poll_until([m], lambda: len(got) >= 10, 20,
                   "re-created topic read from the start",
                   lambda _, msg: got.append(msg.offset()))
    finally:
        m.close()
    assert got == list(range(10))


# ---------------------------------------------- what no client here sends


def test_wire_group_errors_and_offset_delete(broker1):
    """Answers the installed clients cannot ask for: DescribeGroups and
    DeleteGroups of unknown groups, OffsetFetch with null topics (every
    committed offset), OffsetDelete on empty and on active groups."""
    b = broker1
    topic = create_topic(b.bootstrap, unique_topic("grp-wire"), 2)
    other = create_topic(b.bootstrap, unique_topic("grp-wire-o"), 1)
    missing = unique_topic("g-missing")
    with GroupWire(b.addr) as gw:
        (d,) = gw.describe([missing])
        assert (d["error"], d["state"], d["members"]) == (0, "Dead", [])
        assert gw.delete_groups([missing]) == \
            {missing: gu.GROUP_ID_NOT_FOUND}
        err, offs = gw.offset_fetch_ready(missing, None)
        assert (err, offs) == (0, {})
        err, parts = gw.offset_delete(missing, {topic: [0]})
        assert err == gu.GROUP_ID_NOT_FOUND

        # Batches: one answer per group, in order, whichever shard owns
        # each group.
        batch = [unique_topic("g-batch") for _ in range(10)]
        for i, g in enumerate(batch[:6]):
            assert gw.offset_commit(g, [(topic, 0, i, None)]) == \
                {(topic, 0): 0}
        d = gw.describe(batch)
        assert [(x["group"], x["error"], x["state"]) for x in d] == \
            [(g, 0, "Empty" if i < 6 else "Dead")
             for i, g in enumerate(batch)]
        assert gw.delete_groups(batch[3:8]) == dict(
            [(g, 0) for g in batch[3:6]] +
            [(g, gu.GROUP_ID_NOT_FOUND) for g in batch[6:8]])
        listed = gw.list_groups()[1]
        assert [g in listed for g in batch] == [True] * 3 + [False] * 7

        # A group of "simple" commits (no members): Empty.
        g = unique_topic("g-wire")
        res = gw.offset_commit(g, [(topic, 0, 3, "a"), (topic, 1, 4, "b"),
                                   (other, 0, 9, None)])
        assert set(res.values()) == {0}, res
        err, offs = gw.offset_fetch_ready(g, None)
        assert err == 0
        assert {k: v[0] for k, v in offs.items()} == \
            {(topic, 0): 3, (topic, 1): 4, (other, 0): 9}
        assert gw.describe_one(g)["state"] == "Empty"
        assert g in gw.list_groups()[1]

        err, parts = gw.offset_delete(g, {topic: [0]})
        assert (err, parts) == (0, {(topic, 0): 0})
        err, offs = gw.offset_fetch_ready(g, None)
        assert {k: v[0] for k, v in offs.items()} == \
            {(topic, 1): 4, (other, 0): 9}
        err, offs = gw.offset_fetch_ready(g, {topic: [0]})
        assert offs[(topic, 0)][0] == -1

    # An active consumer group subscribed to `topic`: its offsets for that
    # topic cannot be deleted, those of another topic can.
    g = unique_topic("g-wire-active")
    with GroupWire(b.addr) as gw:
        gw.offset_commit(g, [(other, 0, 1, None)])
    m = Member("wire", b.bootstrap, g, [topic], commit_on_revoke=False)
    try:
        poll_until([m], lambda: len(m.assigned) == 2, 20, "member joins")
        assert m.commit([TopicPartition(topic, 0, 1)]) == []
        with GroupWire(b.addr) as gw:
            err, parts = gw.offset_delete(g, {topic: [0], other: [0]})
            assert err == 0
            assert parts == {(topic, 0): gu.GROUP_SUBSCRIBED_TO_TOPIC,
                             (other, 0): 0}, parts
            err, offs = gw.offset_fetch_ready(g, None)
            assert {k: v[0] for k, v in offs.items()} == {(topic, 0): 1}
            assert gw.delete_groups([g]) == {g: gu.NON_EMPTY_GROUP}
    finally:
        m.close()


def _wait_heartbeat(gw, group, generation, member_id, want, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        err = gw.heartbeat(group, generation, member_id)
        if err == want:
            return
        assert time.monotonic() < deadline, \
            "heartbeat answers %d, expected %d" % (err, want)
        time.sleep(0.1)


def _readable(gw, wait=0.0):
    return bool(select.select([gw.conn.sock], [], [], wait)[0])


@pytest.mark.deadline(60)
def test_wire_membership_protocol(broker1):
    """Kafka's classic protocol step by step, with the errors clients
    rely on: MEMBER_ID_REQUIRED, generations, the leader keeping its role,
    protocol selection among the members' common protocols, the follower's
    SyncGroup waiting for the leader's, commits by members only and not
    while the assignment is being decided, INCONSISTENT_GROUP_PROTOCOL,
    LeaveGroup, and static members fencing their predecessor."""
    b = broker1
    topic = create_topic(b.bootstrap, unique_topic("grp-proto"), 2)
    group = unique_topic("g-proto")
    sub = gu.encode_subscription([topic])
    both = [("range", sub), ("roundrobin", sub)]
    rr = [("roundrobin", sub)]
    enc = gu.encode_assignment
    with GroupWire(b.addr) as m1, GroupWire(b.addr) as m2, \
            GroupWire(b.addr) as m3:
        # JoinGroup v4+: no member id yet -> one is handed out, no join.
        r = m1.join(group, "", both)
        assert r["error"] == gu.MEMBER_ID_REQUIRED and r["member_id"], r
        id1 = r["member_id"]
        assert m1.describe_one(group)["members"] == []
        r = m1.join(group, id1, both)
        assert (r["error"], r["generation"], r["protocol"], r["leader"],
                r["member_id"]) == (0, 1, "range", id1, id1), r
        assert r["members"] == [(id1, None, sub)]
        assert m1.sync(group, 1, id1, [(id1, enc({topic: [0, 1]}))]) == \
            (0, enc({topic: [0, 1]}))
        d = m1.describe_one(group)
        assert (d["state"], d["protocol"]) == ("Stable", "range")
        assert [(m["member_id"], m["metadata"], m["assignment"])
                for m in d["members"]] == [(id1, sub, enc({topic: [0, 1]}))]

        assert m1.heartbeat(group, 1, id1) == 0
        assert m1.heartbeat(group, 2, id1) == gu.ILLEGAL_GENERATION
        assert m1.heartbeat(group, 1, "nobody") == gu.UNKNOWN_MEMBER_ID
        t0, t1 = (topic, 0), (topic, 1)
        assert m1.offset_commit(group, [(topic, 0, 5, None)], generation=1,
                                member_id=id1) == {t0: 0}
        assert m1.offset_commit(group, [(topic, 0, 6, None)], generation=0,
                                member_id=id1) == {t0: gu.ILLEGAL_GENERATION}
        assert m1.offset_commit(group, [(topic, 0, 6, None)], generation=1,
                                member_id="nobody") == \
            {t0: gu.UNKNOWN_MEMBER_ID}
        # Commits without a member are for groups without members.
        assert m1.offset_commit(group, [(topic, 0, 6, None)]) == \
            {t0: gu.UNKNOWN_MEMBER_ID}

        # A second member, supporting only roundrobin, triggers a
        # rebalance; its JoinGroup waits until m1 has rejoined.
        r = m2.join(group, "", rr)
        assert r["error"] == gu.MEMBER_ID_REQUIRED
        id2 = r["member_id"]
        m2.join_send(group, id2, rr)
        _wait_heartbeat(m1, group, 1, id1, gu.REBALANCE_IN_PROGRESS)
        assert m1.describe_one(group)["state"] == "PreparingRebalance"
        assert not _readable(m2), "JoinGroup answered before the rebalance"
        # While preparing, the current generation may still commit.
        assert m1.offset_commit(group, [(topic, 1, 9, None)], generation=1,
                                member_id=id1) == {t1: 0}
        r1 = m1.join(group, id1, both)
        r2 = m2.join_recv()
        for r in (r1, r2):
            assert (r["error"], r["generation"], r["protocol"],
                    r["leader"]) == (0, 2, "roundrobin", id1), r
        assert sorted(r1["members"]) == sorted([(id1, None, sub),
                                                (id2, None, sub)])
        assert r2["members"] == [], "follower got the member list"
        assert (r1["member_id"], r2["member_id"]) == (id1, id2)

        m2.sync_send(group, 2, id2)
        assert not _readable(m2, 0.3), "follower synced before the leader"
        assert m1.describe_one(group)["state"] == "CompletingRebalance"
        assert m1.offset_commit(group, [(topic, 0, 7, None)], generation=2,
                                member_id=id1) == \
            {t0: gu.REBALANCE_IN_PROGRESS}
        a1, a2 = enc({topic: [0]}), enc({topic: [1]})
        assert m1.sync(group, 2, id1, [(id1, a1), (id2, a2)]) == (0, a1)
        assert m2.sync_recv() == (0, a2)
        d = m1.describe_one(group)
        assert (d["state"], d["protocol"]) == ("Stable", "roundrobin")
        assert gu.assignment_of(d, topic) == {id1: [0], id2: [1]}
        assert m1.heartbeat(group, 2, id1) == 0
        assert m2.heartbeat(group, 2, id2) == 0

        # Joiners the group cannot take.
        r = m3.join(group, "", [("range", sub)], protocol_type="connect")
        assert r["error"] == gu.INCONSISTENT_GROUP_PROTOCOL, r
        r = m3.join(group, "", [("sticky", sub)])
        assert r["error"] == gu.INCONSISTENT_GROUP_PROTOCOL, r
        assert len(m1.describe_one(group)["members"]) == 2

        # The leader leaves; the other member rebalances alone, leads.
        assert m1.leave(group, [(id1, None)]) == (0, [(id1, None, 0)])
        _wait_heartbeat(m2, group, 2, id2, gu.REBALANCE_IN_PROGRESS)
        r = m2.join(group, id2, rr)
        assert (r["error"], r["generation"], r["leader"], r["members"]) == \
            (0, 3, id2, [(id2, None, sub)]), r
        assert m2.sync(group, 3, id2, [(id2, enc({topic: [0, 1]}))]) == \
            (0, enc({topic: [0, 1]}))
        assert m1.heartbeat(group, 2, id1) == gu.UNKNOWN_MEMBER_ID
        assert m1.leave(group, [("nobody", None)]) == \
            (0, [("nobody", None, gu.UNKNOWN_MEMBER_ID)])
        assert m2.leave(group, [(id2, None)]) == (0, [(id2, None, 0)])
        d = m1.describe_one(group)
        assert (d["state"], d["members"]) == ("Empty", [])
        err, offs = m1.offset_fetch(group, {topic: [0, 1]})
        assert (err, offs[t0][0], offs[t1][0]) == (0, 5, 9)

        # Static membership: a rejoin with the same group.instance.id
        # takes the place of the old member id (no rebalance, same
        # generation and assignment) and fences the old id.
        gs = unique_topic("g-proto-static")
        r = m1.join(gs, "", both, instance_id="static-1")
        assert (r["error"], r["generation"]) == (0, 1), r
        sid = r["member_id"]
        assert r["leader"] == sid and r["members"] == [(sid, "static-1", sub)]
        asg = enc({topic: [0, 1]})
        assert m1.sync(gs, 1, sid, [(sid, asg)], instance_id="static-1") == \
            (0, asg)
        r = m3.join(gs, "", both, instance_id="static-1", timeout=5)
        assert (r["error"], r["generation"], r["protocol"]) == \
            (0, 1, "range"), r
        sid2 = r["member_id"]
        assert sid2 and sid2 != sid
        assert m3.sync(gs, 1, sid2, [], instance_id="static-1") == (0, asg)
        assert m1.heartbeat(gs, 1, sid, "static-1") == \
            gu.FENCED_INSTANCE_ID
        assert m3.heartbeat(gs, 1, sid2, "static-1") == 0
        assert m1.offset_commit(gs, [(topic, 0, 1, None)], generation=1,
                                member_id=sid, instance_id="static-1") == \
            {t0: gu.FENCED_INSTANCE_ID}
        d = m1.describe_one(gs)
        assert (d["state"], [(m["member_id"], m["instance_id"])
                             for m in d["members"]]) == \
            ("Stable", [(sid2, "static-1")])
        assert m3.leave(gs, [(sid2, "static-1")]) == \
            (0, [(sid2, "static-1", 0)])
        assert m1.describe_one(gs)["state"] == "Empty"

        # A member that does not rejoin within the rebalance timeout is
        # dropped from the rebalance (well before its session timeout).
        gt = unique_topic("g-proto-rto")
        kw_ = dict(rebalance_ms=1500, session_ms=gu.SESSION_TIMEOUT_MS)
        r = m1.join(gt, "", both, **kw_)
        r = m1.join(gt, r["member_id"], both, **kw_)
        assert (r["error"], r["generation"]) == (0, 1), r
        tid = r["member_id"]
        assert m1.sync(gt, 1, tid, [(tid, asg)])[0] == 0
        r = m2.join(gt, "", both, **kw_)
        t_start = time.monotonic()
        r = m2.join(gt, r["member_id"], both, timeout=10, **kw_)
        took = time.monotonic() - t_start
        assert (r["error"], r["generation"], r["leader"]) == \
            (0, 2, r["member_id"]), r
        assert [m for m, _, _ in r["members"]] == [r["member_id"]]
        assert 1.0 <= took < gu.SESSION_TIMEOUT_MS / 1000 - 1, \
            "rebalance completed after %.1f s (rebalance timeout 1.5 s)" \
            % took
        assert m1.heartbeat(gt, 1, tid) == gu.UNKNOWN_MEMBER_ID
