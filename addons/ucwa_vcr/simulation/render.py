"""The model's answers, written as the recorded server writes them: body layout, headers, status and reason."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from ..cassette.model import Headers, Request, Response, header
from ..protocol import APPLICATION_ID, error, representation
from . import reference
from .style import Style
from .wire import Resource

# Headers of a recorded answer that belong to that answer alone, or to the connection: never copied.
_NOT_COPIED = frozenset({"set-cookie", "transfer-encoding", "connection", "keep-alive", "content-md5"})


@dataclass(frozen=True)
class Live:
    """What an answer depends on in the request it answers."""

    accept: str
    app: str  # the application id the client used
    collection: str  # the collection path it used ({app} for the id)

    @property
    def format(self) -> str:
        return representation(self.accept) or "json"

    @classmethod
    def of(cls, request: Request, app: str, collection: str) -> Live:
        return cls(header(request.headers, "accept"), app, collection)


def ordered(data: Resource, order: Sequence[str]) -> Resource:
    """`data` with its keys in `order`. A setting the order does not know goes among the settings it knows, by the
    documented (alphabetical) order of settings; another key goes before the links, as a server adds properties
    before its links and embedded resources."""
    keys = [k for k in order if k in data]
    for key in (k for k in data if k not in order):
        settings = [i for i, k in enumerate(keys) if k in reference.INPUTS]
        after = [i for i in settings if key in reference.INPUTS and reference.INPUTS.index(keys[i]) >
                 reference.INPUTS.index(key)]
        if after:
            keys.insert(after[0], key)
        elif settings and key in reference.INPUTS:
            keys.insert(settings[-1] + 1, key)
        else:
            keys.insert(next((i for i, k in enumerate(keys) if k.startswith("_")), len(keys)), key)
    return {k: data[k] for k in keys}


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class Renderer:
    """Writes bodies and responses in a learned style."""

    def __init__(self, style: Style, clock: Callable[[], float]) -> None:
        self.style = style
        self.clock = clock

    def body(self, resource: Resource, fmt: str, app: str) -> bytes:
        """A meeting's body in `fmt`, its properties in the server's order."""
        if fmt == "xml":
            order = self.style.xml_order or [k for k in self.style.template if not k.startswith("_")]
            return self.style.xml.dumps(ordered(resource, order), app)
        return self.style.json.dumps(ordered(resource, list(self.style.template)), app)

    def list_body(self, groups: dict[str, list[Resource]], live: Live) -> bytes:
        """The myOnlineMeetings collection embedding `groups` (rel -> meetings), in `live`'s format."""
        # the groups the server shows even empty, then any other that has meetings
        shown = self.style.list_groups + [g for g in groups if g not in self.style.list_groups]
        embedded = {g: [self._entry(m, live.format) for m in groups.get(g, [])] for g in shown}
        data: dict[str, Any] = {}
        for key in self.style.list_keys:
            if key == "rel":
                data["rel"] = "myOnlineMeetings"
            elif key == "_links":
                data["_links"] = {"self": {"href": self._collection(live)}}
            elif key == "_embedded":
                data["_embedded"] = embedded
        if live.format == "xml":
            return self.style.xml.dumps(data, live.app)
        return self.style.json.dumps(data, live.app)

    def _entry(self, meeting: Resource, fmt: str) -> Resource:
        order = (self.style.xml_order or list(self.style.template)) if fmt == "xml" else list(self.style.template)
        return ordered(meeting, order)

    def _collection(self, live: Live) -> str:
        return self.style.collection or live.collection

    def response(self, op: str, live: Live, body: bytes, etag: str | None = None, status: int | None = None,
                 location: str = "") -> Response:
        """A successful answer to `op` with the recorded status, reason and headers, this body and ETag."""
        code, text = self.style.status(op)
        if status is not None:
            code, text = status, reason(status)
        headers = self._headers(self.style.header_template(op, live.format), live, body, etag, location)
        return Response(status=code, reason=text, headers=headers, body=body)

    def error(self, name: str, live: Live) -> Response:
        """The documented UCWA error `name`, as Accept asks, with the recorded server's own headers."""
        status, body, ctype = error(name, live.accept)
        template = [(k, v) for k, v in self.style.header_template("get", live.format)
                    if k.lower() not in ("etag", "location", "content-location", "content-encoding")]
        headers = self._headers(template, live, body, None, "")
        headers = [(k, ctype if k.lower() == "content-type" else v) for k, v in headers]
        return Response(status=status, reason=reason(status), headers=headers, body=body)

    def etag_value(self, etag: str) -> str:
        return f'"{etag}"' if self.style.etag_quoted else etag

    def _headers(self, template: Headers, live: Live, body: bytes, etag: str | None, location: str) -> Headers:
        """The recorded headers with this answer's ETag, Content-Type, Content-Length, Date and Location."""
        out: Headers = []
        seen: set[str] = set()
        for name, value in template:
            lname = name.lower()
            if lname in _NOT_COPIED or lname in seen and lname in ("etag", "content-type", "content-length"):
                continue
            if lname == "etag":
                if etag is None:
                    continue
                value = self.etag_value(etag)
            elif lname == "content-type":
                if not body:
                    continue
                value = self.style.content_type(live.format, live.accept)
            elif lname == "content-length":
                value = str(len(body))
            elif lname == "date":
                value = formatdate(self.clock(), usegmt=True)
            elif lname in ("location", "content-location"):
                if not location:
                    continue
                value = _relocated(value, location, live.app)
            elif lname == "content-encoding" and not body:
                continue
            seen.add(lname)
            out.append((name, value))
        if etag is not None and "etag" not in seen:
            out.insert(0, (self.style.etag_header, self.etag_value(etag)))
        if body and "content-type" not in seen:
            out.append(("Content-Type", self.style.content_type(live.format, live.accept)))
        if "content-length" not in seen:
            out.append(("Content-Length", str(len(body))))
        return out


def _relocated(recorded: str, href: str, app: str) -> str:
    """A recorded Location pointed at the new meeting: same scheme and host, the new path."""
    found = re.match(r"^(https?://[^/]+)", recorded)
    return (found.group(1) if found else "") + APPLICATION_ID.sub(rf"\g<1>{app}", href)
