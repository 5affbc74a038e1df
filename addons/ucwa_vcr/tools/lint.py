"""Linting cassettes before they are committed: anything that looks like a live secret, or a broken file.

A value is a live secret when today's redaction rules would change it: placeholders pass, tokens,
bearer credentials, password fields, cookie values and JWTs do not. A recording cut short by a kill is a
finding too. Findings name the file, the line and the exchange, never the secret itself.
"""

from __future__ import annotations

import os

from ..cassette.codec import cut_tail, line_of, parse, read_text
from ..cassette.model import Message, Request
from ..errors import FileError
from ..redact import RedactionRules, Redactor

Where = tuple[str | int, ...]


def _message_findings(message: Message, redactor: Redactor, where: Where) -> list[tuple[Where, str]]:
    part = where[-1]
    found = []
    if isinstance(message, Request) and redactor.text(message.url) != message.url:
        found.append(((*where, "url"), f"{part} URL holds a live secret"))
    for k, (name, value) in enumerate(message.headers):
        if redactor.headers([(name, value)])[0][1] != value:
            found.append(((*where, "headers", k), f"{part} header {name!r} holds a live secret"))
    if redactor.body(message) != message.body:
        found.append(((*where, "body"), f"{part} body holds a live secret"))
    return found


def lint(path: str | os.PathLike[str], rules: RedactionRules | None = None) -> list[str]:
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
    for n, interaction in enumerate(cassette.interactions):
        for where, what in (_message_findings(interaction.request, redactor, ("interactions", n, "request"))
                            + _message_findings(interaction.response, redactor, ("interactions", n, "response"))):
            findings.append(f"{path}:{line_of(text, where) or 1}: exchange {n}: {what}")
    return findings
