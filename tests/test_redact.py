"""Redaction: every place UCWA puts a secret, consistent placeholders, idempotence, canonical matching form."""

from __future__ import annotations

import pytest
from ucwa_vcr.cassette import Request, Response
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
