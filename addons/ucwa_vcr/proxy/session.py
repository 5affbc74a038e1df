"""The cassette session: which cassette is loaded, in which record mode, what is UCWA and what is recorded.

Usage:
    mitmdump -s addons/ucwa.py --set ucwa_cassette=cassettes/today.yaml --set ucwa_record_mode=none

The replayer and the recorder share one CassetteSession; it owns the options about the cassette (which
file, which mode, which hosts are UCWA, what is redacted, how requests match).
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from mitmproxy import command, http

from .. import protocol
from ..cassette.cache import load_cassette
from ..cassette.codec import dump_interaction
from ..cassette.model import Cassette, Interaction
from ..cassette.writer import CassetteWriter, check_writable
from ..errors import FileError, UsageError
from ..match import Matcher, Miss
from ..options import RecordMode, RecordScope
from ..redact import RedactionRules, Redactor
from .batch_writer import BatchWriter
from .options_addon import OptionsAddon

logger = logging.getLogger(__name__)

MISSES_KEPT = 200


class CassetteSession(OptionsAddon):
    """Loads the cassette, decides per flow whether to replay or record, and writes what is recorded."""

    # checked in this order: with several bad values at once, the first of these is the one reported
    OPTIONS = ("ucwa_cassette", "ucwa_record_mode", "ucwa_record_scope", "ucwa_exhausted", "ucwa_match_on",
               "ucwa_hosts", "ucwa_redact_headers", "ucwa_redact_fields")

    def __init__(self) -> None:
        self.path: Path | None = None
        self.mode = RecordMode.ONCE
        self.locked = False  # `once` with an existing cassette: nothing new may be recorded
        self.hosts: re.Pattern[str] | None = None
        self.meetings_only = False
        self.matcher = Matcher([])
        self.redactor = Redactor()
        self.writer: BatchWriter | None = None
        # the latest requests answered with a miss since the cassette was loaded (bounded: a long replay
        # with a wrong cassette must not grow without end)
        self.misses: deque[Miss] = deque(maxlen=MISSES_KEPT)

    def apply(self, updated: set[str]) -> None:
        opts = self.options
        try:
            self.hosts = re.compile(opts.ucwa_hosts) if opts.ucwa_hosts else None
        except re.error as e:
            raise UsageError(f"ucwa_hosts: {opts.ucwa_hosts!r} is not a regex: {e}") from None
        self.mode = RecordMode(opts.ucwa_record_mode)
        self.meetings_only = opts.ucwa_record_scope == RecordScope.MEETINGS
        rules = RedactionRules.with_extra(opts.ucwa_redact_headers, opts.ucwa_redact_fields)
        self._open(opts.ucwa_cassette, rules, opts.ucwa_match_on, opts.ucwa_exhausted)
        if self.mode != RecordMode.ALL:
            # Replayed flows must never open a server connection: connect only when a request goes out,
            # and in offline modes do not look up upstream certificates either.
            self.options.update(connection_strategy="lazy")
            if self.offline:
                self.options.update(upstream_cert=False)

    def _open(self, path: str, rules: RedactionRules, match_on: Sequence[str], exhausted: str) -> None:
        if self.writer is not None:
            self.writer.finish()  # the cassette in use may be the one loaded again
        self.path = Path(path).expanduser() if path else None
        cassette = self._load()
        self.locked = self.mode == RecordMode.ONCE and bool(cassette.interactions)
        self.misses.clear()
        self.matcher = Matcher(cassette.interactions, match_on, exhausted)
        self.redactor = Redactor.adding_to(cassette, rules)
        self.writer = BatchWriter(CassetteWriter(self.path, cassette.interactions)) if self.path else None
        logger.info("ucwa-vcr: %s, mode %s, %d interactions", self.path or "no cassette", self.mode,
                    len(cassette.interactions))

    def _load(self) -> Cassette:
        if self.path is None:
            if self.mode != RecordMode.NONE:
                raise UsageError(f"ucwa_cassette: record mode {self.mode.value!r} needs a cassette file to write; "
                                 "set ucwa_cassette=PATH (or use ucwa_record_mode=none)")
            return Cassette()
        try:
            cassette = load_cassette(self.path) if self.path.exists() else Cassette()
            if self.mode != RecordMode.NONE:
                check_writable(self.path)
        except FileError as e:
            raise UsageError(f"ucwa_cassette: {e}") from None
        return cassette

    @property
    def offline(self) -> bool:
        """Whether no request may reach a server."""
        return self.mode == RecordMode.NONE or self.locked

    def replays(self) -> bool:
        """Whether requests are answered from the cassette at all."""
        return self.mode != RecordMode.ALL

    def is_ucwa(self, flow: http.HTTPFlow) -> bool:
        """Whether a flow is UCWA traffic (by `ucwa_hosts`, or by the protocol's URLs)."""
        if self.hosts is not None:
            return bool(self.hosts.search(flow.request.pretty_host))
        return protocol.is_ucwa(flow.request.pretty_host, flow.request.path)

    def should_record(self, flow: http.HTTPFlow) -> bool:
        """Whether a completed flow from a server belongs in the cassette."""
        if self.path is None or self.offline or not self.is_ucwa(flow):
            return False
        return not self.meetings_only or protocol.is_online_meetings(flow.request.path)

    async def record(self, interaction: Interaction) -> None:
        """Redact an exchange, add it to the cassette, and return once the cassette on disk holds it."""
        assert self.writer is not None  # should_record() never lets a flow through without a cassette
        clean = self.redactor.interaction(interaction)
        self.matcher.add(clean)
        await self.writer.write(dump_interaction(clean))

    @command.command("ucwa.rewind")
    def rewind(self) -> None:
        """Start the cassette over: identical requests get their first recorded answer again."""
        self.matcher.rewind()
        logger.info("ucwa-vcr: cassette rewound")

    async def done(self) -> None:
        if self.writer is not None:
            await self.writer.drain()
            self.writer.finish()
