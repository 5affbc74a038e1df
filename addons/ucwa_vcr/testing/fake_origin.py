"""A small fake UCWA front end on loopback, behaving like Microsoft's reference pages.

Usage:
    python -m ucwa_vcr.testing.fake_origin --port 8080 --password secret --max-meetings 3
    # or scripts/fake-ucwa; then start at http://127.0.0.1:8080/Autodiscover/AutodiscoverService.svc/root
    # realistic host names, all on loopback: make it the upstream proxy of mitmproxy (plain HTTP only)
    python -m ucwa_vcr.testing.fake_origin --port 8081 --pool-host fe1.contoso.example [--online]
    mitmdump -s addons/ucwa.py --mode upstream:http://127.0.0.1:8081  # then http://lyncdiscover.contoso.example/

Serves discovery, the 401 MsRtcOAuth challenge, the password-grant token (any user name, the fake's
password), application creation (with the cwt_ucwa cookie), myOnlineMeetings list/create/get/put/delete in
JSON and XML with ETags and If-Match (412 stale, 428 missing), 409 TooManyOnlineMeetings after
`max_meetings` creates, a long-poll event channel, the batch resource (multipart/batching), me with
makeMeAvailable, presence and reportMyActivity, and instant messaging (startMessaging, sendMessage,
stopMessaging). It counts every request it receives (`hits`, by method and path as received; http.server
itself collapses the leading slashes of an origin-form target, not of an absolute-form one), which is how tests
prove replay stayed offline.

Like IIS it serves `//ucwa/...` as `/ucwa/...` (repeated leading slashes). Requests in absolute form
(`GET http://lyncdiscover.contoso.example/ HTTP/1.1`, as a proxy forwards them) are served by path, and
the absolute links it writes name the host the client asked for, so it can stand behind mitmproxy's
upstream mode. `pool_host` puts the front-end pool on another host name than discovery. The `online`
flavour behaves like Skype for Business Online: its 401 names Azure AD (`Bearer authorization_uri=...`),
tokens come from `POST /<tenant>/oauth2/token` on any host (password and refresh_token grants; JWT access
and id tokens, a refresh token), and signed-in requests need `Authorization: Bearer <that JWT>`.

This module holds the fake's state and runs its server; handler.py routes requests to endpoints.py (and
communication.py, azure_ad.py), which answer in the representations of representations.py at the paths of
urls.py.
"""

from __future__ import annotations

import argparse
import secrets
import threading
from collections import Counter
from http.server import ThreadingHTTPServer
from typing import Any

from .handler import Handler
from .urls import APPS, PAGE, ROOT, USER

__all__ = ["APPS", "PAGE", "ROOT", "USER", "FakeUcwa", "main"]


class FakeUcwa:
    """The fake server's state, and its HTTP server on a thread.

    `lock` (a Condition over an RLock, so a holder may push_event) guards `hits`, `meetings`, `created` and
    `events`; waiting for events releases it.
    """

    def __init__(self, password: str = "fake-password", token: str | None = None, cookie: str | None = None,
                 max_meetings: int = 10, event_timeout: float = 180.0, port: int = 0, *,
                 pool_host: str | None = None, online: bool = False, refresh_token: str | None = None) -> None:
        """`token`: the web ticket's access token, or in the online flavour the signature of its JWT access
        tokens (kept verbatim if it is base64url); `pool_host`: the front-end pool's host name (and port) named
        by discovery's user link, instead of the discovery host; `online`: the Skype for Business Online flavour,
        whose Azure AD token answer carries `refresh_token`."""
        self.password = password
        self.token = token or ("" if online else "cwt=") + "AAEB" + secrets.token_urlsafe(48)
        self.cookie = cookie or "AAEB" + secrets.token_urlsafe(32)
        self.pool_host = pool_host
        self.online = online
        self.refresh_token = refresh_token or "AQABAAAAAAB" + secrets.token_urlsafe(96)
        self.issued: set[str] = set()  # the online flavour's access tokens (under `lock`)
        self.available = False  # makeMeAvailable was done
        self.availability = "Online"
        self.conversations: dict[str, dict[str, Any]] = {}  # id -> {"state": ..., "messages": count}
        self.max_meetings = max_meetings
        self.event_timeout = event_timeout
        self.hits: Counter[str] = Counter()
        self.app_id = str(secrets.randbelow(9 * 10**10) + 10**10)
        self.meetings: dict[str, dict[str, Any]] = {}
        self.created = 0
        self.events: list[dict[str, Any]] = []
        self.ack = 1
        self.lock = threading.Condition(threading.RLock())
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
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
        """Stop serving and close the listening socket (again: nothing more to do)."""
        with self.lock:
            self.lock.notify_all()
        if self._thread is not None:
            self.server.shutdown()
            self._thread = None
        self.server.server_close()

    def accepts(self, authorization: str) -> bool:
        """Whether an Authorization header value carries a token this fake issued."""
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer":
            return False
        if not self.online:
            return token == self.token
        with self.lock:
            return token in self.issued

    def push_event(self, rel: str, href: str, kind: str, sender: tuple[str, str] | None = None) -> None:
        """Queue an event for the event channel; `sender` is the (rel, href) it comes from (onlineMeetings if
        None)."""
        with self.lock:
            event: dict[str, Any] = {"link": {"rel": rel, "href": href}, "type": kind}
            if sender is not None:
                event["sender"] = sender
            self.events.append(event)
            self.lock.notify_all()

    def wait_events(self, timeout: float) -> list[dict[str, Any]]:
        with self.lock:
            self.lock.wait_for(lambda: bool(self.events), timeout=timeout)
            taken, self.events = self.events, []
            return taken


def main(argv: list[str] | None = None) -> None:
    """Run the fake UCWA origin until interrupted."""
    parser = argparse.ArgumentParser(prog="fake-ucwa", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080; 0 picks one)")
    parser.add_argument("--password", default="fake-password",
                        help="the password the token endpoints accept, with any user name (default fake-password)")
    parser.add_argument("--max-meetings", type=int, default=10,
                        help="creates allowed before 409 TooManyOnlineMeetings (default 10)")
    parser.add_argument("--event-timeout", type=float, default=180.0,
                        help="longest an event P-GET is held, in seconds (default 180)")
    parser.add_argument("--pool-host", metavar="HOST",
                        help="host name (and :port) of the front-end pool that discovery's user link names, e.g. "
                             "fe1.contoso.example (default: the host discovery was asked at); reachable through "
                             "a proxy whose upstream is this fake")
    parser.add_argument("--online", action="store_true",
                        help="Skype for Business Online flavour: the 401 names Azure AD, tokens come from POST "
                             "/<tenant>/oauth2/token (JWT access tokens, refresh tokens)")
    args = parser.parse_args(argv)
    fake = FakeUcwa(args.password, max_meetings=args.max_meetings, event_timeout=args.event_timeout, port=args.port,
                    pool_host=args.pool_host, online=args.online)
    print(f"fake UCWA origin on {fake.url}; discovery: {fake.discovery_url}; sign in with any user name and the "
          f"password {args.password!r}", flush=True)
    try:
        fake.server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
