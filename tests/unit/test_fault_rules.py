"""Fault rules: parsing, firing order, seeded probability, patches, and the mitmproxy commands."""

from __future__ import annotations

import pytest
from ucwa_vcr.errors import RuleError
from ucwa_vcr.fault_rules import apply_patch, load_plan, parse_rule, parse_shorthand


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
