"""Reverse mode's links: a server's links lead the client back through the proxy, and requests for them go on to
that server.

A client that knows only the proxy's address (a room device pointed at `--reverse https://fe1...`) follows the
links UCWA answers give it: discovery names the pool by its absolute URL, the 401 challenge names the web ticket
service, Location headers name new resources. Rewritten here:
- a link to the reverse target becomes a link to the proxy itself, as the client addressed it;
- a link to another host of the session keeps that host in a path prefix, so the request for it can be routed back:
  `https://fe1.contoso.com/ucwa/oauth/v1/applications` -> `http://127.0.0.1:8080/_ucwa_vcr/https/fe1.contoso.com:443/ucwa/oauth/v1/applications`;
- in the answers of such a host, hrefs relative to its root (`/ucwa/...`, UCWA's usual form) get the same prefix:
  resolved against the proxy's address they would otherwise reach the reverse target.
`route()` reads the prefix back from a request's path; `Rewriter.restore()` undoes the rewriting in what a client
sends back (a PUT of a resource with its links, the request lines of a batch), so servers, and cassettes, see the
servers' own URLs.

Only link positions are rewritten — `href` in JSON, XML and HTML, the `href` of a WWW-Authenticate challenge,
Location and Content-Location — never data such as a meeting's joinUrl or a Bearer challenge's `resource`.
Identity providers (Azure AD) are left alone: their clients insist on https and on the authority's real name.
Bodies are handled as ISO-8859-1 text, which maps bytes one to one: the ASCII of URLs is found in any
ASCII-compatible charset and every other byte stays as it was.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from .batch import part_spans
from .protocol import AAD_HOST
from .scan import caseless, sub_near

PREFIX = "_ucwa_vcr"  # the first path segment of a link to a host other than the reverse target
DEFAULT_PORTS = {"http": 80, "https": 443}
# Content types whose bodies hold links (multipart: see Rewriter.batch), in answers and in what clients send back
# (not text/plain: an instant message that quotes the proxy's address is the user's).
ANSWER_TYPES = ("json", "xml", "html")
SENT_TYPES = ("json", "xml")
LOCATION_HEADERS = ("location", "content-location")

# A link position: JSON `"href":"`, XML/HTML `href="` (or unquoted), a challenge's `href=`; then an absolute URL
# (JSON may escape "/" as "\/") or a path from the root (`/x`, not `//x`, which names a host).
_HREF = re.compile(r"""(?P<lead>(?<![\w-])href\\?"?\s*[:=]\s*(?:\\?["'])?)"""
                   r"""(?:(?P<scheme>https?):(?P<slashes>(?:\\?/){2})(?P<authority>[^/\\"'\s,<>?#]+)"""
                   r"""|(?P<root>\\?/)(?!\\?/))""", re.IGNORECASE)
_HREF_NEEDLES = ("href",)  # where an _HREF match starts, lower-cased
# A Location header: the whole value is the URL.
_LOCATION = re.compile(r"""^(?P<lead>\s*)(?:(?P<scheme>https?):(?P<slashes>//)(?P<authority>[^/\s?#]+)"""
                       r"""|(?P<root>/)(?!/))""", re.IGNORECASE)
# A path the proxy handed out for another host: /_ucwa_vcr/<scheme>/<host>:<port>/... (repeated leading slashes,
# as root-joining clients send them, are kept for the server).
_ROUTE = re.compile(rf"^(?P<slashes>/+){PREFIX}/(?P<scheme>https?)/(?P<authority>[^/?#]+)(?P<rest>[/?#].*)?$",
                    re.IGNORECASE | re.DOTALL)
_SLASH = r"(?:\\/|/)"
_CONTENT_LENGTH = re.compile(r"(?im)^(content-length:[ \t]*)\d+")
_BLANK_LINE = re.compile(r"\r?\n\r?\n")
_START_LINE = re.compile(r"[A-Z]+ \S+ HTTP/\d|HTTP/\d")  # a request's or a response's first line
_HOST = re.compile(r"^(?:[\w-]+(?:\.[\w-]+)*\.?|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)$")  # a name, IPv4, or IPv6


def _prefix_pattern(tag: str) -> str:
    return (rf"(?P<{tag}sep>{_SLASH}){PREFIX}{_SLASH}(?P<{tag}scheme>https?){_SLASH}"
            rf"(?P<{tag}authority>[^/\\\"'\s,<>?#]+)")


@dataclass(frozen=True)
class Origin:
    """Where requests go: scheme (http or https), host (lower-case; IPv6 without brackets) and port."""

    scheme: str
    host: str
    port: int

    @staticmethod
    @functools.lru_cache(maxsize=1024)  # an answer names a few origins, over and over
    def parse(scheme: str, authority: str) -> Origin | None:
        """The origin of `scheme://authority` (user info dropped, the default port made explicit); None if the
        authority is not `host[:port]`."""
        scheme = scheme.lower()
        hostport = unquote(authority).rpartition("@")[2]
        if hostport.startswith("["):
            host, _, after = hostport[1:].partition("]")
            port_text = after.removeprefix(":") if after.startswith(":") or not after else "x"
            if not _is_ipv6(host):
                return None
        else:
            host, _, port_text = hostport.partition(":")
        if not _HOST.match(host) or scheme not in DEFAULT_PORTS or not (port_text.isdigit() or port_text == ""):
            return None
        port = int(port_text) if port_text else DEFAULT_PORTS[scheme]
        return Origin(scheme, host.lower(), port) if 0 < port < 65536 else None

    @functools.cached_property
    def authority(self) -> str:
        """`host:port`, always with the port (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @functools.cached_property
    def url(self) -> str:
        """`scheme://host[:port]`, the port only when it is not the scheme's default."""
        authority = self.authority
        if DEFAULT_PORTS.get(self.scheme) == self.port:
            authority = authority.rpartition(":")[0]
        return f"{self.scheme}://{authority}"

    @functools.cached_property
    def prefix(self) -> str:
        """The path prefix that routes a request to this origin: `/_ucwa_vcr/https/fe1.contoso.com:443`."""
        return f"/{PREFIX}/{self.scheme}/{self.authority}"


def _is_ipv6(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address)
    except ValueError:
        return False


def route(path: str) -> tuple[Origin, str] | None:
    """The origin a request's path names with the proxy's prefix, and the path to ask it for; None without one."""
    found = _ROUTE.match(path)
    if not found:
        return None
    origin = Origin.parse(found["scheme"], found["authority"])
    if origin is None:
        return None
    rest = found["rest"] or "/"
    if not rest.startswith("/"):
        rest = "/" + rest
    return origin, found["slashes"][1:] + rest


def is_loopback(host: str) -> bool:
    """Whether a host name or address is this machine's loopback."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _escaped(text: str, escaped: bool) -> str:
    return text.replace("/", "\\/") if escaped else text


@dataclass(frozen=True)
class Rewriter:
    """Rewrites the links of one answer (`source` gave it) for a client of the reverse proxy `proxy`, and restores
    what that client sends back. `session(host)` says whether links to a host lead back through the proxy."""

    proxy: Origin  # the proxy, as the client addressed it
    target: Origin  # where reverse mode sends what has no prefix
    source: Origin  # the server that answered
    session: Callable[[str], bool]

    def leads_back(self, origin: Origin) -> bool:
        """Whether a link to `origin` is rewritten: a host of the session, not an identity provider, not the proxy."""
        if origin == self.target:
            return True
        if AAD_HOST.match(origin.host) or self._is_proxy(origin):
            return False
        return self.session(origin.host)

    def _is_proxy(self, origin: Origin) -> bool:
        return origin.port == self.proxy.port and (
            origin.host == self.proxy.host or (is_loopback(origin.host) and is_loopback(self.proxy.host)))

    def _base(self, origin: Origin) -> str:
        """What replaces `scheme://authority` of a link to `origin`."""
        return self.proxy.url if origin == self.target else self.proxy.url + origin.prefix

    def _link(self, m: re.Match[str]) -> str:
        lead = m["lead"]
        if m["root"] is not None:  # a path from the answering server's root
            if self.source == self.target:
                return m.group(0)
            return lead + _escaped(self.source.prefix, "\\" in m["root"]) + m["root"]
        origin = Origin.parse(m["scheme"], m["authority"])
        if origin is None or not self.leads_back(origin):
            return m.group(0)
        return lead + _escaped(self._base(origin), "\\" in m["slashes"])

    def text(self, text: str) -> str:
        """A body's links rewritten (JSON, XML, HTML: every `href`); _HREF.sub, tried only at its needles."""
        return sub_near(text, caseless(text), _HREF_NEEDLES, 0, _HREF, self._link)

    def header(self, name: str, value: str) -> str:
        """A header value with its links rewritten: Location, Content-Location, a challenge's href."""
        lname = name.lower()
        if lname in LOCATION_HEADERS:
            return _LOCATION.sub(self._link, value, count=1)
        if lname == "www-authenticate":
            return self.text(value)
        return value

    def batch(self, text: str, boundary: str) -> str:
        """A multipart/batching answer with each part's links rewritten (its Content-Length made true again)."""
        return each_part(text, boundary, lambda head, body: (self._head(head), self.text(body)))

    def _head(self, head: str) -> str:
        lines = head.splitlines(keepends=True)  # CRLF or LF, each kept as it was
        for i, line in enumerate(lines[1:], 1):
            text = line.rstrip("\r\n")
            name, colon, value = text.partition(":")
            if colon:
                lines[i] = f"{name}:{self.header(name.strip(), value)}{line[len(text):]}"
        return "".join(lines)

    def restore(self, text: str) -> str:
        """What a client sends back with the servers' own URLs again: links to the proxy lead to the target, the
        prefix of another host becomes that host (a path with the prefix: the path on that host)."""
        proxy = _SLASH.join(re.escape(part) for part in self.proxy.url.split("/"))
        pattern = re.compile(rf"(?P<proxy>{proxy})(?:{_prefix_pattern('a')})?(?![\w.:-])"
                             rf"|(?<![\w.-]){_prefix_pattern('b')}", re.IGNORECASE)
        return pattern.sub(self._restored, text)

    def restore_batch(self, text: str, boundary: str) -> str:
        """A multipart/batching request restored part by part (request lines, headers, bodies; Content-Length made
        true again)."""
        return each_part(text, boundary, lambda head, body: (self.restore(head), self.restore(body)))

    def _restored(self, m: re.Match[str]) -> str:
        tag = "a" if m["proxy"] else "b"
        sep = m[f"{tag}sep"]
        escaped = "\\" in (m["proxy"] or sep)
        if sep is None:  # the proxy's own address: the target's
            return _escaped(self.target.url, escaped)
        origin = Origin.parse(m[f"{tag}scheme"], m[f"{tag}authority"])
        if origin is None:
            return m.group(0)
        if m["proxy"]:
            return _escaped(origin.url, escaped)
        following = m.string[m.end():m.end() + 2]
        return "" if following.startswith(("/", "\\/")) else sep  # the path on that host, from its root


def each_part(text: str, boundary: str, change: Callable[[str, str], tuple[str, str]]) -> str:
    """A multipart/batching body with `change(head, body)` applied to the HTTP message in each part (head: its
    start line and header lines), the message's Content-Length set to its new body's length. Parts are found as
    batch.py finds them (CRLF or LF line ends); `text` is the body read as ISO-8859-1, byte for character."""
    out, last = [], 0
    for start, end in part_spans(text.encode("latin-1"), boundary):
        content = text[start:end]
        mime = _BLANK_LINE.search(content)
        message = content[mime.end():] if mime else ""
        if not _START_LINE.match(message):
            continue  # a part with no HTTP message in it
        blank = _BLANK_LINE.search(message)  # none: a message without a body, whose blank line ends the part
        head, sep, body = ((message[:blank.start()], blank.group(0), message[blank.end():]) if blank
                           else (message, "", ""))
        new_head, new_body = change(head, body)
        if new_body != body:
            new_head = _CONTENT_LENGTH.sub(rf"\g<1>{len(new_body)}", new_head)
        out.append(text[last:start] + content[:len(content) - len(message)] + new_head + sep + new_body)
        last = end
    return "".join(out) + text[last:]
