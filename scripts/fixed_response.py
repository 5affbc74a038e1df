"""The benchmark ceiling: a mitmproxy addon that answers every request with one fixed response.

Usage:
    mitmdump -s scripts/fixed_response.py --mode reverse:http://127.0.0.1:8080
    mitmdump -s scripts/fixed_response.py --set fixed_response=answer.mitm --mode reverse:http://127.0.0.1:8080

By default the answer is a small JSON body. With `fixed_response`, it is the response of the flow file's first flow
as recorded: its status, headers and body as stored (a gzip body stays gzip), read once when the option is set.
"""

import time

from mitmproxy import addonmanager, ctx, exceptions, http, io

BODY = b'{"_links":{"self":{"href":"/Autodiscover/AutodiscoverService.svc/root"}}}'


class FixedResponse:
    """Answers every request with the same response."""

    def __init__(self) -> None:
        self.recorded: http.Response | None = None

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option("fixed_response", str, "",
                          "Flow file (-w) whose first flow's response is the answer; empty: a small JSON body.")

    def configure(self, updated: set[str]) -> None:
        if "fixed_response" not in updated or not ctx.options.fixed_response:
            return
        try:
            with open(ctx.options.fixed_response, "rb") as f:
                flow = next(iter(io.FlowReader(f).stream()))
        except (OSError, StopIteration, exceptions.FlowReadException) as e:
            raise exceptions.OptionsError(f"fixed_response: {ctx.options.fixed_response}: {e!r}") from None
        if not isinstance(flow, http.HTTPFlow) or flow.response is None:
            raise exceptions.OptionsError(f"fixed_response: {ctx.options.fixed_response}: no HTTP response")
        self.recorded = flow.response

    def request(self, flow: http.HTTPFlow) -> None:
        recorded = self.recorded
        if recorded is None:
            flow.response = http.Response.make(200, BODY, {"Content-Type": "application/json; charset=utf-8"})
            return
        now = time.time()
        flow.response = http.Response(recorded.data.http_version, recorded.status_code, recorded.data.reason,
                                      recorded.headers.fields, recorded.raw_content, None, now, now)


addons = [FixedResponse()]
