"""The realistic UCWA session scripts/bench replays: the walk, its recording, and the request mixes wrk sends.

Usage (from scripts/bench.py):
    fill_meetings(origin, password, count)        # the user's meetings, made at the origin before recording
    steps = SessionWalk(proxy + ROOT, password).walk()   # through a recording mitmdump (-w flows.mitm)
    mix = read_mix(flows, steps)                  # every exchange as the client sent it, and its recorded status
    write_mix(path, mix)                          # a Lua table for scripts/bench_mix.lua
    write_mix(path, repeated(url, mix))           # accepting also what `url` answers when the session repeats

The walk is what a UCWA client does in a session, with requests (which offers gzip, as browsers and apps do, so
the fake origin compresses answers over 512 bytes like IIS): discovery, the 401 challenge, the token, the user,
the application, me and presence, the meetings listed in JSON and XML, a create, a delete, a create refused (409:
the fake counts creates), reads in JSON and XML, updates refused (428, 412) and accepted, a read of the deleted
meeting (404), a batch, sign-out. No event channel P-GET (it is held, not answered). No two steps send the same
request by ucwa-vcr's default matchers or by mitmproxy's server-replay hash with Accept and Authorization, so each
request of the mix has one recorded answer, whatever a replayer does with repeats.
"""

from __future__ import annotations

import http.client
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import requests

if TYPE_CHECKING:
    from mitmproxy.http import HTTPFlow

ROOT = "/Autodiscover/AutodiscoverService.svc/root"
JSON = "application/json"
XML = "application/xml"
BOUNDARY = "77f2569d-c005-442b-b856-782305305e5f"


@dataclass(frozen=True)
class Step:
    """One step of the walk: its name, the status it must get, and whether the origin answers it the same when it
    is sent again (creates, updates and deletes it accepted change the origin's state)."""

    name: str
    status: int
    repeatable: bool


@dataclass(frozen=True)
class Exchange:
    """One request of a mix, as the client sent it (without Host, which wrk sets), and what was recorded for it."""

    name: str
    method: str
    target: str  # path and query
    head: bytes  # the header lines, each ending in CRLF
    body: bytes
    status: int
    answer_type: str  # json, xml, html, multipart or empty
    answer_bytes: int  # the body as sent (compressed, if it was)
    gzip: bool
    bearer: bool
    repeatable: bool = True
    also: tuple[int, ...] = ()  # other statuses accepted: what a model answers when the session repeats


def meeting_input(number: int) -> dict[str, Any]:
    """What a scheduling client POSTs to create a meeting: a subject, a description, a few attendees."""
    return {"subject": f"Project review {number}", "description": f"Status of work stream {number}, risks, next steps.",
            "accessLevel": "Everyone", "attendees": [f"sip:attendee{number}.{i}@contoso.com" for i in range(4)],
            "leaders": [f"sip:lead{number}@contoso.com"], "automaticLeaderAssignment": "SameEnterprise",
            "expirationTime": "2030-01-01T12:00:00Z", "lobbyBypassForPhoneUsers": "Disabled",
            "phoneUserAdmission": "Disabled"}


class SessionWalk:
    """A UCWA client on a requests.Session, following links from discovery; keeps the steps it took."""

    def __init__(self, discovery: str, password: str) -> None:
        self.http = requests.Session()
        self.discovery = discovery
        self.password = password
        self.auth: dict[str, str] = {}
        self.steps: list[Step] = []

    def call(self, name: str, method: str, url: str, status: int, accept: str = JSON, repeatable: bool = True,
             headers: dict[str, str] | None = None, **kw: Any) -> requests.Response:
        """One exchange; RuntimeError when it does not get `status` (the fake changed: the mix would be wrong)."""
        sent = {"Accept": accept, **self.auth, **(headers or {})}
        answer = self.http.request(method, url, headers=sent, timeout=30, **kw)
        if answer.status_code != status:
            raise RuntimeError(f"session walk: {name}: {method} {url} got {answer.status_code}, not {status}")
        self.steps.append(Step(name, status, repeatable))
        return answer

    def sign_in(self) -> str:
        """Discovery, the 401 challenge, the token, the user, a new application; the application's URL."""
        user = self.call("discovery", "GET", self.discovery, 200).json()["_links"]["user"]["href"]
        challenge = self.call("user without a token (401)", "GET", user, 401).headers["WWW-Authenticate"]
        token_url = challenge.split('MsRtcOAuth href="', 1)[1].split('"', 1)[0]
        form = {"grant_type": "password", "username": "jane@contoso.com", "password": self.password}
        token = self.call("token", "POST", token_url, 200, data=form).json()
        self.auth = {"Authorization": f"{token['token_type']} {token['access_token']}"}
        apps = urljoin(user, self.call("user", "GET", user, 200).json()["_links"]["applications"]["href"])
        endpoint = {"UserAgent": "scheduler/2.1", "EndpointId": "5e3c0b4e-0c4f-4e57-a2fb-1d4b3bfc0001",
                    "Culture": "en-US"}
        app = self.call("application (create)", "POST", apps, 201, json=endpoint).json()
        return urljoin(apps, app["_links"]["self"]["href"])

    def walk(self) -> list[Step]:
        """The whole session (see the module's docstring); the steps taken."""
        app = self.sign_in()
        mine = app + "/onlineMeetings/myOnlineMeetings"
        self.call("application", "GET", app, 200)
        self.call("me", "GET", app + "/me", 200)
        self.call("makeMeAvailable", "POST", app + "/me/makeMeAvailable", 204, json={"SupportedModalities": []})
        self.call("presence", "GET", app + "/me/presence", 200)
        self.call("reportMyActivity", "POST", app + "/reportMyActivity", 204, data=b"")
        self.call("meetings (JSON)", "GET", mine, 200)
        self.call("meetings (XML)", "GET", mine, 200, accept=XML)
        self.call("create meeting (JSON)", "POST", mine, 201, repeatable=False, json=meeting_input(0))
        self.call("delete meeting", "DELETE", f"{mine}/M0004", 204, repeatable=False)
        xml = ('<?xml version="1.0" encoding="utf-8"?><input xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa">'
               '<property name="subject">Weekly sync</property><propertyList name="attendees">'
               "<item>sip:johndoe@contoso.com</item></propertyList></input>")
        self.call("create meeting over the limit (XML, 409)", "POST", mine, 409, accept=XML, data=xml.encode(),
                  headers={"Content-Type": XML})
        first = self.call("meeting (JSON)", "GET", f"{mine}/M0001", 200)
        self.call("meeting (XML)", "GET", f"{mine}/M0001", 200, accept=XML)
        change = {**first.json(), "subject": "Project review, moved"}
        self.call("update without If-Match (428)", "PUT", f"{mine}/M0002", 428, json=change)
        self.call("update with a stale ETag (412)", "PUT", f"{mine}/M0003", 412, json=change,
                  headers={"If-Match": '"1"'})
        self.call("update", "PUT", f"{mine}/M0001", 200, repeatable=False, json=change,
                  headers={"If-Match": first.headers["ETag"]})
        self.call("deleted meeting (404)", "GET", f"{mine}/M0004", 404)
        self.batch(app, [f"{mine}/M0005", app + "/me/presence"])
        self.call("sign out", "DELETE", app, 204)
        return self.steps

    def batch(self, app: str, urls: list[str]) -> None:
        """POST the application's batch resource: a GET of each of `urls`, as multipart/batching parts."""
        parts = "".join(f"--{BOUNDARY}\r\nContent-Type: application/http; msgtype=request\r\n\r\nGET {url} HTTP/1.1\r\n"
                        f"Accept: {JSON}\r\nAuthorization: {self.auth['Authorization']}\r\n\r\n" for url in urls)
        self.call("batch", "POST", app + "/batch", 200, accept="multipart/batching",
                  data=(parts + f"--{BOUNDARY}--\r\n").encode(),
                  headers={"Content-Type": f"multipart/batching;boundary={BOUNDARY}"})


def fill_meetings(origin: str, password: str, count: int) -> None:
    """Sign in at the origin itself (not recorded) and create `count` meetings, M0001 to M{count}: the user's
    calendar, which the recorded session lists."""
    walk = SessionWalk(origin + ROOT, password)
    app = walk.sign_in()
    for number in range(1, count + 1):
        walk.call(f"fill {number}", "POST", app + "/onlineMeetings/myOnlineMeetings", 201, json=meeting_input(number))


def answer_type(content_type: str, body: bytes) -> str:
    """The kind of an answer's body, for the mix's summary."""
    if not body:
        return "empty"
    return next((kind for kind in ("json", "xml", "html", "multipart") if kind in content_type.lower()), "other")


def http_flows(path: Path) -> list[HTTPFlow]:
    """The HTTP flows of a flow file, in order."""
    from mitmproxy import http, io

    with path.open("rb") as f:
        return [flow for flow in io.FlowReader(f).stream() if isinstance(flow, http.HTTPFlow)]


def read_mix(flows: Path, steps: list[Step]) -> list[Exchange]:
    """The exchanges of a flow file written (-w) while `steps` were walked through mitmdump, in order."""
    recorded = http_flows(flows)
    if [flow.response.status_code if flow.response else None for flow in recorded] != [s.status for s in steps]:
        raise RuntimeError(f"{flows}: the recorded flows are not the {len(steps)} steps walked")
    mix = []
    for step, flow in zip(steps, recorded, strict=True):
        request, response = flow.request, flow.response
        assert response is not None and response.raw_content is not None
        head = b"".join(name + b": " + value + b"\r\n" for name, value in request.headers.fields
                        if name.lower() != b"host")
        mix.append(Exchange(step.name, request.method, request.path, head, request.raw_content or b"",
                            response.status_code, answer_type(response.headers.get("content-type", ""),
                                                              response.raw_content),
                            len(response.raw_content), response.headers.get("content-encoding") == "gzip",
                            request.headers.get("authorization", "").startswith("Bearer "), step.repeatable))
    return mix


def write_answer(flows: Path, name: str, mix: list[Exchange], path: Path) -> None:
    """Write the flow of the mix's exchange `name` alone to `path` (the ceiling's answer, as recorded)."""
    from mitmproxy import io

    flow = http_flows(flows)[[e.name for e in mix].index(name)]
    with path.open("wb") as out:
        io.FlowWriter(out).add(flow)


def lua_string(data: bytes) -> str:
    """`data` as a Lua string literal: printable ASCII as it is, every other byte as a three-digit decimal escape."""
    return '"' + "".join(chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\{b:03d}" for b in data) + '"'


def write_mix(path: Path, mix: Iterable[Exchange]) -> None:
    """The mix as a Lua chunk returning a table of {method, target, head, body, statuses} (scripts/bench_mix.lua)."""
    entries = [f"  {{method={lua_string(e.method.encode())}, target={lua_string(e.target.encode())}, "
               f"head={lua_string(e.head)}, body={lua_string(e.body)}, "
               f"statuses={{{', '.join(str(s) for s in (e.status, *e.also))}}}}}" for e in mix]
    path.write_text("return {\n" + ",\n".join(entries) + "\n}\n")


def send(url: str, exchange: Exchange) -> int:
    """Send one exchange's request as it was recorded (on a new connection); the answer's status."""
    host, _, port = url.removeprefix("http://").partition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest(exchange.method, exchange.target, skip_accept_encoding=True)
        for line in exchange.head.splitlines():
            name, _, value = line.partition(b": ")
            connection.putheader(name.decode("latin-1"), value)
        connection.endheaders(exchange.body or None)
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


def repeated(url: str, mix: list[Exchange]) -> list[Exchange]:
    """The mix with the statuses `url` answers when it is sent twice in a row (a model's answers to a session
    repeated: a repeated create refused, a repeated delete finding nothing…) accepted besides the recorded ones."""
    seen: list[set[int]] = [set() for _ in mix]
    for _ in range(2):
        for statuses, exchange in zip(seen, mix, strict=True):
            statuses.add(send(url, exchange))
    return [replace(e, also=tuple(sorted(statuses - {e.status}))) for e, statuses in zip(mix, seen, strict=True)]


def describe_mix(mix: list[Exchange]) -> dict[str, Any]:
    """What a mix holds: its requests by method and by status, its answers by kind, size and compression."""
    sizes = [e.answer_bytes for e in mix]
    return {"requests": len(mix), "methods": dict(Counter(e.method for e in mix)),
            "statuses": {str(k): v for k, v in sorted(Counter(e.status for e in mix).items())},
            "answers": dict(Counter(e.answer_type for e in mix)), "gzip": sum(e.gzip for e in mix),
            "bearer": sum(e.bearer for e in mix), "answer_bytes_mean": sum(sizes) / len(mix),
            "answer_bytes_max": max(sizes),
            "request_bytes_mean": sum(len(e.head) + len(e.body) for e in mix) / len(mix),
            "exchanges": [{"name": e.name, "request": f"{e.method} {e.target}", "status": e.status,
                           "answer": e.answer_type, "bytes": e.answer_bytes, "gzip": e.gzip} for e in mix]}

