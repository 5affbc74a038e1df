"""What the fake UCWA front end answers: one endpoint per route of the handler's route table.

An endpoint gets the handler (to answer through, and the FakeUcwa state as `h.fake`) and the Request. It either
answers, or raises Refused to have the documented UCWA error answered for it. State is read and changed under
`fake.lock`, and nothing is sent while the lock is held.
"""

from __future__ import annotations

import functools
import http.client
import re
import uuid
from dataclasses import dataclass, field
from email.message import Message
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from lxml import etree
from mitmproxy.net.http import http1

from . import representations
from .representations import MEETING_FIELDS, parse_input
from .urls import MY_ONLINE_MEETINGS

if TYPE_CHECKING:
    from .fake_origin import FakeUcwa
    from .handler import Handler

# A tiny UCWA web client, served from the UCWA host like Microsoft's XFrame page so that its requests are
# same-origin. It signs in (password from the URL fragment, which never reaches a server), creates a meeting
# and lists the meetings into the DOM.
PAGE_FILE = "meetings.html"
_PACKAGE = __name__.rpartition(".")[0]


@dataclass(frozen=True)
class Request:
    """What an endpoint reads of a request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    base: str  # scheme and host as the client asked for them (Host header), e.g. http://127.0.0.1:8080
    app: str  # the path of the fake's application: APPS/<app id>
    params: dict[str, str] = field(default_factory=dict)  # the named parts of the route's path

    @property
    def accept(self) -> str:
        return self.headers.get("Accept", "")


class Refused(Exception):
    """Raised by an endpoint to answer with the documented UCWA error `name` (a key of protocol.ERRORS)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@functools.cache
def page_html() -> bytes:
    """The browser page, meetings.html beside this module."""
    return resources.files(_PACKAGE).joinpath(PAGE_FILE).read_bytes()


# -- open to anyone --------------------------------------------------------------------------------------------
def discovery(h: Handler, req: Request) -> None:
    pool = f"http://{h.fake.pool_host}" if h.fake.pool_host else None
    h.respond_json(200, representations.discovery(req.base, pool))


def token(h: Handler, req: Request) -> None:
    """POST the web ticket service: a password grant with the fake's password gets its token (not online, where
    the token comes from Azure AD)."""
    form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
    if form.get("grant_type") != "password" or h.fake.online:
        return h.respond_json(400, {"error": "unsupported_grant_type"}, {"Cache-Control": "no-store"})
    if form.get("password") != h.fake.password:
        return h.respond_json(400, {"error": "invalid_grant"}, {"Cache-Control": "no-store"})
    h.respond(200, representations.token(h.fake.token), "application/json",
              {"Cache-Control": "no-store", "Pragma": "no-cache"})


def page(h: Handler, req: Request) -> None:
    h.respond(200, page_html(), "text/html; charset=utf-8")


def script(h: Handler, req: Request) -> None:
    h.respond(200, b"console.log('not UCWA');", "text/javascript")


# -- signed in: the user and the application -------------------------------------------------------------------
def user(h: Handler, req: Request) -> None:
    h.respond_json(200, representations.user(req.base))


def create_application(h: Handler, req: Request) -> None:
    """POST applications: the fake's one application, and the cwt_ucwa cookie for its photos."""
    fake = h.fake
    h.respond_json(201, representations.application(req.app, fake.app_id, fake.ack, fake.available),
                   {"Set-Cookie": f"cwt_ucwa={fake.cookie}; path={req.app}/photos; secure; HttpOnly"})


def application(h: Handler, req: Request) -> None:
    h.respond_json(200, representations.application(req.app, h.fake.app_id, h.fake.ack, h.fake.available))


def delete_application(h: Handler, req: Request) -> None:
    h.respond(204)


def events(h: Handler, req: Request) -> None:
    """GET events (a P-GET): held until something happens, `timeout` or the fake's event_timeout pass."""
    ack = int(req.query.get("ack", ["1"])[0])
    timeout = min(float(req.query.get("timeout", ["180"])[0]), h.fake.event_timeout)
    h.respond_json(200, representations.events(req.app, ack, h.fake.wait_events(timeout)))


def batch(h: Handler, req: Request) -> None:
    """POST batch (BatchingRequests.md): each multipart/batching part is a request, answered in order.

    Every part is sent to this server itself, with the batch's Authorization unless the part has its own.
    """
    ctype = req.headers.get("Content-Type", "")
    boundary = re.search(r'boundary="?([^";]+)"?', ctype)
    if "multipart/batching" not in ctype or not boundary:
        raise Refused("UnsupportedMediaType")
    out = str(uuid.uuid4())
    port = h.fake.server.server_address[1]
    authorization = req.headers.get("Authorization", "")
    answers = [f"--{out}\r\nContent-Type: application/http; msgtype=response\r\n\r\n".encode()
               + _forward(port, authorization, part) + b"\r\n"
               for part in req.body.split(b"--" + boundary.group(1).encode())[1:-1]]
    h.respond(200, b"".join(answers) + f"--{out}--\r\n".encode(), f'multipart/batching; boundary="{out}"')


def _forward(port: int, authorization: str, part: bytes) -> bytes:
    """The HTTP response (status line, headers, body) of this server on `port` to one batch part."""
    message = part.split(b"\r\n\r\n", 1)[-1]  # after the part's own Content-Type: application/http
    head, _, content = message.partition(b"\r\n\r\n")
    inner = http1.read_request_head(head.splitlines())
    headers = {"Authorization": authorization, **inner.headers}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(inner.method, inner.path, content.removesuffix(b"\r\n") or None, headers)
        answer = conn.getresponse()
        answer_body = answer.read()
    finally:
        conn.close()
    answer_head = "".join(f"{k}: {v}\r\n" for k, v in answer.getheaders()
                          if k.lower() not in ("connection", "server", "date"))
    return f"HTTP/1.1 {answer.status} {answer.reason}\r\n{answer_head}\r\n".encode() + answer_body


# -- signed in: myOnlineMeetings and each myOnlineMeeting ------------------------------------------------------
def list_meetings(h: Handler, req: Request) -> None:
    fake = h.fake
    with fake.lock:
        body, ctype = representations.meetings(req.app + MY_ONLINE_MEETINGS,
                                               {mid: m["props"] for mid, m in fake.meetings.items()}, req.accept)
    h.respond(200, body, ctype)


def create_meeting(h: Handler, req: Request) -> None:
    """POST myOnlineMeetings: 409 TooManyOnlineMeetings once `max_meetings` were created, else the new meeting."""
    fake = h.fake
    with fake.lock:
        if fake.created >= fake.max_meetings:
            raise Refused("TooManyOnlineMeetings")
        props = read_input(req)
        fake.created += 1
        mid = f"M{fake.created:04d}"
        meeting = fake.meetings[mid] = {"props": {k: props[k] for k in MEETING_FIELDS if k in props},
                                        "etag": fake.created * 1000}
        href = f"{req.app}{MY_ONLINE_MEETINGS}/{mid}"
        fake.push_event("myOnlineMeeting", href, "added")
        shown, etag = representations.meeting(mid, meeting["props"]), meeting["etag"]
    h.respond_resource(201, "myOnlineMeeting", href, shown, {"ETag": f'"{etag}"'})


def meetings_method_not_allowed(h: Handler, req: Request) -> None:
    raise Refused("MethodNotAllowed")


def get_meeting(h: Handler, req: Request) -> None:
    fake, mid = h.fake, req.params["mid"]
    with fake.lock:
        meeting = _meeting(fake, mid)
        shown, etag = representations.meeting(mid, meeting["props"]), meeting["etag"]
    h.respond_resource(200, "myOnlineMeeting", _meeting_href(req), shown, {"ETag": f'"{etag}"'})


def update_meeting(h: Handler, req: Request) -> None:
    """PUT a meeting: If-Match must name its current ETag (428 without, 412 stale); a new ETag after."""
    fake, mid, href = h.fake, req.params["mid"], _meeting_href(req)
    with fake.lock:
        meeting = _meeting(fake, mid)
        if_match = req.headers.get("If-Match")
        if not if_match:
            raise Refused("PreconditionRequired")
        if if_match.strip('"') != str(meeting["etag"]):
            raise Refused("PreconditionFailed")
        props = read_input(req)
        meeting["props"].update({k: props[k] for k in MEETING_FIELDS if k in props})
        meeting["etag"] += 1
        fake.push_event("myOnlineMeeting", href, "updated")
        shown, etag = representations.meeting(mid, meeting["props"]), meeting["etag"]
    h.respond_resource(200, "myOnlineMeeting", href, shown, {"ETag": f'"{etag}"'})


def delete_meeting(h: Handler, req: Request) -> None:
    fake, mid, href = h.fake, req.params["mid"], _meeting_href(req)
    with fake.lock:
        _meeting(fake, mid)
        del fake.meetings[mid]
        fake.push_event("myOnlineMeeting", href, "deleted")
    h.respond(204)


def meeting_method_not_allowed(h: Handler, req: Request) -> None:
    with h.fake.lock:
        _meeting(h.fake, req.params["mid"])
    raise Refused("MethodNotAllowed")


def _meeting(fake: FakeUcwa, mid: str) -> dict[str, Any]:
    """The meeting `mid` (call with fake.lock held); ResourceNotFound if there is none."""
    if mid not in fake.meetings:
        raise Refused("ResourceNotFound")
    return fake.meetings[mid]


def _meeting_href(req: Request) -> str:
    return f"{req.app}{MY_ONLINE_MEETINGS}/{req.params['mid']}"


def read_input(req: Request) -> dict[str, Any]:
    """The properties the request's body sets; DeserializationFailure if it is neither a JSON object nor XML."""
    try:
        return parse_input(req.body, req.headers.get("Content-Type", ""))
    except (ValueError, etree.XMLSyntaxError):
        raise Refused("DeserializationFailure") from None
