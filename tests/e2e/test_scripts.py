"""The project's scripts as a user runs them: the demo and the fake origin launcher."""

from __future__ import annotations

import os
import subprocess
import sys

import requests
from processes import ROOT, free_port, get_when_up
from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.cassette.cache import load_cassette


def test_demo_replays_the_seed_over_https(tmp_path):
    env = {**os.environ, "PORT": str(free_port()), "PYTHON": sys.executable}
    out = subprocess.run([str(ROOT / "scripts" / "demo")], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "$ curl --proxy http://127.0.0.1:" in out.stdout
    seed_json = load_cassette(DEFAULT_CASSETTE).interactions[0].response.body.decode()
    assert seed_json[:600] in out.stdout and "replayed offline from seed.yaml" in out.stdout


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
