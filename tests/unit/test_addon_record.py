"""The recording addon in process: its `response` hook driven with mitmproxy's test helpers (no mitmdump, no sockets).

A completed exchange handed to `UcwaRecorder.response` must be in the cassette file, redacted, when the hook
returns; what ucwa-vcr answered itself, other hosts, and offline modes are never recorded.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ucwa_vcr
from in_process import seed_copy
from mitmproxy import http
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.proxy import mode_specs
from mitmproxy.proxy.layers.http import HttpRequestHook, HttpResponseHook
from mitmproxy.test import taddons, tflow
from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.cassette.codec import COMPLETE, load_cassette
from ucwa_vcr.cassette.model import header
from ucwa_vcr.proxy.flows import ANSWERED_BY, Answer
from ucwa_vcr.proxy.record import UcwaRecorder
from ucwa_vcr.proxy.session import CassetteSession

pytestmark = pytest.mark.usefixtures("no_logged_errors")

HOST = "https://fe1.contoso.com"
APP = f"{HOST}/ucwa/oauth/v1/applications/1234"
MEETINGS = f"{APP}/onlineMeetings/myOnlineMeetings"
SEED_MEETINGS = f"{HOST}//v1/applications/833/onlineMeetings/myOnlineMeetings"
JSON = "application/json"



def exchange(method: str, url: str, status: int = 200, body: bytes = b"", answer: bytes = b"{}",
             headers: dict[str, str] | None = None, answer_headers: dict[str, str] | None = None) -> http.HTTPFlow:
    """A completed flow, as the `response` hook sees a server's answer."""
    req = http.Request.make(method, url, body, {"Accept": JSON, **(headers or {})})
    resp = http.Response.make(status, answer, {"Content-Type": JSON, **(answer_headers or {})})
    return tflow.tflow(req=req, resp=resp)


@contextlib.contextmanager
def recording(**options: Any) -> Iterator[tuple[CassetteSession, UcwaRecorder, taddons.context]]:
    """A session and its recorder in one mitmproxy test master (with mitmproxy's proxy server addon, not
    started: it declares options the session sets)."""
    session = CassetteSession()
    recorder = UcwaRecorder(session)
    with taddons.context(Proxyserver(), session, recorder) as tctx:
        tctx.configure(session, **options)
        yield session, recorder, tctx


def urls(path: Path) -> list[str]:
    return [i.request.url for i in load_cassette(path).interactions]



async def test_exchange_is_in_the_cassette_redacted_when_the_hook_returns(tmp_path, canaries):
    path = tmp_path / "today.yaml"
    with recording(ucwa_cassette=str(path), ucwa_record_mode="once") as (session, recorder, _tctx):
        canary_password = canaries["password"]
        token = exchange("POST", f"{HOST}/WebTicket/oauthtoken",
                         body=f"grant_type=password&username=alice%40contoso.com&password={canary_password}".encode(),
                         headers={"Content-Type": "application/x-www-form-urlencoded"},
                         answer=f'{{"access_token":"{canaries["token"]}","token_type":"Bearer"}}'.encode())
        await recorder.response(token)
        assert urls(path) == [f"{HOST}/WebTicket/oauthtoken"], "written before the hook returned"

        meetings = exchange("GET", MEETINGS, headers={"Authorization": f"Bearer {canaries['token']}"},
                            answer=b'{"subject":"Quarterly sales numbers"}',
                            answer_headers={"Set-Cookie": f"cwt_ucwa={canaries['cookie']}; path=/; HttpOnly"})
        await recorder.response(meetings)
        first, second = load_cassette(path).interactions  # the second was appended before the hook returned

        assert first.request.method == "POST" and first.response.status == 200
        assert first.request.body.startswith(b"grant_type=password&username=alice%40contoso.com&password=REDACTED-")
        access_token = first.response.body.decode().split('"access_token":"')[1].split('"')[0]
        assert access_token.startswith("cwt=REDACTED-")
        assert header(second.request.headers, "Authorization") == f"Bearer {access_token}", "one secret, one placeholder"
        cookie = header(second.response.headers, "Set-Cookie")
        assert cookie.startswith("cwt_ucwa=REDACTED-") and cookie.endswith("; path=/; HttpOnly")
        assert second.request.url == MEETINGS and second.response.body == b'{"subject":"Quarterly sales numbers"}'
        assert not any(c in repr(session.matcher.interactions) for c in canaries.values()), "kept redacted in memory"
        await session.done()

    leaks = [f"{f}: {name}" for f in tmp_path.rglob("*") if f.is_file()
             for name, secret in canaries.items() if secret.encode() in f.read_bytes()]
    assert leaks == []
    assert len(load_cassette(path).interactions) == 2


async def test_the_flows_answered_by_the_proxy_are_not_recorded(tmp_path):
    # wired as ucwa-vcr wires them, each flow through mitmproxy's request and response hooks in order
    path = seed_copy(tmp_path)
    addons = ucwa_vcr.make_parts()
    with taddons.context(Proxyserver(), *addons) as tctx:
        session = next(a for a in addons if isinstance(a, CassetteSession))
        tctx.configure(session, ucwa_cassette=str(path), ucwa_record_mode="new_episodes",
                       ucwa_inject=["POST myOnlineMeetings$=TooManyOnlineMeetings"])

        async def through(method: str, url: str, server_answer: bytes) -> http.HTTPFlow:
            flow = tflow.tflow(req=http.Request.make(method, url, b"{}" if method == "POST" else b"",
                                                     {"Accept": JSON, "Authorization": "Bearer cwt=live"}))
            await tctx.master.addons.handle_lifecycle(HttpRequestHook(flow))
            if flow.response is None and flow.error is None:  # went to the server
                flow.response = http.Response.make(200, server_answer, {"Content-Type": JSON})
            await tctx.master.addons.handle_lifecycle(HttpResponseHook(flow))
            return flow

        replayed = await through("GET", SEED_MEETINGS, b'{"from": "server"}')
        faulted = await through("POST", SEED_MEETINGS, b'{"from": "server"}')
        new = await through("GET", f"{SEED_MEETINGS}/810", b'{"from": "server"}')
    assert replayed.metadata[ANSWERED_BY] == Answer.REPLAYED and replayed.response.status_code == 200
    assert replayed.response.content == load_cassette(DEFAULT_CASSETTE).interactions[0].response.body
    assert faulted.metadata[ANSWERED_BY] == Answer.FAULTED and faulted.response.status_code == 409
    assert ANSWERED_BY not in new.metadata
    recorded = load_cassette(path).interactions
    assert [i.request.url for i in recorded] == [SEED_MEETINGS] * 4 + [f"{SEED_MEETINGS}/810"]
    assert recorded[-1].response.body == b'{"from": "server"}'
    # the cassette's own placeholder is REDACTED-1: a new secret continues the numbering
    assert header(recorded[-1].request.headers, "Authorization") == "Bearer cwt=REDACTED-2"


async def test_patched_and_broken_answers_are_recorded_as_the_server_sent_them(tmp_path):
    path = tmp_path / "today.yaml"
    rules = tmp_path / "faults.yaml"
    rules.write_text("faults:\n  - match: {path: 'myOnlineMeetings$'}\n    patch: {set: {/subject: Patched}}\n"
                     "  - match: {path: '/1$'}\n    transport: truncate\n")
    addons = ucwa_vcr.make_parts()
    served = b'{"subject": "Quarterly sales numbers"}'
    with taddons.context(Proxyserver(), *addons) as tctx:
        session = next(a for a in addons if isinstance(a, CassetteSession))
        tctx.configure(session, ucwa_cassette=str(path), ucwa_record_mode="all", ucwa_faults=str(rules))
        patched, truncated = exchange("GET", MEETINGS), exchange("GET", f"{MEETINGS}/1")
        for f in (patched, truncated):
            server_answer = f.response
            f.response = None
            await tctx.master.addons.handle_lifecycle(HttpRequestHook(f))
            assert f.response is None, "goes to the server"
            f.response = server_answer
            f.response.content = served
            await tctx.master.addons.handle_lifecycle(HttpResponseHook(f))
        await session.done()
    assert patched.response.content == b'{"subject": "Patched"}'
    assert truncated.response.raw_content == served[: len(served) // 2]
    assert [i.response.body for i in load_cassette(path).interactions] == [served, served]


@pytest.mark.parametrize("mark", list(Answer))
async def test_a_flow_marked_as_answered_by_ucwa_vcr_is_not_recorded(tmp_path, mark):
    path = tmp_path / "today.yaml"
    with recording(ucwa_cassette=str(path), ucwa_record_mode="all") as (session, recorder, _tctx):
        marked = exchange("GET", f"{MEETINGS}/1")
        marked.metadata[ANSWERED_BY] = mark
        await recorder.response(marked)
        assert not path.exists()
        await recorder.response(exchange("GET", f"{MEETINGS}/2"))
        await session.done()
    assert urls(path) == [f"{MEETINGS}/2"]


async def test_other_hosts_are_not_recorded_unless_named(tmp_path):
    path = tmp_path / "today.yaml"
    with recording(ucwa_cassette=str(path), ucwa_record_mode="all") as (session, recorder, tctx):
        for url in ("https://www.example.com/index.html", f"{HOST}/favicon.ico", MEETINGS,
                    "https://lyncdiscover.contoso.com/", f"{HOST}/Autodiscover/AutodiscoverService.svc/root"):
            await recorder.response(exchange("GET", url))
        assert urls(path) == [MEETINGS, "https://lyncdiscover.contoso.com/",
                              f"{HOST}/Autodiscover/AutodiscoverService.svc/root"]
        tctx.configure(session, ucwa_hosts=r"\.example\.com$")
        await recorder.response(exchange("GET", "https://www.example.com/index.html"))
        await recorder.response(exchange("GET", MEETINGS + "/2"))
        assert urls(path)[3:] == ["https://www.example.com/index.html"], "ucwa_hosts decides alone"


@pytest.mark.parametrize(("scope", "recorded"), [
    ("meetings", [MEETINGS, f"{MEETINGS}/810/onlineMeetingExtensions"]),
    ("session", [f"{APP}/people/contacts", MEETINGS, f"{APP}/events?ack=2", f"{MEETINGS}/810/onlineMeetingExtensions"]),
])
async def test_record_scope(tmp_path, scope, recorded):
    path = tmp_path / "today.yaml"
    with recording(ucwa_cassette=str(path), ucwa_record_mode="all", ucwa_record_scope=scope) as (session, recorder, _):
        for url in (f"{APP}/people/contacts", MEETINGS, f"{APP}/events?ack=2", f"{MEETINGS}/810/onlineMeetingExtensions"):
            await recorder.response(exchange("GET", url))
        await session.done()
    assert urls(path) == recorded


@pytest.mark.parametrize(("mode", "records"), [("none", False), ("once", False), ("new_episodes", True), ("all", True)])
async def test_only_the_recording_modes_record(tmp_path, mode, records):
    path = seed_copy(tmp_path)  # not empty: `once` is locked
    before = path.read_bytes()
    with recording(ucwa_cassette=str(path), ucwa_record_mode=mode) as (session, recorder, _tctx):
        assert session.locked == (mode == "once")
        await recorder.response(exchange("GET", MEETINGS))
        assert len(session.matcher.interactions) == 4 + records
        await session.done()
    assert (path.read_bytes() != before) == records
    assert len(load_cassette(path).interactions) == 4 + records


async def test_replay_only_without_a_cassette_serves_the_seed_and_records_nothing(tmp_path):
    seed = DEFAULT_CASSETTE.read_bytes()
    with recording(ucwa_record_mode="none") as (session, recorder, _tctx):
        await recorder.response(exchange("GET", MEETINGS))
        await session.done()
        assert session.path == DEFAULT_CASSETTE and len(session.matcher.interactions) == 4
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert DEFAULT_CASSETTE.read_bytes() == seed


async def test_a_flow_without_a_response_is_not_recorded(tmp_path):
    path = tmp_path / "today.yaml"
    with recording(ucwa_cassette=str(path), ucwa_record_mode="all") as (session, recorder, _tctx):
        unanswered = exchange("GET", MEETINGS)
        unanswered.response = None
        await recorder.response(unanswered)
        await session.done()
    assert not path.exists()


async def test_done_leaves_the_cassette_in_its_final_form(tmp_path):
    path = tmp_path / "today.yaml"
    with recording(ucwa_cassette=str(path), ucwa_record_mode="once") as (session, recorder, _tctx):
        for n in range(3):
            await recorder.response(exchange("GET", f"{MEETINGS}/{n}", answer=f'{{"n": {n}}}'.encode()))
        while_recording = path.read_text()
        assert while_recording.count(COMPLETE) >= 2, "each write ends with the line: appended twice"
        await session.done()
    final = path.read_text()
    assert "# ucwa-vcr: complete up to here" not in final
    assert final.startswith("version: 1\ninteractions:\n")
    assert final == while_recording.replace(COMPLETE, "")
    assert [i.response.body for i in load_cassette(path).interactions] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']


# Recognition that follows the session (issue 11): what a third-party client or an Online sign-in sends.

DISCOVERY = "https://lyncdiscover.contoso.com/"
POOL = "https://pool2.contoso.com"


def discovery(pool: str = POOL) -> http.HTTPFlow:
    links = {"_links": {"self": {"href": DISCOVERY},
                        "user": {"href": f"{pool}/Autodiscover/AutodiscoverService.svc/root/oauth/user"}}}
    return exchange("GET", DISCOVERY, answer=json.dumps(links).replace("/", "\\/").encode())


async def test_hosts_the_session_links_to_are_recorded_whatever_the_path(tmp_path):
    path = tmp_path / "today.yaml"
    with recording(ucwa_cassette=str(path), ucwa_record_mode="once") as (session, recorder, _tctx):
        elsewhere = exchange("GET", f"{POOL}/PassiveAuth/signin")
        await recorder.response(elsewhere)
        assert not path.exists(), "an unknown host on a path outside UCWA passes through"
        await recorder.response(discovery())  # JSON-escaped slashes, as some servers write them
        await recorder.response(exchange("GET", f"{POOL}/PassiveAuth/signin"))
    assert urls(path) == [DISCOVERY, f"{POOL}/PassiveAuth/signin"]


@pytest.mark.parametrize("url", [
    "https://pool.example//ucwa/oauth/v1/applications/1234/events?ack=1",  # href joined onto a root ending in "/"
    "https://pool.example///ucwa/oauth/v1/applications/1234/me/makeMeAvailable",
    "https://pool.example//WebTicket/oauthtoken",
])
async def test_repeated_leading_slashes_are_ucwa(tmp_path, url):
    path = tmp_path / "today.yaml"
    with recording(ucwa_cassette=str(path), ucwa_record_mode="once") as (_, recorder, _tctx):
        await recorder.response(exchange("POST", url))
    assert urls(path) == [url]


async def test_the_azure_ad_token_exchange_of_an_online_sign_in_is_recorded_redacted(tmp_path, canaries):
    path = tmp_path / "today.yaml"
    url = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token"
    jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJjYW5hcnkiOiJ5ZXMifQ.c2lnbmF0dXJl"
    canary_password = canaries["password"]
    form = (f"grant_type=password&client_id=d3590ed6&resource=https%3A%2F%2Fwebdir.online.lync.com"
            f"&username=alice%40contoso.com&password={canary_password}").encode()
    answer = json.dumps({"token_type": "Bearer", "access_token": jwt, "refresh_token": canaries["token"],
                         "id_token": jwt, "expires_in": "3599"}).encode()
    with recording(ucwa_cassette=str(path), ucwa_record_mode="once") as (_, recorder, _tctx):
        await recorder.response(exchange("POST", url, body=form, answer=answer,
                                         headers={"Content-Type": "application/x-www-form-urlencoded"}))
        await recorder.response(exchange("GET", "https://login.microsoftonline.com/common/discovery/instance"))
    assert urls(path) == [url], "the token endpoint only"
    text = path.read_text()
    assert canaries["password"] not in text and canaries["token"] not in text and jwt not in text


async def test_a_linked_host_left_out_by_ucwa_hosts_is_warned_about_once_per_prefix(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    path = tmp_path / "today.yaml"
    with recording(ucwa_cassette=str(path), ucwa_record_mode="once",
                   ucwa_hosts=r"^lyncdiscover\.") as (session, recorder, _tctx):
        await recorder.response(discovery())
        for url in (f"{POOL}/ucwa/a", f"{POOL}/ucwa/b", f"{POOL}/Autodiscover/x", "https://cdn.example/app.js"):
            await recorder.response(exchange("GET", url))
        await session.done()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "ucwa-vcr: not recording pool2.contoso.com/ucwa/...: the session links to pool2.contoso.com but ucwa_hosts "
        "leaves it out",
        "ucwa-vcr: not recording pool2.contoso.com/Autodiscover/...: the session links to pool2.contoso.com but "
        "ucwa_hosts leaves it out"]
    assert caplog.messages[-1] == (f"ucwa-vcr: 1 exchange written to {path}; passed through unrecorded: 4 "
                                   "(3 to pool2.contoso.com, 1 to cdn.example)")


async def test_an_exchange_that_cannot_be_written_is_said_at_once_and_on_stop(tmp_path, caplog, canaries):
    caplog.set_level(logging.INFO)
    path = tmp_path / "today.yaml"
    with recording(ucwa_cassette=str(path), ucwa_record_mode="once") as (session, recorder, _tctx):
        await recorder.response(exchange("GET", MEETINGS))

        async def full_disk(chunk: bytes) -> None:
            raise OSError(28, "No space left on device")

        session.writer.write = full_disk  # type: ignore[method-assign,union-attr]
        await recorder.response(exchange("GET", f"{MEETINGS}?token={canaries['token']}"))
        await session.done()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [f"ucwa-vcr: NOT RECORDED GET {MEETINGS}?token=cwt=REDACTED: OSError: [Errno 28] No space "
                      "left on device"]
    assert caplog.messages[-1] == f"ucwa-vcr: 1 exchange written to {path}; 1 exchange NOT written (see the errors above)"
    caplog.clear()  # the errors were expected


async def test_a_body_that_cannot_be_searched_is_written_with_a_warning_and_counted(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    path = tmp_path / "today.yaml"
    with recording(ucwa_cassette=str(path), ucwa_record_mode="once") as (session, recorder, _tctx):
        flow = exchange("POST", MEETINGS, body=b'{"subject":"caf\xe9"}', headers={"Content-Type": "application/json"})
        await recorder.response(flow)
        await session.done()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"ucwa-vcr: POST {MEETINGS}: request body written without a search for secrets: body is not "
                        "UTF-8 and declares no charset"]
    assert caplog.messages[-1] == (f"ucwa-vcr: 1 exchange written to {path}; 1 body not searched for secrets "
                                   "(see the warnings above)")


async def test_in_reverse_mode_the_target_is_ucwa_whatever_its_name(tmp_path):
    path = tmp_path / "today.yaml"
    with recording(ucwa_cassette=str(path), ucwa_record_mode="once", mode=["reverse:https://10.0.0.5:4443"]) as (
            session, recorder, _tctx):
        session.running()
        await recorder.response(exchange("GET", "https://10.0.0.5:4443/"))  # discovery at the root of an address
    assert urls(path) == ["https://10.0.0.5:4443/"]


async def test_offline_the_hosts_answers_link_to_are_not_learned_outside_reverse_mode():
    # nothing is recorded and every request is answered anyway: reading each answer's links would be wasted work
    with recording(ucwa_record_mode="none") as (session, recorder, _tctx):
        await recorder.response(discovery())
        assert session.linked == set()
        reverse = discovery()
        reverse.client_conn.proxy_mode = mode_specs.ProxyMode.parse("reverse:https://lyncdiscover.contoso.com")
        await recorder.response(reverse)
        assert session.linked == {"lyncdiscover.contoso.com", "pool2.contoso.com"}, "reverse mode needs them"
