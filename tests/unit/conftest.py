"""Fixtures of the in-process addon tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture
def no_logged_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail a test that leaves an error in the log.

    mitmproxy logs (and swallows) what a hook raises, and ucwa-vcr logs a bad option set before `running`
    instead of raising, so an addon test can pass while its addon failed; tests expecting an error clear the log.
    """
    yield
    assert [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR] == []
