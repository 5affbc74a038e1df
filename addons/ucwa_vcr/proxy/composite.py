"""ucwa-vcr as mitmproxy sees it: one addon whose hooks call its parts' hooks in order.

mitmproxy hands every event to every addon object it knows, a few microseconds per object and flow even for an
object with no hook for it (each flow has eight events: four hooks, and an `update` after each). One object for
the seven parts saves that for six of them; the parts stay separate classes, each with its own concern and tests.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from mitmproxy import addonmanager

# Every mitmproxy hook a part defines (tests/unit/test_composite.py checks that none is missing).
HOOKS = ("load", "configure", "running", "done", "requestheaders", "request", "responseheaders", "response", "error",
         "server_connect")


def _in_order(calls: list[Callable[..., Any]]) -> Callable[..., Any]:
    """One hook calling `calls` in order, as mitmproxy would call each part's: awaiting those that are async."""
    if not any(inspect.iscoroutinefunction(call) for call in calls):
        def run(*args: Any) -> None:
            for call in calls:
                call(*args)
        return run

    async def run_async(*args: Any) -> None:
        for call in calls:
            result = call(*args)
            if inspect.isawaitable(result):
                await result
    return run_async


class UcwaVcr:
    """The parts (make_parts' list) behind one addon; their commands are registered as theirs."""

    name = "ucwavcr"

    def __init__(self, parts: Sequence[object]) -> None:
        self.parts = list(parts)
        for hook in HOOKS:
            calls = [getattr(part, hook) for part in self.parts if callable(getattr(part, hook, None))]
            if hook == "load":
                calls.append(self._commands)
            if calls:
                setattr(self, hook, _in_order(calls))

    def _commands(self, loader: addonmanager.Loader) -> None:
        """Register the parts' commands (mitmproxy looks for them only on the addons it knows)."""
        for part in self.parts:
            loader.master.commands.collect_commands(part)
