"""Protocol knowledge: which traffic is UCWA, and the error catalogue against the documented tables."""

from __future__ import annotations

import json

import pytest
from lxml import etree
from ucwa_vcr.protocol import (
    ERRORS,
    UCWA_NS,
    error_body,
    is_events,
    is_online_meetings,
    is_ucwa,
    linked_hosts,
    normalise_path,
)

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
    ("fe1.contoso.com", "//ucwa/oauth/v1/applications/1/events?ack=3", True),  # joined onto a root ending in "/"
    ("fe1.contoso.com", "///Autodiscover/AutodiscoverService.svc/root/oauth/user", True),
    ("login.microsoftonline.com", "/contoso.onmicrosoft.com/oauth2/token", True),  # an Online sign-in
    ("LOGIN.MICROSOFTONLINE.US", "/common/oauth2/v2.0/token", True),
    ("login.windows.net", "/0b0c5e2f-1111-2222-3333-444444444444/oauth2/token?api-version=1.0", True),
    ("login.microsoftonline.com", "/common/oauth2/authorize", False),  # a browser page, not the token exchange
    ("login.microsoftonline.com.evil.example", "/x/oauth2/token", False),
    ("fe1.contoso.com", "/PassiveAuth/signin", False),
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


@pytest.mark.parametrize(("headers", "body", "hosts"), [
    ([], '{"_links":{"user":{"href":"https://fe1.contoso.com/Autodiscover/x"}}}', {"fe1.contoso.com"}),
    ([], '{"_links":{"user":{"href":"https:\\/\\/FE1.contoso.com:4443\\/Autodiscover"}}}', {"fe1.contoso.com"}),
    ([], '<resource><link rel="user" href="https://pool.contoso.com/x"/></resource>', {"pool.contoso.com"}),
    ([], "<link rel='xframe' href='https://[2001:db8::1]:443/x'/>", {"2001:db8::1"}),
    ([("WWW-Authenticate", 'MsRtcOAuth href="https://fe1.contoso.com/WebTicket/oauthtoken",grant_type="password"')],
     "", {"fe1.contoso.com"}),
    ([("www-authenticate", "msrtcoauth href=https://fe2.contoso.com/webticket/oauthtoken,grant_type=password")],
     "", {"fe2.contoso.com"}),
    ([("WWW-Authenticate", 'Bearer authorization_uri="https://login.windows.net/common/oauth2/authorize", '
                           'resource="https://webdir.online.lync.com"')], "", {"login.windows.net"}),
    ([("Location", "https://webpoolam41e02.infra.lync.com/ucwa/oauth/v1/applications/1")], "",
     {"webpoolam41e02.infra.lync.com"}),
    ([("Location", "/ucwa/oauth/v1/applications/1")], '{"_links":{"self":{"href":"/ucwa/x"}}}', set()),
    ([("X-Other", 'href="https://not.a.link.example/"')], "see https://docs.example/ for help", set()),
])
def test_hosts_an_answer_links_to(headers, body, hosts):
    assert linked_hosts(headers, body) == hosts
