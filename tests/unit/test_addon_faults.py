"""The fault addon in process: its `request`, `response` and `error` hooks and its commands, driven with
mitmproxy's test helpers (no mitmdump, no sockets). Waits are never waited: `asyncio.sleep` is replaced inside
the faults module by one that notes the delay asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from in_process import Asyncio, error_of, until
from mitmproxy import exceptions, flow, http
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.test import taddons, tflow
from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.batch import batch_requests, batch_responses
from ucwa_vcr.cassette.model import Cassette, Interaction, Request, Response, header
from ucwa_vcr.cassette.writer import save_cassette
from ucwa_vcr.fault_rules import HANG_SECONDS
from ucwa_vcr.protocol import ERRORS
from ucwa_vcr.proxy import faults as faults_module
from ucwa_vcr.proxy.faults import UcwaFaults
from ucwa_vcr.proxy.flows import ANSWERED_BY, FAULT_LABEL, Answer, error_response
from ucwa_vcr.proxy.replay import UcwaReplayer
from ucwa_vcr.proxy.session import CassetteSession

pytestmark = pytest.mark.usefixtures("no_logged_errors")

MEETINGS = "https://fe1.contoso.com//v1/applications/833/onlineMeetings/myOnlineMeetings"
JSON = "application/json"
XML = "application/xml"
MEETING = {"subject": "Quarterly sales numbers", "joinUrl": "https://meet.contoso.com/x", "etag": "1"}



@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the faults addon asked `asyncio.sleep` for (answered at once)."""
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)

    monkeypatch.setattr(faults_module, "asyncio", Asyncio(sleep=sleep))
    return delays


def request(method: str = "POST", url: str = MEETINGS, accept: str = JSON, body: bytes = b"{}") -> http.HTTPFlow:
    return tflow.tflow(req=http.Request.make(method, url, body, {"Accept": accept, "Content-Type": accept,
                                                                 "Authorization": "Bearer cwt=token"}))


def answer(f: http.HTTPFlow, body: bytes = json.dumps(MEETING).encode(), **headers: str) -> http.Response:
    """The real answer (a server's) arriving for a flow."""
    f.response = http.Response.make(200, body, {"Content-Type": JSON, **headers})
    return f.response


@contextlib.contextmanager
def faulting(**options: Any) -> Iterator[tuple[UcwaFaults, taddons.context]]:
    faults = UcwaFaults()
    with taddons.context(faults) as tctx:
        if options:
            tctx.configure(faults, **options)
        yield faults, tctx


def rules_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "faults.yaml"
    path.write_text(text)
    return str(path)



# --- answers made here ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("accept", [JSON, XML])
@pytest.mark.parametrize(("name", "status", "code", "subcode"), [
    ("TooManyOnlineMeetings", 409, "Conflict", "TooManyOnlineMeetings"),
    ("CannotRedirect", 410, "Gone", "CannotRedirect"),
    ("ServiceFailure", 500, "ServiceFailure", None),
])
async def test_error_answers_the_documented_error_as_accept_asks(accept, name, status, code, subcode):
    spec = f"POST myOnlineMeetings$={name}"
    with faulting(ucwa_inject=[spec]) as (faults, _tctx):
        f = request(accept=accept)
        await faults.request(f)
        passing = request("GET")
        await faults.request(passing)
    assert f.response is not None and f.response.status_code == status
    assert f.response.headers["content-type"] == f"{accept}; charset=utf-8"
    assert error_of(f.response) == (code, subcode, ERRORS[name].message)
    assert f.metadata[ANSWERED_BY] == Answer.FAULTED
    assert f.metadata[FAULT_LABEL] == f"inject {spec!r}"
    assert passing.response is None and passing.metadata == {}, "the rule is for POST only"


async def test_respond_gives_any_answer(tmp_path):
    rules = rules_file(tmp_path, """
faults:
  - name: busy
    match: {method: POST, headers: {Accept: xml}, body: Quarterly}
    respond: {status: 503, reason: Busy, headers: {Retry-After: '7'}, body: {code: ServiceUnavailable}}
  - match: {method: DELETE}
    respond: {status: 204}
  - match: {method: GET}
    respond: {body: plain words, headers: {Content-Type: text/plain}}
""")
    with faulting(ucwa_faults=rules) as (faults, _tctx):
        xml_post = request(accept=XML, body=b"<input><property name='subject'>Quarterly</property></input>")
        json_post = request(accept=JSON, body=b'{"subject": "Quarterly"}')
        delete, get = request("DELETE", body=b""), request("GET", body=b"")
        for f in (xml_post, json_post, delete, get):
            await faults.request(f)
    assert (xml_post.response.status_code, xml_post.response.reason) == (503, "Busy")
    assert xml_post.response.headers["Retry-After"] == "7"
    assert xml_post.response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(xml_post.response.content) == {"code": "ServiceUnavailable"}
    assert xml_post.metadata[FAULT_LABEL] == "busy"
    assert json_post.response is None and ANSWERED_BY not in json_post.metadata, "the header condition failed"
    assert (delete.response.status_code, delete.response.content) == (204, b"")
    assert get.response.content == b"plain words" and get.response.headers["Content-Type"] == "text/plain"
    assert all(f.metadata[ANSWERED_BY] == Answer.FAULTED for f in (xml_post, delete, get))


async def test_after_and_times(tmp_path):
    rules = rules_file(tmp_path, """
faults:
  - match: {method: POST, path: 'myOnlineMeetings$'}
    after: 2
    times: 2
    error: TooManyOnlineMeetings
""")
    with faulting(ucwa_faults=rules) as (faults, tctx):
        statuses = []
        for _ in range(6):
            f = request()
            await faults.request(f)
            statuses.append(f.response.status_code if f.response else None)
        listed = tctx.master.commands.execute("ucwa.faults.list")
    assert statuses == [None, None, 409, 409, None, None]
    assert listed == [f"{rules}: rule 1: POST myOnlineMeetings$ -> error TooManyOnlineMeetings after 2 times 2 "
                      "(fired 2/6)"]


async def test_rules_from_the_file_come_before_injected_ones(tmp_path):
    rules = rules_file(tmp_path, "faults:\n  - match: {path: myOnlineMeetings}\n    error: Conflict\n")
    with faulting(ucwa_faults=rules, ucwa_inject=["POST myOnlineMeetings$=ServiceFailure"]) as (faults, _tctx):
        f = request()
        await faults.request(f)
    assert f.response.status_code == 409 and f.metadata[FAULT_LABEL] == f"{rules}: rule 1"


async def test_reset_kills_the_flow_unanswered():
    with faulting(ucwa_inject=["myOnlineMeetings=reset"]) as (faults, _tctx):
        f = request()
        await faults.request(f)
    assert f.response is None
    assert f.error is not None and f.error.msg == flow.Error.KILLED_MESSAGE
    assert not f.killable and not f.live
    assert f.metadata[ANSWERED_BY] == Answer.FAULTED


@pytest.mark.parametrize(("rule", "waited"), [("{match: {path: myOnlineMeetings}, transport: hang}", HANG_SECONDS),
                                             ("{match: {path: myOnlineMeetings}, transport: hang, delay: 2}", 2)])
async def test_hang_holds_the_request_then_drops_it(tmp_path, slept, rule, waited):
    rules = rules_file(tmp_path, f"faults:\n  - {rule}\n")
    with faulting(ucwa_faults=rules) as (faults, _tctx):
        f = request()
        await faults.request(f)
    assert slept == [waited]
    assert f.response is None and f.error is not None and f.error.msg == flow.Error.KILLED_MESSAGE
    assert f.metadata[ANSWERED_BY] == Answer.FAULTED


async def test_empty_answers_200_with_no_body():
    with faulting(ucwa_inject=["GET myOnlineMeetings$=empty"]) as (faults, _tctx):
        f = request("GET", body=b"")
        await faults.request(f)
    assert f.response.status_code == 200
    assert f.response.raw_content == b"" and f.response.headers.get("content-length") == "0"
    assert f.metadata[ANSWERED_BY] == Answer.FAULTED


# --- delays -----------------------------------------------------------------------------------------------------

async def test_a_delay_alone_waits_then_lets_the_request_go_on(tmp_path, slept):
    rules = rules_file(tmp_path, "faults:\n  - match: {path: myOnlineMeetings}\n    delay: 1.5\n")
    with faulting(ucwa_faults=rules) as (faults, _tctx):
        f = request()
        await faults.request(f)
    assert slept == [1.5]
    assert f.response is None and f.error is None and ANSWERED_BY not in f.metadata, "a slow answer, not a fault"
    assert f.metadata[FAULT_LABEL] == f"{rules}: rule 1"


async def test_a_delay_with_an_action_waits_first(tmp_path, monkeypatch):
    f = request()
    seen: list[tuple[float, http.Response | None]] = []

    async def sleep(delay: float) -> None:
        seen.append((delay, f.response))

    monkeypatch.setattr(faults_module, "asyncio", Asyncio(sleep=sleep))
    rules = rules_file(tmp_path, "faults:\n  - match: {path: myOnlineMeetings}\n    delay: 0.5\n    error: Conflict\n")
    with faulting(ucwa_faults=rules) as (faults, _tctx):
        await faults.request(f)
    assert seen == [(0.5, None)], "waited before answering"
    assert f.response.status_code == 409


async def test_no_rule_no_wait(slept):
    with faulting(ucwa_inject=["DELETE myOnlineMeetings=Conflict"]) as (faults, _tctx):
        f = request()
        await faults.request(f)
    assert slept == [] and f.response is None and f.metadata == {}


# --- acting on the real answer ----------------------------------------------------------------------------------

async def test_truncate_breaks_the_real_answer_in_the_response_hook(tmp_path):
    rules = rules_file(tmp_path, "faults:\n  - match: {method: GET}\n    transport: truncate\n")
    with faulting(ucwa_faults=rules) as (faults, _tctx):
        f = request("GET", body=b"")
        await faults.request(f)
        assert f.response is None and ANSWERED_BY not in f.metadata, "the request goes on to the real answer"
        whole = json.dumps(MEETING).encode()
        answer(f, whole, **{"Transfer-Encoding": "chunked"})
        faults.response(f)
    assert f.response.headers["content-length"] == str(len(whole)), "the head promises the whole body"
    assert f.response.raw_content == whole[: len(whole) // 2]
    assert f.response.headers["connection"] == "close"
    assert "transfer-encoding" not in f.response.headers
    assert ANSWERED_BY not in f.metadata, "the real answer is recorded as the server sent it"


async def test_truncate_on_a_replayed_answer():
    session = CassetteSession()
    replayer = UcwaReplayer(session)
    faults = UcwaFaults(replayer=replayer)
    with taddons.context(Proxyserver(), session, faults, replayer) as tctx:
        tctx.configure(session, ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="none",
                       ucwa_inject=["GET myOnlineMeetings$=truncate"])
        f = request("GET", body=b"")
        await faults.request(f)
        await replayer.request(f)
        whole = f.response.raw_content
        faults.response(f)
    assert len(whole) == 2834 and f.response.headers["content-length"] == "2834"
    assert f.response.raw_content == whole[:1417]


async def test_malformed_sends_half_the_body_well_framed(tmp_path):
    rules = rules_file(tmp_path, "faults:\n  - match: {method: GET}\n    transport: malformed\n")
    with faulting(ucwa_faults=rules) as (faults, _tctx):
        f = request("GET", body=b"")
        await faults.request(f)
        assert f.response is None
        whole = json.dumps(MEETING).encode()
        answer(f, whole)
        faults.response(f)
    assert f.response.content == whole[: len(whole) // 2]
    assert f.response.headers["content-length"] == str(len(whole) // 2)
    with pytest.raises(ValueError):
        json.loads(f.response.content)


async def test_patch_changes_the_real_answer(tmp_path):
    rules = rules_file(tmp_path, """
faults:
  - match: {method: GET, path: 'myOnlineMeetings$'}
    patch: {set: {/subject: Moved, /extra/n: 1}, remove: [/joinUrl], headers: {ETag: '"42"'}}
""")
    with faulting(ucwa_faults=rules) as (faults, _tctx):
        f, other = request("GET", body=b""), request("GET", url=MEETINGS + "/810", body=b"")
        await faults.request(f)
        await faults.request(other)
        answer(f)
        answer(other)
        faults.response(f)
        faults.response(other)
    assert json.loads(f.response.content) == {"subject": "Moved", "etag": "1", "extra": {"n": 1}}
    assert f.response.headers["ETag"] == '"42"'
    assert f.response.headers["content-length"] == str(len(f.response.raw_content))
    assert json.loads(other.response.content) == MEETING and "ETag" not in other.response.headers, "not matched"
    assert ANSWERED_BY not in f.metadata


async def test_an_error_drops_what_was_to_act_on_the_answer(tmp_path):
    rules = rules_file(tmp_path, "faults:\n  - match: {method: GET}\n    transport: truncate\n")
    with faulting(ucwa_faults=rules) as (faults, _tctx):
        failed = request("GET", body=b"")
        await faults.request(failed)
        failed.error = flow.Error("connection refused")
        faults.error(failed)
        # should the same flow come back with an answer (a replayed flow, say), it is left whole
        failed.error = None
        whole = answer(failed).raw_content
        faults.response(failed)
    assert failed.response.raw_content == whole


async def test_flows_already_answered_or_failed_are_left_alone(slept):
    with faulting(ucwa_inject=["myOnlineMeetings=Conflict"]) as (faults, tctx):
        answered, failed = request(), request()
        answer(answered)
        failed.kill()
        await faults.request(answered)
        await faults.request(failed)
        listed = tctx.master.commands.execute("ucwa.faults.list")
    assert answered.response.status_code == 200 and ANSWERED_BY not in answered.metadata
    assert failed.response is None and ANSWERED_BY not in failed.metadata
    assert listed[0].endswith("(fired 0/0)"), "not counted either"


# --- commands ---------------------------------------------------------------------------------------------------

async def test_commands_add_list_clear_change_what_happens_next():
    with faulting() as (faults, tctx):
        first = request()
        await faults.request(first)
        assert first.response is None

        tctx.master.commands.execute("ucwa.faults.add 'POST myOnlineMeetings$=TooManyOnlineMeetings'")
        tctx.master.commands.execute("ucwa.faults.add '{match: {method: GET}, respond: {status: 202}, times: 1}'")
        post, get, get_again = request(), request("GET", body=b""), request("GET", body=b"")
        for f in (post, get, get_again):
            await faults.request(f)
        assert post.response.status_code == 409 and post.metadata[FAULT_LABEL] == "added rule 1"
        assert get.response.status_code == 202 and get.metadata[FAULT_LABEL] == "added rule 2"
        assert get_again.response is None, "times: 1"
        assert tctx.master.commands.execute("ucwa.faults.list") == [
            "added rule 1: POST myOnlineMeetings$ -> error TooManyOnlineMeetings (fired 1/1)",
            "added rule 2: GET * -> respond 202 times 1 (fired 1/2)"]

        with pytest.raises(exceptions.CommandError, match=r"^added rule 3: field 'error': unknown error 'Conflikt'; "
                                                          r"did you mean Conflict\?$"):
            tctx.master.commands.execute("ucwa.faults.add 'POST x=Conflikt'")
        with pytest.raises(exceptions.CommandError, match=r"^added rule 3:1: "):
            tctx.master.commands.execute("ucwa.faults.add '{match: [}'")
        assert len(tctx.master.commands.execute("ucwa.faults.list")) == 2, "a refused rule is not added"

        tctx.master.commands.execute("ucwa.faults.clear")
        assert tctx.master.commands.execute("ucwa.faults.list") == []
        after = request()
        await faults.request(after)
        assert after.response is None and after.metadata == {}


# --- bad rules --------------------------------------------------------------------------------------------------

BAD_RULES = {
    "unknown error": ("faults:\n  - match: {path: x}\n    error: Conflict\n  - match: {method: POST}\n    error: TooManyMeetings\n",
                      "ucwa_faults: {path}: rule 2: field 'error': unknown error 'TooManyMeetings'; "
                      "did you mean TooManyOnlineMeetings or TooManyRequests or TooManyApplications?"),
    "two actions": ("faults:\n  - match: {path: x}\n    error: Conflict\n    transport: reset\n",
                    "ucwa_faults: {path}: rule 1: fields 'error' and 'transport' both given; a rule has one action"),
    "bad regex": ("faults:\n  - match: {path: '('}\n    error: Conflict\n",
                  "ucwa_faults: {path}: rule 1: field 'match.path': '(' is not a regex: missing ), unterminated "
                  "subpattern at position 0"),
    "not yaml": ("faults:\n  - match: {path: x\n", "ucwa_faults: {path}:3: "),
    "not a mapping": ("- just a list\n", "ucwa_faults: {path}: a rules file is a mapping with a 'faults' list"),
}


@pytest.mark.parametrize("case", list(BAD_RULES))
async def test_a_bad_rules_file_is_refused_with_one_line_naming_the_option(tmp_path, case):
    text, message = BAD_RULES[case]
    good = rules_file(tmp_path, "faults:\n  - match: {method: POST}\n    error: Conflict\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with faulting(ucwa_faults=good) as (faults, tctx):
        faults.running()
        with pytest.raises(exceptions.OptionsError) as refused:
            tctx.options.update(ucwa_faults=str(bad))  # as `--set` / `set` do, once running
        assert str(refused.value).startswith(message.format(path=bad)) and "\n" not in str(refused.value)
        assert tctx.options.ucwa_faults == good, "rolled back"
        f = request()
        await faults.request(f)
        assert f.response.status_code == 409, "the rules in force stay in force"


async def test_a_missing_rules_file_is_refused(tmp_path):
    missing = tmp_path / "nope.yaml"
    with faulting() as (faults, tctx):
        faults.running()
        with pytest.raises(exceptions.OptionsError) as refused:
            tctx.options.update(ucwa_faults=str(missing))
    assert str(refused.value) == f"ucwa_faults: {missing}: no such rules file"


async def test_a_bad_inject_is_refused_with_one_line_naming_the_option():
    with faulting(ucwa_inject=["POST myOnlineMeetings$=Conflict"]) as (faults, tctx):
        faults.running()
        with pytest.raises(exceptions.OptionsError) as refused:
            tctx.options.update(ucwa_inject=["POST myOnlineMeetings$=Conflict", "POST x=TooManyOnlineMeeting"])
        assert str(refused.value) == ("ucwa_inject: inject 'POST x=TooManyOnlineMeeting': field 'error': unknown "
                                      "error 'TooManyOnlineMeeting'; did you mean TooManyOnlineMeetings or "
                                      "TooManyApplications or TooManyRequests?")
        with pytest.raises(exceptions.OptionsError, match=r"^ucwa_inject: 'oops': write METHOD PATH=ERROR"):
            tctx.options.update(ucwa_inject=["oops"])
        assert tctx.options.ucwa_inject == ["POST myOnlineMeetings$=Conflict"]
        assert tctx.master.commands.execute("ucwa.faults.list") == [
            "inject 'POST myOnlineMeetings$=Conflict': POST myOnlineMeetings$ -> error Conflict (fired 0/0)"]


async def test_a_refused_rules_change_keeps_the_rules_in_force():
    with faulting(ucwa_inject=["POST myOnlineMeetings$=Conflict"]) as (faults, tctx):
        faults.running()
        tctx.master.commands.execute("ucwa.faults.add 'GET myOnlineMeetings$=ServiceFailure'")
        await faults.request(request())
        before = tctx.master.commands.execute("ucwa.faults.list")
        with pytest.raises(exceptions.OptionsError):
            tctx.options.update(ucwa_inject=["oops"])  # a typo in mitmproxy's `set` command, refused
        assert tctx.master.commands.execute("ucwa.faults.list") == before
        get = request("GET", body=b"")
        await faults.request(get)
        assert get.response is not None and get.response.status_code == 500


async def test_a_bad_rules_file_at_start_is_logged_as_one_line(tmp_path, caplog):
    bad = rules_file(tmp_path, BAD_RULES["unknown error"][0])
    with faulting() as (faults, tctx):
        seen = len(caplog.records)
        tctx.configure(faults, ucwa_faults=bad)  # before `running`: logged, then mitmproxy exits 1
        assert faults.plan.rules == []
    errors = [r for r in caplog.records[seen:] if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["ucwa-vcr: " + BAD_RULES["unknown error"][1].format(path=bad)]
    assert errors[0].exc_info is None, "one line, no traceback"
    caplog.clear()  # expected


async def test_commands_list_add_clear_as_the_console_shows_them():
    faults = UcwaFaults()
    with taddons.context(faults) as tctx:
        tctx.configure(faults, ucwa_inject=["POST myOnlineMeetings$=TooManyOnlineMeetings"])
        assert tctx.master.commands.execute("ucwa.faults.list") == [
            "inject 'POST myOnlineMeetings$=TooManyOnlineMeetings': POST myOnlineMeetings$ -> error TooManyOnlineMeetings (fired 0/0)"]
        tctx.master.commands.execute("ucwa.faults.add '{match: {path: events}, transport: reset, times: 2}'")
        assert tctx.master.commands.execute("ucwa.faults.list")[1] == "added rule 2: * events -> transport reset times 2 (fired 0/0)"
        with pytest.raises(exceptions.CommandError, match="did you mean PGetReplaced"):
            tctx.master.commands.execute("ucwa.faults.add 'GET events=PGetReplace'")
        tctx.master.commands.execute("ucwa.faults.clear")
        assert tctx.master.commands.execute("ucwa.faults.list") == []


# --- session state: an expired token, an expired application (issue 13) -----------------------------------------

POOL = "https://lyncweb.contoso.com"
USER_URL = POOL + "/Autodiscover/AutodiscoverService.svc/root/oauth/user?originalDomain=contoso.com"
TOKEN_URL = POOL + "/WebTicket/oauthtoken"
APPS_URL = POOL + "/ucwa/oauth/v1/applications"
APP_URL = APPS_URL + "/10357810451"
APP_MEETINGS = APP_URL + "/onlineMeetings/myOnlineMeetings"
APP_EVENTS = APP_URL + "/events"
SEED_EVENTS = "https://fe1.contoso.com//v1/applications/833/events"
CHALLENGE_HEADERS = [
    ("content-type", "text/html"), ("server", "Microsoft-IIS/8.5"),
    ("www-authenticate", 'Bearer trusted_issuers="00000002-0000-0ff1-ce00-000000000000@contoso.com", '
                         'client_id="00000004-0000-0ff1-ce00-000000000000"'),
    ("www-authenticate", 'MsRtcOAuth href="https://lyncweb.contoso.com/WebTicket/oauthtoken",grant_type='
                         '"urn:microsoft.rtc:windows,urn:microsoft.rtc:anonmeeting,password"'),
    ("x-ms-server-fqdn", "W15-LYNC-SE1.contoso.com")]
CHALLENGE_PAGE = b"<html><body>Server Error 401 - Unauthorized: Access is denied.</body></html>"


def signin_cassette(tmp_path: Path) -> Path:
    """A recorded sign-in: the user resource's 401, the token, the user, the application, meetings, events."""
    signed = [("Authorization", "Bearer cwt=REDACTED-1"), ("Accept", JSON)]
    form = [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", JSON)]
    rows = [
        ("GET", USER_URL, [("Accept", JSON)], 401, "Unauthorized", CHALLENGE_HEADERS, CHALLENGE_PAGE),
        ("POST", TOKEN_URL, form, 200, "OK", [("Content-Type", JSON)], b'{"access_token":"cwt=REDACTED-1"}'),
        ("GET", USER_URL, signed, 200, "OK", [("Content-Type", JSON)], b'{"_links":{}}'),
        ("POST", APPS_URL, signed, 201, "Created", [("Content-Type", JSON)], b'{"id":"10357810451"}'),
        ("GET", APP_MEETINGS, signed, 200, "OK", [("Content-Type", JSON)], b'{"rel":"myOnlineMeetings"}'),
        ("GET", APP_EVENTS + "?ack=1", signed, 200, "OK", [("Content-Type", JSON)], b'{"sender":[]}'),
    ]
    path = tmp_path / "signin.yaml"
    save_cassette(path, Cassette([Interaction(request=Request(method=m, url=u, headers=h),
                                              response=Response(status=s, reason=r, headers=rh, body=b))
                                  for m, u, h, s, r, rh, b in rows]))
    return path


def signed(method: str, url: str, accept: str = JSON, body: bytes = b"") -> http.HTTPFlow:
    """A signed-in client's request (a bearer token)."""
    return request(method, url, accept, body)


def anonymous(method: str, url: str, body: bytes = b"") -> http.HTTPFlow:
    return tflow.tflow(req=http.Request.make(method, url, body, {"Accept": JSON}))


@contextlib.contextmanager
def replaying(cassette: Path, **options: Any) -> Iterator[tuple[UcwaFaults, UcwaReplayer, CassetteSession, taddons.context]]:
    """The session, the faults and the replayer as make_parts wires them, replaying `cassette` offline."""
    session = CassetteSession()
    replayer = UcwaReplayer(session)
    faults = UcwaFaults(session, replayer)
    with taddons.context(Proxyserver(), session, faults, replayer) as tctx:
        tctx.configure(session, ucwa_cassette=str(cassette), ucwa_record_mode="none", **options)
        yield faults, replayer, session, tctx


async def through(faults: UcwaFaults, replayer: UcwaReplayer, f: http.HTTPFlow) -> http.HTTPFlow:
    """A flow through the request hooks in make_parts' order, then the faults' response hook."""
    await faults.request(f)
    await replayer.request(f)
    if f.response is not None:
        faults.response(f)
    return f




async def test_an_expired_token_gets_the_recorded_401_until_a_token_is_fetched(tmp_path):
    rule = "GET myOnlineMeetings$=expire token after 1 times 1"
    with replaying(signin_cassette(tmp_path), ucwa_inject=[rule]) as (faults, replayer, session, tctx):
        first = await through(faults, replayer, signed("GET", APP_MEETINGS))
        expiring = await through(faults, replayer, signed("GET", APP_MEETINGS))
        also = await through(faults, replayer, signed("GET", APP_EVENTS + "?ack=1"))
        listed = tctx.master.commands.execute("ucwa.faults.list")
        probe = await through(faults, replayer, anonymous("GET", USER_URL))
        token = await through(faults, replayer, anonymous("POST", TOKEN_URL, b"grant_type=password"))
        again = await through(faults, replayer, signed("GET", APP_MEETINGS))
        assert tctx.master.commands.execute("ucwa.faults.list") == [listed[0].replace("1/2", "1/3")], "renewed"
    assert first.response.status_code == 200
    for f in (expiring, also):
        assert (f.response.status_code, f.response.reason) == (401, "Unauthorized")
        assert f.response.headers.get_all("www-authenticate") == [v for k, v in CHALLENGE_HEADERS if k == "www-authenticate"]
        assert list(f.response.headers.items(multi=True))[:2] == CHALLENGE_HEADERS[:2], "as recorded, in order"
        assert f.response.content == CHALLENGE_PAGE
        assert f.metadata[ANSWERED_BY] == Answer.FAULTED and f.marked == ":zap:"
        assert f.metadata[FAULT_LABEL] == f"inject {rule!r}"
    assert listed == [f"inject {rule!r}: GET myOnlineMeetings$ -> expire token after 1 times 1 (fired 1/2)",
                      f"session: token expired (inject {rule!r}): signed-in requests get the 401 challenge until a "
                      "token is fetched"]
    assert probe.response.status_code == 401 and probe.metadata[ANSWERED_BY] == Answer.REPLAYED, "the cassette's own"
    assert token.response.status_code == 200 and token.metadata[ANSWERED_BY] == Answer.REPLAYED
    assert again.response.status_code == 200 and again.metadata[ANSWERED_BY] == Answer.REPLAYED
    assert session.tally.faulted == 2 and session.tally.replayed == 4


async def test_a_token_fetch_that_failed_renews_nothing(tmp_path):
    with replaying(signin_cassette(tmp_path), ucwa_inject=["GET myOnlineMeetings$=expire token times 1",
                                                            "POST oauthtoken$=ServiceUnavailable times 1"]) as (
            faults, replayer, _session, _tctx):
        await through(faults, replayer, signed("GET", APP_MEETINGS))
        refused = await through(faults, replayer, anonymous("POST", TOKEN_URL))  # answered here, not the server's
        still = await through(faults, replayer, signed("GET", APP_MEETINGS))
        missed = await through(faults, replayer, anonymous("POST", POOL + "/webticket/OAuthToken"))  # no recorded one
        after_miss = await through(faults, replayer, signed("GET", APP_MEETINGS))
        fetched = await through(faults, replayer, anonymous("POST", TOKEN_URL))
        after = await through(faults, replayer, signed("GET", APP_MEETINGS))
    assert refused.response.status_code == 503 and still.response.status_code == 401
    assert missed.response.status_code == 500 and after_miss.response.status_code == 401
    assert fetched.response.status_code == 200 and after.response.status_code == 200


async def test_requests_the_expired_state_answers_are_not_counted_by_rules(tmp_path):
    rules = rules_file(tmp_path, """
faults:
  - {match: {method: GET, path: 'myOnlineMeetings$'}, times: 1, expire: token}
  - {match: {method: GET, path: 'myOnlineMeetings$'}, after: 1, times: 1, error: ServiceFailure}
""")
    with replaying(signin_cassette(tmp_path), ucwa_faults=rules) as (faults, replayer, _session, _tctx):
        statuses = [(await through(faults, replayer, signed("GET", APP_MEETINGS))).response.status_code
                    for _ in range(3)]
        await through(faults, replayer, anonymous("POST", TOKEN_URL))
        statuses += [(await through(faults, replayer, signed("GET", APP_MEETINGS))).response.status_code
                     for _ in range(2)]
        counts = [(r.seen, r.fired) for r in faults.plan.rules]
    assert statuses == [401, 401, 401, 500, 200], "the 2nd matching request the rules saw is the 1st after the fetch"
    assert counts == [(3, 1), (3, 1)]


async def test_without_a_recorded_401_one_is_built_for_the_request_origin():
    with faulting(ucwa_inject=["myOnlineMeetings=expire token"]) as (faults, _tctx):
        f = request("GET", body=b"")
        await faults.request(f)
    assert f.response.status_code == 401 and f.response.reason == "Unauthorized"
    assert f.response.headers.get_all("WWW-Authenticate")[1] == (
        'MsRtcOAuth href="https://fe1.contoso.com/WebTicket/oauthtoken",'
        'grant_type="urn:microsoft.rtc:windows,urn:microsoft.rtc:anonmeeting,password"')
    assert f.response.headers["content-type"] == "text/html" and b"401 - Unauthorized" in f.response.content


@pytest.mark.parametrize("accept", [JSON, XML])
@pytest.mark.parametrize(("rule", "subcode"), [
    ("{match: {path: myOnlineMeetings$}, times: 1, expire: application}", "ApplicationNotFound"),
    ("{match: {path: myOnlineMeetings$}, times: 1, expire: application, error: InactiveApplicationExpired}",
     "InactiveApplicationExpired"),
])
async def test_an_expired_application_gets_its_error_until_one_is_created(tmp_path, accept, rule, subcode):
    with replaying(signin_cassette(tmp_path), ucwa_faults=rules_file(tmp_path, f"faults:\n  - {rule}\n")) as (
            faults, replayer, _session, tctx):
        expiring = await through(faults, replayer, signed("GET", APP_MEETINGS, accept))
        events = await through(faults, replayer, signed("GET", APP_EVENTS + "?ack=1", accept))
        itself = await through(faults, replayer, signed("DELETE", APP_URL, accept))
        user = await through(faults, replayer, signed("GET", USER_URL))
        assert tctx.master.commands.execute("ucwa.faults.list")[1].startswith("session: application 10357810451 expired")
        created = await through(faults, replayer, signed("POST", APPS_URL, body=b"{}"))
        after = await through(faults, replayer, signed("GET", APP_MEETINGS))
    for f in (expiring, events, itself):
        assert f.response.status_code == 404 and error_of(f.response)[:2] == ("NotFound", subcode)
        assert f.response.headers["content-type"] == f"{accept}; charset=utf-8"
        assert f.metadata[ANSWERED_BY] == Answer.FAULTED
    assert user.response.status_code == 200, "outside the application"
    assert created.response.status_code == 201 and after.response.status_code == 200


async def test_an_event_pget_waiting_on_the_server_gets_the_error_when_its_answer_comes(tmp_path):
    with faulting(ucwa_inject=["POST myOnlineMeetings$=expire application times 1"]) as (faults, _tctx):
        waiting = request("GET", SEED_EVENTS + "?ack=4", body=b"")
        await faults.request(waiting)
        assert waiting.response is None, "on its way to the server"
        await faults.request(request())
        answer(waiting, b'{"sender":[]}')  # the server's answer, which the recorder keeps
        assert ANSWERED_BY not in waiting.metadata
        faults.response(waiting)
    assert waiting.response.status_code == 404 and error_of(waiting.response)[1] == "ApplicationNotFound"
    assert waiting.metadata[ANSWERED_BY] == Answer.FAULTED


async def test_a_held_event_pget_is_released_by_the_replayers_release_events(tmp_path):
    with replaying(DEFAULT_CASSETTE, ucwa_event_hold=30,
                   ucwa_inject=["GET myOnlineMeetings$=expire application times 1"]) as (faults, replayer, _s, _tctx):
        def release_events(expired: Callable[[str], bool]) -> None:  # what the lead adds to UcwaReplayer
            for (channel, _ack), held in replayer._held.items():
                if expired(channel):
                    held.wake.set()

        replayer.release_events = release_events  # type: ignore[attr-defined]
        held_flow, other_flow = request("GET", SEED_EVENTS + "?ack=4", body=b""), request("GET", SEED_EVENTS.replace("833", "9") + "?ack=4", body=b"")
        held = asyncio.create_task(through(faults, replayer, held_flow))
        other = asyncio.create_task(through(faults, replayer, other_flow))
        await until(lambda: len(replayer._held) == 2)
        expiring = await through(faults, replayer, request("GET", body=b""))
        await asyncio.wait_for(held, 5)
        assert not other.done(), "another application's channel stays held"
        other.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await other
    assert expiring.response.status_code == 404
    assert held_flow.response.status_code == 404 and error_of(held_flow.response)[1] == "ApplicationNotFound"
    assert held_flow.metadata[ANSWERED_BY] == Answer.FAULTED


async def test_the_token_lifetime_counts_from_each_fetch(tmp_path):
    now = [0.0]
    with replaying(signin_cassette(tmp_path), ucwa_token_lifetime=600) as (faults, replayer, _session, tctx):
        faults.clock = lambda: now[0]
        assert (await through(faults, replayer, signed("GET", APP_MEETINGS))).response.status_code == 200
        await through(faults, replayer, anonymous("POST", TOKEN_URL))
        now[0] = 599.5
        assert (await through(faults, replayer, signed("GET", APP_MEETINGS))).response.status_code == 200
        now[0] = 600
        expired = await through(faults, replayer, signed("GET", APP_MEETINGS))
        assert tctx.master.commands.execute("ucwa.faults.list") == [
            "session: token expired (ucwa_token_lifetime): signed-in requests get the 401 challenge until a token "
            "is fetched"]
        await through(faults, replayer, anonymous("POST", TOKEN_URL))
        now[0] = 1199
        renewed = await through(faults, replayer, signed("GET", APP_MEETINGS))
        tctx.options.update(ucwa_token_lifetime=0)
        now[0] = 10**6
        forever = await through(faults, replayer, signed("GET", APP_MEETINGS))
    assert expired.response.status_code == 401 and expired.metadata[FAULT_LABEL] == "ucwa_token_lifetime"
    assert expired.response.content == CHALLENGE_PAGE
    assert renewed.response.status_code == 200 and forever.response.status_code == 200


async def test_a_new_token_lifetime_keeps_the_rules_counts():
    with faulting(ucwa_inject=["POST myOnlineMeetings$=Conflict times 1"]) as (faults, tctx):
        faults.running()
        await faults.request(request())
        tctx.options.update(ucwa_token_lifetime=60)
        again = request()
        await faults.request(again)
        with pytest.raises(exceptions.OptionsError, match=r"^ucwa_token_lifetime: -1 is negative; use 0 or more$"):
            tctx.options.update(ucwa_token_lifetime=-1)
    assert again.response is None, "times 1: used up, not started over"
    assert faults.state.token_lifetime == 60


async def test_clear_ends_what_the_rules_expired():
    with faulting(ucwa_inject=["myOnlineMeetings=expire token times 1"]) as (faults, tctx):
        await faults.request(request())
        tctx.master.commands.execute("ucwa.faults.clear")
        f = request()
        await faults.request(f)
    assert f.response is None


async def test_rules_see_the_path_as_sent_even_with_leading_slashes():
    with faulting(ucwa_inject=["GET ^//ucwa/oauth/v1/applications/7/events$=expire application"]) as (faults, _tctx):
        f = request("GET", "https://fe1.contoso.com//ucwa/oauth/v1/applications/7/events?ack=2", body=b"")
        await faults.request(f)
        same_app = request("GET", "https://fe1.contoso.com/ucwa/oauth/v1/applications/7/me", body=b"")
        await faults.request(same_app)
    assert f.response.status_code == 404 and same_app.response.status_code == 404


async def test_while_recording_other_hosts_keep_their_tokens(tmp_path):
    session = CassetteSession()
    faults = UcwaFaults(session)
    with taddons.context(Proxyserver(), session, faults) as tctx:
        tctx.configure(session, ucwa_cassette=str(tmp_path / "live.yaml"), ucwa_record_mode="all",
                       ucwa_inject=["GET myOnlineMeetings$=expire token times 1"])
        expiring = request("GET", APP_MEETINGS, body=b"")
        await faults.request(expiring)
        graph = request("GET", "https://graph.microsoft.com/v1.0/me", body=b"")
        await faults.request(graph)
    assert expiring.response.status_code == 401
    assert graph.response is None and ANSWERED_BY not in graph.metadata, "not UCWA: passes to its server"


# --- the parts of a batch (BatchingRequests.md) -----------------------------------------------------------------

BATCH_APP = "/ucwa/oauth/v1/applications/833"
BATCH = "https://fe1.contoso.com" + BATCH_APP + "/batch"
MINE = BATCH_APP + "/onlineMeetings/myOnlineMeetings"
CREATE_BODY = b'{"subject": "batched"}'
LISTED, CREATED = b'{"rel": "myOnlineMeetings"}', b'{"subject": "batched", "etag": "7"}'


def batch_body(*parts: tuple[str, str, str, bytes]) -> bytes:
    """A batch as a client sends it, one part per (method, path, accept, body)."""
    out = b""
    for method, path, accept, body in parts:
        head = f"{method} {path} HTTP/1.1\r\nAccept: {accept}\r\n" + (f"Content-Type: {accept}\r\n" if body else "")
        out += f"--b0undary\r\nContent-Type: application/http; msgtype=request\r\n\r\n{head}\r\n".encode() + body + b"\r\n"
    return out + b"--b0undary--\r\n"


def batch(*parts: tuple[str, str, str, bytes]) -> http.HTTPFlow:
    return tflow.tflow(req=http.Request.make("POST", BATCH, batch_body(*parts), {
        "Accept": "multipart/batching", "Content-Type": "multipart/batching;boundary=b0undary",
        "Authorization": "Bearer cwt=token"}))


def batch_answer_body(*answers: tuple[int, bytes]) -> bytes:
    """A batch answer as a server writes it, one part per (status, JSON body)."""
    out = b""
    for status, body in answers:
        out += (f"--0ut-b0undary\r\nContent-Type: application/http; msgtype=response\r\n\r\nHTTP/1.1 {status} "
                f"{HTTPStatus(status).phrase}\r\nContent-Type: {JSON}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        out += body + b"\r\n"
    return out + b"--0ut-b0undary--\r\n"


BATCH_TYPE = 'multipart/batching; boundary="0ut-b0undary"'


def server_batch_answer(f: http.HTTPFlow, *answers: tuple[int, bytes]) -> None:
    f.response = http.Response.make(200, batch_answer_body(*answers), {"Content-Type": BATCH_TYPE})


def parts_sent(f: http.HTTPFlow) -> list[tuple[str, str]]:
    """(method, path) of the parts of a flow's batch as it goes on."""
    parts = batch_requests(Request(method="POST", url=f.request.url, headers=list(f.request.headers.items()),
                                   body=f.request.content or b"")) or []
    return [(p.method, p.url.removeprefix("https://fe1.contoso.com")) for p in parts]


def parts_got(f: http.HTTPFlow) -> list[Response]:
    answered = batch_responses(Response(headers=list(f.response.headers.items()), body=f.response.content))
    return [response for _, response in answered or []]


def batch_cassette(tmp_path: Path) -> Path:
    """A recorded batch: the meetings listed, one created."""
    request = Request(method="POST", url=BATCH, body=batch_body(("GET", MINE, JSON, b""), ("POST", MINE, JSON, CREATE_BODY)),
                      headers=[("Accept", "multipart/batching"), ("Authorization", "Bearer cwt=REDACTED-1"),
                               ("Content-Type", "multipart/batching;boundary=b0undary")])
    response = Response(status=200, reason="OK", headers=[("Content-Type", BATCH_TYPE)],
                        body=batch_answer_body((200, LISTED), (201, CREATED)))
    path = tmp_path / "batch.yaml"
    save_cassette(path, Cassette([Interaction(request=request, response=response)]))
    return path


@pytest.mark.parametrize("accept", [JSON, XML])
async def test_a_rule_on_a_part_answers_that_part_and_the_others_get_their_recorded_answers(tmp_path, accept):
    spec = "POST myOnlineMeetings$=TooManyOnlineMeetings"
    with replaying(batch_cassette(tmp_path), ucwa_inject=[spec]) as (faults, replayer, session, tctx):
        f = batch(("GET", MINE, JSON, b""), ("POST", MINE, accept, CREATE_BODY))
        await faults.request(f)
        assert parts_sent(f) == [("GET", MINE)], "the part answered here goes no further"
        await replayer.request(f)
        faults.response(f)
        listed = tctx.master.commands.execute("ucwa.faults.list")
    listing, refused = parts_got(f)
    assert (listing.status, listing.body) == (200, LISTED), "recorded"
    assert refused.status == 409 and refused.reason == "Conflict"
    assert header(refused.headers, "content-type") == f"{accept}; charset=utf-8", "by the part's Accept"
    assert error_of(http.Response.make(409, refused.body, {"Content-Type": accept}))[:2] == \
        ("Conflict", "TooManyOnlineMeetings")
    assert f.response.headers["content-type"] == BATCH_TYPE, "written as the cassette's batch answer is"
    assert f.metadata[ANSWERED_BY] == Answer.REPLAYED and f.metadata[FAULT_LABEL] == f"inject {spec!r}"
    assert f.marked == ":zap:" and f.comment.startswith(f"ucwa-vcr: fault inject {spec!r}: POST myOnlineMeetings$ ")
    assert f"on part 2 (POST {MINE})" in f.comment.splitlines()[0] and "replayed" in f.comment.splitlines()[1]
    assert (session.tally.replayed, session.tally.faulted, session.tally.missed) == (1, 1, 0)
    assert listed == [f"inject {spec!r}: POST myOnlineMeetings$ -> error TooManyOnlineMeetings (fired 1/1)"]


async def test_parts_are_counted_as_requests_of_their_own():
    rule = "POST myOnlineMeetings$=TooManyOnlineMeetings after 1 times 1"
    with faulting(ucwa_inject=[rule]) as (faults, tctx):
        f = batch(*[("POST", MINE, JSON, CREATE_BODY)] * 3)
        await faults.request(f)
        assert parts_sent(f) == [("POST", MINE), ("POST", MINE)], "the server sees the other two"
        server_batch_answer(f, (201, b'{"n": 1}'), (201, b'{"n": 3}'))
        faults.response(f)
        single = request("POST", "https://fe1.contoso.com" + MINE)
        await faults.request(single)
        listed = tctx.master.commands.execute("ucwa.faults.list")
    assert [(p.status, p.body) for p in parts_got(f)][::2] == [(201, b'{"n": 1}'), (201, b'{"n": 3}')]
    assert parts_got(f)[1].status == 409
    assert ANSWERED_BY not in f.metadata, "the server answered the batch: it is recorded as the server sent it"
    assert single.response is None, "times 1: used up by the part"
    assert listed[0].endswith("(fired 1/4)")


async def test_a_rule_on_the_batch_itself_acts_on_the_whole_batch():
    with faulting(ucwa_inject=["POST batch$=TooManyRequests", "POST myOnlineMeetings$=Conflict"]) as (faults, tctx):
        f = batch(("POST", MINE, JSON, CREATE_BODY), ("GET", MINE, JSON, b""))
        await faults.request(f)
        listed = tctx.master.commands.execute("ucwa.faults.list")
    assert f.response.status_code == 429 and error_of(f.response)[0] == "TooManyRequests"
    assert f.metadata[ANSWERED_BY] == Answer.FAULTED
    assert listed[1].endswith("(fired 0/0)"), "none of the batch's requests was run: no part counted"


@pytest.mark.parametrize("transport", ["reset", "hang"])
async def test_reset_or_hang_on_a_part_drops_the_whole_batch(slept, transport):
    with faulting(ucwa_inject=[f"POST myOnlineMeetings$={transport}", "GET myOnlineMeetings$=Conflict"]) as (
            faults, tctx):
        f = batch(("POST", MINE, JSON, CREATE_BODY), ("GET", MINE, JSON, b""))
        await faults.request(f)
        listed = tctx.master.commands.execute("ucwa.faults.list")
    assert f.response is None and f.error is not None and f.error.msg == flow.Error.KILLED_MESSAGE
    assert slept == ([HANG_SECONDS] if transport == "hang" else [])
    assert f.metadata[ANSWERED_BY] == Answer.FAULTED
    assert listed[1].endswith("(fired 0/0)"), "the batch is gone: its later parts are not seen"


async def test_truncate_on_a_part_truncates_the_whole_answer_after_the_parts_are_put_in():
    with faulting(ucwa_inject=["GET myOnlineMeetings$=truncate", "POST myOnlineMeetings$=Conflict"]) as (faults, _):
        f = batch(("GET", MINE, JSON, b""), ("POST", MINE, JSON, CREATE_BODY))
        await faults.request(f)
        assert parts_sent(f) == [("GET", MINE)]
        server_batch_answer(f, (200, LISTED))
        faults.response(f)
    whole = int(f.response.headers["content-length"])
    assert len(f.response.raw_content) == whole // 2 and f.response.headers["connection"] == "close"
    assert f.metadata[FAULT_LABEL] == "inject 'GET myOnlineMeetings$=truncate', inject 'POST myOnlineMeetings$=Conflict'"


async def test_malformed_and_patch_on_a_part_act_on_its_real_answer(tmp_path):
    rules = rules_file(tmp_path, """
faults:
  - match: {method: GET, path: 'myOnlineMeetings$'}
    transport: malformed
  - match: {method: POST, path: 'myOnlineMeetings$'}
    patch: {set: {/subject: Moved}, headers: {ETag: '"42"'}}
""")
    with faulting(ucwa_faults=rules) as (faults, _tctx):
        f = batch(("GET", MINE, JSON, b""), ("POST", MINE, JSON, CREATE_BODY), ("GET", BATCH_APP + "/me", JSON, b""))
        await faults.request(f)
        assert len(parts_sent(f)) == 3, "the server answers every part"
        server_batch_answer(f, (200, LISTED), (201, CREATED), (200, b'{"rel": "me"}'))
        faults.response(f)
    broken, patched, me = parts_got(f)
    assert broken.body == LISTED[: len(LISTED) // 2] and header(broken.headers, "content-length") == str(len(broken.body))
    assert json.loads(patched.body) == {"subject": "Moved", "etag": "7"} and header(patched.headers, "ETag") == '"42"'
    assert (patched.status, me.body) == (201, b'{"rel": "me"}')
    assert f.metadata[FAULT_LABEL] == f"{rules}: rule 1, {rules}: rule 2" and ANSWERED_BY not in f.metadata


async def test_the_longest_delay_of_the_parts_delays_the_batch(tmp_path, slept):
    rules = rules_file(tmp_path, """
faults:
  - {match: {method: GET}, delay: 2}
  - {match: {method: POST, path: myOnlineMeetings}, delay: 0.5, error: Conflict}
""")
    with faulting(ucwa_faults=rules) as (faults, _tctx):
        f = batch(("GET", MINE, JSON, b""), ("POST", MINE, JSON, CREATE_BODY))
        await faults.request(f)
    assert slept == [2]
    assert f.response is None and parts_sent(f) == [("GET", MINE)]


async def test_a_batch_whose_every_part_is_answered_here_is_answered_here():
    with faulting(ucwa_inject=["myOnlineMeetings$=Conflict", "/me$=empty"]) as (faults, _tctx):
        f = batch(("POST", MINE, XML, CREATE_BODY), ("GET", BATCH_APP + "/me", JSON, b""))
        await faults.request(f)
    assert f.response is not None and f.metadata[ANSWERED_BY] == Answer.FAULTED, "never recorded as the server's"
    assert f.response.status_code == 200 and f.response.headers["content-type"].startswith("multipart/batching; ")
    conflict, empty = parts_got(f)
    assert conflict.status == 409 and b"<subcode>" not in conflict.body and b"<code>Conflict</code>" in conflict.body
    assert (empty.status, empty.body) == (200, b"")


async def test_an_application_expired_by_a_part_answers_that_part_and_the_later_ones():
    with faulting(ucwa_inject=["GET myOnlineMeetings$=expire application times 1"]) as (faults, tctx):
        f = batch(("GET", BATCH_APP + "/me", JSON, b""), ("GET", MINE, XML, b""), ("POST", MINE, JSON, CREATE_BODY))
        await faults.request(f)
        assert parts_sent(f) == [("GET", BATCH_APP + "/me")]
        server_batch_answer(f, (200, b'{"rel": "me"}'))
        faults.response(f)
        after = batch(("GET", MINE, JSON, b""))
        await faults.request(after)
    me, expired, too = parts_got(f)
    assert me.status == 200 and (expired.status, too.status) == (404, 404)
    assert b"<subcode>ApplicationNotFound</subcode>" in expired.body and b'"ApplicationNotFound"' in too.body
    assert f.metadata[FAULT_LABEL] == "inject 'GET myOnlineMeetings$=expire application times 1'"
    assert after.response.status_code == 404, "the batch itself is under the expired application"


async def test_an_answer_that_answers_the_batch_whole_is_left_as_it_is(caplog):
    with faulting(ucwa_inject=["POST myOnlineMeetings$=Conflict"]) as (faults, _tctx):
        f = batch(("GET", MINE, JSON, b""), ("POST", MINE, JSON, CREATE_BODY))
        await faults.request(f)
        f.response = error_response("TooManyRequests", JSON)  # the server refused the whole batch
        faults.response(f)
    assert f.response.status_code == 429
    assert "does not answer its 1 part: its faulted parts are not in it" in caplog.text


async def test_a_batch_no_rule_matches_goes_on_untouched():
    with faulting(ucwa_inject=["DELETE myOnlineMeetings$=Conflict"]) as (faults, _tctx):
        f = batch(("GET", MINE, JSON, b""), ("POST", MINE, JSON, CREATE_BODY))
        sent = f.request.content
        await faults.request(f)
        server_batch_answer(f, (200, LISTED), (201, CREATED))
        answered = f.response.content
        faults.response(f)
    assert f.request.content == sent and f.response.content == answered and f.metadata == {}


async def test_a_rule_on_the_batch_and_one_on_a_part_both_act(tmp_path, slept):
    rules = rules_file(tmp_path, "faults:\n  - {match: {path: 'batch$'}, delay: 1}\n")
    with faulting(ucwa_faults=rules, ucwa_inject=["POST myOnlineMeetings$=Conflict"]) as (faults, _tctx):
        f = batch(("GET", MINE, JSON, b""), ("POST", MINE, JSON, CREATE_BODY))
        await faults.request(f)
        server_batch_answer(f, (200, LISTED))
        faults.response(f)
    assert slept == [1]
    assert [p.status for p in parts_got(f)] == [200, 409]
    assert f.metadata[FAULT_LABEL] == f"{rules}: rule 1, inject 'POST myOnlineMeetings$=Conflict'"
    on_batch, on_part = f.comment.splitlines()
    assert on_batch.startswith(f"ucwa-vcr: fault {rules}: rule 1: * batch$ -> delay")
    assert on_part.endswith(f"on part 2 (POST {MINE})")
