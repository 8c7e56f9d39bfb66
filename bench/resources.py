#!/usr/bin/python3
"""Resource figures for issue #3's targets: idle broker RSS, memory per idle
connection with 10,000 open, and start-up time with 1,000 partitions.

    bench/resources.py [--strata build/strata] [--conns 10000] [--parts 1000]
                       [--starts 5]

Measures only: prints the figures, asserts nothing. Start-up is timed from
exec to the moment a ListOffsets for every one of the partitions has been
answered (so every shard has opened the partitions it owns), after a clean
shutdown and again after a kill -9 (recovery checks the partitions'
tails), --starts times each: the median and the range are printed. Uses
hand-built frames (tests/integration/kafka_wire.py).
"""

import argparse
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "integration"))
import kafka_wire as kw  # noqa: E402


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, n)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Broker:
    def __init__(self, binary, data, port, extra=()):
        self.cmd = [binary, "--set", "listeners=PLAINTEXT://127.0.0.1:%d" %
                    port, "--set", "log.dirs=" + data] + list(extra)
        self.port = port
        self.proc = None

    def start(self):
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.002)
        raise SystemExit("broker did not start")

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        self.proc.wait(30)


def all_partitions_answer(port, topic, parts):
    req = kw.req_list_offsets(1, [(topic, p, -1) for p in range(parts)])
    with kw.Conn(("127.0.0.1", port), timeout=30) as c:
        res = kw.parse_list_offsets(c.request(kw.LIST_OFFSETS, 1, req), 1)
    return all(res[(topic, p)][0] == 0 for p in range(parts))


def create_topic(port, topic, parts):
    w = kw.Writer(False)
    w.array_len(1).string(topic).i32(parts).i16(1).array_len(0).array_len(0)
    w.i32(60000).boolean(False)
    with kw.Conn(("127.0.0.1", port), timeout=60) as c:
        r = c.request(19, 1, w.getvalue())
        n = r.array_len()
        assert n == 1
        r.string()
        err = r.i16()
        assert err == 0, err


def startup_ms(b, topic, parts):
    b.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if all_partitions_answer(b.port, topic, parts):
                return (time.monotonic() - b.t0) * 1000
        except (OSError, kw.ProtocolError):
            pass
        time.sleep(0.001)
    raise SystemExit("partitions did not all answer within 60 s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--strata", default="build/strata")
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--parts", type=int, default=1000)
    ap.add_argument("--starts", type=int, default=5)
    a = ap.parse_args()
    raise_nofile(a.conns + 1024)

    with tempfile.TemporaryDirectory(prefix="strata-res-") as d:
        port = free_port()
        b = Broker(a.strata, os.path.join(d, "data"), port)
        try:
            measure(a, b, port)
        finally:  # never leave a broker behind, whatever happened
            if b.proc and b.proc.poll() is None:
                b.proc.kill()
                b.proc.wait(10)


def measure(a, b, port):
    b.start()
    time.sleep(1.0)
    idle = rss_kb(b.proc.pid)
    print("idle RSS: %.1f MB" % (idle / 1024))

    socks = []
    for _ in range(a.conns):
        s = socket.create_connection(("127.0.0.1", port), 10)
        socks.append(s)
    # one request on each, so every connection has been served once
    probe = kw.frame(kw.API_VERSIONS, 0, 1, kw.req_api_versions(0))
    for s in socks:
        s.sendall(probe)
    for s in socks:
        n = int.from_bytes(s.recv(4), "big")
        while n > 0:
            n -= len(s.recv(n))
    time.sleep(1.0)
    with_conns = rss_kb(b.proc.pid)
    print("RSS with %d idle connections: %.1f MB, %.1f KB per connection"
          % (a.conns, with_conns / 1024,
             (with_conns - idle) / a.conns))
    for s in socks:
        s.close()

    create_topic(port, "parts", a.parts)
    # Several start-ups of each kind, as one start-up is a single sample
    # of a noisy machine: the median, and the range.
    clean, crash = [], []
    for _ in range(a.starts):
        b.stop()
        clean.append(startup_ms(b, "parts", a.parts))
        b.stop(signal.SIGKILL)
        crash.append(startup_ms(b, "parts", a.parts))
    b.stop()
    for what, ms in (("a clean stop", clean), ("kill -9", crash)):
        print("start-up with %d partitions after %s: %.1f ms "
              "(median of %d, %.1f-%.1f)"
              % (a.parts, what, statistics.median(ms), len(ms), min(ms),
                 max(ms)))


if __name__ == "__main__":
    main()
