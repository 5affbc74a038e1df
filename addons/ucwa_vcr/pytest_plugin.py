"""pytest plugin: one ucwa-vcr proxy per test session, the cassette switched per test.

Usage (registered through the `pytest11` entry point when ucwa-vcr is installed):

    @pytest.mark.ucwa_cassette("cassettes/meetings.yaml", inject=["POST myOnlineMeetings$=TooManyOnlineMeetings"])
    # simulate=True: meetings the recording never saw are answered by a model learned from it
    def test_create(ucwa_proxy):
        r = requests.get(url, **ucwa_proxy.requests_kwargs)      # or httpx.Client(**ucwa_proxy.httpx_kwargs)

    pytest --ucwa-record-mode=none      # the default: replay only, CI never reaches a server

Cassette paths are relative to the test file's folder; without a marker a test uses
`cassettes/<test name>.yaml` there. A test that fails shows the requests that matched nothing, and why.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .errors import UsageError
from .options import RecordMode

if TYPE_CHECKING:
    from .proxy.in_thread import ProxyThread

_PROXY = pytest.StashKey["ProxyThread"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ucwa-vcr")
    group.addoption("--ucwa-record-mode", default=RecordMode.NONE.value, choices=[m.value for m in RecordMode],
                    help="ucwa-vcr record mode for cassettes (default: none, replay only)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "ucwa_cassette(path, faults=None, inject=(), simulate=False): the ucwa-vcr cassette for a test, "
                   "its fault rules, and whether meetings are simulated")


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
    def requests_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `requests.get(...)` / `requests.Session.request(...)`."""
        return {"proxies": {"http": self.url, "https": self.url}, "verify": self.ca_bundle}

    @property
    def httpx_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `httpx.Client(...)` / `httpx.AsyncClient(...)`."""
        return {"proxy": self.url, "verify": self.ca_bundle}


@pytest.fixture(scope="session")
def _ucwa_session_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyThread]:
    from .proxy.in_thread import ProxyThread  # mitmproxy is imported only by suites that use the fixture

    proxy = ProxyThread(tmp_path_factory.mktemp("ucwa-vcr-mitmproxy"))
    yield proxy
    proxy.stop()


def _cassette_for(request: pytest.FixtureRequest) -> tuple[Path, dict[str, Any]]:
    marker = request.node.get_closest_marker("ucwa_cassette")
    folder = Path(str(request.node.path)).parent
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    if marker is None:
        return folder / "cassettes" / f"{name}.yaml", {}
    path = Path(marker.args[0]) if marker.args else Path(marker.kwargs.get("path", f"cassettes/{name}.yaml"))
    faults = marker.kwargs.get("faults")
    opts = {"ucwa_faults": str(folder / faults) if faults else "", "ucwa_inject": list(marker.kwargs.get("inject", ())),
            "ucwa_simulate": bool(marker.kwargs.get("simulate", False))}
    return (path if path.is_absolute() else folder / path), opts


@pytest.fixture
def ucwa_proxy(request: pytest.FixtureRequest, _ucwa_session_proxy: ProxyThread) -> Iterator[UcwaProxy]:
    """The session's ucwa-vcr proxy, switched to this test's cassette (marker `ucwa_cassette`)."""
    mode = request.config.getoption("--ucwa-record-mode")
    cassette, opts = _cassette_for(request)
    if mode != RecordMode.NONE:
        cassette.parent.mkdir(parents=True, exist_ok=True)
    proxy = _ucwa_session_proxy
    try:
        proxy.use(ucwa_cassette=str(cassette), ucwa_record_mode=mode, ucwa_faults=opts.get("ucwa_faults", ""),
                  ucwa_inject=opts.get("ucwa_inject", []), ucwa_simulate=opts.get("ucwa_simulate", False))
    except UsageError as e:  # a missing cassette, a bad rules file: one line in the report, not a traceback
        pytest.fail(str(e), pytrace=False)
    request.node.stash[_PROXY] = proxy
    yield UcwaProxy(url=f"http://127.0.0.1:{proxy.port}", ca_bundle=str(proxy.confdir / "mitmproxy-ca-cert.pem"),
                    cassette=cassette, record_mode=mode, _proxy=proxy)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    proxy = item.stash.get(_PROXY, None)
    if proxy is not None and report.failed and report.when == "call":
        misses = proxy.misses()
        if misses:
            report.sections.append(("ucwa-vcr: requests with no recorded answer", "\n".join(misses)))
