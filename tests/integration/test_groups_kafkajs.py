"""Consumer groups with kafkajs 2.2.4, via js/groups.js.

kafkajs is the third independent group client in the suite (its own
JoinGroup/SyncGroup/Heartbeat loop, its RoundRobinAssigner, commits after
every eachBatch). Two kafkajs members split a 4-partition topic, read all
of it and commit the end of every partition; admin.describeGroups shows the
Stable group with both members, their subscriptions and assignments as the
members themselves saw them; after both disconnect the group is Empty. A
third member started later resumes at the committed offsets (reads only
what was produced since, although it subscribes fromBeginning), and
admin.deleteGroups deletes the group once and answers GROUP_ID_NOT_FOUND
the second time. librdkafka then agrees that the offsets are gone.

kafkajs does not implement static membership (group.instance.id); that is
tested with librdkafka in test_groups_confluent.py.
"""

import os
import shutil

import pytest

import group_util as gu
from it_util import create_topic, run_client_json, unique_topic

JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")
NODE = shutil.which("node")
PARTS = 4
PER = 2000  # messages per partition

BROKER_SETTINGS = {
    "group.initial.rebalance.delay.ms": 300,
    "offsets.topic.num.partitions": 6,
    "num.shards": 2,  # broker1 honours it: the group and its members'
                      # connections on different shards
}

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="kafkajs test: node not found"),
    pytest.mark.skipif(
        not os.path.isdir(os.path.join(JS_DIR, "node_modules", "kafkajs")),
        reason="kafkajs not installed: run `npm ci` in tests/integration/js"),
]


def node(*args, timeout=100):
    return run_client_json(
        [NODE, os.path.join(JS_DIR, "groups.js")] + list(args), cwd=JS_DIR,
        timeout=timeout,
        env=dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1"))


@pytest.mark.deadline(150)
def test_kafkajs_group_eachbatch_commit_describe(broker1):
    b = broker1
    topic = create_topic(b.bootstrap, unique_topic("kjs-grp"), PARTS)
    gu.produce_fast(b.bootstrap, topic, PER * PARTS, PARTS)
    group = unique_topic("g-kjs")

    out = node("split", b.bootstrap, topic, group, PARTS, PER * PARTS)
    m1, m2 = out["members"]
    seen = [tuple(x) for x in m1["offsets"] + m2["offsets"]]
    assert set(seen) == {(p, o) for p in range(PARTS) for o in range(PER)}, \
        "messages missing: %d distinct of %d" % (len(set(seen)),
                                                  PARTS * PER)
    assert m1["badValues"] == 0 and m2["badValues"] == 0
    # Every join a member saw, and the final split: 2 + 2, disjoint.
    assert len(m1["assignment"]) == 2 and len(m2["assignment"]) == 2, out
    assert sorted(m1["assignment"] + m2["assignment"]) == list(range(PARTS))
    assert out["committed"] == {str(p): PER for p in range(PARTS)}

    st = out["stable"]
    assert (st["errorCode"], st["state"], st["protocolType"],
            st["protocol"]) == (0, "Stable", "consumer",
                                "RoundRobinAssigner"), st
    last_ids = {m1["joins"][-1]["memberId"], m2["joins"][-1]["memberId"]}
    assert {m["memberId"] for m in st["members"]} == last_ids
    for mem in st["members"]:
        assert mem["clientId"] == "strata-it-kafkajs-groups"
        assert mem["subscription"] == [topic]
        who = m1 if mem["memberId"] == m1["joins"][-1]["memberId"] else m2
        assert sorted(mem["assignment"][topic]) == who["assignment"], \
            "describeGroups assignment differs from what the member got"
    # The leader is one of the two, agreed by both.
    leaders = {m1["joins"][-1]["isLeader"], m2["joins"][-1]["isLeader"]}
    assert leaders == {True, False}, (m1["joins"], m2["joins"])

    after = out["afterLeave"]
    assert (after["state"], after["members"]) == ("Empty", []), after

    # New messages, then a new member resumes at the committed end.
    NEW = 50
    gu.produce_fast(b.bootstrap, topic, NEW * PARTS, PARTS,
                    start=PER * PARTS, value=lambda i: b"new-%d" % i)
    out = node("resume", b.bootstrap, topic, group, PARTS, NEW * PARTS)
    for p in range(PARTS):
        got = out["byPartition"].get(str(p), [])
        assert [o for o, _ in got] == list(range(PER, PER + NEW)), \
            "partition %d: resumed at %s, committed %d" % (
                p, got[:2], PER)
        assert all(v.startswith("new-") for _, v in got)
    assert out["deleted"] == [[group, 0]]
    assert out["deleteAgain"] in (["GROUP_ID_NOT_FOUND"], [69]), \
        out["deleteAgain"]
    assert all(v == -1 for v in out["afterDelete"].values()), \
        out["afterDelete"]
    assert gu.committed(b.bootstrap, group,
                        [(topic, p) for p in range(PARTS)]) == \
        {(topic, p): None for p in range(PARTS)}
