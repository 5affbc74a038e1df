"""`lint()` on cassettes written here: live secrets in any charset, partial redactions found by their shape whatever
the rules say, bodies that could not be searched; a clean cassette gives no finding. Findings name the file, the
line and the exchange, and never the secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.cassette.codec import load_cassette
from ucwa_vcr.cassette.model import Cassette, Interaction, Request, Response
from ucwa_vcr.cassette.writer import save_cassette
from ucwa_vcr.tools import lint as lint_module
from ucwa_vcr.tools.lint import lint, residue

HOST = "https://lyncweb.contoso.com/ucwa/oauth/v1/applications/103"
JSON = [("Content-Type", "application/json; charset=utf-8")]
# what the old `cwt=` rule left of a URL-encoded token: its part after the first `%2F`
canary_rest = "enJCAnpIcanaryREST/x9Zq+w"


def exchange(request: Request, response: Response | None = None) -> Interaction:
    return Interaction(request=request, response=response or Response(status=204))


def cassette(path: Path, *interactions: Interaction) -> Path:
    """The seed's exchanges, then `interactions`: findings name exchanges from 4 on."""
    save_cassette(path, Cassette([*load_cassette(DEFAULT_CASSETTE).interactions, *interactions]))
    return path


def test_a_clean_cassette_gives_no_finding(tmp_path):
    clean = cassette(
        tmp_path / "clean.yaml",
        exchange(Request(method="POST", url=f"{HOST}/x?ms_rtc_renew=cwt%3DREDACTED-1&next=cwt%253dREDACTED-1",
                         headers=[("Authorization", "Bearer cwt=REDACTED-1"), ("Cookie", "cwt_ucwa=REDACTED-2; a=REDACTED-3"),
                                  ("Content-Type", "application/x-www-form-urlencoded; charset=iso-8859-1")],
                         body="grant_type=password&username=jörg&password=REDACTED-4".encode("latin-1")),
                 Response(headers=JSON, body=b'{"access_token":"cwt=REDACTED-1","note":"cwt\\u003dREDACTED-1.",'
                                             b'"code":"Conflict","expirationTime":"\\/Date(1436925247778)\\/"}')),
        exchange(Request(url=f"{HOST}/photo", headers=[("Authorization", "Basic REDACTED-5")]),
                 Response(headers=[("Content-Type", "image/jpeg")], body=b"\xff\xd8\xff\xe0 not text")),
        exchange(Request(method="POST", url=f"{HOST}/x", headers=[("Content-Type", "application/xml; charset=utf-16")],
                         body="<input><property name='password'>REDACTED-6</property></input>".encode("utf-16"))),
    )
    assert lint(clean) == []


def _line_of(path: Path, finding: str) -> str:
    file, number, _ = finding.split(":", 2)
    assert file == str(path)
    return path.read_text(encoding="utf-8").splitlines()[int(number) - 1]


PARTIAL = [
    ("URL", Request(url=f"{HOST}/x?ms_rtc_renew=cwt%3DREDACTED-26%2F{canary_rest.replace('/', '%2F')}&y=1"),
     "request URL has secret-shaped text next to REDACTED-26"),
    ("header", Request(url=f"{HOST}/x", headers=[("X-Trace", f"cwt=REDACTED-3\\/{canary_rest}")]),
     "request header 'X-Trace' has secret-shaped text next to REDACTED-3"),
    ("header, before", Request(url=f"{HOST}/x", headers=[("X-Trace", f"cwt=AAEB{canary_rest}/REDACTED-3")]),
     "request header 'X-Trace' has secret-shaped text next to REDACTED-3"),
    ("padding", Request(url=f"{HOST}/x?t=cwt=REDACTED-3==&y=1"), "request URL has secret-shaped text next to REDACTED-3"),
    ("JSON body", Request(method="POST", url=f"{HOST}/x", headers=JSON,
                          body=('{\n "subject": "x",\n "t": "cwt=REDACTED-4\\u002b' + canary_rest.replace("/", "\\/")
                                + '",\n "n": 1\n}').encode()),
     "request body has secret-shaped text next to REDACTED-4"),
]


@pytest.mark.parametrize(("request_", "what"), [case[1:] for case in PARTIAL], ids=[case[0] for case in PARTIAL])
def test_a_partial_redaction_is_found_by_its_shape_alone(tmp_path, monkeypatch, request_, what):
    path = cassette(tmp_path / "partial.yaml", exchange(request_))

    class Blind:  # a redactor whose rules miss everything: the shape check stands on its own
        def __init__(self, *args, **kwargs):
            pass

        def text(self, text):
            return text

        def headers(self, headers):
            return headers

        def body(self, message):
            return message.body

    monkeypatch.setattr(lint_module, "Redactor", Blind)
    findings = lint(path)
    assert len(findings) == 1 and f": exchange 4: {what}: a partial redaction" in findings[0]
    assert "canary" not in findings[0] and "enJCAnpI" not in findings[0], "the secret is never printed"
    line = _line_of(path, findings[0]).replace("\\/", "/")  # the line named is the one holding the leftover
    assert "REDACTED" in line and ("canaryREST" in line) == ("canaryREST" in repr(request_))


def test_the_old_rules_leftovers_are_live_secrets_and_partial_redactions(tmp_path):
    path = cassette(tmp_path / "old.yaml", exchange(Request(url=f"{HOST}/x?ms_rtc_renew=cwt%3DREDACTED-26%2FenJCAnpI")))
    assert [f.split(": ", 2)[2] for f in lint(path)] == [
        "request URL holds a live secret", "request URL has secret-shaped text next to REDACTED-26: a partial redaction"]


def test_a_secret_in_a_body_that_is_not_utf8_is_found(tmp_path):
    path = cassette(tmp_path / "latin.yaml", exchange(Request(
        method="POST", url=f"{HOST}/WebTicket/oauthtoken",
        headers=[("Content-Type", "application/x-www-form-urlencoded; charset=iso-8859-1")],
        body="grant_type=password&username=jörg&password=canary-pw-Pässwort".encode("latin-1"))))
    findings = lint(path)
    assert [f.split(": ", 2)[1:] for f in findings] == [["exchange 4", "request body holds a live secret"]]
    assert "body_base64" in _line_of(path, findings[0]) and "canary" not in findings[0]


@pytest.mark.parametrize(("request_", "reason"), [
    (Request(method="POST", url=f"{HOST}/x", headers=JSON, body=b'\x1f\x8b{"password":"x"}', raw=True),
     "body kept as sent: its Content-Encoding did not decode"),
    (Request(method="POST", url=f"{HOST}/x", headers=[("Content-Type", "application/json; charset=x-foo")],
             body=b'{"subject":"REDACTED-1"}'), "unknown charset x-foo"),
    (Request(method="POST", url=f"{HOST}/x", headers=JSON, body=b'{"subject":"caf\xe9"}'),
     "body does not decode as its declared charset utf-8"),
])
def test_a_body_that_could_not_be_searched_is_a_finding(tmp_path, request_, reason):
    path = cassette(tmp_path / "unsearched.yaml", exchange(request_))
    findings = lint(path)
    assert [f.split(": ", 2)[1:] for f in findings] == [
        ["exchange 4", f"request body was not searched for secrets: {reason}"]]
    assert "body" in _line_of(path, findings[0])


def test_a_placeholder_number_no_redactor_writes_is_a_finding_not_a_crash(tmp_path):
    path = cassette(tmp_path / "huge.yaml", exchange(Request(url=f"{HOST}/x?t=cwt=REDACTED-{'7' * 5000}")))
    findings = lint(path)
    assert len(findings) == 1
    assert findings[0].endswith("request URL has a placeholder with a 5000-digit number, longer than any redactor writes")


def test_residue_ignores_what_a_redactor_writes():
    for text in ("cwt=REDACTED-1", "cwt%3DREDACTED-1&x", "cwt%253dREDACTED-1", "cwt\\u003dREDACTED-1\\u0026x",
                 "cwt_ucwa=REDACTED-2; path=/", "Basic REDACTED-3", '{"p":"REDACTED-4"}', "<p>REDACTED-5</p>",
                 "REDACTED-6.", "REDACTED-6. Next", "REDACTED-6.\\n", "REDACTED-6.%20", "REDACTED-7\\\"}", "password=REDACTED-8%26x", "REDACTED", "UNREDACTED"):
        assert residue(text) is None, text
    for text in ("REDACTED-1%2Fabc", "REDACTED-1%2b", "REDACTED-1\\/x", "REDACTED-1\\u002Bx", "REDACTED-1abc",
                 "REDACTED-1/abc", "REDACTED-1==", "REDACTED-1.eyJzdWIi", "AAEBxyzw/REDACTED-1", "AAEB%2FREDACTED-1",
                 "cwt=REDACTEDabc", "cwt=REDACTED-1...uZm8", "REDACTED-1.%2Fx"):
        assert residue(text) is not None, text
