"""Recording addon: writes completed UCWA exchanges from the server into the cassette, redacted.

Usage:
    mitmdump -s addons/ucwa.py --set ucwa_cassette=cassettes/today.yaml --set ucwa_record_mode=all

Flows answered by ucwa-vcr itself (replayed, missed, faulted) carry `flow.metadata[flows.ANSWERED_BY]` and are
never recorded as if a server had sent them.
"""

from __future__ import annotations

from mitmproxy import http

from .flows import ANSWERED_BY, interaction_of
from .guard import guarded
from .session import CassetteSession


class UcwaRecorder:
    """Hands each completed server exchange to the cassette session, which redacts and writes it."""

    def __init__(self, session: CassetteSession) -> None:
        self.session = session

    @guarded
    async def response(self, flow: http.HTTPFlow) -> None:
        session = self.session
        if flow.response is None:
            return
        session.learn(flow)  # replayed answers teach the session its hosts too
        if flow.metadata.get(ANSWERED_BY):
            return
        if not session.should_record(flow):
            session.passed_through(flow)
            return
        try:
            # The client gets its answer only once the exchange is safely on disk.
            await session.record(interaction_of(flow))
        except Exception as e:  # the exchange is lost, not the session: said at once and on stop
            session.not_written(flow, e)
