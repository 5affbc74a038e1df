"""UCWA resources on the wire: JSON and XML bodies to one canonical form and back.

The canonical form of a resource is the dict `json.loads` gives for its JSON representation (`rel`, properties,
`_links`, `_embedded`, in the server's order), with dates as JSON writes them (`/Date(ms)/`). XML maps onto it
as PayloadFormat.md describes: `<property>` and `<propertyList>` are properties, `<link>` and the resource's own
`href` are `_links`, nested `<resource>` elements are `_embedded`. Formatting (indentation, escapes) is a style
the renderers take as an argument; this module only knows the shapes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from ..protocol import APPLICATION_ID, UCWA_NS, parse_xml

Resource = dict[str, Any]

JSON_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
# XML carries no types: a property is read as a date only when its name says it is one.
DATE_NAME = re.compile(r"(Time|Date)$")
_FRACTION = re.compile(r"\.(\d+)")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def local(tag: Any) -> str:
    """The local name of an lxml tag ('' for comments and processing instructions)."""
    return etree.QName(tag).localname if isinstance(tag, str) else ""


# -- dates -------------------------------------------------------------------------------------------------------
def date_ms(value: str) -> int | None:
    """Milliseconds since the epoch of a JSON `/Date(ms)/` or an ISO 8601 date (no offset: UTC), else None."""
    found = JSON_DATE.match(value)
    if found:
        return int(found.group(1))
    if not ISO_DATE.match(value.strip()):
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // timedelta(milliseconds=1)  # exact: float timestamps round .808 down to .807


def json_date(ms: int) -> str:
    """A date as UCWA's JSON writes it (the escaped slashes are added when the body is written)."""
    return f"/Date({ms})/"


@dataclass(frozen=True)
class DateStyle:
    """How a server writes ISO 8601 dates: its UTC offset (None: `Z`, or no zone at all when `naive`), with or
    without a colon in it, and how many fraction digits (.NET: 7)."""

    offset_minutes: int | None = None
    digits: int = 7
    colon: bool = True
    naive: bool = False  # no zone designator (read back as UTC)

    @classmethod
    def of(cls, example: str) -> DateStyle:
        """The style of a recorded ISO date."""
        fraction = _FRACTION.search(example)
        digits = len(fraction.group(1)) if fraction else 0
        offset = re.search(r"([+-])(\d{2})(:?)(\d{2})$", example)
        minutes = None
        if offset:
            minutes = (int(offset.group(2)) * 60 + int(offset.group(4))) * (-1 if offset.group(1) == "-" else 1)
        naive = offset is None and not example.strip().upper().endswith("Z")
        return cls(minutes, digits, colon=offset is None or bool(offset.group(3)), naive=naive)

    def iso(self, ms: int) -> str:
        """`ms` as an ISO 8601 date in this style."""
        zone = UTC if self.offset_minutes is None else timezone(timedelta(minutes=self.offset_minutes))
        when = datetime.fromtimestamp(ms / 1000, zone)
        text = when.strftime("%Y-%m-%dT%H:%M:%S")
        if self.digits:
            text += "." + f"{ms % 1000:03d}".ljust(self.digits, "0")[: self.digits]
        if self.offset_minutes is None:
            return text if self.naive else text + "Z"
        sign = "-" if self.offset_minutes < 0 else "+"
        hours, minutes = divmod(abs(self.offset_minutes), 60)
        return f"{text}{sign}{hours:02d}{':' if self.colon else ''}{minutes:02d}"


# -- reading -----------------------------------------------------------------------------------------------------
def json_resource(body: bytes) -> Resource | None:
    """A JSON body as a resource, or None when it is not a JSON object."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def xml_resource(body: bytes) -> Resource | None:
    """An XML `<resource>` body as a resource, or None when it is not one."""
    try:
        root = parse_xml(body)
    except (etree.LxmlError, ValueError):
        return None
    return element_resource(root) if local(root.tag) == "resource" else None


def element_resource(element: Any) -> Resource:
    """A `<resource>` element as a resource (ISO dates of date-named properties become JSON dates)."""
    props: Resource = {}
    links: dict[str, Any] = {"self": {"href": element.get("href")}} if element.get("href") is not None else {}
    embedded: dict[str, list[Resource]] = {}
    for child in element:
        tag, name = local(child.tag), child.get("name") or ""
        if tag == "link":
            _add_link(links, child.get("rel") or "", child.get("href") or "", child.get("title"))
        elif tag == "property" and name:
            props[name] = _xml_value(name, child.text or "")
        elif tag == "propertyList" and name:
            props[name] = [item.text or "" for item in child if local(item.tag) == "item"]
        elif tag == "resource":
            embedded.setdefault(child.get("rel") or "", []).append(element_resource(child))
    if "rel" not in props and element.get("rel"):
        props = {"rel": element.get("rel"), **props}
    if links:
        props["_links"] = links
    if embedded:
        props["_embedded"] = embedded
    return props


def _add_link(links: dict[str, Any], rel: str, href: str, title: str | None) -> None:
    """Add a link; a rel seen twice becomes an array, as JSON writes repeated links."""
    link = {"href": href, **({"title": title} if title is not None else {})}
    if rel not in links:
        links[rel] = link
    elif isinstance(links[rel], list):
        links[rel].append(link)
    else:
        links[rel] = [links[rel], link]


def _xml_value(name: str, text: str) -> str:
    """An XML property's value in canonical form (dates as JSON writes them)."""
    if DATE_NAME.search(name):
        ms = date_ms(text)
        if ms is not None and not JSON_DATE.match(text):
            return json_date(ms)
    return text


def parse_input(body: bytes, content_type: str) -> Resource:
    """The properties a POST or PUT body sets, JSON or XML (`<input>`, or a `<resource>` sent back); ValueError if
    the body is neither (PayloadFormat.md: links and embedded resources in inputs are ignored)."""
    if not body.strip():
        return {}
    if "xml" in content_type.lower():
        try:
            root = parse_xml(body)
        except etree.LxmlError as e:
            raise ValueError(str(e)) from None
        data = element_resource(root)
    else:
        try:
            loaded = json.loads(body)
        except RecursionError:
            raise ValueError("nested too deep") from None
        if not isinstance(loaded, dict):
            raise ValueError("body is not a JSON object")
        data = loaded
    return {k: v for k, v in data.items() if k not in ("_links", "_embedded")}


# -- writing -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JsonStyle:
    """How a server writes JSON: indentation (None: one line), the key separator, its escapes and its dates
    (None: `/Date(ms)/`, as ASP.NET writes them; else ISO 8601 in that style)."""

    indent: int | None = 1
    colon: str = " : "
    escape_slash: bool = True
    escape_apostrophe: bool = True
    ascii_only: bool = True
    dates: DateStyle | None = None

    def dumps(self, data: Any, app: str) -> bytes:
        """`data` as this server writes it; `{app}` in hrefs becomes the live application id."""
        if self.dates is not None:
            data = iso_dated(data, self.dates)
        text = json.dumps(data, indent=self.indent, separators=(",", self.colon), ensure_ascii=self.ascii_only)
        text = text.replace("/v1/applications/{app}", f"/v1/applications/{app}")
        if self.escape_slash:
            text = text.replace("/", "\\/")
        else:  # ASP.NET dates keep their escaped slashes whatever else the server escapes
            text = re.sub(r'"/Date\((-?\d+(?:[+-]\d{4})?)\)/"', r'"\\/Date(\1)\\/"', text)
        if self.escape_apostrophe:
            text = text.replace("'", "\\u0027")
        return text.encode("utf-8")


def iso_dated(data: Any, dates: DateStyle) -> Any:
    """A copy of `data` whose date-named properties written `/Date(ms)/` are ISO 8601 dates in `dates`' style."""
    if isinstance(data, list):
        return [iso_dated(v, dates) for v in data]
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        found = JSON_DATE.match(value) if isinstance(value, str) and DATE_NAME.search(key) else None
        out[key] = dates.iso(int(found.group(1))) if found else iso_dated(value, dates)
    return out


@dataclass(frozen=True)
class XmlStyle:
    """How a server writes XML: its declaration, line breaks, indentation (nested or flat), dates, and whether a
    resource repeats its `rel` attribute as a `<property name="rel">` (the reference pages do)."""

    declaration: str = '<?xml version="1.0" encoding="utf-8"?>'
    newline: str = "\n"
    indent: str = "  "
    nested: bool = True
    empty_close: str = " />"
    dates: DateStyle = DateStyle()
    rel_property: bool = True

    def dumps(self, data: Resource, app: str) -> bytes:
        """A resource as an XML document in this style; `{app}` in hrefs becomes the live application id."""
        lines: list[tuple[int, str]] = []
        self._element(data, lines, 0)
        body = self.newline.join(self._pad(depth) + text for depth, text in lines)
        head = self.declaration + (self.newline or "\n") if self.declaration else ""
        return (head + body).replace("/v1/applications/{app}", f"/v1/applications/{app}").encode("utf-8")

    def _pad(self, depth: int) -> str:
        return self.indent * (depth if self.nested else min(depth, 1))

    def _element(self, data: Resource, lines: list[tuple[int, str]], depth: int) -> None:
        links = data.get("_links") or {}
        self_link = links.get("self") if isinstance(links, dict) else None
        attrs = f"rel={quoteattr(str(data.get('rel', '')))}"
        if isinstance(self_link, dict):
            attrs += f" href={quoteattr(str(self_link.get('href', '')))}"
        if depth == 0:
            attrs += f" xmlns={quoteattr(UCWA_NS)}"
        lines.append((depth, f"<resource {attrs}>"))
        for rel, link in links.items() if isinstance(links, dict) else ():
            for one in (link if isinstance(link, list) else [link]) if rel != "self" else ():
                title = f" title={quoteattr(str(one['title']))}" if "title" in one else ""
                lines.append((depth + 1, f"<link rel={quoteattr(rel)} href={quoteattr(str(one.get('href', '')))}"
                                         f"{title}{self.empty_close}"))
        for name, value in data.items():
            if not name.startswith("_") and (name != "rel" or self.rel_property):
                lines.extend((depth + 1, text) for text in self._property(name, value, depth + 1))
        for group in (data.get("_embedded") or {}).values():
            for child in group if isinstance(group, list) else [group]:
                self._element(child, lines, depth + 1)
        lines.append((depth, "</resource>"))

    def _property(self, name: str, value: Any, depth: int) -> list[str]:
        """The lines of one property; a list is a propertyList with one item per line."""
        if isinstance(value, list):
            inner = self._pad(depth + 1)
            items = [f"<item>{escape(self._text(v))}</item>" for v in value]
            if not items:
                return [f"<propertyList name={quoteattr(name)}{self.empty_close}"]
            joined = "".join(self.newline + inner + item for item in items)
            return [f"<propertyList name={quoteattr(name)}>{joined}{self.newline}{self._pad(depth)}</propertyList>"]
        if value is None:
            return [f"<property name={quoteattr(name)}{self.empty_close}"]
        return [f"<property name={quoteattr(name)}>{escape(self._text(value))}</property>"]

    def _text(self, value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            found = JSON_DATE.match(value)
            return self.dates.iso(int(found.group(1))) if found else value
        return str(value)


def with_app_placeholder(data: Any) -> Any:
    """A copy of a resource whose hrefs name the application as `{app}`: the model keeps meetings apart from the
    session that showed them, and writes each answer with the id of the session asking."""
    if isinstance(data, dict):
        return {k: APPLICATION_ID.sub(r"\1{app}", v) if k == "href" and isinstance(v, str)
                else with_app_placeholder(v) for k, v in data.items()}
    if isinstance(data, list):
        return [with_app_placeholder(v) for v in data]
    return data
