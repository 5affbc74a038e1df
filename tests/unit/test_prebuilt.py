"""Work on recorded answers done once (proxy.flows.prebuilt and Memo): the same bytes as building them per request,
independent responses, bounded, and for one cassette at a time."""

from __future__ import annotations

import gzip

import pytest
from mitmproxy.net import encoding
from ucwa_vcr.cassette.model import Response
from ucwa_vcr.proxy.flows import Memo, body_size, prebuilt, response_of

GZIPPED = Response(status=200, reason="OK", headers=[("Content-Type", "application/json"), ("Content-Encoding", "gzip"),
                                                      ("Transfer-Encoding", "chunked"), ("X-Name", "caf\udce9")],
                   body=b'{"subject": "' + b"x" * 3000 + b'"}')
TAPE = object()  # what recorded answers belong to (the session's matcher)
RAW = Response(status=404, reason="Pas trouvé", headers=[("Content-Encoding", "gzip"), ("Content-Length", "9")],
               body=b"\x1f\x8bnot gzip", raw=True)


def answers(budget: int = 64 * 2**20) -> Memo:
    """A memo of built answers, as the replayer keeps one."""
    return Memo(budget, body_size)


def wire(response) -> tuple:
    return (response.http_version, response.status_code, response.data.reason, response.headers.fields,
            response.raw_content, response.trailers)


@pytest.mark.parametrize("recorded", [GZIPPED, RAW, Response(status=204)], ids=["gzip", "raw", "empty"])
@pytest.mark.parametrize("http_version", ["HTTP/1.1", "HTTP/2.0", "HTTP/1.0"])
def test_a_prebuilt_answer_is_what_building_it_per_request_gives(recorded, http_version):
    built = answers()
    for _ in range(3):  # built, then served from the cache
        assert wire(prebuilt(built, TAPE, recorded, http_version)) == wire(response_of(recorded, http_version))


def test_the_body_is_encoded_once_however_often_it_is_answered(monkeypatch):
    calls = []
    real = encoding.encode
    monkeypatch.setattr(encoding, "encode", lambda content, name: calls.append(name) or real(content, name))
    built = answers()
    given = [prebuilt(built, TAPE, GZIPPED) for _ in range(50)]
    assert calls == ["gzip"]
    assert {gzip.decompress(a.raw_content) for a in given} == {GZIPPED.body}


def test_each_answer_is_a_response_of_its_own():
    built = answers()
    first = prebuilt(built, TAPE, GZIPPED)
    first.headers["X-Fault"] = "injected"  # as the faults addon may change an answer
    first.status_code = 503
    first.content = b"changed"
    second = prebuilt(built, TAPE, GZIPPED)
    assert "X-Fault" not in second.headers and second.status_code == 200
    assert gzip.decompress(second.raw_content) == GZIPPED.body
    assert second.timestamp_start >= first.timestamp_start


def test_the_cache_keeps_the_most_recently_used_answers_within_its_budget():
    bodies = [Response(status=200, body=bytes([65 + n]) * 1000) for n in range(10)]
    built = answers(budget=3500)
    for recorded in bodies:
        prebuilt(built, TAPE, recorded)
        prebuilt(built, TAPE, bodies[0])  # kept in use: never the one dropped
        assert built.size <= 3500
    kept = {b.body for b in (bodies[0], *bodies[-2:])}
    assert [r.raw_content in kept for r in built._results.values()] == [True] * 3


def test_the_cache_is_emptied_for_another_tape():
    built, other = answers(), object()
    first = prebuilt(built, TAPE, GZIPPED)
    assert prebuilt(built, other, GZIPPED).raw_content == first.raw_content
    assert built.tape is other and built.size == len(first.raw_content), "only the other tape's answer kept"


def test_a_memo_works_once_per_key_for_one_tape_and_keeps_the_latest_keys():
    memo: Memo[str] = Memo(2)
    work = []

    def read(key: str) -> str:
        return memo.get(TAPE, key, lambda: work.append(key) or key.upper())

    assert [read(k) for k in ("a", "b", "a", "c", "a", "b")] == ["A", "B", "A", "C", "A", "B"]
    assert work == ["a", "b", "c", "b"], "b was the least recently used when c came"
    assert memo.get(object(), "a", lambda: "again") == "again", "another tape: nothing remembered"
