"""ucwa-vcr's proxy on a thread of its own, for a process that does other things (the pytest plugin).

Usage:
    proxy = ProxyThread(confdir)             # listens on 127.0.0.1:<proxy.port>, mode none, no cassette
    proxy.use(ucwa_cassette="today.yaml")    # options are changed on the proxy's own event loop
    proxy.stop()
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from mitmproxy import exceptions, options
from mitmproxy.tools.dump import DumpMaster

from .. import make_addons
from ..errors import UsageError
from ..options import RecordMode
from .session import CassetteSession


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
        self.addons = make_addons()
        self.master.addons.add(*self.addons)
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
        return next(a for a in self.addons if isinstance(a, CassetteSession))

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

    def misses(self) -> list[str]:
        """Explanations of the requests answered with a miss since the current cassette was loaded."""
        return list(self.call(lambda: [m.explain() for m in self.session.misses]))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.master.shutdown)
        self.thread.join(30)
