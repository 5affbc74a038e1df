"""The meetings the model holds, and what a server does to them on create, read, update and delete."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import reference
from .shapes import ShapeMaker
from .style import Style
from .tape import Exchange
from .wire import Resource, date_ms, json_date, with_app_placeholder

MODEL = "model"  # the state of a meeting the client changed away from the recording
State = int | str | None  # a recording token, MODEL, or None for a meeting that does not exist


class Invalid(Exception):
    """A request body the server rejects: the name of the documented error it answers with."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass
class Meeting:
    """One meeting: its canonical resource (hrefs with `{app}`), its ETag (bare) and where its state comes from."""

    segment: str
    rel: str
    resource: Resource
    etag: str
    token: int | None  # -1: as the recording first showed it; n: as recorded write n left it; None: the model's

    @property
    def state(self) -> State:
        return MODEL if self.token is None else self.token

    def set_etag(self, etag: str) -> None:
        self.etag = etag
        if "etag" in self.resource:  # real servers repeat the ETag in the body
            self.resource["etag"] = etag


def settings(raw: Resource, style: Style) -> Resource:
    """The documented settings a request body gives, checked and in canonical form; Invalid if one is not
    allowed (PayloadFormat.md: 400 ParameterValidationFailure). Unknown properties are ignored, as servers do."""
    out: Resource = {}
    for key in reference.INPUTS:
        value = raw.get(key)
        if value is None:  # absent, or null (the settings are nullable): the server's default
            continue
        if key in reference.LISTS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise Invalid("ParameterValidationFailure")
        elif key == "expirationTime":
            ms = date_ms(value) if isinstance(value, str) else None
            if ms is None:
                raise Invalid("ParameterValidationFailure")
            value = json_date(ms)
        elif not isinstance(value, str):
            raise Invalid("ParameterValidationFailure")
        elif key in style.enums:
            allowed = {v.lower(): v for v in style.enums[key]}
            if value.lower() not in allowed:
                raise Invalid("ParameterValidationFailure")
            value = allowed[value.lower()]
        out[key] = value
    return out


def filled(given: Resource, style: Style, now_ms: int) -> Resource:
    """Every documented setting: those given, the server's defaults for the rest (a PUT replaces them all)."""
    out = {k: copy.deepcopy(v) for k, v in style.defaults.items() if k in reference.INPUTS}
    out["expirationTime"] = json_date(now_ms + reference.EXPIRY_MS)
    out.update(given)
    return out


def created(given: Resource, style: Style, now_ms: int) -> Resource:
    """The settings a create's answer shows: those given, and the defaults of those the server fills in."""
    return {k: v for k, v in filled(given, style, now_ms).items() if k in given or k in style.fills}


@dataclass(frozen=True)
class NewIds:
    """The server-made identity of a new meeting."""

    segment: str
    meeting_id: str
    etag: str
    collection: str  # where it lives ({app})


def new_resource(style: Style, maker: ShapeMaker, values: Resource, ids: NewIds, taken: set[str]) -> Resource:
    """A new meeting shaped like the recorded server's: its properties in its order, server-side ones derived from
    the template (its id swapped for the new one, GUIDs and the conference id new)."""
    template, old_id = style.template, style.id_example
    same_id = re.compile(rf"(?<![A-Za-z0-9]){re.escape(old_id)}(?![A-Za-z0-9])")
    out: Resource = {}
    for key, value in template.items():
        if key in reference.INPUTS:
            if key in values:
                out[key] = values[key]
        elif key == "onlineMeetingId":
            out[key] = ids.meeting_id
        elif key == "conferenceId" and isinstance(value, str) and value:
            out[key] = maker.like(value, taken)
        elif key == "etag":
            out[key] = ids.etag
        elif key in ("_links", "_embedded"):
            out[key] = rebased(value, f"{style.template_collection}/{style.template_segment}",
                               f"{ids.collection}/{ids.segment}")
        elif isinstance(value, str) and key != style.marker:
            out[key] = maker.fresh_guids(same_id.sub(ids.meeting_id, value))
        else:
            out[key] = copy.deepcopy(value)
    for key in reference.INPUTS:  # given settings the template did not show still belong to the meeting
        if key in values and key not in out:
            out[key] = values[key]
    return out


def rebased(data: Any, old: str, new: str) -> Any:
    """A copy of links or embedded resources with hrefs under `old` moved under `new`."""
    if isinstance(data, dict):
        return {k: rebased(v, old, new) for k, v in data.items()}
    if isinstance(data, list):
        return [rebased(v, old, new) for v in data]
    if isinstance(data, str) and (data == old or data.startswith(old + "/")):
        return new + data[len(old):]
    return data


class Calendar:
    """The meetings that exist now, changed by recorded writes replayed and by the model's own answers."""

    def __init__(self, style: Style, maker: ShapeMaker, clock: Callable[[], float]) -> None:
        self.style = style
        self.maker = maker
        self.clock = clock
        self.meetings: dict[str, Meeting] = {}
        self.taken: set[str] = set()  # ids, segments, conference ids and ETags ever used: never drawn again

    def seed(self, initial: dict[str, tuple[str, Resource | None, str]]) -> None:
        """The meetings the recording starts with, as it first shows them."""
        for segment, (rel, resource, etag) in initial.items():
            if resource is None:  # only seen deleted: a meeting like the others, under its own segment
                resource = self.make({}, self.style.collection or self.style.template_collection, segment)[0]
            meeting = Meeting(segment, rel, with_app_placeholder(resource), etag or self.new_etag(""), -1)
            self.meetings[segment] = meeting
            self.note(meeting)

    def note(self, meeting: Meeting) -> None:
        """Remember a meeting's values so that new ones never repeat them."""
        self.taken.update({meeting.segment, meeting.etag, str(meeting.resource.get("onlineMeetingId", "")),
                           str(meeting.resource.get("conferenceId", ""))})

    def state(self, segment: str) -> State:
        meeting = self.meetings.get(segment)
        return None if meeting is None else meeting.state

    def count(self) -> int:
        """How many meetings count against the organizer's limit (the assigned meeting does not)."""
        return sum(1 for m in self.meetings.values() if m.rel == "myOnlineMeeting")

    def new_etag(self, old: str) -> str:
        etag = self.maker.like(self.style.etag_example, self.taken | {old})
        self.taken.add(etag)
        return etag

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def make(self, values: Resource, collection: str, segment: str = "") -> tuple[Resource, NewIds]:
        """A new meeting's resource (not yet held): new id, segment and ETag in the recorded forms."""
        meeting_id = self.maker.like(self.style.id_example, self.taken)
        self.taken.add(meeting_id)
        if not segment:
            segment = meeting_id if self.style.segment_is_id else self.maker.like(self.style.template_segment,
                                                                                   self.taken)
        self.taken.add(segment)
        ids = NewIds(segment, meeting_id, self.new_etag(""), collection)
        return new_resource(self.style, self.maker, created(values, self.style, self.now_ms()), ids, self.taken), ids

    def create(self, values: Resource, collection: str) -> Meeting:
        """A meeting the model makes for a create the recording does not answer."""
        resource, ids = self.make(values, collection)
        meeting = Meeting(ids.segment, "myOnlineMeeting", resource, ids.etag, None)
        self.meetings[ids.segment] = meeting
        self.note(meeting)
        return meeting

    def update(self, meeting: Meeting, values: Resource) -> None:
        """A PUT the recording does not answer: every setting replaced, a new ETag."""
        replaced = filled(values, self.style, self.now_ms())
        meeting.resource.update({k: v for k, v in replaced.items() if k in meeting.resource or k in values})
        meeting.set_etag(self.new_etag(meeting.etag))
        meeting.token = None

    def follow(self, ex: Exchange) -> None:
        """Apply what a recorded write did, now that its recorded answer is given back."""
        if not ex.ok or not ex.segment:
            return
        if ex.op == "delete":
            self.meetings.pop(ex.segment, None)
            return
        old = self.meetings.get(ex.segment)
        resource = with_app_placeholder(ex.resource) if ex.resource is not None else (old.resource if old else {})
        rel = old.rel if old else str(resource.get("rel") or "myOnlineMeeting")
        etag = ex.etag or str(resource.get("etag") or "") or (old.etag if old else self.new_etag(""))
        self.meetings[ex.segment] = meeting = Meeting(ex.segment, rel, resource, etag, ex.position)
        self.note(meeting)
