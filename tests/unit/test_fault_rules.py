"""Fault rules: parsing, firing order, seeded probability, patches, and the mitmproxy commands."""

from __future__ import annotations

import datetime

import pytest
from hostile import yaml_bomb
from ucwa_vcr.cassette.codec import load_yaml
from ucwa_vcr.errors import FileError, RuleError
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
