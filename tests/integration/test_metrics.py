"""The metrics/ops HTTP endpoint (metrics.listener): /metrics in the
Prometheus text format (checked with `promtool check metrics`), the
per-topic records-in counter, consumer lag of a real confluent-kafka
group, /healthz, the /v1/status JSON shape, 404/405 for anything else,
and garbage HTTP that must not hurt the broker.

Each broker gets its metrics listener on a free loopback port; the
module's brokers run with one and with two shards, so lag is also joined
across shards (a group's coordinator and its partition may live on
different shards).
"""

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from confluent_kafka import Consumer, TopicPartition

import kafka_wire as kw
from it_util import base_conf, create_topic, produce_all, unique_topic
from strata_harness import Broker, BrokerError, free_port

SAMPLE_RE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class MetricsBroker(Broker):
    def __init__(self, settings=None):
        settings = dict(settings or {})
        self.metrics_port = free_port()
        settings.setdefault("metrics.listener",
                            "127.0.0.1:%d" % self.metrics_port)
        super().__init__(settings)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.metrics_port, path)


def http_get(url, method="GET", timeout=10):
    """(status, headers, body) without raising on 4xx/5xx."""
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def parse_metrics(text):
    """{name: [(labels dict, value)]} of every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        assert m, "unparsable sample line: %r" % line
        labels = dict(LABEL_RE.findall(m.group(2) or ""))
        out.setdefault(m.group(1), []).append((labels, float(m.group(3))))
    return out


def value(samples, name, **labels):
    """The value of the one sample of `name` with these labels, or None."""
    hits = [v for lab, v in samples.get(name, [])
            if all(lab.get(k) == str(x) for k, x in labels.items())]
    assert len(hits) <= 1, (name, labels, hits)
    return hits[0] if hits else None


def scrape(b):
    status, headers, body = http_get(b.url("/metrics"))
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return body.decode()


def wait_for(fn, timeout=15, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError("%s not reached within %d s (last: %r)"
                         % (what, timeout, last))


@pytest.fixture(scope="module", params=[1, 2], ids=["shards1", "shards2"])
def mbroker(request):
    if os.environ.get("STRATA_BOOTSTRAP"):
        pytest.skip("needs its own broker (STRATA_BOOTSTRAP is set)")
    b = MetricsBroker({"num.shards": request.param,
                       "group.initial.rebalance.delay.ms": 0})
    try:
        b.start()
    except BrokerError as e:
        b.cleanup()
        pytest.fail(str(e), pytrace=False)
    yield b
    b.close()


# ------------------------------------------------------------ start-up


def test_address_logged_at_start(mbroker):
    assert ("metrics on http://127.0.0.1:%d" % mbroker.metrics_port) \
        in mbroker.log_text()


def test_listener_none_turns_it_off(start_broker):
    port = free_port()
    b = start_broker({"metrics.listener": "none"})
    assert "metrics endpoint off" in b.log_text()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_listener_in_use_is_refused():
    """An address the operator chose and cannot have stops the start, as
    for the Kafka listener."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    b = Broker({"metrics.listener": "127.0.0.1:%d" % taken.getsockname()[1]})
    try:
        with pytest.raises(BrokerError, match="metrics.listener"):
            b.start()
    finally:
        taken.close()
        b.cleanup()


# ------------------------------------------------------------ /metrics


def test_promtool_accepts_metrics(mbroker):
    # Traffic first, so that every family has samples to check.
    topic = unique_topic("prom")
    create_topic(mbroker.bootstrap, topic, partitions=2)
    produce_all(mbroker.bootstrap, topic,
                [(b"k%d" % i, b"v" * 50, i % 2) for i in range(20)])
    commit_offset(mbroker, unique_topic("promgroup"), topic, 0, 3)
    text = scrape(mbroker)
    samples = parse_metrics(text)
    for name in ("strata_requests_total",
                 "strata_request_duration_seconds_bucket",
                 "strata_fsync_duration_seconds_count",
                 "strata_connections_active",
                 "strata_topic_records_in_total",
                 "strata_partition_log_end_offset",
                 "strata_partition_segments",
                 "strata_shard_loop_busy_seconds_total",
                 "strata_group_lag"):
        assert name in samples, name
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool not installed (Debian package prometheus; "
                    "deploy/setup.sh test installs it): format checked by "
                    "the parser above only")
    r = subprocess.run([promtool, "check", "metrics"], input=text,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def test_records_in_counter_reads_n(mbroker):
    topic = unique_topic("recin")
    n = 137
    create_topic(mbroker.bootstrap, topic, partitions=3)
    produce_all(mbroker.bootstrap, topic,
                [(None, b"x%d" % i, i % 3) for i in range(n)])
    s = parse_metrics(scrape(mbroker))
    assert value(s, "strata_topic_records_in_total", topic=topic) == n
    assert value(s, "strata_topic_bytes_in_total", topic=topic) > n
    ends = [value(s, "strata_partition_log_end_offset", topic=topic,
                  partition=p) for p in range(3)]
    assert sum(ends) == n
    assert value(s, "strata_partition_size_bytes", topic=topic,
                 partition=0, tier="local") > 0
    assert value(s, "strata_partition_segments", topic=topic, partition=0,
                 tier="local") == 1
    assert value(s, "strata_requests_total", api="Produce",
                 error="NONE") >= 1
    assert value(s, "strata_request_duration_seconds_count",
                 api="Produce") >= 1
    # acks=all: every produce waited for an fsync
    assert value(s, "strata_fsync_duration_seconds_count") >= 1
    assert value(s, "strata_connections_accepted_total") >= 1


def test_bytes_and_records_out_counted_for_fetches(mbroker):
    topic = unique_topic("out")
    create_topic(mbroker.bootstrap, topic)
    produce_all(mbroker.bootstrap, topic, [(None, b"y" * 100, 0)] * 10)
    c = kw.Client(mbroker.addr)
    try:
        assert len(kw.decode_record_batches(c.fetch(topic, 0, 0)["records"])) \
            == 10
        # from the middle: the records before offset 4 may travel in the
        # same batch, but only those from 4 on count
        c.fetch(topic, 0, 4)
    finally:
        c.conn.close()
    s = parse_metrics(scrape(mbroker))
    assert value(s, "strata_topic_bytes_out_total", topic=topic) >= 1000
    assert value(s, "strata_topic_records_out_total", topic=topic) == 16


def test_request_errors_are_counted_by_code(mbroker):
    topic = unique_topic("err")
    create_topic(mbroker.bootstrap, topic)
    batch = kw.encode_record_batch([(None, b"v")])
    with kw.Conn(mbroker.addr) as c:
        # partition 7 of a one-partition topic
        c.request(kw.PRODUCE, 7, kw.req_produce(7, 1, 5000,
                                                [(topic, 7, batch)]))
        # Heartbeat v1 of a group nobody joined: a top-level error
        w = kw.Writer()
        w.string(unique_topic("nogroup")).i32(1).string("nobody")
        c.request(12, 1, w.getvalue())
    s = parse_metrics(scrape(mbroker))
    assert value(s, "strata_requests_total", api="Produce",
                 error="UNKNOWN_TOPIC_OR_PARTITION") >= 1
    hb = [(lab, v) for lab, v in s["strata_requests_total"]
          if lab["api"] == "Heartbeat" and lab["error"] != "NONE"]
    assert hb, s["strata_requests_total"]


def test_entity_errors_are_counted_by_code(mbroker):
    """APIs whose errors sit in per-topic, per-partition or per-group
    entries (no top-level ErrorCode) count the first one."""
    topic = unique_topic("err2")
    create_topic(mbroker.bootstrap, topic)
    missing = unique_topic("missing")
    with kw.Conn(mbroker.addr) as c:
        c.request(kw.METADATA, 4, kw.req_metadata(4, [missing], False))
        c.request(kw.LIST_OFFSETS, 1,
                  kw.req_list_offsets(1, [(topic, 9, kw.LATEST)]))
        c.request(kw.DELETE_RECORDS, 0,
                  kw.req_delete_records(0, [(topic, 0, 5)]))
        # DeleteTopics v1 of a topic that does not exist
        w = kw.Writer()
        w.array_len(1).string(missing).i32(5000)
        c.request(20, 1, w.getvalue())
        # DeleteGroups v0 of a group nobody created
        w = kw.Writer()
        w.array_len(1).string(unique_topic("nogroup"))
        c.request(42, 0, w.getvalue())
    s = parse_metrics(scrape(mbroker))
    for api, err in (("Metadata", "UNKNOWN_TOPIC_OR_PARTITION"),
                     ("ListOffsets", "UNKNOWN_TOPIC_OR_PARTITION"),
                     ("DeleteRecords", "OFFSET_OUT_OF_RANGE"),
                     ("DeleteTopics", "UNKNOWN_TOPIC_OR_PARTITION"),
                     ("DeleteGroups", "GROUP_ID_NOT_FOUND")):
        assert value(s, "strata_requests_total", api=api, error=err) >= 1, \
            (api, err, [lab for lab, _ in s["strata_requests_total"]
                        if lab["api"] == api])


def test_malformed_request_counted_as_invalid(mbroker):
    with kw.Conn(mbroker.addr) as c:
        # Metadata v1 whose topic array claims more than the frame holds
        c.send_raw(kw.frame(3, 1, 1, b"\x00\x00\x7f\xff"))
        assert c.expect_closed()
    s = parse_metrics(scrape(mbroker))
    assert value(s, "strata_requests_total", api="Metadata",
                 error="INVALID_REQUEST") >= 1


# ------------------------------------------------------------ lag


def commit_offset(b, group, topic, partition, k):
    """A real consumer group member: subscribes, reads k records of the
    partition, commits offset k synchronously and stays in the group.
    Returns the (open) consumer."""
    c = Consumer(base_conf(b.bootstrap, **{
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10000,
        "fetch.wait.max.ms": 100,
    }))
    c.subscribe([topic])
    seen = 0
    deadline = time.monotonic() + 30
    while seen < k and time.monotonic() < deadline:
        for m in c.consume(num_messages=100, timeout=0.5):
            if m.error() is None and m.partition() == partition:
                seen += 1
    assert seen >= k, "read %d of %d records" % (seen, k)
    c.commit(offsets=[TopicPartition(topic, partition, k)],
             asynchronous=False)
    return c


def test_group_lag_is_log_end_minus_committed(mbroker):
    topic = unique_topic("lag")
    group = unique_topic("group")
    n, k = 50, 17
    create_topic(mbroker.bootstrap, topic)
    produce_all(mbroker.bootstrap, topic,
                [(None, b"m%d" % i, 0) for i in range(n)])
    consumer = commit_offset(mbroker, group, topic, 0, k)
    try:
        s = parse_metrics(scrape(mbroker))
        labels = dict(group=group, topic=topic, partition=0)
        assert value(s, "strata_group_committed_offset", **labels) == k
        assert value(s, "strata_group_log_end_offset", **labels) == n
        assert value(s, "strata_group_lag", **labels) == n - k
        assert value(s, "strata_group_members", group=group) == 1
        assert value(s, "strata_group_state", group=group,
                     state="Stable") == 1
        assert value(s, "strata_group_state", group=group,
                     state="Empty") == 0

        st = json.loads(http_get(mbroker.url("/v1/status"))[2])
        g = [x for x in st["groups"] if x["group_id"] == group]
        assert len(g) == 1
        assert g[0]["state"] == "Stable" and g[0]["members"] == 1
        assert g[0]["lag"] == n - k
        assert g[0]["offsets"] == [{"topic": topic, "partition": 0,
                                    "committed_offset": k,
                                    "log_end_offset": n, "lag": n - k}]
    finally:
        consumer.close()
    # The member left: the group stays, Empty, with its offsets and lag.
    s = wait_for(lambda: (lambda s: s if value(s, "strata_group_members",
                                              group=group) == 0 else None)(
        parse_metrics(scrape(mbroker))), what="member leaving")
    assert value(s, "strata_group_state", group=group, state="Empty") == 1
    assert value(s, "strata_group_lag", group=group, topic=topic,
                 partition=0) == n - k


# ------------------------------------------------------------ other paths


def test_healthz_ok(mbroker):
    status, headers, body = http_get(mbroker.url("/healthz"))
    assert (status, body) == (200, b"ok\n")


def test_status_json_shape(mbroker):
    topic = unique_topic("status")
    create_topic(mbroker.bootstrap, topic, partitions=2)
    produce_all(mbroker.bootstrap, topic, [(None, b"z", 1)] * 5)
    status, headers, body = http_get(mbroker.url("/v1/status"))
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    st = json.loads(body)
    assert set(st) == {"broker", "topics", "groups"}
    br = st["broker"]
    assert br["node_id"] == 1 and br["version"]
    assert br["shards"] == br["shards_up"] == int(
        mbroker.settings["num.shards"])
    assert br["uptime_seconds"] >= 0 and br["cluster_id"]
    t = [x for x in st["topics"] if x["name"] == topic]
    assert len(t) == 1
    assert t[0]["internal"] is False and t[0]["partition_count"] == 2
    parts = t[0]["partitions"]
    assert [p["partition"] for p in parts] == [0, 1]
    assert parts[1]["log_start_offset"] == 0
    assert parts[1]["log_end_offset"] == 5
    assert parts[0]["log_end_offset"] == 0
    assert parts[1]["size_bytes"] > 0 and parts[1]["segments"] == 1
    assert parts[1]["tiers"] == {"local": {
        "size_bytes": parts[1]["size_bytes"], "segments": 1}}
    internal = [x for x in st["topics"] if x["name"] == "__consumer_offsets"]
    assert internal and internal[0]["internal"] is True
    assert isinstance(st["groups"], list)


@pytest.mark.parametrize("path", ["/", "/metric", "/metrics/x", "/v1",
                                  "/v1/status/", "/healthz?x=1x"])
def test_unknown_paths_are_404(mbroker, path):
    if "?" in path:
        # the query string is not part of the path: still /healthz
        assert http_get(mbroker.url(path))[0] == 200
        return
    assert http_get(mbroker.url(path))[0] == 404


def test_other_methods_405_and_head(mbroker):
    status, headers, _ = http_get(mbroker.url("/metrics"), method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    status, headers, body = http_get(mbroker.url("/metrics"), method="HEAD")
    assert status == 200 and body == b""


def test_bad_http_does_not_hurt(mbroker):
    junk = [
        b"GARBAGE\r\n\r\n",
        b"GET /metrics HTTP/9.9\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\n" + b"X-A: b\r\n" * 5000 + b"\r\n",
        bytes(range(256)) * 20,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\n",  # never finished
        b"\r\n\r\n\r\n",
        b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000"
        b"\r\n\r\n" + b"x" * 1000,
    ]
    socks = []
    for data in junk:
        s = socket.create_connection(("127.0.0.1", mbroker.metrics_port),
                                     timeout=5)
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may hang up mid-send: fine
        socks.append(s)
    for s in socks:
        s.settimeout(2)
        try:
            s.recv(65536)
        except OSError:
            pass
        s.close()
    # many connections opened and dropped at once
    for _ in range(100):
        socket.create_connection(("127.0.0.1", mbroker.metrics_port),
                                 timeout=5).close()
    assert mbroker.alive()
    assert http_get(mbroker.url("/healthz"))[0] == 200
    assert "strata_shards" in scrape(mbroker)
