"""The link-rewriting addon in process, wired as make_parts() wires it (after the recorder, before faults and
replay): flows from a reverse proxy go through mitmproxy's request and response hooks in order.

In reverse mode a request for `/_ucwa_vcr/<scheme>/<host>:<port>/...` reaches the fault, replay and record hooks as
a request to that host; the cassette keeps the servers' answers as they were sent and the client gets them with
links that lead back through the proxy; replayed answers too. Regular mode is left exactly as it was.
"""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import AsyncIterator
from typing import Any

import pytest
import ucwa_vcr
from mitmproxy import connection, http
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.proxy.layers.http import HttpRequestHook, HttpResponseHook
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import taddons, tflow
from ucwa_vcr import protocol
from ucwa_vcr.cassette.codec import load_cassette
from ucwa_vcr.cassette.model import header
from ucwa_vcr.proxy.flows import ANSWERED_BY, Answer
from ucwa_vcr.proxy.links import client_origin
from ucwa_vcr.proxy.session import CassetteSession

pytestmark = pytest.mark.usefixtures("no_logged_errors")

TARGET = "https://lyncdiscover.contoso.com"
ROOT = "/Autodiscover/AutodiscoverService.svc/root"
FE1 = "/_ucwa_vcr/https/fe1.contoso.com:443"
PROXY = "http://127.0.0.1:8080"
JSON = "application/json"
DISCOVERY = (b'{"_links":{"self":{"href":"https:\\/\\/lyncdiscover.contoso.com\\/Autodiscover\\/AutodiscoverService.svc'
             b'\\/root"},"user":{"href":"https:\\/\\/fe1.contoso.com\\/Autodiscover\\/AutodiscoverService.svc\\/root'
             b'\\/oauth\\/user"}}}')
SEEN = (b'{"_links":{"self":{"href":"http:\\/\\/127.0.0.1:8080\\/Autodiscover\\/AutodiscoverService.svc\\/root"},'
        b'"user":{"href":"http:\\/\\/127.0.0.1:8080\\/_ucwa_vcr\\/https\\/fe1.contoso.com:443\\/Autodiscover\\/'
        b'AutodiscoverService.svc\\/root\\/oauth\\/user"}}}')
APPLICATION = b'{"_links":{"self":{"href":"/ucwa/oauth/v1/applications/1"},"events":{"href":"/ucwa/oauth/v1/applications/1/events?ack=1"}}}'


def client(mode: str = f"reverse:{TARGET}", sockname: tuple[str, int] = ("127.0.0.1", 8080), tls: bool = False,
           sni: str | None = None) -> connection.Client:
    conn = tflow.tclient_conn()
    conn.proxy_mode, conn.sockname, conn.tls, conn.sni = ProxyMode.parse(mode), sockname, tls, sni
    return conn


def arriving(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
             conn: connection.Client | None = None) -> http.HTTPFlow:
    """A flow as mitmproxy's reverse proxy hands it to the request hooks: to the target, with the target's Host."""
    request = http.Request.make(method, f"{TARGET}{path}", body,
                                {"Host": "lyncdiscover.contoso.com", "Accept": JSON, **(headers or {})})
    flow = tflow.tflow(req=request)
    flow.client_conn = conn or client()
    return flow


class Proxy:
    """A test master with the chain; `through()` takes a flow through the hooks, the server answering `answer`."""

    def __init__(self, tctx: taddons.context, session: CassetteSession) -> None:
        self.tctx, self.session = tctx, session
        self.sent: list[http.Request] = []  # what reached "the server"

    async def through(self, flow: http.HTTPFlow, answer: http.Response | None = None) -> http.HTTPFlow:
        await self.tctx.master.addons.handle_lifecycle(HttpRequestHook(flow))
        if flow.response is None and flow.error is None:
            self.sent.append(flow.request.copy())
            flow.response = answer or http.Response.make(200, b"{}", {"Content-Type": JSON})
        await self.tctx.master.addons.handle_lifecycle(HttpResponseHook(flow))
        return flow


@contextlib.asynccontextmanager
async def proxy(**options: Any) -> AsyncIterator[Proxy]:
    addons = ucwa_vcr.make_parts()
    session = next(a for a in addons if isinstance(a, CassetteSession))
    with taddons.context(Proxyserver(), *addons) as tctx:
        tctx.configure(session, **options)
        yield Proxy(tctx, session)
        await session.done()


def answer(body: bytes, status: int = 200, **headers: str) -> http.Response:
    return http.Response.make(status, body, {"Content-Type": JSON, **{k.replace("_", "-"): v for k, v in headers.items()}})


async def test_the_cassette_keeps_what_the_servers_sent_and_the_device_gets_links_back_to_the_proxy(tmp_path):
    path = tmp_path / "device.yaml"
    async with proxy(ucwa_cassette=str(path), ucwa_record_mode="all") as p:
        discovery = await p.through(arriving("GET", ROOT), answer(DISCOVERY))
        challenge = await p.through(arriving("GET", f"{FE1}{ROOT}/oauth/user"), answer(b"", 401, WWW_Authenticate=(
            'MsRtcOAuth href="https://fe1.contoso.com/WebTicket/oauthtoken",grant_type="password"')))
        app = await p.through(arriving("POST", f"{FE1}/ucwa/oauth/v1/applications", b"{}"), answer(
            APPLICATION, 201, Location="https://fe1.contoso.com/ucwa/oauth/v1/applications/1"))
    assert discovery.response.content == SEEN
    assert challenge.response.headers["WWW-Authenticate"] == (
        f'MsRtcOAuth href="{PROXY}{FE1}/WebTicket/oauthtoken",grant_type="password"')
    assert app.response.content == APPLICATION.replace(b'"/ucwa', b'"' + FE1.encode() + b"/ucwa")
    assert app.response.headers["Location"] == f"{PROXY}{FE1}/ucwa/oauth/v1/applications/1"
    assert [(r.scheme, r.host, r.port, r.path, r.host_header) for r in p.sent] == [
        ("https", "lyncdiscover.contoso.com", 443, ROOT, "lyncdiscover.contoso.com"),
        ("https", "fe1.contoso.com", 443, f"{ROOT}/oauth/user", "fe1.contoso.com"),
        ("https", "fe1.contoso.com", 443, "/ucwa/oauth/v1/applications", "fe1.contoso.com")]
    recorded = load_cassette(path).interactions
    assert [i.request.url for i in recorded] == [f"{TARGET}{ROOT}", f"https://fe1.contoso.com{ROOT}/oauth/user",
                                                 "https://fe1.contoso.com/ucwa/oauth/v1/applications"]
    assert [i.response.body for i in recorded] == [DISCOVERY, b"", APPLICATION]
    assert header(recorded[1].response.headers, "WWW-Authenticate").startswith('MsRtcOAuth href="https://fe1.')


async def test_replayed_answers_lead_back_too_and_nothing_reaches_a_server(tmp_path):
    path = tmp_path / "device.yaml"
    async with proxy(ucwa_cassette=str(path), ucwa_record_mode="all") as p:
        await p.through(arriving("GET", ROOT), answer(DISCOVERY))
        await p.through(arriving("POST", f"{FE1}/ucwa/oauth/v1/applications", b"{}"), answer(APPLICATION, 201))
    async with proxy(ucwa_cassette=str(path), ucwa_record_mode="none") as p:
        other_port = client(sockname=("127.0.0.1", 9090))
        discovery = await p.through(arriving("GET", ROOT, conn=other_port))
        app = await p.through(arriving("POST", f"{FE1}/ucwa/oauth/v1/applications", b"{}"))
    assert p.sent == []
    assert [f.metadata[ANSWERED_BY] for f in (discovery, app)] == [Answer.REPLAYED, Answer.REPLAYED]
    assert discovery.response.content == SEEN.replace(b":8080", b":9090"), "the proxy as this client reached it"
    assert app.response.content == APPLICATION.replace(b'"/ucwa', b'"' + FE1.encode() + b"/ucwa")


async def test_a_replayed_answer_is_read_and_rewritten_once_per_client_address(tmp_path, monkeypatch):
    path = tmp_path / "device.yaml"
    async with proxy(ucwa_cassette=str(path), ucwa_record_mode="all") as p:
        zipped = answer(b"", Content_Encoding="gzip")
        zipped.content = DISCOVERY
        await p.through(arriving("GET", ROOT), zipped)
    reads = []
    real = protocol.linked_hosts
    monkeypatch.setattr(protocol, "linked_hosts", lambda *args: reads.append(args) or real(*args))
    async with proxy(ucwa_cassette=str(path), ucwa_record_mode="none") as p:
        ports = [8080, 9090] * 4
        flows = [await p.through(arriving("GET", ROOT, conn=client(sockname=("127.0.0.1", port)))) for port in ports]
    assert [gzip.decompress(f.response.raw_content) for f in flows] == [
        SEEN.replace(b":8080", f":{port}".encode()) for port in ports]
    assert all(f.response.headers["content-length"] == str(len(f.response.raw_content)) for f in flows)
    assert len(reads) == 3, "read once to learn its hosts, and once per client address to rewrite it"


async def test_a_cassette_recorded_in_regular_mode_replays_in_reverse_mode(tmp_path):
    path = tmp_path / "regular.yaml"
    async with proxy(ucwa_cassette=str(path), ucwa_record_mode="all") as p:
        regular = tflow.tflow(req=http.Request.make("GET", f"https://fe1.contoso.com{ROOT}/oauth/user", b"",
                                                    {"Accept": JSON}))
        await p.through(regular, answer(b'{"_links":{"applications":{"href":"https://fe1.contoso.com/ucwa/x"}}}'))
    assert regular.response.content == b'{"_links":{"applications":{"href":"https://fe1.contoso.com/ucwa/x"}}}'
    async with proxy(ucwa_cassette=str(path), ucwa_record_mode="none") as p:
        reverse = await p.through(arriving("GET", f"{FE1}{ROOT}/oauth/user"))
    assert reverse.metadata[ANSWERED_BY] == Answer.REPLAYED
    assert reverse.response.content == f'{{"_links":{{"applications":{{"href":"{PROXY}{FE1}/ucwa/x"}}}}}}'.encode()


async def test_regular_and_upstream_modes_are_left_as_they_were(tmp_path):
    body = b'{"_links":{"user":{"href":"https://fe1.contoso.com/x"},"self":{"href":"/ucwa/y"}}}'
    async with proxy(ucwa_cassette=str(tmp_path / "c.yaml"), ucwa_record_mode="all") as p:
        flows = []
        for mode in ("regular", "upstream:http://proxy.corp:3128"):
            flow = arriving("GET", f"{FE1}{ROOT}", conn=client(mode))
            flows.append(await p.through(flow, answer(body, Location="https://fe1.contoso.com/z")))
    assert [r.path for r in p.sent] == [f"{FE1}{ROOT}"] * 2
    assert [(f.response.content, f.response.headers["Location"]) for f in flows] == [
        (body, "https://fe1.contoso.com/z")] * 2


async def test_an_injected_truncation_still_cuts_the_answer_the_client_gets(tmp_path):
    async with proxy(ucwa_cassette=str(tmp_path / "c.yaml"), ucwa_record_mode="all",
                     ucwa_inject=["GET root$=truncate"]) as p:
        flow = await p.through(arriving("GET", ROOT), answer(DISCOVERY))
    assert flow.response.headers["content-length"] == str(len(SEEN))
    assert flow.response.raw_content == SEEN[: len(SEEN) // 2]


async def test_what_the_client_sends_back_reaches_the_server_with_its_own_links(tmp_path):
    path = tmp_path / "c.yaml"
    meeting = f"{FE1}/ucwa/oauth/v1/applications/1/onlineMeetings/myOnlineMeetings/M1"
    sent = f'{{"_links":{{"self":{{"href":"{meeting}"}}}},"subject":"Renamed"}}'.encode()
    async with proxy(ucwa_cassette=str(path), ucwa_record_mode="all") as p:
        await p.through(arriving("PUT", meeting, sent, {"Content-Type": JSON, "If-Match": '"1"'}))
    real = sent.replace(FE1.encode(), b"")
    assert p.sent[0].content == real and p.sent[0].headers["content-length"] == str(len(real))
    assert load_cassette(path).interactions[0].request.body == real


async def test_gzip_answers_are_rewritten_and_sent_gzip(tmp_path):
    async with proxy(ucwa_cassette=str(tmp_path / "c.yaml"), ucwa_record_mode="all") as p:
        zipped, broken = answer(b"", Content_Encoding="gzip"), answer(b"", Content_Encoding="gzip")
        zipped.content, broken.raw_content = DISCOVERY, b"not gzip"
        flow = await p.through(arriving("GET", ROOT), zipped)
        broken = (await p.through(arriving("GET", ROOT), broken)).response
    assert flow.response.headers["content-encoding"] == "gzip" and gzip.decompress(flow.response.raw_content) == SEEN
    assert broken.raw_content == b"not gzip", "a body that does not decode is left as it is"


async def test_keep_host_header_keeps_the_clients_host_and_links_name_it(tmp_path):
    async with proxy(ucwa_cassette=str(tmp_path / "c.yaml"), ucwa_record_mode="all", keep_host_header=True) as p:
        flow = arriving("GET", f"{FE1}{ROOT}/oauth/user")
        flow.request.host_header = "ucwa-vcr.corp.example:8080"
        await p.through(flow, answer(b'{"a":{"href":"https://fe1.contoso.com/x"}}'))
    assert (p.sent[0].host, p.sent[0].host_header) == ("fe1.contoso.com", "ucwa-vcr.corp.example:8080")
    assert flow.response.content == f'{{"a":{{"href":"http://ucwa-vcr.corp.example:8080{FE1}/x"}}}}'.encode()


@pytest.mark.parametrize("conn, expected", [
    (client(), "http://127.0.0.1:8080"),
    (client(tls=True, sni="ucwa-vcr.corp.example", sockname=("10.0.0.5", 443)), "https://ucwa-vcr.corp.example"),
    (client(tls=True, sockname=("10.0.0.5", 8443)), "https://10.0.0.5:8443"),
    (client(sockname=("::ffff:127.0.0.1", 8080)), "http://127.0.0.1:8080"),
    (client(sockname=("fe80::1%eth0", 8080)), "http://[fe80::1]:8080"),
])
def test_the_proxy_as_the_client_addressed_it(conn, expected):
    flow = arriving("GET", ROOT, conn=conn)
    assert client_origin(flow, keep_host_header=False).url == expected


async def test_the_log_says_once_where_a_prefix_leads(tmp_path, caplog):
    caplog.set_level("INFO")
    async with proxy(ucwa_cassette=str(tmp_path / "c.yaml"), ucwa_record_mode="all") as p:
        for _ in range(2):
            await p.through(arriving("GET", f"{FE1}/ucwa/x"))
    said = [r.getMessage() for r in caplog.records if "requests under" in r.getMessage()]
    assert said == [f"ucwa-vcr: reverse mode: requests under {FE1} go to https://fe1.contoso.com"]



async def test_an_instant_message_that_quotes_the_proxy_is_sent_as_written(tmp_path):
    message = f"Join via {PROXY}/x or {FE1}/y".encode()
    async with proxy(ucwa_cassette=str(tmp_path / "c.yaml"), ucwa_record_mode="all") as p:
        await p.through(arriving("POST", f"{FE1}/ucwa/oauth/v1/applications/1/communication/conversations/2/"
                                         "messaging/messages", message, {"Content-Type": "text/plain; charset=utf-8"}))
    assert p.sent[0].content == message
