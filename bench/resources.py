#!/usr/bin/python3
"""Resource figures for issue #3's targets: idle broker RSS, memory per idle
connection with 10,000 open, and start-up time with 1,000 partitions; and
how a burst of connections slows the requests of one already connected.

    bench/resources.py [--strata build/strata] [--conns 10000] [--parts 1000]
                       [--starts 5] [--burst 15000]

Measures only: prints the figures, asserts nothing. Start-up is timed from
exec to the moment a ListOffsets for every one of the partitions has been
answered (so every shard has opened the partitions it owns), after a clean
shutdown and again after a kill -9 (recovery checks the partitions'
tails), --starts times each: the median and the range are printed. The
burst: one connection sends an ApiVersions every 0.5 ms while --burst
others are opened as fast as non-blocking connects go, on the broker just
started; the slowest round trip and the 99th percentile are printed (0:
no burst). Uses hand-built frames (tests/integration/kafka_wire.py).
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
import threading
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


def burst_ms(port, n):
    """Round trips (ms) of ApiVersions on one connection while n others
    are opened: (slowest, 99th percentile)."""
    probe = kw.frame(kw.API_VERSIONS, 0, 1, kw.req_api_versions(0))
    lat, stop = [], threading.Event()
    s = socket.create_connection(("127.0.0.1", port), 10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def ping():
        while not stop.is_set():
            t0 = time.perf_counter()
            s.sendall(probe)
            left = int.from_bytes(s.recv(4, socket.MSG_WAITALL), "big")
            while left > 0:
                left -= len(s.recv(left))
            lat.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.0005)

    th = threading.Thread(target=ping, daemon=True)
    th.start()
    time.sleep(0.2)
    socks = []
    try:
        for _ in range(n):
            x = socket.socket()
            x.setblocking(False)
            socks.append(x)
            try:
                x.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
        time.sleep(1.0)  # the broker accepts the last of them
    finally:
        stop.set()
        th.join(10)
        for x in socks:
            x.close()
        s.close()
    lat.sort()
    return lat[-1], lat[int(len(lat) * 0.99)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--strata", default="build/strata")
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--parts", type=int, default=1000)
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--burst", type=int, default=15000)
    a = ap.parse_args()
    raise_nofile(max(a.conns, a.burst) + 1024)
    # the broker inherits the limit, and keeps 2 descriptors a partition
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if a.burst > soft - 2 * a.parts - 2048:
        a.burst = max(0, soft - 2 * a.parts - 2048)
        print("burst cut to %d connections by the open-file limit %d"
              % (a.burst, soft))

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
    if a.burst > 0:
        slowest, p99 = burst_ms(port, a.burst)
    b.stop()
    for what, ms in (("a clean stop", clean), ("kill -9", crash)):
        print("start-up with %d partitions after %s: %.1f ms "
              "(median of %d, %.1f-%.1f)"
              % (a.parts, what, statistics.median(ms), len(ms), min(ms),
                 max(ms)))
    if a.burst > 0:
        print("ApiVersions while %d connections arrive: slowest %.1f ms, "
              "p99 %.2f ms" % (a.burst, slowest, p99))


if __name__ == "__main__":
    main()
