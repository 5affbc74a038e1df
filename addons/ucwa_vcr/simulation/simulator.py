"""The simulation: answers onlineMeetings requests from the tape while it agrees with the model, else from the model."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence

from ..cassette.model import Interaction, Request, Response, header
from ..redact import Redactor
from .events import EventStyle, MeetingEvent, learn_events
from .meetings import Calendar, Invalid, Meeting, settings
from .render import Live, Renderer
from .shapes import ShapeMaker
from .style import Style, learn
from .tape import LIST, OTHER, Exchange, Tape, bare_etag, request_key, target_of
from .wire import Resource, parse_input

_APP_PREFIX = re.compile(r"^(.*?/v1/applications/\{app\})")


def etag_matches(condition: str, etag: str) -> bool:
    """Whether an If-Match / If-None-Match list names `etag` (or is `*`)."""
    return any(t.strip() == "*" or bare_etag(t) == etag for t in condition.split(","))


def request_input(request: Request) -> Resource:
    """The properties a POST or PUT body carries; Invalid(UnsupportedMediaType or DeserializationFailure)."""
    ctype = request.content_type.lower()
    if request.body.strip() and ctype and "json" not in ctype and "xml" not in ctype:
        raise Invalid("UnsupportedMediaType")
    try:
        return parse_input(request.body, ctype)
    except (ValueError, UnicodeDecodeError):
        raise Invalid("DeserializationFailure") from None


class Simulation:
    """A UCWA myOnlineMeetings server learned from a cassette.

    Recorded answers are given back byte for byte while the state they were recorded in is the model's state;
    once the client's writes depart from the recording, the model answers in the recorded server's style.
    """

    def __init__(self, tape: Tape, style: Style, event_style: EventStyle | None = None, *,
                 redactor: Redactor | None = None, clock: Callable[[], float] = time.time,
                 seed: int | str = "ucwa-vcr") -> None:
        self.tape = tape
        self.style = style
        self.event_style = event_style or EventStyle()
        self.redactor = redactor or Redactor(canonical=True)
        self.renderer = Renderer(style, clock)
        self.calendar = Calendar(style, ShapeMaker(seed), clock)
        self.calendar.seed(tape.initial())
        self._events: list[MeetingEvent] = []
        self.departed = False  # whether the model has answered a write the recording does not answer
        self._recorded = {id(ex.response) for ex in tape.exchanges}  # (the tape keeps them: ids stay theirs)

    @classmethod
    def from_interactions(cls, interactions: Sequence[Interaction], max_meetings: int | None = None, *,
                          redactor: Redactor | None = None, clock: Callable[[], float] = time.time,
                          seed: int | str = "ucwa-vcr") -> Simulation:
        """The simulation of the server a cassette recorded (`redactor`: how live requests are compared with
        recorded ones, the canonical one by default, as the replay matcher does)."""
        redactor = redactor or Redactor(canonical=True)
        tape = Tape.read(interactions, redactor)
        return cls(tape, learn(tape, max_meetings), learn_events(interactions), redactor=redactor, clock=clock,
                   seed=seed)

    @property
    def max_meetings(self) -> int:
        return self.style.max_meetings

    def meetings(self) -> list[Meeting]:
        """The meetings that exist now, in the order they came to be."""
        return list(self.calendar.meetings.values())

    def answer(self, request: Request) -> Response | None:
        """The model's answer to an onlineMeetings request, or None when the request is not the model's (the
        lead then replays from the tape as usual)."""
        target = target_of(request.url)
        if target.kind == OTHER:
            return None
        found = self.tape.pick(request_key(request, self.redactor), self._agrees)
        if found is not None:
            if found.writes:
                self.calendar.follow(found)
            return found.response  # the recorded answer itself: the replay serves it as it serves the tape's
        live = Live.of(request, target.app, target.collection)
        method = request.method.upper()
        if target.kind == LIST:
            if method == "GET":
                return self._list(live)
            return self._create(request, live) if method == "POST" else self.renderer.error("MethodNotAllowed", live)
        meeting = self.calendar.meetings.get(target.segment)
        if meeting is None:
            return self.renderer.error("ResourceNotFound", live)
        if method == "GET":
            return self._read(request, meeting, live)
        if method == "PUT":
            return self._update(request, meeting, live)
        return self._delete(meeting, live) if method == "DELETE" else self.renderer.error("MethodNotAllowed", live)

    def is_recorded(self, answer: Response) -> bool:
        """Whether an answer is one the tape recorded (given back byte for byte), not one the model made."""
        return id(answer) in self._recorded

    def pending_events(self) -> list[MeetingEvent]:
        """The model's changes since the last call, as event-channel entries (recorded writes replayed from the
        tape are not among them: the tape's own event answers carry those)."""
        events, self._events = self._events, []
        return events

    def _agrees(self, ex: Exchange) -> bool:
        """Whether a recorded answer was recorded in the state the model is in now, for what it is about."""
        calendar = self.calendar
        if ex.op == "list":
            shown = set(ex.shown) if ex.shown is not None else set(ex.before)
            return shown == set(calendar.meetings) and all(calendar.state(s) == ex.before.get(s) for s in shown)
        if ex.op in ("get", "put", "delete"):
            return calendar.state(ex.segment) == ex.before.get(ex.segment)
        if ex.op == "create":
            if not ex.ok:  # a refused create (409 TooManyOnlineMeetings): refused at the same count
                return calendar.count() == self.tape.count_before(ex)
            return (ex.resource is not None and bool(ex.segment) and calendar.count() < self.max_meetings
                    and calendar.state(ex.segment) == ex.before.get(ex.segment))
        return True

    def _list(self, live: Live) -> Response:
        groups: dict[str, list[Resource]] = {}
        for meeting in self.calendar.meetings.values():
            groups.setdefault(meeting.rel, []).append(meeting.resource)
        return self.renderer.response("list", live, self.renderer.list_body(groups, live))

    def _create(self, request: Request, live: Live) -> Response:
        try:
            values = settings(request_input(request), self.style)
        except Invalid as e:
            return self.renderer.error(e.name, live)
        if self.calendar.count() >= self.max_meetings:
            return self.renderer.error("TooManyOnlineMeetings", live)
        self.departed = True
        meeting = self.calendar.create(values, self.style.collection or live.collection)
        self._announce("added", meeting, live)
        body = self.renderer.body(meeting.resource, live.format, live.app)
        return self.renderer.response("create", live, body, meeting.etag, location=self._href(meeting, live))

    def _read(self, request: Request, meeting: Meeting, live: Live) -> Response:
        if_none_match = header(request.headers, "if-none-match")
        if if_none_match and etag_matches(if_none_match, meeting.etag):
            return self.renderer.response("get", live, b"", meeting.etag, status=304)
        body = self.renderer.body(meeting.resource, live.format, live.app)
        return self.renderer.response("get", live, body, meeting.etag)

    def _update(self, request: Request, meeting: Meeting, live: Live) -> Response:
        """PUT (PayloadFormat.md): If-Match required (428) and current (412); the GUID-named property the server
        sent must come back (400 ParameterValidationFailure); every setting is replaced."""
        if_match = header(request.headers, "if-match")
        if not if_match.strip():
            return self.renderer.error("PreconditionRequired", live)
        if not etag_matches(if_match, meeting.etag):
            return self.renderer.error("PreconditionFailed", live)
        try:
            given = request_input(request)
            marker = self.style.marker
            if marker and marker in meeting.resource and marker not in given:
                raise Invalid("ParameterValidationFailure")
            values = settings(given, self.style)
        except Invalid as e:
            return self.renderer.error(e.name, live)
        self.departed = True
        self.calendar.update(meeting, values)
        self._announce("updated", meeting, live)
        return self.renderer.response("put", live, self.renderer.body(meeting.resource, live.format, live.app),
                                      meeting.etag)

    def _delete(self, meeting: Meeting, live: Live) -> Response:
        self.departed = True
        del self.calendar.meetings[meeting.segment]
        self._announce("deleted", meeting, live)
        return self.renderer.response("delete", live, b"")

    def _href(self, meeting: Meeting, live: Live) -> str:
        """The meeting's self href, application id still `{app}`."""
        link = (meeting.resource.get("_links") or {}).get("self")
        href = link.get("href") if isinstance(link, dict) else None
        return str(href) if href else f"{self.style.collection or live.collection}/{meeting.segment}"

    def _announce(self, kind: str, meeting: Meeting, live: Live) -> None:
        """Queue the event a server sends for a change it made."""
        collection = self.style.collection or live.collection
        prefix = _APP_PREFIX.match(collection)
        sender = (prefix.group(1) if prefix else "") + self.event_style.sender_path

        def concrete(href: str) -> str:
            return href.replace("/v1/applications/{app}", f"/v1/applications/{live.app}")

        self._events.append(MeetingEvent(kind, meeting.rel, concrete(self._href(meeting, live)),
                                         self.event_style.sender_rel, concrete(sender),
                                         concrete(collection) if self.event_style.with_in else ""))
