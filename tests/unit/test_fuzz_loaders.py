"""Fuzzing both loaders (issue 11): mutated cassettes and rules files either load, or are refused with one line
that names the file -- never a traceback, a hang or gigabytes of memory.

Seeded and bounded: the same 1,000 cases every run (byte flips, deletions, duplications, line swaps, type swaps in
the parsed data, shared nodes that dump as aliases, alias bombs, huge integers, bad URLs, bad tags, deep nesting),
a few seconds in all. Whatever loads is then shown, matched, re-dumped and checked for secrets, as the tools do.
"""

from __future__ import annotations

import datetime
import json
import random
import re
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hostile import yaml_bomb
from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.cassette.codec import dump_interaction, load_cassette, load_yaml, read_text
from ucwa_vcr.cassette.model import Cassette, Interaction, Request, Response
from ucwa_vcr.cassette.writer import save_cassette
from ucwa_vcr.errors import FileError, RuleError
from ucwa_vcr.fault_rules import apply_patch, load_plan
from ucwa_vcr.match import Matcher
from ucwa_vcr.tools.diff import diff
from ucwa_vcr.tools.lint import lint
from ucwa_vcr.tools.show import pretty_body, rows

SEED = 20260111
LOADER, DUMPER = getattr(yaml, "CSafeLoader", yaml.SafeLoader), getattr(yaml, "CSafeDumper", yaml.SafeDumper)
APP = "https://fe1.contoso.com/ucwa/oauth/v1/applications/10934565897"
RULES = """seed: 7
faults:
  - name: third
    match: {method: POST, path: 'myOnlineMeetings$', headers: {Accept: xml}, body: subject}
    after: 2
    times: 1
    probability: 0.5
    error: TooManyOnlineMeetings
  - match: {path: events}
    transport: reset
  - match: {path: 'me$'}
    respond: {status: 503, reason: Busy, headers: {Retry-After: '5'}, body: {code: ServiceFailure}}
  - match: {path: x}
    patch: {set: {/subject: changed, /a/-: 1}, remove: [/etag], headers: {ETag: '"2"'}}
  - match: {method: GET}
    delay: 1.5
"""
BOMB = yaml_bomb()
BAD_URLS = ["'http://[::1/x'", "'http://fe1:99999/x'", "'https://fe1:0/'", "ftp://fe1/x", "'https:///x'",
            "'http://fe1:abc/'", "'http://h\u2100x/'", "not a url", "//fe1/x", "''", "[a, b]", "{u: 1}", "7"]
BAD_VALUES = ["!!python/object/apply:os.system ['true']", "!foo bar", "!!binary '%%%'", "!!timestamp nope",
              "!!int xyz", "!!float abc", "!!bool maybe", "!!set {a, b}", "!!omap [a]", "!!str {a: 1}", "2001-13-45",
              "9" * 4301, "-" + "1" * 5000, "1.0e+400", ".nan", "-.inf", "&x [*x]", "*undefined", "\"\\ud800\"",
              "\"\\x00\"", "[" * 1001 + "]" * 1001, "[" * 999 + "]" * 999, "{? [a]: b}", "<<: *nothing"]
SWAPS: list[Any] = [None, True, 0, -1, 10**20, 10**400, 1.5, float("inf"), float("nan"), "", "x", "http://[::1/x",
                    [], [1, [2, [3]]], {}, {"a": {"b": 1}}, datetime.date(2001, 1, 1), b"\x00\xff", "\x1b[31m"]


def small_cassette(tmp_path: Path) -> bytes:
    """A few exchanges with every form: JSON and XML text, base64 and raw bodies, heads that are not UTF-8."""
    form = [("Content-Type", "application/x-www-form-urlencoded")]
    interactions = [
        Interaction(Request(url=f"{APP}/me?ack=1", headers=[("Authorization", "Bearer cwt=REDACTED-1")]),
                    Response(headers=[("Content-Type", "application/json")], body=b'{"code": "x", "n": [1, 2]}'),
                    started="2026-01-01T00:00:00.000+00:00", duration=0.25),
        Interaction(Request(method="POST", url="https://fe1/WebTicket/oauthtoken", headers=form,
                            body=b"grant_type=password&password=REDACTED-2"),
                    Response(status=409, reason="Conflict", headers=[("Content-Type", "application/xml")],
                             body=b'<reason xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa"><code>Conflict</code>'
                                  b"<subcode>TooManyOnlineMeetings</subcode></reason>")),
        Interaction(Request(url="https://fe1/caf\udce9", headers=[("X-Latin1", "caf\udce9")]),
                    Response(reason="R\udce9ussi", headers=[("Content-Encoding", "gzip")], body=b"\x1f\x8b\x00", raw=True)),
    ]
    path = tmp_path / "small.yaml"
    save_cassette(path, Cassette(interactions))
    return path.read_bytes()


# -- mutations: bytes in, bytes out -----------------------------------------------------------------

def _span(rng: random.Random, data: bytes) -> tuple[int, int]:
    start = rng.randrange(len(data))
    return start, min(len(data), start + rng.randint(1, 64))


def flip(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        out[rng.randrange(len(out))] = rng.choice([rng.randrange(256), 0, 0x0A, 0x3A, 0x26, 0x2A, 0x21, 0x5B, 0xFF])
    return bytes(out)


def delete(rng: random.Random, data: bytes) -> bytes:
    start, end = _span(rng, data)
    return data[:start] + data[end:]


def duplicate(rng: random.Random, data: bytes) -> bytes:
    start, end = _span(rng, data)
    at = rng.randrange(len(data))
    return data[:at] + data[start:end] + data[at:]


def swap_lines(rng: random.Random, data: bytes) -> bytes:
    lines = data.split(b"\n")
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def _nodes(data: Any) -> list[tuple[Any, ...]]:
    """Paths into parsed YAML data, each shared object once (a bomb is a billion paths otherwise); iterative."""
    found, seen, stack = [], set(), [((), data)]
    while stack and len(found) < 10_000:
        path, node = stack.pop()
        found.append(path)
        if isinstance(node, dict | list) and id(node) not in seen:
            seen.add(id(node))
            stack.extend(((*path, k), v) for k, v in (node.items() if isinstance(node, dict) else enumerate(node)))
    return found


def _reparsed(data: bytes, change: Callable[[Any, list[tuple[Any, ...]]], Any]) -> bytes:
    """Parse (when it still parses), change the data, dump it again; PyYAML writes shared objects as aliases."""
    try:  # the test's own parse of what earlier mutations left: anything may fail, then the data stays as it is
        parsed = yaml.load(data.decode("utf-8"), Loader=LOADER)
        paths = [p for p in _nodes(parsed) if p]
        if not paths:
            return data
        return yaml.dump(change(parsed, paths), Dumper=DUMPER, allow_unicode=True,
                         sort_keys=False).encode("utf-8")
    except Exception:
        return data


def _put(data: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def type_swap(rng: random.Random, data: bytes) -> bytes:
    def change(parsed: Any, paths: list[tuple[Any, ...]]) -> Any:
        _put(parsed, rng.choice(paths), rng.choice(SWAPS))
        return parsed
    return _reparsed(data, change)


def share(rng: random.Random, data: bytes) -> bytes:
    def change(parsed: Any, paths: list[tuple[Any, ...]]) -> Any:
        shared = _get(parsed, rng.choice(paths))
        if isinstance(shared, dict | list):
            _put(parsed, rng.choice(paths), shared)  # may put a node inside itself: a recursive alias
        return parsed
    return _reparsed(data, change)


def inject(rng: random.Random, data: bytes) -> bytes:
    text = data.decode("utf-8", "surrogateescape")
    lines = text.split("\n")
    kind = rng.choice(["bomb", "loop", "url", "value", "int"])
    if kind == "bomb":
        return (BOMB + f"z: *{rng.choice('efghi')}\n" + text).encode("utf-8", "surrogateescape")
    if kind == "loop":
        return ("loop: &l [1, *l]\n" + text).encode("utf-8", "surrogateescape")
    if kind == "int":
        return re.sub(r"\b\d+\b", lambda m: "9" * rng.choice([4301, 5000, 20000]) if rng.random() < 0.3 else m.group(),
                      text).encode("utf-8", "surrogateescape")
    pattern = r"^(\s*(?:- )?url: )" if kind == "url" else r"^(\s*(?:- )?[\w/]+: )(?=\S)"
    candidates = [(i, m.group(1)) for i, line in enumerate(lines) if (m := re.match(pattern, line))]
    if candidates:
        i, prefix = rng.choice(candidates)
        lines[i] = prefix + rng.choice(BAD_URLS if kind == "url" else BAD_VALUES)
    return "\n".join(lines).encode("utf-8", "surrogateescape")


MUTATIONS = [flip, delete, duplicate, swap_lines, type_swap, share, inject, inject]


def mutants(base: bytes, count: int, rng: random.Random) -> list[tuple[str, bytes]]:
    out = []
    for n in range(count):
        data, names = base, []
        for _ in range(rng.choice([1, 1, 2, 3])):
            mutation = rng.choice(MUTATIONS)
            data = mutation(rng, data) or base
            names.append(mutation.__name__)
        out.append((f"case {n} ({'+'.join(names)})", data))
    return out


# -- the checks -------------------------------------------------------------------------------------

def one_line_naming(message: str, name: str, line_required: bool) -> bool:
    pattern = rf"{re.escape(name)}:\d+: \S" if line_required else rf"{re.escape(name)}(:\d+)?: \S"
    return "\n" not in message and len(message) < 600 and bool(re.match(pattern, message))


def use_cassette(cassette: Cassette, path: Path) -> None:
    """What the tools and the proxy do with a loaded cassette: none of it may raise."""
    rows(cassette)
    lint(path)
    diff(cassette, cassette)
    matcher = Matcher(cassette.interactions)
    for interaction in cassette.interactions:
        matcher.match(interaction.request)
        dump_interaction(interaction)
        pretty_body(interaction.response)


def check_cassette(path: Path, data: bytes) -> str | None:
    path.write_bytes(data)
    try:
        cassette = load_cassette(path)
    except FileError as e:
        return None if one_line_naming(str(e), str(path), True) else f"not one line with file and line: {e!s:.300}"
    except Exception as e:  # anything else is the bug this test is for
        return f"{type(e).__name__}: {e!s:.300}"
    try:
        use_cassette(cassette, path)
    except Exception as e:
        return f"loaded, then {type(e).__name__}: {e!s:.300}"
    return None


def use_plan(path: Path) -> None:
    """Load a rules file as the faults addon does, then use every rule as a request would."""
    name = str(path)
    plan = load_plan(load_yaml(read_text(path, "rules file"), name), name)
    for rule in plan.rules:
        rule.describe()
        if rule.patch is not None:
            apply_patch(b'{"subject": "s", "a": [1], "etag": "1"}', rule.patch)
        if rule.respond is not None and not isinstance(rule.respond.get("body", ""), str):
            json.dumps(rule.respond["body"])
    plan.pick("POST", "/ucwa/oauth/v1/applications/1/onlineMeetings/myOnlineMeetings", {"Accept": "xml"}, b"subject")


def check_rules(path: Path, data: bytes) -> str | None:
    path.write_bytes(data)
    try:
        use_plan(path)
    except (FileError, RuleError) as e:
        return None if one_line_naming(str(e), str(path), False) else f"not one line naming the file: {e!s:.300}"
    except Exception as e:
        return f"{type(e).__name__}: {e!s:.300}"
    return None


def test_mutated_cassettes_load_or_are_refused_in_one_line(tmp_path):
    rng = random.Random(SEED)
    cases = mutants(DEFAULT_CASSETTE.read_bytes(), 350, rng) + mutants(small_cassette(tmp_path), 350, rng)
    failures = []
    for name, data in cases:
        problem = check_cassette(tmp_path / "c.yaml", data)
        if problem:
            failures.append(f"{name}: {problem}")
    assert not failures, f"{len(failures)} of {len(cases)} cases:\n" + "\n".join(failures[:20])


def test_mutated_rules_files_load_or_are_refused_in_one_line(tmp_path):
    rng = random.Random(SEED + 1)
    failures = []
    cases = mutants(RULES.encode(), 300, rng)
    for name, data in cases:
        problem = check_rules(tmp_path / "faults.yaml", data)
        if problem:
            failures.append(f"{name}: {problem}")
    assert not failures, f"{len(failures)} of {len(cases)} cases:\n" + "\n".join(failures[:20])


@pytest.mark.parametrize("rules", [False, True])
def test_an_alias_bomb_is_refused_in_bounded_memory(tmp_path, rules):
    path = tmp_path / "bomb.yaml"
    path.write_text(("faults: []\n" + BOMB + "z: *i\n") if rules else ("version: 1\ninteractions: []\n" + BOMB))
    tracemalloc.start()
    try:
        with pytest.raises(FileError, match="expand this file" if rules else "aliases .* are not allowed in a cassette"):
            use_plan(path) if rules else load_cassette(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20, f"{peak} bytes to refuse a {path.stat().st_size}-byte file"


# -- the tools, in-process, on a handful of nasty files ---------------------------------------------

NASTY = {
    "bomb.yaml": ("version: 1\n" + BOMB + "interactions: []\n").encode(),
    "huge-int.yaml": b"version: 1\ninteractions:\n- request: {method: GET, url: 'https://fe1/'}\n  response: {status: "
                     + b"2" * 5000 + b"}\n",
    "bad-url.yaml": b"version: 1\ninteractions:\n- request: {method: GET, url: 'http://[::1/x'}\n  response: {status: 200}\n",
    "big-port.yaml": b"version: 1\ninteractions:\n- request: {method: GET, url: 'http://fe1:99999/'}\n  response: {status: 200}\n",
    "bad-tag.yaml": b"version: 1\ninteractions: !!python/object/apply:os.system ['true']\n",
    "bad-date.yaml": b"version: 1\ninteractions: []\nwhen: 2001-13-45\n",
    "latin1.yaml": b"version: 1\ninteractions: []\n# caf\xe9\n",
    "deep.yaml": b"version: 1\ninteractions: " + b"[" * 5000 + b"]" * 5000 + b"\n",
}


@pytest.mark.parametrize("name", sorted(NASTY))
def test_the_tools_refuse_nasty_files_in_one_line(run_ucwa_vcr, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(NASTY[name])
    shown = run_ucwa_vcr("show", str(path))
    assert shown.returncode == 2 and shown.stdout == ""
    assert re.fullmatch(rf"ucwa-vcr show: {re.escape(str(path))}:\d+: [^\n]+\n", shown.stderr), shown.stderr
    linted = run_ucwa_vcr("lint", str(path))
    assert linted.returncode == 1
    assert re.fullmatch(rf"{re.escape(str(path))}:\d+: [^\n]+\n", linted.stdout), linted.stdout
    assert "Traceback" not in shown.stderr + linted.stderr + linted.stdout
