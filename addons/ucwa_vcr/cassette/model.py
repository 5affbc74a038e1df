"""The cassette model: recorded HTTP exchanges and their plain-data form.

No I/O and no mitmproxy here. `Interaction.to_data()` / `Interaction.from_data()` define the YAML
schema (see README, "Cassette format"); `codec.py` turns it into YAML text and back.

Header lines, methods, URLs and reasons are `str` as mitmproxy gives them: bytes that are not UTF-8 are kept as
lone surrogates (UTF-8 with surrogateescape), which YAML cannot hold. Such a value is stored as the base64 of its
bytes (encoded back with surrogateescape), so it is kept exactly and the file stays plain YAML; everything else
is stored as plain text, as before:

    request:
      method: GET
      url_base64: aHR0cHM6Ly9mZTEvY2Fm6Q==          # instead of `url:` (likewise method, reason, started)
      headers:
      - 'Accept: application/json'
      - base64: WC1OYW1lOiBjYWbp                    # instead of one 'Name: value' line

A loaded URL must parse: scheme http or https, a host, a port from 1 to 65535.

Loaded cassettes are kept small (issue 17): the classes have slots, and one load shares a single object among equal
texts and header lines (`Shared`), which a big cassette repeats thousands of times.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import reprlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..errors import CassetteError

VERSION = 1

# Media types whose bodies are stored as readable text (when they are valid UTF-8).
TEXT_MEDIA_MARKERS = ("json", "xml", "text/", "x-www-form-urlencoded", "javascript", "html", "multipart/batching")


Headers = list[tuple[str, str]]
Where = tuple[str | int, ...]

# Values quoted in errors are cut short: a malformed file may hold megabytes, or lists nested 1000 deep.
_brief = reprlib.Repr()
_brief.maxstring, _brief.maxother, _brief.maxlevel = 60, 60, 2


def wire_bytes(text: str) -> bytes:
    """The bytes a header, URL or reason stood for (mitmproxy decodes them as UTF-8 with surrogateescape)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate no decoding gives: kept, if not as the same code points
        return text.encode("utf-8", "surrogatepass")


def _as_base64(text: str) -> str | None:
    """None when `text` is valid text (YAML holds it as is), else the base64 of the bytes it stands for."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return base64.b64encode(wire_bytes(text)).decode("ascii")
    return None


def text_data(data: dict[str, Any], key: str, value: str) -> None:
    """Store `value` under `key`, or its bytes under `key_base64` when it is not valid text (lone surrogates)."""
    encoded = _as_base64(value)
    if encoded is None:
        data[key] = value
    else:
        data[f"{key}_base64"] = encoded


def from_base64(value: Any, what: str, where: Where) -> str:
    """The text whose bytes `value` holds as base64 (bytes that are not UTF-8 become lone surrogates)."""
    if not isinstance(value, str):
        raise CassetteError(f"{what} must be a base64 string, not {_brief.repr(value)}", where)
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", "surrogateescape")
    except (binascii.Error, ValueError) as e:
        raise CassetteError(f"{what} is not base64: {e}", where) from None


class Shared:
    """One object for each distinct text and header line read into a cassette (a load's memo, dropped with it).

    A cassette repeats its methods, reasons, header lines and often its URLs; with the slots, sharing them takes
    the model of the benchmark's 10,000 interactions from 2.4 to 1.3 times the file's size. Texts and (name, value)
    tuples are immutable, so sharing is safe; header lists are not shared.
    """

    __slots__ = ("headers", "texts")

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}
        self.headers: dict[str, tuple[str, str]] = {}

    def text(self, value: str) -> str:
        """The shared object equal to `value`."""
        return self.texts.setdefault(value, value)

    def header(self, line: str) -> tuple[str, str]:
        """(name, value) of a 'Name: value' line, the space after the colon dropped (shared)."""
        found = self.headers.get(line)
        if found is None:
            name, _, value = line.partition(":")
            found = self.headers[line] = (self.text(name), self.text(value[1:] if value.startswith(" ") else value))
        return found


def text_field(data: dict[str, Any], key: str, owner: str, where: Where, shared: Shared,
               required: bool = True) -> str:
    """The text under `key`, or decoded from `key_base64`: a required field is a non-empty string, an optional one
    any scalar (as its text; missing or null is "")."""
    raw, alt = data.get(key), key + "_base64"
    if isinstance(raw, str) and raw and alt not in data and _sendable(raw):  # the common case first: loads run
        return shared.text(raw)  # this 100,000s of times
    if raw is not None and alt in data:
        raise CassetteError(f"{owner} has both {key} and {alt}", where)
    if alt in data:
        value = from_base64(data[alt], alt, (*where, alt))
    elif raw is None or isinstance(raw, str):
        value = raw or ""
    elif required or isinstance(raw, dict | list):
        raise CassetteError(f"{owner} {key} must be text, not {_brief.repr(raw)}", (*where, key))
    else:
        value = str(raw)
    if required and not value:
        raise CassetteError(f"{owner} has no {key}", (*where, key) if key in data or alt in data else where)
    if not _sendable(value):
        raise CassetteError(f"{owner} {key} holds a lone surrogate; write its bytes as {alt}", (*where, key))
    return shared.text(value)


def _sendable(text: str) -> bool:
    """Whether `text` encodes back to bytes (UTF-8 with surrogateescape). libyaml refuses a "\\ud800" escape, the
    pure-Python YAML reader and JSON do not, and the proxy could then not send what it loaded."""
    try:
        text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return True


# Most recorded URLs: checked by this alone, urlsplit (five times slower) only for the rest.
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9._~-]+(?::([0-9]{1,5}))?(?=[/?#]|\Z)", re.IGNORECASE)


def check_url(url: str, where: Where) -> None:
    """CassetteError unless `url` parses: scheme http or https, a host, and a valid port if any."""
    plain = _PLAIN_URL.match(url)
    if plain and 0 < int(plain.group(1) or 80) < 65536:
        return
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:  # "Port out of range 0-65535", "Invalid IPv6 URL", ...
        raise CassetteError(f"url {_brief.repr(url)} does not parse: {e}", where) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise CassetteError(f"url {_brief.repr(url)} is not http or https", where)
    if not parts.hostname:
        raise CassetteError(f"url {_brief.repr(url)} has no host", where)
    if port == 0:
        raise CassetteError(f"url {_brief.repr(url)} has port 0", where)


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


@dataclass(slots=True)
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
        data: dict[str, Any] = {"headers": [_header_data(k, v) for k, v in self.headers]}
        if self.body:
            if not self.raw and is_text(self.content_type, self.body):
                data["body"] = self.body.decode("utf-8")
            else:
                data["body_base64"] = base64.b64encode(self.body).decode("ascii")
        if self.raw:
            data["raw"] = True
        return data

    @staticmethod
    def parse_body(data: dict[str, Any], where: Where, shared: Shared) -> tuple[Headers, bytes, bool]:
        raw_headers = data.get("headers", [])
        if not isinstance(raw_headers, list):
            raise CassetteError("headers must be a list of 'Name: value' strings", (*where, "headers"))
        headers: Headers = []
        for i, item in enumerate(raw_headers):
            if isinstance(item, str) and ":" in item:  # the common case inline: a big cassette has 100,000s
                headers.append(shared.header(item))
            else:
                headers.append(_parse_header(item, (*where, "headers", i), shared))
        try:
            lines = "".join(raw_headers)  # one check of all the lines: a big cassette has 100,000s
        except TypeError:  # some are {base64: ...}, always sendable
            lines = "".join(item for item in raw_headers if isinstance(item, str))
        if not _sendable(lines):
            i = next(i for i, item in enumerate(raw_headers) if isinstance(item, str) and not _sendable(item))
            raise CassetteError("header holds a lone surrogate; write its bytes as {base64: ...}",
                                (*where, "headers", i))
        if "body" in data and "body_base64" in data:
            raise CassetteError("has both body and body_base64", where)
        body: bytes = b""
        if "body" in data:
            if not isinstance(data["body"], str):
                raise CassetteError("body must be a string", (*where, "body"))
            try:
                body = data["body"].encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: the YAML loader refuses them, hand-made data may not
                raise CassetteError("body holds a lone surrogate; write it as body_base64", (*where, "body")) from None
        elif "body_base64" in data:
            try:
                body = base64.b64decode(str(data["body_base64"]), validate=True)
            except (binascii.Error, ValueError) as e:
                raise CassetteError(f"body_base64 is not base64: {e}", (*where, "body_base64")) from None
        return headers, body, bool(data.get("raw", False))


def _header_data(name: str, value: str) -> str | dict[str, str]:
    """A header as its 'Name: value' line, or {base64: the line's bytes} when it is not valid text."""
    line = f"{name}: {value}"
    encoded = _as_base64(line)
    return line if encoded is None else {"base64": encoded}


def _parse_header(item: Any, where: Where, shared: Shared) -> tuple[str, str]:
    """(name, value) of a stored header: a 'Name: value' string or {base64: ...}."""
    if isinstance(item, dict) and set(item) == {"base64"}:
        line = from_base64(item["base64"], "header base64", (*where, "base64"))
    elif isinstance(item, str):
        line = item
    else:
        raise CassetteError(f"header {_brief.repr(item)} is not a 'Name: value' string or {{base64: ...}}", where)
    if ":" not in line:
        raise CassetteError(f"header {_brief.repr(line)} is not a 'Name: value' string", where)
    return shared.header(line)


@dataclass(slots=True)
class Request(Message):
    method: str = "GET"
    url: str = ""

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        text_data(data, "method", self.method)
        text_data(data, "url", self.url)
        return {**data, **self.body_data()}

    @classmethod
    def from_data(cls, data: Any, where: Where, shared: Shared) -> Request:
        if not isinstance(data, dict):
            raise CassetteError("request must be a mapping", where)
        method = text_field(data, "method", "request", where, shared)
        url = text_field(data, "url", "request", where, shared)
        check_url(url, (*where, "url_base64" if "url_base64" in data else "url"))
        headers, body, raw = cls.parse_body(data, where, shared)
        return cls(method=method, url=url, headers=headers, body=body, raw=raw)


@dataclass(slots=True)
class Response(Message):
    status: int = 200
    reason: str = ""

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status}
        text_data(data, "reason", self.reason)
        return {**data, **self.body_data()}

    @classmethod
    def from_data(cls, data: Any, where: Where, shared: Shared) -> Response:
        if not isinstance(data, dict):
            raise CassetteError("response must be a mapping", where)
        status = data.get("status")
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 999:
            raise CassetteError(f"response status must be an HTTP status code, not {_brief.repr(status)}",
                                (*where, "status") if "status" in data else where)
        reason = text_field(data, "reason", "response", where, shared, required=False)
        headers, body, raw = cls.parse_body(data, where, shared)
        return cls(status=status, reason=reason, headers=headers, body=body, raw=raw)


@dataclass(slots=True)
class Interaction:
    """One recorded exchange: the request, the response, when it started and how long it took."""

    request: Request
    response: Response
    started: str = ""  # ISO 8601, UTC
    duration: float = 0.0  # seconds from the request's first byte to the response's last

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"request": self.request.to_data(), "response": self.response.to_data()}
        text_data(data, "started", self.started)
        data["duration"] = round(self.duration, 6)
        return data

    @classmethod
    def from_data(cls, data: Any, where: Where, shared: Shared) -> Interaction:
        """One interaction from its parsed YAML, or CassetteError saying where it is wrong."""
        if not isinstance(data, dict):
            raise CassetteError("interaction must be a mapping", where)
        for key in ("request", "response"):
            if key not in data:
                raise CassetteError(f"interaction has no {key}", where)
        return cls(
            request=Request.from_data(data["request"], (*where, "request"), shared),
            response=Response.from_data(data["response"], (*where, "response"), shared),
            started=text_field(data, "started", "interaction", where, shared, required=False),
            duration=_duration(data.get("duration", 0.0), (*where, "duration")),
        )


def _duration(value: Any, where: Where) -> float:
    """A recorded duration: a finite number of seconds, not negative."""
    try:
        seconds = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    except OverflowError:  # an integer of hundreds of digits
        seconds = math.inf
    if not math.isfinite(seconds) or seconds < 0:
        raise CassetteError(f"duration must be a number of seconds, not {_brief.repr(value)}", where)
    return seconds


@dataclass(slots=True)
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
            version = _brief.repr(data["version"])
            raise CassetteError(f"unknown cassette version {version} (this ucwa-vcr reads {VERSION})", ("version",))
        items = data.get("interactions") or []
        if not isinstance(items, list):
            raise CassetteError("'interactions' must be a list", ("interactions",))
        shared = Shared()
        return cls([Interaction.from_data(item, ("interactions", i), shared) for i, item in enumerate(items)])
