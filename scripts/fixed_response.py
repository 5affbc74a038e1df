"""The benchmark ceiling: a mitmproxy addon that answers every request with one fixed response.

Usage:
    mitmdump -s scripts/fixed_response.py --mode reverse:http://127.0.0.1:8080
"""

from mitmproxy import http

BODY = b'{"_links":{"self":{"href":"/Autodiscover/AutodiscoverService.svc/root"}}}'


def request(flow: http.HTTPFlow) -> None:
    flow.response = http.Response.make(200, BODY, {"Content-Type": "application/json; charset=utf-8"})
