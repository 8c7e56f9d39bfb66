"""What an operator meets: start-up configuration (file, --set, --help,
refusal of unknown keys and bad values), the advertised address of a
wildcard listener, retention by size and by time, deleting a topic while
acks=all producers write to it, and shutdown with a long poll in flight.
"""

import os
import re
import resource
import shutil
import subprocess
import threading
import time

import pytest
from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import NewTopic

import kafka_wire as kw
from it_util import admin, base_conf, create_topic, total_size, unique_topic
from strata_harness import Broker, find_binary, free_port


def run_cli(*args, timeout=10):
    return subprocess.run([find_binary()] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, text=True)


# ------------------------------------------------------------ start-up


def test_help_lists_every_key_with_default():
    r = run_cli("--help")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for key in ("listeners", "log.dirs", "num.shards", "num.partitions",
                "auto.create.topics.enable", "message.max.bytes",
                "socket.request.max.bytes", "log.segment.bytes",
                "log.retention.ms", "retention.ms", "segment.bytes"):
        assert key in out, key
    assert "PLAINTEXT://127.0.0.1:9092" in out
    assert "./strata-data" in out


@pytest.mark.parametrize("setting,key", [
    ("no.such.key=1", "no.such.key"),
    ("num.partitions=0", "num.partitions"),
    ("auto.create.topics.enable=maybe", "auto.create.topics.enable"),
    ("listeners=SSL://127.0.0.1:9093", "listeners"),
    ("log.segment.bytes=-5", "log.segment.bytes"),
])
def test_bad_config_refused_naming_the_key(tmp_path, setting, key):
    r = run_cli("--set", "log.dirs=%s" % tmp_path, "--set", setting)
    assert r.returncode != 0
    assert key in r.stderr, r.stderr
    # refused before anything was created on disk
    assert not os.path.exists(tmp_path / "meta")


def test_bad_config_file_refused_with_line(tmp_path):
    f = tmp_path / "server.properties"
    f.write_text("# comment\nnum.partitions=2\nlog.retention.hours=banana\n")
    r = run_cli("--config", str(f), "--set", "log.dirs=%s" % tmp_path)
    assert r.returncode != 0
    assert "log.retention.hours" in r.stderr and ":3" in r.stderr, r.stderr


@pytest.mark.parametrize("settings,want", [({}, 5),
                                            ({"num.partitions": 2}, 2)])
def test_config_file_and_set_override(tmp_path, settings, want):
    f = tmp_path / "server.properties"
    f.write_text("num.partitions = 5\nauto.create.topics.enable: true\n")
    b = Broker(settings)
    # --set wins over the file wherever --config stands on the line
    cmd = b.command() + ["--config", str(f)]
    b.command = lambda: cmd
    try:
        b.start()
        t = unique_topic("cfg")
        md = admin(b.bootstrap).list_topics(topic=t, timeout=10)
        assert len(md.topics[t].partitions) == want
    finally:
        b.close()


def test_wildcard_listener_advertises_reachable_address():
    b = Broker()
    b.settings["listeners"] = "PLAINTEXT://0.0.0.0:%d" % b.port
    try:
        b.start()
        md = admin(b.bootstrap).list_topics(timeout=10)
        assert [(br.host, br.port) for br in md.brokers.values()] == \
            [("127.0.0.1", b.port)]
    finally:
        b.close()


def test_ephemeral_port_is_advertised_as_bound(start_broker):
    b = start_broker()
    with kw.Client(b.addr) as c:
        md = c.metadata()
    assert [(br["host"], br["port"]) for br in md["brokers"]] == \
        [("127.0.0.1", b.port)]


# ------------------------------------------------------------ retention


def _watermarks(bootstrap, topic, part=0):
    c = Consumer(base_conf(bootstrap, **{"group.id": "strata-it-unused"}))
    try:
        return c.get_watermark_offsets(TopicPartition(topic, part),
                                       timeout=10, cached=False)
    finally:
        c.close()


def _wait_low_watermark(bootstrap, topic, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lo, hi = _watermarks(bootstrap, topic)
        if lo > 0:
            return lo, hi
        time.sleep(0.2)
    raise AssertionError("log start offset of %s never moved" % topic)


def _produce(bootstrap, topic, n, size=100, timestamp=None, **conf):
    p = Producer(base_conf(bootstrap, **dict({"acks": "all",
                                               "linger.ms": 0}, **conf)))
    for i in range(n):
        if timestamp is None:
            p.produce(topic, value=b"%06d" % i + b"x" * (size - 6))
        else:
            p.produce(topic, value=b"%06d" % i + b"x" * (size - 6),
                      timestamp=timestamp)
        if i % 20 == 19:
            p.flush(10)
    assert p.flush(30) == 0


def _partition_dir(b, topic):
    return os.path.join(b.data_dir, "%s-0" % topic)


@pytest.mark.deadline(60)
def test_retention_by_bytes(start_broker):
    b = start_broker({"log.retention.check.interval.ms": 300})
    t = create_topic(b.bootstrap, unique_topic("rb"), 1,
                     {"segment.bytes": "2048", "retention.bytes": "8192"})
    _produce(b.bootstrap, t, 400)

    def local_logs():
        d = _partition_dir(b, t)
        logs = [f for f in os.listdir(d) if f.endswith(".log")]
        return total_size(os.path.join(d, f) for f in logs), logs

    # What is left is retention.bytes plus at most one segment and the
    # active one. A pass that ran while the producer was still writing
    # left more; the next (every 300 ms) must bring it down.
    deadline = time.monotonic() + 15
    size, logs = local_logs()
    while size > 8192 + 2 * 2048 + 1024 and time.monotonic() < deadline:
        time.sleep(0.2)
        size, logs = local_logs()
    assert size <= 8192 + 2 * 2048 + 1024, (size, logs)
    lo, hi = _wait_low_watermark(b.bootstrap, t)
    assert hi == 400 and 0 < lo < 400
    # reading from the beginning starts at the new log start offset
    c = Consumer(base_conf(b.bootstrap, **{
        "group.id": "strata-it-unused", "auto.offset.reset": "earliest"}))
    try:
        c.assign([TopicPartition(t, 0, 0)])  # below the start: reset
        m = None
        deadline = time.monotonic() + 15
        while m is None and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error():
                m = None
        assert m is not None and m.offset() >= lo
    finally:
        c.close()
    # survives a restart
    assert b.stop() == []
    b.restart()
    lo2, hi2 = _watermarks(b.bootstrap, t)
    assert hi2 == 400 and lo2 >= lo


@pytest.mark.deadline(60)
def test_retention_by_time(start_broker):
    b = start_broker({"log.retention.check.interval.ms": 300})
    t = create_topic(b.bootstrap, unique_topic("rt"), 1,
                     {"segment.bytes": "2048", "retention.ms": "60000"})
    old = int(time.time() * 1000) - 3600 * 1000  # an hour ago
    _produce(b.bootstrap, t, 100, timestamp=old)
    _produce(b.bootstrap, t, 30)  # recent: must stay
    lo, hi = _wait_low_watermark(b.bootstrap, t)
    assert hi == 130
    assert 0 < lo <= 100


# ------------------------------------------------------------ topics


@pytest.mark.deadline(90)
@pytest.mark.parametrize("shards", [1, 2])
def test_delete_topic_while_producing_acks_all(start_broker, shards):
    # auto-create off: the producers would otherwise create it again
    b = start_broker({"num.shards": shards,
                      "auto.create.topics.enable": "false"})
    t = create_topic(b.bootstrap, unique_topic("del"), 4)
    stop = threading.Event()
    errors = []

    def producer():
        p = Producer(base_conf(b.bootstrap, **{
            "acks": "all", "linger.ms": 1, "message.timeout.ms": 5000}))
        i = 0
        while not stop.is_set():
            try:
                p.produce(t, value=b"v%d" % i, partition=i % 4,
                          on_delivery=lambda e, m: None)
            except BufferError:
                p.poll(0.05)
            except KafkaException as e:
                # librdkafka refuses once its metadata shows the topic
                # gone: the deletion the test is waiting for
                if e.args[0].code() not in (KafkaError._UNKNOWN_TOPIC,
                                            KafkaError.UNKNOWN_TOPIC_OR_PART):
                    errors.append(str(e))
                break
            i += 1
            p.poll(0)
        p.flush(10)

    threads = [threading.Thread(target=producer) for _ in range(2)]
    for th in threads:
        th.start()
    try:
        time.sleep(1.0)
        a = admin(b.bootstrap)  # keep the handle alive for the future
        fs = a.delete_topics([t], operation_timeout=10)
        fs[t].result(15)
        time.sleep(0.5)
    finally:
        stop.set()
        for th in threads:
            th.join(30)
    assert b.alive(), b.log_tail()
    assert not errors
    # the topic's files are gone, and the name can be used again
    assert not os.path.exists(_partition_dir(b, t))
    create_topic(b.bootstrap, t, 1)
    _produce(b.bootstrap, t, 10)
    assert _watermarks(b.bootstrap, t) == (0, 10)


# ------------------------------------------------------------ shutdown


@pytest.mark.deadline(60)
def test_sigterm_answers_waiting_long_poll_and_exits_cleanly(start_broker):
    b = start_broker({"num.shards": 2})
    t = create_topic(b.bootstrap, unique_topic("lp"), 2)
    conn = kw.Conn(b.addr, timeout=20)
    try:
        conn.send(kw.FETCH, 11, kw.req_fetch(11, [(t, 0, 0), (t, 1, 0)],
                                             max_wait_ms=30000))
        time.sleep(0.3)
        t0 = time.monotonic()
        problems = b.stop(timeout=10)
        assert problems == [], problems
        assert time.monotonic() - t0 < 5
    finally:
        conn.close()
    assert "clean shutdown" in b.log_text()


# ------------------------------------------------------------ recovery


def _segment_batches(path):
    """(start, total_size, base_offset, count) of every batch in a .log."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    p = 0
    while p + 61 <= len(data):
        base = int.from_bytes(data[p:p + 8], "big")
        total = 12 + int.from_bytes(data[p + 8:p + 12], "big")
        last_delta = int.from_bytes(data[p + 23:p + 27], "big")
        out.append((p, total, base, last_delta + 1))
        p += total
    return out


def test_marker_exists_only_while_stopped(start_broker):
    b = start_broker()
    marker = os.path.join(b.data_dir, ".strata_clean_shutdown")
    assert not os.path.exists(marker)
    assert b.stop() == []
    assert os.path.exists(marker)
    b.restart()
    # a crash from now on must be detected at the next start
    assert not os.path.exists(marker)


def _proc_number(pid, name, prefix, column):
    # The number in `column` of the line starting with `prefix` in
    # /proc/PID/NAME (status: "FDSize:", limits: "Max open files").
    with open("/proc/%d/%s" % (pid, name)) as f:
        for line in f:
            if line.startswith(prefix):
                return int(line.split()[column])
    raise AssertionError("no %r in /proc/%d/%s" % (prefix, pid, name))


def test_descriptor_table_sized_for_the_partitions_at_start(start_broker):
    # Grown threaded, the table costs an RCU grace period per doubling,
    # which the shards opening their partitions wait for together: the
    # broker sizes it for them (2 descriptors each) before its threads.
    b = start_broker({"max.connections": 10})
    create_topic(b.bootstrap, unique_topic("fdt"), 300)
    assert b.stop() == []
    b.restart()
    topics = os.listdir(b.data_dir)
    parts = sum(1 for d in topics if re.search(r"-\d+$", d))
    assert parts >= 300, topics
    # one more per connection allowed and 1,024 for the other files,
    # within the open-file limit; without the reservation the table only
    # grows to the next power of two above 2 x parts
    soft = _proc_number(b.pid, "limits", "Max open files", 3)
    want = min(2 * parts + 10 + 1024, soft - 1)
    assert _proc_number(b.pid, "status", "FDSize:", 1) >= want, (parts, soft)


def test_descriptor_table_sized_for_the_connections_at_start(start_broker):
    # The same for a burst of connections: each accept that grows the
    # table waits for a grace period, and every shard opening a file
    # with it. The broker reserves a slot per connection it allows.
    b = start_broker({"max.connections": 12000})
    soft = _proc_number(b.pid, "limits", "Max open files", 3)
    if soft < 8192:
        pytest.skip("open-file limit %d is too low to show it" % soft)
    want = min(12000 + 1024, soft - 1)
    # before: 2,048, sized for __consumer_offsets' partitions only
    assert _proc_number(b.pid, "status", "FDSize:", 1) >= want, soft


def _new_topic_errors(b, t, parts):
    # Creates topic t with `parts` partitions and returns the error code
    # of each in one ListOffsets (latest). Partitions that failed to open
    # never get a leader: no waiting for leaders.
    create_topic(b.bootstrap, t, parts, timeout=60, led=False)
    req = kw.req_list_offsets(1, [(t, p, -1) for p in range(parts)])
    with kw.Conn((b.host, b.port), timeout=30) as c:
        res = kw.parse_list_offsets(c.request(kw.LIST_OFFSETS, 1, req), 1)
    return [res[(t, p)][0] for p in range(parts)]


def test_low_soft_open_file_limit_is_raised_for_many_partitions():
    # Shells and systemd start programs with a soft limit of 1,024 and a
    # higher hard one; each partition keeps two descriptors open, so a
    # broker left at 1,024 fails to open partitions from about 500 on.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip("hard open-file limit %d is too low to show it" % hard)
    with open("/proc/sys/fs/nr_open") as f:
        nr_open = int(f.read())
    want = nr_open if hard == resource.RLIM_INFINITY else min(hard, nr_open)
    b = Broker()
    b.nofile = 1024
    try:
        b.start()
        assert _proc_number(b.pid, "limits", "Max open files", 3) == want
        assert "open-file limit raised from 1024" in b.log_text()
        errs = _new_topic_errors(b, unique_topic("nofile"), 600)
        bad = [p for p, e in enumerate(errs) if e != 0]
        assert not bad, (bad[:10], b.log_tail())
        assert "Too many open files" not in b.log_text()
    finally:
        b.close()


def test_partitions_that_cannot_open_answer_storage_error():
    # With no room to raise the limit, partitions past it fail to open:
    # their requests get KAFKA_STORAGE_ERROR, as from an offline log dir,
    # not UNKNOWN_TOPIC_OR_PARTITION for partitions the metadata lists.
    # Metadata lists them without a leader (LEADER_NOT_AVAILABLE), as
    # Kafka does a partition whose only replica is offline, so that
    # clients keep their records away from them.
    b = Broker()
    b.nofile = (1024, 1024)
    t = unique_topic("nofd")
    try:
        b.start()
        errs = _new_topic_errors(b, t, 600)
        assert set(errs) == {0, 56}, set(errs)  # 56: KAFKA_STORAGE_ERROR
        assert "Too many open files" in b.log_text()
        cluster = admin(b.bootstrap).list_topics(t, timeout=10)
        node, = cluster.brokers
        md = cluster.topics[t]
        for p, e in enumerate(errs):
            pm = md.partitions[p]
            if e == 0:
                assert pm.error is None and pm.leader == node, (p, pm.error)
            else:
                assert pm.leader == -1, (p, pm.leader)
                assert pm.error.code() == KafkaError.LEADER_NOT_AVAILABLE
                assert pm.isrs == [] and pm.replicas == [node], (p, pm.isrs)
        # Deleting the topic closes its partitions and drops its offline
        # ones: a new topic of the same name (a new id) is led in full.
        a = admin(b.bootstrap)
        for f in a.delete_topics([t], operation_timeout=30).values():
            f.result(30)
        assert set(_new_topic_errors(b, t, 2)) == {0}
        md = admin(b.bootstrap).list_topics(t, timeout=10).topics[t]
        assert [md.partitions[p].leader for p in range(2)] == [node, node]
    finally:
        b.close()


@pytest.mark.deadline(90)
def test_crash_after_a_clean_restart_is_still_recovered(start_broker):
    b = start_broker()
    t = create_topic(b.bootstrap, unique_topic("rc"), 1)
    _produce(b.bootstrap, t, 50)
    assert b.stop() == []
    b.restart()
    _produce(b.bootstrap, t, 50)
    b.kill9()
    # damage the last batch's records: only a real recovery (CRC check)
    # notices, a start that trusts the files does not
    seg = sorted(f for f in os.listdir(_partition_dir(b, t))
                 if f.endswith(".log"))[-1]
    path = os.path.join(_partition_dir(b, t), seg)
    start, total, base, count = _segment_batches(path)[-1]
    with open(path, "r+b") as f:
        f.seek(start + total - 3)
        byte = f.read(1)
        f.seek(start + total - 3)
        f.write(bytes([byte[0] ^ 0xFF]))
    b.restart()
    lo, hi = _watermarks(b.bootstrap, t)
    assert hi == base, (hi, base, count)
    assert "cutting" in b.log_text()


# ------------------------------------------------------------ listeners


def test_ipv6_wildcard_listener_takes_v6_and_v4():
    b = Broker()
    b.settings["listeners"] = "PLAINTEXT://[::]:%d" % b.port
    try:
        b.start()
        with kw.Client(("::1", b.port)) as c:
            md = c.metadata()
        assert [(br["host"], br["port"]) for br in md["brokers"]] == \
            [("::1", b.port)]
        with kw.Client(("127.0.0.1", b.port)) as c:
            assert c.metadata()["brokers"][0]["port"] == b.port
    finally:
        b.close()


def test_listener_port_zero_advertises_bound_port(tmp_path):
    import re
    import signal
    proc = subprocess.Popen(
        [find_binary(), "--set", "listeners=PLAINTEXT://127.0.0.1:0",
         "--set", "log.dirs=%s" % (tmp_path / "d")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.monotonic() + 15
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            m = re.search(r"\(port (\d+)\)", line)
            if m:
                port = int(m.group(1))
        assert port and port > 0
        with kw.Client(("127.0.0.1", port)) as c:
            assert [(br["host"], br["port"])
                    for br in c.metadata()["brokers"]] == \
                [("127.0.0.1", port)]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


# ------------------------------------------------------------ metadata log


def _meta_record(payload):
    body = bytes(payload)
    return len(body).to_bytes(4, "big") + \
        kw.crc32c(body).to_bytes(4, "big") + body


def test_unknown_metadata_record_is_skipped_not_truncated(start_broker):
    b = start_broker()
    t1 = create_topic(b.bootstrap, unique_topic("m1"), 1)
    assert b.stop() == []
    name = unique_topic("m2").encode()
    unknown = _meta_record(b"\x63" + b"from a newer version")
    create = _meta_record(b"\x01" + (10 ** 6).to_bytes(8, "big") +
                          len(name).to_bytes(2, "big") + name +
                          (3).to_bytes(4, "big") + (0).to_bytes(2, "big"))
    with open(os.path.join(b.data_dir, "meta", "metadata.log"), "ab") as f:
        f.write(unknown + create)
    b.restart()
    md = admin(b.bootstrap).list_topics(timeout=10)
    assert t1 in md.topics
    assert len(md.topics[name.decode()].partitions) == 3
    assert "skipping unreadable record" in b.log_text()


# ------------------------------------------------------------ limits


@pytest.mark.deadline(60)
@pytest.mark.parametrize("shards", [1, 2])
def test_pipelining_past_queued_max_requests_pauses_then_resumes(
        start_broker, shards):
    """The broker stops reading a connection at queued.max.requests
    unanswered requests (bounding what one client can pin), and must
    resume once answers leave: 2000 pipelined requests with a limit of 4
    all get answered, in order."""
    b = start_broker({"num.shards": shards, "queued.max.requests": 4})
    t = create_topic(b.bootstrap, unique_topic("bp"), 2)
    n = 2000
    with kw.Conn(b.addr, timeout=30) as conn:
        frames = b""
        corrs = []
        for i in range(n):
            if i % 2:
                body = kw.req_metadata(7, [t])
                key, v = kw.METADATA, 7
            else:
                body = kw.req_api_versions(0)
                key, v = kw.API_VERSIONS, 0
            data = conn.build(key, v, body)
            corrs.append(int.from_bytes(data[8:12], "big"))
            frames += data
        conn.send_raw(frames)
        for i in range(n):
            r = conn.recv_frame(timeout=20)
            assert int.from_bytes(r[:4], "big") == corrs[i], i


@pytest.mark.deadline(60)
def test_long_polls_survive_concurrent_topic_changes(start_broker):
    """Fetches keep pointers into the topic snapshot they started with;
    topic changes replace that snapshot on every shard meanwhile. Long
    polls spanning many changes must neither crash nor read freed memory
    (this is for the ASan run)."""
    b = start_broker({"num.shards": 2})
    t = create_topic(b.bootstrap, unique_topic("lpc"), 4)
    stop = time.monotonic() + 4
    errors = []

    def churn():
        a = admin(b.bootstrap)
        try:
            while time.monotonic() < stop:
                n = unique_topic("churn")
                a.create_topics([kw_new_topic(n)])[n].result(10)
                a.delete_topics([n])[n].result(10)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    th = threading.Thread(target=churn)
    th.start()
    try:
        with kw.Conn(b.addr, timeout=20) as conn:
            while time.monotonic() < stop:
                parts = [(t, p, 0) for p in range(4)]
                conn.request(kw.FETCH, 11,
                             kw.req_fetch(11, parts, max_wait_ms=50,
                                          min_bytes=1 << 20))
    finally:
        th.join(30)
    assert not errors, errors
    assert b.alive(), b.log_tail()


def kw_new_topic(name):
    return NewTopic(name, 2, 1)


# ------------------------------------------------------------ deploy/


SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "..", "..", "deploy", "server.properties")


def test_sample_config_lists_every_broker_key():
    import re
    helptext = run_cli("--help").stdout
    broker_part = helptext.split("Topic-level configs")[0]
    keys = set(re.findall(r"^  ([a-z][a-z0-9._-]+) ", broker_part, re.M))
    keys -= {"broker.id", "log.dir"}  # aliases, named in the comments
    sample = open(SAMPLE).read()
    listed = set(re.findall(r"^#?([a-z][a-z0-9._-]+)=", sample, re.M))
    assert keys - listed == set(), "missing from the sample"
    assert listed - keys == set(), "not a broker key"


def test_sample_config_starts_the_broker_uncommented(tmp_path):
    """Every line of the sample, uncommented, is a valid configuration
    (the listener and data dir then overridden for the test)."""
    text = open(SAMPLE).read()
    uncommented = "\n".join(l[1:] if re.match(r"^#[a-z]", l) else l
                            for l in text.splitlines())
    f = tmp_path / "server.properties"
    f.write_text(uncommented)
    b = Broker()
    cmd = b.command() + ["--config", str(f)]
    b.command = lambda: cmd
    try:
        b.start()
        md = admin(b.bootstrap).list_topics(timeout=10)
        assert [br.host for br in md.brokers.values()] == \
            ["broker1.example.com"]  # advertised.listeners from the file
    finally:
        b.close()


def test_shards_and_pinning_follow_the_allowed_cpus(tmp_path):
    """num.shards=0 (the default) means one shard per CPU the process may
    use, not per CPU online: a container's cpuset or systemd's
    CPUAffinity= may allow fewer. Pinning picks among the allowed ones,
    so it does not fail (and warn) for a CPU outside them."""
    taskset = shutil.which("taskset")
    if not taskset or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs taskset and two CPUs")
    last = max(os.sched_getaffinity(0))
    port = free_port()
    r = subprocess.run(
        ["timeout", "-s", "TERM", "2", taskset, "-c", str(last),
         find_binary(), "--set", "listeners=PLAINTEXT://127.0.0.1:%d" % port,
         "--set", "log.dirs=%s" % (tmp_path / "data"),
         "--set", "metrics.listener=none", "--set", "cpu.pin=true"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=20)
    assert "1 shard(s)" in r.stderr, r.stderr
    assert "could not pin" not in r.stderr, r.stderr
    assert "clean shutdown" in r.stderr, r.stderr
