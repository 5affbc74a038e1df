"""Linting cassettes before they are committed: anything that looks like a live secret, or a broken file.

Three checks look at every URL, header value and body, each on its own:
- a live secret: today's redaction rules would change the value (tokens, bearer credentials, secret fields of
  forms, queries, JSON and XML, cookie values, JWTs), bodies decoded with their charset as the redactor does;
- a partial redaction, found by shape alone and whatever the rules say: a placeholder with secret-shaped text
  right next to it (`cwt%3DREDACTED-26%2FenJ…`, `REDACTED-3\\/x…`, `REDACTED-3==`, `AAEBx…REDACTED-3`), or a
  placeholder number longer than any redactor writes;
- a body that could hold text but was not searched (`redact.unscanned`: kept as sent, or not in its charset).
With `pii`, personal data left is a finding too (`pseudonyms.personal_data`: SIP URIs, e-mail addresses,
phone numbers and display names that are no pseudonyms). A recording cut short by a kill is a finding too.
Findings name the file, the line and the exchange, never the secret or personal value itself (at most the
placeholder next to it).
"""

from __future__ import annotations

import os
import re

import yaml

from ..cassette.codec import SafeLoader, cut_tail, node_at, parse, read_text
from ..cassette.model import Message, Request, is_text
from ..errors import FileError
from ..pseudonyms import personal_data
from ..redact import MAX_PLACEHOLDER_DIGITS, RedactionRules, Redactor, body_text, unscanned

Where = tuple[str | int, ...]

_PLACEHOLDER = re.compile(r"REDACTED(?:-(\d+))?")
# What a redactor never writes right after a placeholder, but a rule that stopped too early leaves: more
# base64 (letters, digits, `_`, or `/ + =` URL-encoded or JSON-escaped), maybe after `/ + = - .`; or padding.
_MORE = r"[A-Za-z0-9_]|%(?:25)*(?:2[BbFf]|3[Dd])|\\+/|\\+u00(?:2[BbFf]|3[Dd])"
_RESIDUE_AFTER = re.compile(rf"[-+/.=]*(?:{_MORE})|==")
# ... or right before one: a run of base64, or base64 and an encoded `/` or `+` (but not the end of an
# escape such as `cwt%3D` or `cwt\u003d`, after which a placeholder is what a redactor writes).
_RESIDUE_BEFORE = re.compile(r"(?:[A-Za-z0-9+/_-]{2}(?:%(?:25)*2[BbFf]|\\+/|\\+u002[BbFf])|[A-Za-z0-9+/_]{4})\Z")
_ESCAPE_BEFORE = re.compile(r"(?:%(?:25)*(?!2[BbFf])[0-9A-Fa-f]{2}|\\u(?!002[BbFf])[0-9A-Fa-f]{4})\Z")


def residue(text: str) -> tuple[int, str] | None:
    """Where a placeholder in `text` has secret-shaped text next to it, and what to say (no secret in it)."""
    if "REDACTED" not in text:  # most values: no placeholder at all
        return None
    for m in _PLACEHOLDER.finditer(text):
        digits = m.group(1) or ""
        if len(digits) > MAX_PLACEHOLDER_DIGITS:
            return m.start(), f"a placeholder with a {len(digits)}-digit number, longer than any redactor writes"
        before = text[max(0, m.start() - 12):m.start()]
        if (_RESIDUE_AFTER.match(text, m.end())
                or (_RESIDUE_BEFORE.search(before) and not _ESCAPE_BEFORE.search(before))):
            return m.start(), f"secret-shaped text next to {m.group(0)}: a partial redaction"
    return None


class _Lines:
    """The line of each node of a cassette's YAML, composed once for all findings."""

    def __init__(self, text: str) -> None:
        try:
            self._root: yaml.Node | None = yaml.compose(text, Loader=SafeLoader)
        except yaml.YAMLError:
            self._root = None

    def of(self, where: Where, text: str | None = None, offset: int = 0) -> int:
        """The 1-based line of the node at `where` (or its deepest parent); inside a literal block holding
        `text`, the line of `offset` in it."""
        node, found = node_at(self._root, where)
        line = found or 1
        if text is not None and isinstance(node, yaml.ScalarNode) and node.style == "|" and node.value == text:
            return line + 1 + text.count("\n", 0, offset)  # a literal block starts on the line after `|`
        return line


def _message_findings(message: Message, redactor: Redactor, where: Where, lines: _Lines) -> list[tuple[int, str]]:
    part = where[-1]
    found = []
    if isinstance(message, Request):
        if redactor.text(message.url) != message.url:
            found.append((lines.of((*where, "url")), f"{part} URL holds a live secret"))
        if (partial := residue(message.url)) is not None:
            found.append((lines.of((*where, "url")), f"{part} URL has {partial[1]}"))
    for k, (name, value) in enumerate(message.headers):
        if redactor.headers([(name, value)])[0][1] != value:
            found.append((lines.of((*where, "headers", k)), f"{part} header {name!r} holds a live secret"))
        if (partial := residue(value)) is not None:
            found.append((lines.of((*where, "headers", k)), f"{part} header {name!r} has {partial[1]}"))
    key = "body" if not message.raw and is_text(message.content_type, message.body) else "body_base64"
    if redactor.body(message) != message.body:
        found.append((lines.of((*where, key)), f"{part} body holds a live secret"))
    text = body_text(message)
    if text and (partial := residue(text)) is not None:
        found.append((lines.of((*where, key), text, partial[0]), f"{part} body has {partial[1]}"))
    if (reason := unscanned(message)) is not None:
        found.append((lines.of((*where, key)), f"{part} body was not searched for secrets: {reason}"))
    return found


def _pii_findings(message: Message, where: Where, lines: _Lines) -> list[tuple[int, str]]:
    part = where[-1]
    found = []
    if isinstance(message, Request):
        found += [(lines.of((*where, "url")), f"{part} URL holds {what}") for _, what in personal_data(message.url)]
    for k, (name, value) in enumerate(message.headers):
        found += [(lines.of((*where, "headers", k)), f"{part} header {name!r} holds {what}")
                  for _, what in personal_data(value)]
    text = body_text(message)
    if text:
        key = "body" if not message.raw and is_text(message.content_type, message.body) else "body_base64"
        found += [(lines.of((*where, key), text, at), f"{part} body holds {what}") for at, what in personal_data(text)]
    return found


def lint(path: str | os.PathLike[str], rules: RedactionRules | None = None, pii: bool = False) -> list[str]:
    """One line per finding: `file:line: exchange N: what`; empty when the cassette is clean."""
    findings = []
    try:
        text, cut = cut_tail(read_text(path))
        if cut is not None:
            findings.append(f"{path}:{cut}: a recording was interrupted here: the rest of the file is cut short and "
                            "ignored (`ucwa-vcr redact` rewrites the file without it)")
        cassette = parse(text, str(path))
    except FileError as e:
        return [*findings, str(e)]
    redactor = Redactor(rules or RedactionRules())
    lines = _Lines(text)
    for n, interaction in enumerate(cassette.interactions):
        for line, what in (_message_findings(interaction.request, redactor, ("interactions", n, "request"), lines)
                           + _message_findings(interaction.response, redactor, ("interactions", n, "response"), lines)
                           + (_pii_findings(interaction.request, ("interactions", n, "request"), lines) if pii else [])
                           + (_pii_findings(interaction.response, ("interactions", n, "response"), lines)
                              if pii else [])):
            findings.append(f"{path}:{line}: exchange {n}: {what}")
    return findings
