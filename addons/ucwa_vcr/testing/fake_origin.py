"""A small fake UCWA front end on loopback, behaving like Microsoft's reference pages.

Usage:
    python -m ucwa_vcr.fake_origin --port 8080 --password secret --max-meetings 3
    # or scripts/fake-ucwa; then start at http://127.0.0.1:8080/Autodiscover/AutodiscoverService.svc/root

Serves discovery, the 401 MsRtcOAuth challenge, the password-grant token, application creation (with the
cwt_ucwa cookie), myOnlineMeetings list/create/get/put/delete in JSON and XML with ETags and If-Match
(412 stale, 428 missing), 409 TooManyOnlineMeetings after `max_meetings` creates, a long-poll event
channel and the batch resource (multipart/batching). It counts every request it receives (`hits`), which
is how tests prove replay stayed offline.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import re
import secrets
import threading
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

from lxml import etree
from mitmproxy.net.http import http1

from ..protocol import UCWA_NS, error, parse_xml, representation

ROOT = "/Autodiscover/AutodiscoverService.svc/root"
USER = ROOT + "/oauth/user"
APPS = "/ucwa/oauth/v1/applications"
MEETING_FIELDS = ("accessLevel", "attendees", "automaticLeaderAssignment", "description", "entryExitAnnouncement",
                  "expirationTime", "leaders", "lobbyBypassForPhoneUsers", "phoneUserAdmission", "subject")
PUT_MARKER = "please pass this in a PUT request"
PAGE = "/Autodiscover/XFrame/meetings.html"
# A tiny UCWA web client, served from the UCWA host like Microsoft's XFrame page so that its requests
# are same-origin. It signs in (password from the URL fragment, which never reaches a server), creates
# a meeting and lists the meetings into the DOM.
PAGE_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>loading</title></head>
<body><h1>My online meetings</h1><ul id="meetings"></ul><p id="status">signing in</p>
<script>
async function run() {
  const args = new URLSearchParams(location.hash.slice(1));
  const json = {Accept: "application/json"};
  const root = await (await fetch("/Autodiscover/AutodiscoverService.svc/root", {headers: json})).json();
  const userUrl = root._links.user.href;
  const challenge = (await fetch(userUrl, {headers: json})).headers.get("WWW-Authenticate");
  const tokenUrl = /MsRtcOAuth href="([^"]+)"/.exec(challenge)[1];
  const form = new URLSearchParams({grant_type: "password", username: "fake@contoso.com",
                                    password: args.get("password")});
  const token = await (await fetch(tokenUrl, {method: "POST", body: form})).json();
  const auth = {...json, Authorization: token.token_type + " " + token.access_token};
  const user = await (await fetch(userUrl, {headers: auth})).json();
  const post = (url, body) => fetch(url, {method: "POST", headers: {...auth, "Content-Type": "application/json"},
                                          body: JSON.stringify(body)});
  const app = await (await post(user._links.applications.href, {UserAgent: "browser", EndpointId: "b1",
                                                                 Culture: "en-US"})).json();
  const mine = app._embedded.onlineMeetings._links.myOnlineMeetings.href;
  if (args.get("subject")) await post(mine, {subject: args.get("subject")});
  const list = await (await fetch(mine, {headers: auth})).json();
  for (const m of list._embedded.myOnlineMeeting) {
    const li = document.createElement("li");
    li.textContent = m.subject;
    document.getElementById("meetings").appendChild(li);
  }
  document.getElementById("status").textContent = "done";
  document.title = "done";
}
run().catch(e => { document.getElementById("status").textContent = "failed: " + e; document.title = "failed"; });
</script></body></html>
"""


def xml_resource(rel: str, href: str, props: dict[str, Any], links: dict[str, str] | None = None) -> str:
    """A UCWA XML resource element with links, properties and property lists."""
    parts = [f"<resource rel={quoteattr(rel)} href={quoteattr(href)} xmlns={quoteattr(UCWA_NS)}>"]
    parts += [f"<link rel={quoteattr(r)} href={quoteattr(h)} />" for r, h in (links or {}).items()]
    for name, value in props.items():
        if isinstance(value, list):
            items = "".join(f"<item>{escape(str(v))}</item>" for v in value)
            parts.append(f"<propertyList name={quoteattr(name)}>{items}</propertyList>")
        else:
            parts.append(f"<property name={quoteattr(name)}>{escape(str(value))}</property>")
    parts.append("</resource>")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + "\n".join(parts)


def parse_input(body: bytes, content_type: str) -> dict[str, Any]:
    """The properties of a UCWA request body, JSON or XML `<input>`."""
    if not body:
        return {}
    if "xml" in content_type:
        root = parse_xml(body)
        out: dict[str, Any] = {}
        for el in root:
            name = el.get("name")
            if el.tag == f"{{{UCWA_NS}}}propertyList":
                out[name] = [item.text or "" for item in el]
            elif name:
                out[name] = el.text or ""
        return out
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("body is not a JSON object")
    return data


class FakeUcwa:
    """The fake server's state, and its HTTP server on a thread."""

    def __init__(self, password: str = "fake-password", token: str | None = None, cookie: str | None = None,
                 max_meetings: int = 10, event_timeout: float = 180.0, port: int = 0) -> None:
        self.password = password
        self.token = token or "cwt=AAEB" + secrets.token_urlsafe(48)
        self.cookie = cookie or "AAEB" + secrets.token_urlsafe(32)
        self.max_meetings = max_meetings
        self.event_timeout = event_timeout
        self.hits: Counter[str] = Counter()
        self.app_id = str(secrets.randbelow(9 * 10**10) + 10**10)
        self.meetings: dict[str, dict[str, Any]] = {}
        self.created = 0
        self.events: list[dict[str, Any]] = []
        self.ack = 1
        self.lock = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.server.daemon_threads = True
        self.server.fake = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def discovery_url(self) -> str:
        return self.url + ROOT

    @property
    def total_hits(self) -> int:
        return sum(self.hits.values())

    def start(self) -> FakeUcwa:
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-ucwa", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self.lock:
            self.lock.notify_all()
        self.server.shutdown()
        self.server.server_close()

    def push_event(self, rel: str, href: str, kind: str) -> None:
        with self.lock:
            self.events.append({"link": {"rel": rel, "href": href}, "type": kind})
            self.lock.notify_all()

    def wait_events(self, timeout: float) -> list[dict[str, Any]]:
        with self.lock:
            self.lock.wait_for(lambda: bool(self.events), timeout=timeout)
            taken, self.events = self.events, []
            return taken


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # head and body go out in two writes; Nagle would hold the body ~40 ms
    server_version = "Microsoft-IIS/8.5"
    sys_version = ""

    @property
    def fake(self) -> FakeUcwa:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- plumbing --------------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes = b"", ctype: str = "", headers: dict[str, str] | None = None,
              reason: str | None = None) -> None:
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

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data, indent=1).replace("/", "\\/").encode(), "application/json; charset=utf-8",
                   headers)

    def _resource(self, status: int, rel: str, href: str, props: dict[str, Any], links: dict[str, str],
                  headers: dict[str, str] | None = None) -> None:
        if representation(self.headers.get("Accept", "")) == "xml":
            self._send(status, xml_resource(rel, href, props, links).encode(), "application/xml; charset=utf-8",
                       headers)
        else:
            hrefs = {"self": {"href": href}, **{r: {"href": h} for r, h in links.items()}}
            data = {"rel": rel, **props, "_links": hrefs}
            self._json(status, data, headers)

    def _error(self, name: str) -> None:
        status, body, ctype = error(name, self.headers.get("Accept", ""))
        self._send(status, body, ctype)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # -- routing ---------------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        fake = self.fake
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        with fake.lock:
            fake.hits[f"{self.command} {path}"] += 1
        body = self._body()
        base = f"http://{self.headers.get('Host', '127.0.0.1')}"
        if path in ("/", ROOT) and self.command == "GET":
            return self._json(200, {"_links": {"self": {"href": base + ROOT},
                                               "user": {"href": f"{base}{USER}?originalDomain=contoso.com"},
                                               "xframe": {"href": f"{base}/Autodiscover/XFrame/XFrame.html"}}})
        if path.lower() == "/webticket/oauthtoken" and self.command == "POST":
            return self._token(body)
        if path == PAGE and self.command == "GET":
            return self._send(200, PAGE_HTML.encode(), "text/html; charset=utf-8")
        if path == "/static/app.js":
            return self._send(200, b"console.log('not UCWA');", "text/javascript")
        if not (path.startswith("/ucwa/") or path == USER):
            return self._send(404, b"<html><body>Not Found</body></html>", "text/html")
        if self.headers.get("Authorization") != f"Bearer {fake.token}":
            return self._challenge(base)
        if path == USER:
            return self._json(200, {"_links": {"self": {"href": base + USER},
                                               "applications": {"href": base + APPS},
                                               "xframe": {"href": f"{base}/Autodiscover/XFrame/XFrame.html"}}})
        if path == APPS and self.command == "POST":
            return self._application(201, {"Set-Cookie": f"cwt_ucwa={fake.cookie}; path={APPS}/{fake.app_id}/photos;"
                                                         " secure; HttpOnly"})
        prefix = f"{APPS}/{fake.app_id}"
        if not path.startswith(prefix):
            return self._error("ApplicationNotFound")
        rest = path[len(prefix):]
        if rest == "" and self.command == "GET":
            return self._application(200)
        if rest == "" and self.command == "DELETE":
            return self._send(204)
        if rest == "/events" and self.command == "GET":
            return self._events(prefix, query)
        if rest == "/batch" and self.command == "POST":
            return self._batch(body)
        if rest == "/onlineMeetings/myOnlineMeetings":
            return self._meetings(prefix, body)
        match = re.fullmatch(r"/onlineMeetings/myOnlineMeetings/(\w+)", rest)
        if match and match.group(1) in fake.meetings:
            return self._meeting(prefix, match.group(1), body)
        return self._error("ResourceNotFound")

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch

    def _challenge(self, base: str) -> None:
        self.send_response(401, "Unauthorized")
        self.send_header("Content-Type", "text/html")
        self.send_header("WWW-Authenticate",
                         'Bearer trusted_issuers="", client_id="00000004-0000-0ff1-ce00-000000000000"')
        self.send_header("WWW-Authenticate", f'MsRtcOAuth href="{base}/WebTicket/oauthtoken",'
                                             'grant_type="urn:microsoft.rtc:windows,urn:microsoft.rtc:anonmeeting,password"')
        page = b"<html><head><title>401 - Unauthorized</title></head><body>401 - Unauthorized</body></html>"
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def _token(self, body: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "password":
            return self._json(400, {"error": "unsupported_grant_type"}, {"Cache-Control": "no-store"})
        if form.get("password") != self.fake.password:
            return self._json(400, {"error": "invalid_grant"}, {"Cache-Control": "no-store"})
        self._send(200, json.dumps({"access_token": self.fake.token, "expires_in": 28364,
                                    "ms_rtc_identityscope": "local", "token_type": "Bearer"}).encode(),
                   "application/json", {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _application(self, status: int, headers: dict[str, str] | None = None) -> None:
        prefix = f"{APPS}/{self.fake.app_id}"
        data = {"culture": "en-US", "userAgent": "fake-ucwa", "type": "Application", "id": self.fake.app_id,
                "_links": {"self": {"href": prefix}, "events": {"href": f"{prefix}/events?ack={self.fake.ack}"}},
                "_embedded": {"onlineMeetings": {"_links": {
                    "self": {"href": f"{prefix}/onlineMeetings"},
                    "myOnlineMeetings": {"href": f"{prefix}/onlineMeetings/myOnlineMeetings"}},
                    "rel": "onlineMeetings"}},
                "rel": "application"}
        self._json(status, data, headers)

    def _meeting_props(self, mid: str) -> dict[str, Any]:
        m = self.fake.meetings[mid]
        return {**m["props"], "onlineMeetingId": mid, "joinUrl": f"https://meet.contoso.com/fake/{mid}",
                "organizerUri": "sip:fake@contoso.com", "3f1b0b62-7e5f-4c9b-9c9a-5a0f2d9a7d11": PUT_MARKER}

    def _meetings(self, prefix: str, body: bytes) -> None:
        fake = self.fake
        href = f"{prefix}/onlineMeetings/myOnlineMeetings"
        if self.command == "GET":
            if representation(self.headers.get("Accept", "")) == "xml":
                inner = "".join(xml_resource("myOnlineMeeting", f"{href}/{mid}", self._meeting_props(mid))
                                .split("\n", 1)[1] for mid in sorted(fake.meetings))
                text = xml_resource("myOnlineMeetings", href, {}).replace("</resource>", inner + "</resource>")
                return self._send(200, text.encode(), "application/xml; charset=utf-8")
            return self._json(200, {"rel": "myOnlineMeetings", "_links": {"self": {"href": href}}, "_embedded": {
                "myAssignedOnlineMeeting": [],
                "myOnlineMeeting": [{"rel": "myOnlineMeeting", **self._meeting_props(mid),
                                     "_links": {"self": {"href": f"{href}/{mid}"}}} for mid in sorted(fake.meetings)]}})
        if self.command != "POST":
            return self._error("MethodNotAllowed")
        if fake.created >= fake.max_meetings:
            return self._error("TooManyOnlineMeetings")
        try:
            props = parse_input(body, self.headers.get("Content-Type", ""))
        except (ValueError, etree.XMLSyntaxError):
            return self._error("DeserializationFailure")
        with fake.lock:
            fake.created += 1
            mid = f"M{fake.created:04d}"
            kept = {k: props[k] for k in MEETING_FIELDS if k in props}
            fake.meetings[mid] = {"props": kept, "etag": fake.created * 1000}
        fake.push_event("myOnlineMeeting", f"{href}/{mid}", "added")
        self._resource(201, "myOnlineMeeting", f"{href}/{mid}", self._meeting_props(mid), {},
                       {"ETag": f'"{fake.meetings[mid]["etag"]}"'})

    def _meeting(self, prefix: str, mid: str, body: bytes) -> None:
        fake = self.fake
        href = f"{prefix}/onlineMeetings/myOnlineMeetings/{mid}"
        meeting = fake.meetings[mid]
        if self.command == "GET":
            return self._resource(200, "myOnlineMeeting", href, self._meeting_props(mid), {},
                                  {"ETag": f'"{meeting["etag"]}"'})
        if self.command == "DELETE":
            del fake.meetings[mid]
            fake.push_event("myOnlineMeeting", href, "deleted")
            return self._send(204)
        if self.command != "PUT":
            return self._error("MethodNotAllowed")
        if_match = self.headers.get("If-Match")
        if not if_match:
            return self._error("PreconditionRequired")
        if if_match.strip('"') != str(meeting["etag"]):
            return self._error("PreconditionFailed")
        try:
            props = parse_input(body, self.headers.get("Content-Type", ""))
        except (ValueError, etree.XMLSyntaxError):
            return self._error("DeserializationFailure")
        meeting["props"].update({k: props[k] for k in MEETING_FIELDS if k in props})
        meeting["etag"] += 1
        fake.push_event("myOnlineMeeting", href, "updated")
        self._resource(200, "myOnlineMeeting", href, self._meeting_props(mid), {}, {"ETag": f'"{meeting["etag"]}"'})

    def _batch(self, body: bytes) -> None:
        """POST .../batch (BatchingRequests.md): each multipart/batching part is a request, answered in order.

        Every part is sent to this server itself, with the batch's Authorization unless the part has its own.
        """
        ctype = self.headers.get("Content-Type", "")
        boundary = re.search(r'boundary="?([^";]+)"?', ctype)
        if "multipart/batching" not in ctype or not boundary:
            return self._error("UnsupportedMediaType")
        out = str(uuid.uuid4())
        answers = []
        for part in body.split(b"--" + boundary.group(1).encode())[1:-1]:
            message = part.split(b"\r\n\r\n", 1)[-1]  # after the part's own Content-Type: application/http
            head, _, content = message.partition(b"\r\n\r\n")
            inner = http1.read_request_head(head.splitlines())
            headers = {"Authorization": self.headers.get("Authorization", ""), **inner.headers}
            conn = http.client.HTTPConnection("127.0.0.1", self.fake.server.server_address[1], timeout=30)
            try:
                conn.request(inner.method, inner.path, content.removesuffix(b"\r\n") or None, headers)
                answer = conn.getresponse()
                answer_body = answer.read()
            finally:
                conn.close()
            answer_head = "".join(f"{k}: {v}\r\n" for k, v in answer.getheaders()
                                  if k.lower() not in ("connection", "server", "date"))
            answers.append(f"--{out}\r\nContent-Type: application/http; msgtype=response\r\n\r\n"
                           f"HTTP/1.1 {answer.status} {answer.reason}\r\n{answer_head}\r\n".encode()
                           + answer_body + b"\r\n")
        self._send(200, b"".join(answers) + f"--{out}--\r\n".encode(), f'multipart/batching; boundary="{out}"')

    def _events(self, prefix: str, query: dict[str, list[str]]) -> None:
        fake = self.fake
        ack = int(query.get("ack", ["1"])[0])
        timeout = min(float(query.get("timeout", ["180"])[0]), fake.event_timeout)
        events = fake.wait_events(timeout)
        nxt = f"{prefix}/events?ack={ack + 1}"
        data: dict[str, Any] = {"_links": {"self": {"href": f"{prefix}/events?ack={ack}"}, "next": {"href": nxt}}}
        if events:
            data["sender"] = [{"rel": "onlineMeetings", "href": f"{prefix}/onlineMeetings", "events": events}]
        self._json(200, data)


def main(argv: list[str] | None = None) -> None:
    """Run the fake UCWA origin until interrupted."""
    parser = argparse.ArgumentParser(prog="fake-ucwa", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080; 0 picks one)")
    parser.add_argument("--password", default="fake-password", help="the password the token endpoint accepts")
    parser.add_argument("--max-meetings", type=int, default=10,
                        help="creates allowed before 409 TooManyOnlineMeetings (default 10)")
    parser.add_argument("--event-timeout", type=float, default=180.0,
                        help="longest an event P-GET is held, in seconds (default 180)")
    args = parser.parse_args(argv)
    fake = FakeUcwa(args.password, max_meetings=args.max_meetings, event_timeout=args.event_timeout, port=args.port)
    print(f"fake UCWA origin on {fake.url}; discovery: {fake.discovery_url}", flush=True)
    try:
        fake.server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
