"""Conversions between cassette interactions and mitmproxy flows (live, replayed, read or written)."""

from __future__ import annotations

import copy
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Generic, TypeVar

from mitmproxy import connection, http

from .. import protocol
from ..cassette.model import Interaction, Request, Response
from ..match import url_parts

# flow.metadata[ANSWERED_BY] says that ucwa-vcr, not a server, answered a flow: the recorder skips those.
ANSWERED_BY = "ucwa_vcr"
FAULT_LABEL = "ucwa_fault"  # flow.metadata key: the label of the fault rule that fired for the flow


class Answer(StrEnum):
    """How ucwa-vcr answered a flow (the value of flow.metadata[ANSWERED_BY])."""

    REPLAYED = "replayed"
    MISS = "miss"
    FAULTED = "faulted"
    FAILED = "failed"  # a ucwa-vcr hook failed offline: the proxy answered with its own 500
    SIMULATED = "simulated"  # answered by the model learned from the cassette (ucwa_simulate)


# How mitmproxy's UIs (console, mitmweb) show what ucwa-vcr did with a flow: a mark, and the why as its comment.
MARKS = {Answer.REPLAYED: ":arrow_forward:", Answer.MISS: ":x:", Answer.FAULTED: ":zap:", Answer.FAILED: ":warning:",
         Answer.SIMULATED: ":crystal_ball:"}


def from_cassette(flow: http.HTTPFlow) -> bool:
    """Whether a flow was answered from the cassette or its model: the same answers come again and again."""
    return flow.metadata.get(ANSWERED_BY) in (Answer.REPLAYED, Answer.SIMULATED)


def mark(flow: http.HTTPFlow, how: Answer, comment: str) -> None:
    """Show in mitmproxy's UIs how ucwa-vcr handled a flow (a fault may act on a real answer: only marked)."""
    flow.marked = MARKS[how]
    flow.comment = comment


_HOP_BY_HOP = ("transfer-encoding", "connection", "keep-alive", "proxy-connection", "upgrade")


def header_bytes(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Recorded headers as the bytes that were on the wire.

    mitmproxy decodes header bytes as UTF-8, keeping bytes that are not UTF-8 as lone surrogates; encoding the
    same way gives back exactly the recorded bytes, whatever the charset.
    """
    return [(k.encode("utf-8", "surrogateescape"), v.encode("utf-8", "surrogateescape")) for k, v in headers]


def _message(m: http.Message) -> tuple[list[tuple[str, str]], bytes, bool]:
    headers = list(m.headers.items(multi=True))
    if not m.raw_content:  # most requests: nothing to decode
        return headers, b"", False
    try:
        return headers, m.content or b"", False
    except ValueError:  # a Content-Encoding that does not decode: keep the wire bytes
        return headers, m.raw_content or b"", True


def request_of(flow: http.HTTPFlow) -> Request:
    """A copy of a flow's request in cassette form."""
    headers, body, raw = _message(flow.request)
    return Request(method=flow.request.method, url=flow.request.url, headers=headers, body=body, raw=raw)


def interaction_of(flow: http.HTTPFlow) -> Interaction:
    """A copy of a completed exchange in cassette form (not yet redacted)."""
    assert flow.response is not None
    headers, body, raw = _message(flow.response)
    started = flow.request.timestamp_start
    ended = flow.response.timestamp_end or flow.response.timestamp_start or started
    return Interaction(
        request=request_of(flow),
        response=Response(status=flow.response.status_code, reason=flow.response.reason, headers=headers,
                          body=body, raw=raw),
        started=datetime.fromtimestamp(started, UTC).isoformat(timespec="milliseconds"),
        duration=max(0.0, ended - started),
    )


def response_of(recorded: Response, http_version: str = "HTTP/1.1") -> http.Response:
    """A live response giving back a recorded one: its status, reason, headers and body bytes.

    The recorded Content-Encoding is applied again, Content-Length made true, hop-by-hop headers dropped.
    """
    # HTTP/2 allows only lower-case names: sent that way, rather than corrected (and logged) by mitmproxy
    h2 = http_version.startswith("HTTP/2")
    headers = header_bytes([(k.lower() if h2 else k, v) for k, v in recorded.headers if k.lower() not in _HOP_BY_HOP])
    try:  # mitmproxy reads a reason as Latin-1, so a recorded one encodes back to its bytes
        reason = recorded.reason.encode("latin-1")
    except UnicodeEncodeError:  # written by hand: sent as UTF-8
        reason = recorded.reason.encode("utf-8", "surrogateescape")
    now = time.time()
    response = http.Response(http_version.encode("ascii", "replace"), recorded.status, reason, tuple(headers), None,
                             None, now, now)
    if recorded.raw:
        response.raw_content = recorded.body
    else:
        response.content = recorded.body
    response.headers["content-length"] = str(len(response.raw_content or b""))
    return response


T = TypeVar("T")


class Memo(Generic[T]):
    """The latest results of work on answers from the cassette that depends only on its key, for one tape at a time:
    the same recorded answer is worked on once, not per request. Bounded: the least recently used results go first
    beyond `budget`, counted by `weight` (one per result by default). Live answers are worked on directly: a memo of
    them would only hold their bodies."""

    def __init__(self, budget: int = 256, weight: Callable[[T], int] = lambda _: 1) -> None:
        self.tape: object = None
        self.budget = budget
        self.weight = weight
        self.size = 0  # the weight of the results held
        self._results: OrderedDict[Hashable, T] = OrderedDict()

    def get(self, tape: object, key: Hashable, work: Callable[[], T]) -> T:
        """The result for `key` (an answer of `tape`): remembered, or `work()` done now and remembered."""
        if tape is not self.tape:
            self.tape, self.size = tape, 0
            self._results.clear()
        if key in self._results:
            self._results.move_to_end(key)
            return self._results[key]
        result = self._results[key] = work()
        self.size += self.weight(result)
        while self.size > self.budget and len(self._results) > 1:
            _, dropped = self._results.popitem(last=False)
            self.size -= self.weight(dropped)
        return result


def prebuilt(answers: Memo[http.Response], tape: object, recorded: Response,
             http_version: str = "HTTP/1.1") -> http.Response:
    """A new live response giving back `recorded`, a recorded answer of `tape` (the tape keeps its answers, so their
    ids stay theirs), from the one `answers` built for it: its body encoded and its header bytes built once, so a
    replay answers with stored bytes as mitmproxy's own server replay does (re-compressing a gzip answer per request
    cost more than everything else ucwa-vcr does for it)."""
    built = answers.get(tape, (id(recorded), http_version), lambda: response_of(recorded, http_version))
    # A shallow copy with its own data and headers: a fifth of the cost of building a Response, whose constructor
    # type-checks every field.
    response = copy.copy(built)
    response.data = copy.copy(built.data)
    response.data.headers = http.Headers(built.headers.fields)
    response.timestamp_start = response.timestamp_end = time.time()
    return response


def body_size(response: http.Response) -> int:
    """What a built answer weighs in a Memo of answers: its body's bytes."""
    return len(response.raw_content or b"")


def error_response(name: str, accept: str) -> http.Response:
    """The documented UCWA error `name` (a key of protocol.ERRORS) as a live response, JSON or XML as Accept asks."""
    status, body, ctype = protocol.error(name, accept)
    return http.Response.make(status, body, {"Content-Type": ctype})


def flow_with(request: http.Request, response: http.Response) -> http.HTTPFlow:
    """A flow holding a request and its response, with stand-in connections (nothing is live)."""
    client = connection.Client(peername=("127.0.0.1", 0), sockname=("127.0.0.1", 0),
                               timestamp_start=request.timestamp_start)
    flow = http.HTTPFlow(client, connection.Server(address=None))
    flow.request, flow.response = request, response
    return flow


def flow_of(interaction: Interaction) -> http.HTTPFlow:
    """A mitmproxy flow holding an interaction (for flow filters, flow files and HAR export)."""
    started = _timestamp(interaction.started)
    req = interaction.request
    try:
        request = http.Request.make(req.method, req.url, b"", header_bytes(req.headers))
    except (UnicodeError, ValueError):  # mitmproxy parses ASCII URLs only; a recorded one may hold any bytes
        scheme, host, port, path, query = url_parts(req.url)
        request = http.Request.make(req.method, f"{scheme}://{_ascii_host(host)}:{port}/", b"",
                                    header_bytes(req.headers))
        request.data.path = (path + (f"?{query}" if query else "")).encode("utf-8", "surrogateescape")
    if req.raw:
        request.raw_content = req.body
    else:
        request.content = req.body
    request.timestamp_start = started
    request.timestamp_end = started
    response = response_of(interaction.response)
    response.timestamp_start = started
    response.timestamp_end = started + interaction.duration
    return flow_with(request, response)


def _ascii_host(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:  # not a name IDNA can spell: kept readable, escaped
        return host.encode("ascii", "backslashreplace").decode("ascii")


def _timestamp(started: str) -> float:
    try:
        return datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()
