"""Benchmarks: ucwa-vcr against mitmproxy's own replay, a fixed-response ceiling and plain pass-through.

Usage:
    scripts/bench                          # the full run; writes artifacts/bench.json and artifacts/bench.md
    scripts/bench --quick                  # about a minute: one short round per comparison, smaller cassettes
    scripts/bench --only session,simulate  # some sections only (single, session, record, simulate, cassettes, pytest)

Everything runs on loopback in this process tree: a fake UCWA origin, mitmdump processes in reverse mode, and
wrk (Debian's) as the load generator, one keep-alive connection per thread, driven by scripts/bench_mix.lua:
it cycles through a request mix and counts every answer whose status is not the one recorded for its request
(or, for a target that answers otherwise by design, not the one it answers: the ceiling, ucwa_simulate's model).
Two mixes: a recorded UCWA session (scripts/bench_session.py: gzip answers, bearer tokens, JSON and XML, 4xx
answers) and the single uncompressed exchange of earlier benches. Every load run is bounded in time (`wrk -d`)
and every loop in count. Targets compared with each other run in interleaved rounds; a figure is the median of
the rounds, with their spread, and a ratio the median of the rounds' ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench_session import ROOT as DISCOVERY
from bench_session import (
    Exchange,
    SessionWalk,
    Step,
    describe_mix,
    fill_meetings,
    read_mix,
    repeated,
    write_answer,
    write_mix,
)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ADDON = ROOT / "addons" / "ucwa.py"
FIXED_RESPONSE = ROOT / "scripts" / "fixed_response.py"
MIX_SCRIPT = ROOT / "scripts" / "bench_mix.lua"
SECTIONS = ("single", "session", "record", "simulate", "cassettes", "pytest")
SESSION_SECTIONS = {"session", "record", "simulate"}
PASSWORD = "bench-password"
MEETINGS = 12  # the user's meetings before the session: enough for list answers to be compressed
CEILING_ANSWER = "meetings (JSON)"  # the session's answer the session ceiling gives to every request

# The targets and mixes, as the tables name them.
REPLAY = "ucwa-vcr replay"
SERVER_REPLAY = "mitmproxy --server-replay"
CEILING = "ceiling (fixed response)"
ORIGIN = "fake origin directly"
RECORD = "ucwa-vcr record"
PASS_THROUGH = "mitmdump pass-through"
SIMULATE = "ucwa-vcr simulate"
REPEATABLE = "session, repeatable part"  # the session's requests the origin answers the same when repeated

# (section, mix, numerator, denominator, clients, target): each ratio of rounds' req/s, and what it must reach.
RATIOS: tuple[tuple[str, str, str, str, tuple[int, ...], float], ...] = (
    ("session", "session", REPLAY, SERVER_REPLAY, (1, 16), 1.0),
    ("session", "session", REPLAY, CEILING, (1, 16), 0.9),
    ("single", "single", REPLAY, SERVER_REPLAY, (1, 16), 1.0),
    ("single", "single", REPLAY, CEILING, (1, 16), 0.9),
    ("record", REPEATABLE, RECORD, PASS_THROUGH, (16,), 0.85),
    ("record", "single", RECORD, PASS_THROUGH, (16,), 0.85),
    ("simulate", "session", SIMULATE, REPLAY, (1, 16), 0.9),
)
PYTEST_TARGET_MS = 5.0


@dataclass(frozen=True)
class Load:
    """How long each wrk run lasts, and how many interleaved rounds a comparison gets."""

    seconds: int
    rounds: int


@dataclass(frozen=True)
class Mix:
    """A request mix as wrk sends it: its name in the tables, and its Lua file (for scripts/bench_mix.lua)."""

    name: str
    path: Path


@dataclass(frozen=True)
class Target:
    """What wrk runs against: mitmdump with `args` (reverse mode to the origin is added), or the origin itself (None).
    `expect`: the Lua file of the mix's requests with the statuses this target answers, when they are not the recorded
    ones (a ceiling answers everything alike, a model answers a repeated session as a server would)."""

    args: list[str] | None
    expect: Path | None = None


@dataclass(frozen=True)
class Recording:
    """An exchange or a session recorded through ucwa-vcr: its cassette, the mitmproxy flow file (-w), the exchanges."""

    cassette: Path
    flows: Path
    exchanges: list[Exchange]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
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


@contextmanager
def serving(origin: str, target: Target) -> Iterator[str]:
    """The URL of a target, started (mitmdump) for the duration of the block."""
    if target.args is None:
        yield origin
        return
    port = free_port()
    with process(mitmdump(port, origin, *target.args), port):
        yield f"http://127.0.0.1:{port}"


def ucwa(cassette: Path, mode: str, *more: str) -> Target:
    """ucwa-vcr on `cassette` in record mode `mode`, otherwise with the default options."""
    return Target(["-s", str(ADDON), "--set", f"ucwa_cassette={cassette}", "--set", f"ucwa_record_mode={mode}", *more])


def server_replay(flows: Path, *more: str) -> Target:
    """mitmproxy's own replay of `flows`: reuse answers, kill requests that have none."""
    return Target(["--server-replay", str(flows), "--set", "server_replay_reuse=true", "--set",
                   "server_replay_extra=kill", "--set", "connection_strategy=lazy", *more])


def ceiling(*more: str, expect: Path | None = None) -> Target:
    """scripts/fixed_response.py, answering every request alike."""
    return Target(["-s", str(FIXED_RESPONSE), "--set", "connection_strategy=lazy", *more], expect)


def wrk(url: str, mix: Path, clients: int, seconds: int) -> dict[str, Any]:
    """One bounded wrk run of a mix, one connection per thread: req/s, p50/p99 latency (ms), and the errors (answers
    whose status is not one the mix accepts for their request, and socket errors: connect, read, write, timeout)."""
    out = subprocess.run(["wrk", f"-t{clients}", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s",
                          "-s", str(MIX_SCRIPT), url, "--", str(mix)], capture_output=True, text=True,
                         timeout=seconds + 60)
    line = next((line for line in out.stdout.splitlines() if line.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no figures (exit {out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}")
    got = json.loads(line.removeprefix("BENCH "))
    sockets = sum(got[kind] for kind in ("connect", "read", "write", "timeout"))
    return {"rps": got["requests"] / got["duration_us"] * 1e6, "p50_ms": got["p50_us"] / 1000,
            "p99_ms": got["p99_us"] / 1000, "requests": got["requests"], "status_errors": got["mismatches"],
            "socket_errors": sockets}


def summarise(name: str, mix: str, clients: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A target's row: the median round's figures, the spread of the rounds' req/s, and every round's errors."""
    median = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
    rps = [r["rps"] for r in runs]
    status_errors = sum(r["status_errors"] for r in runs)
    socket_errors = sum(r["socket_errors"] for r in runs)
    return {"target": name, "mix": mix, "clients": clients, "rps": statistics.median(rps), "rps_min": min(rps),
            "rps_max": max(rps), "runs_rps": rps, "p50_ms": median["p50_ms"], "p99_ms": median["p99_ms"],
            "requests": sum(r["requests"] for r in runs), "errors": status_errors + socket_errors,
            "status_errors": status_errors, "socket_errors": socket_errors}


def measure(origin: str, targets: dict[str, Target], mix: Mix, clients: int, load: Load,
            before_each: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """wrk with a mix against each target in interleaved rounds (a fresh process per run); a row per target."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for _ in range(load.rounds):
        for name, target in targets.items():
            if before_each:
                before_each(name)
            with serving(origin, target) as url:
                runs[name].append(wrk(url, target.expect or mix.path, clients, load.seconds))
    return [summarise(name, mix.name, clients, results) for name, results in runs.items()]


def mix_file(work: Path, name: str, exchanges: list[Exchange]) -> Mix:
    """Write a mix's Lua file into `work`."""
    mix = Mix(name, work / ("mix-" + "".join(c if c.isalnum() else "-" for c in name) + ".lua"))
    write_mix(mix.path, exchanges)
    return mix


def record_single(origin: str, work: Path) -> Recording:
    """The single exchange (discovery, JSON, uncompressed, no token), recorded once through ucwa-vcr (mode all) with
    curl."""
    cassette, flows = work / "single.yaml", work / "single.mitm"
    with serving(origin, ucwa(cassette, "all", "-w", str(flows))) as url:
        subprocess.run(["curl", "-sS", "-o", "/dev/null", "-H", "Accept: application/json", url + DISCOVERY],
                       check=True, timeout=30)
    return Recording(cassette, flows, read_mix(flows, [Step("discovery", 200, repeatable=True)]))


def record_session(origin: str, work: Path) -> Recording:
    """The session, walked once through ucwa-vcr (mode all, and -w) after the user's meetings were made."""
    fill_meetings(origin, PASSWORD, MEETINGS)
    cassette, flows = work / "session.yaml", work / "session.mitm"
    with serving(origin, ucwa(cassette, "all", "-w", str(flows))) as url:
        steps = SessionWalk(url + DISCOVERY, PASSWORD).walk()
    return Recording(cassette, flows, read_mix(flows, steps))


def replay_rows(origin: str, recording: Recording, mix: Mix, targets: dict[str, Target],
                load: Load) -> list[dict[str, Any]]:
    """ucwa-vcr replaying (default options) against `targets`, at 1 and 16 clients."""
    targets = {REPLAY: ucwa(recording.cassette, "none"), **targets}
    return [row for clients in (1, 16) for row in measure(origin, targets, mix, clients, load)]


def single_section(origin: str, single: Recording, work: Path, load: Load) -> list[dict[str, Any]]:
    """Replay of the single exchange against mitmproxy's replay, the ceiling and the origin."""
    targets = {SERVER_REPLAY: server_replay(single.flows), CEILING: ceiling(), ORIGIN: Target(None)}
    return replay_rows(origin, single, mix_file(work, "single", single.exchanges), targets, load)


def session_section(origin: str, session: Recording, work: Path, load: Load) -> list[dict[str, Any]]:
    """Replay of the session against mitmproxy's replay and the ceiling. mitmproxy's replay matches on method, URL
    and body only: told to compare Accept and Authorization too (ucwa-vcr compares them by default), it tells the 401
    probe from the signed-in request and JSON from XML, and answers every request of the mix as recorded. The
    ceiling answers every request with the session's CEILING_ANSWER, as recorded."""
    answer = work / "ceiling.mitm"
    write_answer(session.flows, CEILING_ANSWER, session.exchanges, answer)
    status = next(e.status for e in session.exchanges if e.name == CEILING_ANSWER)
    alike = mix_file(work, "session-ceiling", [replace(e, status=status) for e in session.exchanges])
    targets = {SERVER_REPLAY: server_replay(session.flows, "--set", "server_replay_use_headers=Accept",
                                            "--set", "server_replay_use_headers=Authorization"),
               CEILING: ceiling("--set", f"fixed_response={answer}", expect=alike.path)}
    return replay_rows(origin, session, mix_file(work, "session", session.exchanges), targets, load)


def record_rows(origin: str, mix: Mix, work: Path, load: Load) -> list[dict[str, Any]]:
    """Recording (mode all, into a new cassette each run) against plain pass-through, at 16 clients."""
    cassette = work / f"recorded-{mix.path.stem}.yaml"
    targets = {RECORD: ucwa(cassette, "all"), PASS_THROUGH: Target([])}

    def fresh_cassette(name: str) -> None:
        if name == RECORD:
            cassette.unlink(missing_ok=True)

    rows = measure(origin, targets, mix, 16, load, before_each=fresh_cassette)
    rows[0]["interactions_written"] = cassette.read_text().count("\n- request:") if cassette.exists() else 0
    return rows


def record_section(origin: str, single: Recording, session: Recording, work: Path,
                   load: Load) -> list[dict[str, Any]]:
    """Recording the session's requests the origin answers the same when repeated, and the single exchange."""
    repeatable = mix_file(work, REPEATABLE, [e for e in session.exchanges if e.repeatable])
    return [*record_rows(origin, repeatable, work, load),
            *record_rows(origin, mix_file(work, "single", single.exchanges), work, load)]


def simulate_section(origin: str, session: Recording, work: Path, load: Load) -> list[dict[str, Any]]:
    """ucwa_simulate against plain replay, on the session. The model answers a repeated session as a server would (a
    repeated create is refused, a repeated delete finds nothing): the statuses it answers when the session is sent
    twice in a row are accepted besides the recorded ones."""
    simulate = ucwa(session.cassette, "none", "--set", "ucwa_simulate=true")
    with serving(origin, simulate) as url:
        answered = repeated(url, session.exchanges)
    expect = mix_file(work, "session-simulated", answered).path
    rows = replay_rows(origin, session, mix_file(work, "session", session.exchanges),
                       {SIMULATE: replace(simulate, expect=expect)}, load)
    for row in rows:
        if row["target"] == SIMULATE:
            row["also_accepted"] = {e.name: list(e.also) for e in answered if e.also}
    return rows


CASSETTE_PROBE = textwrap.dedent("""
    import json, random, sys, time
    from ucwa_vcr.cassette.codec import load_cassette
    from ucwa_vcr.cassette.writer import save_cassette
    from ucwa_vcr.match import Matcher
    path, samples = sys.argv[1], int(sys.argv[2])
    def high_water_kib():  # of this process image (ru_maxrss would keep the forking parent's, inherited at exec)
        return int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
    before = high_water_kib()
    t0 = time.perf_counter()
    cassette = load_cassette(path)
    t1 = time.perf_counter()
    matcher = Matcher(cassette.interactions)
    t2 = time.perf_counter()
    peak_kib = high_water_kib() - before
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
        # each load in a fresh process, as on a clean clone (nothing is cached between runs); the median of three
        runs = sorted((json.loads(subprocess.run([sys.executable, "-c", CASSETTE_PROBE, str(path), "2000"],
                                                 capture_output=True, text=True, check=True, timeout=900).stdout)
                       for _ in range(3)), key=lambda run: run["load_s"])
        probe, size_mib = runs[1], path.stat().st_size / 2**20
        rows.append({"interactions": count, "file_mib": size_mib, "load_s": probe["load_s"],
                     "load_runs_s": [run["load_s"] for run in runs], "index_s": probe["index_s"],
                     "peak_mib": max(run["peak_mib"] for run in runs),
                     "memory_x_file": max(run["peak_mib"] for run in runs) / size_mib, "match_us": probe["match_us"]})
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


def ratios(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each ratio of RATIOS whose section ran: per round (the targets ran in the same round), its median and
    spread, against its target."""
    out = []
    for section, mix, numerator, denominator, clients_list, target in RATIOS:
        rows = {(r["mix"], r["target"], r["clients"]): r["runs_rps"] for r in results.get(section, [])}
        for clients in clients_list:
            if (mix, numerator, clients) not in rows:
                continue
            per_round = [a / b for a, b in zip(rows[(mix, numerator, clients)], rows[(mix, denominator, clients)],
                                               strict=True)]
            median = statistics.median(per_round)
            out.append({"ratio": f"{numerator} / {denominator}", "mix": mix, "clients": clients, "median": median,
                        "min": min(per_round), "max": max(per_round), "target": target, "met": median >= target})
    return out


def describe_mixes(mixes: dict[str, dict[str, Any]]) -> list[str]:
    """A sentence per mix: its requests, statuses, answers and their compression."""
    lines = []
    for name, m in mixes.items():
        by = ", ".join(f"{k} {v}" for k, v in sorted(m["methods"].items()))
        statuses = ", ".join(f"{k}×{v}" if v > 1 else k for k, v in m["statuses"].items())
        answers = ", ".join(f"{k} {v}" for k, v in sorted(m["answers"].items()))
        lines.append(f"- {name}: {m['requests']} requests ({by}), statuses {statuses}; answers {answers}; "
                     f"{m['gzip']} gzip-compressed; bearer token on {m['bearer']}; answer bodies "
                     f"{m['answer_bytes_mean']:.0f} B on average (as sent), at most {m['answer_bytes_max']:,} B.")
    return lines


def load_table(results: dict[str, Any]) -> list[str]:
    lines = ["| section | mix | target | clients | req/s | min–max | p50 ms | p99 ms | errors |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for section in ("session", "single", "record", "simulate"):
        for r in results.get(section, []):
            errors = f"{r['errors']}" + (f" ({r['status_errors']} status, {r['socket_errors']} socket)"
                                         if r["errors"] else "")
            lines.append(f"| {section} | {r['mix']} | {r['target']} | {r['clients']} | {r['rps']:.0f} | "
                         f"{r['rps_min']:.0f}–{r['rps_max']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {errors} |")
    return lines


def ratio_table(results: dict[str, Any]) -> list[str]:
    lines = ["| ratio | mix | clients | median | min–max | target | met |", "|---|---|---:|---:|---:|---:|---|"]
    for r in results["ratios"]:
        lines.append(f"| {r['ratio']} | {r['mix']} | {r['clients']} | {r['median']:.2f} | {r['min']:.2f}–{r['max']:.2f}"
                     f" | ≥ {r['target']} | {'yes' if r['met'] else '**no**'} |")
    return lines


def cassette_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| cassette | file MiB | load s (min–max) | target | index s | peak MiB (load + index) | peak ÷ file "
             "(target ≤ 3) | match µs |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        target = {10000: "≤ 0.5", 100000: "≤ 5"}.get(r["interactions"], "")
        lines.append(f"| {r['interactions']:,} | {r['file_mib']:.1f} | {r['load_s']:.2f} "
                     f"({min(r['load_runs_s']):.2f}–{max(r['load_runs_s']):.2f}) | {target} | {r['index_s']:.2f} "
                     f"| {r['peak_mib']:.0f} | {r['memory_x_file']:.1f} | {r['match_us']:.1f} |")
    return lines


def report(results: dict[str, Any]) -> str:
    """The Markdown tables for the README."""
    lines = [f"`scripts/bench{' --quick' if results['quick'] else ''}` ({', '.join(results['sections'])}) on "
             f"{results['machine']} (wrk, mitmdump and the origin share them), mitmproxy {results['mitmproxy']}, "
             f"Python {results['python']}.", ""]
    if results["mixes"]:
        lines += [f"Each load figure is the median of {results['rounds']} interleaved round(s) of "
                  f"{results['seconds_per_run']} s wrk runs (one connection per thread), with the rounds' min–max; "
                  "errors are answers whose status is not the recorded one (the ceiling: its own; simulate: see "
                  "below), and socket errors, over all rounds. Mixes (cycled by each connection):",
                  *describe_mixes(results["mixes"])]
        if "session" in results:
            lines.append(f"- the session's ceiling answers every request with the session's recorded "
                         f"'{CEILING_ANSWER}' answer (its headers, its gzip body as stored).")
        lines.append("")
    if results["ratios"]:
        lines += [*load_table(results), ""]
        also = next((r["also_accepted"] for r in results.get("simulate", []) if "also_accepted" in r), None)
        if also is not None:
            lines += ["ucwa-vcr simulate answers a repeated session as a server would; accepted besides the recorded "
                      "statuses: " + (", ".join(f"{name} {'/'.join(map(str, s))}" for name, s in also.items())
                                      or "nothing") + ".", ""]
        lines += [*ratio_table(results), ""]
    if "cassettes" in results:
        lines += [*cassette_table(results["cassettes"]), ""]
    if "pytest" in results:
        p = results["pytest"]
        lines.append(f"pytest plugin: {p['per_test_ms']:.1f} ms per test over a plain test (target < "
                     f"{PYTEST_TARGET_MS:.0f} ms; {p['plugin_per_test_ms']:.1f} vs {p['control_per_test_ms']:.1f} ms, "
                     f"{p['tests']} tests, session-wide proxy).")
    return "\n".join(lines).rstrip("\n") + "\n"


@contextmanager
def fake_origin() -> Iterator[str]:
    """The fake UCWA origin, allowing one create beyond the user's meetings (the session's second gets 409)."""
    port = free_port()
    argv = [sys.executable, "-m", "ucwa_vcr.testing.fake_origin", "--port", str(port), "--password", PASSWORD,
            "--max-meetings", str(MEETINGS + 1)]
    with process(argv, port):
        yield f"http://127.0.0.1:{port}"


def load_sections(only: set[str], work: Path, load: Load) -> dict[str, Any]:
    """The sections that drive load through proxies (single, session, record, simulate), and the mixes they send."""
    results: dict[str, Any] = {"mixes": {}}
    if not only & {"single", *SESSION_SECTIONS}:
        return results
    with fake_origin() as origin:
        if only & {"single", "record"}:
            single = record_single(origin, work)
            results["mixes"]["single"] = describe_mix(single.exchanges)
        if only & SESSION_SECTIONS:
            session = record_session(origin, work)
            results["mixes"]["session"] = describe_mix(session.exchanges)
        if "record" in only:
            results["mixes"][REPEATABLE] = describe_mix([e for e in session.exchanges if e.repeatable])
        if "session" in only:
            results["session"] = session_section(origin, session, work, load)
        if "single" in only:
            results["single"] = single_section(origin, single, work, load)
        if "record" in only:
            results["record"] = record_section(origin, single, session, work, load)
        if "simulate" in only:
            results["simulate"] = simulate_section(origin, session, work, load)
    return results


def parse_sections(value: str) -> set[str]:
    """--only's comma-separated section names."""
    chosen = {name.strip() for name in value.split(",") if name.strip()}
    unknown = chosen - set(SECTIONS)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown section {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short round per comparison, small cassettes")
    parser.add_argument("--only", type=parse_sections, default=set(SECTIONS), metavar="SECTIONS",
                        help=f"comma-separated sections to run (default all): {', '.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts", help="folder for bench.json and bench.md")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        print("scripts/bench: needs wrk (apt-get install wrk)", file=sys.stderr)
        return 2
    import mitmproxy.version

    load = Load(1, 1) if args.quick else Load(5, 5)
    started = time.monotonic()
    results: dict[str, Any] = {"quick": args.quick, "sections": [s for s in SECTIONS if s in args.only],
                               "seconds_per_run": load.seconds, "rounds": load.rounds, "python": sys.version.split()[0],
                               "mitmproxy": mitmproxy.version.VERSION, "machine": f"{os.cpu_count()} cores"}
    with tempfile.TemporaryDirectory(prefix="ucwa-bench-") as tmp:
        work = Path(tmp)
        results |= load_sections(args.only, work, load)
        if "cassettes" in args.only:
            results["cassettes"] = cassette_section(work, [1000, 10000] if args.quick else [1000, 10000, 100000])
        if "pytest" in args.only:
            results["pytest"] = pytest_section(work, 10 if args.quick else 50)
    results["ratios"] = ratios(results)
    results["bench_seconds"] = time.monotonic() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(results, indent=1))
    table = report(results)
    (args.out / "bench.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
