"""The idempotent producer: InitProducerId, per-partition sequence checks,
duplicates answered with their original offsets and never written twice,
and producer state that survives kill -9 and a clean restart.

Two views. confluent-kafka (librdkafka) with enable.idempotence=true and
acks=all produces through a small TCP proxy in this file that cuts every
connection several times mid-stream, each time right after the broker has
answered a request the client will now never see, so the client must
resend batches the broker already wrote; every message must still be in
the log exactly once and in order. Hand-built frames then check each rule
on its own (sequence gaps, stale epochs, unknown producers, transactional
batches) and that deduplication holds across crashes and restarts, also
when a torn tail takes the original away.
"""

import glob
import os
import socket
import struct
import threading
import time

import pytest
from confluent_kafka import Producer

import kafka_wire as kw
from it_util import DeliveryLog, base_conf, consume_all, create_topic, \
    unique_topic

INIT_PRODUCER_ID = 22
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
INVALID_PRODUCER_EPOCH = 47
TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
UNKNOWN_PRODUCER_ID = 59

# ----------------------------------------------------------- wire helpers


def req_init_producer_id(transactional_id=None, timeout_ms=60000):
    w = kw.Writer(False)
    w.string(transactional_id).i32(timeout_ms)
    return w.getvalue()


def init_producer_id(conn, version=1, transactional_id=None):
    """(error, producer id, epoch)."""
    r = conn.request(INIT_PRODUCER_ID, version,
                     req_init_producer_id(transactional_id))
    r.i32()  # throttle
    out = (r.i16(), r.i64(), r.i16())
    assert r.remaining() == 0
    return out


def idem_batch(values, pid, epoch, seq, transactional=False):
    """A v2 batch of null-keyed records with producer fields set."""
    b = bytearray(kw.encode_record_batch([(None, v) for v in values]))
    struct.pack_into(">qhi", b, 43, pid, epoch, seq)
    if transactional:
        (attrs,) = struct.unpack_from(">h", b, 21)
        struct.pack_into(">h", b, 21, attrs | 0x10)
    struct.pack_into(">I", b, 17, kw.crc32c(bytes(b[21:])))
    return bytes(b)


def log_values(client, topic, partition=0):
    """Every record value in the partition, in offset order."""
    out = []
    off = 0
    end = client.list_offsets(topic, partition, kw.LATEST)[2]
    while off < end:
        p = client.fetch(topic, partition, off)
        assert p["error"] == 0, p
        recs = kw.decode_record_batches(p["records"])
        assert recs, "fetch at %d returned nothing (end %d)" % (off, end)
        for r in recs:
            if r.offset >= off:
                out.append((r.offset, r.value))
        off = recs[-1].offset + 1
    return out


def end_offset(client, topic, partition=0):
    err, _, off = client.list_offsets(topic, partition, kw.LATEST)
    assert err == 0
    return off


# ------------------------------------------------------------ the proxy


class DropProxy:
    """Loopback TCP proxy between clients and the broker. Once armed, after
    every `every` bytes from the clients it cuts all connections at the
    next response chunk from the broker, dropping that chunk: the broker
    has acted on a request whose answer the client never gets."""

    def __init__(self):
        self.target = None
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.pairs = set()
        self.upstream_bytes = 0
        self.drop_at = None
        self.every = 0
        self.max_drops = 0
        self.armed = False
        self.drops = 0
        self.closed = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    def schedule_drops(self, every, count):
        with self.lock:
            self.every = every
            self.drop_at = self.upstream_bytes + every
            self.max_drops = self.drops + count

    def disarm(self):
        with self.lock:
            self.drop_at = None
            self.armed = False

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                b = socket.create_connection(self.target, timeout=5)
                b.settimeout(None)
            except OSError:
                c.close()
                continue
            for s in (c, b):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = (c, b)
            with self.lock:
                self.pairs.add(pair)
            for src, dst, up in ((c, b, True), (b, c, False)):
                threading.Thread(target=self._pump,
                                 args=(src, dst, pair, up),
                                 daemon=True).start()

    def _pump(self, src, dst, pair, upstream):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if upstream:
                    with self.lock:
                        self.upstream_bytes += len(data)
                        if (self.drop_at is not None and
                                self.upstream_bytes >= self.drop_at and
                                self.drops < self.max_drops):
                            self.armed = True
                            self.drop_at += self.every
                else:
                    with self.lock:
                        fire = self.armed
                        if fire:
                            self.armed = False
                            self.drops += 1
                    if fire:
                        self._drop_all()
                        break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._close_pair(pair)

    def _close_pair(self, pair):
        with self.lock:
            self.pairs.discard(pair)
        for s in pair:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def _drop_all(self):
        with self.lock:
            pairs = list(self.pairs)
        for pair in pairs:
            self._close_pair(pair)

    def close(self):
        self.closed = True
        try:
            self.lsock.close()
        except OSError:
            pass
        self._drop_all()


@pytest.fixture
def proxy():
    p = DropProxy()
    yield p
    p.close()


# ------------------------------------------------- confluent-kafka view


@pytest.mark.deadline(240)
@pytest.mark.parametrize("shards", [1, 2])
def test_confluent_idempotent_with_dropped_connections(start_broker, proxy,
                                                       shards):
    n, parts = 50000, 2
    b = start_broker({
        "num.shards": shards,
        # clients must come back through the proxy after bootstrap
        "advertised.listeners": "PLAINTEXT://%s" % proxy.bootstrap,
    })
    proxy.target = b.addr
    topic = create_topic(proxy.bootstrap, unique_topic("idem-drop"), parts)
    msgs = [(b"k%06d" % i, b"v%06d-" % i + b"x" * (i % 200), i % parts)
            for i in range(n)]
    total = sum(len(k) + len(v) for k, v, _ in msgs)
    proxy.schedule_drops(every=total // 8, count=6)

    conf = base_conf(proxy.bootstrap, **{
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "batch.num.messages": 500,
        "retry.backoff.ms": 20,
        "reconnect.backoff.ms": 20,
        "reconnect.backoff.max.ms": 200,
        "message.timeout.ms": 120000,
    })
    p = Producer(conf)
    log = DeliveryLog()
    deadline = time.monotonic() + 150
    for key, value, part in msgs:
        while True:
            try:
                p.produce(topic, value=value, key=key, partition=part,
                          on_delivery=log)
                break
            except BufferError:
                p.poll(0.05)
                assert time.monotonic() < deadline, "producer queue stuck"
        p.poll(0)
    left = p.flush(max(1.0, deadline - time.monotonic()))
    proxy.disarm()
    assert left == 0, "%d messages undelivered (%d ok, %d failed)" % (
        left, len(log.ok), len(log.failed))
    assert not log.failed, "first failure: %s" % (log.failed[0][0],)
    assert proxy.drops >= 3, "proxy cut only %d times" % proxy.drops

    got = consume_all(proxy.bootstrap, topic, parts, expected=n, timeout=90)
    for part in range(parts):
        want = [v for _, v, pt in msgs if pt == part]
        values = [m.value() for m in got[part]]
        assert len(values) == len(want), \
            "partition %d holds %d messages, %d produced (%d duplicates?)" \
            % (part, len(values), len(want), len(values) - len(want))
        assert values == want, "partition %d out of order or altered" % part
        assert [m.offset() for m in got[part]] == list(range(len(want)))
    # every delivery report names where its message really is
    where = {(m.partition(), m.offset()): m.value()
             for ms in got.values() for m in ms}
    for part, off, _, value in log.ok:
        assert where[(part, off)] == value


# ------------------------------------------------------ hand-built frames


@pytest.mark.deadline(120)
@pytest.mark.parametrize("shards", [1, 2])
def test_sequence_rules_and_restarts(start_broker, shards):
    b = start_broker({"num.shards": shards})
    topic = create_topic(b.bootstrap, unique_topic("idem-raw"), 1)
    batches = []  # (values, seq, base offset) of the main producer
    with kw.Client(b.addr) as c:
        err, pid, epoch = init_producer_id(c.conn, 0)
        assert (err, epoch) == (0, 0) and pid >= 0
        err, pid2, epoch2 = init_producer_id(c.conn, 1)
        assert (err, epoch2) == (0, 0) and pid2 != pid

        seq = 0
        for k in range(8):
            vals = [b"a%d-%d" % (k, i) for i in range(3)]
            err, base = c.produce(topic, 0, idem_batch(vals, pid, 0, seq),
                                  acks=-1)
            assert (err, base) == (0, 3 * k)
            batches.append((vals, seq, base))
            seq += 3
        assert end_offset(c, topic) == 24

        # a resent batch of the last five: original offset, not written
        for vals, s, base in batches[3:]:
            for acks in (-1, 1):
                assert c.produce(topic, 0, idem_batch(vals, pid, 0, s),
                                 acks=acks) == (0, base)
        # older than the window, a gap, an overlap: out of order
        vals, s, _ = batches[0]
        assert c.produce(topic, 0, idem_batch(vals, pid, 0, s))[0] == \
            OUT_OF_ORDER_SEQUENCE_NUMBER
        assert c.produce(topic, 0, idem_batch([b"gap"], pid, 0, seq + 1))[0] \
            == OUT_OF_ORDER_SEQUENCE_NUMBER
        assert c.produce(topic, 0, idem_batch([b"o", b"o"], pid, 0,
                                              seq - 1))[0] == \
            OUT_OF_ORDER_SEQUENCE_NUMBER
        # a producer the partition has never seen, not starting at 0
        assert c.produce(topic, 0, idem_batch([b"u"], pid2 + 1000, 0, 7))[0] \
            == UNKNOWN_PRODUCER_ID
        # epochs: a newer one starts at 0, the older one is fenced
        assert c.produce(topic, 0, idem_batch([b"e0"], pid2, 0, 0))[0] == 0
        assert c.produce(topic, 0, idem_batch([b"e1"], pid2, 1, 5))[0] == \
            OUT_OF_ORDER_SEQUENCE_NUMBER
        assert c.produce(topic, 0, idem_batch([b"e1"], pid2, 1, 0))[0] == 0
        assert c.produce(topic, 0, idem_batch([b"e0b"], pid2, 0, 1))[0] == \
            INVALID_PRODUCER_EPOCH
        # no transactions
        assert c.produce(topic, 0, idem_batch([b"t"], pid, 0, seq,
                                              transactional=True))[0] == \
            TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        assert init_producer_id(c.conn, 1, "my-txn") == \
            (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1, -1)
        expected = [v for vals, _, _ in batches for v in vals] + \
            [b"e0", b"e1"]
        assert [v for _, v in log_values(c, topic)] == expected

        # a batch and its copy pipelined on one connection: the copy waits
        # for the original and gets its offset
        vals = [b"pipe-%d" % i for i in range(4)]
        v = c.version(kw.PRODUCE)
        body = kw.req_produce(v, -1, 10000,
                              [(topic, 0, idem_batch(vals, pid, 0, seq))])
        c.conn.send_raw(c.conn.build(kw.PRODUCE, v, body) +
                        c.conn.build(kw.PRODUCE, v, body))
        res = [kw.parse_produce(c.conn.recv()[3], v)[(topic, 0)]
               for _ in range(2)]
        assert res[0] == res[1] == (0, 26), res
        batches.append((vals, seq, 26))
        seq += 4
        expected += vals
        assert [v for _, v in log_values(c, topic)] == expected

    # kill -9: the state comes back from the log
    b.kill9()
    b.restart()
    with kw.Client(b.addr) as c:
        for vals, s, base in batches[-5:]:
            assert c.produce(topic, 0, idem_batch(vals, pid, 0, s)) == \
                (0, base)
        assert c.produce(topic, 0, idem_batch([b"e0c"], pid2, 0, 2))[0] == \
            INVALID_PRODUCER_EPOCH
        assert [v for _, v in log_values(c, topic)] == expected
        err, base = c.produce(topic, 0, idem_batch([b"next"], pid, 0, seq),
                              acks=-1)
        assert (err, base) == (0, 30)
        batches.append(([b"next"], seq, 30))
        seq += 1
        expected.append(b"next")
        err, pid3, _ = init_producer_id(c.conn)
        assert err == 0 and pid3 not in (pid, pid2)
        assert pid3 > max(pid, pid2)

    # clean restart: the state comes back from the snapshot
    assert b.stop() == []
    snap = os.path.join(b.data_dir, "%s-0" % topic, "producer-state.snapshot")
    assert os.path.exists(snap)
    b.restart()
    with kw.Client(b.addr) as c:
        vals, s, base = batches[-1]
        assert c.produce(topic, 0, idem_batch(vals, pid, 0, s)) == (0, base)
        assert [v for _, v in log_values(c, topic)] == expected
    assert "rebuilt from its snapshot" in b.log_text()

    # a torn tail takes the last batch away: the snapshot (past the new
    # end) is dropped, and the batch, sent again, is written again rather
    # than answered as a duplicate of data that is gone
    assert b.stop() == []
    seg = sorted(glob.glob(os.path.join(b.data_dir, "%s-0" % topic,
                                        "*.log")))[-1]
    with open(seg, "r+b") as f:
        f.truncate(os.path.getsize(seg) - 5)
    b.restart()
    assert "is past the log end" in b.log_text()
    with kw.Client(b.addr) as c:
        assert end_offset(c, topic) == 30
        assert c.produce(topic, 0, idem_batch([b"next"], pid, 0, seq - 1),
                         acks=-1) == (0, 30)
        assert end_offset(c, topic) == 31
        assert [v for _, v in log_values(c, topic)] == expected


@pytest.mark.deadline(120)
def test_snapshot_at_segment_roll_and_crash(start_broker):
    """Small segments roll often; each roll writes the snapshot in the
    background, so after kill -9 the rebuild starts from it."""
    b = start_broker({"num.shards": 1})
    topic = create_topic(b.bootstrap, unique_topic("idem-roll"), 1,
                         config={"segment.bytes": "4096"})
    snap = os.path.join(b.data_dir, "%s-0" % topic, "producer-state.snapshot")
    sent = []
    with kw.Client(b.addr) as c:
        _, pid, _ = init_producer_id(c.conn)
        for k in range(200):
            vals = [b"r%03d-%d-" % (k, i) + b"y" * 40 for i in range(2)]
            err, base = c.produce(topic, 0, idem_batch(vals, pid, 0, 2 * k),
                                  acks=1)
            assert (err, base) == (0, 2 * k)
            sent.append((vals, 2 * k, base))
        deadline = time.monotonic() + 10
        while not os.path.exists(snap) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.path.exists(snap), "no snapshot written at segment roll"
        assert len(glob.glob(os.path.join(os.path.dirname(snap),
                                          "*.log"))) > 5
    b.kill9()
    b.restart()
    with kw.Client(b.addr) as c:
        for vals, s, base in sent[-5:]:
            assert c.produce(topic, 0, idem_batch(vals, pid, 0, s)) == \
                (0, base)
        assert end_offset(c, topic) == 400
        assert c.produce(topic, 0, idem_batch([b"z"], pid, 0, 400)) == \
            (0, 400)
    assert "rebuilt from its snapshot" in b.log_text()


@pytest.mark.deadline(60)
def test_producer_ids_unique_across_shards(start_broker):
    """Connections land on different shards; every id comes from the
    controller, so none repeats."""
    b = start_broker({"num.shards": 2})
    ids = set()
    for _ in range(6):
        with kw.Conn(b.addr) as conn:
            for v in (0, 1):
                err, pid, epoch = init_producer_id(conn, v)
                assert (err, epoch) == (0, 0)
                assert pid not in ids
                ids.add(pid)
    assert len(ids) == 12
