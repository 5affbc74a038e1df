"""The cassette model: recorded HTTP exchanges and their plain-data form.

No I/O and no mitmproxy here. `Interaction.to_data()` / `Interaction.from_data()` define the YAML
schema (see README, "Cassette format"); `codec.py` turns it into YAML text and back.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from ..errors import CassetteError

VERSION = 1

# Media types whose bodies are stored as readable text (when they are valid UTF-8).
TEXT_MEDIA_MARKERS = ("json", "xml", "text/", "x-www-form-urlencoded", "javascript", "html", "multipart/batching")


Headers = list[tuple[str, str]]


def header(headers: Headers, name: str, default: str = "") -> str:
    """The first value of header `name` (case-insensitive), or `default`."""
    lname = name.lower()
    for key, value in headers:
        if key.lower() == lname:
            return value
    return default


def is_text(content_type: str, body: bytes) -> bool:
    """Whether a body of this media type is kept as readable text in a cassette."""
    ctype = content_type.lower()
    if not any(marker in ctype for marker in TEXT_MEDIA_MARKERS):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@dataclass
class Message:
    """The parts shared by a recorded request and response."""

    headers: Headers = field(default_factory=list)
    body: bytes = b""
    # True when `body` holds the bytes as sent on the wire because they could not be decoded
    # with their Content-Encoding; otherwise `body` is the decoded content.
    raw: bool = False

    @property
    def content_type(self) -> str:
        return header(self.headers, "content-type")

    def body_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"headers": [f"{k}: {v}" for k, v in self.headers]}
        if self.body:
            if not self.raw and is_text(self.content_type, self.body):
                data["body"] = self.body.decode("utf-8")
            else:
                data["body_base64"] = base64.b64encode(self.body).decode("ascii")
        if self.raw:
            data["raw"] = True
        return data

    @staticmethod
    def parse_body(data: dict[str, Any], where: tuple[str | int, ...]) -> tuple[Headers, bytes, bool]:
        headers: Headers = []
        raw_headers = data.get("headers", [])
        if not isinstance(raw_headers, list):
            raise CassetteError("headers must be a list of 'Name: value' strings", (*where, "headers"))
        for i, line in enumerate(raw_headers):
            if not isinstance(line, str) or ":" not in line:
                raise CassetteError(f"header {line!r} is not a 'Name: value' string", (*where, "headers", i))
            name, _, value = line.partition(":")
            headers.append((name, value[1:] if value.startswith(" ") else value))
        if "body" in data and "body_base64" in data:
            raise CassetteError("has both body and body_base64", where)
        body: bytes = b""
        if "body" in data:
            if not isinstance(data["body"], str):
                raise CassetteError("body must be a string", (*where, "body"))
            body = data["body"].encode("utf-8")
        elif "body_base64" in data:
            try:
                body = base64.b64decode(str(data["body_base64"]), validate=True)
            except (binascii.Error, ValueError) as e:
                raise CassetteError(f"body_base64 is not base64: {e}", (*where, "body_base64")) from None
        return headers, body, bool(data.get("raw", False))


@dataclass
class Request(Message):
    method: str = "GET"
    url: str = ""

    def to_data(self) -> dict[str, Any]:
        return {"method": self.method, "url": self.url, **self.body_data()}

    @classmethod
    def from_data(cls, data: Any, where: tuple[str | int, ...]) -> Request:
        if not isinstance(data, dict):
            raise CassetteError("request must be a mapping", where)
        for key in ("method", "url"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise CassetteError(f"request has no {key}", (*where, key) if key in data else where)
        headers, body, raw = cls.parse_body(data, where)
        return cls(method=data["method"], url=data["url"], headers=headers, body=body, raw=raw)


@dataclass
class Response(Message):
    status: int = 200
    reason: str = ""

    def to_data(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, **self.body_data()}

    @classmethod
    def from_data(cls, data: Any, where: tuple[str | int, ...]) -> Response:
        if not isinstance(data, dict):
            raise CassetteError("response must be a mapping", where)
        status = data.get("status")
        if not isinstance(status, int) or not 100 <= status <= 999:
            raise CassetteError(f"response status must be an HTTP status code, not {status!r}",
                                (*where, "status") if "status" in data else where)
        headers, body, raw = cls.parse_body(data, where)
        return cls(status=status, reason=str(data.get("reason", "")), headers=headers, body=body, raw=raw)


@dataclass
class Interaction:
    """One recorded exchange: the request, the response, when it started and how long it took."""

    request: Request
    response: Response
    started: str = ""  # ISO 8601, UTC
    duration: float = 0.0  # seconds from the request's first byte to the response's last

    def to_data(self) -> dict[str, Any]:
        return {
            "request": self.request.to_data(),
            "response": self.response.to_data(),
            "started": self.started,
            "duration": round(self.duration, 6),
        }

    @classmethod
    def from_data(cls, data: Any, where: tuple[str | int, ...]) -> Interaction:
        if not isinstance(data, dict):
            raise CassetteError("interaction must be a mapping", where)
        for key in ("request", "response"):
            if key not in data:
                raise CassetteError(f"interaction has no {key}", where)
        duration = data.get("duration", 0.0)
        if not isinstance(duration, int | float) or duration < 0:
            raise CassetteError(f"duration must be a number of seconds, not {duration!r}", (*where, "duration"))
        return cls(
            request=Request.from_data(data["request"], (*where, "request")),
            response=Response.from_data(data["response"], (*where, "response")),
            started=str(data.get("started", "")),
            duration=float(duration),
        )


@dataclass
class Cassette:
    """An ordered list of interactions."""

    interactions: list[Interaction] = field(default_factory=list)

    @classmethod
    def from_data(cls, data: Any) -> Cassette:
        """Build a cassette from parsed YAML, or raise CassetteError saying where it is wrong."""
        if not isinstance(data, dict):
            raise CassetteError("a cassette is a mapping with 'version' and 'interactions'")
        if "version" not in data:
            raise CassetteError("no 'version' key (this file is not a ucwa-vcr cassette)")
        if data["version"] != VERSION:
            raise CassetteError(f"unknown cassette version {data['version']!r} (this ucwa-vcr reads {VERSION})",
                                ("version",))
        items = data.get("interactions") or []
        if not isinstance(items, list):
            raise CassetteError("'interactions' must be a list", ("interactions",))
        return cls([Interaction.from_data(item, ("interactions", i)) for i, item in enumerate(items)])
