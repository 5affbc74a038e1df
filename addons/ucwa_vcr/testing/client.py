"""A small UCWA client for trying ucwa-vcr: signs in, creates an application, lists and creates meetings.

Usage:
    python -m ucwa_vcr.testing.client http://127.0.0.1:8081/Autodiscover/AutodiscoverService.svc/root \\
        --proxy http://127.0.0.1:8080 [--cacert ~/.mitmproxy/mitmproxy-ca-cert.pem] [--password fake-password]

It follows links from discovery as real clients do (the 401 challenge names the token endpoint), prints one
line per exchange, and the created meeting at the end. Exit 0 when every step succeeded, 1 when the server
(or ucwa-vcr) refused one -- the line says which and why. Standard library only: it runs wherever ucwa-vcr
is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import ssl
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode, urljoin

SHOWN_LINES = 12  # of the created meeting; the rest is counted, never cut silently


class Refused(Exception):
    """A step got an answer the walk cannot go on from."""


class Walk:
    """One UCWA session through an optional proxy; prints each exchange."""

    def __init__(self, proxy: str | None, cacert: str | None) -> None:
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler(
            {"http": proxy, "https": proxy} if proxy else {})]
        if cacert:
            handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cacert)))
        self.opener = urllib.request.build_opener(*handlers)
        self.headers = {"Accept": "application/json"}

    def call(self, what: str, method: str, url: str, body: bytes | None = None,
             ctype: str = "application/json", expect: tuple[int, ...] = (200, 201)) -> tuple[int, Any, Any]:
        """One exchange: prints `status method what`, returns (status, headers, parsed JSON body or None)."""
        headers = {**self.headers, **({"Content-Type": ctype} if body is not None else {})}
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=30) as r:
                status, head, raw = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, head, raw = e.code, e.headers, e.read()
        print(f"{status} {method:6} {what}")
        data = json.loads(raw) if raw and "json" in (head.get("Content-Type") or "") else None
        if status not in expect:
            reason = (f"{data.get('code')}/{data.get('subcode')}: {data.get('message')}"
                      if isinstance(data, dict) and "code" in data else raw[:200].decode("utf-8", "replace"))
            raise Refused(f"{method} {what} got {status}: {reason}")
        return status, head, data

    def sign_in(self, discovery: str, user: str, password: str) -> dict[str, Any]:
        """Discovery, the 401 challenge, the token, the user resource, a new application; the application."""
        _, _, root = self.call("discovery", "GET", discovery)
        user_url = root["_links"]["user"]["href"]
        _, challenge, _ = self.call("user (no token: the 401 challenge)", "GET", user_url, expect=(401,))
        challenges = ", ".join(challenge.get_all("WWW-Authenticate") or [])
        found = re.search(r'MsRtcOAuth\s+href="?([^",]+)', challenges, re.IGNORECASE)
        if found is None:
            raise Refused("the 401 names no token endpoint (MsRtcOAuth href)")
        form = urlencode({"grant_type": "password", "username": user, "password": password}).encode()
        _, _, token = self.call("token", "POST", urljoin(user_url, found.group(1)), form,
                                "application/x-www-form-urlencoded")
        self.headers["Authorization"] = f"{token['token_type']} {token['access_token']}"
        _, _, me = self.call("user", "GET", user_url)
        apps = urljoin(user_url, me["_links"]["applications"]["href"])
        endpoint = {"UserAgent": "ucwa-vcr try-out client", "EndpointId": "5e3c0b4e-0c4f-4e57-a2fb-1d4b3bfc0001",
                    "Culture": "en-US"}
        _, _, app = self.call("application", "POST", apps, json.dumps(endpoint).encode())
        app["_base"] = apps
        return app  # type: ignore[no-any-return]

    def meetings(self, app: dict[str, Any], subject: str) -> dict[str, Any]:
        """List the meetings, create one with `subject`, read it back; the meeting."""
        base = app["_base"]
        url = urljoin(base, app["_embedded"]["onlineMeetings"]["_links"]["myOnlineMeetings"]["href"])
        _, _, listed = self.call("myOnlineMeetings (list)", "GET", url)
        print(f"       {len((listed.get('_embedded') or {}).get('myOnlineMeeting', []))} meetings")
        meeting = {"subject": subject, "description": "made by ucwa-vcr's try-out client", "accessLevel": "Everyone",
                   "attendees": [], "leaders": [], "automaticLeaderAssignment": "SameEnterprise",
                   "expirationTime": "2030-01-01T12:00:00Z", "lobbyBypassForPhoneUsers": "Disabled",
                   "phoneUserAdmission": "Disabled"}
        _, _, created = self.call(f"myOnlineMeetings (create {subject!r})", "POST", url, json.dumps(meeting).encode())
        _, _, read = self.call("the new meeting", "GET", urljoin(base, created["_links"]["self"]["href"]))
        return read  # type: ignore[no-any-return]


def shown(data: Any, lines: int = SHOWN_LINES) -> str:
    """`data` as indented JSON, at most `lines` lines, with a visible note of what was left out."""
    text = json.dumps(data, indent=2, ensure_ascii=False).splitlines()
    if len(text) <= lines:
        return "\n".join(text)
    return "\n".join([*text[:lines], f"  … ({len(text) - lines} more lines not shown)"])


def main(argv: list[str] | None = None) -> int:
    """Walk a UCWA session: sign in, list meetings, create one; exit 1 when a step was refused."""
    parser = argparse.ArgumentParser(prog="python -m ucwa_vcr.testing.client", description=__doc__.split("\n\n")[0])
    parser.add_argument("discovery", help="the discovery URL (scripts/fake-ucwa prints it)")
    parser.add_argument("--proxy", help="HTTP(S) proxy, e.g. http://127.0.0.1:8080 (ucwa-vcr)")
    parser.add_argument("--cacert", help="CA file to trust for HTTPS (mitmproxy's: ~/.mitmproxy/mitmproxy-ca-cert.pem)")
    parser.add_argument("--user", default="jane@contoso.example", help="user name (default %(default)s)")
    parser.add_argument("--password", default="fake-password", help="password (default %(default)s, the fake's)")
    parser.add_argument("--subject", default="Quarterly review", help="subject of the meeting to create")
    args = parser.parse_args(argv)
    walk = Walk(args.proxy, args.cacert)
    try:
        app = walk.sign_in(args.discovery, args.user, args.password)
        meeting = walk.meetings(app, args.subject)
    except Refused as e:
        print(f"refused: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError, TypeError) as e:  # unreachable, not UCWA, or not the shape expected
        print(f"failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print("the new meeting:\n" + shown(meeting))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `| head`: the reader went away; stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
