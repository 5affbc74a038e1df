"""A small UCWA client for the tests: follows links from discovery, like real clients do."""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass
from urllib.parse import urljoin

import requests

JSON = "application/json"
XML = "application/xml"
NS = "{http://schemas.microsoft.com/rtc/2012/03/ucwa}"


@dataclass
class Step:
    name: str
    method: str
    url: str
    status: int
    body: bytes
    headers: dict[str, str]


class Client:
    """Walks a UCWA session through `session` and keeps every answer it saw, in order."""

    def __init__(self, session: requests.Session, discovery_url: str, password: str) -> None:
        self.s = session
        self.discovery_url = discovery_url
        self.password = password
        self.steps: list[Step] = []
        self.base = ""
        self.auth: dict[str, str] = {}
        self.app: dict = {}
        self.cookie = ""

    def call(self, name: str, method: str, url: str, accept: str = JSON, **kw: object) -> requests.Response:
        headers = {"Accept": accept, **self.auth, **kw.pop("headers", {})}  # type: ignore[dict-item]
        r = self.s.request(method, urljoin(self.base or url, url), headers=headers, timeout=30, **kw)  # type: ignore[arg-type]
        self.steps.append(Step(name, method, url, r.status_code, r.content, dict(r.headers)))
        return r

    def sign_in(self) -> None:
        root = self.call("discovery", "GET", self.discovery_url).json()
        user_url = root["_links"]["user"]["href"]
        self.base = user_url
        challenge = self.call("user-401", "GET", user_url)
        assert challenge.status_code == 401, challenge.text
        token_url = re.search(r'MsRtcOAuth href="([^"]+)"', challenge.headers["WWW-Authenticate"]).group(1)  # type: ignore[union-attr]
        token = self.call("token", "POST", token_url, data={"grant_type": "password", "username": "fake@contoso.com",
                                                             "password": self.password}).json()
        self.auth = {"Authorization": f"{token['token_type']} {token['access_token']}"}
        user = self.call("user", "GET", user_url).json()
        apps_url = user["_links"]["applications"]["href"]
        r = self.call("application", "POST", apps_url, json={"UserAgent": "tests", "EndpointId": "a1b2", "Culture": "en-US"})
        assert r.status_code == 201, r.text
        self.app = r.json()
        self.cookie = r.headers["Set-Cookie"].split(";")[0]  # cwt_ucwa=...: a Cookie header value
        self.base = apps_url

    def batch(self, name: str, parts: list[tuple[str, str, dict[str, str]]]) -> requests.Response:
        """POST the application's batch resource: one multipart/batching part per (method, path, headers)."""
        boundary = "77f2569d-c005-442b-b856-782305305e5f"
        body = "".join(f"--{boundary}\r\nContent-Type: application/http; msgtype=request\r\n\r\n"
                       f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
                       for method, path, headers in parts) + f"--{boundary}--\r\n"
        return self.call(name, "POST", self.app["_links"]["self"]["href"] + "/batch", accept="multipart/batching",
                         data=body.encode(), headers={"Content-Type": f"multipart/batching;boundary={boundary}"})

    @property
    def meetings_url(self) -> str:
        return self.app["_embedded"]["onlineMeetings"]["_links"]["myOnlineMeetings"]["href"]

    @property
    def events_url(self) -> str:
        return self.app["_links"]["events"]["href"]

    def full_session(self) -> list[Step]:
        """Discovery to sign-out: 20 steps, JSON and XML, create/put/delete, 428/412, events, a batch."""
        self.sign_in()
        mine = self.meetings_url
        self.call("list-empty", "GET", mine)
        created = self.call("create-json", "POST", mine, json={"subject": "Sales \u0027Q3\u0027", "accessLevel": "Locked",
                                                                "expirationTime": "\\/Date(1436925247806)\\/"})
        href = created.json()["_links"]["self"]["href"]
        self.call("events", "GET", self.events_url)
        xml_body = ('<?xml version="1.0" encoding="utf-8"?><input xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa">'
                    '<property name="subject">Weekly sync</property><propertyList name="attendees">'
                    "<item>sip:johndoe@contoso.com</item></propertyList></input>")
        self.call("create-xml", "POST", mine, accept=XML, data=xml_body, headers={"Content-Type": XML})
        got = self.call("get", "GET", href)
        etag = got.headers["ETag"]
        self.call("put-no-if-match", "PUT", href, json={**got.json(), "subject": "Renamed"})
        self.call("put-stale", "PUT", href, json={**got.json(), "subject": "Renamed"}, headers={"If-Match": '"1"'})
        self.call("put", "PUT", href, json={**got.json(), "subject": "Renamed"}, headers={"If-Match": etag})
        self.call("list-xml", "GET", mine, accept=XML)
        self.call("list-json", "GET", mine)
        self.call("delete", "DELETE", href)
        self.call("list-after-delete", "GET", mine)
        self.batch("batch", [("GET", mine, {"Accept": JSON, **self.auth}),
                             ("GET", self.app["_links"]["self"]["href"], {"Accept": JSON, "Cookie": self.cookie})])
        self.call("too-many?", "POST", mine, json={"subject": "third"})
        self.call("sign-out", "DELETE", self.app["_links"]["self"]["href"])
        return self.steps


def poll_events_in_background(session: requests.Session, url: str,
                              headers: dict[str, str]) -> tuple[threading.Thread, list[requests.Response]]:
    """Start a P-GET on the event channel in a thread; its answer lands in the returned list (none if the
    connection ends first)."""
    answers: list[requests.Response] = []

    def poll() -> None:
        with contextlib.suppress(requests.RequestException):
            answers.append(session.get(url, headers=headers, timeout=90))

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    return thread, answers
