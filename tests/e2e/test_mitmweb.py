"""What ucwa-vcr answered is visible in mitmproxy's UIs: mitmweb's flow list shows its mark and, as the flow's
comment, why (issue 15). Read through mitmweb's own HTTP API, as its web page reads it."""

from __future__ import annotations

import secrets
import subprocess

import requests
from processes import BIN, SCRIPT, Proxy, free_port, get_when_up, wait_for
from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.cassette.codec import load_cassette

SEED_URL = "https://fe1.contoso.com//v1/applications/833/onlineMeetings/myOnlineMeetings"
HEADERS = {"Accept": "application/json", "Authorization": "Bearer cwt=any-token"}
INJECT = "DELETE myOnlineMeetings=ServiceFailure"

# mitmweb's /flows gives a flow's mark as the emoji its UI draws (an unknown mark would be a red circle): ucwa-vcr
# marks ":arrow_forward:" (replayed), ":x:" (miss), ":zap:" (fault).
REPLAYED, MISS, FAULTED = "\N{BLACK RIGHT-POINTING TRIANGLE}", "\N{CROSS MARK}", "\N{HIGH VOLTAGE SIGN}"


def web_login() -> tuple[list[str], str]:
    """The mitmweb arguments that set a password for its web API, and that password, when this mitmweb has the
    `web_password` option (mitmproxy 12: the API answers 403 without it); none for mitmproxy 11, whose API is open."""
    options = subprocess.run([str(BIN / "mitmweb"), "--options"], capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL)
    assert options.returncode == 0, options.stderr
    if "\nweb_password:" not in options.stdout:
        return [], ""
    canary_password = secrets.token_urlsafe(16)
    return ["--set", f"web_password={canary_password}"], canary_password


def test_mitmweb_lists_replayed_missed_and_faulted_flows_with_ucwa_vcrs_mark_and_why(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")  # Proxy reads mitmweb's output from a file while it runs
    port, web = free_port(), free_port()
    auth, password = web_login()
    confdir = tmp_path / "conf"
    proxy = Proxy([str(BIN / "mitmweb"), "-s", str(SCRIPT), "--listen-host", "127.0.0.1", "--listen-port", str(port),
                   "--web-host", "127.0.0.1", "--web-port", str(web), "--set", "web_open_browser=false",
                   "--set", "ucwa_record_mode=none", "--set", f"ucwa_inject={INJECT}", "--set", f"confdir={confdir}",
                   *auth], port, confdir, tmp_path / "mitmweb.log")
    try:
        api = requests.Session()
        api.trust_env = False
        first = get_when_up(api, f"http://127.0.0.1:{web}/flows")  # the web server may come up just after the proxy
        if password:  # mitmproxy 12: the API is closed without the password, given as a bearer token
            assert first.status_code == 403, (first.status_code, first.text[:500])
            api.headers["Authorization"] = f"Bearer {password}"
        else:
            assert first.status_code == 200, (first.status_code, first.text[:500])

        s = proxy.session()
        replayed = s.get(SEED_URL, headers=HEADERS, timeout=20)
        missed = s.get(SEED_URL + "/999", headers=HEADERS, timeout=20)
        faulted = s.delete(SEED_URL, headers=HEADERS, timeout=20)
        assert (replayed.status_code, missed.status_code, faulted.status_code) == (200, 500, 500)
        assert missed.headers.get("X-Ucwa-Vcr") == "miss"

        flows: list[dict] = []

        def all_three_listed() -> bool:
            answer = api.get(f"http://127.0.0.1:{web}/flows", timeout=10)
            assert answer.status_code == 200, (answer.status_code, answer.text[:500])
            flows[:] = [f for f in answer.json() if f.get("response")]
            return len(flows) >= 3

        wait_for(all_three_listed, lambda: f"mitmweb lists {flows}", seconds=20)
    finally:
        log = proxy.stop()

    seen = {(f["request"]["method"], f["request"]["path"]): (f["marked"], f["comment"]) for f in flows}
    path = SEED_URL.removeprefix("https://fe1.contoso.com")
    assert set(seen) == {("GET", path), ("GET", path + "/999"), ("DELETE", path)}, (seen, log)

    seed = next(i for i in load_cassette(DEFAULT_CASSETTE).interactions
                if i.request.method == "GET" and ("Accept", "application/json") in i.request.headers)
    assert seen["GET", path] == (REPLAYED, f"ucwa-vcr: replayed from {DEFAULT_CASSETTE} (recorded {seed.started})")
    mark, why = seen["GET", path + "/999"]
    assert mark == MISS and why.startswith(f"ucwa-vcr: no recorded answer for GET {SEED_URL}/999"), why
    mark, why = seen["DELETE", path]
    assert mark == FAULTED and why.startswith(f"ucwa-vcr: fault inject '{INJECT}'"), why
