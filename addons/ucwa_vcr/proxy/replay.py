"""Replay addon: answers requests from the cassette, and explains those it cannot answer.

Usage:
    mitmdump -s addons/ucwa.py --set ucwa_cassette=cassettes/today.yaml --set ucwa_record_mode=none \\
        [--set ucwa_latency=100] [--set ucwa_event_hold=30]

In offline modes a request with no recorded answer gets a UCWA-shaped 500 error whose body lists the
closest recorded requests and what differed; an unrecorded event-channel P-GET is held (without
blocking other flows) and then answered like an idle channel, so clients neither spin nor hang (a newer
P-GET with the same ack releases it with 409 PGetReplaced, as a server does).
"""

from __future__ import annotations

import asyncio
import json
import logging
from xml.sax.saxutils import quoteattr

from mitmproxy import http

from .. import protocol
from ..match import Miss
from .flows import ANSWERED_BY, Answer, error_response, mark, request_of, response_of
from .guard import FAILURE, guarded
from .options_addon import OptionsAddon
from .session import CassetteSession

logger = logging.getLogger(__name__)

MISS_REASON = "ucwa-vcr: no recorded answer"


def idle_events(flow: http.HTTPFlow) -> http.Response:
    """What a server answers when an event channel P-GET times out: only a link to the next one."""
    path = flow.request.path.partition("?")[0]
    ack = flow.request.query.get("ack", "1")
    following = f"{path}?ack={int(ack) + 1 if ack.isdigit() else ack}"
    if protocol.representation(flow.request.headers.get("accept", "")) == "xml":
        body = (f'<?xml version="1.0" encoding="utf-8"?>\n<events href={quoteattr(flow.request.path)} '
                f'xmlns="{protocol.UCWA_NS}"><link rel="next" href={quoteattr(following)} /></events>').encode()
        ctype = "application/xml; charset=utf-8"
    else:
        body = json.dumps({"_links": {"self": {"href": flow.request.path}, "next": {"href": following}}}).encode()
        ctype = "application/json; charset=utf-8"
    return http.Response.make(200, body, {"Content-Type": ctype})


def miss_response(flow: http.HTTPFlow, miss: Miss) -> http.Response:
    """A UCWA-shaped error (JSON or XML by Accept) carrying the explanation of a miss."""
    body, ctype = protocol.error_body("ServiceFailure", "UcwaVcrNoMatch", miss.explain(),
                                  flow.request.headers.get("accept", ""))
    response = http.Response.make(500, body, {"Content-Type": ctype, "X-Ucwa-Vcr": "miss",
                                              "X-Ucwa-Vcr-Diagnosis": miss.summary()})
    response.reason = MISS_REASON
    return response


class UcwaReplayer(OptionsAddon):
    """Answers requests from the session's cassette in every mode but `all`."""

    OPTIONS = ("ucwa_latency", "ucwa_event_hold")

    def __init__(self, session: CassetteSession) -> None:
        self.session = session
        # held event P-GETs by (channel, ack): set when a newer P-GET with the same ack replaces one
        self._held: dict[tuple[str, str], asyncio.Event] = {}

    @guarded
    async def request(self, flow: http.HTTPFlow) -> None:
        session = self.session
        if flow.response is not None or flow.error is not None or FAILURE in flow.metadata or not session.replays():
            return  # (after a failure, a replayed answer would hide it: offline, the guard answers instead)
        if not session.offline and not session.is_ucwa(flow):
            return  # not UCWA: passes through untouched
        found = session.matcher.match(request_of(flow), offline=session.offline)
        if isinstance(found, Miss):
            if session.offline:
                await self._answer_miss(flow, found)
            return  # otherwise the request goes to the server and the recorder keeps its answer
        flow.metadata[ANSWERED_BY] = Answer.REPLAYED
        mark(flow, Answer.REPLAYED, f"ucwa-vcr: replayed from {session.path} (recorded {found.started})")
        session.tally.replayed += 1
        if self.options.ucwa_latency:
            await asyncio.sleep(found.duration * self.options.ucwa_latency / 100)
        flow.response = response_of(found.response, flow.request.http_version)

    async def _answer_miss(self, flow: http.HTTPFlow, miss: Miss) -> None:
        flow.metadata[ANSWERED_BY] = Answer.MISS
        mark(flow, Answer.MISS, miss.explain())
        if protocol.is_events(flow.request.path.partition("?")[0]):
            await self._hold_events(flow)
            return
        self.session.misses.append(miss)
        self.session.tally.missed += 1
        logger.warning("%s", miss.explain())
        flow.response = miss_response(flow, miss)

    async def _hold_events(self, flow: http.HTTPFlow) -> None:
        """Hold an unrecorded P-GET, then answer like an idle channel; as a server does, a newer P-GET with
        the same ack releases it at once with 409 PGetReplaced."""
        asked = flow.request.query.get("timeout", "180")
        hold = min(int(asked) if asked.isdigit() else 180, self.options.ucwa_event_hold)
        key = (flow.request.path.partition("?")[0], flow.request.query.get("ack", ""))
        if key in self._held:
            self._held[key].set()
        replaced = self._held[key] = asyncio.Event()
        logger.info("ucwa-vcr: holding unrecorded event request %s for %d s", flow.request.path, hold)
        try:
            await asyncio.wait_for(replaced.wait(), hold)
        except TimeoutError:
            flow.response = idle_events(flow)
        else:
            flow.response = error_response("PGetReplaced", flow.request.headers.get("accept", ""))
        finally:
            if self._held.get(key) is replaced:
                del self._held[key]
