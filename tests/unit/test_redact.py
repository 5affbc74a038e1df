"""Redaction: every place UCWA puts a secret, consistent placeholders, idempotence, canonical matching form."""

from __future__ import annotations

import pytest
from ucwa_vcr.cassette.model import Request, Response
from ucwa_vcr.redact import RedactionRules, Redactor

TOKEN = "cwt=AAEBHAAAbGl2ZS5jb20AAAAAAAAAAAAsecretTOKEN_-123"


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
    as_text = Request(headers=[("Content-Type", "text/plain")], body=b"Cookie: cwt_ucwa=kept")
    assert Redactor().request(as_text).body == as_text.body, "only multipart bodies have header lines"
