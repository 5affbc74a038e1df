"""End-to-end fixtures: a fake UCWA origin with canary secrets, and real mitmdump / ucwa-vcr processes.

Every test under tests/e2e/ is marked `e2e` by tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from processes import BIN, SCRIPT, Proxy, free_port
from ucwa_vcr.testing.fake_origin import FakeUcwa


@pytest.fixture
def fake(canaries: dict[str, str]) -> Iterator[FakeUcwa]:
    origin = FakeUcwa(password=canaries["password"], token=canaries["token"], cookie=canaries["cookie"],
                      max_meetings=5, event_timeout=10).start()
    yield origin
    origin.stop()


@pytest.fixture
def start_proxy(tmp_path: Path) -> Iterator:
    """Start `mitmdump -s addons/ucwa.py [-s more scripts] --set k=v ...` (or `ucwa-vcr ...` with cli=[...]);
    stopped after the test."""
    started: list[Proxy] = []

    def start(*sets: str, cli: list[str] | None = None, port: int | None = None, scripts: Sequence[Path] = ()) -> Proxy:
        port = port or free_port()
        confdir = tmp_path / "mitmproxy"
        if cli is not None:
            argv = [str(BIN / "ucwa-vcr"), *cli, "--listen-port", str(port), "--confdir", str(confdir)]
            argv += [a for s in sets for a in ("--set", s)]
        else:
            argv = [str(BIN / "mitmdump"), "-s", str(SCRIPT), *[a for s in scripts for a in ("-s", str(s))],
                    "--listen-host", "127.0.0.1", "--listen-port", str(port), "--set", f"confdir={confdir}"]
            argv += [a for s in sets for a in ("--set", s)]
        proxy = Proxy(argv, port, confdir, tmp_path / f"proxy-{len(started)}.log")
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
