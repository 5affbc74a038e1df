"""Importing exchanges from HAR files, mitmproxy flow files and Fiddler archives; exporting HAR and VCR.py.

Imports give unredacted interactions: the caller redacts them before anything is written. Every problem
with an input file is a FileError whose text is one line naming the file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from ..cassette.model import Interaction
from ..errors import FileError
from ..proxy.flows import flow_of, flow_with, interaction_of

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
    return read_saz(source, progress) if kind == "saz" else read_flows(source)


def to_har(interactions: Sequence[Interaction]) -> dict[str, Any]:
    """A HAR document (mitmproxy's own HAR writer) for the interactions."""
    from mitmproxy.addons.savehar import SaveHar

    return SaveHar().make_har([flow_of(i) for i in interactions])


def to_vcrpy(interactions: Sequence[Interaction]) -> str:
    """A VCR.py cassette (YAML, version 1) holding the interactions, bodies decoded."""

    def headers(pairs: list[tuple[str, str]], drop: tuple[str, ...]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, value in pairs:
            if name.lower() not in drop:
                out.setdefault(name, []).append(value)
        return out

    def body(data: bytes) -> str | bytes | None:
        if not data:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data

    entries = []
    for i in interactions:
        # the body is stored decoded, so the headers must not claim an encoding any more
        drop = () if i.response.raw else ("content-encoding", "content-length", "transfer-encoding")
        resp_headers = headers(i.response.headers, drop)
        if drop and i.response.body:
            resp_headers["Content-Length"] = [str(len(i.response.body))]
        entries.append({
            "request": {"body": body(i.request.body), "headers": headers(i.request.headers, ()),
                        "method": i.request.method, "uri": i.request.url},
            "response": {"body": {"string": body(i.response.body) or ""}, "headers": resp_headers,
                         "status": {"code": i.response.status, "message": i.response.reason}},
        })
    return str(yaml.safe_dump({"interactions": entries, "version": 1}, allow_unicode=True, sort_keys=False))


def export(interactions: Sequence[Interaction], out: Path, fmt: str) -> None:
    """Write interactions as HAR (`har`) or a VCR.py cassette (`vcrpy`)."""
    text = json.dumps(to_har(interactions), indent=1) if fmt == "har" else to_vcrpy(interactions)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as e:
        raise FileError(f"{out}: cannot write: {e.strerror or e}") from None

