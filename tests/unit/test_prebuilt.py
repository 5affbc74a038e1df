"""Recorded answers built once (proxy.flows.Prebuilt): the same bytes as building them per request, independent
responses, bounded, and made for one cassette."""

from __future__ import annotations

import gzip

import pytest
from mitmproxy.net import encoding
from ucwa_vcr.cassette.model import Response
from ucwa_vcr.proxy.flows import Prebuilt, response_of

GZIPPED = Response(status=200, reason="OK", headers=[("Content-Type", "application/json"), ("Content-Encoding", "gzip"),
                                                      ("Transfer-Encoding", "chunked"), ("X-Name", "caf\udce9")],
                   body=b'{"subject": "' + b"x" * 3000 + b'"}')
RAW = Response(status=404, reason="Pas trouvé", headers=[("Content-Encoding", "gzip"), ("Content-Length", "9")],
               body=b"\x1f\x8bnot gzip", raw=True)


def wire(response) -> tuple:
    return (response.http_version, response.status_code, response.data.reason, response.headers.fields,
            response.raw_content, response.trailers)


@pytest.mark.parametrize("recorded", [GZIPPED, RAW, Response(status=204)], ids=["gzip", "raw", "empty"])
@pytest.mark.parametrize("http_version", ["HTTP/1.1", "HTTP/2.0", "HTTP/1.0"])
def test_a_prebuilt_answer_is_what_building_it_per_request_gives(recorded, http_version):
    prebuilt = Prebuilt()
    for _ in range(3):  # built, then served from the cache
        assert wire(prebuilt.response(recorded, http_version)) == wire(response_of(recorded, http_version))


def test_the_body_is_encoded_once_however_often_it_is_answered(monkeypatch):
    calls = []
    real = encoding.encode
    monkeypatch.setattr(encoding, "encode", lambda content, name: calls.append(name) or real(content, name))
    prebuilt = Prebuilt()
    answers = [prebuilt.response(GZIPPED) for _ in range(50)]
    assert calls == ["gzip"]
    assert {gzip.decompress(a.raw_content) for a in answers} == {GZIPPED.body}


def test_each_answer_is_a_response_of_its_own():
    prebuilt = Prebuilt()
    first = prebuilt.response(GZIPPED)
    first.headers["X-Fault"] = "injected"  # as the faults addon may change an answer
    first.status_code = 503
    first.content = b"changed"
    second = prebuilt.response(GZIPPED)
    assert "X-Fault" not in second.headers and second.status_code == 200
    assert gzip.decompress(second.raw_content) == GZIPPED.body
    assert second.timestamp_start >= first.timestamp_start


def test_the_cache_keeps_the_most_recently_used_answers_within_its_budget():
    bodies = [Response(status=200, body=bytes([65 + n]) * 1000) for n in range(10)]
    prebuilt = Prebuilt(budget=3500)
    for recorded in bodies:
        prebuilt.response(recorded)
        prebuilt.response(bodies[0])  # kept in use: never the one dropped
        assert prebuilt.size <= 3500
    assert [r is bodies[0] or r in bodies[-2:] for r, _ in prebuilt._built.values()] == [True] * 3


def test_a_cache_is_for_one_tape():
    tape, other = object(), object()
    prebuilt = Prebuilt(tape)
    prebuilt.response(GZIPPED)
    assert prebuilt.for_tape(tape) is prebuilt
    fresh = prebuilt.for_tape(other)
    assert fresh is not prebuilt and fresh.tape is other and fresh.size == 0
