"""End to end: a session with several people and meetings recorded through a real mitmdump with pseudonyms,
replayed offline, imported from a flow file and linted by the real `ucwa-vcr` command."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path
from urllib.parse import quote

from processes import BIN, files_containing
from ucwa_client import JSON, XML, Client
from ucwa_vcr.cassette.codec import load_cassette

KEY = "ucwa_pseudonym_key=e2e-test-key"
# The people of the session: the signed-in user (the fake origin's), and attendees and leaders the client plants.
PEOPLE = ["sip:ada.lovelace@planted-corp.com", "sip:grace.hopper@planted-corp.com", "alan.turing@planted-corp.com"]
PLANTED = ["planted-corp", "ada.lovelace", "grace.hopper", "alan.turing", "contoso.com", "Fake User", "sip:fake@"]


def encodings(values: list[str]) -> list[str]:
    """Each value plain, URL-encoded and JSON-escaped."""
    out = set(values)
    for v in values:
        out |= {quote(v, safe=""), json.dumps(v)[1:-1], v.replace("@", "%40"), v.replace(":", "%3A")}
    return sorted(out)


def people_session(client: Client) -> dict[str, int]:
    """Sign in, create meetings with attendees and leaders (JSON and XML), read them back, delete one."""
    client.sign_in()
    mine = client.meetings_url
    client.call("me", "GET", client.app["_embedded"]["me"]["_links"]["self"]["href"])
    first = client.call("create-1", "POST", mine, json={"subject": "Roadmap", "attendees": PEOPLE[:2],
                                                         "leaders": [PEOPLE[2]]})
    xml = ('<?xml version="1.0" encoding="utf-8"?><input xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa">'
           '<property name="subject">Sync</property><propertyList name="attendees">'
           f"<item>{PEOPLE[1]}</item><item>{PEOPLE[2]}</item></propertyList></input>")
    client.call("create-2", "POST", mine, accept=XML, data=xml, headers={"Content-Type": XML})
    href = first.json()["_links"]["self"]["href"]
    client.call("get-1", "GET", href)
    client.call("list", "GET", mine)
    client.call("list-xml", "GET", mine, accept=XML)
    client.call("delete-1", "DELETE", href)
    client.call("list-after", "GET", mine, accept=JSON)
    return {s.name: s.status for s in client.steps}


def record(start_proxy, fake, canaries, cassette: Path, *sets: str) -> Client:
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=all", "ucwa_pseudonymize=true", KEY, *sets)
    client = Client(proxy.session(), fake.discovery_url, canaries["password"])
    people_session(client)
    proxy.stop()
    return client


def test_recorded_with_pseudonyms_no_personal_value_on_disk_and_replay_is_coherent(start_proxy, fake, canaries,
                                                                                  tmp_path):
    folder, owner = tmp_path / "cassettes", tmp_path / "owner"
    folder.mkdir()
    cassette = folder / "people.yaml"
    recorded = record(start_proxy, fake, canaries, cassette, f"ucwa_pseudonym_map={owner / 'map.json'}")

    assert files_containing(folder, encodings(PLANTED) + list(canaries.values())) == []
    mapping = json.loads((owner / "map.json").read_text())
    assert mapping["domain"]["planted-corp.com"].endswith(".example")
    text = cassette.read_text()
    fake_ada = mapping["address"]["ada.lovelace"]
    assert text.count(f"sip:{fake_ada}@{mapping['domain']['planted-corp.com']}") >= 3, "one person everywhere"
    me = next(i for i in load_cassette(cassette).interactions if i.request.url.endswith("/me"))
    assert json.loads(me.response.body)["name"] == mapping["name"]["Fake User"]
    lint = subprocess.run([str(BIN / "ucwa-vcr"), "lint", "--pii", str(cassette)], capture_output=True, text=True,
                          timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr

    hits = fake.total_hits
    # bodies are matched too: the client's real identity (token form, attendees) must meet its pseudonyms
    proxy = start_proxy(*(f"ucwa_match_on={m}" for m in "method scheme host port path query accept auth body".split()),
                        cli=["replay", str(cassette), "--pseudonymize", "--pseudonym-key", "e2e-test-key"])
    replay = Client(proxy.session(), fake.discovery_url, "another-password")
    statuses = people_session(replay)
    proxy.stop()
    assert fake.total_hits == hits, "replay contacted the origin"
    assert statuses == {s.name: s.status for s in recorded.steps}
    assert all(s.headers.get("X-Ucwa-Vcr") != "miss" for s in replay.steps)
    # without the pseudonyms the same live requests do not meet the recorded ones
    proxy = start_proxy(*(f"ucwa_match_on={m}" for m in "method scheme host port path query accept auth body".split()),
                        cli=["replay", str(cassette)])
    plain = Client(proxy.session(), fake.discovery_url, "another-password")
    with contextlib.suppress(KeyError):  # the token request misses: no token in its answer
        plain.sign_in()
    proxy.stop()
    assert any(s.headers.get("X-Ucwa-Vcr") == "miss" for s in plain.steps)
    listed = {s.name: s.body.decode() for s in replay.steps}
    fake_id = mapping["id"][json.loads(recorded.steps[[s.name for s in recorded.steps].index("create-1")].body)
                            ["onlineMeetingId"]]
    assert fake_id in listed["get-1"] and fake_id in listed["list"] and fake_id in listed["list-xml"]


def test_import_with_pseudonyms_and_lint_pii(start_proxy, fake, canaries, tmp_path):
    flows, plain = tmp_path / "capture.mitm", tmp_path / "plain.yaml"
    proxy = start_proxy(f"ucwa_cassette={plain}", "ucwa_record_mode=all", f"save_stream_file={flows}")
    people_session(Client(proxy.session(), fake.discovery_url, canaries["password"]))
    proxy.stop()

    lint = subprocess.run([str(BIN / "ucwa-vcr"), "lint", "--pii", str(plain)], capture_output=True, text=True,
                          timeout=60)
    assert lint.returncode == 1 and "no pseudonym" in lint.stdout and "SIP URI" in lint.stdout
    assert not [v for v in PLANTED if v in lint.stdout + lint.stderr], "lint printed a personal value"

    out = tmp_path / "shared"
    out.mkdir()
    done = subprocess.run([str(BIN / "ucwa-vcr"), "import", str(flows), "-o", str(out / "shared.yaml"),
                           "--pseudonymize", "--pseudonym-key", "e2e-test-key"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert files_containing(out, encodings(PLANTED) + list(canaries.values())) == []
    redone = subprocess.run([str(BIN / "ucwa-vcr"), "redact", "--pseudonymize", "--pseudonym-key", "e2e-test-key",
                             str(plain), "-o", str(out / "redacted.yaml")], capture_output=True, text=True, timeout=120)
    assert redone.returncode == 0, redone.stderr
    assert files_containing(out, encodings(PLANTED)) == []
    # the same key gives the same pseudonyms: import and redact agree
    imported, redacted = load_cassette(out / "shared.yaml"), load_cassette(out / "redacted.yaml")
    assert [i.response.body for i in imported.interactions] == [i.response.body for i in redacted.interactions]
