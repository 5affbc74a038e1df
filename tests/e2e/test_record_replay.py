"""End to end: record a full UCWA session through a real mitmdump, then replay it offline."""

from __future__ import annotations

import contextlib
import gzip
import json
import signal
import subprocess
import threading
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
import yaml
from lxml import etree
from processes import files_containing, wait_for
from ucwa_client import NS, Client, poll_events_in_background
from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.cassette.codec import COMPLETE, load_cassette
from ucwa_vcr.cassette.writer import save_cassette

AUTH = {"Authorization": "Bearer cwt=test-token"}


def record_session(start_proxy, fake, canaries, cassette: Path, *sets: str):
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=all", *sets)
    client = Client(proxy.session(), fake.discovery_url, canaries["password"])
    steps = client.full_session()
    # another host: the fake's own host is UCWA for the session once its answers link to it
    not_ucwa = proxy.session().get(fake.url.replace("127.0.0.1", "localhost") + "/static/app.js", timeout=10)
    assert not_ucwa.status_code == 200
    proxy.stop()
    return steps


def test_record_full_session_is_complete_readable_and_secret_free(start_proxy, fake, canaries, tmp_path):
    cassette = tmp_path / "today.yaml"
    steps = record_session(start_proxy, fake, canaries, cassette)
    statuses = {s.name: s.status for s in steps}
    assert statuses["user-401"] == 401 and statuses["put-no-if-match"] == 428 and statuses["put-stale"] == 412
    assert statuses["create-json"] == 201 and statuses["delete"] == 204
    batch = next(s for s in steps if s.name == "batch")
    assert batch.status == 200 and batch.body.count(b"HTTP/1.1 200 OK\r\n") == 2, batch.body[:300]

    loaded = load_cassette(cassette)
    assert [i.request.method for i in loaded.interactions] == [s.method for s in steps]
    assert all("/static/" not in i.request.url for i in loaded.interactions), "non-UCWA traffic was recorded"

    raw = yaml.safe_load(cassette.read_text())
    assert raw["version"] == 1
    bodies = [i["response"].get("body") for i in raw["interactions"]]
    assert "body_base64" not in cassette.read_text(), "text bodies must be stored as text"
    # JSON and XML bodies are readable text that parses; escapes the server wrote are kept byte for byte.
    json.loads(bodies[[s.name for s in steps].index("list-json")])
    etree.fromstring(bodies[[s.name for s in steps].index("list-xml")].encode())
    assert "\\/ucwa\\/oauth\\/v1\\/applications" in cassette.read_text()

    assert files_containing(tmp_path, list(canaries.values())) == []
    text = cassette.read_text()
    assert "Bearer cwt=REDACTED-" in text and "cwt_ucwa=REDACTED-" in text and "password=REDACTED-" in text
    recorded_batch = next(i.request.body for i in loaded.interactions if i.request.url.endswith("/batch"))
    assert b"\r\nCookie: cwt_ucwa=REDACTED-" in recorded_batch, "the batch part's own Cookie header"
    token_placeholders = {h for i in loaded.interactions for k, h in i.request.headers if k.lower() == "authorization"}
    assert len(token_placeholders) == 1, "the same token must get the same placeholder everywhere"


def test_replay_offline_gives_back_the_recorded_bytes(start_proxy, fake, canaries, tmp_path):
    cassette = tmp_path / "today.yaml"
    recorded = record_session(start_proxy, fake, canaries, cassette)
    token = next(json.loads(s.body)["access_token"] for s in recorded if s.name == "token")
    placeholder = next(json.loads(i.response.body)["access_token"] for i in load_cassette(cassette).interactions
                       if "oauthtoken" in i.request.url.lower())
    hits = fake.total_hits

    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=none")
    replayed = Client(proxy.session(), fake.discovery_url, "any-other-password").full_session()
    proxy.stop()

    assert fake.total_hits == hits, "replay contacted the origin"
    assert [s.name for s in replayed] == [s.name for s in recorded]
    for was, got in zip(recorded, replayed, strict=True):
        assert got.status == was.status, was.name
        assert got.body == was.body.replace(token.encode(), placeholder.encode()), was.name
    assert replayed[-6].headers["Content-Type"] == recorded[-6].headers["Content-Type"]
    # the list before and after DELETE are the same request with different recorded answers
    lists = {s.name: s.body for s in replayed}
    assert lists["list-json"] != lists["list-after-delete"]


def test_replay_miss_is_explained(start_proxy, fake, canaries, tmp_path):
    cassette = tmp_path / "today.yaml"
    record_session(start_proxy, fake, canaries, cassette)
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=none")
    app = next(i for i in load_cassette(cassette).interactions if i.response.status == 201).request.url
    s = proxy.session()
    r = s.get(app + "/42/onlineMeetings/myOnlineMeetings/M9999", headers={"Accept": "application/xml"}, timeout=10)
    assert r.status_code == 500 and r.headers["X-Ucwa-Vcr"] == "miss"
    reason = etree.fromstring(r.content)
    assert reason.findtext("{http://schemas.microsoft.com/rtc/2012/03/ucwa}code") == "ServiceFailure"
    message = reason.findtext("{http://schemas.microsoft.com/rtc/2012/03/ucwa}message")
    assert "closest #" in message and "path: recorded" in message and "accept" in message
    assert "path" in r.headers["X-Ucwa-Vcr-Diagnosis"]
    assert "no recorded answer" in proxy.stop()


def test_event_channel_long_poll_does_not_block_other_traffic(start_proxy, fake, canaries, tmp_path):
    cassette = tmp_path / "events.yaml"
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=all")
    client = Client(proxy.session(), fake.discovery_url, canaries["password"])
    client.sign_in()
    events = urljoin(client.base, client.events_url)
    poll, answers = poll_events_in_background(client.s, events, {"Accept": "application/json", **client.auth})
    # the origin holds the P-GET (at most 10 s, the fake's event_timeout) once it has it: wait until it has
    waiting = f"GET {urlsplit(events).path}"
    wait_for(lambda: fake.hits[waiting] >= 1, lambda: f"the origin never got {waiting}: {dict(fake.hits)}", seconds=5)
    for _ in range(3):
        client.call("list", "GET", client.meetings_url)
    assert poll.is_alive() and not answers, "the P-GET is still held by the origin"
    client.call("create", "POST", client.meetings_url, json={"subject": "wake the channel"})
    poll.join(30)
    assert answers and answers[0].status_code == 200 and b"added" in answers[0].content
    proxy.stop()
    order = [i.request.url.rsplit("/", 1)[-1] for i in load_cassette(cassette).interactions]
    assert order.index("events?ack=1") > order.index("myOnlineMeetings"), order


def test_kill_during_recording_leaves_a_valid_cassette(start_proxy, fake, canaries, tmp_path):
    cassette = tmp_path / "crash.yaml"
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=all")
    client = Client(proxy.session(), fake.discovery_url, canaries["password"])
    client.sign_in()
    for _ in range(5):
        client.call("list", "GET", client.meetings_url)
    proxy.proc.send_signal(signal.SIGKILL)
    proxy.proc.wait(10)
    # every exchange the client saw answered was on disk before the answer left the proxy
    assert len(load_cassette(cassette).interactions) == len(client.steps)
    assert cassette.read_text().count(COMPLETE) > 1, "exchanges were appended, not the file rewritten"


def test_unrecorded_event_request_is_held_then_answered_idle(start_proxy, tmp_path):
    cassette = tmp_path / "empty.yaml"
    cassette.write_text("version: 1\ninteractions: []\n")
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=none", "ucwa_event_hold=20")
    s = proxy.session()
    app = "http://fe1.contoso.com/ucwa/oauth/v1/applications/123"

    def poll() -> None:
        with contextlib.suppress(requests.RequestException):  # the proxy stops before the hold ends
            s.get(app + "/events?ack=9", timeout=60)

    held = threading.Thread(target=poll, daemon=True)
    held.start()
    proxy.wait_for_log(f"ucwa-vcr: holding unrecorded event request {urlsplit(app).path}/events?ack=9 for 20 s")
    other = s.get(app + "/me", timeout=10)
    assert other.status_code == 500 and other.headers["X-Ucwa-Vcr"] == "miss"
    assert held.is_alive(), "the held P-GET must not block other flows, nor be answered in a hot loop"
    # the client's own timeout (1 s) is shorter than the hold: answered like an idle channel then
    idle = s.get(app + "/events?ack=7&timeout=1", headers={"Accept": "application/json"}, timeout=30)
    assert idle.status_code == 200 and idle.json()["_links"]["next"]["href"].endswith("/events?ack=8")
    xml = s.get(app + "/events?ack=7&timeout=1", headers={"Accept": "application/xml"}, timeout=30)
    assert etree.fromstring(xml.content).find("{http://schemas.microsoft.com/rtc/2012/03/ucwa}link").get("rel") == "next"
    assert "holding unrecorded event request" in proxy.stop()


def test_a_newer_event_request_with_the_same_ack_replaces_the_held_one(start_proxy, tmp_path):
    cassette = tmp_path / "empty.yaml"
    cassette.write_text("version: 1\ninteractions: []\n")
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=none", "ucwa_event_hold=60")
    events = "http://fe1.contoso.com/ucwa/oauth/v1/applications/123/events"
    first, answers = poll_events_in_background(proxy.session(), events + "?ack=5", {"Accept": "application/xml"})
    other_ack, other_answers = poll_events_in_background(proxy.session(), events + "?ack=6",
                                                         {"Accept": "application/json"})
    for ack in (5, 6):
        proxy.wait_for_log(f"ucwa-vcr: holding unrecorded event request {urlsplit(events).path}?ack={ack} for 60 s")
    second = proxy.session().get(events + "?ack=5&timeout=1", headers={"Accept": "application/json"}, timeout=30)
    first.join(30)
    replaced = etree.fromstring(answers[0].content)
    assert answers[0].status_code == 409 and replaced.findtext(f"{NS}subcode") == "PGetReplaced"
    assert second.status_code == 200 and second.json()["_links"]["next"]["href"].endswith("ack=6"), "then idle"
    assert other_ack.is_alive() and not other_answers, "a P-GET with another ack is not replaced"
    proxy.stop()


def test_concurrent_flows_are_all_recorded_whole(start_proxy, fake, canaries, tmp_path):
    cassette = tmp_path / "parallel.yaml"
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=all")
    client = Client(proxy.session(), fake.discovery_url, canaries["password"])
    client.sign_in()
    url = fake.url + client.meetings_url
    subjects = [f"parallel-{n}" for n in range(24)]

    def create(subject: str) -> None:
        s = proxy.session()
        r = s.post(url, json={"subject": subject}, headers={"Accept": "application/json", **client.auth}, timeout=30)
        assert r.status_code in (201, 409)

    threads = [threading.Thread(target=create, args=(s,)) for s in subjects]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    proxy.stop()
    assert COMPLETE not in cassette.read_text(), "a clean stop leaves the cassette in its final form"
    posts = [i for i in load_cassette(cassette).interactions if i.request.method == "POST" and "Meetings" in i.request.url]
    assert sorted(json.loads(i.request.body)["subject"] for i in posts) == sorted(subjects)
    for i in posts:  # each request is paired with its own answer
        if i.response.status == 201:
            assert json.loads(i.response.body)["subject"] == json.loads(i.request.body)["subject"]


def test_new_episodes_replays_known_and_records_new(start_proxy, fake, canaries, tmp_path):
    cassette = tmp_path / "episodes.yaml"
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=once")
    client = Client(proxy.session(), fake.discovery_url, canaries["password"])
    client.sign_in()
    client.call("list", "GET", client.meetings_url)
    proxy.stop()
    first = len(load_cassette(cassette).interactions)

    hits = fake.total_hits
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=new_episodes")
    again = Client(proxy.session(), fake.discovery_url, canaries["password"])
    again.sign_in()
    again.call("list", "GET", again.meetings_url)
    assert fake.total_hits == hits, "known requests are replayed"
    again.call("create", "POST", again.meetings_url, json={"subject": "new episode"})
    assert fake.total_hits == hits + 1, "a new request goes to the server"
    proxy.stop()
    interactions = load_cassette(cassette).interactions
    assert len(interactions) == first + 1 and interactions[-1].request.method == "POST"
    text = cassette.read_text()
    assert canaries["token"] not in text and canaries["password"] not in text


def test_once_with_an_existing_cassette_never_records_nor_forwards(start_proxy, fake, tmp_path):
    cassette = tmp_path / "once.yaml"
    save_cassette(cassette, load_cassette(DEFAULT_CASSETTE))
    before = cassette.read_bytes()
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=once")
    r = proxy.session().get(fake.discovery_url, timeout=10)
    assert r.status_code == 500 and r.headers["X-Ucwa-Vcr"] == "miss"
    assert fake.total_hits == 0
    proxy.stop()
    assert cassette.read_bytes() == before


def test_compressed_answers_are_stored_decoded_and_replayed_compressed(start_proxy, fake, canaries, tmp_path):
    cassette = tmp_path / "gzip.yaml"
    steps = record_session(start_proxy, fake, canaries, cassette)
    lists = [i for i in load_cassette(cassette).interactions
             if i.request.url.endswith("myOnlineMeetings") and i.request.method == "GET"
             and ("Accept", "application/json") in i.request.headers]
    gzipped = [i for i in lists if ("Content-Encoding", "gzip") in i.response.headers]
    assert gzipped and all(i.response.body.lstrip().startswith(b"{") for i in gzipped), "stored decoded, readable"
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=none")
    url = fake.url + urlsplit(gzipped[0].request.url).path
    for _ in range(lists.index(gzipped[0]) + 1):  # identical requests are answered in recorded order
        raw = subprocess.run(["curl", "-sS", "--proxy", proxy.url, "-H", "Accept-Encoding: gzip", "-H",
                              "Authorization: Bearer cwt=t", "-H",
                              "Accept: application/json", url], capture_output=True, timeout=30).stdout
    assert gzip.decompress(raw) == gzipped[0].response.body
    assert any(s.body == gzipped[0].response.body for s in steps)


def test_latency_replays_recorded_durations(start_proxy, tmp_path):
    cassette = tmp_path / "slow.yaml"
    seed = load_cassette(DEFAULT_CASSETTE)
    seed.interactions[0].duration = 60.0
    save_cassette(cassette, seed)
    # The replay addon logs nothing as it waits; a fault rule that only adds a header to the answer logs each
    # request it sees, which tells when the proxy has the slow request.
    rules = tmp_path / "faults.yaml"
    rules.write_text("faults:\n  - name: mark-json\n    match: {method: GET, headers: {Accept: json}}\n"
                     "    patch: {headers: {X-Marked: 'yes'}}\n")
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=none", "ucwa_latency=100", f"ucwa_faults={rules}")
    s = proxy.session()
    answered: list[int] = []

    def replay_slowly() -> None:
        with contextlib.suppress(requests.RequestException):  # the proxy stops before the 60 s are up
            answered.append(s.get(seed.interactions[0].request.url, headers={"Accept": "application/json", **AUTH},
                                  timeout=120).status_code)

    slow = threading.Thread(target=replay_slowly, daemon=True)
    slow.start()
    proxy.wait_for_log(f"ucwa-vcr: fault mark-json on GET {seed.interactions[0].request.url}")
    fast = proxy.session().get(seed.interactions[1].request.url, headers={"Accept": "application/xml", **AUTH},
                               timeout=20)
    assert fast.status_code == 200
    assert slow.is_alive() and not answered, "the 60 s recorded exchange is still being replayed slowly"
