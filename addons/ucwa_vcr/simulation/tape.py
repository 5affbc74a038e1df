"""The recording as the model reads it: each onlineMeetings exchange, what it did, and the recorded state before it.

The recording's own timeline gives every meeting a *token*: -1 while it is as the recording first showed it,
then the position of the last recorded write (create or PUT) that set it. Each exchange keeps the tokens of the
meetings that existed just before it (`before`). A recorded answer agrees with the live model when the meetings
it is about carry the same tokens in both: the state it was recorded in is the state the client is in now.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..cassette.model import Interaction, Request, Response, header
from ..match import canonical_body
from ..protocol import is_online_meetings, normalise_path, representation
from ..redact import Redactor
from .wire import Resource, json_resource, xml_resource

LIST, MEETING, OTHER = "list", "meeting", "other"
MEETING_RELS = ("myAssignedOnlineMeeting", "myOnlineMeeting")
WRITES = ("create", "put", "delete")
_COLLECTION = re.compile(r"^(?P<collection>.*/v1/applications/(?P<app>[^/]+)/onlineMeetings/myOnlineMeetings)"
                         r"(?:/(?P<segment>[^/]+))?(?P<rest>/.*)?$")
_SEGMENT = re.compile(r"/myOnlineMeetings/([^/?#]+)/?$")

Key = tuple[str, str, str, str, str]


@dataclass(frozen=True)
class Target:
    """What an onlineMeetings URL names: the collection, one meeting, or something the model does not keep."""

    kind: str
    app: str = ""
    collection: str = ""  # the collection's path as the client wrote it, application id as `{app}`
    segment: str = ""  # the meeting's last path segment (its key)


def target_of(url: str) -> Target:
    """The target of a request URL (only its path counts)."""
    path = urlsplit(url).path
    found = _COLLECTION.match(path) if is_online_meetings(path) else None
    if found is None:
        return Target(OTHER)
    collection = normalise_path(found.group("collection"))
    if found.group("rest"):
        return Target(OTHER, found.group("app"), collection, found.group("segment") or "")
    kind = MEETING if found.group("segment") else LIST
    return Target(kind, found.group("app"), collection, found.group("segment") or "")


def segment_of(href: str) -> str:
    """The meeting segment an href ends with ('' if it names no meeting)."""
    found = _SEGMENT.search(href)
    return found.group(1) if found else ""


def bare_etag(value: str) -> str:
    """An entity tag without its weak marker and quotes (servers and clients quote inconsistently)."""
    value = value.strip()
    value = value[2:] if value[:2].upper() == "W/" else value
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def request_key(request: Request, redactor: Redactor) -> Key:
    """What must be equal for a recorded request to stand for a live one: method, path (application id and
    doubled slashes aside), representation, and for writes the body's meaning and the If-Match."""
    method = request.method.upper()
    path = re.sub(r"/{2,}", "/", normalise_path(urlsplit(request.url).path))
    body = canonical_body(request.content_type, redactor.body(request)) if method in ("POST", "PUT") else ""
    if_match = bare_etag(header(request.headers, "if-match")) if method in ("PUT", "DELETE") else ""
    return method, path, representation(header(request.headers, "accept")) or "json", body, if_match


def body_format(response: Response) -> str:
    """`xml` or `json`: what a recorded answer's body is written in."""
    return "xml" if "xml" in response.content_type.lower() else "json"


def parse_body(response: Response) -> Resource | None:
    """A recorded answer's body as a resource, or None when it is not one (or its bytes are still encoded)."""
    if response.raw or not response.body:
        return None
    return xml_resource(response.body) if body_format(response) == "xml" else json_resource(response.body)


@dataclass
class Exchange:
    """One recorded onlineMeetings exchange, read."""

    position: int
    request: Request
    response: Response
    op: str  # list, create, get, put, delete or other
    key: Key
    target: Target
    segment: str = ""  # the meeting it is about (for a create: the one it made)
    resource: Resource | None = None  # a single meeting answered (2xx)
    shown: dict[str, tuple[str, Resource]] | None = None  # a list answer: segment -> (rel, meeting)
    before: dict[str, int] = field(default_factory=dict)  # the recording's meetings just before: segment -> token
    used: bool = False

    @property
    def ok(self) -> bool:
        return 200 <= self.response.status < 300

    @property
    def writes(self) -> bool:
        return self.op in WRITES

    @property
    def format(self) -> str:
        return body_format(self.response)

    @property
    def etag(self) -> str:
        return bare_etag(header(self.response.headers, "etag"))


def _op(target: Target, method: str) -> str:
    ops = {(LIST, "GET"): "list", (LIST, "POST"): "create", (MEETING, "GET"): "get", (MEETING, "PUT"): "put",
           (MEETING, "DELETE"): "delete"}
    return ops.get((target.kind, method.upper()), "other")


def read_exchange(position: int, interaction: Interaction, redactor: Redactor) -> Exchange:
    """An interaction as the model reads it."""
    request, response = interaction.request, interaction.response
    target = target_of(request.url)
    ex = Exchange(position, request, response, _op(target, request.method), request_key(request, redactor), target,
                  target.segment)
    if not ex.ok or ex.op in ("other", "delete"):
        return ex
    data = parse_body(response)
    if ex.op == "list":
        ex.shown = shown_meetings(data) if data is not None else None
    elif data is not None and ex.op in ("create", "get", "put"):
        ex.resource = data
        if ex.op == "create":
            self_link = (data.get("_links") or {}).get("self")
            href = self_link.get("href", "") if isinstance(self_link, dict) else ""
            ex.segment = segment_of(href or header(response.headers, "location"))
    return ex


def shown_meetings(data: Resource) -> dict[str, tuple[str, Resource]]:
    """The meetings a list answer embeds: segment -> (rel, meeting)."""
    out: dict[str, tuple[str, Resource]] = {}
    for rel, group in (data.get("_embedded") or {}).items():
        if rel not in MEETING_RELS:
            continue
        for meeting in group if isinstance(group, list) else [group]:
            link = (meeting.get("_links") or {}).get("self") if isinstance(meeting, dict) else None
            segment = segment_of(link.get("href", "")) if isinstance(link, dict) else ""
            if segment:
                out[segment] = (rel, meeting)
    return out


class Tape:
    """The recorded onlineMeetings exchanges, in order, indexed by request key."""

    def __init__(self, exchanges: Sequence[Exchange]) -> None:
        self.exchanges = list(exchanges)
        self._by_key: dict[Key, list[Exchange]] = {}
        for ex in self.exchanges:
            self._by_key.setdefault(ex.key, []).append(ex)
        self.rels: dict[str, str] = {}  # segment -> myOnlineMeeting or myAssignedOnlineMeeting
        self._timeline()

    @classmethod
    def read(cls, interactions: Sequence[Interaction], redactor: Redactor) -> Tape:
        """The tape of a cassette's onlineMeetings exchanges."""
        return cls([read_exchange(i, it, redactor) for i, it in enumerate(interactions)
                    if is_online_meetings(urlsplit(it.request.url).path)])

    def _appearances(self, ex: Exchange) -> list[str]:
        """The meetings an exchange shows to exist, noting their rel."""
        if ex.shown is not None:
            for segment, (rel, _) in ex.shown.items():
                self.rels.setdefault(segment, rel)
            return list(ex.shown)
        if ex.ok and ex.segment and ex.op in WRITES + ("get",):
            rel = str((ex.resource or {}).get("rel", ""))
            self.rels.setdefault(ex.segment, rel if rel in MEETING_RELS else "myOnlineMeeting")
            return [ex.segment]
        return []

    def _timeline(self) -> None:
        """Give each exchange the recording's state before it. The meetings at the start are those it shows,
        but for those a recorded create made (first seen in a create's answer)."""
        first: dict[str, Exchange] = {}
        for ex in self.exchanges:
            for segment in self._appearances(ex):
                first.setdefault(segment, ex)
        state = {s: -1 for s, ex in first.items() if not (ex.op == "create" and ex.segment == s)}
        for ex in self.exchanges:
            ex.before = dict(state)
            if ex.ok and ex.segment and ex.op in ("create", "put"):
                state[ex.segment] = ex.position
            elif ex.ok and ex.segment and ex.op == "delete":
                state.pop(ex.segment, None)

    def pick(self, key: Key, agrees: Callable[[Exchange], bool]) -> Exchange | None:
        """The recorded answer for a request: the first unused one that agrees with the model; for reads, else
        the last agreeing one (a read may be repeated, a write happens once). Marks it used."""
        candidates = [ex for ex in self._by_key.get(key, []) if agrees(ex)]
        fresh = [ex for ex in candidates if not ex.used]
        chosen = fresh[0] if fresh else next((ex for ex in reversed(candidates) if not ex.writes), None)
        if chosen is not None:
            chosen.used = True
        return chosen

    def initial(self) -> dict[str, tuple[str, Resource | None, str]]:
        """The meetings at the recording's start: segment -> (rel, its first recorded form, ETag or '').

        A single JSON answer is preferred to a list entry, JSON to XML: single answers carry the ETag and the
        server's full representation."""
        best: dict[str, tuple[int, Resource]] = {}
        etags: dict[str, str] = {}
        for ex in self.exchanges:
            found: list[tuple[str, Resource, int]] = []
            if ex.shown is not None:
                found = [(s, m, 1) for s, (_, m) in ex.shown.items()]
            elif ex.resource is not None and ex.op == "get":
                found = [(ex.segment, ex.resource, 0)]
                if ex.before.get(ex.segment) == -1 and ex.etag:
                    etags.setdefault(ex.segment, ex.etag)
            for segment, meeting, rank in found:
                rank += 2 if ex.format == "xml" else 0
                if ex.before.get(segment) == -1 and rank < best.get(segment, (99, {}))[0]:
                    best[segment] = (rank, meeting)
        out: dict[str, tuple[str, Resource | None, str]] = {}
        for segment in self.exchanges[0].before if self.exchanges else {}:
            resource = best[segment][1] if segment in best else None
            etag = etags.get(segment) or str((resource or {}).get("etag", ""))
            out[segment] = (self.rels.get(segment, "myOnlineMeeting"), resource, etag)
        return out

    def count_before(self, ex: Exchange) -> int:
        """How many myOnlineMeetings the recording had before an exchange (the assigned meeting aside)."""
        return sum(1 for s in ex.before if self.rels.get(s, "myOnlineMeeting") == "myOnlineMeeting")
