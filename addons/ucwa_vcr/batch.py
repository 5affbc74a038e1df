"""UCWA batches (BatchingRequests.md): reading and writing multipart/batching messages, and answering one part by part.

A batch is `POST {app}/batch` with `Content-Type: multipart/batching;boundary=...`; each part is an
`application/http; msgtype=request` HTTP request (request line, headers, body) and the answer is a
`multipart/batching` message whose `application/http; msgtype=response` parts answer the requests in order.

Replay answers a live batch from the cassette (`BatchIndex.answer`):
- when the whole batch was recorded (the same request with the same parts in the same order), with the recorded
  answer byte for byte;
- else part by part, in any order: from the parts of recorded batches first, else from the recorded single
  requests (through the replay matcher, so their answers are used up once whichever way they are asked); a part
  nothing answers gets a UCWA-shaped 500 that explains the miss, and the other parts are answered all the same.
  The answer is written as the recorded server writes its batches (its Content-Type and boundary, its part headers
  and line ends), else as the reference page shows; a part recorded in a batch is given back byte for byte.

Fault rules on a batch's parts (proxy/faults.py) use `drop_parts`, to take the parts they answer out of a batch
before it goes on, and `replace_parts`, to put those answers (or broken ones) in the batch's answer in its place.

A part is matched as the request it is: its URL is the batch's scheme and host with the part's target, and a part
without its own Authorization has the batch's (a server runs it with the batch's credentials).

Pure: no mitmproxy here.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from http import HTTPStatus

from . import protocol
from .cassette.model import Headers, Interaction, Request, Response, header, wire_bytes
from .match import Matcher, Miss, Near, features
from .options import Exhausted

MISS_REASON = "ucwa-vcr: no recorded answer"
MEDIA_TYPE = "multipart/batching"
DOCUMENTED_PART_HEAD = b"Content-Type: application/http; msgtype=response"

_BOUNDARY = re.compile(r"""(?:^|;)\s*boundary\s*=\s*(?:"([^"]+)"|([^\s;,"]+))""", re.IGNORECASE)
_REQUEST_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]+(\S+)(?:[ \t]+HTTP/\d(?:\.\d)?)?[ \t]*")
_STATUS_LINE = re.compile(rb"(HTTP/\d(?:\.\d)?)[ \t]+(\d{3})(?:[ \t]+([^\r\n]*))?")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_LINE_END = re.compile(rb"\r?\n")
_ORIGIN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")
_HOP_BY_HOP = ("transfer-encoding", "connection", "keep-alive", "proxy-connection", "upgrade")


class How(StrEnum):
    """How one part was answered (the values of the proxy's own Answer marks)."""

    REPLAYED = "replayed"
    SIMULATED = "simulated"
    MISS = "miss"


# -- reading -----------------------------------------------------------------------------------------------------

def is_batch(content_type: str) -> bool:
    """Whether a Content-Type is a UCWA batch's."""
    return MEDIA_TYPE in content_type.lower()


def boundary_of(content_type: str) -> str | None:
    """The boundary parameter of a multipart Content-Type, quoted or not; None when there is none."""
    found = _BOUNDARY.search(content_type)
    return (found.group(1) or found.group(2)) if found else None


@dataclass(frozen=True)
class Part:
    """One part of a multipart/batching body: its own MIME header lines and the HTTP message it carries, as sent."""

    head: bytes
    message: bytes


def _delimiters(body: bytes, boundary: str) -> list[re.Match[bytes]]:
    """The delimiter lines of a multipart body, in order, up to the closing one (RFC 2046: the line end before a
    delimiter belongs to it)."""
    delimiter = re.compile(rb"(?:\A|\r?\n)--" + re.escape(wire_bytes(boundary)) + rb"(--)?[ \t]*(?:\r?\n|\Z)")
    found = []
    for mark in delimiter.finditer(body):
        found.append(mark)
        if mark.group(1):
            break
    return found


def part_spans(body: bytes, boundary: str) -> list[tuple[int, int]]:
    """Where each part's content (MIME headers and message) starts and ends in a multipart body; the line ends of
    the delimiters excluded. Lenient as split_parts is."""
    marks = _delimiters(body, boundary)
    spans = [(mark.end(), following.start()) for mark, following in zip(marks, marks[1:], strict=False)]
    if marks and not marks[-1].group(1) and body[marks[-1].end():].strip():
        spans.append((marks[-1].end(), len(body)))  # no closing delimiter: the last part runs to the end
    return spans


def split_parts(body: bytes, boundary: str) -> list[Part]:
    """The parts of a multipart body.

    Lenient as servers and clients are: LF or CRLF line ends, a preamble, no closing delimiter, no MIME headers.
    """
    return [_unwrap(body[start:end]) for start, end in part_spans(body, boundary)]


def _unwrap(content: bytes) -> Part:
    first, *rest = _LINE_END.split(content, maxsplit=1)
    if not first and rest:
        return Part(b"", rest[0])  # no MIME headers: the blank line that ends them comes first
    if _REQUEST_LINE.fullmatch(first) or _STATUS_LINE.fullmatch(first):
        return Part(b"", content)  # no MIME headers, nor the blank line
    blank = _BLANK_LINE.search(content)
    if blank is None:
        return Part(content, b"")
    return Part(content[:blank.start()], content[blank.end():])


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")  # as mitmproxy decodes header bytes


def read_message(data: bytes) -> tuple[bytes, Headers, bytes]:
    """(start line, headers, body) of an HTTP message; the head may lack its blank line (the part ends there)."""
    blank = _BLANK_LINE.search(data)
    head, body = (data[:blank.start()], data[blank.end():]) if blank else (data, b"")
    lines = _LINE_END.split(head)
    headers: Headers = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") and headers:  # an obsolete folded line continues the header before
            headers[-1] = (headers[-1][0], f"{headers[-1][1]} {_text(line.strip())}")
            continue
        name, sep, value = line.partition(b":")
        if sep and name.strip():
            headers.append((_text(name.strip()), _text(value.strip())))
    return lines[0].strip(), headers, body


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL ("" when it has none)."""
    found = _ORIGIN.match(url)
    return found.group(0) if found else ""


def part_request(part: Part, batch: Request) -> Request | None:
    """The request a part carries, as a request to the batch's server; None when it carries none."""
    start, headers, body = read_message(part.message)
    line = _REQUEST_LINE.fullmatch(start)
    if line is None:
        return None
    target = _text(line.group(2))
    url = target if _ORIGIN.match(target) else origin_of(batch.url) + ("" if target.startswith("/") else "/") + target
    authorization = header(batch.headers, "authorization")
    if authorization and not header(headers, "authorization"):
        headers.append(("Authorization", authorization))
    return Request(method=_text(line.group(1)), url=url, headers=headers, body=body)


def part_response(part: Part) -> Response | None:
    """The response a part carries; None when it carries none."""
    start, headers, body = read_message(part.message)
    line = _STATUS_LINE.fullmatch(start)
    if line is None:
        return None
    reason = (line.group(3) or b"").strip().decode("latin-1")  # as mitmproxy reads a reason
    return Response(status=int(line.group(2)), reason=reason, headers=headers, body=body)


def batch_requests(request: Request) -> list[Request] | None:
    """The requests a batch request carries, in order; None when it is no batch (or its parts are no requests)."""
    if request.method.upper() != "POST" or request.raw or not is_batch(request.content_type):
        return None
    boundary = boundary_of(request.content_type)
    if not boundary:
        return None
    parts = [part_request(part, request) for part in split_parts(request.body, boundary)]
    if not parts or any(p is None for p in parts):
        return None
    return [p for p in parts if p is not None]


def batch_responses(response: Response) -> list[tuple[Part, Response]] | None:
    """The responses a batch answer carries, with the parts holding them, in order; None when it is no batch answer."""
    boundary = boundary_of(response.content_type)
    if not is_batch(response.content_type) or not boundary or response.raw:
        return None
    found = [(part, part_response(part)) for part in split_parts(response.body, boundary)]
    return [(part, answer) for part, answer in found if answer is not None] or None


# -- writing -----------------------------------------------------------------------------------------------------

def _reason_bytes(reason: str) -> bytes:
    try:  # mitmproxy reads a reason as Latin-1: a recorded one encodes back to its bytes
        return reason.encode("latin-1")
    except UnicodeEncodeError:
        return wire_bytes(reason)


def message_bytes(response: Response, eol: bytes = b"\r\n") -> bytes:
    """A response as a batch part carries it: status line, headers (hop by hop ones dropped, Content-Length true;
    a body stored decoded goes without its Content-Encoding), blank line, body."""
    reason = response.reason
    if not reason:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
    dropped = _HOP_BY_HOP if response.raw else (*_HOP_BY_HOP, "content-encoding")
    headers = [(k, v) for k, v in response.headers if k.lower() not in dropped]
    if response.body or any(k.lower() == "content-length" for k, _ in headers):
        length = str(len(response.body))
        headers = [(k, length if k.lower() == "content-length" else v) for k, v in headers]
        if not any(k.lower() == "content-length" for k, _ in headers):
            headers.append(("Content-Length", length))
    lines = [f"HTTP/1.1 {response.status} ".encode() + _reason_bytes(reason)]
    lines += [wire_bytes(f"{k}: {v}") for k, v in headers]
    return eol.join(lines) + eol + eol + response.body


@dataclass(frozen=True)
class BatchStyle:
    """How a server writes its batch answers: status line, headers, boundary, part headers and line ends."""

    boundary: str = ""  # "": a new one per answer
    headers: Headers = field(default_factory=list)
    status: int = 200
    reason: str = "OK"
    part_head: bytes = DOCUMENTED_PART_HEAD
    eol: bytes = b"\r\n"

    @classmethod
    def of(cls, response: Response) -> BatchStyle | None:
        """The style of a recorded batch answer; None when it is none."""
        boundary = boundary_of(response.content_type)
        answered = batch_responses(response)
        if not boundary or not answered:
            return None
        return cls(boundary, list(response.headers), response.status, response.reason,
                   answered[0][0].head or DOCUMENTED_PART_HEAD, b"\r\n" if b"\r\n" in response.body else b"\n")

    def write(self, messages: Sequence[bytes]) -> Response:
        """A batch answer carrying `messages` (HTTP responses) in order."""
        boundary = self.boundary
        if not boundary or any(b"--" + wire_bytes(boundary) in m for m in messages):
            # the recorded boundary cannot be used: a new one, the same for the same answer
            boundary = str(uuid.UUID(bytes=hashlib.sha256(b"".join(messages)).digest()[:16], version=4))
        mark, eol = b"--" + wire_bytes(boundary), self.eol
        body = b"".join(mark + eol + self.part_head + eol + eol + m + eol for m in messages) + mark + b"--" + eol
        headers = [(k, v.replace(self.boundary, boundary) if k.lower() == "content-type" and self.boundary else v)
                   for k, v in self.headers]
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers.insert(0, ("Content-Type", f'{MEDIA_TYPE}; boundary="{boundary}"'))
        headers = [(k, str(len(body)) if k.lower() == "content-length" else v) for k, v in headers]
        return Response(status=self.status, reason=self.reason, headers=headers, body=body)


def drop_parts(body: bytes, boundary: str, dropped: Collection[int]) -> bytes:
    """A multipart body without its parts numbered in `dropped` (from 0), the rest byte for byte."""
    for n in sorted(set(dropped), reverse=True):  # from the end: the numbers before stay true
        marks = _delimiters(body, boundary)
        if not 0 <= n < len(marks) or marks[n].group(1):
            continue
        following = marks[n + 1] if n + 1 < len(marks) else None
        if following is not None and not following.group(1):  # the part and the delimiter after it
            body = body[:marks[n].end()] + body[following.end():]
        else:  # the last part, and the delimiter before it: the closing one stays
            body = body[:marks[n].start()] + (body[following.start():] if following is not None else b"")
    return body


def replace_parts(answer: Response, parts: Mapping[int, Response], inserted: Collection[int] = ()) -> Response | None:
    """`answer`, a batch answer, with part n (from 0) answered by `parts[n]`: in place of the part `answer` holds
    there, or put in there when n is in `inserted` (its request did not go on, `answer` has no part for it).

    The other parts keep their messages byte for byte, and the answer its status, headers, boundary, part headers
    and line ends (a new boundary only when a new part holds the old one). None when `answer` is no batch answer,
    or a number is past its end.
    """
    put_in = set(inserted)
    if not put_in <= parts.keys():
        raise ValueError("a part put in needs its answer")
    answered, style = batch_responses(answer), BatchStyle.of(answer)
    total = len(answered or []) + len(put_in)
    if answered is None or style is None or any(not 0 <= n < total for n in parts):
        return None
    held = iter(answered)
    messages = [b"" if n in put_in else next(held)[0].message for n in range(total)]
    return style.write([message_bytes(parts[n], style.eol) if n in parts else m for n, m in enumerate(messages)])


def miss_answer(miss: Miss, accept: str) -> Response:
    """A UCWA-shaped 500 (JSON or XML by Accept) carrying the explanation of a miss."""
    body, ctype = protocol.error_body("ServiceFailure", "UcwaVcrNoMatch", miss.explain(), accept)
    return Response(status=500, reason=MISS_REASON, body=body,
                    headers=[("Content-Type", ctype), ("X-Ucwa-Vcr", "miss"), ("X-Ucwa-Vcr-Diagnosis", miss.summary())])


# -- answering ---------------------------------------------------------------------------------------------------

@dataclass
class PartAnswer:
    """The answer to one part of a live batch."""

    request: Request
    response: Response
    how: How
    message: bytes | None = None  # the recorded part, byte for byte, when it was recorded in a batch
    miss: Miss | None = None
    duration: float = 0.0  # the recorded duration of the exchange that answered


@dataclass
class BatchAnswer:
    """The answer to a live batch; `response` None when a part has no recorded answer and a server may answer."""

    response: Response | None
    parts: list[PartAnswer] = field(default_factory=list)
    whole: Interaction | None = None  # the recorded batch answered whole, byte for byte
    duration: float = 0.0

    @property
    def misses(self) -> list[Miss]:
        """The explanations of the parts that got no recorded answer."""
        return [p.miss for p in self.parts if p.miss is not None]


@dataclass(frozen=True)
class Source:
    """Where an indexed part was recorded: the cassette's exchange, the part's number in it, its bytes."""

    position: int
    part: int
    message: bytes


def _weight(near: Near) -> int:
    return sum(2 if m in ("method", "path") else 1 for m in near.differences)


class BatchIndex(Matcher):
    """The parts of the recorded batches, matched as requests are (in recorded order per distinct part), and the
    recorded batches whole; recorded single requests are answered through `tape`, the replay matcher."""

    def __init__(self, tape: Matcher) -> None:
        super().__init__([], tape.on, tape.exhausted, tape.redactor)
        self.tape = tape
        self.sources: list[Source] = []  # per indexed part
        self.whole: dict[tuple[tuple[str, ...], ...], list[int]] = defaultdict(list)  # recorded batches by request
        self._whole_used: dict[tuple[tuple[str, ...], ...], int] = defaultdict(int)
        self.style: BatchStyle | None = None  # the first recorded batch answer's
        self._seen = 0
        self.sync(used=False)

    def sync(self, used: bool = True) -> None:
        """Index what the tape gained since (recorded just now: already used, as Matcher.add counts it)."""
        for position in range(self._seen, len(self.tape.interactions)):
            self._take(position, self.tape.interactions[position], used)
        self._seen = len(self.tape.interactions)

    def rewind(self) -> None:
        """Answer identical batches and parts from their first recorded answer again."""
        super().rewind()
        self._whole_used.clear()

    def _take(self, position: int, interaction: Interaction, used: bool) -> None:
        requests = batch_requests(interaction.request)
        if requests is None:
            return
        whole = self._whole_key(interaction.request, requests)
        self.whole[whole].append(position)
        self._whole_used[whole] += used
        self.style = self.style or BatchStyle.of(interaction.response)
        answered = batch_responses(interaction.response) or []
        for n, (request, (part, response)) in enumerate(zip(requests, answered, strict=False)):
            key = self._key(request)
            self.interactions.append(Interaction(request, response, interaction.started, interaction.duration))
            self.by_key[key].append(len(self.interactions) - 1)
            self._used[key] += used
            self.sources.append(Source(position, n, part.message))

    def _whole_key(self, request: Request, parts: Sequence[Request]) -> tuple[tuple[str, ...], ...]:
        values = features(request, self.redactor, [m for m in self.on if m != "body"])
        return (tuple(values.values()), *(self._key(p) for p in parts))

    def answer(self, request: Request, offline: bool = True,
               simulate: Callable[[Request], Response | None] | None = None) -> BatchAnswer | None:
        """The answer to a live batch; None when `request` is no batch (it is then matched whole, as any request).

        `simulate` answers a part first when it can (the model of ucwa_simulate). Online (`offline` False), a
        batch with a part the cassette cannot answer gets no response, and no recorded answer is used up by it.
        """
        parts = batch_requests(request)
        if parts is None:
            return None
        self.sync()
        simulated = [simulate(p) if simulate is not None else None for p in parts]
        if not any(s is not None for s in simulated):
            whole = self._answer_whole(request, parts, offline)
            if whole is not None:
                return BatchAnswer(whole.response, whole=whole, duration=whole.duration)
        taken: Counter[tuple[str, ...]] = Counter()
        planned = [PartAnswer(p, s, How.SIMULATED) if s is not None else self._plan(p, taken, offline)
                   for p, s in zip(parts, simulated, strict=True)]
        if not offline and any(a is not None and a.miss is not None for a in planned):
            return BatchAnswer(None)
        for key, count in taken.items():
            self._used[key] += count
        answers = [a if a is not None else self._single(p, offline) for a, p in zip(planned, parts, strict=True)]
        if not offline and any(a.miss is not None for a in answers):
            return BatchAnswer(None)
        style = self.style or BatchStyle()
        response = style.write([a.message if a.message is not None else message_bytes(a.response, style.eol)
                                for a in answers])
        return BatchAnswer(response, answers, duration=max(a.duration for a in answers))

    def _answer_whole(self, request: Request, parts: Sequence[Request], offline: bool) -> Interaction | None:
        """The recorded batch this one is, in recorded order among identical ones (its parts count as used)."""
        key = self._whole_key(request, parts)
        positions = self.whole.get(key)
        if not positions:
            return None
        used = self._whole_used[key]
        if used < len(positions):
            self._whole_used[key] += 1
            position = positions[used]
        elif self.exhausted == Exhausted.REPEAT and offline:
            position = positions[-1]
        else:
            return None
        for part_key in key[1:]:
            self._used[part_key] += 1
        return self.tape.interactions[position]

    def _plan(self, request: Request, taken: Counter[tuple[str, ...]], offline: bool) -> PartAnswer | None:
        """A part's answer from the recorded batches (counted in `taken`, not yet used up), or its miss; None when
        only the recorded single requests know it."""
        key = self._key(request)
        positions = self.by_key.get(key)
        if positions:
            used = self._used[key] + taken[key]
            if used < len(positions):
                taken[key] += 1
                return self._replayed(request, positions[used])
            if self.exhausted == Exhausted.REPEAT and offline:
                return self._replayed(request, positions[-1])
            return self._missed(request, Miss(request, exhausted=len(positions), redactor=self.redactor))
        if key in self.tape.by_key:
            return None
        return self._missed(request, Miss(request, near=self._near(request) if offline else [], redactor=self.redactor))

    def _replayed(self, request: Request, n: int) -> PartAnswer:
        recorded = self.interactions[n]
        return PartAnswer(request, recorded.response, How.REPLAYED, self.sources[n].message,
                          duration=recorded.duration)

    def _single(self, request: Request, offline: bool) -> PartAnswer:
        found = self.tape.match(request, offline)
        if isinstance(found, Miss):
            return self._missed(request, found)
        return PartAnswer(request, found.response, How.REPLAYED, duration=found.duration)

    def _missed(self, request: Request, miss: Miss) -> PartAnswer:
        return PartAnswer(request, miss_answer(miss, header(request.headers, "accept")), How.MISS, miss=miss)

    def _near(self, request: Request, count: int = 3) -> list[Near]:
        """The closest recorded requests, parts and single ones, numbered by their exchange in the cassette."""
        parts = [Near(self.sources[n.position].position, n.interaction, n.differences) for n in self.nearest(request)]
        return sorted(parts + self.tape.nearest(request), key=lambda n: (_weight(n), n.position))[:count]
