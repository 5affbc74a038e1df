"""Cassette files: exact bytes round-trip, readable text, one-line errors for bad files."""

from __future__ import annotations

import re

import pytest
from hostile import yaml_bomb
from ucwa_vcr.cassette import writer as writer_module
from ucwa_vcr.cassette.codec import COMPLETE, dump_interaction, load_cassette, parse
from ucwa_vcr.cassette.model import Cassette, Interaction, Request, Response
from ucwa_vcr.cassette.writer import CassetteWriter, check_writable, save_cassette
from ucwa_vcr.errors import CassetteError, FileError

BODIES = [
    (b'{"expirationTime":"\\/Date(1436925247778)\\/","d":"We\\u0027ll"}', "application/json"),
    (b'{\n "a" : 1,\n "trailing" : "spaces   "   \n}\n', "application/json; charset=utf-8"),
    (b"<?xml version=\"1.0\"?>\r\n<resource rel=\"x\">\r\n<property name=\"d\">We&amp;#39;ll</property></resource>",
     "application/xml"),
    (b"grant_type=password&username=a%40b&password=REDACTED-1", "application/x-www-form-urlencoded"),
    (b"  leading spaces\n\ttabs\n\n\nblank lines\n\n", "text/html"),
    (b"\x00\x01\xff\xfe binary", "application/octet-stream"),
    (b"caf\xc3\xa9 \xe2\x80\xa8 line separator \xc2\x85 nel", "text/plain"),
    (b"not utf-8 \xff", "application/json"),
    (b"", "application/json"),
]


@pytest.mark.parametrize(("body", "ctype"), BODIES)
def test_bodies_round_trip_byte_for_byte(tmp_path, body, ctype):
    path = tmp_path / "c.yaml"
    interaction = Interaction(Request(method="POST", url="https://fe1/x", headers=[("Content-Type", ctype)], body=body),
                              Response(status=200, reason="OK", headers=[("Content-Type", ctype), ("X-Odd", " a:b ")],
                                       body=body), started="2026-01-01T00:00:00.000+00:00", duration=0.25)
    save_cassette(path, Cassette([interaction]))
    loaded = load_cassette(path).interactions[0]
    assert loaded == interaction


def test_text_bodies_are_readable_and_binary_is_base64(tmp_path):
    path = tmp_path / "c.yaml"
    json_body = b'{\n "rel" : "myOnlineMeetings"\n}'
    save_cassette(path, Cassette([
        Interaction(Request(url="https://fe1/a"), Response(headers=[("Content-Type", "application/json")], body=json_body)),
        Interaction(Request(url="https://fe1/b"), Response(headers=[("Content-Type", "image/png")], body=b"\x89PNG")),
    ]))
    text = path.read_text()
    assert '    body: |-\n      {\n       "rel" : "myOnlineMeetings"\n      }' in text
    assert "body_base64: iVBORw==" in text


@pytest.mark.parametrize(("content", "expected"), [
    ("version: 1\ninteractions:\n- request: {method: GET, url: 'http://x/'\n", "c.yaml:4: "),
    ("version: 7\ninteractions: []\n", "c.yaml:1: unknown cassette version 7"),
    ("interactions: []\n", "c.yaml:1: no 'version' key"),
    ("version: 1\ninteractions:\n- request: {method: GET, url: 'http://x/'}\n", "c.yaml:3: interaction has no response"),
    ("version: 1\ninteractions:\n- request: {method: GET}\n  response: {status: 200}\n", "c.yaml:3: request has no url"),
    ("version: 1\ninteractions:\n- request: {method: GET, url: 'http://x/'}\n  response:\n    status: OK\n",
     "c.yaml:5: response status must be an HTTP status code, not 'OK'"),
    ("version: 1\ninteractions: !!python/object/apply:os.system ['echo pwned']\n", "c.yaml:2: unsupported YAML tag"),
])
def test_bad_cassettes_are_refused_with_file_and_line(tmp_path, content, expected):
    path = tmp_path / "c.yaml"
    path.write_text(content)
    with pytest.raises(FileError) as e:
        load_cassette(path)
    message = str(e.value)
    assert message.startswith(str(tmp_path / expected[: expected.index(":")]) + expected[expected.index(":"):]), message
    assert "\n" not in message


def test_unwritable_cassette_is_refused_before_recording(tmp_path):
    with pytest.raises(FileError, match="folder .*missing does not exist"):
        check_writable(tmp_path / "missing" / "c.yaml")
    with pytest.raises(FileError, match="it is a folder"):
        check_writable(tmp_path)


def exchange(n: int) -> Interaction:
    body = f'{{\n "subject" : "meeting {n}",\n "etag" : "{n}"\n}}'.encode()
    return Interaction(Request(method="POST", url=f"https://fe1/ucwa/v1/applications/1/onlineMeetings/{n}",
                               headers=[("Content-Type", "application/json")], body=body),
                       Response(status=201, reason="Created", headers=[("Content-Type", "application/json")],
                                body=body), started="2026-01-01T00:00:00.000+00:00", duration=0.125)


def test_a_body_ending_in_blank_lines_may_be_followed_by_more_interactions(tmp_path):
    # the emitter ends a document whose block keeps its final line breaks (`|+`) with "...": in the middle of a
    # cassette that ended the document, and the file did not load
    kept = Interaction(Request(url="https://fe1/k"), Response(headers=[("Content-Type", "text/plain")], body=b"k\n\n"))
    path = tmp_path / "c.yaml"
    save_cassette(path, Cassette([kept, exchange(1)]))
    assert "body: |+\n" in path.read_text() and "\n...\n" not in path.read_text()
    assert load_cassette(path).interactions == [kept, exchange(1)]


def test_loaded_interactions_share_texts_but_not_header_lists(tmp_path):
    path = tmp_path / "c.yaml"
    save_cassette(path, Cassette([exchange(1), exchange(1)]))
    first, second = load_cassette(path).interactions
    assert first.request.url is second.request.url and first.response.headers[0] is second.response.headers[0]
    first.request.headers.append(("X-Added", "1"))
    assert second.request.headers == exchange(1).request.headers


def test_recording_appends_each_batch_and_finishes_in_final_form(tmp_path):
    path = tmp_path / "c.yaml"
    loaded = [exchange(0)]
    save_cassette(path, Cassette(loaded))
    writer = CassetteWriter(path, loaded)
    writer.write([dump_interaction(exchange(1))])  # the first write replaces the file, the others append
    first = path.read_bytes()
    writer.write([dump_interaction(exchange(2)), dump_interaction(exchange(3))])
    assert path.read_bytes().startswith(first), "appended, not rewritten"
    assert path.read_text().count(COMPLETE) == 2
    assert load_cassette(path).interactions == [exchange(n) for n in range(4)]
    writer.finish()
    final = tmp_path / "final.yaml"
    save_cassette(final, Cassette([exchange(n) for n in range(4)]))
    assert path.read_bytes() == final.read_bytes(), "the finished file is what save() writes, without COMPLETE lines"


def test_a_write_cut_short_anywhere_loses_only_that_write(tmp_path, caplog):
    path = tmp_path / "c.yaml"
    writer = CassetteWriter(path, [])
    writer.write([dump_interaction(exchange(1))])
    writer.write([dump_interaction(exchange(2))])
    before = path.read_bytes()
    writer.write([dump_interaction(exchange(3)), dump_interaction(exchange(4))])
    whole = path.read_bytes()
    for cut in range(len(before), len(whole)):  # a kill can stop the last write after any byte
        text = whole[:cut].decode("utf-8", errors="ignore")
        assert parse(text, "c.yaml").interactions == [exchange(1), exchange(2)], f"cut at {cut}"
    first_dropped = before.count(b"\n") + 1
    assert f"c.yaml:{first_dropped}: ignoring the " in caplog.text
    assert "a recording was interrupted" in caplog.text
    assert parse(whole.decode(), "c.yaml").interactions == [exchange(n) for n in range(1, 5)]


def test_after_a_failed_append_or_a_removed_file_the_next_write_is_whole(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    writer = CassetteWriter(path, [])
    writer.write([dump_interaction(exchange(1))])

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer_module.os, "open", disk_full)
    with pytest.raises(OSError):
        writer.write([dump_interaction(exchange(2))])
    monkeypatch.undo()
    path.write_bytes(path.read_bytes()[:-10])  # and suppose the failed append left a cut tail
    writer.write([dump_interaction(exchange(3))])
    assert load_cassette(path).interactions == [exchange(1), exchange(2), exchange(3)]
    path.unlink()  # removed while recording: the next write brings back the whole cassette
    writer.write([dump_interaction(exchange(4))])
    assert load_cassette(path).interactions == [exchange(n) for n in range(1, 5)]


# -- bad input: one line naming the file and the line, memory bounded (issue 11) ---------------------

BILLION_LAUGHS = "version: 1\n" + yaml_bomb() + "interactions: []\n"
ONE = "version: 1\ninteractions:\n- request:\n    method: GET\n    url: {url}\n  response:\n    status: {status}\n"


@pytest.mark.parametrize(("content", "expected"), [
    (BILLION_LAUGHS, "c.yaml:3: YAML aliases (*a) are not allowed in a cassette"),
    ("version: 1\ninteractions: &s [*s]\n", "c.yaml:2: YAML aliases (*s) are not allowed"),
    ("version: 1\ninteractions:\n- &x {request: {method: GET, url: 'http://x/'}, response: {status: 200}}\n- *x\n",
     "c.yaml:4: YAML aliases (*x) are not allowed"),
    (ONE.format(url="https://fe1/", status="2" + "0" * 4400), "c.yaml:7: an integer of 4401 digits is too long"),
    ("version: 1\ninteractions: []\nstarted: 2001-13-45\n", "c.yaml:3: not a valid timestamp: month must be in 1..12"),
    ("version: 1\ninteractions: !!timestamp soon\n", "c.yaml:2: 'soon' is not a valid timestamp"),
    (ONE.format(url="'http://fe1:99999/x'", status=200), "c.yaml:5: url 'http://fe1:99999/x' does not parse: Port out of range"),
    (ONE.format(url="'http://[::1/x'", status=200), "c.yaml:5: url 'http://[::1/x' does not parse: Invalid IPv6 URL"),
    (ONE.format(url="'https://fe1:0/'", status=200), "c.yaml:5: url 'https://fe1:0/' has port 0"),
    (ONE.format(url="ftp://fe1/x", status=200), "c.yaml:5: url 'ftp://fe1/x' is not http or https"),
    (ONE.format(url="https:///x", status=200), "c.yaml:5: url 'https:///x' has no host"),
    (ONE.format(url="https://fe1/", status=200) + "  duration: .nan\n", "c.yaml:8: duration must be a number of seconds"),
    (ONE.format(url="https://fe1/", status=200) + "  duration: 1" + "0" * 400 + "\n", "c.yaml:8: duration must be"),
    (ONE.format(url="https://fe1/", status=200) + "    headers: [{base64: '%%'}]\n", "c.yaml:8: header base64 is not base64"),
    ("version: 1\ninteractions: []\nx: \"a\x01b\"\n", "c.yaml:3: character #x0001 is not allowed in YAML"),
    ("version: 1\ninteractions: " + "[" * 2000 + "]" * 2000 + "\n", "c.yaml:2: exceeded maximum nesting depth"),
])
def test_malformed_cassettes_are_one_line_with_file_and_line(tmp_path, content, expected):
    path = tmp_path / "c.yaml"
    path.write_text(content)
    for load in (lambda: load_cassette(path), lambda: parse(content, str(path))):
        with pytest.raises(FileError) as e:
            load()
        message = str(e.value)
        assert message.startswith(f"{tmp_path}/{expected}"), message
        assert "\n" not in message and len(message) < 400


def test_bytes_that_are_not_utf8_are_refused_with_their_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"version: 1\ninteractions: []\n# caf\xe9\n")
    with pytest.raises(FileError, match=r"c\.yaml:3: not UTF-8 text \(byte 0xe9\)"):
        load_cassette(path)


# -- bytes that are not UTF-8 in heads: kept exactly -----------------------------------------------

SURROGATES = Interaction(
    Request(method="G\udcc9T", url="https://fe1/caf\udce9?q=\udcff",
            headers=[("X-Latin1", "caf\udce9"), ("X-Plain", "caf\u00e9"), ("X-\udc80", "v")]),
    Response(status=200, reason="R\udce9ussi", headers=[("Content-Type", "text/plain; charset=\udce9")], body=b"ok"),
    started="2026-01-01T00:00:00.000+00:00")


def test_header_bytes_that_are_not_utf8_round_trip_exactly(tmp_path):
    text = dump_interaction(SURROGATES).decode("utf-8")
    assert "- 'X-Plain: caf\u00e9'" in text  # valid text stays plain
    assert "- base64: WC1MYXRpbjE6IGNhZuk=" in text  # b"X-Latin1: caf\xe9"
    assert "url_base64: aHR0cHM6Ly9mZTEvY2Fm6T9xPf8=" in text and "\n    url:" not in text
    assert "method_base64: R8lU" in text and "reason_base64: Uul1c3Np" in text
    loaded = parse(f"version: 1\ninteractions:\n{text}", "c.yaml").interactions[0]
    assert loaded == SURROGATES
    path = tmp_path / "c.yaml"
    save_cassette(path, Cassette([SURROGATES]))
    assert load_cassette(path).interactions == [SURROGATES]
    assert [v.encode("utf-8", "surrogateescape") for _, v in loaded.request.headers][0] == b"caf\xe9"


def test_plain_heads_are_written_as_before():
    plain = exchange(1)
    text = dump_interaction(plain).decode()
    assert "base64" not in text.replace("body_base64", "")
    assert "    url: https://fe1/ucwa/v1/applications/1/onlineMeetings/1\n" in text
    assert "    - 'Content-Type: application/json'\n" in text


@pytest.mark.parametrize(("request_data", "expected"), [
    ({"method": "GET", "url": "https://fe1/", "headers": ["X-A: 1", {"base64": "WDog"}, "X-B: \ud800"]},
     "header holds a lone surrogate; write its bytes as {base64: ...}"),
    ({"method": "GET", "url": "https://fe1/\ud800"}, "request url holds a lone surrogate; write its bytes as url_base64"),
    ({"method": "GET", "url": "https://fe1/", "url_base64": "aHR0cHM6Ly9mZTEv"}, "request has both url and url_base64"),
    ({"method": "GET", "url_base64": "not base64!"}, "url_base64 is not base64"),
    ({"method": "GET", "url_base64": "aHR0cDovL1s6OjEveA=="}, "url 'http://[::1/x' does not parse"),
])
def test_heads_the_proxy_could_not_send_are_refused(request_data, expected):
    # libyaml refuses a "\ud800" escape; the pure-Python YAML reader lets it through
    with pytest.raises(CassetteError, match=re.escape(expected)):
        Cassette.from_data({"version": 1, "interactions": [{"request": request_data, "response": {"status": 200}}]})
