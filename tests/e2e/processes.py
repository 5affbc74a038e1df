"""Real processes on loopback for the end-to-end tests: where the commands are, free ports, bounded waits,
a proxy process (mitmdump -s addons/ucwa.py or ucwa-vcr) and a scan of what such processes left on disk."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "addons" / "ucwa.py"
BIN = Path(sys.executable).parent  # the venv's mitmdump, mitmweb and ucwa-vcr


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


def accepts(port: int) -> bool:
    """Whether something listens on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Proxy:
    """A proxy process (mitmdump -s addons/ucwa.py, or the ucwa-vcr CLI) on loopback."""

    def __init__(self, argv: list[str], port: int, confdir: Path, log: Path) -> None:
        self.port = port
        self.confdir = confdir
        self.log_path = log
        # unbuffered: a test reads the log while the proxy runs (mitmdump's stdout to a file is block-buffered)
        self.proc = subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        # up when it accepts connections (with -q it does not log that it listens)
        wait_for(lambda: self.proc.poll() is not None or accepts(port), lambda: f"proxy did not start:\n{self.log}")
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

    def wait_for_log(self, line: str, seconds: float = 10) -> None:
        """Wait (at most `seconds`) until the proxy has logged `line`: proof it received a request."""
        wait_for(lambda: line in self.log, lambda: f"the proxy never logged {line!r}:\n{self.log}", seconds)

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


def files_containing(folder: Path, needles: list[str]) -> list[str]:
    """Every file under `folder` (and mitmproxy's default confdir) that contains one of `needles`."""
    found = []
    for base in (folder, Path.home() / ".mitmproxy"):
        for path in base.rglob("*") if base.exists() else []:
            if path.is_file():
                data = path.read_bytes()
                found += [f"{path}: {n}" for n in needles if n.encode() in data]
    return found
