"""Shared client-side helpers: topic set-up and bounded produce/consume
loops with confluent-kafka (librdkafka).

Every loop here has a wall-clock deadline and raises with a summary of what
it got so far when the deadline passes, so a broker that loses, duplicates
or withholds messages produces a readable failure rather than a hang.
"""

import time
import uuid

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError,
                             KafkaException, Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic


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
