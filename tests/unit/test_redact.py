"""Redaction: every place UCWA puts a secret, in every encoding, whole; consistent placeholders, idempotence,
charsets, the canonical matching form, and what `unscanned()` says about bodies that are not searched.

`survivors()` is the yardstick here and in test_redact_property.py: no run of 8 characters of a secret, in any
of the ways it is written (plain, URL-encoded in either hex case or twice, form-encoded, JSON-escaped, XML-escaped),
may be left in what the redactor gives back.
"""

from __future__ import annotations

import html
import json
import re
from urllib.parse import quote, quote_plus

import pytest
from ucwa_vcr.cassette.model import Cassette, Interaction, Request, Response
from ucwa_vcr.redact import (
    DEFAULT_FIELDS,
    MAX_PLACEHOLDER_DIGITS,
    RedactionRules,
    Redactor,
    body_text,
    highest_placeholder,
    is_placeholder,
    unscanned,
)

TOKEN = "cwt=AAEBHAAAbGl2ZS5jb20AAAAAAAAAAAAsecretTOKEN_-123"
# planted secrets: a token with every base64 character a URL or JSON encodes, a password with punctuation
# and non-ASCII, an OAuth authorization code and a JWT
canary_token = "cwt=AAEBenJCAnpI/canaryTOKEN+enJCAnpI/x9Zq+w=="
canary_password = "canary-p@ss/wörd&x=1 'é\"<>é;+%"
canary_code = "OAQABAAIAAAB-canaryCODE_9xYz"
canary_jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.Y2FuYXJ5LXNpZ25hdHVyZQ"


def lower_hex(text: str) -> str:
    """`%2F` written `%2f`, as some clients do."""
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def encodings(secret: str) -> set[str]:
    """The ways a secret is written in URLs, forms, JSON and XML."""
    forms = {secret, html.escape(secret), html.escape(secret, quote=False)}
    for charset in ("utf-8", "latin-1"):
        try:
            url = quote(secret, safe="", encoding=charset)
        except UnicodeEncodeError:
            continue
        forms |= {url, lower_hex(url), quote_plus(secret, encoding=charset), quote(url, safe="")}
    for ascii_only in (True, False):
        escaped = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        dotnet = escaped.replace("/", "\\/").replace("+", "\\u002b").replace("=", "\\u003d")
        upper = re.sub(r"\\u[0-9a-f]{4}", lambda m: "\\u" + m.group(0)[2:].upper(), dotnet)  # `\u002B`
        forms |= {escaped, escaped.replace("/", "\\/"), dotnet, upper, json.dumps(escaped)[1:-1]}
    return forms


def survivors(secret: str, *outputs: str, size: int = 8, context: str = "") -> list[str]:
    """Every run of `size` characters of any encoding of `secret` still found in an output (and not in `context`,
    the same message with another secret)."""
    found = set()
    for form in encodings(secret):
        runs = {form[i:i + size] for i in range(max(1, len(form) - size + 1))}
        found |= {run for run in runs if run not in context and any(run in out for out in outputs)}
    return sorted(found)


# -- every encoding: nothing of the secret survives ---------------------------------------------------

def _json_in_json(data: dict[str, str]) -> str:
    return json.dumps({"body": json.dumps(data)})


WHOLE = [
    # tokens, whatever the field around them
    ("bearer header value", f"Bearer {canary_token}", canary_token),
    ("query, URL-encoded", f"https://fe1/x?ms_rtc_renew={quote(canary_token, safe='')}&z=1", canary_token),
    ("query, URL-encoded in lower-case hex", f"https://fe1/x?t={lower_hex(quote(canary_token, safe=''))}&z=1",
     canary_token),
    ("query, URL-encoded twice", f"https://fe1/x?next={quote(quote(canary_token, safe=''), safe='')}", canary_token),
    ("URL fragment", f"https://x/cb#token={quote(canary_token, safe='')}&state=1", canary_token),
    ("form body", f"grant_type=password&ms_rtc_renew={quote_plus(canary_token)}", canary_token),
    ("JSON, token, escaped slashes", '{"authorization":"Bearer ' + canary_token.replace("/", "\\/") + '"}', canary_token),
    ("JSON, .NET escapes", '{"note":"' + canary_token.replace("/", "\\/").replace("+", "\\u002B")
     .replace("=", "\\u003d") + '"}', canary_token),
    ("JSON in a JSON string, token", _json_in_json({"authorization": "Bearer " + canary_token.replace("/", "\\/")}),
     canary_token),
    ("XML text", f'<property name="authorization">Bearer {canary_token}</property>', canary_token),
    ("cwt_ucwa cookie in JSON", '{"cookie":"cwt_ucwa=AAEBcanary/cookie+value==; path=/"}', "AAEBcanary/cookie+value=="),
    ("JWT in a fragment", f"https://x/cb#id_token={canary_jwt}&state=1", canary_jwt),
    ("JWT under any name", f'{{"x":"{canary_jwt}"}}', canary_jwt),
    # secret fields
    ("form, plus for space", f"grant_type=password&username=jd&password={quote_plus(canary_password)}&x=1",
     canary_password),
    ("form, lower-case hex", f"password={lower_hex(quote(canary_password, safe=''))}", canary_password),
    ("form, ISO-8859-1 percent-encoding", f"password={quote(canary_password, safe='', encoding='latin-1')}&a=b",
     canary_password),
    ("query", f"https://fe1/x?a=1&password={quote(canary_password, safe='')}#frag", canary_password),
    ("form in a JSON string", '{"form":"user=a\\u0026password=' + quote(canary_password, safe="") + '"}',
     canary_password),
    ("JSON", json.dumps({"subject": "x", "password": canary_password}), canary_password),
    ("JSON, non-ASCII as is", json.dumps({"password": canary_password}, ensure_ascii=False), canary_password),
    ("JSON, escaped slashes", json.dumps({"password": canary_password}).replace("/", "\\/"), canary_password),
    ("JSON, spaced", '{ "Password" :\n  ' + json.dumps(canary_password) + " }", canary_password),
    ("JS object, single quotes", "{'password': '" + canary_password.replace("'", "\\'") + "'}", canary_password),
    ("JSON in a JSON string", _json_in_json({"password": canary_password}), canary_password),
    ("XML property", f'<property name="password">{html.escape(canary_password)}</property>', canary_password),
    ("XML property, single quotes", f"<property name='password'>{html.escape(canary_password)}</property>",
     canary_password),
    ("XML property, spaced", f'<property  name = "password" >{html.escape(canary_password)}</property >',
     canary_password),
    ("XML property, prefixed, CDATA", f'<u:property xmlns:u="x" name="password"><![CDATA[{canary_password}]]>'
     "</u:property>", canary_password),
    ("XML element", f'<wsse:Password Type="PasswordText">{html.escape(canary_password)}</wsse:Password>',
     canary_password),
    ("attribute, double quotes", f'<login password="{html.escape(canary_password)}"/>', canary_password),
    ("attribute, single quotes", f"<login password='{html.escape(canary_password)}' user='jd'/>", canary_password),
    ("client_secret", f"grant_type=client_credentials&client_secret={quote(canary_password, safe='')}",
     canary_password),
    ("assertion", f"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={canary_code}",
     canary_code),
    ("refresh_token", json.dumps({"refresh_token": canary_code, "expires_in": 3600}), canary_code),
    ("access_token in XML", f"<property name='access_token'>{canary_code}</property>", canary_code),
    # OAuth codes: secret in forms, queries and form posts
    ("code in a query", f"https://x/cb?code={canary_code}&state=1", canary_code),
    ("code in a fragment", f"https://x/cb#state=1&code={canary_code}", canary_code),
    ("code in a form", f"grant_type=authorization_code&code={canary_code}&redirect_uri=https%3A%2F%2Fx", canary_code),
    ("code in a URL in a URL", "https://x/login?next=" + quote(f"https://x/cb?code={canary_code}&state=1", safe="")
     + "&y=2", canary_code),
    ("code in a URL in JSON", '{"url":"https:\\/\\/x\\/cb?code=' + canary_code + '\\u0026state=1"}', canary_code),
    ("code in a form post", f'<input type="hidden" name="code" value="{canary_code}"/>', canary_code),
    ("form post, value first", f"<INPUT value='{canary_code}' name='access_token'>", canary_code),
]


@pytest.mark.parametrize(("text", "secret"), [case[1:] for case in WHOLE], ids=[case[0] for case in WHOLE])
def test_the_whole_secret_goes_in_every_encoding(text, secret):
    clean = Redactor().text(text)
    assert survivors(secret.removeprefix("cwt="), clean) == []  # `cwt=` stays: placeholders keep a token's shape
    assert "REDACTED-1" in clean


def test_a_token_cut_at_an_encoded_slash_is_the_finding_of_issue_11():
    # what the old rule left on disk: `cwt%3DREDACTED-26%2FenJCAnpI...`
    url = f"https://fe1/x?ms_rtc_renew={quote(canary_token, safe='')}"
    assert Redactor().text(url) == "https://fe1/x?ms_rtc_renew=cwt%3DREDACTED-1"
    assert Redactor(start=27).text("x=cwt%3DREDACTED-26%2FenJCAnpI%2Bx%3D%3D&y=1") == "x=cwt%3DREDACTED-27&y=1", \
        "a partial redaction is repaired"


def test_a_form_in_a_url_ends_at_its_encoded_ampersand_and_a_plain_form_does_not():
    nested = "https://x/login?next=" + quote("https://x/cb?code=c0de&state=1", safe="") + "&y=2"
    assert Redactor().text(nested) == "https://x/login?next=https%3A%2F%2Fx%2Fcb%3Fcode%3DREDACTED-1%26state%3D1&y=2"
    assert Redactor().text("password=a%26b%3Dc&y=2") == "password=REDACTED-1&y=2", "`%26` in a plain form is data"


@pytest.mark.parametrize("text", [
    '{"code":"Conflict","subcode":"TooManyOnlineMeetings","message":"Too many meetings."}',
    '<reason xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa"><code>Conflict</code><subcode>None</subcode></reason>',
    "errorcode=5&subcode=3&barcode=x",
    '"expirationTime":"\\/Date(1436925247778)\\/"',
    '<property name="subject">password</property><property name="passwordHint">x</property>',
    "Unicode: the code is here, password policy applies",
    "cwt=REDACTED-1 cwt%3DREDACTED-2 cwt%253dREDACTED-3 cwt\\u003dREDACTED-4 cwt_ucwa=REDACTED-5",
    'password=REDACTED-6&code=REDACTED-7 {"password":"REDACTED-8"} <property name="password">REDACTED-9</property>',
])
def test_what_is_no_secret_or_already_a_placeholder_stays_as_it_is(text):
    assert Redactor().text(text) == text


@pytest.mark.parametrize(("text", "expected"), [
    (f"Bearer {TOKEN}", "Bearer cwt=REDACTED-1"),
    (f'{{"access_token":"{TOKEN}","expires_in":28364}}', '{"access_token":"cwt=REDACTED-1","expires_in":28364}'),
    ("grant_type=password&username=jd&password=hunter2xyz", "grant_type=password&username=jd&password=REDACTED-1"),
    ("grant_type=urn%3Amicrosoft.rtc%3Aanonmeeting&password=G03W98W4&ms_rtc_renew=cwt%3dAAEBxyz123",
     "grant_type=urn%3Amicrosoft.rtc%3Aanonmeeting&password=REDACTED-2&ms_rtc_renew=cwt%3dREDACTED-1"),
    ('{"id_token": "abc.def", "refresh_token":"r3fr3sh"}', '{"id_token": "REDACTED-1", "refresh_token":"REDACTED-2"}'),
    ('{"authorization":"Bearer ' + TOKEN + '"}', '{"authorization":"Bearer cwt=REDACTED-1"}'),
    ('{"form":"user=a&password=s3cr3t!"}', '{"form":"user=a&password=REDACTED-1"}'),
    ('<property name="password">s3cr3t</property>', '<property name="password">REDACTED-1</property>'),
    ("https://x/cb#access_token=eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl&state=1", "https://x/cb#access_token=REDACTED-1&state=1"),
    ("Authorization: Bearer " + TOKEN + "\r\nHost: x", "Authorization: Bearer cwt=REDACTED-1\r\nHost: x"),
    ('"expirationTime":"\\/Date(1436925247778)\\/"', '"expirationTime":"\\/Date(1436925247778)\\/"'),
    ("password=REDACTED-4&x=cwt=REDACTED-2", "password=REDACTED-4&x=cwt=REDACTED-2"),
])
def test_text(text, expected):
    assert Redactor().text(text) == expected


def test_one_secret_one_placeholder_whatever_its_encoding():
    r = Redactor()
    header = r.headers([("Authorization", f"Bearer {canary_token}")])[0][1]
    form = r.text(f"ms_rtc_renew={quote(canary_token, safe='')}")
    escaped = r.text('{"t":"' + canary_token.replace("/", "\\/") + '"}')
    assert (header, form, escaped) == ("Bearer cwt=REDACTED-1", "ms_rtc_renew=cwt%3DREDACTED-1", '{"t":"cwt=REDACTED-1"}')
    assert r.text(f"password={quote_plus(canary_password)}") == r.text(f"x&password={quote(canary_password, safe='')}")[2:]
    assert r.text(json.dumps({"password": canary_password})) == '{"password": "REDACTED-2"}'


def test_code_is_a_form_field_only_and_rules_can_say_otherwise():
    assert "code" not in DEFAULT_FIELDS
    assert Redactor().text('{"code":"Conflict"}&code=abc') == '{"code":"Conflict"}&code=REDACTED-1'
    everywhere = Redactor(RedactionRules(fields=DEFAULT_FIELDS | {"code"}, form_fields=frozenset()))
    assert everywhere.text('{"code":"Conflict"}') == '{"code":"REDACTED-1"}'


# -- headers ------------------------------------------------------------------------------------------

def test_headers_cookies_and_consistent_placeholders():
    r = Redactor(RedactionRules.with_extra(headers=["X-Api-Key"]))
    headers = r.headers([
        ("Authorization", f"Bearer {TOKEN}"),
        ("Set-Cookie", "cwt_ucwa=AAEBcookievalue; path=/ucwa/oauth/v1/applications/1/photos; secure; HttpOnly"),
        ("Cookie", "cwt_ucwa=AAEBcookievalue; other=abc"),
        ("Authorization", "Basic dXNlcjpwYXNz"),
        ("X-Api-Key", "k-123"),
        ("X-Trace", f"token {TOKEN}"),
    ])
    assert headers == [
        ("Authorization", "Bearer cwt=REDACTED-1"),
        ("Set-Cookie", "cwt_ucwa=REDACTED-2; path=/ucwa/oauth/v1/applications/1/photos; secure; HttpOnly"),
        ("Cookie", "cwt_ucwa=REDACTED-2; other=REDACTED-3"),
        ("Authorization", "Basic REDACTED-4"),
        ("X-Api-Key", "REDACTED-5"),
        ("X-Trace", "token cwt=REDACTED-1"),
    ]


def test_lone_surrogates_in_headers_and_urls_do_not_stop_redaction():
    # mitmproxy decodes header bytes that are not UTF-8 with surrogateescape
    r = Redactor()
    headers = r.headers([("Authorization", "Bearer \udcff\udcfecanary"), ("X-Trace", f"\udcc3 {canary_token}"),
                         ("Cookie", "a=\udcff1"), ("Content-Type", "application/json; charset=\udcff")])
    assert headers[:3] == [("Authorization", "Bearer REDACTED-1"), ("X-Trace", "\udcc3 cwt=REDACTED-2"),
                           ("Cookie", "a=REDACTED-3")]
    url = r.text(f"https://fe1/\udcff?password={quote(canary_password, safe='')}&code=\udcff{canary_code}\udcfe")
    assert url == "https://fe1/\udcff?password=REDACTED-4&code=REDACTED-5"
    odd = Request(headers=headers[3:], body=b'{"password":"x"}')
    assert r.body(odd) == b'{"password":"REDACTED-6"}'
    assert unscanned(odd) == "unknown charset \\udcff", "printable: a terminal cannot print a lone surrogate"


def test_extra_fields_and_numbering_continues():
    r = Redactor(RedactionRules.with_extra(fields=["conferenceKey"]), start=8)
    assert r.text('{"conferenceKey":"G03W"}&conferenceKey=G03W') == '{"conferenceKey":"REDACTED-8"}&conferenceKey=REDACTED-8'


def test_request_and_response_copies_are_redacted_originals_untouched():
    req = Request(method="POST", url=f"https://fe1/x?access_token={TOKEN[4:]}", headers=[("Authorization", f"Bearer {TOKEN}")],
                  body=b"password=abcdef")
    r = Redactor()
    clean = r.request(req)
    assert TOKEN[4:] not in clean.url and clean.body == b"password=REDACTED-2"
    assert req.body == b"password=abcdef"
    resp = r.response(Response(headers=[("Content-Type", "application/json")], body=f'{{"t":"{TOKEN}"}}'.encode()))
    assert resp.body == b'{"t":"cwt=REDACTED-1"}', "the same token keeps its placeholder"


def test_canonical_form_makes_live_secret_and_placeholder_equal():
    canon = Redactor(canonical=True)
    assert canon.text("grant_type=password&password=live-one") == canon.text("grant_type=password&password=REDACTED-7")
    assert canon.text(f"Bearer {TOKEN}") == "Bearer cwt=REDACTED"
    live = canon.text(f"x?t={quote(canary_token, safe='')}&code={canary_code}&ms_rtc_renew={quote(canary_token)}")
    recorded = canon.text("x?t=cwt%3DREDACTED-3&code=REDACTED-4&ms_rtc_renew=cwt%3DREDACTED-3")
    assert live == recorded == "x?t=cwt%3DREDACTED&code=REDACTED&ms_rtc_renew=REDACTED"


def test_batch_parts_have_their_headers_redacted_like_headers():
    # the shapes of BatchingRequests.md, with secrets in the parts' own headers
    boundary = "77f2569d-c005-442b-b856-782305305e5f"
    parts = (f"--{boundary}\r\nContent-Type: application/http; msgtype=request\r\n\r\n"
             "GET /ucwa/oauth/v1/applications/103/people/contacts HTTP/1.1\r\nHost: lyncweb.contoso.com\r\n"
             f"Accept: application/json\r\nAuthorization: Basic dXNlcjpwYXNz\r\nCookie: cwt_ucwa=AAEBcanarycookie\r\n\r\n"
             f"--{boundary}\r\nContent-Type: application/http; msgtype=response\r\n\r\n"
             "HTTP/1.1 200 OK\r\nSet-Cookie: cwt_ucwa=AAEBcanarycookie; path=/ucwa; secure\r\n"
             'Content-Type: application/json\r\n\r\n{"note":"Cookie: in a body line is not a header"}\r\n'
             f"--{boundary}--\r\n")
    batch = Request(method="POST", url="https://lyncweb.contoso.com/ucwa/oauth/v1/applications/103/batch",
                    headers=[("Content-Type", f"multipart/batching;boundary={boundary}")], body=parts.encode())
    clean = Redactor().request(batch).body.decode()
    assert "AAEBcanarycookie" not in clean and "dXNlcjpwYXNz" not in clean
    assert "Authorization: Basic REDACTED-1\r\n" in clean and "Cookie: cwt_ucwa=REDACTED-2\r\n" in clean
    assert "Set-Cookie: cwt_ucwa=REDACTED-2; path=/ucwa; secure\r\n" in clean, "the same cookie, the same placeholder"
    assert clean.replace("REDACTED-1", "dXNlcjpwYXNz").replace("REDACTED-2", "AAEBcanarycookie") == parts
    as_text = Request(headers=[("Content-Type", "text/plain")], body=b"Cookie: session=kept")
    assert Redactor().request(as_text).body == as_text.body, "only multipart bodies have header lines"


# -- bodies in their charsets -------------------------------------------------------------------------

def _message(content_type: str | None, body: bytes, raw: bool = False) -> Request:
    headers = [("Content-Type", content_type)] if content_type is not None else []
    return Request(method="POST", url="https://fe1/x", headers=headers, body=body, raw=raw)


CHARSET_BODIES = [
    # (Content-Type, the body's text, its charset): the text holds `canary_password` or `canary_token`
    ("application/x-www-form-urlencoded; charset=iso-8859-1",
     "grant_type=password&username=jörg&password=canaryPässwort-long", "iso-8859-1"),
    ("application/json; charset=ISO-8859-1", '{"subject":"Café","password":"canaryPässwort-long"}', "iso-8859-1"),
    ("application/xml; charset=windows-1252",
     "<input><property name='subject'>Café €</property><property name='password'>canaryPässwort-long</property>"
     "</input>", "cp1252"),
    ("application/json; charset=utf-16", '{"subject":"Café","access_token":"' + canary_token + '"}', "utf-16"),
    ("application/json; charset=UTF-16BE", '{"subject":"Café","access_token":"' + canary_token + '"}', "utf-16-be"),
    ("application/json; charset=utf-16", '{"subject":"Café","access_token":"' + canary_token + '"}', "utf-16-be"),
    ('text/plain; charset="shift_jis"', "日本語 password=canaryPässwort-long&x=1".replace("ä", "a"), "shift_jis"),
    ("application/json", '\ufeff{"password":"canaryPässwort-long"}', "utf-8"),
    ("application/json", '{"password":"canaryPässwort-long"}', "utf-16"),
]


@pytest.mark.parametrize(("content_type", "text", "charset"), CHARSET_BODIES)
def test_bodies_are_redacted_in_their_own_charset(content_type, text, charset):
    body = text.encode(charset)
    message = _message(content_type, body)
    assert unscanned(message) is None
    clean = Redactor().body(message)
    decoded = clean.decode(charset)  # written back in the same charset, BOM and byte order kept
    assert clean[:2] == body[:2]
    assert survivors("canaryPässwort-long", decoded) == [] and survivors(canary_token, decoded) == []
    assert decoded == re.sub(r"canaryP.sswort-long|" + re.escape(canary_token[4:]), "REDACTED-1", text)


def test_a_body_that_would_not_round_trip_through_its_charset_is_returned_as_it_came():
    # UTF-7 may spell ASCII in base64 (`+AGEAYgBj-` is "abc"); decoding and encoding again would shorten it
    clean = _message("application/json; charset=utf-7", b'{"subject":"+AGEAYgBj-"}')
    assert Redactor().body(clean) == clean.body
    leaky = _message("application/json; charset=utf-7", b'{"subject":"+AGEAYgBj-","password":"x"}')
    assert Redactor().body(leaky) == b'{"subject":"abc","password":"REDACTED-1"}', "re-encoded only when redacted"


@pytest.mark.parametrize("charset", ["utf-8", "iso-8859-1", "cp1252", "utf-16", "utf-16-le", "utf-16-be", "utf-32",
                                     "utf-8-sig", "shift_jis", "koi8-r", "utf-7"])
def test_a_body_with_nothing_to_redact_stays_byte_identical_in_any_charset(charset):
    text = '{"subject":"Quarterly ☕ 日本 Привет","code":"Conflict","x":"a+b/c=d \\/ \\u0027 &amp; <b>"}'
    body = text.encode(charset, "replace")
    message = _message(f"application/json; charset={charset}", body)
    assert Redactor().body(message) == body and unscanned(message) is None


UNSCANNED = [
    (_message("application/json", b'{"password":"x"}', raw=True), "body kept as sent: its Content-Encoding did not decode"),
    (_message("application/json; charset=x-foo", b'{"password":"canaryPassword1"}'), "unknown charset x-foo"),
    (_message("application/json; charset=base64", b'{"password":"canaryPassword1"}'), "unknown charset base64"),
    (_message("application/json; charset=utf-8", b'{"password":"canary\xe9Password1"}'),
     "body does not decode as its declared charset utf-8"),
    (_message("application/x-www-form-urlencoded", b"password=canary\xe9Password1&a=b"),
     "body is not UTF-8 and declares no charset"),
    (_message(None, b"password=canary\xe9Password1"), "body is not UTF-8 and declares no charset"),
    (_message("multipart/batching; boundary=b", b"--b\r\nContent-Type: application/http; msgtype=request\r\n\r\n"
              b"POST /x HTTP/1.1\r\nContent-Type: application/json; charset=utf-16\r\n\r\n"
              + '{"password":"canaryPassword1"}'.encode("utf-16-le") + b"\r\n--b--\r\n"),
     "a multipart part in charset utf-16 is not searched"),
]


@pytest.mark.parametrize(("message", "reason"), UNSCANNED, ids=[reason for _, reason in UNSCANNED])
def test_unscanned_says_why_a_body_was_not_searched(message, reason):
    assert unscanned(message) == reason
    clean = Redactor().body(message)
    if not message.raw and "multipart" not in message.content_type:
        # still searched byte by byte as ISO-8859-1: ASCII-shaped secrets go all the same
        assert b"canary" not in clean and b"REDACTED-1" in clean
        assert clean.replace(b"REDACTED-1", b"") == re.sub(rb"canary[^&\"]*", b"", message.body)


@pytest.mark.parametrize("message", [
    _message("application/json", b""),
    _message("image/png", b"\x89PNG\r\n\x1a\n\xff\xd8 password=canary"),
    _message("application/octet-stream", b"\xff\xfe\x00binary"),
    _message("image/jpeg", b"\xff\xd8\xff", raw=True),
    _message("application/json; charset=utf-8", '{"subject":"Café"}'.encode()),
    _message("text/html; charset=iso-8859-1", "<p>Café</p>".encode("latin-1")),
    _message("multipart/batching; boundary=b", "--b\r\nContent-Type: application/json; charset=iso-8859-1\r\n\r\n"
             '{"s":"Café"}\r\n--b--\r\n'.encode("latin-1")),
    _message("image/svg+xml", b"<svg/>"),
])
def test_unscanned_is_none_for_bodies_searched_or_binary(message):
    assert unscanned(message) is None


def test_a_binary_body_is_left_alone():
    image = _message("image/png", b"\x89PNG\r\n\x1a\n\xff\xd8 password=canary")
    assert Redactor().body(image) == image.body and body_text(image) is None


# -- placeholders ---------------------------------------------------------------------------------------

def test_is_placeholder_in_every_encoding():
    for value in ("REDACTED", "REDACTED-12", "cwt=REDACTED-1", "cwt%3dREDACTED-1", "cwt%253DREDACTED-2",
                  "cwt\\u003dREDACTED-3", "cwt_ucwa=REDACTED-4"):
        assert is_placeholder(value), value
    for value in ("REDACTED-1%2Fabc", "xREDACTED-1", "cwt=AAEB", "REDACTED-1\\/x"):
        assert not is_placeholder(value), value


def test_highest_placeholder_ignores_absurd_numbers_and_reads_bodies_in_their_charset():
    huge = "REDACTED-" + "9" * 5000  # int() refuses more than 4300 digits
    wide = '{"password":"REDACTED-9"}'.encode("utf-16")
    cassette = Cassette([Interaction(
        Request(url=f"https://fe1/x?a={huge}", headers=[("X", f"cwt={huge}"), ("Y", "REDACTED-7")], body=huge.encode()),
        Response(headers=[("Content-Type", "application/json; charset=utf-16")], body=wide))])
    assert highest_placeholder(cassette) == 9
    assert Redactor.adding_to(cassette, RedactionRules()).text("password=new") == "password=REDACTED-10"
    sane = "REDACTED-" + "9" * MAX_PLACEHOLDER_DIGITS
    assert highest_placeholder(Cassette([Interaction(Request(url=sane), Response())])) == int("9" * MAX_PLACEHOLDER_DIGITS)


@pytest.mark.parametrize(("text", "expected"), [
    ("https://jane:canary_pw1@fe1.contoso.com/ucwa", "https://jane:REDACTED-1@fe1.contoso.com/ucwa"),
    ('{"proxy":"http:\\/\\/bob:canary_pw1@10.0.0.1:3128"}', '{"proxy":"http:\\/\\/bob:REDACTED-1@10.0.0.1:3128"}'),
    ("sip:jane@contoso.com and https://fe1/x?y=a@b", "sip:jane@contoso.com and https://fe1/x?y=a@b"),
])
def test_the_password_in_a_urls_user_information_is_redacted(text, expected):
    assert Redactor().text(text) == expected
