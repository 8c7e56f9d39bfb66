"""The deploy/ files, checked against the real broker.

- Prometheus: `promtool check config` on prometheus.yml (which loads the
  rule file it names), `promtool check rules`, and `promtool test rules`
  on the alerts' unit tests, which must make every alert fire on
  unhealthy series and stay quiet on a healthy broker.
- Every alert reads the broker's own series (or its scrape's `up`), and
  every strata_* series named by an alert rule or by a Grafana panel or
  variable exists in the /metrics output of a live broker, with a cold
  tier, that has had produce, fetch and consumer-group traffic; a
  histogram is referenced only through its _bucket/_sum/_count series.
  The disk and log size series are there for both tiers, and so are the
  cold tier's move series. The dashboard loads, has the panels operators
  expect (log size split by tier, not filtered to one), and every query
  parses (promtool).
- The sample configuration, deploy/server.properties, starts a broker
  with only the data directory and ports overridden.
- systemd: the unit's ExecStart, parsed from the unit, runs the broker
  from its WorkingDirectory with the sample configuration (binary, config
  and working directory swapped for the test's; ports added with --set);
  KillSignal stops it cleanly within TimeoutStopSec, and the next start
  needs no recovery. `systemd-analyze verify` when it is installed.
- Docker: the Dockerfile's structure (stages, slim runtime, non-root USER,
  EXPOSE, VOLUME, the runtime libraries cover what the binary links); its
  ENTRYPOINT and HEALTHCHECK commands run against a real broker outside
  Docker; and `docker build` only where a Docker daemon and the base
  images are available locally (there is no registry to pull from here).
"""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest
from confluent_kafka import Consumer, TopicPartition

import kafka_wire as kw
from it_util import (base_conf, consume_all, create_topic, produce_all,
                     unique_topic)
from strata_harness import (REPO, SANITIZER_PATTERNS, Broker, BrokerError,
                            find_binary, free_port, port_open)

DEPLOY = os.path.join(REPO, "deploy")
PROM_DIR = os.path.join(DEPLOY, "prometheus")
PROM_CONFIG = os.path.join(PROM_DIR, "prometheus.yml")
ALERTS = os.path.join(PROM_DIR, "strata-alerts.yml")
ALERT_TESTS = os.path.join(PROM_DIR, "strata-alerts.test.yml")
DASHBOARD = os.path.join(DEPLOY, "grafana", "strata-dashboard.json")
UNIT = os.path.join(DEPLOY, "strata.service")
DOCKERFILE = os.path.join(DEPLOY, "Dockerfile")
SAMPLE = os.path.join(DEPLOY, "server.properties")
SETUP_SH = os.path.join(DEPLOY, "setup.sh")

# Names a PromQL expression uses that are not series: functions, keywords
# and aggregation operators never start with strata_, so only strata_*
# identifiers are looked at, after quoted strings are removed (a label
# value could look like a name).
STRATA_NAME_RE = re.compile(r"\bstrata_[a-zA-Z0-9_:]*")
QUOTED_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def run(cmd, timeout=60, **kw_):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout, **kw_)


def need_tool(name, why):
    path = shutil.which(name)
    if not path:
        pytest.skip("%s not installed (%s)" % (name, why))
    return path


def promtool():
    return need_tool("promtool", "Debian package prometheus; deploy/setup.sh "
                     "test installs it")


def load_yaml(path):
    # python3-yaml is not one of deploy/setup.sh's test packages (yet);
    # where it is missing, the tests that read YAML say so and skip.
    yaml = pytest.importorskip("yaml", reason="python3-yaml not installed")
    with open(path) as f:
        return yaml.safe_load(f)


def http_get(url, timeout=10):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def assert_clean_exit(rc, log):
    """Status 0 after the stop signal, the broker's own "clean shutdown",
    and no sanitizer report (for the ASan run of the suite)."""
    assert rc == 0, log
    assert "clean shutdown" in log, log
    for pat in SANITIZER_PATTERNS:
        assert pat not in log, log


def wait_until(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.05)
    raise AssertionError("%s not reached within %.0f s" % (what, timeout))


# ------------------------------------------------------------ PromQL names


def promql_names(expr):
    """The strata_* series names an expression references."""
    return set(STRATA_NAME_RE.findall(QUOTED_RE.sub('""', expr)))


def exposition_names(text):
    """(sample names, {family: type}) of a /metrics text."""
    samples, types = set(), {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, typ = line.split(None, 3)
            types[family] = typ.strip()
        elif line and not line.startswith("#"):
            samples.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return samples, types


def missing_names(names, samples, types):
    """Referenced names that a live broker does not export. A histogram
    family is exported only as _bucket, _sum and _count series: a bare
    family name in PromQL selects nothing, and a _bucket of a family that
    is not a histogram is a typo."""
    bad = []
    for n in sorted(names):
        if n in types and types[n] in ("histogram", "summary"):
            bad.append("%s (a %s: use %s_bucket/_sum/_count)"
                       % (n, types[n], n))
            continue
        base = next((n[:-len(s)] for s in HISTOGRAM_SUFFIXES
                     if n.endswith(s) and types.get(n[:-len(s)]) in
                     ("histogram", "summary")), None)
        if base is not None:
            if n.endswith("_bucket") and types[base] != "histogram":
                bad.append("%s (%s is a %s)" % (n, base, types[base]))
            elif n not in samples:
                bad.append("%s (no sample)" % n)
            continue
        if n not in samples:
            bad.append(n)
    return bad


def test_promql_name_parsing():
    names = promql_names(
        'histogram_quantile(0.99, sum by (le) (rate('
        'strata_fsync_duration_seconds_bucket{job="strata_x"}[5m]))) '
        '> 0.1 and on() strata_shard_up == 0 or up{job="strata"}')
    assert names == {"strata_fsync_duration_seconds_bucket",
                     "strata_shard_up"}
    samples, types = exposition_names(
        "# TYPE strata_h histogram\nstrata_h_bucket{le=\"1\"} 1\n"
        "strata_h_sum 1\nstrata_h_count 1\n# TYPE strata_c counter\n"
        "strata_c_total 3\n")
    assert missing_names({"strata_h_bucket", "strata_h_count",
                          "strata_c_total"}, samples, types) == []
    assert len(missing_names({"strata_h", "strata_c_total_bucket",
                              "strata_nope"}, samples, types)) == 3


# ------------------------------------------------------------ Prometheus


def load_alert_rules():
    doc = load_yaml(ALERTS)
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_check_config_loads_the_rules():
    tool = promtool()
    cfg = load_yaml(PROM_CONFIG)
    for rf in cfg["rule_files"]:
        assert os.path.exists(os.path.join(PROM_DIR, rf)), rf
    jobs = [j["job_name"] for j in cfg["scrape_configs"]]
    assert "strata" in jobs
    r = run([tool, "check", "config", PROM_CONFIG])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "rule files found" in r.stdout + r.stderr


def test_promtool_check_rules():
    r = run([promtool(), "check", "rules", ALERTS])
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_alert_unit_tests_pass():
    r = run([promtool(), "test", "rules", ALERT_TESTS], cwd=PROM_DIR)
    assert r.returncode == 0, r.stdout + r.stderr


def test_alert_set_and_its_tests_cover_each_other():
    rules = load_alert_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)), names
    for want in ("StrataBrokerDown", "StrataShardNotAnswering",
                 "StrataConsumerLagGrowing", "StrataDiskNearlyFull",
                 "StrataDiskFillingUp", "StrataFsyncSlow",
                 "StrataRequestErrors", "StrataConnectionsNearLimit",
                 "StrataTierMoveFailing"):
        assert want in names, want
    for r in rules:
        assert r["labels"]["severity"] in ("critical", "warning"), r["alert"]
        # the broker's own series (or its scrape's up), no exporter's
        assert promql_names(r["expr"]) or \
            re.search(r'\bup\{job="strata"\}', r["expr"]), r["alert"]
        for a in ("summary", "description", "runbook"):
            assert r["annotations"].get(a), (r["alert"], a)
    tests = load_yaml(ALERT_TESTS)["tests"]
    fires, quiet = set(), set()
    for t in tests:
        for case in t.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else quiet).add(
                case["alertname"])
    assert set(names) - fires == set(), "alerts never seen firing"
    assert set(names) - quiet == set(), "alerts never checked quiet"
    # the runbook of each alert exists in docs/operations.md
    with open(os.path.join(REPO, "docs", "operations.md")) as f:
        headings = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower())
                    .replace(" ", "-")
                    for h in re.findall(r"^#+ (.*)$", f.read(), re.M)}
    for r in rules:
        anchor = r["annotations"]["runbook"].split("#", 1)[1]
        assert anchor in headings, (r["alert"], anchor)


# ------------------------------------------------------------ Grafana


def load_dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def dashboard_panels(d):
    out = []
    for p in d["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))  # collapsed rows
    return out


def dashboard_queries(d):
    """Every PromQL text of the dashboard: panel targets and variables."""
    exprs = []
    for p in dashboard_panels(d):
        exprs += [t["expr"] for t in p.get("targets", []) if t.get("expr")]
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]
            exprs.append(q["query"] if isinstance(q, dict) else q)
    return exprs


def test_dashboard_loads_and_has_the_panels():
    d = load_dashboard()
    assert d["schemaVersion"] >= 36
    assert d["uid"] and d["title"]
    tvars = {v["name"]: v for v in d["templating"]["list"]}
    assert tvars["datasource"]["type"] == "datasource"
    assert tvars["datasource"]["query"] == "prometheus"
    panels = [p for p in dashboard_panels(d) if p["type"] != "row"]
    ids = [p["id"] for p in dashboard_panels(d)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for p in panels:
        assert p["datasource"]["uid"] in ("${datasource}",
                                          "${DS_PROMETHEUS}"), p["title"]
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, \
            p["title"]
        assert p["targets"] and all(t.get("expr") for t in p["targets"]), \
            p["title"]
    titles = " | ".join(p["title"].lower() for p in panels)
    exprs = {p["title"]: " ".join(t["expr"] for t in p["targets"])
             for p in panels}
    # what operators look for, by the series each panel must show
    wanted = {
        "produce records per topic": "strata_topic_records_in_total",
        "fetch records per topic": "strata_topic_records_out_total",
        "bytes in per topic": "strata_topic_bytes_in_total",
        "bytes out per topic": "strata_topic_bytes_out_total",
        "requests by API": "strata_requests_total",
        "errors": 'error!="NONE"',
        "produce latency": 'api="Produce"',
        "fetch latency": 'api="Fetch"',
        "fsync latency": "strata_fsync_duration_seconds_bucket",
        "connections": "strata_connections_active",
        "connections against max.connections": "strata_connections_max",
        "log size per tier": "strata_log_size_bytes",
        "free disk space per tier": "strata_log_dir_free_bytes",
        "moved to the cold tier": "strata_tier_moved_bytes_total",
        "tier move failures": "strata_tier_move_failures_total",
        "shard loop utilisation": "strata_shard_loop_idle_seconds_total",
        "shard up": "strata_shard_up",
        "lag per group and partition": "strata_group_lag",
    }
    for what, needle in wanted.items():
        assert any(needle in e for e in exprs.values()), what
    for q in ("p50", "p99"):
        assert sum(1 for p in panels for t in p["targets"]
                   if t.get("legendFormat") == q) >= 3, q
    assert "lag" in titles and "latency" in titles
    # log size per tier: one series per tier, so both show with a cold tier
    size = [e for e in exprs.values() if "strata_log_size_bytes" in e
            and "by (tier)" in e]
    assert size, "no log size panel per tier"
    assert all("tier=" not in e and "tier!" not in e for e in size), size
    lag = [p for p in panels if "by (group, topic, partition)"
           in exprs[p["title"]]]
    assert lag, "no lag panel per group and partition"


def test_dashboard_queries_parse():
    """promtool has no expression checker, but it parses rule files: every
    dashboard query, with Grafana's variables replaced by plain values,
    becomes a recording rule."""
    tool = promtool()
    subst = [("$__rate_interval", "1m"), ("$__interval", "1m"),
             ("$__range", "1h")]
    rules = []
    for i, e in enumerate(dashboard_queries(load_dashboard())):
        m = re.match(r"^label_values\((.*),\s*(\w+)\)$", e)
        if m:  # a variable: its series selector must parse
            e = m.group(1) if m.group(1) else "up"
        for a, b in subst:
            e = e.replace(a, b)
        e = re.sub(r"\$\{?\w+\}?", ".*", e)
        rules.append({"record": "dashboard:q%d" % i, "expr": e})
    # JSON is YAML, so promtool reads it
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
    try:
        r = run([tool, "check", "rules", f.name])
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        os.unlink(f.name)


# ------------------------------------------------------------ live broker


class MetricsBroker(Broker):
    def __init__(self, settings=None):
        self.metrics_port = free_port()
        settings = dict(settings or {})
        # after the harness's metrics.listener=127.0.0.1:0, so it wins
        settings["metrics.listener"] = "127.0.0.1:%d" % self.metrics_port
        super().__init__(settings)
        if not self.external:
            # a cold tier too, so that the disk series of both tiers show
            # (not made here: the broker creates it at start)
            self.cold_dir = os.path.join(self.workdir, "cold")
            self.settings["log.tier.cold.dir"] = self.cold_dir

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.metrics_port, path)


@pytest.fixture(scope="module")
def live_metrics():
    """A two-shard broker with a cold tier, after produce, fetch and a
    consumer group commit: (broker, /metrics text)."""
    if os.environ.get("STRATA_BOOTSTRAP"):
        pytest.skip("needs its own broker (STRATA_BOOTSTRAP is set)")
    b = MetricsBroker({"num.shards": 2,
                       "group.initial.rebalance.delay.ms": 0})
    try:
        b.start()
    except BrokerError as e:
        b.cleanup()
        pytest.fail(str(e), pytrace=False)
    try:
        topic = create_topic(b.bootstrap, unique_topic("deploy"), 2)
        produce_all(b.bootstrap, topic,
                    [(b"k%d" % i, b"v" * 40, i % 2) for i in range(40)])
        consume_all(b.bootstrap, topic, 2, expected=40)
        group = unique_topic("deploy-group")
        c = Consumer(base_conf(b.bootstrap, **{
            "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100,
            "session.timeout.ms": 10000}))
        try:
            c.subscribe([topic])
            seen = 0
            deadline = time.monotonic() + 30
            while seen < 5 and time.monotonic() < deadline:
                seen += sum(1 for m in c.consume(100, timeout=0.5)
                            if m.error() is None)
            assert seen >= 5, "group consumer read %d records" % seen
            c.commit(offsets=[TopicPartition(topic, 0, 3)],
                     asynchronous=False)
            status, body = http_get(b.url("/metrics"))
            assert status == 200, body
            text = body.decode()
        finally:
            c.close()
        yield b, text
    finally:
        b.close()


def test_alert_rules_use_only_exported_series(live_metrics):
    _, text = live_metrics
    samples, types = exposition_names(text)
    names = set()
    for r in load_alert_rules():
        names |= promql_names(r["expr"])
    assert names, "no strata_* name found in the rules"
    assert missing_names(names, samples, types) == []


def test_disk_series_per_tier(live_metrics):
    """The disk alerts and panels group by tier: a broker with a cold tier
    exports free and total bytes for both, and free never exceeds total."""
    b, text = live_metrics
    got = {}
    for m in re.finditer(r'^(strata_log_dir_(?:free|size)_bytes)'
                         r'\{([^}]*)\} (\d+)$', text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        got[(m.group(1), labels["tier"])] = (labels["dir"], int(m.group(3)))
    for tier, d in (("local", b.data_dir), ("cold", b.cold_dir)):
        free = got[("strata_log_dir_free_bytes", tier)]
        size = got[("strata_log_dir_size_bytes", tier)]
        assert free[0] == size[0] == d, (tier, free, size)
        assert 0 <= free[1] <= size[1] and size[1] > 0, (tier, free, size)


def test_size_and_move_series_with_a_cold_tier(live_metrics):
    """With log.tier.cold.dir set, the log and partition sizes have a
    series per tier (the cold ones 0 before any move) and the move series
    the tier panels and StrataTierMoveFailing read are there."""
    _, text = live_metrics
    for name in ("strata_log_size_bytes", "strata_log_segments"):
        tiers = set(re.findall(r'^%s\{tier="(\w+)"\} \d+$' % name,
                               text, re.M))
        assert tiers == {"local", "cold"}, (name, tiers)
    part = set(re.findall(r'^strata_partition_size_bytes\{[^}]*'
                          r'tier="(\w+)"[^}]*\} \d+$', text, re.M))
    assert part == {"local", "cold"}, part
    for name in ("strata_tier_moved_bytes_total",
                 "strata_tier_move_failures_total",
                 "strata_tier_move_duration_seconds_count"):
        assert re.search(r"^%s \S+$" % name, text, re.M), name
    assert re.search(r"^strata_tier_move_failures_total 0$", text, re.M)


def test_dashboard_uses_only_exported_series(live_metrics):
    _, text = live_metrics
    samples, types = exposition_names(text)
    names = set()
    for e in dashboard_queries(load_dashboard()):
        names |= promql_names(e)
    assert len(names) >= 15, names
    assert missing_names(names, samples, types) == []


# ------------------------------------------------------------ sample config


def test_sample_config_starts_the_broker(tmp_path):
    """deploy/server.properties as shipped, with only the data directory
    and the ports overridden."""
    port, mport = free_port(), free_port()
    proc = subprocess.Popen(
        [find_binary(), "--config", SAMPLE,
         "--set", "log.dirs=%s" % (tmp_path / "data"),
         "--set", "listeners=PLAINTEXT://127.0.0.1:%d" % port,
         "--set", "metrics.listener=127.0.0.1:%d" % mport],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        cwd=str(tmp_path))
    try:
        wait_until(lambda: proc.poll() is not None or
                   port_open("127.0.0.1", port), 15, "listener")
        assert proc.poll() is None, proc.stderr.read()
        with kw.Client(("127.0.0.1", port)) as c:
            md = c.metadata()
        assert [(br["host"], br["port"]) for br in md["brokers"]] == \
            [("127.0.0.1", port)]
        assert http_get("http://127.0.0.1:%d/healthz" % mport) == \
            (200, b"ok\n")
        assert os.path.isdir(tmp_path / "data" / "meta")
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
        err = proc.stderr.read()
    assert_clean_exit(rc, err)


# ------------------------------------------------------------ systemd


def parse_unit(path):
    """{section: [(key, value)]}, continuation lines joined, comments
    dropped (systemd keys may repeat, hence lists)."""
    out, section, pending = {}, None, ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if pending:
                line = pending + " " + line.lstrip()
                pending = ""
            if line.endswith("\\"):
                pending = line[:-1].rstrip()
                continue
            s = line.strip()
            if not s or s[0] in "#;":
                continue
            if s.startswith("[") and s.endswith("]"):
                section = s[1:-1]
                out.setdefault(section, [])
                continue
            k, v = s.split("=", 1)
            out[section].append((k.strip(), v.strip()))
    return out


def unit_value(unit, section, key, default=None):
    vals = [v for k, v in unit.get(section, []) if k == key]
    return vals[-1] if vals else default


def parse_timespan(text):
    """systemd time span ("90", "90s", "1min 30s") in seconds."""
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600,
             "ms": 0.001}
    total = 0.0
    for num, u in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", text):
        total += float(num) * units[u]
    return total


def test_systemd_unit_settings():
    u = parse_unit(UNIT)
    sv = lambda k, d=None: unit_value(u, "Service", k, d)  # noqa: E731
    assert "network-online.target" in unit_value(u, "Unit", "After", "")
    assert "network-online.target" in unit_value(u, "Unit", "Wants", "")
    assert sv("User") == "strata" and sv("Group") == "strata"
    assert sv("DynamicUser", "no") in ("no", "false")
    assert sv("StateDirectory") == "strata"
    assert sv("WorkingDirectory") == "/var/lib/strata"
    argv = shlex.split(sv("ExecStart"))
    assert "/etc/strata/server.properties" in argv
    assert sv("KillSignal") == "SIGTERM"
    # the broker waits up to 30 s for in-flight fsyncs, then closes and
    # flushes every partition
    assert parse_timespan(sv("TimeoutStopSec")) >= 60
    assert sv("Restart") == "on-failure"
    assert 1 <= parse_timespan(sv("RestartSec")) <= 60
    # max.connections defaults to 65536, one descriptor each
    assert int(sv("LimitNOFILE")) > 65536
    for k, want in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                    ("ProtectHome", "yes"), ("PrivateTmp", "yes")):
        assert sv(k) == want, k
    assert "/var/lib/strata" in sv("ReadWritePaths", "")
    assert unit_value(u, "Install", "WantedBy") == "multi-user.target"


def test_systemd_analyze_verify(tmp_path):
    tool = shutil.which("systemd-analyze")
    if not tool:
        pytest.skip("systemd-analyze not installed")
    # verify insists that ExecStart's binary exists: point it at ours
    text = open(UNIT).read()
    argv0 = shlex.split(unit_value(parse_unit(UNIT), "Service",
                                   "ExecStart"))[0].lstrip("-@+!:")
    unit = tmp_path / "strata.service"
    unit.write_text(text.replace(argv0, find_binary()))
    r = run([tool, "verify", str(unit)])
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "strata.service" not in out, out


@pytest.mark.deadline(150)
def test_systemd_exec_start_runs_and_stops_cleanly(tmp_path):
    """The unit's own command line, with the binary, configuration file
    and working directory replaced by the test's: the broker keeps its data
    under the working directory (the sample's relative log.dirs), stops
    with KillSignal within TimeoutStopSec, and restarts without recovery."""
    u = parse_unit(UNIT)
    sv = lambda k, d=None: unit_value(u, "Service", k, d)  # noqa: E731
    argv = shlex.split(sv("ExecStart"))
    argv[0] = argv[0].lstrip("-@+!:")
    conf = tmp_path / "server.properties"
    shutil.copy(SAMPLE, conf)
    workdir = tmp_path / "var-lib-strata"
    workdir.mkdir()
    argv = [find_binary() if a == argv[0] else
            str(conf) if a == "/etc/strata/server.properties" else a
            for a in argv]
    port, mport = free_port(), free_port()
    argv += ["--set", "listeners=PLAINTEXT://127.0.0.1:%d" % port,
             "--set", "metrics.listener=127.0.0.1:%d" % mport]
    env = dict(os.environ)
    for k, v in u["Service"]:
        if k == "Environment":
            for item in shlex.split(v):
                ek, ev = item.split("=", 1)
                env[ek] = ev
    assert sv("WorkingDirectory") == "/var/lib/strata"
    stop_signal = getattr(signal, sv("KillSignal", "SIGTERM"))
    stop_timeout = parse_timespan(sv("TimeoutStopSec", "90"))
    # where the data must land: the file's log.dirs, relative to the
    # working directory
    log_dirs = "./strata-data"
    for line in open(SAMPLE):
        m = re.match(r"^\s*log\.dirs?\s*[=:]\s*(\S+)", line)
        if m:
            log_dirs = m.group(1)
    data = os.path.join(str(workdir), log_dirs)

    def start(name):
        log = open(tmp_path / name, "w+")
        p = subprocess.Popen(argv, cwd=str(workdir), env=env,
                             stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT)
        wait_until(lambda: p.poll() is not None or
                   port_open("127.0.0.1", port), 15, "listener")
        assert p.poll() is None, open(tmp_path / name).read()
        return p

    def stop(p, name):
        t0 = time.monotonic()
        p.send_signal(stop_signal)
        try:
            rc = p.wait(stop_timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
            raise AssertionError("no exit within TimeoutStopSec=%ss"
                                 % stop_timeout)
        assert_clean_exit(rc, open(tmp_path / name).read())
        return time.monotonic() - t0

    p = start("run1.log")
    try:
        bootstrap = "127.0.0.1:%d" % port
        topic = create_topic(bootstrap, unique_topic("unit"), 2)
        produce_all(bootstrap, topic,
                    [(None, b"r%d" % i, i % 2) for i in range(30)])
        assert http_get("http://127.0.0.1:%d/healthz" % mport)[0] == 200
    finally:
        took = stop(p, "run1.log")
    assert took < stop_timeout
    assert os.path.isdir(os.path.join(data, "meta")), os.listdir(workdir)
    assert os.path.isdir(os.path.join(data, "%s-0" % topic))
    assert os.path.exists(os.path.join(data, ".strata_clean_shutdown"))
    # a new data dir is no crash to recover from
    assert "checking partition tails" not in open(tmp_path / "run1.log").read()

    p = start("run2.log")
    try:
        got = consume_all(bootstrap, topic, 2, expected=30)
        assert sum(len(v) for v in got.values()) == 30
    finally:
        stop(p, "run2.log")
    assert "checking partition tails" not in open(tmp_path / "run2.log").read()


# ------------------------------------------------------------ Docker


def dockerfile_instructions():
    """[(INSTRUCTION, argument text)], continuation lines joined."""
    out, pending = [], ""
    for raw in open(DOCKERFILE):
        line = raw.rstrip("\n")
        if not pending and (not line.strip() or
                            line.lstrip().startswith("#")):
            continue
        if pending and line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def docker_stages():
    stages = []
    for ins, arg in dockerfile_instructions():
        if ins == "FROM":
            stages.append({"from": arg, "ins": []})
        elif stages:
            stages[-1]["ins"].append((ins, arg))
    return stages


def apt_packages(stage):
    pkgs = []
    for ins, arg in stage["ins"]:
        if ins == "RUN" and "apt-get install" in arg:
            part = arg.split("apt-get install", 1)[1].split("&&")[0]
            pkgs += [w for w in part.split() if not w.startswith("-")]
    return pkgs


def docker_env():
    env = {}
    for ins, arg in dockerfile_instructions():
        if ins == "ENV":
            for item in shlex.split(arg):
                k, _, v = item.partition("=")
                env[k] = v
    return env


def docker_exec_form(ins_name):
    for ins, arg in dockerfile_instructions():
        if ins == ins_name:
            if ins_name == "HEALTHCHECK":
                arg = arg[arg.index("CMD") + 3:].strip()
            return json.loads(arg)
    return None


def test_dockerfile_structure():
    stages = docker_stages()
    assert len(stages) >= 2
    final = stages[-1]
    assert "-slim" in final["from"], final["from"]
    build = stages[0]
    assert "AS build" in build["from"] or " as build" in build["from"]
    ins = dict()
    for i, a in final["ins"]:
        ins.setdefault(i, []).append(a)
    user = ins["USER"][-1].split(":")[0]
    assert user not in ("root", "0"), user
    exposed = " ".join(ins["EXPOSE"]).split()
    assert "9092" in exposed and "8080" in exposed
    assert "/var/lib/strata" in " ".join(ins["VOLUME"])
    assert any("--from=build" in a for a in ins["COPY"])
    env = docker_env()
    assert env["STRATA_METRICS_LISTENER"] == "0.0.0.0:8080"
    assert env["STRATA_LISTENERS"] == "PLAINTEXT://0.0.0.0:9092"
    assert env["STRATA_LOG_DIRS"] == "/var/lib/strata"
    assert "STRATA_ADVERTISED_LISTENERS" in env
    assert docker_exec_form("HEALTHCHECK")
    # the build stage installs what deploy/setup.sh builds with
    m = re.search(r"build_pkgs=\(([^)]*)\)", open(SETUP_SH).read())
    assert set(m.group(1).split()) <= set(apt_packages(build))


def test_docker_runtime_libraries_cover_the_binary():
    """Each library the binary links (DT_NEEDED) comes from a package the
    runtime stage installs, or from one every Debian image has."""
    readelf = need_tool("readelf", "binutils")
    need_tool("dpkg", "the runtime stage's package names are Debian's")
    r = run([readelf, "-d", find_binary()])
    assert r.returncode == 0, r.stderr
    libs = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout)
    assert libs
    # in every Debian image: libc6, and apt's own dependencies
    runtime = set(apt_packages(docker_stages()[-1])) | {
        "libc6", "libgcc-s1", "libstdc++6"}
    missing = []
    for lib in libs:
        if re.match(r"lib(a|ub|t|l)san\.", lib):
            continue  # a sanitizer build's runtime, not the image's
        path = None
        for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
                  "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu"):
            if os.path.exists(os.path.join(d, lib)):
                path = os.path.realpath(os.path.join(d, lib))
                break
        if path is None:
            missing.append(lib + " (not found here)")
            continue
        s = run(["dpkg", "-S", path])
        if s.returncode != 0:
            s = run(["dpkg", "-S", path.replace("/usr/lib/", "/lib/", 1)
                     if path.startswith("/usr/lib/") else
                     "/usr" + path])
        pkg = s.stdout.split(":")[0].strip()
        if pkg not in runtime:
            missing.append("%s (%s)" % (lib, pkg or "no package"))
    assert missing == [], missing


@pytest.mark.deadline(120)
def test_docker_entrypoint_and_healthcheck_run_the_broker(tmp_path):
    """The image's ENTRYPOINT command line with its ENV defaults, outside
    Docker: the binary path swapped for ours, ports and data directory
    moved to the test's, the advertised listener taken from the
    environment, and extra arguments appended. The HEALTHCHECK command
    must pass against it and fail once it is gone."""
    need_tool("bash", "the HEALTHCHECK runs bash")
    entry = docker_exec_form("ENTRYPOINT")
    assert entry[0] in ("/bin/sh", "/bin/bash") and entry[1] == "-c"
    script = entry[2]
    assert "/usr/local/bin/strata" in script
    entry = [entry[0], "-c",
             script.replace("/usr/local/bin/strata",
                            shlex.quote(find_binary()))] + entry[3:]
    port, mport = free_port(), free_port()
    env = dict(os.environ)
    env.update(docker_env())
    conf = tmp_path / "server.properties"
    shutil.copy(SAMPLE, conf)
    env.update({
        "STRATA_CONFIG": str(conf),
        "STRATA_LISTENERS": "PLAINTEXT://0.0.0.0:%d" % port,
        "STRATA_METRICS_LISTENER": "0.0.0.0:%d" % mport,
        "STRATA_LOG_DIRS": str(tmp_path / "data"),
        "STRATA_ADVERTISED_LISTENERS":
            "PLAINTEXT://broker.example.com:%d" % port,
    })
    health = docker_exec_form("HEALTHCHECK")
    log = open(tmp_path / "stderr.log", "w+")
    proc = subprocess.Popen(entry + ["--set", "num.shards=2"], env=env,
                            cwd=str(tmp_path), stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: proc.poll() is not None or
                   port_open("127.0.0.1", port), 15, "listener")
        assert proc.poll() is None, open(tmp_path / "stderr.log").read()
        with kw.Client(("127.0.0.1", port)) as c:
            md = c.metadata()
        assert [(br["host"], br["port"]) for br in md["brokers"]] == \
            [("broker.example.com", port)]
        # the shell exec'd the broker: the signal goes straight to it
        with open("/proc/%d/comm" % proc.pid) as f:
            assert f.read().strip() == "strata"
        r = run(health, env=env, timeout=10)
        assert r.returncode == 0, r.stdout + r.stderr
        text = open(tmp_path / "stderr.log").read()
        assert "2 shard(s)" in text  # the appended argument
    finally:
        stop = getattr(signal, dict(dockerfile_instructions()).get(
            "STOPSIGNAL", "SIGTERM"))
        proc.send_signal(stop)
        rc = proc.wait(60)
    assert_clean_exit(rc, open(tmp_path / "stderr.log").read())
    r = run(health, env=env, timeout=10)
    assert r.returncode != 0


@pytest.mark.deadline(1200)
def test_docker_build():
    docker = shutil.which("docker")
    if not docker or run([docker, "info"], timeout=20).returncode != 0:
        pytest.skip("no working Docker daemon")
    for stage in docker_stages():
        image = stage["from"].split()[0].replace("${DEBIAN_RELEASE}",
                                                 "bookworm")
        if run([docker, "image", "inspect", image],
               timeout=20).returncode != 0:
            pytest.skip("base image %s not present locally (no registry "
                        "access here)" % image)
    tag = "strata-test:%d" % os.getpid()
    r = run([docker, "build", "-f", DOCKERFILE, "-t", tag, REPO],
            timeout=1100)
    try:
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
        r = run([docker, "run", "--rm", tag, "--version"], timeout=60)
        assert r.returncode == 0 and r.stdout.startswith("strata "), \
            r.stdout + r.stderr
    finally:
        run([docker, "image", "rm", "-f", tag], timeout=60)
