"""Matching live requests against recorded ones, and explaining a miss.

Each request is reduced to normalised features (one per matcher). Recorded interactions are indexed by
the tuple of the features in use, so a look-up costs the same for ten interactions or a hundred thousand;
identical requests are answered in recorded order.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

from lxml import etree

from .cassette.model import Interaction, Request, header
from .errors import UsageError
from .options import DEFAULT_MATCHERS, MATCHERS, Exhausted
from .protocol import EVENT_TUNING_PARAMS, is_events, normalise_path, parse_xml, representation
from .redact import Redactor
from .text import counted

_DEFAULT_PORTS = {"http": "80", "https": "443"}
# RFC 3986, appendix B: splits any string into scheme, authority, path and query, however malformed.
_ANY_URL = re.compile(r"(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?")


def canonical_body(content_type: str, body: bytes) -> str:
    """The meaning of a body: canonical JSON, C14N XML, sorted form fields, else the text itself."""
    ctype = content_type.lower()
    try:
        if "json" in ctype:
            return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
        if "xml" in ctype:
            return etree.tostring(parse_xml(body), method="c14n").decode("utf-8")
        if "x-www-form-urlencoded" in ctype:
            return urlencode(sorted(parse_qsl(body.decode("utf-8"), keep_blank_values=True)))
    except (ValueError, RecursionError, etree.LxmlError):
        pass  # a body that does not parse as its type says (or nests too deep to) is compared as it is
    return body.decode("utf-8", "replace")


def url_parts(url: str) -> tuple[str, str, str, str, str]:
    """(scheme, host, port, path, query) of a URL, scheme and host lower-case, port made explicit. Never raises:
    a live request's URL may be anything, and what a malformed one lacks is taken as written."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:  # "Invalid IPv6 URL", a host that changes under NFKC normalisation
        found = _ANY_URL.match(url)
        assert found is not None  # every group is optional: it matches any string
        scheme, authority, path, query = (g or "" for g in found.groups())
        return scheme.lower(), authority.rpartition("@")[2].lower(), "", path, query
    scheme = parts.scheme.lower()
    try:
        port = str(parts.port or "")
    except ValueError:  # out of range or not a number: compared as written
        port = parts.netloc.rpartition(":")[2]
    return scheme, host, port or _DEFAULT_PORTS.get(scheme, ""), parts.path, parts.query


def _encoded(pairs: list[tuple[str, str]]) -> str:
    """Query pairs URL-encoded; bytes that were not UTF-8 (lone surrogates) encode back to what they were."""
    try:
        return urlencode(pairs, errors="surrogateescape")
    except UnicodeEncodeError:  # a surrogate no bytes decode to: compared by its code point
        return urlencode(pairs, errors="backslashreplace")


def features(request: Request, redactor: Redactor, on: Sequence[str] = MATCHERS) -> dict[str, str]:
    """The normalised value of each matcher in `on` for a request (secrets canonicalised first)."""
    scheme, host, port, raw_path, query = url_parts(redactor.text(request.url))
    path = normalise_path(raw_path or "/")
    out: dict[str, str] = {}
    for name in on:
        if name == "method":
            out[name] = request.method.upper()
        elif name == "scheme":
            out[name] = scheme
        elif name == "host":
            out[name] = host
        elif name == "port":
            out[name] = port
        elif name == "path":
            out[name] = path
        elif name == "query":
            pairs = parse_qsl(query, keep_blank_values=True)
            if is_events(path):
                pairs = [(k, v) for k, v in pairs if k.lower() not in EVENT_TUNING_PARAMS]
            out[name] = _encoded(sorted(pairs))
        elif name == "accept":
            out[name] = representation(header(request.headers, "accept"))
        elif name == "auth":  # the scheme only: a signed-in request and the 401 probe before it differ
            out[name] = header(request.headers, "authorization").partition(" ")[0].lower()
        elif name == "body":
            out[name] = canonical_body(request.content_type, redactor.body(request))
    return out


@dataclass
class Near:
    """A recorded request close to a missed one, and what differed per matcher."""

    position: int
    interaction: Interaction
    differences: dict[str, tuple[str, str]]  # matcher -> (recorded, live)


@dataclass
class Miss:
    """Why a request got no recorded answer. `request` is the missed request redacted (by `redactor`, canonical by
    default): explanations go into answers, logs and test reports, never a live secret."""

    request: Request
    exhausted: int = 0  # > 0: that many identical requests were recorded and all have been answered
    near: list[Near] = field(default_factory=list)
    redactor: Redactor = field(default_factory=lambda: Redactor(canonical=True), repr=False, compare=False)

    def __post_init__(self) -> None:
        self.request = self.redactor.request(self.request)

    def explain(self) -> str:
        """A human-readable explanation, several lines."""
        lines = [f"ucwa-vcr: no recorded answer for {self.request.method} {self.request.url}"]
        if self.exhausted:
            used = counted(self.exhausted, "recorded answer")
            lines.append(f"  {'all ' if self.exhausted > 1 else 'the '}{used} to this request "
                         f"{'were' if self.exhausted > 1 else 'was'} already used")
        elif not self.near:
            lines.append("  the cassette holds no interactions")
        for near in self.near:
            recorded = near.interaction.request
            lines.append(f"  closest #{near.position}: {recorded.method} {self.redactor.text(recorded.url)}")
            for name, (was, got) in near.differences.items():
                lines.append(f"    {name}: recorded {was!r}, got {got!r}")
        return "\n".join(lines)

    def summary(self) -> str:
        """One line fit for an HTTP header."""
        if self.exhausted:
            return f"recorded answers used up ({self.exhausted})"
        if not self.near:
            return "empty cassette"
        near = self.near[0]
        diffs = ", ".join(f"{k}: {v[0]!r} != {v[1]!r}" for k, v in near.differences.items())
        return f"closest #{near.position} differs in {diffs}"[:900]


class Matcher:
    """Answers requests from a list of interactions, in recorded order per distinct request."""

    def __init__(self, interactions: Sequence[Interaction], on: Sequence[str] = DEFAULT_MATCHERS,
                 exhausted: str = Exhausted.REPEAT, redactor: Redactor | None = None) -> None:
        unknown = [m for m in on if m not in MATCHERS]
        if unknown:
            raise UsageError(f"unknown matcher {unknown[0]!r}; choose from {', '.join(MATCHERS)}")
        if exhausted not in tuple(Exhausted):
            raise UsageError(f"unknown exhausted policy {exhausted!r}; choose from {', '.join(Exhausted)}")
        self.on = tuple(on)
        self.exhausted = Exhausted(exhausted)
        self.redactor = redactor or Redactor(canonical=True)
        self.interactions = list(interactions)
        # positions of the recorded interactions per request key (the features in use), in recorded order
        self.by_key: dict[tuple[str, ...], list[int]] = defaultdict(list)
        self._used: dict[tuple[str, ...], int] = defaultdict(int)
        for position, interaction in enumerate(self.interactions):
            self.by_key[self._key(interaction.request)].append(position)

    def _key(self, request: Request) -> tuple[str, ...]:
        values = features(request, self.redactor, self.on)
        return tuple(values[m] for m in self.on)

    def rewind(self) -> None:
        """Answer identical requests from their first recorded answer again (a client starting over)."""
        self._used.clear()

    def add(self, interaction: Interaction) -> None:
        """Make a newly recorded interaction answerable (it counts as already used)."""
        key = self._key(interaction.request)
        self.interactions.append(interaction)
        self.by_key[key].append(len(self.interactions) - 1)
        self._used[key] += 1

    def match(self, request: Request, offline: bool = True) -> Interaction | Miss:
        """The next recorded answer for `request`, or a Miss saying why there is none.

        Offline, a miss is answered by the proxy, so it carries the nearest recorded requests, and used-up
        answers are repeated when the policy says so. While recording, a miss simply goes to the server
        (as in VCR.py), so neither is worth doing.
        """
        key = self._key(request)
        positions = self.by_key.get(key)
        if positions:
            used = self._used[key]
            if used < len(positions):
                self._used[key] = used + 1
                return self.interactions[positions[used]]
            if self.exhausted == Exhausted.REPEAT and offline:
                return self.interactions[positions[-1]]
            return Miss(request, exhausted=len(positions), redactor=self.redactor)
        return Miss(request, near=self.nearest(request) if offline else [], redactor=self.redactor)

    def nearest(self, request: Request, count: int = 3) -> list[Near]:
        """The recorded requests that differ from `request` in the fewest matchers (a scan: misses only)."""
        live = features(request, self.redactor, self.on)
        scored: list[tuple[int, int, Near]] = []
        seen: set[tuple[str, ...]] = set()
        for key, positions in self.by_key.items():
            if key in seen:
                continue
            seen.add(key)
            diffs = {m: (was, live[m]) for m, was in zip(self.on, key, strict=True) if was != live[m]}
            weight = sum(2 if m in ("method", "path") else 1 for m in diffs)
            position = positions[0]
            scored.append((weight, position, Near(position, self.interactions[position], diffs)))
        scored.sort(key=lambda s: (s[0], s[1]))
        return [near for _, _, near in scored[:count]]
