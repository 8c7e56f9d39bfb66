"""pytest wiring for the integration suite: broker fixtures and deadlines.

Nothing here may wait forever. Every test phase (setup, call, teardown)
runs under a SIGALRM deadline -- `@pytest.mark.deadline(seconds)` for the
call, 90 s by default -- implemented here rather than with pytest-timeout so
the suite needs nothing beyond pytest itself. A failing test gets the stderr
tail of every broker it had running attached to its report, because most
failures here are broker bugs and the broker's log is the first thing to
read.
"""

import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from strata_harness import Broker, BrokerError  # noqa: E402

DEFAULT_DEADLINE = 90
SETUP_DEADLINE = 60


class DeadlineExceeded(Exception):
    pass


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "deadline(seconds): fail the test if its call phase "
        "runs longer than this")
    config.addinivalue_line(
        "markers", "own_broker: the test starts its own broker(s)")


def _on_alarm(signum, frame):
    raise DeadlineExceeded("test phase exceeded its deadline")


def _with_deadline(seconds):
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(int(seconds))
    return old


def _clear_deadline(old):
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    old = _with_deadline(SETUP_DEADLINE)
    try:
        yield
    finally:
        _clear_deadline(old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    m = item.get_closest_marker("deadline")
    old = _with_deadline(m.args[0] if m else DEFAULT_DEADLINE)
    try:
        yield
    finally:
        _clear_deadline(old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    old = _with_deadline(SETUP_DEADLINE)
    try:
        yield
    finally:
        _clear_deadline(old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for b in list(Broker.active):
            if b.external or not b.logs:
                continue
            rep.sections.append((
                "strata stderr %s (pid %s, %s)"
                % (b.bootstrap, b.pid, "alive" if b.alive() else
                   "exited %s" % (b.proc.returncode if b.proc else "-")),
                b.log_tail(80)))


# ------------------------------------------------------------- fixtures


def _start(settings):
    # pytest.fail outside the except blocks keeps the report to one message.
    problem = None
    b = None
    try:
        b = Broker(settings)
        b.start()
    except BrokerError as e:
        problem = str(e)
        if b is not None:
            b.cleanup()
    if problem:
        pytest.fail(problem, pytrace=False)
    return b


def _module_settings(request):
    return dict(getattr(request.module, "BROKER_SETTINGS", {}))


@pytest.fixture(scope="module", params=[1, 2], ids=["shards1", "shards2"])
def broker(request):
    """A broker shared by the tests of one module, once per shard count.
    A module may define BROKER_SETTINGS = {key: value} to add settings."""
    settings = _module_settings(request)
    settings["num.shards"] = request.param
    b = _start(settings)
    yield b
    b.close()


@pytest.fixture(scope="module")
def broker1(request):
    """A shared single-shard broker, for tests where sharding is moot."""
    settings = _module_settings(request)
    settings.setdefault("num.shards", 1)
    b = _start(settings)
    yield b
    b.close()


@pytest.fixture
def start_broker(request):
    """Factory: start_broker({settings}) -> Broker, stopped (and checked)
    at the end of the test."""
    if os.environ.get("STRATA_BOOTSTRAP"):
        pytest.skip("needs its own broker configuration (STRATA_BOOTSTRAP "
                    "is set)")
    started = []

    def start(settings=None):
        b = _start(settings or {})
        started.append(b)
        return b
    yield start
    errors = []
    for b in started:
        try:
            b.close()
        except BrokerError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture(autouse=True)
def _shared_broker_survives(request):
    """A test that crashes a shared broker fails itself; the next test of
    the module gets the broker restarted on the same data directory rather
    than a cascade of connection timeouts. (The crash stays in the logs, so
    the module teardown reports it again.)"""
    shared = [request.getfixturevalue(n) for n in ("broker", "broker1")
              if n in request.fixturenames]
    problem = None
    for b in shared:
        if not b.external and not b.alive():
            try:
                b.restart()
            except BrokerError as e:
                problem = "shared broker died earlier and cannot restart: " \
                    + str(e)
    if problem:
        pytest.fail(problem, pytrace=False)
    yield
    for b in shared:
        if not b.alive():
            pytest.fail("broker %s died during this test (status %s)"
                        "\n--- stderr tail ---\n%s"
                        % (b.bootstrap, b.proc.returncode if b.proc
                           else "?", b.log_tail()), pytrace=False)
