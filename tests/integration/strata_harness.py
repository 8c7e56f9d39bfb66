"""Start, stop, crash and restart a real `strata` broker for the tests.

Each Broker owns one process on an ephemeral loopback port with its own
temporary data directory and a stderr log file. Teardown is strict on
purpose: a clean SIGTERM must end the process with exit status 0 within a
deadline, and a sanitizer report anywhere in the log fails the test that
owned the broker, so memory errors found by the client tests surface even
when the clients themselves saw nothing wrong. The process gets
PR_SET_PDEATHSIG, so a killed test runner never leaves a broker behind.

Environment:
  STRATA_BIN        path of the broker binary (set by CTest); otherwise
                    build-dev/strata or build/strata under the repository.
  STRATA_BOOTSTRAP  host:port of an already running broker (developer aid:
                    tests that need their own config or a restart skip).
  STRATA_IT_KEEP    keep data and log directories after the test.
"""

import ctypes
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

SANITIZER_PATTERNS = [
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "WARNING: ThreadSanitizer",
    "runtime error:",
    "SUMMARY: UndefinedBehaviorSanitizer",
]


class BrokerError(Exception):
    pass


def find_binary():
    """The broker binary, or None."""
    env = os.environ.get("STRATA_BIN")
    if env:
        return env if os.access(env, os.X_OK) else None
    found = [os.path.join(REPO, d, "strata") for d in ("build-dev", "build")]
    found = [p for p in found if os.access(p, os.X_OK)]
    if not found:
        return None
    return max(found, key=os.path.getmtime)


def external_bootstrap():
    return os.environ.get("STRATA_BOOTSTRAP") or None


_handed_out = set()


def free_port():
    """An ephemeral loopback port that was free a moment ago, and not one
    this process was given before: the kernel may offer a port just closed
    again, so two calls in a row (a listener and a metrics port) could
    otherwise get the same one."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def _pdeathsig():
    # Runs in the child between fork and exec: die with the test runner.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _child_setup(nofile):
    # The preexec of a broker: _pdeathsig, and an open-file limit when the
    # test asks for one (as a shell or systemd would set it): a soft limit,
    # or a (soft, hard) pair.
    def setup():
        _pdeathsig()
        if nofile is not None:
            soft, hard = (nofile if isinstance(nofile, tuple) else
                          (nofile, resource.getrlimit(
                              resource.RLIMIT_NOFILE)[1]))
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return setup


def port_open(host, port, timeout=0.2):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class Broker:
    """One broker process. `settings` are extra key=value config overrides;
    listeners and log.dirs are always set by the harness."""

    # Brokers not yet closed, so a failing test can show their logs.
    active = []

    def __init__(self, settings=None, name="strata"):
        self.settings = dict(settings or {})
        self.name = name
        self.external = external_bootstrap()
        self.proc = None
        self.log_file = None
        self.starts = 0
        self.started_ok = False  # accepted connections once
        self.logs = []  # log file of every start, oldest first
        self.nofile = None  # RLIMIT_NOFILE to start with: soft, or (soft, hard)
        if self.external:
            host, port = self.external.rsplit(":", 1)
            self.host, self.port = host, int(port)
            self.workdir = None
            return
        self.binary = find_binary()
        if self.binary is None:
            raise BrokerError(
                "strata binary not found (STRATA_BIN=%s): set STRATA_BIN or "
                "build build-dev/strata (cmake --preset dev && cmake --build "
                "build-dev)" % os.environ.get("STRATA_BIN", "<unset>"))
        self.host = "127.0.0.1"
        self.port = free_port()
        self.workdir = tempfile.mkdtemp(prefix="strata-it-")
        Broker.active.append(self)
        self.data_dir = os.path.join(self.workdir, "data")
        os.mkdir(self.data_dir)

    # ------------------------------------------------------------ basics

    @property
    def bootstrap(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def addr(self):
        return (self.host, self.port)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def command(self):
        cmd = [self.binary,
               "--set", "listeners=PLAINTEXT://%s:%d" % (self.host,
                                                         self.port),
               "--set", "log.dirs=%s" % self.data_dir,
               # an ephemeral port, so that brokers running side by side
               # do not contend for the default 127.0.0.1:8080
               "--set", "metrics.listener=127.0.0.1:0"]
        # STRATA_IT_SET="key=value,key=value" adds settings to every broker
        # (CTest runs the core tests again per log.io.mode this way); a
        # test's own settings win.
        extra = os.environ.get("STRATA_IT_SET", "")
        for kv in filter(None, (x.strip() for x in extra.split(","))):
            k = kv.split("=", 1)[0]
            if k not in self.settings:
                cmd += ["--set", kv]
        for k, v in self.settings.items():
            cmd += ["--set", "%s=%s" % (k, v)]
        return cmd

    def alive(self):
        if self.external:
            return port_open(self.host, self.port)
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        text = []
        for path in self.logs:
            try:
                with open(path, "r", errors="replace") as f:
                    text.append(f.read())
            except OSError:
                pass
        return "\n".join(text)

    def log_tail(self, lines=60):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def rss_kb(self):
        """Resident set size of the broker, in KiB (None if unknown)."""
        if self.external or not self.alive():
            return None
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    # --------------------------------------------------------- lifecycle

    def start(self, timeout=15.0):
        if self.external:
            if not port_open(self.host, self.port, 2.0):
                raise BrokerError("STRATA_BOOTSTRAP %s not reachable"
                                  % self.external)
            return self
        if self.alive():
            raise BrokerError("already running")
        self.starts += 1
        self.log_file = os.path.join(self.workdir,
                                     "stderr.%d.log" % self.starts)
        self.logs.append(self.log_file)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        with open(self.log_file, "wb") as err:
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL,
                stdout=err, stderr=err, cwd=self.workdir, env=env,
                preexec_fn=_child_setup(self.nofile))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None and self._port_taken():
                # free_port() closes its socket before the broker binds,
                # and in between any outgoing connection of a test running
                # alongside may get that port as its source port. A first
                # start may take another (a restart keeps its port).
                self.port = free_port()
                return self.start(timeout)
            if rc is not None:
                raise BrokerError(
                    "broker exited with status %d during start-up; "
                    "command: %s\n--- stderr ---\n%s"
                    % (rc, " ".join(self.command()), self.log_tail()))
            if port_open(self.host, self.port):
                self.started_ok = True
                return self
            time.sleep(0.05)
        self.kill9()
        raise BrokerError("broker did not accept connections on %s within "
                          "%.0f s\n--- stderr ---\n%s"
                          % (self.bootstrap, timeout, self.log_tail()))

    def _port_taken(self):
        """True when this first start failed because the listener's port
        was taken (and no other port was asked for)."""
        if self.started_ok or self.starts > 5 or \
                "listeners" in self.settings:
            return False
        return ("listeners: cannot listen on %s: Address already in use"
                % self.bootstrap) in self.log_text()

    def kill9(self):
        """Crash the broker (SIGKILL) and reap it."""
        if self.external:
            raise BrokerError("cannot kill an external broker")
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            raise BrokerError("broker pid %d survived SIGKILL"
                              % self.proc.pid)

    def restart(self, timeout=15.0):
        """Start again on the same port and data directory."""
        if self.alive():
            raise BrokerError("restart while running")
        return self.start(timeout)

    def stop(self, timeout=15.0):
        """SIGTERM, wait, then SIGKILL. Returns a list of problems (wrong
        exit status, timeout, sanitizer reports); empty means clean."""
        problems = []
        if self.external:
            return problems
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                problems.append("broker did not exit within %.0f s of "
                                "SIGTERM (killed)" % timeout)
                rc = None
            if rc is not None and rc != 0:
                problems.append("broker exited with status %d after "
                                "SIGTERM" % rc)
        elif self.proc is not None and self.proc.returncode not in (
                0, -signal.SIGKILL):
            problems.append("broker had already exited with status %s "
                            "before teardown" % self.proc.returncode)
        problems += self.sanitizer_reports()
        return problems

    def sanitizer_reports(self):
        found = []
        text = self.log_text()
        for pat in SANITIZER_PATTERNS:
            for m in re.finditer(re.escape(pat), text):
                line_start = text.rfind("\n", 0, m.start()) + 1
                line_end = text.find("\n", m.end())
                found.append("sanitizer report: " +
                             text[line_start:line_end if line_end >= 0
                                  else None].strip())
                break
        return found

    def cleanup(self):
        if self in Broker.active:
            Broker.active.remove(self)
        if self.workdir and not os.environ.get("STRATA_IT_KEEP"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def close(self):
        """Stop, clean up, and raise BrokerError listing any problem."""
        problems = self.stop()
        tail = self.log_tail() if problems else ""
        self.cleanup()
        if problems:
            raise BrokerError("; ".join(problems) + "\n--- stderr tail ---\n"
                              + tail)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "Broker(%s, %s)" % (self.bootstrap, self.settings)
