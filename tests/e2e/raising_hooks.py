"""A mitmdump script for tests: every flow hook of ucwa-vcr's addons raises (but the offline guard's).

Usage (after addons/ucwa.py, so that its addons exist; the classes are patched, so their instances are too):
    mitmdump -s addons/ucwa.py -s tests/e2e/raising_hooks.py --set ucwa_record_mode=none ...

Stands for a bug nobody foresaw in any of ucwa-vcr's hooks: offline, no request may reach a server all the same.
Lifecycle hooks (load, configure, running, done) are left alone: the proxy must start to be tested at all.
Logs `raising_hooks: patched Class.hook, ...`, and each raise says `raising_hooks: Class.hook`.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
from collections.abc import Callable
from typing import Any

import ucwa_vcr.proxy
from mitmproxy import hooks

logger = logging.getLogger(__name__)

SPARED = "UcwaOfflineGuard"  # the last line of defence: the one addon under test
LIFECYCLE = {"load", "configure", "running", "done", "update", "add_log"}
FLOW_HOOKS = {"requestheaders", "request", "responseheaders", "response", "error", "http_connect",
              "http_connect_upstream", "http_connect_error", "client_connected", "client_disconnected",
              "server_connect", "server_connected", "server_disconnected", "server_connect_error"}


def raiser(owner: str, name: str) -> Callable[..., Any]:
    def hook(self: object, *args: object) -> None:
        raise RuntimeError(f"raising_hooks: {owner}.{name}")

    hook.__name__ = name
    return hook


def ucwa_vcr_classes() -> list[type]:
    """Every class defined in a module of ucwa_vcr.proxy."""
    found = []
    for info in pkgutil.iter_modules(ucwa_vcr.proxy.__path__, "ucwa_vcr.proxy."):
        module = importlib.import_module(info.name)
        found += [c for _, c in inspect.getmembers(module, inspect.isclass) if c.__module__ == module.__name__]
    return found


def patch() -> list[str]:
    """Make every flow hook of those classes raise; the hooks patched, as Class.hook."""
    names = (set(hooks.all_hooks) | FLOW_HOOKS) - LIFECYCLE
    patched = []
    for cls in ucwa_vcr_classes():
        if cls.__name__ == SPARED:
            continue
        for name in sorted(names):
            if callable(getattr(cls, name, None)):
                setattr(cls, name, raiser(cls.__name__, name))
                patched.append(f"{cls.__name__}.{name}")
    return patched


logger.warning("raising_hooks: patched %s", ", ".join(patch()) or "nothing")
