"""The recorded server's style, learned from its answers: how it writes a meeting, and how it answers.

Everything a new meeting's answer shows is taken from what the recording shows of the same server: property
names and order (unknown GUID-named ones too), hrefs, the id and ETag forms, create status, headers and
Content-Type, JSON and XML layout and dates, and which settings a create's answer shows that were not sent. What
the recording does not show falls back to the reference pages.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from ..cassette.model import Headers, header
from ..protocol import parse_xml
from . import reference
from .tape import MEETING_RELS, Exchange, Tape, segment_of
from .wire import (
    DATE_NAME,
    ISO_DATE,
    JSON_DATE,
    DateStyle,
    JsonStyle,
    Resource,
    XmlStyle,
    json_resource,
    local,
    parse_input,
    with_app_placeholder,
)

FORMATS = ("json", "xml")
_XML_DATE = re.compile(r'<property name="[^"]*(?:Time|Date)">([^<]+)</property>')
_COLON = re.compile(r'"[^"\\]+"(\s*):(\s*)')


@dataclass
class Style:
    """How the recorded server writes meetings and answers requests about them."""

    template: Resource = field(default_factory=lambda: dict(reference.MEETING))  # a meeting it made ({app} hrefs)
    template_segment: str = reference.SEGMENT
    template_collection: str = reference.COLLECTION
    collection: str | None = None  # where its meetings live ({app}); None: where the client asks
    segment_is_id: bool = False  # real servers: .../myOnlineMeetings/<onlineMeetingId>
    xml_order: list[str] = field(default_factory=list)
    list_keys: list[str] = field(default_factory=lambda: list(reference.LIST_KEYS))
    list_groups: list[str] = field(default_factory=lambda: list(reference.LIST_GROUPS))
    json: JsonStyle = reference.JSON
    xml: XmlStyle = reference.XML
    etag_example: str = reference.ETAG
    etag_quoted: bool = False
    etag_header: str = reference.ETAG_HEADER
    statuses: dict[str, tuple[int, str]] = field(default_factory=dict)  # op -> recorded (status, reason)
    headers: dict[tuple[str, str], Headers] = field(default_factory=dict)  # (op, format) -> recorded headers
    content_types: dict[str, tuple[str, bool]] = field(default_factory=dict)  # format -> (type, echoes Accept)
    defaults: Resource = field(default_factory=lambda: dict(reference.DEFAULTS))
    fills: set[str] = field(default_factory=lambda: set(reference.INPUTS))  # settings a create shows unsent
    enums: dict[str, set[str]] = field(default_factory=lambda: {k: set(v) for k, v in reference.ENUMS.items()})
    marker: str | None = None  # the GUID-named property a PUT must carry
    max_meetings: int = reference.MAX_MEETINGS
    max_meetings_from: str = "default"  # "option", "recording" (a recorded 409) or "default"
    from_recording: bool = False

    @property
    def id_example(self) -> str:
        value = self.template.get("onlineMeetingId")
        return value if isinstance(value, str) and value else "IB88RLLY"

    def status(self, op: str) -> tuple[int, str]:
        """The status and reason of a successful `op` (create, get, put, delete, list)."""
        if op in self.statuses:
            return self.statuses[op]
        if op == "create":  # real servers answer 200 with a quoted numeric ETag; the reference pages 201
            real = self.from_recording and self.etag_quoted
            return (200, "OK") if real else (201, "Created")
        return (204, "No Content") if op == "delete" else (200, "OK")

    def content_type(self, fmt: str, accept: str) -> str:
        """The Content-Type of a `fmt` answer to a request with this Accept."""
        ctype, echoes = self.content_types.get(fmt) or self._derived_type(fmt)
        media = accept.split(",")[0].split(";")[0].strip()
        if echoes and fmt in media.lower():  # the server names the media type the client asked for
            return media + ctype[len(ctype.split(";")[0]):]
        return ctype

    def _derived_type(self, fmt: str) -> tuple[str, bool]:
        other = "xml" if fmt == "json" else "json"
        if other in self.content_types:
            ctype, echoes = self.content_types[other]
            return ctype.replace(other, fmt), echoes
        return reference.CONTENT_TYPES[fmt], False

    def header_template(self, op: str, fmt: str) -> Headers:
        """The recorded headers of a successful `op` answer in `fmt`, or the closest recorded ones."""
        other = "xml" if fmt == "json" else "json"
        tried = [(op, fmt), (op, other)]
        if op != "delete":
            tried += [(o, f) for f in (fmt, other) for o in ("create", "get", "put")]
        for key in tried:
            if key in self.headers:
                return list(self.headers[key])
        if op == "delete":
            return []
        for key in [("list", fmt), ("list", other)]:  # the server's own headers, if only a list was recorded
            if key in self.headers:
                return [(k, v) for k, v in self.headers[key] if k.lower() != "etag"]
        return [(self.etag_header, ""), ("Content-Type", ""), ("Content-Length", "")]


def learn(tape: Tape, max_meetings: int | None = None) -> Style:
    """The style of the server that recorded `tape` (the reference pages' where it shows nothing)."""
    style = Style(from_recording=bool(tape.exchanges))
    _learn_template(style, tape)
    _learn_answers(style, tape)
    _learn_layout(style, tape)
    _learn_json_dates(style, tape)
    _learn_values(style, tape)
    _learn_fills(style, tape)
    if max_meetings is not None:
        style.max_meetings, style.max_meetings_from = max_meetings, "option"
    else:
        limits = [tape.count_before(ex) for ex in tape.exchanges
                  if ex.op == "create" and ex.response.status == 409 and b"TooManyOnlineMeetings" in ex.response.body]
        if limits:
            style.max_meetings, style.max_meetings_from = min(limits), "recording"
    return style


def recorded_meetings(tape: Tape) -> Iterator[tuple[Exchange, str, Resource]]:
    """Every meeting the recording shows, with the exchange showing it and its rel."""
    for ex in tape.exchanges:
        if ex.shown is not None:
            for rel, meeting in ex.shown.values():
                yield ex, rel, meeting
        elif ex.resource is not None:
            rel = str(ex.resource.get("rel", ""))
            yield ex, rel if rel in MEETING_RELS else "myOnlineMeeting", ex.resource


def _learn_template(style: Style, tape: Tape) -> None:
    """The meeting new ones are made like: a recorded create's answer, else a meeting read; JSON first."""
    ranked = []
    for ex, rel, meeting in recorded_meetings(tape):
        rank = {"create": 0, "get": 1, "put": 1}.get(ex.op, 2) + (3 if ex.format == "xml" else 0)
        rank += 6 if rel != "myOnlineMeeting" else 0
        ranked.append((rank, -ex.position, ex, meeting))
    if not ranked:
        return
    _, _, ex, meeting = min(ranked, key=lambda r: (r[0], r[1]))
    link = (meeting.get("_links") or {}).get("self")
    href = link.get("href", "") if isinstance(link, dict) else ""
    segment = segment_of(href)
    if not segment:
        return
    style.template = with_app_placeholder(meeting)
    style.template_segment = segment
    style.template_collection = with_app_placeholder({"href": href})["href"][: -len(segment) - 1]
    style.collection = style.template_collection
    style.segment_is_id = segment == meeting.get("onlineMeetingId")
    style.marker = next((k for k, v in meeting.items() if isinstance(v, str) and "please pass" in v.lower()), None)


def _learn_answers(style: Style, tape: Tape) -> None:
    """Statuses, headers, Content-Types and the ETag form of the recorded answers."""
    etags: list[tuple[int, str, str]] = []  # (rank, header name, raw value)
    for ex in tape.exchanges:
        if not ex.ok or ex.op == "other":
            continue
        style.statuses[ex.op] = (ex.response.status, ex.response.reason or style.status(ex.op)[1])
        style.headers[(ex.op, ex.format)] = list(ex.response.headers)
        ctype = ex.response.content_type
        if ctype and ex.response.body:
            accept = header(ex.request.headers, "accept").split(",")[0].split(";")[0].strip().lower()
            style.content_types[ex.format] = (ctype, bool(accept) and ctype.split(";")[0].strip().lower() == accept)
        for name, value in ex.response.headers:
            if name.lower() == "etag" and value.strip():
                etags.append((0 if ex.op == "create" else 1, name, value.strip()))
    if etags:
        _, name, value = min(etags, key=lambda e: e[0])
        style.etag_header, style.etag_quoted = name, value.startswith('"') or value[:3].upper() == 'W/"'
        style.etag_example = value.strip('"').removeprefix("W/").strip('"')
    elif style.from_recording:  # no ETag header recorded: the form of the ETags in bodies, if any
        body_etag = next((str(m["etag"]) for _, _, m in recorded_meetings(tape) if m.get("etag")), "")
        if body_etag:
            style.etag_example, style.etag_header, style.etag_quoted = body_etag, "ETag", True


def _learn_layout(style: Style, tape: Tape) -> None:
    """The JSON and XML layout, the XML property order and the list's shape."""
    bodies = {fmt: [ex for ex in tape.exchanges if ex.format == fmt and (ex.resource or ex.shown)]
              for fmt in FORMATS}
    singles = {fmt: [ex for ex in found if ex.resource] or found for fmt, found in bodies.items()}
    if singles["json"]:
        style.json = json_style(singles["json"][-1].response.body.decode("utf-8", "replace"))
    if singles["xml"]:
        texts = [ex.response.body.decode("utf-8", "replace") for ex in singles["xml"]]
        style.xml = xml_style(texts[-1], next((m.group(1) for t in texts for m in [_XML_DATE.search(t)] if m), ""))
        xml_meetings = [m for ex, _, m in recorded_meetings(tape) if ex.format == "xml"]
        style.xml_order = [k for k in xml_meetings[-1] if not k.startswith("_")] if xml_meetings else []
    shown = [found for ex in bodies["xml"] for found in [rel_property(ex.response.body)] if found is not None]
    if shown:
        style.xml = dataclasses.replace(style.xml, rel_property=shown[-1])
    lists = [ex for ex in tape.exchanges if ex.op == "list" and ex.ok and ex.format == "json" and ex.shown is not None]
    if lists:
        shape = json_resource(lists[-1].response.body) or {}
        style.list_keys = list(shape) or style.list_keys
        style.list_groups = [g for g in (shape.get("_embedded") or {}) if g in MEETING_RELS] or style.list_groups


def _learn_values(style: Style, tape: Tape) -> None:
    """The values the recorded server accepted for each documented setting."""
    for _, _, meeting in recorded_meetings(tape):
        for name, allowed in style.enums.items():
            if isinstance(meeting.get(name), str) and meeting[name]:
                allowed.add(meeting[name])


def _learn_fills(style: Style, tape: Tape) -> None:
    """What the recorded server adds to a create's answer beyond what the client sent: a setting a recorded create
    left out is filled in (with the value it showed) if an answer showed it, else it is not; a setting no recorded
    create left out keeps the reference pages' behaviour (filled with their default)."""
    shown: Resource = {}
    left_out: set[str] = set()
    for ex in tape.exchanges:
        if ex.op != "create" or not ex.ok or ex.resource is None:
            continue
        try:
            sent = parse_input(ex.request.body, ex.request.content_type)
        except ValueError:
            continue
        for key in reference.INPUTS:
            if sent.get(key) is None:  # absent or null: the server's default
                left_out.add(key)
                if key in ex.resource:
                    shown[key] = ex.resource[key]
    style.fills -= left_out - set(shown)
    style.defaults.update({k: v for k, v in shown.items() if k != "expirationTime"})  # that one: 8 hours ahead


def _learn_json_dates(style: Style, tape: Tape) -> None:
    """How the recorded server writes dates in JSON: ISO 8601 in the form it shows, else ASP.NET's `/Date(ms)/`
    (what the reference pages show). With ISO in JSON and no date in its XML, XML dates take the same form."""
    example = json_date_example(tape)
    if not example or JSON_DATE.match(example):
        return
    dates = DateStyle.of(example)
    style.json = dataclasses.replace(style.json, dates=dates)
    xml_texts = [ex.response.body.decode("utf-8", "replace") for ex in tape.exchanges
                 if ex.format == "xml" and (ex.resource or ex.shown)]
    if not any(_XML_DATE.search(text) for text in xml_texts):
        style.xml = dataclasses.replace(style.xml, dates=dates)


def json_date_example(tape: Tape) -> str:
    """The last date the recorded server wrote in a JSON meeting ('' if none): `/Date(ms)/` or ISO 8601."""
    for ex, _, meeting in reversed(list(recorded_meetings(tape))):
        if ex.format != "json":
            continue
        for key, value in meeting.items():
            if DATE_NAME.search(key) and isinstance(value, str) and (JSON_DATE.match(value) or ISO_DATE.match(value)):
                return value
    return ""


def rel_property(body: bytes) -> bool | None:
    """Whether the meetings of a recorded XML body repeat their rel as `<property name="rel">` (None: it shows no
    meeting)."""
    try:
        root = parse_xml(body)
    except (etree.LxmlError, ValueError):
        return None
    meetings = [el for el in root.iter() if local(el.tag) == "resource" and el.get("rel") in MEETING_RELS]
    if not meetings:
        return None
    return any(local(child.tag) == "property" and child.get("name") == "rel" for m in meetings for child in m)


def json_style(text: str) -> JsonStyle:
    """The JSON layout of a recorded body."""
    lines = text.strip().split("\n")
    indent = len(lines[1]) - len(lines[1].lstrip(" ")) if len(lines) > 1 else None
    colon = _COLON.search(text)
    return JsonStyle(indent=indent, colon=f"{colon.group(1)}:{colon.group(2)}" if colon else ":",
                     escape_slash="\\/" in text and not re.search(r"(?<!\\)/", text),
                     # a body without an apostrophe shows nothing: .NET's serializer (and the samples) escape it
                     escape_apostrophe="'" not in text, ascii_only=all(ord(c) < 128 for c in text))


def xml_style(text: str, date_example: str = "") -> XmlStyle:
    """The XML layout of a recorded body, and the form of its dates."""
    declaration, _, rest = text.partition("\n") if text.startswith("<?xml") else ("", "", text)
    declaration = declaration.rstrip("\r")
    newline = "\r\n" if "\r\n" in rest else "\n" if "\n" in rest.strip() else ""
    lines = [line.rstrip("\r") for line in rest.split("\n") if line.strip()]
    indents = sorted({line[: len(line) - len(line.lstrip(" \t"))] for line in lines[1:-1]} - {""}, key=len)
    unit = indents[0] if indents else ""
    nested = any(len(i) > len(unit) for i in indents)
    dates = DateStyle.of(date_example) if date_example else DateStyle()
    return XmlStyle(declaration=declaration, newline=newline, indent=unit, nested=nested,
                    empty_close=" />" if " />" in text or "/>" not in text else "/>", dates=dates)


def describe(style: Style) -> dict[str, Any]:
    """What was learned, for logs and `ucwa-vcr` diagnostics."""
    return {"collection": style.collection, "segment_is_id": style.segment_is_id, "id": style.id_example,
            "etag": style.etag_example, "etag_quoted": style.etag_quoted, "create": style.status("create"),
            "content_types": {f: style.content_type(f, "") for f in FORMATS}, "marker": style.marker,
            "max_meetings": (style.max_meetings, style.max_meetings_from)}
