"""The replay addon in process: its `request` hook driven with mitmproxy's test helpers (no mitmdump, no sockets).

Built like mitmproxy's own test/mitmproxy/addons/test_serverplayback.py: `taddons.context`, `tflow.tflow`,
`tctx.configure(addon, ...)`, then `await replayer.request(flow)` and a look at what the flow holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from in_process import NS, Asyncio, error_of, seed_copy, until
from lxml import etree
from mitmproxy import exceptions, http
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.net import encoding
from mitmproxy.test import taddons, tflow
from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.cassette.codec import load_cassette
from ucwa_vcr.cassette.model import Cassette, Interaction, Request, Response
from ucwa_vcr.cassette.writer import save_cassette
from ucwa_vcr.proxy import replay as replay_module
from ucwa_vcr.proxy.flows import ANSWERED_BY, Answer
from ucwa_vcr.proxy.replay import UcwaReplayer
from ucwa_vcr.proxy.session import CassetteSession

pytestmark = pytest.mark.usefixtures("no_logged_errors")

MEETINGS = "https://fe1.contoso.com//v1/applications/833/onlineMeetings/myOnlineMeetings"
EVENTS = "https://fe1.contoso.com//v1/applications/833/events"
JSON = "application/json"
XML = "application/xml"
SEED = load_cassette(DEFAULT_CASSETTE).interactions
SEED_GET = {accept: next(i for i in SEED if i.request.method == "GET" and ("Accept", accept) in i.request.headers)
            for accept in (JSON, XML)}


def request(method: str, url: str, accept: str = JSON, body: bytes = b"", **headers: str) -> http.HTTPFlow:
    """A live flow holding a client's request, as the `request` hook sees it."""
    fields = {"Accept": accept, "Authorization": "Bearer cwt=any-live-token", **headers}
    return tflow.tflow(req=http.Request.make(method, url, body, fields))


def interaction(url: str, body: bytes, headers: list[tuple[str, str]] | None = None, method: str = "GET",
                status: int = 200, reason: str = "OK", duration: float = 0.0) -> Interaction:
    req_headers = [("Authorization", "Bearer cwt=REDACTED-1"), ("Accept", JSON)]
    return Interaction(request=Request(method=method, url=url, headers=req_headers),
                       response=Response(status=status, reason=reason, body=body,
                                         headers=headers if headers is not None else [("Content-Type", JSON)]),
                       started="2024-01-01T00:00:00.000+00:00", duration=duration)


def cassette(path: Path, *interactions: Interaction) -> Path:
    save_cassette(path, Cassette(list(interactions)))
    return path



@contextlib.contextmanager
def replaying(**options: Any) -> Iterator[tuple[CassetteSession, UcwaReplayer, taddons.context]]:
    """A session and its replayer in one mitmproxy test master, configured with `options`.

    mitmproxy's proxy server addon is loaded too (not started): it declares options the session sets.
    """
    session = CassetteSession()
    replayer = UcwaReplayer(session)
    with taddons.context(Proxyserver(), session, replayer) as tctx:
        tctx.configure(session, **options)
        yield session, replayer, tctx






# --- answering from the cassette ---------------------------------------------------------------------------------

@pytest.mark.parametrize("http_version", ["HTTP/1.1", "HTTP/2.0"])
async def test_replayed_answer_is_the_recorded_one_byte_for_byte(tmp_path, http_version):
    body = json.dumps({"subject": "Réunion ☕", "etag": "1"}, ensure_ascii=False).encode("utf-8")
    recorded = [("Content-Type", "application/json; charset=utf-8"), ("Transfer-Encoding", "chunked"),
                ("Connection", "keep-alive"), ("Keep-Alive", "timeout=5"), ("Set-Cookie", "a=1; path=/"),
                ("Set-Cookie", "b=2"), ("X-MS-Correlation-Id", "abc123"), ("Content-Length", "3")]
    path = cassette(tmp_path / "c.yaml", interaction(MEETINGS, body, recorded, status=203, reason="Quite OK"))
    with replaying(ucwa_cassette=str(path), ucwa_record_mode="none") as (_, replayer, _tctx):
        flow = request("GET", MEETINGS)
        flow.request.http_version = http_version
        await replayer.request(flow)
    response = flow.response
    assert response is not None
    assert (response.status_code, response.reason) == (203, "Quite OK")
    assert response.raw_content == body
    # the recorded headers in their order and spelling (lower-case names in HTTP/2, which allows no other),
    # minus hop-by-hop ones, with a true Content-Length
    expected = [("Content-Type", "application/json; charset=utf-8"), ("Set-Cookie", "a=1; path=/"), ("Set-Cookie", "b=2"),
                ("X-MS-Correlation-Id", "abc123"), ("Content-Length", str(len(body)))]
    if http_version == "HTTP/2.0":
        expected = [(k.lower(), v) for k, v in expected]
    assert [(k, v) for k, v in response.headers.items(multi=True)] == expected
    assert response.http_version == http_version, "answered in the client's HTTP version"
    assert flow.metadata[ANSWERED_BY] == Answer.REPLAYED
    assert flow.error is None and flow.live, "a replayed flow is answered, not killed"


async def test_recorded_content_encoding_is_applied_again_with_a_true_content_length(tmp_path):
    body = b'{"value": "' + b"x" * 2000 + b'"}'
    path = cassette(tmp_path / "c.yaml", interaction(MEETINGS, body, [("Content-Type", JSON), ("Content-Encoding", "gzip"),
                                                                      ("Content-Length", "17")]))
    with replaying(ucwa_cassette=str(path), ucwa_record_mode="none") as (_, replayer, _tctx):
        flow = request("GET", MEETINGS)
        await replayer.request(flow)
    assert flow.response is not None
    assert flow.response.content == body
    assert gzip.decompress(flow.response.raw_content) == body
    assert flow.response.headers["content-length"] == str(len(flow.response.raw_content)) != str(len(body))


async def test_a_recorded_answer_is_encoded_once_and_again_only_when_the_cassette_changes(tmp_path, monkeypatch):
    encoded = []
    real = encoding.encode
    monkeypatch.setattr(encoding, "encode", lambda content, name: (name == "gzip" and encoded.append(content))
                        or real(content, name))
    gzipped = [("Content-Type", JSON), ("Content-Encoding", "gzip")]
    first = cassette(tmp_path / "first.yaml", interaction(MEETINGS, b'{"n": 1}' * 300, gzipped))
    second = cassette(tmp_path / "second.yaml", interaction(MEETINGS, b'{"n": 2}' * 300, gzipped))
    with replaying(ucwa_cassette=str(first), ucwa_record_mode="none") as (_, replayer, tctx):
        answers = []
        for path in (first, second, first):
            tctx.configure(replayer.session, ucwa_cassette=str(path))
            for _ in range(20):
                flow = request("GET", MEETINGS)
                await replayer.request(flow)
                answers.append(gzip.decompress(flow.response.raw_content))
    assert answers == [b'{"n": 1}' * 300] * 20 + [b'{"n": 2}' * 300] * 20 + [b'{"n": 1}' * 300] * 20
    assert encoded == [b'{"n": 1}' * 300, b'{"n": 2}' * 300, b'{"n": 1}' * 300], "once per cassette loaded"


async def test_a_body_kept_as_sent_is_replayed_as_sent_with_a_true_content_length(tmp_path):
    # a Content-Encoding that did not decode when recorded: the cassette holds the wire bytes (raw: true)
    wire = b"\x1f\x8bnot gzip at all"
    recorded = interaction(MEETINGS, wire, [("Content-Type", JSON), ("Content-Encoding", "gzip"), ("Content-Length", "999")])
    recorded.response.raw = True
    path = cassette(tmp_path / "c.yaml", recorded)
    with replaying(ucwa_cassette=str(path), ucwa_record_mode="none") as (_, replayer, _tctx):
        flow = request("GET", MEETINGS)
        await replayer.request(flow)
    assert flow.response.raw_content == wire
    assert flow.response.headers["content-encoding"] == "gzip"
    assert flow.response.headers["content-length"] == str(len(wire))


@pytest.mark.parametrize("order", [[JSON, XML], [XML, JSON]])
async def test_json_and_xml_are_answered_by_accept(order):
    with replaying(ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="none") as (_, replayer, _tctx):
        for accept in order:
            flow = request("GET", MEETINGS, accept=accept)
            await replayer.request(flow)
            assert flow.response is not None and flow.response.status_code == 200
            assert flow.response.content == SEED_GET[accept].response.body
            assert flow.response.headers["content-type"] == accept


async def test_identical_requests_get_their_answers_in_recorded_order(tmp_path):
    path = cassette(tmp_path / "c.yaml", interaction(MEETINGS, b'{"n": 1}'), interaction(MEETINGS, b'{"n": 2}'),
                    interaction(MEETINGS, b'{"n": 3}'))
    with replaying(ucwa_cassette=str(path), ucwa_record_mode="none") as (_, replayer, _tctx):
        answers = []
        for _ in range(4):
            flow = request("GET", MEETINGS)
            await replayer.request(flow)
            answers.append(flow.response.content)
    assert answers == [b'{"n": 1}', b'{"n": 2}', b'{"n": 3}', b'{"n": 3}'], "used up: the last one repeats"


async def test_used_up_answers_are_a_miss_when_told(tmp_path):
    path = cassette(tmp_path / "c.yaml", interaction(MEETINGS, b'{"n": 1}'))
    with replaying(ucwa_cassette=str(path), ucwa_record_mode="none", ucwa_exhausted="miss") as (_, replayer, _tctx):
        first, second = request("GET", MEETINGS), request("GET", MEETINGS)
        await replayer.request(first)
        await replayer.request(second)
    assert first.response.content == b'{"n": 1}'
    assert second.response.status_code == 500
    assert "the 1 recorded answer to this request was already used" in error_of(second.response)[2]


# --- misses -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("accept", "closest"), [(JSON, 0), (XML, 1)])
async def test_a_miss_offline_gets_a_ucwa_error_naming_the_closest_request(accept, closest):
    with replaying(ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="none") as (session, replayer, _tctx):
        flow = request("GET", MEETINGS + "/4242", accept=accept)
        await replayer.request(flow)
    response = flow.response
    assert response is not None
    assert (response.status_code, response.reason) == (500, "ucwa-vcr: no recorded answer")
    assert response.headers["content-type"].startswith(accept)
    assert response.headers["content-length"] == str(len(response.raw_content))
    code, subcode, message = error_of(response)
    assert (code, subcode) == ("ServiceFailure", "UcwaVcrNoMatch")
    assert message.splitlines()[:3] == [
        f"ucwa-vcr: no recorded answer for GET {MEETINGS}/4242",
        f"  closest #{closest}: GET {MEETINGS}",
        "    path: recorded '//v1/applications/{app}/onlineMeetings/myOnlineMeetings', "
        "got '//v1/applications/{app}/onlineMeetings/myOnlineMeetings/4242'"]
    assert response.headers["X-Ucwa-Vcr"] == "miss"
    assert response.headers["X-Ucwa-Vcr-Diagnosis"] == (
        f"closest #{closest} differs in path: '//v1/applications/{{app}}/onlineMeetings/myOnlineMeetings' != "
        "'//v1/applications/{app}/onlineMeetings/myOnlineMeetings/4242'")
    assert flow.metadata[ANSWERED_BY] == Answer.MISS
    assert [m.request.url for m in session.misses] == [f"{MEETINGS}/4242"]


async def test_a_miss_names_every_matcher_that_differed():
    with replaying(ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="none") as (_, replayer, _tctx):
        flow = request("DELETE", MEETINGS + "?x=1", accept=XML)
        await replayer.request(flow)
    diagnosis = flow.response.headers["X-Ucwa-Vcr-Diagnosis"]
    # GET and POST (XML) are as close; the earlier one comes first
    assert diagnosis == "closest #1 differs in method: 'GET' != 'DELETE', query: '' != 'x=1'"
    assert f"  closest #3: POST {MEETINGS}\n    method: recorded 'POST', got 'DELETE'" in error_of(flow.response)[2]


async def test_in_mode_all_nothing_is_answered(tmp_path):
    with replaying(ucwa_cassette=str(seed_copy(tmp_path)), ucwa_record_mode="all") as (session, replayer, _tctx):
        recorded, unrecorded = request("GET", MEETINGS), request("GET", MEETINGS + "/4242")
        await replayer.request(recorded)
        await replayer.request(unrecorded)
    for flow in (recorded, unrecorded):
        assert flow.response is None and flow.error is None and ANSWERED_BY not in flow.metadata
    assert not session.misses


async def test_in_new_episodes_a_miss_goes_to_the_server_and_a_match_is_replayed(tmp_path):
    with replaying(ucwa_cassette=str(seed_copy(tmp_path)), ucwa_record_mode="new_episodes") as (session, replayer, _):
        unrecorded, recorded = request("GET", MEETINGS + "/4242"), request("GET", MEETINGS)
        await replayer.request(unrecorded)
        await replayer.request(recorded)
    assert unrecorded.response is None and unrecorded.error is None and ANSWERED_BY not in unrecorded.metadata
    assert not session.misses
    assert recorded.response.content == SEED_GET[JSON].response.body
    assert recorded.metadata[ANSWERED_BY] == Answer.REPLAYED


async def test_a_locked_once_cassette_is_offline():
    with replaying(ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="once") as (session, replayer, _tctx):
        assert session.locked and session.offline
        flow = request("GET", MEETINGS + "/4242")
        await replayer.request(flow)
    assert flow.response.status_code == 500 and flow.metadata[ANSWERED_BY] == Answer.MISS


async def test_other_hosts_pass_untouched_unless_offline(tmp_path):
    logo = "https://cdn.example.com/logo.png"
    path = cassette(tmp_path / "c.yaml", interaction(logo, b"PNG", [("Content-Type", "image/png")]),
                    interaction(MEETINGS, b"{}"))
    with replaying(ucwa_cassette=str(path), ucwa_record_mode="new_episodes") as (_, replayer, tctx):
        passing = request("GET", logo)
        await replayer.request(passing)
        assert passing.response is None and ANSWERED_BY not in passing.metadata, "recorded, but not UCWA"
        ucwa = request("GET", MEETINGS)
        await replayer.request(ucwa)
        assert ucwa.response.content == b"{}"

        tctx.configure(replayer, ucwa_hosts=r"^cdn\.example\.com$")
        chosen = request("GET", logo)
        await replayer.request(chosen)
        assert chosen.response.content == b"PNG", "ucwa_hosts makes it UCWA"

    with replaying(ucwa_cassette=str(path), ucwa_record_mode="none") as (_, replayer, _tctx):
        recorded, unrecorded = request("GET", logo), request("GET", "https://cdn.example.com/other.png")
        await replayer.request(recorded)
        await replayer.request(unrecorded)
    assert recorded.response.content == b"PNG" and recorded.metadata[ANSWERED_BY] == Answer.REPLAYED
    assert unrecorded.response.status_code == 500, "offline, nothing may reach a server"


@pytest.mark.parametrize(("mode", "strategy", "upstream_cert"), [
    ("none", "lazy", False), ("once", "lazy", False), ("new_episodes", "lazy", True), ("all", "eager", True)])
async def test_replaying_modes_never_open_a_server_connection_up_front(tmp_path, mode, strategy, upstream_cert):
    with replaying(ucwa_cassette=str(seed_copy(tmp_path)), ucwa_record_mode=mode) as (_, _replayer, tctx):
        assert (tctx.options.connection_strategy, tctx.options.upstream_cert) == (strategy, upstream_cert)


async def test_flows_already_answered_or_failed_are_left_alone():
    with replaying(ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="none") as (_, replayer, _tctx):
        answered = request("GET", MEETINGS)
        answered.response = http.Response.make(418, b"mine")
        failed = request("GET", MEETINGS)
        failed.kill()
        await replayer.request(answered)
        await replayer.request(failed)
    assert answered.response.status_code == 418 and ANSWERED_BY not in answered.metadata
    assert failed.response is None and ANSWERED_BY not in failed.metadata


# --- the event channel ------------------------------------------------------------------------------------------

async def test_recorded_event_pget_is_answered_at_once(tmp_path):
    path = cassette(tmp_path / "c.yaml", interaction(EVENTS + "?ack=3&timeout=180", b'{"sender": []}'))
    with replaying(ucwa_cassette=str(path), ucwa_record_mode="none") as (_, replayer, _tctx):
        flow = request("GET", EVENTS + "?timeout=60&ack=3")  # timeout does not count, ack does
        await asyncio.wait_for(replayer.request(flow), 5)
    assert flow.response.content == b'{"sender": []}'


async def test_unrecorded_event_pget_is_held_without_blocking_then_replaced_by_a_newer_one():
    with replaying(ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="none", ucwa_event_hold=30) as (
            session, replayer, _tctx):
        first = request("GET", EVENTS + "?ack=3")
        held = asyncio.create_task(replayer.request(first))
        await until(lambda: first.metadata.get(ANSWERED_BY) == Answer.MISS)

        other = request("GET", MEETINGS)
        await asyncio.wait_for(replayer.request(other), 5)
        assert other.response.status_code == 200, "other flows are answered while the P-GET is held"
        assert not held.done() and first.response is None

        second = request("GET", EVENTS + "?ack=3&timeout=120")
        replacing = asyncio.create_task(replayer.request(second))
        try:
            await asyncio.wait_for(held, 5)
            assert first.response.status_code == 409
            assert error_of(first.response)[:2] == ("Conflict", "PGetReplaced")
            assert first.response.headers["content-type"].startswith(JSON)
            assert not replacing.done() and second.response is None, "the newer P-GET is held in its turn"
        finally:
            replacing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await replacing
    assert not session.misses, "a held P-GET is not a miss to report"


async def test_unrecorded_event_pgets_are_answered_like_an_idle_channel_after_the_hold():
    with replaying(ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="none", ucwa_event_hold=1) as (
            _, replayer, _tctx):
        # two channels held at once (JSON and XML), for 1 s
        as_json, as_xml = request("GET", EVENTS + "?ack=3", accept=JSON), request("GET", EVENTS + "?ack=7", accept=XML)
        await asyncio.wait_for(asyncio.gather(replayer.request(as_json), replayer.request(as_xml)), 10)
    path = "//v1/applications/833/events"
    assert as_json.response.status_code == 200
    assert as_json.response.headers["content-type"] == "application/json; charset=utf-8"
    assert json.loads(as_json.response.content) == {"_links": {"self": {"href": f"{path}?ack=3"},
                                                                "next": {"href": f"{path}?ack=4"}}}
    assert as_xml.response.status_code == 200
    assert as_xml.response.headers["content-type"] == "application/xml; charset=utf-8"
    root = etree.fromstring(as_xml.response.content)
    assert root.tag == f"{NS}events" and root.get("href") == f"{path}?ack=7"
    assert [(link.get("rel"), link.get("href")) for link in root.iter(f"{NS}link")] == [("next", f"{path}?ack=8")]
    assert as_json.metadata[ANSWERED_BY] == as_xml.metadata[ANSWERED_BY] == Answer.MISS, "never recorded"


@pytest.mark.parametrize(("query", "option", "held"), [
    ("ack=3", 30, 30),  # no timeout asked: the server's 180 s, capped by the option
    ("ack=3&timeout=20", 30, 20),  # the client asks for less
    ("ack=3&timeout=120", 30, 30),
    ("ack=3&timeout=20", 0, 0),
])
async def test_event_pget_is_held_for_the_shorter_of_its_timeout_and_ucwa_event_hold(monkeypatch, query, option, held):
    holds: list[float] = []

    async def wait_for(waiting: Any, timeout: float) -> Any:
        holds.append(timeout)
        return await asyncio.wait_for(waiting, 0)  # as if the hold were over

    monkeypatch.setattr(replay_module, "asyncio", Asyncio(wait_for=wait_for))
    with replaying(ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="none", ucwa_event_hold=option) as (
            _, replayer, _tctx):
        flow = request("GET", f"{EVENTS}?{query}")
        await replayer.request(flow)
    assert holds == [held]
    assert flow.response.status_code == 200 and "ack=4" in flow.response.text


# --- latency ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("latency", "delays"), [(0, []), (100, [0.25]), (200, [0.5]), (50, [0.125])])
async def test_latency_waits_the_recorded_duration_before_answering(tmp_path, monkeypatch, latency, delays):
    asked: list[float] = []
    flow = request("GET", MEETINGS)

    async def sleep(delay: float) -> None:
        assert flow.response is None, "the answer comes after the wait"
        asked.append(delay)

    monkeypatch.setattr(replay_module, "asyncio", Asyncio(sleep=sleep))
    path = cassette(tmp_path / "c.yaml", interaction(MEETINGS, b"{}", duration=0.25))
    with replaying(ucwa_cassette=str(path), ucwa_record_mode="none", ucwa_latency=latency) as (_, replayer, _tctx):
        await replayer.request(flow)
    assert asked == pytest.approx(delays)
    assert flow.response.content == b"{}"


# --- options ----------------------------------------------------------------------------------------------------

BAD_OPTIONS = [
    ("ucwa_record_mode", "bogus", "ucwa_record_mode: 'bogus' is not a record mode; use one of once, new_episodes, none, all"),
    ("ucwa_latency", -1, "ucwa_latency: -1 is negative; use 0 or more"),
    ("ucwa_event_hold", -5, "ucwa_event_hold: -5 is negative; use 0 or more"),
    ("ucwa_match_on", ["method", "x"],
     "ucwa_match_on: 'x' is not a matcher; use some of method, scheme, host, port, path, query, accept, auth, body"),
    ("ucwa_exhausted", "never", "ucwa_exhausted: 'never' is not a policy; use one of repeat, miss"),
    ("ucwa_hosts", "(", "ucwa_hosts: '(' is not a regex: missing ), unterminated subpattern at position 0"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_OPTIONS)
async def test_bad_option_is_refused_with_one_line_once_running(name, value, message):
    with replaying(ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="none") as (session, replayer, tctx):
        session.running()
        replayer.running()
        before = getattr(tctx.options, name)
        with pytest.raises(exceptions.OptionsError) as refused:
            # as `--set` and mitmproxy's `set` command do (tctx.configure's own rollback hands the addons a
            # dict_keys instead of mitmproxy's set of names)
            tctx.options.update(**{name: value})
        assert str(refused.value) == message
        assert getattr(tctx.options, name) == before, "the change is rolled back"
        # and the proxy still replays as before
        flow = request("GET", MEETINGS)
        await replayer.request(flow)
        assert flow.metadata[ANSWERED_BY] == Answer.REPLAYED


async def test_a_refused_option_change_leaves_the_replay_where_it_was(tmp_path):
    path = cassette(tmp_path / "c.yaml", interaction(MEETINGS, b'{"n": 1}'), interaction(MEETINGS, b'{"n": 2}'))
    with replaying(ucwa_cassette=str(path), ucwa_record_mode="none") as (session, replayer, tctx):
        session.running()
        replayer.running()
        first, missed = request("GET", MEETINGS), request("GET", MEETINGS + "/4242")
        await replayer.request(first)
        await replayer.request(missed)
        with pytest.raises(exceptions.OptionsError):
            tctx.options.update(ucwa_exhausted="never")  # a typo in mitmproxy's `set` command, refused
        second = request("GET", MEETINGS)
        await replayer.request(second)
        assert [first.response.content, second.response.content] == [b'{"n": 1}', b'{"n": 2}']
        assert len(session.misses) == 1


@pytest.mark.parametrize(("name", "value", "message"), BAD_OPTIONS)
async def test_bad_option_at_start_is_logged_as_one_line(caplog, name, value, message):
    with replaying(ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="none") as (_, replayer, tctx):
        seen = len(caplog.records)
        tctx.configure(replayer, **{name: value})  # before `running`: logged, mitmproxy then exits 1
    errors = [r for r in caplog.records[seen:] if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [f"ucwa-vcr: {message}"]
    assert errors[0].exc_info is None, "one line, no traceback"
    caplog.clear()  # expected


async def test_a_recording_mode_without_a_cassette_is_refused(tmp_path):
    with replaying(ucwa_record_mode="none") as (session, _, tctx):
        session.running()
        with pytest.raises(exceptions.OptionsError, match=r"^ucwa_cassette: record mode 'once' needs a cassette file"):
            tctx.options.update(ucwa_record_mode="once")
        with pytest.raises(exceptions.OptionsError, match=r"^ucwa_cassette: cannot write cassette .*: folder .* does not exist$"):
            tctx.options.update(ucwa_record_mode="all", ucwa_cassette=str(tmp_path / "no" / "such" / "c.yaml"))
        assert session.mode == "none" and session.path == DEFAULT_CASSETTE


# --- batches ----------------------------------------------------------------------------------------------------

APP = "https://fe1.contoso.com/ucwa/oauth/v1/applications/833"


def batch_flow(*paths: str, boundary: str = "77f2569d", accepts: dict[str, str] | None = None) -> http.HTTPFlow:
    """A live batch of GETs, as a client sends it (each part's Accept JSON unless `accepts` says otherwise)."""
    body = "".join(f"--{boundary}\r\nContent-Type: application/http; msgtype=request\r\n\r\n"
                   f"GET /ucwa/oauth/v1/applications/833{path} HTTP/1.1\r\nAccept: {(accepts or {}).get(path, JSON)}"
                   "\r\n\r\n" for path in paths)
    return request("POST", f"{APP}/batch", accept="multipart/batching", body=(body + f"--{boundary}--\r\n").encode(),
                   **{"Content-Type": f"multipart/batching;boundary={boundary}"})


def recorded_batch(*answers: tuple[str, bytes], boundary: str = "3968fb75") -> Interaction:
    """A recorded batch of GETs and the server's answer, as a cassette holds it."""
    live = batch_flow(*(path for path, _ in answers))
    body = "".join(f"--{boundary}\r\nContent-Type: application/http; msgtype=response\r\n\r\n"
                   f"HTTP/1.1 200 OK\r\nContent-Type: {JSON}\r\n\r\n{content.decode()}\r\n" for _, content in answers)
    return Interaction(request=Request(method="POST", url=f"{APP}/batch", body=live.request.content or b"",
                                       headers=[(k, "Bearer cwt=REDACTED-1" if k == "Authorization" else v)
                                                for k, v in live.request.headers.items(multi=True)]),
                       response=Response(status=200, reason="OK", body=(body + f"--{boundary}--\r\n").encode(),
                                         headers=[("Content-Type", f'multipart/batching; boundary="{boundary}"'),
                                                  ("Cache-Control", "no-cache")]),
                       started="2024-01-01T00:00:00.000+00:00", duration=0.125)


def answered_parts(flow: http.HTTPFlow) -> list[tuple[int, bytes]]:
    from ucwa_vcr.batch import batch_responses
    assert flow.response is not None
    recorded = Response(headers=list(flow.response.headers.items(multi=True)), body=flow.response.content or b"")
    return [(r.status, r.body) for _, r in batch_responses(recorded) or []]


async def test_a_batch_recorded_so_is_replayed_byte_for_byte(tmp_path):
    recorded = recorded_batch(("/me", b'{"rel": "me"}'), ("/people", b'{"rel": "people"}'))
    path = cassette(tmp_path / "c.yaml", recorded)
    with replaying(ucwa_cassette=str(path), ucwa_record_mode="none") as (session, replayer, _tctx):
        flow = batch_flow("/me", "/people", boundary="another-client-boundary")
        await replayer.request(flow)
    assert flow.response.content == recorded.response.body
    assert flow.response.headers["content-type"] == 'multipart/batching; boundary="3968fb75"'
    assert flow.metadata[ANSWERED_BY] == Answer.REPLAYED and "replayed whole" in flow.comment
    assert (session.tally.replayed, session.tally.missed) == (1, 0)


async def test_a_batch_is_answered_part_by_part_in_any_order_from_recorded_parts_and_single_requests(tmp_path):
    path = cassette(tmp_path / "c.yaml", interaction(f"{APP}/user", b'{"rel": "user"}'),
                    recorded_batch(("/me", b'{"rel": "me"}'), ("/people", b'{"rel": "people"}')))
    with replaying(ucwa_cassette=str(path), ucwa_record_mode="none") as (session, replayer, _tctx):
        flow = batch_flow("/people", "/user", "/me")
        await replayer.request(flow)
    assert answered_parts(flow) == [(200, b'{"rel": "people"}'), (200, b'{"rel": "user"}'), (200, b'{"rel": "me"}')]
    assert flow.response.headers["content-type"] == 'multipart/batching; boundary="3968fb75"', "as the server writes it"
    assert flow.response.headers["content-length"] == str(len(flow.response.raw_content))
    assert flow.metadata[ANSWERED_BY] == Answer.REPLAYED
    assert "batch of 3 parts answered part by part" in flow.comment
    assert (session.tally.replayed, session.tally.missed, list(session.misses)) == (1, 0, [])


async def test_offline_a_batch_part_with_no_recorded_answer_is_an_explained_miss(tmp_path):
    path = cassette(tmp_path / "c.yaml", recorded_batch(("/me", b'{"rel": "me"}')))
    with replaying(ucwa_cassette=str(path), ucwa_record_mode="none") as (session, replayer, _tctx):
        flow = batch_flow("/phones", "/me", accepts={"/phones": XML})
        await replayer.request(flow)
    (missed, explained), me = answered_parts(flow)
    assert missed == 500 and etree.fromstring(explained).findtext(f"{NS}subcode") == "UcwaVcrNoMatch"
    assert me == (200, b'{"rel": "me"}')
    assert flow.response.status_code == 200, "the batch is answered; its part is the miss"
    assert flow.metadata[ANSWERED_BY] == Answer.MISS
    assert [m.request.url for m in session.misses] == [f"{APP}/phones"]
    assert session.tally.missed == 1
    assert f"no recorded answer for GET {APP}/phones" in flow.comment


async def test_online_a_batch_with_an_unrecorded_part_goes_to_the_server(tmp_path):
    path = cassette(tmp_path / "c.yaml", recorded_batch(("/me", b'{"rel": "me"}'), ("/people", b"{}")))
    with replaying(ucwa_cassette=str(path), ucwa_record_mode="new_episodes") as (session, replayer, _tctx):
        unrecorded, reordered = batch_flow("/phones", "/me"), batch_flow("/people", "/me")
        await replayer.request(unrecorded)
        await replayer.request(reordered)
    assert unrecorded.response is None and ANSWERED_BY not in unrecorded.metadata
    assert not session.misses
    assert answered_parts(reordered) == [(200, b"{}"), (200, b'{"rel": "me"}')]


async def test_a_body_that_is_no_batch_is_matched_whole_as_before(tmp_path):
    recorded = recorded_batch(("/me", b'{"rel": "me"}'))
    path = cassette(tmp_path / "c.yaml", recorded)
    with replaying(ucwa_cassette=str(path), ucwa_record_mode="none") as (_, replayer, _tctx):
        flow = request("POST", f"{APP}/batch", accept="multipart/batching", body=b"nonsense",
                       **{"Content-Type": "multipart/batching;boundary=x"})
        await replayer.request(flow)
    assert flow.response.content == recorded.response.body


# --- the event channel: acks it cannot serve ----------------------------------------------------------------------

UCWA_EVENTS = f"{APP}/events"
EVENTS_PATH = "/ucwa/oauth/v1/applications/833/events"


def recorded_events(ack: int) -> Interaction:
    body = json.dumps({"_links": {"self": {"href": f"{EVENTS_PATH}?ack={ack}"},
                                  "next": {"href": f"{EVENTS_PATH}?ack={ack + 1}"}}}).encode()
    return interaction(f"{UCWA_EVENTS}?ack={ack}", body)


@pytest.mark.parametrize(("ack", "accept"), [(1, JSON), (2, XML), (9, JSON), (99999999999999999999, JSON)])
async def test_an_ack_the_recorded_channel_cannot_serve_gets_a_resync_link(tmp_path, ack, accept):
    path = cassette(tmp_path / "c.yaml", recorded_events(3), recorded_events(4))
    with replaying(ucwa_cassette=str(path), ucwa_record_mode="none", ucwa_event_hold=0) as (session, replayer, _):
        flow = request("GET", f"{UCWA_EVENTS}?ack={ack}&timeout=60", accept=accept)
        await asyncio.wait_for(replayer.request(flow), 5)
    response = flow.response
    assert response.status_code == 200
    if ack > 10**18:  # no server's number: an ack as good as none, held as before
        assert "next" in json.loads(response.content)["_links"]
        return
    if accept == XML:
        root = etree.fromstring(response.content)
        assert root.tag == f"{NS}events" and root.get("href") == f"{EVENTS_PATH}?ack={ack}&timeout=60"
        assert [(link.get("rel"), link.get("href")) for link in root] == [("resync", f"{EVENTS_PATH}?ack=3")]
    else:
        assert json.loads(response.content) == {"_links": {"resync": {"href": f"{EVENTS_PATH}?ack=3"}}}
        assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert flow.metadata[ANSWERED_BY] == Answer.MISS and "out of order" in flow.comment
    assert not session.misses, "the channel's answer, not a miss"


async def test_the_channel_serves_the_recorded_acks_and_each_one_after_an_ack_it_served(tmp_path):
    path = cassette(tmp_path / "c.yaml", recorded_events(3), recorded_events(4))
    with replaying(ucwa_cassette=str(path), ucwa_record_mode="none", ucwa_event_hold=0) as (_, replayer, _tctx):
        answers = []
        for ack in (3, 4, 5, 6, 7, 9):
            flow = request("GET", f"{UCWA_EVENTS}?ack={ack}")
            await asyncio.wait_for(replayer.request(flow), 5)
            answers.append(json.loads(flow.response.content)["_links"])
    assert [sorted(links) for links in answers] == [["next", "self"]] * 5 + [["resync"]]
    assert answers[3]["next"]["href"] == f"{EVENTS_PATH}?ack=7", "idle answers go on counting"
    assert answers[5]["resync"]["href"] == f"{EVENTS_PATH}?ack=7", "back to the last ack it served"


async def test_a_channel_the_recording_does_not_know_is_held_and_answered_idle_as_before(tmp_path):
    path = cassette(tmp_path / "c.yaml", recorded_events(3))
    other = "https://fe1.contoso.com/ucwa/oauth/v1/applications/833/x/events"
    with replaying(ucwa_cassette=str(path), ucwa_record_mode="none", ucwa_event_hold=0) as (_, replayer, _tctx):
        flows = [request("GET", f"{EVENTS}?ack=50"), request("GET", f"{UCWA_EVENTS}?ack=latest"), request("GET", other)]
        for flow in flows:
            await asyncio.wait_for(replayer.request(flow), 5)
    assert [sorted(json.loads(f.response.content)["_links"]) if f.response.status_code == 200 else f.response.status_code
            for f in flows] == [["next", "self"], ["next", "self"], 500]


async def test_rewind_starts_the_recorded_batches_over_too(tmp_path):
    first = recorded_batch(("/me", b'{"n": 1}'), ("/people", b'{"rel": "people"}'))
    second = recorded_batch(("/me", b'{"n": 2}'), ("/people", b'{"rel": "people"}'))
    path = cassette(tmp_path / "c.yaml", first, second)
    with replaying(ucwa_cassette=str(path), ucwa_record_mode="none", ucwa_exhausted="miss") as (session, replayer, _):
        answers = []
        for rewind in (False, False, True):
            if rewind:
                session.rewind()
            flow = batch_flow("/me", "/people")
            await replayer.request(flow)
            answers.append(flow.response.content)
    assert answers == [first.response.body, second.response.body, first.response.body]
