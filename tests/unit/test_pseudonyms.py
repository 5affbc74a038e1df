"""Pseudonyms: consistent, same-shaped, deterministic fakes for personal data; replay matching; lint --pii."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from ucwa_vcr.cassette.model import Cassette, Interaction, Request, Response
from ucwa_vcr.cassette.writer import save_cassette
from ucwa_vcr.match import Matcher, Miss
from ucwa_vcr.pseudonyms import (
    Pseudonymizer,
    PseudonymizingRedactor,
    is_fake_domain,
    is_fake_person,
    load_key,
    personal_data,
)
from ucwa_vcr.redact import RedactionRules
from ucwa_vcr.tools.cli import build_parser, options_for
from ucwa_vcr.tools.lint import lint

KEY = b"unit-key"
MEETING = ('{"onlineMeetingId":"IB88RLLY","joinUrl":"https://meet.corp.example/jane.doe/IB88RLLY",'
           '"onlineMeetingUri":"sip:jane.doe@corp.example;gruu;opaque=app:conf:focus:id:IB88RLLY",'
           '"organizerUri":"sip:jane.doe@corp.example","attendees":["sip:john.roe@corp.example"],'
           '"conferenceId":"8765432","participantPassCode":"24680","tollNumber":"+1 425 555 1234",'
           '"EndpointId":"5e3c0b4e-0c4f-4e57-a2fb-1d4b3bfc0001","name":"Jane Doe"}')
REAL = ["jane.doe", "corp.example", "IB88RLLY", "john.roe", "8765432", "24680", "425 555 1234",
        "5e3c0b4e-0c4f-4e57-a2fb-1d4b3bfc0001", "Jane Doe"]


def test_a_meeting_loses_every_personal_value_and_keeps_its_shape():
    p = Pseudonymizer(KEY)
    out = p.text(MEETING)
    assert not [v for v in REAL if v in out]
    data = json.loads(out)
    person, domain = p.mapping["address"]["jane.doe"], p.mapping["domain"]["corp.example"]
    assert data["organizerUri"] == f"sip:{person}@{domain}" and is_fake_domain(domain)
    assert data["joinUrl"] == f"https://meet.{domain}/{person}/{data['onlineMeetingId']}"
    assert data["onlineMeetingUri"].endswith(f";gruu;opaque=app:conf:focus:id:{data['onlineMeetingId']}")
    assert re.fullmatch(r"[A-Z]{2}\d\d[A-Z]{4}", data["onlineMeetingId"])
    assert re.fullmatch(r"\d{7}", data["conferenceId"]) and re.fullmatch(r"\d{5}", data["participantPassCode"])
    assert re.fullmatch(r"\+1 555 01\d \d{4}", data["tollNumber"])
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", data["EndpointId"])
    # the display name and the address are one person
    assert data["name"].lower().replace(" ", ".") == person and is_fake_person(data["name"].split())


@pytest.mark.parametrize("text", [
    "username=jane.doe%40corp.example&password=x",
    "https://fe1.corp.example/ucwa/people/sip%3Ajane.doe%40corp.example/presence",
    '<property name="name">Jane Doe</property><item>sip:jane.doe@corp.example</item>',
    '{"emailAddresses":["jane.doe@corp.example"],"name":"Doe, Jane"}',
    "GET https://lyncdiscover.corp.example/ and lyncdiscoverinternal.corp.example",
    "user?originalDomain=corp.example",
])
def test_every_encoding_gets_the_same_pseudonyms(text):
    reference = Pseudonymizer(KEY)
    reference.text("sip:jane.doe@corp.example Jane Doe")
    p = Pseudonymizer(KEY)
    out = p.text(text)
    assert "jane" not in out.lower() and "corp.example" not in out, out
    assert reference.mapping["domain"]["corp.example"] in out
    assert p.text(out) == out, "pseudonyms are not mapped again"
    for kind, values in p.mapping.items():
        for real, fake in values.items():
            assert reference.mapping.get(kind, {}).get(real, fake) == fake


def test_deterministic_per_key():
    assert Pseudonymizer(KEY).text(MEETING) == Pseudonymizer(KEY).text(MEETING)
    assert Pseudonymizer(b"other").text(MEETING) != Pseudonymizer(KEY).text(MEETING)


def test_client_addresses_in_headers():
    p = Pseudonymizer(KEY)
    assert p.header("X-Forwarded-For", "10.20.30.40, 127.0.0.1").startswith("198.51.100.")
    assert p.header("X-MS-Client-IP", "10.20.30.40") == p.header("X-Forwarded-For", "10.20.30.40")
    assert p.header("Host", "10.20.30.40") == "10.20.30.40"
    p.text("sip:jane.doe@corp.example")
    machine = p.header("X-MS-Server-Fqdn", "LYNCFE01.corp.example")
    assert re.fullmatch(r"[A-Z]{6}\d\d\.[a-z]+\d\d\.example", machine), machine
    p.text('{"conferenceId":"12345"}')
    assert p.header("Content-Length", "12345") == "12345" and p.text("size 12345") == "size 12345"


def test_key_file_is_created_once_and_private(tmp_path, monkeypatch):
    monkeypatch.setenv("UCWA_VCR_PSEUDONYM_KEY_FILE", str(tmp_path / "k" / "pseudonym.key"))
    first = load_key()
    assert first == load_key() and len(first) == 64
    assert stat.S_IMODE((tmp_path / "k" / "pseudonym.key").stat().st_mode) == 0o600
    assert load_key("given") == b"given"


def _exchange(url: str, body: str) -> Interaction:
    return Interaction(Request(method="GET", url=url, headers=[("Accept", "application/json")], body=b""),
                       Response(status=200, reason="OK", headers=[("Content-Type", "application/json")],
                                body=body.encode()))


def test_recorded_pseudonyms_match_live_real_values_and_followed_links():
    recorder = PseudonymizingRedactor(Pseudonymizer(KEY))
    real = _exchange("https://lyncdiscover.corp.example/?sip=sip:jane.doe@corp.example", MEETING)
    recorded = recorder.interaction(real)
    assert "corp.example" not in recorded.request.url
    compare = Pseudonymizer(KEY)
    compare.keep_pseudonyms_of(Cassette([recorded]))
    matcher = Matcher([recorded], redactor=PseudonymizingRedactor(compare, canonical=True))
    assert isinstance(matcher.match(real.request), Interaction)
    assert isinstance(matcher.match(recorded.request), Interaction)
    other = _exchange("https://lyncdiscover.corp.example/?sip=sip:john.roe@corp.example", "")
    assert isinstance(matcher.match(other.request), Miss)


def test_secrets_are_still_redacted():
    r = PseudonymizingRedactor(Pseudonymizer(KEY), RedactionRules())
    out = r.text("grant_type=password&username=jane.doe%40corp.example&password=hunter2")
    assert "hunter2" not in out and "REDACTED-1" in out and "jane.doe" not in out
    assert r.text('{"name":"REDACTED-4"}') == '{"name":"REDACTED-4"}'


@pytest.mark.parametrize("text, kind", [
    ("sip:jane.doe@corp.example", "SIP URI"),
    ("mail jane.doe%40corp.example", "e-mail address"),
    ('"tollNumber":"+1 425 555 1234"', "phone number"),
    ('{"name":"Jane Doe"}', "display name"),
    ('<property name="displayName">Jane Doe</property>', "display name"),
])
def test_personal_data_is_found_by_shape_without_the_value(text, kind):
    found = personal_data(text)
    assert [what for _, what in found] == [f"1 {kind} that is no pseudonym"]
    assert personal_data(Pseudonymizer(KEY).text(text)) == []


def test_lint_pii_one_line_per_finding_and_no_value(tmp_path):
    path = tmp_path / "c.yaml"
    save_cassette(path, Cassette([_exchange("https://x.test/people/sip:jane.doe@corp.example", MEETING)]))
    assert lint(path) == []
    found = lint(path, pii=True)
    assert found and all("no pseudonym" in line and "jane" not in line.lower() for line in found)
    clean = tmp_path / "clean.yaml"
    redactor = PseudonymizingRedactor(Pseudonymizer(KEY))
    save_cassette(clean, Cassette([redactor.interaction(i) for i in Cassette([_exchange(
        "https://x.test/people/sip:jane.doe@corp.example", MEETING)]).interactions]))
    assert lint(clean, pii=True) == []


def test_record_command_sets_the_options():
    args = build_parser().parse_args(["record", "c.yaml", "--pseudonymize", "--pseudonym-key", "k",
                                      "--pseudonym-map", str(Path("/elsewhere/map.json"))])
    opts = options_for(args)
    assert opts["ucwa_pseudonymize"] is True and opts["ucwa_pseudonym_key"] == "k"
    assert opts["ucwa_pseudonym_map"] == "/elsewhere/map.json"
    assert "ucwa_pseudonymize" not in options_for(build_parser().parse_args(["record", "c.yaml"]))
    replay = options_for(build_parser().parse_args(["replay", "c.yaml", "--pseudonymize"]))
    assert replay["ucwa_pseudonymize"] is True and replay["ucwa_record_mode"] == "none"
