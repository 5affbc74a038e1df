"""The whole suite: no proxy variables in any test, the `e2e` marker on everything under tests/e2e/, and the
cassette tools run in-process.

tests/unit/ is fast and in-process; tests/e2e/ drives real processes and has its own fixtures (tests/e2e/conftest.py)
and modules (processes.py, ucwa_client.py). `pytest -m "not e2e"` runs the unit part alone.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from ucwa_vcr.tools.cli import main

pytest_plugins = ["pytester"]
collect_ignore = ["example_suite"]  # a user's suite: run by e2e/test_pytest_plugin.py in its own pytest

E2E = Path(__file__).parent / "e2e"


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    os.environ.setdefault("NO_COLOR", "1")


@dataclass
class ToolRun:
    """What a run of `ucwa-vcr show|diff|lint|redact|import|export` gave: its exit code and output."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_ucwa_vcr(capsys: pytest.CaptureFixture[str]) -> Callable[..., ToolRun]:
    """`run_ucwa_vcr("show", "c.yaml")`: the cassette tool run in-process through the console script's `main()`."""

    def run(*args: str) -> ToolRun:
        capsys.readouterr()  # only this run's output
        code = main(list(args))
        out = capsys.readouterr()
        return ToolRun(code, out.out, out.err)

    return run


@pytest.fixture
def canaries() -> dict[str, str]:
    """Unique secrets to plant (in the fake origin, in flows); none of them may ever reach a file."""
    tag = secrets.token_hex(8)
    return {"password": f"canary-pw-{tag}", "token": f"cwt=AAEB{secrets.token_urlsafe(40)}canary{tag}",
            "cookie": f"AAEBcanarycookie{tag}"}
