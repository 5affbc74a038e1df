"""The loopback guard in process: the proxy listens on loopback unless told otherwise, and says so when it does not.

tests/e2e/test_cli.py checks where a real mitmdump listens.
"""

from __future__ import annotations

from mitmproxy.test import taddons
from ucwa_vcr.proxy.loopback import UcwaLoopback


async def test_listening_beyond_loopback_says_so(caplog):
    guard = UcwaLoopback()
    with taddons.context(guard) as tctx:
        assert tctx.options.listen_host == "127.0.0.1", "loopback unless told otherwise"
        tctx.configure(guard, listen_host="127.0.0.5")
        guard.running()
        assert "other machines" not in caplog.text
        tctx.configure(guard, listen_host="0.0.0.0")
        guard.running()
        assert "ucwa-vcr: listening on 0.0.0.0: other machines can reach this proxy" in caplog.text
