"""Protocol knowledge: which traffic is UCWA, and the error catalogue against the documented tables."""

from __future__ import annotations

import json

import pytest
from lxml import etree
from ucwa_vcr.protocol import ERRORS, UCWA_NS, error_body, is_events, is_online_meetings, is_ucwa, normalise_path

# ErrorsAndInformationalMessages.md: HTTP status <-> UCWA code
STATUS_OF_CODE = {"BadRequest": 400, "Forbidden": 403, "NotFound": 404, "MethodNotAllowed": 405, "ClientTimeout": 408,
                  "Conflict": 409, "Gone": 410, "PreconditionFailed": 412, "EntityTooLarge": 413,
                  "UnsupportedMediaType": 415, "PreconditionRequired": 428, "TooManyRequests": 429,
                  "ServiceFailure": 500, "ServiceUnavailable": 503, "Timeout": 504}
DOCUMENTED = {  # myOnlineMeetings_ref.md, myOnlineMeeting_ref.md, EventChannelDetails.md: name -> (status, code, subcode)
    "TooManyOnlineMeetings": (409, "Conflict", "TooManyOnlineMeetings"),
    "CallbackChannelError": (500, "ServiceFailure", "CallbackChannelError"),
    "AlreadyExists": (409, "Conflict", "AlreadyExists"),
    "TooManyGroups": (409, "Conflict", "TooManyGroups"),
    "InvalidExchangeServerVersion": (500, "ServiceFailure", "InvalidExchangeServerVersion"),
    "CannotRedirect": (410, "Gone", "CannotRedirect"),
    "PGetReplaced": (409, "Conflict", "PGetReplaced"),
    "APIVersionNotSupported": (404, "NotFound", "APIVersionNotSupported"),
}
GENERIC = ["ApplicationNotFound", "BadRequest", "DeserializationFailure", "EntityTooLarge", "ExchangeServiceFailure",
           "InactiveApplicationExpired", "MethodNotAllowed", "MobileApplicationNoLongerAllowed",
           "ParameterValidationFailure", "PreconditionFailed", "PreconditionRequired", "ResourceNotFound",
           "ServiceFailure", "ServiceTimeout", "TooManyApplications", "UnsupportedMediaType", "VersionNotSupported"]


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_every_error_status_agrees_with_its_code(name):
    err = ERRORS[name]
    assert STATUS_OF_CODE[err.code] == err.status and err.message


def test_catalogue_holds_every_documented_error():
    for name, (status, code, subcode) in DOCUMENTED.items():
        assert (ERRORS[name].status, ERRORS[name].code, ERRORS[name].subcode) == (status, code, subcode)
    assert set(GENERIC) <= set(ERRORS)


@pytest.mark.parametrize("accept", ["application/json", "application/vnd.microsoft.com.ucwa+json", "*/*", ""])
def test_json_error_body(accept):
    body, ctype = error_body("Conflict", "TooManyOnlineMeetings", "Too many.", accept)
    assert ctype == "application/json; charset=utf-8"
    assert json.loads(body) == {"code": "Conflict", "subcode": "TooManyOnlineMeetings", "message": "Too many."}


def test_xml_error_body():
    body, ctype = error_body("Gone", None, "a <b> & c", "application/vnd.microsoft.com.ucwa+xml")
    root = etree.fromstring(body)
    assert ctype == "application/xml; charset=utf-8" and root.tag == f"{{{UCWA_NS}}}reason"
    assert [(etree.QName(c).localname, c.text) for c in root] == [("code", "Gone"), ("message", "a <b> & c")]


@pytest.mark.parametrize(("host", "path", "ucwa"), [
    ("lyncdiscover.contoso.com", "/", True),
    ("LyncDiscoverInternal.contoso.com", "/", True),
    ("fe1.contoso.com", "/Autodiscover/AutodiscoverService.svc/root/oauth/user", True),
    ("fe1.contoso.com", "/webticket/oauthtoken", True),
    ("fe1.contoso.com", "/WebTicket/oauthtoken", True),
    ("fe1.contoso.com", "/ucwa/oauth/v1/applications", True),
    ("fe1.contoso.com", "//v1/applications/833/onlineMeetings/myOnlineMeetings", True),
    ("cdn.contoso.com", "/static/app.js", False),
])
def test_is_ucwa(host, path, ucwa):
    assert is_ucwa(host, path) is ucwa


def test_resource_kinds_and_normalisation():
    assert is_online_meetings("/ucwa/oauth/v1/applications/1/onlineMeetings/myOnlineMeetings/M1")
    assert not is_online_meetings("/ucwa/oauth/v1/applications/1/me")
    assert is_events("/ucwa/anonymous/v1/applications/77/events") and not is_events("/ucwa/oauth/v1/applications/7/eventsX")
    assert normalise_path("/ucwa/anonymous/v1/applications/98765432101/me") == "/ucwa/anonymous/v1/applications/{app}/me"


def test_xml_bodies_never_expand_external_entities():
    from ucwa_vcr.protocol import parse_xml

    root = parse_xml(b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>')
    assert "root:" not in etree.tostring(root).decode()
