"""pytest plugin: one ucwa-vcr proxy per test process (per worker under pytest-xdist), the cassette switched per test.

Usage (registered through the `pytest11` entry point when ucwa-vcr is installed):

    @pytest.mark.ucwa_cassette("cassettes/meetings.yaml", inject=["POST myOnlineMeetings$=TooManyOnlineMeetings"])
    # simulate=True: meetings the recording never saw are answered by a model learned from it
    # allow_misses=True: the test means to send requests the cassette has no answer to
    def test_create(ucwa_proxy):
        r = requests.get(url, **ucwa_proxy.requests_kwargs)      # or httpx.Client(**ucwa_proxy.httpx_kwargs)
        assert [e.answered_by for e in ucwa_proxy.exchanges] == ["faulted"]

    pytest --ucwa-record-mode=none      # the default: replay only, CI never reaches a server
    pytest -n 4                         # pytest-xdist: a proxy per worker, one CA for all

Cassette paths are relative to the test file's folder; without a marker a test uses `cassettes/<test name>.yaml`
there. A test during which the proxy answered a request with a miss fails (at teardown when it passed), with the
explanations; a test that fails shows them beside its own failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import ssl
import time
import warnings
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .errors import UsageError
from .options import RecordMode

if TYPE_CHECKING:
    from .proxy.exchanges import Exchange
    from .proxy.in_thread import ProxyThread

REWRITE = "rewrite"  # the plugin's own mode: start each cassette over (once per run), then record as `all`
RECORD_MODES = (*(m.value for m in RecordMode), REWRITE)
MARKER_ARGS = ("path", "faults", "inject", "simulate", "allow_misses")
MISSES_SHOWN = 5  # explanations in a failure; ucwa_proxy.misses() has them all (up to the session's bound)
CA_WAIT = 120.0  # seconds a worker waits for another to create the shared CA (a 2048-bit key: well under one)
# The proxy's own dependencies warn of deprecations on its thread, at every TLS handshake with mitmproxy 11; warning
# filters are process-wide, so a suite run with -W error would turn them into failed handshakes (and without it,
# they would be listed as the test's warnings). Tests that use the proxy ignore them; their own warnings stay.
PROXY_WARNINGS = "ignore::DeprecationWarning:(mitmproxy|OpenSSL|cryptography|passlib|ldap3|pyasn1)"

_PROXY = pytest.StashKey["ProxyThread"]()
_CALL_PASSED = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ucwa-vcr")
    group.addoption("--ucwa-record-mode", default=RecordMode.NONE.value, choices=RECORD_MODES,
                    help="ucwa-vcr record mode for cassettes (default: none, replay only; rewrite: start each "
                         "test's cassette over and record everything)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "ucwa_cassette(path, faults=None, inject=(), simulate=False, allow_misses=False): the ucwa-vcr "
                   "cassette for a test, its fault rules, whether meetings are simulated, and whether requests with "
                   "no recorded answer are expected (else they fail the test)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "ucwa_proxy" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.filterwarnings(PROXY_WARNINGS))


@dataclass(frozen=True)
class CassetteUse:
    """What a test's `ucwa_cassette` marker asks for."""

    path: Path
    faults: str = ""
    inject: tuple[str, ...] = ()
    simulate: bool = False
    allow_misses: bool = False


def _cassette_for(request: pytest.FixtureRequest) -> CassetteUse:
    marker = request.node.get_closest_marker("ucwa_cassette")
    folder = Path(str(request.node.path)).parent
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    if marker is None:
        return CassetteUse(folder / "cassettes" / f"{name}.yaml")
    unknown = sorted(set(marker.kwargs) - set(MARKER_ARGS))
    if unknown:
        raise UsageError(f"ucwa_cassette: unknown argument {unknown[0]!r}; use {', '.join(MARKER_ARGS)}")
    path = Path(marker.args[0]) if marker.args else Path(marker.kwargs.get("path", f"cassettes/{name}.yaml"))
    faults = marker.kwargs.get("faults")
    return CassetteUse(path if path.is_absolute() else folder / path, str(folder / faults) if faults else "",
                       tuple(marker.kwargs.get("inject", ())), bool(marker.kwargs.get("simulate", False)),
                       bool(marker.kwargs.get("allow_misses", False)))


def _shown(path: Path, config: pytest.Config) -> str:
    """A path as a report names it: relative to the rootdir when under it."""
    try:
        return str(path.relative_to(config.rootpath))
    except ValueError:
        return str(path)


class FileLock:
    """An exclusive lock across processes (POSIX flock): what the pytest-xdist workers of one run share."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, wait: float = 0.0) -> bool:
        """Take the lock, waiting at most `wait` seconds; False when another process holds it still."""
        try:
            import fcntl  # POSIX: imported when a suite uses the fixture, never when pytest merely loads the plugin
        except ImportError:  # no flock (Windows): one process per run is all that is safe there
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.05)
            else:
                self._fd = fd
                return True

    def note(self, holder: str) -> None:
        """Say who holds the lock, for a process that finds it taken."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, holder.encode("utf-8"), 0)

    def holder(self) -> str:
        """Who holds the lock, as its holder noted it ("" when unknown)."""
        try:
            return self.path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return ""

    def release(self) -> None:
        """Let the lock go (its note too: a later contender must not name a holder long gone)."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the file releases the flock
            self._fd = None


def _key(path: Path) -> str:
    return hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:24]


@dataclass(frozen=True)
class Run:
    """What the processes of one pytest run share (the workers of `pytest -n N`, or the one process): a folder under
    the run's base temp dir holding the proxies' CA, the cassette locks, and which cassettes were started over."""

    folder: Path
    worker: str  # "gw0", ... under pytest-xdist, else "main"

    @classmethod
    def of(cls, config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Run:
        """The run of this process: under pytest-xdist each worker's base temp dir is in the controller's."""
        # (config.workerinput, not PYTEST_XDIST_WORKER: that one is inherited by a pytest a worker's test starts)
        worker = str(getattr(config, "workerinput", {}).get("workerid", ""))
        base = tmp_path_factory.getbasetemp()
        folder = (base.parent if worker else base) / "ucwa-vcr"
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder, worker or "main")

    def lock_cassette(self, cassette: Path, shown: str, test: str) -> FileLock:
        """Hold the cassette for this process while a test may write it; UsageError when another holds it."""
        lock = FileLock(self.folder / "locks" / f"{_key(cassette)}.lock")
        if not lock.acquire():
            held = lock.holder()
            raise UsageError(f"{shown} is being recorded by another pytest worker{f' ({held})' if held else ''}; "
                             "tests that record one cassette must run on one worker: pytest -n N --dist loadfile "
                             "(a file's tests together), or @pytest.mark.xdist_group with --dist loadgroup")
        lock.note(f"{self.worker}, pid {os.getpid()}, {test}")
        return lock

    def start_over(self, cassette: Path) -> None:
        """Delete a cassette the first time a test of this run uses it in mode rewrite (later tests add to it)."""
        marker = self.folder / "rewritten" / _key(cassette)
        marker.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            return
        cassette.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def _ucwa_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return Run.of(request.config, tmp_path_factory)


@pytest.fixture(scope="session")
def _ucwa_session_proxy(_ucwa_run: Run) -> Iterator[ProxyThread]:
    with warnings.catch_warnings():  # mitmproxy's imports, on this thread and the proxy's (see PROXY_WARNINGS)
        warnings.simplefilter("ignore", DeprecationWarning)
        proxy = _start_proxy(_ucwa_run)
    yield proxy
    proxy.stop()


def _start_proxy(run: Run) -> ProxyThread:
    from .proxy.in_thread import ProxyThread, ensure_ca  # mitmproxy is imported only by suites that use the fixture

    confdir = run.folder / "mitmproxy"
    lock = FileLock(run.folder / "ca.lock")  # the first worker creates the CA, the others wait and reuse it
    if not lock.acquire(wait=CA_WAIT):
        raise RuntimeError(f"ucwa-vcr: no CA in {confdir} after {CA_WAIT:.0f} s: another pytest worker "
                           f"({lock.holder() or 'unknown'}) holds {lock.path}")
    try:
        ensure_ca(confdir)
    finally:
        lock.release()
    return ProxyThread(confdir)


@dataclass
class UcwaProxy:
    """What a test gets from the `ucwa_proxy` fixture."""

    url: str
    ca_bundle: str
    cassette: Path
    record_mode: str
    _proxy: ProxyThread = field(repr=False)

    def misses(self) -> list[str]:
        """Why each request this test sent got no recorded answer (empty when all matched)."""
        return self._proxy.misses()

    @property
    def exchanges(self) -> list[Exchange]:
        """What the client sent and got in this test, in the order its requests came, redacted as the cassette is
        (numbered placeholders: the same secret has the same one, different secrets different ones)."""
        return self._proxy.exchanges()

    def inject(self, *rules: str | Mapping[str, Any]) -> None:
        """Add fault rules for the rest of this test: shorthand ('POST myOnlineMeetings$=TooManyOnlineMeetings') or
        a mapping as in a rules file ({"match": {...}, "error": ..., "times": 1}). UsageError when one is refused."""
        __tracebackhide__ = True  # a refused rule is reported at the test's line, not in ucwa-vcr's
        for rule in rules:
            self._proxy.add_fault(rule if isinstance(rule, str) else json.dumps(dict(rule)))

    @property
    def faults(self) -> list[str]:
        """The fault rules in force (the marker's, then the injected ones), with how often each matched and fired."""
        return self._proxy.fault_rules()

    def clear_faults(self) -> None:
        """Remove every fault rule (the marker's too), and end what they expired."""
        self._proxy.clear_faults()

    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        """A client SSL context that trusts the proxy's CA (and nothing else)."""
        return ssl.create_default_context(cafile=self.ca_bundle)

    @property
    def requests_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `requests.get(...)` / `requests.Session.request(...)`."""
        return {"proxies": {"http": self.url, "https": self.url}, "verify": self.ca_bundle}

    @property
    def httpx_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `httpx.Client(...)` / `httpx.AsyncClient(...)`."""
        return {"proxy": self.url, "verify": self.ssl_context}

    @property
    def aiohttp_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `aiohttp.ClientSession(...)` (aiohttp 3.11 or later), made inside the running event
        loop: a new connector each time, which the session closes."""
        __tracebackhide__ = True
        import asyncio

        import aiohttp  # only suites that ask for it need aiohttp

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("ucwa_proxy.aiohttp_kwargs: ask for them inside the event loop (in an async test or "
                               "fixture): aiohttp binds a connector to the loop that makes it") from None
        return {"proxy": self.url, "connector": aiohttp.TCPConnector(ssl=self.ssl_context)}


def _start(request: pytest.FixtureRequest, proxy: ProxyThread, run: Run) -> tuple[CassetteUse, FileLock | None]:
    """Switch the proxy to the test's cassette, holding it while the test may write it; UsageError when refused."""
    asked = request.config.getoption("--ucwa-record-mode")
    use = _cassette_for(request)
    mode = RecordMode.ALL.value if asked == REWRITE else asked
    shown = _shown(use.path, request.config)
    lock = None
    if asked == REWRITE:  # held before the old recording is deleted
        lock = run.lock_cassette(use.path, shown, request.node.nodeid)
        run.start_over(use.path)
    try:
        if mode != RecordMode.NONE:
            use.path.parent.mkdir(parents=True, exist_ok=True)
        recording = proxy.start_test(ucwa_cassette=str(use.path), ucwa_record_mode=mode, ucwa_faults=use.faults,
                                     ucwa_inject=list(use.inject), ucwa_simulate=use.simulate)
        if recording and lock is None:  # known once the cassette is loaded (mode once: only when it is new)
            try:
                lock = run.lock_cassette(use.path, shown, request.node.nodeid)
            except UsageError:
                proxy.end_test()
                raise
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return use, lock


def _problems(ended: tuple[list[str], int, list[Exchange]], use: CassetteUse, shown: str) -> str:
    """What went wrong in the proxy during a test that passed, in words ("" when nothing did)."""
    misses, missed, exchanges = ended
    lines = []
    if missed and not use.allow_misses:
        lines.append(f"ucwa-vcr: {missed} request{'s' if missed > 1 else ''} got no recorded answer from {shown} "
                     "(the client got the proxy's 500 instead):")
        lines += misses[:MISSES_SHOWN]
        if missed > MISSES_SHOWN:
            lines.append(f"... and {missed - MISSES_SHOWN} more (ucwa_proxy.misses() lists them)")
        lines.append("Record what is missing (--ucwa-record-mode=new_episodes), fix the request, or mark a test that "
                     "means to provoke misses with @pytest.mark.ucwa_cassette(..., allow_misses=True).")
    failed = [e for e in exchanges if e.answered_by == "failed"]
    if failed:
        lines.append(f"ucwa-vcr: the proxy failed on {len(failed)} request{'s' if len(failed) > 1 else ''} "
                     "(the client got its 500):")
        lines += [f"  {e.method} {e.url}: {e.error}" for e in failed[:MISSES_SHOWN]]
    return "\n".join(lines)


@pytest.fixture
def ucwa_proxy(request: pytest.FixtureRequest, _ucwa_session_proxy: ProxyThread, _ucwa_run: Run) -> Iterator[UcwaProxy]:
    """The session's ucwa-vcr proxy, switched to this test's cassette (marker `ucwa_cassette`)."""
    proxy = _ucwa_session_proxy
    try:
        use, lock = _start(request, proxy, _ucwa_run)
    except UsageError as e:  # a missing cassette, a bad rules file, a cassette held: one line, not a traceback
        refused = str(e)
    else:
        refused = ""
    if refused:  # failed out here: inside `except`, pytest would print the line twice, chained
        pytest.fail(refused, pytrace=False)
    request.node.stash[_PROXY] = proxy
    try:
        yield UcwaProxy(url=f"http://127.0.0.1:{proxy.port}", ca_bundle=str(proxy.ca_bundle), cassette=use.path,
                        record_mode=request.config.getoption("--ucwa-record-mode"), _proxy=proxy)
    finally:
        ended = proxy.end_test()  # the cassette is written in full before another worker may take it
        if lock is not None:
            lock.release()
    problems = _problems(ended, use, _shown(use.path, request.config))
    if problems and request.node.stash.get(_CALL_PASSED, False):
        pytest.fail(problems, pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    proxy = item.stash.get(_PROXY, None)
    if proxy is None or report.when != "call":
        return
    item.stash[_CALL_PASSED] = report.passed
    if report.failed:
        with contextlib.suppress(Exception):  # a report is never lost to the proxy
            misses = proxy.misses()
            if misses:
                report.sections.append(("ucwa-vcr: requests with no recorded answer", "\n".join(misses)))
