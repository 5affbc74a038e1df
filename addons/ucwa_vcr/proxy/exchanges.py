"""What a client sent through the proxy and what it got, kept per test (the pytest plugin's `ucwa_proxy.exchanges`).

Usage (the plugin's own proxy adds it last, after every other ucwa-vcr addon):
    keeper = UcwaExchanges(session)
    keeper.begin()        # a test starts: forget the last one's exchanges
    keeper.exchanges()    # what this test's client sent and got, in the order its requests came

Exchanges are redacted by the session's own (numbered) Redactor, the one that writes the cassette: a secret
is never kept, the same secret has the same placeholder here as in the cassette being recorded, and two
different secrets (an old token, a renewed one) stay two different placeholders.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass

from mitmproxy import http

from ..cassette.model import Headers, Response, header
from .flows import ANSWERED_BY, FAULT_LABEL, request_of
from .guard import FAILURE
from .session import CassetteSession

logger = logging.getLogger(__name__)

EXCHANGES_KEPT = 10_000  # per test: a long replay with a busy event channel must not grow without end
SERVER = "server"  # answered_by: the answer came from a server (recording, or passed through)
NOBODY = "nobody"  # answered_by: no answer at all (the server could not be reached, the client gave up)


@dataclass(frozen=True)
class Exchange:
    """One request of the test's client and what it got back, redacted as the cassette is."""

    method: str
    url: str
    request_headers: Headers
    request_body: bytes
    status: int | None  # None: the client got no answer (see `error`)
    response_headers: Headers
    response_body: bytes
    answered_by: str  # replayed | simulated | faulted | miss | failed | server | nobody
    fault: str | None = None  # the label of the fault rule that acted on it (answered, delayed, patched or broke it)
    error: str | None = None  # why there was no answer, or what failed in the proxy

    def __repr__(self) -> str:  # the bodies and headers are there to read, not to fill an assertion's message
        answer = f"{self.status}" if self.status is not None else f"no answer ({self.error})"
        fault = f", fault {self.fault!r}" if self.fault else ""
        return f"<Exchange {self.method} {self.url} -> {answer}, {self.answered_by}{fault}>"

    def request_header(self, name: str, default: str = "") -> str:
        """The first value of a request header (case-insensitive), or `default`."""
        return header(self.request_headers, name, default)

    def response_header(self, name: str, default: str = "") -> str:
        """The first value of a response header (case-insensitive), or `default`."""
        return header(self.response_headers, name, default)


def exchange_of(flow: http.HTTPFlow, session: CassetteSession) -> Exchange:
    """A redacted copy of a finished flow."""
    redactor = session.redactor
    request = redactor.request(request_of(flow))
    response: Response | None = None
    if flow.response is not None:
        try:
            body = flow.response.content or b""
        except ValueError:  # a Content-Encoding that does not decode: what was on the wire
            body = flow.response.raw_content or b""
        response = redactor.response(Response(status=flow.response.status_code, reason=flow.response.reason,
                                              headers=list(flow.response.headers.items(multi=True)), body=body))
    how = flow.metadata.get(ANSWERED_BY) or (SERVER if response is not None else NOBODY)
    problem = flow.metadata.get(FAILURE) or (flow.error.msg if flow.error is not None else None)
    return Exchange(method=request.method, url=request.url, request_headers=request.headers,
                    request_body=request.body, status=response.status if response else None,
                    response_headers=response.headers if response else [],
                    response_body=response.body if response else b"", answered_by=str(how),
                    fault=flow.metadata.get(FAULT_LABEL), error=redactor.text(problem) if problem else None)


class UcwaExchanges:
    """Keeps a redacted copy of every exchange of the current test, in the order the requests came."""

    def __init__(self, session: CassetteSession) -> None:
        self.session = session
        self._test = 0  # which test the proxy serves; flows begun in an earlier one are not kept
        self._next = 0
        self._begun: dict[str, tuple[int, int]] = {}  # flow id -> (test, order of arrival)
        self._kept: list[tuple[int, Exchange]] = []

    def begin(self) -> None:
        """A test starts: keep its exchanges only."""
        self._test += 1
        self._kept.clear()
        self._begun.clear()

    def exchanges(self) -> list[Exchange]:
        """The current test's exchanges that are over (answered or failed), in the order the requests came."""
        return [exchange for _, exchange in self._kept]

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self._begun[flow.id] = (self._test, self._next)
        self._next += 1

    def response(self, flow: http.HTTPFlow) -> None:
        self._keep(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._keep(flow)

    def _keep(self, flow: http.HTTPFlow) -> None:
        begun = self._begun.pop(flow.id, None)  # popped: an error after the answer (a client gone) is not kept twice
        if begun is None or begun[0] != self._test:
            return
        try:
            exchange = exchange_of(flow, self.session)
        except Exception as e:  # a hook never raises: a copy that fails is no reason to break the flow
            logger.warning("ucwa-vcr: exchange of %s not kept for ucwa_proxy.exchanges: %s", flow.request.method,
                           type(e).__name__)
            logger.debug("ucwa-vcr: the failure in full", exc_info=e)
            return
        order = begun[1]
        bisect.insort(self._kept, (order, exchange), key=lambda kept: kept[0])
        del self._kept[:-EXCHANGES_KEPT]
