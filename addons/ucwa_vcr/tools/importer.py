"""Importing exchanges from HAR files, mitmproxy flow files and Fiddler archives (.saz).

Imports give unredacted interactions: the caller redacts them before anything is written. Every problem
with an input file is a FileError whose text is one line naming the file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import zipfile
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from ..cassette.model import Interaction, check_url
from ..errors import CassetteError, FileError
from ..proxy.flows import flow_with, interaction_of

FORMATS = ("har", "flows", "saz")
_SAZ_ENTRY = re.compile(r"^raw/(\d+)_([csm])\.(txt|xml)$", re.IGNORECASE)


def detect(path: Path) -> str:
    """`saz`, `har` or `flows`, by the file's first bytes."""
    try:
        with path.open("rb") as f:
            start = f.read(64).lstrip()
    except OSError as e:
        raise FileError(f"{path}: cannot read: {e.strerror or e}") from None
    if start.startswith(b"PK"):
        return "saz"
    return "har" if start.startswith(b"{") else "flows"


def read_flows(path: Path) -> list[Interaction]:
    """The completed HTTP exchanges of a mitmproxy flow file (`mitmdump -w`) or a HAR file (mitmproxy's reader)."""
    from mitmproxy import exceptions, http, io

    out = []
    try:
        with path.open("rb") as f:
            for flow in io.FlowReader(f).stream():
                if isinstance(flow, http.HTTPFlow) and flow.response is not None and flow.request.method != "CONNECT":
                    out.append(interaction_of(flow))
    except exceptions.FlowReadException as e:
        raise FileError(f"{path}: not a mitmproxy flow file or HAR: {e}") from None
    except OSError as e:
        raise FileError(f"{path}: cannot read: {e.strerror or e}") from None
    return out


def _dechunk(body: bytes, where: str) -> bytes:
    out, rest = bytearray(), body
    while True:
        line, sep, rest = rest.partition(b"\r\n")
        if not sep:
            raise FileError(f"{where}: truncated chunked body")
        try:
            size = int(line.split(b";")[0].strip() or b"x", 16)
        except ValueError:
            raise FileError(f"{where}: bad chunk size {line[:20]!r}") from None
        if size == 0:
            return bytes(out)
        if len(rest) < size:
            raise FileError(f"{where}: truncated chunked body")
        out += rest[:size]
        rest = rest[size + 2:]


def _read_raw(read_head: Callable[[list[bytes]], Any], data: bytes, where: str) -> Any:
    """One raw HTTP message as Fiddler stores it, as a mitmproxy Request or Response (`read_head` parses
    the head: mitmproxy's HTTP/1 reader); the body de-chunked, still in its Content-Encoding."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
    lines = head.splitlines()
    if not lines or not lines[0].strip():
        raise FileError(f"{where}: empty HTTP message")
    try:
        message = read_head(lines)
    except ValueError as e:
        raise FileError(f"{where}: {e}") from None
    length = message.headers.get("content-length", "")
    if "chunked" in message.headers.get("transfer-encoding", "").lower():
        body = _dechunk(body, where)
    elif length.isdigit() and len(body) < int(length):
        raise FileError(f"{where}: body shorter than its Content-Length (truncated archive?)")
    message.raw_content = body
    return message


def _saz_time(meta: bytes) -> tuple[str, float]:
    """Start and duration from a session's `_m.xml` timers (Fiddler writes 7 fractional digits)."""
    def stamp(attribute: bytes) -> datetime | None:
        m = re.search(attribute + rb'="([^"]+)"', meta)
        try:
            return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", m.group(1).decode())) if m else None
        except ValueError:
            return None

    start, end = stamp(b"ClientBeginRequest"), stamp(b"ClientDoneResponse")
    if start is None:
        return "", 0.0
    return start.isoformat(timespec="milliseconds"), max(0.0, ((end or start) - start).total_seconds())


Progress = Callable[[Iterable[int], int], Iterable[int]]


def read_saz(path: Path, progress: Progress = lambda it, n: it) -> list[Interaction]:
    """Sessions of a Fiddler archive in session order; CONNECT tunnels are skipped."""
    from mitmproxy.net.http import http1

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise FileError(f"{path}: not a readable .saz (zip) archive: {e}") from None
    with archive:
        sessions: dict[int, dict[str, str]] = {}
        for name in archive.namelist():
            m = _SAZ_ENTRY.match(name)
            if m:
                sessions.setdefault(int(m.group(1)), {})[m.group(2).lower()] = name
        out = []
        for number in progress(sorted(sessions), len(sessions)):
            parts = sessions[number]
            if "c" not in parts or "s" not in parts:
                raise FileError(f"{path}: session {number} lacks its {'request' if 'c' not in parts else 'response'}")
            try:
                req_data, resp_data = archive.read(parts["c"]), archive.read(parts["s"])
                meta = archive.read(parts["m"]) if "m" in parts else b""
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                raise FileError(f"{path}: cannot read session {number}: {e}") from None
            request = _read_raw(http1.read_request_head, req_data, f"{path}: {parts['c']}")
            if request.method == "CONNECT":
                continue
            response = _read_raw(http1.read_response_head, resp_data, f"{path}: {parts['s']}")
            started, duration = _saz_time(meta)
            out.append(dataclasses.replace(interaction_of(flow_with(request, response)), started=started,
                                           duration=duration))
        return out


def read_source(path: str | os.PathLike[str], fmt: str = "auto",
                progress: Progress = lambda it, n: it) -> list[Interaction]:
    """Interactions from a HAR file, a mitmproxy flow file or a Fiddler .saz archive."""
    source = Path(path)
    if not source.is_file():
        raise FileError(f"{path}: no such file")
    kind = detect(source) if fmt == "auto" else fmt
    found = read_saz(source, progress) if kind == "saz" else read_flows(source)
    kept = []
    for n, interaction in enumerate(found):
        try:  # a capture may hold what a cassette cannot (wss://, data: URLs): one would make it unloadable
            check_url(interaction.request.url, ())
        except CassetteError as e:
            print(f"ucwa-vcr import: {path}: exchange {n} skipped: {e.message}", file=sys.stderr)
            continue
        kept.append(interaction)
    return kept
