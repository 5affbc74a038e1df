"""Reading a cassette: one summary row per exchange, flow-filter selection, pretty bodies, UCWA error codes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from lxml import etree

from ..cassette.model import Cassette, Interaction, Message
from ..protocol import APPLICATION_ID, UCWA_NS, parse_xml


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


def short_path(url: str) -> str:
    """The URL's path and query with the application prefix shortened to `{app}`."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    m = APPLICATION_ID.search(path)
    return "{app}" + path[m.end():] if m else path


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
    except (ValueError, etree.XMLSyntaxError):
        return ""
    return f"{code}/{sub}" if code and sub else str(code or "")


def rows(cassette: Cassette, indexes: list[int] | None = None) -> list[Row]:
    """Summary rows for the given exchanges (all by default)."""
    chosen = range(len(cassette.interactions)) if indexes is None else indexes
    out = []
    for n in chosen:
        i = cassette.interactions[n]
        out.append(Row(n, i.request.method, short_path(i.request.url), i.response.status, ucwa_error(i),
                       len(i.response.body), round(i.duration * 1000, 1)))
    return out


def select(cassette: Cassette, expression: str) -> list[int]:
    """Indexes of the exchanges a mitmproxy flow-filter expression (`~m POST & ~u myOnlineMeetings`) matches."""
    from mitmproxy import flowfilter

    from ..proxy.flows import flow_of

    matcher = flowfilter.parse(expression)  # raises ValueError with mitmproxy's message
    return [n for n, i in enumerate(cassette.interactions) if matcher(flow_of(i))]


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
    except (ValueError, etree.XMLSyntaxError):
        pass
    try:
        return message.body.decode("utf-8"), "html" if "html" in ctype else "text"
    except UnicodeDecodeError:
        return f"<{len(message.body)} bytes of binary data>", "text"
