"""`ucwa-vcr show`'s reading of exchanges never raises on odd content: malformed URLs, heads that are not UTF-8,
bodies nested deeper than Python recurses (issue 11)."""

from __future__ import annotations

import pytest
from ucwa_vcr.cassette.model import Cassette, Interaction, Request, Response
from ucwa_vcr.tools.show import pretty_body, rows, select, short_path, shown, ucwa_error

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
