"""Recording addon: writes completed UCWA exchanges from the server into the cassette, redacted.

Usage:
    mitmdump -s addons/ucwa.py --set ucwa_cassette=cassettes/today.yaml --set ucwa_record_mode=all

Flows answered by ucwa-vcr itself (replayed, missed, faulted) carry `flow.metadata[flows.ANSWERED_BY]` and are
never recorded as if a server had sent them.
"""

from __future__ import annotations

import logging

from mitmproxy import http

from .flows import ANSWERED_BY, interaction_of
from .session import CassetteSession

logger = logging.getLogger(__name__)


class UcwaRecorder:
    """Hands each completed server exchange to the cassette session, which redacts and writes it."""

    def __init__(self, session: CassetteSession) -> None:
        self.session = session

    async def response(self, flow: http.HTTPFlow) -> None:
        if flow.metadata.get(ANSWERED_BY) or flow.response is None or not self.session.should_record(flow):
            return
        try:
            # The client gets its answer only once the exchange is safely on disk.
            await self.session.record(interaction_of(flow))
        except Exception:  # a hook must never take the proxy down; the exchange is lost, not the session
            logger.exception("ucwa-vcr: could not record %s %s", flow.request.method, flow.request.url)
