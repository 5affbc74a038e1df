"""Exporting a cassette's exchanges as HAR (mitmproxy's own writer) or as a VCR.py cassette."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ..cassette.model import Interaction
from ..errors import FileError
from ..proxy.flows import flow_of


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

