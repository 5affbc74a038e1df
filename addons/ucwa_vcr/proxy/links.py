"""Reverse mode across hosts: the links UCWA answers give a client lead back through the proxy, and the requests
for them go on to the host they named.

Usage:
    ucwa-vcr record today.yaml --reverse https://lyncdiscover.contoso.com     # then point the device at the proxy
    mitmdump -s addons/ucwa.py --mode reverse:https://lyncdiscover.contoso.com --set ucwa_cassette=today.yaml

A device that knows only the proxy's address follows the absolute links of the session: discovery's pool, the web
ticket service of the 401 challenge, Location. In reverse mode (only there) this addon rewrites them in every
answer the client gets, recorded, replayed or live: links to the reverse target lead to the proxy itself, links to
the session's other hosts to `/_ucwa_vcr/<scheme>/<host>:<port>/...` on the proxy (see ucwa_vcr.links). A request
for such a path is sent to that host, and its request is given the host's own URL before the fault, replay and
record hooks see it: a cassette recorded in reverse mode holds the servers' real URLs, and replays in regular proxy
mode as in reverse mode. Wired after UcwaRecorder (which keeps the server's answer as it was sent) and before
UcwaFaults (whose broken answers must stay broken).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from mitmproxy import addonmanager, http, optmanager
from mitmproxy.proxy import mode_specs

from .. import protocol
from ..batch import boundary_of, is_batch
from ..links import ANSWER_TYPES, LOCATION_HEADERS, SENT_TYPES, Origin, Rewriter, route
from .flows import Memo, from_cassette
from .guard import guarded
from .session import CassetteSession

logger = logging.getLogger(__name__)

_CHALLENGE = "www-authenticate"


def reverse_target(flow: http.HTTPFlow) -> Origin | None:
    """Where the reverse proxy that took this flow sends requests; None when the flow came in another mode."""
    mode = getattr(flow.client_conn, "proxy_mode", None)
    if not isinstance(mode, mode_specs.ReverseMode):
        return None
    scheme = "http" if mode.scheme in ("http", "tcp") else "https"
    return Origin(scheme, mode.address[0].lower(), mode.address[1])


def client_origin(flow: http.HTTPFlow, keep_host_header: bool) -> Origin:
    """The proxy as the client addressed it: its scheme, and the address it connected to (the TLS server name it
    asked for, if any). mitmproxy gives the request the target's Host before any hook runs; with
    keep_host_header it keeps the client's, which then names the proxy."""
    client = flow.client_conn
    scheme = "https" if client.tls else "http"
    if keep_host_header and flow.request.host_header:
        said = Origin.parse(scheme, flow.request.host_header)
        if said is not None:
            return said
    host, port = client.sockname[0], client.sockname[1]
    host = host.partition("%")[0]  # an IPv6 zone
    if host.lower().startswith("::ffff:") and "." in host:  # IPv4 on a dual-stack socket
        host = host[7:]
    return Origin(scheme, ((client.sni if client.tls else None) or host).lower(), port)


def _body_text(message: http.Message, types: tuple[str, ...]) -> str | None:
    """A body of one of `types`, or a batch, as ISO-8859-1 text (bytes one to one); None for other bodies, streamed
    or undecodable ones."""
    ctype = message.headers.get("content-type", "").lower()
    if not any(t in ctype for t in types) and not is_batch(ctype):
        return None
    try:
        content = message.content
    except ValueError:  # a Content-Encoding that does not decode: left as it is
        return None
    return content.decode("latin-1") if content else None


def _rewrite_body(message: http.Message, types: tuple[str, ...], change: Callable[[str], str],
                  batch: Callable[[str, str], str]) -> None:
    """Apply `change` to a message's body text, or `batch` (with its boundary) to a multipart one; the body is set
    only if it changed."""
    text = _body_text(message, types)
    if text is None:
        return
    ctype = message.headers.get("content-type", "")
    boundary = boundary_of(ctype) if is_batch(ctype) else None
    new = batch(text, boundary) if boundary else change(text)
    if new != text:
        message.content = new.encode("latin-1")  # Content-Encoding applied again, Content-Length made true


class UcwaLinks:
    """In reverse mode: routes requests for `/_ucwa_vcr/...` to their host, and rewrites answers' links."""

    def __init__(self, session: CassetteSession) -> None:
        self.session = session
        self.options: optmanager.OptManager | None = None
        self._routed: set[Origin] = set()  # hosts already logged as reached through the prefix
        self._rewritten: Memo[tuple[tuple[tuple[bytes, bytes], ...], bytes | None]] = Memo()  # replayed answers

    def load(self, loader: addonmanager.Loader) -> None:
        self.options = loader.master.options

    @property
    def _keep_host_header(self) -> bool:
        return bool(self.options is not None and self.options.keep_host_header)

    @guarded
    def request(self, flow: http.HTTPFlow) -> None:
        target = reverse_target(flow)
        if target is None:
            return
        found = route(flow.request.path)
        if found is not None:
            self._reroute(flow.request, *found)
        if flow.request.raw_content:  # what the client sends back may hold the links it was given
            rewriter = Rewriter(client_origin(flow, self._keep_host_header), target, target, lambda host: False)
            _rewrite_body(flow.request, SENT_TYPES, rewriter.restore, rewriter.restore_batch)

    def _reroute(self, request: http.Request, origin: Origin, path: str) -> None:
        """Send a request to `origin` for `path`, with that host in its Host header (unless keep_host_header)."""
        kept = request.host_header if self._keep_host_header else None
        request.scheme = origin.scheme
        request.host = origin.host
        request.port = origin.port
        request.path = path
        request.host_header = kept or origin.url.partition("://")[2]
        if origin not in self._routed:
            self._routed.add(origin)
            logger.info("ucwa-vcr: reverse mode: requests under %s go to %s", origin.prefix, origin.url)

    @guarded
    def response(self, flow: http.HTTPFlow) -> None:
        target = reverse_target(flow)
        response = flow.response
        if target is None or response is None:
            return
        request = flow.request
        source = Origin(request.scheme, request.host.lower(), request.port)
        proxy = client_origin(flow, self._keep_host_header)
        if not from_cassette(flow):
            self._rewrite(response, proxy, target, source)
            return
        # an answer from the cassette: the same bytes, rewritten the same way as long as the session's hosts are
        key = (proxy, target, source, frozenset(self.session.linked), self.session.hosts, response.headers.fields,
               response.raw_content)
        fields, raw = self._rewritten.get(self.session.matcher, key,
                                          lambda: self._rewrite(response, proxy, target, source))
        response.headers = http.Headers(fields)
        response.raw_content = raw

    def _rewrite(self, response: http.Response, proxy: Origin, target: Origin,
                 source: Origin) -> tuple[tuple[tuple[bytes, bytes], ...], bytes | None]:
        """Rewrite the links of an answer from `source` for a client of `proxy`; its header fields and bytes then."""
        rewriter = Rewriter(proxy, target, source, self._session_hosts(target, source, response))
        for name in (*LOCATION_HEADERS, _CHALLENGE):
            values = response.headers.get_all(name)
            new = [rewriter.header(name, value) for value in values]
            if new != values:
                response.headers.set_all(name, new)
        if response.raw_content is not None:
            _rewrite_body(response, ANSWER_TYPES, rewriter.text, rewriter.batch)
        return response.headers.fields, response.raw_content

    def _session_hosts(self, target: Origin, source: Origin, response: http.Response) -> Callable[[str], bool]:
        """Whether a host is the session's: the reverse target, a host a UCWA answer linked to (the session learned
        them from the real answer already), one `ucwa_hosts` names; the target's answers count as UCWA answers."""
        known = {target.host, *self.session.linked}
        if source.host == target.host:
            body = _body_text(response, ANSWER_TYPES) or ""
            known |= protocol.linked_hosts(list(response.headers.items(multi=True)), body)
        pattern = self.session.hosts
        return lambda host: host in known or (pattern is not None and bool(pattern.search(host)))
