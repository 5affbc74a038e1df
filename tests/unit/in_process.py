"""Reading ucwa-vcr's answers in the in-process addon tests."""

from __future__ import annotations

import json

from lxml import etree
from mitmproxy import http

NS = "{http://schemas.microsoft.com/rtc/2012/03/ucwa}"


def error_of(response: http.Response) -> tuple[str, str | None, str]:
    """(code, subcode, message) of a UCWA error body, JSON or XML."""
    if "xml" in response.headers["content-type"]:
        root = etree.fromstring(response.content)
        assert root.tag == f"{NS}reason"
        return root.findtext(f"{NS}code"), root.findtext(f"{NS}subcode"), root.findtext(f"{NS}message")
    data = json.loads(response.content)
    return data["code"], data.get("subcode"), data["message"]
