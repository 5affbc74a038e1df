"""Session-state faults through a real mitmdump and a real client: an expired token, an expired application and a
token lifetime, which a client survives by fetching a new token and creating a new application; while recording
against the fake origin, and replaying with the origin stopped."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from processes import Proxy, wait_for
from ucwa_client import JSON, Client
from ucwa_vcr.cassette.codec import load_cassette
from ucwa_vcr.testing.fake_origin import FakeUcwa

RULES = """faults:
  - match: {method: GET, path: 'myOnlineMeetings$'}
    after: 1        # the second list...
    times: 1
    expire: token   # ...finds the token expired
"""
# the fourth list the rules see (the retry after the token counts) finds the application expired
INJECT = "ucwa_inject=GET myOnlineMeetings$=expire application InactiveApplicationExpired after 3 times 1"
EXPIRED_APPLICATION = ("ApplicationNotFound", "InactiveApplicationExpired")


class SurvivingClient(Client):
    """A client that signs in again when its token expires and creates a new application when its application
    expires, then retries what failed; its event channel is polled on a thread of its own."""

    user_url = ""
    apps_url = ""

    def sign_in(self) -> None:
        root = self.call("discovery", "GET", self.discovery_url).json()
        self.user_url = self.base = root["_links"]["user"]["href"]
        self.fetch_token()
        self.apps_url = self.call("user", "GET", self.user_url).json()["_links"]["applications"]["href"]
        self.create_application()

    def fetch_token(self) -> None:
        """What a client does on a 401: drop its token, read the challenge, fetch a new token."""
        self.auth = {}
        challenge = self.call("user-401", "GET", self.user_url)
        assert challenge.status_code == 401, challenge.text
        token_url = re.search(r'MsRtcOAuth href="([^"]+)"', challenge.headers["WWW-Authenticate"]).group(1)  # type: ignore[union-attr]
        token = self.call("token", "POST", token_url, data={"grant_type": "password", "username": "fake@contoso.com",
                                                             "password": self.password}).json()
        self.auth = {"Authorization": f"{token['token_type']} {token['access_token']}"}

    def create_application(self) -> None:
        r = self.call("application", "POST", self.apps_url, json={"UserAgent": "tests", "EndpointId": "a1b2",
                                                                   "Culture": "en-US"})
        assert r.status_code == 201, r.text
        self.app = r.json()
        self.base = self.apps_url

    def list_meetings(self, on_expired_application: Callable[[], None] = lambda: None) -> requests.Response:
        """GET myOnlineMeetings, surviving an expired token or application (at most three tries)."""
        for _ in range(3):
            r = self.call("list", "GET", self.meetings_url)  # the link of the application in use
            if r.status_code == 401:
                self.fetch_token()
            elif r.status_code == 404 and r.json().get("subcode") in EXPIRED_APPLICATION:
                on_expired_application()
                self.create_application()
            else:
                return r
        raise AssertionError(f"the client did not get through: {[(s.name, s.status) for s in self.steps]}")

    def answers(self, name: str) -> list[int]:
        return [s.status for s in self.steps if s.name == name]


class EventPoller:
    """P-GETs the event channel on a thread, following `next`, until an answer is neither a 200 nor a 401 (or
    `polls` ran out); after a 401 it takes the client's new token."""

    def __init__(self, proxy: Proxy, client: Client, first: str, polls: int = 20) -> None:
        self.s = proxy.session()
        self.client = client
        self.auth = dict(client.auth)
        self.url = urljoin(client.base, first)
        self.answers: list[requests.Response] = []
        self.polls = polls
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        url = self.url
        for _ in range(self.polls):
            with contextlib.suppress(requests.RequestException):
                r = self.s.get(url, headers={"Accept": JSON, **self.auth}, timeout=60)
                self.answers.append(r)
                if r.status_code == 401:  # the client is fetching a new token
                    time.sleep(0.2)
                    self.auth = dict(self.client.auth) or self.auth
                    continue
                if r.status_code != 200:
                    return
                url = urljoin(url, r.json()["_links"]["next"]["href"])

    def last(self, seconds: float = 60) -> requests.Response:
        """The answer that ended the polling (waits at most `seconds`)."""
        self.thread.join(seconds)
        assert not self.thread.is_alive() and self.answers, "the event channel never ended"
        return self.answers[-1]


def record_plain_session(start_proxy, fake: FakeUcwa, password: str, cassette: Path) -> None:
    """Record a session without faults: sign-in, a list, one event P-GET (answered at once: an event waits)."""
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=once")
    client = SurvivingClient(proxy.session(), fake.discovery_url, password)
    client.sign_in()
    assert client.list_meetings().status_code == 200
    fake.push_event("myOnlineMeetings", client.meetings_url, "updated")
    assert client.call("events", "GET", client.events_url).status_code == 200
    proxy.stop()


@pytest.mark.parametrize("where", ["live", "replay"])
def test_a_client_survives_an_expired_token_and_an_expired_application(start_proxy, fake, canaries, tmp_path, where):
    cassette, rules = tmp_path / "session.yaml", tmp_path / "faults.yaml"
    rules.write_text(RULES)
    if where == "replay":
        record_plain_session(start_proxy, fake, canaries["password"], cassette)
        fake.stop()
        mode = ["ucwa_record_mode=none", "ucwa_event_hold=5"]
    else:
        mode = ["ucwa_record_mode=all"]
    proxy = start_proxy(f"ucwa_cassette={cassette}", f"ucwa_faults={rules}", INJECT, *mode)
    client = SurvivingClient(proxy.session(), fake.discovery_url, canaries["password"])
    client.sign_in()
    assert client.list_meetings().status_code == 200
    if where == "replay":  # the recorded P-GET, then the next one: unrecorded, held by the replayer
        first = client.call("events", "GET", client.events_url).json()["_links"]["next"]["href"]
    else:  # held by the fake until an event comes
        first = client.events_url
    poller = EventPoller(proxy, client, first)
    if where == "replay":
        proxy.wait_for_log("holding unrecorded event request")
    else:
        wait_for(lambda: fake.hits[f"GET {first.partition('?')[0]}"] > 0, lambda: "the P-GET never reached the fake")
    hits = fake.hits.copy()

    assert client.list_meetings().status_code == 200  # 401: a new token, then the list
    channel: list[requests.Response] = []

    def event_channel_ends() -> None:  # the client's P-GET learns the news too, before a new application
        if where == "live":
            fake.push_event("myOnlineMeetings", client.meetings_url, "updated")  # the fake answers it now
        channel.append(poller.last())

    assert client.list_meetings(event_channel_ends).status_code == 200  # 404: a new application, then the list
    assert client.answers("list") == [200, 401, 200, 404, 200]
    assert client.answers("user-401") == [401, 401] and client.answers("application") == [201, 201]
    expired_token = next(s for s in client.steps if s.name == "list" and s.status == 401)
    probe = next(s for s in client.steps if s.name == "user-401")
    assert expired_token.body == probe.body and expired_token.headers["Content-Type"] == "text/html"
    assert expired_token.headers["WWW-Authenticate"] == probe.headers["WWW-Authenticate"], "the recorded challenge"
    assert "MsRtcOAuth href=" in expired_token.headers["WWW-Authenticate"]
    assert channel[0].status_code == 404 and channel[0].json()["subcode"] == "InactiveApplicationExpired"
    log = proxy.stop()
    assert "the client fetched a new token" in log and "the client created an application" in log
    if where == "replay":
        assert ", 3 faulted, 0 missed" in log
        return
    meetings = f"GET {client.app['_links']['self']['href']}/onlineMeetings/myOnlineMeetings"
    assert fake.hits[meetings] - hits[meetings] == 2, "the lists answered 401 and 404 never reached the server"
    recorded = load_cassette(cassette).interactions
    lists = [i.response.status for i in recorded if i.request.url.endswith("myOnlineMeetings")]
    assert lists == [200, 200, 200], "nothing ucwa-vcr answered is recorded"


@pytest.mark.parametrize("where", ["live", "replay"])
def test_a_token_outlives_ucwa_token_lifetime(start_proxy, fake, canaries, tmp_path, where):
    cassette = tmp_path / "session.yaml"
    if where == "replay":
        record_plain_session(start_proxy, fake, canaries["password"], cassette)
        fake.stop()
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_token_lifetime=1",
                        f"ucwa_record_mode={'none' if where == 'replay' else 'all'}")
    client = SurvivingClient(proxy.session(), fake.discovery_url, canaries["password"])
    client.sign_in()
    deadline = time.monotonic() + 30
    while 401 not in client.answers("list"):  # lists until the token is a second old
        assert time.monotonic() < deadline, f"no 401 in 30 s: {client.answers('list')}\n{proxy.log}"
        assert client.list_meetings().status_code == 200
        time.sleep(0.2)
    assert client.answers("token")[:2] == [200, 200], "a new token, then the list again"
    assert client.answers("list")[-1] == 200
    expired = next(s for s in client.steps if s.name == "list" and s.status == 401)
    assert expired.headers["WWW-Authenticate"] == client.steps[1].headers["WWW-Authenticate"], "the recorded 401"
    assert expired.body == client.steps[1].body
    assert "tokens expire 1 second after they are fetched" in proxy.stop()
    if where == "live":
        meetings = f"GET {client.app['_links']['self']['href']}/onlineMeetings/myOnlineMeetings"
        assert fake.hits[meetings] == client.answers("list").count(200), "no 401 came from the server"
