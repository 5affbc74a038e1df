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

# Every mitmproxy hook a part defines but `load` (tests/unit/test_composite.py checks that none is missing).
HOOKS = ("configure", "running", "done", "requestheaders", "request", "responseheaders", "response", "error",
         "server_connect")


def _in_order(hook: str, parts: list[object]) -> Callable[..., Any]:
    """One hook calling `hook` of each of `parts` in order, as mitmproxy would call each part's: awaiting those that
    are async. Each part's hook is looked up when called, so a hook replaced later (a test's patch) is the one run."""
    if not any(inspect.iscoroutinefunction(getattr(part, hook)) for part in parts):
        def run(*args: Any) -> None:
            for part in parts:
                getattr(part, hook)(*args)
        return run

    async def run_async(*args: Any) -> None:
        for part in parts:
            result = getattr(part, hook)(*args)
            if inspect.isawaitable(result):
                await result
    return run_async


class UcwaVcr:
    """The parts (make_parts' list) behind one addon; their commands are registered as theirs."""

    name = "ucwavcr"

    def __init__(self, parts: Sequence[object]) -> None:
        self.parts = list(parts)
        for hook in HOOKS:
            having = [part for part in self.parts if callable(getattr(part, hook, None))]
            if having:
                setattr(self, hook, _in_order(hook, having))

    def load(self, loader: addonmanager.Loader) -> None:
        """Load each part; register the parts' commands (mitmproxy looks for them only on the addons it knows)."""
        for part in self.parts:
            if callable(getattr(part, "load", None)):
                part.load(loader)  # type: ignore[attr-defined]
        for part in self.parts:
            loader.master.commands.collect_commands(part)
