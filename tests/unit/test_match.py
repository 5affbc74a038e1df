"""Matching: UCWA-aware normalisation, recorded order, exhaustion, explanations."""

from __future__ import annotations

import pytest
from ucwa_vcr.cassette.model import Interaction, Request, Response
from ucwa_vcr.match import Matcher, Miss, canonical_body, features
from ucwa_vcr.redact import Redactor

APP = "https://fe1.contoso.com/ucwa/oauth/v1/applications/10934565897"


def rec(url: str, method: str = "GET", accept: str = "application/json", body: bytes = b"", ctype: str = "",
        status: int = 200) -> Interaction:
    headers = [("Accept", accept)] + ([("Content-Type", ctype)] if ctype else [])
    return Interaction(Request(method=method, url=url, headers=headers, body=body), Response(status=status))


def req(url: str, **kw) -> Request:
    return rec(url, **kw).request


@pytest.mark.parametrize(("recorded", "live", "matches"), [
    (f"{APP}/onlineMeetings/myOnlineMeetings", "https://fe1.contoso.com/ucwa/oauth/v1/applications/55/onlineMeetings/myOnlineMeetings", True),
    ("https://fe1.contoso.com/ucwa/v1/applications/192/me", "https://fe1.contoso.com/ucwa/v1/applications/7/me", True),
    ("https://fe1.contoso.com//v1/applications/833/x", "https://fe1.contoso.com//v1/applications/834/x", True),
    (f"{APP}/events?ack=3", f"{APP}/events?ack=3&timeout=900&priority=1", True),
    (f"{APP}/events?ack=3", f"{APP}/events?ack=4", False),
    (f"{APP}/me?b=2&a=1", f"{APP}/me?a=1&b=2", True),
    (f"{APP}/me?timeout=1", f"{APP}/me?timeout=2", False),
    ("https://fe1.contoso.com/x", "http://fe1.contoso.com/x", False),
    ("https://fe1.contoso.com/x", "https://fe1.contoso.com:443/x", True),
    ("https://fe1.contoso.com/x", "https://fe1.contoso.com:4443/x", False),
    ("https://fe1.contoso.com/x", "https://FE1.contoso.com/x", True),
    ("https://fe1.contoso.com/x?access_token=live", "https://fe1.contoso.com/x?access_token=REDACTED-3", True),
])
def test_url_normalisation(recorded, live, matches):
    found = Matcher([rec(recorded)]).match(req(live))
    assert isinstance(found, Interaction) is matches


def test_json_and_xml_of_one_resource_never_answer_each_other():
    m = Matcher([rec(f"{APP}/me", accept="application/xml", status=201), rec(f"{APP}/me", status=202)])
    assert m.match(req(f"{APP}/me", accept="application/vnd.microsoft.com.ucwa+json")).response.status == 202
    assert m.match(req(f"{APP}/me", accept="application/vnd.microsoft.com.ucwa+xml")).response.status == 201


def test_identical_requests_answered_in_order_then_repeat_or_miss():
    recorded = [rec(f"{APP}/x", status=200), rec(f"{APP}/x", status=201)]
    m = Matcher(recorded)
    assert [m.match(req(f"{APP}/x")).response.status for _ in range(3)] == [200, 201, 201]
    strict = Matcher(recorded, exhausted="miss")
    assert [getattr(strict.match(req(f"{APP}/x")), "response", None) is not None for _ in range(3)] == [True, True, False]
    miss = strict.match(req(f"{APP}/x"))
    assert isinstance(miss, Miss) and miss.exhausted == 2 and "already used" in miss.explain()


@pytest.mark.parametrize(("ctype", "a", "b"), [
    ("application/json", b'{"a": 1, "b": [1,2]}', b'{"b":[1,2],"a":1}'),
    ("application/xml", b'<input xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa"><property name="a">1</property></input>',
     b'<?xml version="1.0"?>\n<input xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa">\n  <property name="a">1</property>\n</input>'),
    ("application/x-www-form-urlencoded", b"b=2&a=1", b"a=1&b=2"),
])
def test_body_matching_compares_meaning(ctype, a, b):
    assert canonical_body(ctype, a) == canonical_body(ctype, b)
    m = Matcher([rec(f"{APP}/x", method="POST", body=a, ctype=ctype)], on=("method", "path", "body"))
    assert isinstance(m.match(req(f"{APP}/x", method="POST", body=b, ctype=ctype)), Interaction)
    assert isinstance(m.match(req(f"{APP}/x", method="POST", body=b + b" ", ctype="text/plain")), Miss)


def test_live_password_matches_its_placeholder_in_bodies():
    form = "application/x-www-form-urlencoded"
    m = Matcher([rec("https://fe1/WebTicket/oauthtoken", method="POST", body=b"grant_type=password&password=REDACTED-2",
                     ctype=form)], on=("method", "path", "body"))
    found = m.match(req("https://fe1/WebTicket/oauthtoken", method="POST", body=b"grant_type=password&password=live-test-password",
                        ctype=form))
    assert isinstance(found, Interaction)


def test_miss_names_the_closest_and_what_differed():
    m = Matcher([rec(f"{APP}/onlineMeetings/myOnlineMeetings"), rec(f"{APP}/me", method="DELETE")])
    miss = m.match(req(f"{APP}/onlineMeetings/myOnlineMeetings", accept="application/xml"))
    assert isinstance(miss, Miss)
    assert miss.near[0].differences == {"accept": ("json", "xml")}
    assert "closest #0" in miss.explain() and "accept: recorded 'json', got 'xml'" in miss.explain()


def test_unknown_matcher_is_refused():
    with pytest.raises(ValueError, match="unknown matcher 'headers'"):
        Matcher([], on=("headers",))


def test_signed_in_and_anonymous_requests_differ():
    user = "https://fe1/Autodiscover/AutodiscoverService.svc/root/oauth/user"
    probe = rec(user, status=401)
    signed = Interaction(Request(url=user, headers=[("Accept", "application/json"), ("Authorization", "Bearer cwt=REDACTED-1")]),
                         Response(status=200))
    m = Matcher([probe, signed])
    live = Request(url=user, headers=[("Accept", "application/json"), ("Authorization", "Bearer cwt=AAEBlive")])
    assert m.match(live).response.status == 200  # not the 401 recorded first
    assert m.match(req(user)).response.status == 401


def test_rewind_starts_the_sequence_over():
    m = Matcher([rec(f"{APP}/x", status=200), rec(f"{APP}/x", status=201)])
    assert [m.match(req(f"{APP}/x")).response.status for _ in range(2)] == [200, 201]
    m.rewind()
    assert m.match(req(f"{APP}/x")).response.status == 200


@pytest.mark.parametrize("url", [
    "http://[::1/x", "https://fe1.contoso.com:99999/x", "https://fe1.contoso.com:abc/x", "https://h\u2100x/x",
    "not a url", "", "//fe1/x?a=1", "https://fe1/caf\udce9?q=\udcff", "https://[::1]x/y",
])
def test_weird_live_urls_never_raise_and_miss(url):
    m = Matcher([rec(f"{APP}/x")])
    found = m.match(req(url))
    assert isinstance(found, Miss)
    assert "no recorded answer" in found.explain() and found.summary()


def test_a_malformed_port_is_compared_as_written():
    assert features(req("https://fe1:99999/x"), Redactor(canonical=True), ("host", "port")) == {"host": "fe1", "port": "99999"}
    assert features(req("http://[::1/x?a=1"), Redactor(canonical=True), ("scheme", "path", "query")) == {
        "scheme": "http", "path": "/x", "query": "a=1"}


def test_miss_explanations_show_the_request_redacted():
    token, canary_password = "cwt=AAEBlive-token-for-miss-test", "live-password-for-miss-test"
    recorded = rec(f"{APP}/me?access_token=REDACTED-1", method="POST", body=b"password=REDACTED-2",
                   ctype="application/x-www-form-urlencoded")
    m = Matcher([recorded], on=("method", "path", "query", "body"))
    live = Request(method="POST", url=f"{APP}/me?access_token=live-query-token&renew={token}",
                   headers=[("Authorization", f"Bearer {token}"), ("Content-Type", "application/x-www-form-urlencoded")],
                   body=f"password={canary_password}&x=1".encode())
    miss = m.match(live)
    shown = miss.explain() + miss.summary() + repr(miss)
    for secret in ("live-query-token", token, canary_password, "AAEBlive"):
        assert secret not in shown
    assert "access_token=REDACTED" in miss.explain() and "password=REDACTED" in miss.summary()
    exhausted = Matcher([rec(f"{APP}/x")], exhausted="miss")
    exhausted.match(req(f"{APP}/x?access_token=live-query-token"))
    assert "live-query-token" not in exhausted.match(req(f"{APP}/x?access_token=live-query-token")).explain()


def test_a_body_nested_deeper_than_python_recurses_is_compared_as_text():
    deep = b"[" * 100_000 + b"]" * 100_000
    assert canonical_body("application/json", deep) == deep.decode()
