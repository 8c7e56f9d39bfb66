"""Consumer-group helpers shared by the test_groups_*.py files.

Two halves. `Member` wraps a confluent-kafka (librdkafka) Consumer that
subscribes through the group coordinator and keeps a journal of what the
group did to it: every assignment and revocation (with a timestamp), every
message it was handed, and every commit that failed. The tests then assert
on the journal, so a broker that splits partitions wrongly, loses a
commit or rebalances when it should not shows up as a plain difference
between expected and recorded events. Members of one test are polled from
one thread in turn (librdkafka heartbeats from its own threads, so a member
that is not being polled for a moment stays in the group).

`GroupWire` speaks the group APIs with hand-built frames (kafka_wire's
codec) for what no installed client exposes: DescribeGroups v4 with
group.instance.id, OffsetFetch with null topics, commit metadata with a
chosen version, DeleteGroups and OffsetDelete error codes. It picks the
highest version both it and the broker speak and fails with a readable
message when the broker does not advertise an API at all.

Every loop here has a wall-clock deadline and raises with what it saw so
far, never waits forever.
"""

import select
import time

from confluent_kafka import (Consumer, KafkaError, KafkaException,
                             Producer, TopicPartition)

import kafka_wire as kw
from it_util import base_conf

# ------------------------------------------------------------- constants

OFFSET_COMMIT = 8
OFFSET_FETCH = 9
FIND_COORDINATOR = 10
JOIN_GROUP = 11
HEARTBEAT = 12
LEAVE_GROUP = 13
SYNC_GROUP = 14
DESCRIBE_GROUPS = 15
LIST_GROUPS = 16
DELETE_GROUPS = 42
OFFSET_DELETE = 47

GROUP_APIS = {
    "OffsetCommit": OFFSET_COMMIT, "OffsetFetch": OFFSET_FETCH,
    "FindCoordinator": FIND_COORDINATOR, "JoinGroup": JOIN_GROUP,
    "Heartbeat": HEARTBEAT, "LeaveGroup": LEAVE_GROUP,
    "SyncGroup": SYNC_GROUP, "DescribeGroups": DESCRIBE_GROUPS,
    "ListGroups": LIST_GROUPS, "DeleteGroups": DELETE_GROUPS,
    "OffsetDelete": OFFSET_DELETE,
}

# Versions the issue asks the broker to advertise.
REQUIRED_VERSIONS = {
    FIND_COORDINATOR: (0, 2), JOIN_GROUP: (0, 5), SYNC_GROUP: (0, 3),
    HEARTBEAT: (0, 3), LEAVE_GROUP: (0, 3), OFFSET_COMMIT: (0, 7),
    OFFSET_FETCH: (0, 5), LIST_GROUPS: (0, 2), DESCRIBE_GROUPS: (0, 4),
    DELETE_GROUPS: (0, 1), OFFSET_DELETE: (0, 0),
}

# Highest version GroupWire encodes; all are pre-flexible encodings.
CODEC_MAX = {
    FIND_COORDINATOR: 2, OFFSET_COMMIT: 7, OFFSET_FETCH: 5, JOIN_GROUP: 5,
    SYNC_GROUP: 3, HEARTBEAT: 3, LEAVE_GROUP: 3,
    DESCRIBE_GROUPS: 4, LIST_GROUPS: 2, DELETE_GROUPS: 1, OFFSET_DELETE: 0,
}

# Kafka error codes.
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
COORDINATOR_LOAD_IN_PROGRESS = 14
COORDINATOR_NOT_AVAILABLE = 15
NOT_COORDINATOR = 16
ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
INVALID_GROUP_ID = 24
UNKNOWN_MEMBER_ID = 25
REBALANCE_IN_PROGRESS = 27
NON_EMPTY_GROUP = 68
GROUP_ID_NOT_FOUND = 69
MEMBER_ID_REQUIRED = 79
FENCED_INSTANCE_ID = 82
GROUP_SUBSCRIBED_TO_TOPIC = 86

RETRIABLE = (COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE,
             NOT_COORDINATOR)

# A session timeout the broker's default group.min.session.timeout.ms
# (6 s) accepts, and a heartbeat interval short enough that a member hears
# of a rebalance within half a second.
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_MS = 500


# ------------------------------------------------- consumer protocol data


def decode_assignment(data):
    """ConsumerProtocol assignment bytes -> {topic: sorted [partition]}.
    Layout: version i16 | [topic string | [partition i32]] | user data."""
    if not data:
        return {}
    r = kw.Reader(bytes(data))
    r.i16()
    out = {}
    for _ in range(r.i32()):
        topic = r.string()
        out[topic] = sorted(r.i32() for _ in range(r.i32()))
    return out


def encode_subscription(topics):
    """ConsumerProtocol subscription v0: version | [topic] | user data."""
    w = kw.Writer().i16(0).array_len(len(topics))
    for t in topics:
        w.string(t)
    return w.bytes_(None).getvalue()


def encode_assignment(assignment):
    """{topic: [partition]} -> ConsumerProtocol assignment v0 bytes."""
    w = kw.Writer().i16(0).array_len(len(assignment))
    for t, parts in sorted(assignment.items()):
        w.string(t).array_len(len(parts))
        for p in parts:
            w.i32(p)
    return w.bytes_(None).getvalue()


def decode_subscription(data):
    """ConsumerProtocol subscription bytes -> sorted [topic]."""
    if not data:
        return []
    r = kw.Reader(bytes(data))
    r.i16()
    return sorted(r.string() for _ in range(r.i32()))


# ------------------------------------------------------ confluent members


def produce_fast(bootstrap, topic, n, parts, value=None, start=0,
                 timeout=60):
    """Produce messages start..start+n-1, message i to partition i % parts
    with value value(i) (default b"%d" % i), through a batching acks=all
    producer. Raises unless every message was acknowledged."""
    value = value or (lambda i: b"%d" % i)
    p = Producer(base_conf(bootstrap, **{
        "acks": "all", "linger.ms": 20, "batch.num.messages": 10000,
        "queue.buffering.max.messages": 1000000,
        "message.timeout.ms": 30000}))
    failed = []

    def on_delivery(err, msg):
        if err is not None:
            failed.append(err)
    deadline = time.monotonic() + timeout
    for i in range(start, start + n):
        while True:
            try:
                p.produce(topic, value(i), partition=i % parts,
                          on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
                if time.monotonic() > deadline:
                    raise AssertionError("producer queue stuck")
        if i % 20000 == 0:
            p.poll(0)
    left = p.flush(max(1.0, deadline - time.monotonic()))
    assert left == 0 and not failed, \
        "%d not delivered, %d failed (first %s)" % (
            left, len(failed), failed[:1])


def member_conf(bootstrap, group, **extra):
    conf = base_conf(bootstrap, **{
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": HEARTBEAT_MS,
        "fetch.wait.max.ms": 100,
        "partition.assignment.strategy": "range",
    })
    conf.update(extra)
    return conf


class Member:
    """A subscribed librdkafka consumer and the journal of its life in the
    group. With commit_on_revoke (the usual pattern for exactly-once
    processing across rebalances) it commits, synchronously, the position
    after the last message it handed out for each partition being revoked,
    so the partition's next owner resumes exactly there."""

    def __init__(self, name, bootstrap, group, topics, commit_on_revoke=True,
                 **conf):
        self.name = name
        self.group = group
        self.commit_on_revoke = commit_on_revoke
        self.events = []       # (monotonic time, "assign"|"revoke", [(t,p)])
        self.assigned = set()  # (topic, partition) currently assigned
        self.pos = {}          # (topic, partition) -> next offset handed out
        self.commit_errors = []
        self.received = 0
        c = dict(conf)
        c.setdefault("client.id", "strata-it-" + name)
        self.c = Consumer(member_conf(bootstrap, group, **c))
        self.c.subscribe(list(topics), on_assign=self._on_assign,
                         on_revoke=self._on_revoke)
        self.closed = False

    # librdkafka runs these from inside consume()/close(); the Python
    # binding assigns/unassigns after they return.
    def _on_assign(self, c, parts):
        tps = sorted((p.topic, p.partition) for p in parts)
        self.events.append((time.monotonic(), "assign", tps))
        self.assigned = set(tps)

    def _on_revoke(self, c, parts):
        tps = sorted((p.topic, p.partition) for p in parts)
        self.events.append((time.monotonic(), "revoke", tps))
        if self.commit_on_revoke:
            offs = [TopicPartition(t, p, self.pos[(t, p)])
                    for t, p in tps if (t, p) in self.pos]
            if offs:
                self.commit(offs, "on revoke")
        self.assigned = set()

    def commit(self, offsets, why="explicit"):
        """Synchronous commit of [TopicPartition]; failures are journaled
        (and returned) rather than raised from inside librdkafka."""
        try:
            res = self.c.commit(offsets=offsets, asynchronous=False)
        except KafkaException as e:
            self.commit_errors.append((why, str(e)))
            return [str(e)]
        bad = [(r.topic, r.partition, str(r.error)) for r in res or []
               if r.error is not None]
        if bad:
            self.commit_errors.append((why, bad))
        return bad

    def commit_positions(self, why="explicit"):
        offs = [TopicPartition(t, p, off) for (t, p), off in
                sorted(self.pos.items()) if (t, p) in self.assigned]
        return self.commit(offs, why) if offs else []

    def poll(self, timeout=0.05, max_messages=5000):
        """One consume() call; returns the messages (errors raise)."""
        out = []
        for m in self.c.consume(num_messages=max_messages, timeout=timeout):
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(err)
            self.pos[(m.topic(), m.partition())] = m.offset() + 1
            out.append(m)
        self.received += len(out)
        return out

    def assignment(self):
        return sorted((p.topic, p.partition) for p in self.c.assignment())

    def close(self):
        if not self.closed:
            self.closed = True
            self.c.close()

    def journal(self):
        t0 = self.events[0][0] if self.events else 0
        return ["%s +%.2fs %s %s" % (self.name, t - t0, what, tps)
                for t, what, tps in self.events]

    def __repr__(self):
        return "Member(%s, assigned=%s)" % (self.name, sorted(self.assigned))


def poll_until(members, cond, timeout, what, on_message=None):
    """Poll every member in turn until cond() holds. on_message(member, msg)
    sees every message handed out meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        for m in members:
            for msg in m.poll():
                if on_message is not None:
                    on_message(m, msg)
        if cond():
            return
        if time.monotonic() > deadline:
            lines = []
            for m in members:
                lines.append("%r received=%d commit_errors=%s"
                             % (m, m.received, m.commit_errors))
                lines += m.journal()
            raise AssertionError("%s: not reached within %d s\n%s"
                                 % (what, timeout, "\n".join(lines)))


def committed(bootstrap, group, tps, timeout=20):
    """{(topic, partition): committed offset or None} read with a consumer
    that never joins the group (OffsetFetch only). Retries while the
    coordinator is loading."""
    c = Consumer(member_conf(bootstrap, group))
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                res = c.committed([TopicPartition(t, p) for t, p in tps],
                                  timeout=10)
                break
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        out = {}
        for r in res:
            assert r.error is None, "committed(%s,%d): %s" % (
                r.topic, r.partition, r.error)
            out[(r.topic, r.partition)] = r.offset if r.offset >= 0 else None
        return out
    finally:
        c.close()


# ------------------------------------------------------------- raw wire


class GroupWire:
    """Group APIs with hand-built frames on one connection."""

    def __init__(self, addr, timeout=10.0):
        self.conn = kw.Conn(addr, timeout)
        err, self.broker_versions = kw.parse_api_versions(
            self.conn.request(kw.API_VERSIONS, 0, kw.req_api_versions(0)), 0)
        if err:
            raise kw.ProtocolError("ApiVersions v0 error %d" % err)

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def missing_versions(self):
        """[(api name, required range, advertised range)] short of what the
        issue requires."""
        out = []
        for name, key in sorted(GROUP_APIS.items()):
            lo, hi = REQUIRED_VERSIONS[key]
            got = self.broker_versions.get(key)
            if got is None or got[0] > lo or got[1] < hi:
                out.append((name, (lo, hi), got))
        return out

    def version(self, key, want=None):
        got = self.broker_versions.get(key)
        name = [n for n, k in GROUP_APIS.items() if k == key][0]
        if got is None:
            raise AssertionError("broker does not advertise %s (api key %d)"
                                 % (name, key))
        v = min(got[1], CODEC_MAX[key]) if want is None else want
        if not got[0] <= v <= got[1]:
            raise AssertionError("broker advertises %s %s, test needs v%d"
                                 % (name, got, v))
        return v

    def _req(self, key, v, body):
        return self.conn.request(key, v, body)

    # ---- FindCoordinator
    def find_coordinator(self, group, v=None):
        v = self.version(FIND_COORDINATOR, v)
        w = kw.Writer().string(group)
        if v >= 1:
            w.i8(0)
        r = self._req(FIND_COORDINATOR, v, w.getvalue())
        if v >= 1:
            r.i32()
        err = r.i16()
        if v >= 1:
            r.string()
        return err, r.i32(), r.string(), r.i32()

    # ---- membership (JoinGroup v5, SyncGroup v3, Heartbeat v3,
    # LeaveGroup v3). JoinGroup and SyncGroup may be parked by the broker:
    # the *_send halves return at once, *_recv waits for the answer.
    def join_send(self, group, member_id="", protocols=(), instance_id=None,
                  session_ms=SESSION_TIMEOUT_MS, rebalance_ms=10000,
                  protocol_type="consumer"):
        """protocols: [(name, metadata bytes)]."""
        v = self.version(JOIN_GROUP, 5)
        w = kw.Writer().string(group).i32(session_ms).i32(rebalance_ms)
        w.string(member_id).string(instance_id).string(protocol_type)
        w.array_len(len(protocols))
        for name, meta in protocols:
            w.string(name).bytes_(meta)
        self.conn.send(JOIN_GROUP, v, w.getvalue())

    def join_recv(self, timeout=None):
        """{error, generation, protocol, leader, member_id, members:
        [(member_id, instance_id, metadata)]}"""
        r = self.conn.recv(timeout)[3]
        r.i32()
        out = {"error": r.i16(), "generation": r.i32(),
               "protocol": r.string(), "leader": r.string(),
               "member_id": r.string()}
        out["members"] = r.array(
            lambda: (r.string(), r.string(), r.bytes_())) or []
        return out

    def join(self, *args, timeout=None, **kwargs):
        self.join_send(*args, **kwargs)
        return self.join_recv(timeout)

    def sync_send(self, group, generation, member_id, assignments=(),
                  instance_id=None):
        """assignments: [(member_id, assignment bytes)] (leader only)."""
        v = self.version(SYNC_GROUP, 3)
        w = kw.Writer().string(group).i32(generation).string(member_id)
        w.string(instance_id).array_len(len(assignments))
        for mid, data in assignments:
            w.string(mid).bytes_(data)
        self.conn.send(SYNC_GROUP, v, w.getvalue())

    def sync_recv(self, timeout=None):
        """(error, assignment bytes)"""
        r = self.conn.recv(timeout)[3]
        r.i32()
        return r.i16(), r.bytes_()

    def sync(self, *args, timeout=None, **kwargs):
        self.sync_send(*args, **kwargs)
        return self.sync_recv(timeout)

    def heartbeat(self, group, generation, member_id, instance_id=None):
        v = self.version(HEARTBEAT, 3)
        w = kw.Writer().string(group).i32(generation).string(member_id)
        w.string(instance_id)
        r = self._req(HEARTBEAT, v, w.getvalue())
        r.i32()
        return r.i16()

    def leave(self, group, members):
        """members: [(member_id, instance_id)]. Returns (error,
        [(member_id, instance_id, error)])."""
        v = self.version(LEAVE_GROUP, 3)
        w = kw.Writer().string(group).array_len(len(members))
        for mid, iid in members:
            w.string(mid).string(iid)
        r = self._req(LEAVE_GROUP, v, w.getvalue())
        r.i32()
        err = r.i16()
        return err, r.array(lambda: (r.string(), r.string(), r.i16())) or []

    # ---- DescribeGroups
    def describe(self, groups, v=None):
        """[{error, group, state, protocol_type, protocol, members: [{
        member_id, instance_id, client_id, client_host, metadata,
        assignment}]}]"""
        v = self.version(DESCRIBE_GROUPS, v)
        w = kw.Writer().array_len(len(groups))
        for g in groups:
            w.string(g)
        if v >= 3:
            w.boolean(False)
        r = self._req(DESCRIBE_GROUPS, v, w.getvalue())
        if v >= 1:
            r.i32()

        def member():
            m = {"member_id": r.string()}
            m["instance_id"] = r.string() if v >= 4 else None
            m["client_id"] = r.string()
            m["client_host"] = r.string()
            m["metadata"] = r.bytes_()
            m["assignment"] = r.bytes_()
            return m

        def group():
            g = {"error": r.i16(), "group": r.string(), "state": r.string(),
                 "protocol_type": r.string(), "protocol": r.string()}
            g["members"] = r.array(member) or []
            if v >= 3:
                r.i32()
            return g
        return r.array(group) or []

    def describe_one(self, group, v=None, timeout=15):
        """DescribeGroups of one group, retrying while the coordinator is
        loading."""
        deadline = time.monotonic() + timeout
        while True:
            (g,) = self.describe([group], v)
            if g["error"] not in RETRIABLE or time.monotonic() > deadline:
                return g
            time.sleep(0.2)

    # ---- ListGroups
    def list_groups(self, v=None):
        """(error, {group: protocol_type})"""
        v = self.version(LIST_GROUPS, v)
        r = self._req(LIST_GROUPS, v, b"")
        if v >= 1:
            r.i32()
        err = r.i16()
        groups = r.array(lambda: (r.string(), r.string())) or []
        return err, dict(groups)

    # ---- OffsetCommit (a "simple" commit: generation -1, no member)
    def offset_commit(self, group, offsets, v=None, generation=-1,
                      member_id="", instance_id=None):
        """offsets: [(topic, partition, offset, metadata)].
        Returns {(topic, partition): error}."""
        v = self.version(OFFSET_COMMIT, v)
        w = kw.Writer().string(group)
        if v >= 1:
            w.i32(generation).string(member_id)
        if v >= 7:
            w.string(instance_id)
        if 2 <= v <= 4:
            w.i64(-1)  # retention: broker default
        by_topic = {}
        for t, p, off, meta in offsets:
            by_topic.setdefault(t, []).append((p, off, meta))
        w.array_len(len(by_topic))
        for t, parts in by_topic.items():
            w.string(t).array_len(len(parts))
            for p, off, meta in parts:
                w.i32(p).i64(off)
                if v >= 6:
                    w.i32(-1)
                if v == 1:
                    w.i64(-1)
                w.string(meta)
        r = self._req(OFFSET_COMMIT, v, w.getvalue())
        if v >= 3:
            r.i32()
        out = {}
        for _ in range(r.i32()):
            t = r.string()
            for _ in range(r.i32()):
                p = r.i32()
                out[(t, p)] = r.i16()
        return out

    # ---- OffsetFetch
    def offset_fetch(self, group, topics=None, v=None):
        """topics: {topic: [partition]} or None (all committed, v2+).
        Returns (top-level error, {(topic, partition): (offset, metadata,
        error)})."""
        v = self.version(OFFSET_FETCH, v)
        w = kw.Writer().string(group)
        if topics is None:
            w.array_len(None)
        else:
            w.array_len(len(topics))
            for t, parts in topics.items():
                w.string(t).array_len(len(parts))
                for p in parts:
                    w.i32(p)
        if v >= 7:
            w.boolean(False)
        r = self._req(OFFSET_FETCH, v, w.getvalue())
        if v >= 3:
            r.i32()
        out = {}
        for _ in range(r.i32()):
            t = r.string()
            for _ in range(r.i32()):
                p = r.i32()
                off = r.i64()
                if v >= 5:
                    r.i32()
                meta = r.string()
                out[(t, p)] = (off, meta, r.i16())
        err = r.i16() if v >= 2 else NONE
        return err, out

    def offset_fetch_ready(self, group, topics=None, v=None, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            err, out = self.offset_fetch(group, topics, v)
            if err not in RETRIABLE or time.monotonic() > deadline:
                return err, out
            time.sleep(0.2)

    # ---- DeleteGroups
    def delete_groups(self, groups, v=None):
        """{group: error}"""
        v = self.version(DELETE_GROUPS, v)
        w = kw.Writer().array_len(len(groups))
        for g in groups:
            w.string(g)
        r = self._req(DELETE_GROUPS, v, w.getvalue())
        r.i32()
        return dict(r.array(lambda: (r.string(), r.i16())) or [])

    # ---- OffsetDelete
    def offset_delete(self, group, topics):
        """topics: {topic: [partition]}. Returns (top-level error,
        {(topic, partition): error})."""
        v = self.version(OFFSET_DELETE)
        w = kw.Writer().string(group).array_len(len(topics))
        for t, parts in topics.items():
            w.string(t).array_len(len(parts))
            for p in parts:
                w.i32(p)
        r = self._req(OFFSET_DELETE, v, w.getvalue())
        err = r.i16()
        r.i32()
        out = {}
        for _ in range(r.i32()):
            t = r.string()
            for _ in range(r.i32()):
                p = r.i32()
                out[(t, p)] = r.i16()
        return err, out


class RawMember:
    """A group member driven by hand over GroupWire, for what a client
    library would never do on purpose (stop heartbeating while its
    connection stays open). Non-blocking: step() advances the join/sync
    exchange when the broker's answer has arrived. As leader it assigns
    ranges of each topic's partitions to the members sorted by id, as
    Kafka's range assignor does."""

    def __init__(self, addr, group, topics, partitions, instance_id=None):
        self.group, self.topics = group, list(topics)
        self.partitions = partitions  # {topic: count}
        self.instance_id = instance_id
        self.gw = GroupWire(addr)   # join / sync (may be parked)
        self.hb = GroupWire(addr)   # heartbeats, never parked
        self.member_id = ""
        self.generation = -1
        self.assignment = None
        self.state = "idle"
        self.history = []

    def close(self):
        self.gw.close()
        self.hb.close()

    def _readable(self):
        return bool(select.select([self.gw.conn.sock], [], [], 0)[0])

    def start_join(self):
        self.assignment = None
        self.gw.join_send(self.group, self.member_id,
                          [("range", encode_subscription(self.topics))],
                          instance_id=self.instance_id)
        self.state = "joining"

    def _assign(self, members):
        ids = sorted(mid for mid, _, _ in members)
        out = {mid: {} for mid in ids}
        for t in self.topics:
            n = self.partitions[t]
            per, extra = divmod(n, len(ids))
            start = 0
            for i, mid in enumerate(ids):
                k = per + (1 if i < extra else 0)
                out[mid][t] = list(range(start, start + k))
                start += k
        return [(mid, encode_assignment(a)) for mid, a in out.items()]

    def step(self):
        """Process an answer if one arrived; returns self.state."""
        if self.state not in ("joining", "syncing") or not self._readable():
            return self.state
        if self.state == "joining":
            res = self.gw.join_recv()
            self.history.append(("join", res["error"], res["generation"]))
            if res["error"] == MEMBER_ID_REQUIRED:
                self.member_id = res["member_id"]
                self.start_join()
                return self.state
            if res["error"] != NONE:
                raise AssertionError("JoinGroup error %d: %r"
                                     % (res["error"], res))
            self.member_id = res["member_id"]
            self.generation = res["generation"]
            assignments = self._assign(res["members"]) \
                if res["leader"] == self.member_id else []
            self.gw.sync_send(self.group, self.generation, self.member_id,
                              assignments, instance_id=self.instance_id)
            self.state = "syncing"
        else:
            err, data = self.gw.sync_recv()
            self.history.append(("sync", err))
            if err == REBALANCE_IN_PROGRESS:
                self.start_join()
                return self.state
            if err != NONE:
                raise AssertionError("SyncGroup error %d" % err)
            self.assignment = decode_assignment(data)
            self.state = "stable"
        return self.state

    def heartbeat(self):
        """One heartbeat; rejoins on REBALANCE_IN_PROGRESS. Returns the
        error code."""
        err = self.hb.heartbeat(self.group, self.generation, self.member_id,
                                self.instance_id)
        self.history.append(("heartbeat", err))
        if err == REBALANCE_IN_PROGRESS and self.state == "stable":
            self.start_join()
        return err


def wait_group_state(addr, group, states, timeout=20, members=None):
    """DescribeGroups until the group is in one of `states` (and has
    `members` members, if given). Returns the description."""
    deadline = time.monotonic() + timeout
    last = None
    with GroupWire(addr) as gw:
        while True:
            last = gw.describe_one(group)
            if last["error"] == NONE and last["state"] in states and (
                    members is None or len(last["members"]) == members):
                return last
            if time.monotonic() > deadline:
                raise AssertionError(
                    "group %s not in %s (members %s) within %d s; last "
                    "DescribeGroups: %r" % (group, states, members, timeout,
                                            last))
            time.sleep(0.1)


def assignment_of(desc, topic):
    """{member_id: sorted partitions of topic} from a DescribeGroups
    answer."""
    return {m["member_id"]: decode_assignment(m["assignment"]).get(topic, [])
            for m in desc["members"]}
