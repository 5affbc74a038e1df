"""The cassette session: which cassette is loaded, in which record mode, what is UCWA and what is recorded.

Usage:
    mitmdump -s addons/ucwa.py --set ucwa_cassette=cassettes/today.yaml --set ucwa_record_mode=none

The replayer and the recorder share one CassetteSession; it owns the options about the cassette (which
file, which mode, which hosts are UCWA, what is redacted, how requests match).
"""

from __future__ import annotations

import functools
import logging
import re
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

from mitmproxy import command, http
from mitmproxy.net.http import url
from mitmproxy.proxy import mode_specs

from .. import DEFAULT_CASSETTE, protocol
from ..batch import BatchIndex
from ..cassette.codec import dump_interaction, load_cassette
from ..cassette.model import Cassette, Interaction
from ..cassette.writer import CassetteWriter, check_writable
from ..errors import FileError, UsageError
from ..match import Matcher, Miss
from ..options import RecordMode, RecordScope
from ..pseudonyms import Pseudonymizer, PseudonymizingRedactor, load_key, write_mapping
from ..redact import RedactionRules, Redactor, unscanned
from ..simulation import Simulation
from ..simulation import describe as describe_style
from ..text import counted
from .batch_writer import BatchWriter
from .flows import Memo, from_cassette
from .options_addon import OptionsAddon

logger = logging.getLogger(__name__)

MISSES_KEPT = 200
_TEXT_MARKERS = ("json", "xml", "html", "text")


def _links(flow: http.HTTPFlow, response: http.Response, memo: Memo[frozenset[str]], tape: object) -> frozenset[str]:
    """The hosts an answer links to; one from the cassette (or its model) read once per `tape`."""
    if from_cassette(flow):
        return memo.get(tape, (response.headers.fields, response.raw_content), lambda: _read_links(response))
    return _read_links(response)


def _read_links(response: http.Response) -> frozenset[str]:
    """The hosts an answer links to (protocol.linked_hosts), from its headers and text body."""
    ctype = response.headers.get("content-type", "").lower()
    body = (response.get_text(strict=False) or "") if any(m in ctype for m in _TEXT_MARKERS) else ""
    return frozenset(protocol.linked_hosts(list(response.headers.items(multi=True)), body))


def pretty_host(request: http.Request) -> str:
    """`request.pretty_host` (the Host header's host, else the request's), its parse cached: asked several times
    per flow, it cost more than the rest of `is_ucwa`."""
    authority = request.host_header
    return _host_of(authority) if authority else request.host


@functools.lru_cache(maxsize=1024)
def _host_of(authority: str) -> str:
    return url.parse_authority(authority, check=False)[0]


def _load(path: Path | None, mode: RecordMode) -> Cassette:
    """The cassette to start from; UsageError naming the option when it cannot be used in this mode."""
    if path is None:  # mode none without a cassette replays the shipped seed
        raise UsageError(f"ucwa_cassette: record mode {mode.value!r} needs a cassette file to write; "
                         "set ucwa_cassette=PATH (or use ucwa_record_mode=none)")
    if mode == RecordMode.NONE and not path.exists():
        raise UsageError(f"ucwa_cassette: {path}: no such cassette (record mode none replays an existing one; "
                         "check the path, or record it first with ucwa_record_mode=once)")
    try:
        cassette = load_cassette(path) if path.exists() else Cassette()
        if mode != RecordMode.NONE:
            check_writable(path)
    except FileError as e:
        raise UsageError(f"ucwa_cassette: {e}") from None
    return cassette


def describe(path: Path | None, mode: RecordMode, held: int) -> str:
    """What the proxy does with the cassette, in words (mode `all` on a cassette that holds exchanges says it
    appends: a recording is never added to an old one silently)."""
    if path is None:
        return "no cassette yet"
    if mode == RecordMode.NONE or (mode == RecordMode.ONCE and held):
        why = ", mode once: it exists, so nothing is recorded" if mode == RecordMode.ONCE else ""
        return f"replaying {path} offline ({counted(held, 'exchange')}{why})"
    if mode == RecordMode.NEW_EPISODES:
        return f"replaying {path} ({counted(held, 'exchange')}) and recording what it lacks (mode new_episodes)"
    if held:
        return f"recording into {path}, APPENDING to the {counted(held, 'exchange')} it holds (mode all)"
    return f"recording into {path} (mode {mode.value}, a new cassette)"


def _pseudonymizer(on: bool, key: str, fields: list[str]) -> Pseudonymizer | None:
    if not on:
        return None
    try:
        return Pseudonymizer(load_key(key), fields)
    except OSError as e:
        raise UsageError(f"ucwa_pseudonym_key: no key given and the key file cannot be used: {e}") from None


def _warn_if_shared(mapping: str, cassette: Path | None) -> None:
    """Warn when the real-to-pseudonym map would lie beside the cassette it unmasks (it would be shared with it)."""
    if mapping and cassette is not None and Path(mapping).expanduser().resolve().parent == cassette.resolve().parent:
        logger.warning("ucwa-vcr: ucwa_pseudonym_map: %s is in the cassette's folder: it unmasks the cassette, keep "
                       "it elsewhere", mapping)


def _keeping(pseudonymizer: Pseudonymizer, cassette: Cassette) -> Pseudonymizer:
    """A pseudonymizer for matching: the cassette's pseudonyms stay as they are, real values get theirs."""
    compare = Pseudonymizer(pseudonymizer.key, pseudonymizer.fields)
    compare.keep_pseudonyms_of(cassette)
    return compare


@dataclass
class Tally:
    """What the proxy did with the cassette since it was loaded, for the line printed on stop."""

    written: int = 0
    not_written: int = 0
    unscanned: int = 0  # bodies written that could not be searched for secrets
    replayed: int = 0
    simulated: int = 0
    faulted: int = 0  # requests a fault rule acted on (answered, delayed, broken or patched)
    missed: int = 0
    passed: Counter[str] = field(default_factory=Counter)  # host -> requests passed through unrecorded
    warned: set[tuple[str, str]] = field(default_factory=set)  # (host, path prefix) already warned about

    def restart(self) -> None:
        """Count from zero (a cassette was loaded)."""
        self.__dict__.update(vars(Tally()))

    def summary(self, path: Path | None, recording: bool) -> str:
        """One line: what was written (or replayed) where, and what passed through unrecorded."""
        faulted = f", {self.faulted} faulted" if self.faulted else ""
        if not recording:
            simulated = f", {self.simulated} simulated" if self.simulated else ""
            return f"ucwa-vcr: {path}: {self.replayed} replayed{simulated}{faulted}, {self.missed} missed"
        parts = [f"ucwa-vcr: {counted(self.written, 'exchange')} written to {path}{faulted}"]
        if self.not_written:
            parts.append(f"{counted(self.not_written, 'exchange')} NOT written (see the errors above)")
        if self.unscanned:
            bodies = counted(self.unscanned, "body", "bodies")
            parts.append(f"{bodies} not searched for secrets (see the warnings above)")
        if self.passed:
            hosts = ", ".join(f"{n} to {host}" for host, n in self.passed.most_common(3))
            more = f", {len(self.passed) - 3} more hosts" if len(self.passed) > 3 else ""
            parts.append(f"passed through unrecorded: {sum(self.passed.values())} ({hosts}{more})")
        return "; ".join(parts)


class CassetteSession(OptionsAddon):
    """Loads the cassette, decides per flow whether to replay or record, and writes what is recorded."""

    # checked in this order: with several bad values at once, the first of these is the one reported
    OPTIONS = ("ucwa_cassette", "ucwa_record_mode", "ucwa_record_scope", "ucwa_exhausted", "ucwa_match_on",
               "ucwa_hosts", "ucwa_redact_headers", "ucwa_redact_fields", "ucwa_simulate", "ucwa_pseudonymize",
               "ucwa_pseudonym_key", "ucwa_pseudonym_fields", "ucwa_pseudonym_map")

    def __init__(self) -> None:
        self.path: Path | None = None
        self.mode = RecordMode.ONCE
        self.locked = False  # `once` with an existing cassette: nothing new may be recorded
        self.hosts: re.Pattern[str] | None = None
        self.linked: set[str] = set()  # hosts this session's UCWA answers linked to: UCWA from then on
        self.meetings_only = False
        self.matcher = Matcher([])
        self.redactor = Redactor()
        self.pseudonymizer: Pseudonymizer | None = None  # ucwa_pseudonymize: the recorder's, for the map file
        self.writer: BatchWriter | None = None
        self.simulation: Simulation | None = None  # ucwa_simulate, offline: the model answering meeting requests
        self._batches: BatchIndex | None = None
        self._links_read: Memo[frozenset[str]] = Memo()  # the hosts replayed answers link to
        self.tally = Tally()
        self.held = 0  # exchanges in the cassette when it was loaded
        # the latest requests answered with a miss since the cassette was loaded (bounded: a long replay
        # with a wrong cassette must not grow without end)
        self.misses: deque[Miss] = deque(maxlen=MISSES_KEPT)

    def apply(self, updated: set[str]) -> None:
        # Everything is checked and loaded before anything changes: a refused value leaves the session as it was.
        opts = self.options
        try:
            hosts = re.compile(opts.ucwa_hosts) if opts.ucwa_hosts else None
        except re.error as e:
            raise UsageError(f"ucwa_hosts: {opts.ucwa_hosts!r} is not a regex: {e}") from None
        mode = RecordMode(opts.ucwa_record_mode)
        rules = RedactionRules.with_extra(opts.ucwa_redact_headers, opts.ucwa_redact_fields)
        path = Path(opts.ucwa_cassette).expanduser() if opts.ucwa_cassette else None
        if path is None and mode == RecordMode.NONE:
            path = DEFAULT_CASSETTE  # as `ucwa-vcr replay` with no cassette: the shipped seed
        if self.writer is not None:
            self.writer.finish()  # the cassette in use may be the one loaded again
        cassette = _load(path, mode)
        pseudonymizer = _pseudonymizer(opts.ucwa_pseudonymize, opts.ucwa_pseudonym_key, opts.ucwa_pseudonym_fields)
        # live requests meet recorded ones redacted (and pseudonymized) the same way
        compare = Redactor(rules, canonical=True) if pseudonymizer is None else PseudonymizingRedactor(
            _keeping(pseudonymizer, cassette), rules, canonical=True)
        self.matcher = Matcher(cassette.interactions, opts.ucwa_match_on, opts.ucwa_exhausted, compare)
        offline = mode == RecordMode.NONE or (mode == RecordMode.ONCE and bool(cassette.interactions))
        self.simulation = (Simulation.from_interactions(cassette.interactions, redactor=compare)
                           if opts.ucwa_simulate and offline else None)
        if opts.ucwa_simulate and not offline:
            logger.warning("ucwa-vcr: ucwa_simulate answers offline only (record mode none, or once with a recorded "
                           "cassette); while recording, the server answers")
        self.hosts, self.mode, self.path = hosts, mode, path
        self.meetings_only = opts.ucwa_record_scope == RecordScope.MEETINGS
        self.locked = mode == RecordMode.ONCE and bool(cassette.interactions)
        self.write_mapping()  # the previous recording's, before it is replaced
        _warn_if_shared(opts.ucwa_pseudonym_map if pseudonymizer else "", path)
        self.pseudonymizer = pseudonymizer
        self.redactor = (Redactor.adding_to(cassette, rules) if pseudonymizer is None
                         else PseudonymizingRedactor.adding_to_cassette(cassette, rules, pseudonymizer))
        self.writer = BatchWriter(CassetteWriter(path, cassette.interactions)) if path else None
        self.misses.clear()
        self.tally.restart()  # one object: the faults addon counts into it too
        self.held = len(cassette.interactions)
        if self._running:
            logger.info("ucwa-vcr: now %s", self._describe())
        if mode != RecordMode.ALL:
            # Replayed flows must never open a server connection: connect only when a request goes out,
            # and in offline modes do not look up upstream certificates either.
            self.options.update(connection_strategy="lazy")
            if self.offline:
                self.options.update(upstream_cert=False)

    def running(self) -> None:
        super().running()
        opts = self.options
        where = f"{opts.listen_host or '*'}:{opts.listen_port or 8080}"
        modes = [m for m in opts.mode if m != "regular"]
        for spec in modes:  # a reverse proxy's target is the session's server, whatever its name or path
            mode = mode_specs.ProxyMode.parse(spec)
            if isinstance(mode, mode_specs.ReverseMode):
                self.linked.add(mode.address[0].lower())
        logger.info("ucwa-vcr: %s; proxy on %s%s", self._describe(), where, f" ({', '.join(modes)})" if modes else "")

    def _describe(self) -> str:
        what = describe(self.path, self.mode, self.held)
        if self.simulation is not None:
            style = describe_style(self.simulation.style)
            what += (f"; meetings simulated (creates answered {style['create'][0]}, ETags like {style['etag']}, "
                     f"at most {style['max_meetings'][0]} meetings)")
        return what

    @property
    def offline(self) -> bool:
        """Whether no request may reach a server."""
        return self.mode == RecordMode.NONE or self.locked

    @property
    def recording(self) -> bool:
        """Whether exchanges from servers are written to the cassette."""
        return self.path is not None and not self.offline

    def replays(self) -> bool:
        """Whether requests are answered from the cassette at all."""
        return self.mode != RecordMode.ALL

    def is_ucwa(self, flow: http.HTTPFlow) -> bool:
        """Whether a flow is UCWA traffic: by `ucwa_hosts` when set, else by the protocol's URLs and by the hosts
        the session's own answers linked to."""
        host = pretty_host(flow.request)
        if self.hosts is not None:
            return bool(self.hosts.search(host))
        return host.lower() in self.linked or protocol.is_ucwa(host, flow.request.path)

    def learn(self, flow: http.HTTPFlow) -> None:
        """Take the hosts a UCWA answer links to (discovery's pool, the token endpoint, Location) as UCWA hosts."""
        response = flow.response
        reverse = isinstance(flow.client_conn.proxy_mode, mode_specs.ReverseMode)
        if response is None or (self.offline and not reverse) or not self.is_ucwa(flow):
            return  # offline every request is answered anyway: only reverse mode's link rewriting needs the hosts
        new = _links(flow, response, self._links_read, self.matcher) - self.linked
        if new:
            self.linked |= new
            logger.info("ucwa-vcr: %s linked by %s: UCWA from now on", ", ".join(sorted(new)),
                        self.matcher.redactor.text(flow.request.pretty_url))

    def should_record(self, flow: http.HTTPFlow) -> bool:
        """Whether a completed flow from a server belongs in the cassette."""
        if not self.recording or not self.is_ucwa(flow):
            return False
        return not self.meetings_only or protocol.is_online_meetings(flow.request.path)

    def passed_through(self, flow: http.HTTPFlow) -> None:
        """Count a server's answer that is not recorded; warn once per host and path prefix when the host is
        one the session's answers linked to (only `ucwa_hosts` or the record scope can leave it out)."""
        if not self.recording:
            return
        host = flow.request.pretty_host.lower()
        self.tally.passed[host] += 1
        prefix = "/" + flow.request.path.lstrip("/").partition("/")[0].partition("?")[0]
        if host in self.linked and not self.meetings_only and (host, prefix) not in self.tally.warned:
            self.tally.warned.add((host, prefix))
            logger.warning("ucwa-vcr: not recording %s%s/...: the session links to %s but ucwa_hosts leaves it out",
                           host, prefix, host)

    async def record(self, interaction: Interaction) -> None:
        """Redact an exchange, add it to the cassette, and return once the cassette on disk holds it."""
        assert self.writer is not None  # should_record() never lets a flow through without a cassette
        clean = self.redactor.interaction(interaction)
        for part, message in (("request", clean.request), ("response", clean.response)):
            reason = unscanned(message)
            if reason:
                self.tally.unscanned += 1
                logger.warning("ucwa-vcr: %s %s: %s body written without a search for secrets: %s",
                               clean.request.method, clean.request.url, part, reason)
        self.matcher.add(clean)
        await self.writer.write(dump_interaction(clean))
        self.tally.written += 1

    def not_written(self, flow: http.HTTPFlow, e: Exception) -> None:
        """Say at once that an exchange could not be recorded (its client was answered all the same)."""
        self.tally.not_written += 1
        logger.error("ucwa-vcr: NOT RECORDED %s %s: %s: %s", flow.request.method,
                     self.matcher.redactor.text(flow.request.pretty_url), type(e).__name__,
                     self.matcher.redactor.text(str(e).splitlines()[0] if str(e) else ""))

    @property
    def batches(self) -> BatchIndex:
        """The recorded batches and their parts, indexed at the first batch asked for (most sessions have none)."""
        if self._batches is None or self._batches.tape is not self.matcher:
            self._batches = BatchIndex(self.matcher)
        return self._batches

    @command.command("ucwa.rewind")
    def rewind(self) -> None:
        """Start the cassette over: identical requests (and batches) get their first recorded answer again."""
        self.matcher.rewind()
        if self._batches is not None:
            self._batches.rewind()
        logger.info("ucwa-vcr: cassette rewound")

    def write_mapping(self) -> None:
        """Write the real-to-pseudonym map into ucwa_pseudonym_map, if set (never into the cassette)."""
        target = getattr(self, "options", None) and self.options.ucwa_pseudonym_map
        if self.pseudonymizer is None or not target or not self.pseudonymizer.mapping:
            return
        try:
            write_mapping(Path(target).expanduser(), self.pseudonymizer.mapping)
        except OSError as e:
            logger.error("ucwa-vcr: ucwa_pseudonym_map: cannot write %s: %s", target, e.strerror or e)

    async def done(self) -> None:
        if self.writer is not None:
            await self.writer.drain()
            self.writer.finish()
        self.write_mapping()
        logger.info("%s", self.tally.summary(self.path, self.recording))
