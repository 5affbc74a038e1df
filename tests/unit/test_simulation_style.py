"""The simulation learns the recorded server's style and makes new meetings in it (the reference pages' without one)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from test_simulation import (
    ACCEPT_B,
    COL_A,
    COL_B,
    CONVERSATION,
    CT_A,
    CT_B,
    MARKER,
    PUT_MARKER,
    body_of,
    etag_of,
    exchange,
    real_headers,
    real_meeting,
    recording_a,
    recording_b,
    req,
    simulate,
    xml_props,
)
from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.cassette.codec import load_cassette
from ucwa_vcr.cassette.model import Interaction, Request, header
from ucwa_vcr.protocol import UCWA_NS, parse_xml
from ucwa_vcr.simulation import describe, reference
from ucwa_vcr.testing import representations

GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
STYLES = {
    # recording, collection, Accept, create (status, reason), ETag header, ETag form, Content-Type, id, segment
    "real: 200 + quoted digits": (recording_a, COL_A, "application/json", (200, "OK"), "ETag", r'"\d{9}"', CT_A,
                                  r"[A-Z0-9]{8}", "same as id"),
    "reference: 201 + GUID": (recording_b, COL_B, ACCEPT_B, (201, "Created"), "Etag", GUID, CT_B, r"\d{5}", r"\d{3}"),
}


@pytest.mark.parametrize("name", STYLES)
def test_a_new_meeting_is_answered_as_the_recorded_server_answers(name):
    recording, col, accept, created, etag_name, etag_form, ctype, id_form, segment_form = STYLES[name]
    recorded = recording()
    create = next(i for i in recorded if i.request.method == "POST")
    sim = simulate(recorded)
    answer = sim.answer(req("POST", col, accept=accept, body={"subject": "Brand new", "leaders": []}))
    assert (answer.status, answer.reason) == created
    assert [k for k, _ in answer.headers] == [k for k, _ in create.response.headers]
    assert re.fullmatch(etag_form, header(answer.headers, etag_name)) and etag_of(answer) != etag_of(create.response)
    assert header(answer.headers, "content-type") == ctype
    assert header(answer.headers, "content-length") == str(len(answer.body))
    made, template = body_of(answer), json.loads(create.response.body)
    assert list(made) == list(template)  # the recorded properties, unknown GUID-named ones too, in its order
    assert made["subject"] == "Brand new"
    assert re.fullmatch(id_form, made["onlineMeetingId"]) and made["onlineMeetingId"] != template["onlineMeetingId"]
    segment = made["_links"]["self"]["href"].removeprefix(col + "/")
    assert made["_links"]["self"]["href"] == f"{col}/{segment}"
    assert segment == made["onlineMeetingId"] if segment_form == "same as id" else re.fullmatch(segment_form, segment)
    for derived in ("joinUrl", "onlineMeetingUri"):
        assert made[derived] == template[derived].replace(template["onlineMeetingId"], made["onlineMeetingId"])
    assert made["organizerUri"] == template["organizerUri"]
    assert sim.answer(req("GET", f"{col}/{segment}", accept=accept)).status == 200


def test_the_real_style_repeats_the_etag_and_the_put_property_in_the_body_and_writes_compact_json():
    sim = simulate(recording_a())
    answer = sim.answer(req("POST", COL_A, body={"subject": "Compact"}))
    made = body_of(answer)
    assert made[MARKER] == PUT_MARKER and f'"{made["etag"]}"' == etag_of(answer)
    assert answer.body.startswith(b'{\n"accessLevel":"SameEnterprise",\n')
    assert b"\\/ucwa\\/oauth\\/v1\\/applications\\/103985322388\\/onlineMeetings" in answer.body
    assert made["expirationTime"] == "/Date(1700028800000)/"  # not given: 8 hours from now (the docs)
    assert b'"expirationTime":"\\/Date(1700028800000)\\/"' in answer.body
    assert [k for k, _ in answer.headers] == ["Cache-Control", "Content-Length", "Content-Type", "ETag", "Server",
                                              "X-MS-Server-Fqdn"]


def test_the_reference_style_writes_pretty_json_and_fresh_conversation_ids():
    sim = simulate(recording_b())
    answer = sim.answer(req("POST", COL_B, accept=ACCEPT_B, body={"description": "We'll meet"}))
    assert answer.body.startswith(b'{\n  "rel" : "myOnlineMeeting",\n')
    assert b"We\\u0027ll meet" in answer.body and b"\\/Date(" in answer.body
    legacy = body_of(answer)["legacyOnlineMeetingUri"]
    assert body_of(answer)["onlineMeetingId"] in legacy and CONVERSATION not in legacy


def test_the_content_type_names_the_media_type_asked_for_when_the_server_did():
    sim = simulate(recording_b())
    plain = sim.answer(req("POST", COL_B, accept="application/json", body={"subject": "plain"}))
    assert header(plain.headers, "content-type") == "application/json; charset=utf-8"
    xml = sim.answer(req("POST", COL_B, accept="application/vnd.microsoft.com.ucwa+xml", body={"subject": "xml"}))
    assert header(xml.headers, "content-type") == "application/vnd.microsoft.com.ucwa+xml; charset=utf-8"
    assert xml_props(xml)["subject"] == "xml"


def test_xml_is_written_in_the_recorded_layout_and_order():
    sim = simulate(recording_a())
    answer = sim.answer(req("POST", COL_A, accept="application/xml", body={"subject": "Layout"}))
    lines = answer.body.decode().split("\n")
    assert lines[0] == '<?xml version="1.0" encoding="utf-8"?>'
    assert lines[2].startswith('  <link rel="onlineMeetingExtensions"') and lines[2].endswith(" />")
    names = [el.get("name") for el in parse_xml(answer.body) if el.get("name")]
    recorded_order = ["rel", "accessLevel", "attendees", "expirationTime", "onlineMeetingId", "subject", MARKER,
                      "etag"]
    assert [n for n in names if n in recorded_order] == recorded_order
    assert '  <propertyList name="attendees" />' in lines  # nested two spaces, as recorded


# -- no meeting in the cassette: the reference pages ---------------------------------------------------------------
def test_without_a_recording_new_meetings_take_the_reference_shape():
    sim = simulate([])
    col = "/ucwa/oauth/v1/applications/42/onlineMeetings/myOnlineMeetings"
    answer = sim.answer(req("POST", col, body={"subject": "From the docs"}))
    assert (answer.status, answer.reason) == (201, "Created")
    assert re.fullmatch(GUID, header(answer.headers, "Etag")) and [k for k, _ in answer.headers][0] == "Etag"
    assert header(answer.headers, "content-type") == "application/json"
    made = body_of(answer)
    assert list(made) == list(reference.MEETING)
    assert made["_links"]["self"]["href"].startswith(col + "/")
    assert re.fullmatch(r"[A-Z0-9]{8}", made["onlineMeetingId"])
    listing = body_of(sim.answer(req("GET", col)))
    assert list(listing) == ["rel", "_links", "_embedded"]
    assert listing["_embedded"]["myAssignedOnlineMeeting"] == []
    assert [m["subject"] for m in listing["_embedded"]["myOnlineMeeting"]] == ["From the docs"]


def test_an_empty_recorded_list_gives_the_server_headers_and_the_reference_meeting():
    empty = json.dumps({"_links": {"self": {"href": COL_A}}, "_embedded": {"myOnlineMeeting": []},
                        "rel": "myOnlineMeetings"}).encode()
    sim = simulate([exchange(req("GET", COL_A), 200, empty, real_headers(empty))])
    assert sim.answer(req("GET", COL_A)).body == empty
    answer = sim.answer(req("POST", COL_A, body={"subject": "first"}))
    assert header(answer.headers, "content-type") == CT_A and header(answer.headers, "server") == "Microsoft-IIS/7.5"
    assert list(body_of(answer)) == list(reference.MEETING)
    assert body_of(answer)["_links"]["self"]["href"].startswith(COL_A + "/")
    listing = body_of(sim.answer(req("GET", COL_A)))
    assert list(listing) == ["_links", "_embedded", "rel"] and list(listing["_embedded"]) == ["myOnlineMeeting"]


def test_a_list_only_recording_seeds_its_meetings_and_learns_from_them():
    listing = json.dumps({"_embedded": {"myOnlineMeeting": [real_meeting("PYC58WSY", "Listed", "1")]}}).encode()
    sim = simulate([exchange(req("GET", COL_A), 200, listing, [("Content-Type", CT_A)])])
    assert [m.segment for m in sim.meetings()] == ["PYC58WSY"]
    got = sim.answer(req("GET", f"{COL_A}/PYC58WSY"))
    assert got.status == 200 and body_of(got)["subject"] == "Listed" and etag_of(got) == '"1"'
    made = sim.answer(req("POST", COL_A, body={"subject": "x"}))
    assert made.status == 200  # real-server ETags (quoted digits): a real server's create status


# -- the shipped seed cassette -------------------------------------------------------------------------------------
def test_seed_new_meetings_follow_the_seed_style():
    interactions = load_cassette(DEFAULT_CASSETTE).interactions
    sim = simulate(interactions)
    learned = describe(sim.style)
    assert (learned["collection"], learned["id"], learned["etag_quoted"], learned["max_meetings"]) == (
        "//v1/applications/{app}/onlineMeetings/myOnlineMeetings", "IB88RLLY", False, (1000, "default"))
    col = "//v1/applications/833/onlineMeetings/myOnlineMeetings"
    answer = sim.answer(req("POST", col, host="https://fe1.contoso.com", body={"subject": "Seeded"}))
    assert (answer.status, answer.reason, header(answer.headers, "content-type")) == (201, "Created",
                                                                                      "application/json")
    assert re.fullmatch(GUID, header(answer.headers, "Etag"))
    made = body_of(answer)
    assert list(made) == list(json.loads(interactions[2].response.body))
    assert re.fullmatch(rf"{re.escape(col)}/\d{{3}}", made["_links"]["self"]["href"])
    assert made["joinUrl"] == f"https://meet.contoso.com/bmauldin/{made['onlineMeetingId']}"
    listing = sim.answer(interactions[0].request)
    assert listing.body != interactions[0].response.body
    assert [len(g) for g in body_of(listing)["_embedded"].values()] == [1, 2]
    assert sim.answer(interactions[1].request).body != interactions[1].response.body  # the XML list too


def test_seed_xml_create_from_xml_input():
    interactions = load_cassette(DEFAULT_CASSETTE).interactions
    sim = simulate(interactions)
    xml_create = interactions[3].request
    body = xml_create.body.replace(b"Quarterly sales numbers", b"Annual numbers")
    answer = sim.answer(type(xml_create)(method="POST", url=xml_create.url, headers=xml_create.headers, body=body))
    assert answer.status == 201 and header(answer.headers, "content-type") == "application/xml"
    props = xml_props(answer)
    assert props["subject"] == "Annual numbers" and props["accessLevel"] == "Invited"
    assert props["expirationTime"] == "2015-07-14T20:54:07.8080000-05:00"
    assert parse_xml(answer.body).get("href").startswith("//v1/applications/833/onlineMeetings/myOnlineMeetings/")


# -- style C: the fake origin (ucwa_vcr.testing): only what the client sent, no rel property, dates echoed ---------
APP_C = "/ucwa/oauth/v1/applications/68311790382"
COL_C = f"{APP_C}/onlineMeetings/myOnlineMeetings"
XML = "application/xml"


def fake_answer(request: Request, status: int, mid: str, props: dict[str, Any], etag: int) -> Interaction:
    """The fake origin's answer for meeting `mid`, written by its own writer (testing.representations)."""
    body, ctype = representations.resource("myOnlineMeeting", f"{COL_C}/{mid}", representations.meeting(mid, props),
                                           {}, header(request.headers, "accept"))
    headers = [("Server", "Microsoft-IIS/8.5"), ("Date", "Wed, 25 Nov 2026 14:30:10 GMT"), ("Content-Type", ctype),
               ("ETag", f'"{etag}"'), ("Content-Length", str(len(body)))]
    return exchange(request, status, body, headers)


def recording_c(sent: dict[str, Any] | None = None) -> list[Interaction]:
    """A JSON create (`sent`: its body, a subject only by default), an XML create of a subject only, a read."""
    sent = sent or {"subject": "Recorded in JSON"}
    xml_create = req("POST", COL_C, accept=XML, body=f'<input xmlns="{UCWA_NS}"><property name="subject">Recorded'
                                                    f" in XML</property></input>")
    return [fake_answer(req("POST", COL_C, body=sent), 201, "M0001", sent, 1000),
            fake_answer(xml_create, 201, "M0002", {"subject": "Recorded in XML"}, 2000),
            fake_answer(req("GET", f"{COL_C}/M0001"), 200, "M0001", sent, 1000)]


def has_rel_property(body: bytes) -> bool:
    return any(el.get("name") == "rel" for el in parse_xml(body).iter(f"{{{UCWA_NS}}}property"))


def test_xml_writes_the_rel_property_only_when_the_recorded_server_does():
    sim = simulate(recording_c())
    made = sim.answer(req("POST", COL_C, accept=XML, body={"subject": "No rel property"}))
    assert made.status == 201 and not has_rel_property(made.body)
    assert parse_xml(made.body).get("rel") == "myOnlineMeeting"  # the attribute names it
    assert not has_rel_property(sim.answer(req("GET", COL_C, accept=XML)).body)  # the list and its meetings
    seed = simulate(load_cassette(DEFAULT_CASSETTE).interactions)
    col = "//v1/applications/833/onlineMeetings/myOnlineMeetings"
    assert has_rel_property(seed.answer(req("POST", col, accept=XML, body={"subject": "rel"})).body)
    reference_made = simulate([]).answer(req("POST", COL_C, accept=XML, body={"subject": "reference"}))
    assert has_rel_property(reference_made.body)


def test_a_create_shows_only_what_the_recorded_server_added_to_what_was_sent():
    recorded = recording_c()
    sim = simulate(recorded)
    made = sim.answer(req("POST", COL_C, body={"subject": "Only a subject"}))
    assert made.status == 201 and list(body_of(made)) == list(json.loads(recorded[0].response.body))
    href = body_of(made)["_links"]["self"]["href"]
    assert sim.answer(req("GET", href)).body == made.body  # a later read shows what the create answered
    xml = sim.answer(req("POST", COL_C, accept=XML, body={"subject": "XML subject", "description": "Given"}))
    assert list(xml_props(xml)) == ["description", "subject", "onlineMeetingId", "joinUrl", "organizerUri",
                                    "3f1b0b62-7e5f-4c9b-9c9a-5a0f2d9a7d11"]
    assert sim.answer(req("GET", parse_xml(xml.body).get("href"), accept=XML)).body == xml.body


def test_a_create_fills_what_the_recorded_server_filled_and_the_reference_defaults_where_it_shows_nothing():
    # recording A's create left accessLevel, expirationTime (and others) out and was answered with them; it sent
    # description: what a real server fills for it is not shown, the reference pages' default stands
    sim = simulate(recording_a())
    made = body_of(sim.answer(req("POST", COL_A, body={"subject": "Defaults"})))
    assert made["accessLevel"] == "SameEnterprise" and made["expirationTime"] == "/Date(1700028800000)/"
    assert made["description"] == ""


@pytest.mark.parametrize("recorded, sent, written", [
    ("2030-01-01T12:00:00Z", "2031-02-03T05:05:06.789+01:00", "2031-02-03T04:05:06Z"),
    ("2030-01-01T12:00:00.123+02:00", "/Date(1927857906789)/", "2031-02-03T06:05:06.789+02:00"),
    ("2030-01-01T12:00:00.1234567-0800", "2031-02-03T04:05:06Z", "2031-02-02T20:05:06.0000000-0800"),
    ("2030-01-01T12:00:00", "2031-02-03T04:05:06Z", "2031-02-03T04:05:06"),
    ("/Date(1893499200000)/", "2031-02-03T04:05:06Z", "/Date(1927857906000)/"),
])
def test_json_dates_are_written_in_the_recorded_form(recorded, sent, written):
    sim = simulate(recording_c({"subject": "Dated", "expirationTime": recorded}))
    made = sim.answer(req("POST", COL_C, body={"subject": "Dated too", "expirationTime": sent}))
    assert body_of(made)["expirationTime"] == written
    as_xml = sim.answer(req("GET", body_of(made)["_links"]["self"]["href"], accept=XML))
    if not written.startswith("/Date"):  # no XML date recorded: the JSON one's form
        assert xml_props(as_xml)["expirationTime"] == written


def test_a_json_date_is_written_as_asp_net_writes_it_when_the_recording_shows_none():
    sim = simulate(recording_c())
    made = sim.answer(req("POST", COL_C, body={"subject": "Dated", "expirationTime": "2031-02-03T04:05:06Z"}))
    assert body_of(made)["expirationTime"] == "/Date(1927857906000)/"


def test_without_recorded_xml_its_dates_take_the_form_of_the_recorded_json_ones():
    json_only = [i for i in recording_c({"subject": "Dated", "expirationTime": "2030-01-01T12:00:00.12+01:00"})
                 if "xml" not in header(i.request.headers, "accept")]
    sim = simulate(json_only)
    made = sim.answer(req("POST", COL_C, accept=XML, body={"subject": "XML", "expirationTime": "/Date(1927857906789)/"}))
    assert xml_props(made)["expirationTime"] == "2031-02-03T05:05:06.78+01:00"
    assert has_rel_property(made.body)  # no XML recorded: the reference pages' form
