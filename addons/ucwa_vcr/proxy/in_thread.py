"""ucwa-vcr's proxy on a thread of its own, for a process that does other things (the pytest plugin).

Usage:
    ensure_ca(confdir)                       # once, under a lock when processes share the confdir (pytest -n)
    proxy = ProxyThread(confdir)             # listens on 127.0.0.1:<proxy.port>, mode none, no cassette
    proxy.use(ucwa_cassette="today.yaml")    # options are changed on the proxy's own event loop
    proxy.start_test(ucwa_cassette="today.yaml")   # the same, and exchanges from here on are the new test's
    proxy.exchanges(); proxy.misses(); proxy.add_fault("POST myOnlineMeetings$=TooManyOnlineMeetings")
    proxy.end_test()                         # no faults; a recorded cassette written in full and left
    proxy.stop()
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from mitmproxy import certs, exceptions, options
from mitmproxy.tools.dump import DumpMaster

from .. import make_parts
from ..errors import UsageError
from ..options import RecordMode
from .composite import UcwaVcr
from .exchanges import Exchange, UcwaExchanges
from .faults import UcwaFaults
from .session import CassetteSession

_CA_FILES = ("-ca.pem", "-ca-cert.pem", "-dhparam.pem")  # what a proxy loads, in the order mitmproxy writes them


def ensure_ca(confdir: Path) -> None:
    """Create mitmproxy's CA in `confdir` unless it is there whole (a proxy started on it then only reads it).

    Not atomic: processes sharing the confdir (pytest-xdist workers) call it under one lock.
    """
    if not all((confdir / f"{options.CONF_BASENAME}{suffix}").exists() for suffix in _CA_FILES):
        certs.CertStore.create_store(confdir, options.CONF_BASENAME, options.KEY_SIZE)


class ProxyThread:
    """A mitmproxy master with ucwa-vcr's addons, running on its own thread and event loop."""

    def __init__(self, confdir: Path) -> None:
        self.confdir = confdir
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.port = 0
        self.thread = threading.Thread(target=self._run, name="ucwa-vcr proxy", daemon=True)
        self.thread.start()
        if not self._ready.wait(30) or self._error is not None:
            raise RuntimeError(f"ucwa-vcr proxy did not start: {self._error}")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as e:  # reported to the starting thread
            self._error = e
            self._ready.set()

    async def _main(self) -> None:
        self.master = DumpMaster(options.Options(), with_termlog=False, with_dumper=False)
        self.parts = make_parts()
        self.parts.append(UcwaExchanges(self.session))  # last: it sees every answer as it left
        self.master.addons.add(UcwaVcr(self.parts))
        self.master.options.update(listen_host="127.0.0.1", listen_port=0, confdir=str(self.confdir),
                                   ucwa_record_mode=RecordMode.NONE.value)
        running = asyncio.ensure_future(self.master.run())
        server = self.master.addons.get("proxyserver")
        for _ in range(300):
            addrs = server.listen_addrs() if server else []
            if addrs:
                self.port = addrs[0][1]
                break
            await asyncio.sleep(0.01)
        self._ready.set()
        await running

    @property
    def session(self) -> CassetteSession:
        return next(a for a in self.parts if isinstance(a, CassetteSession))

    @property
    def faults(self) -> UcwaFaults:
        return next(a for a in self.parts if isinstance(a, UcwaFaults))

    @property
    def keeper(self) -> UcwaExchanges:
        return next(a for a in self.parts if isinstance(a, UcwaExchanges))

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run `fn` on the proxy's event loop and return its result (exceptions are raised here)."""
        async def run() -> Any:
            return fn(*args, **kwargs)
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)

    def use(self, **opts: Any) -> None:
        """Switch options (cassette, mode, faults) for the next test; UsageError (one line) when one is refused."""
        try:
            self.call(self.master.options.update, **opts)
        except exceptions.OptionsError as e:
            raise UsageError(str(e)) from None

    @property
    def ca_bundle(self) -> Path:
        """The CA certificate clients trust (the proxy's, in its confdir)."""
        return self.confdir / f"{options.CONF_BASENAME}-ca-cert.pem"

    def start_test(self, **opts: Any) -> bool:
        """A test starts: switch options (cassette, mode, faults), keep its exchanges only; whether the cassette is
        recorded into. UsageError (one line) when an option is refused."""
        def start() -> bool:
            self.keeper.begin()
            self.master.options.update(**opts)
            return self.session.recording
        try:
            return bool(self.call(start))
        except exceptions.OptionsError as e:
            raise UsageError(str(e)) from None

    def end_test(self) -> tuple[list[str], int, list[Exchange]]:
        """A test is over: what it missed (explanations, count) and its exchanges; then its fault rules and what they
        expired are gone, and a cassette it recorded into is written in its final form and left (the proxy replays
        the shipped seed, offline, until the next test), so that another process may take it."""
        def end() -> tuple[list[str], int, list[Exchange]]:
            ended = [m.explain() for m in self.session.misses], self.session.tally.missed, self.keeper.exchanges()
            self.faults.clear_faults()
            if self.session.recording:  # (a replayed one stays: loading it for nothing costs every test)
                self.master.options.update(ucwa_cassette="", ucwa_record_mode=RecordMode.NONE.value, ucwa_faults="",
                                           ucwa_inject=[], ucwa_simulate=False)
            return ended
        return self.call(end)  # type: ignore[no-any-return]

    def misses(self) -> list[str]:
        """Explanations of the requests answered with a miss since the current cassette was loaded."""
        return list(self.call(lambda: [m.explain() for m in self.session.misses]))

    def exchanges(self) -> list[Exchange]:
        """The current test's exchanges, redacted, in the order the requests came."""
        return list(self.call(self.keeper.exchanges))

    def add_fault(self, spec: str) -> None:
        """Add a fault rule (shorthand or a YAML/JSON mapping); UsageError (one line) when it is refused."""
        __tracebackhide__ = True  # pytest shows the test's line that added it
        try:
            self.call(self.faults.add_fault, spec)
        except exceptions.CommandError as e:
            raise UsageError(f"ucwa-vcr fault rule {spec!r}: {e}") from None

    def clear_faults(self) -> None:
        """Remove every fault rule, and end what they expired."""
        self.call(self.faults.clear_faults)

    def fault_rules(self) -> list[str]:
        """The fault rules in force, with how often each matched and fired; then what has expired."""
        return list(self.call(self.faults.list_faults))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.master.shutdown)
        self.thread.join(30)
