"""Benchmarks: ucwa-vcr against mitmproxy's own replay, a fixed-response ceiling and the origin.

Usage:
    scripts/bench            # the full run (a few minutes); writes artifacts/bench.json and .md
    scripts/bench --quick    # under a minute: shorter load runs, smaller cassettes

Everything runs on loopback in this process tree: a fake UCWA origin, mitmdump processes, and wrk
(Debian's) as the load generator with keep-alive connections. Every load run is bounded in time
(`wrk -d`) and every loop in count. Figures are ratios against baselines measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESOURCE = "/Autodiscover/AutodiscoverService.svc/root"
FIXED_RESPONSE = ROOT / "scripts" / "fixed_response.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@contextmanager
def process(argv: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def mitmdump(port: int, origin: str, *args: str) -> list[str]:
    return [str(BIN / "mitmdump"), "-q", "--listen-host", "127.0.0.1", "--listen-port", str(port),
            "--mode", f"reverse:{origin}", *args]


def wrk(url: str, clients: int, seconds: int) -> dict[str, float]:
    """Requests per second and p50/p99 latency (ms) from one bounded wrk run."""
    threads = min(clients, 2)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "--latency", "--timeout", "10s",
                          "-H", "Accept: application/json", url], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pct = {p: _ms(re.search(rf"^\s+{p}%\s+([\d.]+\w+)", out, re.M).group(1)) for p in ("50", "99")}  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": pct["50"], "p99_ms": pct["99"], "non_2xx": int(errors.group(1)) if errors else 0}


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def record_seed(origin: str, work: Path) -> tuple[Path, Path]:
    """One exchange with the origin, recorded both as a ucwa-vcr cassette and a mitmproxy flow file."""
    port = free_port()
    cassette, flows = work / "bench.yaml", work / "bench.mitm"
    argv = mitmdump(port, origin, "-s", str(ROOT / "addons" / "ucwa.py"), "--set", f"ucwa_cassette={cassette}",
                    "--set", "ucwa_record_mode=all", "-w", str(flows))
    with process(argv, port):
        subprocess.run(["curl", "-sS", "-o", "/dev/null", "-H", "Accept: application/json",
                        f"http://127.0.0.1:{port}{RESOURCE}"], check=True, timeout=30)
    return cassette, flows


def measure(origin: str, targets: dict[str, list[str] | None], clients: int, seconds: int, repeats: int,
            before_each: Any = None) -> list[dict[str, Any]]:
    """wrk against each target (mitmdump arguments, or None for the origin itself), in interleaved rounds;
    the run with the median throughput is reported, so one noisy run on a 2-core machine does not decide."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    for _ in range(repeats):
        for name, args in targets.items():
            if before_each:
                before_each(name)
            if args is None:
                runs[name].append(wrk(origin + RESOURCE, clients, seconds))
                continue
            port = free_port()
            with process(mitmdump(port, origin, *args), port):
                runs[name].append(wrk(f"http://127.0.0.1:{port}{RESOURCE}", clients, seconds))
    rows = []
    for name, results in runs.items():
        median = sorted(results, key=lambda r: r["rps"])[len(results) // 2]
        rows.append({"target": name, "clients": clients, **median, "runs_rps": [r["rps"] for r in results]})
    return rows


def replay_section(origin: str, work: Path, seconds: int, repeats: int) -> list[dict[str, Any]]:
    cassette, flows = record_seed(origin, work)
    targets: dict[str, list[str] | None] = {
        "ucwa-vcr replay": ["-s", str(ROOT / "addons" / "ucwa.py"), "--set", f"ucwa_cassette={cassette}",
                            "--set", "ucwa_record_mode=none"],
        "mitmproxy --server-replay": ["--server-replay", str(flows), "--set", "server_replay_reuse=true",
                                      "--set", "server_replay_extra=kill", "--set", "connection_strategy=lazy"],
        "ceiling (fixed response)": ["-s", str(FIXED_RESPONSE), "--set", "connection_strategy=lazy"],
        "fake origin directly": None,
    }
    return [row for clients in (1, 16) for row in measure(origin, targets, clients, seconds, repeats)]


def record_section(origin: str, work: Path, seconds: int, repeats: int) -> list[dict[str, Any]]:
    recorded = work / "recorded.yaml"
    targets: dict[str, list[str] | None] = {
        "ucwa-vcr record": ["-s", str(ROOT / "addons" / "ucwa.py"), "--set", f"ucwa_cassette={recorded}",
                            "--set", "ucwa_record_mode=all"],
        "mitmdump pass-through": [],
    }
    def fresh_cassette(name: str) -> None:
        if name == "ucwa-vcr record":
            recorded.unlink(missing_ok=True)

    rows = measure(origin, targets, 16, seconds, repeats, before_each=fresh_cassette)
    rows[0]["interactions_written"] = recorded.read_text().count("\n- request:") if recorded.exists() else 0
    return rows


CASSETTE_PROBE = textwrap.dedent("""
    import json, random, resource, sys, time
    from ucwa_vcr.cassette.cache import load_cassette
    from ucwa_vcr.cassette.writer import save_cassette
    from ucwa_vcr.match import Matcher
    path, samples = sys.argv[1], int(sys.argv[2])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    cassette = load_cassette(path)
    t1 = time.perf_counter()
    matcher = Matcher(cassette.interactions)
    t2 = time.perf_counter()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    rng = random.Random(1)
    requests = [rng.choice(cassette.interactions).request for _ in range(samples)]
    t3 = time.perf_counter()
    for r in requests:
        matcher.match(r)
    t4 = time.perf_counter()
    print(json.dumps({"load_s": t1 - t0, "index_s": t2 - t1, "peak_mib": peak_kib / 1024,
                      "match_us": (t4 - t3) / samples * 1e6}))
""")


def make_cassette(path: Path, count: int) -> None:
    """A cassette of `count` distinct meeting GETs with realistic small JSON answers."""
    from ucwa_vcr.cassette.model import Cassette, Interaction, Request, Response
    from ucwa_vcr.cassette.writer import save_cassette

    app = "https://fe1.contoso.com/ucwa/oauth/v1/applications/10934565897"
    interactions = []
    for i in range(count):
        href = f"{app}/onlineMeetings/myOnlineMeetings/M{i:06d}"
        body = json.dumps({"rel": "myOnlineMeeting", "subject": f"Meeting {i}", "onlineMeetingId": f"M{i:06d}",
                           "expirationTime": "\\/Date(1436925247778)\\/", "_links": {"self": {"href": href}}},
                          indent=1).encode()
        interactions.append(Interaction(
            Request(method="GET", url=href, headers=[("Accept", "application/json"),
                                                     ("Authorization", "Bearer cwt=REDACTED-1")]),
            Response(status=200, reason="OK", headers=[("Content-Type", "application/json; charset=utf-8"),
                                                       ("ETag", f'"{i}"')], body=body),
            started="2026-11-24T18:00:00.000+00:00", duration=0.01))
    save_cassette(path, Cassette(interactions))


def cassette_section(work: Path, sizes: list[int]) -> list[dict[str, Any]]:
    rows = []
    for count in sizes:
        path = work / f"c{count}.yaml"
        make_cassette(path, count)
        env = {**os.environ, "UCWA_VCR_CACHE": str(work / "cache")}
        cold, warm = (json.loads(subprocess.run([sys.executable, "-c", CASSETTE_PROBE, str(path), "2000"], env=env,
                                                capture_output=True, text=True, check=True, timeout=900).stdout)
                      for _ in range(2))  # the first load parses the YAML, the second finds the parse cached
        size_mib = path.stat().st_size / 2**20
        rows.append({"interactions": count, "file_mib": size_mib, "load_cold_s": cold["load_s"],
                     "load_warm_s": warm["load_s"], "index_s": warm["index_s"], "peak_cold_mib": cold["peak_mib"],
                     "peak_warm_mib": warm["peak_mib"], "memory_x_file": warm["peak_mib"] / size_mib,
                     "match_us": warm["match_us"]})
        path.unlink()
    return rows


PYTEST_SUITE = textwrap.dedent("""
    import pytest
    from ucwa_vcr import DEFAULT_CASSETTE
    N = {n}
    @pytest.mark.ucwa_cassette(str(DEFAULT_CASSETTE))  # replayed (mode none) cassettes must exist
    @pytest.mark.parametrize("i", range(N))
    def test_with_proxy(ucwa_proxy, i):
        assert ucwa_proxy.url
""")
PYTEST_CONTROL = textwrap.dedent("""
    import pytest
    N = {n}
    @pytest.mark.parametrize("i", range(N))
    def test_plain(i):
        assert i >= 0
""")


def _pytest_seconds(folder: Path, source: str, n: int) -> float:
    test = folder / "test_bench.py"
    test.write_text(source.format(n=n))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)], cwd=folder,
                   capture_output=True, check=True, timeout=600)
    return time.perf_counter() - started


def pytest_section(work: Path, n: int) -> dict[str, float]:
    folder = work / "suite"
    folder.mkdir()
    (folder / "pytest.ini").write_text("[pytest]\n")
    times = {}
    for name, source in (("plugin", PYTEST_SUITE), ("control", PYTEST_CONTROL)):
        times[name] = statistics.median(_pytest_seconds(folder, source, 2 * n) - _pytest_seconds(folder, source, n)
                                        for _ in range(3))
    return {"tests": n, "per_test_ms": (times["plugin"] - times["control"]) / n * 1000,
            "plugin_per_test_ms": times["plugin"] / n * 1000, "control_per_test_ms": times["control"] / n * 1000}


def report(results: dict[str, Any]) -> str:
    """The Markdown tables for the README."""
    lines = [f"`scripts/bench{' --quick' if results['quick'] else ''}` on {results['machine']}, "
             f"mitmproxy {results['mitmproxy']}, Python {results['python']}; each load figure is the median of "
             f"{results['runs_per_target']} interleaved {results['seconds_per_run']} s wrk runs.", "",
             "| replay target | clients | req/s | p50 ms | p99 ms | non-2xx |", "|---|---:|---:|---:|---:|---:|"]
    for r in results["replay"]:
        lines.append(f"| {r['target']} | {r['clients']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                     f"{r['non_2xx']} |")
    lines += ["", "| ratio | 1 client | 16 clients | target |", "|---|---:|---:|---|"]
    for name, target in (("ucwa-vcr / server-replay", "≥ 1.0"), ("ucwa-vcr / ceiling", "≥ 0.9 at 16")):
        ratio = results["ratios"][name]
        lines.append(f"| {name} | {ratio['1']:.2f} | {ratio['16']:.2f} | {target} |")
    rec = results["record"]
    lines += ["", "| record (16 clients) | req/s | p99 ms |", "|---|---:|---:|"]
    lines += [f"| {r['target']} | {r['rps']:.0f} | {r['p99_ms']:.2f} |" for r in rec]
    lines.append(f"| ratio record / pass-through (target ≥ 0.8) | {results['ratios']['record / pass-through']:.2f} | |")
    lines += ["", "| cassette | file MiB | load s (first) | load s (cached) | index s | peak MiB (first / cached) "
                  "| cached peak ÷ file | match µs |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["cassettes"]:
        lines.append(f"| {r['interactions']:,} | {r['file_mib']:.1f} | {r['load_cold_s']:.2f} | {r['load_warm_s']:.2f} "
                     f"| {r['index_s']:.2f} | {r['peak_cold_mib']:.0f} / {r['peak_warm_mib']:.0f} "
                     f"| {r['memory_x_file']:.1f} | {r['match_us']:.1f} |")
    p = results["pytest"]
    lines += ["", f"pytest plugin: {p['per_test_ms']:.1f} ms per test over a plain test "
                  f"({p['plugin_per_test_ms']:.1f} vs {p['control_per_test_ms']:.1f} ms, {p['tests']} tests, "
                  "session-wide proxy)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs and small cassettes (under a minute)")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts", help="folder for bench.json and bench.md")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        print("scripts/bench: needs wrk (apt-get install wrk)", file=sys.stderr)
        return 2
    import mitmproxy.version

    seconds, repeats = (1, 1) if args.quick else (5, 3)
    results: dict[str, Any] = {"quick": args.quick, "seconds_per_run": seconds, "runs_per_target": repeats,
                               "python": sys.version.split()[0],
                               "mitmproxy": mitmproxy.version.VERSION, "machine": f"{os.cpu_count()} cores"}
    with tempfile.TemporaryDirectory(prefix="ucwa-bench-") as tmp:
        work = Path(tmp)
        port = free_port()
        origin = f"http://127.0.0.1:{port}"
        with process([sys.executable, "-m", "ucwa_vcr.testing.fake_origin", "--port", str(port)], port):
            results["replay"] = replay_section(origin, work, seconds, repeats)
            results["record"] = record_section(origin, work, seconds, repeats)
        results["cassettes"] = cassette_section(work, [1000, 10000] if args.quick else [1000, 10000, 100000])
        results["pytest"] = pytest_section(work, 10 if args.quick else 50)
    rps = {(r["target"], r["clients"]): r["rps"] for r in results["replay"]}
    results["ratios"] = {
        "ucwa-vcr / server-replay": {str(c): rps[("ucwa-vcr replay", c)] / rps[("mitmproxy --server-replay", c)]
                                     for c in (1, 16)},
        "ucwa-vcr / ceiling": {str(c): rps[("ucwa-vcr replay", c)] / rps[("ceiling (fixed response)", c)]
                               for c in (1, 16)},
        "record / pass-through": results["record"][0]["rps"] / results["record"][1]["rps"],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(results, indent=1))
    table = report(results)
    (args.out / "bench.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
