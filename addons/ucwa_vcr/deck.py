"""The tape deck: which cassette is loaded, in which record mode, and its crash-safe writing.

Usage:
    mitmdump -s addons/ucwa.py --set ucwa_cassette=cassettes/today.yaml --set ucwa_record_mode=none

The replayer and the recorder share one UcwaDeck; it owns the options about the cassette (which file,
which mode, which hosts are UCWA, what is redacted, how requests match).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mitmproxy import addonmanager, command, exceptions, http, optmanager

from . import store, ucwa
from .cassette import Cassette, Interaction
from .match import DEFAULT_MATCHERS, EXHAUSTED, MATCHERS, Matcher, Miss
from .redact import RedactionRules, Redactor

logger = logging.getLogger(__name__)

RECORD_MODES = ("once", "new_episodes", "none", "all")
MISSES_KEPT = 200
RECORD_SCOPES = ("session", "meetings")


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "127.0.0.1", "::1"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OptionsAddon:
    """An addon whose bad options give one clear line, at start as well as later.

    mitmproxy logs an OptionsError raised while `-s` loads a script with a traceback; before the proxy
    runs, the error is logged as one line instead (mitmproxy then exits 1, as with any startup error).
    Once running, the OptionsError refuses the change as usual.
    """

    _running = False
    options: optmanager.OptManager
    declared: frozenset[str] = frozenset()  # the names of the options this addon declared

    def load(self, loader: addonmanager.Loader) -> None:
        # Options are read from this proxy's own master, never from the global ctx, so that several
        # masters in one process (a pytest session proxy and mitmproxy's test helpers) do not mix.
        self.options = loader.master.options
        names: list[str] = []

        def add(name: str, *spec: Any) -> None:
            names.append(name)
            loader.add_option(name, *spec)

        self.declare(add)
        self.declared = frozenset(names)

    def declare(self, add: Callable[..., None]) -> None:
        """Declare the addon's options with `add(name, type, default, help)`."""
        raise NotImplementedError

    def running(self) -> None:
        self._running = True

    def configure(self, updated: set[str]) -> None:
        if not updated & self.declared:
            return
        try:
            self.apply(updated)
        except exceptions.OptionsError as e:
            if self._running:
                raise
            logger.error("ucwa-vcr: %s", e)

    def apply(self, updated: set[str]) -> None:
        """Validate and take up changed options (called when one of ours changed); raise OptionsError naming
        the option and the value."""
        raise NotImplementedError


class UcwaDeck(OptionsAddon):
    """Loads the cassette, decides per flow whether to replay or record, and writes what is recorded."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.mode = "once"
        self.locked = False  # `once` with an existing cassette: nothing new may be recorded
        self.hosts: re.Pattern[str] | None = None
        self.meetings_only = False
        self.matcher = Matcher([])
        self.redactor = Redactor()
        self._cassette_writer: store.CassetteWriter | None = None
        self._pending: list[bytes] = []  # recorded, serialised, not yet handed to the writer
        self._proxyserver: Any = None  # mitmproxy's, to see where it really listens
        self._chose_loopback = False  # whether listen_host is ours (loopback), not the user's
        self._rebinding: asyncio.Task[None] | None = None
        # the latest requests answered with a miss since the cassette was loaded (bounded: a long replay
        # with a wrong cassette must not grow without end)
        self.misses: deque[Miss] = deque(maxlen=MISSES_KEPT)
        self._next_write: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None

    def load(self, loader: addonmanager.Loader) -> None:
        super().load(loader)
        self._proxyserver = loader.master.addons.get("proxyserver")
        # mitmproxy listens on every address by default; a recording proxy full of a user's session
        # should not, unless asked (an explicit --listen-host is kept).
        self._chose_loopback = not self.options.has_changed("listen_host")
        if self._chose_loopback:
            self.options.update(listen_host="127.0.0.1")

    def running(self) -> None:
        super().running()
        if self._chose_loopback and self._servers_to_rebind():
            # mitmproxy 12 starts its servers before `mitmdump -s` scripts load: start them again, on loopback
            self._rebinding = asyncio.get_running_loop().create_task(self._rebind())
        else:
            self._warn_if_wide()

    def _servers_to_rebind(self) -> list[Any]:
        # servers whose mode names no listen host of its own (`--mode regular@0.0.0.0:8080` is a choice)
        return [s for s in (self._proxyserver.servers if self._proxyserver else [])
                if s.mode.custom_listen_host is None and any(not _is_loopback(a[0]) for a in s.listen_addrs)]

    async def _rebind(self) -> None:
        for server in self._servers_to_rebind():
            await server.stop()
            await server.start()
        self._warn_if_wide()

    def _warn_if_wide(self) -> None:
        bound = self._proxyserver.listen_addrs() if self._proxyserver else []
        hosts = {addr[0] for addr in bound} or {self.options.listen_host}
        wide = sorted(h or "every address" for h in hosts if not _is_loopback(h))
        if wide:
            logger.warning("ucwa-vcr: listening on %s: other machines can reach this proxy and its recordings "
                           "(--listen-host 127.0.0.1 keeps it local)", ", ".join(wide))

    def declare(self, add: Callable[..., None]) -> None:
        add("ucwa_cassette", str, "", "Cassette file (YAML) to replay from and record into.")
        add("ucwa_record_mode", str, "once",
            "once: record if the cassette is new, else replay only; new_episodes: replay what matches, "
            "record the rest; none: replay only, never contact a server; all: record everything.")
        add("ucwa_hosts", str, "",
            "Regex of hosts treated as UCWA; empty: recognise UCWA by its URLs (/ucwa/, /Autodiscover/, "
            "/WebTicket/, lyncdiscover*); '.*': everything.")
        add("ucwa_record_scope", str, "session",
            "session: record the whole UCWA session; meetings: only the onlineMeetings resources.")
        add("ucwa_redact_headers", Sequence[str], [], "Extra header names whose values are redacted.")
        add("ucwa_redact_fields", Sequence[str], [],
            "Extra form, query, JSON and XML field names whose values are redacted.")
        add("ucwa_match_on", Sequence[str], list(DEFAULT_MATCHERS),
            f"Request features that must be equal to replay a recorded answer: {', '.join(MATCHERS)}.")
        add("ucwa_exhausted", str, "repeat",
            "When the recorded answers to a request are used up: repeat the last one, or miss.")

    def apply(self, updated: set[str]) -> None:
        opts = self.options
        if opts.ucwa_record_mode not in RECORD_MODES:
            raise exceptions.OptionsError(
                f"ucwa_record_mode: {opts.ucwa_record_mode!r} is not a record mode; "
                f"use one of {', '.join(RECORD_MODES)}")
        if opts.ucwa_record_scope not in RECORD_SCOPES:
            raise exceptions.OptionsError(
                f"ucwa_record_scope: {opts.ucwa_record_scope!r} is not a scope; use one of {', '.join(RECORD_SCOPES)}")
        if opts.ucwa_exhausted not in EXHAUSTED:
            raise exceptions.OptionsError(
                f"ucwa_exhausted: {opts.ucwa_exhausted!r} is not a policy; use one of {', '.join(EXHAUSTED)}")
        bad = [m for m in opts.ucwa_match_on if m not in MATCHERS]
        if bad:
            raise exceptions.OptionsError(
                f"ucwa_match_on: {bad[0]!r} is not a matcher; use some of {', '.join(MATCHERS)}")
        try:
            self.hosts = re.compile(opts.ucwa_hosts) if opts.ucwa_hosts else None
        except re.error as e:
            raise exceptions.OptionsError(f"ucwa_hosts: {opts.ucwa_hosts!r} is not a regex: {e}") from None
        self.mode = opts.ucwa_record_mode
        self.meetings_only = opts.ucwa_record_scope == "meetings"
        rules = RedactionRules.with_extra(opts.ucwa_redact_headers, opts.ucwa_redact_fields)
        self._open(opts.ucwa_cassette, rules, opts.ucwa_match_on, opts.ucwa_exhausted)
        if self.mode != "all":
            # Replayed flows must never open a server connection: connect only when a request goes out,
            # and in offline modes do not look up upstream certificates either.
            self.options.update(connection_strategy="lazy")
            if self.offline:
                self.options.update(upstream_cert=False)

    def _open(self, path: str, rules: RedactionRules, match_on: Sequence[str], exhausted: str) -> None:
        self._finish_writing()  # the cassette in use may be the one loaded again
        cassette = Cassette()
        self.path = Path(path).expanduser() if path else None
        if self.path is not None:
            try:
                if self.path.exists():
                    cassette = store.load(self.path)
                if self.mode != "none":
                    store.check_writable(self.path)
            except store.StoreError as e:
                raise exceptions.OptionsError(f"ucwa_cassette: {e}") from None
        elif self.mode != "none":
            raise exceptions.OptionsError(
                f"ucwa_cassette: record mode {self.mode!r} needs a cassette file to write; "
                "set ucwa_cassette=PATH (or use ucwa_record_mode=none)")
        self.locked = self.mode == "once" and bool(cassette.interactions)
        self.misses.clear()
        self.matcher = Matcher(cassette.interactions, match_on, exhausted)
        self.redactor = Redactor.adding_to(cassette, rules)
        self._cassette_writer = store.CassetteWriter(self.path, cassette.interactions) if self.path else None
        logger.info("ucwa-vcr: %s, mode %s, %d interactions", self.path or "no cassette", self.mode,
                    len(cassette.interactions))

    @property
    def offline(self) -> bool:
        """Whether no request may reach a server."""
        return self.mode == "none" or self.locked

    def replays(self) -> bool:
        """Whether requests are answered from the cassette at all."""
        return self.mode != "all"

    def is_ucwa(self, flow: http.HTTPFlow) -> bool:
        """Whether a flow is UCWA traffic (by `ucwa_hosts`, or by the protocol's URLs)."""
        if self.hosts is not None:
            return bool(self.hosts.search(flow.request.pretty_host))
        return ucwa.is_ucwa(flow.request.pretty_host, flow.request.path)

    def should_record(self, flow: http.HTTPFlow) -> bool:
        """Whether a completed flow from a server belongs in the cassette."""
        if self.path is None or self.offline or not self.is_ucwa(flow):
            return False
        return not self.meetings_only or ucwa.is_online_meetings(flow.request.path)

    async def record(self, interaction: Interaction) -> None:
        """Redact an exchange, add it to the cassette, and return once the cassette on disk holds it."""
        clean = self.redactor.interaction(interaction)
        self.matcher.add(clean)
        self._pending.append(store.dump_interaction(clean))
        if self._next_write is None:
            self._next_write = asyncio.get_running_loop().create_future()
        written = self._next_write
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())
        await asyncio.shield(written)

    async def _write(self) -> None:
        # One writer task at a time; exchanges recorded during a write all go in the next one.
        while self._next_write is not None:
            written, self._next_write = self._next_write, None
            batch, self._pending = self._pending, []
            writer = self._cassette_writer
            assert writer is not None  # should_record() never lets a flow through without a cassette
            try:
                await asyncio.to_thread(writer.write, batch)
            except OSError as e:
                logger.error("ucwa-vcr: cannot write %s: %s (retried with the next exchange)", writer.path, e)
            written.set_result(None)

    def _finish_writing(self) -> None:
        """Write what is pending and leave the cassette file in its final form.

        Blocks until the writer thread is done with its batch: runs only when the cassette is switched
        or the proxy stops.
        """
        writer, written = self._cassette_writer, self._next_write
        if writer is None:
            return
        batch, self._pending, self._next_write = self._pending, [], None
        try:
            if batch:
                writer.write(batch)
            writer.finish()
        except OSError as e:
            logger.error("ucwa-vcr: cannot write %s: %s", writer.path, e)
        if written is not None:
            written.set_result(None)

    @command.command("ucwa.rewind")
    def rewind(self) -> None:
        """Start the cassette over: identical requests get their first recorded answer again."""
        self.matcher.rewind()
        logger.info("ucwa-vcr: cassette rewound")

    async def done(self) -> None:
        if self._writer is not None:
            await self._writer
        self._finish_writing()
