"""scripts/bench --quick runs end to end and reports every figure; the numbers themselves are not judged here."""

from __future__ import annotations

import json
import subprocess
import sys

from processes import ROOT

BENCH = ROOT / "scripts" / "bench.py"
REPLAY, SERVER_REPLAY, CEILING = "ucwa-vcr replay", "mitmproxy --server-replay", "ceiling (fixed response)"


def test_quick_bench_reports_every_section(tmp_path):
    out = subprocess.run([sys.executable, str(BENCH), "--quick", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads((tmp_path / "bench.json").read_text())
    expected = {
        "session": {(t, c) for c in (1, 16) for t in (REPLAY, SERVER_REPLAY, CEILING)},
        "single": {(t, c) for c in (1, 16) for t in (REPLAY, SERVER_REPLAY, CEILING, "fake origin directly")},
        "record": {("ucwa-vcr record", 16), ("mitmdump pass-through", 16)},
        "simulate": {(t, c) for c in (1, 16) for t in (REPLAY, "ucwa-vcr simulate")},
    }
    for section, targets in expected.items():
        assert {(r["target"], r["clients"]) for r in results[section]} == targets, section
        for r in results[section]:
            assert r["rps"] > 0 and r["p99_ms"] >= r["p50_ms"] > 0, (section, r)
            assert r["errors"] == 0, (section, r)  # every answer had the status expected for its request
    assert {r["mix"] for r in results["record"]} == {"session, repeatable part", "single"}
    assert all(r["interactions_written"] > 0 for r in results["record"] if r["target"] == "ucwa-vcr record")
    session = results["mixes"]["session"]
    assert session["requests"] > 20 and session["gzip"] > 0 and session["bearer"] > 0
    assert {"401", "404", "409", "412", "428"} <= set(session["statuses"])
    assert {"json", "xml"} <= set(session["answers"])
    ratios = {(r["ratio"], r["mix"], r["clients"]) for r in results["ratios"]}
    assert {(f"{REPLAY} / {SERVER_REPLAY}", "session", 16), (f"{REPLAY} / {CEILING}", "session", 1),
            ("ucwa-vcr record / mitmdump pass-through", "session, repeatable part", 16),
            ("ucwa-vcr simulate / ucwa-vcr replay", "session", 16)} <= ratios
    assert all(r["min"] <= r["median"] <= r["max"] for r in results["ratios"])
    assert [r["interactions"] for r in results["cassettes"]] == [1000, 10000]
    assert all(r["load_s"] > 0 and r["peak_mib"] > 0 and r["match_us"] > 0 for r in results["cassettes"])
    assert results["pytest"]["tests"] == 10
    table = (tmp_path / "bench.md").read_text()
    assert table.strip() == out.stdout.strip()
    assert f"| {REPLAY} / {CEILING} | session |" in table and "| session | session | ucwa-vcr replay | 16 |" in table


def test_only_takes_known_sections(tmp_path):
    out = subprocess.run([sys.executable, str(BENCH), "--only", "session,nonsense", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "nonsense" in out.stderr and not (tmp_path / "bench.json").exists()
