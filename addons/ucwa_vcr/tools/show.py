"""Reading a cassette: one summary row per exchange, flow-filter selection, pretty bodies, UCWA error codes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from lxml import etree

from ..cassette.model import Cassette, Interaction, Message, wire_bytes
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
        out.append(Row(n, shown(i.request.method), short_path(i.request.url), i.response.status, ucwa_error(i),
                       len(i.response.body), round(i.duration * 1000, 1)))
    return out


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


def pretty_body(message: Message) -> tuple[str, str]:
    """A body pretty-printed for reading (the stored bytes are not touched) and its lexer name."""
    if not message.body:
        return "", "text"
    ctype = message.content_type.lower()
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
