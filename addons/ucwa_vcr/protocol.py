"""What ucwa-vcr knows about the UCWA protocol: which traffic is UCWA, URL shapes, error bodies."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from .scan import caseless, finditer_near

UCWA_NS = "http://schemas.microsoft.com/rtc/2012/03/ucwa"

# Paths served by a UCWA front end (web ticket path case varies between servers). Clients that join hrefs onto
# a root ending in "/" send "//ucwa/...", which IIS serves like "/ucwa/...".
UCWA_PATH = re.compile(r"^/+(ucwa/|autodiscover/|webticket/|v1/applications/)", re.IGNORECASE)
DISCOVERY_HOST = re.compile(r"^lyncdiscover", re.IGNORECASE)
# The Azure AD token exchange of a Skype for Business Online sign-in (any national cloud, v1 and v2 endpoints).
AAD_HOST = re.compile(r"^(login\.microsoftonline\.(com|us|de)|login\.windows\.net|login\.chinacloudapi\.cn"
                      r"|login\.partner\.microsoftonline\.cn|sts\.windows\.net)$", re.IGNORECASE)
AAD_TOKEN_PATH = re.compile(r"^/+[^/]+/oauth2/(v2\.0/)?token(\?|$)", re.IGNORECASE)
# An absolute link in a UCWA answer: JSON or XML hrefs (JSON may escape "/" as "\/"), the MsRtcOAuth href and the
# Bearer authorization_uri of a 401 challenge, quoted or not.
_LINK = re.compile(r"""(?:href|authorization_uri)"?\s*[:=]\s*["']?https?:(?:\\?/){2}([^/\\"'\s,<>?#]+)""",
                   re.IGNORECASE)
_LINK_NEEDLES = ("href", "authorization_uri")  # where a _LINK match starts, lower-cased
_LOCATION = re.compile(r"^\s*https?://([^/\s?#]+)", re.IGNORECASE)

# The per-session application id: /ucwa/oauth/v1/applications/<id>/..., /ucwa/v1/..., //v1/... (docs).
APPLICATION_ID = re.compile(r"(/v1/applications/)([^/?#]+)")
ONLINE_MEETINGS = re.compile(r"/v1/applications/[^/]+/onlineMeetings(/|$)")
EVENTS_PATH = re.compile(r"/v1/applications/[^/]+/events$")
# Event-channel query parameters a client may change freely; `ack` is never one of them.
EVENT_TUNING_PARAMS = frozenset({"timeout", "low", "medium", "priority"})


# Bodies come from servers and clients we do not control: no entity expansion, no network look-ups.
_XML_PARSER = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)


def parse_xml(body: bytes) -> Any:
    """A UCWA XML body as an lxml element (whitespace between elements dropped); XMLSyntaxError if it is not XML."""
    return etree.fromstring(body, _XML_PARSER)


def is_ucwa(host: str, path: str) -> bool:
    """Whether a request belongs to a UCWA session by the protocol's own URLs (hosts it learns come on top)."""
    return bool(UCWA_PATH.match(path) or DISCOVERY_HOST.match(host)
                or (AAD_HOST.match(host) and AAD_TOKEN_PATH.match(path)))


def _hostname(authority: str) -> str:
    """The host of `user@host:port` or `[v6]:port`, lower-case, without brackets or port."""
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        return host[1:].partition("]")[0].lower()
    return host.partition(":")[0].lower()


def _link_hosts(text: str) -> set[str]:
    """The hosts of the absolute links in a body or a challenge (_LINK.finditer, tried only at its needles)."""
    return {_hostname(m.group(1)) for m in finditer_near(text, caseless(text), _LINK_NEEDLES, 0, _LINK)}


def linked_hosts(headers: list[tuple[str, str]], body: str) -> set[str]:
    """The hosts an answer sends its client to: absolute hrefs in the body, WWW-Authenticate hrefs and
    authorization_uri, Location. A session's discovery document names its pool this way."""
    found = _link_hosts(body)
    for name, value in headers:
        lname = name.lower()
        if lname == "www-authenticate":
            found |= _link_hosts(value)
        elif lname in ("location", "content-location"):
            m = _LOCATION.match(value)
            if m:
                found.add(_hostname(m.group(1)))
    found.discard("")
    return found


def is_online_meetings(path: str) -> bool:
    """Whether the path is an onlineMeetings resource (myOnlineMeetings and everything under it)."""
    return bool(ONLINE_MEETINGS.search(path))


def is_events(path: str) -> bool:
    """Whether the path is an application's event channel."""
    return bool(EVENTS_PATH.search(path))


def normalise_path(path: str) -> str:
    """The path with the per-session application id replaced, so sessions compare."""
    return APPLICATION_ID.sub(r"\1{app}", path)


def representation(accept: str) -> str:
    """`json`, `xml` or `` (unspecified) for an Accept header value."""
    accept = accept.lower()
    if "json" in accept:
        return "json"
    if "xml" in accept:
        return "xml"
    return ""


@dataclass(frozen=True)
class UcwaError:
    """One documented UCWA error: HTTP status, code, subcode and a server-like message."""

    name: str
    status: int
    code: str
    subcode: str | None
    message: str


_CATALOGUE = [
    # myOnlineMeetings / myOnlineMeeting (myOnlineMeetings_ref.md, myOnlineMeeting_ref.md)
    ("TooManyOnlineMeetings", 409, "Conflict", "TooManyOnlineMeetings",
     "Returned when this user has too many online meetings."),
    ("CallbackChannelError", 500, "ServiceFailure", "CallbackChannelError",
     "The remote event channel is not reachable."),
    ("AlreadyExists", 409, "Conflict", "AlreadyExists", "The already exists error."),
    ("TooManyGroups", 409, "Conflict", "TooManyGroups", "The too many groups error."),
    ("Conflict", 409, "Conflict", None, "Un-supported Service/Resource/API error."),
    ("InvalidExchangeServerVersion", 500, "ServiceFailure", "InvalidExchangeServerVersion",
     "Invalid exchange server version. The exchange mailbox of the server might have moved to an "
     "unsupported version for the required feature."),
    ("CannotRedirect", 410, "Gone", "CannotRedirect", "Cannot redirect."),
    # Events (EventChannelDetails.md)
    ("PGetReplaced", 409, "Conflict", "PGetReplaced", "The pending GET was replaced by a newer one."),
    # Generic synchronous errors (GenericSynchronousErrors.md gives the messages; the statuses follow the
    # status <-> code table of ErrorsAndInformationalMessages.md)
    ("ApplicationNotFound", 404, "NotFound", "ApplicationNotFound", "The application resource does not exist."),
    ("BadRequest", 400, "BadRequest", None,
     "Something is wrong with the entire request (malformed XML/JSON, for example)."),
    ("DeserializationFailure", 400, "BadRequest", "DeserializationFailure",
     "The request body could not be deserialized. Please check if the body confirms to allowed formats and does "
     "not have any invalid characters."),
    ("EntityTooLarge", 413, "EntityTooLarge", "EntityTooLarge", "The request is too large."),
    ("ExchangeServiceFailure", 500, "ServiceFailure", "ExchangeServiceFailure", "Exchange connectivity failure."),
    ("InactiveApplicationExpired", 404, "NotFound", "InactiveApplicationExpired", "An inactive application expired."),
    ("MethodNotAllowed", 405, "MethodNotAllowed", "MethodNotAllowed",
     "The requested HTTP method is not supported for this resource."),
    ("MobileApplicationNoLongerAllowed", 403, "Forbidden", "MobileApplicationNoLongerAllowed",
     "User is no longer authorized for mobile applications."),
    ("ParameterValidationFailure", 400, "BadRequest", "ParameterValidationFailure", "A parameter value is not valid."),
    ("PreconditionFailed", 412, "PreconditionFailed", "PreconditionFailed", "An If-Match precondition was not met."),
    ("PreconditionRequired", 428, "PreconditionRequired", "PreconditionRequired",
     "The operation requires an If-Match precondition."),
    ("ResourceNotFound", 404, "NotFound", "ResourceNotFound", "The resource does not exist."),
    ("ServiceFailure", 500, "ServiceFailure", None, "Internal Server Error."),
    ("ServiceTimeout", 500, "ServiceFailure", "ServiceTimeout", "Internal Server Error, remote timeout."),
    ("TooManyApplications", 409, "Conflict", "TooManyApplications", "There are too many applications for this user."),
    ("UnsupportedMediaType", 415, "UnsupportedMediaType", "UnsupportedMediaType", "The content-type is not supported."),
    ("VersionNotSupported", 400, "BadRequest", "VersionNotSupported", "Requested Version is not supported."),
    ("APIVersionNotSupported", 404, "NotFound", "APIVersionNotSupported", "The API version is not supported."),
    ("TooManyRequests", 429, "TooManyRequests", None, "Too many outstanding requests."),
    ("ServiceUnavailable", 503, "ServiceUnavailable", None, "The service is unavailable."),
]
ERRORS: dict[str, UcwaError] = {row[0]: UcwaError(*row) for row in _CATALOGUE}


def error(name: str, accept: str) -> tuple[int, bytes, str]:
    """The documented error `name` (a key of ERRORS): its HTTP status, body and Content-Type, as Accept asks."""
    err = ERRORS[name]
    return (err.status, *error_body(err.code, err.subcode, err.message, accept))


def error_body(code: str, subcode: str | None, message: str, accept: str) -> tuple[bytes, str]:
    """A UCWA error body and its Content-Type, JSON or XML as the request's Accept asks."""
    if representation(accept) == "xml":
        sub = f"<subcode>{escape(subcode)}</subcode>" if subcode else ""
        xml = (f'<?xml version="1.0" encoding="utf-8"?>\n<reason xmlns="{UCWA_NS}"><code>{escape(code)}</code>'
               f"{sub}<message>{escape(message)}</message></reason>")
        return xml.encode("utf-8"), "application/xml; charset=utf-8"
    data = {"code": code, **({"subcode": subcode} if subcode else {}), "message": message}
    return json.dumps(data).encode("utf-8"), "application/json; charset=utf-8"
