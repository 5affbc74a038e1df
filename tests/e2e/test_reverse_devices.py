"""Issue 13: reverse mode across hosts. A device that knows only the proxy's address (no proxy settings) walks a
whole UCWA session through `--mode reverse:URL` while discovery and the pool are two servers whose answers carry
absolute links built from their own names; recorded, then replayed offline with both servers stopped.

The two fronts are fake origins on loopback under two names: discovery at 127.0.0.1 (the reverse target) names
the pool at localhost in its discovery document, and the pool builds its links (the 401's web ticket href, the
user resource's applications href) from the Host mitmproxy sends it, which in reverse mode is the server's own.
Over https the fronts speak TLS with a certificate of a private CA, and write https:// links as real ones do.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from mitmproxy import certs
from processes import BIN, Proxy, files_containing, free_port
from third_party import RootJoiningBot
from ucwa_client import XML, Client
from ucwa_vcr.cassette.codec import load_cassette
from ucwa_vcr.testing import representations
from ucwa_vcr.testing.endpoints import Request
from ucwa_vcr.testing.fake_origin import ROOT, FakeUcwa
from ucwa_vcr.testing.handler import Handler

XML_BODY = ('<?xml version="1.0" encoding="utf-8"?><input xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa">'
            '<property name="subject">Weekly sync</property></input>')
COMPARED_HEADERS = ("content-type", "location", "etag", "www-authenticate")  # what clients act on


class HttpsFront(Handler):
    """The fake front end behind TLS: its absolute links say https://, as a real front end's do."""

    def _route(self, request: Request) -> None:
        request = replace(request, base="https://" + request.base.partition("://")[2])
        if request.method == "GET" and request.path in ("/", ROOT) and self.fake.pool_host:
            return self.respond_json(200, representations.discovery(request.base, f"https://{self.fake.pool_host}"))
        return super()._route(request)


@dataclass
class Fronts:
    """Discovery (127.0.0.1, the reverse target) and the pool (localhost) it names: two servers, two names."""

    scheme: str
    discovery: FakeUcwa
    pool: FakeUcwa
    ca: Path | None  # the private CA of their certificates (https)

    @property
    def target(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.discovery.server.server_address[1]}"

    @property
    def pool_netloc(self) -> str:
        return f"localhost:{self.pool.server.server_address[1]}"

    @property
    def real_link(self) -> re.Pattern[str]:
        """An absolute link to either front, in any escaping."""
        netlocs = (self.target.partition("://")[2], self.pool_netloc)
        return re.compile(r"https?:(?:\\?/){2}(?:" + "|".join(map(re.escape, netlocs)) + ")")

    def hits(self) -> int:
        return self.discovery.total_hits + self.pool.total_hits

    def stop(self) -> None:
        self.discovery.stop()
        self.pool.stop()


def tls_context(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A server context with a certificate for localhost and 127.0.0.1, and the path of its CA's certificate."""
    store = certs.CertStore.from_store(folder, "fronts", 2048)
    entry = store.get_cert("localhost", [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    chain = folder / "front.pem"
    key = entry.privatekey.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                         serialization.NoEncryption())
    chain.write_bytes(entry.cert.to_pem() + key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    return folder / "fronts-ca-cert.pem", context


@pytest.fixture
def fronts(canaries: dict[str, str], tmp_path: Path) -> Iterator[Callable[[str], Fronts]]:
    started: list[Fronts] = []

    def start(scheme: str) -> Fronts:
        same = {"password": canaries["password"], "token": canaries["token"], "cookie": canaries["cookie"],
                "max_meetings": 5, "event_timeout": 5}
        pool = FakeUcwa(**same)  # type: ignore[arg-type]
        discovery = FakeUcwa(**same, pool_host=f"localhost:{pool.server.server_address[1]}")  # type: ignore[arg-type]
        ca = None
        if scheme == "https":
            ca, context = tls_context(tmp_path / "fronts-ca")
            for fake in (discovery, pool):
                fake.server.socket = context.wrap_socket(fake.server.socket, server_side=True)
                fake.server.RequestHandlerClass = HttpsFront
        front = Fronts(scheme, discovery.start(), pool.start(), ca)
        started.append(front)
        return front

    yield start
    for front in started:
        front.stop()


def device() -> requests.Session:
    """A client with no proxy settings: it reaches only the addresses it is given."""
    session = requests.Session()
    session.trust_env = False
    return session


def meetings_walk(client: Client) -> list:
    """Sign in, list, create (JSON and XML), the event channel, get, PUT the resource back, delete, sign out."""
    client.sign_in()
    mine = client.meetings_url
    client.call("list-empty", "GET", mine)
    href = client.call("create", "POST", mine, json={"subject": "Stand-up"}).json()["_links"]["self"]["href"]
    client.call("events", "GET", client.events_url)
    client.call("create-xml", "POST", mine, accept=XML, data=XML_BODY, headers={"Content-Type": XML})
    got = client.call("get", "GET", href)
    client.call("put", "PUT", href, json={**got.json(), "subject": "Renamed"}, headers={"If-Match": got.headers["ETag"]})
    client.call("list-xml", "GET", mine, accept=XML)
    client.call("delete", "DELETE", href)
    client.call("sign-out", "DELETE", client.app["_links"]["self"]["href"])
    return client.steps


def answers(steps: list) -> list[tuple]:
    """What a client got, step by step: status, the headers clients act on, the body."""
    return [(s.status, {k: v for k, v in s.headers.items() if k.lower() in COMPARED_HEADERS}, s.body) for s in steps]


def assert_replayed_as_recorded(live: list, replayed: list) -> None:
    """Every answer the same, the token's secret aside (the cassette holds it redacted)."""
    was, got = answers(live), answers(replayed)
    tokens = {i for i, s in enumerate(live) if s.name == "token"}
    assert [a for i, a in enumerate(got) if i not in tokens] == [a for i, a in enumerate(was) if i not in tokens]
    for i in tokens:
        assert got[i][:2] == was[i][:2] and b"REDACTED" in got[i][2] and b"REDACTED" not in was[i][2]


def assert_all_through_the_proxy(steps: list, fronts: Fronts) -> None:
    """Nothing the device got names a front: every link it followed led back through the proxy."""
    leaks = [(s.name, found) for s in steps
             for found in fronts.real_link.findall(s.body.decode("latin-1") + repr(s.headers))]
    assert leaks == []


def assert_recorded_at_the_real_hosts(cassette: Path, live: list, fronts: Fronts) -> None:
    """Every exchange recorded, at the server it went to, with the servers' own URLs and links."""
    text = cassette.read_text()
    recorded = load_cassette(cassette).interactions
    assert len(recorded) == len(live)
    where = [(urlsplit(i.request.url).scheme, urlsplit(i.request.url).netloc) for i in recorded]
    assert where == [(fronts.scheme, fronts.target.partition("://")[2])] + [(fronts.scheme, fronts.pool_netloc)] * (
        len(live) - 1)
    assert "_ucwa_vcr" not in text, "the cassette holds what the servers sent and were sent"
    assert f"{fronts.scheme}:\\/\\/{fronts.pool_netloc}" in text, "discovery's link to the pool, as it was sent"


def record_and_replay(start_proxy: Callable[..., Proxy], fronts: Fronts, cassette: Path, walk: Callable[[str], list],
                      *extra: str) -> tuple[list, list]:
    """The device walks the session through a recording reverse proxy, then through a replaying one (same address)
    with both fronts stopped; what it got each time."""
    port = free_port()
    discovery = f"http://127.0.0.1:{port}{ROOT}"
    recorder = start_proxy(f"mode=reverse:{fronts.target}", f"ucwa_cassette={cassette}", "ucwa_record_mode=all",
                           *extra, port=port)
    live = walk(discovery)
    recording_log = recorder.stop()
    assert fronts.discovery.total_hits == 1, "only discovery goes to the reverse target"
    assert "server connect" in recording_log
    fronts.stop()
    hits = fronts.hits()

    replayer = start_proxy(f"mode=reverse:{fronts.target}", f"ucwa_cassette={cassette}", "ucwa_record_mode=none",
                           *extra, port=port)
    replayed = walk(discovery)
    replay_log = replayer.stop()
    assert "server connect" not in replay_log, "no server connection, not even one refused"
    assert fronts.hits() == hits
    return live, replayed


def test_a_device_over_https_records_and_replays_across_discovery_and_pool(start_proxy, fronts, canaries, tmp_path):
    front = fronts("https")
    cassette = tmp_path / "device.yaml"
    trust = (f"ssl_verify_upstream_trusted_ca={front.ca}",)
    other_password = f"{canaries['password']}-not-used"
    passwords = iter([canaries["password"], other_password])
    live, replayed = record_and_replay(
        start_proxy, front, cassette, lambda url: meetings_walk(Client(device(), url, next(passwords))), *trust)

    assert [s.status for s in live] == [200, 401, 200, 200, 201, 200, 201, 200, 201, 200, 200, 200, 204, 204]
    assert_all_through_the_proxy(live, front)
    assert_recorded_at_the_real_hosts(cassette, live, front)
    assert_replayed_as_recorded(live, replayed)
    assert files_containing(tmp_path, [*canaries.values(), other_password]) == []

    # the same cassette in regular proxy mode: a client with proxy settings follows the servers' own links
    regular = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=none")
    proxied = meetings_walk(Client(regular.session(), front.target + ROOT, other_password))
    assert [s.body for s in proxied] == [i.response.body for i in load_cassette(cassette).interactions]
    assert [s.status for s in proxied] == [s.status for s in live]


def test_a_root_joining_bot_over_http_keeps_its_double_slashes_and_locations(start_proxy, fronts, canaries, tmp_path):
    front = fronts("http")
    cassette = tmp_path / "bot.yaml"
    passwords = iter([canaries["password"], "another-password"])
    live, replayed = record_and_replay(
        start_proxy, front, cassette,
        lambda url: RootJoiningBot(device(), url, "standup-bot@contoso.com", next(passwords)).run())

    assert len(live) == 18 and all(s.status < 400 for s in live if s.name != "user-401"), live
    sent = [urlsplit(i.request.url).path for i in load_cassette(cassette).interactions]
    assert sum(path.startswith("//ucwa/") for path in sent) == 13, "the bot's //ucwa/... reach the pool as it sent them"
    locations = [s.headers["location"] for s in live if "location" in s.headers]
    assert len(locations) == 2 and all(loc.startswith(f"/_ucwa_vcr/http/{front.pool_netloc}/ucwa/") for loc in locations)
    assert_all_through_the_proxy(live, front)
    assert_recorded_at_the_real_hosts(cassette, live, front)
    assert_replayed_as_recorded(live, replayed)


def test_the_whole_session_with_a_batch_over_http(start_proxy, fronts, canaries, tmp_path):
    front = fronts("http")
    cassette = tmp_path / "full.yaml"
    passwords = iter([canaries["password"], "another-password"])
    live, replayed = record_and_replay(start_proxy, front, cassette,
                                       lambda url: Client(device(), url, next(passwords)).full_session())

    assert len(live) == 20 and live[-1].status == 204, [(s.name, s.status) for s in live]
    batch = next(s for s in live if s.name == "batch")
    assert batch.status == 200 and batch.body.count(b"HTTP/1.1 200 OK") == 2, batch.body
    assert_all_through_the_proxy(live, front)
    assert_recorded_at_the_real_hosts(cassette, live, front)
    assert_replayed_as_recorded(live, replayed)


def test_ucwa_vcr_record_and_replay_with_reverse(fronts, canaries, tmp_path):
    front = fronts("http")
    cassette = tmp_path / "cli.yaml"
    port = free_port()
    discovery = f"http://127.0.0.1:{port}{ROOT}"
    confdir = tmp_path / "mitmproxy"

    def cli(*args: str) -> Proxy:
        argv = [str(BIN / "ucwa-vcr"), *args, "--reverse", front.target, "--listen-port", str(port),
                "--confdir", str(confdir)]
        return Proxy(argv, port, confdir, tmp_path / f"{args[0]}.log")

    recorder = cli("record", str(cassette))
    try:
        live = meetings_walk(Client(device(), discovery, canaries["password"]))
    finally:
        recorder.stop()
    front.stop()
    replayer = cli("replay", str(cassette))
    try:
        replayed = meetings_walk(Client(device(), discovery, "another-password"))
    finally:
        replayer.stop()
    assert_recorded_at_the_real_hosts(cassette, live, front)
    assert_replayed_as_recorded(live, replayed)

