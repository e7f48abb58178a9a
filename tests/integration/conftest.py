"""pytest fixtures that run real kferry-broker processes.

Which binary: $KFERRY_BROKER if set, else $KFERRY_BUILD_DIR/kferry-broker
(ctest sets KFERRY_BUILD_DIR), else ./build/kferry-broker.

Fixtures (function scope, so every test gets its own data dir and port):

  broker            a running broker with DEFAULT_OVERRIDES
                    (group.initial.rebalance.delay.ms=0), on a fresh tmp
                    data dir, listening on 127.0.0.1:<free port>.
  broker_factory    make(overrides=None, data_dir=None, extra_args=(),
                         defaults=True, start=True, listeners=None)
                    -> BrokerProc
                    listeners: extra listeners besides the PLAINTEXT one
                    of --listen, as {NAME: PROTOCOL} (e.g.
                    {"SSL": "SSL", "SASL_SSL": "SASL_SSL"}); each gets a
                    free port, kept across restart().
                    for tests that need settings (e.g. retention) or more
                    than one broker; overrides are merged over
                    DEFAULT_OVERRIDES unless defaults=False.
  broker_binary     path of the kferry-broker executable.

BrokerProc: .bootstrap ("127.0.0.1:PORT"), .host, .port, .data_dir,
  .listener_ports ({NAME: port} of every listener, PLAINTEXT included),
  .bootstrap_of(NAME),
  .proc, .stderr_text(), .part_dir(topic, partition), .alive(),
  .start(port=0), .stop() (SIGTERM, asserts exit 0 within 20 s),
  .kill9(), .restart(same_port=True) (stop, or nothing if already dead,
  then start again on the same data dir and, by default, the same port).

Every broker's stderr goes to a file; when a test fails, the tail of the
stderr of every broker it started is attached to the report.

Teardown: a broker still running gets SIGTERM and must exit 0 within
STOP_TIMEOUT, and no broker's stderr may hold a sanitizer report (ASan,
UBSan, LSan: build with -DKF_SANITIZE=ON to use this) - checked only when
the test itself passed, reported as a teardown error.  Whatever happens,
every broker is SIGKILLed at the end.
"""

import os
import re
import signal
import subprocess
import time

import pytest

DEFAULT_OVERRIDES = {"group.initial.rebalance.delay.ms": "0"}
LISTEN_RE = re.compile(rb"^kferry-broker listening on (?:([A-Za-z0-9_-]+)=)?"
                       rb"(PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL)://127\.0\.0\.1:(\d+)$")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def find_broker_binary():
    env = os.environ.get("KFERRY_BROKER")
    if env:
        return env
    build = os.environ.get("KFERRY_BUILD_DIR")
    if build:
        return os.path.join(build, "kferry-broker")
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "..", "build", "kferry-broker")


class BrokerStartError(AssertionError):
    pass


class BrokerProc:
    """A kferry-broker child process on a given data dir."""

    def __init__(self, binary, data_dir, log_dir, name, overrides, extra_args=(), listeners=None):
        self.binary = binary
        self.data_dir = str(data_dir)
        self.log_dir = str(log_dir)
        self.name = name
        self.overrides = dict(overrides)
        self.extra_args = list(extra_args)
        self.listeners = dict(listeners or {})
        self.listener_ports = {}
        self.proc = None
        self.port = None
        self.host = "127.0.0.1"
        self.generation = 0
        self.stderr_files = []
        self.returncodes = []

    # -- introspection
    @property
    def bootstrap(self):
        return "%s:%d" % (self.host, self.port)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def part_dir(self, topic, partition):
        return os.path.join(self.data_dir, "%s-%d" % (topic, partition))

    def stderr_text(self):
        out = []
        for path in self.stderr_files:
            try:
                with open(path, "rb") as f:
                    out.append("==> %s <==\n%s" % (path, f.read().decode("utf-8", "replace")))
            except OSError as e:
                out.append("==> %s: %s" % (path, e))
        return "\n".join(out)

    def bootstrap_of(self, listener):
        return "%s:%d" % (self.host, self.listener_ports[listener])

    def argv(self, port, same_ports=False):
        args = [self.binary, "--listen", "127.0.0.1:%d" % port, "--data-dir", self.data_dir]
        if self.listeners:
            ports = self.listener_ports if same_ports else {}
            args += ["--override", "listeners=" + ",".join(
                "%s://127.0.0.1:%d" % (n, ports.get(n, 0)) for n in self.listeners)]
            if any(n != p for n, p in self.listeners.items()):
                args += ["--override", "listener.security.protocol.map=" + ",".join(
                    "%s:%s" % (n, p) for n, p in self.listeners.items())]
        for k, v in self.overrides.items():
            args += ["--override", "%s=%s" % (k, v)]
        return args + self.extra_args

    # -- lifecycle
    def start(self, port=0, timeout=START_TIMEOUT):
        assert not self.alive(), "broker already running"
        if not os.path.exists(self.binary):
            raise BrokerStartError("kferry-broker binary not found at %s (set KFERRY_BUILD_DIR "
                                   "or KFERRY_BROKER)" % self.binary)
        self.generation += 1
        base = os.path.join(self.log_dir, "%s.%d" % (self.name, self.generation))
        out_path, err_path = base + ".stdout", base + ".stderr"
        self.stderr_files.append(err_path)
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            self.proc = subprocess.Popen(self.argv(port, same_ports=bool(port)),
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            with open(out_path, "rb") as f:
                data = f.read()
            lines = data.split(b"\n")
            ms = [LISTEN_RE.match(x) for x in lines[:-1]]
            m = bool(ms) and all(ms) and not lines[-1]
            if m and len(ms) == 1 + len(self.listeners):
                ports = {}
                for x in ms:
                    name = (x.group(1) or x.group(2)).decode()
                    ports[name] = int(x.group(3))
                self.port = ports["PLAINTEXT"]
                self.listener_ports = ports
                if port:
                    assert self.port == port, "asked for port %d, broker says %d" % (
                        port, self.port)
                return self
            if len(data) > 2000 or (data.endswith(b"\n") and not m):
                self.kill9()
                raise BrokerStartError("unexpected stdout from kferry-broker: %r" % data[:200])
            rc = self.proc.poll()
            if rc is not None:
                raise BrokerStartError("kferry-broker exited with %d before listening; stdout=%r"
                                       "\nstderr:\n%s" % (rc, data, self.stderr_text()[-4000:]))
            if time.monotonic() > deadline:
                self.kill9()
                raise BrokerStartError("kferry-broker printed no listening line within %.0fs"
                                       % timeout)
            time.sleep(0.02)

    def stop(self, timeout=STOP_TIMEOUT, check=True):
        """SIGTERM and wait; asserts a clean exit (status 0) when check."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError("kferry-broker did not exit within %.0fs of SIGTERM" % timeout)
        self.returncodes.append(rc)
        if check:
            assert rc == 0, "kferry-broker exited with %d after SIGTERM (expected 0)" % rc
        return rc

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.returncodes.append(self.proc.returncode)

    def restart(self, same_port=True, timeout=START_TIMEOUT):
        """Stops the broker (clean, checked) if running, then starts it again
        on the same data dir - by default on the same port, so that
        existing clients can reconnect."""
        if self.alive():
            self.stop()
        return self.start(port=self.port if (same_port and self.port) else 0, timeout=timeout)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item._kferry_call_passed = rep.passed
    if rep.failed:
        for b in getattr(item, "_kferry_brokers", []):
            text = b.stderr_text()
            if len(text) > 20000:
                text = "...(%d bytes cut)...\n%s" % (len(text) - 20000, text[-20000:])
            rep.sections.append(("kferry-broker %s stderr" % b.name, text))


@pytest.fixture(scope="session")
def broker_binary():
    return os.path.abspath(find_broker_binary())


@pytest.fixture
def broker_factory(request, tmp_path, broker_binary):
    brokers = []
    request.node._kferry_brokers = brokers

    def make(overrides=None, data_dir=None, extra_args=(), defaults=True, start=True,
             listeners=None):
        n = len(brokers)
        ov = dict(DEFAULT_OVERRIDES) if defaults else {}
        ov.update(overrides or {})
        if data_dir is None:
            data_dir = tmp_path / ("data%d" % n)
            data_dir.mkdir()
        b = BrokerProc(broker_binary, data_dir, tmp_path, "broker%d" % n, ov, extra_args,
                       listeners=listeners)
        brokers.append(b)
        if start:
            b.start()
        return b

    yield make
    problems = []
    try:
        if getattr(request.node, "_kferry_call_passed", False):
            for b in brokers:
                if b.alive():
                    try:
                        b.stop()
                    except AssertionError as e:
                        problems.append("%s: %s" % (b.name, e))
                text = b.stderr_text()
                for mark in SANITIZER_MARKS:
                    if mark in text:
                        problems.append("%s: sanitizer report in stderr (%r)" % (b.name, mark))
    finally:
        for b in brokers:
            b.kill9()
    assert not problems, "at teardown: " + "; ".join(problems)


@pytest.fixture
def broker(broker_factory):
    return broker_factory()
