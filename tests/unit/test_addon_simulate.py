"""ucwa_simulate wired into the proxy, in process: meeting requests the recording never saw are answered by the
model (marked, counted), everything else replays as before, and the model's changes reach a held event P-GET.

The model itself is tested in test_simulation*.py; a real mitmdump and client in tests/e2e/test_simulate.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import ucwa_vcr
from mitmproxy import http
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.test import taddons, tflow
from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.proxy import flows, replay
from ucwa_vcr.proxy.flows import ANSWERED_BY, Answer

pytestmark = pytest.mark.usefixtures("no_logged_errors")

APP = "https://fe1.contoso.com//v1/applications/833"
MEETINGS = f"{APP}/onlineMeetings/myOnlineMeetings"
JSON = "application/json"


@contextlib.contextmanager
def proxy(**options: Any) -> Iterator[list[Any]]:
    addons = ucwa_vcr.make_parts()
    with taddons.context(Proxyserver(), *addons) as tctx:
        tctx.configure(addons[1], **{"ucwa_cassette": str(DEFAULT_CASSETTE), "ucwa_record_mode": "none", **options})
        yield addons


async def send(addons: list[Any], method: str, url: str, body: Any = None, **headers: str) -> http.HTTPFlow:
    """A request through every addon's request hook, in chain order."""
    content = json.dumps(body).encode() if body is not None else b""
    fields = {"Accept": JSON, "Authorization": "Bearer cwt=any-live-token", **headers}
    if body is not None:
        fields["Content-Type"] = JSON
    flow = tflow.tflow(req=http.Request.make(method, url, content, fields))
    for addon in addons:
        hook = getattr(addon, "request", None)
        if hook is not None:
            result = hook(flow)
            if result is not None:
                await result
    return flow


def listed_subjects(flow: http.HTTPFlow) -> list[str]:
    embedded = json.loads(flow.response.content)["_embedded"]
    return [m.get("subject") for m in embedded.get("myOnlineMeeting", [])]


async def test_off_a_new_create_gets_the_recorded_meeting_as_before():
    with proxy() as addons:
        flow = await send(addons, "POST", MEETINGS, {"subject": "Never recorded"})
    assert flow.metadata[ANSWERED_BY] == Answer.REPLAYED, "a tape: bodies are not compared by default"
    assert json.loads(flow.response.content)["subject"] != "Never recorded"


async def test_on_a_create_the_recording_never_saw_is_answered_and_then_listed(caplog):
    caplog.set_level(logging.INFO)
    with proxy(ucwa_simulate=True) as addons:
        before = await send(addons, "GET", MEETINGS)
        created = await send(addons, "POST", MEETINGS, {"subject": "Never recorded", "attendees": []})
        after = await send(addons, "GET", MEETINGS)
        await addons[1].done()
    assert created.metadata[ANSWERED_BY] == Answer.SIMULATED and created.marked == ":crystal_ball:"
    assert created.response.status_code == 201, "the seed's create status"
    assert json.loads(created.response.content)["subject"] == "Never recorded"
    assert created.response.headers["Etag"].count("-") == 4, "a GUID ETag, as the seed's server sends"
    assert "Never recorded" in listed_subjects(after) and len(listed_subjects(after)) == len(listed_subjects(before)) + 1
    assert caplog.messages[-1] == f"ucwa-vcr: {DEFAULT_CASSETTE}: 0 replayed, 3 simulated, 0 missed"


async def test_on_requests_outside_the_meetings_replay_from_the_tape_or_miss():
    with proxy(ucwa_simulate=True) as addons:
        other = await send(addons, "GET", f"{APP}/me")
    assert other.metadata[ANSWERED_BY] == Answer.MISS


async def test_a_fault_rule_still_applies_before_the_model():
    with proxy(ucwa_simulate=True, ucwa_inject=["POST myOnlineMeetings$=TooManyOnlineMeetings"]) as addons:
        flow = await send(addons, "POST", MEETINGS, {"subject": "Blocked"})
    assert flow.response.status_code == 409 and flow.metadata[ANSWERED_BY] == Answer.FAULTED


async def test_the_models_changes_release_a_held_event_pget_with_their_events():
    with proxy(ucwa_simulate=True, ucwa_event_hold=30) as addons:
        held = asyncio.ensure_future(send(addons, "GET", f"{APP}/events?ack=1"))
        for _ in range(50):  # let the P-GET reach its hold (bounded turns of the loop, no timed sleep)
            await asyncio.sleep(0)
        assert not held.done()
        await send(addons, "POST", MEETINGS, {"subject": "Announced"})
        flow = await asyncio.wait_for(held, 5)
    body = json.loads(flow.response.content)
    assert flow.response.status_code == 200 and body["_links"]["next"]["href"].endswith("events?ack=2")
    assert flow.metadata[ANSWERED_BY] == Answer.SIMULATED and flow.marked == ":crystal_ball:", "not a miss"
    assert "added" in json.dumps(body["sender"]), body


async def test_simulate_while_recording_is_refused_with_a_warning(tmp_path, caplog):
    with proxy(ucwa_simulate=True, ucwa_record_mode="all", ucwa_cassette=str(tmp_path / "new.yaml")) as addons:
        assert addons[1].simulation is None
    assert "ucwa_simulate answers offline only" in caplog.text


async def test_a_recorded_answer_the_model_gives_back_is_built_once_as_replay_builds_it(monkeypatch):
    built = []
    for module in (flows, replay):  # the prebuilt answers', and the answers built per request
        monkeypatch.setattr(module, "response_of", lambda *args, real=flows.response_of: built.append(1) or real(*args))
    with proxy(ucwa_simulate=True) as addons:
        answered = [await send(addons, "GET", MEETINGS) for _ in range(4)]
    session = addons[1]
    recorded = next(i.response for i in session.matcher.interactions
                    if i.request.method == "GET" and i.request.url.endswith("myOnlineMeetings"))
    assert [f.metadata[ANSWERED_BY] for f in answered] == [Answer.SIMULATED] * 4
    assert {f.response.content for f in answered} == {recorded.body}, "byte for byte, as recorded"
    assert len(built) == 1, "one answer built, handed out four times"
