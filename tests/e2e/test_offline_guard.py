"""Offline means offline (issue 11): in record mode `none` no request reaches a server, even when every one of
ucwa-vcr's hooks fails.

The "server" is a bare TCP listener on loopback that counts the connections it accepts; the proxy is mitmdump in
regular mode with addons/ucwa.py, and for the failing case tests/e2e/raising_hooks.py after it.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from lxml import etree
from processes import Proxy, wait_for
from ucwa_vcr.cassette.model import Cassette, Interaction, Request, Response
from ucwa_vcr.cassette.writer import save_cassette

RAISING_HOOKS = Path(__file__).with_name("raising_hooks.py")
FAILING_INSIDE_HOOKS = Path(__file__).with_name("failing_inside_hooks.py")
NS = "{http://schemas.microsoft.com/rtc/2012/03/ucwa}"
APP = "/ucwa/oauth/v1/applications/123"
MEETINGS = APP + "/onlineMeetings/myOnlineMeetings"
JSON_SIGNED_IN = {"Accept": "application/json", "Authorization": "Bearer cwt=not-a-secret"}


class CountingListener:
    """A TCP listener on 127.0.0.1 that counts the connections it accepts, closing each at once."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.accepted = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="counting-listener", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    origin = CountingListener()
    with socket.create_connection(("127.0.0.1", int(origin.url.split(":")[1])), timeout=5):
        pass  # it counts what it accepts: the zeros below mean something
    wait_for(lambda: origin.accepted == 1, lambda: "the listener did not count a connection", seconds=5)
    origin.accepted = 0
    yield origin
    origin.stop()


@pytest.fixture
def offline_proxy(tmp_path: Path, listener: CountingListener, start_proxy: Callable[..., Proxy]) -> Callable[..., Proxy]:
    """mitmdump -s addons/ucwa.py [-s more scripts], record mode none, a cassette with one recorded GET of the
    listener's myOnlineMeetings."""
    cassette = tmp_path / "offline.yaml"
    answer = Response(status=200, reason="OK", headers=[("Content-Type", "application/json; charset=utf-8")],
                      body=b'{"rel":"myOnlineMeetings"}')
    save_cassette(cassette, Cassette(interactions=[Interaction(
        request=Request(method="GET", url=f"http://{listener.url}{MEETINGS}", headers=list(JSON_SIGNED_IN.items()),
                        body=b""), response=answer)]))

    def start(*scripts: Path, sets: tuple[str, ...] = ()) -> Proxy:
        return start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=none", *sets, scripts=scripts)

    return start


def send_all(proxy: Proxy, origin: str) -> dict[str, requests.Response]:
    """UCWA requests (recorded and not, JSON and XML, `//ucwa/`, over TLS too) and one that is not UCWA."""
    s = proxy.session()
    json_accept = JSON_SIGNED_IN
    return {
        "recorded GET": s.get(f"http://{origin}{MEETINGS}", headers=json_accept, timeout=15),
        "unrecorded POST": s.post(f"http://{origin}{MEETINGS}", json={"subject": "x"}, headers=json_accept,
                                  timeout=15),
        "doubled slash, XML": s.get(f"http://{origin}/{APP}/me", headers={"Accept": "application/xml"}, timeout=15),
        "not UCWA": s.get(f"http://{origin}/static/app.js", timeout=15),
        "over TLS": s.get(f"https://{origin}{MEETINGS}", headers=json_accept, timeout=15),
    }


def ucwa_error_code(r: requests.Response) -> str | None:
    if "xml" in r.headers.get("Content-Type", ""):
        return etree.fromstring(r.content).findtext(f"{NS}code")
    return json.loads(r.content).get("code")  # type: ignore[no-any-return]


def test_a_failure_inside_every_hook_gets_the_proxys_ucwa_error_and_reaches_no_server(offline_proxy, listener):
    proxy = offline_proxy(FAILING_INSIDE_HOOKS, sets=("ucwa_inject=DELETE nothing$=ServiceFailure",))
    proxy.wait_for_log("failing_inside_hooks: patched")
    answers = send_all(proxy, listener.url)
    log = proxy.stop()
    assert "failing_inside_hooks: FaultPlan.pick" in log and "failing_inside_hooks: CassetteSession.learn" in log
    assert "Addon error" not in log, "ucwa-vcr says what failed in one line; mitmproxy has nothing to catch"
    assert listener.accepted == 0, f"the proxy connected to the origin:\n{log}"
    for name, r in answers.items():
        assert (r.status_code, r.headers.get("X-Ucwa-Vcr")) == (500, "error"), f"{name}: {r.status_code} {r.text}"
        assert ucwa_error_code(r) == "ServiceFailure", name
        assert "UcwaFaults.request failed" in r.text and "nothing was forwarded" in r.text, name


def test_hooks_replaced_wholesale_still_reach_no_server(offline_proxy, listener):
    # Outside ucwa-vcr's own error handling: mitmproxy stops running a script's addons at the first exception,
    # so the offline guard's answer is skipped too. Its refusal of every server connection still holds, and
    # mitmproxy answers with its own 502 naming it.
    proxy = offline_proxy(RAISING_HOOKS)
    proxy.wait_for_log("raising_hooks: patched")
    assert "UcwaReplayer.request" in proxy.log and "UcwaRecorder.response" in proxy.log, proxy.log
    answers = send_all(proxy, listener.url)
    log = proxy.stop()
    assert "raising_hooks: Ucwa" in log, "the hooks did raise"
    assert listener.accepted == 0, f"the proxy connected to the origin:\n{log}"
    for name, r in answers.items():
        assert r.status_code == 502 and "ucwa-vcr: offline" in r.text, f"{name}: {r.status_code} {r.text}"


def test_offline_replay_reaches_no_server(offline_proxy, listener):
    proxy = offline_proxy()
    answers = send_all(proxy, listener.url)
    log = proxy.stop()
    assert listener.accepted == 0, f"the proxy connected to the origin:\n{log}"
    assert answers.pop("recorded GET").content == b'{"rel":"myOnlineMeetings"}'
    for name, r in answers.items():
        assert (r.status_code, r.headers.get("X-Ucwa-Vcr")) == (500, "miss"), f"{name}: {r.status_code} {r.text}"
