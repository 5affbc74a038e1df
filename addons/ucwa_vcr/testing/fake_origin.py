"""A small fake UCWA front end on loopback, behaving like Microsoft's reference pages.

Usage:
    python -m ucwa_vcr.testing.fake_origin --port 8080 --password secret --max-meetings 3
    # or scripts/fake-ucwa; then start at http://127.0.0.1:8080/Autodiscover/AutodiscoverService.svc/root

Serves discovery, the 401 MsRtcOAuth challenge, the password-grant token, application creation (with the
cwt_ucwa cookie), myOnlineMeetings list/create/get/put/delete in JSON and XML with ETags and If-Match
(412 stale, 428 missing), 409 TooManyOnlineMeetings after `max_meetings` creates, a long-poll event
channel and the batch resource (multipart/batching). It counts every request it receives (`hits`), which
is how tests prove replay stayed offline.

This module holds the fake's state and runs its server; handler.py routes requests to endpoints.py, which
answer in the representations of representations.py at the paths of urls.py.
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
