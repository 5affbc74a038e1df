"""Redaction of secrets in recorded exchanges, on copies, before anything reaches disk.

A `Redactor` gives every distinct secret a numbered placeholder (`REDACTED-3`) that keeps the value's
shape (`cwt=REDACTED-3`, `cwt_ucwa=REDACTED-4`), and reuses it wherever the same secret appears, so a
replayed session still hangs together. With `canonical=True` every secret and every placeholder becomes
plain `REDACTED`: that is how incoming requests are compared with recorded ones (a live password
matches its placeholder).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .cassette.model import Cassette, Headers, Interaction, Message, Request, Response

PLACEHOLDER = "REDACTED"
_NUMBERED = re.compile(r"REDACTED-(\d+)")
_IS_PLACEHOLDER = re.compile(r"^(cwt(=|%3[dD]))?REDACTED(-\d+)?$")

# UCWA bearer tokens, also URL-encoded (`ms_rtc_renew=cwt%3dAAEB...`), and JWTs of Azure AD flows.
_CWT = re.compile(r"(cwt(?:=|%3[dD]))([A-Za-z0-9_\-+/.]+(?:=|%3[dD])*)")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
# A header line inside a multipart body (UCWA batch parts carry their own headers).
_PART_HEADER = re.compile(r"^([A-Za-z0-9!#$%&'*+.^_`|~-]+)([ \t]*:[ \t]*)([^\r\n]*)", re.MULTILINE)

# Headers whose whole credential part is secret; cookies keep their names, only values go.
AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})
DEFAULT_FIELDS = frozenset({"password", "ms_rtc_renew", "access_token", "id_token", "refresh_token", "client_secret"})


@dataclass(frozen=True)
class RedactionRules:
    """Which header and field names hold secrets, beyond what is always redacted."""

    headers: frozenset[str] = frozenset()
    fields: frozenset[str] = DEFAULT_FIELDS

    @classmethod
    def with_extra(cls, headers: Iterable[str] = (), fields: Iterable[str] = ()) -> RedactionRules:
        """The default rules plus extra header and field (form, query, JSON, XML) names."""
        return cls(frozenset(h.strip().lower() for h in headers if h.strip()),
                   DEFAULT_FIELDS | {f.strip() for f in fields if f.strip()})


def is_placeholder(value: str) -> bool:
    """Whether a value is already a placeholder (redaction is idempotent)."""
    return bool(_IS_PLACEHOLDER.match(value))


def highest_placeholder(cassette: Cassette) -> int:
    """The largest placeholder number used in a cassette, so new ones do not collide."""
    highest = 0
    for i in cassette.interactions:
        for part in (i.request, i.response):
            texts = [v for _, v in part.headers] + [part.body.decode("utf-8", "replace")]
            if isinstance(part, Request):
                texts.append(part.url)
            for text in texts:
                for m in _NUMBERED.finditer(text):
                    highest = max(highest, int(m.group(1)))
    return highest


class Redactor:
    """Replaces secrets with placeholders, the same secret with the same placeholder."""

    def __init__(self, rules: RedactionRules = RedactionRules(), start: int = 1, canonical: bool = False) -> None:
        self.rules = rules
        self.canonical = canonical
        self._next = start
        self._seen: dict[str, str] = {}
        names = "|".join(re.escape(f) for f in sorted(rules.fields))
        self._form_field = re.compile(rf"(?<![A-Za-z0-9_])((?:{names})=)([^&\s\"'<]+)", re.IGNORECASE)
        self._json_field = re.compile(rf"(\"(?:{names})\"\s*:\s*\")((?:[^\"\\]|\\.)+)(\")", re.IGNORECASE)
        self._xml_field = re.compile(rf"(<property name=\"(?:{names})\">)([^<]+)(</property>)", re.IGNORECASE)

    @classmethod
    def adding_to(cls, cassette: Cassette, rules: RedactionRules) -> Redactor:
        """A redactor for exchanges added to `cassette`: its placeholders continue the cassette's numbering."""
        return cls(rules, start=highest_placeholder(cassette) + 1)

    def placeholder(self, secret: str) -> str:
        """The placeholder standing for `secret` (the secret itself never leaves this object)."""
        if self.canonical:
            return PLACEHOLDER
        if is_placeholder(secret):
            return secret
        if secret not in self._seen:
            self._seen[secret] = f"{PLACEHOLDER}-{self._next}"
            self._next += 1
        return self._seen[secret]

    def _token(self, m: re.Match[str]) -> str:
        return m.group(1) + self.placeholder(m.group(2))

    def _field(self, m: re.Match[str]) -> str:
        return m.group(1) + self.placeholder(m.group(2)) + (m.group(3) if m.lastindex == 3 else "")

    def text(self, text: str) -> str:
        """Redact tokens, JWTs and secret fields (form, query, JSON, XML) wherever they stand in text."""
        text = _CWT.sub(self._token, text)
        text = _JWT.sub(lambda m: self.placeholder(m.group(0)), text)
        text = self._form_field.sub(self._field, text)
        text = self._json_field.sub(self._field, text)
        return self._xml_field.sub(self._field, text)

    def _header(self, name: str, value: str) -> str:
        lname = name.lower()
        if lname in AUTH_HEADERS:
            scheme, _, credentials = value.partition(" ")
            if credentials and not _CWT.search(credentials):
                return f"{scheme} {self.placeholder(credentials)}"
        elif lname == "cookie":
            return "; ".join(self._cookie(c) for c in value.split(";"))
        elif lname == "set-cookie":
            first, sep, attributes = value.partition(";")
            return self._cookie(first) + sep + attributes
        elif lname in self.rules.headers:
            return self.placeholder(value)
        return self.text(value)

    def _cookie(self, pair: str) -> str:
        name, sep, value = pair.strip().partition("=")
        return f"{name}{sep}{self.placeholder(value)}" if sep and value else pair.strip()

    def headers(self, headers: Headers) -> Headers:
        """Headers with credentials, cookie values and configured headers redacted."""
        return [(k, self._header(k, v)) for k, v in headers]

    def body(self, message: Message) -> bytes:
        """A message's body with its secrets redacted when it is text; binary and raw bodies are left alone.

        In a multipart body (a UCWA batch), each part's header lines are redacted as headers are.
        """
        if message.raw:
            return message.body
        try:
            text = self.text(message.body.decode("utf-8"))
        except UnicodeDecodeError:
            return message.body
        if "multipart" in message.content_type.lower():
            text = _PART_HEADER.sub(lambda m: m.group(1) + m.group(2) + self._header(m.group(1), m.group(3)), text)
        return text.encode("utf-8")

    def request(self, request: Request) -> Request:
        """A redacted copy of a request."""
        return dataclasses.replace(request, url=self.text(request.url), headers=self.headers(request.headers),
                                   body=self.body(request))

    def response(self, response: Response) -> Response:
        """A redacted copy of a response."""
        return dataclasses.replace(response, headers=self.headers(response.headers), body=self.body(response))

    def interaction(self, interaction: Interaction) -> Interaction:
        """A redacted copy of an interaction."""
        return dataclasses.replace(interaction, request=self.request(interaction.request),
                                   response=self.response(interaction.response))
