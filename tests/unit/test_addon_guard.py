"""Offline stays offline, in process: whatever fails in a ucwa-vcr hook, the request is answered by the proxy and
no server connection is opened; header bytes come back as recorded.

The e2e counterpart (tests/e2e/test_offline_guard.py) makes every hook of a real mitmdump raise and counts the
connections a stand-in origin accepts.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import ucwa_vcr
from in_process import error_of
from mitmproxy import connection, http
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.proxy import server_hooks
from mitmproxy.test import taddons, tflow
from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.cassette.model import Interaction, Request, Response
from ucwa_vcr.proxy.faults import UcwaFaults
from ucwa_vcr.proxy.flows import ANSWERED_BY, Answer, flow_of, response_of
from ucwa_vcr.proxy.guard import FAILURE, UcwaOfflineGuard
from ucwa_vcr.proxy.replay import UcwaReplayer

MEETINGS = "https://fe1.contoso.com//v1/applications/833/onlineMeetings/myOnlineMeetings"


@contextlib.contextmanager
def proxy(**options: Any) -> Iterator[tuple[list[Any], taddons.context]]:
    """ucwa-vcr's addons, as make_parts() wires them, in one mitmproxy test master."""
    addons = ucwa_vcr.make_parts()
    with taddons.context(Proxyserver(), *addons) as tctx:
        tctx.configure(addons[1], **options)
        yield addons, tctx


def of_type(addons: list[Any], kind: type) -> Any:
    """The addon of a kind in make_parts()' list (addons[1] is always the session, addons[-1] the guard)."""
    return next(addon for addon in addons if isinstance(addon, kind))


async def run_request_hooks(addons: list[Any], flow: http.HTTPFlow) -> None:
    """Run every addon's request hook in chain order, swallowing what escapes as mitmproxy does."""
    for addon in addons:
        hook = getattr(addon, "request", None)
        if hook is None:
            continue
        with contextlib.suppress(Exception):
            result = hook(flow)
            if result is not None:
                await result


def live(url: str = MEETINGS, accept: str = "application/json") -> http.HTTPFlow:
    return tflow.tflow(req=http.Request.make("GET", url, b"", {"Accept": accept,
                                                               "Authorization": "Bearer cwt=canary_live_token"}))


@pytest.mark.parametrize("broken", ["replay", "faults", "both"])
async def test_offline_a_failing_hook_gets_the_proxys_own_500_naming_it(monkeypatch, caplog, broken):
    def explode(*args: Any, **kwargs: Any) -> None:
        raise KeyError("cwt=canary_in_the_exception")

    with proxy(ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="none",
               ucwa_inject=["GET myOnlineMeetings$=ServiceFailure"] if broken != "replay" else []) as (addons, _):
        if broken in ("replay", "both"):
            monkeypatch.setattr(addons[1].matcher, "match", explode)
        if broken in ("faults", "both"):
            monkeypatch.setattr(of_type(addons, UcwaFaults).plan, "pick", explode)
        flow = live()
        await run_request_hooks(addons, flow)
    assert flow.response is not None and flow.response.status_code == 500
    assert flow.response.headers["X-Ucwa-Vcr"] == "error"
    assert flow.metadata[ANSWERED_BY] == Answer.FAILED
    code, subcode, message = error_of(flow.response)
    assert (code, subcode) == ("ServiceFailure", "UcwaVcrError")
    assert "nothing was forwarded" in message and "KeyError" in message
    assert ("UcwaReplayer.request" if broken == "replay" else "UcwaFaults.request") in message
    text = caplog.text + flow.response.text + flow.metadata[FAILURE]
    assert "canary_live_token" not in text and "canary_in_the_exception" not in text, "logs and answers are redacted"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and all(r.exc_info is None and "\n" not in r.getMessage() for r in errors), "one line each"


async def test_offline_a_hook_failing_outside_the_guard_still_never_forwards(monkeypatch):
    # A hook replaced wholesale (no `guarded` around it): mitmproxy swallows the exception, the guard answers.
    async def explode(self: Any, flow: http.HTTPFlow) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(UcwaReplayer, "request", explode)
    with proxy(ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="none") as (addons, _):
        flow = live(accept="application/xml")
        await run_request_hooks(addons, flow)
    assert flow.response.status_code == 500 and "xml" in flow.response.headers["content-type"]
    assert "no ucwa-vcr addon answered" in error_of(flow.response)[2]


@pytest.mark.parametrize(("mode", "refused"), [("none", True), ("once", False), ("all", False)])
async def test_offline_every_server_connection_is_refused(tmp_path, mode, refused):
    with proxy(ucwa_cassette=str(tmp_path / "new.yaml") if mode != "none" else str(DEFAULT_CASSETTE),
               ucwa_record_mode=mode) as (addons, _):
        data = server_hooks.ServerConnectionHookData(
            server=connection.Server(address=("127.0.0.1", 9)), client=tflow.tclient_conn())
        addons[-1].server_connect(data)
    assert (data.server.error is not None) is refused


async def test_a_locked_once_cassette_refuses_server_connections_too(tmp_path):
    with proxy(ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="once") as (addons, _):
        guard = addons[-1]
        assert isinstance(guard, UcwaOfflineGuard)
        data = server_hooks.ServerConnectionHookData(server=connection.Server(address=("127.0.0.1", 9)),
                                                     client=tflow.tclient_conn())
        guard.server_connect(data)
    assert data.server.error


async def test_online_a_failing_hook_is_one_line_and_the_request_goes_on(monkeypatch, tmp_path, caplog):
    def explode(*args: Any) -> None:
        raise ValueError("bad")

    with proxy(ucwa_cassette=str(tmp_path / "c.yaml"), ucwa_record_mode="new_episodes",
               ucwa_inject=["GET x$=ServiceFailure"]) as (addons, _):
        faults = of_type(addons, UcwaFaults)
        monkeypatch.setattr(faults.plan, "pick", explode)
        flow = live()
        await run_request_hooks(addons, flow)
    assert flow.response is None, "not offline: the request goes to the server"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        f"ucwa-vcr: UcwaFaults.request failed on GET {MEETINGS}: ValueError: bad"]


HEADER_VALUES = [
    pytest.param(b"caf\xc3\xa9", id="utf-8"),
    pytest.param(b"caf\xe9", id="latin-1"),
    pytest.param(b"\xff\xfe\x00x", id="binary"),
]


@pytest.mark.parametrize("value", HEADER_VALUES)
def test_replayed_header_bytes_are_the_recorded_bytes(value):
    live_response = http.Response.make(200, b"{}", [(b"X-Name", value), (b"Content-Type", b"application/json")])
    recorded = Response(status=200, reason="OK", headers=list(live_response.headers.items(multi=True)), body=b"{}")
    replayed = response_of(recorded)
    assert replayed.headers.fields[0] == (b"X-Name", value)


async def test_the_stop_line_says_what_was_replayed_and_missed(caplog):
    caplog.set_level(logging.INFO)
    with proxy(ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="none") as (addons, _):
        await run_request_hooks(addons, live())
        await run_request_hooks(addons, live(MEETINGS + "/no-such-meeting"))
        caplog.clear()
        await addons[1].done()
    assert caplog.messages[-1] == f"ucwa-vcr: {DEFAULT_CASSETTE}: 1 replayed, 1 missed"


async def test_a_cassette_named_for_replay_that_does_not_exist_is_refused_with_its_path(tmp_path, caplog):
    missing = tmp_path / "tpyo.yaml"
    with proxy(ucwa_cassette=str(missing), ucwa_record_mode="none") as (addons, _):
        assert addons[1].path is None, "not loaded"
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [f"ucwa-vcr: ucwa_cassette: {missing}: no such cassette (record mode none replays an existing "
                      "one; check the path, or record it first with ucwa_record_mode=once)"]


def test_a_recorded_reason_outside_latin_1_is_sent_as_utf_8():
    assert response_of(Response(status=200, reason="Créé ✓")).data.reason == "Créé ✓".encode()
    assert response_of(Response(status=200, reason="Créé")).data.reason == "Créé".encode("latin-1")


def test_an_interaction_with_surrogate_headers_builds_a_flow():
    recorded = Interaction(Request(url=MEETINGS, headers=[("X-Who", "caf\udce9")]), Response(status=204))
    flow = flow_of(recorded)
    assert flow.request.headers.fields[0] == (b"X-Who", b"caf\xe9")


async def test_what_ucwa_vcr_answered_is_marked_for_mitmproxys_uis_with_the_why_as_comment():
    with proxy(ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="none",
               ucwa_inject=["DELETE myOnlineMeetings=ServiceFailure"]) as (addons, _):
        replayed, missed = live(), live(MEETINGS + "/no-such-meeting")
        faulted = tflow.tflow(req=http.Request.make("DELETE", MEETINGS, b"", {"Accept": "application/json"}))
        for flow in (replayed, missed, faulted):
            await run_request_hooks(addons, flow)
    assert (replayed.marked, missed.marked, faulted.marked) == (":arrow_forward:", ":x:", ":zap:")
    assert replayed.comment.startswith(f"ucwa-vcr: replayed from {DEFAULT_CASSETTE} (recorded 20")
    assert missed.comment.startswith(f"ucwa-vcr: no recorded answer for GET {MEETINGS}/no-such-meeting")
    assert faulted.comment.startswith("ucwa-vcr: fault inject 'DELETE myOnlineMeetings=ServiceFailure'")


async def test_the_stop_line_counts_the_faults_too(caplog):
    caplog.set_level(logging.INFO)
    with proxy(ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="none",
               ucwa_inject=["DELETE myOnlineMeetings=ServiceFailure"]) as (addons, tctx):
        tctx.options.update(ucwa_cassette=str(DEFAULT_CASSETTE))  # a cassette loaded again counts from zero
        await run_request_hooks(addons, live())
        await run_request_hooks(addons, tflow.tflow(req=http.Request.make("DELETE", MEETINGS, b"", {})))
        await addons[1].done()
    assert caplog.messages[-1] == f"ucwa-vcr: {DEFAULT_CASSETTE}: 1 replayed, 1 faulted, 0 missed"
