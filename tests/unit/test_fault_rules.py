"""Fault rules: parsing, firing order, seeded probability, patches, and the mitmproxy commands; the session state
`expire` rules and the token lifetime put a session into."""

from __future__ import annotations

import datetime
import json
import re

import pytest
from hostile import yaml_bomb
from ucwa_vcr.cassette.codec import load_yaml
from ucwa_vcr.cassette.model import Interaction, Request, Response
from ucwa_vcr.errors import FileError, RuleError
from ucwa_vcr.fault_rules import apply_patch, error_answer, expired_answer, load_plan, parse_rule, parse_shorthand
from ucwa_vcr.session_state import (
    LIFETIME,
    Expired,
    SessionState,
    application_of,
    built_challenge,
    is_application_creation,
    is_token_request,
    recorded_challenge,
)


def fire(plan, method="POST", path="/ucwa/oauth/v1/applications/1/onlineMeetings/myOnlineMeetings", headers=None, body=b""):
    rule = plan.pick(method, path, headers or {}, body)
    return rule.label if rule else None


def test_header_conditions_ignore_the_case_of_names():
    plan = load_plan({"faults": [{"match": {"headers": {"ACCEPT": "xml"}}, "error": "Conflict"}]}, "f.yaml")
    assert fire(plan, headers={"accept": "application/xml"}) is not None
    assert fire(plan, headers={"Accept": "application/json"}) is None


def test_after_times_and_first_rule_wins():
    plan = load_plan({"faults": [
        {"name": "third", "match": {"method": "POST", "path": "myOnlineMeetings$"}, "after": 2, "times": 1, "error": "TooManyOnlineMeetings"},
        {"name": "any-post", "match": {"method": "post"}, "after": 3, "error": "ServiceFailure"},
    ]}, "f.yaml")
    assert [fire(plan) for _ in range(6)] == [None, None, "third", "any-post", "any-post", "any-post"]
    assert fire(plan, method="GET") is None


def test_probability_is_repeatable_with_a_seed():
    data = {"seed": 42, "faults": [{"match": {"path": "x"}, "probability": 0.5, "error": "Conflict"}]}
    plans = [load_plan(data, "f"), load_plan(data, "f")]
    runs = [[fire(plan, path="/x") for _ in range(40)] for plan in plans]
    assert runs[0] == runs[1]
    assert 5 < sum(r is not None for r in runs[0]) < 35


def test_shorthand():
    assert parse_shorthand("POST myOnlineMeetings$=TooManyOnlineMeetings") == {
        "match": {"path": "myOnlineMeetings$", "method": "POST"}, "error": "TooManyOnlineMeetings"}
    assert parse_shorthand("events=reset") == {"match": {"path": "events"}, "transport": "reset"}
    with pytest.raises(RuleError, match="write METHOD PATH=ERROR"):
        parse_shorthand("TooManyOnlineMeetings")
    with pytest.raises(RuleError, match="did you mean TooManyOnlineMeetings"):
        parse_rule(parse_shorthand("POST x=TooManyOnlineMeeting"), "inject")


@pytest.mark.parametrize(("body", "patch", "expected"), [
    (b'{"subject":"a","etag":"1"}', {"set": {"/etag": "2"}}, b'{"subject": "a", "etag": "2"}'),
    (b'{"a":{"b":[1,2,3]}}', {"remove": ["/a/b/1"]}, b'{"a": {"b": [1, 3]}}'),
    (b'{"a/b":1,"c":2}', {"remove": ["/a~1b", "/missing"]}, b'{"c": 2}'),
    (b'{"c":2}', {"remove": ["/_embedded/myOnlineMeeting/0"]}, b'{"c": 2}'),  # removing adds nothing on the way
    (b"<resource/>", {"set": {"/x": 1}}, b"<resource/>"),
    (b'{"a":[1,2]}', {"set": {"/a/-": 3, "/a/9": 4, "/a/x": 5}}, b'{"a": [1, 2, 3]}'),  # never raises in a hook
    (b'{"keep":"\\/Date(1)\\/"}', {"headers": {"ETag": "x"}}, b'{"keep":"\\/Date(1)\\/"}'),
])
def test_apply_patch(body, patch, expected):
    assert apply_patch(body, patch) == expected


# -- bad input: one line naming the file, the rule and the field (issue 11) -------------------------

RULES_BOMB = yaml_bomb(7) + "faults:\n- match: {path: x}\n  patch: {set: {/lol: *g}}\n"


@pytest.mark.parametrize(("rule", "expected"), [
    ({"error": ["TooManyOnlineMeetings"]}, "field 'error' must be an error name, not ['TooManyOnlineMeetings']"),
    ({"error": {"a": 1}}, "field 'error' must be an error name"),
    ({"transport": ["reset"]}, "field 'transport': ['reset'] is not one of reset, hang"),
    ({"patch": {"remove": 5}}, "field 'patch.remove' must be a list of JSON pointers"),
    ({"patch": {"set": ["/a"]}}, "field 'patch.set' must map JSON pointers to values"),
    ({"patch": {"set": {"/a": datetime.date(2026, 1, 1)}}}, "field 'patch.set': {'/a': datetime.date(2026, 1, 1)} cannot be sent as JSON"),
    ({"patch": {"headers": {"X-A": "one\r\nX-Injected: two"}}}, "field 'patch.headers.X-A': a header value is one line"),
    ({"patch": {"headers": {"bad name": "v"}}}, "field 'patch.headers': 'bad name' is not a header name"),
    ({"delay": float("inf")}, "field 'delay': inf is not a number from 0 to 86400.0"),
    ({"delay": 10 ** 400}, "field 'delay': 100000000000000000...0000000000000000000 is not a number from 0 to 86400.0"),
    ({"delay": float("nan"), "error": "Conflict"}, "field 'delay': nan is not a number"),
    ({"probability": float("nan"), "error": "Conflict"}, "field 'probability': nan is not a number from 0 to 1"),
    ({"respond": {"body": {"when": datetime.date(2026, 1, 1)}}}, "field 'respond.body': {'when': datetime.date(2026, 1, 1)} cannot be sent as JSON"),
    ({"respond": {"headers": ["X-A: 1"]}}, "field 'respond.headers' must map header names to values"),
    ({"respond": {"reason": "OK\nX: y"}}, "field 'respond.reason': a reason is one line"),
    ({"respond": {1: 2, "x": 3}}, "field 'respond.1' is unknown"),
    ({1: "x", "zzz": 2, "error": "Conflict"}, "field '1' is unknown"),
    ({"match": {None: 1}, "error": "Conflict"}, "field 'match.None' is unknown"),
    ({"match": {"method": ["GET"]}, "error": "Conflict"}, "field 'match.method': must be text, not ['GET']"),
    ({"name": {"a": 1}, "error": "Conflict"}, "field 'name': must be text"),
    ({"match": {"path": "x" * 1000 + "("}, "error": "Conflict"}, "field 'match.path': 'xxxxxxxxxxxxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxxxxxxxxxxx(' is not a regex"),
    ({"match": {"path": "(" * 1000 + ")" * 1000}, "error": "Conflict"}, "field 'match.path': '(((((((((((((((((((((((((((...))))))))))))))))))))))))))))' is not a regex: maximum recursion"),
    ({"match": {"body": "a{99999999999999}"}, "error": "Conflict"}, "field 'match.body': 'a{99999999999999}' is not a regex: the repetition number is too large"),
])
def test_malformed_rules_are_one_line_errors(rule, expected):
    with pytest.raises(RuleError) as e:
        load_plan({"faults": [{"error": "Conflict"}, {"match": {"path": "x"}, **rule}]}, "faults.yaml")
    message = str(e.value)
    assert message.startswith(f"faults.yaml: rule 2: {expected}"), message
    assert "\n" not in message and len(message) < 300


def test_a_rules_file_without_its_faults_list_says_so():
    with pytest.raises(RuleError, match=r"^faults\.yaml: no 'faults' list \(found 'fault'\); a rules file is a mapping"):
        load_plan({"fault": [{"error": "Conflict"}]}, "faults.yaml")
    assert load_plan({"seed": 3}, "faults.yaml").rules == [], "a seed alone is an empty plan, as before"


def test_rules_file_aliases_are_read_within_a_cap(tmp_path):
    text = "shared: &m {path: myOnlineMeetings$}\nfaults:\n- {match: *m, error: Conflict}\n- {match: *m, transport: reset}\n"
    plan = load_plan(load_yaml(text, "faults.yaml"), "faults.yaml")
    assert [r.path.pattern for r in plan.rules] == ["myOnlineMeetings$"] * 2
    with pytest.raises(FileError, match=r"^faults\.yaml:2: aliases \(\*a\) expand this file to more than 1000000 characters$"):
        load_yaml(RULES_BOMB, "faults.yaml")
    with pytest.raises(FileError, match=r"^faults\.yaml:1: a recursive alias: the node anchored here contains itself$"):
        load_yaml("faults: &f [{match: {path: x}, patch: {set: {/a: *f}}}]\n", "faults.yaml")
    with pytest.raises(FileError, match=r"^faults\.yaml:3: an integer of 5000 digits is too long"):
        load_yaml("faults:\n- match: {path: x}\n  delay: " + "1" * 5000 + "\n", "faults.yaml")


def test_a_patch_on_json_nested_too_deep_leaves_the_body_alone():
    deep = b"[" * 100_000 + b"]" * 100_000
    assert apply_patch(deep, {"set": {"/0": 1}}) == deep


# -- session state: expire token / application (issue 13) ------------------------------------------------------

APP = "/ucwa/oauth/v1/applications/10357810451"
BEARER = "Bearer cwt=AAEBtoken"


@pytest.mark.parametrize(("rule", "expire", "error", "described"), [
    ({"expire": "token"}, "token", None, "expire token"),
    ({"expire": "application"}, "application", None, "expire application"),
    ({"expire": "application", "error": "InactiveApplicationExpired"}, "application", "InactiveApplicationExpired",
     "expire application as InactiveApplicationExpired"),
    ({"expire": "token", "delay": 2, "after": 1, "times": 1}, "token", None, "expire token after 1 times 1 delay 2.0s"),
])
def test_expire_rules(rule, expire, error, described):
    parsed = parse_rule({"match": {"path": "x"}, **rule}, "r")
    assert (parsed.expire, parsed.error) == (expire, error)
    assert parsed.describe() == f"r: * x -> {described} (fired 0/0)"


@pytest.mark.parametrize(("rule", "expected"), [
    ({"expire": "session"}, "field 'expire': 'session' is not one of token, application"),
    ({"expire": ["token"]}, "field 'expire': ['token'] is not one of token, application"),
    ({"expire": "token", "error": "ApplicationNotFound"},
     "field 'error' goes with 'expire: application' only; an expired token is answered with the recorded 401 challenge"),
    ({"expire": "application", "error": "InactiveAppExpired"},
     "field 'error': unknown error 'InactiveAppExpired'; did you mean InactiveApplicationExpired"),
    ({"expire": "application", "transport": "reset"}, "fields 'transport' and 'expire' both given; a rule has one action"),
    ({"expire": "token", "respond": {"status": 401}}, "fields 'respond' and 'expire' both given"),
])
def test_malformed_expire_rules_are_one_line_errors(rule, expected):
    with pytest.raises(RuleError) as e:
        load_plan({"faults": [{"match": {"path": "x"}, **rule}]}, "faults.yaml")
    assert str(e.value).startswith(f"faults.yaml: rule 1: {expected}"), str(e.value)


@pytest.mark.parametrize(("spec", "data"), [
    ("GET myOnlineMeetings$=expire token", {"match": {"path": "myOnlineMeetings$", "method": "GET"}, "expire": "token"}),
    ("events=expire:application", {"match": {"path": "events"}, "expire": "application"}),
    ("events=expire: application InactiveApplicationExpired times 1",
     {"match": {"path": "events"}, "expire": "application", "error": "InactiveApplicationExpired", "times": 1}),
    ("GET x=expire token after 2 times 1", {"match": {"path": "x", "method": "GET"}, "expire": "token", "after": 2, "times": 1}),
    ("POST x=TooManyOnlineMeetings times 1 after 2",
     {"match": {"path": "x", "method": "POST"}, "error": "TooManyOnlineMeetings", "times": 1, "after": 2}),
    ("x=reset times 3", {"match": {"path": "x"}, "transport": "reset", "times": 3}),
    ("x=reset times many", {"match": {"path": "x"}, "transport": "reset", "times": "many"}),  # parse_rule refuses it
])
def test_shorthand_expire_and_counts(spec, data):
    assert parse_shorthand(spec) == data


@pytest.mark.parametrize(("spec", "message"), [
    ("x=expire", "after '=' write an error name, a transport, 'expire token' or 'expire application [ERROR]'"),
    ("x=expire application InactiveApplicationExpired now", "after '=' write"),
    ("x=Conflict soon", "after '=' write"),
    ("x=Conflict times 1 times 2", "'times' given twice"),
])
def test_bad_shorthand_says_what_to_write(spec, message):
    with pytest.raises(RuleError, match="^" + re.escape(f"{spec!r}: {message}")):
        parse_shorthand(spec)


@pytest.mark.parametrize(("spec", "message"), [
    ("x=reset times many", "field 'times': 'many' is not a whole number of at least 1"),
    ("x=reset times 0", "field 'times': 0 is not a whole number of at least 1"),
    ("x=expire cookie", "field 'expire': 'cookie' is not one of token, application"),
    ("x=expire token ApplicationNotFound", "field 'error' goes with 'expire: application' only"),
])
def test_shorthand_values_are_checked_like_the_rules_file(spec, message):
    with pytest.raises(RuleError, match="^" + re.escape(f"inject: {message}")):
        parse_rule(parse_shorthand(spec), "inject")


def test_expire_rules_count_like_any_other():
    plan = load_plan({"faults": [
        {"name": "token", "match": {"method": "GET", "path": "myOnlineMeetings$"}, "after": 1, "times": 1, "expire": "token"},
        {"name": "app", "match": {"method": "GET", "path": "myOnlineMeetings$"}, "after": 3, "times": 1,
         "expire": "application"},
    ]}, "f.yaml")
    path = APP + "/onlineMeetings/myOnlineMeetings"
    assert [fire(plan, "GET", path) for _ in range(6)] == [None, "token", None, "app", None, None]
    assert [r.fired for r in plan.rules] == [1, 1]


@pytest.mark.parametrize(("method", "path", "token", "creation"), [
    ("POST", "/WebTicket/oauthtoken", True, False),
    ("POST", "/webticket/OAuthToken", True, False),
    ("POST", "/contoso.onmicrosoft.com/oauth2/token", True, False),
    ("POST", "/common/oauth2/v2.0/token", True, False),
    ("GET", "/WebTicket/oauthtoken", False, False),
    ("POST", "/ucwa/oauth/v1/applications", False, True),
    ("POST", "//ucwa/oauth/v1/applications/", False, True),
    ("POST", "/ucwa/v1/applications", False, True),
    ("POST", APP + "/batch", False, False),
    ("GET", "/ucwa/oauth/v1/applications", False, False),
])
def test_token_and_application_requests(method, path, token, creation):
    assert (is_token_request(method, path), is_application_creation(method, path)) == (token, creation)


@pytest.mark.parametrize(("path", "app"), [
    (APP, "10357810451"), (APP + "/events", "10357810451"), ("//v1/applications/833/onlineMeetings", "833"),
    ("//ucwa/oauth/v1/applications/12/me", "12"), ("/ucwa/oauth/v1/applications", None),
    ("/Autodiscover/AutodiscoverService.svc/root/oauth/user", None),
])
def test_application_of(path, app):
    assert application_of(path) == app


def test_an_expired_token_is_answered_until_a_token_is_fetched():
    state = SessionState()
    meetings = APP + "/onlineMeetings/myOnlineMeetings"
    assert state.answer("GET", meetings, BEARER, 0) is None
    state.expire_token("rule 1")
    expired = state.answer("GET", meetings, BEARER, 1)
    assert expired is not None and (expired.what, expired.by) == ("token", "rule 1")
    assert state.answer("GET", meetings, "bearer cwt=x", 1) is not None, "any bearer token, any case"
    assert state.answer("GET", "/Autodiscover/AutodiscoverService.svc/root/oauth/user", "", 1) is None, "not signed in"
    assert state.answer("POST", "/WebTicket/oauthtoken", BEARER, 1) is None, "the token endpoint itself"
    assert state.answered("POST", "/WebTicket/oauthtoken", 400, 2) is None, "a refused fetch renews nothing"
    assert state.answer("GET", meetings, BEARER, 2) is not None
    assert state.answered("POST", "/WebTicket/oauthtoken", 200, 3) == "token"
    assert state.answer("GET", meetings, BEARER, 3) is None


def test_an_expired_application_is_answered_until_one_is_created():
    state = SessionState()
    state.seen(APP + "/me")
    assert state.expire_application("/ucwa/oauth/v1/applications", "rule 2") == "10357810451", "the latest one seen"
    for path in (APP, APP + "/events", APP + "/onlineMeetings/myOnlineMeetings/IB88RLLY"):
        expired = state.answer("GET", path, BEARER, 0)
        assert expired is not None and (expired.what, expired.error, expired.by) == ("application", "ApplicationNotFound", "rule 2")
    assert state.answer("GET", "/ucwa/oauth/v1/applications/99/me", BEARER, 0) is None, "another application"
    assert state.answer("GET", "/Autodiscover/AutodiscoverService.svc/root/oauth/user", BEARER, 0) is None
    assert state.answered("POST", "/ucwa/oauth/v1/applications", 409, 1) is None
    assert state.answer("GET", APP + "/me", BEARER, 1) is not None
    assert state.answered("POST", "/ucwa/oauth/v1/applications", 201, 1) == "application"
    assert state.answer("GET", APP + "/me", BEARER, 1) is None


def test_an_application_expired_where_none_was_seen_is_every_application():
    state = SessionState()
    assert state.expire_application("/Autodiscover/AutodiscoverService.svc/root/oauth/user", "r", "InactiveApplicationExpired") == "*"
    expired = state.answer("GET", "/ucwa/oauth/v1/applications/5/events", BEARER, 0)
    assert expired is not None and expired.error == "InactiveApplicationExpired"
    assert state.describe(0) == ["session: every application expired (r): its requests get InactiveApplicationExpired "
                                 "until an application is created"]


def test_the_token_is_checked_before_the_application():
    state = SessionState()
    state.expire_application(APP + "/me", "app rule")
    state.expire_token("token rule")
    assert state.answer("GET", APP + "/me", BEARER, 0).what == "token"
    assert state.answer("GET", APP + "/me", "", 0).what == "application", "no token: the application's error"


def test_the_token_lifetime_counts_from_each_fetch():
    state = SessionState(token_lifetime=600)
    meetings = APP + "/onlineMeetings/myOnlineMeetings"
    assert state.answer("GET", meetings, BEARER, 10_000) is None, "no token fetched here: nothing to expire"
    state.answered("POST", "/WebTicket/oauthtoken", 200, 100)
    assert state.answer("GET", meetings, BEARER, 699.9) is None
    expired = state.answer("GET", meetings, BEARER, 700)
    assert expired is not None and (expired.what, expired.by) == ("token", LIFETIME)
    assert state.describe(700) == ["session: token expired (ucwa_token_lifetime): signed-in requests get the 401 "
                                   "challenge until a token is fetched"]
    state.answered("POST", "/WebTicket/oauthtoken", 200, 800)
    assert state.answer("GET", meetings, BEARER, 1399) is None
    assert state.answer("GET", meetings, BEARER, 1400) is not None
    state.token_lifetime = 0
    assert state.answer("GET", meetings, BEARER, 10_000) is None, "0: for ever"


def test_clear_ends_what_rules_expired():
    state = SessionState()
    state.expire_token("a")
    state.expire_application(APP, "b")
    assert len(state.describe(0)) == 2
    state.clear()
    assert state.describe(0) == [] and state.answer("GET", APP, BEARER, 0) is None


def _exchange(url: str, status: int, *headers: tuple[str, str], body: bytes = b"") -> Interaction:
    return Interaction(request=Request(url=url), response=Response(status=status, headers=list(headers), body=body))


def test_the_recorded_challenge_of_the_user_resource_is_preferred():
    user = "/Autodiscover/AutodiscoverService.svc/root/oauth/user"
    challenge = ("WWW-Authenticate", 'MsRtcOAuth href="https://a/WebTicket/oauthtoken"')
    on_a = _exchange(f"https://a.contoso.com{user}", 401, challenge, body=b"a")
    on_b = _exchange(f"https://b.contoso.com{user}?originalDomain=contoso.com", 401, challenge, body=b"b")
    other = _exchange(f"https://a.contoso.com{APP}/me", 401, challenge, body=b"other")
    plain = _exchange(f"https://a.contoso.com{APP}/x", 401, body=b"no challenge")
    ok = _exchange(f"https://a.contoso.com{user}", 200)
    assert recorded_challenge([on_a, on_b, other, ok], "a.contoso.com").body == b"a"
    assert recorded_challenge([on_a, on_b, other], "B.contoso.com").body == b"b"
    assert recorded_challenge([on_a, on_b, other], "c.contoso.com").body == b"b", "the latest on another host"
    assert recorded_challenge([plain, other], "a.contoso.com").body == b"other"
    assert recorded_challenge([plain, ok], "a.contoso.com") is None


def test_the_built_challenge_is_shaped_like_a_front_ends():
    built = built_challenge("https://fe1.contoso.com")
    assert (built.status, built.reason) == (401, "Unauthorized")
    challenges = [v for k, v in built.headers if k == "WWW-Authenticate"]
    assert challenges[0].startswith("Bearer trusted_issuers=")
    assert challenges[1] == ('MsRtcOAuth href="https://fe1.contoso.com/WebTicket/oauthtoken",'
                             'grant_type="urn:microsoft.rtc:windows,urn:microsoft.rtc:anonmeeting,password"')
    assert ("Content-Type", "text/html") in built.headers and b"401 - Unauthorized" in built.body


def test_what_an_expired_session_answers():
    user = "/Autodiscover/AutodiscoverService.svc/root/oauth/user"
    recorded = _exchange(f"https://fe1.contoso.com{user}", 401, ("WWW-Authenticate", "MsRtcOAuth x"), body=b"page")
    url = f"https://FE1.contoso.com{APP}/me"
    assert expired_answer(Expired("token", "r"), url, "", [recorded]) is recorded.response, "as recorded"
    built = expired_answer(Expired("token", "r"), "https://fe2.contoso.com:4443/x/y", "", [])
    assert any(v.startswith('MsRtcOAuth href="https://fe2.contoso.com:4443/WebTicket/oauthtoken"') for _, v in built.headers)
    gone = expired_answer(Expired("application", "r", "ApplicationNotFound"), url, "application/xml", [])
    assert (gone.status, gone.reason) == (404, "Not Found")
    assert gone.headers == [("Content-Type", "application/xml; charset=utf-8")]
    assert b"<subcode>ApplicationNotFound</subcode>" in gone.body


def test_an_error_answer_is_the_documented_error_by_accept():
    answer = error_answer("TooManyOnlineMeetings", "application/json")
    assert (answer.status, answer.reason) == (409, "Conflict")
    assert answer.headers == [("Content-Type", "application/json; charset=utf-8")]
    assert json.loads(answer.body)["subcode"] == "TooManyOnlineMeetings"
