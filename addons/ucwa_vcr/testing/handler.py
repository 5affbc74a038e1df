"""The fake UCWA front end's HTTP handler and its route table.

A request is answered by the first route (in table order) whose method and path match it; the path is the
request target's, in origin form (`/ucwa/...`) or absolute form (`http://host/ucwa/...`, as proxies send it), with
repeated leading slashes served as one, as IIS does. Routes open to anyone answer anything; elsewhere a path
outside UCWA (not /ucwa/... nor the user resource) gets IIS's 404 page, a request without a token the fake
issued the 401 challenge, and a UCWA path no route matches ApplicationNotFound (another application) or
ResourceNotFound. Only GET, POST, PUT and DELETE are handled: any other method (HEAD too) gets http.server's
own 501.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from ..protocol import error
from . import azure_ad, communication, endpoints, representations
from .endpoints import Refused, Request
from .urls import (
    AD_AUTHORIZE,
    AD_TOKEN,
    AD_TOKEN_V2,
    APPS,
    CONVERSATIONS,
    MAKE_ME_AVAILABLE,
    ME,
    MESSAGING,
    MESSAGING_INVITATIONS,
    MY_ONLINE_MEETINGS,
    PAGE,
    PRESENCE,
    REPORT_MY_ACTIVITY,
    ROOT,
    SCRIPT,
    TOKEN,
    USER,
)

if TYPE_CHECKING:
    from .fake_origin import FakeUcwa

Endpoint = Callable[["Handler", Request], None]
ANY = "*"  # a route's methods: any method
APP = "{app}"  # a route path's start: the path of the fake's application, APPS/<app id>


@dataclass(frozen=True)
class Route:
    """Requests with one of `methods` (space-separated, or ANY) for `path` go to `endpoint`.

    `path` is matched whole; `<name>` in it matches a word (letters, digits, _, . and -), given to the endpoint as
    Request.params[name]; a path starting with APP matches under the fake's application. `signed_in` routes
    need the fake's bearer token.
    """

    methods: str
    path: str
    endpoint: Endpoint
    signed_in: bool
    ignore_case: bool = False
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        path = self.path.removeprefix(APP)
        parts = re.split(r"<(\w+)>", path.lower() if self.ignore_case else path)  # literal, name, literal, ...
        regex = "".join(rf"(?P<{part}>[\w.-]+)" if i % 2 else re.escape(part) for i, part in enumerate(parts))
        object.__setattr__(self, "pattern", re.compile(regex))

    def match(self, request: Request) -> dict[str, str] | None:
        """The named parts of the request's path if this route takes the request, else None."""
        if self.methods != ANY and request.method not in self.methods.split():
            return None
        path = request.path
        if self.path.startswith(APP):
            if not path.startswith(request.app):
                return None
            path = path[len(request.app):]
        found = self.pattern.fullmatch(path.lower() if self.ignore_case else path)
        return found.groupdict() if found else None


MEETINGS = APP + MY_ONLINE_MEETINGS
MEETING = MEETINGS + "/<mid>"
CONVERSATION_MESSAGING = APP + CONVERSATIONS + "/<cid>" + MESSAGING
# Looked up in order: the first route whose methods and path match answers.
ROUTES: tuple[Route, ...] = (
    #     methods   path              endpoint                                signed_in
    Route("GET",    "/",              endpoints.discovery,                    False),
    Route("GET",    ROOT,             endpoints.discovery,                    False),
    Route("POST",   TOKEN,            endpoints.token,                        False, ignore_case=True),
    Route("GET",    PAGE,             endpoints.page,                         False),
    Route(ANY,      SCRIPT,           endpoints.script,                       False),
    Route(ANY,      USER,             endpoints.user,                         True),
    Route("POST",   APPS,             endpoints.create_application,           True),
    Route("GET",    APP,              endpoints.application,                  True),
    Route("DELETE", APP,              endpoints.delete_application,           True),
    Route("GET",    APP + "/events",  endpoints.events,                       True),
    Route("POST",   APP + "/batch",   endpoints.batch,                        True),
    Route("GET",    MEETINGS,         endpoints.list_meetings,                True),
    Route("POST",   MEETINGS,         endpoints.create_meeting,               True),
    Route(ANY,      MEETINGS,         endpoints.meetings_method_not_allowed,  True),
    Route("GET",    MEETING,          endpoints.get_meeting,                  True),
    Route("PUT",    MEETING,          endpoints.update_meeting,               True),
    Route("DELETE", MEETING,          endpoints.delete_meeting,               True),
    Route(ANY,      MEETING,          endpoints.meeting_method_not_allowed,   True),
    Route("POST",   AD_TOKEN,         azure_ad.token,                         False),
    Route("POST",   AD_TOKEN_V2,      azure_ad.token,                         False),
    Route("GET",    APP + ME,         communication.me,                       True),
    Route("POST",   APP + MAKE_ME_AVAILABLE, communication.make_me_available, True),
    Route("GET",    APP + PRESENCE,   communication.presence,                 True),
    Route("POST",   APP + PRESENCE,   communication.set_presence,             True),
    Route("POST",   APP + REPORT_MY_ACTIVITY, communication.report_my_activity, True),
    Route("POST",   APP + MESSAGING_INVITATIONS, communication.start_messaging, True),
    Route("GET",    CONVERSATION_MESSAGING, communication.messaging,          True),
    Route("POST",   CONVERSATION_MESSAGING + "/messages", communication.send_message, True),
    Route("POST",   CONVERSATION_MESSAGING + "/terminate", communication.stop_messaging, True),
)


def find_route(request: Request) -> tuple[Route, Request] | None:
    """The first route taking the request, and the request with the route's path parameters."""
    for route in ROUTES:
        params = route.match(request)
        if params is not None:
            return route, replace(request, params=params)
    return None


def split_target(target: str, host: str) -> tuple[str, str, str]:
    """The path as received, the query and the host (and port) a request target names: origin form `/p?q`
    (the host is the Host header's) or absolute form `http://host/p?q`."""
    if target.startswith("/"):
        path, _, query = target.partition("?")  # not urlsplit: it would take `//ucwa/...` for a host
        return path, query, host
    url = urlsplit(target)
    return url.path or "/", url.query, url.netloc or host


def signed_in_area(path: str) -> bool:
    """Whether the path is one the fake answers only with its bearer token (UCWA's own resources)."""
    return path.startswith("/ucwa/") or path == USER


class Handler(BaseHTTPRequestHandler):
    """One connection to the fake UCWA front end (http.server runs one per connection, on its own thread)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # head and body go out in two writes; Nagle would hold the body ~40 ms
    server_version = "Microsoft-IIS/8.5"
    sys_version = ""

    @property
    def fake(self) -> FakeUcwa:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- routing -------------------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        fake = self.fake
        path, query, host = split_target(self.path, self.headers.get("Host", "127.0.0.1"))
        with fake.lock:
            fake.hits[f"{self.command} {path}"] += 1
        request = Request(self.command, "/" + path.lstrip("/"), parse_qs(query), self.headers, self._read_body(),
                          base=f"http://{host}", app=f"{APPS}/{fake.app_id}")
        try:
            self._route(request)
        except Refused as refusal:
            self.respond_error(refusal.name)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch

    def _route(self, request: Request) -> None:
        found = find_route(request)
        if found and not found[0].signed_in:
            return found[0].endpoint(self, found[1])
        if not signed_in_area(request.path):
            return self.respond(404, representations.NOT_FOUND_PAGE, "text/html")
        if not self.fake.accepts(self.headers.get("Authorization", "")):
            return self.challenge(request.base)
        if found:
            return found[0].endpoint(self, found[1])
        raise Refused("ResourceNotFound" if request.path.startswith(request.app) else "ApplicationNotFound")

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # -- answering -----------------------------------------------------------------------------------------
    def respond(self, status: int, body: bytes = b"", ctype: str = "", headers: dict[str, str] | None = None,
                reason: str | None = None) -> None:
        """Answer with `body` (gzipped when the client accepts it and it is over 512 bytes)."""
        if body and "gzip" in self.headers.get("Accept-Encoding", "") and len(body) > 512:
            body = gzip.compress(body, mtime=0)
            headers = {**(headers or {}), "Content-Encoding": "gzip"}
        self.send_response(status, reason)
        if ctype:
            self.send_header("Content-Type", ctype)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def respond_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self.respond(status, representations.json_body(data), representations.JSON, headers)

    def respond_resource(self, status: int, rel: str, href: str, props: dict[str, Any],
                         headers: dict[str, str] | None = None) -> None:
        """Answer with a UCWA resource, in XML if the request's Accept asks for it, else JSON."""
        body, ctype = representations.resource(rel, href, props, {}, self.headers.get("Accept", ""))
        self.respond(status, body, ctype, headers)

    def respond_error(self, name: str) -> None:
        """Answer with the documented UCWA error `name`, as the request's Accept asks."""
        status, body, ctype = error(name, self.headers.get("Accept", ""))
        self.respond(status, body, ctype)

    def challenge(self, base: str) -> None:
        """The 401 of a UCWA resource asked for without a valid token: where and how to get one (online: from
        Azure AD, for the pool as resource)."""
        self.send_response(401, "Unauthorized")
        self.send_header("Content-Type", "text/html")
        grants = "urn:microsoft.rtc:windows,urn:microsoft.rtc:anonmeeting,password"
        bearer = f'Bearer trusted_issuers="", client_id="{azure_ad.SKYPE_ONLINE}"'
        if self.fake.online:
            grants = "urn:microsoft.rtc:windows,urn:microsoft.rtc:anonmeeting,urn:microsoft.rtc:passive"
            bearer = (f'Bearer trusted_issuers="00000001-0000-0000-c000-000000000000@*", '
                      f'client_id="{azure_ad.SKYPE_ONLINE}", authorization_uri="{AD_AUTHORIZE}", '
                      f'resource="https://{base.partition("://")[2]}"')
        self.send_header("WWW-Authenticate", bearer)
        self.send_header("WWW-Authenticate", f'MsRtcOAuth href="{base}{TOKEN}",grant_type="{grants}"')
        page = b"<html><head><title>401 - Unauthorized</title></head><body>401 - Unauthorized</body></html>"
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)
