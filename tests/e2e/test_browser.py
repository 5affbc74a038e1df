"""A real headless Chromium whose proxy setting points at ucwa-vcr: record against the fake origin, replay offline."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from processes import ROOT
from ucwa_vcr.cassette.codec import load_cassette
from ucwa_vcr.testing.fake_origin import PAGE

ARTIFACTS = ROOT / "artifacts"


def chromium(proxy_url: str, page: str, profile: Path, *action: str) -> subprocess.CompletedProcess[str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "Debian's chromium is needed (scripts/test installs it)"
    return subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={profile}", f"--proxy-server={proxy_url}",
                           "--proxy-bypass-list=<-loopback>",  # loopback too goes through the proxy
                           "--virtual-time-budget=20000", "--window-size=900,600", *action, page],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def meetings_in(dom: str) -> list[str]:
    assert "<title>done</title>" in dom, dom[-2000:]
    return re.findall(r"<li>(.*?)</li>", re.search(r'<ul id="meetings">(.*?)</ul>', dom).group(1))


def test_browser_records_then_replays_offline(start_proxy, fake, canaries, tmp_path):
    cassette = tmp_path / "browser.yaml"
    page = f"{fake.url}{PAGE}#password={canaries['password']}&subject=Browser%20sync"

    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=all")
    recorded = meetings_in(chromium(proxy.url, page, tmp_path / "profile1", "--dump-dom").stdout)
    proxy.stop()
    assert recorded == ["Browser sync"]
    assert any(i.request.url.endswith(PAGE) for i in load_cassette(cassette).interactions)
    assert canaries["password"] not in cassette.read_text() and canaries["token"] not in cassette.read_text()

    hits = fake.total_hits
    fake.stop()  # the UCWA server is out of reach from here on
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=none")
    replayed = meetings_in(chromium(proxy.url, page, tmp_path / "profile2", "--dump-dom").stdout)
    assert replayed == recorded
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "browser-replay.png"
    shot.unlink(missing_ok=True)
    proxy.stop()  # a fresh replay, so the page's second sign-in gets the recorded answers from the start
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=none")
    chromium(proxy.url, page, tmp_path / "profile3", f"--screenshot={shot}")
    assert shot.stat().st_size > 1000 and shot.read_bytes().startswith(b"\x89PNG")
    assert fake.total_hits == hits
