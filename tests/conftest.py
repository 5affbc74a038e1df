"""Shared fixtures: a fake UCWA origin with canary secrets, and real mitmdump / ucwa-vcr processes."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from ucwa_vcr.testing.fake_origin import FakeUcwa

pytest_plugins = ["pytester"]
collect_ignore = ["example_suite"]  # a user's suite: run by test_pytest_plugin.py in its own pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "addons" / "ucwa.py"
BIN = Path(sys.executable).parent


@pytest.fixture
def canaries() -> dict[str, str]:
    """Unique secrets planted in the fake origin; none of them may ever reach a file."""
    tag = secrets.token_hex(8)
    return {"password": f"canary-pw-{tag}", "token": f"cwt=AAEB{secrets.token_urlsafe(40)}canary{tag}",
            "cookie": f"AAEBcanarycookie{tag}"}


@pytest.fixture
def fake(canaries: dict[str, str]) -> Iterator[FakeUcwa]:
    origin = FakeUcwa(password=canaries["password"], token=canaries["token"], cookie=canaries["cookie"],
                      max_meetings=5, event_timeout=10).start()
    yield origin
    origin.stop()


def wait_for(ready: Callable[[], bool], explain: Callable[[], str] = str, seconds: float = 30) -> None:
    """Poll `ready` until it is true; fail saying `explain()` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not ready():
        assert time.monotonic() < deadline, explain()
        time.sleep(0.05)


def get_when_up(session: requests.Session, url: str) -> requests.Response:
    """GET `url` from a server just started: connection refusals are retried until it listens."""
    answers: list[requests.Response] = []

    def up() -> bool:
        with contextlib.suppress(requests.ConnectionError):
            answers.append(session.get(url, timeout=10))
        return bool(answers)

    wait_for(up, lambda: f"nothing answers at {url}")
    return answers[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proxy:
    """A proxy process (mitmdump -s addons/ucwa.py, or the ucwa-vcr CLI) on loopback."""

    def __init__(self, argv: list[str], port: int, confdir: Path, log: Path) -> None:
        self.port = port
        self.confdir = confdir
        self.log_path = log
        self.proc = subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(lambda: " listening at " in self.log or self.proc.poll() is not None,
                 lambda: f"proxy did not start:\n{self.log}")
        if self.proc.poll() is not None:
            raise RuntimeError(f"proxy did not start:\n{self.log}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def session(self) -> requests.Session:
        """A requests session that goes through this proxy and trusts its CA."""
        s = requests.Session()
        s.trust_env = False
        s.proxies = {"http": self.url, "https": self.url}
        s.verify = str(self.ca)
        return s

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.log


@pytest.fixture
def start_proxy(tmp_path: Path) -> Iterator:
    """Start `mitmdump -s addons/ucwa.py --set k=v ...` (or `ucwa-vcr ...` with cli=True); stopped after the test."""
    started: list[Proxy] = []

    def start(*sets: str, cli: list[str] | None = None, port: int | None = None) -> Proxy:
        port = port or free_port()
        confdir = tmp_path / "mitmproxy"
        if cli is not None:
            argv = [str(BIN / "ucwa-vcr"), *cli, "--listen-port", str(port), "--confdir", str(confdir)]
            argv += [a for s in sets for a in ("--set", s)]
        else:
            argv = [str(BIN / "mitmdump"), "-s", str(SCRIPT), "--listen-host", "127.0.0.1", "--listen-port", str(port),
                    "--set", f"confdir={confdir}"]
            argv += [a for s in sets for a in ("--set", s)]
        proxy = Proxy(argv, port, confdir, tmp_path / f"proxy-{len(started)}.log")
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def files_containing(folder: Path, needles: list[str]) -> list[str]:
    """Every file under `folder` (and mitmproxy's default confdir) that contains one of `needles`."""
    found = []
    for base in (folder, Path.home() / ".mitmproxy"):
        for path in base.rglob("*") if base.exists() else []:
            if path.is_file():
                data = path.read_bytes()
                found += [f"{path}: {n}" for n in needles if n.encode() in data]
    return found


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # the parsed-cassette cache goes under tmp_path too, where the secret scans look
    monkeypatch.setenv("UCWA_VCR_CACHE", str(tmp_path / "cassette-cache"))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    os.environ.setdefault("NO_COLOR", "1")
