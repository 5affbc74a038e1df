"""Reading a cassette: one summary row per exchange, flow-filter selection, pretty bodies, UCWA error codes, and the
parts of a batch (each part's method, path and status; its messages pretty-printed one by one)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from lxml import etree

from ..batch import batch_requests, batch_responses, boundary_of, is_batch, read_message, split_parts
from ..cassette.model import Cassette, Interaction, Message, Request, Response, wire_bytes
from ..match import url_parts
from ..protocol import APPLICATION_ID, UCWA_NS, parse_xml

# What a body that is not what its Content-Type says may raise when parsed (deep nesting: RecursionError).
_UNPARSABLE = (ValueError, RecursionError, etree.LxmlError)


@dataclass
class Row:
    """What `ucwa-vcr show` lists for one exchange."""

    index: int
    method: str
    path: str
    status: int
    error: str  # "code/subcode" of a UCWA error body, or ""
    size: int  # response body bytes
    duration_ms: float
    parts: int = 0  # the requests a batch carries (0: no batch)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class PartRow:
    """What `ucwa-vcr show` lists for one part of a batch (`status` 0: the recorded answer has no such part)."""

    part: int  # from 1, in the batch's order
    method: str
    path: str
    status: int
    error: str  # "code/subcode" of a UCWA error body, or ""
    size: int  # response body bytes

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def shown(text: str) -> str:
    """Text fit to print: bytes that were not UTF-8 (lone surrogates in the model) shown as `\\xNN`."""
    return wire_bytes(text).decode("utf-8", "backslashreplace")


def short_path(url: str) -> str:
    """The URL's path and query with the application prefix shortened to `{app}` (printable, never raises)."""
    _, _, _, path, query = url_parts(url)
    path += f"?{query}" if query else ""
    m = APPLICATION_ID.search(path)
    return shown("{app}" + path[m.end():] if m else path)


def ucwa_error(interaction: Interaction) -> str:
    """`code/subcode` when the response is a UCWA error body (JSON or XML), else ""."""
    response = interaction.response
    if response.status < 400 or not response.body:
        return ""
    try:
        if "xml" in response.content_type.lower():
            root = parse_xml(response.body)
            code, sub = root.findtext(f"{{{UCWA_NS}}}code"), root.findtext(f"{{{UCWA_NS}}}subcode")
        else:
            data = json.loads(response.body)
            code, sub = (data.get("code"), data.get("subcode")) if isinstance(data, dict) else (None, None)
    except _UNPARSABLE:
        return ""
    code, sub = (str(v) if isinstance(v, str | int) else "" for v in (code, sub))  # a name, never a structure
    return shown(f"{code}/{sub}" if code and sub else code)


def rows(cassette: Cassette, indexes: list[int] | None = None) -> list[Row]:
    """Summary rows for the given exchanges (all by default)."""
    chosen = range(len(cassette.interactions)) if indexes is None else indexes
    out = []
    for n in chosen:
        i = cassette.interactions[n]
        parts = batch_requests(i.request) if is_batch(i.request.content_type) else None
        out.append(Row(n, shown(i.request.method), short_path(i.request.url), i.response.status, ucwa_error(i),
                       len(i.response.body), round(i.duration * 1000, 1), len(parts or ())))
    return out


def batch_parts(interaction: Interaction) -> list[PartRow]:
    """The parts of a batch exchange, each request with its answer (paired in order, as UCWA answers them); [] when
    the exchange is no batch."""
    requests = batch_requests(interaction.request)
    if requests is None:
        return []
    answers = [response for _, response in batch_responses(interaction.response) or []]
    out = []
    for n, request in enumerate(requests):
        answer = answers[n] if n < len(answers) else Response(status=0)
        out.append(PartRow(n + 1, shown(request.method), short_path(request.url), answer.status,
                           ucwa_error(Interaction(request, answer)), len(answer.body)))
    return out


def describe_parts(interaction: Interaction) -> list[str]:
    """One line per part of a batch exchange: `1. GET {app}/me -> 200` (with its UCWA error, if any)."""
    return [f"{p.part}. {p.method} {p.path} -> {p.status or 'no answer'}" + (f" {p.error}" if p.error else "")
            for p in batch_parts(interaction)]


def select(cassette: Cassette, expression: str) -> list[int]:
    """Indexes of the exchanges a mitmproxy flow-filter expression (`~m POST & ~u myOnlineMeetings`) matches."""
    from mitmproxy import flowfilter

    from ..proxy.flows import flow_of

    matcher = flowfilter.parse(expression)  # raises ValueError with mitmproxy's message
    chosen = []
    for n, interaction in enumerate(cassette.interactions):
        if matcher(flow_of(interaction)):
            chosen.append(n)
    return chosen


def pretty_body(message: Message, parts: bool = True) -> tuple[str, str]:
    """A body pretty-printed for reading (the stored bytes are not touched) and its lexer name; a batch's `parts`
    one by one (a batch holds no batches: a part that claims to is shown as it is)."""
    if not message.body:
        return "", "text"
    ctype = message.content_type.lower()
    if parts and is_batch(ctype) and not message.raw and (batch := _pretty_batch(message)):
        return batch, "text"
    try:
        if "json" in ctype:
            return json.dumps(json.loads(message.body), indent=2, ensure_ascii=False), "json"
        if "xml" in ctype:
            root = parse_xml(message.body)
            return etree.tostring(root, pretty_print=True, encoding="unicode"), "xml"
    except _UNPARSABLE:
        pass
    try:
        return message.body.decode("utf-8"), "html" if "html" in ctype else "text"
    except UnicodeDecodeError:
        return f"<{len(message.body)} bytes of binary data>", "text"


def _pretty_batch(message: Message) -> str:
    """The parts of a multipart/batching body one after the other, each titled with its request or status line and
    its message's body pretty-printed ("" when it holds no parts)."""
    boundary = boundary_of(message.content_type)
    parts = split_parts(message.body, boundary) if boundary else []
    blocks = []
    for n, part in enumerate(parts, 1):
        start, headers, body = read_message(part.message)
        inner = Response(headers=headers, body=body) if start.startswith(b"HTTP/") else Request(headers=headers,
                                                                                                 body=body)
        lines = [f"--- part {n} of {len(parts)}: {shown(start.decode('utf-8', 'surrogateescape'))}"]
        lines += [shown(f"{k}: {v}") for k, v in headers]
        text, _ = pretty_body(inner, parts=False)
        blocks.append("\n".join(lines + (["", text] if text else [])))
    return "\n\n".join(blocks)
