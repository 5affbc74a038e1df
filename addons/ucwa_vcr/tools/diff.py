"""Comparing two cassettes: exchanges added, removed and changed, with header and field-level body differences.

Exchanges are paired the way replay matches requests (same normalised method, URL and representation,
in recorded order); their responses are compared: status, headers, body. Unless `strict`, what changes between
any two sessions is ignored: the headers in IGNORED_HEADERS, application ids, ETags, `\\/Date(…)\\/` and ISO 8601
timestamps.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any

from lxml import etree

from ..cassette.model import Cassette, Headers, Interaction, Response
from ..match import Matcher
from ..protocol import APPLICATION_ID, parse_xml

MISSING = "<absent>"
_VOLATILE = [
    (APPLICATION_ID, r"\1{app}"),
    (re.compile(r"\\?/Date\(-?\d+([+-]\d+)?\)\\?/"), "/Date(…)/"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?"), "<timestamp>"),
]
_VOLATILE_FIELDS = re.compile(r"(^|/|\[name=)etag\]?$", re.IGNORECASE)
# Response headers skipped unless strict: new in every session, or (Content-Length) following from a body that is
# compared on its own, whose length changes with an application id or is that of the compressed bytes.
IGNORED_HEADERS = ("ETag", "Date", "Expires", "Last-Modified", "Content-Length")


@dataclass
class Change:
    """A pair of exchanges whose answers differ."""

    position_a: int
    position_b: int
    label: str
    status: tuple[int, int] | None
    headers: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # (name, in A, in B); None: absent
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (where, in A, in B)
    text: list[str] = field(default_factory=list)  # unified diff lines for bodies that are neither JSON nor XML


@dataclass
class CassetteDiff:
    added: list[tuple[int, str]] = field(default_factory=list)  # (position in B, label)
    removed: list[tuple[int, str]] = field(default_factory=list)  # (position in A, label)
    changed: list[Change] = field(default_factory=list)
    same: int = 0

    @property
    def differs(self) -> bool:
        """Whether anything was added, removed or changed."""
        return bool(self.added or self.removed or self.changed)

    def as_dict(self) -> dict[str, Any]:
        return {"added": [{"index": i, "request": label} for i, label in self.added],
                "removed": [{"index": i, "request": label} for i, label in self.removed],
                "changed": [{"index_a": c.position_a, "index_b": c.position_b, "request": c.label,
                             "status": list(c.status) if c.status else None,
                             "headers": [{"name": n, "a": a, "b": b} for n, a, b in c.headers],
                             "fields": [{"where": w, "a": a, "b": b} for w, a, b in c.fields], "text": c.text}
                            for c in self.changed],
                "unchanged": self.same}


def _calm(text: str) -> str:
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def _flatten_json(node: Any, where: str, out: dict[str, str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten_json(value, f"{where}/{key}", out)
    elif isinstance(node, list):
        for n, value in enumerate(node):
            _flatten_json(value, f"{where}/{n}", out)
    else:
        out[where or "/"] = json.dumps(node, ensure_ascii=False)


def _flatten_xml(el: Any, where: str, out: dict[str, str], used: set[str]) -> None:
    tag = etree.QName(el).localname if isinstance(el.tag, str) else "#"
    key = next((f"[{a}={el.get(a)}]" for a in ("name", "rel") if el.get(a) is not None), "")
    path = f"{where}/{tag}{key}"
    while path in used:
        path += "+"  # a repeated sibling: keep both
    used.add(path)
    if el.text and el.text.strip():
        out[path] = el.text.strip()
    for name, value in el.attrib.items():
        if name not in ("name", "rel"):
            out[f"{path}@{name}"] = value
    for child in el:
        _flatten_xml(child, path, out, used)


def body_fields(response: Response) -> dict[str, str] | None:
    """A JSON or XML body as {field path: value}, or None for other bodies."""
    ctype = response.content_type.lower()
    try:
        out: dict[str, str] = {}
        if "json" in ctype:
            _flatten_json(json.loads(response.body), "", out)
            return out
        if "xml" in ctype:
            _flatten_xml(parse_xml(response.body), "", out, set())
            return out
    except (ValueError, etree.XMLSyntaxError):
        pass
    return None


def _by_name(headers: Headers) -> dict[str, tuple[str, list[str]]]:
    out: dict[str, tuple[str, list[str]]] = {}
    for name, value in headers:
        out.setdefault(name.lower(), (name, []))[1].append(value)
    return out


def compare_headers(a: Headers, b: Headers, strict: bool) -> list[tuple[str, str | None, str | None]]:
    """(name, in A, in B) per differing header; names case-insensitive, repeated ones compared in order."""
    in_a, in_b = _by_name(a), _by_name(b)
    calm = (lambda s: s) if strict else _calm
    ignored = set() if strict else {name.lower() for name in IGNORED_HEADERS}
    out = []
    for key in [k for k in in_a if k not in ignored] + [k for k in in_b if k not in in_a and k not in ignored]:
        name, values_a = in_a.get(key, (in_b[key][0], []))
        values_b = in_b.get(key, (name, []))[1]
        repeated = max(len(values_a), len(values_b)) > 1
        for n, (va, vb) in enumerate(zip_longest(values_a, values_b), 1):
            if va is None or vb is None or calm(va) != calm(vb):
                out.append((f"{name} #{n}" if repeated else name, va, vb))
    return out


def compare(a: Response, b: Response, strict: bool) -> tuple[list[tuple[str, str, str]], list[str]]:
    """Field differences of two bodies (JSON/XML), or unified diff lines for other text."""
    fields_a, fields_b = body_fields(a), body_fields(b)
    calm = (lambda s: s) if strict else _calm
    if fields_a is not None and fields_b is not None:
        out = []
        for where in sorted(set(fields_a) | set(fields_b)):
            if not strict and _VOLATILE_FIELDS.search(where):
                continue
            va, vb = fields_a.get(where, MISSING), fields_b.get(where, MISSING)
            if calm(va) != calm(vb):
                out.append((calm(where), va, vb))
        return out, []
    text_a = calm(a.body.decode("utf-8", "replace")).splitlines()
    text_b = calm(b.body.decode("utf-8", "replace")).splitlines()
    return [], [line for line in difflib.unified_diff(text_a, text_b, "A", "B", lineterm="")]


def diff(a: Cassette, b: Cassette, strict: bool = False) -> CassetteDiff:
    """What changed from cassette A to cassette B."""

    def label(i: Interaction) -> str:
        return f"{i.request.method} {_calm(i.request.url)}"

    in_a, in_b = Matcher(a.interactions).by_key, Matcher(b.interactions).by_key
    result = CassetteDiff()
    for key in list(in_a) + [k for k in in_b if k not in in_a]:
        pa, pb = in_a.get(key, []), in_b.get(key, [])
        for n, m in zip(pa, pb, strict=False):
            ia, ib = a.interactions[n], b.interactions[m]
            status = (ia.response.status, ib.response.status) if ia.response.status != ib.response.status else None
            headers = compare_headers(ia.response.headers, ib.response.headers, strict)
            fields, text = compare(ia.response, ib.response, strict)
            if status or headers or fields or text:
                result.changed.append(Change(n, m, label(ia), status, headers, fields, text))
            else:
                result.same += 1
        result.removed += [(n, label(a.interactions[n])) for n in pa[len(pb):]]
        result.added += [(m, label(b.interactions[m])) for m in pb[len(pa):]]
    result.removed.sort()
    result.added.sort()
    result.changed.sort(key=lambda c: c.position_a)
    return result
