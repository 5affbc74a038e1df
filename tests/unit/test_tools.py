"""The cassette tools as users run them: `ucwa-vcr show|diff|lint|redact|import|export`, in-process through the
console script's `main()` (`run_ucwa_vcr`). tests/e2e/test_cli.py runs the installed `ucwa-vcr` script itself."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import pytest
import requests
import vcr
from rich.console import Console
from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.cassette.codec import dump_interaction, load_cassette
from ucwa_vcr.cassette.model import Response
from ucwa_vcr.cassette.writer import CassetteWriter, save_cassette
from ucwa_vcr.tools import commands
from ucwa_vcr.tools.cli import build_parser

SEED = str(DEFAULT_CASSETTE)
CANARY_TOKEN = "cwt=AAEBHAAAAGxpdmUuY29tAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-test-live-token"


def no_traceback(out) -> None:  # a ToolRun of run_ucwa_vcr
    assert "Traceback" not in out.stdout + out.stderr


# -- show ------------------------------------------------------------------------------------------

def test_show_lists_exchanges_plain_and_json(run_ucwa_vcr):
    out = run_ucwa_vcr("show", SEED)
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert lines[0] == "#\tmethod\tpath\tstatus\terror\tsize\tms"
    assert lines[3].split("\t")[:4] == ["2", "POST", "{app}/onlineMeetings/myOnlineMeetings", "201"]
    rows = json.loads(run_ucwa_vcr("show", SEED, "--json").stdout)
    assert [r["status"] for r in rows] == [200, 200, 201, 201] and rows[1]["size"] == 4039


def test_show_filter_uses_mitmproxy_expressions(run_ucwa_vcr):
    rows = json.loads(run_ucwa_vcr("show", SEED, "--json", "--filter", '~m POST & ~hq "Accept: application/xml"').stdout)
    assert [r["index"] for r in rows] == [3]
    out = run_ucwa_vcr("show", SEED, "--filter", "~nonsense")
    assert out.returncode == 2 and "--filter '~nonsense'" in out.stderr
    no_traceback(out)


def test_show_one_pretty_prints_without_touching_the_cassette(run_ucwa_vcr):
    before = Path(SEED).read_bytes()
    out = run_ucwa_vcr("show", SEED, "0")
    assert out.returncode == 0
    assert '"expirationTime": "/Date(1436925247778)/"' in out.stdout  # parsed and indented for reading
    assert "\n  \"rel\": \"myOnlineMeetings\"," in out.stdout
    xml = run_ucwa_vcr("show", SEED, "1").stdout
    assert '\n  <property name="rel">myOnlineMeetings</property>' in xml
    assert Path(SEED).read_bytes() == before
    missing = run_ucwa_vcr("show", SEED, "9")
    assert missing.returncode == 2 and "no exchange 9 (it holds 4: 0 to 3)" in missing.stderr


def test_show_marks_ucwa_errors(run_ucwa_vcr, tmp_path):
    cassette = load_cassette(SEED)
    cassette.interactions[2].response.status = 409
    cassette.interactions[2].response.body = b'{"code":"Conflict","subcode":"TooManyOnlineMeetings","message":"x"}'
    path = tmp_path / "c.yaml"
    save_cassette(path, cassette)
    rows = json.loads(run_ucwa_vcr("show", str(path), "--json").stdout)
    assert rows[2]["error"] == "Conflict/TooManyOnlineMeetings" and rows[0]["error"] == ""


# -- diff ------------------------------------------------------------------------------------------

def test_diff_reports_added_removed_changed_and_ignores_what_always_changes(run_ucwa_vcr, tmp_path):
    a, b = load_cassette(SEED), load_cassette(SEED)
    # a new session: other application id, dates and ETags -- not a change
    for i in b.interactions:
        i.request.url = i.request.url.replace("/833/", "/91234567890/")
        i.response.body = i.response.body.replace(b"1436925247", b"1700000000").replace(b"/833/", b"/91234567890/")
        i.response.headers = [(k, "other-etag" if k == "Etag" else v) for k, v in i.response.headers]
    # a real change, a removal and an addition
    b.interactions[0].response.body = b.interactions[0].response.body.replace(b'"Quarterlysalesnumbers"', b'"Moved"', 1)
    removed = b.interactions.pop(3)
    extra = load_cassette(SEED).interactions[0]
    extra.request.url += "/M1"
    b.interactions.append(extra)
    pa, pb = tmp_path / "a.yaml", tmp_path / "b.yaml"
    save_cassette(pa, a)
    save_cassette(pb, b)
    out = run_ucwa_vcr("diff", str(pa), str(pb), "--json")
    result = json.loads(out.stdout)
    assert [r["index"] for r in result["removed"]] == [3] and removed.request.method == "POST"
    assert [r["index"] for r in result["added"]] == [3]
    assert [(c["index_a"], c["fields"]) for c in result["changed"]] == [
        (0, [{"where": "/_embedded/myAssignedOnlineMeeting/0/subject", "a": '"Quarterlysalesnumbers"', "b": '"Moved"'}])]
    assert result["unchanged"] == 2
    strict = json.loads(run_ucwa_vcr("diff", str(pa), str(pb), "--json", "--strict").stdout)
    assert len(strict["changed"]) == 3
    plain = run_ucwa_vcr("diff", str(pa), str(pb)).stdout
    assert "~ changed  A#0 B#0" in plain and "1 added, 1 removed, 1 changed, 2 unchanged" in plain


def test_diff_tells_repeated_xml_siblings_apart():
    from ucwa_vcr.tools.diff import body_fields

    xml = ('<resource xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa"><resource rel="myOnlineMeeting">'
           '<property name="subject">a</property></resource><resource rel="myOnlineMeeting">'
           '<property name="subject">b</property></resource></resource>')
    fields = body_fields(Response(headers=[("Content-Type", "application/xml")], body=xml.encode()))
    assert fields == {"/resource/resource[rel=myOnlineMeeting]/property[name=subject]": "a",
                      "/resource/resource[rel=myOnlineMeeting]+/property[name=subject]": "b"}


# -- lint and redact -------------------------------------------------------------------------------

def leaky_cassette(path: Path) -> None:
    cassette = load_cassette(SEED)
    cassette.interactions[1].request.headers[0] = ("Authorization", f"Bearer {CANARY_TOKEN}")
    cassette.interactions[2].request.body = b'{"subject":"x","password":"test-password-live"}'
    cassette.interactions[3].response.headers.append(("Set-Cookie", "cwt_ucwa=AAEBlivecookie; path=/; HttpOnly"))
    save_cassette(path, cassette)


def test_lint_finds_live_secrets_with_file_line_and_exchange(run_ucwa_vcr, tmp_path):
    assert run_ucwa_vcr("lint", SEED).returncode == 0
    leaky = tmp_path / "leaky.yaml"
    leaky_cassette(leaky)
    out = run_ucwa_vcr("lint", SEED, str(leaky))
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    text = leaky.read_text().splitlines()
    assert len(lines) == 3 and "3 findings in 2 cassettes" in out.stderr
    for line, what in zip(lines, ("exchange 1: request header 'Authorization'", "exchange 2: request body",
                                  "exchange 3: response header 'Set-Cookie'"), strict=True):
        path, number, message = line.split(":", 2)
        assert path == str(leaky) and what in message
        assert "live" in message and CANARY_TOKEN not in line and "test-password-live" not in line
    assert CANARY_TOKEN in text[int(lines[0].split(":")[1]) - 1]  # the line named is the one holding it


def test_lint_reports_broken_files(run_ucwa_vcr, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\ninteractions:\n- request: {method: GET}\n  response: {status: 200}\n")
    out = run_ucwa_vcr("lint", str(broken))
    assert out.returncode == 1 and out.stdout.strip() == f"{broken}:3: request has no url (at interactions.0.request)"


def test_lint_reports_a_recording_cut_short_and_redact_repairs_it(run_ucwa_vcr, tmp_path):
    cut = tmp_path / "cut.yaml"
    seed = load_cassette(SEED).interactions
    writer = CassetteWriter(cut, [])
    writer.write([dump_interaction(seed[0])])
    whole_lines = len(cut.read_text().splitlines())
    writer.write([dump_interaction(seed[1])])
    cut.write_bytes(cut.read_bytes()[:-40])  # a kill in the middle of the second write
    out = run_ucwa_vcr("lint", str(cut))
    assert out.returncode == 1
    assert out.stdout.startswith(f"{cut}:{whole_lines + 1}: a recording was interrupted here"), out.stdout
    assert run_ucwa_vcr("redact", str(cut)).returncode == 0
    assert run_ucwa_vcr("lint", str(cut)).returncode == 0 and load_cassette(cut).interactions == seed[:1]


def test_redact_in_place_keeps_a_backup_and_the_result_lints_clean(run_ucwa_vcr, tmp_path):
    leaky = tmp_path / "leaky.yaml"
    leaky_cassette(leaky)
    out = run_ucwa_vcr("redact", str(leaky))
    assert out.returncode == 0 and "3 of 4 exchanges redacted" in out.stdout
    assert run_ucwa_vcr("lint", str(leaky)).returncode == 0
    assert CANARY_TOKEN in (tmp_path / "leaky.yaml.orig").read_text()
    text = leaky.read_text()
    assert "Bearer cwt=REDACTED-2" in text and "cwt=REDACTED-1" in text  # new placeholders do not collide
    other = tmp_path / "other.yaml"
    assert run_ucwa_vcr("redact", str(tmp_path / "leaky.yaml.orig"), "-o", str(other)).returncode == 0
    assert run_ucwa_vcr("lint", str(other)).returncode == 0


# -- import and export -----------------------------------------------------------------------------

def test_vcrpy_export_replays_in_vcrpy(run_ucwa_vcr, tmp_path):
    out = tmp_path / "vcr.yaml"
    assert run_ucwa_vcr("export", SEED, "-o", str(out)).returncode == 0
    seed = load_cassette(SEED).interactions
    replayer = vcr.VCR(record_mode="none")

    def same_accept(r1, r2) -> None:
        assert r1.headers.get("Accept") == r2.headers.get("Accept")

    replayer.register_matcher("accept", same_accept)
    with replayer.use_cassette(str(out), match_on=["method", "uri", "accept"]):
        r = requests.get(seed[1].request.url, headers={"Accept": "application/xml"})
    assert r.status_code == 200 and r.content == seed[1].response.body


def saz(path: Path, sessions: dict[int, tuple[bytes, bytes]], truncate: bool = False) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for n, (req, resp) in sessions.items():
            z.writestr(f"raw/{n}_c.txt", req)
            z.writestr(f"raw/{n}_s.txt", resp)
            z.writestr(f"raw/{n}_m.xml", f'<Session><SessionTimers ClientBeginRequest="2016-08-10T14:30:4{n}.1234567+02:00" '
                                         f'ClientDoneResponse="2016-08-10T14:30:4{n}.5234567+02:00" /></Session>')
    if truncate:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_import_fiddler_saz_in_order_chunked_gzip_and_no_tunnels(run_ucwa_vcr, tmp_path):
    body = json.dumps({"access_token": CANARY_TOKEN, "token_type": "Bearer"}).encode()
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 20]), body[i:i + 20]) for i in range(0, len(body), 20)) + b"0\r\n\r\n"
    listing = b'{"rel":"myOnlineMeetings","expirationTime":"\\/Date(1436925247778)\\/"}'
    zipped = gzip.compress(listing)
    sessions = {
        1: (b"CONNECT fe1.contoso.com:443 HTTP/1.1\r\nHost: fe1.contoso.com:443\r\n\r\n",
            b"HTTP/1.1 200 Connection Established\r\n\r\n"),
        2: (b"POST https://fe1.contoso.com/WebTicket/oauthtoken HTTP/1.1\r\nHost: fe1.contoso.com\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 51\r\n\r\n"
            b"grant_type=password&username=jd&password=canary-pass1",
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked),
        10: (b"GET https://fe1.contoso.com/ucwa/oauth/v1/applications/123/onlineMeetings/myOnlineMeetings HTTP/1.1\r\n"
             b"Host: fe1.contoso.com\r\nAuthorization: Bearer " + CANARY_TOKEN.encode() + b"\r\nAccept: application/json\r\n\r\n",
             b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Encoding: gzip\r\n"
             b"Content-Length: %d\r\n\r\n" % len(zipped) + zipped),
    }
    archive, target = tmp_path / "capture.saz", tmp_path / "saz.yaml"
    saz(archive, sessions)
    out = run_ucwa_vcr("import", str(archive), "-o", str(target))
    assert out.returncode == 0, out.stderr
    imported = load_cassette(target).interactions
    assert [i.request.method for i in imported] == ["POST", "GET"]  # session 2 before 10, the tunnel skipped
    assert json.loads(imported[0].response.body) == {"access_token": "cwt=REDACTED-2", "token_type": "Bearer"}
    assert imported[0].request.body == b"grant_type=password&username=jd&password=REDACTED-1"
    assert imported[1].response.body == listing and ("Authorization", "Bearer cwt=REDACTED-2") in imported[1].request.headers
    assert imported[0].started == "2016-08-10T14:30:42.123+02:00" and imported[0].duration == pytest.approx(0.4)
    text = target.read_text()
    assert CANARY_TOKEN not in text and "canary-pass1" not in text

    broken = tmp_path / "broken.saz"
    saz(broken, sessions, truncate=True)
    bad = run_ucwa_vcr("import", str(broken), "-o", str(tmp_path / "x.yaml"))
    assert bad.returncode == 2 and bad.stderr.startswith(f"ucwa-vcr import: {broken}: ") and len(bad.stderr.splitlines()) == 1
    no_traceback(bad)


@pytest.mark.parametrize("args", [
    ["show", "missing.yaml"],
    ["diff", "missing.yaml", SEED],
    ["import", "missing.har", "-o", "x.yaml"],
    ["export", "missing.yaml", "-o", "x.har"],
    ["redact", "missing.yaml"],
])
def test_bad_input_is_one_line_and_non_zero(run_ucwa_vcr, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    out = run_ucwa_vcr(*args)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "missing" in out.stderr
    no_traceback(out)


def test_import_of_a_file_that_is_neither(run_ucwa_vcr, tmp_path):
    junk = tmp_path / "junk.har"
    junk.write_text('{"log": {"entries": [{"request": {}}]}}')
    out = run_ucwa_vcr("import", str(junk), "-o", str(tmp_path / "x.yaml"))
    assert out.returncode == 2 and "not a mitmproxy flow file or HAR" in out.stderr
    no_traceback(out)


def test_redact_that_cannot_keep_its_backup_says_so_in_one_line(run_ucwa_vcr, tmp_path):
    leaky = tmp_path / "leaky.yaml"
    leaky_cassette(leaky)
    (tmp_path / "leaky.yaml.orig" / "leaky.yaml").mkdir(parents=True)  # the backup's place is taken by folders
    out = run_ucwa_vcr("redact", str(leaky))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "leaky.yaml" in out.stderr
    no_traceback(out)
    assert CANARY_TOKEN in leaky.read_text(), "nothing was changed"


def test_terminal_output_is_rich(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)  # tests/conftest.py quiets colours

    def render(*argv: str, code: int = 0) -> str:
        buffer = io.StringIO()
        assert commands.run(build_parser().parse_args(list(argv)),
                            Console(file=buffer, force_terminal=True, color_system="standard", width=160,
                                    highlight=False)) == code
        return buffer.getvalue()

    table = render("show", SEED)
    assert "┃" in table and "\x1b[" in table and "{app}/onlineMeetings/myOnlineMeetings" in table
    one = render("show", SEED, "0")
    assert "\x1b[" in one and "myOnlineMeetings" in one  # syntax-highlighted body
    other = tmp_path / "other.yaml"
    cassette = load_cassette(SEED)
    cassette.interactions[0].response.status = 409
    cassette.interactions[0].response.headers[0] = ("Content-Type", "application/xml")
    save_cassette(other, cassette)
    diffed = render("diff", SEED, str(other), code=1)
    assert "~ changed  A#0 B#0" in diffed and "status: 200 -> 409" in diffed and "\x1b[33m" in diffed
    assert "header Content-Type: application/json -> application/xml" in diffed
