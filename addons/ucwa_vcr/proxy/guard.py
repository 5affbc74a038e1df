"""Offline means offline: a failing hook never lets a request through to a server.

Usage (wired by addons/ucwa.py, last in the chain):
    mitmdump -s addons/ucwa.py --set ucwa_cassette=today.yaml --set ucwa_record_mode=none

mitmproxy logs an exception raised in a hook and carries on with the flow, which means forwarding it. ucwa-vcr's
hooks are `guarded`: an exception is logged as one line (the traceback at debug level) and noted on the flow.
In offline modes UcwaOfflineGuard then answers every request no addon answered with a UCWA-shaped 500 naming
the problem, and refuses every server connection, so even a failure nobody foresaw cannot reach a server: an
exception that escapes a hook anyway makes mitmproxy skip the rest of the script's addons, the guard's answer
too, and the client then gets mitmproxy's own 502 naming the refused connection.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from mitmproxy import http
from mitmproxy.proxy import server_hooks

from .. import protocol
from ..redact import Redactor
from .flows import ANSWERED_BY, Answer, mark
from .session import CassetteSession

logger = logging.getLogger(__name__)

FAILURE = "ucwa_vcr_failure"  # flow.metadata key: what failed in a ucwa-vcr hook for this flow
_LOG_REDACTOR = Redactor(canonical=True)  # an exception's text may quote a live URL or body

Hook = Callable[[Any, http.HTTPFlow], Any]


def _failed(addon: object, hook: Hook, flow: http.HTTPFlow, e: Exception) -> None:
    problem = _LOG_REDACTOR.text(f"{type(addon).__name__}.{hook.__name__} failed on {flow.request.method} "
                                 f"{flow.request.pretty_url}: {type(e).__name__}: {e}".splitlines()[0])
    flow.metadata[FAILURE] = problem
    logger.error("ucwa-vcr: %s", problem)
    logger.debug("ucwa-vcr: the failure in full", exc_info=e)


def guarded(hook: Hook) -> Hook:
    """A flow hook that logs its exceptions in one line and notes them on the flow instead of raising."""
    if inspect.iscoroutinefunction(hook):
        async def run_async(self: object, flow: http.HTTPFlow) -> None:
            try:
                await hook(self, flow)
            except Exception as e:  # the point: no exception escapes into mitmproxy
                _failed(self, hook, flow, e)
        return functools.wraps(hook)(run_async)

    def run(self: object, flow: http.HTTPFlow) -> None:
        try:
            hook(self, flow)
        except Exception as e:
            _failed(self, hook, flow, e)
    return functools.wraps(hook)(run)


def failure_response(flow: http.HTTPFlow, problem: str) -> http.Response:
    """The proxy's own UCWA-shaped 500 for a request it could not answer as it should."""
    body, ctype = protocol.error_body("ServiceFailure", "UcwaVcrError", problem, flow.request.headers.get("accept", ""))
    response = http.Response.make(500, body, {"Content-Type": ctype, "X-Ucwa-Vcr": "error"})
    response.reason = "ucwa-vcr: error"
    return response


class UcwaOfflineGuard:
    """Last in the chain: offline, answers what nobody answered and refuses every server connection."""

    def __init__(self, session: CassetteSession) -> None:
        self.session = session

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None or flow.error is not None or not self.session.offline:
            return
        problem = flow.metadata.get(FAILURE) or "no ucwa-vcr addon answered this request (see the log)"
        flow.metadata[ANSWERED_BY] = Answer.FAILED
        problem = f"ucwa-vcr: offline, nothing was forwarded: {problem}"
        mark(flow, Answer.FAILED, problem)
        flow.response = failure_response(flow, problem)

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        if self.session.offline:
            # mitmproxy opens no connection when the hook sets an error
            data.server.error = "ucwa-vcr: offline (record mode none, or once with a recorded cassette)"
