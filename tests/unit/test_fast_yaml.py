"""The fast path against the reference (issue 17): yaml_rs reads a cassette only where it gives exactly what PyYAML's
safe loader gives.

yaml_rs reads YAML 1.2, PyYAML YAML 1.1, and the two read much the same text differently. codec.fast_parse (and
load_cassette's slice-by-slice read of a file) must, on any text, give the cassette PyYAML gives -- equal, and
written back byte for byte alike -- or decline (None), leaving the text to PyYAML and its errors. Checked on every
cassette in the repository, the fuzz corpus, a table of the YAML 1.1/1.2 differences in every position of a
cassette, and writer output (and mutations of it) that hypothesis makes from adversarial strings; with the default
slices and with slices of 64 characters (about one interaction each), where every cut between slices is exercised.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz_loaders import SEED, mutants, small_cassette
from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.cassette import codec
from ucwa_vcr.cassette.codec import (
    COMPLETE,
    dump_interaction,
    fast_parse,
    load_cassette,
    load_yaml,
    read_text,
    validated,
    without_cut_tail,
)
from ucwa_vcr.cassette.model import Cassette, Interaction, Request, Response
from ucwa_vcr.cassette.writer import save_cassette
from ucwa_vcr.errors import FileError

ROOT = Path(__file__).resolve().parents[2]
BOUNDED = settings(max_examples=80, derandomize=True, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          HealthCheck.function_scoped_fixture])
SLICES = [codec._SLICE, 64]  # the default, and about one interaction a slice


@contextmanager
def slices_of(size: int) -> Iterator[None]:
    """codec reads the text in slices of `size` characters meanwhile."""
    default, codec._SLICE = codec._SLICE, size
    try:
        yield
    finally:
        codec._SLICE = default


@pytest.fixture(params=SLICES, ids=["default slices", "small slices"])
def slices(request: pytest.FixtureRequest) -> Iterator[None]:
    with slices_of(request.param):
        yield


def reference(text: str, name: str) -> Cassette | str:
    """What PyYAML's safe loader makes of cassette text: the cassette, or the one-line error."""
    text = without_cut_tail(text, name)
    try:
        return validated(load_yaml(text, name, aliases=False), text, name)
    except FileError as e:
        return str(e)


def same(fast: Cassette, slow: Cassette | str) -> bool:
    """Equal cassettes that also write back byte for byte alike (0.0 == -0.0, 1 == 1.0, but not in a file)."""
    return (isinstance(slow, Cassette) and fast == slow
            and [dump_interaction(i) for i in fast.interactions] == [dump_interaction(i) for i in slow.interactions])


def differs(text: str) -> str | None:
    """Where fast_parse gives what PyYAML does not (None: it declines, or gives the same)."""
    fast = fast_parse(without_cut_tail(text, "c.yaml"))
    if fast is None:
        return None
    slow = reference(text, "c.yaml")
    return None if same(fast, slow) else f"fast path: {fast!r:.300}\nPyYAML: {slow!r:.300}"


def file_differs(path: Path, data: bytes) -> str | None:
    """Where load_cassette of a file with these bytes gives other than PyYAML (its cassette, or its error). A load
    tries the fast path on the file's slices, then on its text (cut tails), then PyYAML: this checks all three."""
    path.write_bytes(data)
    try:
        loaded: Cassette | str = load_cassette(path)
    except FileError as e:
        loaded = str(e)
    try:
        slow = reference(read_text(path), str(path))
    except FileError as e:
        slow = str(e)
    if loaded == slow if isinstance(loaded, str) else same(loaded, slow):
        return None
    return f"load_cassette: {loaded!r:.300}\nPyYAML: {slow!r:.300}"


def exchange(n: int) -> Interaction:
    body = f'{{\n "subject" : "meeting {n}",\n "etag" : "{n}"\n}}'.encode()
    return Interaction(
        Request(method="POST", url=f"https://fe1/ucwa/v1/applications/1/onlineMeetings/{n}",
                headers=[("Content-Type", "application/json"), ("Authorization", "Bearer cwt=REDACTED-1")], body=body),
        Response(status=201, reason="Created", headers=[("Content-Type", "application/json"), ("ETag", f'"{n}"')],
                 body=body), started="2026-01-01T00:00:00.000+00:00", duration=0.125)


# -- what the writer emits is read by the fast path, and right ------------------------------------------

TEXT = [("Content-Type", "text/plain")]
WRITTEN = {
    "exchanges": [exchange(n) for n in range(5)],
    "every form": [
        Interaction(Request(method="G\udcc9T", url="https://fe1/caf\udce9", headers=[("X-\udc80", "v")]),  # *_base64
                    Response(status=204, reason="R\udce9ussi", headers=[("Content-Type", "text/plain; charset=\udce9")]),
                    started="2026-01-01T00:00:00.000+00:00"),
        Interaction(Request(url="https://fe1/bin"), Response(headers=[("Content-Type", "image/png")], body=b"\x89PNG",
                                                             raw=True), started="", duration=0.0),
        Interaction(Request(url="https://fe1/t"), Response(headers=TEXT, body=b"  leading\n\ttab\ntrailing  \n\n\n"),
                    started="caf\u00e9 \U0001F600 \xa0", duration=1e-06),
        Interaction(Request(url="https://fe1/k"), Response(reason="", headers=TEXT, body=b"\n\nkept\n\n"),
                    duration=12345678.5),
    ],
    "long lines, folded": [
        Interaction(Request(url="https://fe1/" + "a" * 5000, headers=[("X-Long", "word " * 1000)]),
                    Response(reason="It's " * 900, headers=TEXT, body=b"trailing \n" * 900)),
    ],
}


@pytest.mark.parametrize("name", sorted(WRITTEN))
def test_what_the_writer_emits_takes_the_fast_path(tmp_path, slices, name):
    path = tmp_path / "c.yaml"
    save_cassette(path, Cassette(WRITTEN[name]))
    text = path.read_text(encoding="utf-8")
    fast = fast_parse(text)
    assert fast is not None, "declined: the writer's own output should not need PyYAML"
    assert same(fast, reference(text, "c.yaml")) and fast.interactions == WRITTEN[name]
    assert file_differs(path, path.read_bytes()) is None


def test_a_recording_in_progress_and_one_cut_short(tmp_path, slices):
    whole = "version: 1\ninteractions:\n" + "".join(dump_interaction(exchange(n)).decode() + COMPLETE for n in range(4))
    assert fast_parse(whole) is not None and differs(whole) is None
    for cut in range(len(whole) - 400, len(whole), 3):  # killed anywhere in the last write
        assert file_differs(tmp_path / "c.yaml", whole[:cut].encode()) is None, f"cut at {cut}"
    marked = Interaction(Request(url="https://fe1/"), Response(headers=TEXT, body=f"a\n{COMPLETE}b".encode()))
    text = "version: 1\ninteractions:\n" + dump_interaction(marked).decode()  # COMPLETE's words, not its line
    assert file_differs(tmp_path / "c.yaml", text.encode()) is None


def test_without_yaml_rs_pyyaml_reads_everything(tmp_path, monkeypatch):
    monkeypatch.setattr(codec, "fast_loads", None)
    path = tmp_path / "c.yaml"
    save_cassette(path, Cassette(WRITTEN["every form"]))
    assert fast_parse(path.read_text(encoding="utf-8")) is None
    assert load_cassette(path).interactions == WRITTEN["every form"]


# -- every cassette in the repository, and the fuzz corpus ----------------------------------------------

def repository_yaml() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "*.yaml", "*.yml"], cwd=ROOT, capture_output=True, text=True,
                            check=True, timeout=60).stdout.split()
    assert "addons/ucwa_vcr/seed.yaml" in listed
    return listed


@pytest.mark.parametrize("name", repository_yaml())
def test_every_yaml_file_in_the_repository(tmp_path, slices, name):
    data = (ROOT / name).read_bytes()
    assert differs(data.decode("utf-8")) is None
    assert file_differs(tmp_path / "c.yaml", data) is None


def test_the_fuzz_corpus(tmp_path):
    rng = random.Random(SEED)  # the cases of test_fuzz_loaders.test_mutated_cassettes_load_or_are_refused_in_one_line
    cases = mutants(DEFAULT_CASSETTE.read_bytes(), 350, rng) + mutants(small_cassette(tmp_path), 350, rng)
    failures = []
    for n, (name, data) in enumerate(cases):
        with slices_of(SLICES[n % 2]):
            problem = file_differs(tmp_path / "c.yaml", data)
        if problem:
            failures.append(f"{name}: {problem}")
    assert not failures, f"{len(failures)} of {len(cases)} cases:\n" + "\n".join(failures[:5])


# -- the YAML 1.1 / 1.2 differences, in every position of a cassette -------------------------------------

# What YAML 1.1 (PyYAML) and 1.2 (yaml_rs) may read differently, as written in a file after "key: "
DIFFERENCES = [
    "yes", "No", "ON", "off", "y", "n", "True", "FALSE", "~", "null", "Null", "", "''",
    "1_000", "0b101", "017", "09", "0o17", "0x1F", "1:30", "190:20:30.15", "1e3", "1E3", "1.0e3", "1e-06", "1.0e+3",
    ".inf", "-.Inf", "inf", ".NaN", "nan", "+.5", "-.5e+3", "1.", "0.", "+1", "-0", "-0.0", "007", "1" * 30,
    "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2026-01-01T00:00:00Z", "2026-01-01 00:00:00", "12:30:00",
    "<<", "=", "!foo x", "!!str 1", "!!binary aGk=", "!!python/name:os.system", "! x", "&a x", "*a", "&a [*a]",
    "- x", "[a, b]", "{a: 1}", "[]", "{}", "[1:30]", "['X: 1', 0o17:1]", "? x", ": x", "x: y", "x:y", "x #c", "x#c",
    "#c", "a  b", "x ", "@x", "`x", "%x", "|x", ">x", "-x", "?x", ",x", "ab\\",
    '"\\x41 \\u00e9 \\/ \\N \\_ \\L \\P \\e \\0 \\t \\a \\v"', '"\\ud800"', '"\\udc80"', '"\\U00110000"', '"\\x85"', '"\\q"',
    '"a\\\n  b"', '"a \n  b"', '"a\n\n  b"', '"a\nb"', '"a\n\n      b"', "'it''s'", "'a\n  b'", "'a \n  b'", "'a\nb'",
    "'a\n      b'", "|-\n      a\n      b", "|+\n      a\n\n", "|2-\n        a\n      b",
    "|-\n        a\n      b", "|\n      a\n     b", "|\n       \n      a", "|-\n      a \n", ">-\n      a\n      b",
    "|\n      # c", "|-2\n        a", "|9\n      a", "x\n      y", "x\n    y", "\x85x", "x\x85", "\u2028", "x\u2029y",
    "\ufeffx", "x\ufeff", "\tx", "x\ty", "\x7f", "x\x00", "x\ry", "\xa0x", "\u3000", "caf\u00e9", "\U0001F600",
    "x\n---\n", "x\n...\n", "'a\n---\n  b'", "x\n%YAML 1.1", "x # ucwa-vcr: complete up to here (recording)",
]
TEMPLATE = {
    "version": "version: {}\ninteractions:\n- request:\n    method: GET\n    url: https://fe1/\n  response:\n    status: 200\n",
    "method": "- request:\n    method: {}\n    url: https://fe1/\n  response:\n    status: 200\n",
    "url": "- request:\n    method: GET\n    url: {}\n  response:\n    status: 200\n",
    "url suffix": "- request:\n    method: GET\n    url: https://fe1/{}\n  response:\n    status: 200\n",
    "headers": "- request:\n    method: GET\n    url: https://fe1/\n    headers: {}\n  response:\n    status: 200\n",
    "header": "- request:\n    method: GET\n    url: https://fe1/\n    headers:\n    - {}\n  response:\n    status: 200\n",
    "header value": "- request:\n    method: GET\n    url: https://fe1/\n    headers:\n    - X-A:{}\n  response:\n    status: 200\n",
    "header base64": "- request:\n    method: GET\n    url: https://fe1/\n    headers:\n    - base64: {}\n  response:\n    status: 200\n",
    "status": "- request:\n    method: GET\n    url: https://fe1/\n  response:\n    status: {}\n",
    "reason": "- request:\n    method: GET\n    url: https://fe1/\n  response:\n    status: 200\n    reason: {}\n",
    "body": "- request:\n    method: GET\n    url: https://fe1/\n    body: {}\n  response:\n    status: 200\n",
    "raw": "- request:\n    method: GET\n    url: https://fe1/\n  response:\n    status: 200\n    raw: {}\n",
    "started": "- request:\n    method: GET\n    url: https://fe1/\n  response:\n    status: 200\n  started: {}\n",
    "duration": "- request:\n    method: GET\n    url: https://fe1/\n  response:\n    status: 200\n  duration: {}\n",
}
# Lines in place of "reason: OK" (keys, merges, duplicates) and text around the whole document.
KEY_LINES = ["reason: OK", "yes: OK", "<<: OK", "<<: {reason: Merged}", "<<: [{reason: Merged}]", "? reason\n    : OK",
             "reason: A\n    reason: B", "status: 500", "!!str reason: OK", "&k reason: OK", "reason : OK", "reason:  OK",
             "reason:\tOK", '"reason": OK', "'reason': OK", "reason: OK # c", "reason: &r OK\n    method: *r",
             "reason: OK\n      more", "Reason: OK", "reason_base64: T0s=", "reason: OK\n    reason_base64: T0s="]
AROUND = [("", ""), ("%YAML 1.1\n---\n", ""), ("---\n", ""), ("--- !!map\n", ""), ("\ufeff", ""), ("# c\n", ""),
          ("", "...\n"), ("", "---\nversion: 1\n"), ("", "# c\n"), ("", COMPLETE), ("", COMPLETE + "- x\n"),
          ("", "  started: x\n"), ("", "\n\n"), ("", "interactions: []\n"), ("", "- request: {}\n  response: {}\n")]
HEAD = "version: 1\ninteractions:\n"


def table() -> list[tuple[str, str]]:
    cases = [(f"{position} = {value!r}", (template if position == "version" else HEAD + template).format(value))
             for position, template in TEMPLATE.items() for value in DIFFERENCES]
    one = TEMPLATE["reason"].format("OK")
    cases += [(f"key line {line!r}", HEAD + one.replace("reason: OK", line)) for line in KEY_LINES]
    cases += [(f"around: {before!r} {after!r}", before + HEAD + one + after) for before, after in AROUND]
    return cases


def test_yaml_1_1_and_1_2_differences_in_every_position():
    failures = [f"{name}: {problem}" for name, text in table() if (problem := differs(text))]
    assert not failures, f"{len(failures)} cases:\n" + "\n".join(failures[:5])


@pytest.mark.parametrize("value", ["!foo x", "!!str x", "&a x", "*a", "x\n...\n", "x\n---\n"])
def test_tags_anchors_aliases_and_document_markers_are_left_to_pyyaml(tmp_path, value):
    text = HEAD + TEMPLATE["reason"].format(value)
    assert fast_parse(text) is None
    assert file_differs(tmp_path / "c.yaml", text.encode()) is None  # PyYAML's refusal, word for word


# A value of each form the writer uses, in a position where the fast path must read it (else it would read nothing)
TAKEN = [("reason", "caf\u00e9"), ("reason", "x#c"), ("url suffix", "1e3"), ("header value", "yes"), ("method", "ab\\"),
         ("reason", "'it''s'"), ("started", "'a\n      b'"), ("reason", '"a\n\n      b"'), ("reason", '"a\\\n  b"'),
         ("body", '"\\x41 \\u00e9 \\/ \\N \\_ \\L \\P \\e \\0 \\t \\a \\v"'), ("body", "|-\n      a\n      b"),
         ("body", "|+\n      a\n\n"), ("body", "|2-\n        a\n      b"), ("started", "|-\n    a\n     b"),
         ("duration", "1.0e+3"), ("status", "201")]


@pytest.mark.parametrize(("position", "value"), TAKEN)
def test_the_fast_path_reads_each_form_the_writer_uses(position, value):
    text = HEAD + TEMPLATE[position].format(value)
    assert fast_parse(text) is not None and differs(text) is None


# -- writer output of adversarial strings, and mutations of it (hypothesis) -------------------------------

ATOMS = st.sampled_from([value for value in DIFFERENCES if "\n" not in value] + [
    "\n", "\n\n", " ", "  ", "a", "Z", "word ", "\\", "'", '"', ":", ": ", "#", " #", "-", "- ", "\r\n", "\udce9"])
SHORT = st.lists(ATOMS | st.text(max_size=4), max_size=8).map("".join)
# past the writer's 4096 columns, where it folds quoted and plain scalars onto more lines
LONG = SHORT.map(lambda text: (text + " w") * (4200 // (len(text) + 2) + 1))
STRINGS = st.one_of(SHORT, SHORT, SHORT, LONG)
CONTENT_TYPES = st.sampled_from(["text/plain", "application/json; charset=utf-8", "image/png", ""])


@st.composite
def interactions(draw: st.DrawFn) -> Interaction:
    def message_parts() -> dict[str, object]:
        headers = [(draw(STRINGS) or "X", draw(STRINGS)) for _ in range(draw(st.integers(0, 2)))]
        headers.append(("Content-Type", draw(CONTENT_TYPES)))
        return {"headers": headers, "body": draw(STRINGS).encode("utf-8", "surrogatepass"), "raw": draw(st.booleans())}
    request = Request(method=draw(STRINGS) or "GET", url="https://fe1/" + draw(STRINGS), **message_parts())
    response = Response(status=draw(st.sampled_from([200, 404, 999])), reason=draw(STRINGS), **message_parts())
    return Interaction(request, response, started=draw(STRINGS),
                       duration=draw(st.floats(0, 1e12, allow_nan=False, allow_infinity=False)))


def written(cassette: list[Interaction]) -> str:
    return "version: 1\ninteractions:\n" + "".join(dump_interaction(i).decode() + COMPLETE for i in cassette)


@BOUNDED
@given(cassette=st.lists(interactions(), min_size=1, max_size=3), size=st.sampled_from(SLICES))
def test_writer_output_of_adversarial_strings(tmp_path, cassette, size):
    with slices_of(size):
        assert file_differs(tmp_path / "c.yaml", written(cassette).encode("utf-8")) is None


def swap_value(rng: random.Random, text: str) -> str:
    """A random value in the text replaced by one of DIFFERENCES, as written or quoted."""
    lines = text.split("\n")
    at = [i for i, line in enumerate(lines) if ": " in line or line.lstrip().startswith("- ")]
    i = rng.choice(at)
    cut = lines[i].index(": ") + 2 if ": " in lines[i] else lines[i].index("- ") + 2
    value = rng.choice(DIFFERENCES)
    lines[i] = lines[i][:cut] + rng.choice([value, f"'{value}'", f'"{value}"'])
    return "\n".join(lines)


def edit(rng: random.Random, text: str) -> str:
    """A few characters inserted, deleted or replaced at a random place."""
    at = rng.randrange(len(text))
    return text[:at] + rng.choice(["", " ", "\n", "  ", ":", "#", "'", '"', "-", "|", "\t", "x"]) + text[at + rng.randint(0, 2):]


@BOUNDED
@given(cassette=st.lists(interactions(), min_size=1, max_size=2), seed=st.integers(0, 2**32),
       count=st.integers(1, 4), size=st.sampled_from(SLICES))
def test_mutated_writer_output(tmp_path, cassette, seed, count, size):
    rng = random.Random(seed)
    text = written(cassette)
    for _ in range(count):
        text = rng.choice([swap_value, edit])(rng, text)
    with slices_of(size):
        assert file_differs(tmp_path / "c.yaml", text.encode("utf-8", "surrogatepass")) is None
