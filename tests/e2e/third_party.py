"""UCWA clients written the way third parties write them, not the way tests/e2e/ucwa_client.py does (issue 11).

RootJoiningBot is a requests-based presence-and-messaging bot: it keeps the pool's root *with* its trailing
slash and glues relative hrefs onto it, so everything after sign-in goes to `http://pool//ucwa/...`; it writes
header names in lower case and lets requests send its own Accept-Encoding (gzip). OnlineMeetingsClient is an
httpx client of Skype for Business Online: the 401 names Azure AD, the token comes from
login.microsoftonline.com/<tenant>/oauth2/token (and is refreshed once), then it manages meetings.

Both speak plain http:// to realistic host names; the tests route them to the fake origin through mitmproxy's
upstream mode, so everything stays on loopback. Each keeps every answer it got, in order (`seen`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import requests


@dataclass
class Seen:
    """One exchange as the client saw it."""

    name: str
    method: str
    url: str
    status: int
    body: bytes  # decoded (no Content-Encoding)
    headers: dict[str, str]  # names in lower case


class RootJoiningBot:
    """A stand-up bot: signs in, makes itself available, reports activity, sends one instant message, signs out.

    18 exchanges; 13 of them to `<root>/` + `/ucwa/...` = `//ucwa/...`.
    """

    ENDPOINT_ID = "3b1f8a52-5c1e-4a0e-9d57-0b7f0f2c6a11"  # kept in the bot's config, like real bots do

    def __init__(self, http: requests.Session, discovery: str, username: str, password: str) -> None:
        self.http = http
        self.discovery = discovery
        self.username = username
        self.password = password
        self.root = ""  # "http://pool/" -- the trailing slash is the point
        self.headers = {"accept": "application/json", "user-agent": "contoso-standup-bot/2.3"}
        self.seen: list[Seen] = []

    def send(self, name: str, method: str, href: str, **kw: Any) -> requests.Response:
        url = href if href.startswith("http") else self.root + href  # string concatenation, not urljoin
        r = self.http.request(method, url, headers={**self.headers, **kw.pop("headers", {})}, timeout=30, **kw)
        self.seen.append(Seen(name, method, url, r.status_code, r.content, {k.lower(): v for k, v in r.headers.items()}))
        return r

    def sign_in(self) -> dict[str, Any]:
        """Discovery, the 401, the web ticket, the user, a new application; the application resource."""
        user = self.send("discovery", "GET", self.discovery).json()["_links"]["user"]["href"]
        challenge = self.send("user-401", "GET", user)
        assert challenge.status_code == 401, challenge.status_code
        token_url = re.search(r'msrtcoauth\s+href="?([^",\s]+)', challenge.headers.get("www-authenticate", ""),
                              re.IGNORECASE).group(1)  # type: ignore[union-attr]
        token = self.send("token", "POST", token_url, data={"grant_type": "password", "username": self.username,
                                                            "password": self.password}).json()
        self.headers["authorization"] = f"{token['token_type']} {token['access_token']}"
        apps = self.send("user", "GET", user).json()["_links"]["applications"]["href"]
        self.root = "{0.scheme}://{0.netloc}/".format(urlsplit(apps))
        app = self.send("application", "POST", apps, json={"userAgent": "contoso-standup-bot/2.3",
                                                           "endpointId": self.ENDPOINT_ID, "culture": "en-US"})
        assert app.status_code == 201, app.status_code
        return app.json()  # type: ignore[no-any-return]

    def poll(self, name: str, href: str) -> tuple[str, dict[str, Any]]:
        """One event P-GET (the bot acts first, so events are waiting); the next href and the answer."""
        events = self.send(name, "GET", href).json()
        return events["_links"]["next"]["href"], events

    def run(self) -> list[Seen]:
        app = self.sign_in()
        me, comm = app["_embedded"]["me"]["_links"], app["_embedded"]["communication"]["_links"]
        self.send("makeMeAvailable", "POST", me["makeMeAvailable"]["href"],
                  json={"SupportedModalities": ["Messaging"], "SupportedMessageFormats": ["Plain"]})
        following, _ = self.poll("events-1", app["_links"]["events"]["href"])
        activity = self.send("me", "GET", me["self"]["href"]).json()["_links"]["reportMyActivity"]["href"]
        self.send("reportMyActivity", "POST", activity)
        self.send("startMessaging", "POST", comm["startMessaging"]["href"],
                  json={"to": "sip:alice@contoso.com", "subject": "Stand-up", "importance": "Normal",
                        "operationId": "5f0c6a52-1c1d-4d7e-8f1e-2b9d4f6a7c30"})
        following, events = self.poll("events-2", following)
        messaging = next(e["link"]["href"] for sender in events.get("sender", []) for e in sender["events"]
                         if e["link"]["rel"] == "messaging")
        links = self.send("messaging", "GET", messaging).json()["_links"]
        self.send("sendMessage", "POST", links["sendMessage"]["href"], data=b"Stand-up in 5 minutes",
                  headers={"content-type": "text/plain; charset=utf-8"})
        following, _ = self.poll("events-3", following)
        self.send("stopMessaging", "POST", links["stopMessaging"]["href"])
        self.poll("events-4", following)
        self.send("reportMyActivity-again", "POST", activity)
        self.send("sign-out", "DELETE", app["_links"]["self"]["href"])
        return self.seen


class OnlineMeetingsClient:
    """A Skype for Business Online meetings client on httpx: Azure AD password grant (refreshed once), meetings.

    13 exchanges, two of them to login.microsoftonline.com.
    """

    CLIENT_ID = "d3590ed6-52b3-4102-aeff-aad2292ab01c"  # a public client id, as such apps borrowed

    def __init__(self, http: httpx.Client, discovery: str, tenant: str, username: str, password: str) -> None:
        self.http = http
        self.discovery = discovery
        self.token_url = f"http://login.microsoftonline.com/{tenant}/oauth2/token"
        self.username = username
        self.password = password
        self.auth: dict[str, str] = {}
        self.seen: list[Seen] = []

    def send(self, name: str, method: str, url: str, **kw: Any) -> httpx.Response:
        headers = {"Accept": "application/json", **self.auth, **kw.pop("headers", {})}
        r = self.http.request(method, url, headers=headers, **kw)
        self.seen.append(Seen(name, method, url, r.status_code, r.content, {k.lower(): v for k, v in r.headers.items()}))
        return r

    def token(self, name: str, form: dict[str, str]) -> None:
        answer = self.send(name, "POST", self.token_url, data={"client_id": self.CLIENT_ID, **form})
        assert answer.status_code == 200, answer.text
        tokens = answer.json()
        self.refresh_token = tokens["refresh_token"]
        self.auth = {"Authorization": f"{tokens['token_type']} {tokens['access_token']}"}

    def run(self) -> list[Seen]:
        user = self.send("discovery", "GET", self.discovery).json()["_links"]["user"]["href"]
        challenge = self.send("user-401", "GET", user)
        bearer = next(v for v in challenge.headers.get_list("www-authenticate") if v.lower().startswith("bearer"))
        params = dict(re.findall(r'(\w+)="([^"]*)"', bearer))
        assert "login.windows.net" in params["authorization_uri"], bearer
        resource = params["resource"]
        self.token("token", {"grant_type": "password", "resource": resource, "username": self.username,
                             "password": self.password})
        apps = self.send("user", "GET", user).json()["_links"]["applications"]["href"]
        app = self.send("application", "POST", apps, json={"UserAgent": "MeetingsPlanner/1.4", "Culture": "en-US",
                                                           "EndpointId": "8a6d1f0e-6c1b-4b8e-a2d4-57e0c3f1b2a9"})
        assert app.status_code == 201, app.text
        mine = urljoin(apps, app.json()["_embedded"]["onlineMeetings"]["_links"]["myOnlineMeetings"]["href"])
        self.send("list-empty", "GET", mine)
        created = self.send("create", "POST", mine, json={"subject": "Quarterly review", "accessLevel": "Everyone",
                                                          "attendees": ["sip:alice@contoso.com"]})
        meeting = urljoin(apps, created.json()["_links"]["self"]["href"])
        self.token("token-refresh", {"grant_type": "refresh_token", "resource": resource,
                                     "refresh_token": self.refresh_token})
        self.send("get", "GET", meeting)
        self.send("list", "GET", mine)
        self.send("delete", "DELETE", meeting)
        self.send("list-after-delete", "GET", mine)
        self.send("sign-out", "DELETE", urljoin(apps, app.json()["_links"]["self"]["href"]))
        return self.seen
