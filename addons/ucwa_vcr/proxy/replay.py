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
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from mitmproxy import http

from .. import protocol
from ..match import Miss
from ..simulation import MeetingEvent, Simulation, events_body
from .flows import ANSWERED_BY, Answer, error_response, mark, request_of, response_of
from .guard import FAILURE, guarded
from .options_addon import OptionsAddon
from .session import CassetteSession

logger = logging.getLogger(__name__)

MISS_REASON = "ucwa-vcr: no recorded answer"


def events_answer(flow: http.HTTPFlow, events: Sequence[MeetingEvent] = ()) -> http.Response:
    """An event channel answer: the model's `events`, or none, as a server answers a P-GET that timed out; with a
    link to the next P-GET (ack + 1)."""
    path = flow.request.path.partition("?")[0]
    ack = flow.request.query.get("ack", "1")
    following = f"{path}?ack={int(ack) + 1 if ack.isdigit() else ack}"
    body, ctype = events_body(events, flow.request.path, following, flow.request.headers.get("accept", ""))
    return http.Response.make(200, body, {"Content-Type": ctype})


def miss_response(flow: http.HTTPFlow, miss: Miss) -> http.Response:
    """A UCWA-shaped error (JSON or XML by Accept) carrying the explanation of a miss."""
    body, ctype = protocol.error_body("ServiceFailure", "UcwaVcrNoMatch", miss.explain(),
                                  flow.request.headers.get("accept", ""))
    response = http.Response.make(500, body, {"Content-Type": ctype, "X-Ucwa-Vcr": "miss",
                                              "X-Ucwa-Vcr-Diagnosis": miss.summary()})
    response.reason = MISS_REASON
    return response


@dataclass
class Held:
    """An unrecorded event P-GET being held: woken by a newer P-GET with the same ack, or by the model's news."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    news: bool = False


class UcwaReplayer(OptionsAddon):
    """Answers requests from the session's cassette (and its model of the meetings) in every mode but `all`."""

    OPTIONS = ("ucwa_latency", "ucwa_event_hold")

    def __init__(self, session: CassetteSession) -> None:
        self.session = session
        self._held: dict[tuple[str, str], Held] = {}  # held event P-GETs by (channel, ack)

    @guarded
    async def request(self, flow: http.HTTPFlow) -> None:
        session = self.session
        if flow.response is not None or flow.error is not None or FAILURE in flow.metadata or not session.replays():
            return  # (after a failure, a replayed answer would hide it: offline, the guard answers instead)
        if not session.offline and not session.is_ucwa(flow):
            return  # not UCWA: passes through untouched
        if session.simulation is not None and self._simulate(flow, session.simulation):
            return
        found = session.matcher.match(request_of(flow), offline=session.offline)
        if isinstance(found, Miss):
            if session.offline:
                await self._answer_miss(flow, found)
            return  # otherwise the request goes to the server and the recorder keeps its answer
        flow.metadata[ANSWERED_BY] = Answer.REPLAYED
        session.tally.replayed += 1
        mark(flow, Answer.REPLAYED, f"ucwa-vcr: replayed from {session.path} (recorded {found.started})")
        if self.options.ucwa_latency:
            await asyncio.sleep(found.duration * self.options.ucwa_latency / 100)
        flow.response = response_of(found.response, flow.request.http_version)

    def _simulate(self, flow: http.HTTPFlow, simulation: Simulation) -> bool:
        """Answer a meeting request from the model; tell held event P-GETs when it changed something."""
        answer = simulation.answer(request_of(flow))
        if answer is None:
            return False
        flow.metadata[ANSWERED_BY] = Answer.SIMULATED
        self.session.tally.simulated += 1
        mark(flow, Answer.SIMULATED, f"ucwa-vcr: simulated {flow.request.method} (the model learned from "
                                     f"{self.session.path}): {answer.status}")
        flow.response = response_of(answer, flow.request.http_version)
        if flow.request.method.upper() != "GET":
            for held in self._held.values():
                held.news = True
                held.wake.set()
        return True

    def _answer_news(self, flow: http.HTTPFlow, news: Sequence[MeetingEvent]) -> None:
        """Answer an event P-GET with the model's changes: simulated, not missed."""
        flow.metadata[ANSWERED_BY] = Answer.SIMULATED
        self.session.tally.simulated += 1
        mark(flow, Answer.SIMULATED, f"ucwa-vcr: simulated events ({len(news)}) from the model learned from "
                                     f"{self.session.path}")
        flow.response = events_answer(flow, news)

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
        the same ack releases it at once with 409 PGetReplaced, and the model's changes (ucwa_simulate) with
        their events."""
        simulation = self.session.simulation
        if simulation is not None and (news := simulation.pending_events()):
            self._answer_news(flow, news)
            return
        asked = flow.request.query.get("timeout", "180")
        hold = min(int(asked) if asked.isdigit() else 180, self.options.ucwa_event_hold)
        key = (flow.request.path.partition("?")[0], flow.request.query.get("ack", ""))
        if key in self._held:
            self._held[key].wake.set()
        held = self._held[key] = Held()
        logger.info("ucwa-vcr: holding unrecorded event request %s for %d s", flow.request.path, hold)
        try:
            await asyncio.wait_for(held.wake.wait(), hold)
        except TimeoutError:
            flow.response = events_answer(flow)
        else:
            if held.news and simulation is not None:
                self._answer_news(flow, simulation.pending_events())
            else:
                flow.response = error_response("PGetReplaced", flow.request.headers.get("accept", ""))
        finally:
            if self._held.get(key) is held:
                del self._held[key]
