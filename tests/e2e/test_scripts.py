"""The project's scripts as a user runs them: the demo and the fake origin launcher."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys

import requests
from processes import ROOT, free_port, get_when_up


def test_demo_records_shows_replays_offline_and_injects_a_409_while_the_usual_port_is_taken():
    env = {**os.environ, "PYTHON": sys.executable}
    with contextlib.ExitStack() as held:
        for port in (8080, 8081):  # the ports a user's own proxy or server may hold
            with contextlib.suppress(OSError):
                s = held.enter_context(socket.socket())
                s.bind(("127.0.0.1", port))
                s.listen()
        out = subprocess.run([str(ROOT / "scripts" / "demo")], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    steps = [text.index(f"== {n}.") for n in range(1, 6)]
    assert steps == sorted(steps), "in order"
    assert re.search(r"ucwa-vcr: 8 exchanges written to .*today\.yaml", text), "the recording's stop line"
    assert "#\tmethod\tpath\tstatus" in text and "POST\t{app}/onlineMeetings/myOnlineMeetings\t201" in text
    assert re.search(r"today\.yaml: 8 replayed, 0 missed", text), "replayed offline, nothing missed"
    assert '"subject": "Quarterly review"' in text and "more lines not shown)" in text, "a replayed answer, cut visibly"
    assert "got 409: Conflict/TooManyOnlineMeetings" in text and "== next" in text


def test_fake_ucwa_launcher_serves_discovery():
    port = free_port()
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.Popen([str(ROOT / "scripts" / "fake-ucwa"), "--port", str(port), "--max-meetings", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert f"fake UCWA origin on http://127.0.0.1:{port}" in proc.stdout.readline()
        r = get_when_up(requests.Session(), f"http://127.0.0.1:{port}/Autodiscover/AutodiscoverService.svc/root")
        assert r.status_code == 200 and "/oauth/user?originalDomain=" in r.json()["_links"]["user"]["href"]
    finally:
        proc.terminate()
        proc.wait(10)
