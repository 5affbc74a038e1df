"""scripts/bench --quick runs end to end and reports every figure; the numbers themselves are not judged here."""

from __future__ import annotations

import json
import subprocess
import sys

from processes import ROOT


def test_quick_bench_reports_every_section(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--quick", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads((tmp_path / "bench.json").read_text())
    targets = {(r["target"], r["clients"]) for r in results["replay"]}
    assert targets == {(t, c) for c in (1, 16) for t in ("ucwa-vcr replay", "mitmproxy --server-replay",
                                                         "ceiling (fixed response)", "fake origin directly")}
    assert all(r["rps"] > 0 and r["p99_ms"] >= r["p50_ms"] > 0 and r["non_2xx"] == 0 for r in results["replay"])
    assert [r["target"] for r in results["record"]] == ["ucwa-vcr record", "mitmdump pass-through"]
    assert results["record"][0]["interactions_written"] > 0
    assert [r["interactions"] for r in results["cassettes"]] == [1000, 10000]
    assert all(r["load_warm_s"] > 0 and r["match_us"] > 0 for r in results["cassettes"])
    assert set(results["ratios"]) == {"ucwa-vcr / server-replay", "ucwa-vcr / ceiling", "record / pass-through"}
    assert results["pytest"]["tests"] == 10
    table = (tmp_path / "bench.md").read_text()
    assert table.strip() == out.stdout.strip() and "| ucwa-vcr / ceiling |" in table
