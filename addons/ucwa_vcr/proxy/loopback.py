"""Loopback guard: the proxy listens on 127.0.0.1 unless the user chose otherwise, and says so when it does not.

Usage:
    mitmdump -s addons/ucwa.py                       # listens on 127.0.0.1:8080
    mitmdump -s addons/ucwa.py --listen-host 0.0.0.0 # kept, with a warning: other machines can reach it

A recording proxy full of a user's session should not listen on every address, mitmproxy's default.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

from mitmproxy import addonmanager, optmanager

logger = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """Whether a listen address is reachable from this machine only."""
    if host in ("localhost", "127.0.0.1", "::1"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class UcwaLoopback:
    """Sets listen_host to loopback when the user gave none, rebinds mitmproxy 12's early servers, warns if wide."""

    def __init__(self) -> None:
        self.options: optmanager.OptManager | None = None
        self._proxyserver: Any = None  # mitmproxy's, to see where it really listens
        self._chose_loopback = False  # whether listen_host is ours (loopback), not the user's
        self._rebinding: asyncio.Task[None] | None = None

    def load(self, loader: addonmanager.Loader) -> None:
        self.options = loader.master.options
        self._proxyserver = loader.master.addons.get("proxyserver")
        self._chose_loopback = not self.options.has_changed("listen_host")  # an explicit --listen-host is kept
        if self._chose_loopback:
            self.options.update(listen_host="127.0.0.1")

    def running(self) -> None:
        if self._chose_loopback and self._servers_to_rebind():
            # mitmproxy 12 starts its servers before `mitmdump -s` scripts load: start them again, on loopback
            self._rebinding = asyncio.get_running_loop().create_task(self._rebind())
        else:
            self._warn_if_wide()

    def _servers_to_rebind(self) -> list[Any]:
        # servers whose mode names no listen host of its own (`--mode regular@0.0.0.0:8080` is a choice)
        return [s for s in (self._proxyserver.servers if self._proxyserver else [])
                if s.mode.custom_listen_host is None and any(not is_loopback(a[0]) for a in s.listen_addrs)]

    async def _rebind(self) -> None:
        for server in self._servers_to_rebind():
            await server.stop()
            await server.start()
        self._warn_if_wide()

    def _warn_if_wide(self) -> None:
        bound = self._proxyserver.listen_addrs() if self._proxyserver else []
        hosts = {addr[0] for addr in bound} or {self.options.listen_host if self.options else ""}
        wide = sorted(h or "every address" for h in hosts if not is_loopback(h))
        if wide:
            logger.warning("ucwa-vcr: listening on %s: other machines can reach this proxy and its recordings "
                           "(--listen-host 127.0.0.1 keeps it local)", ", ".join(wide))
