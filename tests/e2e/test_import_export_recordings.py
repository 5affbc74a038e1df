"""The cassette tools on what a real mitmdump wrote: its flow file (-w) and HAR (hardump), and a cassette it recorded.

The tools run in-process (`run_ucwa_vcr`); their input comes from a real recording through mitmdump and the fake
origin, which is what these tests are about: files written by mitmproxy itself import whole and redacted.
"""

from __future__ import annotations

import json

import pytest
from processes import files_containing
from ucwa_client import Client
from ucwa_vcr.cassette.codec import load_cassette
from ucwa_vcr.cassette.model import Cassette


@pytest.fixture
def captured(start_proxy, fake, canaries, tmp_path):
    """One session through mitmdump, kept three ways: our cassette, a flow file (-w) and mitmproxy's HAR."""
    cassette, flows, har = tmp_path / "rec.yaml", tmp_path / "session.mitm", tmp_path / "session.har"
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=all", f"save_stream_file={flows}",
                        f"hardump={har}")
    client = Client(proxy.session(), fake.discovery_url, canaries["password"])
    client.sign_in()
    client.call("list", "GET", client.meetings_url, accept="application/xml")
    client.call("create", "POST", client.meetings_url, json={"subject": "imported"})
    proxy.stop()
    return load_cassette(cassette), flows, har


def same_exchanges(a: Cassette, b: Cassette) -> None:
    assert [(i.request.method, i.request.url, i.response.status, i.response.body) for i in a.interactions] == \
           [(i.request.method, i.request.url, i.response.status, i.response.body) for i in b.interactions]


@pytest.mark.parametrize("source", ["session.mitm", "session.har"])
def test_import_flow_files_and_har_redacted(run_ucwa_vcr, captured, canaries, tmp_path, source):
    recorded, _, _ = captured
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "imported.yaml"
    out = run_ucwa_vcr("import", str(tmp_path / source), "-o", str(target))
    assert out.returncode == 0, out.stderr
    same_exchanges(load_cassette(target), recorded)
    assert files_containing(out_dir, list(canaries.values())) == []
    assert run_ucwa_vcr("lint", str(target)).returncode == 0


def test_export_import_round_trips_keep_every_exchange(run_ucwa_vcr, captured, tmp_path):
    recorded, _, _ = captured
    cassette = tmp_path / "rec.yaml"
    har, back = tmp_path / "export.har", tmp_path / "back.yaml"
    assert run_ucwa_vcr("export", str(cassette), "-o", str(har)).returncode == 0
    assert json.loads(har.read_text())["log"]["entries"][0]["request"]["method"] == "GET"
    assert run_ucwa_vcr("import", str(har), "-o", str(back)).returncode == 0
    same_exchanges(load_cassette(back), recorded)
    again = tmp_path / "again.har"
    assert run_ucwa_vcr("export", str(back), "-o", str(again)).returncode == 0
    assert run_ucwa_vcr("import", str(again), "-o", str(tmp_path / "again.yaml")).returncode == 0
    same_exchanges(load_cassette(tmp_path / "again.yaml"), recorded)


def test_import_append_adds_and_keeps_placeholders_apart(run_ucwa_vcr, captured, tmp_path):
    recorded, flows, har = captured
    target = tmp_path / "both.yaml"
    assert run_ucwa_vcr("import", str(flows), "-o", str(target)).returncode == 0
    first = load_cassette(target).interactions
    assert run_ucwa_vcr("import", str(har), "-o", str(target), "--append").returncode == 0
    both = load_cassette(target).interactions
    assert len(both) == 2 * len(recorded.interactions) and both[: len(first)] == first
    tokens = {dict(i.request.headers).get("Authorization") for i in both} - {None}
    assert len(tokens) == 2, "the second import's token gets its own placeholder"
    assert run_ucwa_vcr("lint", str(target)).returncode == 0


