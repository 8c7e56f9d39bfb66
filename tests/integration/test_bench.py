"""strata-bench, the bundled load client, against the real broker.

What is checked is that its figures can be trusted, not how large they are
(benchmarks assert nothing about time): a produce run reports exactly the
records the topic then holds, and no errors; consume reads them back; e2e
reports latencies from the stamps the records carry; --json has the
documented keys; --plot writes an SVG a browser can open; every
compression codec reaches the disk as that codec; broker errors are counted
and make the exit status non-zero; bad arguments exit with status 2 and
say why.

The binary: STRATA_BENCH_BIN (set by CTest), else strata-bench next to the
broker binary the harness uses.
"""

import json
import os
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

import kafka_wire as kw
from it_util import stored_codecs, unique_topic
from strata_harness import SANITIZER_PATTERNS, find_binary, free_port

BROKER_SETTINGS = {"auto.create.topics.enable": "false"}
SVG_NS = "{http://www.w3.org/2000/svg}"
CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
JSON_KEYS = {
    "mode", "topic", "bootstrap", "partitions", "record_size", "acks",
    "compression", "producers", "consumers", "inflight", "batch_bytes",
    "linger_ms", "target_throughput", "warmup_s", "records",
    "target_records", "bytes", "wire_bytes", "produced_records",
    "failed_records", "requests", "elapsed_s", "measured_s",
    "records_per_sec", "mb_per_sec", "latency_kind", "latency_ms",
    "latency_curve", "errors", "errors_by_code", "fatal", "ok", "series"}
LATENCY_KEYS = {"count", "min", "mean", "p50", "p95", "p99", "p99_9",
                "p99_99", "max"}


def bench_binary():
    env = os.environ.get("STRATA_BENCH_BIN")
    if env:
        return env if os.access(env, os.X_OK) else None
    broker = find_binary()
    if not broker:
        return None
    path = os.path.join(os.path.dirname(broker), "strata-bench")
    return path if os.access(path, os.X_OK) else None


BENCH = bench_binary()
pytestmark = pytest.mark.skipif(
    BENCH is None, reason="strata-bench binary not found (STRATA_BENCH_BIN=%s)"
    % os.environ.get("STRATA_BENCH_BIN", "<unset>"))


def run(*args, timeout=60):
    """Runs strata-bench; fails on any sanitizer report in its stderr."""
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    p = subprocess.run([BENCH] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=timeout, env=env)
    for pat in SANITIZER_PATTERNS:
        assert pat not in p.stderr, "sanitizer report:\n" + p.stderr
    return p


def run_json(*args, expect_rc=0, timeout=60):
    p = run(*args, "--json", "--quiet", timeout=timeout)
    assert p.returncode == expect_rc, (p.returncode, p.stdout, p.stderr)
    out = json.loads(p.stdout)
    assert JSON_KEYS <= set(out), JSON_KEYS - set(out)
    assert LATENCY_KEYS <= set(out["latency_ms"])
    return out


def high_watermark(broker, topic, part=0):
    with kw.Client(broker.addr) as c:
        err, _, off = c.list_offsets(topic, part, -1)
        assert err == 0
        return off


def wait_high_watermark(broker, topic, want, timeout=5.0):
    """acks=0 gets no answer: the broker may append a moment later."""
    deadline = time.monotonic() + timeout
    while True:
        hw = high_watermark(broker, topic)
        if hw == want or time.monotonic() > deadline:
            return hw
        time.sleep(0.05)


# ------------------------------------------------------------ arguments


@pytest.mark.parametrize("args,message", [
    ([], "missing mode"),
    (["produce"], "missing --topic"),
    (["publish", "--topic", "t"], "unknown mode 'publish'"),
    (["produce", "--topic", "t", "--bogus"], "unknown option '--bogus'"),
    (["produce", "--topic", "t", "--count", "ten"], "--count: 'ten'"),
    (["produce", "--topic", "t", "--acks", "2"], "--acks: '2'"),
    (["produce", "--topic", "t", "--compression", "brotli"],
     "--compression: 'brotli'"),
    (["produce", "--topic", "t", "--bootstrap", "nohost"],
     "--bootstrap: 'nohost'"),
    (["produce", "--topic", "t", "--count", "5", "--duration", "1"],
     "exclude each other"),
    (["e2e", "--topic", "t", "--record-size", "4"], "e2e needs at least"),
    (["produce", "--topic"], "needs a value"),
])
def test_argument_errors(args, message):
    p = run(*args)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert message in p.stderr, p.stderr
    assert "--help" in p.stderr
    assert p.stdout == ""


def test_help_lists_options():
    p = run("--help")
    assert p.returncode == 0
    for opt in ("--bootstrap", "--topic", "--partitions", "--record-size",
                "--count", "--duration", "--throughput", "--acks",
                "--batch-bytes", "--linger-ms", "--compression",
                "--producers", "--consumers", "--inflight", "--json",
                "--plot", "--warmup"):
        assert opt in p.stdout, opt


def test_unreachable_broker():
    p = run("produce", "--topic", "t", "--count", "10", "--bootstrap",
            "127.0.0.1:%d" % free_port(), "--timeout-ms", "2000")
    assert p.returncode == 1
    assert "cannot connect" in p.stderr


# ------------------------------------------------------------- runs


@pytest.mark.deadline(60)
def test_produce_then_consume(broker):
    topic = unique_topic("bench")
    out = run_json("produce", "--bootstrap", broker.bootstrap, "--topic",
                   topic, "--partitions", 3, "--count", 20000,
                   "--record-size", 100, "--producers", 2, "--acks", "all")
    assert out["mode"] == "produce"
    assert out["records"] == 20000 and out["target_records"] == 20000
    assert out["errors"] == 0 and out["errors_by_code"] == {}
    assert out["failed_records"] == 0 and out["ok"] is True
    assert out["bytes"] == 20000 * 100
    assert out["partitions"] == 3
    assert out["latency_ms"]["count"] == 20000
    assert 0 < out["latency_ms"]["p50"] <= out["latency_ms"]["max"]
    # the data is really there: created with 3 partitions, 20000 in all
    assert sum(high_watermark(broker, topic, p) for p in range(3)) == 20000

    out = run_json("consume", "--bootstrap", broker.bootstrap, "--topic",
                   topic, "--consumers", 2, "--check-crc")
    assert out["mode"] == "consume" and out["latency_kind"] == "fetch"
    assert out["records"] == 20000 and out["target_records"] == 20000
    assert out["bytes"] == 20000 * 100
    assert out["errors"] == 0 and out["ok"] is True

    # a count is a target: 25000 cannot be read from 20000 (the consumer
    # gives up after --timeout-ms without a record) and the run fails
    out = run_json("consume", "--bootstrap", broker.bootstrap, "--topic",
                   topic, "--count", 25000, "--timeout-ms", 1000,
                   "--fetch-wait-ms", 50, expect_rc=1)
    assert out["records"] == 20000 and out["ok"] is False


@pytest.mark.deadline(60)
def test_e2e_latency_and_plot(broker, tmp_path):
    topic = unique_topic("bench-e2e")
    svg = tmp_path / "e2e.svg"
    out = run_json("e2e", "--bootstrap", broker.bootstrap, "--topic", topic,
                   "--duration", 2, "--throughput", 5000, "--linger-ms", 0,
                   "--plot", svg)
    assert out["mode"] == "e2e" and out["latency_kind"] == "e2e"
    # the rate schedule sends exactly 5000/s for 2 s, and all arrive
    assert out["produced_records"] == 10000
    assert out["records"] == 10000
    assert out["errors"] == 0 and out["ok"] is True
    lat = out["latency_ms"]
    assert lat["count"] == 10000
    assert 0 < lat["p50"] <= lat["p99"] <= lat["max"]
    assert out["ack_latency_ms"]["count"] == 10000
    assert len(out["series"]) >= 2
    assert all({"t", "records_per_sec", "mb_per_sec", "p50_ms", "p99_ms",
                "errors", "produced_per_sec"} <= set(pt)
               for pt in out["series"])
    assert out["latency_curve"][0][0] == 0
    assert out["latency_curve"][-1][0] == pytest.approx(99.99)

    root = ET.parse(svg).getroot()
    assert root.tag == SVG_NS + "svg"
    lines = root.findall(".//" + SVG_NS + "polyline") + \
        root.findall(".//" + SVG_NS + "path")
    assert len(lines) >= 2
    assert all(pl.get("points") for pl in
               root.findall(".//" + SVG_NS + "polyline"))


@pytest.mark.deadline(60)
def test_every_codec_is_stored_as_sent(broker1):
    for name, codec in CODECS.items():
        topic = unique_topic("bench-" + name)
        out = run_json("produce", "--bootstrap", broker1.bootstrap,
                       "--topic", topic, "--count", 5000, "--record-size",
                       200, "--compression", name, "--batch-bytes", "64k")
        assert out["compression"] == name
        assert out["records"] == 5000 and out["ok"] is True, out
        if codec:
            # compressed batches are smaller than the records they carry
            assert out["wire_bytes"] < out["bytes"]
        assert high_watermark(broker1, topic) == 5000
        if broker1.external:
            continue
        codecs = stored_codecs(broker1.data_dir, topic)
        assert codecs and set(codecs) == {codec}, (name, codecs)
        out = run_json("consume", "--bootstrap", broker1.bootstrap,
                       "--topic", topic, "--check-crc")
        assert out["records"] == 5000 and out["bytes"] == 5000 * 200
        assert out["ok"] is True


@pytest.mark.deadline(60)
def test_broker_errors_are_counted(broker1):
    # records larger than message.max.bytes (1 MiB by default): refused
    # one by one, counted by error code, and the run fails
    topic = unique_topic("bench-big")
    out = run_json("produce", "--bootstrap", broker1.bootstrap, "--topic",
                   topic, "--count", 3, "--record-size", "2m", expect_rc=1)
    assert out["records"] == 0 and out["failed_records"] == 3
    assert out["errors"] == 3
    assert out["errors_by_code"] == {"MESSAGE_TOO_LARGE": 3}
    assert out["ok"] is False
    assert high_watermark(broker1, topic) == 0


@pytest.mark.deadline(60)
def test_consume_missing_topic(broker1):
    p = run("consume", "--bootstrap", broker1.bootstrap, "--topic",
            unique_topic("nothere"))
    assert p.returncode == 1
    assert "does not exist" in p.stderr


@pytest.mark.deadline(60)
def test_text_summary_and_progress(broker1):
    topic = unique_topic("bench-text")
    p = run("produce", "--bootstrap", broker1.bootstrap, "--topic", topic,
            "--duration", 1.5, "--throughput", 2000, "--acks", 0)
    assert p.returncode == 0, p.stderr
    assert "records" in p.stdout and "records/s" in p.stdout
    assert "p99.9" in p.stdout and "result       OK" in p.stdout
    # one progress line per second on stderr
    assert "rec/s" in p.stderr and "errors 0" in p.stderr
    assert wait_high_watermark(broker1, topic, 3000) == 3000


@pytest.mark.deadline(60)
def test_lost_connection_is_an_error(start_broker):
    b = start_broker()
    topic = unique_topic("bench-kill")
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    proc = subprocess.Popen(
        [BENCH, "produce", "--bootstrap", b.bootstrap, "--topic", topic,
         "--duration", "20", "--throughput", "20000", "--json", "--quiet",
         "--timeout-ms", "5000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        time.sleep(1.0)
        b.kill9()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    for pat in SANITIZER_PATTERNS:
        assert pat not in err, err
    assert proc.returncode == 1, (out, err)
    res = json.loads(out)
    assert res["ok"] is False
    assert res["errors_by_code"].get("disconnected") == 1, res
    assert res["fatal"] and "producer 0" in res["fatal"]
    # what was acknowledged before the crash is reported, not more
    assert 0 < res["records"] < 20 * 20000
