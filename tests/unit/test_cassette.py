"""Cassette files: exact bytes round-trip, readable text, one-line errors for bad files."""

from __future__ import annotations

import json
import time

import pytest
from ucwa_vcr.cassette import cache as cache_module
from ucwa_vcr.cassette import writer as writer_module
from ucwa_vcr.cassette.cache import load_cassette
from ucwa_vcr.cassette.codec import COMPLETE, dump_interaction, parse
from ucwa_vcr.cassette.model import Cassette, Interaction, Request, Response
from ucwa_vcr.cassette.writer import CassetteWriter, check_writable, save_cassette
from ucwa_vcr.errors import FileError

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


def test_parsed_cassettes_are_cached_by_content(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("UCWA_VCR_CACHE", str(cache))
    path = tmp_path / "c.yaml"
    one = Interaction(Request(url="https://fe1/a"), Response(headers=[("Content-Type", "application/json")], body=b"{}"))
    save_cassette(path, Cassette([one]))
    first = load_cassette(path)
    entries = list(cache.glob("*.json"))
    assert len(entries) == 1 and load_cassette(path) == first
    entries[0].write_text('{"version": 1, "interactions": []}')  # a hit is served from the cache...
    assert load_cassette(path).interactions == []
    path.write_text(path.read_text().replace("https://fe1/a", "https://fe1/b"))  # ...and any change is a new key
    assert load_cassette(path).interactions[0].request.url == "https://fe1/b"
    assert len(list(cache.glob("*.json"))) == 2
    entries[0].write_text("{not json")  # a broken entry: the YAML is parsed again
    path.write_text(path.read_text().replace("https://fe1/b", "https://fe1/a"))
    assert load_cassette(path).interactions[0].request.url == "https://fe1/a"
    monkeypatch.setenv("UCWA_VCR_CACHE", "off")
    entries[0].write_text('{"version": 1, "interactions": []}')
    assert load_cassette(path).interactions[0].request.url == "https://fe1/a"


def exchange(n: int) -> Interaction:
    body = f'{{\n "subject" : "meeting {n}",\n "etag" : "{n}"\n}}'.encode()
    return Interaction(Request(method="POST", url=f"https://fe1/ucwa/v1/applications/1/onlineMeetings/{n}",
                               headers=[("Content-Type", "application/json")], body=body),
                       Response(status=201, reason="Created", headers=[("Content-Type", "application/json")],
                                body=body), started="2026-01-01T00:00:00.000+00:00", duration=0.125)


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


def test_the_cache_keeps_the_most_recently_used_within_its_budget(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("UCWA_VCR_CACHE", str(cache))
    paths = [tmp_path / f"c{n}.yaml" for n in range(3)]
    for n, path in enumerate(paths):
        save_cassette(path, Cassette([exchange(n)]))
    load_cassette(paths[0])
    entry_size = next(cache.glob("*.json")).stat().st_size
    monkeypatch.setattr(cache_module, "CACHE_BUDGET", int(entry_size * 2.5))  # room for two entries
    for path in (paths[1], paths[0], paths[2]):  # c0 used again after c1: c1 is the least recently used
        time.sleep(0.01)  # distinct modification times
        load_cassette(path)
    kept = {json.loads(entry.read_text())["interactions"][0]["request"]["url"] for entry in cache.glob("*.json")}
    assert kept == {exchange(0).request.url, exchange(2).request.url}
