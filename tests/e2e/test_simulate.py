"""Issue 12: a client that departs from its recording gets consistent answers in the recorded server's style, with
0 misses and 0 server contacts (`ucwa_simulate`).

One session is recorded through mitmdump against the fake origin with the default options: sign in, list the
meetings, create one in JSON and one in XML, read one, update it with If-Match. Then the origin is stopped for good,
and a bare listener takes its address to count any connection made to it. Each test replays that cassette offline
with the model on and drives a client that does what the recording never did; its answers are checked against the
recording (the sign-in byte for byte; creates with the recorded create's status, headers, layout and ETag form) and
against each other (If-Match, deletes, lists showing exactly the meetings that exist).
"""

from __future__ import annotations

import json
import re
import socket
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from lxml import etree
from mitmproxy import io as flow_io
from processes import BIN, SCRIPT, Proxy, free_port
from ucwa_client import JSON, NS, XML, Client, Step, poll_events_in_background
from ucwa_vcr.cassette.codec import load_cassette
from ucwa_vcr.cassette.model import Interaction
from ucwa_vcr.testing.fake_origin import FakeUcwa

PASSWORD = "simulate-test-password"
SIGN_IN = ("discovery", "user-401", "token", "user", "application")


def xml_input(subject: str) -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?><input xmlns="{NS[1:-1]}">'
            f'<property name="subject">{subject}</property></input>')


def create(client: Client, name: str, fmt: str, subject: str):
    """POST a new meeting, in JSON or XML."""
    if fmt == JSON:
        return client.call(name, "POST", client.meetings_url, json={"subject": subject})
    return client.call(name, "POST", client.meetings_url, accept=XML, data=xml_input(subject),
                       headers={"Content-Type": XML})


def renamed(got, fmt: str, subject: str) -> dict:
    """The keyword arguments of a PUT sending back the meeting `got` showed, with a new subject (the property the
    server asks to pass back, and every other, kept)."""
    if fmt == JSON:
        return {"json": {**got.json(), "subject": subject}}
    root = etree.fromstring(got.content)
    root.find(f"{NS}property[@name='subject']").text = subject
    return {"data": etree.tostring(root, xml_declaration=True, encoding="utf-8"), "headers": {"Content-Type": XML}}


def put(client: Client, name: str, href: str, got, fmt: str, subject: str, if_match: str | None):
    kw = renamed(got, fmt, subject)
    kw["headers"] = {**kw.get("headers", {}), **({"If-Match": if_match} if if_match is not None else {})}
    return client.call(name, "PUT", href, accept=fmt, **kw)


def meeting(body: bytes, fmt: str) -> tuple[str, str]:
    """The (self href, subject) of a single meeting's body."""
    if fmt == JSON:
        data = json.loads(body)
        return data["_links"]["self"]["href"], data["subject"]
    root = etree.fromstring(body)
    return root.get("href"), root.findtext(f"{NS}property[@name='subject']")


def listed(client: Client, fmt: str) -> dict[str, str]:
    """GET myOnlineMeetings in `fmt`: the meetings it shows, self href -> subject."""
    r = client.call(f"list-{fmt.rsplit('/', 1)[1]}", "GET", client.meetings_url, accept=fmt)
    assert r.status_code == 200 and fmt in r.headers["Content-Type"], (r.status_code, r.headers, r.text[:300])
    if fmt == JSON:
        embedded = r.json()["_embedded"]
        assert set(embedded) == {"myAssignedOnlineMeeting", "myOnlineMeeting"}, embedded
        return dict(meeting(json.dumps(m).encode(), JSON) for m in embedded["myOnlineMeeting"])
    inner = etree.fromstring(r.content).findall(f"{NS}resource[@rel='myOnlineMeeting']")
    return {m.get("href"): m.findtext(f"{NS}property[@name='subject']") for m in inner}


def error_code(r, fmt: str) -> str:
    return r.json()["code"] if fmt == JSON else etree.fromstring(r.content).findtext(f"{NS}code")


def shaped_like(value: str, example: str) -> bool:
    """Whether a server-made value has the form of a recorded one: the same punctuation around runs of letters and
    digits, drawn from the character classes the example uses ('"5271"' is like '"1000"', '6AOCZ' like 'M0001')."""
    def skeleton(v: str) -> str:
        return re.sub(r"[A-Za-z0-9]+", "x", v)

    classes = [c for c in (string.digits, string.ascii_uppercase, string.ascii_lowercase) if set(example) & set(c)]
    return skeleton(value) == skeleton(example) and all(ch in "".join(classes) for ch in value if ch.isalnum())


def layout(body: bytes) -> tuple[bytes, int, bool]:
    """How a body is written: its first line, the indentation of the second, whether slashes are escaped."""
    lines = body.split(b"\n")
    return lines[0], len(lines[1]) - len(lines[1].lstrip()), b"\\/" in body


def header_names(headers: dict[str, str]) -> list[str]:
    return [name.lower() for name in headers]


class StoppedOrigin:
    """A bare listener at the stopped origin's address, serving nothing: the kernel completes any connection made to
    it into the backlog, where `contacts()` finds it. Bound as soon as the origin stops, kept for the module."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_server(("127.0.0.1", port))
        self.sock.setblocking(False)

    def contacts(self) -> int:
        """The connections made to it since the last call."""
        made = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return made
            conn.close()
            made += 1


@dataclass
class Recording:
    """The recorded session: its cassette, the (stopped) origin, and what the live client saw."""

    cassette: Path
    origin: StoppedOrigin
    discovery_url: str
    steps: dict[str, Step]  # the answers the live client got, by step name
    interactions: list[Interaction]  # the cassette's exchanges, in order

    def recorded_create(self, fmt: str) -> Step:
        return self.steps["create-json" if fmt == JSON else "create-xml"]


def record(client: Client) -> None:
    client.sign_in()
    mine = client.meetings_url
    client.call("list", "GET", mine)
    created = create(client, "create-json", JSON, "Recorded in JSON")
    create(client, "create-xml", XML, "Recorded in XML")
    href = created.json()["_links"]["self"]["href"]
    got = client.call("get", "GET", href)
    put(client, "put", href, got, JSON, "Recorded rename", got.headers["ETag"])


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recording]:
    """Record the session once for the module, through mitmdump with the default options; the origin is stopped
    before any test runs."""
    folder = tmp_path_factory.mktemp("recorded")
    cassette = folder / "departing.yaml"
    fake = FakeUcwa(password=PASSWORD, max_meetings=5, event_timeout=10).start()
    try:
        port = free_port()
        proxy = Proxy([str(BIN / "mitmdump"), "-s", str(SCRIPT), "--listen-host", "127.0.0.1", "--listen-port",
                       str(port), "--set", f"confdir={folder / 'mitmproxy'}", "--set", f"ucwa_cassette={cassette}"],
                      port, folder / "mitmproxy", folder / "record.log")
        try:
            client = Client(proxy.session(), fake.discovery_url, PASSWORD)
            record(client)
        finally:
            log = proxy.stop()
    finally:
        fake.stop()
    origin = StoppedOrigin(fake.server.server_address[1])
    with origin.sock:
        assert "ucwa-vcr: 10 exchanges written to" in log, log
        assert [s.status for s in client.steps] == [200, 401, 200, 200, 201, 200, 201, 201, 200, 200]
        yield Recording(cassette, origin, fake.discovery_url, {s.name: s for s in client.steps},
                        load_cassette(cassette).interactions)


@pytest.fixture
def origin_contacts(recorded: Recording) -> Callable[[], int]:
    """How many connections reached the stopped origin's address during the test (the count is shown to work)."""
    with socket.create_connection(("127.0.0.1", recorded.origin.port), timeout=5):
        pass
    assert recorded.origin.contacts() == 1, "the stopped origin's listener does not count connections"
    return recorded.origin.contacts


def assert_offline_without_misses(log: str, recording: Recording, answers: list[dict[str, str]], contacts: int,
                                  replayed: int, simulated: int) -> None:
    """0 misses and 0 server contacts; the stop line counts what the tape and the model answered (the model answers
    every meeting request, giving back the tape's bytes where the recording agrees with its state)."""
    assert [h for h in answers if any(k.lower() == "x-ucwa-vcr" and v == "miss" for k, v in h.items())] == []
    assert f"ucwa-vcr: {recording.cassette}: {replayed} replayed, {simulated} simulated, 0 missed" in log, log
    assert "server connect" not in log, log
    assert contacts == 0, f"{contacts} connections reached the origin's address:\n{log}"


def is_meeting_request(step: Step) -> bool:
    return "/onlineMeetings/" in step.url


def replay(start_proxy, recording: Recording, *sets: str) -> Proxy:
    return start_proxy(f"ucwa_cassette={recording.cassette}", "ucwa_record_mode=none", "ucwa_simulate=true", *sets)


def sign_in_as_recorded(client: Client, recording: Recording) -> None:
    """Sign in; every step is answered with the recorded status and bytes (the token answer as it was stored)."""
    client.sign_in()
    assert [s.name for s in client.steps] == list(SIGN_IN)
    for step, interaction in zip(client.steps, recording.interactions[:len(SIGN_IN)], strict=True):
        assert step.status == recording.steps[step.name].status == interaction.response.status, step.name
        assert step.body == interaction.response.body, step.name
    same = client.call("list", "GET", client.meetings_url)
    assert same.content == recording.steps["list"].body, "the recording's list: the model agrees with it"


def depart(client: Client, recording: Recording) -> None:
    """Sign in as recorded, then create, read, update and delete meetings the recording never saw, in JSON and in
    XML, listing in both formats after every change."""
    sign_in_as_recorded(client, recording)
    exist: dict[str, str] = {}  # self href -> subject: what every list must show, exactly

    def lists_show_exactly_what_exists() -> None:
        assert listed(client, JSON) == exist
        assert listed(client, XML) == exist

    lists_show_exactly_what_exists()
    recorded_hrefs = {meeting(recording.recorded_create(f).body, f)[0] for f in (JSON, XML)}
    recorded_etags = {s.headers["ETag"] for s in recording.steps.values() if "ETag" in s.headers}
    made = {}
    for fmt in (JSON, XML):
        subject = f"Departed in {fmt} \N{EM DASH} {len(exist) + 1}"
        r = create(client, f"create-{fmt}", fmt, subject)
        was = recording.recorded_create(fmt)
        assert (r.status_code, r.reason, r.headers["Content-Type"]) == (was.status, "Created",
                                                                        was.headers["Content-Type"]), r.text
        assert header_names(r.headers) == header_names(was.headers) and layout(r.content) == layout(was.body)
        assert shaped_like(r.headers["ETag"], was.headers["ETag"]), (r.headers["ETag"], was.headers["ETag"])
        assert r.headers["ETag"] not in recorded_etags
        href, shown = meeting(r.content, fmt)
        assert shown == subject and href not in recorded_hrefs
        assert shaped_like(href.rsplit("/", 1)[1], meeting(was.body, fmt)[0].rsplit("/", 1)[1]), href
        exist[href] = subject
        made[fmt] = (href, r.headers["ETag"])
        lists_show_exactly_what_exists()

    for fmt, (href, etag) in made.items():
        got = client.call(f"get-{fmt}", "GET", href, accept=fmt)
        assert (got.status_code, got.headers["ETag"], meeting(got.content, fmt)) == (200, etag, (href, exist[href]))

        missing = put(client, f"put-no-if-match-{fmt}", href, got, fmt, "never", None)
        assert (missing.status_code, error_code(missing, fmt)) == (428, "PreconditionRequired"), missing.text
        another_meetings = recording.recorded_create(JSON).headers["ETag"]
        foreign = put(client, f"put-recorded-etag-{fmt}", href, got, fmt, "never", another_meetings)
        assert (foreign.status_code, error_code(foreign, fmt)) == (412, "PreconditionFailed"), foreign.text

        done = put(client, f"put-{fmt}", href, got, fmt, f"Renamed {fmt}", etag)
        assert done.status_code == 200 and meeting(done.content, fmt) == (href, f"Renamed {fmt}"), done.text
        new_etag = done.headers["ETag"]
        assert new_etag != etag and shaped_like(new_etag, etag)
        exist[href] = f"Renamed {fmt}"
        lists_show_exactly_what_exists()
        again = client.call(f"get-again-{fmt}", "GET", href, accept=fmt)
        assert (again.status_code, again.headers["ETag"], meeting(again.content, fmt)[1]) == (200, new_etag,
                                                                                                exist[href])
        stale = put(client, f"put-stale-{fmt}", href, got, fmt, "never", etag)
        assert (stale.status_code, error_code(stale, fmt)) == (412, "PreconditionFailed"), stale.text

    for fmt, (href, _) in made.items():
        deleted = client.call(f"delete-{fmt}", "DELETE", href, accept=fmt)
        assert (deleted.status_code, deleted.content) == (204, b"")
        del exist[href]
        gone = client.call(f"get-deleted-{fmt}", "GET", href, accept=fmt)
        assert (gone.status_code, error_code(gone, fmt)) == (404, "NotFound"), gone.text
        lists_show_exactly_what_exists()


def read_flows(path: Path) -> list:
    with path.open("rb") as f:
        return list(flow_io.FlowReader(f).stream())


@pytest.mark.parametrize("launch", ["mitmdump", "ucwa-vcr replay --simulate"])
def test_departing_client_gets_consistent_answers_offline(start_proxy, recorded, origin_contacts, tmp_path, launch):
    flows = tmp_path / "flows.mitm"
    if launch == "mitmdump":
        proxy = replay(start_proxy, recorded, f"save_stream_file={flows}")
    else:
        proxy = start_proxy(f"save_stream_file={flows}", cli=["replay", str(recorded.cassette), "--simulate"])
    client = Client(proxy.session(), recorded.discovery_url, "not-the-recorded-password")
    depart(client, recorded)
    log = proxy.stop()
    simulated = sum(map(is_meeting_request, client.steps))
    assert_offline_without_misses(log, recorded, [s.headers for s in client.steps], origin_contacts(),
                                  replayed=len(client.steps) - simulated, simulated=simulated)
    # mitmproxy's UIs show which answers the model gave, and why
    expected = [(":crystal_ball:", f"ucwa-vcr: simulated {s.method} (the model learned from {recorded.cassette})")
                if is_meeting_request(s) else (":arrow_forward:", f"ucwa-vcr: replayed from {recorded.cassette}")
                for s in client.steps]
    assert [(f.marked, f.comment[:len(why)]) for f, (_, why) in zip(read_flows(flows), expected, strict=True)] == expected


def test_recorded_writes_replay_as_recorded_then_the_model_carries_them_on(start_proxy, recorded, origin_contacts):
    """A client that first repeats the recording gets its bytes back, and what the recorded writes made is the
    model's state from then on: listed beside the client's own meetings, updatable with the recorded ETag's
    successor only; a meeting only the recording made, this client never did, does not exist."""
    proxy = replay(start_proxy, recorded)
    client = Client(proxy.session(), recorded.discovery_url, PASSWORD)
    sign_in_as_recorded(client, recorded)
    as_recorded = create(client, "create-json", JSON, "Recorded in JSON")
    assert (as_recorded.content, as_recorded.headers["ETag"]) == (recorded.steps["create-json"].body,
                                                                   recorded.steps["create-json"].headers["ETag"])
    href = meeting(as_recorded.content, JSON)[0]
    own = create(client, "create-xml-instead", XML, "Not in the recording")
    own_href = meeting(own.content, XML)[0]
    assert own.status_code == 201 and own_href != meeting(recorded.steps["create-xml"].body, XML)[0]
    assert listed(client, JSON) == listed(client, XML) == {href: "Recorded in JSON", own_href: "Not in the recording"}

    got = client.call("get", "GET", href)
    assert got.content == recorded.steps["get"].body and got.headers["ETag"] == recorded.steps["get"].headers["ETag"]
    update = put(client, "put", href, got, JSON, "Recorded rename", got.headers["ETag"])
    assert (update.content, update.headers["ETag"]) == (recorded.steps["put"].body, recorded.steps["put"].headers["ETag"])
    assert listed(client, XML) == {href: "Recorded rename", own_href: "Not in the recording"}

    stale = put(client, "put-again-stale", href, got, JSON, "never", got.headers["ETag"])
    assert (stale.status_code, error_code(stale, JSON)) == (412, "PreconditionFailed"), stale.text
    again = put(client, "put-again", href, got, JSON, "Renamed again", update.headers["ETag"])
    assert again.status_code == 200 and meeting(again.content, JSON) == (href, "Renamed again")
    assert again.headers["ETag"] != update.headers["ETag"] and shaped_like(again.headers["ETag"], update.headers["ETag"])
    assert client.call("delete", "DELETE", href).status_code == 204
    assert listed(client, JSON) == {own_href: "Not in the recording"}
    never_made = meeting(recorded.steps["create-xml"].body, XML)[0]
    assert client.call("get-never-made", "GET", never_made).status_code == 404

    simulated = sum(map(is_meeting_request, client.steps))
    assert_offline_without_misses(proxy.stop(), recorded, [s.headers for s in client.steps], origin_contacts(),
                                  replayed=len(client.steps) - simulated, simulated=simulated)


def test_held_event_request_is_answered_with_the_added_event(start_proxy, recorded, origin_contacts):
    """An event P-GET the recording never made is held; a meeting created meanwhile (by another client, httpx)
    releases it with the `added` event for that meeting."""
    proxy = replay(start_proxy, recorded, "ucwa_event_hold=60")
    client = Client(proxy.session(), recorded.discovery_url, PASSWORD)
    sign_in_as_recorded(client, recorded)
    events = urljoin(client.base, client.events_url)
    poll, answers = poll_events_in_background(proxy.session(), events, {"Accept": JSON, **client.auth})
    proxy.wait_for_log("ucwa-vcr: holding unrecorded event request")
    with httpx.Client(proxy=proxy.url, trust_env=False, timeout=30) as other:
        created = other.post(urljoin(client.base, client.meetings_url), json={"subject": "Wakes the channel"},
                             headers={"Accept": JSON, **client.auth})
    assert created.status_code == 201, created.text
    poll.join(30)
    assert not poll.is_alive() and answers and answers[0].status_code == 200
    channel = answers[0].json()
    assert [(sender["rel"], event["type"], event["link"]) for sender in channel["sender"] for event in sender["events"]] \
        == [("onlineMeetings", "added", {"rel": "myOnlineMeeting", "href": created.json()["_links"]["self"]["href"]})]
    assert channel["_links"]["next"]["href"].endswith("/events?ack=2")

    meeting_requests = sum(map(is_meeting_request, client.steps))
    assert_offline_without_misses(proxy.stop(), recorded, [*(s.headers for s in client.steps), created.headers,
                                                           answers[0].headers], origin_contacts(),
                                  replayed=len(client.steps) - meeting_requests,
                                  simulated=meeting_requests + 2)  # and httpx's create, and the events it released
