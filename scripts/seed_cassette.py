"""Build the shipped default cassette from the samples on Microsoft's myOnlineMeetings reference page.

Usage:
    python scripts/seed_cassette.py [cassettes/sources/myOnlineMeetings_ref.md] [addons/ucwa_vcr/seed.yaml]

The output is the one seed file, shipped inside the package (`ucwa_vcr.DEFAULT_CASSETTE`);
`cassettes/myOnlineMeetings-seed.yaml` is a link to it.

Each "JSON/XML Request" sample is paired with the "JSON/XML Response" that follows it. Bodies are kept
byte for byte as the page shows them (escaped slashes, \\u0027); Content-Length is set to the real length
(the page's figures are illustrative) and the sample bearer token is redacted like any recording.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.cassette.model import Cassette, Interaction, Request, Response
from ucwa_vcr.cassette.writer import save_cassette
from ucwa_vcr.redact import Redactor

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = re.compile(r"#### (JSON|XML) (Request|Response)\n.*?```\n(.*?)```", re.DOTALL)
HEADER = re.compile(r"^([A-Za-z][A-Za-z0-9-]*): (.*)$")


def parse_sample(block: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """The start line, headers and body of one sample message."""
    lines = [line.strip() for line in block.strip("\n").split("\n")]
    lines = lines[next(i for i, line in enumerate(lines) if line):]
    start, headers, i = lines[0], [], 1
    while i < len(lines) and (m := HEADER.match(lines[i])):
        headers.append((m.group(1), m.group(2)))
        i += 1
    raw = block.strip("\n").split("\n")
    body = "\n".join([raw[i].strip()] + raw[i + 1:]).rstrip() if i < len(raw) else ""
    return start, headers, body.encode("utf-8")


def with_length(headers: list[tuple[str, str]], body: bytes) -> list[tuple[str, str]]:
    """Headers with Content-Length made true (or dropped when there is no body)."""
    rest = [(k, v) for k, v in headers if k.lower() != "content-length"]
    return rest + [("Content-Length", str(len(body)))] if body else rest


def build(page: str) -> Cassette:
    """The seed cassette for the text of the reference page."""
    samples = SAMPLE.findall(page)
    interactions = []
    for (fmt, kind, req_block), (fmt2, kind2, resp_block) in zip(samples[::2], samples[1::2], strict=True):
        assert (kind, kind2, fmt) == ("Request", "Response", fmt2), (fmt, kind, fmt2, kind2)
        start, req_headers, req_body = parse_sample(req_block)
        method, url, _ = start.split(" ")
        status_line, resp_headers, resp_body = parse_sample(resp_block)
        _, status, reason = status_line.split(" ", 2)
        interactions.append(Interaction(
            request=Request(method=method.upper(), url=url.replace(":443/", "/", 1),
                            headers=with_length(req_headers, req_body), body=req_body),
            response=Response(status=int(status), reason=reason, headers=with_length(resp_headers, resp_body),
                              body=resp_body),
            started="2015-07-14T20:54:07.000+00:00", duration=0.05))
    redactor = Redactor()
    return Cassette([redactor.interaction(i) for i in interactions])


def main() -> None:
    page = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "cassettes/sources/myOnlineMeetings_ref.md"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_CASSETTE
    cassette = build(page.read_text(encoding="utf-8"))
    save_cassette(out, cassette)
    print(f"{out}: {len(cassette.interactions)} interactions")


if __name__ == "__main__":
    main()
