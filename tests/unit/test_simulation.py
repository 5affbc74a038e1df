"""The simulation of myOnlineMeetings: a model learned from the cassette answers what the recording never saw.

Two recordings of differently-styled servers are built here (the style tests import them). Style A is a real
front end (ScheduleAnOnlineMeeting.md / UpdateAnOnlineMeeting.md): 200 on create, quoted numeric ETags repeated
in the body, the meeting id as the URL segment, a GUID-named PUT property, compact JSON with escaped slashes,
`application/json; charset=utf-8` and IIS headers. Style B is the reference pages' (201, unquoted GUID ETags,
numeric segments unlike the numeric meeting ids, pretty JSON) with the precise media type.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from lxml import etree
from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.cassette.codec import load_cassette
from ucwa_vcr.cassette.model import Interaction, Request, Response, header
from ucwa_vcr.protocol import UCWA_NS, parse_xml
from ucwa_vcr.simulation import Simulation, events_body

HOST = "https://lyncweb.contoso.com"
APP_A = "/ucwa/oauth/v1/applications/103985322388"
COL_A = f"{APP_A}/onlineMeetings/myOnlineMeetings"
MARKER = "56de7bbf-1081-43e6-bbf2-1cabf3224c83"
PUT_MARKER = "please pass this in a PUT request"
CT_A = "application/json; charset=utf-8"

APP_B = "/ucwa/v1/applications/192"
COL_B = f"{APP_B}/onlineMeetings/myOnlineMeetings"
ACCEPT_B = "application/vnd.microsoft.com.ucwa+json"
CT_B = "application/vnd.microsoft.com.ucwa+json; charset=utf-8"
GUID_1 = "ad207a38-2c52-4443-9b01-8228f44c1eb7"
GUID_2 = "f0eddaf5-7b28-47a7-844e-fce749b61954"
CONVERSATION = "cdc15173-e354-4d1b-9f4c-cf42ab746f3d"


def req(method: str, path: str, accept: str = "application/json", body: Any = None, ctype: str = "",
            if_match: str = "", host: str = HOST, **extra: str) -> Request:
    """A request as a client sends it (a dict body is sent as JSON, a str as it is)."""
    raw = json.dumps(body).encode() if isinstance(body, dict) else (body or "").encode()
    headers = [("Host", host.partition("://")[2]), ("Accept", accept),
               ("Authorization", "Bearer cwt=REDACTED-1")]
    if raw:
        headers.append(("Content-Type", ctype or ("application/json" if isinstance(body, dict) else "application/xml")))
    if if_match:
        headers.append(("If-Match", if_match))
    headers += [(k.replace("_", "-"), v) for k, v in extra.items()]
    return Request(method=method, url=host + path, headers=headers, body=raw)


def exchange(req: Request, status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None,
             reason: str = "") -> Interaction:
    return Interaction(request=req, response=Response(status=status, reason=reason or {200: "OK", 201: "Created",
                       204: "No Content", 409: "Conflict"}[status], headers=headers or [], body=body))


# -- style A: a real front end -----------------------------------------------------------------------------------
def real_meeting(mid: str, subject: str, etag: str, description: str = "Weekly meeting") -> dict[str, Any]:
    """A meeting as UpdateAnOnlineMeeting.md's server writes it (its property order)."""
    return {"accessLevel": "SameEnterprise", "entryExitAnnouncement": "Disabled",
            "attendees": ["sip:Chris@contoso.com", "sip:Alex@contoso.com"], "automaticLeaderAssignment": "Disabled",
            "description": description, "expirationTime": "/Date(1360199838000)/", "leaders": [],
            "onlineMeetingId": mid, "onlineMeetingUri": f"sip:Dana@contoso.com;gruu;opaque=app:conf:focus:id:{mid}",
            "onlineMeetingRel": "myOnlineMeetings", "organizerUri": "sip:Dana@contoso.com",
            "phoneUserAdmission": "Disabled", "lobbyBypassForPhoneUsers": "Disabled", "subject": subject,
            "joinUrl": f"https://meet.contoso.com/danab/{mid}", MARKER: PUT_MARKER,
            "_links": {"self": {"href": f"{COL_A}/{mid}"},
                       "onlineMeetingExtensions": {"href": f"{COL_A}/{mid}/extensions"}},
            "rel": "myOnlineMeeting", "etag": etag}


def real_json(data: Any) -> bytes:
    return json.dumps(data, indent=0, separators=(",", ":")).replace("/", "\\/").encode()


def real_headers(body: bytes, etag: str | None = None) -> list[tuple[str, str]]:
    out = [("Cache-Control", "no-cache"), ("Content-Length", str(len(body)))]
    out += [("Content-Type", CT_A)] if body else []
    out += [("ETag", f'"{etag}"')] if etag else []
    return out + [("Server", "Microsoft-IIS/7.5"), ("X-MS-Server-Fqdn", "W15-LYNC-SE1.contoso.com")]


def real_list(*meetings: dict[str, Any]) -> bytes:
    return real_json({"_links": {"self": {"href": COL_A}},
                      "_embedded": {"myAssignedOnlineMeeting": [], "myOnlineMeeting": list(meetings)},
                      "rel": "myOnlineMeetings"})


def real_xml(mid: str, subject: str) -> bytes:
    """A meeting in XML as a .NET server writes it: nested, two spaces, dates with a local offset."""
    props = "\n".join([
        '  <property name="accessLevel">SameEnterprise</property>',
        '  <propertyList name="attendees">\n    <item>sip:Chris@contoso.com</item>\n  </propertyList>',
        '  <property name="expirationTime">2013-02-06T17:17:18.0000000-08:00</property>',
        f'  <property name="onlineMeetingId">{mid}</property>',
        f'  <property name="subject">{subject}</property>',
        f'  <property name="{MARKER}">{PUT_MARKER}</property>',
        '  <property name="etag">3109609770</property>'])
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<resource rel="myOnlineMeeting" href="{COL_A}/{mid}" '
            f'xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa">\n  <link rel="onlineMeetingExtensions" '
            f'href="{COL_A}/{mid}/extensions" />\n  <property name="rel">myOnlineMeeting</property>\n{props}\n'
            f"</resource>").encode()


CREATE_A = {"subject": "holiday party", "description": "hey guys let's do a musical!",
            "attendees": ["sip:Chris@contoso.com", "sip:Alex@contoso.com"], "leaders": []}


def recording_a(with_409: bool = False) -> list[Interaction]:
    """List, create, read, update, list, read XML, (a refused create,) delete."""
    first = real_meeting("PYC58WSY", "Important details", "3109609770")
    made = real_meeting("DEDX9367", "holiday party", "891000351", "hey guys let's do a musical!")
    changed = {**made, "subject": "Weekly", "etag": "346579618"}
    put_body = {k: v for k, v in changed.items() if k != "etag"}
    out = [
        exchange(req("GET", COL_A), 200, b := real_list(first), real_headers(b)),
        exchange(req("POST", COL_A, body=CREATE_A), 200, b := real_json(made), real_headers(b, "891000351")),
        exchange(req("GET", f"{COL_A}/DEDX9367"), 200, b := real_json(made), real_headers(b, "891000351")),
        exchange(req("PUT", f"{COL_A}/DEDX9367", body=put_body, if_match='"891000351"'), 200,
                 b := real_json(changed), real_headers(b, "346579618")),
        exchange(req("GET", COL_A), 200, b := real_list(first, changed), real_headers(b)),
        exchange(req("GET", f"{COL_A}/PYC58WSY", accept="application/xml"), 200,
                 b := real_xml("PYC58WSY", "Important details"),
                 [("Content-Type", "application/xml; charset=utf-8"), ("ETag", '"3109609770"')]),
    ]
    if with_409:
        refused = b'{"code":"Conflict","subcode":"TooManyOnlineMeetings","message":"Too many."}'
        out.append(exchange(req("POST", COL_A, body={"subject": "one more"}), 409, refused,
                            [("Content-Type", CT_A)]))
    out.append(exchange(req("DELETE", f"{COL_A}/DEDX9367"), 204, b"", real_headers(b"")))
    return out


# -- style B: the reference pages' server ------------------------------------------------------------------------
def ref_meeting(segment: str, mid: str, subject: str) -> dict[str, Any]:
    """A meeting as myOnlineMeeting_ref.md writes it (its property order)."""
    return {"rel": "myOnlineMeeting", "accessLevel": "SameEnterprise", "attendees": [],
            "automaticLeaderAssignment": "Disabled", "conferenceId": "12983487", "description": "",
            "entryExitAnnouncement": "Disabled", "expirationTime": "/Date(1474932029620)/",
            "joinUrl": f"https://meet.contoso.com/bmauldin/{mid}", "leaders": [],
            "legacyOnlineMeetingUri": f"conf:sip:bmauldin@contoso.com;gruu;opaque=app:conf:focus:id:{mid}"
                                      f"?conversation-id={CONVERSATION}",
            "lobbyBypassForPhoneUsers": "Disabled", "onlineMeetingId": mid, "onlineMeetingRel": "myOnlineMeetings",
            "onlineMeetingUri": f"sip:bmauldin@contoso.com;gruu;opaque=app:conf:focus:id:{mid}",
            "organizerUri": "sip:bmauldin@contoso.com", "phoneUserAdmission": "Disabled", "subject": subject,
            "_links": {"self": {"href": f"{COL_B}/{segment}"},
                       "onlineMeetingExtensions": {"href": f"{COL_B}/{segment}/onlineMeetingExtensions"}}}


def ref_json(data: Any) -> bytes:
    text = json.dumps(data, indent=2, separators=(",", " : ")).replace("'", "\\u0027")
    return text.replace('"/Date(', '"\\/Date(').replace(')/"', ')\\/"').encode()


def recording_b() -> list[Interaction]:
    """Create, read, list."""
    made = ref_meeting("943", "20715", "Quarterly sales numbers")
    return [
        exchange(req("POST", COL_B, accept=ACCEPT_B, body={"subject": "Quarterly sales numbers"}), 201,
                 b := ref_json(made), [("Etag", GUID_1), ("Content-Type", CT_B), ("Content-Length", str(len(b)))]),
        exchange(req("GET", f"{COL_B}/943", accept=ACCEPT_B), 200, b := ref_json(made),
                 [("Etag", GUID_2), ("Content-Type", CT_B), ("Content-Length", str(len(b)))]),
        exchange(req("GET", COL_B, accept=ACCEPT_B), 200,
                 b := ref_json({"rel": "myOnlineMeetings", "_links": {"self": {"href": COL_B}},
                                "_embedded": {"myAssignedOnlineMeeting": [], "myOnlineMeeting": [made]}}),
                 [("Content-Type", CT_B), ("Content-Length", str(len(b)))]),
    ]


# -- helpers -----------------------------------------------------------------------------------------------------
NOW = 1_700_000_000.0


def simulate(interactions: list[Interaction], **kw: Any) -> Simulation:
    return Simulation.from_interactions(interactions, clock=lambda: NOW, **kw)


def body_of(response: Response) -> dict[str, Any]:
    return json.loads(response.body)


def xml_props(response: Response) -> dict[str, Any]:
    """The properties of an XML resource answer (lists as lists)."""
    root = parse_xml(response.body)
    out: dict[str, Any] = {}
    for el in root:
        if el.tag == f"{{{UCWA_NS}}}property":
            out[el.get("name")] = el.text or ""
        elif el.tag == f"{{{UCWA_NS}}}propertyList":
            out[el.get("name")] = [i.text for i in el]
    return out


def etag_of(response: Response) -> str:
    return header(response.headers, "etag")


def self_href(response: Response) -> str:
    return body_of(response)["_links"]["self"]["href"]


def path_of(href: str) -> str:
    return href.partition("://")[2].partition("/")[1] + href.partition("://")[2].partition("/")[2] \
        if "://" in href else href


def listed(sim: Simulation, col: str, accept: str = "application/json") -> list[str]:
    """The subjects the list answer shows."""
    answer = sim.answer(req("GET", col, accept=accept))
    assert answer is not None and answer.status == 200
    embedded = body_of(answer)["_embedded"]
    return [m["subject"] for group in embedded.values() for m in group]


# -- the tape, while nothing departs from it -----------------------------------------------------------------------
@pytest.mark.parametrize("recording", [recording_a(), recording_a(with_409=True), recording_b()],
                         ids=["real", "real-with-409", "reference"])
def test_replaying_the_recorded_requests_gives_back_every_recorded_answer_byte_for_byte(recording):
    sim = simulate(recording)
    for interaction in recording:
        answer = sim.answer(interaction.request)
        assert answer == interaction.response
    assert sim.pending_events() == []  # recorded writes: the tape's own events announce them


def test_seed_cassette_answers_are_recorded_bytes_while_nothing_departed():
    interactions = load_cassette(DEFAULT_CASSETTE).interactions
    sim = simulate(interactions)
    for interaction in interactions:  # lists JSON and XML, the JSON create, the XML create
        assert sim.answer(interaction.request) == interaction.response


def test_a_create_with_another_subject_is_not_answered_with_the_recorded_meeting():
    sim = simulate(recording_a())
    answer = sim.answer(req("POST", COL_A, body={**CREATE_A, "subject": "Another subject"}))
    assert answer is not None and answer.status == 200
    assert body_of(answer)["subject"] == "Another subject"
    assert body_of(answer)["onlineMeetingId"] != "DEDX9367"


def test_an_untouched_meeting_keeps_its_recorded_bytes_after_the_client_departs_elsewhere():
    recording = recording_a()
    sim = simulate(recording)
    sim.answer(req("POST", COL_A, body={"subject": "departing"}))
    xml_read = recording[5]
    assert sim.answer(xml_read.request) == xml_read.response


def test_the_list_is_recorded_bytes_again_once_the_departure_is_undone():
    recording = recording_a()
    sim = simulate(recording)
    made = sim.answer(req("POST", COL_A, body={"subject": "temporary"}))
    assert sim.answer(recording[0].request) != recording[0].response
    assert listed(sim, COL_A) == ["Important details", "temporary"]
    assert sim.answer(req("DELETE", path_of(self_href(made)))).status == 204
    assert sim.answer(recording[0].request) == recording[0].response


# -- create, read, update, delete --------------------------------------------------------------------------------
def test_json_create_read_update_delete():
    sim = simulate(recording_a())
    made = sim.answer(req("POST", COL_A, body={"subject": "Design review", "attendees": ["sip:a@contoso.com"]}))
    href = path_of(self_href(made))
    got = sim.answer(req("GET", href))
    assert got.status == 200 and body_of(got)["subject"] == "Design review"
    assert body_of(got)["attendees"] == ["sip:a@contoso.com"] and etag_of(got) == etag_of(made)
    full = {k: v for k, v in body_of(got).items() if k != "etag"}
    assert sim.answer(req("PUT", href, body={**full, "subject": "x"})).status == 428
    stale = sim.answer(req("PUT", href, body={**full, "subject": "x"}, if_match='"123"'))
    assert stale.status == 412 and body_of(stale)["subcode"] == "PreconditionFailed"
    changed = sim.answer(req("PUT", href, body={**full, "subject": "Design review II"}, if_match=etag_of(got)))
    assert changed.status == 200 and body_of(changed)["subject"] == "Design review II"
    assert etag_of(changed) != etag_of(got) and body_of(changed)["etag"] == etag_of(changed).strip('"')
    again = sim.answer(req("PUT", href, body={**full, "subject": "late"}, if_match=etag_of(got)))
    assert again.status == 412
    assert body_of(sim.answer(req("GET", href)))["subject"] == "Design review II"
    assert sim.answer(req("DELETE", href)).status == 204
    gone = sim.answer(req("GET", href))
    assert gone.status == 404 and body_of(gone) == {"code": "NotFound", "subcode": "ResourceNotFound",
                                                    "message": "The resource does not exist."}
    assert sim.answer(req("DELETE", href)).status == 404
    assert listed(sim, COL_A) == ["Important details"]


XML_INPUT = """<?xml version="1.0" encoding="utf-8"?>
<input xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa">
  <property name="accessLevel">Invited</property>
  <propertyList name="attendees"><item>sip:johndoe@contoso.com</item><item>sip:janedoe@contoso.com</item></propertyList>
  <property name="expirationTime">2024-01-02T03:04:05.0000000-08:00</property>
  <property name="subject">{subject}</property>
  {marker}
</input>"""


def test_xml_create_read_update_delete():
    sim = simulate(recording_a())
    xml = "application/xml"
    made = sim.answer(req("POST", COL_A, accept=xml, body=XML_INPUT.format(subject="XML meeting", marker="")))
    assert made.status == 200 and header(made.headers, "content-type") == "application/xml; charset=utf-8"
    root = parse_xml(made.body)
    href = root.get("href")
    props = xml_props(made)
    assert props["subject"] == "XML meeting" and props["accessLevel"] == "Invited"
    assert props["attendees"] == ["sip:johndoe@contoso.com", "sip:janedoe@contoso.com"]
    assert props["expirationTime"] == "2024-01-02T03:04:05.0000000-08:00"  # the recorded server's offset
    assert props[MARKER] == PUT_MARKER
    json_view = body_of(sim.answer(req("GET", href)))
    assert json_view["expirationTime"] == "/Date(1704193445000)/"
    no_marker = XML_INPUT.format(subject="XML meeting II", marker="")
    refused = sim.answer(req("PUT", href, accept=xml, body=no_marker, if_match=etag_of(made)))
    assert refused.status == 400 and b"ParameterValidationFailure" in refused.body and b"<reason" in refused.body
    with_marker = XML_INPUT.format(subject="XML meeting II", marker=f'<property name="{MARKER}">{PUT_MARKER}</property>')
    changed = sim.answer(req("PUT", href, accept=xml, body=with_marker, if_match=etag_of(made)))
    assert changed.status == 200 and xml_props(changed)["subject"] == "XML meeting II"
    assert sim.answer(req("DELETE", href, accept=xml)).status == 204
    gone = sim.answer(req("GET", href, accept=xml))
    assert gone.status == 404 and parse_xml(gone.body).findtext(f"{{{UCWA_NS}}}subcode") == "ResourceNotFound"


def test_put_replaces_every_setting_as_the_docs_say():
    sim = simulate(recording_b())
    made = sim.answer(req("POST", COL_B, body={"subject": "s", "description": "d", "accessLevel": "Locked"}))
    href = path_of(self_href(made))
    changed = sim.answer(req("PUT", href, body={"subject": "t"}, if_match=etag_of(made)))
    assert changed.status == 200
    assert body_of(changed)["description"] == "" and body_of(changed)["accessLevel"] == "SameEnterprise"


def test_if_none_match_on_the_current_etag_is_not_modified():
    sim = simulate(recording_b())
    made = sim.answer(req("POST", COL_B, body={"subject": "cached"}))
    href = path_of(self_href(made))
    same = sim.answer(req("GET", href, If_None_Match=etag_of(made)))
    assert same.status == 304 and same.body == b"" and etag_of(same) == etag_of(made)
    assert sim.answer(req("GET", href, If_None_Match="other")).status == 200


@pytest.mark.parametrize("body, ctype, name, status", [
    ("{not json", "application/json", "DeserializationFailure", 400),
    ("[1, 2]", "application/json", "DeserializationFailure", 400),
    ("subject=x", "application/x-www-form-urlencoded", "UnsupportedMediaType", 415),
    ('{"accessLevel": "Nobody"}', "application/json", "ParameterValidationFailure", 400),
    ('{"attendees": "sip:a@contoso.com"}', "application/json", "ParameterValidationFailure", 400),
    ('{"expirationTime": "tomorrow"}', "application/json", "ParameterValidationFailure", 400),
])
def test_a_create_the_server_cannot_take_is_refused_with_the_documented_error(body, ctype, name, status):
    sim = simulate(recording_a())
    answer = sim.answer(req("POST", COL_A, body=body, ctype=ctype))
    assert answer.status == status and body_of(answer)["subcode"] == name
    assert listed(sim, COL_A) == ["Important details"]


def test_settings_are_read_case_insensitively_and_unknown_properties_ignored():
    sim = simulate(recording_a())
    made = body_of(sim.answer(req("POST", COL_A, body={"accessLevel": "everyone", "attendanceAnnouncementsStatus": "x"})))
    assert made["accessLevel"] == "Everyone" and "attendanceAnnouncementsStatus" not in made


# -- the limit ---------------------------------------------------------------------------------------------------
def test_creates_beyond_the_limit_are_refused_with_409_too_many_online_meetings():
    sim = simulate(recording_a(), max_meetings=3)
    assert [sim.answer(req("POST", COL_A, body={"subject": f"m{i}"})).status for i in range(3)] == [200, 200, 409]
    refused = sim.answer(req("POST", COL_A, body={"subject": "m4"}, accept="application/xml"))
    assert refused.status == 409 and parse_xml(refused.body).findtext(f"{{{UCWA_NS}}}subcode") == "TooManyOnlineMeetings"
    assert len(listed(sim, COL_A)) == 3
    first = [m for m in sim.meetings() if m.resource.get("subject") == "m0"][0]
    assert sim.answer(req("DELETE", f"{COL_A}/{first.segment}")).status == 204
    assert sim.answer(req("POST", COL_A, body={"subject": "m5"})).status == 200


def test_the_limit_is_learned_from_a_recorded_409():
    recording = recording_a(with_409=True)
    sim = simulate(recording)
    assert (sim.max_meetings, sim.style.max_meetings_from) == (2, "recording")
    # one meeting at the start: one more may be made, as in the recording, then the recorded refusal's turn
    assert [sim.answer(req("POST", COL_A, body={"subject": s})).status for s in ("second", "third")] == [200, 409]


def test_without_a_recorded_409_the_limit_is_the_server_default():
    sim = simulate(recording_b())
    assert (sim.max_meetings, sim.style.max_meetings_from) == (1000, "default")


# -- sessions, events, what is not the model's -------------------------------------------------------------------
def test_a_new_session_application_id_is_matched_and_used_in_the_answers():
    sim = simulate(recording_a())
    other = "/ucwa/oauth/v1/applications/555000111/onlineMeetings/myOnlineMeetings"
    made = sim.answer(req("POST", other, body={"subject": "new session"}))
    assert self_href(made).startswith("/ucwa/oauth/v1/applications/555000111/onlineMeetings/myOnlineMeetings/")
    assert sim.answer(req("GET", path_of(self_href(made)))).status == 200
    assert sim.answer(recording_a()[0].request).status == 200


def test_requests_the_model_does_not_keep_are_left_to_the_tape():
    sim = simulate(recording_a())
    assert sim.answer(req("GET", f"{APP_A}/me")) is None
    assert sim.answer(req("GET", f"{APP_A}/onlineMeetings/onlineMeetingDefaultValues")) is None
    assert sim.answer(req("GET", f"{COL_A}/PYC58WSY/extensions")) is None
    assert sim.answer(req("PATCH", COL_A)).status == 405


def test_model_changes_are_drained_as_event_channel_entries():
    sim = simulate(recording_a())
    made = sim.answer(req("POST", COL_A, body={"subject": "evented"}))
    href = self_href(made)
    full = {k: v for k, v in body_of(made).items() if k != "etag"}
    sim.answer(req("PUT", path_of(href), body=full, if_match=etag_of(made)))
    sim.answer(req("DELETE", path_of(href)))
    events = sim.pending_events()
    assert [(e.type, e.rel, e.href) for e in events] == [(t, "myOnlineMeeting", href) for t in
                                                         ("added", "updated", "deleted")]
    assert sim.pending_events() == []
    body, ctype = events_body(events, f"{APP_A}/events?ack=2", f"{APP_A}/events?ack=3", "application/json")
    data = json.loads(body)
    assert data["sender"] == [{"rel": "onlineMeetings", "href": f"{APP_A}/onlineMeetings",
                               "events": [{"link": {"rel": "myOnlineMeeting", "href": href}, "type": t}
                                          for t in ("added", "updated", "deleted")]}]
    xml, _ = events_body(events, f"{APP_A}/events?ack=2", f"{APP_A}/events?ack=3", "application/xml")
    assert [etree.QName(e).localname for e in parse_xml(xml).iter(f"{{{UCWA_NS}}}added", f"{{{UCWA_NS}}}deleted")] \
        == ["added", "deleted"]


def test_the_recorded_event_shape_is_followed():
    events_url = f"{HOST}{APP_A}/events?ack=1"
    recorded = {"_links": {"self": {"href": f"{APP_A}/events?ack=1"}, "next": {"href": f"{APP_A}/events?ack=2"}},
                "sender": [{"rel": "myOnlineMeetings", "href": COL_A, "events": [
                    {"link": {"rel": "myOnlineMeeting", "href": f"{COL_A}/PYC58WSY"},
                     "in": {"rel": "myOnlineMeetings", "href": COL_A}, "type": "updated"}]}]}
    events = exchange(Request(method="GET", url=events_url, headers=[("Accept", "application/json")]), 200,
                      json.dumps(recorded).encode(), [("Content-Type", CT_A)])
    sim = simulate([*recording_a(), events])
    sim.answer(req("POST", COL_A, body={"subject": "evented"}))
    (event,) = sim.pending_events()
    assert (event.sender_rel, event.sender_href) == ("myOnlineMeetings", f"{APP_A}/onlineMeetings/myOnlineMeetings")
    assert event.to_json()["in"] == {"rel": "myOnlineMeetings", "href": COL_A}


def test_new_values_are_the_same_every_run():
    def ids() -> list[str]:
        sim = simulate(recording_a())
        return [body_of(sim.answer(req("POST", COL_A, body={"subject": str(i)})))["onlineMeetingId"]
                for i in range(3)]

    assert ids() == ids() and len(set(ids())) == 3


def test_the_simulation_never_imports_mitmproxy():
    probe = ("import sys\nimport ucwa_vcr.simulation\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mitmproxy'))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_a_seeded_meeting_can_be_read_changed_and_deleted():
    interactions = load_cassette(DEFAULT_CASSETTE).interactions
    sim = simulate(interactions)
    col = "//v1/applications/833/onlineMeetings/myOnlineMeetings"
    got = sim.answer(req("GET", f"{col}/318", host="https://fe1.contoso.com"))
    assert got.status == 200 and body_of(got)["rel"] == "myAssignedOnlineMeeting" and etag_of(got)
    changed = sim.answer(req("PUT", f"{col}/318", host="https://fe1.contoso.com", if_match=etag_of(got),
                             body={**body_of(got), "subject": "Renamed"}))
    assert changed.status == 200 and body_of(changed)["subject"] == "Renamed"
    assert body_of(changed)["conferenceId"] == "12983487"  # server-side values stay as they were
    assert sim.answer(req("DELETE", f"{col}/318", host="https://fe1.contoso.com")).status == 204
    listing = body_of(sim.answer(interactions[0].request))["_embedded"]
    assert (len(listing["myAssignedOnlineMeeting"]), len(listing["myOnlineMeeting"])) == (0, 1)


def test_a_recorded_location_header_points_at_the_new_meeting():
    recorded = recording_b()
    recorded[0].response.headers.append(("Location", f"https://fe1.contoso.com{COL_B}/943"))
    sim = simulate(recorded)
    made = sim.answer(req("POST", COL_B, accept=ACCEPT_B, body={"subject": "located"}))
    assert header(made.headers, "location") == "https://fe1.contoso.com" + self_href(made)
