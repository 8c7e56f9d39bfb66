"""Shared client-side helpers: topic set-up and bounded produce/consume
loops with confluent-kafka (librdkafka); what is stored (batch codecs on
disk, idempotent producers' sequences); running a client program that
answers in JSON (kafkajs, sarama).

Every loop here has a wall-clock deadline and raises with a summary of what
it got so far when the deadline passes, so a broker that loses, duplicates
or withholds messages produces a readable failure rather than a hang.
"""

import json
import os
import subprocess
import time
import uuid

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError,
                             KafkaException, Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

import kafka_wire as kw


def unique_topic(prefix="t"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def base_conf(bootstrap, **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        "broker.address.family": "v4",
        "socket.timeout.ms": 10000,
        "socket.connection.setup.timeout.ms": 5000,
    }
    conf.update(extra)
    return conf


def admin(bootstrap):
    return AdminClient(base_conf(bootstrap))


def create_topic(bootstrap, name, partitions=1, config=None, timeout=15,
                 led=True):
    """Create a topic and wait until metadata shows all its partitions
    with a leader; led=False returns once CreateTopics has answered (the
    broker answers once every partition is open or failed to open)."""
    a = admin(bootstrap)
    fs = a.create_topics([NewTopic(name, partitions, 1,
                                   config=config or {})],
                         operation_timeout=timeout, request_timeout=timeout)
    fs[name].result(timeout)
    if led:
        wait_for_topic(a, name, partitions, timeout)
    return name


def wait_for_topic(a, name, partitions, timeout=15):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        md = a.list_topics(topic=name, timeout=5)
        t = md.topics.get(name)
        if t is not None and t.error is None and \
                len(t.partitions) == partitions and \
                all(p.leader >= 0 for p in t.partitions.values()):
            return t
        last = t
        time.sleep(0.1)
    raise AssertionError("topic %s not visible with %d partitions within "
                         "%d s (last: %r)" % (name, partitions, timeout,
                                              last))


class DeliveryLog:
    """Collects delivery reports."""

    def __init__(self):
        self.ok = []       # (partition, offset, key, value)
        self.failed = []   # (error, key, value)

    def __call__(self, err, msg):
        if err is not None:
            self.failed.append((err, msg.key(), msg.value()))
        else:
            self.ok.append((msg.partition(), msg.offset(), msg.key(),
                            msg.value()))


def produce_all(bootstrap, topic, messages, timeout=60, **conf):
    """Produce (key, value, partition) tuples and wait for every delivery
    report. Returns the DeliveryLog; raises if any delivery failed."""
    c = base_conf(bootstrap, **{"acks": "all", "linger.ms": 5,
                                "message.timeout.ms": 30000})
    c.update(conf)
    p = Producer(c)
    log = DeliveryLog()
    deadline = time.monotonic() + timeout
    for key, value, part in messages:
        while True:
            try:
                if part is None:
                    p.produce(topic, value=value, key=key, on_delivery=log)
                else:
                    p.produce(topic, value=value, key=key, partition=part,
                              on_delivery=log)
                break
            except BufferError:
                p.poll(0.1)
                if time.monotonic() > deadline:
                    raise AssertionError("producer queue stuck")
        p.poll(0)
    left = p.flush(max(1.0, deadline - time.monotonic()))
    if left:
        raise AssertionError("%d messages not delivered within %d s "
                             "(%d ok, %d failed)" % (left, timeout,
                                                     len(log.ok),
                                                     len(log.failed)))
    if log.failed:
        raise AssertionError("%d deliveries failed, first: %s"
                             % (len(log.failed), log.failed[0][0]))
    return log


def consume_all(bootstrap, topic, partitions, expected=None, timeout=60,
                **conf):
    """Read partitions [0..partitions) from the beginning with assign() (no
    consumer group). Stops once every partition reached its end and at
    least `expected` messages were read. Returns {partition: [Message]}."""
    c = base_conf(bootstrap, **{
        "group.id": "strata-it-unused",  # required by librdkafka, unused
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
        "fetch.wait.max.ms": 100,
    })
    c.update(conf)
    cons = Consumer(c)
    try:
        cons.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                     for p in range(partitions)])
        out = {p: [] for p in range(partitions)}
        eof = set()
        count = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in cons.consume(num_messages=1000, timeout=0.5):
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        eof.add(m.partition())
                        continue
                    raise KafkaException(err)
                out[m.partition()].append(m)
                eof.discard(m.partition())
                count += 1
            if len(eof) == partitions and (expected is None or
                                           count >= expected):
                return out
        raise AssertionError(
            "consume of %s timed out after %d s: %d messages (expected %s), "
            "partitions at end: %s" % (topic, timeout, count, expected,
                                       sorted(eof)))
    finally:
        cons.close()


def total_size(paths):
    """Bytes in the files of `paths` that still exist: the broker may
    delete a segment (retention, compaction, tiering) between the listing
    and the stat."""
    total = 0
    for p in paths:
        try:
            total += os.path.getsize(p)
        except FileNotFoundError:
            pass
    return total


def stored_codecs(data_dir, topic, part=0):
    """Compression codec (attributes & 7) of every batch on disk."""
    d = os.path.join(data_dir, "%s-%d" % (topic, part))
    codecs = []
    for f in sorted(os.listdir(d)):
        if not f.endswith(".log"):
            continue
        with open(os.path.join(d, f), "rb") as fh:
            data = fh.read()
        codecs += [int.from_bytes(data[p + 21:p + 23], "big") & 7
                   for p, _, _ in kw.whole_batches(data)]
    return codecs


def run_client_json(argv, cwd=None, env=None, timeout=120):
    """Runs a client program that prints one JSON object on its last
    stdout line; returns that object. Raises with the program's stderr
    tail if it exits non-zero."""
    r = subprocess.run([str(a) for a in argv], cwd=cwd, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("%s %s exited %d\n%s"
                             % (os.path.basename(str(argv[0])), argv[1],
                                r.returncode,
                                r.stderr.decode(errors="replace")[-4000:]))
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def producer_sequences(addr, topic, part):
    """Reads every batch of a partition with hand-built Fetches and checks
    what an idempotent producer's batches must carry: a producer id, epoch
    0, and per producer id a sequence that starts at 0 and counts every
    record before it. Returns (end offset, {producer id: next sequence})."""
    with kw.Client(addr) as c:
        end = c.list_offsets(topic, part, kw.LATEST)[2]
        batches, off = [], 0
        while off < end:
            r = c.fetch(topic, part, off)
            assert r["error"] == 0, r
            got = kw.batch_headers(r["records"])
            assert got, "no whole batch at %d" % off
            batches += got
            off = got[-1][0] + got[-1][1]
    assert off == end
    seq = {}
    for base, count, pid, epoch, first in batches:
        assert pid >= 0 and epoch == 0, (part, base, pid, epoch)
        assert first == seq.get(pid, 0), \
            "partition %d offset %d: sequence %d, want %d" % (
                part, base, first, seq.get(pid, 0))
        seq[pid] = first + count
    return end, seq
