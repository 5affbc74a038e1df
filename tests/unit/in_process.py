"""Stand-ins and readers shared by the in-process addon tests."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree
from mitmproxy import http
from ucwa_vcr import DEFAULT_CASSETTE

NS = "{http://schemas.microsoft.com/rtc/2012/03/ucwa}"


def error_of(response: http.Response) -> tuple[str, str | None, str]:
    """(code, subcode, message) of a UCWA error body, JSON or XML."""
    if "xml" in response.headers["content-type"]:
        root = etree.fromstring(response.content)
        assert root.tag == f"{NS}reason"
        return root.findtext(f"{NS}code"), root.findtext(f"{NS}subcode"), root.findtext(f"{NS}message")
    data = json.loads(response.content)
    return data["code"], data.get("subcode"), data["message"]


def seed_copy(tmp_path: Path) -> Path:
    """The shipped cassette where a recording mode may write."""
    return Path(shutil.copy(DEFAULT_CASSETTE, tmp_path / "seed.yaml"))


class Asyncio:
    """Stands for the `asyncio` module inside one addon module: some functions replaced, the rest real."""

    def __init__(self, **replaced: Any) -> None:
        self.__dict__.update(replaced)

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


async def until(condition: Callable[[], bool], rounds: int = 200) -> None:
    """Let other tasks run until `condition` holds (a bounded number of loop turns, no timed sleep)."""
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")
