"""Properties of redaction that a table cannot enumerate: a random secret (a `cwt=` token with `/ + =`, a JWT, a
password with punctuation and non-ASCII), placed at a random position of a request (URL query or fragment, a
header, a form, JSON or XML body, a batch part's header) and written in a random encoding (URL-encoded in either
hex case, once or twice, JSON-escaped as UCWA or .NET write it, XML-escaped or CDATA) and charset (UTF-8,
ISO-8859-1, windows-1252, UTF-16), never survives: not even 8 characters of it. What the redactor writes is
redacted already (a second pass changes nothing) and lint sees no partial redaction in it. And a body with
nothing to redact comes back byte for byte, whatever its charset.

Bounded and derandomized, so CI runs the same examples every time.
"""

from __future__ import annotations

import base64
import json
import string
from collections.abc import Callable
from html import escape
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_redact import lower_hex, survivors
from ucwa_vcr.cassette.model import Request
from ucwa_vcr.redact import DEFAULT_FIELDS, FORM_ONLY_FIELDS, Redactor, unscanned
from ucwa_vcr.tools.lint import residue

BOUNDED = settings(max_examples=300, derandomize=True, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

HOST = "https://lyncweb.contoso.com/ucwa/oauth/v1/applications/103"
NON_ASCII = "äöüßéèçñÆøå€£¥©µ§°±½жЖ漢字日本😀"
CHARSETS = ["utf-8", "iso-8859-1", "cp1252", "utf-16", "utf-16-be"]
FORM_FIELDS = sorted(DEFAULT_FIELDS | FORM_ONLY_FIELDS)
# stand-ins of the same kind, to tell the message's own text from what is left of a secret
DUMMIES = {"token": "cwt=AAEBdummy+dummy/dummy=", "jwt": "eyJkdW1teQ.eyJkdW1teQ.ZHVtbXk", "password": "dummy-password"}

Build = Callable[[str], tuple[Request, str]]  # a secret -> the request holding it, and what of it to look for
Place = Callable[[st.DataObject, str], list[Build]]


@st.composite
def canary_tokens(draw: st.DrawFn) -> str:
    alphabet, specials = draw(st.sampled_from([(string.ascii_letters + string.digits, "/+"),
                                               (string.ascii_letters + string.digits, "-_")]))
    chars = draw(st.lists(st.sampled_from(alphabet), min_size=24, max_size=80))
    for char in draw(st.lists(st.sampled_from(specials), min_size=1, max_size=5)):  # the characters encodings change
        chars.insert(draw(st.integers(0, len(chars))), char)
    return "cwt=AAEB" + "".join(chars) + draw(st.sampled_from(["", "=", "=="]))


@st.composite
def canary_jwts(draw: st.DrawFn) -> str:
    def segment(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    header, payload, signature = (draw(st.binary(min_size=6, max_size=48)) for _ in range(3))
    return "eyJ" + segment(header) + "." + segment(payload) + "." + segment(signature)


canary_passwords = st.text(alphabet=string.ascii_letters + string.digits + string.punctuation + " " + NON_ASCII,
                           min_size=8, max_size=24)
SECRETS = {"token": canary_tokens(), "jwt": canary_jwts(), "password": canary_passwords}


def _encoder(plus: bool, lower: bool) -> Callable[[str, str], str]:
    def encode(value: str, charset: str = "utf-8") -> str:
        encoded = quote_plus(value, encoding=charset) if plus else quote(value, safe="", encoding=charset)
        return lower_hex(encoded) if lower else encoded
    return encode


# `+` or `%20` for a space, upper- or lower-case hex
ENCODERS = [_encoder(plus, lower) for plus in (False, True) for lower in (False, True)]


def _encodable(charset: str, *texts: str) -> bool:
    try:
        for text in texts:
            text.encode(charset)
    except UnicodeEncodeError:
        return False
    return True


def _field_name(data: st.DataObject, kind: str, names: list[str]) -> str:
    # a password is a secret under a secret field's name only; a token under any name, and mostly under one
    # that is no secret field's, where nothing but the token rule stands between it and the disk
    if kind == "password":
        return data.draw(st.sampled_from(names))
    return data.draw(st.sampled_from(["t", "note"])) if data.draw(st.integers(0, 3)) else data.draw(st.sampled_from(names))


# Each place draws where in the message the secret goes and gives one builder per way of writing it there: every
# example tries all of them, as drawing them too would leave most combinations untried in a few hundred examples.

def in_url(data: st.DataObject, kind: str) -> list[Build]:
    name = _field_name(data, kind, FORM_FIELDS)
    before, after = data.draw(st.lists(st.sampled_from(["a=1", "state=xyz", "ack=3"]), max_size=2)), ["b=2"]
    fragment = data.draw(st.booleans())

    def url(encode: Callable[[str, str], str], nested: bool) -> Build:
        def build(secret: str) -> tuple[Request, str]:
            pair = f"{name}={encode(secret, 'utf-8')}"
            if nested:  # a URL in a URL: the field's `=` and `&` are encoded too
                pair = "next=" + quote(f"https://x/cb?state=1&{pair}&s=2", safe="")
            query = "&".join([*before, pair, *after])
            return Request(url=f"{HOST}/x{'#' if fragment else '?'}{query}"), secret
        return build
    return [url(encode, nested) for encode in ENCODERS for nested in (False, True)]


def in_header(data: st.DataObject, kind: str) -> list[Build]:
    odd = [("X-Odd", "\udcff\udcfe ok")] if data.draw(st.booleans()) else []  # surrogateescape'd header bytes

    def header(shape: str) -> Build:
        def build(secret: str) -> tuple[Request, str]:
            if shape == "basic":
                credentials = base64.b64encode(f"jd:{secret}".encode()).decode()
                return Request(url=f"{HOST}/x", headers=[*odd, ("Authorization", f"Basic {credentials}")]), credentials
            value = {"bearer": ("Authorization", f"Bearer {secret}"), "trace": ("X-Trace", f"got {secret} from"),
                     "cookie": ("Cookie", f"a=b; cwt_ucwa={secret.removeprefix('cwt=')}; c=d")}[shape]
            return Request(url=f"{HOST}/x", headers=[*odd, value]), secret.removeprefix("cwt=")
        return build
    return [header(shape) for shape in (["bearer", "cookie", "trace", "basic"] if kind != "password" else ["basic"])]


def _body(content_type: str, text: str, charset: str) -> Request:
    declared = "" if charset == "utf-8" else f"; charset={charset}"
    return Request(method="POST", url=f"{HOST}/x", headers=[("Content-Type", content_type + declared)],
                   body=text.encode(charset))


def in_form(data: st.DataObject, kind: str) -> list[Build]:
    name = _field_name(data, kind, FORM_FIELDS)
    charset = data.draw(st.sampled_from(CHARSETS))
    filler = ["grant_type=password", "username=" + data.draw(st.sampled_from(["jd", "jörg", "zoë"]))]
    position = data.draw(st.integers(0, len(filler)))

    def form(encode: Callable[[str, str], str]) -> Build:
        def build(secret: str) -> tuple[Request, str]:
            bytes_of = "latin-1" if charset != "utf-8" and _encodable("latin-1", secret) else "utf-8"
            text = "&".join([*filler[:position], f"{name}={encode(secret, bytes_of)}", *filler[position:]])
            return _body("application/x-www-form-urlencoded", text, charset if _encodable(charset, text) else "utf-8"), \
                secret
        return build
    return [form(encode) for encode in ENCODERS]


def in_json(data: st.DataObject, kind: str) -> list[Build]:
    name = _field_name(data, kind, sorted(DEFAULT_FIELDS))
    charset, indent = data.draw(st.sampled_from(CHARSETS)), data.draw(st.sampled_from([None, 1]))

    def document(escapes: str, ascii_only: bool) -> Build:
        def build(secret: str) -> tuple[Request, str]:
            value = secret if kind == "password" or name not in ("t", "note") else f"Bearer {secret}"
            doc = {"subject": "Café ☕", name: value, "code": "Conflict", "expirationTime": "/Date(1436925247778)/"}
            text = json.dumps(doc, ensure_ascii=ascii_only, indent=indent)
            if escapes == "nested":  # a JSON document in a JSON string
                text = json.dumps({"body": text}, ensure_ascii=ascii_only)
            if escapes in ("ucwa", "dotnet"):
                text = text.replace("/", "\\/")
            if escapes == "dotnet":
                text = (text.replace("+", "\\u002B").replace("=", "\\u003d").replace("&", "\\u0026")
                        .replace("'", "\\u0027"))
            return _body("application/json", text, charset if _encodable(charset, text) else "utf-8"), \
                secret.removeprefix("cwt=")
        return build
    return [document(escapes, ascii_only) for escapes in ("none", "ucwa", "dotnet", "nested")
            for ascii_only in (True, False)]


def in_xml(data: st.DataObject, kind: str) -> list[Build]:
    name = _field_name(data, kind, sorted(DEFAULT_FIELDS))
    charset, space = data.draw(st.sampled_from(CHARSETS)), data.draw(st.sampled_from(["", " ", "  ", "\n "]))

    def document(quote_mark: str, cdata: bool) -> Build:
        def build(secret: str) -> tuple[Request, str]:
            value = secret if kind == "password" or name not in ("t", "note") else f"Bearer {secret}"
            inner = f"<![CDATA[{value}]]>" if cdata and "]]>" not in value else escape(value, quote=False)
            text = ('<input xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa"><property name="subject">Café'
                    f"</property><property{space} name{space}={space}{quote_mark}{name}{quote_mark}{space}>{inner}"
                    "</property></input>")
            return _body("application/xml", text, charset if _encodable(charset, text) else "utf-8"), \
                secret.removeprefix("cwt=")
        return build
    return [document(quote_mark, cdata) for quote_mark in "\"'" for cdata in (False, True)]


def in_batch_part(data: st.DataObject, kind: str) -> list[Build]:
    position, boundary = data.draw(st.integers(0, 2)), "77f2569d-c005-442b-b856-782305305e5f"

    def part(line: str) -> str:
        return (f"--{boundary}\r\nContent-Type: application/http; msgtype=request\r\n\r\n"
                f"GET /ucwa/oauth/v1/applications/103/people/contacts HTTP/1.1\r\nHost: lyncweb.contoso.com\r\n{line}\r\n\r\n")

    def batch(header: str) -> Build:
        def build(secret: str) -> tuple[Request, str]:
            if kind == "password":
                secret = base64.b64encode(f"jd:{secret}".encode()).decode()
            line = {"bearer": f"Authorization: {'Basic' if kind == 'password' else 'Bearer'} {secret}",
                    "cookie": f"Cookie: cwt_ucwa={secret.removeprefix('cwt=')}"}[header]
            parts = [part("Accept: application/json")] * 2
            parts.insert(position, part(line))
            text = "".join(parts) + f"--{boundary}--\r\n"
            return _body(f"multipart/batching;boundary={boundary}", text, "utf-8"), secret.removeprefix("cwt=")
        return build
    return [batch(header) for header in (["bearer", "cookie"] if kind == "token" else ["bearer"])]


PLACES = [in_url, in_header, in_form, in_json, in_xml, in_batch_part]


def _outputs(request: Request) -> list[str]:
    charset = request.content_type.partition("charset=")[2] or "utf-8"
    return [request.url, *(v for _, v in request.headers), request.body.decode(charset)]


@pytest.mark.parametrize("place", PLACES, ids=[place.__name__ for place in PLACES])
@BOUNDED
@given(data=st.data())
def test_no_part_of_a_secret_survives_wherever_and_however_it_is_written(place, data):
    kind = data.draw(st.sampled_from(sorted(SECRETS)))
    secret = data.draw(SECRETS[kind], label="secret")
    for build in place(data, kind):
        request, looked_for = build(secret)
        assert unscanned(request) is None
        clean = Redactor().request(request)
        context = "\n".join(_outputs(Redactor().request(build(DUMMIES[kind])[0])))
        outputs = _outputs(clean)
        assert survivors(looked_for, *outputs, context=context) == [], request
        assert Redactor().request(clean) == clean, "what the redactor writes lints clean: nothing left to redact"
        assert [residue(out) for out in outputs] == [None] * len(outputs)


@BOUNDED
@given(text=st.text(alphabet=string.ascii_letters + string.digits + " ,;:!?-_/+\"'\\&" + NON_ASCII, max_size=120),
       charset=st.sampled_from([*CHARSETS, "utf-32", "shift_jis", "koi8-r"]),
       media=st.sampled_from(["application/json", "application/xml", "text/plain", "application/x-www-form-urlencoded",
                              "multipart/batching;boundary=b"]))
def test_a_body_with_nothing_to_redact_comes_back_byte_for_byte(text, charset, media):
    body = json.dumps({"subject": text, "code": "Conflict"}, ensure_ascii=False).encode(charset, "replace")
    message = Request(method="POST", url=f"{HOST}/x", headers=[("Content-Type", f"{media}; charset={charset}")],
                      body=body)
    assert Redactor().body(message) == body
