"""`ucwa-vcr show`'s reading of exchanges never raises on odd content: malformed URLs, heads that are not UTF-8,
bodies nested deeper than Python recurses (issue 11)."""

from __future__ import annotations

import pytest
from ucwa_vcr.cassette.model import Cassette, Interaction, Request, Response
from ucwa_vcr.tools.show import batch_parts, describe_parts, pretty_body, rows, select, short_path, shown, ucwa_error

DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(("url", "path"), [
    ("https://fe1/ucwa/oauth/v1/applications/833/me?a=1", "{app}/me?a=1"),
    ("http://[::1/x?q=1", "/x?q=1"),
    ("https://fe1:99999/y", "/y"),
    ("https://h\u2100x/z", "/z"),
    ("https://fe1/caf\udce9?q=\udcff", "/caf\\xe9?q=\\xff"),
])
def test_short_path_of_any_url(url, path):
    assert short_path(url) == path


def test_heads_that_are_not_utf8_are_shown_as_escapes():
    assert shown("G\udcc9T caf\u00e9") == "G\\xc9T caf\u00e9"
    cassette = Cassette([Interaction(Request(method="G\udcc9T", url="https://fe1/x"), Response())])
    assert rows(cassette)[0].method == "G\\xc9T"


@pytest.mark.parametrize(("ctype", "body", "error"), [
    ("application/json", DEEP, ""),
    ("application/json", b'{"code": {"nested": 1}, "subcode": [1]}', ""),
    ("application/json", b'{"code": "Conflict", "subcode": "TooManyOnlineMeetings"}', "Conflict/TooManyOnlineMeetings"),
    ("application/xml", b"<" * 1000, ""),
])
def test_ucwa_error_and_pretty_body_never_raise(ctype, body, error):
    response = Response(status=409, headers=[("Content-Type", ctype)], body=body)
    assert ucwa_error(Interaction(Request(url="https://fe1/x"), response)) == error
    assert pretty_body(response)[0]


def test_urls_mitmproxy_cannot_parse_are_filtered_all_the_same():
    cassette = Cassette([Interaction(Request(url="https://fe1/x"), Response()),
                         Interaction(Request(url="https://fe1/caf\u00e9"), Response()),
                         Interaction(Request(url="https://fe1/caf\udce9"), Response())])
    assert select(cassette, "~u caf") == [1, 2]


# -- batches ---------------------------------------------------------------------------------------------------------

APP = "https://fe1/ucwa/oauth/v1/applications/833"


def batch_exchange(answered: int = 2) -> Interaction:
    parts = [("GET", "/me", "application/json"), ("POST", "/onlineMeetings/myOnlineMeetings", "application/json")]
    body = "".join(f"--b\r\nContent-Type: application/http; msgtype=request\r\n\r\n{m} /ucwa/oauth/v1/applications/833{p} "
                   f"HTTP/1.1\r\nAccept: {a}\r\n\r\n" for m, p, a in parts) + "--b--\r\n"
    answers = [b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"rel":"me","name":"Dana"}',
               b'HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\n\r\n'
               b'{"code":"Conflict","subcode":"TooManyOnlineMeetings"}'][:answered]
    answer = b"".join(b"--o\r\nContent-Type: application/http; msgtype=response\r\n\r\n" + a + b"\r\n" for a in answers)
    return Interaction(Request(method="POST", url=f"{APP}/batch", headers=[("Content-Type", "multipart/batching;boundary=b")],
                               body=body.encode()),
                       Response(headers=[("Content-Type", 'multipart/batching; boundary="o"')], body=answer + b"--o--\r\n"))


def test_a_batch_row_counts_its_parts():
    cassette = Cassette([Interaction(Request(url=f"{APP}/me"), Response()), batch_exchange()])
    assert [(r.path, r.parts) for r in rows(cassette)] == [("{app}/me", 0), ("{app}/batch", 2)]
    assert rows(cassette)[1].as_dict()["parts"] == 2


def test_a_batch_lists_its_parts_with_method_path_and_status():
    assert [p.as_dict() for p in batch_parts(batch_exchange())] == [
        {"part": 1, "method": "GET", "path": "{app}/me", "status": 200, "error": "", "size": 26},
        {"part": 2, "method": "POST", "path": "{app}/onlineMeetings/myOnlineMeetings", "status": 409,
         "error": "Conflict/TooManyOnlineMeetings", "size": 53}]
    assert describe_parts(batch_exchange(answered=1)) == ["1. GET {app}/me -> 200",
                                                          "2. POST {app}/onlineMeetings/myOnlineMeetings -> no answer"]
    assert batch_parts(Interaction(Request(url=f"{APP}/me"), Response())) == []


def test_a_batch_body_is_shown_part_by_part_each_pretty_printed():
    exchange = batch_exchange()
    request, _ = pretty_body(exchange.request)
    assert request.splitlines()[:2] == ["--- part 1 of 2: GET /ucwa/oauth/v1/applications/833/me HTTP/1.1",
                                        "Accept: application/json"]
    assert "--- part 2 of 2: POST /ucwa/oauth/v1/applications/833/onlineMeetings/myOnlineMeetings HTTP/1.1" in request
    response, lexer = pretty_body(exchange.response)
    assert lexer == "text"
    assert response.startswith("--- part 1 of 2: HTTP/1.1 200 OK\nContent-Type: application/json\n\n{\n  \"rel\": \"me\",")
    assert "--- part 2 of 2: HTTP/1.1 409 Conflict" in response


def test_a_batch_in_a_batch_is_not_unfolded():
    inner = b"--i\r\n\r\nGET /x HTTP/1.1\r\n--i--"
    body = (b"--o\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: multipart/batching; boundary=i\r\n\r\n" + inner + b"\r\n--o--")
    text, _ = pretty_body(Response(headers=[("Content-Type", "multipart/batching; boundary=o")], body=body))
    assert text.endswith(inner.decode()) and text.count("--- part") == 1
