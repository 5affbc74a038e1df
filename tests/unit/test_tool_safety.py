"""Issue 11, tools that mislead: `diff` that saw no header and always said 0, `redact` run twice that replaced its
backup with the redacted copy, `import -o` that replaced a cassette without a word. Driven as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.cassette.codec import load_cassette
from ucwa_vcr.cassette.model import Cassette, Interaction, Request, Response
from ucwa_vcr.cassette.writer import save_cassette

SEED = str(DEFAULT_CASSETTE)
CANARY_TOKEN = "cwt=AAEBHAAAAGxpdmUuY29tAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-safety-live-token"


def one_line(out) -> str:  # a ToolRun of run_ucwa_vcr
    assert "Traceback" not in out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


def files_in(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def saved(path: Path, cassette: Cassette) -> str:
    save_cassette(path, cassette)
    return str(path)


# -- diff ------------------------------------------------------------------------------------------

def test_diff_of_equal_cassettes_exits_0_like_diff1(run_ucwa_vcr, tmp_path):
    same = saved(tmp_path / "same.yaml", load_cassette(SEED))
    out = run_ucwa_vcr("diff", SEED, same)
    assert out.returncode == 0 and out.stdout.strip() == "0 added, 0 removed, 0 changed, 4 unchanged"
    assert run_ucwa_vcr("diff", SEED, same, "--json", "--strict").returncode == 0


def test_diff_compares_headers_and_exits_1_when_the_cassettes_differ(run_ucwa_vcr, tmp_path):
    b = load_cassette(SEED)
    first, second, third = (b.interactions[n].response for n in range(3))
    first.headers = [(name.lower(), value) for name, value in reversed(first.headers)]  # same headers, told otherwise
    second.headers[0] = ("Content-Type", "text/xml")
    second.headers.append(("Date", "Tue, 14 Nov 2023 22:13:20 GMT"))  # new in every session
    third.headers[0] = ("ETag", "0badc0de")
    pb = saved(tmp_path / "b.yaml", b)

    out = run_ucwa_vcr("diff", SEED, pb)
    assert out.returncode == 1
    assert out.stdout.splitlines()[1:] == ["    header Content-Type: application/xml -> text/xml",
                                           "0 added, 0 removed, 1 changed, 3 unchanged"]
    result = json.loads(run_ucwa_vcr("diff", SEED, pb, "--json").stdout)
    assert [(c["index_a"], c["headers"]) for c in result["changed"]] == [
        (1, [{"name": "Content-Type", "a": "application/xml", "b": "text/xml"}])]

    strict = run_ucwa_vcr("diff", SEED, pb, "--strict")
    assert strict.returncode == 1
    assert "    header Date: <absent> -> Tue, 14 Nov 2023 22:13:20 GMT" in strict.stdout.splitlines()
    assert "    header Etag: ad207a38-2c52-4443-9b01-8228f44c1eb7 -> 0badc0de" in strict.stdout.splitlines()
    assert "1 changed" not in strict.stdout and "2 changed, 2 unchanged" in strict.stdout
    assert json.loads(run_ucwa_vcr("diff", SEED, pb, "--json", "--strict").stdout)["changed"][0]["headers"][1] == \
        {"name": "Date", "a": None, "b": "Tue, 14 Nov 2023 22:13:20 GMT"}


def test_diff_compares_a_repeated_header_in_order_and_calms_header_values(run_ucwa_vcr, tmp_path):
    a, b = load_cassette(SEED), load_cassette(SEED)
    a.interactions[2].response.headers += [("Set-Cookie", "x=1"), ("Set-Cookie", "y=2"),
                                           ("Location", "/ucwa/v1/applications/833/onlineMeetings/m1")]
    b.interactions[2].response.headers += [("Location", "/ucwa/v1/applications/9123/onlineMeetings/m1"),
                                           ("set-cookie", "y=2"), ("set-cookie", "x=1")]
    pa, pb = saved(tmp_path / "a.yaml", a), saved(tmp_path / "b.yaml", b)
    out = run_ucwa_vcr("diff", pa, pb)
    assert out.returncode == 1
    assert out.stdout.splitlines()[1:3] == ["    header Set-Cookie #1: x=1 -> y=2", "    header Set-Cookie #2: y=2 -> x=1"]
    assert "Location" not in out.stdout  # another session's application id is not a change...
    strict = run_ucwa_vcr("diff", pa, pb, "--strict").stdout
    assert "    header Location: /ucwa/v1/applications/833/onlineMeetings/m1 -> " \
           "/ucwa/v1/applications/9123/onlineMeetings/m1" in strict.splitlines()  # ...unless strict


def test_diff_help_names_exactly_what_is_ignored_and_the_exit_codes(run_ucwa_vcr, capsys):
    with pytest.raises(SystemExit):
        run_ucwa_vcr("diff", "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "these headers are ignored: ETag, Date, Expires, Last-Modified, Content-Length;" in text
    assert "0 when A and B are the same, 1 when they differ, 2 on bad input" in text


# -- redact ----------------------------------------------------------------------------------------

def leaky(path: Path) -> Path:
    cassette = load_cassette(SEED)
    cassette.interactions[1].request.headers[0] = ("Authorization", f"Bearer {CANARY_TOKEN}")
    save_cassette(path, cassette)
    return path


def test_redact_twice_refuses_and_keeps_the_original_in_the_backup(run_ucwa_vcr, tmp_path):
    cassette = leaky(tmp_path / "leaky.yaml")
    backup = tmp_path / "leaky.yaml.orig"
    first = run_ucwa_vcr("redact", str(cassette))
    assert first.returncode == 0
    assert CANARY_TOKEN in backup.read_text() and CANARY_TOKEN not in cassette.read_text()
    before = files_in(tmp_path)

    again = run_ucwa_vcr("redact", str(cassette))
    assert files_in(tmp_path) == before, "nothing written: the backup still holds the original"
    assert again.returncode == 2
    line = one_line(again)
    assert line.startswith(f"ucwa-vcr redact: {backup} already exists")
    assert "move it away" in line and "-o" in line
    assert first.stdout.strip().endswith(f"; the original, secrets and all, is in {backup}")


def test_redact_to_another_file_says_the_original_is_untouched(run_ucwa_vcr, tmp_path):
    cassette = leaky(tmp_path / "leaky.yaml")
    (tmp_path / "leaky.yaml.orig").write_text("an older backup")  # no matter with -o: no backup is made
    clean = tmp_path / "clean.yaml"
    out = run_ucwa_vcr("redact", str(cassette), "-o", str(clean))
    assert out.returncode == 0 and out.stdout.strip().endswith(f"; the original is still in {cassette}, unchanged")
    assert CANARY_TOKEN in cassette.read_text() and CANARY_TOKEN not in clean.read_text()
    assert (tmp_path / "leaky.yaml.orig").read_text() == "an older backup"

    before = files_in(tmp_path)
    itself = run_ucwa_vcr("redact", str(cassette), "-o", str(tmp_path / "." / "leaky.yaml"))
    assert itself.returncode == 2 and "-o " in one_line(itself) and "leave out -o" in one_line(itself)
    assert files_in(tmp_path) == before


# -- import ----------------------------------------------------------------------------------------

@pytest.fixture
def har(run_ucwa_vcr, tmp_path) -> str:
    path = tmp_path / "session.har"
    assert run_ucwa_vcr("export", SEED, "-o", str(path)).returncode == 0
    return str(path)


def test_import_onto_an_existing_cassette_needs_append_or_force(run_ucwa_vcr, tmp_path, har):
    target = tmp_path / "today.yaml"
    assert run_ucwa_vcr("import", har, "-o", str(target)).returncode == 0
    before = files_in(tmp_path)

    refused = run_ucwa_vcr("import", har, "-o", str(target))
    assert refused.returncode == 2
    line = one_line(refused)
    assert line.startswith(f"ucwa-vcr import: -o {target}: the cassette already exists")
    assert "--append" in line and "--force" in line
    both = run_ucwa_vcr("import", har, "-o", str(target), "--append", "--force")
    assert both.returncode == 2 and "choose one" in one_line(both)
    assert files_in(tmp_path) == before, "nothing written"

    assert run_ucwa_vcr("import", har, "-o", str(target), "--append").returncode == 0
    assert len(load_cassette(target).interactions) == 8
    forced = run_ucwa_vcr("import", har, "-o", str(target), "--force")
    assert forced.returncode == 0 and "(4 in all); the cassette that was there is replaced" in forced.stdout
    assert len(load_cassette(target).interactions) == 4


@pytest.mark.parametrize("url", ["https://fe1.contoso.com/ucwa/café?q=é", "https://fe1.contoso.com/ucwa/caf\udce9?q=\udcff"])
def test_tools_take_urls_and_headers_that_are_not_ascii(run_ucwa_vcr, tmp_path, url):
    cassette = tmp_path / "odd.yaml"
    save_cassette(cassette, Cassette([Interaction(
        Request(method="GET", url=url, headers=[("X-Who", "caf\udce9"), ("Accept", "application/json")]),
        Response(status=200, reason="OK", headers=[("Content-Type", "application/json")], body=b"{}"))]))
    for args in (["show", str(cassette), "0"], ["show", str(cassette), "--filter", "~u ucwa"],
                 ["export", str(cassette), "-o", str(tmp_path / "odd.har")]):
        done = run_ucwa_vcr(*args)
        assert (done.returncode, done.stderr) == (0, ""), (args, done.stderr)
    assert "X-Who: caf\\xe9" in run_ucwa_vcr("show", str(cassette), "0").stdout


def test_import_skips_what_a_cassette_cannot_hold_and_says_so(run_ucwa_vcr, tmp_path):
    from mitmproxy import io
    from mitmproxy.test import tflow

    capture = tmp_path / "capture.mitm"
    odd = tflow.tflow(resp=True)
    odd.request.scheme = "wss"  # a WebSocket upgrade as a capture may hold it
    with capture.open("wb") as f:
        writer = io.FlowWriter(f)
        writer.add(tflow.tflow(resp=True))
        writer.add(odd)
    done = run_ucwa_vcr("import", str(capture), "-o", str(tmp_path / "c.yaml"))
    assert done.returncode == 0, done.stderr
    assert "exchange 1 skipped: url 'wss://" in done.stderr
    assert len(load_cassette(tmp_path / "c.yaml").interactions) == 1, "the cassette loads, with the rest"


@pytest.mark.parametrize("tool", ["redact", "export"])
def test_redact_and_export_never_replace_an_output_file_without_force(run_ucwa_vcr, tmp_path, tool):
    existing = tmp_path / ("out.har" if tool == "export" else "out.yaml")
    existing.write_text("somebody's file\n")
    refused = run_ucwa_vcr(tool, str(DEFAULT_CASSETTE), "-o", str(existing))
    assert refused.returncode == 2
    assert refused.stderr == (f"ucwa-vcr {tool}: -o {existing}: it exists; nothing written: add --force to replace "
                              "it, or choose another file\n")
    assert existing.read_text() == "somebody's file\n"
    forced = run_ucwa_vcr(tool, str(DEFAULT_CASSETTE), "-o", str(existing), "--force")
    assert forced.returncode == 0, forced.stderr
    assert existing.read_text() != "somebody's file\n"
