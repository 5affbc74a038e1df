"""The ucwa-vcr command and mitmdump -s addons/ucwa.py as users run them: replay the seed, refuse bad input."""

from __future__ import annotations

import json
import subprocess
import threading

import pytest
import requests
import ucwa_vcr
from processes import BIN, SCRIPT, Proxy, files_containing, free_port
from ucwa_client import Client
from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.cassette.codec import COMPLETE, load_cassette
from ucwa_vcr.cassette.model import Cassette
from ucwa_vcr.cassette.writer import save_cassette

SEED_URL = "https://fe1.contoso.com//v1/applications/833/onlineMeetings/myOnlineMeetings"


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(("accept", "needle"), [("application/json", b'"rel" : "myOnlineMeetings"'),
                                                 ("application/xml", b'<resource rel="myOnlineMeetings"')])
def test_replay_without_cassette_serves_the_seed_over_https_offline(start_proxy, accept, needle):
    proxy = start_proxy(cli=["replay", "-q"])
    seed = next(i for i in load_cassette(DEFAULT_CASSETTE).interactions
                if ("Accept", accept) in i.request.headers)
    out = subprocess.run(["curl", "-sS", "--suppress-connect-headers", "-D", "-", "--proxy", proxy.url, "--cacert", str(proxy.ca),
                          "-H", f"Accept: {accept}", "-H", "Authorization: Bearer cwt=any-token", SEED_URL], capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") or head.startswith(b"HTTP/2 200")
    assert needle in body and body == seed.response.body
    assert f"content-length: {len(body)}".encode() in head.lower()
    assert proxy.stop() == "", "-q: only warnings and errors (no connection lines, no flows, no start line)"


def test_bad_record_mode_names_the_valid_ones():
    out = run(str(BIN / "mitmdump"), "-s", str(SCRIPT), "--listen-port", str(free_port()),
              "--set", "ucwa_record_mode=sometimes")
    assert out.returncode != 0
    assert "ucwa_record_mode: 'sometimes' is not a record mode; use one of once, new_episodes, none, all" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


def test_unwritable_cassette_fails_at_start_with_path_and_reason(tmp_path):
    target = tmp_path / "no-such-folder" / "today.yaml"
    out = run(str(BIN / "ucwa-vcr"), "record", str(target), "--listen-port", str(free_port()))
    assert out.returncode != 0
    assert f"cannot write cassette {target}: folder {target.parent} does not exist" in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr


@pytest.mark.parametrize("how", ["cli", "mitmdump"])
def test_a_cassette_to_replay_that_does_not_exist_is_refused_at_start_with_its_path(tmp_path, how):
    typo = tmp_path / "tpyo.yaml"
    port = str(free_port())
    if how == "cli":
        out = run(str(BIN / "ucwa-vcr"), "replay", str(typo), "--listen-port", port)
    else:
        out = run(str(BIN / "mitmdump"), "-s", str(SCRIPT), "--listen-port", port, "--set", f"ucwa_cassette={typo}",
                  "--set", "ucwa_record_mode=none")
    assert out.returncode != 0, "refused, not served as an empty cassette"
    assert f"ucwa_cassette: {typo}: no such cassette" in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_bad_cassette_is_refused_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ninteractions:\n- request: !!python/object/apply:os.system ['true']\n")
    out = run(str(BIN / "ucwa-vcr"), "replay", str(bad), "--listen-port", str(free_port()))
    assert out.returncode != 0
    assert f"{bad}:3: unsupported YAML tag" in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_a_tool_whose_reader_goes_away_stops_quietly(tmp_path):
    big = tmp_path / "big.yaml"
    seed = load_cassette(DEFAULT_CASSETTE)
    save_cassette(big, Cassette(seed.interactions * 2000))  # far more rows than a pipe buffers
    proc = subprocess.Popen([str(BIN / "ucwa-vcr"), "show", str(big)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stdout.readline()  # as `| head -1` does
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 141, "128 + SIGPIPE, as Unix tools end"
    assert err == b"", "no 'Broken pipe', no traceback"


def test_addon_prints_the_file_for_mitmdump_inside_the_package():
    out = run(str(BIN / "ucwa-vcr"), "addon")
    assert out.returncode == 0 and out.stdout.strip() == str(ucwa_vcr.ADDON_SCRIPT)
    assert ucwa_vcr.ADDON_SCRIPT.is_file() and SCRIPT.resolve() == ucwa_vcr.ADDON_SCRIPT.resolve()


def test_help_lists_the_commands_and_options():
    out = run(str(BIN / "ucwa-vcr"), "--help")
    assert out.returncode == 0 and "record" in out.stdout and "replay" in out.stdout
    assert all(tool in out.stdout for tool in ("show", "diff", "lint", "redact", "import", "export"))
    out = run(str(BIN / "ucwa-vcr"), "replay", "--help")
    assert "--reverse" in out.stdout and "--latency" in out.stdout and "seed" in out.stdout


def test_a_cassette_tool_refuses_bad_input_in_one_line_with_exit_code_2(tmp_path):
    """The console script itself; tests/unit/test_tools.py runs every tool in-process through the same main()."""
    out = subprocess.run([str(BIN / "ucwa-vcr"), "show", "missing.yaml"], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "missing" in out.stderr
    assert out.stderr.startswith("ucwa-vcr show: ") and out.stdout == ""
    assert "Traceback" not in out.stdout + out.stderr


def test_cli_record_meetings_only_then_replay(start_proxy, fake, canaries, tmp_path):
    cassette = tmp_path / "meetings.yaml"
    proxy = start_proxy(cli=["record", str(cassette), "--meetings-only", "-q", "--redact-field", "subject",
                             "--redact-header", "X-Client-Key"])
    client = Client(proxy.session(), fake.discovery_url, canaries["password"])
    client.sign_in()
    client.call("list", "GET", client.meetings_url)
    client.call("create", "POST", client.meetings_url, json={"subject": "board-review-xyz"},
                headers={"X-Client-Key": "key-4242"})
    proxy.stop()
    assert COMPLETE not in cassette.read_text(), "stopping the command leaves the cassette in its final form"
    recorded = load_cassette(cassette).interactions
    assert [(i.request.method, i.response.status) for i in recorded] == [("GET", 200), ("POST", 201)]
    assert files_containing(tmp_path, [*canaries.values(), "board-review-xyz", "key-4242"]) == []
    assert dict(recorded[1].request.headers)["X-Client-Key"].startswith("REDACTED-")
    assert json.loads(recorded[1].request.body)["subject"].startswith("REDACTED-")

    hits = fake.total_hits
    replay = start_proxy(cli=["replay", str(cassette), "-q"])
    answer = replay.session().get(fake.url + client.meetings_url, headers={"Accept": "application/json", **client.auth},
                                  timeout=10)
    assert answer.status_code == 200 and answer.content == recorded[0].response.body
    assert fake.total_hits == hits


def mitmdump_log_until(text: str, *args: str) -> str:
    """mitmdump's output up to the first line containing `text` (all of it if that never comes)."""
    proc = subprocess.Popen([str(BIN / "mitmdump"), "-s", str(SCRIPT), "--set", "ucwa_record_mode=none", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    give_up = threading.Timer(60, proc.kill)  # should `text` never come, readline() ends at the kill
    give_up.start()
    lines: list[str] = []
    try:
        while not lines or (text not in lines[-1] and lines[-1]):
            lines.append(proc.stdout.readline())
        return "".join(lines)
    finally:
        give_up.cancel()
        proc.terminate()
        proc.wait(10)


def test_mitmdump_listens_on_loopback_unless_told_otherwise(tmp_path):
    port = free_port()
    # mitmproxy 11 binds after `-s` scripts load; 12 binds before, and ucwa-vcr binds again, on loopback
    log = mitmdump_log_until(f"listening at 127.0.0.1:{port}", "--listen-port", str(port), f"--set=confdir={tmp_path}")
    assert f"listening at 127.0.0.1:{port}" in log and "other machines" not in log, log
    told = mitmdump_log_until("listening at", "--listen-host", "127.0.0.3", "--listen-port", str(port),
                              f"--set=confdir={tmp_path}")
    assert f"listening at 127.0.0.3:{port}" in told and "stopped" not in told, "an explicit --listen-host is kept"


def test_reverse_mode_for_clients_without_proxy_settings(start_proxy, fake, canaries, tmp_path):
    """A device that only knows a server address talks to ucwa-vcr as if it were the front end."""
    cassette = tmp_path / "device.yaml"
    port = free_port()
    # keep_host_header: the server builds its absolute links from the Host the device used, i.e. the proxy
    proxy = start_proxy("keep_host_header=true", cli=["record", str(cassette), "--reverse", fake.url, "-q"], port=port)
    device = requests.Session()
    device.trust_env = False
    discovery = f"http://127.0.0.1:{port}/Autodiscover/AutodiscoverService.svc/root"
    recorded = Client(device, discovery, canaries["password"])
    recorded.sign_in()
    recorded.call("list", "GET", recorded.meetings_url)
    proxy.stop()

    hits = fake.total_hits
    proxy = start_proxy("keep_host_header=true", cli=["replay", str(cassette), "--reverse", fake.url, "-q"], port=port)
    replayed = Client(device, discovery, "another-test-password")
    replayed.sign_in()
    replayed.call("list", "GET", replayed.meetings_url)
    assert fake.total_hits == hits
    assert [s.status for s in replayed.steps] == [s.status for s in recorded.steps]
    assert replayed.steps[-1].body == recorded.steps[-1].body


def test_upstream_mode_behind_a_corporate_proxy(start_proxy, fake, canaries, tmp_path):
    corporate_port = free_port()
    # a plain mitmdump as the corporate proxy; Proxy waits until it listens
    corporate = Proxy([str(BIN / "mitmdump"), "--listen-host", "127.0.0.1", "--listen-port", str(corporate_port),
                       "--set", f"confdir={tmp_path / 'corp'}"], corporate_port, tmp_path / "corp", tmp_path / "corp.log")
    try:
        cassette = tmp_path / "upstream.yaml"
        proxy = start_proxy(cli=["record", str(cassette), "--upstream", f"http://127.0.0.1:{corporate_port}"])
        client = Client(proxy.session(), fake.discovery_url, canaries["password"])
        client.sign_in()
        client.call("list", "GET", client.meetings_url)
        proxy.stop()
    finally:
        corporate_log = corporate.stop()
    assert len(load_cassette(cassette).interactions) == len(client.steps)
    origin_port = fake.url.rsplit(":", 1)[1]
    assert f"server connect 127.0.0.1:{origin_port}" in corporate_log, "not via the upstream"


def test_replay_flags_reach_the_proxy(start_proxy):
    proxy = start_proxy(cli=["replay", "--exhausted", "miss", "--event-hold", "1"])
    s = proxy.session()
    headers = {"Accept": "application/json", "Authorization": "Bearer cwt=t"}
    assert s.post(SEED_URL, json={}, headers=headers, timeout=20).status_code == 201
    again = s.post(SEED_URL, json={}, headers=headers, timeout=20)
    assert again.status_code == 500 and "the 1 recorded answer to this request was already used" in again.text
    idle = s.get(SEED_URL.replace("onlineMeetings/myOnlineMeetings", "events?ack=3"), headers=headers, timeout=20)
    assert idle.status_code == 200 and idle.json()["_links"]["next"]["href"].endswith("/events?ack=4")
    assert "for 1 s" in proxy.stop()
