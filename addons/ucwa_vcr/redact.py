"""Redaction of secrets in recorded exchanges, on copies, before anything reaches disk.

A `Redactor` gives every distinct secret a numbered placeholder (`REDACTED-3`) that keeps the value's
shape (`cwt=REDACTED-3`, `cwt_ucwa=REDACTED-4`), and reuses it wherever the same secret appears, in any
encoding, so a replayed session still hangs together. With `canonical=True` every secret and every
placeholder becomes plain `REDACTED`: that is how incoming requests are compared with recorded ones (a
live password matches its placeholder).

What is searched: the URL, every header value, and every body that is text. A body is decoded with the
charset its Content-Type declares (any text codec Python knows; UTF-16/32 with or without a BOM), else
by its BOM, else as UTF-8; it is redacted and encoded back in that charset, and a body with nothing to
redact comes back byte for byte. A body that does not decode (or declares an unknown charset, or is not
UTF-8 and declares none) is still searched as ISO-8859-1, byte by byte: that finds every secret delimited
by ASCII in an ASCII-compatible charset, but `unscanned()` names such a body so that nobody relies on it.
Multipart bodies (UCWA batches) are searched whole; their parts' header lines are redacted as headers.

What is redacted, whole, wherever it stands:
- Tokens `cwt=…` and `cwt_ucwa=…` and JWTs (`eyJ….….…`). A token's `/ + =` (and the `=` after `cwt`) may
  be plain, URL-encoded once or twice in any case (`%2F`, `%2b`, `%253D`) or JSON-escaped (`\\/`, `\\u002b`).
- Secret fields (`DEFAULT_FIELDS` plus configured extras, any case) in forms and queries (`name=value`, and
  `name%3Dvalue` in a form nested in a URL), JSON and JS objects (`"name": "value"`, `'name': 'value'`,
  escapes included, and one level of JSON inside a JSON string), XML (`<property name="name">` with either
  quote and any spacing, `<name>…</name>` elements with or without a prefix, CDATA), attributes and
  parameters `name="value"` / `name='value'`, and HTML form posts (`<input name="name" value="…">`).
  `FORM_ONLY_FIELDS` (OAuth's `code`) only in forms, queries and form posts: `code` is an ordinary key of
  UCWA error bodies (`{"code":"Conflict"}`, `<code>Conflict</code>`).
- Authorization and Proxy-Authorization credentials, cookie values (Cookie, Set-Cookie), configured
  headers, and the same headers inside multipart parts.

Not searched: bodies kept as sent because their Content-Encoding did not decode (`raw`), and bodies of
binary media types (image/*, audio/*, video/*, font/*, octet-stream, zip, gzip, pdf) that are not UTF-8.
Not redacted: a secret under a name that is no secret field (a password in `"note"`, `username`), JSON
numbers (`"password": 1234`), keys written with escapes (`"pass\\u0077ord"`), JSON nested deeper than one
string, secrets inside base64 or other encodings of a whole value (`Basic` credentials are redacted whole),
and the parts of a batch in a charset that is not ASCII-compatible (UTF-16; `unscanned()` says so).
"""

from __future__ import annotations

import codecs
import dataclasses
import functools
import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

from .cassette.model import Cassette, Headers, Interaction, Message, Request, Response
from .scan import sub_near

PLACEHOLDER = "REDACTED"
# A placeholder number this long was never written by a redactor (numbering starts at 1 per cassette);
# int() of thousands of digits even raises, so such numbers are ignored when numbering continues.
MAX_PLACEHOLDER_DIGITS = 18
_NUMBERED = re.compile(r"REDACTED-(\d+)")

# The characters a base64 token holds beyond letters and digits (`/ + =`), as they are written when the
# token sits in a URL (once or twice encoded, any case) or in a JSON string (`\/`, `\u002b`).
_B64_ESCAPED = r"%(?:25)*(?:2[bBfF]|3[dD])|\\+/|\\+u00(?:2[bBfF]|3[dD])"
_EQUALS = r"(?:=|%(?:25)*3[dD]|\\+u003[dD])"
_TOKEN_PREFIX = rf"(?i:cwt(?:_ucwa)?){_EQUALS}"
# UCWA bearer tokens and the cwt_ucwa cookie, and JWTs of Azure AD flows.
# (Dots belong to a token only before more of it: `cwt=REDACTED-1.` ends a sentence, `cwt=PHNh...uZm8` is one token.)
_CWT = re.compile(rf"({_TOKEN_PREFIX})((?:[A-Za-z0-9_+/=-]|\.+(?=[A-Za-z0-9_+/-])|{_B64_ESCAPED})+)")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
# The password of a URL's user information: https://user:password@host/ (also JSON-escaped slashes).
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*:(?:\\?/){2}[^/\\\s:@\"'<>]+:)([^/\\\s@\"'<>]+)(?=@)")
_IS_PLACEHOLDER = re.compile(rf"(?:{_TOKEN_PREFIX})?REDACTED(?:-\d+)?")
# A header line inside a multipart body (UCWA batch parts carry their own headers).
_PART_HEADER = re.compile(r"^([A-Za-z0-9!#$%&'*+.^_`|~-]+)([ \t]*:[ \t]*)([^\r\n]*)", re.MULTILINE)
_CHARSET = re.compile(r"""(?:^|;)\s*charset\s*=\s*["']?([^"';\s]+)""", re.IGNORECASE)
_JSON_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|(.))", re.DOTALL)
_JSON_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}

# Headers whose whole credential part is secret; cookies keep their names, only values go.
AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})
DEFAULT_FIELDS = frozenset({"password", "ms_rtc_renew", "access_token", "id_token", "refresh_token", "client_secret",
                            "assertion"})
FORM_ONLY_FIELDS = frozenset({"code"})

_BINARY_PREFIXES = ("image/", "audio/", "video/", "font/", "model/")
_BINARY_TYPES = frozenset({"application/octet-stream", "application/pdf", "application/zip", "application/gzip",
                           "application/x-gzip", "application/x-tar", "application/x-7z-compressed"})
# Python codecs that are no charset of an HTTP body (they turn escapes or DNS labels into text).
_NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape", "undefined", "idna", "punycode"})


@dataclass(frozen=True)
class RedactionRules:
    """Which header and field names hold secrets, beyond what is always redacted."""

    headers: frozenset[str] = frozenset()
    fields: frozenset[str] = DEFAULT_FIELDS  # secret in forms, queries, JSON, XML and attributes
    form_fields: frozenset[str] = FORM_ONLY_FIELDS  # secret in forms, queries and form posts only

    @classmethod
    def with_extra(cls, headers: Iterable[str] = (), fields: Iterable[str] = ()) -> RedactionRules:
        """The default rules plus extra header and field (form, query, JSON, XML) names."""
        return cls(frozenset(h.strip().lower() for h in headers if h.strip()),
                   DEFAULT_FIELDS | {f.strip() for f in fields if f.strip()})


def is_placeholder(value: str) -> bool:
    """Whether a value is already a placeholder (redaction is idempotent)."""
    return bool(_IS_PLACEHOLDER.fullmatch(value))


def highest_placeholder(cassette: Cassette) -> int:
    """The largest placeholder number used in a cassette, so new ones do not collide.

    Numbers longer than MAX_PLACEHOLDER_DIGITS are no redactor's: they are ignored.
    """
    highest = 0
    for i in cassette.interactions:
        for part in (i.request, i.response):
            texts = [v for _, v in part.headers] + [body_text(part) or part.body.decode("latin-1")]
            if isinstance(part, Request):
                texts.append(part.url)
            for text in texts:
                for m in _NUMBERED.finditer(text):
                    if len(m.group(1)) <= MAX_PLACEHOLDER_DIGITS:
                        highest = max(highest, int(m.group(1)))
    return highest


# -- bodies: which text a body holds, in which charset ------------------------------------------------

@dataclass(frozen=True)
class _Decoded:
    text: str | None  # None: the body is not searched at all
    codec: str = "utf-8"  # how `text` goes back to bytes
    reason: str | None = None  # why the search is not to be relied on (see unscanned)


@functools.lru_cache(maxsize=64)
def _codec(charset: str) -> str | None:
    """Python's name for a text charset, or None when Python has no such text codec."""
    try:
        info = codecs.lookup(charset)
    except (LookupError, UnicodeError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None
    return info.name


@functools.lru_cache(maxsize=64)
def _ascii_compatible(codec: str) -> bool:
    """Whether ASCII text is the same bytes in this codec (then searching its bytes as ISO-8859-1 is sound)."""
    sample = "Content-Type: a=\"b\"&c='d'<e>\r\n"
    try:
        return sample.encode(codec) == sample.encode("ascii")
    except UnicodeError:
        return False


def _printable(name: str) -> str:
    # a header decoded with surrogateescape may hold lone surrogates, which no terminal prints
    return name.encode("ascii", "backslashreplace").decode("ascii")


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def _is_binary(media_type: str) -> bool:
    if "+xml" in media_type or "+json" in media_type:  # image/svg+xml is text
        return False
    return media_type.startswith(_BINARY_PREFIXES) or media_type in _BINARY_TYPES


def _declared_charset(content_type: str) -> str | None:
    m = _CHARSET.search(content_type)
    return m.group(1) if m else None


def _wide_codec(codec: str, body: bytes) -> str:
    """UTF-16/32 with an explicit byte order, so that re-encoding writes the BOM (kept as text) and order found."""
    size = 2 if codec == "utf-16" else 4
    for bom, order in ((codecs.BOM_UTF32_LE, "le"), (codecs.BOM_UTF32_BE, "be"), (codecs.BOM_UTF16_LE, "le"),
                       (codecs.BOM_UTF16_BE, "be")):
        if len(bom) == size and body.startswith(bom):
            return f"{codec}-{order}"
    # no BOM: ASCII-heavy text has its zero bytes last in little-endian order
    return f"{codec}-le" if body[size - 1::size].count(0) > body[0::size].count(0) else f"{codec}-be"


def _by_bom(body: bytes) -> str | None:
    if body.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _decode(message: Message) -> _Decoded:
    """The text of a message's body as it is searched, the codec to write it back, and any reason to warn."""
    body, ctype = message.body, message.content_type
    if message.raw:
        return _Decoded(None, reason=None if _is_binary(_media_type(ctype)) else
                        "body kept as sent: its Content-Encoding did not decode")
    if not body:
        return _Decoded("")
    declared = _declared_charset(ctype)
    codec = _codec(declared) if declared else _by_bom(body) or "utf-8"
    if codec in ("utf-16", "utf-32"):
        codec = _wide_codec(codec, body)
    elif codec == "utf-8-sig":
        codec = "utf-8"  # keep a BOM as a character: it is written back where it was
    if codec is not None:
        try:
            text = body.decode(codec)
        except UnicodeDecodeError:
            pass
        else:
            return _Decoded(text, codec, _part_charset_problem(message, text))
    if _is_binary(_media_type(ctype)):
        return _Decoded(None)
    reason: str | None
    if declared is None:
        reason = "body is not UTF-8 and declares no charset"
        if "multipart" in ctype.lower():  # the parts say their charsets; ISO-8859-1 reads them all
            reason = _part_charset_problem(message, body.decode("latin-1"))
    elif codec is None:
        reason = f"unknown charset {_printable(declared)}"
    else:
        reason = f"body does not decode as its declared charset {_printable(declared)}"
    return _Decoded(body.decode("latin-1"), "latin-1", reason)


def _part_charset_problem(message: Message, text: str) -> str | None:
    """In a multipart body, a part whose declared charset is not read correctly by searching the whole."""
    if "multipart" not in message.content_type.lower() or "charset" not in text.lower():
        return None
    for m in _PART_HEADER.finditer(text):
        charset = _declared_charset(m.group(3)) if m.group(1).lower() == "content-type" else None
        if charset is None:
            continue
        codec = _codec(charset)
        if codec is None:
            return f"unknown charset {_printable(charset)} in a multipart part"
        if not _ascii_compatible(codec):
            return f"a multipart part in charset {_printable(charset)} is not searched"
    return None


def body_text(message: Message) -> str | None:
    """A message's body as the redactor searches it (decoded with its charset), or None when it is not searched."""
    return _decode(message).text


def unscanned(message: Message) -> str | None:
    """Why a body that could hold text was not (reliably) searched for secrets, in a few words; else None.

    None for empty bodies, bodies decoded as their Content-Type says (a declared charset, else a BOM, else
    UTF-8) and binary media types (image/*, audio/*, video/*, font/*, octet-stream, zip, gzip, pdf) that
    are not UTF-8. A reason for a body kept as sent (Content-Encoding did not decode), a declared charset
    that is unknown or does not decode the body, a text body that is not UTF-8 and declares no charset,
    and a multipart part whose declared charset is unknown or not ASCII-compatible (UTF-16 in a batch).
    Text without its declared charset is still searched byte by byte as ISO-8859-1.
    """
    return _decode(message).reason


# -- the patterns for a set of field names, compiled once per set ------------------------------------

def _secret_key(value: str) -> str:
    """The secret a matched value stands for, whatever its encoding: one secret, one placeholder."""
    if "\\" in value:
        value = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)) if m.group(1)
                                 else _JSON_SIMPLE.get(m.group(2), m.group(2)), value)
    for _ in range(3):  # a URL in a URL is encoded twice
        if "%" not in value:
            break
        value = unquote(value)
    return value


def _form_key(value: str) -> str:
    return _secret_key(unquote_plus(value) if "\\" not in value else value)


def _markup_key(value: str) -> str:
    if value.startswith("<![CDATA["):
        return value[9:-3]
    return html.unescape(value)


@dataclass(frozen=True)
class _Patterns:
    """The field patterns for one set of names, with the lower-cased names that announce them."""

    names: tuple[str, ...]  # secret in every encoding
    form_names: tuple[str, ...]  # secret in forms, queries and form posts
    form: re.Pattern[str]
    form_post: re.Pattern[str]
    keyed: re.Pattern[str]
    nested_json: re.Pattern[str]
    attribute: re.Pattern[str]
    xml_property: re.Pattern[str]
    xml_element: re.Pattern[str]


@functools.lru_cache(maxsize=32)
def _patterns(fields: frozenset[str], form_fields: frozenset[str]) -> _Patterns:
    names = "|".join(re.escape(f) for f in sorted(fields))
    form = "|".join(re.escape(f) for f in sorted(fields | form_fields))
    value = r"(?:(?!(?P=q))[^\\\r\n]|\\.)+"  # up to the closing quote, escapes included
    return _Patterns(
        names=tuple(sorted({f.lower() for f in fields})),
        form_names=tuple(sorted({f.lower() for f in form_fields})),
        # `name=value`, also after an encoded `&` (`%26`, `\u0026`); after `%3D` (a form nested in a URL)
        # an encoded `&` ends the value too
        form=re.compile(rf"(?:(?<![A-Za-z0-9_])|(?<=%[0-9A-Fa-f]{{2}})|(?<=\\u00[0-9a-fA-F]{{2}}))"
                        rf"(?i:{form})(?:(=)|%(?:25)*3[dD])"
                        rf"(?P<v>(?:[^&\s\"'<>#%\\]|(?(1)%|%(?!26))|\\+/|\\+u00(?:2[bBfF]|3[dD]))+)"),
        form_post=re.compile(rf"<input\b(?=[^>]*?\bname\s*=\s*([\"']?)(?i:{form})\1[\s/>])[^>]*?\bvalue\s*=\s*"
                             rf"(?P<q>[\"'])(?P<v>(?:(?!(?P=q)).)+)(?P=q)", re.IGNORECASE),
        keyed=re.compile(rf"([\"'])(?i:{names})\1\s*:\s*(?P<q>[\"'])(?P<v>{value})(?P=q)"),
        nested_json=re.compile(rf'\\"(?i:{names})\\"\s*:\s*\\"(?P<v>(?:[^"\\]|\\[^"\\]|\\\\(?:[^"\\]|\\.))+)\\"'),
        attribute=re.compile(rf"(?<![\w:.-])(?i:{names})\s*=\s*(?P<q>[\"'])(?P<v>{value})(?P=q)"),
        xml_property=re.compile(rf"<(?:[\w.-]+:)?property\b[^>]*?\bname\s*=\s*([\"'])(?i:{names})\1[^>]*(?<!/)>"
                                rf"(?P<v>(?:<!\[CDATA\[.*?\]\]>|[^<])+)(?=</)", re.IGNORECASE | re.DOTALL),
        xml_element=re.compile(rf"<(?:[\w.-]+:)?(?i:{names})(?:\s[^>]*)?(?<!/)>"
                               rf"(?P<v>(?:<!\[CDATA\[.*?\]\]>|[^<])+)(?=</)", re.DOTALL),
    )


def _sub_near(text: str, low: str, needles: Iterable[str], back: int, pattern: re.Pattern[str],
              replace: Callable[[re.Match[str]], str]) -> tuple[str, str]:
    """scan.sub_near's result and that result lower-cased (`low` itself when nothing changed)."""
    new = sub_near(text, low, needles, back, pattern, replace)
    return new, (low if new is text else new.lower())


class Redactor:
    """Replaces secrets with placeholders, the same secret with the same placeholder."""

    def __init__(self, rules: RedactionRules = RedactionRules(), start: int = 1, canonical: bool = False) -> None:
        self.rules = rules
        self.canonical = canonical
        self._next = start
        self._seen: dict[str, str] = {}
        self._patterns = _patterns(rules.fields, rules.form_fields)
        # the substitution callbacks, made once: text() runs on every live request
        self._form_value = self._field(_form_key)
        self._markup_value = self._field(_markup_key)
        self._json_value = self._field(_secret_key)
        self._nested_json_value = self._field(lambda v: _secret_key(_secret_key(v)))

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
        if is_placeholder(m.group(2)) and not self.canonical:
            return m.group(0)
        return m.group(1) + self.placeholder(_secret_key(m.group(2)))

    def _jwt(self, m: re.Match[str]) -> str:
        return self.placeholder(m.group(0))

    def _field(self, key: Callable[[str], str]) -> Callable[[re.Match[str]], str]:
        def replace(m: re.Match[str]) -> str:
            value = m.group("v")
            if is_placeholder(value) and not self.canonical:  # as it is encoded: redaction is idempotent
                return m.group(0)
            start, end = m.start("v") - m.start(), m.end("v") - m.start()
            return m.group(0)[:start] + self.placeholder(key(value)) + m.group(0)[end:]
        return replace

    def _url_password(self, m: re.Match[str]) -> str:
        return m.group(1) + self.placeholder(m.group(2))

    def text(self, text: str) -> str:
        """Redact tokens, JWTs and secret fields (form, query, JSON, XML, attributes) wherever they stand in text."""
        low = text.lower()  # cheap tests first: the matcher runs this on every live request
        if "cwt" in low:
            text, low = _sub_near(text, low, ("cwt",), 0, _CWT, self._token)
        if "eyJ" in text and (new := _JWT.sub(self._jwt, text)) != text:
            text, low = new, new.lower()
        if "@" in text and (new := _URL_PASSWORD.sub(self._url_password, text)) != text:
            text, low = new, new.lower()
        p = self._patterns
        everywhere = [name for name in p.names if name in low]
        form_only = [name for name in p.form_names if name in low]
        if everywhere or form_only:
            text, low = _sub_near(text, low, everywhere + form_only, 0, p.form, self._form_value)
            if "<input" in low and (new := p.form_post.sub(self._markup_value, text)) != text:
                text, low = new, new.lower()
        if not everywhere:
            return text
        text, low = _sub_near(text, low, everywhere, 1, p.keyed, self._json_value)
        if '\\"' in text:
            text, low = _sub_near(text, low, everywhere, 2, p.nested_json, self._nested_json_value)
        text, low = _sub_near(text, low, everywhere, 0, p.attribute, self._markup_value)
        if "<" in text:  # these patterns start with a literal `<`: the regex engine finds them fast
            text = p.xml_property.sub(self._markup_value, text)
            text = p.xml_element.sub(self._markup_value, text)
        return text

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
        """A message's body with its secrets redacted, in its own charset; bodies that are not searched are left alone.

        In a multipart body (a UCWA batch), each part's header lines are redacted as headers are. A body
        with nothing to redact is returned as it was, byte for byte.
        """
        decoded = _decode(message)
        if not decoded.text:
            return message.body
        text = decoded.text
        if "multipart" in message.content_type.lower():  # headers first: their secrets numbered as they come
            text = _PART_HEADER.sub(lambda m: m.group(1) + m.group(2) + self._header(m.group(1), m.group(3)), text)
        text = self.text(text)
        if text == decoded.text:
            return message.body
        try:
            return text.encode(decoded.codec)
        except UnicodeEncodeError:  # cannot happen for a text that decoded, but a secret must never stay
            return text.encode(decoded.codec, "replace")

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
