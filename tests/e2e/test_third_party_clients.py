"""Issue 11: clients nobody here wrote are recorded whole with the default options, and replayed offline as they
were answered live.

The clients (third_party.py) speak plain http:// to realistic host names; mitmdump runs in upstream mode with the
fake origin as its upstream proxy, so every host name reaches the fake and nothing leaves loopback. Replay runs
in regular mode with the fake stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from processes import files_containing
from third_party import OnlineMeetingsClient, RootJoiningBot, Seen
from ucwa_vcr.cassette.codec import load_cassette
from ucwa_vcr.testing.fake_origin import FakeUcwa

DISCOVERY = "http://lyncdiscover.contoso.example/"
POOL = "fe1.contoso.example"
ONLINE_POOL = "webpoolam41e02.infra.lync.example"
TENANT = "contoso.onmicrosoft.com"
USERNAME = "standup-bot@contoso.com"
TOKEN_SECRETS = ("access_token", "refresh_token", "id_token")  # what the cassette must not give back
KEPT_HEADERS = ("content-type", "location", "etag", "www-authenticate")  # what clients act on


@pytest.fixture
def origin() -> Iterator[Callable[..., FakeUcwa]]:
    """Start a fake origin with the given options; stopped after the test (if the test did not stop it)."""
    started: list[FakeUcwa] = []

    def start(**options: object) -> FakeUcwa:
        fake = FakeUcwa(event_timeout=5, **options).start()  # type: ignore[arg-type]
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


def where(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.path


def assert_recorded_whole(cassette: Path, live: list[Seen]) -> None:
    """Every exchange the client made is in the cassette, in order, at the host and path it was sent to."""
    recorded = [(i.request.method, *where(i.request.url)) for i in load_cassette(cassette).interactions]
    assert recorded == [(s.method, *where(s.url)) for s in live]


def token_swaps(live: list[Seen], replayed: list[Seen]) -> dict[bytes, bytes]:
    """Each live token secret and what replay gave in its place; nothing else in a token answer may differ."""
    swaps: dict[bytes, bytes] = {}
    for was, got in zip(live, replayed, strict=True):
        if was.name.startswith("token"):
            sent, back = json.loads(was.body), json.loads(got.body)
            assert sent.keys() == back.keys(), was.name
            changed = {k for k in sent if sent[k] != back[k]}
            assert changed == {k for k in TOKEN_SECRETS if k in sent}, f"{was.name}: redacted {changed}"
            swaps |= {sent[k].encode(): back[k].encode() for k in changed}
    return swaps


def assert_replayed_as_live(live: list[Seen], replayed: list[Seen]) -> None:
    """Same statuses, body bytes and headers clients act on as live, but for the token secrets, which the cassette
    holds redacted."""
    assert [s.name for s in replayed] == [s.name for s in live]
    swaps = token_swaps(live, replayed)
    for was, got in zip(live, replayed, strict=True):
        expected = was.body
        for secret, placeholder in swaps.items():
            expected = expected.replace(secret, placeholder)
        assert (got.status, got.body) == (was.status, expected), was.name
        kept = [{k: s.headers.get(k) for k in KEPT_HEADERS} for s in (was, got)]
        assert kept[0] == kept[1], was.name


def live_secrets(live: list[Seen]) -> list[str]:
    answers = [json.loads(s.body) for s in live if s.name.startswith("token")]
    return [answer[k] for answer in answers for k in TOKEN_SECRETS if k in answer]


def test_root_joining_bot_is_recorded_whole_and_replays_offline(start_proxy, origin, canaries, tmp_path):
    fake = origin(password=canaries["password"], token=canaries["token"], cookie=canaries["cookie"], pool_host=POOL)
    cassette = tmp_path / "bot.yaml"
    proxy = start_proxy(f"ucwa_cassette={cassette}", f"mode=upstream:{fake.url}")
    live = RootJoiningBot(proxy.session(), DISCOVERY, USERNAME, canaries["password"]).run()
    recording_log = proxy.stop()
    fake.stop()
    assert len(live) == 18 and all(s.status < 400 for s in live if s.name != "user-401"), live
    doubled = [hit for hit in fake.hits if hit.split(" ", 1)[1].startswith("//ucwa/")]
    assert sum(fake.hits[hit] for hit in doubled) == 13, "the bot sends //ucwa/... as in the issue"
    assert "server connect" in recording_log, "mitmdump logs the connections it opens"
    assert_recorded_whole(cassette, live)

    replay = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=none")
    canary_other_password = f"{canaries['password']}-not-used"
    replayed = RootJoiningBot(replay.session(), DISCOVERY, USERNAME, canary_other_password).run()
    replay_log = replay.stop()
    assert "server connect" not in replay_log, "no server connection, not even one refused"
    assert_replayed_as_live(live, replayed)
    assert files_containing(tmp_path, [*canaries.values(), canary_other_password, *live_secrets(live)]) == []


def online_session(proxy_url: str, password: str) -> list[Seen]:
    with httpx.Client(proxy=proxy_url, trust_env=False, timeout=30) as http:
        return OnlineMeetingsClient(http, DISCOVERY, TENANT, USERNAME, password).run()


def test_online_client_with_azure_ad_tokens_is_recorded_whole_and_replays_offline(start_proxy, origin, canaries,
                                                                                 tmp_path):
    canary_signature = canaries["token"].removeprefix("cwt=")  # base64url: the JWTs' signature, verbatim
    canary_refresh = f"AQABAAAAAAB{canaries['cookie']}"
    fake = origin(password=canaries["password"], token=canary_signature, refresh_token=canary_refresh,
                  pool_host=ONLINE_POOL, online=True)
    cassette = tmp_path / "online.yaml"
    proxy = start_proxy(f"ucwa_cassette={cassette}", f"mode=upstream:{fake.url}")
    live = online_session(proxy.url, canaries["password"])
    proxy.stop()
    fake.stop()
    assert len(live) == 13 and all(s.status < 400 for s in live if s.name != "user-401"), live
    assert {where(s.url)[0] for s in live if s.name.startswith("token")} == {"login.microsoftonline.com"}
    assert canary_signature in live_secrets(live)[0], "the access token is the fake's JWT"
    assert_recorded_whole(cassette, live)

    replay = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=none")
    canary_other_password = f"{canaries['password']}-not-used"
    replayed = online_session(replay.url, canary_other_password)
    replay_log = replay.stop()
    assert "server connect" not in replay_log
    assert_replayed_as_live(live, replayed)
    needles = [*canaries.values(), canary_signature, canary_refresh, canary_other_password, *live_secrets(live)]
    assert files_containing(tmp_path, needles) == []
