"""Replay addon: answers requests from the cassette, and explains those it cannot answer.

Usage:
    mitmdump -s addons/ucwa.py --set ucwa_cassette=cassettes/today.yaml --set ucwa_record_mode=none \\
        [--set ucwa_latency=100] [--set ucwa_event_hold=30]

In offline modes a request with no recorded answer gets a UCWA-shaped 500 error whose body lists the
closest recorded requests and what differed; an unrecorded event-channel P-GET is held (without
blocking other flows) and then answered like an idle channel, so clients neither spin nor hang (a newer
P-GET with the same ack releases it with 409 PGetReplaced, as a server does). A P-GET whose ack a channel
the recording knows cannot serve (lower than the first it asked, higher than the last it was given or than
one after an ack the replay served) is answered with a single `resync` link, as EventChannelDetails.md says.

A batch (POST .../batch, multipart/batching) is answered whole when it was recorded so, else part by part
and in any order from the parts of recorded batches and from recorded single requests (ucwa_vcr.batch);
offline, a part with no recorded answer gets the miss error as its answer, the other parts theirs. Online,
a batch with such a part goes to the server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl
from xml.sax.saxutils import quoteattr

from mitmproxy import http

from .. import protocol
from ..batch import BatchAnswer, How, is_batch, miss_answer
from ..cassette.model import Response
from ..match import Matcher, Miss, url_parts
from ..simulation import MeetingEvent, Simulation, events_body
from ..text import counted
from .flows import ANSWERED_BY, Answer, Memo, body_size, error_response, mark, prebuilt, request_of, response_of
from .guard import FAILURE, guarded
from .options_addon import OptionsAddon
from .session import CassetteSession

logger = logging.getLogger(__name__)

# an ack in a recorded event answer's links (`?ack=6`, `&amp;ack=6`); longer numbers are no server's
_LINKED_ACK = re.compile(r"(?<![A-Za-z0-9_])ack=([0-9]{1,18})(?![0-9])")


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
    return response_of(miss_answer(miss, flow.request.headers.get("accept", "")), flow.request.http_version)


def resync_answer(flow: http.HTTPFlow, ack: int) -> http.Response:
    """The answer to an ack the channel cannot serve: a single link, rel="resync", to the P-GET with `ack`."""
    target = f"{flow.request.path.partition('?')[0]}?ack={ack}"
    if protocol.representation(flow.request.headers.get("accept", "")) == "xml":
        body = (f'<?xml version="1.0" encoding="utf-8"?>\n<events href={quoteattr(flow.request.path)} '
                f'xmlns="{protocol.UCWA_NS}">\n<link rel="resync" href={quoteattr(target)} />\n</events>')
        return http.Response.make(200, body.encode("utf-8"), {"Content-Type": "application/xml; charset=utf-8"})
    body = json.dumps({"_links": {"resync": {"href": target}}})
    return http.Response.make(200, body.encode("utf-8"), {"Content-Type": "application/json; charset=utf-8"})


def channel_ack(url: str) -> tuple[str | None, int | None]:
    """(the event channel, application id normalised; the ack as a number) of an event P-GET's URL, else Nones."""
    if "events" not in url:  # most URLs, at once: the recording's are all read once
        return None, None
    _, _, _, path, query = url_parts(url)
    if not protocol.is_events(path):
        return None, None
    ack = dict(parse_qsl(query, keep_blank_values=True)).get("ack", "")
    return protocol.normalise_path(path), int(ack) if re.fullmatch(r"[0-9]{1,18}", ack) else None


class EventChannels:
    """The event channels a recording knows, and the acks each can serve: from the lowest it was asked to the highest
    it was asked or linked to, and the one after every ack the replay served (its idle answer links to it)."""

    def __init__(self, tape: Matcher) -> None:
        self.tape = tape
        self.known: dict[str, tuple[int, int]] = {}  # channel -> (lowest ack asked, highest asked or linked to)
        self.reached: dict[str, int] = {}  # channel -> one after the highest ack served in this replay
        self.last: dict[str, int] = {}  # channel -> the last ack asked that it could serve
        for interaction in tape.interactions:
            channel, ack = channel_ack(interaction.request.url)
            if channel is None or ack is None:
                continue
            linked = [int(a) for a in _LINKED_ACK.findall(interaction.response.body.decode("utf-8", "replace"))]
            low, high = self.known.get(channel, (ack, ack))
            self.known[channel] = (min(low, ack), max(high, ack, *linked))

    def resync(self, url: str) -> tuple[int, str] | None:
        """(the ack to resync to, why) when the recording knows the channel and it cannot serve the ack asked; else
        None, and the ack counts as served."""
        channel, ack = channel_ack(url)
        if channel is None or ack is None or channel not in self.known:
            return None
        low, high = self.known[channel]
        top = max(high, self.reached.get(channel, 0))
        if low <= ack <= top:
            self.last[channel] = ack
            self.reached[channel] = max(self.reached.get(channel, 0), ack + 1)
            return None
        return self.last.get(channel, low), f"ack={ack} is out of order (the channel serves {low} to {top})"


def tally_batch(session: CassetteSession, answer: BatchAnswer) -> tuple[Answer, str]:
    """Count a batch's answer (each missed part as a miss, with its explanation kept) and say how it was answered."""
    if answer.whole is not None:
        session.tally.replayed += 1
        return Answer.REPLAYED, f"ucwa-vcr: batch replayed whole from {session.path} (recorded {answer.whole.started})"
    hows = Counter(part.how for part in answer.parts)
    session.tally.replayed += int(hows[How.REPLAYED] > 0)  # the batch is one request, answered
    session.tally.simulated += int(hows[How.SIMULATED] > 0)
    for miss in answer.misses:
        session.misses.append(miss)
        session.tally.missed += 1
        logger.warning("%s", miss.explain())
    done = ", ".join(f"{n} {how.value}" for how, n in hows.items())
    comment = "\n".join([f"ucwa-vcr: batch of {counted(len(answer.parts), 'part')} answered part by part from "
                          f"{session.path}: {done}", *(miss.explain() for miss in answer.misses)])
    if answer.misses:
        return Answer.MISS, comment
    return (Answer.SIMULATED if not hows[How.REPLAYED] else Answer.REPLAYED), comment


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
        self._channels: EventChannels | None = None  # the recorded event channels, made at the first offline P-GET
        # the recorded answers as sent, for the session's matcher: at most 64 MiB of bodies
        self._answers: Memo[http.Response] = Memo(64 * 2**20, body_size)

    @guarded
    async def request(self, flow: http.HTTPFlow) -> None:
        session = self.session
        if flow.response is not None or flow.error is not None or FAILURE in flow.metadata or not session.replays():
            return  # (after a failure, a replayed answer would hide it: offline, the guard answers instead)
        if not session.offline and not session.is_ucwa(flow):
            return  # not UCWA: passes through untouched
        if session.simulation is not None and self._simulate(flow, session.simulation):
            return
        if is_batch(flow.request.headers.get("content-type", "")) and await self._batch(flow):
            return
        if session.offline and protocol.is_events(flow.request.path.partition("?")[0]) and self._resync(flow):
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
        flow.response = self._recorded(found.response, flow.request.http_version)

    def _simulate(self, flow: http.HTTPFlow, simulation: Simulation) -> bool:
        """Answer a meeting request from the model; tell held event P-GETs when it changed something."""
        answer = simulation.answer(request_of(flow))
        if answer is None:
            return False
        flow.metadata[ANSWERED_BY] = Answer.SIMULATED
        self.session.tally.simulated += 1
        mark(flow, Answer.SIMULATED, f"ucwa-vcr: simulated {flow.request.method} (the model learned from "
                                     f"{self.session.path}): {answer.status}")
        flow.response = (self._recorded(answer, flow.request.http_version) if simulation.is_recorded(answer)
                         else response_of(answer, flow.request.http_version))
        if flow.request.method.upper() != "GET":
            self._wake_held()
        return True

    def _wake_held(self) -> None:
        """Tell held event P-GETs that the model changed something."""
        for held in self._held.values():
            held.news = True
            held.wake.set()

    async def _batch(self, flow: http.HTTPFlow) -> bool:
        """Answer a batch: whole as recorded, else part by part (ucwa_vcr.batch); False when it is no batch. Online,
        a batch with a part the cassette cannot answer goes to the server (True: nobody else answers it)."""
        session = self.session
        simulate = session.simulation.answer if session.simulation is not None else None
        answer = session.batches.answer(request_of(flow), session.offline, simulate)
        if answer is None or answer.response is None:
            return answer is not None
        how, comment = tally_batch(session, answer)
        flow.metadata[ANSWERED_BY] = how
        mark(flow, how, comment)
        if any(part.how == How.SIMULATED and part.request.method.upper() != "GET" for part in answer.parts):
            self._wake_held()
        if self.options.ucwa_latency:
            await asyncio.sleep(answer.duration * self.options.ucwa_latency / 100)
        if answer.whole is not None:
            flow.response = self._recorded(answer.response, flow.request.http_version)
        else:  # assembled for this request: nothing to keep
            flow.response = response_of(answer.response, flow.request.http_version)
        return True

    def _recorded(self, recorded: Response, http_version: str) -> http.Response:
        """A live response giving back a recorded one, built once per cassette loaded."""
        return prebuilt(self._answers, self.session.matcher, recorded, http_version)

    def _resync(self, flow: http.HTTPFlow) -> bool:
        """Answer `resync` to a P-GET whose ack its channel, known from the recording, cannot serve."""
        if self._channels is None or self._channels.tape is not self.session.matcher:
            self._channels = EventChannels(self.session.matcher)
        found = self._channels.resync(flow.request.url)
        if found is None:
            return False
        ack, why = found
        flow.metadata[ANSWERED_BY] = Answer.MISS
        mark(flow, Answer.MISS, f"ucwa-vcr: {why}: answered with a resync link to ack={ack}, as a server does")
        logger.warning("ucwa-vcr: event channel %s: %s; answered resync (ack=%d)",
                       flow.request.path.partition("?")[0], why, ack)
        flow.response = resync_answer(flow, ack)
        return True

    def release_events(self, expired: Callable[[str], bool]) -> None:
        """End at once the holds of the event P-GETs whose channel (path without query) `expired` names: their
        application expired (the faults addon then answers them with its error)."""
        for (channel, _ack), held in self._held.items():
            if expired(channel):
                held.wake.set()

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
