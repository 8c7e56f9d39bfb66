#!/usr/bin/python3
"""Capture real Kafka clients' requests and the broker's responses as
golden frames for the codec tests (tests/unit/test_kp_captured.c).

A small TCP proxy sits between a client and the broker and writes every
request frame, and the response that answers it, to files named
<outdir>/<client>/<ApiName>-v<version>-<n>.req.bin and .resp.bin (the frame
without its 4-byte size prefix). Responses are paired with requests by
correlation id per connection, so pipelined requests are matched correctly;
a request that gets no answer (Produce with acks=0) has no .resp.bin.

The design choice: the proxy only frames, it never parses bodies, so it
cannot disagree with the codec under test; the one thing it reads is the
4-byte request header prefix (ApiKey, ApiVersion) and the correlation ids.
The broker must be started with advertised.listeners pointing at the proxy,
or clients would connect to the broker directly after their first Metadata
answer and bypass the capture.

Three subcommands (Python 3 standard library only):

  proxy   run one proxy until SIGINT/SIGTERM, recording under one client name
  select  reduce a raw capture to the small deduplicated fixture set: one
          request/response pair per (client, API, version), plus one per
          compression codec for Produce, only for versions the broker
          advertises, smaller than --max-bytes
  regen   the whole procedure: start the broker, the proxy, run every client
          installed here (kcat, confluent-kafka, kafka-python, kafkajs,
          sarama), stop the broker, select into the output directory and
          write its README.md

Regenerate the committed fixtures (from the repository root, after building
the dev preset):

  /usr/bin/python3 tests/tools/capture_proxy.py regen \\
      --strata build-dev/strata --out tests/fixtures/captured
"""

import argparse
import os
import re
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time

# Names as in the Kafka schemas (so file names grep against them). Keys not
# listed are written as "Api<key>".
API_NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata",
    4: "LeaderAndIsr", 5: "StopReplica", 6: "UpdateMetadata",
    7: "ControlledShutdown", 8: "OffsetCommit", 9: "OffsetFetch",
    10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
    13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups",
    16: "ListGroups", 17: "SaslHandshake", 18: "ApiVersions",
    19: "CreateTopics", 20: "DeleteTopics", 21: "DeleteRecords",
    22: "InitProducerId", 23: "OffsetForLeaderEpoch",
    24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn", 26: "EndTxn",
    27: "WriteTxnMarkers", 28: "TxnOffsetCommit", 29: "DescribeAcls",
    30: "CreateAcls", 31: "DeleteAcls", 32: "DescribeConfigs",
    33: "AlterConfigs", 34: "AlterReplicaLogDirs", 35: "DescribeLogDirs",
    36: "SaslAuthenticate", 37: "CreatePartitions",
    38: "CreateDelegationToken", 39: "RenewDelegationToken",
    40: "ExpireDelegationToken", 41: "DescribeDelegationToken",
    42: "DeleteGroups", 43: "ElectLeaders", 44: "IncrementalAlterConfigs",
    45: "AlterPartitionReassignments", 46: "ListPartitionReassignments",
    47: "OffsetDelete", 48: "DescribeClientQuotas",
    49: "AlterClientQuotas", 50: "DescribeUserScramCredentials",
    51: "AlterUserScramCredentials", 60: "DescribeCluster",
    61: "DescribeProducers", 65: "DescribeTransactions",
    66: "ListTransactions", 67: "AllocateProducerIds",
}

# Larger than any frame a capture run sends; a bigger size means the
# stream is not Kafka (or is out of sync) and the connection is dropped.
MAX_FRAME = 64 << 20


def api_name(key):
    return API_NAMES.get(key, "Api%d" % key)


def read_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def read_frame(sock):
    """One size-prefixed frame: (prefix + body) or None at end of stream."""
    hdr = read_exact(sock, 4)
    if hdr is None:
        return None
    (size,) = struct.unpack(">i", hdr)
    if size < 0 or size > MAX_FRAME:
        raise ValueError("bad frame size %d" % size)
    body = read_exact(sock, size)
    if body is None:
        return None
    return hdr, body


class Recorder:
    """Numbers and writes frames; shared by every connection of a proxy.
    The client name can be switched between client runs (regen does)."""

    def __init__(self, outdir, client):
        self.outdir = outdir
        self.client = client
        self.lock = threading.Lock()
        self.counts = {}
        self.active = 0
        self.frames = 0

    def base_for(self, client, key, version):
        with self.lock:
            k = (client, key, version)
            n = self.counts.get(k, 0)
            self.counts[k] = n + 1
            self.frames += 1
        d = os.path.join(self.outdir, client)
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, "%s-v%d-%d" % (api_name(key), version, n))

    @staticmethod
    def write(path, data):
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)


def make_handler(recorder, upstream):
    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            client = recorder.client
            with recorder.lock:
                recorder.active += 1
            pending = {}  # correlation id -> file base
            plock = threading.Lock()
            try:
                up = socket.create_connection(upstream, timeout=30)
                up.settimeout(None)
            except OSError as e:
                sys.stderr.write("capture_proxy: upstream %s:%d: %s\n"
                                 % (upstream[0], upstream[1], e))
                with recorder.lock:
                    recorder.active -= 1
                return
            down = self.request

            def pump_responses():
                try:
                    while True:
                        fr = read_frame(up)
                        if fr is None:
                            break
                        hdr, body = fr
                        if len(body) >= 4:
                            (cid,) = struct.unpack(">i", body[:4])
                            with plock:
                                base = pending.pop(cid, None)
                            if base is not None:
                                recorder.write(base + ".resp.bin", body)
                        down.sendall(hdr + body)
                except (OSError, ValueError):
                    pass
                finally:
                    for s in (down, up):
                        try:
                            s.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass

            t = threading.Thread(target=pump_responses, daemon=True)
            t.start()
            try:
                while True:
                    fr = read_frame(down)
                    if fr is None:
                        break
                    hdr, body = fr
                    if len(body) >= 8:
                        key, ver, cid = struct.unpack(">hhi", body[:8])
                        base = recorder.base_for(client, key, ver)
                        recorder.write(base + ".req.bin", body)
                        with plock:
                            pending[cid] = base
                    up.sendall(hdr + body)
            except (OSError, ValueError):
                pass
            finally:
                try:
                    up.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                t.join(30)
                up.close()
                with recorder.lock:
                    recorder.active -= 1

    return Handler


class ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def start_proxy(listen, upstream, recorder):
    srv = ProxyServer(listen, make_handler(recorder, upstream))
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    return srv


def parse_hostport(s):
    host, _, port = s.rpartition(":")
    return (host or "127.0.0.1", int(port))


# ---- selection ----

def uvarint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            return v, i
        shift += 7


def skip_tags(b, i):
    n, i = uvarint(b, i)
    for _ in range(n):
        _, i = uvarint(b, i)
        size, i = uvarint(b, i)
        i += size
    return i


def advertised_from(resp, version):
    """{api_key: (min, max)} from an ApiVersions response frame (header v0
    whatever the version), or None if it carries an error."""
    i = 4
    (err,) = struct.unpack_from(">h", resp, i)
    i += 2
    if err:
        return None
    if version >= 3:
        n, i = uvarint(resp, i)
        n -= 1
    else:
        (n,) = struct.unpack_from(">i", resp, i)
        i += 4
    out = {}
    for _ in range(n):
        key, lo, hi = struct.unpack_from(">hhh", resp, i)
        i += 6
        if version >= 3:
            i = skip_tags(resp, i)
        out[key] = (lo, hi)
    return out


def produce_codecs(req, version):
    """The set of compression codecs (attributes & 7) of the record batches
    in a non-flexible Produce request, or None if it cannot be walked."""
    try:
        i = 8
        (clen,) = struct.unpack_from(">h", req, i)
        i += 2 + max(clen, 0)          # client id
        (tlen,) = struct.unpack_from(">h", req, i)
        i += 2 + max(tlen, 0)          # transactional id
        i += 2 + 4                     # acks, timeout
        (nt,) = struct.unpack_from(">i", req, i)
        i += 4
        codecs = set()
        for _ in range(nt):
            (nl,) = struct.unpack_from(">h", req, i)
            i += 2 + nl
            (np,) = struct.unpack_from(">i", req, i)
            i += 4
            for _ in range(np):
                i += 4
                (rl,) = struct.unpack_from(">i", req, i)
                i += 4
                if rl > 0:
                    # batch: baseOffset 8, length 4, epoch 4, magic 1,
                    # crc 4, attributes 2
                    (attr,) = struct.unpack_from(">h", req, i + 21)
                    codecs.add(attr & 7)
                    i += rl
        return codecs
    except struct.error:
        return None


CODEC_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def select(raw, out, max_bytes):
    """Copies the chosen pairs from raw/<client>/ to out/<client>/ and
    returns [(client, api, version, n, codec, req_size, resp_size)] (codec:
    the Produce compression codec, -1 for other APIs or mixed codecs)."""
    advertised = None
    pairs = {}  # client -> list of (key, ver, base)
    for client in sorted(os.listdir(raw)):
        cdir = os.path.join(raw, client)
        if not os.path.isdir(cdir):
            continue
        for fn in sorted(os.listdir(cdir)):
            if not fn.endswith(".req.bin"):
                continue
            base = os.path.join(cdir, fn[:-len(".req.bin")])
            with open(base + ".req.bin", "rb") as f:
                req = f.read()
            key, ver = struct.unpack_from(">hh", req, 0)
            pairs.setdefault(client, []).append((key, ver, base))
            if key == 18 and advertised is None and \
                    os.path.exists(base + ".resp.bin"):
                with open(base + ".resp.bin", "rb") as f:
                    advertised = advertised_from(f.read(), ver)
    if advertised is None:
        raise SystemExit("select: no successful ApiVersions answer in %s"
                         % raw)

    chosen = []
    for client, lst in sorted(pairs.items()):
        best = {}
        for key, ver, base in lst:
            rng = advertised.get(key)
            if rng is None or not rng[0] <= ver <= rng[1]:
                continue
            with open(base + ".req.bin", "rb") as f:
                req = f.read()
            resp = b""
            if os.path.exists(base + ".resp.bin"):
                with open(base + ".resp.bin", "rb") as f:
                    resp = f.read()
            if len(req) > max_bytes or len(resp) > max_bytes:
                continue
            # Produce: one pair per codec (-1: not Produce, or mixed).
            tag = -1
            if key == 0:
                codecs = produce_codecs(req, ver)
                if codecs and len(codecs) == 1:
                    tag = min(codecs)
            # The largest pair under the cap has the most content (a Fetch
            # answer with records rather than an empty long-poll answer, a
            # Metadata answer with topics). Ties go to the earliest.
            size = len(req) + len(resp)
            k = (key, ver, tag)
            if k not in best or size > best[k][0]:
                best[k] = (size, base, len(req), len(resp))
        cout = os.path.join(out, client)
        if os.path.isdir(cout):
            shutil.rmtree(cout)
        os.makedirs(cout)
        counts = {}
        for (key, ver, tag), (_, base, rq, rs) in sorted(best.items()):
            n = counts.get((key, ver), 0)
            counts[(key, ver)] = n + 1
            dst = os.path.join(cout, "%s-v%d-%d" % (api_name(key), ver, n))
            shutil.copyfile(base + ".req.bin", dst + ".req.bin")
            if rs:
                shutil.copyfile(base + ".resp.bin", dst + ".resp.bin")
            chosen.append((client, key, ver, n, tag, rq, rs))
    return chosen


# ---- regen: drive every client through one proxy ----

KCAT_TOPIC = "cap-kcat"

CONFLUENT_SCRIPT = r'''
import sys, time
from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic
B, T = sys.argv[1], sys.argv[2]
base = {"bootstrap.servers": B, "broker.address.family": "v4",
        "socket.timeout.ms": 10000}
a = AdminClient(base)
a.create_topics([NewTopic(T, 2, 1)], operation_timeout=10)[T].result(15)
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    t = a.list_topics(topic=T, timeout=5).topics.get(T)
    if t is not None and t.error is None and len(t.partitions) == 2:
        break
    time.sleep(0.1)
p = Producer(dict(base, **{"acks": "all", "linger.ms": 20}))
for i in range(4):
    p.produce(T, key=b"k%d" % i, value=b"v%d" % i, partition=i % 2)
assert p.flush(15) == 0
c = Consumer(dict(base, **{"group.id": "cap-unused",
                          "enable.auto.commit": False,
                          "enable.auto.offset.store": False,
                          "fetch.wait.max.ms": 100}))
c.assign([TopicPartition(T, q, OFFSET_BEGINNING) for q in range(2)])
got = 0
deadline = time.monotonic() + 15
while got < 4 and time.monotonic() < deadline:
    m = c.poll(0.5)
    if m is not None and m.error() is None:
        got += 1
assert got == 4, got
print("watermarks", c.get_watermark_offsets(TopicPartition(T, 0), timeout=10))
print("by time", c.offsets_for_times([TopicPartition(T, 0, 1)], timeout=10))
c.close()
a.delete_topics([T], operation_timeout=10)[T].result(15)
'''

KAFKA_PYTHON_SCRIPT = r'''
import ast, sys, time
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
B, T = sys.argv[1], sys.argv[2]
conf = {"bootstrap_servers": B, "request_timeout_ms": 15000,
        "api_version_auto_timeout_ms": 10000}
if sys.argv[3] != "probe":
    conf["api_version"] = ast.literal_eval(sys.argv[3])
a = KafkaAdminClient(**conf)
a.create_topics([NewTopic(T, 2, 1)], timeout_ms=10000)
time.sleep(0.3)
p = KafkaProducer(acks="all", linger_ms=20, **conf)
for i in range(4):
    p.send(T, key=b"k%d" % i, value=b"v%d" % i, partition=i % 2)
p.flush(timeout=15)
p.close(timeout=10)
if sys.argv[3] == "probe":
    # One batch per codec this Python has (python3-snappy, python3-lz4,
    # python3-zstandard; zstd needs Produce v7, i.e. the probed version).
    from kafka import codec
    have = {"gzip": codec.has_gzip, "snappy": codec.has_snappy,
            "lz4": codec.has_lz4, "zstd": codec.has_zstd}
    for z in ("gzip", "snappy", "lz4", "zstd"):
        if not have[z]():
            print("no", z)
            continue
        p = KafkaProducer(acks="all", linger_ms=20, compression_type=z,
                          **conf)
        for i in range(2):
            p.send(T, key=b"k%d" % i, value=(z * 40).encode(), partition=0)
        p.flush(timeout=15)
        p.close(timeout=10)
c = KafkaConsumer(group_id=None, enable_auto_commit=False,
                  consumer_timeout_ms=1000, fetch_max_wait_ms=100, **conf)
tps = [TopicPartition(T, q) for q in range(2)]
c.assign(tps)
c.seek_to_beginning(*tps)
got = 0
deadline = time.monotonic() + 15
while got < 4 and time.monotonic() < deadline:
    for recs in c.poll(timeout_ms=500).values():
        got += len(recs)
assert got >= 4, got
print("version", c.config["api_version"])
print("end", c.end_offsets(tps))
try:
    print("by time", c.offsets_for_times({tps[0]: 1}))
except Exception as e:  # old pinned versions lack ListOffsets v1
    print("by time:", e)
c.close()
a.delete_topics([T], timeout_ms=10000)
a.close()
'''

KAFKAJS_SCRIPT = r'''
'use strict'
const { Kafka, logLevel, CompressionTypes } = require('kafkajs')
const [B, T] = process.argv.slice(2)
async function main() {
    const kafka = new Kafka({ clientId: 'strata-capture-kafkajs', brokers: [B],
                              logLevel: logLevel.ERROR, connectionTimeout: 5000,
                              requestTimeout: 15000, retry: { retries: 3 } })
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ waitForLeaders: true,
                               topics: [{ topic: T, numPartitions: 2,
                                          replicationFactor: 1 }] })
    const producer = kafka.producer({ allowAutoTopicCreation: false })
    await producer.connect()
    await producer.send({ topic: T, acks: -1, messages: [
        { key: 'k0', value: 'v0', partition: 0 },
        { key: 'k1', value: 'v1', partition: 0 }] })
    // gzip is kafkajs's only built-in codec.
    await producer.send({ topic: T, acks: -1,
                          compression: CompressionTypes.GZIP, messages: [
        { key: 'k2', value: 'gzip'.repeat(40), partition: 0 },
        { key: 'k3', value: 'gzip'.repeat(40), partition: 0 }] })
    await producer.disconnect()
    // Fetch through kafkajs's own Cluster/Broker classes: its public
    // consumer needs consumer groups (see tests/integration/js).
    const sym = Object.getOwnPropertySymbols(kafka).find(
        s => s.description === 'private:Kafka:createCluster')
    if (sym) {
        const cluster = kafka[sym]({ metadataMaxAge: 300000 })
        await cluster.connect()
        await cluster.addTargetTopic(T)
        await cluster.refreshMetadata()
        const leaders = cluster.findLeaderForPartitions(T, [0])
        const broker = await cluster.findBroker({ nodeId: Object.keys(leaders)[0] })
        const res = await broker.fetch({ replicaId: -1, isolationLevel: 0,
            maxWaitTime: 100, minBytes: 1, maxBytes: 1048576,
            topics: [{ topic: T, partitions: [{ partition: 0,
                                                fetchOffset: '0',
                                                maxBytes: 65536 }] }] })
        console.log('fetched', res.responses[0].partitions[0].messages.length)
        await cluster.disconnect()
    }
    console.log('offsets', JSON.stringify(await admin.fetchTopicOffsets(T)))
    console.log('by time', JSON.stringify(
        await admin.fetchTopicOffsetsByTimestamp(T, 1)))
    await admin.deleteTopics({ topics: [T], timeout: 10000 })
    await admin.disconnect()
}
main().catch(e => { console.error(e); process.exit(1) })
'''


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("broker exited with %d" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("broker did not listen on %d" % port)


def run_client(recorder, name, cmds, env=None, timeout=120):
    """Runs cmds (argv lists, optional stdin bytes) as client `name`, then
    waits for its connections to close so the next client starts clean."""
    recorder.client = name
    for argv, stdin in cmds:
        shown = [a if len(a) < 60 else "<script>" for a in argv]
        print("[%s] %s" % (name, " ".join(shown)), flush=True)
        r = subprocess.run(argv, input=stdin, env=env, timeout=timeout,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for line in r.stdout.decode(errors="replace").splitlines()[:8]:
            print("    " + line[:150])
        if r.returncode != 0:
            sys.stderr.write(r.stderr.decode(errors="replace")[-2000:])
            raise SystemExit("[%s] failed: %s" % (name, " ".join(argv)))
    deadline = time.monotonic() + 15
    while recorder.active and time.monotonic() < deadline:
        time.sleep(0.05)


def node_path(repo):
    nm = os.path.join(repo, "tests", "integration", "js", "node_modules")
    if os.path.isdir(os.path.join(nm, "kafkajs")):
        return nm
    return None


SARAMA_SRC = "/usr/share/gocode/src/github.com/Shopify/sarama"


def build_sarama(repo, work):
    """Builds tests/integration/go/sarama_client.go against Debian's sarama
    (golang-go, golang-github-shopify-sarama-dev); None when either is
    missing (the capture then has no sarama frames)."""
    if not shutil.which("go") or not os.path.isdir(SARAMA_SRC):
        print("[sarama] go or sarama not installed: skipped", flush=True)
        return None
    exe = os.path.join(work, "sarama_client")
    r = subprocess.run(["sh", os.path.join(repo, "tests", "integration", "go",
                                           "build.sh"), exe],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        sys.stderr.write(r.stdout.decode(errors="replace")[-3000:])
        raise SystemExit("[sarama] go build failed")
    return exe


def versions(nm):
    """Client versions for the README (nm: kafkajs's node_modules)."""
    out = {}
    r = subprocess.run(["kcat", "-V"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    m = re.search(r"Version (\S+) .*librdkafka (\S+)", r.stdout.decode())
    if m:
        out["kcat"] = "kcat %s on librdkafka %s" % m.groups()
    r = subprocess.run([sys.executable, "-c",
                        "import confluent_kafka, kafka;"
                        "print(confluent_kafka.version()[0],"
                        " confluent_kafka.libversion()[0], kafka.__version__)"],
                       stdout=subprocess.PIPE)
    ck, lib, kp = r.stdout.decode().split()
    out["confluent-kafka"] = "confluent-kafka-python %s on librdkafka %s" % (
        ck, lib)
    out["kafka-python"] = "kafka-python %s" % kp
    if nm:
        import json
        with open(os.path.join(nm, "kafkajs", "package.json")) as f:
            out["kafkajs"] = "kafkajs %s (node %s)" % (
                json.load(f)["version"],
                subprocess.run(["node", "--version"], stdout=subprocess.PIPE)
                .stdout.decode().strip())
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}",
                        "golang-github-shopify-sarama-dev"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if r.returncode == 0 and shutil.which("go"):
        go = subprocess.run(["go", "version"], stdout=subprocess.PIPE)
        out["sarama"] = "sarama %s (Debian), %s" % (
            r.stdout.decode().split("-")[0],
            go.stdout.decode().split()[2])
    return out


# kafka-python picks request versions from api_version (probed, or pinned
# by the application): each pin below makes it send a Produce version the
# others do not (0.11 → v3, 1.0 → v4, 1.1 → v5, 2.0 → v6, probed → v7).
# All runs record as one client, so select keeps one pair per version.
KAFKA_PYTHON_PINS = ["probe", "(0, 11, 0)", "(1, 0, 0)", "(1, 1, 0)",
                     "(2, 0, 0)"]


def regen(args):
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    work = tempfile.mkdtemp(prefix="strata-capture-")
    raw = os.path.join(work, "raw")
    bport, pport = free_port(), free_port()
    proxy_addr = "127.0.0.1:%d" % pport
    recorder = Recorder(raw, "none")
    srv = start_proxy(("127.0.0.1", pport), ("127.0.0.1", bport), recorder)
    blog = open(os.path.join(work, "broker.log"), "wb")
    broker = subprocess.Popen(
        [args.strata,
         "--set", "listeners=PLAINTEXT://127.0.0.1:%d" % bport,
         "--set", "advertised.listeners=PLAINTEXT://%s" % proxy_addr,
         "--set", "log.dirs=%s" % os.path.join(work, "data"),
         "--set", "num.shards=1"],
        stdout=blog, stderr=subprocess.STDOUT)
    nm = None
    try:
        wait_port(bport, broker)
        py = "/usr/bin/python3"
        # Compressible values, so a compressed batch is clearly smaller.
        lines = b"k0:%s\nk1:%s\n" % (b"a" * 200, b"b" * 200)
        kcat = []
        kcat.append((["kcat", "-b", proxy_addr, "-L"], None))
        for z in ("none", "gzip", "snappy", "lz4", "zstd"):
            kcat.append((["kcat", "-b", proxy_addr, "-P", "-t", KCAT_TOPIC,
                          "-p", "0", "-K", ":", "-z", z], lines))
        kcat.append((["kcat", "-b", proxy_addr, "-C", "-t", KCAT_TOPIC,
                      "-p", "0", "-o", "beginning", "-e", "-c", "4"], None))
        kcat.append((["kcat", "-b", proxy_addr, "-Q", "-t",
                      "%s:0:1" % KCAT_TOPIC], None))
        kcat.append((["kcat", "-b", proxy_addr, "-L", "-t", KCAT_TOPIC],
                     None))
        run_client(recorder, "kcat", kcat)
        # librdkafka told the broker is 0.9.0 (as if ApiVersions were not
        # answered) falls back to Metadata v0 and ListOffsets v0.
        old = ["-X", "api.version.request=false",
               "-X", "broker.version.fallback=0.9.0"]
        run_client(recorder, "kcat",
                   [(["kcat", "-b", proxy_addr] + old + ["-L", "-t",
                                                         KCAT_TOPIC], None),
                    (["kcat", "-b", proxy_addr] + old +
                     ["-Q", "-t", "%s:0:-2" % KCAT_TOPIC], None)])
        run_client(recorder, "confluent-kafka",
                   [([py, "-c", CONFLUENT_SCRIPT, proxy_addr, "cap-ck"],
                     None)])
        run_client(recorder, "kafka-python",
                   [([py, "-c", KAFKA_PYTHON_SCRIPT, proxy_addr,
                      "cap-kpy%d" % i, pin], None)
                    for i, pin in enumerate(KAFKA_PYTHON_PINS)])
        nm = node_path(repo)
        if nm is None:
            tmp = os.path.join(work, "npm")
            os.makedirs(tmp)
            subprocess.run(["npm", "install", "--no-audit", "--no-fund",
                            "kafkajs@2.2.4"], cwd=tmp, check=True,
                           stdout=subprocess.DEVNULL)
            nm = os.path.join(tmp, "node_modules")
        js = os.path.join(work, "capture.js")
        with open(js, "w") as f:
            f.write(KAFKAJS_SCRIPT)
        env = dict(os.environ, NODE_PATH=nm)
        run_client(recorder, "kafkajs",
                   [(["node", js, proxy_addr, "cap-kafkajs"], None)], env=env)
        sarama = build_sarama(repo, work)
        if sarama:
            z = ["none", "gzip", "snappy", "lz4", "zstd"]
            run_client(recorder, "sarama",
                       [([sarama, "produce", proxy_addr, "cap-sarama", "2", c],
                         None) for c in z] +
                       [([sarama, "consume", proxy_addr, "cap-sarama",
                          str(2 * len(z))], None),
                        ([sarama, "group", proxy_addr, "cap-sarama",
                          "cap-sarama-g", str(2 * len(z))], None),
                        ([sarama, "produce", proxy_addr, "cap-sarama-idem",
                          "2", "none", "idempotent"], None),
                        ([sarama, "admin", proxy_addr, "cap-sarama-adm"],
                         None)])
            # sarama picks request versions from the Kafka version it is
            # told: at 0.11 its Metadata is v1 (v5 from 1.0 on).
            tag = "cap-sarama-011"
            run_client(recorder, "sarama",
                       [([sarama, "produce", proxy_addr, tag, "2", "lz4"],
                         None),
                        ([sarama, "consume", proxy_addr, tag, "2"], None),
                        ([sarama, "group", proxy_addr, tag, tag + "-g", "2"],
                         None)],
                       env=dict(os.environ, SARAMA_KAFKA_VERSION="0.11.0.0"))
    finally:
        broker.send_signal(signal.SIGTERM)
        try:
            rc = broker.wait(30)
        except subprocess.TimeoutExpired:
            broker.kill()
            rc = broker.wait()
        srv.shutdown()
        srv.server_close()
        blog.close()
    if rc != 0:
        sys.stderr.write(open(os.path.join(work, "broker.log")).read()[-3000:])
        raise SystemExit("broker exited with %d" % rc)
    print("raw frames: %d in %s" % (recorder.frames, raw))
    chosen = select(raw, args.out, args.max_bytes)
    write_readme(args.out, chosen, versions(nm), args.max_bytes)
    if not args.keep:
        shutil.rmtree(work)
    print_table(chosen)


def summarise(chosen):
    table = {}
    for client, key, ver, _n, _tag, _rq, _rs in chosen:
        table.setdefault((client, key), set()).add(ver)
    return table


def print_table(chosen):
    for (client, key), vers in sorted(summarise(chosen).items()):
        print("%-18s %-13s %s" % (client, api_name(key),
                                  ",".join("v%d" % v for v in sorted(vers))))


README_HEAD = """\
# Captured frames

Golden Kafka frames captured from real clients talking to the real broker,
as STYLE.md asks for every advertised API and version. The unit test
`tests/unit/test_kp_captured.c` finds them at run time (any new file here
is picked up), decodes each request and re-encodes it byte for byte,
decodes each broker response and re-encodes that too, and checks that
every prefix of every frame fails cleanly.

Layout: `<client>/<ApiName>-v<version>-<n>.req.bin` is one request frame
as the client sent it, without the 4-byte size prefix (request header
included); `.resp.bin` beside it is the broker's answer (response header
included). One pair per (client, API, version), except Produce, which keeps
one per compression codec (n counts them; the table says which). Only
versions the broker advertised are kept, and only frames of at most
{max_bytes} bytes (so Produce and Fetch hold a few small records).

Generated by `tests/tools/capture_proxy.py regen`; do not edit by hand.

## Clients

{clients}

## Regenerate

From the repository root, with the dev build of the broker:

    cmake --preset dev && cmake --build build-dev -j2
    /usr/bin/python3 tests/tools/capture_proxy.py regen \\
        --strata build-dev/strata --out tests/fixtures/captured

It starts the broker with `advertised.listeners` pointing at the proxy (so
clients never bypass it after bootstrap), runs every client below through
the proxy, stops the broker with SIGTERM, keeps the deduplicated set and
rewrites this file. kafkajs comes from `tests/integration/js/node_modules`
when installed there (`cd tests/integration/js && npm ci`), else from a
temporary `npm install kafkajs@2.2.4`. The proxy alone, for other clients:

    /usr/bin/python3 tests/tools/capture_proxy.py proxy \\
        --listen 127.0.0.1:PROXYPORT --upstream 127.0.0.1:BROKERPORT \\
        --out RAWDIR --client NAME
    /usr/bin/python3 tests/tools/capture_proxy.py select --raw RAWDIR \\
        --out tests/fixtures/captured

What each client did (topics `cap-*`, a few records each):

- kcat: `-L`; `-P -K : -p 0 -z none|gzip|snappy|lz4|zstd` (two records
  of 200 bytes each, see the note at the end); `-C -o beginning -e -c 4`;
  `-Q -t topic:0:1`; `-L -t topic`; then `-L -t topic` and
  `-Q -t topic:0:-2` with `-X api.version.request=false
  -X broker.version.fallback=0.9.0` (librdkafka's fallback for brokers
  without ApiVersions: Metadata v0, ListOffsets v0).
- confluent-kafka: AdminClient create_topics (2 partitions), list_topics,
  Producer acks=all (4 records), Consumer assign + poll,
  get_watermark_offsets, offsets_for_times, AdminClient delete_topics.
- kafka-python: KafkaAdminClient create_topics, KafkaProducer acks=all
  (4 records), KafkaConsumer assign + seek_to_beginning + poll,
  end_offsets, offsets_for_times, delete_topics; five times, with
  api_version probed and pinned to 0.11.0, 1.0.0, 1.1.0 and 2.0.0, since
  kafka-python picks request versions from it (Produce v3 to v7). The
  probed run also sends one batch of 2 records per codec: gzip, and
  snappy, lz4 and zstd when python3-snappy, python3-lz4 and
  python3-zstandard are installed (Debian packages).
- kafkajs: admin createTopics, producer send acks=-1 (2 records, then 2
  gzip-compressed), Fetch through kafkajs's Cluster/Broker classes,
  fetchTopicOffsets, fetchTopicOffsetsByTimestamp, deleteTopics.
- sarama: `tests/integration/go/sarama_client.go` with Kafka version
  2.1.0 configured (sarama picks request versions from it): `produce`
  (sync producer, acks=all, 2 records per codec: none, gzip, snappy, lz4,
  zstd; the topic is auto-created), `consume` (partition consumers from
  the oldest offset), `group` (a consumer group of two members, its
  commits, ListGroups, DescribeGroups, OffsetFetch), `produce ...
  idempotent` (InitProducerId, then batches with producer id and
  sequence) and `admin` (CreateTopics, DescribeConfigs, AlterConfigs,
  CreatePartitions, DeleteRecords, DeleteTopics); then `produce`, `consume` and `group`
  again with `SARAMA_KAFKA_VERSION=0.11.0.0` (Metadata v1).

## What is here

| client | API | versions |
|---|---|---|
{table}

Produce frames by compression codec:

{produce}

librdkafka 2.0.2 (kcat, confluent-kafka) compresses with gzip, snappy or
lz4 only when the broker's Produce range includes v0 (lz4 also needs
FindCoordinator), and with zstd only from Produce v7 and Fetch v10 on.
Strata advertises Produce 0-7, so kcat's frames above carry every codec.
"""


def write_readme(out, chosen, vers, max_bytes):
    clients = "\n".join("- %s: %s" % (k, v) for k, v in sorted(vers.items()))
    rows = []
    for (client, key), vs in sorted(summarise(chosen).items()):
        rows.append("| %s | %s | %s |" % (
            client, api_name(key), ", ".join("v%d" % v for v in sorted(vs))))
    prod = []
    for client, key, ver, n, tag, _rq, _rs in chosen:
        if key == 0:
            prod.append("- %s/Produce-v%d-%d: %s" % (
                client, ver, n, CODEC_NAMES.get(tag, "mixed")))
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(README_HEAD.format(max_bytes=max_bytes, clients=clients,
                                   table="\n".join(rows),
                                   produce="\n".join(prod)))


MAX_BYTES = 4096


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("proxy", help="run one recording proxy")
    p.add_argument("--listen", required=True, help="host:port")
    p.add_argument("--upstream", required=True, help="broker host:port")
    p.add_argument("--out", required=True, help="raw output directory")
    p.add_argument("--client", required=True, help="client name (subdir)")
    s = sub.add_parser("select", help="reduce a raw capture")
    s.add_argument("--raw", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--max-bytes", type=int, default=MAX_BYTES)
    r = sub.add_parser("regen", help="capture every client into --out")
    r.add_argument("--strata", required=True, help="broker binary")
    r.add_argument("--out", required=True)
    r.add_argument("--max-bytes", type=int, default=MAX_BYTES)
    r.add_argument("--keep", action="store_true",
                   help="keep the raw capture and broker log")
    args = ap.parse_args()

    if args.cmd == "proxy":
        rec = Recorder(args.out, args.client)
        srv = start_proxy(parse_hostport(args.listen),
                          parse_hostport(args.upstream), rec)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(0.5):
            pass
        srv.shutdown()
        srv.server_close()
        print("%d frames" % rec.frames)
    elif args.cmd == "select":
        print_table(select(args.raw, args.out, args.max_bytes))
    else:
        os.makedirs(args.out, exist_ok=True)
        regen(args)


if __name__ == "__main__":
    main()
