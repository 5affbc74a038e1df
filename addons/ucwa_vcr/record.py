"""Recording addon: writes completed UCWA exchanges from the server into the cassette, redacted.

Usage:
    mitmdump -s addons/ucwa.py --set ucwa_cassette=cassettes/today.yaml --set ucwa_record_mode=all

Flows answered by ucwa-vcr itself (replayed, missed, faulted) carry `flow.metadata["ucwa_vcr"]` and are
never recorded as if a server had sent them.
"""

from __future__ import annotations

import logging

from mitmproxy import http

from .deck import UcwaDeck
from .flows import interaction_of

logger = logging.getLogger(__name__)


class UcwaRecorder:
    """Hands each completed server exchange to the deck, which redacts and writes it."""

    def __init__(self, deck: UcwaDeck) -> None:
        self.deck = deck

    async def response(self, flow: http.HTTPFlow) -> None:
        if flow.metadata.get("ucwa_vcr") or flow.response is None or not self.deck.should_record(flow):
            return
        try:
            # The client gets its answer only once the exchange is safely on disk.
            await self.deck.record(interaction_of(flow))
        except Exception:  # a hook must never take the proxy down; the exchange is lost, not the session
            logger.exception("ucwa-vcr: could not record %s %s", flow.request.method, flow.request.url)
