"""The group coordinator at the wire level, with hand-built frames.

Real clients (test_groups_*.py) cover the paths they take; these tests pin
the answers Kafka gives to what clients rarely send or cannot be made to
send on cue: MEMBER_ID_REQUIRED on a v4+ first join, errors for unknown
members and stale generations, commit metadata that is too long, commits
for unknown topics, v2 commits with their own retention time, OffsetFetch
of every committed offset (null topics), deletes of non-empty groups, the
internal topic refusing deletion. They also check what only the broker's
files can show: offsets survive kill -9, and __consumer_offsets stays small
under a stream of commits (compaction) yet replays to the last commit.
"""

import os
import time

import pytest

import kafka_wire as kw
from it_util import create_topic, total_size, unique_topic

FIND_COORDINATOR, JOIN, HEARTBEAT, LEAVE, SYNC = 10, 11, 12, 13, 14
DESCRIBE, LIST, DELETE_GROUPS, OFFSET_DELETE = 15, 16, 42, 47
OFFSET_COMMIT, OFFSET_FETCH, DELETE_TOPICS = 8, 9, 20

NONE, UNKNOWN_TOPIC, INVALID_TOPIC = 0, 3, 17
OFFSET_METADATA_TOO_LARGE = 12
ILLEGAL_GENERATION, INVALID_GROUP_ID, UNKNOWN_MEMBER_ID = 22, 24, 25
INVALID_SESSION_TIMEOUT, REBALANCE_IN_PROGRESS = 26, 27
NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, MEMBER_ID_REQUIRED = 68, 69, 79
COORDINATOR_NOT_AVAILABLE = 15

BROKER_SETTINGS = {
    "group.initial.rebalance.delay.ms": 0,
    "offsets.topic.num.partitions": 8,
    "auto.create.topics.enable": "false",
}


def W():
    return kw.Writer()


# ---------------------------------------------------------------- requests


def find_coordinator(c, key, key_type=0, version=2):
    w = W().string(key)
    if version >= 1:
        w.i8(key_type)
    r = c.request(FIND_COORDINATOR, version, w.getvalue())
    if version >= 1:
        r.i32()
    err = r.i16()
    msg = r.string() if version >= 1 else None
    return err, msg, r.i32(), r.string(), r.i32()


def join(c, group, member="", instance=None, session=10000, rebalance=10000,
         protocols=(("range", b"meta"),), ptype="consumer", version=5):
    w = W().string(group).i32(session)
    if version >= 1:
        w.i32(rebalance)
    w.string(member)
    if version >= 5:
        w.string(instance)
    w.string(ptype)
    w.array_len(len(protocols))
    for name, meta in protocols:
        w.string(name).bytes_(meta)
    r = c.request(JOIN, version, w.getvalue(), timeout=30)
    if version >= 2:
        r.i32()
    out = {"error": r.i16(), "generation": r.i32(), "protocol": r.string(),
           "leader": r.string(), "member": r.string()}
    members = []
    for _ in range(r.array_len()):
        mid = r.string()
        iid = r.string() if version >= 5 else None
        members.append((mid, iid, r.bytes_()))
    out["members"] = members
    return out


def sync(c, group, generation, member, assignments=(), instance=None,
         version=3):
    w = W().string(group).i32(generation).string(member)
    if version >= 3:
        w.string(instance)
    w.array_len(len(assignments))
    for mid, a in assignments:
        w.string(mid).bytes_(a)
    r = c.request(SYNC, version, w.getvalue(), timeout=30)
    if version >= 1:
        r.i32()
    return r.i16(), r.bytes_()


def heartbeat(c, group, generation, member, version=3):
    w = W().string(group).i32(generation).string(member)
    if version >= 3:
        w.string(None)
    r = c.request(HEARTBEAT, version, w.getvalue())
    if version >= 1:
        r.i32()
    return r.i16()


def leave(c, group, members, version=3):
    w = W().string(group)
    if version >= 3:
        w.array_len(len(members))
        for m in members:
            w.string(m).string(None)
    else:
        w.string(members[0])
    r = c.request(LEAVE, version, w.getvalue())
    if version >= 1:
        r.i32()
    top = r.i16()
    per = []
    if version >= 3:
        for _ in range(r.array_len()):
            per.append((r.string(), r.string(), r.i16()))
    return top, per


def describe(c, groups, version=4):
    w = W().array_len(len(groups))
    for g in groups:
        w.string(g)
    if version >= 3:
        w.boolean(False)
    r = c.request(DESCRIBE, version, w.getvalue())
    if version >= 1:
        r.i32()
    out = []
    for _ in range(r.array_len()):
        d = {"error": r.i16(), "group": r.string(), "state": r.string(),
             "ptype": r.string(), "protocol": r.string(), "members": []}
        for _ in range(r.array_len()):
            m = {"member": r.string()}
            if version >= 4:
                m["instance"] = r.string()
            m["client"] = r.string()
            m["host"] = r.string()
            m["metadata"] = r.bytes_()
            m["assignment"] = r.bytes_()
            d["members"].append(m)
        if version >= 3:
            r.i32()
        out.append(d)
    return out


def list_groups(c, version=2):
    r = c.request(LIST, version, b"")
    if version >= 1:
        r.i32()
    err = r.i16()
    return err, [(r.string(), r.string()) for _ in range(r.array_len())]


def delete_groups(c, groups, version=1):
    w = W().array_len(len(groups))
    for g in groups:
        w.string(g)
    r = c.request(DELETE_GROUPS, version, w.getvalue())
    r.i32()
    return {r.string(): r.i16() for _ in range(r.array_len())}


def commit(c, group, offsets, generation=-1, member="", version=7,
           retention_ms=-1):
    """offsets: {(topic, partition): (offset, metadata)}"""
    w = W().string(group)
    if version >= 1:
        w.i32(generation).string(member)
    if version >= 7:
        w.string(None)
    if 2 <= version <= 4:
        w.i64(retention_ms)
    topics = {}
    for (t, p), v in offsets.items():
        topics.setdefault(t, []).append((p, v))
    w.array_len(len(topics))
    for t, parts in topics.items():
        w.string(t).array_len(len(parts))
        for p, (off, meta) in parts:
            w.i32(p).i64(off)
            if version >= 6:
                w.i32(-1)
            if version == 1:
                w.i64(-1)
            w.string(meta)
    r = c.request(OFFSET_COMMIT, version, w.getvalue())
    if version >= 3:
        r.i32()
    out = {}
    for _ in range(r.array_len()):
        t = r.string()
        for _ in range(r.array_len()):
            p = r.i32()
            out[(t, p)] = r.i16()
    return out


def fetch_offsets(c, group, parts=None, version=5):
    """parts: {topic: [partitions]} or None for every committed offset.
    Returns (top-level error, {(topic, partition): (offset, meta, err)})."""
    w = W().string(group)
    if parts is None:
        w.array_len(None)
    else:
        w.array_len(len(parts))
        for t, ps in parts.items():
            w.string(t).array_len(len(ps))
            for p in ps:
                w.i32(p)
    r = c.request(OFFSET_FETCH, version, w.getvalue())
    if version >= 3:
        r.i32()
    out = {}
    for _ in range(r.array_len()):
        t = r.string()
        for _ in range(r.array_len()):
            p = r.i32()
            off = r.i64()
            if version >= 5:
                r.i32()
            meta = r.string()
            out[(t, p)] = (off, meta, r.i16())
    top = r.i16() if version >= 2 else None
    return top, out


def offset_delete(c, group, parts):
    w = W().string(group).array_len(len(parts))
    for t, ps in parts.items():
        w.string(t).array_len(len(ps))
        for p in ps:
            w.i32(p)
    r = c.request(OFFSET_DELETE, 0, w.getvalue())
    top = r.i16()
    r.i32()
    out = {}
    for _ in range(r.array_len()):
        t = r.string()
        for _ in range(r.array_len()):
            p = r.i32()
            out[(t, p)] = r.i16()
    return top, out


def joined_member(c, group, **kw_):
    """A member that went through MEMBER_ID_REQUIRED and the rebalance."""
    j = join(c, group, **kw_)
    assert j["error"] == MEMBER_ID_REQUIRED and j["member"]
    j = join(c, group, member=j["member"], **kw_)
    assert j["error"] == NONE, j
    return j


def conn(b):
    return kw.Conn(b.addr, timeout=20)


# ------------------------------------------------------------------- tests


def test_find_coordinator(broker):
    with conn(broker) as c:
        for v in (0, 1, 2):
            err, _, node, host, port = find_coordinator(c, "g-find", version=v)
            assert (err, host, port) == (NONE, broker.host, broker.port)
        # Kafka serves "" (old clients commit without a group name)
        err, msg, node, _, _ = find_coordinator(c, "", version=2)
        assert err == NONE
        err, msg, _, _, _ = find_coordinator(c, "txn", key_type=1)
        assert err == COORDINATOR_NOT_AVAILABLE and msg


def test_membership_round_trip(broker):
    g = "g-" + unique_topic()
    with conn(broker) as c:
        j = joined_member(c, g)
        me = j["member"]
        assert j["generation"] == 1 and j["leader"] == me
        assert j["protocol"] == "range"
        assert j["members"] == [(me, None, b"meta")]
        err, a = sync(c, g, 1, me, [(me, b"assignment-1")])
        assert (err, a) == (NONE, b"assignment-1")
        assert heartbeat(c, g, 1, me) == NONE
        assert heartbeat(c, g, 2, me) == ILLEGAL_GENERATION
        assert heartbeat(c, g, 1, "nobody") == UNKNOWN_MEMBER_ID
        assert heartbeat(c, "g-never-" + unique_topic(), 1, me) == \
            UNKNOWN_MEMBER_ID
        # v0 joins, older headers: no MEMBER_ID_REQUIRED before v4
        (d,) = describe(c, [g])
        assert (d["error"], d["state"], d["ptype"], d["protocol"]) == \
            (NONE, "Stable", "consumer", "range")
        assert [m["member"] for m in d["members"]] == [me]
        assert d["members"][0]["host"] == "/127.0.0.1"
        assert d["members"][0]["client"] == "strata-it"
        assert d["members"][0]["assignment"] == b"assignment-1"
        top, per = leave(c, g, [me, "ghost"])
        assert top == NONE
        assert per == [(me, None, NONE), ("ghost", None, UNKNOWN_MEMBER_ID)]
        (d,) = describe(c, [g])
        assert d["state"] == "Empty" and d["members"] == []
        (d,) = describe(c, ["g-unknown-" + unique_topic()])
        assert (d["error"], d["state"]) == (NONE, "Dead")


def test_join_errors(broker):
    g = "g-" + unique_topic()
    with conn(broker) as c:
        assert join(c, g, session=10)["error"] == INVALID_SESSION_TIMEOUT
        assert join(c, g, member="made-up")["error"] == UNKNOWN_MEMBER_ID
        assert join(c, "")["error"] == INVALID_GROUP_ID
        assert heartbeat(c, "", 1, "m") == INVALID_GROUP_ID
        j = join(c, g, version=3)  # no MEMBER_ID_REQUIRED before v4
        assert j["error"] == NONE and j["member"].startswith("strata-it-")


def test_two_members_rebalance(broker):
    """The second member's join sends the first back to rejoin: the
    heartbeat says REBALANCE_IN_PROGRESS, both joins complete together,
    and the leader's assignment reaches the follower."""
    g = "g-" + unique_topic()
    with conn(broker) as c1, conn(broker) as c2:
        a = joined_member(c1, g)
        sync(c1, g, 1, a["member"], [(a["member"], b"all")])
        j2 = join(c2, g)
        assert j2["error"] == MEMBER_ID_REQUIRED
        c2.send(JOIN, 5, W().string(g).i32(10000).i32(10000)
                .string(j2["member"]).string(None).string("consumer")
                .array_len(1).string("range").bytes_(b"m2").getvalue())
        deadline = time.monotonic() + 10
        while heartbeat(c1, g, 1, a["member"]) != REBALANCE_IN_PROGRESS:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        r1 = join(c1, g, member=a["member"])
        r = c2.recv(timeout=20)[3]
        r.i32()
        err2, gen2 = r.i16(), r.i32()
        assert (r1["error"], err2) == (NONE, NONE)
        assert r1["generation"] == gen2 == 2
        assert r1["leader"] == a["member"]
        assert sorted(m[0] for m in r1["members"]) == \
            sorted([a["member"], j2["member"]])
        c2.send(SYNC, 3, W().string(g).i32(2).string(j2["member"])
                .string(None).array_len(0).getvalue())
        err, _ = sync(c1, g, 2, a["member"],
                      [(a["member"], b"half-1"), (j2["member"], b"half-2")])
        assert err == NONE
        r = c2.recv(timeout=20)[3]
        r.i32()
        assert (r.i16(), r.bytes_()) == (NONE, b"half-2")
        assert delete_groups(c1, [g])[g] == NON_EMPTY_GROUP


def test_commit_and_fetch(broker):
    t = unique_topic()
    create_topic(broker.bootstrap, t, partitions=3)
    g = "g-" + unique_topic()
    with conn(broker) as c:
        res = commit(c, g, {(t, 0): (10, "m0"), (t, 2): (30, None),
                            ("no-such-topic", 0): (1, ""),
                            (t, 7): (1, "")})
        assert res == {(t, 0): NONE, (t, 2): NONE,
                       ("no-such-topic", 0): UNKNOWN_TOPIC,
                       (t, 7): UNKNOWN_TOPIC}
        assert commit(c, g, {(t, 1): (5, "x" * 5000)}) == \
            {(t, 1): OFFSET_METADATA_TOO_LARGE}
        top, got = fetch_offsets(c, g, {t: [0, 1, 2]})
        assert top == NONE
        assert got[(t, 0)] == (10, "m0", NONE)
        assert got[(t, 1)][0] == -1
        assert got[(t, 2)] == (30, "", NONE)  # null is stored as ""
        top, everything = fetch_offsets(c, g, None)
        assert (top, sorted(everything)) == (NONE, [(t, 0), (t, 2)])
        for v in (1, 2, 3, 4, 5):
            assert fetch_offsets(c, g, {t: [0]}, version=v)[1][(t, 0)][0] \
                == 10
        for v in (0, 1, 2, 3, 4, 5, 6, 7):
            assert commit(c, g, {(t, 1): (100 + v, "v%d" % v)},
                          version=v) == {(t, 1): NONE}
            assert fetch_offsets(c, g, {t: [1]})[1][(t, 1)][:2] == \
                (100 + v, "v%d" % v)
        # a generation for a group that does not exist
        assert commit(c, "g-none-" + g, {(t, 0): (1, "")}, generation=4,
                      member="m") == {(t, 0): ILLEGAL_GENERATION}
        # "" is a valid group for commits (Kafka keeps it for old clients)
        assert commit(c, "", {(t, 0): (1, "")}) == {(t, 0): NONE}
        assert fetch_offsets(c, "", {t: [0]})[1][(t, 0)][0] == 1
        err, groups = list_groups(c)
        assert err == NONE and (g, "") in groups
        # OffsetDelete of an empty group, then DeleteGroups
        top, res = offset_delete(c, g, {t: [0]})
        assert (top, res) == (NONE, {(t, 0): NONE})
        assert fetch_offsets(c, g, {t: [0]})[1][(t, 0)][0] == -1
        assert delete_groups(c, [g, "g-none-" + g, ""]) == {
            g: NONE, "g-none-" + g: GROUP_ID_NOT_FOUND, "": NONE}
        assert fetch_offsets(c, g, None)[1] == {}
        assert g not in [x for x, _ in list_groups(c)[1]]


def test_member_commits_checked(broker):
    t = unique_topic()
    create_topic(broker.bootstrap, t, partitions=1)
    g = "g-" + unique_topic()
    with conn(broker) as c:
        j = joined_member(c, g)
        me = j["member"]
        sync(c, g, 1, me, [(me, b"")])
        assert commit(c, g, {(t, 0): (3, "")}, generation=1, member=me) == \
            {(t, 0): NONE}
        assert commit(c, g, {(t, 0): (4, "")}, generation=2, member=me) == \
            {(t, 0): ILLEGAL_GENERATION}
        assert commit(c, g, {(t, 0): (4, "")}, generation=1,
                      member="stranger") == {(t, 0): UNKNOWN_MEMBER_ID}
        assert commit(c, g, {(t, 0): (4, "")}) == {(t, 0): UNKNOWN_MEMBER_ID}
        top, _ = offset_delete(c, g, {t: [0]})
        # the member subscribed (metadata b"meta" is not a consumer
        # subscription: unreadable counts as subscribed)
        assert top == NONE
        assert fetch_offsets(c, g, {t: [0]})[1][(t, 0)][0] == 3
        leave(c, g, [me])


def test_internal_topic(broker):
    with conn(broker) as c:
        r = c.request(kw.METADATA, 1, kw.req_metadata(1, ["__consumer_offsets"]))
        md = kw.parse_metadata(r, 1)
        t = md["topics"]["__consumer_offsets"]
        assert t["error"] == NONE and t["internal"] is True
        assert len(t["partitions"]) == 8
        w = W().array_len(1).string("__consumer_offsets").i32(5000)
        r = c.request(DELETE_TOPICS, 1, w.getvalue())
        r.i32()
        assert r.array_len() == 1
        assert (r.string(), r.i16()) == ("__consumer_offsets", INVALID_TOPIC)
        batch = kw.encode_record_batch([(b"k", b"v")])
        r = c.request(kw.PRODUCE, 7, kw.req_produce(
            7, -1, 5000, [("__consumer_offsets", 0, batch)]))
        assert kw.parse_produce(r, 7) == \
            {("__consumer_offsets", 0): (INVALID_TOPIC, -1)}


def _segments(b, partition=0):
    d = os.path.join(b.data_dir, "__consumer_offsets-%d" % partition)
    return sorted(f for f in os.listdir(d) if f.endswith(".log"))


@pytest.mark.deadline(120)
def test_offsets_survive_kill9_and_compaction(start_broker):
    """With one tiny-segment partition, thousands of commits roll the
    segment again and again; compaction keeps only about one segment plus
    the live state, and after kill -9 the replay gives the last commit of
    every partition."""
    b = start_broker({"offsets.topic.num.partitions": 1,
                      "offsets.topic.segment.bytes": 16384,
                      "group.initial.rebalance.delay.ms": 0})
    t = unique_topic()
    create_topic(b.bootstrap, t, partitions=10)
    groups = ["g-%d-%s" % (i, unique_topic()) for i in range(3)]
    last = {}
    with conn(b) as c:
        for n in range(400):
            g = groups[n % 3]
            offs = {(t, p): (n * 10 + p, "n%d" % n) for p in range(10)}
            assert set(commit(c, g, offs).values()) == {NONE}
            last[g] = offs
    segs = _segments(b)
    assert len(segs) <= 3, segs
    assert "__consumer_offsets-0 compacted" in b.log_text()
    size = total_size(os.path.join(b.data_dir, "__consumer_offsets-0", f)
                      for f in segs)
    assert size < 4 * 16384
    b.kill9()
    b.start()
    with conn(b) as c:
        for g in groups:
            top, got = fetch_offsets(c, g, None)
            assert top == NONE
            assert {k: v[:2] for k, v in got.items()} == last[g]


@pytest.mark.deadline(60)
def test_retention_time_of_a_v2_commit(start_broker):
    b = start_broker({"offsets.retention.check.interval.ms": 100})
    t = unique_topic()
    create_topic(b.bootstrap, t, partitions=1)
    g = "g-" + unique_topic()
    with conn(b) as c:
        assert commit(c, g, {(t, 0): (7, "")}, version=2,
                      retention_ms=400) == {(t, 0): NONE}
        assert commit(c, g + "-keep", {(t, 0): (8, "")}, version=2) == \
            {(t, 0): NONE}
        assert fetch_offsets(c, g, {t: [0]})[1][(t, 0)][0] == 7
        deadline = time.monotonic() + 10
        while fetch_offsets(c, g, {t: [0]})[1][(t, 0)][0] != -1:
            assert time.monotonic() < deadline, "offset never expired"
            time.sleep(0.1)
        assert g not in [x for x, _ in list_groups(c)[1]]
        assert fetch_offsets(c, g + "-keep", {t: [0]})[1][(t, 0)][0] == 8
    b.stop()
    b.start()
    with conn(b) as c:
        assert fetch_offsets(c, g, {t: [0]})[1][(t, 0)][0] == -1
        assert fetch_offsets(c, g + "-keep", {t: [0]})[1][(t, 0)][0] == 8


def test_every_version_of_the_group_apis(broker1):
    """Each advertised version of every group API, through one member's
    life: join (v4+ with MEMBER_ID_REQUIRED first), sync, heartbeat,
    describe, list, commit, fetch, leave, delete."""
    with kw.Client(broker1.addr) as cl:
        adv = dict(cl.broker_versions)
    assert adv[JOIN] == (0, 5) and adv[SYNC] == (0, 3)
    assert adv[HEARTBEAT] == (0, 3) and adv[LEAVE] == (0, 3)
    assert adv[DESCRIBE] == (0, 4) and adv[LIST] == (0, 2)
    assert adv[DELETE_GROUPS] == (0, 1) and adv[OFFSET_DELETE] == (0, 0)
    assert adv[OFFSET_COMMIT] == (0, 7) and adv[OFFSET_FETCH] == (0, 5)
    assert adv[FIND_COORDINATOR] == (0, 2)
    t = unique_topic()
    create_topic(broker1.bootstrap, t, partitions=1)
    with conn(broker1) as c:
        for v in range(6):
            g = "g-v%d-%s" % (v, unique_topic())
            if v >= 4:
                j = joined_member(c, g, version=v)
            else:
                j = join(c, g, version=v)
                assert j["error"] == NONE
            me, gen = j["member"], j["generation"]
            assert gen == 1 and j["leader"] == me
            sv, hv, lv = min(v, 3), min(v, 3), min(v, 3)
            assert sync(c, g, gen, me, [(me, b"a%d" % v)], version=sv) == \
                (NONE, b"a%d" % v)
            assert heartbeat(c, g, gen, me, version=hv) == NONE
            dv = min(v, 4)
            (d,) = describe(c, [g], version=dv)
            assert (d["state"], len(d["members"])) == ("Stable", 1)
            for lgv in range(3):
                assert g in [x for x, _ in list_groups(c, version=lgv)[1]]
            cv = min(v + 2, 7)
            assert commit(c, g, {(t, 0): (v, "m")}, generation=gen,
                          member=me, version=cv) == {(t, 0): NONE}
            fv = min(v, 5)
            assert fetch_offsets(c, g, {t: [0]}, version=fv)[1][(t, 0)][0] \
                == v
            top, _ = leave(c, g, [me], version=lv)
            assert top == NONE
            assert delete_groups(c, [g], version=v % 2) == {g: NONE}
        assert fetch_offsets(c, "g-none", {t: [0]}, version=0)[1][(t, 0)][0] \
            == -1
