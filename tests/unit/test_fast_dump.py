"""The writer's fast path against the reference (issue 17): dump_interaction writes exactly the bytes PyYAML writes.

codec._template writes the usual shapes directly and declines the rest (then PyYAML writes them). Here it must give
`pyyaml_dump`'s bytes on every interaction: hypothesis-made ones with adversarial strings (every Unicode category,
surrogate-escaped bytes, YAML 1.1's line breaks, the byte order mark, indicators, quotes, words the resolver reads
as bools, nulls, numbers or timestamps, lines near the folding width, bodies with trailing blank lines, tabs and
CRLF, raw and base64 bodies), every cassette in the repository and the fuzz corpus. It must also take the fast
path on the usual shapes: otherwise the comparisons would prove nothing.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz_loaders import SEED, mutants, small_cassette
from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.cassette.codec import _template, dump_interaction, load_cassette, pyyaml_dump
from ucwa_vcr.cassette.model import Interaction, Request, Response
from ucwa_vcr.errors import FileError

ROOT = Path(__file__).resolve().parents[2]
APP = "https://fe1.contoso.com/ucwa/oauth/v1/applications/10934565897"
BOUNDED = settings(max_examples=400, derandomize=True, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Pieces that change how libyaml writes a scalar: indicators first or anywhere, quotes, spaces where they matter,
# breaks (YAML 1.1's too), characters it escapes, and words the resolver reads as something other than a str.
STRUCTURE = ["- ", "-", "? ", "?", ":", ": ", " #", "#", "---", "...", "'", '"', "|", ">", "%", "@", "`", "&", "*",
             "!", ",", "[", "]", "{", "}", "\\", " ", "  ", "\n", "\n\n", " \n", "\n ", "\r\n"]
CHARACTERS = ["\t", "\r", "\x00", "\x07", "\x1b", "\x7f", "\x85", "\xa0", "\u2028", "\u2029", "\ufeff", "\ufffd",
              "\ufffe", "\U0001f600", "\udce9", "\udc80", "\ud800", "caf\u00e9", "\u4e2d"]
WORDS = ["yes", "No", "ON", "off", "true", "False", "null", "~", "Null", "0", "17", "017", "0x1F", "0b101", "0o17",
         "1_000", "+1", "-1", "1.5", "1e3", "1.0e+3", ".inf", "-.Inf", ".nan", "1:30", "190:20:30", "2026-01-01",
         "2026-11-25T16:33:43.479+00:00", "2001-12-14 21:59:43.10 -5", "<<", "=", "=x", "x=y"]
USUAL = st.text(st.sampled_from("abcXYZ019/._-?&=;,() "), max_size=12)
PIECE = st.one_of(USUAL, st.sampled_from(STRUCTURE), st.sampled_from(CHARACTERS), st.sampled_from(WORDS),
                  st.text(st.characters(), max_size=3), st.text(st.characters(categories=["Cs"]), max_size=2))
LONG = st.builds(lambda unit, n: unit * n, st.sampled_from(["a ", "ab", "x'", "\u00e9 ", "a:"]), st.integers(1990, 2060))
TEXT = st.one_of(st.lists(PIECE, max_size=8).map("".join), LONG)
BODY_TEXT = st.lists(st.one_of(PIECE, st.sampled_from(["\n", "\n\n", "\n\n\n", "  {\n", '"a": 1,\n', "<x/>\n"])),
                     max_size=12).map("".join)
CONTENT_TYPES = ["application/json", "application/xml; charset=utf-8", "text/plain", "image/png",
                 "application/vnd.microsoft.com.ucwa+json", "application/x-www-form-urlencoded"]
BODY = st.one_of(st.just(b""), BODY_TEXT.map(lambda text: text.encode("utf-8", "surrogatepass")), st.binary(max_size=40))
DURATION = st.one_of(st.floats(min_value=0, max_value=1e9), st.floats(), st.sampled_from([0.0, -0.0, 1e-6, 5e-7, 1e20]))


def headers() -> st.SearchStrategy[list[tuple[str, str]]]:
    usual = st.tuples(st.sampled_from(["Authorization", "Accept", "X-Ms-Correlation-Id", "ETag"]), TEXT)
    content_type = st.tuples(st.just("Content-Type"), st.sampled_from(CONTENT_TYPES))
    return st.lists(st.one_of(usual, content_type, st.tuples(TEXT, TEXT)), max_size=4)


INTERACTIONS = st.builds(
    Interaction,
    request=st.builds(Request, method=st.one_of(st.just("GET"), TEXT), url=st.one_of(st.just(APP), TEXT.map(APP.__add__)),
                      headers=headers(), body=BODY, raw=st.booleans()),
    response=st.builds(Response, status=st.one_of(st.integers(100, 999), st.integers(-10**20, 10**20)),
                       reason=st.one_of(st.just("OK"), TEXT), headers=headers(), body=BODY, raw=st.booleans()),
    started=st.one_of(st.just("2026-11-25T16:33:43.479+00:00"), TEXT), duration=DURATION)


def same_as_reference(interaction: Interaction) -> bool:
    return dump_interaction(interaction) == pyyaml_dump(interaction.to_data())


@BOUNDED
@given(INTERACTIONS)
def test_adversarial_interactions_are_written_as_pyyaml_writes_them(interaction):
    assert dump_interaction(interaction) == pyyaml_dump(interaction.to_data())


def usual(body: bytes, content_type: str) -> Interaction:
    """An exchange of the shape a recording writes most: bearer token, JSON or XML, a timestamp and a duration."""
    return Interaction(
        Request(url=f"{APP}/people/contacts?etag=12", headers=[("Host", "fe1.contoso.com"), ("Authorization", "Bearer cwt=AAEB"),
                                                                ("Accept", content_type)]),
        Response(reason="OK", headers=[("Content-Type", content_type), ("ETag", '"17"')], body=body),
        started="2026-11-25T16:33:43.479+00:00", duration=0.000262)


USUAL_SHAPES = {
    "no body": usual(b"", "application/json"),
    "one-line JSON": usual(b'{"name": "Caf\xc3\xa9 \xe4\xb8\xad", "n": [1, 2]}', "application/json"),
    "JSON": usual(json.dumps({"a": [1, {"b": "c d"}], "e": None}, indent=2).encode() + b"\n", "application/json"),
    "XML": usual(b'<?xml version="1.0"?>\n<resource rel="user">\n\n  <link href="/x"/>\n</resource>',
                 "application/xml; charset=utf-8"),
    "base64 body": usual(b"\x89PNG\r\n", "image/png"),
}


@pytest.mark.parametrize("name", sorted(USUAL_SHAPES))
def test_the_usual_shapes_take_the_fast_path(name):
    interaction = USUAL_SHAPES[name]
    assert _template(interaction.to_data()) is not None
    assert same_as_reference(interaction)


def exchange_with(field: str, text: str) -> Interaction:
    """A usual exchange with `text` in one field (in a body: its UTF-8 bytes, surrogates passed through)."""
    interaction = usual(b'{"a": 1}', "application/json")
    if field == "header":
        interaction.request.headers.append(("X-Test", text))
    elif field == "body":
        interaction.response.body = text.encode("utf-8", "surrogatepass")
    elif field == "url":
        interaction.request.url = APP + text
    elif field == "reason":
        interaction.response.reason = text
    else:
        setattr(interaction, field, text)
    return interaction


@settings(BOUNDED, max_examples=1500)
@given(st.one_of(st.tuples(st.sampled_from(["header", "url", "reason", "started"]), TEXT),
                 st.tuples(st.just("body"), BODY_TEXT)))
def test_one_adversarial_string_in_a_usual_exchange(field_and_text):
    interaction = exchange_with(*field_and_text)
    assert dump_interaction(interaction) == pyyaml_dump(interaction.to_data())


def repository_cassettes() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.yaml", "*.yml"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.split()
    return [ROOT / name for name in listed]


@pytest.mark.parametrize("path", repository_cassettes(), ids=str)
def test_every_cassette_in_the_repository(path):
    try:
        interactions = load_cassette(path).interactions
    except FileError:
        pytest.skip("not a cassette")
    assert [i for i in interactions if not same_as_reference(i)] == []
    assert all(_template(i.to_data()) is not None for i in interactions if not i.response.raw)


def test_the_fuzz_corpus(tmp_path):
    rng = random.Random(SEED)
    cases = mutants(DEFAULT_CASSETTE.read_bytes(), 300, rng) + mutants(small_cassette(tmp_path), 300, rng)
    path, compared = tmp_path / "c.yaml", 0
    for name, data in cases:
        path.write_bytes(data)
        try:
            interactions = load_cassette(path).interactions
        except FileError:
            continue
        compared += len(interactions)
        assert [i for i in interactions if not same_as_reference(i)] == [], name
    assert compared > 300  # the corpus is not all refusals
