"""Fault injection through a real mitmdump / ucwa-vcr and a real client, in JSON and XML."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading

import pytest
import requests
from lxml import etree
from processes import BIN, SCRIPT, Proxy, free_port, get_when_up
from ucwa_client import Client
from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.cassette.codec import load_cassette

MEETINGS = "https://fe1.contoso.com//v1/applications/833/onlineMeetings/myOnlineMeetings"
NS = "{http://schemas.microsoft.com/rtc/2012/03/ucwa}"
FORMATS = {"json": "application/json", "xml": "application/xml"}
AUTH = {"Authorization": "Bearer cwt=test-token"}
SEED_POST = {fmt: next(i for i in load_cassette(DEFAULT_CASSETTE).interactions
                       if i.request.method == "POST" and ("Accept", accept) in i.request.headers)
             for fmt, accept in FORMATS.items()}


def error_of(r: requests.Response) -> tuple[str, str | None]:
    if "xml" in r.headers["Content-Type"]:
        root = etree.fromstring(r.content)
        assert root.tag == f"{NS}reason"
        return root.findtext(f"{NS}code"), root.findtext(f"{NS}subcode")
    data = r.json()
    return data["code"], data.get("subcode")


@pytest.fixture
def replay_with(start_proxy, tmp_path):
    """A replay proxy on the shipped seed cassette with these fault rules."""

    def start(rules: str, *sets: str):
        path = tmp_path / "faults.yaml"
        path.write_text(rules)
        return start_proxy(f"ucwa_cassette={DEFAULT_CASSETTE}", "ucwa_record_mode=none", f"ucwa_faults={path}", *sets)

    return start


def post(s: requests.Session, fmt: str, **kw) -> requests.Response:
    seed = SEED_POST[fmt].request
    return s.post(MEETINGS, data=seed.body, headers={"Accept": FORMATS[fmt], "Content-Type": FORMATS[fmt], **AUTH},
                  timeout=kw.pop("timeout", 20), **kw)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_third_create_answers_409_too_many_online_meetings(replay_with, fmt):
    proxy = replay_with("faults:\n  - match: {method: POST, path: 'myOnlineMeetings$'}\n"
                        "    after: 2\n    times: 1\n    error: TooManyOnlineMeetings\n")
    s = proxy.session()
    answers = [post(s, fmt) for _ in range(4)]
    assert [r.status_code for r in answers] == [201, 201, 409, 201]
    assert answers[0].content == SEED_POST[fmt].response.body
    assert error_of(answers[2]) == ("Conflict", "TooManyOnlineMeetings")
    assert FORMATS[fmt] in answers[2].headers["Content-Type"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(("name", "status", "code", "subcode"), [
    ("CallbackChannelError", 500, "ServiceFailure", "CallbackChannelError"),
    ("CannotRedirect", 410, "Gone", "CannotRedirect"),
    ("PGetReplaced", 409, "Conflict", "PGetReplaced"),
])
def test_documented_errors_in_both_formats(replay_with, fmt, name, status, code, subcode):
    proxy = replay_with(f"faults:\n  - match: {{path: myOnlineMeetings}}\n    error: {name}\n")
    r = post(proxy.session(), fmt)
    assert r.status_code == status and error_of(r) == (code, subcode)


def test_explicit_answer_header_and_body_conditions(replay_with):
    proxy = replay_with("faults:\n  - match: {method: POST, headers: {Accept: xml}, body: Quarterly}\n"
                        "    respond: {status: 503, reason: Busy, headers: {Retry-After: '7'}, body: {code: ServiceUnavailable}}\n")
    s = proxy.session()
    assert post(s, "json").status_code == 201  # Accept does not match
    r = post(s, "xml")
    assert (r.status_code, r.reason, r.headers["Retry-After"], r.json()) == (503, "Busy", "7", {"code": "ServiceUnavailable"})


def test_patch_changes_the_recorded_answer(replay_with):
    proxy = replay_with("faults:\n  - match: {method: POST}\n"
                        "    patch: {set: {/subject: Moved, /_links/self/href: /x}, remove: [/joinUrl], headers: {ETag: '\"9\"'}}\n")
    r = post(proxy.session(), "json")
    data = r.json()
    assert r.status_code == 201 and data["subject"] == "Moved" and data["_links"]["self"]["href"] == "/x"
    assert "joinUrl" not in data and r.headers["ETag"] == '"9"'
    assert data["onlineMeetingId"] == "IB88RLLY"


def test_delay_holds_one_request_without_blocking_others(replay_with, tmp_path):
    proxy = replay_with("faults:\n  - match: {method: POST}\n    delay: 30\n")
    s = proxy.session()
    answers: list[requests.Response] = []

    def slow() -> None:
        with contextlib.suppress(requests.RequestException):
            answers.append(post(proxy.session(), "json", timeout=60))

    held = threading.Thread(target=slow, daemon=True)
    held.start()
    # the proxy has the create (the rule fired on it) before anything is said about it being held
    proxy.wait_for_log(f"ucwa-vcr: fault {tmp_path / 'faults.yaml'}: rule 1 on POST {MEETINGS}")
    r = s.get(MEETINGS, headers={"Accept": "application/json", **AUTH}, timeout=20)
    assert r.status_code == 200
    assert held.is_alive() and not answers, "the delayed create is still waiting"
    assert "fault" in proxy.log


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_transport_faults(replay_with, fmt):
    proxy = replay_with("faults:\n"
                        "  - {match: {method: POST}, after: 0, times: 1, transport: reset}\n"
                        "  - {match: {method: POST}, after: 1, times: 1, transport: empty}\n"
                        "  - {match: {method: POST}, after: 2, times: 1, transport: malformed}\n"
                        "  - {match: {method: POST}, after: 3, times: 1, transport: truncate}\n"
                        "  - {match: {method: POST}, after: 4, times: 1, transport: hang, delay: 30}\n")
    s = proxy.session()
    with pytest.raises(requests.ConnectionError):
        post(s, fmt)
    empty = post(proxy.session(), fmt)
    assert empty.status_code == 200 and empty.content == b""
    malformed = post(proxy.session(), fmt)
    assert malformed.status_code == 201 and 0 < len(malformed.content) < len(SEED_POST[fmt].response.body)
    with pytest.raises((ValueError, etree.XMLSyntaxError)):
        json.loads(malformed.content) if fmt == "json" else etree.fromstring(malformed.content)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        post(proxy.session(), fmt)
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(proxy.session(), fmt, timeout=2)
    assert post(proxy.session(), fmt).status_code == 201  # every rule used up: the recorded answer again


def test_path_is_matched_without_the_query(replay_with):
    proxy = replay_with("faults:\n  - match: {method: POST, path: 'myOnlineMeetings$'}\n    error: TooManyOnlineMeetings\n")
    r = proxy.session().post(MEETINGS + "?via=test", json={}, headers={"Accept": "application/json", **AUTH}, timeout=20)
    assert r.status_code == 409 and error_of(r) == ("Conflict", "TooManyOnlineMeetings")


def test_bad_inject_names_its_option(start_proxy):
    out = subprocess.run([str(BIN / "ucwa-vcr"), "replay", "--listen-port", str(free_port()),
                          "--inject", "POST myOnlineMeetings$=TooManyMeetings"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "ucwa_inject: inject 'POST myOnlineMeetings$=TooManyMeetings': field 'error'" in out.stdout
    assert "did you mean TooManyOnlineMeetings" in out.stdout and "Traceback" not in out.stdout + out.stderr


def test_inject_shorthand_from_the_cli(start_proxy):
    proxy = start_proxy(cli=["replay", "-q", "--inject", "POST myOnlineMeetings$=TooManyOnlineMeetings",
                             "--inject", "GET myOnlineMeetings$=InvalidExchangeServerVersion"])
    s = proxy.session()
    assert error_of(post(s, "xml")) == ("Conflict", "TooManyOnlineMeetings")
    r = s.get(MEETINGS, headers={"Accept": "application/json", **AUTH}, timeout=20)
    assert r.status_code == 500 and error_of(r) == ("ServiceFailure", "InvalidExchangeServerVersion")


def test_faults_while_recording_are_not_recorded(start_proxy, fake, canaries, tmp_path):
    cassette = tmp_path / "live.yaml"
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=all",
                        "ucwa_inject=POST myOnlineMeetings$=CallbackChannelError")
    client = Client(proxy.session(), fake.discovery_url, canaries["password"])
    client.sign_in()
    hits = fake.total_hits
    r = client.call("create", "POST", client.meetings_url, json={"subject": "x"})
    assert r.status_code == 500 and error_of(r) == ("ServiceFailure", "CallbackChannelError")
    assert fake.total_hits == hits, "an injected error must not reach the server"
    client.call("list", "GET", client.meetings_url)
    proxy.stop()
    recorded = load_cassette(cassette).interactions
    assert [i.response.status for i in recorded][-1] == 200
    assert all(i.response.status != 500 for i in recorded)


def test_patched_live_answer_is_recorded_unpatched(start_proxy, fake, canaries, tmp_path):
    cassette = tmp_path / "live.yaml"
    rules = tmp_path / "faults.yaml"
    rules.write_text("faults:\n  - match: {method: GET, path: myOnlineMeetings$}\n    patch: {set: {/rel: patched}}\n")
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=all", f"ucwa_faults={rules}")
    client = Client(proxy.session(), fake.discovery_url, canaries["password"])
    client.sign_in()
    assert client.call("list", "GET", client.meetings_url).json()["rel"] == "patched"
    proxy.stop()
    assert json.loads(load_cassette(cassette).interactions[-1].response.body)["rel"] == "myOnlineMeetings"


@pytest.mark.parametrize(("rules", "message"), [
    ("faults:\n  - match: {path: x}\n    error: TooManyMeetings\n",
     "rule 1: field 'error': unknown error 'TooManyMeetings'; did you mean TooManyOnlineMeetings"),
    ("faults:\n  - match: {path: x}\n    error: Conflict\n  - match: {path: '('}\n    error: Conflict\n",
     "rule 2: field 'match.path': '(' is not a regex"),
    ("faults:\n  - match: {path: x}\n    times: 0\n    error: Conflict\n", "rule 1: field 'times': 0 is not a whole number"),
    ("faults:\n  - match: {path: x}\n    transport: explode\n", "rule 1: field 'transport': 'explode' is not one of"),
    ("faults:\n  - match: {path: x}\n", "rule 1: no action"),
    ("faults: [\n", ":2: "),
])
def test_bad_rules_file_is_refused_at_start_with_one_line(tmp_path, rules, message):
    path = tmp_path / "faults.yaml"
    path.write_text(rules)
    out = subprocess.run([str(BIN / "mitmdump"), "-s", str(SCRIPT), "--listen-port", str(free_port()),
                          "--set", f"ucwa_faults={path}"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    line = next(x for x in out.stdout.splitlines() if "ucwa_faults" in x)
    assert f"ucwa_faults: {path}" in line and message in line, line
    assert "Traceback" not in out.stdout + out.stderr


def test_commands_from_mitmweb_add_list_and_clear_faults_and_rewind(tmp_path):
    """The `ucwa.*` commands as mitmweb's command bar runs them: POST /commands/<name> on its web API."""
    from mitmproxy.version import VERSION

    port, web = free_port(), free_port()
    web_login = "test-password-web"
    auth = ["--set", "web_password=" + web_login] if int(VERSION.split(".")[0]) >= 12 else []  # 12 wants a login
    proxy = Proxy([str(BIN / "mitmweb"), "-s", str(SCRIPT), "--listen-host", "127.0.0.1", "--listen-port", str(port),
                   "--web-host", "127.0.0.1", "--web-port", str(web), "--set", "web_open_browser=false",
                   "--set", f"confdir={tmp_path / 'conf'}", "--set", f"ucwa_cassette={DEFAULT_CASSETTE}",
                   "--set", "ucwa_record_mode=none", "--set", "ucwa_exhausted=miss", *auth],
                  port, tmp_path / "conf", tmp_path / "mitmweb.log")
    try:
        api = requests.Session()
        api.trust_env = False
        api.headers["Authorization"] = f"Bearer {web_login}"
        assert get_when_up(api, f"http://127.0.0.1:{web}/").ok  # the web server may come up just after the proxy
        xsrf = "75637761767372"  # tornado's XSRF check: the header must repeat the cookie (11 and 12 name it apart)
        for name in ("_xsrf", "_mitmproxy_xsrf"):
            api.cookies.set(name, xsrf, domain="127.0.0.1", path="/")

        def command(name: str, *arguments: str) -> object:
            r = api.post(f"http://127.0.0.1:{web}/commands/{name}", json={"arguments": list(arguments)},
                         headers={"X-XSRFToken": xsrf}, timeout=10)
            assert r.ok and "error" not in r.json(), (r.status_code, r.text)
            return r.json()["value"]

        s = proxy.session()
        command("ucwa.faults.add", "POST myOnlineMeetings$=TooManyOnlineMeetings")
        assert command("ucwa.faults.list") == ["added rule 1: POST myOnlineMeetings$ -> error TooManyOnlineMeetings "
                                               "(fired 0/0)"]
        assert post(s, "json").status_code == 409
        command("ucwa.faults.clear")
        assert command("ucwa.faults.list") == []
        assert post(s, "json").status_code == 201
        assert post(s, "json").status_code == 500, "ucwa_exhausted=miss: the one recorded answer is used up"
        command("ucwa.rewind")
        assert post(s, "json").status_code == 201, "rewound: the recorded answer again"
    finally:
        proxy.stop()
